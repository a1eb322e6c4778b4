/*
 * This file implements the WebAssembly binary decoder (2.0, and 3.0's
 * multiple memories, typed function references, tables with an
 * initialiser and exception handling, as the module's standard says): LEB128 readers
 * with the spec's overlong and range checks, every section into the
 * cis__module format of module.h, UTF-8 checks of names, section order and
 * size checks, the lenient custom "name" section, and an opcode-by-opcode
 * scan of every function body so that everything malformed is reported
 * here, with the spec's wording and the byte offset. Opcodes and their
 * immediates come from the one table, opcodes.def (SIMD included).
 *
 * Hostile input: vector counts are checked against the bytes that remain
 * before anything is allocated, and nothing recurses on input depth.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasm/features.h"
#include "wasm/module.h"
#include "wasm/opcodes.h"

/* ----------------------------------------------------------------- LEB128 */

/* Reads an unsigned LEB128 of at most `bits` bits. Returns 0 on success,
 * 1 on overrun, 2 when too long, 3 when too large. */
static int leb_u(const uint8_t **pp, const uint8_t *end, unsigned bits, uint64_t *out) {
  const uint8_t *p = *pp;
  uint64_t v = 0;
  unsigned shift = 0, maxbytes = (bits + 6) / 7;
  for (unsigned i = 0;; i++) {
    if (p >= end) return 1;
    uint8_t b = *p++;
    if (i == maxbytes - 1) {
      if (b & 0x80) return 2;
      unsigned used = bits - shift; /* bits the last byte may carry */
      if (used < 7 && (b >> used) != 0) return 3;
      v |= (uint64_t)b << shift;
      break;
    }
    v |= (uint64_t)(b & 0x7f) << shift;
    shift += 7;
    if (!(b & 0x80)) break;
  }
  *out = v;
  *pp = p;
  return 0;
}

static int leb_s(const uint8_t **pp, const uint8_t *end, unsigned bits, int64_t *out) {
  const uint8_t *p = *pp;
  uint64_t v = 0;
  unsigned shift = 0, maxbytes = (bits + 6) / 7;
  uint8_t b = 0;
  for (unsigned i = 0;; i++) {
    if (p >= end) return 1;
    b = *p++;
    if (i == maxbytes - 1) {
      if (b & 0x80) return 2;
      unsigned used = bits - shift; /* value bits in this byte, sign included */
      if (used < 7) {
        /* The unused high bits must repeat the sign bit. */
        uint8_t sign = (b >> (used - 1)) & 1;
        uint8_t rest = (uint8_t)(b >> used) & (uint8_t)((1u << (7 - used)) - 1);
        if (rest != (sign ? (uint8_t)((1u << (7 - used)) - 1) : 0)) return 3;
      }
      v |= (uint64_t)(b & 0x7f) << shift;
      shift += 7;
      break;
    }
    v |= (uint64_t)(b & 0x7f) << shift;
    shift += 7;
    if (!(b & 0x80)) break;
  }
  if (shift < 64 && (b & 0x40)) v |= ~0ull << shift;
  *out = (int64_t)v;
  *pp = p;
  return 0;
}

bool cis__read_u32(const uint8_t **p, const uint8_t *end, uint32_t *out) {
  uint64_t v;
  if (leb_u(p, end, 32, &v)) return false;
  *out = (uint32_t)v;
  return true;
}
bool cis__read_s32(const uint8_t **p, const uint8_t *end, int32_t *out) {
  int64_t v;
  if (leb_s(p, end, 32, &v)) return false;
  *out = (int32_t)v;
  return true;
}
bool cis__read_u64(const uint8_t **p, const uint8_t *end, uint64_t *out) { return leb_u(p, end, 64, out) == 0; }
bool cis__read_s33(const uint8_t **p, const uint8_t *end, int64_t *out) { return leb_s(p, end, 33, out) == 0; }
bool cis__read_s64(const uint8_t **p, const uint8_t *end, int64_t *out) { return leb_s(p, end, 64, out) == 0; }

/* ----------------------------------------------------------------- reader */

/* Sections and function bodies are read as the spec's reference decoder
 * reads them: up to the end of the binary, not of their declared size, and
 * a size that does not match what was read is "section size mismatch"
 * afterwards. So a body missing its end reads on into what follows and
 * fails the way the spec's tests expect. */
typedef struct rd {
  const uint8_t *p;     /* next byte */
  const uint8_t *end;   /* end of the binary (or of a custom section being parsed leniently) */
  const uint8_t *base;  /* start of the binary, for offsets */
  bool header;          /* reading the 8-byte header */
  cis__diag *d;         /* where errors go */
} rd;

static bool fail_at(rd *r, const uint8_t *at, cis_result code, const char *msg) {
  if (r->d->code == CIS_OK) {
    r->d->code = code;
    r->d->offset = (size_t)(at - r->base);
    snprintf(r->d->msg, sizeof r->d->msg, "%s (at 0x%zx)", msg, r->d->offset);
  }
  return false;
}
static bool fail(rd *r, cis_result code, const char *msg) { return fail_at(r, r->p, code, msg); }

static bool eof(rd *r) {
  return fail(r, CIS_EEOF, r->header ? "unexpected end" : "unexpected end of section or function");
}

static bool u8(rd *r, uint8_t *out) {
  *out = 0;
  if (r->p >= r->end) return eof(r);
  *out = *r->p++;
  return true;
}

static bool leb_err(rd *r, int e) {
  if (e == 1) return eof(r);
  if (e == 2) return fail(r, CIS_ELEB, "integer representation too long");
  return fail(r, CIS_ELEB, "integer too large");
}

static bool u32(rd *r, uint32_t *out) {
  uint64_t v = 0;
  *out = 0;
  int e = leb_u(&r->p, r->end, 32, &v);
  if (e) return leb_err(r, e);
  *out = (uint32_t)v;
  return true;
}

static bool u64(rd *r, uint64_t *out) {
  *out = 0;
  int e = leb_u(&r->p, r->end, 64, out);
  return e ? leb_err(r, e) : true;
}

static bool s32(rd *r, int32_t *out) {
  int64_t v = 0;
  *out = 0;
  int e = leb_s(&r->p, r->end, 32, &v);
  if (e) return leb_err(r, e);
  *out = (int32_t)v;
  return true;
}

static bool s33(rd *r, int64_t *out) {
  *out = 0;
  int e = leb_s(&r->p, r->end, 33, out);
  return e ? leb_err(r, e) : true;
}

static bool s64(rd *r, int64_t *out) {
  *out = 0;
  int e = leb_s(&r->p, r->end, 64, out);
  return e ? leb_err(r, e) : true;
}

static bool skip(rd *r, size_t n) {
  if ((size_t)(r->end - r->p) < n) return eof(r);
  r->p += n;
  return true;
}

/* A length or count (the spec's len32): more than the bytes left from
 * where it starts is "length out of bounds". */
static bool len32(rd *r, uint32_t *n) {
  const uint8_t *at = r->p;
  if (!u32(r, n)) return false;
  if (*n > (size_t)(r->end - at)) return fail_at(r, at, CIS_EEOF, "length out of bounds");
  return true;
}

/* A vector count. Items are then read one by one, so a count the bytes
 * cannot hold fails at the first missing item, as in the spec's decoder.
 * *cap is how many items to allocate: each takes at least min_item bytes
 * (min_item >= 1), so reading can never fill more than the bytes left
 * allow, plus the one whose reading fails. */
static bool count(rd *r, uint32_t *n, size_t min_item, size_t *cap) {
  if (!len32(r, n)) return false;
  size_t fit = (size_t)(r->end - r->p) / min_item;
  *cap = (*n < fit ? *n : fit) + 1;
  return true;
}

static bool utf8_ok(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) len = 4, cp = c & 0x07;
    else return false;
    if (i + len > n) return false;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += len;
  }
  return true;
}

