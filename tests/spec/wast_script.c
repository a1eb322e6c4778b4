/*
 * This file implements the .wast script reader (wast_script.h): a lexer of
 * the script's tokens (comments nested to any depth, strings, $ids and
 * $"..." ids), then one pass over the top-level forms that builds the
 * commands. Literals and strings are decoded by the text compiler's own
 * functions (wat__lit_*, wat__string), so a script's numbers mean exactly
 * what they mean inside a module.
 *
 * Nothing here recurses on the input's nesting: a module's text is found
 * by counting parentheses, and values nest one level at most (either).
 */
#include "wast_script.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wat/wat_int.h"

typedef enum tk { TK_EOF, TK_LPAR, TK_RPAR, TK_ATOM, TK_ID, TK_STRING } tk;

typedef struct tok {
  uint8_t kind;   /* tk */
  uint32_t line;  /* 1-based */
  uint32_t col;   /* 1-based, bytes */
  uint32_t off;   /* offset of the first byte */
  uint32_t len;   /* bytes, quotes included */
} tok;

/* The reader's state. */
typedef struct rd {
  const char *src;
  size_t len;
  tok *toks;            /* every token, then one TK_EOF */
  size_t ntoks, cap;
  size_t pos;           /* current token */
  wast_script *out;
  wat_p lit;            /* the text compiler's state, for its literal parsers */
  char litmsg[200];     /* where they put their message */
  uint32_t file_index;  /* module-bearing commands so far */
} rd;

/* ----------------------------------------------------------------- errors */

/* Records the first error, at t (NULL: the current token), and returns false. */
static bool fail_code(rd *r, cis_result rc, const tok *t, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static bool fail_code(rd *r, cis_result rc, const tok *t, const char *fmt, ...) {
  wast_script *s = r->out;
  if (s->rc != CIS_OK) return false;
  if (!t && r->toks && r->pos < r->ntoks) t = &r->toks[r->pos];
  s->rc = rc;
  s->err_line = t ? t->line : 0;
  int n = t ? snprintf(s->msg, sizeof s->msg, "%u:%u: ", (unsigned)t->line, (unsigned)t->col) : 0;
  if (n < 0) n = 0;
  va_list ap;
  va_start(ap, fmt);
  if ((size_t)n < sizeof s->msg) vsnprintf(s->msg + n, sizeof s->msg - (size_t)n, fmt, ap);
  va_end(ap);
  return false;
}

#define fail(r, t, ...) fail_code(r, CIS_EMALFORMED, t, __VA_ARGS__)

/* A literal parser of the compiler failed: its message already holds the
 * position ("LINE:COL: what"), which is the script's own. */
static bool fail_lit(rd *r, const tok *t) {
  wast_script *s = r->out;
  if (s->rc != CIS_OK) return false;
  s->rc = r->lit.rc ? r->lit.rc : CIS_EMALFORMED;
  s->err_line = t->line;
  snprintf(s->msg, sizeof s->msg, "%s", r->litmsg);
  return false;
}

/* ------------------------------------------------------------------ lexer */

static bool is_idchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return c && strchr("!#$%&'*+-./:<=>?@\\^_`|~", c) != NULL;
}

/* Characters of atoms: idchars, and the reserved , ; [ ] { } of the 3.0
 * text format (annotations may hold them), a ; not opening a comment. */
static bool is_tokchar(const char *s, size_t n, size_t i) {
  unsigned char c = (unsigned char)s[i];
  if (c == ';') return !(i + 1 < n && s[i + 1] == ';');
  return is_idchar(c) || (c && strchr(",[]{}", c));
}

