/*
 * cis.h -- the public C API of libcis, a sandboxed WebAssembly runtime.
 *
 * This header is the manual: if a function is not declared here (or in
 * another header under include/cis/), it is not a published API.
 *
 * Concepts
 *   engine    configuration and default limits; shared caches. Create it
 *             once, configure it, then share it between threads.
 *   module    a decoded and validated WebAssembly 2.0 binary. Immutable, so
 *             it may be shared between threads and instantiated many times.
 *   imports   a set of named externals (host functions, other instances'
 *             exports, standalone memories/tables/globals) used to link.
 *   instance  a module linked with its imports, with its own memory, tables
 *             and globals. An instance belongs to ONE thread at a time; only
 *             cis_instance_cancel() may be called from another thread.
 *
 * Errors
 *   Every fallible function returns a cis_result: CIS_OK (0) or a negative
 *   code from include/cis/errors.def. Traps, timeouts and limit hits are
 *   ordinary codes. The detailed message of the last error is kept on the
 *   handle that failed and read with cis_errmsg(handle); a failure of one
 *   handle never overwrites another's message. A handle that threads share
 *   (the engine, and the services: cis_kv, cis_ai, cis_http, cis_skills)
 *   keeps its message per calling thread and per handle, so two engines,
 *   or an engine and a KV store, used on one thread each keep their own,
 *   and another thread's failures are not seen. Each thread holds the
 *   messages of its 16 shared handles that failed last; an older one reads
 *   as "". The string stays valid until the handle's next failure on that
 *   thread. Errors of functions that create a handle from the engine
 *   (module load, instantiate) are kept on the engine.
 *
 *   Every other constructor (cis_kv_open, cis_skills_open, cis_tokens_open,
 *   cis_server_start, cis_vfs_mount, ...) follows one rule, as sqlite3_open
 *   does: on failure it returns the code AND sets *out to a handle in a
 *   failed state, whose cis_errmsg (and the service's own *_errmsg) says
 *   why, on every thread, until it is freed with the handle's usual free
 *   function. Any other call on such a handle returns CIS_ESTATE and
 *   leaves the message. *out is NULL only when there was no memory for the
 *   handle (CIS_ENOMEM) or out itself is NULL (CIS_EINVAL). A filesystem
 *   backend constructor (cis_vfs_host_new, cis_vfs_db_new) hands back a
 *   failed backend instead: its message is b->errmsg, and cis_vfs_mount
 *   turns it into a failed mount with the same code and message.
 *
 *   A call that takes no handle and creates none (cis_key_create,
 *   cis_skill_sign, cis_ai_provider_openai, cis_vfs_db_tenant_exists,
 *   cis_vfs_db_tenant_delete) keeps the message of its failure for the
 *   calling thread: cis_errmsg(NULL), valid until the thread's next such
 *   failure.
 *
 * Values
 *   Wasm values cross the API as cis_val (tagged) or, in host functions, as
 *   raw 64-bit cis_slot (untagged; the signature says the types). A v128
 *   occupies two consecutive slots, its low 8 bytes (lanes 0..) first.
 */
#ifndef CIS_CIS_H
#define CIS_CIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CIS_EXTERN __attribute__((visibility("default")))
#else
#define CIS_EXTERN
#endif

/* ---------------------------------------------------------------- version */

#define CIS_VERSION_MAJOR 0
#define CIS_VERSION_MINOR 2
#define CIS_VERSION_PATCH 0
#define CIS_VERSION_STRING "0.2.0"
#define CIS_VERSION_NUM \
  ((CIS_VERSION_MAJOR << 16) | (CIS_VERSION_MINOR << 8) | CIS_VERSION_PATCH)

/* Returns CIS_VERSION_STRING of the library actually linked. */
CIS_EXTERN const char *cis_version(void);

/* ----------------------------------------------------------------- errors */

typedef int cis_result;

enum {
  CIS_OK = 0,
#define CIS_ERR(name, code, msg) CIS_##name = (code),
#include "cis/errors.def"
#undef CIS_ERR
};

/* Human-readable text of a code ("out of bounds memory access"). Never NULL. */
CIS_EXTERN const char *cis_strerror(cis_result r);
/* Symbolic name of a code ("CIS_TRAP_MEM_OOB"). Never NULL. */
CIS_EXTERN const char *cis_errname(cis_result r);
/* True when r is a trap (the CIS_TRAP_* range). */
CIS_EXTERN bool cis_is_trap(cis_result r);

/* Detailed message of the last error on a handle (see "Errors" above);
 * with NULL, of the calling thread's last failed call that took no handle.
 * Never NULL; "" when there was none. Valid until the next call on that
 * handle. */
CIS_EXTERN const char *cis_errmsg(const void *handle);

/* SHA-256 of len bytes as 64 lowercase hex digits and a NUL, the form of a
 * skill manifest's "wasm.sha256". OpenSSL's libcrypto is loaded at the
 * first call. Errors: CIS_EINVAL (out NULL, or data NULL with len > 0),
 * CIS_EUNSUPPORTED (libcrypto is not installed), CIS_ENOMEM; out is then
 * "". */
