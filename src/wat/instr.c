/*
 * This file implements the instructions of the text-format compiler:
 * plain and folded forms, structured control with labels (named, numbered,
 * checked at end/else), and every immediate kind of the opcode table
 * (src/wasm/opcodes.def), from which it takes each mnemonic, its encoding
 * and its immediates: no instruction is spelled here except the
 * structured ones (try_table and the legacy try included) and the select
 * with types.
 *
 * Nesting (folded operands, blocks) recurses, bounded by
 * CIS__WAT_MAX_DEPTH with CIS_ETOOBIG, so hostile text cannot exhaust the
 * C stack.
 */
#include <stdlib.h>
#include <string.h>

#include "wasm/module.h"
#include "wasm/opcodes.h"
#include "wat/wat_int.h"

static bool instr_seq(wat_p *p, wat_buf *b);
static bool is_field_part(wat_p *p, const wat_tok *t);
static bool folded(wat_p *p, wat_buf *b);

static bool enter(wat_p *p) {
  if (++p->depth > CIS__WAT_MAX_DEPTH)
    return wat__fail_code(p, CIS_ETOOBIG, NULL, "nesting deeper than %u", CIS__WAT_MAX_DEPTH);
  return true;
}

static void leave(wat_p *p) { p->depth--; }

static void put_op(wat_buf *b, const cis__opinfo *oi) {
  if (oi->prefix) {
    wat__byte(b, oi->prefix);
    wat__u32(b, oi->code);
  } else {
    wat__byte(b, (uint8_t)oi->code);
  }
}

/* The op named by keyword t, if any. */
static bool op_of(wat_p *p, const wat_tok *t, enum cis__op *op) {
  /* ref.test_null and ref.cast_null are the table's names of encodings
   * the text writes as ref.test / ref.cast (cast_op) */
  return t->kind == WT_KEYWORD && cis__op_by_name(p->src + t->off, t->len, op) && *op != CIS__OP_REF_TEST_NULL &&
         *op != CIS__OP_REF_CAST_NULL;
}

bool wat__at_folded_instr(wat_p *p) {
  enum cis__op op;
  return wat__tok(p)->kind == WT_LPAR && op_of(p, wat__peek(p, 1), &op);
}

/* ----------------------------------------------------------------- labels */

static bool push_label(wat_p *p, const wat_tok *id) {
  if (p->nlabels == p->cap_labels) {
    uint32_t cap = p->cap_labels ? p->cap_labels * 2 : 16;
    wat_label *n = realloc(p->labels, cap * sizeof *n);
    if (!n) return wat__fail_code(p, CIS_ENOMEM, NULL, "out of memory");
    p->labels = n;
    p->cap_labels = cap;
  }
  p->labels[p->nlabels].s = NULL;
  p->labels[p->nlabels].n = 0;
  if (id) wat__id_name(p, id, &p->labels[p->nlabels].s, &p->labels[p->nlabels].n);
  p->nlabels++;
  return true;
}

/* An optional block label: $id, consumed. */
static const wat_tok *opt_label(wat_p *p) {
  if (wat__tok(p)->kind != WT_ID) return NULL;
  return &p->toks[p->pos++];
}

/* After end/else: an optional $id that must repeat the block's label. */
static bool check_end_label(wat_p *p) {
  const wat_tok *t = wat__tok(p);
  if (t->kind != WT_ID) return true;
  const wat_label *l = &p->labels[p->nlabels - 1];
  const char *nm;
  size_t nn;
  wat__id_name(p, t, &nm, &nn);
  if (!l->s || l->n != nn || memcmp(l->s, nm, nn))
    return wat__fail(p, t, "mismatching label %.*s", (int)t->len, p->src + t->off);
  p->pos++;
  return true;
}

static bool label_index(wat_p *p, uint32_t *out) {
  const wat_tok *t = wat__tok(p);
  if (t->kind == WT_ID) {
    const char *nm;
    size_t nn;
    wat__id_name(p, t, &nm, &nn);
    for (uint32_t i = p->nlabels; i-- > 0;) {
      const wat_label *l = &p->labels[i];
      if (l->s && l->n == nn && !memcmp(l->s, nm, nn)) {
        *out = p->nlabels - 1 - i;
        p->pos++;
        return true;
      }
    }
    return wat__fail(p, t, "unknown label %.*s", (int)t->len, p->src + t->off);
  }
  if (!wat__lit_u32(p, t, out)) return false;
  p->pos++;
  return true;
}

static bool local_index(wat_p *p, uint32_t *out) {
  const wat_tok *t = wat__tok(p);
  if (t->kind == WT_ID) {
    const char *nm;
    size_t nn;
    wat__id_name(p, t, &nm, &nn);
    if (!wat__names_get(&p->locals, nm, nn, out))
      return wat__fail(p, t, "unknown local %.*s", (int)t->len, p->src + t->off);
    p->pos++;
    return true;
  }
  if (!wat__lit_u32(p, t, out)) return false;
  p->pos++;
  return true;
}