static bool push(rd *r, uint8_t kind, size_t off, size_t len, uint32_t line, size_t bol) {
  if (r->ntoks >= CIS__WAT_MAX_TOKENS)
    return fail_code(r, CIS_ETOOBIG, NULL, "more than %u tokens", CIS__WAT_MAX_TOKENS);
  if (r->ntoks == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 256;
    tok *n = realloc(r->toks, cap * sizeof *n);
    if (!n) return fail_code(r, CIS_ENOMEM, NULL, "out of memory");
    r->toks = n;
    r->cap = cap;
  }
  tok *t = &r->toks[r->ntoks++];
  t->kind = kind;
  t->line = line;
  t->col = (uint32_t)(off - bol + 1);
  t->off = (uint32_t)off;
  t->len = (uint32_t)len;
  return true;
}

/* The end of the string opening at s[i] (past its closing quote), or 0
 * when it does not close. Escapes are checked when the string is decoded. */
static size_t string_end(const char *s, size_t n, size_t i) {
  for (i++; i < n; i++) {
    if (s[i] == '"') return i + 1;
    if (s[i] == '\\') i++;
    else if (s[i] == '\n') return 0;
  }
  return 0;
}

/* Annotations, (@name ...), may stand between any two tokens of the 3.0
 * text format, in a script's commands too: the reader drops them from
 * its tokens. The text of a module keeps those inside it, for the
 * compiler to judge. */
static void drop_annotations(rd *r) {
  size_t o = 0;
  for (size_t i = 0; i < r->ntoks;) {
    const tok *t = &r->toks[i];
    if (t->kind == TK_LPAR && i + 1 < r->ntoks && r->toks[i + 1].kind == TK_ATOM &&
        r->src[r->toks[i + 1].off] == '@') {
      size_t depth = 0; /* skip to the matching ")", or to the EOF token */
      for (; i < r->ntoks - 1; i++) {
        if (r->toks[i].kind == TK_LPAR) depth++;
        if (r->toks[i].kind == TK_RPAR && --depth == 0) break;
      }
      if (i < r->ntoks - 1) i++;
      continue;
    }
    r->toks[o++] = r->toks[i++];
  }
  r->ntoks = o;
}

static bool lex(rd *r) {
  const char *s = r->src;
  size_t n = r->len, i = 0, bol = 0;
  uint32_t line = 1;
  while (i < n) {
    unsigned char c = (unsigned char)s[i];
    tok here = {0, line, (uint32_t)(i - bol + 1), (uint32_t)i, 0};
    if (c == '\n') {
      i++, line++, bol = i;
    } else if (c == ' ' || c == '\t' || c == '\r') {
      i++;
    } else if (c == ';' && i + 1 < n && s[i + 1] == ';') {
      while (i < n && s[i] != '\n' && s[i] != '\r') i++; /* the spec's newline: LF, CR or both */
    } else if (c == '(' && i + 1 < n && s[i + 1] == ';') {
      size_t depth = 1;
      for (i += 2; i < n && depth;) {
        if (s[i] == '(' && i + 1 < n && s[i + 1] == ';') depth++, i += 2;
        else if (s[i] == ';' && i + 1 < n && s[i + 1] == ')') depth--, i += 2;
        else if (s[i] == '\n') i++, line++, bol = i;
        else i++;
      }
      if (depth) return fail(r, &here, "unclosed comment");
    } else if (c == '(' || c == ')') {
      if (!push(r, c == '(' ? TK_LPAR : TK_RPAR, i, 1, line, bol)) return false;
      i++;
    } else if (c == '"') {
      size_t e = string_end(s, n, i);
      if (!e) return fail(r, &here, "unclosed string");
      if (!push(r, TK_STRING, i, e - i, line, bol)) return false;
      i = e;
    } else if (c == '$' && i + 1 < n && s[i + 1] == '"') { /* $"..." */
      size_t e = string_end(s, n, i + 1);
      if (!e) return fail(r, &here, "unclosed string");
      if (!push(r, TK_ID, i, e - i, line, bol)) return false;
      i = e;
    } else if (is_tokchar(s, n, i)) {
      size_t j = i;
      while (j < n && is_tokchar(s, n, j)) j++;
      if (!push(r, c == '$' && j - i > 1 ? TK_ID : TK_ATOM, i, j - i, line, bol)) return false;
      i = j;
    } else {
      return fail(r, &here, "unexpected character 0x%02x", c);
    }
    if (i > UINT32_MAX) return fail_code(r, CIS_ETOOBIG, NULL, "script too large");
  }
  return push(r, TK_EOF, i, 0, line, bol);
}