CIS_EXTERN cis_result cis_sha256_hex(const void *data, size_t len, char out[65]);

/* Reads a database spec as the services do (docs/embedding.md, "Database
 * specs"), opening nothing: for a service with a default file (the
 * registry, the token store; with_default true, which also takes NULL,
 * "", "sqlite" and "sqlite:") or without (KV, the database filesystem).
 * Errors, with a message in cis_errmsg(NULL) that quotes the spec no
 * further than its scheme: CIS_EINVAL (an unknown scheme, a default where
 * the service has none, a NUL byte or control character), CIS_ETOOBIG
 * (past 4,096 bytes). */
CIS_EXTERN cis_result cis_db_spec_check(const char *spec, bool with_default);

/* Numbers, sizes and durations written as text, read alike by every `cis`
 * flag and skill manifest (docs/cli.md, "Values"). */
/* Parses an unsigned decimal or 0x-hex number that fills all of s (no sign,
 * no spaces). Returns false when s is not one or does not fit 64 bits. */
CIS_EXTERN bool cis_parse_u64(const char *s, uint64_t *out);

/* Parses a size in bytes: an integer (decimal or 0x hex) or a decimal
 * number with a unit, B, KiB, MiB, GiB, TiB (1024-based) or KB, MB, GB, TB
 * (1000-based), whose value is a whole number of bytes: 128MiB, 1.5KiB,
 * 65536. Returns false on junk, a sign, an unknown unit or overflow. */
CIS_EXTERN bool cis_parse_size(const char *s, uint64_t *bytes);
/* Parses a duration into milliseconds: a decimal number with an optional
 * fraction and unit ms, s, m or h (500ms, 1.5s, 2m); no unit means
 * milliseconds; the result must be whole milliseconds. Returns false on
 * junk, a sign, an unknown unit, a fraction of a millisecond or overflow. */
CIS_EXTERN bool cis_parse_duration_ms(const char *s, uint64_t *ms);

/* ----------------------------------------------------------------- values */

typedef enum cis_valtype {
  CIS_I32 = 0x7f,
  CIS_I64 = 0x7e,
  CIS_F32 = 0x7d,
  CIS_F64 = 0x7c,
  CIS_V128 = 0x7b,
  CIS_FUNCREF = 0x70,
  CIS_EXTERNREF = 0x6f,
  /* Exception references (WebAssembly 3.0): what cis_func_call returns of
   * them is opaque, valid until the engine is freed; only what a call
   * returned may be passed back (or null). */
  CIS_EXNREF = 0x69,
  CIS_NULLEXNREF = 0x74, /* the type of a null exnref only */
  /* GC's references (WebAssembly 3.0): any value of any's hierarchy
   * (anyref, eqref, i31ref, structref, arrayref, nullref and references
   * to struct and array types) crosses the API as CIS_ANYREF, opaque
   * (of.externref; NULL is null), valid until it is released
   * (cis_anyref_release) or the engine is freed: look into it with
   * cis_anyref_kind; only what a call returned, or cis_anyref_from_host
   * made, may be passed back (or null). */
  CIS_ANYREF = 0x6e,
} cis_valtype;

typedef struct cis_func cis_func; /* a function: wasm or host; funcref values */

/* A raw value slot: 8 bytes, little-endian; i32/f32 live in the low half.
 * Floats keep their exact bits (NaN payloads included). */
typedef union cis_slot {
  int32_t i32;
  uint32_t u32;
  int64_t i64;
  uint64_t u64;
  float f32;
  double f64;
  cis_func *funcref;   /* NULL is ref.null func */
  void *externref;     /* NULL is ref.null extern */
} cis_slot;

/* A tagged value. */
typedef struct cis_val {
  cis_valtype type;
  cis_slot of;
  uint8_t v128[16]; /* CIS_V128: the 16 bytes, little-endian, lane 0 first */
} cis_val;

/* ----------------------------------------------------------------- limits */

#define CIS_DEFAULT_TIMEOUT_MS 30000u                 /* seeds' figure */
#define CIS_DEFAULT_MAX_MEMORY (512ull * 1024 * 1024) /* 8192 pages */
#define CIS_DEFAULT_MAX_CALL_DEPTH 10000u
#define CIS_DEFAULT_MAX_STACK_BYTES (8ull * 1024 * 1024) /* value stack */