/* ------------------------------------------------------------- immediates */

/* The number after "offset=" or "align=" (skip bytes into t): a u64
 * (3.0: memory64's offsets; whether it fits a 32-bit memory is the
 * validator's) or a u32 (2.0), or the spec's "unknown operator" for a
 * token that holds no such number. */
static bool memarg_num(wat_p *p, const wat_tok *t, size_t skip, uint64_t *out) {
  wat_tok num = *t;
  num.off += skip, num.len -= skip, num.col += (uint32_t)skip, num.kind = WT_RESERVED;
  if (!wat__is_num(p, &num) || p->src[num.off] == '-' || p->src[num.off] == '+')
    return wat__fail(p, t, "unknown operator %.*s", (int)(t->len > 40 ? 40 : t->len), p->src + t->off);
  if (p->standard >= CIS__STD_3) return wat__lit_u64(p, &num, out);
  uint32_t v;
  if (!wat__lit_u32(p, &num, &v)) return false;
  *out = v;
  return true;
}

/* A memarg: [memory index,] offset=N and align=N; natural is log2 of the
 * natural alignment. A memory index other than 0 goes after the flags,
 * with their bit 6 set (multi-memory); memory 0 is encoded as in 2.0. A
 * lane instruction's index alone is its lane, not a memory (lane). */
static bool memarg(wat_p *p, wat_buf *b, unsigned natural, bool lane) {
  uint64_t offset = 0;
  uint32_t align_log = natural, mem = 0;
  const wat_tok *t = wat__tok(p);
  if (wat__at_index(p)) {
    const wat_tok *n = wat__peek(p, 1);
    bool memarg_next = n->kind == WT_KEYWORD && n->len > 6 &&
                       (!memcmp(p->src + n->off, "offset=", 7) || !memcmp(p->src + n->off, "align=", 6));
    if (!lane || t->kind == WT_ID || wat__is_num(p, n) || memarg_next) {
      if (!wat__index(p, WS_MEM, &mem)) return false;
      t = wat__tok(p);
    }
  }
  static const char kw_off[] = "offset=", kw_align[] = "align=";
  if (t->kind == WT_KEYWORD && t->len > 7 && !memcmp(p->src + t->off, kw_off, 7)) {
    if (!memarg_num(p, t, 7, &offset)) return false;
    p->pos++;
    t = wat__tok(p);
  }
  if (t->kind == WT_KEYWORD && t->len > 6 && !memcmp(p->src + t->off, kw_align, 6)) {
    uint64_t a;
    if (!memarg_num(p, t, 6, &a)) return false;
    if (a == 0 || (a & (a - 1))) return wat__fail(p, t, "alignment must be a power of two");
    align_log = 0;
    while ((1ull << align_log) < a) align_log++;
    p->pos++;
  }
  wat__u32(b, mem ? align_log | 64 : align_log);
  if (mem) wat__u32(b, mem);
  wat__u64(b, offset);
  return true;
}

/* An optional memory index (memory.size, grow, fill), 0 when absent. */
static bool opt_mem(wat_p *p, uint32_t *out) {
  *out = 0;
  if (!wat__at_index(p)) return true;
  return wat__index(p, WS_MEM, out);
}

/* A lane index: a u8 literal. What is no natural number is an unexpected
 * token (a shuffle's lanes: out of a lane's range, as the spec says);
 * a number past 255 is out of range. The spec's words for that changed:
 * "malformed lane index" in 2.0, "i8 constant out of range" in 3.0. */
static bool lane_index(wat_p *p, wat_buf *b, bool shuffle_lane) {
  const char *range = p->standard == CIS__STD_2 ? "malformed lane index" : "i8 constant out of range";
  const wat_tok *t = wat__tok(p);
  const char *s = p->src + t->off;
  bool nat = wat__is_num(p, t) && s[0] != '-' && s[0] != '+';
  for (size_t i = 0; nat && i < t->len; i++)
    if (s[i] == '.' || ((s[i] == 'e' || s[i] == 'E' || s[i] == 'p' || s[i] == 'P') && !(t->len > 1 && s[1] == 'x')))
      nat = false; /* a float */
  if (!nat) {
    if (shuffle_lane && (t->kind == WT_RESERVED || t->kind == WT_KEYWORD)) return wat__fail(p, t, "%s", range);
    return wat__fail(p, t, "unexpected token, expected a lane index");
  }
  uint64_t v = 0;
  if (!wat__lit_i64(p, t, &v)) return false; /* a nat: only its range can fail */
  if (v > 255) return wat__fail(p, t, "%s", range);
  wat__byte(b, (uint8_t)v);
  p->pos++;
  return true;
}

