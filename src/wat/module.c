/*
 * This file implements the module level of the text-format compiler:
 * cis__wat_compile, the module fields (type, import, func, table, memory,
 * tag, global, export, start, elem, data) with all their abbreviations (inline
 * imports and exports, inline elem and data, implicit types of type uses),
 * index resolution, and the assembly of the binary sections.
 *
 * It makes two passes over the fields. The first gives every definition
 * its index (imports first, as the text must put them) and its $name, and
 * reads the explicit (type ...) fields, so that the second pass, which
 * encodes, can resolve names used before their definition. Implicit types
 * are appended after the explicit ones in text order, as the spec says.
 */
#include <stdlib.h>
#include <string.h>

#include "wasm/module.h"
#include "wat/wat_int.h"

static const char *const space_name[WS_COUNT] = {"type",   "func", "table", "memory",
                                                 "global", "elem", "data",  "tag"};
/* The export (and import) kind byte of each definition space. */
static const uint8_t space_kind[WS_COUNT] = {0, 0, 1, 2, 3, 0, 0, 4};

/* --------------------------------------------------------------- indices */

bool wat__at_index(wat_p *p) {
  const wat_tok *t = wat__tok(p);
  return t->kind == WT_ID || wat__is_num(p, t);
}

bool wat__index(wat_p *p, int space, uint32_t *out) {
  const wat_tok *t = wat__tok(p);
  if (t->kind == WT_ID) {
    const char *nm;
    size_t nn;
    wat__id_name(p, t, &nm, &nn);
    if (!wat__names_get(&p->names[space], nm, nn, out))
      return wat__fail(p, t, "unknown %s %.*s", space_name[space], (int)t->len, p->src + t->off);
    p->pos++;
    return true;
  }
  if (!wat__lit_u32(p, t, out)) return false;
  p->pos++;
  return true;
}

/* Skips a balanced group starting at "(" (the current token). */
static bool skip_group(wat_p *p) {
  size_t depth = 0;
  do {
    const wat_tok *t = wat__tok(p);
    if (t->kind == WT_EOF) return wat__fail(p, t, "unexpected end of text, expected )");
    if (t->kind == WT_LPAR) depth++;
    if (t->kind == WT_RPAR) depth--;
    p->pos++;
  } while (depth);
  return true;
}

/* ------------------------------------------------------------ value types */

bool wat__heaptype(wat_p *p, wat_buf *out) {
  const wat_tok *t = wat__tok(p);
  uint32_t x;
  static const struct {
    const char *kw;
    uint8_t code;
  } abs[] = {{"func", CIS__FUNCREF},    {"extern", CIS__EXTERNREF},   {"exn", CIS__EXNREF},
             {"noexn", CIS__NULLEXNREF}, {"any", CIS__ANYREF},         {"eq", CIS__EQREF},
             {"i31", CIS__I31REF},       {"struct", CIS__STRUCTREF},   {"array", CIS__ARRAYREF},
             {"none", CIS__NULLREF},     {"nofunc", CIS__NULLFUNCREF}, {"noextern", CIS__NULLEXTERNREF}};
  for (size_t i = 0; i < sizeof abs / sizeof abs[0]; i++)
    if (wat__is_kw(p, t, abs[i].kw)) {
      wat__byte(out, abs[i].code);
      p->pos++;
      return true;
    }
  if (wat__at_index(p)) {
    if (!wat__index(p, WS_TYPE, &x)) return false;
    wat__s64(out, x);
    return true;
  } else if (t->kind == WT_KEYWORD)
    return wat__fail(p, t, "unknown operator %.*s, expected a heap type", (int)(t->len > 40 ? 40 : t->len),
                     p->src + t->off);
  else return wat__fail(p, t, "unexpected token, expected a heap type");
  p->pos++;
  return true;
}

/* The value types' keywords, the reference types' first. */
static const struct {
  const char *kw;
  uint8_t code;
} valtypes[] = {{"funcref", CIS__FUNCREF},       {"externref", CIS__EXTERNREF},       {"exnref", CIS__EXNREF},
                {"nullexnref", CIS__NULLEXNREF}, {"anyref", CIS__ANYREF},             {"eqref", CIS__EQREF},
                {"i31ref", CIS__I31REF},         {"structref", CIS__STRUCTREF},       {"arrayref", CIS__ARRAYREF},
                {"nullref", CIS__NULLREF},       {"nullfuncref", CIS__NULLFUNCREF},   {"nullexternref", CIS__NULLEXTERNREF},
                {"i32", CIS__I32},               {"i64", CIS__I64},                   {"f32", CIS__F32},
                {"f64", CIS__F64},               {"v128", CIS__V128}};
#define NREFTYPES 12u

bool wat__at_reftype(wat_p *p) {
  const wat_tok *t = wat__tok(p);
  for (size_t i = 0; i < NREFTYPES; i++)
    if (wat__is_kw(p, t, valtypes[i].kw)) return true;
  return wat__at_open(p, "ref");
}

/* A value type (refs_only: a reference type) into out. */
static bool value_type(wat_p *p, wat_buf *out, bool refs_only) {
  const char *what = refs_only ? "a reference type" : "a value type";
  const wat_tok *t = wat__tok(p);
  for (size_t i = 0; i < (refs_only ? NREFTYPES : sizeof valtypes / sizeof valtypes[0]); i++)
    if (wat__is_kw(p, t, valtypes[i].kw)) {
      wat__byte(out, valtypes[i].code);
      p->pos++;
      return true;
    }
  if (wat__at_open(p, "ref")) { /* (ref null? ht) */
    p->pos += 2;
    bool null = wat__is_kw(p, wat__tok(p), "null");
    if (null) p->pos++;
    wat__byte(out, null ? 0x63 : 0x64);
    return wat__heaptype(p, out) && wat__expect_rpar(p);
  }
  if (t->kind == WT_KEYWORD)
    return wat__fail(p, t, "unknown operator %.*s, expected %s", (int)(t->len > 40 ? 40 : t->len),
                     p->src + t->off, what);
  return wat__fail(p, t, "unexpected token, expected %s", what);
}

bool wat__valtype(wat_p *p, wat_buf *out) { return value_type(p, out, false); }
bool wat__reftype(wat_p *p, wat_buf *out) { return value_type(p, out, true); }

/* ------------------------------------------------------------------ types */

/* Is f the type of np params and nr results encoded in t? */
static bool ftype_is(const wat_ftype *f, const uint8_t *t, uint32_t np, uint32_t nr, size_t pbytes,
                     size_t nbytes) {
  return f->np == np && f->nr == nr && f->pbytes == pbytes && f->nbytes == nbytes &&
         (nbytes == 0 || !memcmp(f->t, t, nbytes));
}