/* Hard limits applied to an instance and to every call into it.
 *
 * The memory account (max_memory_bytes = L). Each instance has one
 * account, which bounds every byte the guest can make the host allocate
 * for it:
 *   - linear memories charged to it: their current size (64 KiB a page);
 *   - tables charged to it: their allocated elements x 8 bytes;
 *   - the instance's own bookkeeping, whose size its module decides: the
 *     function, memory, table and global index spaces, the global cells,
 *     the segment flags (charged once, at instantiation).
 * The rule: linear memories together stay within L, and everything
 * together within L + CIS_MEMORY_SLACK. The slack lets a memory still
 * reach exactly L beside the small tables and bookkeeping every module
 * has; it is not per table, so ten tables share it too.
 * A memory or table is charged, for its whole life, to exactly one
 * account: that of the instance that defined it, or, for one made with
 * cis_memory_new / cis_table_new, that of the first instance that imports
 * it (which must afford its size then). Whoever grows the object (the
 * defining instance, an importer, cis_memory_grow) draws on that account,
 * and the account outlives its instance while an object charged to it
 * lives. An object imported from another instance is therefore charged to
 * that instance, not to the importer. Standalone objects that no instance
 * imported yet are bounded only by the engine's limits.
 * Instantiation that would pass the account fails with CIS_EMEMLIMIT;
 * memory.grow and table.grow (and cis_memory_grow) that would pass it
 * return -1, as the spec lets them, without trapping. L = 0: no account
 * limit.
 * Not charged: the module's decoded and translated code (shared by all of
 * its instances, bounded by the module's size), the value stack (its own
 * fixed limit, max_stack_bytes) and the native stack.
 *
 * max_memory_bytes also caps each memory alone (its reachable size, and
 * address space reserved), and max_table_elems each table alone. */
#define CIS_MEMORY_SLACK (1024u * 1024u)

typedef struct cis_limits {
  uint64_t timeout_ms;       /* wall-clock deadline per top-level call; 0 = none */
  uint64_t max_memory_bytes; /* the instance's memory account (above); 0 = none */
  uint32_t max_call_depth;   /* nested wasm calls before "call stack exhausted" */
  uint64_t max_stack_bytes;  /* value-stack size of an instance */
  uint64_t fuel;             /* instruction budget per top-level call; 0 = unlimited */
  uint64_t max_table_elems;  /* cap on each table's size; 0 = 10,000,000 */
} cis_limits;

/* Fills *l with the defaults above. */
CIS_EXTERN void cis_limits_default(cis_limits *l);

/* -------------------------------------------------------------- principal */

/* Whom a service call (KV, AI, HTTP, log) is made for. Services use it for
 * policy, accounting and log lines. The strings are borrowed for the
 * duration of the call and must be NUL-terminated. */
typedef struct cis_principal {
  const char *tenant; /* owning tenant; NULL or "" = the default tenant */
  const char *skill;  /* skill name; NULL or "" = not inside a skill */
} cis_principal;

/* ----------------------------------------------------------------- engine */

typedef struct cis_engine cis_engine;

typedef struct cis_engine_config {
  cis_limits limits;   /* defaults for new instances */
  const char *engine;  /* "interp": the interpreter; "aot": compiled to
                          machine code by the system C compiler, cached
                          (cis_aot.h, docs/aot.md); "auto" (default):
                          tiering, each module on the interpreter at once
                          and compiled in the background, its later calls
                          compiled (interp when no compiler is installed) */
  int standard;        /* the WebAssembly standard modules are held to: 0
                          (default) or 3 for 3.0 as far as cis has it
                          (multiple memories), 2 for 2.0, which refuses
                          them and reads their encodings as malformed */
} cis_engine_config;

/* Fills c with the defaults: cis_limits_default, and the engine named by
 * $CIS_ENGINE when set, else "auto". */
CIS_EXTERN void cis_engine_config_default(cis_engine_config *c);
/* cfg may be NULL for defaults. */
CIS_EXTERN cis_result cis_engine_new(const cis_engine_config *cfg, cis_engine **out);
/* Frees e. Free its modules and instances first; memories, tables,
 * globals and host functions made from it may be freed after it. */
CIS_EXTERN void cis_engine_free(cis_engine *e);

/* ----------------------------------------------------------------- module */

typedef struct cis_module cis_module;

typedef enum cis_extern_kind {
  CIS_EXTERN_FUNC = 0,
  CIS_EXTERN_TABLE = 1,
  CIS_EXTERN_MEMORY = 2,
  CIS_EXTERN_GLOBAL = 3,
  CIS_EXTERN_TAG = 4, /* an exception tag (WebAssembly 3.0) */
} cis_extern_kind;

/* Decodes and validates a binary module. The bytes are copied. On failure
 * the message (with the byte offset) is cis_errmsg(engine), and the code is
 * in the decode (CIS_EMALFORMED..) or validate (CIS_EINVALID..) range. */
CIS_EXTERN cis_result cis_module_new(cis_engine *e, const uint8_t *bytes,
                                     size_t len, cis_module **out);
/* cis_module_new for a module loaded on a call's time: on the compiled
 * engine ("aot") the load ends by deadline_ns (CLOCK_MONOTONIC ns; 0 none)
 * whatever it waits for (another process's compile of the same module, a
 * compile slot, the compile itself): past it CIS_ETIMEOUT, and a compile
 * it started goes on in a process of its own and stores its code in the
 * cache for later loads. The other engines do not wait. */