/* Ends the tokens with the EOF token after a lexing error, so that the
 * commands lexed whole before it still run: in free room, else in place
 * of the last token. False when there is no token at all. */
static bool end_tokens(rd *r) {
  if (r->ntoks == r->cap) {
    if (r->ntoks == 0) return false;
    r->ntoks--;
  }
  tok *t = &r->toks[r->ntoks++];
  uint32_t off = r->ntoks > 1 ? t[-1].off + t[-1].len : 0;
  t->kind = TK_EOF;
  t->line = r->ntoks > 1 ? t[-1].line : 1;
  t->col = 1;
  t->off = off;
  t->len = 0;
  return true;
}

/* ------------------------------------------------------------ token tests */

static const tok *cur(rd *r) { return &r->toks[r->pos]; }
static const tok *peek(rd *r, size_t k) {
  return r->pos + k < r->ntoks ? &r->toks[r->pos + k] : &r->toks[r->ntoks - 1];
}
/* Moves on, never past the EOF token. */
static void next(rd *r) {
  if (r->pos + 1 < r->ntoks) r->pos++;
}

static bool is_kw(rd *r, const tok *t, const char *kw) {
  size_t n = strlen(kw);
  return t->kind == TK_ATOM && t->len == n && !memcmp(r->src + t->off, kw, n);
}

/* Is the current token "(" followed by keyword kw? */
static bool at_open(rd *r, const char *kw) {
  return cur(r)->kind == TK_LPAR && is_kw(r, peek(r, 1), kw);
}

static bool expect(rd *r, uint8_t kind, const char *what) {
  if (cur(r)->kind != kind) return fail(r, NULL, "unexpected token, expected %s", what);
  next(r);
  return true;
}

/* The token as the text compiler's token, for its literal parsers. */
static wat_tok wat_of(rd *r, const tok *t) {
  wat_tok w;
  memset(&w, 0, sizeof w);
  static const uint8_t kinds[] = {[TK_EOF] = WT_EOF, [TK_LPAR] = WT_LPAR, [TK_RPAR] = WT_RPAR,
                                   [TK_ATOM] = WT_RESERVED, [TK_ID] = WT_ID, [TK_STRING] = WT_STRING};
  w.kind = kinds[t->kind];
  /* an atom opening with a-z is a keyword (nan, inf, nan:0x...); the EOF
   * token has no byte to look at */
  if (t->kind == TK_ATOM && r->src[t->off] >= 'a' && r->src[t->off] <= 'z') w.kind = WT_KEYWORD;
  w.col = t->col > 0xffffff ? 0xffffff : t->col;
  w.line = t->line;
  w.off = t->off;
  w.len = t->len;
  return w;
}

/* Decodes the string at token t (or, with skip 1, the $"..." of an id)
 * into *out. */
static bool decode_string(rd *r, const tok *t, size_t skip, wast_name *out) {
  wat_tok w = wat_of(r, t);
  w.kind = WT_STRING;
  w.off += (uint32_t)skip;
  w.len -= (uint32_t)skip;
  uint8_t *b = NULL;
  size_t n = 0;
  if (!wat__string(&r->lit, &w, &b, &n)) return fail_lit(r, t);
  char *s = realloc(b, n + 1);
  if (!s) {
    free(b);
    return fail_code(r, CIS_ENOMEM, t, "out of memory");
  }
  s[n] = '\0';
  out->s = s;
  out->n = n;
  return true;
}

/* Reads a string token into *out. */
static bool string(rd *r, wast_name *out, const char *what) {
  const tok *t = cur(r);
  if (t->kind != TK_STRING) return fail(r, t, "unexpected token, expected %s", what);
  if (!decode_string(r, t, 0, out)) return false;
  next(r);
  return true;
}