static bool is_plain_func(const wat_ftype *f) { return f->comp == CIS__COMP_FUNC && !f->sub && !f->in_rec; }

/* Appends the type to p->types. */
static bool type_add(wat_p *p, const uint8_t *t, uint32_t np, uint32_t nr, size_t pbytes, size_t nbytes) {
  if (nbytes > UINT32_MAX) return wat__fail_code(p, CIS_ETOOBIG, NULL, "function type too large");
  if (p->ntypes == p->cap_types) {
    uint32_t cap = p->cap_types ? p->cap_types * 2 : 16;
    wat_ftype *n = realloc(p->types, cap * sizeof *n);
    if (!n) return wat__fail_code(p, CIS_ENOMEM, NULL, "out of memory");
    p->types = n;
    p->cap_types = cap;
  }
  wat_ftype *f = &p->types[p->ntypes];
  *f = (wat_ftype){.np = np, .nr = nr, .pbytes = (uint32_t)pbytes, .nbytes = (uint32_t)nbytes,
                   .t = malloc(nbytes ? nbytes : 1), .comp = CIS__COMP_FUNC};
  if (!f->t) return wat__fail_code(p, CIS_ENOMEM, NULL, "out of memory");
  if (nbytes) memcpy(f->t, t, nbytes);
  p->ntypes++;
  return true;
}

bool wat__type_find_or_add(wat_p *p, const uint8_t *t, uint32_t np, uint32_t nr, size_t pbytes, size_t nbytes,
                           uint32_t *idx) {
  /* only a plain function type (final, no supertype, a group of its
   * own) is the type an inline type use stands for */
  for (uint32_t i = 0; i < p->ntypes; i++)
    if (is_plain_func(&p->types[i]) && ftype_is(&p->types[i], t, np, nr, pbytes, nbytes)) {
      *idx = i;
      return true;
    }
  *idx = p->ntypes;
  return type_add(p, t, np, nr, pbytes, nbytes);
}

/* Reads (param ...)* (result ...)* into b (params then results, encoded;
 * *pbytes the params' bytes). With names, a named param's $id goes to
 * p->locals at its index; without, a named param is malformed. */
static bool params_results(wat_p *p, wat_buf *b, uint32_t *np, uint32_t *nr, size_t *pbytes, bool names) {
  *np = *nr = 0;
  while (wat__at_open(p, "param")) {
    p->pos += 2;
    if (wat__tok(p)->kind == WT_ID) {
      const wat_tok *id = wat__tok(p);
      if (!names) return wat__fail(p, id, "unexpected token %.*s", (int)id->len, p->src + id->off);
      if (!wat__names_add(p, &p->locals, id, *np, "local")) return false;
      p->pos++;
      if (!wat__valtype(p, b)) return false;
      (*np)++;
    } else {
      while (wat__tok(p)->kind != WT_RPAR) {
        if (!wat__valtype(p, b)) return false;
        (*np)++;
      }
    }
    if (!wat__expect_rpar(p)) return false;
  }
  *pbytes = b->n;
  while (wat__at_open(p, "result")) {
    p->pos += 2;
    while (wat__tok(p)->kind != WT_RPAR) {
      if (!wat__valtype(p, b)) return false;
      (*nr)++;
    }
    if (!wat__expect_rpar(p)) return false;
  }
  if (b->oom) return wat__fail_code(p, CIS_ENOMEM, NULL, "out of memory");
  /* a type use is (type)? (param)* (result)*, in that order */
  if (wat__at_open(p, "param") || wat__at_open(p, "type"))
    return wat__fail(p, wat__peek(p, 1), "unexpected token, out of order in a type use");
  return true;
}

bool wat__typeuse(wat_p *p, uint32_t *idx, bool names) {
  bool has_type = false;
  uint32_t ti = 0;
  const wat_tok *at = wat__tok(p);
  if (wat__at_open(p, "type")) {
    p->pos += 2;
    if (!wat__index(p, WS_TYPE, &ti) || !wat__expect_rpar(p)) return false;
    has_type = true;
  }
  wat_buf b = {0};
  uint32_t np, nr;
  size_t pb = 0;
  bool ok = params_results(p, &b, &np, &nr, &pb, names);
  if (ok && has_type) {
    if (ti < p->ntypes) {
      const wat_ftype *f = &p->types[ti];
      if ((np || nr) && !ftype_is(f, b.p, np, nr, pb, b.n))
        ok = wat__fail(p, at, "inline function type does not match type %u", ti);
      if (!np) np = f->np;
    } else if (np || nr) {
      /* inline types cannot be checked against a type that is not there */
      ok = wat__fail(p, at, "unknown type %u", ti);
    }
    *idx = ti;
  } else if (ok) {
    ok = wat__type_find_or_add(p, b.p, np, nr, pb, b.n, idx);
  }
  if (names) p->nlocals = np;
  wat__buf_free(&b);
  return ok;
}

bool wat__blocktype(wat_p *p, wat_buf *out) {
  bool has_type = false, short_form = false;
  uint32_t ti = 0;
  const wat_tok *at = wat__tok(p);
  if (wat__at_open(p, "type")) {
    p->pos += 2;
    if (!wat__index(p, WS_TYPE, &ti) || !wat__expect_rpar(p)) return false;
    has_type = true;
  }
  wat_buf b = {0};
  uint32_t np, nr;
  size_t pb = 0;
  bool ok = params_results(p, &b, &np, &nr, &pb, false);
  if (ok && has_type) {
    if (ti < p->ntypes) {
      const wat_ftype *f = &p->types[ti];
      if ((np || nr) && !ftype_is(f, b.p, np, nr, pb, b.n))
        ok = wat__fail(p, at, "inline function type does not match type %u", ti);
      /* as wat2wasm: a type the short forms can say is written short */
      else if (is_plain_func(f) && f->np == 0 && f->nr <= 1) {
        short_form = true;
        if (f->nr) wat__put(out, f->t, f->nbytes);
        else wat__byte(out, 0x40);
      }
    }
    if (!short_form) wat__s64(out, ti);
  } else if (ok && np == 0 && nr == 0) {
    wat__byte(out, 0x40);
  } else if (ok && np == 0 && nr == 1) {
    wat__put(out, b.p, b.n);
  } else if (ok) {
    ok = wat__type_find_or_add(p, b.p, np, nr, pb, b.n, &ti);
    wat__s64(out, ti);
  }
  wat__buf_free(&b);
  return ok;
}

/* A field's storage type (i8, i16 or a value type) and mutability: st
 * or (mut st), encoded as the binary's field type. */
