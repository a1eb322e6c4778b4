/*
 * This file declares the interpreter's engine ops table, the one name the
 * interpreter offers outside src/interp/. The library glue (src/core/)
 * registers it with the runtime; the runtime itself never names it.
 */
#ifndef CIS_INTERP_INTERP_OPS_H
#define CIS_INTERP_INTERP_OPS_H

#include "runtime/runtime.h"

/* The interpreter, registered under the name "interp". */
extern const cis__engine_ops cis__interp_ops;

#endif
