/*
 * This file implements the contract between the compiled tier's loader
 * (aot.c) and the C code the generator writes (codegen.c): the context a
 * compiled function runs under, the runtime services it calls, and what a
 * compiled object exports. The generator pastes this very text at the top
 * of every translation unit, so both sides read one definition; it must
 * stay plain C17 that includes nothing but the C library, because cc
 * compiles the generated file outside the source tree.
 *
 * Values cross as 64-bit slots (the runtime's cis_slot): i32 and f32 in
 * the low half with the high half zero, references as pointers, a v128
 * as two consecutive slots, its low 8 bytes first.
 */
#ifndef CIS_AOT_RT_H
#define CIS_AOT_RT_H

#include <stdint.h>

/* Bumped whenever this contract or the generated code's meaning changes:
 * part of the cache key, and checked when an object is loaded. */
#define CIS_AOT_ABI 8

typedef struct cis_aot_ctx cis_aot_ctx;

/* A compiled function's exception handler (since ABI 5): a function with
 * a try (try_table, or the legacy try) links one on its C stack into
 * cis_aot_ctx.hnd at its entry and unlinks it at its exit. A throw (or an
 * exception a call out of compiled code lets through) long-jumps to the
 * innermost one with exn set; cur is the try the function is in (its own
 * numbering from 1, 0 none), which picks the catch clauses to try. */
typedef struct cis_aot_hnd {
  struct cis_aot_hnd *prev;   /* the handler of the caller's frames, or 0 */
  void *jb[5];                /* __builtin_setjmp's buffer */
  void *exn;                  /* the exception that landed */
  uint32_t cur;               /* the try the function is in */
} cis_aot_hnd;

/* A compiled function's frame of references (since ABI 8): a function
 * that holds references of any's or extern's hierarchy (objects) keeps
 * them in the slots s[0 .. n) of a frame on its C stack, linked into
 * *cis_aot_ctx.roots at its entry and unlinked at every exit, which the
 * collector marks (the runtime's cis__roots, the same layout). */
typedef struct cis_aot_roots {
  struct cis_aot_roots *prev; /* the frame of a caller, or 0 */
  uint64_t n;                 /* slots after this header */
} cis_aot_roots;

/* Runtime services, filled by aot.c. The functions marked "does not
 * return on failure" leave through the entry's longjmp with the trap or
 * limit code (the message already set); the generated code never sees an
 * error. */
typedef struct cis_aot_api {
  /* Traps with code in function func (index in the module); does not return. */
  void (*trap)(cis_aot_ctx *c, int32_t code, uint32_t func);
  /* The tick counter ran out: charge fuel, check cancel and the deadline. */
  void (*tick)(cis_aot_ctx *c);
  /* Calls function func of the instance (an import, or any function
   * through the runtime's generic path) on slots ar. */
  void (*call)(cis_aot_ctx *c, uint32_t func, uint64_t *ar);
  /* Calls cis_func fn (any engine, any instance, or a host function):
   * call_indirect when the callee is not compiled code of this instance. */
  void (*call_ref)(cis_aot_ctx *c, void *fn, uint64_t *ar);
  /* The rest return 0 or the trap code, which the caller raises with
   * trap() so that the message names the function.
   * Addresses, indices and lengths are 64-bit (since ABI 6: a 64-bit
   * memory's or table's; a 32-bit one's zero-extended). These operate on
   * memory 0, of either address type. */
  int64_t (*memory_grow)(cis_aot_ctx *c, uint64_t delta); /* old pages or -1 */
  int32_t (*memory_init)(cis_aot_ctx *c, uint32_t seg, uint64_t d, uint64_t s, uint64_t n);
  void (*data_drop)(cis_aot_ctx *c, uint32_t seg);
  int32_t (*memory_copy)(cis_aot_ctx *c, uint64_t d, uint64_t s, uint64_t n);
  int32_t (*memory_fill)(cis_aot_ctx *c, uint64_t d, uint32_t v, uint64_t n);
  int32_t (*table_get)(cis_aot_ctx *c, uint32_t tab, uint64_t i, void **out);
  int32_t (*table_set)(cis_aot_ctx *c, uint32_t tab, uint64_t i, void *v);
  uint32_t (*table_size)(cis_aot_ctx *c, uint32_t tab);
  int64_t (*table_grow)(cis_aot_ctx *c, uint32_t tab, void *init, uint64_t delta); /* old or -1 */
  int32_t (*table_fill)(cis_aot_ctx *c, uint32_t tab, uint64_t i, void *v, uint64_t n);
  int32_t (*table_copy)(cis_aot_ctx *c, uint32_t dt, uint32_t st, uint64_t d, uint64_t s,
                        uint64_t n);
  int32_t (*table_init)(cis_aot_ctx *c, uint32_t seg, uint32_t tab, uint64_t d, uint64_t s,
                        uint64_t n);
  void (*elem_drop)(cis_aot_ctx *c, uint32_t seg);
  /* Exceptions (since ABI 5). throw_ makes an exception of tag (index in
   * the module) with the values in slots vals and unwinds to the
   * innermost handler (cis_aot_ctx.hnd), or ends the entry with
   * CIS_EXCEPTION; throw_ref does the same with an exception that exists
   * (a null one traps in function func). Neither returns. */
  void (*throw_)(cis_aot_ctx *c, uint32_t tag, uint64_t *vals, uint32_t func);
  void (*throw_ref)(cis_aot_ctx *c, void *exn, uint32_t func);
  /* 1 when exn carries tag (UINT32_MAX: any): then its values are in
   * vals (for a tag), it is caught, and as_value says whether the code
   * keeps its exnref; 0 otherwise. */
  int32_t (*catch_)(cis_aot_ctx *c, void *exn, uint32_t tag, uint64_t *vals, int32_t as_value);
  /* An exnref goes into a global or a table, where it may outlive the
   * call (nothing to do for a null one). */
  void (*exn_keep)(cis_aot_ctx *c, void *ref);
  /* The memory instructions on any memory (since ABI 6): mem, dm, sm are
   * memory indices in the module. Compiled code of a module whose
   * instructions name memory 0 only calls the ones above. */
  int64_t (*memory_grow_n)(cis_aot_ctx *c, uint32_t mem, uint64_t delta); /* old pages or -1 */
  int32_t (*memory_init_n)(cis_aot_ctx *c, uint32_t seg, uint32_t mem, uint64_t d, uint64_t s,
                           uint64_t n);
  int32_t (*memory_copy_n)(cis_aot_ctx *c, uint32_t dm, uint32_t sm, uint64_t d, uint64_t s,
                           uint64_t n);
  int32_t (*memory_fill_n)(cis_aot_ctx *c, uint32_t mem, uint64_t d, uint32_t v, uint64_t n);
  /* GC (since ABI 7): runs the 0xFB instruction of sub-opcode code (its
   * encoding, stable) on the operands in slots args (a v128 in two), its
   * result to args[0]. a and b are as the runtime's one GC operation
   * takes them (a cast's: the heap type's kind, its binary byte, with
   * flags 0x100 null matches and 0x200 the answer negated, and its
   * canonical id or UINT32_MAX; otherwise the
   * second index immediate); x and y are its type immediates (indices in
   * the module, UINT32_MAX none). A trap is raised in function func; a
   * memory limit ends the entry. Does not return on failure. */
  void (*gc)(cis_aot_ctx *c, uint32_t code, uint32_t a, uint32_t b, uint32_t x, uint32_t y,
             uint64_t *args, uint32_t func);
} cis_aot_api;