static bool field_storage(wat_p *p, wat_buf *b) {
  bool mut = wat__at_open(p, "mut");
  if (mut) p->pos += 2;
  const wat_tok *t = wat__tok(p);
  bool ok = true;
  if (wat__is_kw(p, t, "i8") || wat__is_kw(p, t, "i16")) {
    wat__byte(b, wat__is_kw(p, t, "i8") ? CIS__I8 : CIS__I16);
    p->pos++;
  } else {
    ok = wat__valtype(p, b);
  }
  wat__byte(b, mut);
  return ok && (!mut || wat__expect_rpar(p));
}

/* A composite type's group, "(" already read: (func (param ...)*
 * (result ...)*), (struct (field $id? st) | (field st*))* or (array
 * fieldtype), into a new entry of p->types. */
static bool comptype(wat_p *p) {
  const wat_tok *kw = wat__tok(p);
  wat_buf b = {0};
  uint32_t np = 0, nr = 0;
  size_t pb = 0;
  uint8_t comp = CIS__COMP_FUNC;
  wat_names fields = {0};
  bool ok = true;
  p->pos++;
  if (wat__is_kw(p, kw, "func")) {
    wat_names saved = p->locals; /* param names of a type are checked for duplicates only */
    memset(&p->locals, 0, sizeof p->locals);
    ok = params_results(p, &b, &np, &nr, &pb, true);
    wat__names_free(&p->locals);
    p->locals = saved;
  } else if (wat__is_kw(p, kw, "struct")) {
    comp = CIS__COMP_STRUCT;
    while (ok && wat__at_open(p, "field")) {
      p->pos += 2;
      if (wat__tok(p)->kind == WT_ID) { /* one named field */
        ok = wat__names_add(p, &fields, wat__tok(p), np, "field");
        p->pos++;
        ok = field_storage(p, &b);
        np++;
      } else {
        while (ok && wat__tok(p)->kind != WT_RPAR) {
          ok = field_storage(p, &b);
          np++;
        }
      }
      ok = ok && wat__expect_rpar(p);
    }
    pb = b.n;
  } else if (wat__is_kw(p, kw, "array")) {
    comp = CIS__COMP_ARRAY;
    ok = field_storage(p, &b);
    np = 1;
    pb = b.n;
  } else {
    ok = wat__fail(p, kw, "unexpected token, expected func, struct or array");
  }
  if (ok && b.oom) ok = wat__fail_code(p, CIS_ENOMEM, NULL, "out of memory");
  if (ok) ok = wat__expect_rpar(p);
  /* An explicit type is its own entry even when an equal one exists. */
  if (ok) ok = type_add(p, b.p, np, nr, pb, b.n);
  if (ok) {
    p->types[p->ntypes - 1].comp = comp;
    p->types[p->ntypes - 1].fields = fields;
  } else {
    wat__names_free(&fields);
  }
  wat__buf_free(&b);
  return ok;
}

/* (type $id? comptype) or (type $id? (sub final? x? comptype)), "(type"
 * already read, pass 1. Its name is known already (type_names), so that
 * any type may refer to any other, before or after it. */
static bool field_type(wat_p *p, bool in_rec) {
  if (wat__tok(p)->kind == WT_ID) p->pos++;
  if (!wat__expect_lpar(p)) return false;
  uint8_t sub = 0;
  bool has_super = false;
  uint32_t super = 0;
  if (wat__is_kw(p, wat__tok(p), "sub")) {
    p->pos++;
    sub = 0x50;
    if (wat__is_kw(p, wat__tok(p), "final")) {
      sub = 0x4f;
      p->pos++;
    }
    if (wat__at_index(p)) {
      if (!wat__index(p, WS_TYPE, &super)) return false;
      has_super = true;
    }
    if (!wat__expect_lpar(p)) return false;
  }
  if (!comptype(p)) return false;
  wat_ftype *f = &p->types[p->ntypes - 1];
  f->sub = sub;
  f->has_super = has_super;
  f->super = super;
  f->in_rec = in_rec;
  p->nexplicit++;
  return (!sub || wat__expect_rpar(p)) && wat__expect_rpar(p);
}

/* (rec (type ...)*), "(rec" already read, pass 1: its types' group. */
static bool field_rec(wat_p *p) {
  uint32_t first = p->ntypes;
  while (wat__at_open(p, "type")) {
    p->pos += 2;
    if (!field_type(p, true)) return false;
  }
  if (p->ntypes > first) p->types[first].rec = p->ntypes - first;
  return wat__expect_rpar(p);
}

/* Names every explicit type (of type and rec fields) before pass 1, so
 * that a type may name one defined after it. Only the names: pass 1
 * reports what else is wrong. */
static bool type_names(wat_p *p, size_t start) {
  uint32_t idx = 0;
  p->pos = start;
  while (wat__tok(p)->kind == WT_LPAR) {
    size_t open = p->pos;
    bool rec = wat__is_kw(p, wat__peek(p, 1), "rec");
    if (rec) p->pos += 2;
    while (rec ? wat__at_open(p, "type") : open == p->pos) {
      if (wat__at_open(p, "type")) {
        const wat_tok *id = wat__peek(p, 2);
        if (id->kind == WT_ID && !wat__names_add(p, &p->names[WS_TYPE], id, idx, "type")) return false;
        idx++;
      }
      if (!skip_group(p)) return false;
    }
    if (rec && wat__tok(p)->kind != WT_RPAR) return true; /* pass 1 says what is wrong */
    p->pos = open;
    if (!skip_group(p)) return false;
  }
  return true;
}

/* ---------------------------------------------------------------- pass 1 */

/* The kind of the first definition seen (func, table, memory, global),
 * for "import after ..."; -1 while none. */
typedef struct pass1 {
  int first_def;
} pass1;

static int kind_space(const wat_p *p, const wat_tok *t) {
  if (wat__is_kw(p, t, "func")) return WS_FUNC;
  if (wat__is_kw(p, t, "table")) return WS_TABLE;
  if (wat__is_kw(p, t, "memory")) return WS_MEM;
  if (wat__is_kw(p, t, "global")) return WS_GLOBAL;
  if (wat__is_kw(p, t, "tag")) return WS_TAG;
  return -1;
}

static bool import_allowed(wat_p *p, pass1 *st, const wat_tok *at) {
  static const char *const kind[WS_COUNT] = {"", "function", "table", "memory", "global", "", "", "tag"};
  if (st->first_def >= 0) return wat__fail(p, at, "import after %s", kind[st->first_def]);
  return true;
}

static bool define(wat_p *p, int space, const wat_tok *id) {
  if (id && !wat__names_add(p, &p->names[space], id, p->count[space], space_name[space])) return false;
  p->count[space]++;
  return true;
}