/* A byte string (the spec's string): its length, then the bytes. */
static bool bytes_(rd *r, const uint8_t **s, uint32_t *len) {
  *s = NULL;
  if (!len32(r, len)) return false;
  if (*len > (size_t)(r->end - r->p)) {
    r->p = r->end;
    return eof(r);
  }
  *s = r->p;
  r->p += *len;
  return true;
}

static bool name(rd *r, const char **s, uint32_t *len) {
  *s = NULL;
  if (!len32(r, len)) return false;
  if (*len > (size_t)(r->end - r->p)) {
    r->p = r->end;
    return eof(r);
  }
  if (!utf8_ok(r->p, *len)) return fail(r, CIS_EUTF8, "malformed UTF-8 encoding");
  *s = (const char *)r->p;
  r->p += *len;
  return true;
}

/* A heap type's s33 at *p: 0 read (as the nullable reference to it), 1
 * the bytes end, 3 malformed. A type index too large for any module is
 * clamped to CIS__MAX_TYPES, so that it is an unknown type (invalid), not
 * a malformed one. */
static int heaptype_at(const uint8_t **p, const uint8_t *end, uint32_t *vt) {
  int64_t h;
  const uint8_t *q = *p;
  int e = leb_s(&q, end, 33, &h);
  if (e) return e == 1 ? 1 : 3;
  if (h >= 0) *vt = cis__vt_typed(h > CIS__MAX_TYPES ? CIS__MAX_TYPES : (uint32_t)h, true);
  else if (h == (int64_t)CIS__FUNCREF - 0x80) *vt = CIS__FUNCREF;
  else if (h == (int64_t)CIS__EXTERNREF - 0x80) *vt = CIS__EXTERNREF;
  else if (h == (int64_t)CIS__EXNREF - 0x80) *vt = CIS__EXNREF;
  else if (h == (int64_t)CIS__NULLEXNREF - 0x80) *vt = CIS__NULLEXNREF;
  else if (h >= -0x80 && cis__kind_is_gc((uint8_t)(h + 0x80))) *vt = (uint32_t)(h + 0x80);
  else return 3;
  *p = q;
  return 0;
}

bool cis__read_heaptype(const uint8_t **p, const uint8_t *end, uint32_t *vt) { return heaptype_at(p, end, vt) == 0; }

int cis__read_valtype(const uint8_t **p, const uint8_t *end, bool refs, uint32_t *vt) {
  if (*p >= end) return 1;
  uint8_t b = **p;
  if (cis__valtype_ok(b) || (refs && (cis__kind_is_exn(b) || cis__kind_is_gc(b)))) {
    (*p)++;
    *vt = b;
    return 0;
  }
  if (!refs || (b != CIS__REF_NULL_PREFIX && b != CIS__REF_PREFIX)) return 2;
  const uint8_t *q = *p + 1;
  int e = heaptype_at(&q, end, vt);
  if (e) return e;
  if (b == CIS__REF_PREFIX) *vt |= CIS__VT_NONNULL;
  *p = q;
  return 0;
}

/* The standard (CIS__STD_*) of the module being decoded. */
static _Thread_local int tl_std;
/* Set when the module uses exception handling (module.h's uses_eh). */
static _Thread_local bool tl_uses_eh;
/* Set when the module uses GC's types (module.h's uses_gc). */
static _Thread_local bool tl_uses_gc;
/* The features met so far (module.h's features), and whether the
 * instructions being read are a constant expression's. */
static _Thread_local uint32_t tl_features;
static _Thread_local bool tl_in_const;

/* A value type (or with what "reference type", one whose kind is a
 * reference), with the spec's wording for what is wrong. */
static bool valtype_as(rd *r, uint32_t *vt, const char *what) {
  const uint8_t *at = r->p;
  *vt = 0;
  switch (cis__read_valtype(&r->p, r->end, tl_std >= CIS__STD_3, vt)) {
  case 0: break;
  case 1: r->p = r->end; return eof(r);
  case 3: return fail_at(r, at, CIS_EMALFORMED, "malformed heap type");
  default: return fail_at(r, at, CIS_EMALFORMED, what ? what : "malformed value type");
  }
  if (what && !cis__vt_is_ref(*vt)) return fail_at(r, at, CIS_EMALFORMED, what);
  tl_features |= cis__valtype_features(*vt, !what);
  if (cis__kind_is_exn(cis__vt_kind(*vt))) tl_uses_eh = true;
  if (cis__kind_is_gc(cis__vt_kind(*vt))) tl_uses_gc = true;
  return true;
}

static bool valtype(rd *r, uint32_t *vt) { return valtype_as(r, vt, NULL); }
static bool reftype(rd *r, uint32_t *vt) { return valtype_as(r, vt, "malformed reference type"); }

/* The limits flag, a one-bit LEB128 (the spec's vu1). */
static bool flag1(rd *r, uint8_t *out) {
  const uint8_t *at = r->p;
  uint8_t b;
  /* Failures return false themselves: gcc -Os (MinSizeRel) does not see
   * that fail() does, and then *out unset when true is returned. */
  if (!u8(r, &b)) return false;
  if ((b & 0x7f) > 1) {
    fail_at(r, at, CIS_ELEB, "integer too large");
    return false;
  }
  if (b & 0x80) {
    fail(r, CIS_ELEB, "integer representation too long");
    return false;
  }
  *out = b;
  return true;
}

/* Limits. 2.0: a one-bit flag (has a maximum), u32 bounds. 3.0: a flags
 * byte, 0 or 1 as in 2.0 and 4 or 5 the same with the 64-bit address type
 * (memory64, table64), u64 bounds (whether they fit the type is the
 * validator's); any other byte is malformed (0x02 and 0x03, shared
 * memories, are the threads proposal's). */
static bool limits(rd *r, cis__limits *l) {
  uint8_t flag;
  l->max = 0;
  l->is64 = false;
  if (tl_std >= CIS__STD_3) {
    const uint8_t *at = r->p;
    if (!u8(r, &flag)) return false;
    if (flag & ~5u) return fail_at(r, at, CIS_EMALFORMED, "malformed limits flags");
    l->has_max = flag & 1;
    l->is64 = flag & 4;
    return u64(r, &l->min) && (!l->has_max || u64(r, &l->max));
  }
  uint32_t min, max = 0;
  if (!flag1(r, &flag)) return false;
  l->has_max = flag == 1;
  if (!u32(r, &min)) return false;
  if (l->has_max && !u32(r, &max)) return false;
  l->min = min;
  l->max = max;
  return true;
}

static bool tabletype(rd *r, cis__tabletype *t) {
  if (!reftype(r, &t->vt)) return false;
  t->elem = cis__vt_kind(t->vt);
  return limits(r, &t->limits);
}

static bool globaltype(rd *r, cis__globaltype *g) {
  uint8_t mut;
  if (!valtype(r, &g->vt)) return false;
  g->type = cis__vt_kind(g->vt);
  const uint8_t *at = r->p;
  if (!u8(r, &mut)) return false;
  if (mut > 1) return fail_at(r, at, CIS_EMALFORMED, "malformed mutability");
  g->mutable_ = mut == 1;
  return true;
}

/* ------------------------------------------------------ instruction scan */

/* Set when code uses a data index (memory.init, data.drop) while there is
 * no data count section: malformed only if a data section follows (without
 * one the index is simply unknown, a validation error). */
static _Thread_local bool tl_uses_data_without_count;


/* A memory index: a u32 (3.0), or the zero byte 2.0 reserved there. */
static bool memidx(rd *r) {
  uint8_t b;
  uint32_t x;
  if (tl_std >= CIS__STD_3) return u32(r, &x);
  if (!u8(r, &b)) return false;
  if (b) return fail_at(r, r->p - 1, CIS_EMALFORMED, "zero byte expected");
  return true;
}

/* A memarg: flags, [memory index,] offset. In 3.0 the flags below 64 are
 * the alignment exponent, bit 6 says a memory index follows, and 128 and
 * up is malformed; 2.0 had no memory index and took 32 and up as
 * malformed. Whether the alignment exceeds the natural one and whether
 * the memory exists is the validator's. */
