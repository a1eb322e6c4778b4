/*
 * This file defines the decoded module format that the decoder fills, the
 * validator checks, and every engine (interpreter, later AOT) reads. It is
 * the one description of a module inside cis; nothing above src/wasm/ parses
 * bytes again except the engines' translation of function bodies.
 *
 * Ownership: a cis__module owns everything it points to, including a
 * private copy of the binary (`bytes`); code bodies, names and data segments
 * point into that copy. Index spaces (funcs, tables, memories, globals) put
 * imports first, then definitions, as the spec does.
 */
#ifndef CIS_WASM_MODULE_H
#define CIS_WASM_MODULE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cis/cis.h"

/* Value type bytes as in the binary format (same values as cis_valtype). */
enum {
  CIS__I32 = 0x7f,
  CIS__I64 = 0x7e,
  CIS__F32 = 0x7d,
  CIS__F64 = 0x7c,
  CIS__V128 = 0x7b,
  CIS__FUNCREF = 0x70,
  CIS__EXTERNREF = 0x6f,
  CIS__EXNREF = 0x69,     /* exception handling (3.0): (ref null exn) */
  CIS__NULLEXNREF = 0x74, /* (ref null noexn), exn's bottom: only null */
  /* GC's abstract heap types (3.0), each its nullable reference's byte */
  CIS__ANYREF = 0x6e,
  CIS__EQREF = 0x6d,
  CIS__I31REF = 0x6c,
  CIS__STRUCTREF = 0x6b,
  CIS__ARRAYREF = 0x6a,
  CIS__NULLREF = 0x71,       /* none: any's bottom */
  CIS__NULLFUNCREF = 0x73,   /* nofunc: func's bottom */
  CIS__NULLEXTERNREF = 0x72, /* noextern: extern's bottom */
  /* packed storage types of struct and array fields */
  CIS__I8 = 0x78,
  CIS__I16 = 0x77,
};

/* Composite types (the type section's forms). */
enum { CIS__COMP_FUNC = 0x60, CIS__COMP_STRUCT = 0x5f, CIS__COMP_ARRAY = 0x5e };
/* Declared subtyping chains are at most this deep (as the JS API's
 * limit), so that a subtype check walks a bounded chain. */
#define CIS__MAX_SUBTYPE_DEPTH 63u

/* Is t a value type of Wasm 2.0 (number, vector or reference)? */
static inline bool cis__valtype_ok(uint8_t t) {
  return t == CIS__I32 || t == CIS__I64 || t == CIS__F32 || t == CIS__F64 || t == CIS__V128 ||
         t == CIS__FUNCREF || t == CIS__EXTERNREF;
}

/* Value types in full (3.0's typed function references), where the
 * validator and import matching need them: a uint32_t that is the type's
 * byte for numbers, vectors and the nullable abstract references (funcref
 * 0x70, externref 0x6f: a 2.0 type is its own byte), and for the other
 * references the kind byte (0x70 for func and type-index heap types, 0x6f
 * for extern), CIS__VT_NONNULL for `ref` without null, and the type index
 * plus one from bit CIS__VT_IDX_SHIFT (0: the abstract heap type). The
 * engines see only the kind byte: every function reference is one
 * pointer-sized slot whatever its type. */
#define CIS__VT_NONNULL 0x100u
#define CIS__VT_IDX_SHIFT 9
/* The binary's prefixes of a reference type with a heap type. */
enum { CIS__REF_NULL_PREFIX = 0x63, CIS__REF_PREFIX = 0x64 };

static inline uint8_t cis__vt_kind(uint32_t vt) { return (uint8_t)vt; }
/* An exception reference's kind: exn, or its bottom noexn (one pointer
 * slot either way, as every reference). */
static inline bool cis__kind_is_exn(uint8_t k) { return k == CIS__EXNREF || k == CIS__NULLEXNREF; }
/* Is k one of GC's abstract heap types (any's hierarchy, and the bottoms
 * of func and extern)? */