/* What compiled code runs under: built by aot.c on the C stack at each
 * entry into compiled code (a top-level call, a call from a host function
 * or from another instance). Fields compiled code reads on its fast paths
 * come first. */
struct cis_aot_ctx {
  uint8_t *mem;               /* memory 0's base (never moves), or 0 */
  const uint64_t *mem_size;   /* memory 0's current size in bytes */
  int64_t *ticks;             /* the call's tick counter: decremented at
                                 loop headers and (most) function entries */
  uint32_t *depth;            /* the call's wasm call depth: read where the
                                 runtime enters compiled code, written before
                                 it calls out (compiled functions pass theirs
                                 as an argument, aot_prelude.h) */
  uint32_t max_depth;         /* its limit */
  uintptr_t cstack_limit;     /* native stack addresses below this trap */
  void *const *globals;       /* the instance's cis_global pointers */
  void *const *funcs;         /* the instance's cis_func pointers */
  void *const *tables;        /* the instance's cis_table pointers */
  const uint32_t *type_ids;   /* canonical id of each module type */
  const void *inst;           /* the running instance */
  const cis_aot_api *api;     /* runtime services */
  void *const *fptrs;         /* the object's typed functions (defined index) */
  void *rt;                   /* aot.c's private state of the entry */
  uint32_t cpu_v2;            /* 1 when the CPU runs x86-64-v2 code: functions
                                 using v128 take their _v2 body (since ABI 4) */
  uint32_t cpu_ssse3;         /* 1 when it has SSSE3: the base body's shuffles */
  cis_aot_hnd *hnd;           /* the innermost exception handler of this
                                 entry, or 0 (since ABI 5) */
  void *const *mems;          /* the instance's cis_memory pointers, where
                                 compiled code reads the base and size of
                                 memories 1 and up (since ABI 6) */
  cis_aot_roots **roots;      /* the call's innermost frame of references
                                 (since ABI 8): cis__exec.roots */
};

/* What the loader knows of a compiled object: its ABI, functions and key,
 * from the object's one exported function. */
typedef struct cis_aot_object {
  uint32_t abi;               /* CIS_AOT_ABI */
  uint32_t nfuncs;            /* defined functions */
  /* entries[i]: defined function i on slots (args in, results out). */
  void (*const *entries)(cis_aot_ctx *c, uint64_t *ar);
  void *const *fptrs;         /* typed C function of defined function i */
  const char *key;            /* the cache key it was compiled for (hex) */
} cis_aot_object;

/* Each compiled object exports this one function, which is also its ELF
 * entry point (so that cis's own loader needs no symbol table): it sets
 * o->abi, o->nfuncs and o->key and, when nfuncs <= cap, stores the
 * address of each defined function's entry and typed C function in
 * entries[i] and fptrs[i]. The code computes the addresses (relative to
 * where it runs), so the object has no relocations to apply (since ABI 3;
 * before, it exported a table of pointers). Returns nfuncs. */
typedef uint32_t (*cis_aot_describe_fn)(cis_aot_object *o,
                                        void (**entries)(cis_aot_ctx *c, uint64_t *ar),
                                        void **fptrs, uint32_t cap);

#define CIS_AOT_DESCRIBE_SYMBOL "cis_aot_describe"

#endif /* CIS_AOT_RT_H */