/* v128.const SHAPE lane*. */
static bool v128_const(wat_p *p, wat_buf *b) {
  static const struct {
    const char *kw;
    unsigned lanes, bits;
    char kind; /* i: integer, f: float */
  } shapes[] = {{"i8x16", 16, 8, 'i'}, {"i16x8", 8, 16, 'i'}, {"i32x4", 4, 32, 'i'},
                {"i64x2", 2, 64, 'i'}, {"f32x4", 4, 32, 'f'}, {"f64x2", 2, 64, 'f'}};
  const wat_tok *t = wat__tok(p);
  size_t s = 0;
  while (s < 6 && !wat__is_kw(p, t, shapes[s].kw)) s++;
  if (s == 6) {
    if (t->kind == WT_KEYWORD)
      return wat__fail(p, t, "unknown operator %.*s, expected a vector shape",
                       (int)(t->len > 40 ? 40 : t->len), p->src + t->off);
    return wat__fail(p, t, "unexpected token, expected a vector shape");
  }
  p->pos++;
  /* count the literals first: a wrong count is reported as such even when
   * a literal is also out of range */
  unsigned count = 0;
  for (const wat_tok *l = wat__tok(p); l->kind == WT_RESERVED ||
                                       (l->kind == WT_KEYWORD && l->len >= 3 &&
                                        (!memcmp(p->src + l->off, "nan", 3) ||
                                         !memcmp(p->src + l->off, "inf", 3)));
       l++)
    count++;
  if (count != shapes[s].lanes) return wat__fail(p, NULL, "wrong number of lane literals");
  uint8_t bytes[16];
  unsigned w = shapes[s].bits / 8;
  for (unsigned i = 0; i < shapes[s].lanes; i++) {
    t = wat__tok(p);
    if (t->kind != WT_RESERVED && t->kind != WT_KEYWORD)
      return wat__fail(p, t, "wrong number of lane literals");
    uint64_t v = 0;
    bool ok;
    if (shapes[s].kind == 'f') {
      if (shapes[s].bits == 32) {
        uint32_t f;
        ok = wat__lit_f32(p, t, &f);
        v = f;
      } else {
        ok = wat__lit_f64(p, t, &v);
      }
    } else if (shapes[s].bits == 64) {
      ok = wat__lit_i64(p, t, &v);
    } else if (shapes[s].bits == 32) {
      uint32_t x;
      ok = wat__lit_i32(p, t, &x);
      v = x;
    } else {
      uint32_t x;
      ok = wat__lit_iN(p, t, shapes[s].bits, &x);
      v = x;
    }
    if (!ok) return false;
    for (unsigned k = 0; k < w; k++) bytes[i * w + k] = (uint8_t)(v >> (8 * k));
    p->pos++;
  }
  if (wat__is_num(p, wat__tok(p))) return wat__fail(p, NULL, "wrong number of lane literals");
  wat__put(b, bytes, 16);
  return true;
}

/* i8x16.shuffle: 16 lane indices. */
static bool shuffle(wat_p *p, wat_buf *b) {
  for (unsigned i = 0; i < 16; i++) {
    const wat_tok *t = wat__tok(p);
    if (!wat__is_num(p, t)) {
      if (t->kind == WT_KEYWORD || t->kind == WT_RESERVED)
        return wat__fail(p, t, "%s", p->standard == CIS__STD_2 ? "malformed lane index" : "i8 constant out of range");
      return wat__fail(p, t, "invalid lane length");
    }
    if (!lane_index(p, b, true)) return false;
  }
  if (wat__is_num(p, wat__tok(p))) return wat__fail(p, NULL, "invalid lane length");
  return true;
}

/* Optional table index (table.get and friends abbreviate table 0). */
static bool opt_table(wat_p *p, uint32_t *out) {
  *out = 0;
  if (!wat__at_index(p)) return true;
  return wat__index(p, WS_TABLE, out);
}

/* `x? y` of table.init and memory.init: x of space `into` (0 when
 * absent), y a segment of space `seg`; encoded segment first. */
static bool segment_into(wat_p *p, wat_buf *b, int into, int seg) {
  size_t save = p->pos;
  uint32_t x = 0, y;
  if (!wat__at_index(p)) return wat__fail(p, NULL, "unexpected token, expected an index");
  p->pos++;
  bool two = wat__at_index(p);
  p->pos = save;
  if (two && !wat__index(p, into, &x)) return false;
  if (!wat__index(p, seg, &y)) return false;
  wat__u32(b, y);
  wat__u32(b, x);
  return true;
}

