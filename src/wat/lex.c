/*
 * This file implements the lexical layer of the text-format compiler: the
 * tokenizer (the spec's tokens, comments nested to any depth, strings with
 * their escapes), the literals (integers and floats in every spec form:
 * underscores, hex, hex floats, inf, nan, nan:0x...), UTF-8 checks, byte
 * buffers with LEB128 writers, identifier tables and error reporting.
 *
 * Floats are converted by the C library (strtof/strtod, correctly rounded
 * in glibc, hex floats included) after this file has checked the spec's
 * grammar and removed underscores, so no rounding is done by hand.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "wat/wat_int.h"

/* ----------------------------------------------------------------- errors */

static bool vfail(wat_p *p, cis_result rc, const wat_tok *t, const char *fmt, va_list ap) {
  if (p->rc != CIS_OK) return false; /* keep the first error */
  p->rc = rc;
  if (!t) t = p->pos < p->ntoks ? &p->toks[p->pos] : NULL;
  if (p->msg && p->msglen) {
    int n = t ? snprintf(p->msg, p->msglen, "%u:%u: ", (unsigned)t->line, (unsigned)t->col) : 0;
    if (n < 0) n = 0;
    if ((size_t)n < p->msglen) vsnprintf(p->msg + n, p->msglen - (size_t)n, fmt, ap);
  }
  return false;
}

bool wat__fail(wat_p *p, const wat_tok *t, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(p, CIS_EMALFORMED, t, fmt, ap);
  va_end(ap);
  return false;
}

bool wat__fail_code(wat_p *p, cis_result rc, const wat_tok *t, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(p, rc, t, fmt, ap);
  va_end(ap);
  return false;
}

/* ---------------------------------------------------------------- buffers */

void wat__put(wat_buf *b, const void *bytes, size_t n) {
  if (b->oom || n == 0) return;
  if (b->cap - b->n < n) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->n < n) {
      if (cap > SIZE_MAX / 2) {
        b->oom = true;
        return;
      }
      cap *= 2;
    }
    uint8_t *np = realloc(b->p, cap);
    if (!np) {
      b->oom = true;
      return;
    }
    b->p = np;
    b->cap = cap;
  }
  memcpy(b->p + b->n, bytes, n);
  b->n += n;
}

void wat__byte(wat_buf *b, uint8_t v) { wat__put(b, &v, 1); }

void wat__u32(wat_buf *b, uint32_t v) { wat__u64(b, v); }

void wat__u64(wat_buf *b, uint64_t v) {
  uint8_t tmp[10];
  size_t n = 0;
  do {
    uint8_t c = v & 0x7f;
    v >>= 7;
    tmp[n++] = c | (v ? 0x80 : 0);
  } while (v);
  wat__put(b, tmp, n);
}

void wat__s64(wat_buf *b, int64_t v) {
  uint8_t tmp[10];
  size_t n = 0;
  for (;;) {
    uint8_t c = (uint8_t)(v & 0x7f);
    v >>= 7; /* arithmetic shift: gcc and clang define it */
    bool done = (v == 0 && !(c & 0x40)) || (v == -1 && (c & 0x40));
    tmp[n++] = done ? c : (uint8_t)(c | 0x80);
    if (done) break;
  }
  wat__put(b, tmp, n);
}

void wat__s32(wat_buf *b, int32_t v) { wat__s64(b, v); }

void wat__buf_free(wat_buf *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

/* ------------------------------------------------------------------ UTF-8 */

bool wat__utf8_ok(const uint8_t *s, size_t n) {
  for (size_t i = 0; i < n;) {
    size_t k = cis__utf8_len(s + i, n - i);
    if (!k) return false;
    i += k;
  }
  return true;
}

/* ------------------------------------------------------------------ lexer */

static bool is_idchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return c && strchr("!#$%&'*+-./:<=>?@\\^_`|~", c) != NULL;
}

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

typedef struct lexpos {
  size_t i;       /* offset */
  uint32_t line;  /* 1-based */
  size_t bol;     /* offset of the line's first byte */
} lexpos;

static bool push_tok(wat_p *p, uint8_t kind, const lexpos *at, size_t len) {
  if (p->ntoks >= CIS__WAT_MAX_TOKENS) {
    wat_tok t = {0, 0, at->line, (uint32_t)at->i, 0};
    size_t col = at->i - at->bol + 1;
    t.col = col > 0xffffff ? 0xffffff : (uint32_t)col;
    return wat__fail_code(p, CIS_ETOOBIG, &t, "more than %u tokens", CIS__WAT_MAX_TOKENS);
  }
  if (p->ntoks == p->cap_toks) {
    size_t cap = p->cap_toks ? p->cap_toks * 2 : 256;
    wat_tok *n = realloc(p->toks, cap * sizeof *n);
    if (!n) return wat__fail_code(p, CIS_ENOMEM, NULL, "out of memory");
    p->toks = n;
    p->cap_toks = cap;
  }
  wat_tok *t = &p->toks[p->ntoks++];
  size_t col = at->i - at->bol + 1;
  t->kind = kind;
  t->line = at->line;
  t->col = col > 0xffffff ? 0xffffff : (uint32_t)col;
  t->off = (uint32_t)at->i;
  t->len = (uint32_t)len;
  return true;
}

