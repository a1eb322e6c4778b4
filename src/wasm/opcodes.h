/*
 * This file declares the opcode table of src/wasm/opcodes.def to C: the
 * dense enum cis__op, the immediate kinds, each row's information, and the
 * lookups from an encoding (prefix, code) and from a text mnemonic to an
 * op. Everything that reads or writes instructions (decoder, validator,
 * translator, disassembler, text parser, compiled tier) names opcodes as
 * CIS__OP_* and asks this table for their immediates and types.
 */
#ifndef CIS_WASM_OPCODES_H
#define CIS_WASM_OPCODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Immediate kinds (the IMM column; opcodes.def says what each reads). */
enum cis__imm {
  CIS__IMM_NONE,
  CIS__IMM_BLOCK,
  CIS__IMM_LABEL,
  CIS__IMM_BR_TABLE,
  CIS__IMM_FUNC,
  CIS__IMM_CALL_INDIRECT,
  CIS__IMM_LOCAL,
  CIS__IMM_GLOBAL,
  CIS__IMM_TABLE,
  CIS__IMM_MEMARG,
  CIS__IMM_MEMIDX,
  CIS__IMM_I32,
  CIS__IMM_I64,
  CIS__IMM_F32,
  CIS__IMM_F64,
  CIS__IMM_HEAPTYPE,
  CIS__IMM_SELECT_T,
  CIS__IMM_DATA,
  CIS__IMM_MEMORY_INIT,
  CIS__IMM_MEMORY_COPY,
  CIS__IMM_ELEM,
  CIS__IMM_TABLE_INIT,
  CIS__IMM_TABLE_COPY,
  CIS__IMM_V128,
  CIS__IMM_SHUFFLE,
  CIS__IMM_LANE,
  CIS__IMM_MEMARG_LANE,
  CIS__IMM_TYPE,
  CIS__IMM_TAG,
  CIS__IMM_TRY_TABLE,
  CIS__IMM_TYPE_FIELD, /* GC: a type index, then a field index */
  CIS__IMM_TYPE_FIXED, /* GC: a type index, then a count */
  CIS__IMM_TYPE_DATA,  /* GC: a type index, then a data index */
  CIS__IMM_TYPE_ELEM,  /* GC: a type index, then an element index */
  CIS__IMM_TYPE_TYPE,  /* GC: two type indices (array.copy: destination first) */
  CIS__IMM_CAST,       /* GC: a flags byte (bit 0, 1: the first, second type nullable), a label, two heap types */
  CIS__IMM_COUNT
};

/* Every instruction, in table order. */
enum cis__op {
#define OP(id, name, prefix, code, imm, arg, sig) CIS__OP_##id,
#include "wasm/opcodes.def"
#undef OP
  CIS__OP_COUNT
};

/* The prefix bytes of multi-byte opcodes. */
enum { CIS__PREFIX_FB = 0xfb, CIS__PREFIX_FC = 0xfc, CIS__PREFIX_FD = 0xfd };

/* One row of the table. */
typedef struct cis__opinfo {
  const char *name; /* text mnemonic, "i32.add" */
  const char *sig;  /* "ii:i", or "*" when typed by hand */
  uint32_t code;    /* opcode byte, or the u32 after the prefix */
  uint8_t prefix;   /* 0x00, 0xFB, 0xFC or 0xFD */
  uint8_t imm;      /* enum cis__imm */
  uint8_t arg;      /* log2 natural alignment (memarg rows), lane count
                       (LANE rows), else 0 */
} cis__opinfo;

/* The rows, indexed by enum cis__op. */
extern const cis__opinfo cis__op_table[CIS__OP_COUNT];

/* The row of op (which must be < CIS__OP_COUNT). */
static inline const cis__opinfo *cis__op_info(enum cis__op op) { return &cis__op_table[op]; }

/* Encoding → op. The index of (prefix, code) in one flat array: 256
 * single bytes, then the 0xFC space (codes < 32), then the 0xFD space
 * (codes < 0x114), then GC's 0xFB space (codes < 32). Entries hold op + 1; 0 is an illegal opcode. */