static inline bool cis__kind_is_gc(uint8_t k) {
  return (k >= CIS__ARRAYREF && k <= CIS__ANYREF) || (k >= CIS__NULLREF && k <= CIS__NULLFUNCREF);
}
static inline bool cis__vt_is_ref(uint32_t vt) {
  uint8_t k = cis__vt_kind(vt);
  return k == CIS__FUNCREF || k == CIS__EXTERNREF || cis__kind_is_exn(k) || cis__kind_is_gc(k);
}
/* The top of an abstract heap type's hierarchy: any, func, extern or exn. */
static inline uint8_t cis__kind_top(uint8_t k) {
  switch (k) {
  case CIS__FUNCREF: case CIS__NULLFUNCREF: return CIS__FUNCREF;
  case CIS__EXTERNREF: case CIS__NULLEXTERNREF: return CIS__EXTERNREF;
  case CIS__EXNREF: case CIS__NULLEXNREF: return CIS__EXNREF;
  default: return CIS__ANYREF;
  }
}
/* Is k the bottom of its hierarchy (none, nofunc, noextern, noexn)? */
static inline bool cis__kind_is_bottom(uint8_t k) {
  return k == CIS__NULLREF || k == CIS__NULLFUNCREF || k == CIS__NULLEXTERNREF || k == CIS__NULLEXNREF;
}
/* Is abstract heap type a <: abstract heap type b? A concrete type is
 * given as its composite's abstract type (func, struct, array). */
static inline bool cis__kind_sub(uint8_t a, uint8_t b) {
  if (a == b || cis__kind_top(a) != cis__kind_top(b)) return a == b;
  if (b == cis__kind_top(b) || cis__kind_is_bottom(a)) return true;
  return b == CIS__EQREF && (a == CIS__I31REF || a == CIS__STRUCTREF || a == CIS__ARRAYREF);
}
/* The abstract heap type of a composite type's concrete references. */
static inline uint8_t cis__comp_kind(uint8_t comp) {
  return comp == CIS__COMP_STRUCT ? CIS__STRUCTREF : comp == CIS__COMP_ARRAY ? CIS__ARRAYREF : CIS__FUNCREF;
}
static inline bool cis__vt_nullable(uint32_t vt) { return !(vt & CIS__VT_NONNULL); }
/* Whether vt names a type index as its heap type, and which. */
static inline bool cis__vt_has_idx(uint32_t vt) { return (vt >> CIS__VT_IDX_SHIFT) != 0; }
static inline uint32_t cis__vt_idx(uint32_t vt) { return (vt >> CIS__VT_IDX_SHIFT) - 1; }
/* (ref null? $idx). */
static inline uint32_t cis__vt_typed(uint32_t idx, bool nullable) {
  return CIS__FUNCREF | (nullable ? 0u : CIS__VT_NONNULL) | ((idx + 1) << CIS__VT_IDX_SHIFT);
}
/* Can a local of type vt start with its default value (not a non-null
 * reference)? */
static inline bool cis__vt_defaultable(uint32_t vt) { return !(vt & CIS__VT_NONNULL); }

/* Reads a value type over [*p, end): one byte (with refs, 3.0, also
 * exnref 0x69 and nullexnref 0x74), or (with refs) 0x63 or 0x64 and a
 * heap type (an s33: func, extern, exn, noexn, or a type index, which is
 * not checked against the module here). Its full form goes to *vt. 0
 * on success, else what is wrong: 1 the bytes end, 2 an unknown type
 * byte, 3 a malformed heap type (a bad LEB128 or an unknown abstract
 * type). */
int cis__read_valtype(const uint8_t **p, const uint8_t *end, bool refs, uint32_t *vt);
/* Reads a heap type (an s33) into *vt as the nullable reference to it;
 * false when malformed (as cis__read_valtype's 3). */
bool cis__read_heaptype(const uint8_t **p, const uint8_t *end, uint32_t *vt);

/* Implementation limits, checked by the decoder with a typed error. */
#define CIS__MAX_TYPES 1000000u
#define CIS__MAX_FUNCS 1000000u
#define CIS__MAX_PARAMS 1000u
#define CIS__MAX_RESULTS 1000u
#define CIS__MAX_LOCALS 50000u      /* per function, params included */
#define CIS__MAX_FUNC_SIZE (7654321u)
#define CIS__MAX_MEMORY_PAGES 65536u /* 4 GiB: wasm32 */
#define CIS__MAX_TABLE_SIZE 0xffffffffu
#define CIS__MAX_ARRAY_FIXED 10000u  /* array.new_fixed's count (the JS API's bound) */

