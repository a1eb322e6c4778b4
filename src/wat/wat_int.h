/*
 * This file declares what the parts of the text-format compiler share: the
 * tokens the lexer (lex.c) makes, the growable byte buffers the encoder
 * writes, the parser state that module.c (module fields) and instr.c
 * (instructions) both work on, and the helpers for literals.
 *
 * Errors: every function that can fail returns false after recording the
 * first error in the parser state (wat__fail), so callers only propagate.
 */
#ifndef CIS_WAT_WAT_INT_H
#define CIS_WAT_WAT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cis/cis.h"
#include "wat/wat.h"

/* ----------------------------------------------------------------- tokens */

typedef enum wat_tk {
  WT_EOF = 0,  /* end of the text */
  WT_LPAR,     /* ( */
  WT_RPAR,     /* ) */
  WT_KEYWORD,  /* idchars starting with a-z: keywords, nan, inf, offset=... */
  WT_ID,       /* $name */
  WT_STRING,   /* "..." (escapes checked, decoded on demand) */
  WT_RESERVED, /* other idchars: numbers, or nothing the grammar accepts */
} wat_tk;

typedef struct wat_tok {
  uint32_t kind : 8;  /* wat_tk */
  uint32_t col : 24;  /* 1-based column (bytes) of the first byte, saturated */
  uint32_t line;      /* 1-based line of the first byte */
  uint32_t off;       /* offset of the first byte (the text is < 4 GiB) */
  uint32_t len;       /* bytes of the token (a string's quotes included) */
} wat_tok;

/* ---------------------------------------------------------------- buffers */

/* A growable byte buffer. A failed allocation sets oom and drops later
 * writes, so encoders need not check each write; wat__compile checks once. */
typedef struct wat_buf {
  uint8_t *p;  /* bytes */
  size_t n;    /* used */
  size_t cap;  /* allocated */
  bool oom;    /* an allocation failed */
} wat_buf;

void wat__put(wat_buf *b, const void *bytes, size_t n);
void wat__byte(wat_buf *b, uint8_t v);
void wat__u32(wat_buf *b, uint32_t v);  /* unsigned LEB128 */
void wat__u64(wat_buf *b, uint64_t v);  /* unsigned LEB128 */
void wat__s32(wat_buf *b, int32_t v);   /* signed LEB128 */
void wat__s64(wat_buf *b, int64_t v);   /* signed LEB128 */
void wat__buf_free(wat_buf *b);

/* ------------------------------------------------------------ name tables */

/* Identifier → index, for one index space (open addressing). Keys point
 * into the text, or at a quoted identifier's decoded name. */
typedef struct wat_names {
  struct wat_slot {
    const char *s;  /* identifier's name (wat__id_name), NULL when free */
    size_t n;       /* length */
    uint32_t idx;   /* index it names */
  } *slots;
  uint32_t cap;     /* slots allocated (power of two) */
  uint32_t count;   /* slots used */
} wat_names;

/* ------------------------------------------------------------ annotations */

/* The annotations cis reads; others are skipped by the lexer. */
enum { WA_CUSTOM = 1, WA_NAME, WA_BRANCH_HINT };

/* The section slots a custom section can be placed by, in the binary's
 * order ("before first" is before WSEC_TYPE, "after last" after
 * WSEC_DATA). */
enum {
  WSEC_TYPE, WSEC_IMPORT, WSEC_FUNC, WSEC_TABLE, WSEC_MEMORY, WSEC_TAG, WSEC_GLOBAL,
  WSEC_EXPORT, WSEC_START, WSEC_ELEM, WSEC_DATACOUNT, WSEC_CODE, WSEC_DATA, WSEC_COUNT
};

/* One annotation read, kept beside the tokens (it makes none). */
typedef struct wat_annot {
  uint8_t kind;        /* WA_* */
  uint8_t after;       /* @custom: placed after its slot, else before */
  uint8_t slot;        /* @custom: WSEC_* it is placed by */
  uint32_t at;         /* index of the token it precedes */
  uint32_t line, col;  /* where its "(@" is, for messages */
  uint32_t name, nlen; /* @custom's section name, @name's name: in annot_text */
  uint32_t data, dlen; /* @custom's contents, a branch hint's bytes: in annot_text */
} wat_annot;

/* ---------------------------------------------------------- parser state */

enum { WS_TYPE, WS_FUNC, WS_TABLE, WS_MEM, WS_GLOBAL, WS_ELEM, WS_DATA, WS_TAG, WS_COUNT };