CIS_EXTERN cis_result cis_module_new_until(cis_engine *e, const uint8_t *bytes,
                                           size_t len, uint64_t deadline_ns,
                                           cis_module **out);
/* Compiles a module in the WebAssembly text format (.wat, Wasm 2.0 with
 * SIMD, and 3.0's multiple memories; `len` bytes, no NUL needed), then
 * decodes and validates it as cis_module_new does. A text error is
 * CIS_EMALFORMED (or CIS_ETOOBIG past the compiler's bounds) with
 * "LINE:COL: what" in cis_errmsg(engine); a module that compiles but does
 * not validate gets the validator's code. */
CIS_EXTERN cis_result cis_module_new_text(cis_engine *e, const char *text,
                                          size_t len, cis_module **out);
/* Loads the module in the file at path: binary, or the text format when
 * the file holds text (cis_module_is_text), as cis_module_new_until or
 * cis_module_new_text would load its bytes. On the compiled engine ("aot",
 * "auto"), once a load has compared a file's bytes in full with those of
 * the code in the cache, the file is recognised by its identity (device,
 * inode, size, modification and change times) and not read again until
 * one of them changes: a write to the file changes its change time, which
 * no one but the system can set back (a file changed within two seconds
 * of its last change is not recognised so, and is read each time). Errors:
 * CIS_ENOTFOUND (no such file), CIS_EIO (unreadable), CIS_EINVAL (not a
 * regular file), CIS_ETOOBIG (over 1 GiB), then those of loading the
 * module; the message, naming the path, is cis_errmsg(engine). */
CIS_EXTERN cis_result cis_module_new_file(cis_engine *e, const char *path, uint64_t deadline_ns,
                                          cis_module **out);
/* Whether bytes hold a module in the text format rather than a binary one:
 * "(" first, after white space and ;; or (; ;) comments. */
CIS_EXTERN bool cis_module_is_text(const uint8_t *bytes, size_t len);
/* Decode only (no validation): for tools that inspect broken modules. */
CIS_EXTERN cis_result cis_module_decode_only(cis_engine *e, const uint8_t *bytes,
                                             size_t len, cis_module **out);
/* Modules are reference counted; free drops one reference. */
CIS_EXTERN cis_module *cis_module_ref(cis_module *m);
CIS_EXTERN void cis_module_free(cis_module *m);

/* The WebAssembly features beyond 1.0 that a module uses: what its
 * instructions, types, memories, tables, globals and sections need
 * (`cis inspect` lists them). Bits of cis_feature; a standard's
 * validation, not this, decides what a module may use. */
typedef enum cis_feature {
  /* WebAssembly 2.0 */
  CIS_FEATURE_MUTABLE_GLOBALS = 1u << 0,   /* a mutable global imported or exported */
  CIS_FEATURE_SIGN_EXTENSION = 1u << 1,    /* i32.extend8_s ... */
  CIS_FEATURE_SAT_FLOAT_TO_INT = 1u << 2,  /* i32.trunc_sat_f32_s ... */
  CIS_FEATURE_MULTI_VALUE = 1u << 3,       /* several results, block parameters */
  CIS_FEATURE_BULK_MEMORY = 1u << 4,       /* memory.copy, memory.fill, passive segments ... */
  CIS_FEATURE_REFERENCE_TYPES = 1u << 5,   /* externref, reference values, several tables */
  CIS_FEATURE_SIMD = 1u << 6,              /* v128 */
  /* WebAssembly 3.0 */
  CIS_FEATURE_EXTENDED_CONST = 1u << 7,    /* add, sub, mul in constant expressions */
  CIS_FEATURE_TAIL_CALLS = 1u << 8,        /* return_call ... */
  CIS_FEATURE_MULTI_MEMORY = 1u << 9,      /* several memories */
  CIS_FEATURE_MEMORY64 = 1u << 10,         /* a 64-bit memory or table */
  CIS_FEATURE_TYPED_FUNCTION_REFERENCES = 1u << 11, /* (ref $t), call_ref ... */
  CIS_FEATURE_EXCEPTIONS = 1u << 12,       /* tags, throw, try_table, exnref */
  CIS_FEATURE_LEGACY_EXCEPTIONS = 1u << 13,/* try, catch, delegate, rethrow */
  CIS_FEATURE_GC = 1u << 14,               /* struct, array, i31, casts, GC heap types */
  CIS_FEATURE_RELAXED_SIMD = 1u << 15,     /* relaxed SIMD instructions */
} cis_feature;
CIS_EXTERN uint32_t cis_module_features(const cis_module *m);
/* The name of one feature ("simd", "tail-calls", ...), NULL for anything
 * that is not one cis_feature bit. */
CIS_EXTERN const char *cis_feature_name(cis_feature f);

/* Describes one import or export of a module. Strings are length-counted
 * (names may contain NUL) and live as long as the module. */