/* A token-less error at a lexer position. */
static bool lex_fail(wat_p *p, cis_result rc, const lexpos *at, const char *what) {
  size_t col = at->i - at->bol + 1;
  wat_tok t = {0, col > 0xffffff ? 0xffffff : (uint32_t)col, at->line, (uint32_t)at->i, 0};
  return wat__fail_code(p, rc, &t, "%s", what);
}

/* Checks the string literal opening at s[at->i] and returns its length
 * (quotes included) in *len. */
static bool lex_string(wat_p *p, const lexpos *at, size_t *len) {
  const unsigned char *s = (const unsigned char *)p->src;
  size_t i = at->i + 1, n = p->len;
  lexpos here = *at;
  while (i < n && s[i] != '"') {
    here.i = i;
    if (s[i] == '\n' || s[i] < 0x20 || s[i] == 0x7f) return lex_fail(p, CIS_EMALFORMED, &here, "illegal character in string");
    if (s[i] == '\\') {
      if (i + 1 >= n) break;
      unsigned char e = s[i + 1];
      if (e && strchr("tnr\"'\\", e)) { /* e == 0 would match the terminator */
        i += 2;
      } else if (e == 'u') {
        if (i + 2 >= n || s[i + 2] != '{') return lex_fail(p, CIS_EMALFORMED, &here, "illegal escape");
        size_t j = i + 3;
        uint32_t cp = 0;
        bool any = false, us = false;
        while (j < n && s[j] != '}') {
          if (s[j] == '_' && any && !us) {
            us = true;
          } else if (hexval(s[j]) >= 0) {
            cp = cp > 0x10ffff ? cp : cp * 16 + (uint32_t)hexval(s[j]);
            any = true, us = false;
          } else {
            return lex_fail(p, CIS_EMALFORMED, &here, "illegal escape");
          }
          j++;
        }
        if (j >= n || !any || us || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000))
          return lex_fail(p, CIS_EMALFORMED, &here, "illegal escape");
        i = j + 1;
      } else if (hexval(e) >= 0 && i + 2 < n && hexval(s[i + 2]) >= 0) {
        i += 3;
      } else {
        return lex_fail(p, CIS_EMALFORMED, &here, "illegal escape");
      }
    } else if (s[i] >= 0x80) {
      size_t k = cis__utf8_len(s + i, n - i);
      if (!k) return lex_fail(p, CIS_EMALFORMED, &here, "malformed UTF-8 encoding");
      i += k;
    } else {
      i++;
    }
    if (i - at->i > CIS__WAT_MAX_TOKEN) return lex_fail(p, CIS_ETOOBIG, at, "string too long");
  }
  if (i >= n) return lex_fail(p, CIS_EMALFORMED, at, "unclosed string");
  *len = i + 1 - at->i;
  return true;
}

/* Blanks and comments at *at: 1 when it moved past some, 0 when none is
 * there, -1 on an error (recorded). */
static int skip_blank(wat_p *p, lexpos *at) {
  const unsigned char *s = (const unsigned char *)p->src;
  size_t n = p->len;
  unsigned char c = s[at->i];
  if (c == '\n') {
    at->i++;
    at->line++;
    at->bol = at->i;
  } else if (c == ' ' || c == '\t' || c == '\r') {
    at->i++;
  } else if (c == ';' && at->i + 1 < n && s[at->i + 1] == ';') {
    /* A line comment ends at a newline: LF, CR or CR LF. */
    while (at->i < n && s[at->i] != '\n' && s[at->i] != '\r') {
      size_t k = s[at->i] < 0x80 ? 1 : cis__utf8_len(s + at->i, n - at->i);
      if (!k) return lex_fail(p, CIS_EMALFORMED, at, "malformed UTF-8 encoding"), -1;
      at->i += k;
    }
  } else if (c == '(' && at->i + 1 < n && s[at->i + 1] == ';') {
    lexpos start = *at;
    size_t depth = 1;
    at->i += 2;
    while (depth && at->i < n) {
      if (s[at->i] == '(' && at->i + 1 < n && s[at->i + 1] == ';') {
        depth++;
        at->i += 2;
      } else if (s[at->i] == ';' && at->i + 1 < n && s[at->i + 1] == ')') {
        depth--;
        at->i += 2;
      } else if (s[at->i] == '\n') {
        at->i++;
        at->line++;
        at->bol = at->i;
      } else {
        size_t k = s[at->i] < 0x80 ? 1 : cis__utf8_len(s + at->i, n - at->i);
        if (!k) return lex_fail(p, CIS_EMALFORMED, at, "malformed UTF-8 encoding"), -1;
        at->i += k;
      }
    }
    if (depth) return lex_fail(p, CIS_EMALFORMED, &start, "unclosed comment"), -1;
  } else {
    return 0;
  }
  return 1;
}