/* Two indices of space `space` or none (both 0): table.copy, memory.copy. */
static bool opt_pair(wat_p *p, wat_buf *b, int space) {
  uint32_t x = 0, y = 0;
  if (wat__at_index(p) && (!wat__index(p, space, &x) || !wat__index(p, space, &y))) return false;
  wat__u32(b, x);
  wat__u32(b, y);
  return true;
}

/* A field of struct type x: its index, or its name. */
static bool field_index(wat_p *p, uint32_t x, uint32_t *out) {
  const wat_tok *t = wat__tok(p);
  if (t->kind != WT_ID) {
    if (!wat__lit_u32(p, t, out)) return false;
    p->pos++;
    return true;
  }
  const char *nm;
  size_t nn;
  wat__id_name(p, t, &nm, &nn);
  if (x >= p->ntypes || !wat__names_get(&p->types[x].fields, nm, nn, out))
    return wat__fail(p, t, "unknown field %.*s", (int)t->len, p->src + t->off);
  p->pos++;
  return true;
}

/* A reference type whose heap type alone goes to b (ref.test, ref.cast,
 * br_on_cast: the opcode or a flag says whether it is nullable). */
static bool cast_type(wat_p *p, wat_buf *b) {
  wat_buf rt = {0};
  bool ok = wat__reftype(p, &rt);
  if (ok && rt.oom) ok = wat__fail_code(p, CIS_ENOMEM, NULL, "out of memory");
  if (ok) {
    size_t skip = rt.n > 1 && (rt.p[0] == CIS__REF_NULL_PREFIX || rt.p[0] == CIS__REF_PREFIX);
    wat__put(b, rt.p + skip, rt.n - skip);
  }
  wat__buf_free(&rt);
  return ok;
}

/* Is the reference type at the current token nullable ((ref null ht) or
 * a shorthand such as anyref)? */
static bool at_nullable_reftype(wat_p *p) {
  return !wat__at_open(p, "ref") || wat__is_kw(p, wat__peek(p, 2), "null");
}

/* ref.test and ref.cast have one mnemonic for two encodings: the
 * nullable target type's is the _NULL row. */
static enum cis__op cast_op(wat_p *p, enum cis__op op) {
  if ((op == CIS__OP_REF_TEST || op == CIS__OP_REF_CAST) && at_nullable_reftype(p))
    return op == CIS__OP_REF_TEST ? CIS__OP_REF_TEST_NULL : CIS__OP_REF_CAST_NULL;
  return op;
}