/* One field, pass 1: the current token is the field's keyword. */
static bool pass1_field(wat_p *p, pass1 *st, size_t open) {
  const wat_tok *kw = wat__tok(p);
  int space = kind_space(p, kw);
  p->pos++;
  if (wat__is_kw(p, kw, "type")) return field_type(p, false);
  if (wat__is_kw(p, kw, "rec")) return field_rec(p);
  if (wat__is_kw(p, kw, "import")) {
    if (!import_allowed(p, st, kw)) return false;
    /* (import "m" "n" (kind $id? ...)) */
    for (int i = 0; i < 2; i++) {
      if (wat__tok(p)->kind != WT_STRING) return wat__fail(p, NULL, "unexpected token, expected a string");
      p->pos++;
    }
    if (!wat__expect_lpar(p)) return false;
    int s = kind_space(p, wat__tok(p));
    if (s < 0) return wat__fail(p, NULL, "unexpected token, expected func, table, memory, global or tag");
    p->pos++;
    const wat_tok *id = wat__tok(p)->kind == WT_ID ? wat__tok(p) : NULL;
    if (!define(p, s, id)) return false;
  } else if (space >= 0) {
    const wat_tok *id = wat__tok(p)->kind == WT_ID ? &p->toks[p->pos++] : NULL;
    while (wat__at_open(p, "export"))
      if (!skip_group(p)) return false;
    bool imported = wat__at_open(p, "import");
    if (imported && !import_allowed(p, st, wat__peek(p, 1))) return false;
    if (!imported && st->first_def < 0) st->first_def = space;
    if (!define(p, space, id)) return false;
    if (!imported && space == WS_TABLE) {
      /* reftype (elem ...) defines an element segment too */
      const wat_tok *t = wat__tok(p);
      size_t after = 1; /* the tokens of the reftype */
      if (wat__at_open(p, "ref"))
        while (after < 6 && wat__peek(p, after - 1)->kind != WT_RPAR) after++;
      if ((wat__is_kw(p, t, "funcref") || wat__is_kw(p, t, "externref") || wat__at_open(p, "ref")) &&
          wat__peek(p, after)->kind == WT_LPAR && wat__is_kw(p, wat__peek(p, after + 1), "elem"))
        p->count[WS_ELEM]++;
    }
    if (!imported && space == WS_MEM && wat__at_open(p, "data")) p->count[WS_DATA]++;
  } else if (wat__is_kw(p, kw, "elem") || wat__is_kw(p, kw, "data")) {
    const wat_tok *id = wat__tok(p)->kind == WT_ID ? wat__tok(p) : NULL;
    if (!define(p, wat__is_kw(p, kw, "elem") ? WS_ELEM : WS_DATA, id)) return false;
  } else if (!wat__is_kw(p, kw, "export") && !wat__is_kw(p, kw, "start")) {
    return wat__fail(p, kw, "unexpected token %.*s, expected a module field",
                     (int)(kw->len > 40 ? 40 : kw->len), p->src + kw->off);
  }
  p->pos = open;
  return skip_group(p);
}

/* ---------------------------------------------------------------- pass 2 */

static bool put_name(wat_p *p, wat_buf *b, const wat_tok *t) {
  uint8_t *s;
  size_t n;
  if (!wat__string(p, t, &s, &n)) return false;
  if (!wat__utf8_ok(s, n)) {
    free(s);
    return wat__fail(p, t, "malformed UTF-8 encoding");
  }
  if (n > UINT32_MAX) {
    free(s);
    return wat__fail_code(p, CIS_ETOOBIG, t, "name too long");
  }
  wat__u32(b, (uint32_t)n);
  wat__put(b, s, n);
  free(s);
  return true;
}

/* Inline (export "n")* of a definition of `space` at index idx. */
static bool inline_exports(wat_p *p, int space, uint32_t idx) {
  while (wat__at_open(p, "export")) {
    p->pos += 2;
    if (!put_name(p, &p->sec_export, wat__tok(p))) return false;
    p->pos++;
    wat__byte(&p->sec_export, space_kind[space]);
    wat__u32(&p->sec_export, idx);
    p->n_export++;
    if (!wat__expect_rpar(p)) return false;
  }
  return true;
}

/* The validator's text for a memory too large. */
#define MEMORY_TOO_BIG "memory size must be at most 65536 pages (4GiB)"

/* One bound of limits: a u64 literal, and for a 32-bit table or memory
 * one beyond 32 bits is invalid with the validator's text, too_big (a
 * 64-bit one's bounds are the validator's). */
static bool limit(wat_p *p, const char *too_big, bool is64, uint64_t *out) {
  const wat_tok *t = wat__tok(p);
  if (p->standard < CIS__STD_3) { /* 2.0: a u32 literal */
    uint32_t v;
    if (!wat__lit_u32(p, t, &v)) return false;
    *out = v;
    p->pos++;
    return true;
  }
  if (!wat__lit_u64(p, t, out)) return false;
  if (!is64 && *out > UINT32_MAX) return wat__fail_code(p, CIS_EINVALID, t, "%s", too_big);
  p->pos++;
  return true;
}

/* An address type before limits (3.0, memory64 and table64): i64 is
 * true, i32 or none false. */
static bool addrtype(wat_p *p) {
  const wat_tok *t = wat__tok(p);
  if (p->standard < CIS__STD_3 || !(wat__is_kw(p, t, "i64") || wat__is_kw(p, t, "i32"))) return false;
  p->pos++;
  return wat__is_kw(p, t, "i64");
}

/* limits: min max?, a 64-bit table's or memory's with flags 4 and 5. */
static bool limits(wat_p *p, wat_buf *b, const char *too_big, bool is64) {
  uint64_t min, max;
  if (!limit(p, too_big, is64, &min)) return false;
  bool has_max = wat__is_num(p, wat__tok(p));
  if (has_max && !limit(p, too_big, is64, &max)) return false;
  wat__byte(b, (uint8_t)((is64 ? 4 : 0) | has_max));
  wat__u64(b, min);
  if (has_max) wat__u64(b, max);
  return true;
}

/* The offset of the segment a table or memory with inline elements or
 * data gets: the address type's const 0, then end. */
static void offset_zero(wat_buf *b, bool is64) {
  wat__byte(b, is64 ? 0x42 : 0x41);
  wat__byte(b, 0);
  wat__byte(b, 0x0b);
}

/* limits reftype, written reftype then limits. With init, a defined
 * table's initialiser may follow (an expression up to its ")"): then
 * 0x40 0x00 comes first and the expression after. */
static bool tabletype(wat_p *p, wat_buf *b, bool init) {
  wat_buf lim = {0}, rt = {0};
  bool is64 = addrtype(p);
  bool ok = limits(p, &lim, "table size", is64) && wat__reftype(p, &rt);
  bool has_init = ok && init && wat__tok(p)->kind != WT_RPAR;
  if (has_init) wat__put(b, "\x40\x00", 2);
  if (ok) {
    wat__put(b, rt.p, rt.n);
    wat__put(b, lim.p, lim.n);
  }
  if (has_init) ok = wat__expr(p, b);
  wat__buf_free(&lim);
  wat__buf_free(&rt);
  return ok;
}