/* The string opening at s[str->i] as a name (a quoted identifier's or an
 * annotation's): decoded into a new buffer (*name, *n bytes), not empty,
 * UTF-8. *len is the string's length in the text. A string that does not
 * lex, or an empty name, is `empty`; other errors are the lexer's. */
static bool lex_name_string(wat_p *p, const lexpos *str, const char *empty, size_t *len, uint8_t **name,
                            size_t *n) {
  if (!lex_string(p, str, len)) {
    if (p->rc != CIS_EMALFORMED) return false;
    p->rc = CIS_OK; /* not a string: no name either */
    return lex_fail(p, CIS_EMALFORMED, str, empty);
  }
  wat_tok t = {WT_STRING, 0, str->line, (uint32_t)str->i, (uint32_t)*len};
  if (!wat__string(p, &t, name, n)) return false;
  if (!*n || !wat__utf8_ok(*name, *n)) {
    free(*name);
    return lex_fail(p, CIS_EMALFORMED, str, *n ? "malformed UTF-8 encoding" : empty);
  }
  return true;
}

/* The quoted identifier $"..." at *at: its name is kept in p->qid_text
 * for the token about to be pushed (wat__id_name); *len is its length. */
static bool lex_quoted_id(wat_p *p, const lexpos *at, size_t *len) {
  lexpos str = *at;
  str.i++;
  uint8_t *name;
  size_t n, slen;
  if (!lex_name_string(p, &str, "empty identifier", &slen, &name, &n)) return false;
  if (p->nqids == p->cap_qids) {
    size_t cap = p->cap_qids ? p->cap_qids * 2 : 16;
    struct wat_qid *q = realloc(p->qids, cap * sizeof *q);
    if (!q) {
      free(name);
      return wat__fail_code(p, CIS_ENOMEM, NULL, "out of memory");
    }
    p->qids = q;
    p->cap_qids = cap;
  }
  p->qids[p->nqids++] = (struct wat_qid){(uint32_t)p->ntoks, (uint32_t)p->qid_text.n, (uint32_t)n};
  wat__put(&p->qid_text, name, n);
  free(name);
  if (p->qid_text.oom) return wat__fail_code(p, CIS_ENOMEM, NULL, "out of memory");
  *len = 1 + slen;
  return true;
}

/* Skips blanks and comments at *at; false on an error in a comment. */
static bool skip_blanks(wat_p *p, lexpos *at) {
  for (int b; at->i < p->len && (b = skip_blank(p, at)) != 0;)
    if (b < 0) return false;
  return true;
}

/* The idchars word at *at (moved past it), or an empty one. */
static size_t lex_word(wat_p *p, lexpos *at, const char **w) {
  const unsigned char *s = (const unsigned char *)p->src;
  size_t i = at->i;
  while (at->i < p->len && is_idchar(s[at->i])) at->i++;
  *w = p->src + i;
  return at->i - i;
}

static bool word_is(const char *w, size_t n, const char *kw) { return n == strlen(kw) && !memcmp(w, kw, n); }

/* The string at *at decoded and appended to p->annot_text (moved past
 * it); *len gets its bytes. With utf8_what, it must be UTF-8 or fails
 * "UTF8_WHAT: malformed UTF-8 encoding". */
static bool lex_annot_string(wat_p *p, lexpos *at, const char *utf8_what, uint32_t *len) {
  size_t slen, n;
  uint8_t *b;
  if (!lex_string(p, at, &slen)) return false;
  wat_tok t = {WT_STRING, 0, at->line, (uint32_t)at->i, (uint32_t)slen};
  if (!wat__string(p, &t, &b, &n)) return false;
  if (utf8_what && !wat__utf8_ok(b, n)) {
    free(b);
    char m[96];
    snprintf(m, sizeof m, "%s: malformed UTF-8 encoding", utf8_what);
    return lex_fail(p, CIS_EMALFORMED, at, m);
  }
  wat__put(&p->annot_text, b, n);
  free(b);
  if (p->annot_text.oom) return wat__fail_code(p, CIS_ENOMEM, NULL, "out of memory");
  at->i += slen;
  *len = (uint32_t)n;
  return true;
}

/* A custom section's placement, "(before SEC)" or "(after SEC)", at *at
 * (its "("), into a. */
static bool lex_placement(wat_p *p, lexpos *at, wat_annot *a) {
  static const char *const secs[WSEC_COUNT] = {"type",   "import", "func", "table", "memory",    "tag", "global",
                                               "export", "start",  "elem", "datacount", "code", "data"};
  const char *w;
  at->i++;
  if (!skip_blanks(p, at)) return false;
  size_t n = lex_word(p, at, &w);
  if (!word_is(w, n, "before") && !word_is(w, n, "after"))
    return lex_fail(p, CIS_EMALFORMED, at, "@custom annotation: malformed placement");
  a->after = word_is(w, n, "after");
  if (!skip_blanks(p, at)) return false;
  n = lex_word(p, at, &w);
  int slot = -1;
  for (int k = 0; k < WSEC_COUNT; k++)
    if (word_is(w, n, secs[k])) slot = k;
  if (word_is(w, n, a->after ? "last" : "first")) slot = a->after ? WSEC_DATA : WSEC_TYPE;
  if (slot < 0) return lex_fail(p, CIS_EMALFORMED, at, "@custom annotation: malformed section kind");
  a->slot = (uint8_t)slot;
  if (!skip_blanks(p, at)) return false;
  if (at->i >= p->len || p->src[at->i] != ')')
    return lex_fail(p, CIS_EMALFORMED, at, "@custom annotation: malformed placement");
  at->i++;
  return true;
}