/* The immediates of op into b (after its opcode). */
static bool immediates(wat_p *p, enum cis__op op, wat_buf *b) {
  const cis__opinfo *oi = cis__op_info(op);
  uint32_t x, y;
  switch (oi->imm) {
  case CIS__IMM_NONE:
    return true;
  case CIS__IMM_LABEL:
    if (!label_index(p, &x)) return false;
    wat__u32(b, x);
    return true;
  case CIS__IMM_BR_TABLE: {
    wat_buf ls = {0};
    uint32_t n = 0;
    bool ok = true;
    while (ok && wat__at_index(p)) {
      ok = label_index(p, &x);
      wat__u32(&ls, x);
      n++;
    }
    if (ok && n == 0) ok = wat__fail(p, NULL, "unexpected token, expected a label");
    if (ok) {
      wat__u32(b, n - 1);
      wat__put(b, ls.p, ls.n);
    }
    wat__buf_free(&ls);
    return ok;
  }
  case CIS__IMM_FUNC:
    if (!wat__index(p, WS_FUNC, &x)) return false;
    wat__u32(b, x);
    return true;
  case CIS__IMM_CALL_INDIRECT:
    if (!opt_table(p, &y) || !wat__typeuse(p, &x, false)) return false;
    wat__u32(b, x);
    wat__u32(b, y);
    return true;
  case CIS__IMM_LOCAL:
    if (!local_index(p, &x)) return false;
    wat__u32(b, x);
    return true;
  case CIS__IMM_GLOBAL:
    if (!wat__index(p, WS_GLOBAL, &x)) return false;
    wat__u32(b, x);
    return true;
  case CIS__IMM_TABLE:
    if (!opt_table(p, &x)) return false;
    wat__u32(b, x);
    return true;
  case CIS__IMM_MEMARG:
    return memarg(p, b, oi->arg, false);
  case CIS__IMM_MEMIDX:
    if (!opt_mem(p, &x)) return false;
    wat__u32(b, x);
    return true;
  case CIS__IMM_I32:
    if (!wat__lit_i32(p, wat__tok(p), &x)) return false;
    p->pos++;
    wat__s32(b, (int32_t)x);
    return true;
  case CIS__IMM_I64: {
    uint64_t v;
    if (!wat__lit_i64(p, wat__tok(p), &v)) return false;
    p->pos++;
    wat__s64(b, (int64_t)v);
    return true;
  }
  case CIS__IMM_F32: {
    if (!wat__lit_f32(p, wat__tok(p), &x)) return false;
    p->pos++;
    uint8_t bytes[4] = {(uint8_t)x, (uint8_t)(x >> 8), (uint8_t)(x >> 16), (uint8_t)(x >> 24)};
    wat__put(b, bytes, 4);
    return true;
  }
  case CIS__IMM_F64: {
    uint64_t v;
    if (!wat__lit_f64(p, wat__tok(p), &v)) return false;
    p->pos++;
    uint8_t bytes[8];
    for (int k = 0; k < 8; k++) bytes[k] = (uint8_t)(v >> (8 * k));
    wat__put(b, bytes, 8);
    return true;
  }
  case CIS__IMM_HEAPTYPE:
    if (cis__op_is_gc(op)) return cast_type(p, b); /* ref.test, ref.cast: a reference type */
    return wat__heaptype(p, b);
  case CIS__IMM_TYPE_FIELD:
    if (!wat__index(p, WS_TYPE, &x) || !field_index(p, x, &y)) return false;
    wat__u32(b, x);
    wat__u32(b, y);
    return true;
  case CIS__IMM_TYPE_FIXED:
    if (!wat__index(p, WS_TYPE, &x) || !wat__lit_u32(p, wat__tok(p), &y)) return false;
    p->pos++;
    wat__u32(b, x);
    wat__u32(b, y);
    return true;
  case CIS__IMM_TYPE_DATA: case CIS__IMM_TYPE_ELEM: case CIS__IMM_TYPE_TYPE:
    if (oi->imm == CIS__IMM_TYPE_DATA) p->uses_data_count = true;
    if (!wat__index(p, WS_TYPE, &x) ||
        !wat__index(p, oi->imm == CIS__IMM_TYPE_DATA ? WS_DATA : oi->imm == CIS__IMM_TYPE_ELEM ? WS_ELEM : WS_TYPE, &y))
      return false;
    wat__u32(b, x);
    wat__u32(b, y);
    return true;
  case CIS__IMM_CAST: { /* br_on_cast l rt1 rt2: flags say which is nullable */
    if (!label_index(p, &x)) return false;
    uint8_t flags = at_nullable_reftype(p);
    wat_buf hts = {0};
    bool ok = cast_type(p, &hts);
    if (ok) flags |= (uint8_t)(at_nullable_reftype(p) << 1);
    ok = ok && cast_type(p, &hts);
    if (ok) {
      wat__byte(b, flags);
      wat__u32(b, x);
      wat__put(b, hts.p, hts.n);
    }
    wat__buf_free(&hts);
    return ok;
  }
  case CIS__IMM_TYPE:
    if (!wat__index(p, WS_TYPE, &x)) return false;
    wat__u32(b, x);
    return true;
  case CIS__IMM_TAG:
    if (!wat__index(p, WS_TAG, &x)) return false;
    wat__u32(b, x);
    return true;
  case CIS__IMM_SELECT_T: {
    wat_buf ts = {0};
    uint32_t n = 0;
    bool ok = true;
    while (ok && wat__at_open(p, "result")) {
      p->pos += 2;
      while (ok && wat__tok(p)->kind != WT_RPAR) {
        ok = wat__valtype(p, &ts);
        n++;
      }
      ok = ok && wat__expect_rpar(p);
    }
    if (ok) {
      wat__u32(b, n);
      wat__put(b, ts.p, ts.n);
    }
    wat__buf_free(&ts);
    return ok;
  }
  case CIS__IMM_DATA:
    p->uses_data_count = true;
    if (!wat__index(p, WS_DATA, &x)) return false;
    wat__u32(b, x);
    return true;
  case CIS__IMM_MEMORY_INIT: /* memory.init x? y: x the memory, y the data segment */
    p->uses_data_count = true;
    return segment_into(p, b, WS_MEM, WS_DATA);
  case CIS__IMM_MEMORY_COPY:
    return opt_pair(p, b, WS_MEM);
  case CIS__IMM_ELEM:
    if (!wat__index(p, WS_ELEM, &x)) return false;
    wat__u32(b, x);
    return true;
  case CIS__IMM_TABLE_INIT: /* table.init x? y: x the table, y the element segment */
    return segment_into(p, b, WS_TABLE, WS_ELEM);
  case CIS__IMM_TABLE_COPY:
    return opt_pair(p, b, WS_TABLE);
  case CIS__IMM_V128:
    return v128_const(p, b);
  case CIS__IMM_SHUFFLE:
    return shuffle(p, b);
  case CIS__IMM_LANE:
    return lane_index(p, b, false);
  case CIS__IMM_MEMARG_LANE:
    return memarg(p, b, oi->arg, true) && lane_index(p, b, false);
  default:
    return wat__fail(p, NULL, "internal: immediate kind %u", oi->imm);
  }
}