static bool globaltype(wat_p *p, wat_buf *b) {
  if (wat__at_open(p, "mut")) {
    p->pos += 2;
    if (!wat__valtype(p, b) || !wat__expect_rpar(p)) return false;
    wat__byte(b, 1);
    return true;
  }
  if (!wat__valtype(p, b)) return false;
  wat__byte(b, 0);
  return true;
}

/* A function's or tag's type use, whose parameters may be named. */
static bool named_typeuse(wat_p *p, uint32_t *ti) {
  memset(&p->locals, 0, sizeof p->locals);
  bool ok = wat__typeuse(p, ti, true);
  wat__names_free(&p->locals);
  return ok;
}

/* The import descriptor after its names: (func|table|memory|global|tag $id? ...). */
static bool import_desc(wat_p *p, int space) {
  wat_buf *b = &p->sec_import;
  uint32_t ti;
  switch (space) {
  case WS_FUNC:
    if (!named_typeuse(p, &ti)) return false;
    wat__byte(b, 0);
    wat__u32(b, ti);
    break;
  case WS_TAG: /* an exception tag: attribute 0, then its type */
    if (!named_typeuse(p, &ti)) return false;
    wat__byte(b, 4);
    wat__byte(b, 0);
    wat__u32(b, ti);
    break;
  case WS_TABLE:
    wat__byte(b, 1);
    if (!tabletype(p, b, false)) return false;
    break;
  case WS_MEM:
    wat__byte(b, 2);
    if (!limits(p, b, MEMORY_TOO_BIG, addrtype(p))) return false;
    break;
  default:
    wat__byte(b, 3);
    if (!globaltype(p, b)) return false;
  }
  p->count[space]++;
  p->n_import++;
  return true;
}

/* (import "m" "n") inside a definition, then its descriptor body. */
static bool inline_import(wat_p *p, int space) {
  p->pos += 2;
  for (int i = 0; i < 2; i++) {
    if (!put_name(p, &p->sec_import, wat__tok(p))) return false;
    p->pos++;
  }
  return wat__expect_rpar(p) && import_desc(p, space);
}

static bool field_import(wat_p *p) {
  for (int i = 0; i < 2; i++) {
    if (!put_name(p, &p->sec_import, wat__tok(p))) return false;
    p->pos++;
  }
  if (!wat__expect_lpar(p)) return false;
  int space = kind_space(p, wat__tok(p));
  p->pos++;
  if (wat__tok(p)->kind == WT_ID) p->pos++;
  return import_desc(p, space) && wat__expect_rpar(p);
}

/* One local's type in `types`: a record of LOCAL_REC bytes, the
 * encoding's length then the encoding (at most 1 + 5 bytes). */
#define LOCAL_REC 8

static bool local_type(wat_p *p, wat_buf *types) {
  wat_buf vt = {0};
  bool ok = wat__valtype(p, &vt);
  if (ok && vt.n < LOCAL_REC) {
    uint8_t rec[LOCAL_REC] = {(uint8_t)vt.n};
    memcpy(rec + 1, vt.p, vt.n);
    wat__put(types, rec, sizeof rec);
    p->nlocals++;
  }
  wat__buf_free(&vt);
  return ok;
}

/* Local declarations: (local $id vt) | (local vt*). */
static bool locals(wat_p *p, wat_buf *types) {
  while (wat__at_open(p, "local")) {
    p->pos += 2;
    if (wat__tok(p)->kind == WT_ID) {
      if (!wat__names_add(p, &p->locals, wat__tok(p), p->nlocals, "local")) return false;
      p->pos++;
      if (!local_type(p, types)) return false;
    } else {
      while (wat__tok(p)->kind != WT_RPAR)
        if (!local_type(p, types)) return false;
    }
    if (!wat__expect_rpar(p)) return false;
  }
  return true;
}

static bool field_func(wat_p *p) {
  uint32_t idx = p->count[WS_FUNC];
  if (wat__tok(p)->kind == WT_ID) p->pos++;
  if (!inline_exports(p, WS_FUNC, idx)) return false;
  if (wat__at_open(p, "import")) return inline_import(p, WS_FUNC) && wat__expect_rpar(p);
  wat__names_free(&p->locals);
  p->nlocals = 0;
  p->nlabels = 0;
  uint32_t ti;
  wat_buf ltypes = {0}, body = {0};
  bool ok = wat__typeuse(p, &ti, true) && locals(p, &ltypes) && wat__instrs(p, &body) &&
            wat__expect_rpar(p);
  if (ok) {
    wat__u32(&p->sec_func, ti);
    /* local declarations: runs of one type */
    uint32_t runs = 0;
    for (size_t i = 0; i < ltypes.n; i += LOCAL_REC)
      if (i == 0 || memcmp(ltypes.p + i, ltypes.p + i - LOCAL_REC, LOCAL_REC)) runs++;
    wat_buf fn = {0};
    wat__u32(&fn, runs);
    for (size_t i = 0; i < ltypes.n;) {
      size_t j = i;
      while (j < ltypes.n && !memcmp(ltypes.p + j, ltypes.p + i, LOCAL_REC)) j += LOCAL_REC;
      wat__u32(&fn, (uint32_t)((j - i) / LOCAL_REC));
      wat__put(&fn, ltypes.p + i + 1, ltypes.p[i]);
      i = j;
    }
    wat__put(&fn, body.p, body.n);
    wat__byte(&fn, 0x0b);
    if (fn.oom || fn.n > UINT32_MAX) ok = wat__fail_code(p, CIS_ENOMEM, NULL, "out of memory");
    wat__u32(&p->sec_code, (uint32_t)fn.n);
    wat__put(&p->sec_code, fn.p, fn.n);
    wat__buf_free(&fn);
    p->count[WS_FUNC]++;
    p->def[WS_FUNC]++;
  }
  wat__names_free(&p->locals);
  wat__buf_free(&ltypes);
  wat__buf_free(&body);
  return ok;
}

/* An element list's items after the reftype or `func`, as a vec into b:
 * function indices (funcs true; as ref.func expressions with as_exprs) or
 * expressions ((item expr) or one folded instruction). *count is the
 * number of items. */