/* The rest of an annotation cis reads (kind WA_*), from past its id to
 * past its ")", kept in p->annots:
 *   (@custom "NAME" PLACEMENT? "DATA"*)    a custom section
 *   (@name "NAME")                         a definition's name
 *   (@metadata.code.branch_hint "HINT")    a hint for the next if/br_if */
static bool lex_known_annotation(wat_p *p, lexpos *at, const lexpos *start, int kind) {
  static const char *const what[] = {"", "@custom annotation", "@name annotation",
                                     "@metadata.code.branch_hint annotation"};
  const unsigned char *s = (const unsigned char *)p->src;
  size_t col = start->i - start->bol + 1;
  wat_annot a = {.kind = (uint8_t)kind, .after = 1, .slot = WSEC_DATA, .at = (uint32_t)p->ntoks,
                 .line = start->line, .col = col > 0xffffff ? 0xffffff : (uint32_t)col};
  char m[96];
  if (!skip_blanks(p, at)) return false;
  if (at->i >= p->len || s[at->i] != '"') {
    snprintf(m, sizeof m, "%s: missing %s", what[kind], kind == WA_CUSTOM ? "section name" : kind == WA_NAME ? "name" : "hint");
    return lex_fail(p, CIS_EMALFORMED, at, m);
  }
  a.name = (uint32_t)p->annot_text.n;
  if (!lex_annot_string(p, at, kind == WA_BRANCH_HINT ? NULL : what[kind], &a.nlen)) return false;
  if (kind == WA_BRANCH_HINT) { /* the hint is its bytes: one, 0 or 1 */
    a.data = a.name;
    a.dlen = a.nlen;
    a.nlen = 0;
    if (a.dlen != 1 || p->annot_text.p[a.data] > 1)
      return lex_fail(p, CIS_EMALFORMED, start, "@metadata.code.branch_hint annotation: malformed hint");
  }
  a.data = kind == WA_CUSTOM ? (uint32_t)p->annot_text.n : a.data;
  bool placed = false;
  for (;;) {
    if (!skip_blanks(p, at)) return false;
    if (at->i >= p->len) return lex_fail(p, CIS_EMALFORMED, start, "unclosed annotation");
    if (s[at->i] == ')') break;
    uint32_t len;
    if (kind == WA_CUSTOM && s[at->i] == '(' && !placed && a.dlen == 0) {
      if (!lex_placement(p, at, &a)) return false;
      placed = true;
    } else if (kind == WA_CUSTOM && s[at->i] == '"') {
      if (!lex_annot_string(p, at, NULL, &len)) return false;
      a.dlen += len;
    } else {
      snprintf(m, sizeof m, "%s: unexpected token", what[kind]);
      return lex_fail(p, CIS_EMALFORMED, at, m);
    }
  }
  at->i++;
  if (p->nannots == p->cap_annots) {
    size_t cap = p->cap_annots ? p->cap_annots * 2 : 8;
    wat_annot *v = realloc(p->annots, cap * sizeof *v);
    if (!v) return wat__fail_code(p, CIS_ENOMEM, NULL, "out of memory");
    p->annots = v;
    p->cap_annots = cap;
  }
  p->annots[p->nannots++] = a;
  return true;
}

/* Skips the annotation opening at *at, "(@": its id (idchars, or a
 * string naming it), then tokens, parentheses nested to any depth and
 * comments up to its ")". None becomes a token; what is in one is still
 * held to the lexer's rules. @custom, @name and branch hints are read
 * (lex_known_annotation) and kept beside the tokens. */
static bool lex_annotation(wat_p *p, lexpos *at) {
  const unsigned char *s = (const unsigned char *)p->src;
  size_t n = p->len, depth = 1;
  lexpos start = *at;
  at->i += 2;
  if (at->i < n && s[at->i] == '"') {
    uint8_t *name;
    size_t nn, slen;
    if (!lex_name_string(p, at, "empty annotation id", &slen, &name, &nn)) return false;
    free(name);
    at->i += slen;
  } else if (at->i < n && is_idchar(s[at->i])) {
    const char *w;
    size_t wn = lex_word(p, at, &w);
    int kind = word_is(w, wn, "custom") ? WA_CUSTOM
               : word_is(w, wn, "name") ? WA_NAME
               : word_is(w, wn, "metadata.code.branch_hint") ? WA_BRANCH_HINT
                                                              : 0;
    if (kind) return lex_known_annotation(p, at, &start, kind);
  } else {
    return lex_fail(p, CIS_EMALFORMED, &start, "empty annotation id");
  }
  while (depth) {
    if (at->i >= n) return lex_fail(p, CIS_EMALFORMED, &start, "unclosed annotation");
    int b = skip_blank(p, at);
    if (b < 0) return false;
    if (b) continue;
    unsigned char c = s[at->i];
    if (c == '(' || c == ')') {
      depth += c == '(' ? 1 : (size_t)-1;
      at->i++;
    } else if (c == '"') {
      size_t len;
      if (!lex_string(p, at, &len)) return false;
      at->i += len;
    } else if (is_idchar(c) || (c && strchr(",;[]{}", c))) {
      at->i++;
    } else {
      size_t k = c < 0x80 ? 1 : cis__utf8_len(s + at->i, n - at->i);
      return lex_fail(p, CIS_EMALFORMED, at, k ? "illegal character" : "malformed UTF-8 encoding");
    }
  }
  return true;
}

