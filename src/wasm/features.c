/*
 * This file implements which WebAssembly features a module uses
 * (cis_module_features, `cis inspect`): what its instructions need, read
 * from the opcode table's encodings as the decoder meets them
 * (cis__op_features), and what its sections need, read from the decoded
 * module (cis__module_features). Only what is beyond WebAssembly 1.0 is
 * named; the validator, not this, decides what a standard allows.
 */
#include <pthread.h>

#include "wasm/features.h"
#include "wasm/module.h"

/* Per op, its features, built once from the table's encodings. */
static uint32_t op_features[CIS__OP_COUNT];
static pthread_once_t op_features_once = PTHREAD_ONCE_INIT;

static uint32_t plain_op(uint32_t code) {
  switch (code) {
  case 0x06: case 0x07: case 0x09: case 0x18: case 0x19: /* try, catch, rethrow, delegate, catch_all */
    return CIS_FEATURE_LEGACY_EXCEPTIONS;
  case 0x08: case 0x0a: case 0x1f: /* throw, throw_ref, try_table */
    return CIS_FEATURE_EXCEPTIONS;
  case 0x12: case 0x13: return CIS_FEATURE_TAIL_CALLS;
  case 0x15: return CIS_FEATURE_TAIL_CALLS | CIS_FEATURE_TYPED_FUNCTION_REFERENCES; /* return_call_ref */
  case 0x14: case 0xd4: case 0xd5: case 0xd6: /* call_ref, ref.as_non_null, br_on_null, br_on_non_null */
    return CIS_FEATURE_TYPED_FUNCTION_REFERENCES;
  case 0xd3: return CIS_FEATURE_GC; /* ref.eq */
  case 0x1c: case 0x25: case 0x26: case 0xd0: case 0xd1: case 0xd2: /* select t, table.get/set, ref.* */
    return CIS_FEATURE_REFERENCE_TYPES;
  case 0x6a: case 0x6b: case 0x6c: case 0x7c: case 0x7d: case 0x7e: /* i32/i64 add, sub, mul */
    return CIS__FEATURE_CONST_ARITH;
  default:
    return code >= 0xc0 && code <= 0xc4 ? CIS_FEATURE_SIGN_EXTENSION : 0;
  }
}

static void build(void) {
  for (int op = 0; op < CIS__OP_COUNT; op++) {
    const cis__opinfo *i = cis__op_info((enum cis__op)op);
    uint32_t f = 0;
    switch (i->prefix) {
    case 0x00: f = plain_op(i->code); break;
    case 0xfb: f = CIS_FEATURE_GC; break;
    case 0xfc:
      f = i->code <= 7    ? CIS_FEATURE_SAT_FLOAT_TO_INT
          : i->code <= 14 ? CIS_FEATURE_BULK_MEMORY /* memory and table init, drop, copy, fill */
                          : CIS_FEATURE_REFERENCE_TYPES; /* table.grow, size, fill */
      break;
    case 0xfd: f = i->code >= 0x100 ? CIS_FEATURE_RELAXED_SIMD : CIS_FEATURE_SIMD; break;
    }
    op_features[op] = f;
  }
}

const uint32_t *cis__op_features(void) {
  pthread_once(&op_features_once, build);
  return op_features;
}

uint32_t cis__valtype_features(uint32_t vt, bool value) {
  uint8_t k = cis__vt_kind(vt);
  uint32_t f = 0;
  if (k == CIS__V128) f |= CIS_FEATURE_SIMD;
  if (value && (k == CIS__FUNCREF || k == CIS__EXTERNREF)) f |= CIS_FEATURE_REFERENCE_TYPES;
  if (cis__kind_is_exn(k)) f |= CIS_FEATURE_EXCEPTIONS;
  if (cis__kind_is_gc(k)) f |= CIS_FEATURE_GC;
  if (!cis__vt_nullable(vt) || cis__vt_has_idx(vt)) f |= CIS_FEATURE_TYPED_FUNCTION_REFERENCES;
  return f;
}

uint32_t cis__module_features(const cis__module *m) {
  uint32_t f = 0;
  if (m->nmemories > 1) f |= CIS_FEATURE_MULTI_MEMORY;
  for (uint32_t i = 0; i < m->nmemories; i++)
    if (m->memories[i].is64) f |= CIS_FEATURE_MEMORY64;
  for (uint32_t i = 0; i < m->ntables; i++) {
    if (m->tables[i].limits.is64) f |= CIS_FEATURE_MEMORY64;
    if (m->tables[i].elem != CIS__FUNCREF || m->tables[i].init.len) f |= CIS_FEATURE_REFERENCE_TYPES;
  }
  if (m->ntables > 1) f |= CIS_FEATURE_REFERENCE_TYPES;
  for (uint32_t i = 0; i < m->ntypes; i++)
    if (cis__is_functype(&m->types[i]) && m->types[i].nresults > 1) f |= CIS_FEATURE_MULTI_VALUE;
  for (uint32_t i = 0; i < m->nglobal_imports && i < m->nglobals; i++)
    if (m->globals[i].type.mutable_) f |= CIS_FEATURE_MUTABLE_GLOBALS;
  for (uint32_t i = 0; i < m->nexports; i++)
    if (m->exports[i].kind == CIS_EXTERN_GLOBAL && m->exports[i].index < m->nglobals &&
        m->globals[m->exports[i].index].type.mutable_)
      f |= CIS_FEATURE_MUTABLE_GLOBALS;
  if (m->ntags || m->uses_eh) f |= CIS_FEATURE_EXCEPTIONS;
  if (m->uses_gc) f |= CIS_FEATURE_GC;
  if (m->has_datacount) f |= CIS_FEATURE_BULK_MEMORY;
  return f;
}

const char *cis_feature_name(cis_feature f) {
  switch (f) {
  case CIS_FEATURE_MUTABLE_GLOBALS: return "mutable-globals";
  case CIS_FEATURE_SIGN_EXTENSION: return "sign-extension";
  case CIS_FEATURE_SAT_FLOAT_TO_INT: return "saturating-float-to-int";
  case CIS_FEATURE_MULTI_VALUE: return "multi-value";
  case CIS_FEATURE_BULK_MEMORY: return "bulk-memory";
  case CIS_FEATURE_REFERENCE_TYPES: return "reference-types";
  case CIS_FEATURE_SIMD: return "simd";
  case CIS_FEATURE_EXTENDED_CONST: return "extended-const";
  case CIS_FEATURE_TAIL_CALLS: return "tail-calls";
  case CIS_FEATURE_MULTI_MEMORY: return "multi-memory";
  case CIS_FEATURE_MEMORY64: return "memory64";
  case CIS_FEATURE_TYPED_FUNCTION_REFERENCES: return "typed-function-references";
  case CIS_FEATURE_EXCEPTIONS: return "exception-handling";
  case CIS_FEATURE_LEGACY_EXCEPTIONS: return "legacy-exceptions";
  case CIS_FEATURE_GC: return "gc";
  case CIS_FEATURE_RELAXED_SIMD: return "relaxed-simd";
  }
  return NULL;
}