static bool memarg(rd *r) {
  uint32_t flags, x;
  uint64_t off;
  const uint8_t *at = r->p;
  if (!u32(r, &flags)) return false;
  if (flags >= (tl_std >= CIS__STD_3 ? 128u : 32u)) return fail_at(r, at, CIS_EMALFORMED, "malformed memop flags");
  if ((flags & 64) && !u32(r, &x)) return false;
  return tl_std >= CIS__STD_3 ? u64(r, &off) : u32(r, &x); /* 3.0: memory64's offsets */
}

bool cis__read_memarg(const uint8_t **p, const uint8_t *end, cis__memarg *out) {
  uint32_t flags;
  out->mem = 0;
  if (!cis__read_u32(p, end, &flags)) return false;
  out->align = flags & 63;
  if ((flags & 64) && !cis__read_u32(p, end, &out->mem)) return false;
  return cis__read_u64(p, end, &out->offset);
}

bool cis__read_catch(const uint8_t **p, const uint8_t *end, cis__catch *out) {
  out->tag = 0;
  if (*p >= end || **p > CIS__CATCH_ALL_REF) return false;
  out->kind = *(*p)++;
  if (out->kind <= CIS__CATCH_REF && !cis__read_u32(p, end, &out->tag)) return false;
  return cis__read_u32(p, end, &out->label);
}

/* Reads one opcode at r->p (prefix and u32 included) with the spec's
 * wording for what goes wrong. */
static bool opcode(rd *r, enum cis__op *op) {
  const uint8_t *at = r->p;
  switch (cis__op_read(&r->p, r->end, op)) {
  case CIS__OPREAD_OK: return true;
  case CIS__OPREAD_EOF: r->p = r->end; return eof(r);
  case CIS__OPREAD_LEB: {
    /* Re-read the u32 after the prefix for the precise LEB128 error. */
    uint32_t x;
    r->p = at + 1;
    return u32(r, &x) ? fail_at(r, at, CIS_EMALFORMED, "illegal opcode") : false;
  }
  default: {
    /* Worded as the reference's: the byte in hex, a prefix's number after it. */
    char m[40];
    uint32_t x;
    const uint8_t *q = at + 1;
    if (*at >= 0xfb && *at <= 0xfe && cis__read_u32(&q, r->end, &x))
      snprintf(m, sizeof m, "illegal opcode %02x %" PRIu32, *at, x);
    else
      snprintf(m, sizeof m, "illegal opcode %02x", *at);
    return fail_at(r, at, CIS_EMALFORMED, m);
  }
  }
}

/* A block type: empty, a value type, or a type index (an s33). */
static bool scan_blocktype(rd *r) {
  const uint8_t *at = r->p;
  int64_t bt;
  uint32_t vt;
  if (r->p < r->end && tl_std >= CIS__STD_3 && (*r->p == CIS__REF_NULL_PREFIX || *r->p == CIS__REF_PREFIX))
    return valtype(r, &vt);
  if (!s33(r, &bt)) return false;
  bool exn = tl_std >= CIS__STD_3 && bt >= -64 && bt < 0 && cis__kind_is_exn((uint8_t)(0x80 + bt));
  bool gc = tl_std >= CIS__STD_3 && bt >= -64 && bt < 0 && cis__kind_is_gc((uint8_t)(0x80 + bt));
  if (bt < 0 && bt != -64 && !(bt >= -64 && cis__valtype_ok((uint8_t)(0x80 + bt))) && !exn && !gc)
    return fail_at(r, at, CIS_EMALFORMED, "malformed value type");
  if (exn) tl_uses_eh = true;
  if (gc) tl_uses_gc = true;
  if (bt >= 0) tl_features |= CIS_FEATURE_MULTI_VALUE; /* a type index: params, or several results */
  return true;
}

/* Skips the immediates of one instruction (opcode already read), by the
 * immediate kind of its row in opcodes.def. Used for function bodies and
 * constant expressions. depth tracks block nesting. */
static bool scan_instr(rd *r, enum cis__op op, bool has_datacount) {
  uint32_t x, n;
  int32_t i32;
  int64_t i64;
  uint8_t b;
  uint32_t vt;
  const uint8_t *at = r->p;
  switch ((enum cis__imm)cis__op_info(op)->imm) {
  case CIS__IMM_NONE: return true;
  case CIS__IMM_BLOCK: return scan_blocktype(r);
  case CIS__IMM_LABEL: case CIS__IMM_FUNC: case CIS__IMM_LOCAL: case CIS__IMM_GLOBAL: case CIS__IMM_TABLE:
  case CIS__IMM_ELEM: case CIS__IMM_TYPE: case CIS__IMM_TAG:
    return u32(r, &x);
  case CIS__IMM_TRY_TABLE: /* a block type, then the catch clauses */
    if (!scan_blocktype(r)) return false;
    if (!len32(r, &n)) return false;
    for (uint32_t i = 0; i < n; i++) {
      const uint8_t *k = r->p;
      if (!u8(r, &b)) return false;
      if (b > CIS__CATCH_ALL_REF) return fail_at(r, k, CIS_EMALFORMED, "malformed catch clause");
      if (b <= CIS__CATCH_REF && !u32(r, &x)) return false;
      if (!u32(r, &x)) return false;
    }
    return true;
  case CIS__IMM_BR_TABLE:
    if (!len32(r, &n)) return false;
    for (uint32_t i = 0; i <= n; i++)
      if (!u32(r, &x)) return false;
    return true;
  case CIS__IMM_CALL_INDIRECT: case CIS__IMM_TABLE_INIT: case CIS__IMM_TABLE_COPY:
  case CIS__IMM_TYPE_FIELD: case CIS__IMM_TYPE_FIXED: case CIS__IMM_TYPE_ELEM: case CIS__IMM_TYPE_TYPE:
    return u32(r, &x) && u32(r, &x);
  case CIS__IMM_TYPE_DATA: /* in a constant expression the validator refuses it first */
    if (!has_datacount && !tl_in_const) tl_uses_data_without_count = true;
    return u32(r, &x) && u32(r, &x);
  case CIS__IMM_CAST: /* flags, a label, two heap types */
    if (!u8(r, &b)) return false;
    if (b > 3) return fail_at(r, at, CIS_EMALFORMED, "malformed br_on_cast flags");
    if (!u32(r, &x)) return false;
    for (int k = 0; k < 2; k++) {
      const uint8_t *h = r->p;
      switch (heaptype_at(&r->p, r->end, &vt)) {
      case 0: break;
      case 1: r->p = r->end; return eof(r);
      default: return fail_at(r, h, CIS_EMALFORMED, "malformed heap type");
      }
    }
    return true;
  case CIS__IMM_SELECT_T:
    if (!len32(r, &n)) return false;
    for (uint32_t i = 0; i < n; i++)
      if (!valtype(r, &vt)) return false;
    return true;
  case CIS__IMM_MEMARG: return memarg(r);
  case CIS__IMM_MEMARG_LANE: return memarg(r) && u8(r, &b);
  case CIS__IMM_MEMIDX: return memidx(r);
  case CIS__IMM_MEMORY_COPY: return memidx(r) && memidx(r);
  case CIS__IMM_I32: return s32(r, &i32);
  case CIS__IMM_I64: return s64(r, &i64);
  case CIS__IMM_F32: return skip(r, 4);
  case CIS__IMM_F64: return skip(r, 8);
  case CIS__IMM_HEAPTYPE:
    if (tl_std < CIS__STD_3) { /* 2.0: a reference type's byte */
      if (!u8(r, &b)) return false;
      if (b != CIS__FUNCREF && b != CIS__EXTERNREF) return fail_at(r, at, CIS_EMALFORMED, "malformed reference type");
      return true;
    }
    switch (heaptype_at(&r->p, r->end, &vt)) {
    case 0:
      if (cis__kind_is_exn(cis__vt_kind(vt))) tl_uses_eh = true;
      if (cis__kind_is_gc(cis__vt_kind(vt))) tl_uses_gc = true;
      return true;
    case 1: r->p = r->end; return eof(r);
    default: return fail_at(r, at, CIS_EMALFORMED, "malformed heap type");
    }
  case CIS__IMM_DATA:
    if (!has_datacount) tl_uses_data_without_count = true;
    return u32(r, &x);
  case CIS__IMM_MEMORY_INIT:
    if (!has_datacount) tl_uses_data_without_count = true;
    return u32(r, &x) && memidx(r);
  case CIS__IMM_V128: case CIS__IMM_SHUFFLE: return skip(r, 16);
  case CIS__IMM_LANE: return u8(r, &b);
  case CIS__IMM_COUNT: break;
  }
  return fail_at(r, at, CIS_EMALFORMED, "illegal opcode"); /* a row with no immediate kind */
}