bool wat__lex(wat_p *p) {
  const unsigned char *s = (const unsigned char *)p->src;
  size_t n = p->len;
  lexpos at = {0, 1, 0};
  if (n > CIS__WAT_MAX_TEXT) return lex_fail(p, CIS_ETOOBIG, &at, "text too large");
  while (at.i < n) {
    unsigned char c = s[at.i];
    int b = skip_blank(p, &at);
    if (b < 0) return false;
    if (b) continue;
    if (c == '(' && at.i + 1 < n && s[at.i + 1] == '@') {
      if (!lex_annotation(p, &at)) return false;
    } else if (c == '(' || c == ')') {
      if (!push_tok(p, c == '(' ? WT_LPAR : WT_RPAR, &at, 1)) return false;
      at.i++;
    } else if (c == '"' || (c == '$' && at.i + 1 < n && s[at.i + 1] == '"')) {
      size_t len = 0;
      if (c == '"' ? !lex_string(p, &at, &len) : !lex_quoted_id(p, &at, &len)) return false;
      if (!push_tok(p, c == '"' ? WT_STRING : WT_ID, &at, len)) return false;
      at.i += len;
      /* Tokens must be apart: "a""b" and "a"x are one malformed token. */
      if (at.i < n && (s[at.i] == '"' || is_idchar(s[at.i])))
        return lex_fail(p, CIS_EMALFORMED, &at, "unknown operator: tokens must be separated");
    } else if (is_idchar(c)) {
      size_t j = at.i;
      while (j < n && is_idchar(s[j])) j++;
      if (j - at.i > CIS__WAT_MAX_TOKEN) return lex_fail(p, CIS_ETOOBIG, &at, "token too long");
      uint8_t kind = WT_RESERVED;
      if (c == '$' && j - at.i == 1) return lex_fail(p, CIS_EMALFORMED, &at, "empty identifier");
      if (c == '$') kind = WT_ID;
      else if (c >= 'a' && c <= 'z') kind = WT_KEYWORD;
      /* A token must end at a space, a parenthesis or a comment: $x"y" or
       * 0"a" is one malformed token. */
      if (j < n && s[j] == '"') {
        lexpos q = at;
        q.i = j;
        return lex_fail(p, CIS_EMALFORMED, &q, "unknown operator: tokens must be separated");
      }
      if (!push_tok(p, kind, &at, j - at.i)) return false;
      at.i = j;
    } else {
      size_t k = c < 0x80 ? 1 : cis__utf8_len(s + at.i, n - at.i);
      return lex_fail(p, CIS_EMALFORMED, &at, k ? "unexpected character" : "malformed UTF-8 encoding");
    }
  }
  /* The EOF token is the last of the array: the parser stops on it and
   * never moves past it. */
  return push_tok(p, WT_EOF, &at, 0);
}

/* ------------------------------------------------------------ token tests */

bool wat__is_kw(const wat_p *p, const wat_tok *t, const char *kw) {
  size_t n = strlen(kw);
  return t->kind == WT_KEYWORD && t->len == n && !memcmp(p->src + t->off, kw, n);
}

bool wat__at_open(wat_p *p, const char *kw) {
  return wat__tok(p)->kind == WT_LPAR && wat__is_kw(p, wat__peek(p, 1), kw);
}

bool wat__expect_lpar(wat_p *p) {
  if (wat__tok(p)->kind != WT_LPAR) return wat__fail(p, NULL, "unexpected token, expected (");
  p->pos++;
  return true;
}

bool wat__expect_rpar(wat_p *p) {
  if (wat__tok(p)->kind != WT_RPAR) {
    const wat_tok *t = wat__tok(p);
    /* The spec's parser reports an unknown instruction keyword here as an
     * unknown operator, anything else as an unexpected token. */
    return wat__fail(p, NULL, "unexpected token%s%.*s, expected )", t->len ? " " : "",
                     (int)(t->len > 40 ? 40 : t->len), p->src + t->off);
  }
  p->pos++;
  return true;
}

bool wat__expect_kw(wat_p *p, const char *kw) {
  if (!wat__is_kw(p, wat__tok(p), kw)) return wat__fail(p, NULL, "unexpected token, expected %s", kw);
  p->pos++;
  return true;
}