typedef struct cis_extern_desc {
  cis_extern_kind kind;
  const char *module;  size_t module_len; /* imports only */
  const char *name;    size_t name_len;
  /* func: the signature; tag: the exception's values (params) */
  uint32_t nparams, nresults;
  const cis_valtype *params, *results;
  /* table: elem type; global: value type */
  cis_valtype type;
  bool mutable_;      /* global */
  uint64_t min, max;  /* table (elems) / memory (pages) limits */
  bool has_max;
  bool addr64;        /* table, memory: 64-bit addresses (table64, memory64) */
} cis_extern_desc;

CIS_EXTERN uint32_t cis_module_import_count(const cis_module *m);
CIS_EXTERN uint32_t cis_module_export_count(const cis_module *m);
CIS_EXTERN cis_result cis_module_import(const cis_module *m, uint32_t i, cis_extern_desc *out);
CIS_EXTERN cis_result cis_module_export(const cis_module *m, uint32_t i, cis_extern_desc *out);

/* ------------------------------------------------------- host functions */

typedef struct cis_instance cis_instance;
typedef struct cis_call cis_call; /* the context of one host-function call */

/* A host function. args and results are laid out as the signature says.
 * Return CIS_OK, or any error: it ends the whole wasm call with that code
 * (use cis_call_fail for a message). */
typedef cis_result (*cis_host_fn)(cis_call *call, const cis_slot *args,
                                  cis_slot *results);

/* Declares one host function. The signature string lists the parameter
 * types in parentheses, then the results:
 *   i = i32, I = i64, f = f32, F = f64, r = externref, R = funcref,
 *   v = v128 (two slots of args or results, low 8 bytes first)
 * e.g. "(ii)i", "(I)", "()iI". */
typedef struct cis_host_func_def {
  const char *module;    /* import module name, e.g. "env" */
  const char *name;      /* import field name */
  const char *signature; /* see above */
  cis_host_fn fn;
  void *user;            /* returned by cis_call_user() */
  uint32_t flags;        /* CIS_HOST_*: what the function expects of its caller */
} cis_host_func_def;

/* cis_host_func_def.flags. CIS_HOST_MEMORY32: the function's pointers are
 * i32 offsets into memory 0 (as WASI's and the skill ABIs' are), so a
 * module whose memory 0 has 64-bit addresses (memory64) cannot import it:
 * instantiation fails with CIS_EIMPORTTYPE, naming the import. */
#define CIS_HOST_MEMORY32 0x1u

/* What a host function may ask of its call. */
CIS_EXTERN cis_instance *cis_call_instance(cis_call *c);
CIS_EXTERN void *cis_call_user(cis_call *c);
/* Milliseconds left until the call's deadline; UINT64_MAX when none. Host
 * functions that block (network, database, sleep) must not wait longer. */
CIS_EXTERN uint64_t cis_call_remaining_ms(cis_call *c);
/* CIS_OK while the call may go on; CIS_ECANCELED or CIS_ETIMEOUT once it
 * was cancelled or its deadline passed. Host functions that wait (sleep,
 * poll, network) check it between short waits. */