/* Reads instructions up to and including the end that closes the
 * sequence (a function body or a constant expression). Blocks nest as in
 * the spec's decoder: an else outside the then-arm of an if, or a second
 * else, is "END opcode expected"; so is a legacy catch or catch_all
 * outside a try or after its catch_all, and a delegate outside a try's
 * body (delegate closes the try as end does). The exception-handling
 * opcodes are illegal in 2.0. The nesting lives on the heap. */
static bool instrs(rd *r, bool has_datacount) {
  enum { ARM_BLOCK, ARM_THEN, ARM_ELSE, ARM_TRY, ARM_CATCH, ARM_CATCH_ALL }; /* what an open block is in */
  uint8_t *arms = NULL;
  size_t n = 0, cap = 0;
  bool ok = true;
  const uint32_t *op_features = cis__op_features();
  uint32_t features = 0;
  for (;;) {
    const uint8_t *at = r->p;
    enum cis__op op;
    if (!opcode(r, &op)) {
      ok = false;
      break;
    }
    features |= op_features[op];
    if (cis__op_is_eh(op)) {
      if (tl_std < CIS__STD_3) {
        ok = fail_at(r, at, CIS_EMALFORMED, "illegal opcode");
        break;
      }
      tl_uses_eh = true;
    }
    if (op == CIS__OP_REF_EQ || cis__op_is_gc(op)) { /* GC's: the compiled tier leaves them to the interpreter */
      if (tl_std < CIS__STD_3) {
        ok = fail_at(r, at, CIS_EMALFORMED, "illegal opcode");
        break;
      }
      tl_uses_gc = true;
    }
    if (!scan_instr(r, op, has_datacount)) {
      ok = false;
      break;
    }
    if (op == CIS__OP_BLOCK || op == CIS__OP_LOOP || op == CIS__OP_IF || op == CIS__OP_TRY ||
        op == CIS__OP_TRY_TABLE) {
      if (n == cap) {
        size_t c = cap ? 2 * cap : 16;
        uint8_t *a = realloc(arms, c);
        if (!a) {
          ok = fail(r, CIS_ENOMEM, "out of memory");
          break;
        }
        arms = a;
        cap = c;
      }
      arms[n++] = op == CIS__OP_IF ? ARM_THEN : op == CIS__OP_TRY ? ARM_TRY : ARM_BLOCK;
    } else if (op == CIS__OP_CATCH || op == CIS__OP_CATCH_ALL) {
      if (n == 0 || (arms[n - 1] != ARM_TRY && arms[n - 1] != ARM_CATCH)) {
        ok = fail_at(r, at, CIS_EMALFORMED, "END opcode expected");
        break;
      }
      arms[n - 1] = op == CIS__OP_CATCH ? ARM_CATCH : ARM_CATCH_ALL;
    } else if (op == CIS__OP_DELEGATE) {
      if (n == 0 || arms[n - 1] != ARM_TRY) {
        ok = fail_at(r, at, CIS_EMALFORMED, "END opcode expected");
        break;
      }
      n--;
    } else if (op == CIS__OP_ELSE) {
      if (n == 0 || arms[n - 1] != ARM_THEN) {
        ok = fail_at(r, at, CIS_EMALFORMED, "END opcode expected");
        break;
      }
      arms[n - 1] = ARM_ELSE;
    } else if (op == CIS__OP_END) {
      if (n == 0) break;
      n--;
    }
  }
  free(arms);
  if (tl_in_const && (features & CIS__FEATURE_CONST_ARITH)) features |= CIS_FEATURE_EXTENDED_CONST;
  tl_features |= features & ~CIS__FEATURE_CONST_ARITH;
  return ok;
}

/* Reads a constant expression up to and including its end. */
static bool expr(rd *r, cis__expr *e, bool has_datacount) {
  const uint8_t *start = r->p;
  tl_in_const = true;
  bool ok = instrs(r, has_datacount);
  tl_in_const = false;
  if (!ok) return false;
  e->code = start;
  e->len = (uint32_t)(r->p - start);
  return true;
}

/* --------------------------------------------------------------- sections */

/* A struct's or array's field: a storage type (a value type, or packed
 * i8 / i16), then its mutability. */
static bool fieldtype(rd *r, uint32_t *vt, uint8_t *mut) {
  if (r->p < r->end && (*r->p == CIS__I8 || *r->p == CIS__I16)) *vt = *r->p++;
  else if (!valtype(r, vt)) return false;
  const uint8_t *at = r->p;
  if (!u8(r, mut)) return false;
  if (*mut > 1) return fail_at(r, at, CIS_EMALFORMED, "malformed mutability");
  return true;
}

/* One sub type into t: (0x50 | 0x4f final) supertypes, then a composite
 * type (0x60 func, 0x5f struct, 0x5e array); 2.0 has only 0x60. The
 * field types go to the reused buffer vt (CIS__MAX_PARAMS +
 * CIS__MAX_RESULTS entries), their mutability to mut. */
static bool subtype(rd *r, cis__functype *t, uint32_t *vt, uint8_t *mut) {
  const uint8_t *at = r->p;
  uint8_t form;
  if (!u8(r, &form)) return false;
  bool std3 = tl_std >= CIS__STD_3;
  t->open = false;
  if (std3 && (form == 0x50 || form == 0x4f)) {
    uint32_t nsup;
    t->open = form == 0x50;
    if (!len32(r, &nsup)) return false;
    if (nsup > 1) return fail(r, CIS_EINVALID, "multiple supertypes");
    if (nsup) {
      uint32_t x;
      if (!u32(r, &x)) return false;
      t->super = (x > CIS__MAX_TYPES ? CIS__MAX_TYPES : x) + 1;
      tl_uses_gc = true; /* a call through a supertype's signature */
    }
    at = r->p;
    if (!u8(r, &form)) return false;
  }
  uint32_t np = 0, nr = 0;
  bool fields = std3 && (form == CIS__COMP_STRUCT || form == CIS__COMP_ARRAY);
  if (form == CIS__COMP_FUNC) {
    if (!len32(r, &np)) return false;
    if (np > CIS__MAX_PARAMS) return fail(r, CIS_EMALFORMED, "too many parameters");
    for (uint32_t k = 0; k < np; k++)
      if (!valtype(r, &vt[k])) return false;
    if (!len32(r, &nr)) return false;
    if (nr > CIS__MAX_RESULTS) return fail(r, CIS_EMALFORMED, "too many results");
    for (uint32_t k = np; k < np + nr; k++)
      if (!valtype(r, &vt[k])) return false;
  } else if (fields) {
    tl_uses_gc = true;
    np = 1;
    if (form == CIS__COMP_STRUCT) {
      if (!len32(r, &np)) return false;
      if (np > CIS__MAX_PARAMS + CIS__MAX_RESULTS) return fail(r, CIS_EMALFORMED, "too many fields");
    }
    for (uint32_t k = 0; k < np; k++)
      if (!fieldtype(r, &vt[k], &mut[k])) return false;
  } else {
    /* 2.0's wording for any other form byte, and 3.0's for one that
     * would continue a LEB128 (a form read as a signed number) */
    return fail_at(r, at, CIS_EMALFORMED,
                   std3 && !(*at & 0x80) ? "malformed composite type" : "integer representation too long");
  }
  t->comp = form;
  t->nparams = np;
  t->nresults = nr;
  t->types = malloc((size_t)np + nr + 1);
  t->vts = malloc(((size_t)np + nr + 1) * sizeof *t->vts);
  t->mut = fields ? malloc((size_t)np + 1) : NULL;
  if (!t->types || !t->vts || (fields && !t->mut)) return fail(r, CIS_ENOMEM, "out of memory");
  for (uint32_t k = 0; k < np + nr; k++) t->types[k] = cis__vt_kind(vt[k]);
  if (np + nr) memcpy(t->vts, vt, (size_t)(np + nr) * sizeof *t->vts);
  if (fields && np) memcpy(t->mut, mut, np);
  return true;
}