/* ------------------------------------------------------------ block types */

/* label? blocktype for block/loop/if; pushes the label. */
static bool block_head(wat_p *p, wat_buf *b) {
  const wat_tok *id = opt_label(p);
  return wat__blocktype(p, b) && push_label(p, id);
}

/* ------------------------------------------------------------ exceptions */

/* try_table's catch clauses, (catch x l) (catch_ref x l) (catch_all l)
 * (catch_all_ref l), as their count and the clauses; their labels are
 * those around the try_table (its own is not pushed yet). */
static bool catch_clauses(wat_p *p, wat_buf *b) {
  static const char *const kinds[] = {"catch", "catch_ref", "catch_all", "catch_all_ref"};
  wat_buf cs = {0};
  uint32_t n = 0, x;
  bool ok = true;
  for (;;) {
    uint8_t k = 0;
    while (k < 4 && !wat__at_open(p, kinds[k])) k++;
    if (k == 4) break;
    p->pos += 2;
    wat__byte(&cs, k);
    if (k <= CIS__CATCH_REF) {
      ok = wat__index(p, WS_TAG, &x);
      wat__u32(&cs, x);
    }
    ok = ok && label_index(p, &x) && wat__expect_rpar(p);
    if (!ok) break;
    wat__u32(&cs, x);
    n++;
  }
  if (ok) {
    wat__u32(b, n);
    wat__put(b, cs.p, cs.n);
  }
  wat__buf_free(&cs);
  return ok;
}

/* label? blocktype catch* of try_table; pushes the label. */
static bool try_table_head(wat_p *p, wat_buf *b) {
  const wat_tok *id = opt_label(p);
  return wat__blocktype(p, b) && catch_clauses(p, b) && push_label(p, id);
}

/* The end of a legacy try: delegate l (the try's label gone first, l is
 * one around it), or end. */
static bool try_end(wat_p *p, wat_buf *b, bool folded_form) {
  uint32_t x;
  bool delegate = folded_form ? wat__at_open(p, "delegate") : wat__is_kw(p, wat__tok(p), "delegate");
  if (delegate) {
    p->pos += folded_form ? 2 : 1;
    p->nlabels--;
    if (!label_index(p, &x)) return false;
    wat__byte(b, cis__op_info(CIS__OP_DELEGATE)->code);
    wat__u32(b, x);
    return !folded_form || wat__expect_rpar(p);
  }
  if (!folded_form) {
    if (!wat__is_kw(p, wat__tok(p), "end")) return wat__fail(p, NULL, "unexpected token, expected end");
    p->pos++;
    if (!check_end_label(p)) return false;
  }
  wat__byte(b, 0x0b);
  p->nlabels--;
  return true;
}

/* A legacy try after its keyword: label? blocktype, the body, catches,
 * then end or delegate; plain (try ... catch x ... catch_all ... end) or
 * folded ((try ... (do ...) (catch x ...)* (catch_all ...)?) or
 * (try ... (do ...) (delegate l))). */
static bool legacy_try(wat_p *p, wat_buf *b, bool folded_form) {
  uint32_t x;
  wat__byte(b, cis__op_info(CIS__OP_TRY)->code);
  if (!block_head(p, b)) return false;
  if (folded_form) {
    if (!wat__at_open(p, "do")) return wat__fail(p, NULL, "unexpected token, expected (do");
    p->pos += 2;
  }
  if (!instr_seq(p, b) || (folded_form && !wat__expect_rpar(p))) return false;
  bool caught = false, all = false; /* a catch seen; the last was catch_all */
  for (;;) {
    const wat_tok *at = folded_form ? wat__peek(p, 1) : wat__tok(p);
    bool one = folded_form ? wat__at_open(p, "catch") : wat__is_kw(p, at, "catch");
    if (!one && !(folded_form ? wat__at_open(p, "catch_all") : wat__is_kw(p, at, "catch_all"))) {
      /* delegate ends a try without catches only */
      if (caught && wat__is_kw(p, at, "delegate")) return wat__fail(p, at, "unexpected token");
      break;
    }
    if (all) return wat__fail(p, at, "unexpected token"); /* nothing after catch_all */
    caught = true;
    all = !one;
    p->pos += folded_form ? 2 : 1;
    wat__byte(b, cis__op_info(all ? CIS__OP_CATCH_ALL : CIS__OP_CATCH)->code);
    if (!all) {
      if (!wat__index(p, WS_TAG, &x)) return false;
      wat__u32(b, x);
    }
    if (!instr_seq(p, b) || (folded_form && !wat__expect_rpar(p))) return false;
  }
  return try_end(p, b, folded_form);
}