/* Reads an $id, if the current token is one, into *out (its name without
 * the $). */
static bool opt_id(rd *r, wast_name *out) {
  const tok *t = cur(r);
  if (t->kind != TK_ID || out->s) return true;
  if (r->src[t->off + 1] == '"') {
    if (!decode_string(r, t, 1, out)) return false;
  } else {
    out->s = malloc(t->len);
    if (!out->s) return fail_code(r, CIS_ENOMEM, t, "out of memory");
    memcpy(out->s, r->src + t->off + 1, t->len - 1);
    out->s[t->len - 1] = '\0';
    out->n = t->len - 1;
  }
  next(r);
  return true;
}

/* The index of the ")" closing the "(" at token index open. */
static bool matching(rd *r, size_t open, size_t *close) {
  size_t depth = 0;
  for (size_t i = open; i < r->ntoks; i++) {
    if (r->toks[i].kind == TK_LPAR) depth++;
    if (r->toks[i].kind == TK_RPAR && --depth == 0) {
      *close = i;
      return true;
    }
  }
  return fail(r, &r->toks[open], "unclosed parenthesis");
}

/* --------------------------------------------------------------- modules */

/* Appends bytes to a growing buffer. */
static bool append(rd *r, uint8_t **b, size_t *n, size_t *cap, const void *p, size_t len) {
  if (*cap - *n < len + 1) {
    size_t c = *cap ? *cap : 64;
    while (c - *n < len + 1) c *= 2;
    uint8_t *nb = realloc(*b, c);
    if (!nb) return fail_code(r, CIS_ENOMEM, NULL, "out of memory");
    *b = nb;
    *cap = c;
  }
  memcpy(*b + *n, p, len);
  *n += len;
  (*b)[*n] = '\0';
  return true;
}

/* (module $id? definition? $id? (binary|quote)? ...), at its "(". The
 * text of a text module is the form itself with its $id and `definition`
 * blanked out (the compiler reads neither), so its lines and columns
 * inside the module stay those of the form. */
static bool module(rd *r, wast_module *m) {
  size_t open = r->pos, close = 0;
  if (!matching(r, open, &close)) return false;
  next(r), next(r); /* ( module */
  size_t blank[3];
  size_t nblank = 0;
  for (int k = 0; k < 3; k++) {
    if (cur(r)->kind == TK_ID && !m->id.s) {
      blank[nblank++] = r->pos;
      if (!opt_id(r, &m->id)) return false;
    } else if (is_kw(r, cur(r), "definition") && !m->definition) {
      blank[nblank++] = r->pos;
      m->definition = true;
      next(r);
    }
  }
  uint8_t *b = NULL;
  size_t n = 0, cap = 0;
  bool bin = is_kw(r, cur(r), "binary"), quote = is_kw(r, cur(r), "quote");
  if (bin || quote) {
    m->form = bin ? WAST_FORM_BINARY : WAST_FORM_QUOTE;
    next(r);
    if (!append(r, &b, &n, &cap, "", 0)) return false;
    while (cur(r)->kind == TK_STRING) {
      wast_name piece = {0};
      bool ok = decode_string(r, cur(r), 0, &piece) &&
                (bin || n == 0 || append(r, &b, &n, &cap, " ", 1)) &&
                append(r, &b, &n, &cap, piece.s, piece.n);
      free(piece.s);
      if (!ok) {
        free(b);
        return false;
      }
      next(r);
    }
    if (cur(r)->kind != TK_RPAR) {
      free(b);
      return fail(r, NULL, "unexpected token, expected a string or )");
    }
  } else {
    m->form = WAST_FORM_TEXT;
    const tok *o = &r->toks[open], *c = &r->toks[close];
    if (!append(r, &b, &n, &cap, r->src + o->off, c->off + 1 - o->off)) return false;
    for (size_t k = 0; k < nblank; k++) {
      const tok *t = &r->toks[blank[k]];
      memset(b + (t->off - o->off), ' ', t->len);
    }
    r->pos = close;
  }
  m->bytes = b;
  m->len = n;
  next(r); /* ) */
  return true;
}