CIS_EXTERN cis_result cis_call_check(cis_call *c);
/* Sets the instance's message and returns code, for `return cis_call_fail(...)`. */
CIS_EXTERN cis_result cis_call_fail(cis_call *c, cis_result code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* A standalone host function object (for funcref values, tables, imports).
 * Reference counted: cis_func_free drops the creator's reference. */
CIS_EXTERN cis_result cis_func_new_host(cis_engine *e, const cis_host_func_def *def,
                                        cis_func **out);
CIS_EXTERN void cis_func_free(cis_func *f);

/* --------------------------------------- standalone memories/tables/globals */

typedef struct cis_memory cis_memory;
typedef struct cis_table cis_table;
typedef struct cis_global cis_global;
/* An exception tag (WebAssembly 3.0): an instance's own, or imported. Two
 * tags are the same tag only when they are the same object, so a tag an
 * instance imports catches what its exporter throws. Tags are made by
 * instances only; an embedder passes them on through cis_extern (exports
 * and cis_imports_add_instance). */
typedef struct cis_tag cis_tag;

/* Reference counted; each *_free drops one reference. Instances that import
 * or export them hold their own references. */
CIS_EXTERN cis_result cis_memory_new(cis_engine *e, uint32_t min_pages, uint32_t max_pages,
                                     bool has_max, cis_memory **out);
/* A memory of 64-bit addresses (memory64), for a module that imports one:
 * limits up to 2^48 pages, though it grows no further than a 32-bit one's
 * 4 GiB and the engine's memory cap. CIS_EINVAL (min above max, or past
 * the limit), CIS_EMEMLIMIT (min past the cap). */
CIS_EXTERN cis_result cis_memory_new64(cis_engine *e, uint64_t min_pages, uint64_t max_pages,
                                       bool has_max, cis_memory **out);
CIS_EXTERN void cis_memory_free(cis_memory *m);
CIS_EXTERN cis_result cis_table_new(cis_engine *e, cis_valtype elem, uint32_t min,
                                    uint32_t max, bool has_max, cis_table **out);
/* A table of 64-bit indices (table64), for a module that imports one; its
 * size stays within the engine's table limit. */
CIS_EXTERN cis_result cis_table_new64(cis_engine *e, cis_valtype elem, uint64_t min,
                                      uint64_t max, bool has_max, cis_table **out);
CIS_EXTERN void cis_table_free(cis_table *t);
CIS_EXTERN cis_result cis_global_new(cis_engine *e, cis_val init, bool mutable_,
                                     cis_global **out);
CIS_EXTERN void cis_global_free(cis_global *g);
CIS_EXTERN cis_val cis_global_get(const cis_global *g);
CIS_EXTERN cis_result cis_global_set(cis_global *g, cis_val v);

/* Size in bytes of a memory and its base address. The base is stable for
 * the memory's life (it is reserved up front), but re-check the size after
 * anything that may grow it. */
CIS_EXTERN uint64_t cis_memory_size(const cis_memory *m);
CIS_EXTERN uint8_t *cis_memory_data(cis_memory *m);
/* Grows by delta pages; returns the old size in pages, or -1 (past its
 * maximum, its cap, or the memory account that pays for it). */
CIS_EXTERN int64_t cis_memory_grow(cis_memory *m, uint32_t delta);

/* ---------------------------------------------------------------- imports */

typedef struct cis_imports cis_imports;

CIS_EXTERN cis_result cis_imports_new(cis_engine *e, cis_imports **out);
CIS_EXTERN void cis_imports_free(cis_imports *im);
/* Adds n host functions (copied; the strings are copied too). */
CIS_EXTERN cis_result cis_imports_add_host_funcs(cis_imports *im, const cis_host_func_def *defs,
                                                 size_t n);
/* Makes every export of inst importable under module name `as` (the spec's
 * `register`). The imports keep a reference to inst. */
CIS_EXTERN cis_result cis_imports_add_instance(cis_imports *im, const char *as, size_t as_len,
                                               cis_instance *inst);
/* Adds one external under (module, name). Strings are length-counted. */
CIS_EXTERN cis_result cis_imports_add_func(cis_imports *im, const char *mod, size_t mod_len,
                                           const char *name, size_t name_len, cis_func *f);
CIS_EXTERN cis_result cis_imports_add_memory(cis_imports *im, const char *mod, size_t mod_len,
                                             const char *name, size_t name_len, cis_memory *m);
CIS_EXTERN cis_result cis_imports_add_table(cis_imports *im, const char *mod, size_t mod_len,
                                            const char *name, size_t name_len, cis_table *t);
CIS_EXTERN cis_result cis_imports_add_global(cis_imports *im, const char *mod, size_t mod_len,
                                             const char *name, size_t name_len, cis_global *g);
/* Makes im fall back to base for every (module, name) it does not define
 * itself (its own entries and registered instances come first), so that a
 * large set built once, e.g. every host function, can serve many short
 * lived sets that add a few per-call entries. One level only: base's own
 * base is not searched. im holds no reference: base must outlive im, and
 * must not be changed while instances are being linked with im on other
 * threads. NULL base removes the fallback. Errors: CIS_EINVAL (im NULL,
 * base == im, or base from another engine). */
CIS_EXTERN cis_result cis_imports_set_base(cis_imports *im, const cis_imports *base);

/* --------------------------------------------------------------- instance */

/* Checks that every import of m resolves in imports (may be NULL) with a
 * matching kind and type, as cis_instance_new would, without instantiating
 * anything: no memory is allocated and no guest code runs. For checking a
 * module against a host before it is used. Errors, with the detail in
 * cis_errmsg(engine): CIS_EUNKNOWNIMPORT, CIS_EIMPORTTYPE. */
CIS_EXTERN cis_result cis_imports_check(const cis_imports *imports, const cis_module *m);

/* Links m with imports (may be NULL) and instantiates it: allocates memory,
 * tables and globals, writes segments and runs the start function, all under
 * the limits (NULL = the engine's). On failure *out is NULL, the message is
 * cis_errmsg(engine) and the code is CIS_EUNKNOWNIMPORT / CIS_EIMPORTTYPE,
 * CIS_EMEMLIMIT, or a trap from a segment or the start function. Segments
 * written before a trap stay written in imported memories and tables. */
CIS_EXTERN cis_result cis_instance_new(cis_module *m, const cis_imports *imports,
                                       const cis_limits *limits, cis_instance **out);
/* As cis_instance_new, but the instance borrows m and the functions it
 * imports instead of counting references to them: the caller keeps m and
 * imports alive until the instance's last reference is dropped (an instance
 * pinned by the engine, because one of its functions went into an imported
 * table or global, takes counted references at that moment). A counted
 * reference writes to m and to each imported function at every
 * instantiation and free, a cache line that threads instantiating one
 * module over and over (a server's warm calls) would fight over. */
CIS_EXTERN cis_result cis_instance_new_borrowing(cis_module *m, const cis_imports *imports,
                                                 const cis_limits *limits, cis_instance **out);
/* Instances are reference counted (other instances that import from this
 * one hold references). */
CIS_EXTERN cis_instance *cis_instance_ref(cis_instance *inst);
CIS_EXTERN void cis_instance_free(cis_instance *inst);
CIS_EXTERN cis_module *cis_instance_module(cis_instance *inst);

/* Replaces the limits used by the next calls. max_memory_bytes applies to
 * later growth only (what is already charged stays). */
CIS_EXTERN void cis_instance_set_limits(cis_instance *inst, const cis_limits *l);
CIS_EXTERN void cis_instance_get_limits(const cis_instance *inst, cis_limits *l);
/* Bytes charged to the instance's memory account (see cis_limits). */
CIS_EXTERN uint64_t cis_instance_memory_used(const cis_instance *inst);
/* The most bytes that account has held at once (memory grown counts;
 * memory freed is still counted in the peak). */
CIS_EXTERN uint64_t cis_instance_memory_peak(const cis_instance *inst);

/* Embedder data attached to an instance (host functions read it). */
CIS_EXTERN void cis_instance_set_user(cis_instance *inst, void *user);
CIS_EXTERN void *cis_instance_user(const cis_instance *inst);

/* An export of an instance. */
typedef struct cis_extern {
  cis_extern_kind kind;
  union {
    cis_func *func;
    cis_table *table;
    cis_memory *memory;
    cis_global *global;
    cis_tag *tag;
  } of;
} cis_extern;

/* Looks up an export by (length-counted) name. CIS_ENOTFOUND when absent.
 * The returned objects are owned by the instance. */
CIS_EXTERN cis_result cis_instance_export(cis_instance *inst, const char *name, size_t len,
                                          cis_extern *out);
/* Shorthand for the function export `name` (NUL-terminated); NULL if none. */
CIS_EXTERN cis_func *cis_instance_func(cis_instance *inst, const char *name);
/* Memory 0 of the instance, or NULL. */
CIS_EXTERN cis_memory *cis_instance_memory(cis_instance *inst);

/* Signature of a function. Arrays are owned by the function. */
CIS_EXTERN void cis_func_type(const cis_func *f, uint32_t *nparams, const cis_valtype **params,
                              uint32_t *nresults, const cis_valtype **results);

/* Calls f (an export of inst, or any function reachable from it) with typed
 * arguments, under the instance's limits: a fresh deadline and fuel budget
 * per top-level call. Argument count and types must match (CIS_EINVAL).
 * Returns CIS_OK or the trap / limit code; details in cis_errmsg(inst). A
 * wasm exception that nothing caught is CIS_EXCEPTION.
 * When a host function ended the call with CIS_EEXIT, cis_instance_exit_code
 * gives the code. */
CIS_EXTERN cis_result cis_func_call(cis_instance *inst, cis_func *f, const cis_val *args,
                                    size_t nargs, cis_val *results, size_t nresults);
/* What a CIS_ANYREF value v is. */
typedef enum cis_anyref_kind {
  CIS_ANYREF_NULL = 0,
  CIS_ANYREF_I31 = 1,    /* an i31: cis_anyref_i31 gives its value */
  CIS_ANYREF_STRUCT = 2, /* a struct object */
  CIS_ANYREF_ARRAY = 3,  /* an array object */
  CIS_ANYREF_HOST = 4,   /* an externref made an anyref (any.convert_extern):
                            cis_anyref_host gives the externref */
} cis_anyref_kind;
CIS_EXTERN cis_anyref_kind cis_anyref_kind_of(const cis_val *v);
/* The value of an i31 (sign-extended from 31 bits); 0 for anything else. */
CIS_EXTERN int32_t cis_anyref_i31(const cis_val *v);
/* The externref a CIS_ANYREF_HOST wraps; NULL for anything else. */
CIS_EXTERN void *cis_anyref_host(const cis_val *v);
/* *out = the anyref of externref x (as any.convert_extern makes it),
 * charged to inst's memory account. Errors: CIS_EINVAL, CIS_EMEMLIMIT,
 * CIS_ENOMEM. */
CIS_EXTERN cis_result cis_anyref_from_host(cis_instance *inst, void *x, cis_val *out);
/* Lets go of v, an object of inst's engine the host was handed (a call's
 * result, a host function's argument, cis_global_get,
 * cis_anyref_from_host): each handing holds it once, and it stays until
 * each is released or the engine is freed. After the last, v (and every
 * copy of it) must not be used: the object may be collected. Null, an
 * i31, or an externref that is no object: nothing to do. Errors:
 * CIS_EINVAL (NULL arguments; not a CIS_ANYREF or CIS_EXTERNREF value;
 * released more often than it was handed out). */
CIS_EXTERN cis_result cis_anyref_release(cis_instance *inst, const cis_val *v);

/* The same with untyped slots, for embedders that know the signature. */
CIS_EXTERN cis_result cis_func_call_slots(cis_instance *inst, cis_func *f, const cis_slot *args,
                                          cis_slot *results);

/* Stops the current call of inst with CIS_ECANCELED as soon as it reaches
 * a loop back-edge or a call; while no call runs, the next top-level call
 * fails with CIS_ECANCELED before it starts. Safe from any thread; affects
 * only this instance. The flag is cleared when the call it stopped ends. */
CIS_EXTERN void cis_instance_cancel(cis_instance *inst);

/* A cooperative CPU quota for the calls of inst: while permille (1 to
 * 999) is set, a running call pauses (sleeps) at the engines' periodic
 * checks, where it also sees a cancel and its deadline, so that its thread
 * uses at most that share of one CPU however many there are; 0 (or 1000
 * and above) lifts it. Safe from any thread, like cis_instance_cancel;
 * it takes effect at the call's next check and lasts until lifted. A
 * call's first 0.2 ms of CPU time under a quota (from the first check
 * that sees it) runs free: a quota set before calls start slows none that
 * stay that short. Deadline and cancel win: a pause never outlasts the call's deadline
 * (which then ends it with CIS_ETIMEOUT, on time) and sees a cancel
 * within 10 ms. Time inside host functions is not paused. For a server
 * that keeps calls that run long from taking the CPU short calls need
 * (cis serve's pool). */
CIS_EXTERN void cis_instance_quota(cis_instance *inst, unsigned permille);

/* Why a call may wait (cis_instance_on_wait, cis_invoke_options.on_wait). */
typedef enum cis_wait {
  CIS_WAIT_LOAD,   /* a skill's load: the registry, its module */
  CIS_WAIT_STORE,  /* its KV store or its filesystems: opening, locking, mounting */
  CIS_WAIT_HOST,   /* a host function about to wait: the network, a sleep, a database filesystem */
  CIS_WAIT_LONG,   /* its guest has run the time given */
} cis_wait;

/* Told, on the thread running a call of inst, before the call may wait
 * (a host function asks for the time left: the network, a sleep, a
 * filesystem on a database) or once its guest has run after_us
 * microseconds of wall time, whichever comes first; at most once per
 * top-level call. An event loop that runs short calls on its own thread
 * can move the call elsewhere from here: the callback may switch the
 * call's stack (a coroutine's, see cis_stack_switched) and return on
 * another thread, since cis keeps no per-thread state of the call across
 * it. NULL fn removes it. Not safe against a running call: set it between
 * calls. */
CIS_EXTERN void cis_instance_on_wait(cis_instance *inst, void (*fn)(void *user, cis_wait why), void *user,
                                     uint64_t after_us);

/* An absolute end for the calls of inst, on CLOCK_MONOTONIC in ns: a
 * top-level call ends by then (CIS_ETIMEOUT), or sooner by its own
 * limits.timeout_ms. For a caller whose call waited before it ran (for a
 * lock, a connection): the time waited counts against the call's budget.
 * 0 removes it. Set it between calls. */
CIS_EXTERN void cis_instance_set_deadline(cis_instance *inst, uint64_t monotonic_ns);

/* Tells cis that the calling thread now runs on the stack [base, base +
 * size) (a coroutine's or a fiber's), so that a top-level call started on
 * it may use that much native stack for nested calls; (NULL, 0) says it is
 * back on its own. Without it a call on a stack that is not the thread's
 * own gets a fixed 64 KiB budget. Per thread. */
CIS_EXTERN void cis_stack_switched(const void *base, size_t size);

/* Fuel left after the last call (meaningful when limits.fuel != 0). */
CIS_EXTERN uint64_t cis_instance_fuel_left(const cis_instance *inst);

/* Exit code set by a host function that returned CIS_EEXIT (WASI
 * proc_exit); the host function sets it with cis_instance_set_exit_code. */
CIS_EXTERN int cis_instance_exit_code(const cis_instance *inst);
CIS_EXTERN void cis_instance_set_exit_code(cis_instance *inst, int code);

/* --------------------------------------------- bounds-checked guest memory */

/* Pointer to [off, off+len) of the instance's memory 0, or NULL when the
 * range is not entirely inside it (or there is no memory). Re-fetch after
 * anything that can grow memory. */
CIS_EXTERN void *cis_instance_mem(cis_instance *inst, uint64_t off, uint64_t len);
/* Copies between host and guest memory 0; CIS_TRAP_MEM_OOB when outside. */
CIS_EXTERN cis_result cis_instance_mem_read(cis_instance *inst, uint64_t off, void *dst,
                                            uint64_t len);
CIS_EXTERN cis_result cis_instance_mem_write(cis_instance *inst, uint64_t off, const void *src,
                                             uint64_t len);

#ifdef __cplusplus
}
#endif
#endif /* CIS_CIS_H */
