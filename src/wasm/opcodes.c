/*
 * This file implements the lookups of the opcode table (opcodes.def): the
 * rows by op, the flat encoding map built at compile time, reading one
 * opcode from a body, and the mnemonic index the text parser searches.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "wasm/opcodes.h"

const cis__opinfo cis__op_table[CIS__OP_COUNT] = {
#define OP(id, name_, prefix_, code_, imm_, arg_, sig_) \
  [CIS__OP_##id] = {.name = name_, .sig = sig_, .code = code_, .prefix = prefix_, \
                    .imm = CIS__IMM_##imm_, .arg = arg_},
#include "wasm/opcodes.def"
#undef OP
};

/* Where (prefix, code) sits in cis__op_map. A row outside its space would
 * index past the array: the designated initializer below then fails to
 * compile, and two rows with one encoding trip -Woverride-init (-Wextra). */
#define OPMAP_INDEX(prefix, code)                       \
  ((prefix) == 0 ? (code)                               \
   : (prefix) == CIS__PREFIX_FC ? CIS__OPMAP_FC + (code) \
   : (prefix) == CIS__PREFIX_FD ? CIS__OPMAP_FD + (code) \
                                : CIS__OPMAP_FB + (code))

const uint16_t cis__op_map[CIS__OPMAP_SIZE] = {
#define OP(id, name, prefix, code, imm, arg, sig) [OPMAP_INDEX(prefix, code)] = CIS__OP_##id + 1,
#include "wasm/opcodes.def"
#undef OP
};

int cis__op_read(const uint8_t **pp, const uint8_t *end, enum cis__op *out) {
  const uint8_t *p = *pp;
  if (p >= end) return CIS__OPREAD_EOF;
  uint8_t b = *p++;
  uint32_t code = b;
  uint8_t prefix = 0;
  if (b == CIS__PREFIX_FB || b == CIS__PREFIX_FC || b == CIS__PREFIX_FD) {
    /* The u32 after a prefix: at most 5 bytes, the last carrying 4 bits. */
    prefix = b;
    code = 0;
    for (unsigned i = 0;; i++) {
      if (p >= end) return CIS__OPREAD_EOF;
      uint8_t c = *p++;
      if (i == 4) {
        if (c & 0x80) return CIS__OPREAD_LEB;
        if (c >> 4) return CIS__OPREAD_LEB;
        code |= (uint32_t)c << 28;
        break;
      }
      code |= (uint32_t)(c & 0x7f) << (7 * i);
      if (!(c & 0x80)) break;
    }
  }
  if (!cis__op_lookup(prefix, code, out)) return CIS__OPREAD_ILLEGAL;
  *pp = p;
  return CIS__OPREAD_OK;
}

/* ---------------------------------------------------------- name index */

/* Ops sorted by name, ties by op, built once on first use. */
static uint16_t by_name[CIS__OP_COUNT];
static pthread_once_t by_name_once = PTHREAD_ONCE_INIT;

static int cmp_name(const void *a, const void *b) {
  uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;
  int c = strcmp(cis__op_table[x].name, cis__op_table[y].name);
  return c ? c : (x > y) - (x < y);
}

static void build_by_name(void) {
  for (unsigned i = 0; i < CIS__OP_COUNT; i++) by_name[i] = (uint16_t)i;
  qsort(by_name, CIS__OP_COUNT, sizeof by_name[0], cmp_name);
}

/* Compares name[0..len) with the NUL-terminated s, as strcmp would. */
static int cmp_len(const char *name, size_t len, const char *s) {
  size_t n = strlen(s);
  int c = memcmp(name, s, len < n ? len : n);
  if (c) return c;
  return (len > n) - (len < n);
}

bool cis__op_by_name(const char *name, size_t len, enum cis__op *out) {
  pthread_once(&by_name_once, build_by_name);
  /* Leftmost match, so a shared mnemonic gives its first row. */
  size_t lo = 0, hi = CIS__OP_COUNT;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (cmp_len(name, len, cis__op_table[by_name[mid]].name) > 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == CIS__OP_COUNT || cmp_len(name, len, cis__op_table[by_name[lo]].name) != 0)
    return false;
  *out = (enum cis__op)by_name[lo];
  return true;
}