/* A function type; also the implicit types that type uses add. Value
 * types are kept in their binary encoding, one byte or (a reference with
 * a heap type) several. */
typedef struct wat_ftype {
  uint32_t np, nr;  /* params, results (a struct's or array's fields, 0) */
  uint32_t pbytes;  /* bytes of the param types */
  uint32_t nbytes;  /* bytes of t */
  uint8_t *t;       /* np param types then nr result types, encoded (a
                       field: its storage type, then its mutability) */
  uint8_t comp;     /* 0x60 func, 0x5f struct, 0x5e array */
  uint8_t sub;      /* 0 plain (final, no supertype), 0x50 sub, 0x4f sub final */
  bool has_super;   /* a supertype is declared */
  uint32_t super;   /* its index */
  uint32_t rec;     /* a (rec ...) group's size at its first type; 0 else */
  bool in_rec;      /* inside a (rec ...) group */
  wat_names fields; /* a struct's field names: name to field index */
} wat_ftype;

/* One enclosing block while parsing a body. */
typedef struct wat_label {
  const char *s;  /* its name (wat__id_name), or NULL */
  size_t n;       /* length of s */
} wat_label;

typedef struct wat_p {
  const char *src;         /* the text */
  size_t len;              /* its length */
  wat_tok *toks;           /* every token, then one WT_EOF */
  size_t ntoks, cap_toks;  /* used / allocated */
  size_t pos;              /* current token */
  cis_result rc;           /* first error, CIS_OK while none */
  char *msg;               /* where the first error's message goes */
  size_t msglen;           /* its size */
  unsigned depth;          /* current nesting while parsing */
  int standard;            /* CIS__STD_* the module is compiled for */

  wat_names names[WS_COUNT];  /* identifiers of each module index space */
  uint32_t count[WS_COUNT];   /* entries so far in each space (pass 1 and 2) */
  uint32_t def[WS_COUNT];     /* of which definitions, not imports (pass 2) */
  wat_ftype *types;           /* the type section: explicit, then implicit */
  uint32_t ntypes, cap_types; /* used / allocated */
  uint32_t nexplicit;         /* types given by (type ...) fields */

  /* sections being written, with their entry counts */
  wat_buf sec_type, sec_import, sec_func, sec_table, sec_mem, sec_global, sec_export,
      sec_elem, sec_code, sec_data, sec_tag;
  uint32_t n_import, n_export;
  bool has_start;          /* a start field was seen */
  uint32_t start;          /* its function index */
  bool uses_data_count;    /* a body uses memory.init or data.drop */

  /* quoted identifiers ($"..."), decoded by the lexer: the token index
   * and the name's bytes in qid_text, in token order */
  struct wat_qid {
    uint32_t tok;          /* index in toks */
    uint32_t off, len;     /* the name (without $) in qid_text */
  } *qids;
  size_t nqids, cap_qids;
  wat_buf qid_text;

  /* annotations read by the lexer (wat_annot), in text order */
  wat_annot *annots;
  size_t nannots, cap_annots;
  wat_buf annot_text;

  /* the function being compiled */
  wat_names locals;        /* local identifiers */
  uint32_t nlocals;        /* params + locals */
  wat_label *labels;       /* enclosing blocks, innermost last */
  uint32_t nlabels, cap_labels;
} wat_p;

/* Records the first error, at token t (NULL: the current one), as
 * "LINE:COL: message", and returns false. */