/* A defined type of the type section (3.0: a sub type in a recursion
 * group). Zero-initialised, it is a final function type without
 * supertype in a group of its own (what 2.0 and host signatures have).
 * A struct's fields, and an array's one, are its "parameters" (nresults
 * 0): storage types (a value type, or CIS__I8 / CIS__I16) with their
 * mutability in mut. */
typedef struct cis__functype {
  uint32_t nparams;  /* number of parameters (fields) */
  uint32_t nresults; /* number of results */
  uint8_t *types;    /* nparams parameter types, then nresults result types (kinds) */
  uint32_t *vts;     /* the same in full (module.h's value types), or NULL
                        when every one is its kind (host signatures) */
  uint8_t comp;      /* CIS__COMP_*, 0 for a function type too */
  bool open;         /* declared `sub` without `final`: may have subtypes */
  uint32_t super;    /* declared supertype's index + 1; 0 none */
  uint32_t rec, nrec;/* its recursion group: first index and size (0: its own) */
  uint8_t *mut;      /* struct, array: per field, mutable; else NULL */
} cis__functype;
/* Is t a function type (not a struct or array)? */
static inline bool cis__is_functype(const cis__functype *t) { return !t->comp || t->comp == CIS__COMP_FUNC; }

typedef struct cis__limits {
  uint64_t min;  /* initial size (pages or elements) */
  uint64_t max;  /* maximum, meaningful when has_max */
  bool has_max;  /* max present in the binary */
  bool is64;     /* 3.0's 64-bit address type (memory64, table64): i64
                    addresses and indices, limits past 32 bits */
} cis__limits;

/* The most pages a 64-bit memory may declare (2^48: 2^64 bytes). */
#define CIS__MAX_MEMORY64_PAGES (1ull << 48)

/* A constant expression (global init, segment offset, element item): the
 * raw bytes, including the final `end`. After validation it is constant
 * instructions (and i32/i64 add, sub, mul: extended constant expressions)
 * leaving one value, then `end`; the runtime evaluates it (segments.c).
 * cis__constexpr_decode reads the first instruction. */
#define CIS__CONST_MAX_DEPTH 256 /* values on a constant expression's stack */
typedef struct cis__expr {
  const uint8_t *code; /* into module->bytes */
  uint32_t len;        /* bytes, including the end opcode */
} cis__expr;

typedef struct cis__tabletype {
  uint8_t elem;       /* CIS__FUNCREF or CIS__EXTERNREF: the kind */
  uint32_t vt;        /* the element type in full */
  cis__limits limits; /* in elements */
  cis__expr init;     /* a defined table's initialiser (its 0x40 0x00
                         form); len 0 when none (null) */
} cis__tabletype;

/* A tag (exception handling): its function type, whose results are
 * empty (the validator checks), its parameters the exception's values. */
typedef struct cis__tag {
  uint32_t type_idx; /* index into types */
} cis__tag;

typedef struct cis__globaltype {
  uint8_t type;  /* value type (its kind) */
  bool mutable_; /* mut flag */
  uint32_t vt;   /* the value type in full */
} cis__globaltype;

/* The decoded form of a validated constant expression. */
typedef struct cis__constexpr {
  uint8_t op;      /* first byte of the instruction: 0x41 i32.const, 0x42
                      i64.const, 0x43 f32.const, 0x44 f64.const, 0xfd
                      v128.const, 0xd0 ref.null, 0xd2 ref.func, 0x23
                      global.get (the encodings of opcodes.def) */
  uint8_t type;    /* result value type */
  uint64_t bits;   /* the constant's bits; i32/f32 zero-extended to 64; the
                      low 8 bytes of a v128 */
  uint8_t v128[16];/* v128.const: its 16 bytes, lane 0 first */
  uint32_t index;  /* func index for ref.func, global index for global.get */
} cis__constexpr;

typedef struct cis__import {
  const char *module;   /* into bytes; not NUL-terminated */
  uint32_t module_len;
  const char *name;     /* into bytes; not NUL-terminated */
  uint32_t name_len;
  uint8_t kind;         /* cis_extern_kind */
  union {
    uint32_t type_idx;        /* func: index into types */
    cis__tabletype table;     /* table */
    cis__limits memory;       /* memory, in pages */
    cis__globaltype global;   /* global */
    uint32_t tag_type;        /* tag: index into types */
  } desc;
} cis__import;