/* ----------------------------------------------------------------- values */

static bool nan_pattern(rd *r, const tok *t, uint8_t *nan) {
  if (is_kw(r, t, "nan:canonical")) *nan = 1;
  else if (is_kw(r, t, "nan:arithmetic")) *nan = 2;
  else return false;
  return true;
}

/* A number of `type` (i32 ... f64, or a v128 lane i8/i16) at the current
 * token into *bits, or a NaN pattern when `result` allows one. */
static bool number(rd *r, char type, unsigned width, bool result, uint64_t *bits, uint8_t *nan) {
  const tok *t = cur(r);
  wat_tok w = wat_of(r, t);
  *nan = 0;
  if (t->kind != TK_ATOM) return fail(r, t, "unexpected token, expected a number");
  if (type == 'f' && result && nan_pattern(r, t, nan)) {
    *bits = 0;
    next(r);
    return true;
  }
  bool ok;
  uint32_t v32 = 0;
  if (type == 'i' && width == 64) ok = wat__lit_i64(&r->lit, &w, bits);
  else if (type == 'i' && width == 32) ok = wat__lit_i32(&r->lit, &w, &v32), *bits = v32;
  else if (type == 'i') ok = wat__lit_iN(&r->lit, &w, width, &v32), *bits = v32;
  else if (width == 32) ok = wat__lit_f32(&r->lit, &w, &v32), *bits = v32;
  else ok = wat__lit_f64(&r->lit, &w, bits);
  if (!ok) return fail_lit(r, t);
  next(r);
  return true;
}

/* v128.const SHAPE lane*, after the keyword. */
static bool v128(rd *r, wast_val *v, bool result) {
  static const struct {
    const char *name;
    char type;
    unsigned width;
  } shapes[] = {{"i8x16", 'i', 8},   {"i16x8", 'i', 16}, {"i32x4", 'i', 32},
                {"i64x2", 'i', 64},  {"f32x4", 'f', 32}, {"f64x2", 'f', 64}};
  const tok *t = cur(r);
  for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
    if (!is_kw(r, t, shapes[k].name)) continue;
    unsigned lanes = 128 / shapes[k].width, lb = shapes[k].width / 8;
    v->shape.lanes = (uint8_t)lanes;
    v->shape.is_float = shapes[k].type == 'f';
    next(r);
    for (unsigned i = 0; i < lanes; i++) {
      uint64_t bits;
      if (!number(r, shapes[k].type, shapes[k].width, result, &bits, &v->nan[i])) return false;
      for (unsigned b = 0; b < lb; b++) v->v128[i * lb + b] = (uint8_t)(bits >> (8 * b));
    }
    return true;
  }
  return fail(r, t, "unknown v128 shape");
}

/* The heap type of (ref.null ht), into v->heap. */
static bool heap_type(rd *r, wast_val *v) {
  const tok *t = cur(r);
  if (t->kind == TK_RPAR) return true; /* none: any null reference */
  if ((t->kind != TK_ATOM && t->kind != TK_ID) || t->len >= sizeof v->heap)
    return fail(r, t, "unexpected token, expected a heap type");
  memcpy(v->heap, r->src + t->off, t->len);
  v->heap[t->len] = '\0';
  next(r);
  return true;
}

static bool val(rd *r, wast_val *v, bool result, bool in_either);

/* (either r r*), after the keyword. */
static bool either(rd *r, wast_val *v) {
  v->kind = WAST_EITHER;
  while (cur(r)->kind == TK_LPAR) {
    if (v->nalts == UINT32_MAX / sizeof *v->alts) return fail_code(r, CIS_ETOOBIG, NULL, "too many values");
    wast_val *n = realloc(v->alts, (v->nalts + 1) * sizeof *n);
    if (!n) return fail_code(r, CIS_ENOMEM, NULL, "out of memory");
    v->alts = n;
    memset(&v->alts[v->nalts], 0, sizeof *n);
    v->nalts++;
    if (!val(r, &v->alts[v->nalts - 1], true, true)) return false;
  }
  if (v->nalts == 0) return fail(r, NULL, "either without values");
  return true;
}