/* --------------------------------------------------------------- literals */

/* Scans digit ('_'? digit)* from s[i]; returns the end, or 0 when there is
 * none or an underscore is misplaced. Accumulates the value into *v
 * (saturating *ovf when it passes 64 bits). */
static size_t scan_digits(const char *s, size_t i, size_t n, bool hex, uint64_t *v, bool *ovf) {
  size_t start = i;
  unsigned base = hex ? 16 : 10;
  while (i < n) {
    int d = hexval((unsigned char)s[i]);
    if (d < 0 || (!hex && d > 9)) {
      if (s[i] == '_' && i > start && i + 1 < n && s[i + 1] != '_') {
        int d2 = hexval((unsigned char)s[i + 1]);
        if (d2 >= 0 && (hex || d2 <= 9)) {
          i++;
          continue;
        }
      }
      break;
    }
    if (v) {
      if (*v > (UINT64_MAX - (uint64_t)d) / base) *ovf = true;
      else *v = *v * base + (uint64_t)d;
    }
    i++;
  }
  return i > start ? i : 0;
}

bool wat__is_num(const wat_p *p, const wat_tok *t) {
  if (t->kind != WT_RESERVED) return false;
  const char *s = p->src + t->off;
  size_t i = (s[0] == '+' || s[0] == '-') ? 1 : 0;
  return i < t->len && s[i] >= '0' && s[i] <= '9';
}

/* Parses an integer token: *neg, *mag. Returns 1 on success, 0 when the
 * token is no integer, -1 when it passes 64 bits. */
static int parse_int(const char *s, size_t n, bool *neg, uint64_t *mag) {
  size_t i = 0;
  *neg = false;
  *mag = 0;
  if (n && (s[0] == '+' || s[0] == '-')) *neg = s[i++] == '-';
  bool hex = n - i > 2 && s[i] == '0' && s[i + 1] == 'x';
  if (hex) i += 2;
  bool ovf = false;
  size_t e = scan_digits(s, i, n, hex, mag, &ovf);
  if (!e || e != n) return 0;
  return ovf ? -1 : 1;
}

/* Fails for literal token t that did not parse: the spec's texts. */
static bool bad_literal(wat_p *p, const wat_tok *t, const char *what) {
  if (t->kind == WT_KEYWORD || t->kind == WT_RESERVED) {
    bool nanpat = wat__is_kw(p, t, "nan:canonical") || wat__is_kw(p, t, "nan:arithmetic");
    if (!nanpat)
      return wat__fail(p, t, "unknown operator %.*s (expected %s)", (int)(t->len > 40 ? 40 : t->len),
                       p->src + t->off, what);
  }
  return wat__fail(p, t, "unexpected token, expected %s", what);
}

static bool int_literal(wat_p *p, const wat_tok *t, unsigned bits, bool allow_sign, uint64_t *out,
                        const char *range_msg) {
  bool neg;
  uint64_t mag;
  int r = (t->kind == WT_RESERVED) ? parse_int(p->src + t->off, t->len, &neg, &mag) : 0;
  /* Failures return false, not the result of the function that reports
   * them: gcc -O3 (Release) could not tell *out is set when true is. */
  if (r == 0) {
    bad_literal(p, t, bits == 32 ? "an i32 literal" : "an integer literal");
    return false;
  }
  uint64_t umax = bits == 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
  uint64_t nmax = UINT64_C(1) << (bits - 1);
  char sign = p->src[t->off];
  if (r < 0 || (neg && (!allow_sign || mag > nmax)) || (!neg && mag > umax) ||
      (!allow_sign && sign == '+')) {
    wat__fail(p, t, "%s", range_msg);
    return false;
  }
  *out = neg ? (uint64_t)0 - mag : mag;
  if (bits < 64) *out &= umax;
  return true;
}

bool wat__lit_u32(wat_p *p, const wat_tok *t, uint32_t *out) {
  uint64_t v;
  if (t->kind == WT_RESERVED && (p->src[t->off] == '-' || p->src[t->off] == '+')) {
    return wat__fail(p, t, "unexpected token, expected an unsigned integer");
  }
  if (!int_literal(p, t, 32, false, &v, "i32 constant out of range")) return false;
  *out = (uint32_t)v;
  return true;
}

bool wat__lit_u64(wat_p *p, const wat_tok *t, uint64_t *out) {
  if (t->kind == WT_RESERVED && (p->src[t->off] == '-' || p->src[t->off] == '+'))
    return wat__fail(p, t, "unexpected token, expected an unsigned integer");
  return int_literal(p, t, 64, false, out, "i64 constant out of range");
}

bool wat__lit_i32(wat_p *p, const wat_tok *t, uint32_t *out) {
  uint64_t v;
  if (!int_literal(p, t, 32, true, &v, "i32 constant out of range")) return false;
  *out = (uint32_t)v;
  return true;
}

bool wat__lit_i64(wat_p *p, const wat_tok *t, uint64_t *out) {
  return int_literal(p, t, 64, true, out, "i64 constant out of range");
}