/* ------------------------------------------------------------ plain forms */

/* A plain instruction whose keyword is the current token. */
static bool plain(wat_p *p, wat_buf *b) {
  const wat_tok *t = wat__tok(p);
  enum cis__op op;
  if (!op_of(p, t, &op))
    return wat__fail(p, t, "unknown operator %.*s", (int)(t->len > 40 ? 40 : t->len), p->src + t->off);
  p->pos++;
  const cis__opinfo *oi = cis__op_info(op);
  if (op == CIS__OP_BLOCK || op == CIS__OP_LOOP || op == CIS__OP_IF) {
    if (!enter(p)) return false;
    put_op(b, oi);
    if (!block_head(p, b) || !instr_seq(p, b)) return false;
    if (op == CIS__OP_IF && wat__is_kw(p, wat__tok(p), "else")) {
      p->pos++;
      if (!check_end_label(p)) return false;
      wat__byte(b, 0x05);
      if (!instr_seq(p, b)) return false;
    }
    if (!wat__is_kw(p, wat__tok(p), "end")) return wat__fail(p, NULL, "unexpected token, expected end");
    p->pos++;
    if (!check_end_label(p)) return false;
    wat__byte(b, 0x0b);
    p->nlabels--;
    leave(p);
    return true;
  }
  if (op == CIS__OP_TRY_TABLE) {
    if (!enter(p)) return false;
    put_op(b, oi);
    if (!try_table_head(p, b) || !instr_seq(p, b)) return false;
    if (!wat__is_kw(p, wat__tok(p), "end")) return wat__fail(p, NULL, "unexpected token, expected end");
    p->pos++;
    if (!check_end_label(p)) return false;
    wat__byte(b, 0x0b);
    p->nlabels--;
    leave(p);
    return true;
  }
  if (op == CIS__OP_TRY) {
    if (!enter(p) || !legacy_try(p, b, false)) return false;
    leave(p);
    return true;
  }
  if (op == CIS__OP_ELSE || op == CIS__OP_END || op == CIS__OP_CATCH || op == CIS__OP_CATCH_ALL ||
      op == CIS__OP_DELEGATE)
    return wat__fail(p, t, "unexpected token");
  if (op == CIS__OP_SELECT && wat__at_open(p, "result")) op = CIS__OP_SELECT_T, oi = cis__op_info(op);
  op = cast_op(p, op);
  oi = cis__op_info(op);
  put_op(b, oi);
  return immediates(p, op, b);
}

/* --------------------------------------------------------------- folded */

/* A folded instruction: the current token is "(" and the next an
 * instruction keyword. */
static bool folded(wat_p *p, wat_buf *b) {
  if (!enter(p)) return false;
  p->pos++;
  const wat_tok *t = wat__tok(p);
  enum cis__op op;
  if (!op_of(p, t, &op))
    return wat__fail(p, t, "unknown operator %.*s", (int)(t->len > 40 ? 40 : t->len), p->src + t->off);
  p->pos++;
  const cis__opinfo *oi = cis__op_info(op);
  if (op == CIS__OP_BLOCK || op == CIS__OP_LOOP || op == CIS__OP_TRY_TABLE) {
    put_op(b, oi);
    if (!(op == CIS__OP_TRY_TABLE ? try_table_head(p, b) : block_head(p, b)) || !instr_seq(p, b)) return false;
    wat__byte(b, 0x0b);
    p->nlabels--;
  } else if (op == CIS__OP_TRY) {
    if (!legacy_try(p, b, true)) return false;
  } else if (op == CIS__OP_IF) {
    /* (if label? bt folded* (then ...) (else ...)?): condition first */
    const wat_tok *id = opt_label(p);
    wat_buf bt = {0};
    bool ok = wat__blocktype(p, &bt);
    while (ok && wat__tok(p)->kind == WT_LPAR && !wat__at_open(p, "then")) {
      if (!wat__at_folded_instr(p)) {
        const wat_tok *k = wat__peek(p, 1);
        ok = k->kind == WT_KEYWORD && !wat__is_kw(p, k, "else") && !is_field_part(p, k)
                 ? wat__fail(p, k, "unknown operator %.*s", (int)(k->len > 40 ? 40 : k->len), p->src + k->off)
                 : wat__fail(p, NULL, "unexpected token, expected (then");
        break;
      }
      ok = folded(p, b);
    }
    if (ok) {
      put_op(b, oi);
      wat__put(b, bt.p, bt.n);
    }
    wat__buf_free(&bt);
    if (!ok || !push_label(p, id)) return false;
    if (!wat__at_open(p, "then")) return wat__fail(p, NULL, "unexpected token, expected (then");
    p->pos += 2;
    if (!instr_seq(p, b) || !wat__expect_rpar(p)) return false;
    if (wat__at_open(p, "else")) {
      p->pos += 2;
      wat__byte(b, 0x05);
      if (!instr_seq(p, b) || !wat__expect_rpar(p)) return false;
    }
    wat__byte(b, 0x0b);
    p->nlabels--;
  } else if (op == CIS__OP_ELSE || op == CIS__OP_END || op == CIS__OP_CATCH || op == CIS__OP_CATCH_ALL ||
             op == CIS__OP_DELEGATE) {
    return wat__fail(p, t, "unexpected token");
  } else {
    /* immediates come first in the text, last in the code */
    if (op == CIS__OP_SELECT && wat__at_open(p, "result")) op = CIS__OP_SELECT_T, oi = cis__op_info(op);
    op = cast_op(p, op);
    oi = cis__op_info(op);
    wat_buf imm = {0};
    bool ok = immediates(p, op, &imm);
    while (ok && wat__tok(p)->kind == WT_LPAR) {
      if (!wat__at_folded_instr(p)) {
        const wat_tok *k = wat__peek(p, 1);
        ok = k->kind == WT_KEYWORD && !is_field_part(p, k)
                 ? wat__fail(p, k, "unknown operator %.*s", (int)(k->len > 40 ? 40 : k->len), p->src + k->off)
                 : wat__fail(p, NULL, "unexpected token");
        break;
      }
      ok = folded(p, b);
    }
    if (ok) {
      put_op(b, oi);
      wat__put(b, imm.p, imm.n);
    }
    wat__buf_free(&imm);
    if (!ok) return false;
  }
  if (!wat__expect_rpar(p)) return false;
  leave(p);
  return true;
}