bool wat__fail(wat_p *p, const wat_tok *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
bool wat__fail_code(wat_p *p, cis_result rc, const wat_tok *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Splits p->src into p->toks. */
bool wat__lex(wat_p *p);

/* Checks where each annotation of p->annots stands (annot.c): @custom
 * between module fields, @name after a definition's keyword and id, a
 * branch hint inside a function, before an if or br_if, once. wrapped:
 * the text is one (module ...), else its bare fields. */
bool wat__annot_check(wat_p *p, bool wrapped);

/* Writes to out the custom sections of @custom annotations placed before
 * (after: after) slot (WSEC_*), in text order. */
void wat__annot_customs(const wat_p *p, wat_buf *out, int slot, bool after);

/* Token helpers. */
static inline const wat_tok *wat__tok(wat_p *p) { return &p->toks[p->pos]; }
static inline const wat_tok *wat__peek(wat_p *p, size_t k) {
  return p->pos + k < p->ntoks ? &p->toks[p->pos + k] : &p->toks[p->ntoks - 1];
}
bool wat__is_kw(const wat_p *p, const wat_tok *t, const char *kw);
/* Is the current token "(" followed by keyword kw? */
bool wat__at_open(wat_p *p, const char *kw);
bool wat__expect_lpar(wat_p *p);
bool wat__expect_rpar(wat_p *p);
bool wat__expect_kw(wat_p *p, const char *kw);

/* Literals. Each parses token t as the spec's literal of that kind,
 * failing with the spec's texts: "unknown operator" for a token that is
 * no literal, "unexpected token" for a non-literal token kind, "constant
 * out of range" for a literal that does not fit. */
bool wat__lit_u32(wat_p *p, const wat_tok *t, uint32_t *out);
bool wat__lit_u64(wat_p *p, const wat_tok *t, uint64_t *out);
bool wat__lit_i32(wat_p *p, const wat_tok *t, uint32_t *out);
bool wat__lit_i64(wat_p *p, const wat_tok *t, uint64_t *out);
bool wat__lit_f32(wat_p *p, const wat_tok *t, uint32_t *bits);
bool wat__lit_f64(wat_p *p, const wat_tok *t, uint64_t *bits);
/* Integer lane literal of `bits` width (8, 16): -2^(bits-1) .. 2^bits-1. */
bool wat__lit_iN(wat_p *p, const wat_tok *t, unsigned bits, uint32_t *out);
/* Is t a number token (starting with a digit, or a sign and a digit)? */
bool wat__is_num(const wat_p *p, const wat_tok *t);
/* Decodes string token t into *out (malloc'd, *n bytes). */
bool wat__string(wat_p *p, const wat_tok *t, uint8_t **out, size_t *n);
/* Checks that s[0..n) is UTF-8 (as names must be). */
bool wat__utf8_ok(const uint8_t *s, size_t n);

/* The name an identifier token stands for, without its $: $abc and
 * $"abc" are the same identifier. */
void wat__id_name(const wat_p *p, const wat_tok *t, const char **s, size_t *n);

/* Name tables: keys are identifiers' names (wat__id_name). */
bool wat__names_add(wat_p *p, wat_names *m, const wat_tok *id, uint32_t idx, const char *what);
bool wat__names_get(const wat_names *m, const char *s, size_t n, uint32_t *idx);
void wat__names_free(wat_names *m);

/* Parses an index of space `space` (a number or a $name): the token must
 * be there. */
bool wat__index(wat_p *p, int space, uint32_t *out);
/* Is the current token an index (a number or an $id)? */
bool wat__at_index(wat_p *p);

/* Value types, appended to out in their binary encoding: a number,
 * vector, funcref, externref, exnref or nullexnref type's byte, or (ref
 * null? ht) as 0x63 or 0x64 and the heap type (func, extern, exn, noexn
 * or a type index, an s33). */
bool wat__valtype(wat_p *p, wat_buf *out);
/* The same for a reference type. */
bool wat__reftype(wat_p *p, wat_buf *out);
/* Is the current token a reference type's start: funcref, externref,
 * exnref, nullexnref or (ref ...)? */
bool wat__at_reftype(wat_p *p);
/* A heap type (func, extern, exn, noexn or a type index) as an s33 into out. */
bool wat__heaptype(wat_p *p, wat_buf *out);
/* A type use: (type x)? (param ...)* (result ...)*; *idx is its type index
 * (adding an implicit type when needed). With names, parameter names go to
 * p->locals (named params allowed); otherwise a named param is an error. */
bool wat__typeuse(wat_p *p, uint32_t *idx, bool names);
/* A block type: (type x)? (param vt*)* (result vt*)*, written as 0x40, a
 * value type or a type index (s33). */
bool wat__blocktype(wat_p *p, wat_buf *out);
/* Adds or finds the type of np params / nr results (encoded in t: the
 * params' pbytes, nbytes in all); returns its index. */
bool wat__type_find_or_add(wat_p *p, const uint8_t *t, uint32_t np, uint32_t nr, size_t pbytes, size_t nbytes,
                           uint32_t *idx);

/* Instructions (instr.c): a sequence up to ")" / "end" / "else", or a
 * constant expression; both write into b. */
bool wat__instrs(wat_p *p, wat_buf *b);
bool wat__expr(wat_p *p, wat_buf *b);  /* instrs + end (0x0b) */
/* Is the current token "(" + an instruction keyword, for folded forms? */
bool wat__at_folded_instr(wat_p *p);
/* Exactly one folded instruction, then end (0x0b): the abbreviated offset
 * and element expressions. */
bool wat__folded_expr(wat_p *p, wat_buf *b);

#endif