typedef struct cis__export {
  const char *name;   /* into bytes; not NUL-terminated */
  uint32_t name_len;
  uint8_t kind;       /* cis_extern_kind */
  uint32_t index;     /* into that kind's index space */
} cis__export;

typedef struct cis__global {
  cis__globaltype type; /* type and mutability */
  cis__expr init;       /* initializer */
} cis__global;

/* A function body: slices of the module's bytes, nothing allocated per
 * function. The locals stay in their run-length form (the decoder checked
 * it); the validator expands them into a buffer it reuses. */
typedef struct cis__code {
  uint32_t nlocals;       /* declared locals, params excluded */
  uint32_t nlocal_groups; /* (count, type) groups of the declaration */
  const uint8_t *locals;  /* the groups, into bytes: u32 LEB128 count, type byte */
  const uint8_t *body;    /* instructions after the locals, into bytes; ends with end (0x0b) */
  uint32_t body_len;      /* bytes of body */
  uint32_t body_offset;   /* offset of body in the binary, for error messages */
} cis__code;

enum { CIS__SEG_ACTIVE = 0, CIS__SEG_PASSIVE = 1, CIS__SEG_DECLARATIVE = 2 };

typedef struct cis__elem {
  uint8_t mode;        /* CIS__SEG_* */
  uint8_t type;        /* CIS__FUNCREF or CIS__EXTERNREF: the kind */
  uint32_t vt;         /* the element type in full */
  uint32_t table;      /* active only */
  cis__expr offset;    /* active only */
  uint32_t count;      /* number of items */
  uint32_t *funcs;     /* item function indices (legacy form), or NULL */
  cis__expr *exprs;    /* item expressions (expression form), or NULL */
} cis__elem;

typedef struct cis__data {
  uint8_t mode;         /* CIS__SEG_ACTIVE or CIS__SEG_PASSIVE */
  uint32_t memory;      /* active only */
  cis__expr offset;     /* active only */
  const uint8_t *bytes; /* into module bytes */
  uint32_t len;         /* bytes */
} cis__data;

/* The WebAssembly standard a module is decoded and validated as
 * (cis_engine_config.standard): 3.0 adds multiple memories, whose
 * encodings (a memory index in a memarg's flags and after memory.size,
 * memory.grow, memory.fill, memory.copy, memory.init) were malformed in
 * 2.0, and whose modules were invalid. */
enum { CIS__STD_2 = 2, CIS__STD_3 = 3 };

typedef struct cis__module {
  uint8_t *bytes;            /* private copy of the binary, or bytes held (bytes_release) */
  uint8_t standard;          /* CIS__STD_*: what it was decoded as */
  size_t nbytes;             /* its length */
  void (*bytes_release)(void *); /* drops the hold on bytes not copied (decode_held), or NULL */
  void *bytes_owner;         /* its argument */
  atomic_uint refs;          /* holders: cis__module_ref, cis__module_free */

  uint32_t ntypes;           /* type section */
  cis__functype *types;

  uint32_t nimports;         /* import section, in order */
  cis__import *imports;

  /* Index spaces: imports first, then definitions. */
  uint32_t nfuncs, nfunc_imports;     /* all functions, imported ones */
  uint32_t *func_type;                /* nfuncs type indices */
  uint32_t ntables, ntable_imports;
  cis__tabletype *tables;             /* ntables */
  uint32_t nmemories, nmemory_imports;
  cis__limits *memories;              /* nmemories, in pages */
  uint32_t nglobals, nglobal_imports;
  cis__global *globals;               /* nglobals; init empty for imports */
  uint32_t ntags, ntag_imports;       /* tags (3.0 exception handling) */
  uint32_t *tag_type;                 /* ntags type indices */
  bool uses_eh;                       /* exception handling: an instruction of it,
                                         or exnref anywhere */
  bool uses_gc;                       /* GC: a struct or array type, a declared
                                         supertype, or a GC abstract heap type
                                         anywhere */
  uint32_t features;                  /* cis_feature bits: what it uses (features.c) */

  uint32_t nexports;
  cis__export *exports;

  bool has_start;                     /* start section present */
  uint32_t start;                     /* start function index */

  uint32_t nelems;
  cis__elem *elems;

  bool has_datacount;                 /* data count section present */
  uint32_t datacount;                 /* its value */
  uint32_t ndatas;
  cis__data *datas;

  uint32_t ncodes;                    /* = nfuncs - nfunc_imports */
  cis__code *codes;

  /* Declared function references (C.refs): indices that may appear in
   * ref.func inside function bodies. Filled by the validator. */
  uint8_t *func_declared;             /* nfuncs flags, or NULL */
  /* Per type: the first type index equivalent to it (iso-recursive: the
   * same position in equal recursion groups), so that two type indices
   * name one type when their entries are equal. Filled by the validator. */
  uint32_t *type_rep;                 /* ntypes, or NULL */

  /* From the custom "name" section; NULL entries when absent or malformed
   * (a malformed name section is ignored, as the spec allows). */
  const char *module_name; uint32_t module_name_len;
  const char **func_names;            /* nfuncs, or NULL */
  uint32_t *func_name_lens;           /* nfuncs, or NULL */
} cis__module;