bool wat__lit_iN(wat_p *p, const wat_tok *t, unsigned bits, uint32_t *out) {
  uint64_t v;
  if (!int_literal(p, t, bits, true, &v, "constant out of range")) return false;
  *out = (uint32_t)v;
  return true;
}

/* Checks a float token against the spec grammar and converts it. `f32`
 * selects the width. Returns 1 on success, 0 when the token is no float,
 * -1 when it is out of range. */
static int parse_float(const char *s, size_t n, bool f32, uint64_t *bits) {
  size_t i = 0;
  bool neg = false;
  if (n && (s[0] == '+' || s[0] == '-')) neg = s[i++] == '-';
  const char *m = s + i;
  size_t mn = n - i;
  uint64_t sign = neg ? (f32 ? UINT64_C(0x80000000) : UINT64_C(0x8000000000000000)) : 0;
  if (mn == 3 && !memcmp(m, "inf", 3)) {
    *bits = sign | (f32 ? 0x7f800000u : UINT64_C(0x7ff0000000000000));
    return 1;
  }
  if (mn == 3 && !memcmp(m, "nan", 3)) {
    *bits = sign | (f32 ? 0x7fc00000u : UINT64_C(0x7ff8000000000000));
    return 1;
  }
  if (mn > 6 && !memcmp(m, "nan:0x", 6)) {
    uint64_t pay = 0;
    bool ovf = false;
    size_t e = scan_digits(m, 6, mn, true, &pay, &ovf);
    if (!e || e != mn) return 0;
    uint64_t lim = f32 ? (UINT64_C(1) << 23) : (UINT64_C(1) << 52);
    if (ovf || pay == 0 || pay >= lim) return -1;
    *bits = sign | (f32 ? 0x7f800000u : UINT64_C(0x7ff0000000000000)) | pay;
    return 1;
  }
  bool hex = mn > 2 && m[0] == '0' && m[1] == 'x';
  size_t j = hex ? 2 : 0;
  size_t e = scan_digits(m, j, mn, hex, NULL, NULL);
  if (!e) return 0;
  j = e;
  if (j < mn && m[j] == '.') {
    j++;
    if (j < mn && hexval((unsigned char)m[j]) >= 0 && (hex || m[j] <= '9')) {
      e = scan_digits(m, j, mn, hex, NULL, NULL);
      if (!e) return 0;
      j = e;
    }
  }
  if (j < mn && (hex ? (m[j] == 'p' || m[j] == 'P') : (m[j] == 'e' || m[j] == 'E'))) {
    j++;
    if (j < mn && (m[j] == '+' || m[j] == '-')) j++;
    e = scan_digits(m, j, mn, false, NULL, NULL);
    if (!e) return 0;
    j = e;
  }
  if (j != mn) return 0;
  /* The grammar holds: drop underscores and let the C library round. */
  char small[128];
  char *buf = n < sizeof small ? small : malloc(n + 1);
  if (!buf) return -2;
  size_t o = 0;
  for (size_t k = 0; k < n; k++)
    if (s[k] != '_') buf[o++] = s[k];
  buf[o] = '\0';
  int r = 1;
  if (f32) {
    float v = strtof(buf, NULL);
    if (isinf(v)) r = -1;
    uint32_t b;
    memcpy(&b, &v, 4);
    *bits = b;
  } else {
    double v = strtod(buf, NULL);
    if (isinf(v)) r = -1;
    memcpy(bits, &v, 8);
  }
  if (buf != small) free(buf);
  return r;
}

static bool float_literal(wat_p *p, const wat_tok *t, bool f32, uint64_t *bits) {
  int r = 0;
  if (t->kind == WT_RESERVED || t->kind == WT_KEYWORD)
    r = parse_float(p->src + t->off, t->len, f32, bits);
  if (r == 1) return true;
  if (r == -2) return wat__fail_code(p, CIS_ENOMEM, t, "out of memory");
  if (r == -1) return wat__fail(p, t, "constant out of range");
  return bad_literal(p, t, f32 ? "an f32 literal" : "an f64 literal");
}

bool wat__lit_f32(wat_p *p, const wat_tok *t, uint32_t *bits) {
  uint64_t b = 0;
  if (!float_literal(p, t, true, &b)) return false;
  *bits = (uint32_t)b;
  return true;
}

bool wat__lit_f64(wat_p *p, const wat_tok *t, uint64_t *bits) { return float_literal(p, t, false, bits); }

/* ---------------------------------------------------------------- strings */

/* Decodes string token t into a new buffer. The lexer checked the token,
 * but the decoder does not rely on that: every escape is read within the
 * token's own bytes, and one it cannot read is an illegal escape. */