/* One value, "(" to ")": an argument, or with `result` an expected result
 * (NaN patterns, any-reference patterns, either). */
static bool val(rd *r, wast_val *v, bool result, bool in_either) {
  static const struct {
    const char *kw;
    uint8_t kind;
  } refs[] = {{"ref.func", WAST_REF_FUNC},   {"ref.struct", WAST_REF_STRUCT},
              {"ref.array", WAST_REF_ARRAY}, {"ref.i31", WAST_REF_I31},
              {"ref.eq", WAST_REF_EQ},       {"ref.any", WAST_REF_ANY},
              {"ref.exn", WAST_REF_EXN}};
  if (!expect(r, TK_LPAR, "(")) return false;
  const tok *t = cur(r);
  uint64_t bits;
  next(r);
  if (is_kw(r, t, "i32.const") || is_kw(r, t, "i64.const") || is_kw(r, t, "f32.const") ||
      is_kw(r, t, "f64.const")) {
    char type = r->src[t->off];
    unsigned width = r->src[t->off + 1] == '3' ? 32 : 64;
    v->kind = type == 'i' ? (width == 32 ? WAST_I32 : WAST_I64) : (width == 32 ? WAST_F32 : WAST_F64);
    if (!number(r, type, width, result, &bits, &v->nan[0])) return false;
    v->bits = bits;
  } else if (is_kw(r, t, "v128.const")) {
    v->kind = WAST_V128;
    if (!v128(r, v, result)) return false;
  } else if (is_kw(r, t, "ref.null")) {
    v->kind = WAST_REF_NULL;
    if (!heap_type(r, v)) return false;
  } else if (is_kw(r, t, "ref.extern") || is_kw(r, t, "ref.host")) {
    v->kind = r->src[t->off + 4] == 'e' ? WAST_REF_EXTERN : WAST_REF_HOST;
    if (cur(r)->kind != TK_RPAR || !result) {
      wat_tok w = wat_of(r, cur(r));
      uint32_t n32;
      if (!wat__lit_u32(&r->lit, &w, &n32)) return fail_lit(r, cur(r));
      v->bits = n32;
      v->has_n = true;
      next(r);
    }
  } else if (result && is_kw(r, t, "either") && !in_either) {
    if (!either(r, v)) return false;
  } else {
    size_t k;
    for (k = 0; k < sizeof refs / sizeof refs[0]; k++)
      if (result && is_kw(r, t, refs[k].kw)) break;
    if (k == sizeof refs / sizeof refs[0])
      return fail(r, t, "unknown %s %.*s", result ? "result" : "argument",
                  (int)(t->len > 40 ? 40 : t->len), r->src + t->off);
    v->kind = refs[k].kind;
    /* (ref.func $f) and the like name what they expect; any one passes */
    if (cur(r)->kind == TK_ID || cur(r)->kind == TK_ATOM) next(r);
  }
  return expect(r, TK_RPAR, ")");
}

static bool vals(rd *r, wast_val **out, uint32_t *count, bool result) {
  while (cur(r)->kind == TK_LPAR) {
    if (*count == UINT32_MAX / sizeof **out) return fail_code(r, CIS_ETOOBIG, NULL, "too many values");
    wast_val *n = realloc(*out, (*count + 1) * sizeof *n);
    if (!n) return fail_code(r, CIS_ENOMEM, NULL, "out of memory");
    *out = n;
    memset(&n[*count], 0, sizeof *n);
    (*count)++;
    if (!val(r, &n[*count - 1], result, false)) return false;
  }
  return true;
}

/* ---------------------------------------------------------------- actions */