/* Error report of the decoder and validator: a cis_result plus a message
 * that starts with the spec's wording and includes the byte offset. */
typedef struct cis__diag {
  cis_result code;   /* CIS_OK when none */
  size_t offset;     /* byte offset in the binary */
  char msg[512];     /* e.g. "unexpected end (at 0x1f)"; a component's hint is long */
} cis__diag;

/* What a component (the component model's binary: the module's magic,
 * version 0x0d, layer 1) is said to be wherever one is met: the decoder's
 * version error goes on with it, so install, the HTTP install and run say
 * the same. The CLI, which reads only include/, keeps a copy of the text
 * in cli_check_component (tools/cis/cli_util.c). */
#define CIS__COMPONENT_HINT                                                                                  \
  "this is a WebAssembly component (component model, WASI preview 2), and cis runs only core modules with " \
  "WASI preview 1: build for wasm32-wasip1 (Rust: cargo build --target wasm32-wasip1, or "                  \
  "wasm32-unknown-unknown with the cis SDK; C: clang --target=wasm32-wasi), not with cargo component or "   \
  "for wasm32-wasip2; see docs/sdk.md"

/* Decodes bytes (copied) into *out as a module of the given standard
 * (CIS__STD_*; anything else is the latest). On failure returns the code,
 * fills *d and leaves *out NULL. Does not validate function bodies'
 * typing. */
cis_result cis__module_decode_std(const uint8_t *bytes, size_t len, int standard,
                                  cis__module **out, cis__diag *d);
/* The same, as a module of the latest standard. */
cis_result cis__module_decode(const uint8_t *bytes, size_t len, cis__module **out,
                              cis__diag *d);
/* As cis__module_decode, without a copy: the module reads bytes in place,
 * and the caller hands over one hold on them, dropped by release(owner)
 * when the module is freed (at once when decoding fails). Only for bytes
 * nothing can change while the module lives. */
cis_result cis__module_decode_held(const uint8_t *bytes, size_t len, int standard, void (*release)(void *),
                                   void *owner, cis__module **out, cis__diag *d);
/* Validates a decoded module (types, indices, bodies, constant
 * expressions); fills func_declared. */
cis_result cis__module_validate(cis__module *m, cis__diag *d);
/* Another holder of m (a decoded module is never changed after its
 * validation, so holders on other threads may read it): the compiled
 * tier's background compile keeps the module it compiles, not a copy of
 * its bytes. Returns m. */
cis__module *cis__module_ref(cis__module *m);
/* Drops one holder of m; the last frees everything the module owns.
 * NULL is fine. */
void cis__module_free(cis__module *m);

/* The canonical form of recursion group [first, first + n) of types, as
 * 64-bit words that are equal for equal groups (iso-recursive): each
 * type's form, supertype and field types, a reference inside the group
 * by its position, one outside through ids (the canonical id, or first
 * index, of each type before first; NULL when none is named). Writes at
 * most cis__group_key_len(...) words to out; returns how many. */
size_t cis__group_key_len(const cis__functype *types, uint32_t first, uint32_t n);
size_t cis__group_key(const cis__functype *types, uint32_t first, uint32_t n, const uint32_t *ids, uint64_t *out);