/* The type section: entries that are sub types, or (3.0, 0x4e) recursion
 * groups of them. Every type of a group records the group. */
static bool sec_type(rd *r, cis__module *m) {
  uint32_t n;
  size_t cap;
  if (!count(r, &n, 3, &cap)) return false;
  if (n > CIS__MAX_TYPES) return fail(r, CIS_EMALFORMED, "too many types");
  m->types = calloc(cap, sizeof *m->types);
  /* field types of one type at a time: 8 KB, so on the heap */
  uint32_t *vt = malloc((CIS__MAX_PARAMS + CIS__MAX_RESULTS) * sizeof *vt);
  uint8_t *mut = malloc(CIS__MAX_PARAMS + CIS__MAX_RESULTS);
  bool ok = m->types && vt && mut;
  if (!ok) fail(r, CIS_ENOMEM, "out of memory");
  for (uint32_t i = 0; ok && i < n; i++) {
    uint32_t nrec = 1;
    bool group = tl_std >= CIS__STD_3 && r->p < r->end && *r->p == 0x4e;
    if (group) {
      r->p++;
      if (!len32(r, &nrec)) {
        ok = false;
        break;
      }
    }
    /* a group grows the table past the entries' count: bounded by the
     * bytes left (each type takes at least two) and the limit */
    if (nrec > CIS__MAX_TYPES - m->ntypes) {
      ok = fail(r, CIS_EMALFORMED, "too many types");
      break;
    }
    if (nrec > (size_t)(r->end - r->p) / 2) {
      r->p = r->end;
      ok = eof(r);
      break;
    }
    size_t need = (size_t)m->ntypes + nrec;
    if (need > cap) {
      size_t c = cap * 2 > need ? cap * 2 : need;
      cis__functype *nt = realloc(m->types, c * sizeof *nt);
      if (!nt) {
        ok = fail(r, CIS_ENOMEM, "out of memory");
        break;
      }
      memset(nt + cap, 0, (c - cap) * sizeof *nt);
      m->types = nt;
      cap = c;
    }
    uint32_t first = m->ntypes;
    for (uint32_t k = 0; ok && k < nrec; k++) {
      cis__functype *t = &m->types[m->ntypes++];
      t->rec = first;
      t->nrec = nrec;
      ok = subtype(r, t, vt, mut);
    }
  }
  free(vt);
  free(mut);
  return ok;
}

/* A tag's type: the attribute byte (0: an exception), then a type index. */
static bool tagtype(rd *r, uint32_t *type_idx) {
  const uint8_t *at = r->p;
  uint8_t attr;
  if (!u8(r, &attr)) return false;
  if (attr != 0) return fail_at(r, at, CIS_EMALFORMED, "malformed tag attribute");
  return u32(r, type_idx);
}

static bool sec_import(rd *r, cis__module *m) {
  uint32_t n;
  size_t cap;
  if (!count(r, &n, 4, &cap)) return false;
  m->imports = calloc(cap, sizeof *m->imports);
  if (!m->imports) return fail(r, CIS_ENOMEM, "out of memory");
  for (uint32_t i = 0; i < n; i++) {
    cis__import *im = &m->imports[i];
    if (!name(r, &im->module, &im->module_len) || !name(r, &im->name, &im->name_len)) return false;
    const uint8_t *at = r->p;
    if (!u8(r, &im->kind)) return false;
    switch (im->kind) {
    case CIS_EXTERN_FUNC: if (!u32(r, &im->desc.type_idx)) return false; m->nfunc_imports++; break;
    case CIS_EXTERN_TABLE: if (!tabletype(r, &im->desc.table)) return false; m->ntable_imports++; break;
    case CIS_EXTERN_MEMORY: if (!limits(r, &im->desc.memory)) return false; m->nmemory_imports++; break;
    case CIS_EXTERN_GLOBAL: if (!globaltype(r, &im->desc.global)) return false; m->nglobal_imports++; break;
    case CIS_EXTERN_TAG:
      if (tl_std < CIS__STD_3) return fail_at(r, at, CIS_EMALFORMED, "malformed import kind");
      if (!tagtype(r, &im->desc.tag_type)) return false;
      m->ntag_imports++;
      break;
    default: return fail_at(r, at, CIS_EMALFORMED, "malformed import kind");
    }
    m->nimports = i + 1;
  }
  return true;
}

static bool sec_function(rd *r, cis__module *m, uint32_t **decl, uint32_t *ndecl) {
  uint32_t n;
  size_t cap;
  if (!count(r, &n, 1, &cap)) return false;
  if ((uint64_t)n + m->nfunc_imports > CIS__MAX_FUNCS) return fail(r, CIS_EMALFORMED, "too many functions");
  *decl = malloc(cap * sizeof **decl);
  if (!*decl) return fail(r, CIS_ENOMEM, "out of memory");
  for (uint32_t i = 0; i < n; i++)
    if (!u32(r, &(*decl)[i])) return false;
  *ndecl = n;
  return true;
}

/* A table: its type, or (3.0) 0x40 0x00, its type and an initialiser. */
static bool sec_table(rd *r, cis__tabletype **out, uint32_t *n, bool has_dc) {
  size_t cap;
  if (!count(r, n, 3, &cap)) return false;
  *out = calloc(cap, sizeof **out);
  if (!*out) return fail(r, CIS_ENOMEM, "out of memory");
  for (uint32_t i = 0; i < *n; i++) {
    cis__tabletype *t = &(*out)[i];
    if (tl_std >= CIS__STD_3 && r->p < r->end && *r->p == 0x40) {
      const uint8_t *at = ++r->p;
      uint8_t zero;
      if (!u8(r, &zero)) return false;
      if (zero != 0) return fail_at(r, at, CIS_EMALFORMED, "malformed table");
      if (!tabletype(r, t) || !expr(r, &t->init, has_dc)) return false;
    } else if (!tabletype(r, t)) {
      return false;
    }
  }
  return true;
}

/* The tag section (id 13, 3.0): the types of the tags the module defines. */
static bool sec_tag(rd *r, uint32_t **out, uint32_t *n) {
  size_t cap;
  if (!count(r, n, 2, &cap)) return false;
  *out = calloc(cap, sizeof **out);
  if (!*out) return fail(r, CIS_ENOMEM, "out of memory");
  for (uint32_t i = 0; i < *n; i++)
    if (!tagtype(r, &(*out)[i])) return false;
  return true;
}

static bool sec_memory(rd *r, cis__limits **out, uint32_t *n) {
  size_t cap;
  if (!count(r, n, 2, &cap)) return false;
  *out = calloc(cap, sizeof **out);
  if (!*out) return fail(r, CIS_ENOMEM, "out of memory");
  for (uint32_t i = 0; i < *n; i++)
    if (!limits(r, &(*out)[i])) return false;
  return true;
}

static bool sec_global(rd *r, cis__global **out, uint32_t *n, bool has_dc) {
  size_t cap;
  if (!count(r, n, 3, &cap)) return false;
  *out = calloc(cap, sizeof **out);
  if (!*out) return fail(r, CIS_ENOMEM, "out of memory");
  for (uint32_t i = 0; i < *n; i++)
    if (!globaltype(r, &(*out)[i].type) || !expr(r, &(*out)[i].init, has_dc)) return false;
  return true;
}

