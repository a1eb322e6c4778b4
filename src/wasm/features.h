/*
 * This file declares what src/wasm/features.c tells of the WebAssembly
 * features a module uses (cis_feature, include/cis/cis.h): the decoder
 * collects them into cis__module.features as it reads.
 */
#ifndef CIS_WASM_FEATURES_H
#define CIS_WASM_FEATURES_H

#include <stdbool.h>
#include <stdint.h>

#include "cis/cis.h"
#include "wasm/opcodes.h"

struct cis__module;

/* Not a feature: an integer add, sub or mul, which in a constant
 * expression is an extended one (the decoder turns this bit into
 * CIS_FEATURE_EXTENDED_CONST there, and drops it elsewhere). */
#define CIS__FEATURE_CONST_ARITH (1u << 31)

/* The features of each op (indexed by enum cis__op). */
const uint32_t *cis__op_features(void);
/* The features a value type needs; value: as the type of a value
 * (parameter, result, local, global, field), where funcref is 2.0's
 * reference types, not a 1.0 table's element type. */
uint32_t cis__valtype_features(uint32_t vt, bool value);
/* The features of a decoded module's sections (memories, tables, types,
 * globals, exports, tags, data count). */
uint32_t cis__module_features(const struct cis__module *m);

#endif
