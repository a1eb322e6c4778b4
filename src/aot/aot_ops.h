/*
 * This file declares the compiled tier's engine ops table, the one name
 * src/aot/ offers the library glue (src/core/), which registers it.
 */
#ifndef CIS_AOT_AOT_OPS_H
#define CIS_AOT_AOT_OPS_H

#include "runtime/runtime.h"

/* The compiled tier, registered under the name "aot". */
extern const cis__engine_ops cis__aot_ops;

/* Whether a compiled object of m is in the cache (no compile, no load). */
bool cis__aot_cached(const cis__module *m);

/* Whether the C compiler the engine needs is there; when not, msg (cap
 * bytes, may be NULL) says what to install. */
bool cis__aot_compiler_present(char *msg, size_t cap);

#endif
