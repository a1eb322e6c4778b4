/*
 * This file declares the helpers the runtime tests share: loading a .wasm
 * fixture built from tests/runtime/wat/ and instantiating it.
 */
#ifndef CIS_TESTS_RUNTIME_RT_TEST_H
#define CIS_TESTS_RUNTIME_RT_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cis/cis.h"

/* Reads CIS_RT_WASM_DIR/<name>.wasm; fails the test when it cannot. The
 * caller frees the buffer. */
uint8_t *rt_read_fixture(const char *name, size_t *len);
/* Loads fixture `name` as a module of e; fails the test on error. */
cis_module *rt_load(cis_engine *e, const char *name);
/* An engine with default limits changed by `tweak` (may be NULL). */
cis_engine *rt_engine(void (*tweak)(cis_limits *l));
/* Milliseconds on a monotonic clock. */
double rt_now_ms(void);

#endif /* CIS_TESTS_RUNTIME_RT_TEST_H */