/* (invoke $id? "name" arg*) or (get $id? "name"). */
static bool action(rd *r, wast_action *a) {
  bool invoke = at_open(r, "invoke");
  if (!invoke && !at_open(r, "get")) return fail(r, NULL, "unexpected token, expected an action");
  a->get = !invoke;
  next(r), next(r);
  if (!opt_id(r, &a->module) || !string(r, &a->field, "an export name")) return false;
  if (invoke && !vals(r, &a->args, &a->nargs, false)) return false;
  return expect(r, TK_RPAR, ")");
}

/* --------------------------------------------------------------- commands */

static bool text(rd *r, wast_cmd *c) {
  wast_name n = {0};
  if (!string(r, &n, "the failure's text")) return false;
  c->text = n.s;
  return true;
}

static bool command(rd *r, wast_cmd *c) {
  static const struct {
    const char *kw;
    uint8_t kind;
  } mod_asserts[] = {{"assert_malformed", WAST_ASSERT_MALFORMED},
                     {"assert_invalid", WAST_ASSERT_INVALID},
                     {"assert_unlinkable", WAST_ASSERT_UNLINKABLE},
                     {"assert_uninstantiable", WAST_ASSERT_UNINSTANTIABLE},
                     {"assert_malformed_custom", WAST_ASSERT_MALFORMED_CUSTOM},
                     {"assert_invalid_custom", WAST_ASSERT_INVALID_CUSTOM}};
  const tok *open = cur(r), *kw = peek(r, 1);
  c->line = open->line;
  if (is_kw(r, kw, "module")) {
    if (is_kw(r, peek(r, 2), "instance")) {
      c->kind = WAST_INSTANCE;
      next(r), next(r), next(r);
      if (!opt_id(r, &c->id)) return false;
      if (cur(r)->kind == TK_ID && !opt_id(r, &c->id2)) return false;
      return expect(r, TK_RPAR, ")");
    }
    c->kind = WAST_MODULE;
    c->file_index = r->file_index++;
    return module(r, &c->module);
  }
  if (is_kw(r, kw, "register")) {
    c->kind = WAST_REGISTER;
    next(r), next(r);
    return string(r, &c->as, "a module name") && opt_id(r, &c->id) && expect(r, TK_RPAR, ")");
  }
  if (is_kw(r, kw, "invoke") || is_kw(r, kw, "get")) {
    c->kind = WAST_ACTION;
    return action(r, &c->action);
  }
  next(r), next(r);
  if (is_kw(r, kw, "assert_return")) {
    c->kind = WAST_ASSERT_RETURN;
    return action(r, &c->action) && vals(r, &c->results, &c->nresults, true) &&
           expect(r, TK_RPAR, ")");
  }
  if (is_kw(r, kw, "assert_trap") && at_open(r, "module")) {
    c->kind = WAST_ASSERT_UNINSTANTIABLE;
    c->file_index = r->file_index++;
    return module(r, &c->module) && text(r, c) && expect(r, TK_RPAR, ")");
  }
  if (is_kw(r, kw, "assert_trap") || is_kw(r, kw, "assert_exhaustion")) {
    c->kind = r->src[kw->off + 7] == 't' ? WAST_ASSERT_TRAP : WAST_ASSERT_EXHAUSTION;
    return action(r, &c->action) && text(r, c) && expect(r, TK_RPAR, ")");
  }
  if (is_kw(r, kw, "assert_exception")) {
    c->kind = WAST_ASSERT_EXCEPTION;
    return action(r, &c->action) && expect(r, TK_RPAR, ")");
  }
  for (size_t k = 0; k < sizeof mod_asserts / sizeof mod_asserts[0]; k++) {
    if (!is_kw(r, kw, mod_asserts[k].kw)) continue;
    c->kind = mod_asserts[k].kind;
    c->file_index = r->file_index++;
    if (!at_open(r, "module")) return fail(r, NULL, "unexpected token, expected (module ...)");
    return module(r, &c->module) && text(r, c) && expect(r, TK_RPAR, ")");
  }
  return fail(r, kw, "unknown command %.*s", (int)(kw->len > 40 ? 40 : kw->len), r->src + kw->off);
}