static bool elem_items(wat_p *p, bool funcs, bool as_exprs, wat_buf *b, uint32_t *count) {
  wat_buf items = {0};
  uint32_t n = 0;
  bool ok = true;
  if (funcs) {
    while (ok && wat__at_index(p)) {
      uint32_t fi;
      ok = wat__index(p, WS_FUNC, &fi);
      if (as_exprs) wat__byte(&items, 0xd2);
      wat__u32(&items, fi);
      if (as_exprs) wat__byte(&items, 0x0b);
      n++;
    }
  } else {
    while (ok && wat__tok(p)->kind == WT_LPAR) {
      if (wat__at_open(p, "item")) {
        p->pos += 2;
        ok = wat__expr(p, &items) && wat__expect_rpar(p);
      } else {
        ok = wat__folded_expr(p, &items);
      }
      n++;
    }
  }
  if (ok) {
    wat__u32(b, n);
    wat__put(b, items.p, items.n);
    if (count) *count = n;
  }
  wat__buf_free(&items);
  return ok;
}

/* An offset: (offset expr) or one folded instruction. */
static bool offset_expr(wat_p *p, wat_buf *b) {
  if (wat__at_open(p, "offset")) {
    p->pos += 2;
    return wat__expr(p, b) && wat__expect_rpar(p);
  }
  return wat__folded_expr(p, b);
}

/* (elem $id? ...): active (table x)? offset list, passive list, or
 * declare list, where list is `func` x*, a reftype and expressions, or
 * (active only, the MVP form) bare function indices. */
static bool field_elem(wat_p *p) {
  if (wat__tok(p)->kind == WT_ID) p->pos++;
  wat_buf *b = &p->sec_elem;
  uint32_t table = 0;
  bool active = false, declare = false;
  wat_buf off = {0};
  bool ok = true;
  if (wat__is_kw(p, wat__tok(p), "declare")) {
    declare = true;
    p->pos++;
  } else if (wat__tok(p)->kind == WT_LPAR && !wat__at_open(p, "item") && !wat__at_open(p, "ref")) {
    active = true;
    if (wat__at_open(p, "table")) {
      p->pos += 2;
      ok = wat__index(p, WS_TABLE, &table) && wat__expect_rpar(p);
    }
    ok = ok && offset_expr(p, &off);
  } else if (wat__is_num(p, wat__tok(p)) && wat__peek(p, 1)->kind == WT_LPAR) {
    active = true; /* (elem 0 (offset ...) ...): a bare table index */
    ok = wat__index(p, WS_TABLE, &table) && offset_expr(p, &off);
  }
  bool funcs = true;
  wat_buf rt = {0};
  const wat_tok *t = wat__tok(p);
  if (!ok) {
  } else if (wat__is_kw(p, t, "func")) {
    p->pos++;
  } else if (wat__at_reftype(p)) {
    funcs = false;
    ok = wat__reftype(p, &rt);
  } else if (!active) {
    ok = wat__fail(p, t, "unexpected token, expected func or a reference type");
  }
  if (ok) {
    bool funcref = funcs || (rt.n == 1 && rt.p[0] == 0x70);
    uint32_t flags;
    if (active)
      flags = (funcs ? 0u : 4u) | ((table != 0 || !funcref) ? 2u : 0u);
    else
      flags = (funcs ? 0u : 4u) | (declare ? 3u : 1u);
    wat__u32(b, flags);
    if (active && (flags & 2)) wat__u32(b, table);
    if (active) wat__put(b, off.p, off.n);
    if ((flags & 3) && funcs) wat__byte(b, 0x00); /* elemkind */
    else if (flags & 3) wat__put(b, rt.p, rt.n); /* reftype */
    ok = elem_items(p, funcs, false, b, NULL) && wat__expect_rpar(p);
    p->count[WS_ELEM]++;
  }
  wat__buf_free(&off);
  wat__buf_free(&rt);
  return ok;
}

/* Concatenated data strings into b as a vec(byte). */
static bool data_strings(wat_p *p, wat_buf *b, size_t *total) {
  wat_buf all = {0};
  bool ok = true;
  while (ok && wat__tok(p)->kind == WT_STRING) {
    uint8_t *s;
    size_t n;
    ok = wat__string(p, wat__tok(p), &s, &n);
    if (ok) {
      wat__put(&all, s, n);
      free(s);
      p->pos++;
    }
  }
  if (ok && (all.oom || all.n > UINT32_MAX)) ok = wat__fail_code(p, CIS_ETOOBIG, NULL, "data too large");
  if (ok) {
    wat__u32(b, (uint32_t)all.n);
    wat__put(b, all.p, all.n);
    if (total) *total = all.n;
  }
  wat__buf_free(&all);
  return ok;
}

static bool field_data(wat_p *p) {
  if (wat__tok(p)->kind == WT_ID) p->pos++;
  wat_buf *b = &p->sec_data;
  if (wat__tok(p)->kind == WT_LPAR || wat__is_num(p, wat__tok(p))) {
    uint32_t mem = 0;
    if (wat__at_open(p, "memory")) {
      p->pos += 2;
      if (!wat__index(p, WS_MEM, &mem) || !wat__expect_rpar(p)) return false;
    } else if (wat__is_num(p, wat__tok(p))) {
      if (!wat__index(p, WS_MEM, &mem)) return false;
    }
    wat__u32(b, mem ? 2 : 0);
    if (mem) wat__u32(b, mem);
    if (!offset_expr(p, b)) return false;
  } else {
    wat__u32(b, 1);
  }
  if (!data_strings(p, b, NULL)) return false;
  p->count[WS_DATA]++;
  return wat__expect_rpar(p);
}

static bool field_table(wat_p *p) {
  uint32_t idx = p->count[WS_TABLE];
  if (wat__tok(p)->kind == WT_ID) p->pos++;
  if (!inline_exports(p, WS_TABLE, idx)) return false;
  if (wat__at_open(p, "import")) return inline_import(p, WS_TABLE) && wat__expect_rpar(p);
  size_t at = p->pos;
  bool is64 = addrtype(p);
  if (!wat__at_reftype(p)) p->pos = at; /* limits follow: tabletype reads the address type */
  if (wat__at_reftype(p)) {
    /* reftype (elem ...): a table exactly as large as its segment */
    wat_buf rtb = {0};
    bool ok = wat__reftype(p, &rtb);
    bool funcref = rtb.n == 1 && rtb.p[0] == 0x70;
    if (ok && !wat__at_open(p, "elem")) ok = wat__fail(p, NULL, "unexpected token, expected (elem");
    wat_buf items = {0};
    bool funcs = false;
    uint32_t n = 0;
    if (ok) {
      p->pos += 2;
      /* Function indices into a table of a typed reference are written
       * as ref.func expressions: their elemkind's type is (ref func). */
      bool indices = wat__at_index(p) || wat__tok(p)->kind == WT_RPAR;
      funcs = indices && funcref;
      ok = elem_items(p, indices, indices && !funcref, &items, &n);
    }
    if (!ok) {
      wat__buf_free(&items);
      wat__buf_free(&rtb);
      return false;
    }
    wat__put(&p->sec_table, rtb.p, rtb.n);
    wat__byte(&p->sec_table, is64 ? 5 : 1);
    wat__u32(&p->sec_table, n);
    wat__u32(&p->sec_table, n);
    /* the segment: active, this table, offset 0 */
    wat_buf *e = &p->sec_elem;
    bool explicit_table = idx != 0 || (!funcs && !funcref);
    uint8_t flags = (uint8_t)((funcs ? 0 : 4) | (explicit_table ? 2 : 0));
    wat__u32(e, flags);
    if (explicit_table) wat__u32(e, idx);
    offset_zero(e, is64);
    if (explicit_table && funcs) wat__byte(e, 0x00);
    else if (explicit_table) wat__put(e, rtb.p, rtb.n);
    wat__put(e, items.p, items.n);
    wat__buf_free(&items);
    wat__buf_free(&rtb);
    p->count[WS_ELEM]++;
    p->count[WS_TABLE]++;
    p->def[WS_TABLE]++;
    return wat__expect_rpar(p) && wat__expect_rpar(p);
  }
  if (!tabletype(p, &p->sec_table, true)) return false;
  p->count[WS_TABLE]++;
  p->def[WS_TABLE]++;
  return wat__expect_rpar(p);
}