static bool sec_export(rd *r, cis__module *m) {
  uint32_t n;
  size_t cap;
  if (!count(r, &n, 3, &cap)) return false;
  m->exports = calloc(cap, sizeof *m->exports);
  if (!m->exports) return fail(r, CIS_ENOMEM, "out of memory");
  for (uint32_t i = 0; i < n; i++) {
    cis__export *e = &m->exports[i];
    if (!name(r, &e->name, &e->name_len)) return false;
    const uint8_t *at = r->p;
    if (!u8(r, &e->kind)) return false;
    if (e->kind > (tl_std >= CIS__STD_3 ? CIS_EXTERN_TAG : CIS_EXTERN_GLOBAL))
      return fail_at(r, at, CIS_EMALFORMED, "malformed export kind");
    if (!u32(r, &e->index)) return false;
    m->nexports = i + 1;
  }
  return true;
}

static bool func_indices(rd *r, cis__elem *e) {
  size_t cap;
  if (!count(r, &e->count, 1, &cap)) return false;
  e->funcs = malloc(cap * sizeof *e->funcs);
  if (!e->funcs) return fail(r, CIS_ENOMEM, "out of memory");
  for (uint32_t i = 0; i < e->count; i++)
    if (!u32(r, &e->funcs[i])) return false;
  return true;
}

static bool elem_exprs(rd *r, cis__elem *e, bool has_dc) {
  size_t cap;
  if (!count(r, &e->count, 1, &cap)) return false; /* an expression may be one end byte */
  e->exprs = calloc(cap, sizeof *e->exprs);
  if (!e->exprs) return fail(r, CIS_ENOMEM, "out of memory");
  for (uint32_t i = 0; i < e->count; i++)
    if (!expr(r, &e->exprs[i], has_dc)) return false;
  return true;
}

static bool elemkind(rd *r) {
  const uint8_t *at = r->p;
  uint8_t k;
  if (!u8(r, &k)) return false;
  if (k != 0) return fail_at(r, at, CIS_EMALFORMED, "malformed element kind");
  return true;
}

static bool sec_elem(rd *r, cis__module *m, bool has_dc) {
  uint32_t n;
  size_t cap;
  if (!count(r, &n, 2, &cap)) return false;
  m->elems = calloc(cap, sizeof *m->elems);
  if (!m->elems) return fail(r, CIS_ENOMEM, "out of memory");
  for (uint32_t i = 0; i < n; i++) {
    cis__elem *e = &m->elems[i];
    m->nelems = i + 1;
    const uint8_t *at = r->p;
    uint32_t flags;
    if (!u32(r, &flags)) return false;
    e->vt = CIS__FUNCREF | CIS__VT_NONNULL; /* function indices: (ref func) */
    switch (flags) {
    case 0: e->mode = CIS__SEG_ACTIVE; if (!expr(r, &e->offset, has_dc) || !func_indices(r, e)) return false; break;
    case 1: e->mode = CIS__SEG_PASSIVE; if (!elemkind(r) || !func_indices(r, e)) return false; break;
    case 2:
      e->mode = CIS__SEG_ACTIVE;
      if (!u32(r, &e->table) || !expr(r, &e->offset, has_dc) || !elemkind(r) || !func_indices(r, e)) return false;
      break;
    case 3: e->mode = CIS__SEG_DECLARATIVE; if (!elemkind(r) || !func_indices(r, e)) return false; break;
    case 4:
      e->mode = CIS__SEG_ACTIVE;
      e->vt = CIS__FUNCREF;
      if (!expr(r, &e->offset, has_dc) || !elem_exprs(r, e, has_dc)) return false;
      break;
    case 5: e->mode = CIS__SEG_PASSIVE; if (!reftype(r, &e->vt) || !elem_exprs(r, e, has_dc)) return false; break;
    case 6:
      e->mode = CIS__SEG_ACTIVE;
      if (!u32(r, &e->table) || !expr(r, &e->offset, has_dc) || !reftype(r, &e->vt) || !elem_exprs(r, e, has_dc))
        return false;
      break;
    case 7: e->mode = CIS__SEG_DECLARATIVE; if (!reftype(r, &e->vt) || !elem_exprs(r, e, has_dc)) return false; break;
    default: return fail_at(r, at, CIS_EMALFORMED, "malformed elements segment kind");
    }
    e->type = cis__vt_kind(e->vt);
  }
  return true;
}

/* One function body (the spec's sized code): size, locals, instructions up
 * to the function's end, and the size must match what was read. */
static bool code_body(rd *r, cis__code *c, bool has_dc) {
  uint32_t size;
  if (!len32(r, &size)) return false;
  const uint8_t *start = r->p;
  uint32_t ngroups;
  if (!len32(r, &ngroups)) return false;
  /* The total may not exceed the limit; the groups stay where they are. */
  const uint8_t *groups = r->p;
  uint64_t total = 0;
  uint32_t t;
  for (uint32_t g = 0; g < ngroups; g++) {
    uint32_t k;
    if (!u32(r, &k)) return false;
    total += k;
    if (total > CIS__MAX_LOCALS) return fail(r, CIS_EMALFORMED, "too many locals");
    if (!valtype(r, &t)) return false;
  }
  c->nlocals = (uint32_t)total;
  c->nlocal_groups = ngroups;
  c->locals = groups;
  c->body = r->p;
  c->body_offset = (uint32_t)(r->p - r->base);
  if (!instrs(r, has_dc)) return false;
  if ((size_t)(r->p - start) != size) return fail_at(r, start, CIS_ESECTION, "section size mismatch");
  c->body_len = (uint32_t)(r->p - c->body);
  return true;
}

static bool sec_code(rd *r, cis__module *m, bool has_dc) {
  uint32_t n;
  size_t cap;
  if (!count(r, &n, 2, &cap)) return false;
  m->codes = calloc(cap, sizeof *m->codes);
  if (!m->codes) return fail(r, CIS_ENOMEM, "out of memory");
  for (uint32_t i = 0; i < n; i++) {
    m->ncodes = i + 1;
    if (!code_body(r, &m->codes[i], has_dc)) return false;
  }
  return true;
}

static bool sec_data(rd *r, cis__module *m, bool has_dc) {
  uint32_t n;
  size_t cap;
  if (!count(r, &n, 2, &cap)) return false;
  m->datas = calloc(cap, sizeof *m->datas);
  if (!m->datas) return fail(r, CIS_ENOMEM, "out of memory");
  for (uint32_t i = 0; i < n; i++) {
    cis__data *d = &m->datas[i];
    m->ndatas = i + 1;
    const uint8_t *at = r->p;
    uint32_t flags;
    if (!u32(r, &flags)) return false;
    if (flags == 0) d->mode = CIS__SEG_ACTIVE;
    else if (flags == 1) d->mode = CIS__SEG_PASSIVE;
    else if (flags == 2) {
      d->mode = CIS__SEG_ACTIVE;
      if (!u32(r, &d->memory)) return false;
    } else return fail_at(r, at, CIS_EMALFORMED, "malformed data segment kind");
    if (d->mode == CIS__SEG_ACTIVE && !expr(r, &d->offset, has_dc)) return false;
    if (!bytes_(r, &d->bytes, &d->len)) return false;
  }
  return true;
}

/* The "name" custom section: module and function names. Any problem makes
 * us drop the names, never the module (custom sections do not affect
 * validity). */
static void sec_names(const uint8_t *p, const uint8_t *end, cis__module *m) {
  cis__diag scratch = {0};
  rd r = {p, end, p, false, &scratch};
  while (r.p < r.end) {
    uint8_t id;
    uint32_t size;
    if (!u8(&r, &id) || !u32(&r, &size) || size > (size_t)(r.end - r.p)) return;
    rd s = {r.p, r.p + size, p, false, &scratch};
    r.p += size;
    if (id == 0) {
      const char *nm;
      uint32_t nl;
      if (name(&s, &nm, &nl)) {
        m->module_name = nm;
        m->module_name_len = nl;
      }
    } else if (id == 1 && m->nfuncs) {
      uint32_t n;
      size_t cap;
      if (!count(&s, &n, 2, &cap)) return;
      if (!m->func_names) {
        m->func_names = calloc(m->nfuncs, sizeof *m->func_names);
        m->func_name_lens = calloc(m->nfuncs, sizeof *m->func_name_lens);
        if (!m->func_names || !m->func_name_lens) return;
      }
      for (uint32_t i = 0; i < n; i++) {
        uint32_t idx, nl;
        const char *nm;
        if (!u32(&s, &idx) || !name(&s, &nm, &nl)) return;
        if (idx < m->nfuncs) {
          m->func_names[idx] = nm;
          m->func_name_lens[idx] = nl;
        }
      }
    }
  }
}