bool wat__string(wat_p *p, const wat_tok *t, uint8_t **out, size_t *n) {
  if (t->kind != WT_STRING) return wat__fail(p, t, "unexpected token, expected a string");
  if (t->len < 2 || t->off > p->len || p->len - t->off < t->len)
    return wat__fail(p, t, "unexpected token, expected a string");
  const unsigned char *s = (const unsigned char *)p->src + t->off + 1;
  size_t len = t->len - 2, o = 0;
  uint8_t *b = malloc(len ? len : 1); /* escapes only shrink: output <= len */
  if (!b) return wat__fail_code(p, CIS_ENOMEM, t, "out of memory");
  for (size_t i = 0; i < len;) {
    if (s[i] != '\\') {
      b[o++] = s[i++];
      continue;
    }
    if (len - i < 2) goto fail;
    unsigned char e = s[i + 1];
    switch (e) {
    case 't': b[o++] = '\t', i += 2; break;
    case 'n': b[o++] = '\n', i += 2; break;
    case 'r': b[o++] = '\r', i += 2; break;
    case '"': case '\'': case '\\': b[o++] = e, i += 2; break;
    case 'u': {
      /* \u{hex}: never shorter than the UTF-8 it encodes to. */
      uint32_t cp = 0;
      size_t j = i + 3;
      if (len - i < 4 || s[i + 2] != '{') goto fail;
      while (j < len && s[j] != '}') {
        int d = hexval(s[j]);
        if (d < 0 && s[j] != '_') goto fail;
        if (d >= 0) cp = cp > 0x10ffff ? cp : cp * 16 + (uint32_t)d;
        j++;
      }
      if (j >= len || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000)) goto fail;
      i = j + 1;
      if (cp < 0x80) {
        b[o++] = (uint8_t)cp;
      } else if (cp < 0x800) {
        b[o++] = (uint8_t)(0xc0 | cp >> 6);
        b[o++] = (uint8_t)(0x80 | (cp & 0x3f));
      } else if (cp < 0x10000) {
        b[o++] = (uint8_t)(0xe0 | cp >> 12);
        b[o++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        b[o++] = (uint8_t)(0x80 | (cp & 0x3f));
      } else {
        b[o++] = (uint8_t)(0xf0 | cp >> 18);
        b[o++] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
        b[o++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        b[o++] = (uint8_t)(0x80 | (cp & 0x3f));
      }
      break;
    }
    default:
      if (len - i < 3 || hexval(e) < 0 || hexval(s[i + 2]) < 0) goto fail;
      b[o++] = (uint8_t)(hexval(e) * 16 + hexval(s[i + 2]));
      i += 3;
    }
  }
  *out = b;
  *n = o;
  return true;
fail:
  free(b);
  return wat__fail(p, t, "illegal escape");
}

/* ------------------------------------------------------------ name tables */

static uint32_t hash_name(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
  return h;
}

bool wat__names_get(const wat_names *m, const char *s, size_t n, uint32_t *idx) {
  if (!m->cap) return false;
  for (uint32_t h = hash_name(s, n) & (m->cap - 1);; h = (h + 1) & (m->cap - 1)) {
    const struct wat_slot *e = &m->slots[h];
    if (!e->s) return false;
    if (e->n == n && !memcmp(e->s, s, n)) {
      *idx = e->idx;
      return true;
    }
  }
}

void wat__id_name(const wat_p *p, const wat_tok *t, const char **s, size_t *n) {
  if (t->len >= 2 && p->src[t->off + 1] == '"') {
    /* A quoted one: its decoded name, found by token index. */
    uint32_t ti = (uint32_t)(t - p->toks);
    size_t lo = 0, hi = p->nqids;
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (p->qids[mid].tok < ti) lo = mid + 1;
      else hi = mid;
    }
    if (lo < p->nqids && p->qids[lo].tok == ti) {
      *s = (const char *)p->qid_text.p + p->qids[lo].off;
      *n = p->qids[lo].len;
      return;
    }
  }
  *s = p->src + t->off + 1;
  *n = t->len ? t->len - 1 : 0;
}

bool wat__names_add(wat_p *p, wat_names *m, const wat_tok *id, uint32_t idx, const char *what) {
  const char *s;
  size_t len;
  wat__id_name(p, id, &s, &len);
  uint32_t old;
  if (wat__names_get(m, s, len, &old))
    return wat__fail(p, id, "duplicate %s %.*s", what, (int)id->len, p->src + id->off);
  if ((m->count + 1) * 2 > m->cap) {
    uint32_t cap = m->cap ? m->cap * 2 : 16;
    struct wat_slot *ns = calloc(cap, sizeof *ns);
    if (!ns) return wat__fail_code(p, CIS_ENOMEM, id, "out of memory");
    for (uint32_t i = 0; i < m->cap; i++) {
      if (!m->slots[i].s) continue;
      uint32_t h = hash_name(m->slots[i].s, m->slots[i].n) & (cap - 1);
      while (ns[h].s) h = (h + 1) & (cap - 1);
      ns[h] = m->slots[i];
    }
    free(m->slots);
    m->slots = ns;
    m->cap = cap;
  }
  uint32_t h = hash_name(s, len) & (m->cap - 1);
  while (m->slots[h].s) h = (h + 1) & (m->cap - 1);
  m->slots[h].s = s;
  m->slots[h].n = len;
  m->slots[h].idx = idx;
  m->count++;
  return true;
}

void wat__names_free(wat_names *m) {
  free(m->slots);
  memset(m, 0, sizeof *m);
}
