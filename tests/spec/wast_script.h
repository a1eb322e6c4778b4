/*
 * This file declares the reader of WebAssembly script files (.wast), the
 * format of the spec test suites: a sequence of commands (modules,
 * register, actions, assertions) around modules in the text format. The
 * reader turns the text into commands and values; the modules themselves
 * stay text (or bytes, for `binary` modules) for cis's own text compiler
 * (cis_module_new_text) to compile when the command runs. Literals are read
 * by that compiler's own literal parsers (src/wat/lex.c).
 *
 * The input is untrusted (fuzz/fuzz_wast.c): whatever the bytes, the reader
 * returns a typed code with "LINE:COL: what" and keeps the commands read
 * before the error, never crashes, and allocates in proportion to the
 * input.
 */
#ifndef CIS_WAST_SCRIPT_H
#define CIS_WAST_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cis/cis.h"

/* A length-counted name: an $id without its $ (decoded when written
 * $"..."), or a string such as an export name. May hold NUL bytes; a NUL
 * follows it for printing. NULL s means "none". */
typedef struct wast_name {
  char *s;
  size_t n;
} wast_name;

typedef enum wast_val_kind {
  WAST_I32,
  WAST_I64,
  WAST_F32,
  WAST_F64,
  WAST_V128,
  WAST_REF_NULL,    /* (ref.null ht): heap says of which type; no ht: any null */
  WAST_REF_EXTERN,  /* (ref.extern N): host reference N; without N, any non-null extern */
  WAST_REF_HOST,    /* (ref.host N): host reference N of type anyref */
  WAST_REF_FUNC,    /* (ref.func): any non-null function reference */
  WAST_REF_STRUCT,  /* (ref.struct), (ref.array), (ref.i31), (ref.eq), (ref.any), (ref.exn): */
  WAST_REF_ARRAY,   /*   any non-null reference of that kind (GC and exceptions) */
  WAST_REF_I31,
  WAST_REF_EQ,
  WAST_REF_ANY,
  WAST_REF_EXN,
  WAST_EITHER,      /* (either r...): any one of alts */
} wast_val_kind;

/* The lane shape of a v128 (i8x16 ... f64x2): lanes and bytes per lane. */
typedef struct wast_shape {
  uint8_t lanes;   /* 16, 8, 4 or 2 */
  bool is_float;   /* f32x4, f64x2 */
} wast_shape;

/* One argument or expected result. */
typedef struct wast_val {
  uint8_t kind;          /* wast_val_kind */
  bool has_n;            /* ref.extern / ref.host: N given */
  wast_shape shape;      /* v128: as written */
  uint8_t nan[16];       /* spec_nan per lane; f32/f64 use nan[0] */
  uint64_t bits;         /* i32/i64/f32/f64 bits; N of ref.extern/ref.host */
  uint8_t v128[16];      /* v128 bytes, little-endian, lane 0 first */
  char heap[24];         /* ref.null: "func", "extern", "any", ... "" (none), "$t" or "0" */
  struct wast_val *alts; /* either: its alternatives (never themselves either) */
  uint32_t nalts;
} wast_val;

typedef enum wast_form {
  WAST_FORM_TEXT,   /* (module field*): text is "(module field*)" */
  WAST_FORM_BINARY, /* (module binary "..."*): bytes is the binary */
  WAST_FORM_QUOTE,  /* (module quote "..."*): text is the strings joined by spaces */
} wast_form;

typedef struct wast_module {
  uint8_t form;     /* wast_form */
  bool definition;  /* (module definition ...): compiled, instantiated only by (module instance) */
  wast_name id;     /* $id, or none */
  uint8_t *bytes;   /* text or binary (malloc'd, NUL after it) */
  size_t len;       /* its length */
} wast_module;

typedef struct wast_action {
  bool get;         /* (get ...) of a global, else (invoke ...) */
  wast_name module; /* $id, or none: the current module */
  wast_name field;  /* export name */
  wast_val *args;
  uint32_t nargs;
} wast_action;

typedef enum wast_cmd_kind {
  WAST_MODULE,                /* module: compile, instantiate (unless a definition) */
  WAST_INSTANCE,              /* (module instance $i? $m?) */
  WAST_REGISTER,              /* (register "as" $id?) */
  WAST_ACTION,                /* bare (invoke ...) or (get ...) */
  WAST_ASSERT_RETURN,         /* action, results */
  WAST_ASSERT_TRAP,           /* action, text */
  WAST_ASSERT_EXHAUSTION,     /* action, text */
  WAST_ASSERT_EXCEPTION,      /* action */
  WAST_ASSERT_MALFORMED,      /* module, text */
  WAST_ASSERT_INVALID,        /* module, text */
  WAST_ASSERT_UNLINKABLE,     /* module, text */
  WAST_ASSERT_UNINSTANTIABLE, /* module, text: (assert_trap (module ...)) too */
  WAST_ASSERT_MALFORMED_CUSTOM, /* module, text: a malformed annotation */
  WAST_ASSERT_INVALID_CUSTOM,   /* module, text: an annotation on the wrong thing */
} wast_cmd_kind;

typedef struct wast_cmd {
  uint8_t kind;        /* wast_cmd_kind */
  uint32_t line;       /* line of the command's "(" */
  uint32_t file_index; /* N of wast2json's <name>.N.wasm for module-bearing commands */
  wast_module module;  /* WAST_MODULE and module assertions */
  wast_name id;        /* register: module $id; instance: instance $id */
  wast_name id2;       /* instance: definition $id */
  wast_name as;        /* register: the name */
  wast_action action;  /* action commands */
  wast_val *results;   /* assert_return */
  uint32_t nresults;
  char *text;          /* failure text of an assertion (NUL-terminated, may be cut at a NUL) */
} wast_cmd;

typedef struct wast_script {
  wast_cmd *cmds;      /* the commands read, in order */
  size_t ncmds, cap;
  cis_result rc;       /* CIS_OK, or why reading stopped (CIS_EMALFORMED, CIS_ETOOBIG, CIS_ENOMEM) */
  char msg[256];       /* "LINE:COL: what" when rc is not CIS_OK */
  uint32_t err_line;   /* its line */
} wast_script;

/* Reads text[0..len) into *out (freed with wast_script_free whatever the
 * result). Returns out->rc. A script whose first form is a module field
 * rather than a command is one module of those fields (the abbreviation
 * of inline-module.wast). */
cis_result wast_parse(const char *text, size_t len, wast_script *out);
void wast_script_free(wast_script *s);

/* A name of the script's commands ("assert_return", ...). */
const char *wast_cmd_name(const wast_cmd *c);

#endif