/* Section ids in the order the binary format requires them: the tag
 * section (13) comes between memory (5) and global (6). */
static int section_rank(uint8_t id) {
  static const int rank[14] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 12, 13, 11, 6};
  return id <= 13 ? rank[id] : -1;
}

/* cis__module_decode_std (release NULL: the bytes are copied) and
 * cis__module_decode_held (the bytes are used in place, and release(owner)
 * drops the caller's hold on them when the module goes). */
static cis_result decode(const uint8_t *bytes, size_t len, int standard, void (*release)(void *), void *owner,
                         cis__module **out, cis__diag *d) {
  memset(d, 0, sizeof *d);
  *out = NULL;
  cis__module *m = calloc(1, sizeof *m);
  if (!m) {
    if (release) release(owner);
    return d->code = CIS_ENOMEM;
  }
  atomic_init(&m->refs, 1);
  m->standard = standard == CIS__STD_2 ? CIS__STD_2 : CIS__STD_3;
  tl_std = m->standard;
  if (release) {
    m->bytes = (uint8_t *)(uintptr_t)bytes; /* never written: the decoder and engines only read */
    m->bytes_release = release;
    m->bytes_owner = owner;
  } else {
    m->bytes = malloc(len ? len : 1);
    if (!m->bytes) {
      free(m);
      return d->code = CIS_ENOMEM;
    }
    if (len) memcpy(m->bytes, bytes, len);
  }
  m->nbytes = len;
  rd r = {m->bytes, m->bytes + len, m->bytes, true, d};
  uint32_t *decl = NULL, ndecl = 0;
  cis__tabletype *tables = NULL;
  cis__limits *mems = NULL;
  cis__global *globals = NULL;
  uint32_t *tags = NULL;
  uint32_t ntables = 0, nmems = 0, nglobals = 0, ntags = 0;
  bool ok = true;

  /* As the spec's decoder: the magic and the version are read as u32s,
   * so a binary that ends inside one is "unexpected end". */
  if (len < 4) {
    r.p = r.end;
    fail(&r, CIS_EEOF, "unexpected end");
    goto done;
  }
  if (memcmp(m->bytes, "\0asm", 4) != 0) {
    fail(&r, CIS_EMAGIC, "magic header not detected");
    goto done;
  }
  r.p += 4;
  if (len < 8) {
    r.p = r.end;
    fail(&r, CIS_EEOF, "unexpected end");
    goto done;
  }
  if (memcmp(m->bytes + 4, "\1\0\0\0", 4) != 0) {
    /* The spec's words first (the spec runner compares them), then what
     * a component is, for whoever built one by mistake. */
    if (!memcmp(m->bytes + 4, "\x0d\0\1\0", 4)) fail(&r, CIS_EVERSION, "unknown binary version: " CIS__COMPONENT_HINT);
    else fail(&r, CIS_EVERSION, "unknown binary version");
    goto done;
  }
  r.p += 4;
  r.header = false;
  int last = 0;
  bool seen_function = false, seen_data = false;
  tl_uses_data_without_count = false;
  tl_uses_eh = false;
  tl_uses_gc = false;
  tl_features = 0;
  tl_in_const = false;
  while (ok && r.p < r.end) {
    const uint8_t *at = r.p;
    uint8_t id;
    uint32_t size;
    if (!u8(&r, &id)) break;
    if (id > (m->standard >= CIS__STD_3 ? 13 : 12)) {
      fail_at(&r, at, CIS_ESECTION, "malformed section id");
      break;
    }
    if (!len32(&r, &size)) break;
    /* len32 counts the size's own bytes as room: a size up to that much
     * past the end is no "length out of bounds", but it cannot match. */
    bool overrun = size > (size_t)(r.end - r.p);
    const uint8_t *sec = r.p, *sec_end = overrun ? r.end : r.p + size;
    rd s = {r.p, r.end, m->bytes, false, d};
    r.p = sec_end;
    if (id != 0) {
      int rank = section_rank(id);
      if (rank <= last) {
        fail_at(&r, at, CIS_ESECTION, "unexpected content after last section");
        break;
      }
      last = rank;
    }
    switch (id) {
    case 0: {
      const char *nm;
      uint32_t nl;
      ok = name(&s, &nm, &nl);
      if (ok && (overrun || s.p > sec_end)) { /* the name runs past the section */
        s.p = s.end;
        ok = eof(&s);
      }
      if (ok && nl == 4 && !memcmp(nm, "name", 4)) sec_names(s.p, sec_end, m);
      s.p = sec_end;
      break;
    }
    case 1: ok = sec_type(&s, m); break;
    case 2: ok = sec_import(&s, m); break;
    case 3: ok = sec_function(&s, m, &decl, &ndecl); seen_function = true; break;
    case 4: ok = sec_table(&s, &tables, &ntables, m->has_datacount); break;
    case 5: ok = sec_memory(&s, &mems, &nmems); break;
    case 13: ok = sec_tag(&s, &tags, &ntags); break;
    case 6: ok = sec_global(&s, &globals, &nglobals, m->has_datacount); break;
    case 7: ok = sec_export(&s, m); break;
    case 8: ok = u32(&s, &m->start); m->has_start = ok; break;
    case 9: ok = sec_elem(&s, m, m->has_datacount); break;
    case 12: ok = u32(&s, &m->datacount); m->has_datacount = ok; break;
    case 10: ok = sec_code(&s, m, m->has_datacount); break;
    case 11: ok = sec_data(&s, m, m->has_datacount); seen_data = true; break;
    }
    if (ok && (overrun || s.p != sec_end)) ok = fail_at(&s, sec, CIS_ESECTION, "section size mismatch");
    (void)seen_function;
  }
  if (d->code != CIS_OK) goto done;

  m->uses_eh = tl_uses_eh;
  m->uses_gc = tl_uses_gc;
  m->features = tl_features;
  /* The checks across sections, in the spec decoder's order. */
  m->nfuncs = m->nfunc_imports + ndecl;
  if (ndecl != m->ncodes) {
    r.p = r.end;
    fail(&r, CIS_EMALFORMED, "function and code section have inconsistent lengths");
    goto done;
  }
  if (m->has_datacount && m->datacount != m->ndatas) {
    r.p = r.end;
    fail(&r, CIS_EMALFORMED, "data count and data section have inconsistent lengths");
    goto done;
  }
  if (tl_uses_data_without_count && seen_data) {
    r.p = r.end;
    fail(&r, CIS_EMALFORMED, "data count section required");
    goto done;
  }
  /* Index spaces: imports first, then definitions. */
  m->func_type = malloc(((size_t)m->nfuncs + 1) * sizeof *m->func_type);
  m->ntables = m->ntable_imports + ntables;
  m->tables = calloc((size_t)m->ntables + 1, sizeof *m->tables);
  m->nmemories = m->nmemory_imports + nmems;
  m->memories = calloc((size_t)m->nmemories + 1, sizeof *m->memories);
  m->nglobals = m->nglobal_imports + nglobals;
  m->globals = calloc((size_t)m->nglobals + 1, sizeof *m->globals);
  m->ntags = m->ntag_imports + ntags;
  m->tag_type = malloc(((size_t)m->ntags + 1) * sizeof *m->tag_type);
  if (!m->func_type || !m->tables || !m->memories || !m->globals || !m->tag_type) {
    d->code = CIS_ENOMEM;
    goto done;
  }
  uint32_t fi = 0, ti = 0, mi = 0, gi = 0, xi = 0;
  for (uint32_t i = 0; i < m->nimports; i++) {
    const cis__import *im = &m->imports[i];
    switch (im->kind) {
    case CIS_EXTERN_FUNC: m->func_type[fi++] = im->desc.type_idx; break;
    case CIS_EXTERN_TABLE: m->tables[ti++] = im->desc.table; break;
    case CIS_EXTERN_MEMORY: m->memories[mi++] = im->desc.memory; break;
    case CIS_EXTERN_GLOBAL: m->globals[gi++].type = im->desc.global; break;
    case CIS_EXTERN_TAG: m->tag_type[xi++] = im->desc.tag_type; break;
    }
  }
  for (uint32_t i = 0; i < ntags; i++) m->tag_type[xi++] = tags[i];
  for (uint32_t i = 0; i < ndecl; i++) m->func_type[fi++] = decl[i];
  for (uint32_t i = 0; i < ntables; i++) m->tables[ti++] = tables[i];
  for (uint32_t i = 0; i < nmems; i++) m->memories[mi++] = mems[i];
  for (uint32_t i = 0; i < nglobals; i++) m->globals[gi++] = globals[i];
  /* Names were read before the function count was known; re-read them. */
  if (m->func_names) {
    free(m->func_names);
    free(m->func_name_lens);
    m->func_names = NULL;
    m->func_name_lens = NULL;
  }
  {
    /* Find the name section again now that nfuncs is known. */
    rd s2 = {m->bytes + 8, m->bytes + len, m->bytes, true, &(cis__diag){0}};
    while (s2.p < s2.end) {
      uint8_t id;
      uint32_t size;
      if (!u8(&s2, &id) || !u32(&s2, &size) || size > (size_t)(s2.end - s2.p)) break;
      const uint8_t *sec = s2.p, *sec_end = s2.p + size;
      s2.p += size;
      if (id != 0) continue;
      rd n = {sec, sec_end, m->bytes, false, &(cis__diag){0}};
      const char *nm;
      uint32_t nl;
      if (name(&n, &nm, &nl) && nl == 4 && !memcmp(nm, "name", 4)) sec_names(n.p, n.end, m);
    }
  }

done:
  free(decl);
  free(tables);
  free(mems);
  free(globals);
  free(tags);
  if (d->code != CIS_OK) {
    cis__module_free(m);
    return d->code;
  }
  m->features |= cis__module_features(m);
  *out = m;
  return CIS_OK;
}