/* ------------------------------------------------------------- sequences */

/* Keywords that open a field's part rather than an instruction: met in
 * instruction position, the spec reports an unexpected token. */
static bool is_field_part(wat_p *p, const wat_tok *t) {
  static const char *const kws[] = {"param", "result", "local", "type", "export", "import",
                                    "then",  "item",   "offset", "mut", NULL};
  for (int i = 0; kws[i]; i++)
    if (wat__is_kw(p, t, kws[i])) return true;
  return false;
}

/* Keywords that end an instruction sequence: end, else, and a legacy
 * try's catch, catch_all and delegate. */
static bool ends_seq(wat_p *p, const wat_tok *t) {
  return wat__is_kw(p, t, "end") || wat__is_kw(p, t, "else") || wat__is_kw(p, t, "catch") ||
         wat__is_kw(p, t, "catch_all") || wat__is_kw(p, t, "delegate");
}

/* Instructions until ")", end, else, catch, catch_all, delegate or the
 * end of the text. */
static bool instr_seq(wat_p *p, wat_buf *b) {
  for (;;) {
    const wat_tok *t = wat__tok(p);
    if (t->kind == WT_LPAR) {
      const wat_tok *k = wat__peek(p, 1);
      enum cis__op op;
      if (op_of(p, k, &op)) {
        if (!folded(p, b)) return false;
        continue;
      }
      if (k->kind == WT_KEYWORD && !is_field_part(p, k))
        return wat__fail(p, k, "unknown operator %.*s", (int)(k->len > 40 ? 40 : k->len), p->src + k->off);
      return wat__fail(p, t, "unexpected token");
    }
    if (t->kind != WT_KEYWORD || ends_seq(p, t)) return true;
    if (!plain(p, b)) return false;
    if (b->oom) return wat__fail_code(p, CIS_ENOMEM, NULL, "out of memory");
  }
}

bool wat__instrs(wat_p *p, wat_buf *b) {
  if (!instr_seq(p, b)) return false;
  const wat_tok *t = wat__tok(p);
  if (ends_seq(p, t)) return wat__fail(p, t, "unexpected token");
  return true;
}

bool wat__expr(wat_p *p, wat_buf *b) {
  if (!wat__instrs(p, b)) return false;
  wat__byte(b, 0x0b);
  return true;
}

bool wat__folded_expr(wat_p *p, wat_buf *b) {
  if (!wat__at_folded_instr(p)) {
    const wat_tok *k = wat__peek(p, 1);
    if (wat__tok(p)->kind == WT_LPAR && k->kind == WT_KEYWORD && !is_field_part(p, k))
      return wat__fail(p, k, "unknown operator %.*s", (int)(k->len > 40 ? 40 : k->len), p->src + k->off);
    return wat__fail(p, NULL, "unexpected token, expected an instruction");
  }
  if (!folded(p, b)) return false;
  wat__byte(b, 0x0b);
  return true;
}