#define CIS__OPMAP_FC 256u
#define CIS__OPMAP_FC_SIZE 32u
#define CIS__OPMAP_FD (CIS__OPMAP_FC + CIS__OPMAP_FC_SIZE)
#define CIS__OPMAP_FD_SIZE 0x114u /* relaxed SIMD ends at 0x113 */
#define CIS__OPMAP_FB (CIS__OPMAP_FD + CIS__OPMAP_FD_SIZE)
#define CIS__OPMAP_FB_SIZE 32u /* GC: i31.get_u is 0x1e */
#define CIS__OPMAP_SIZE (CIS__OPMAP_FB + CIS__OPMAP_FB_SIZE)
extern const uint16_t cis__op_map[CIS__OPMAP_SIZE];

/* The op of (prefix, code): prefix 0x00 for single bytes (where the prefix
 * bytes themselves are no op), 0xFB, 0xFC or 0xFD with the u32 that follows.
 * False for an illegal opcode. */
static inline bool cis__op_lookup(uint8_t prefix, uint32_t code, enum cis__op *out) {
  uint32_t i;
  if (prefix == 0) {
    if (code > 0xff) return false;
    i = code;
  } else if (prefix == CIS__PREFIX_FC) {
    if (code >= CIS__OPMAP_FC_SIZE) return false;
    i = CIS__OPMAP_FC + code;
  } else if (prefix == CIS__PREFIX_FD) {
    if (code >= CIS__OPMAP_FD_SIZE) return false;
    i = CIS__OPMAP_FD + code;
  } else if (prefix == CIS__PREFIX_FB) {
    if (code >= CIS__OPMAP_FB_SIZE) return false;
    i = CIS__OPMAP_FB + code;
  } else {
    return false;
  }
  if (!cis__op_map[i]) return false;
  *out = (enum cis__op)(cis__op_map[i] - 1);
  return true;
}

/* Result of cis__op_read. */
enum {
  CIS__OPREAD_OK = 0,
  CIS__OPREAD_EOF,     /* the bytes end inside the opcode */
  CIS__OPREAD_ILLEGAL, /* no such instruction */
  CIS__OPREAD_LEB      /* the u32 after a prefix is overlong or too large */
};

/* Reads one opcode (prefix and u32 included) at *p, before end. On
 * CIS__OPREAD_OK stores the op and advances *p past the opcode (its
 * immediates come next); otherwise *p is left where the opcode began. */
int cis__op_read(const uint8_t **p, const uint8_t *end, enum cis__op *out);

/* The op named `name` (len bytes, no NUL needed); false when none. For
 * "select" it gives CIS__OP_SELECT. Binary search over a sorted index. */
bool cis__op_by_name(const char *name, size_t len, enum cis__op *out);

/* Is op one of GC's 0xFB instructions (3.0)? */
static inline bool cis__op_is_gc(enum cis__op op) { return op >= CIS__OP_STRUCT_NEW && op <= CIS__OP_I31_GET_U; }

/* Is op one of exception handling's (3.0, legacy ones included)? */
static inline bool cis__op_is_eh(enum cis__op op) {
  return op == CIS__OP_TRY || op == CIS__OP_CATCH || op == CIS__OP_THROW || op == CIS__OP_RETHROW ||
         op == CIS__OP_THROW_REF || op == CIS__OP_DELEGATE || op == CIS__OP_CATCH_ALL || op == CIS__OP_TRY_TABLE;
}

/* The value type byte (CIS__I32 ... CIS__V128 of module.h) of a SIG
 * letter; 0 for anything else. */
static inline uint8_t cis__sig_valtype(char c) {
  switch (c) {
  case 'i': return 0x7f;
  case 'I': return 0x7e;
  case 'f': return 0x7d;
  case 'F': return 0x7c;
  case 'v': return 0x7b;
  default: return 0;
  }
}

#endif /* CIS_WASM_OPCODES_H */