static bool field_memory(wat_p *p) {
  uint32_t idx = p->count[WS_MEM];
  if (wat__tok(p)->kind == WT_ID) p->pos++;
  if (!inline_exports(p, WS_MEM, idx)) return false;
  if (wat__at_open(p, "import")) return inline_import(p, WS_MEM) && wat__expect_rpar(p);
  bool is64 = addrtype(p);
  if (wat__at_open(p, "data")) {
    p->pos += 2;
    wat_buf *d = &p->sec_data;
    wat__u32(d, idx ? 2 : 0);
    if (idx) wat__u32(d, idx);
    offset_zero(d, is64);
    size_t total = 0;
    if (!data_strings(p, d, &total)) return false;
    uint64_t pages = ((uint64_t)total + 65535) / 65536;
    wat__byte(&p->sec_mem, is64 ? 5 : 1);
    wat__u32(&p->sec_mem, (uint32_t)pages);
    wat__u32(&p->sec_mem, (uint32_t)pages);
    p->count[WS_DATA]++;
    p->count[WS_MEM]++;
    p->def[WS_MEM]++;
    return wat__expect_rpar(p) && wat__expect_rpar(p);
  }
  if (!limits(p, &p->sec_mem, MEMORY_TOO_BIG, is64)) return false;
  p->count[WS_MEM]++;
  p->def[WS_MEM]++;
  return wat__expect_rpar(p);
}

static bool field_global(wat_p *p) {
  uint32_t idx = p->count[WS_GLOBAL];
  if (wat__tok(p)->kind == WT_ID) p->pos++;
  if (!inline_exports(p, WS_GLOBAL, idx)) return false;
  if (wat__at_open(p, "import")) return inline_import(p, WS_GLOBAL) && wat__expect_rpar(p);
  p->nlabels = 0;
  if (!globaltype(p, &p->sec_global) || !wat__expr(p, &p->sec_global)) return false;
  p->count[WS_GLOBAL]++;
  p->def[WS_GLOBAL]++;
  return wat__expect_rpar(p);
}

/* (tag $id? (export ...)* (import ...)? typeuse), pass 2. */
static bool field_tag(wat_p *p) {
  uint32_t idx = p->count[WS_TAG], ti;
  if (wat__tok(p)->kind == WT_ID) p->pos++;
  if (!inline_exports(p, WS_TAG, idx)) return false;
  if (wat__at_open(p, "import")) return inline_import(p, WS_TAG) && wat__expect_rpar(p);
  if (!named_typeuse(p, &ti)) return false;
  wat__byte(&p->sec_tag, 0);
  wat__u32(&p->sec_tag, ti);
  p->count[WS_TAG]++;
  p->def[WS_TAG]++;
  return wat__expect_rpar(p);
}

static bool field_export(wat_p *p) {
  if (!put_name(p, &p->sec_export, wat__tok(p))) return false;
  p->pos++;
  if (!wat__expect_lpar(p)) return false;
  int space = kind_space(p, wat__tok(p));
  if (space < 0) return wat__fail(p, NULL, "unexpected token, expected func, table, memory, global or tag");
  p->pos++;
  uint32_t idx;
  if (!wat__index(p, space, &idx)) return false;
  wat__byte(&p->sec_export, space_kind[space]);
  wat__u32(&p->sec_export, idx);
  p->n_export++;
  return wat__expect_rpar(p) && wat__expect_rpar(p);
}

static bool field_start(wat_p *p, const wat_tok *kw) {
  if (p->has_start) return wat__fail(p, kw, "multiple start sections");
  if (!wat__index(p, WS_FUNC, &p->start)) return false;
  p->has_start = true;
  return wat__expect_rpar(p);
}

static bool pass2_field(wat_p *p) {
  const wat_tok *kw = wat__tok(p);
  size_t open = p->pos - 1;
  p->pos++;
  if (wat__is_kw(p, kw, "type") || wat__is_kw(p, kw, "rec")) {
    p->pos = open;
    return skip_group(p);
  }
  if (wat__is_kw(p, kw, "import")) return field_import(p) && wat__expect_rpar(p);
  if (wat__is_kw(p, kw, "func")) return field_func(p);
  if (wat__is_kw(p, kw, "table")) return field_table(p);
  if (wat__is_kw(p, kw, "memory")) return field_memory(p);
  if (wat__is_kw(p, kw, "global")) return field_global(p);
  if (wat__is_kw(p, kw, "tag")) return field_tag(p);
  if (wat__is_kw(p, kw, "export")) return field_export(p);
  if (wat__is_kw(p, kw, "start")) return field_start(p, kw);
  if (wat__is_kw(p, kw, "elem")) return field_elem(p);
  return field_data(p);
}

/* ------------------------------------------------------------- assembly */

static void section(wat_buf *out, uint8_t id, uint32_t count, const wat_buf *body, bool always) {
  if (!count && !always) return;
  wat_buf s = {0};
  wat__u32(&s, count);
  wat__put(&s, body->p, body->n);
  wat__byte(out, id);
  wat__u32(out, (uint32_t)s.n);
  wat__put(out, s.p, s.n);
  if (s.oom) out->oom = true;
  wat__buf_free(&s);
}

/* Section id of slot's section (WSEC_*), with the custom sections placed
 * before and after it (@custom): never written when empty unless always. */
static void section_at(const wat_p *p, wat_buf *out, int slot, uint8_t id, uint32_t count, const wat_buf *body,
                       bool always) {
  wat__annot_customs(p, out, slot, false);
  section(out, id, count, body, always);
  wat__annot_customs(p, out, slot, true);
}