static void name_free(wast_name *n) { free(n->s); }

static void val_free(wast_val *v) {
  for (uint32_t i = 0; i < v->nalts; i++) val_free(&v->alts[i]);
  free(v->alts);
}

static void cmd_free(wast_cmd *c) {
  free(c->module.bytes);
  name_free(&c->module.id);
  name_free(&c->id);
  name_free(&c->id2);
  name_free(&c->as);
  name_free(&c->action.module);
  name_free(&c->action.field);
  for (uint32_t i = 0; i < c->action.nargs; i++) val_free(&c->action.args[i]);
  free(c->action.args);
  for (uint32_t i = 0; i < c->nresults; i++) val_free(&c->results[i]);
  free(c->results);
  free(c->text);
}

/* Is the form at the current "(" a module field rather than a command
 * (the script is then one module of bare fields)? */
static bool at_field(rd *r) {
  static const char *const fields[] = {"type", "import", "func", "table", "memory", "global",
                                       "export", "start", "elem", "data", "tag", "rec"};
  for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++)
    if (at_open(r, fields[k])) return true;
  return false;
}

cis_result wast_parse(const char *text, size_t len, wast_script *out) {
  memset(out, 0, sizeof *out);
  rd r;
  memset(&r, 0, sizeof r);
  r.src = text ? text : "";
  r.len = text ? len : 0;
  r.out = out;
  r.lit.src = r.src;
  r.lit.len = r.len;
  r.lit.msg = r.litmsg;
  r.lit.msglen = sizeof r.litmsg;
  if (r.len > CIS__WAT_MAX_TEXT) {
    fail_code(&r, CIS_ETOOBIG, NULL, "script larger than %u bytes", CIS__WAT_MAX_TEXT);
    return out->rc;
  }
  if (!lex(&r) && !end_tokens(&r)) goto done;
  drop_annotations(&r);
  bool inline_module = at_field(&r);
  while (cur(&r)->kind != TK_EOF) {
    if (cur(&r)->kind != TK_LPAR) {
      fail(&r, NULL, "unexpected token, expected a command");
      break;
    }
    if (out->ncmds == out->cap) {
      size_t cap = out->cap ? out->cap * 2 : 64;
      wast_cmd *n = realloc(out->cmds, cap * sizeof *n);
      if (!n) {
        fail_code(&r, CIS_ENOMEM, NULL, "out of memory");
        break;
      }
      out->cmds = n;
      out->cap = cap;
    }
    wast_cmd *c = &out->cmds[out->ncmds];
    memset(c, 0, sizeof *c);
    bool ok;
    if (inline_module) { /* the whole text, as (module ...) */
      c->kind = WAST_MODULE;
      c->line = cur(&r)->line;
      uint8_t *b = NULL;
      size_t n = 0, cap = 0;
      ok = append(&r, &b, &n, &cap, "(module ", 8) && append(&r, &b, &n, &cap, r.src, r.len) &&
           append(&r, &b, &n, &cap, "\n)", 2);
      c->module.bytes = b;
      c->module.len = n;
      r.pos = r.ntoks - 1;
    } else {
      ok = command(&r, c);
    }
    if (!ok) {
      cmd_free(c);
      break;
    }
    out->ncmds++;
  }
done:
  free(r.toks);
  return out->rc;
}

void wast_script_free(wast_script *s) {
  for (size_t i = 0; i < s->ncmds; i++) cmd_free(&s->cmds[i]);
  free(s->cmds);
  s->cmds = NULL;
  s->ncmds = s->cap = 0;
}

const char *wast_cmd_name(const wast_cmd *c) {
  static const char *const names[] = {
      "module",           "module instance",   "register",          "action",
      "assert_return",    "assert_trap",       "assert_exhaustion", "assert_exception",
      "assert_malformed", "assert_invalid",    "assert_unlinkable", "assert_uninstantiable",
      "assert_malformed_custom", "assert_invalid_custom"};
  return c->kind < sizeof names / sizeof names[0] ? names[c->kind] : "?";
}