/* Reads a validated constant expression. */
void cis__constexpr_decode(const cis__expr *e, cis__constexpr *out);

/* The type of function idx (imports included). */
static inline const cis__functype *cis__module_func_type(const cis__module *m, uint32_t idx) {
  return &m->types[m->func_type[idx]];
}

/* Block types: decodes a blocktype immediate (empty, value type or type
 * index) into parameter and result arity. Used by the validator and by the
 * engines' translators. Returns false if malformed. */
typedef struct cis__blocktype {
  uint32_t nparams, nresults;
  const uint8_t *params, *results; /* types; point into a functype or a static */
  const uint32_t *vparams, *vresults; /* in full, into a functype; NULL for
                                         one result (then in one) */
  uint32_t one;                    /* the single result type in full */
} cis__blocktype;

/* A block type immediate, as cis__read_blocktype gives it: an s33 (-64
 * (0x40) empty, -1..-17 a value type's byte, >= 0 a type index), or for a
 * reference type with a heap type (0x63/0x64 ht), CIS__BT_REF minus its
 * full type (below anything an s33 holds). */
#define CIS__BT_REF (-((int64_t)1 << 40))
/* Reads a block type immediate over [*p, end) into *bt. False when
 * malformed (not checked against the module). */
bool cis__read_blocktype(const uint8_t **p, const uint8_t *end, int64_t *bt);

/* Fills *out for a block type immediate bt (cis__read_blocktype). False
 * if unknown (a type index out of range). */
bool cis__blocktype_get(const cis__module *m, int64_t bt, cis__blocktype *out);

/* One catch clause of a try_table: its kind (the binary's byte), the tag
 * it catches (catch and catch_ref) and the label it branches to. */
enum { CIS__CATCH = 0, CIS__CATCH_REF = 1, CIS__CATCH_ALL = 2, CIS__CATCH_ALL_REF = 3 };
typedef struct cis__catch {
  uint8_t kind;  /* CIS__CATCH* */
  uint32_t tag;  /* tag index, for CIS__CATCH and CIS__CATCH_REF */
  uint32_t label; /* relative label index, as br's */
} cis__catch;

/* Reads one catch clause of a try_table over [*p, end), which the decoder
 * accepted; false on a bad read. */
bool cis__read_catch(const uint8_t **p, const uint8_t *end, cis__catch *out);

/* A load's or store's memory argument. */
typedef struct cis__memarg {
  uint32_t align;  /* log2 of the alignment */
  uint32_t mem;    /* memory index: 0 unless bit 6 of the flags names one */
  uint64_t offset; /* the constant offset: a u64 in 3.0 (below 2^32 for a
                      32-bit memory: the validator's), a u32 in 2.0 */
} cis__memarg;

/* Reads a memarg over [*p, end): flags (alignment; with bit 6 set, a
 * memory index follows), then the offset (a u64 LEB128). For the engines and the
 * validator, which read what the decoder accepted; false on a bad read. */
bool cis__read_memarg(const uint8_t **p, const uint8_t *end, cis__memarg *out);

/* LEB128 readers over [*p, end). On success advance *p and return true;
 * false on overrun, overlong encodings or values out of range. */
bool cis__read_u32(const uint8_t **p, const uint8_t *end, uint32_t *out);
bool cis__read_s32(const uint8_t **p, const uint8_t *end, int32_t *out);
bool cis__read_s33(const uint8_t **p, const uint8_t *end, int64_t *out);
bool cis__read_s64(const uint8_t **p, const uint8_t *end, int64_t *out);
bool cis__read_u64(const uint8_t **p, const uint8_t *end, uint64_t *out);

/* The value type of memory mi's addresses (table ti's indices): i64 for
 * a 64-bit one (memory64, table64), else i32. */
static inline uint8_t cis__mem_addr_type(const cis__module *m, uint32_t mi) {
  return m->memories[mi].is64 ? CIS__I64 : CIS__I32;
}
static inline uint8_t cis__table_addr_type(const cis__module *m, uint32_t ti) {
  return m->tables[ti].limits.is64 ? CIS__I64 : CIS__I32;
}

#endif /* CIS_WASM_MODULE_H */