static bool assemble(wat_p *p, wat_buf *out) {
  static const uint8_t head[8] = {0, 'a', 's', 'm', 1, 0, 0, 0};
  wat__put(out, head, 8);
  wat_buf types = {0}, none = {0};
  uint32_t entries = 0; /* a recursion group is one entry */
  for (uint32_t i = 0; i < p->ntypes; i++) {
    const wat_ftype *f = &p->types[i];
    if (f->rec) {
      wat__byte(&types, 0x4e);
      wat__u32(&types, f->rec);
    }
    entries += f->rec || !f->in_rec;
    if (f->sub) {
      wat__byte(&types, f->sub);
      wat__u32(&types, f->has_super);
      if (f->has_super) wat__u32(&types, f->super);
    }
    wat__byte(&types, f->comp);
    if (f->comp != CIS__COMP_ARRAY) wat__u32(&types, f->np);
    wat__put(&types, f->t, f->pbytes);
    if (f->comp == CIS__COMP_FUNC) {
      wat__u32(&types, f->nr);
      wat__put(&types, f->t + f->pbytes, f->nbytes - f->pbytes);
    }
  }
  section_at(p, out, WSEC_TYPE, 1, entries, &types, false);
  section_at(p, out, WSEC_IMPORT, 2, p->n_import, &p->sec_import, false);
  wat__buf_free(&types);
  section_at(p, out, WSEC_FUNC, 3, p->def[WS_FUNC], &p->sec_func, false);
  section_at(p, out, WSEC_TABLE, 4, p->def[WS_TABLE], &p->sec_table, false);
  section_at(p, out, WSEC_MEMORY, 5, p->def[WS_MEM], &p->sec_mem, false);
  section_at(p, out, WSEC_TAG, 13, p->def[WS_TAG], &p->sec_tag, false); /* between memory and global */
  section_at(p, out, WSEC_GLOBAL, 6, p->def[WS_GLOBAL], &p->sec_global, false);
  section_at(p, out, WSEC_EXPORT, 7, p->n_export, &p->sec_export, false);
  /* The start section is its function index alone, the data count
   * section its count: a "count" with no entries. */
  if (p->has_start) section_at(p, out, WSEC_START, 8, p->start, &none, true);
  else section_at(p, out, WSEC_START, 8, 0, &none, false);
  section_at(p, out, WSEC_ELEM, 9, p->count[WS_ELEM], &p->sec_elem, false);
  /* as wat2wasm: only for memory.init and data.drop */
  section_at(p, out, WSEC_DATACOUNT, 12, p->uses_data_count ? p->count[WS_DATA] : 0, &none, p->uses_data_count);
  section_at(p, out, WSEC_CODE, 10, p->def[WS_FUNC], &p->sec_code, false);
  section_at(p, out, WSEC_DATA, 11, p->count[WS_DATA], &p->sec_data, false);
  if (out->oom) return wat__fail_code(p, CIS_ENOMEM, NULL, "out of memory");
  return true;
}

/* ---------------------------------------------------------------- driver */

static bool fields(wat_p *p, size_t start, bool pass2) {
  p->pos = start;
  pass1 st = {-1};
  while (wat__tok(p)->kind == WT_LPAR) {
    size_t open = p->pos;
    p->pos++;
    /* A reserved token (@b, an operator's misspelling) is no field's
     * keyword: the reference's "unknown operator". */
    if (wat__tok(p)->kind == WT_RESERVED)
      return wat__fail(p, NULL, "unknown operator %.*s, expected a module field",
                       (int)(wat__tok(p)->len > 40 ? 40 : wat__tok(p)->len), p->src + wat__tok(p)->off);
    if (wat__tok(p)->kind != WT_KEYWORD)
      return wat__fail(p, NULL, "unexpected token, expected a module field");
    if (!(pass2 ? pass2_field(p) : pass1_field(p, &st, open))) return false;
  }
  return true;
}

static void free_state(wat_p *p) {
  free(p->toks);
  for (int i = 0; i < WS_COUNT; i++) wat__names_free(&p->names[i]);
  for (uint32_t i = 0; i < p->ntypes; i++) {
    free(p->types[i].t);
    wat__names_free(&p->types[i].fields);
  }
  free(p->types);
  wat_buf *bufs[] = {&p->sec_type,   &p->sec_import, &p->sec_func, &p->sec_table,
                     &p->sec_mem,    &p->sec_global, &p->sec_export, &p->sec_elem,
                     &p->sec_code,   &p->sec_data,   &p->sec_tag};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) wat__buf_free(bufs[i]);
  wat__names_free(&p->locals);
  free(p->labels);
  free(p->qids);
  wat__buf_free(&p->qid_text);
  free(p->annots);
  wat__buf_free(&p->annot_text);
}

cis_result cis__wat_compile(const char *text, size_t len, uint8_t **out, size_t *outlen, char *msg,
                            size_t msglen) {
  return cis__wat_compile_std(text, len, CIS__STD_3, out, outlen, msg, msglen);
}

cis_result cis__wat_compile_std(const char *text, size_t len, int standard, uint8_t **out, size_t *outlen,
                                char *msg, size_t msglen) {
  wat_p p;
  memset(&p, 0, sizeof p);
  p.standard = standard == CIS__STD_2 ? CIS__STD_2 : CIS__STD_3;
  p.src = text ? text : "";
  p.len = text ? len : 0;
  p.msg = msg;
  p.msglen = msglen;
  if (msg && msglen) msg[0] = '\0';
  *out = NULL;
  *outlen = 0;
  wat_buf bin = {0};
  if (!wat__lex(&p)) goto done;
  size_t start = 0;
  bool wrapped = wat__at_open(&p, "module");
  if (wrapped) {
    p.pos = 2;
    if (wat__tok(&p)->kind == WT_ID) p.pos++;
    start = p.pos;
  }
  if (!wat__annot_check(&p, wrapped)) goto done;
  /* What follows the fields is checked after pass 2, so that an error
   * inside a field comes first, as in a one-pass reading. */
  if (!type_names(&p, start) || !fields(&p, start, false)) goto done;
  memset(p.count, 0, sizeof p.count);
  memset(p.def, 0, sizeof p.def);
  if (!fields(&p, start, true)) goto done;
  if (wrapped && !wat__expect_rpar(&p)) goto done;
  if (wat__tok(&p)->kind != WT_EOF) {
    wat__fail(&p, NULL, "unexpected token, expected a module field");
    goto done;
  }
  if (!assemble(&p, &bin)) goto done;
  *out = bin.p;
  *outlen = bin.n;
  bin.p = NULL;
done:
  wat__buf_free(&bin);
  free_state(&p);
  return p.rc;
}
