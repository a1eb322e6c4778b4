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

/* A module of text on engine `name` ("interp", "aot"), instantiated with
 * the host functions host.twice (i64 -> i64, doubling) and host.reenter
 * (i32 -> i32, calling the caller's export "reenter"): the fixture of the
 * tests that run each case on both engines (rt_fixture.c, which needs
 * cis_wat). */
typedef struct rt_fixture {
  cis_engine *e;
  cis_module *m;
  cis_imports *im;
  cis_instance *inst;
} rt_fixture;
/* Opens f under limits: call depth 200 (far below the tests' chains), and
 * the given fuel and timeout (0: none); fails the test on error. */
void rt_fixture_open(rt_fixture *f, const char *name, const char *text, size_t len, uint64_t fuel,
                     uint64_t timeout_ms);
void rt_fixture_close(rt_fixture *f);
/* cmocka group set-up and tear-down: a fresh CIS_HOME (the compiled
 * engine's cache) under /tmp, removed after the group. */
int rt_home_setup(void **state);
int rt_home_teardown(void **state);

/* Test cases fn_interp and fn_aot of void fn(const char *engine). */
#define RT_ON_BOTH(fn)                                                        \
  static void fn##_interp(void **state) {                                     \
    (void)state;                                                              \
    fn("interp");                                                             \
  }                                                                           \
  static void fn##_aot(void **state) {                                        \
    (void)state;                                                              \
    fn("aot");                                                                \
  }

#endif /* CIS_TESTS_RUNTIME_RT_TEST_H */