cis_result cis__module_decode(const uint8_t *bytes, size_t len, cis__module **out, cis__diag *d) {
  return decode(bytes, len, CIS__STD_3, NULL, NULL, out, d);
}

cis_result cis__module_decode_std(const uint8_t *bytes, size_t len, int standard, cis__module **out,
                                  cis__diag *d) {
  return decode(bytes, len, standard, NULL, NULL, out, d);
}

cis_result cis__module_decode_held(const uint8_t *bytes, size_t len, int standard, void (*release)(void *),
                                   void *owner, cis__module **out, cis__diag *d) {
  return decode(bytes, len, standard, release, owner, out, d);
}

cis__module *cis__module_ref(cis__module *m) {
  atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
  return m;
}

void cis__module_free(cis__module *m) {
  if (!m || atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1) return;
  for (uint32_t i = 0; m->types && i < m->ntypes; i++) {
    free(m->types[i].types);
    free(m->types[i].vts);
    free(m->types[i].mut);
  }
  free(m->type_rep);
  free(m->types);
  free(m->imports);
  free(m->func_type);
  free(m->tables);
  free(m->memories);
  free(m->globals);
  free(m->tag_type);
  free(m->exports);
  for (uint32_t i = 0; m->elems && i < m->nelems; i++) {
    free(m->elems[i].funcs);
    free(m->elems[i].exprs);
  }
  free(m->elems);
  free(m->datas);
  free(m->codes);
  free(m->func_declared);
  free(m->func_names);
  free(m->func_name_lens);
  if (m->bytes_release) m->bytes_release(m->bytes_owner);
  else free(m->bytes);
  free(m);
}

void cis__constexpr_decode(const cis__expr *e, cis__constexpr *out) {
  memset(out, 0, sizeof *out);
  if (!e->len) return; /* an empty expression's code may be NULL */
  const uint8_t *p = e->code, *end = e->code + e->len;
  enum cis__op op;
  if (p >= end) return;
  out->op = *p;
  if (cis__op_read(&p, end, &op) != CIS__OPREAD_OK) return;
  int64_t v = 0;
  uint32_t x = 0;
  switch (op) {
  case CIS__OP_I32_CONST: {
    int32_t w = 0;
    out->type = CIS__I32;
    cis__read_s32(&p, end, &w);
    out->bits = (uint32_t)w;
    break;
  }
  case CIS__OP_I64_CONST: out->type = CIS__I64; cis__read_s64(&p, end, &v); out->bits = (uint64_t)v; break;
  case CIS__OP_F32_CONST: out->type = CIS__F32; if (end - p >= 4) { uint32_t b; memcpy(&b, p, 4); out->bits = b; } break;
  case CIS__OP_F64_CONST: out->type = CIS__F64; if (end - p >= 8) memcpy(&out->bits, p, 8); break;
  case CIS__OP_V128_CONST:
    out->type = CIS__V128;
    if (end - p >= 16) {
      memcpy(out->v128, p, 16);
      memcpy(&out->bits, p, 8);
    }
    break;
  case CIS__OP_REF_NULL: {
    uint32_t vt = CIS__FUNCREF;
    cis__read_heaptype(&p, end, &vt);
    out->type = cis__vt_kind(vt);
    break;
  }
  case CIS__OP_REF_FUNC: out->type = CIS__FUNCREF; cis__read_u32(&p, end, &x); out->index = x; break;
  case CIS__OP_GLOBAL_GET: cis__read_u32(&p, end, &x); out->index = x; break;
  default: break;
  }
}

/* Every value type's byte, from exnref (0x69) to i32 (0x7f): what a
 * one-result block type's results point to. */
static const uint8_t vt_bytes[] = {0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71, 0x72, 0x73, 0x74,
                                   0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x7b, 0x7c, 0x7d, 0x7e, 0x7f};

bool cis__read_blocktype(const uint8_t **p, const uint8_t *end, int64_t *bt) {
  if (*p < end && (**p == CIS__REF_NULL_PREFIX || **p == CIS__REF_PREFIX)) {
    uint32_t vt;
    if (cis__read_valtype(p, end, true, &vt)) return false;
    *bt = CIS__BT_REF - (int64_t)vt;
    return true;
  }
  return cis__read_s33(p, end, bt);
}

bool cis__blocktype_get(const cis__module *m, int64_t bt, cis__blocktype *out) {
  memset(out, 0, sizeof *out);
  if (bt == -64) return true;
  if (bt >= 0) {
    if ((uint64_t)bt >= m->ntypes || !cis__is_functype(&m->types[bt])) return false;
    const cis__functype *t = &m->types[bt];
    out->nparams = t->nparams;
    out->nresults = t->nresults;
    out->params = t->types;
    out->results = t->types + t->nparams;
    out->vparams = t->vts;
    out->vresults = t->vts ? t->vts + t->nparams : NULL;
    return true;
  }
  uint32_t vt;
  if (bt <= CIS__BT_REF) {
    vt = (uint32_t)(CIS__BT_REF - bt);
    if (cis__vt_has_idx(vt) && cis__vt_idx(vt) >= m->ntypes) return false;
  } else {
    vt = (uint8_t)(0x80 + bt);
  }
  uint8_t k = cis__vt_kind(vt);
  if (k < CIS__EXNREF || !(cis__valtype_ok(k) || cis__vt_is_ref(k))) return false;
  const uint8_t *r = &vt_bytes[k - CIS__EXNREF];
  out->nresults = 1;
  out->results = r;
  out->one = vt;
  return true;
}
