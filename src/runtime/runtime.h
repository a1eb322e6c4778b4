/*
 * This file defines the runtime's objects (engine, module handle, memory,
 * table, global, function, instance) and the engine ops table that an
 * execution engine (src/interp/, later src/aot/) implements.
 *
 * Who uses it: src/runtime/ implements everything here except the engine
 * ops; engines read these structs directly on their fast paths. Nothing in
 * here knows about skills, KV, AI, HTTP or WASI.
 *
 * Execution model: one top-level call (cis_func_call) creates a cis__exec
 * that carries the call's deadline, fuel, cancel flag, depth counter and
 * value stack. Every wasm or host function reached from that call, in any
 * instance, runs under that same cis__exec.
 */
#ifndef CIS_RUNTIME_RUNTIME_H
#define CIS_RUNTIME_RUNTIME_H

#include <stdatomic.h>
#include <pthread.h>
#include <string.h>

#include "common/internal.h"
#include "wasm/module.h"

#define CIS__PAGE_SIZE 65536u

typedef struct cis__exec cis__exec;
typedef struct cis__account cis__account; /* an instance's memory account (rt_internal.h) */

/* ------------------------------------------------------------ engine ops */

/* What tells a module file's contents unchanged without reading them, as
 * make and git do (cis_module_new_file): a write changes the change time,
 * which no one but the system can set back. */
typedef struct cis__file_id {
  uint64_t dev, ino, size;
  int64_t mtime_s, mtime_ns, ctime_s, ctime_ns;
} cis__file_id;
struct stat;
void cis__file_id_of(const struct stat *st, cis__file_id *id);

/* An execution engine. Instance, memory, linker and host code never ask
 * which engine is running; they go through this table. */
typedef struct cis__engine_ops {
  const char *name; /* "interp", "aot" */
  /* Translate or compile every function body of mod once, after
   * validation; store the result in mod->engine_data. May set a message on
   * mod's handle. */
  cis_result (*prepare)(cis_module *mod);
  /* Free mod->engine_data. */
  void (*unprepare)(cis_module *mod);
  /* Run wasm function f (f->kind == CIS__FUNC_WASM) under ex. args_results
   * holds the parameters on entry and receives the results (slots, as many
   * as max(nparams, nresults)). Returns CIS_OK, a trap or a limit code, with
   * the message set on ex->top (the top-level instance). */
  cis_result (*call)(cis__exec *ex, cis_func *f, cis_slot *args_results);
  /* Optional, before validation: prepare mod from code the engine made
   * earlier from these very bytes (compared in full), which were valid
   * then. CIS_OK: mod is prepared and validation is skipped; CIS_ENOTFOUND
   * (or any error): validation and prepare follow as usual. */
  cis_result (*prepare_known)(cis_module *mod);
  /* Optional, before decoding (then prepare_known): bytes equal to the
   * len bytes given (compared in full), for a module of the given standard
   * (CIS__STD_*), that nothing changes while they are
   * held, for the module to decode in place of a copy of its own: CIS_OK
   * with *held and one hold in *owner, dropped by release_bytes(owner);
   * anything else: the bytes are copied as usual. */
  cis_result (*known_bytes)(const uint8_t *bytes, size_t len, int standard, const uint8_t **held,
                            void **owner);
  void (*release_bytes)(void *owner);
  /* Optional, for cis_module_new_file before it reads the file: the held
   * bytes (as known_bytes gives them) of a file recognised by its
   * identity, which remember_file recorded after a load that compared its
   * bytes in full; CIS_ENOTFOUND (or any error): the file is read. */
  cis_result (*known_file)(const cis__file_id *id, int standard, const uint8_t **held,
                           void **owner);
  /* Optional, after cis_module_new_file decoded a file's module from the
   * held bytes of owner (known_bytes, which compared them in full): that
   * the file of identity id holds those bytes, for known_file. */
  void (*remember_file)(const cis__file_id *id, int standard, void *owner);
  /* Optional, at each instantiation of mod when its memory 0 is its own
   * and its segments make an image (cis__data_image_plan): a file holding
   * that image, checked equal to what the segments write, which the new
   * memory maps copy-on-write instead of copying them
   * (cis__memory_map_image); NULL: the segments are copied. The image
   * lives as long as mod. */
  const struct cis__mem_image *(*mem_image)(cis_module *mod);
} cis__engine_ops;

/* The engine registry. Engines register their ops table here; the runtime
 * never names one, so it links without any engine (no cycle between the
 * runtime and the engines' libraries). The library glue (src/core/core.c),
 * which sits above both, registers the built-in engines before the first
 * engine is created. */
#define CIS__MAX_ENGINES 8

/* Adds ops under ops->name. Registering the same table again is a no-op.
 * Thread safe. Errors: CIS_EINVAL (NULL ops, name or call), CIS_EEXIST
 * (another table has that name), CIS_ETOOBIG (CIS__MAX_ENGINES reached). */
cis_result cis__engine_register(const cis__engine_ops *ops);

/* The ops registered under name; NULL name means the first registered (the
 * default). NULL when there is none. */
const cis__engine_ops *cis__engine_find(const char *name);

/* Creates an engine running the registered engine cfg->engine. cfg is not
 * NULL. Errors: CIS_EUNSUPPORTED (no such engine), CIS_ENOMEM. */
cis_result cis__engine_create(const cis_engine_config *cfg, cis_engine **out);

/* ---------------------------------------------------------------- engine */

struct cis_engine {
  cis__handle hdr;              /* errors of module load/instantiate, per thread */
  cis_engine_config cfg;        /* copied at creation */
  const cis__engine_ops *ops;   /* the execution engine in use */
  /* Tiering (src/aot/tier.c): whether a C compiler is there, asked when
   * the first module needs a compile: 0 not yet, 1 yes, -1 no. */
  atomic_int compiler;
};

/* Canonical ids of the types of a recursion group (interned; thread
 * safe): types[first .. first + n) get out[0 .. n). Ids are the
 * process's, not the engine's: a function may be imported, or put in a
 * table, across engines, and every check (import types, call_indirect)
 * compares ids. Two types are equal iff their ids are equal
 * (iso-recursive: equal groups, the same position). A group names the
 * types before it through ids, the canonical ids of the module's types
 * (NULL when it names none). Errors: CIS_ENOMEM, CIS_ETOOBIG. */
cis_result cis__engine_intern_group(const cis__functype *types, uint32_t first, uint32_t n, const uint32_t *ids,
                                    uint32_t *out);
/* The same for a host signature (a function type naming no other). */
cis_result cis__engine_intern_type(cis_engine *e, const cis__functype *t, uint32_t *id);
/* Is canonical type a a declared subtype of b (or b)? call_indirect's
 * slow path and import matching. */
bool cis__canon_id_sub(uint32_t a, uint32_t b);

/* A full value type (module.h) in a form that compares across modules:
 * a type index becomes its canonical id (plus one, in the high 32 bits)
 * through ids, the module's canonical type ids. */
static inline uint64_t cis__vt_canon(const uint32_t *ids, uint32_t vt) {
  if (!cis__vt_has_idx(vt)) return vt;
  return (uint64_t)(ids[cis__vt_idx(vt)] + 1ull) << 32 | (vt & ((1u << CIS__VT_IDX_SHIFT) - 1));
}

/* Is a <: b, for two canonical value types (module.h's subtyping over
 * canonical ids)? */
bool cis__vt_canon_sub(uint64_t a, uint64_t b);

/* ---------------------------------------------------------------- module */

struct cis_module {
  cis__handle hdr;          /* message of failures inside the engine's prepare */
  cis_engine *engine;       /* creator */
  cis__module *m;           /* decoded, validated module */
  uint32_t *type_ids;       /* canonical id of each m->types[i] */
  void *engine_data;        /* the engine's translated code (ops->prepare) */
  void *tier_data;          /* a tiering engine's own state (src/aot/tier.c), or NULL */
  uint64_t load_deadline;   /* prepare ends by then (cis_module_new_until; monotonic ns), 0 none */
  CIS__PAD(pad);            /* every call reads the above; every instance writes refs */
  atomic_uint refs;         /* reference count */
};

/* ---------------------------------------------------------------- objects */

struct cis_memory {
  atomic_uint refs;          /* reference count */
  uint8_t *base;             /* start of the reservation; never moves */
  uint64_t size;             /* current size in bytes (pages * 64 KiB) */
  uint64_t reserved;         /* bytes reserved (mapped PROT_NONE past size) */
  uint64_t max_pages;        /* effective maximum: type's max capped by the limit */
  bool has_max;              /* the type declared a maximum */
  bool is64;                 /* 64-bit address type (memory64): i64 addresses */
  uint64_t type_max;         /* declared maximum (for import matching) */
  cis__account *_Atomic acct; /* account charged for size; NULL until one pays */
  cis_engine *pool;          /* engine whose pool takes the reservation back, or NULL */
  uint64_t init_size;        /* size at creation: left accessible when pooled */
  uint64_t img_start;        /* where the pages mapped from an image start */
  uint64_t img_len;          /* their length; 0: none (cis__memory_map_image) */
};

/* Memory 0's initial contents in a file (an image: the active data
 * segments at their offsets, zeros elsewhere), from the engine (ops
 * mem_image). */
typedef struct cis__mem_image {
  int fd;                    /* the file, open for reading: the image from its offset 0 */
  uint64_t start;            /* the memory offset it starts at (a multiple of 64 KiB) */
  uint64_t len;              /* its length (a multiple of 64 KiB) */
} cis__mem_image;

struct cis_table {
  atomic_uint refs;          /* reference count */
  uint8_t elem;              /* CIS__FUNCREF or CIS__EXTERNREF */
  uint64_t ctype;            /* element type in full, canonical (cis__vt_canon) */
  uint32_t size;             /* current number of elements */
  uint64_t max;              /* declared maximum, when has_max */
  bool has_max;              /* the type declared a maximum */
  bool is64;                 /* 64-bit index type (table64): i64 indices */
  uint32_t limit;            /* effective cap on growth */
  uint32_t capacity;         /* allocated elements */
  void **elems;              /* cis_func* or externref; NULL is null */
  cis__account *_Atomic acct; /* account charged for capacity; NULL until one pays */
};

struct cis_global {
  atomic_uint refs;          /* reference count */
  uint8_t type;              /* value type */
  uint64_t ctype;            /* value type in full, canonical (cis__vt_canon) */
  bool mutable_;             /* mut flag */
  union {
    cis_slot val;            /* current value (a number or a reference) */
    uint8_t v128[16];        /* a v128's value: its 16 bytes, lane 0 first */
  };
};

/* An exception tag (exn.c): the same object wherever it is imported. */
struct cis_tag {
  atomic_uint refs;          /* instances holding it, exceptions carrying it */
  uint32_t type_id;          /* canonical id of its function type */
  uint32_t nslots;           /* slots its values take (a v128 takes two) */
};

/* An exception (exn.c), what an exnref slot points to. Its values sit in
 * slots as a call's arguments do (a v128 in two). */
typedef struct cis__exn {
  struct cis__exn *prev, *next; /* in its call's list, or the engine's */
  cis_tag *tag;              /* counted */
  cis__account *acct;        /* charged for it, counted */
  uint32_t nslots;           /* = tag->nslots */
  bool fresh;                /* no code ever saw it as a value */
  cis_slot vals[];           /* the tag's values */
} cis__exn;

enum { CIS__FUNC_WASM = 0, CIS__FUNC_HOST = 1 };

struct cis_func {
  uint8_t kind;              /* CIS__FUNC_WASM or CIS__FUNC_HOST */
  uint32_t type_id;          /* canonical type id (engine-wide) */
  const cis__functype *type; /* its signature */
  /* wasm functions */
  cis_instance *inst;        /* owning instance (not a counted reference) */
  uint32_t index;            /* function index in inst's module */
  void *code;                /* engine's translated code for it, or NULL */
  /* host functions */
  cis_host_fn fn;            /* callback */
  void *user;                /* its user data */
  cis__functype own_type;    /* storage for a host function's signature */
  uint32_t nparam_slots;     /* slots its parameters take (a v128 takes two) */
  uint32_t nresult_slots;    /* slots its results take */
  bool ref_params;           /* a parameter is a reference: a host call pins it */
  bool host_short;           /* a host call of it takes the short path: no reference
                                parameter, at most 4 parameter slots and 1 result slot */
  CIS__PAD(pad);             /* every host call reads the above; every instance linking it writes refs */
  atomic_uint refs;          /* standalone host functions only */
};

/* Slots that n values of the given types take: one each, two for a v128. */
static inline uint32_t cis__type_slots(const uint8_t *types, uint32_t n) {
  uint32_t s = n;
  for (uint32_t i = 0; i < n; i++) s += types[i] == CIS__V128;
  return s;
}

/* Sets f's slot counts from f->type. */
static inline void cis__func_set_slots(cis_func *f) {
  f->nparam_slots = cis__type_slots(f->type->types, f->type->nparams);
  f->nresult_slots = cis__type_slots(f->type->types + f->type->nparams, f->type->nresults);
  f->ref_params = false;
  for (uint32_t i = 0; i < f->type->nparams; i++) f->ref_params |= cis__vt_is_ref(f->type->types[i]);
  f->host_short = !f->ref_params && f->nparam_slots <= 4 && f->nresult_slots <= 1;
}

/* -------------------------------------------------------------- instance */

struct cis_instance {
  cis__handle hdr;           /* message of the last failed call */
  atomic_uint refs;          /* reference count */
  cis_module *module;        /* counted reference, unless borrows */
  const cis__module *m;      /* module->m, for the fast paths */
  bool borrows;              /* cis_instance_new_borrowing: module and imported
                                functions are the caller's, not counted */
  cis_engine *engine;        /* module's engine */
  bool gc_frames;            /* its frames may hold GC objects (its module has a
                                reference type beyond funcref, GC's or
                                exceptions' types): its calls hold the engine's
                                collector (cis__gc_call_begin) */

  cis_func **funcs;          /* nfuncs: imports (counted unless borrows) then own_funcs */
  cis_func *own_funcs;       /* the module's defined functions */
  cis_memory **memories;     /* counted references */
  cis_table **tables;        /* counted references */
  cis_global **globals;      /* counted references */
  cis_tag **tags;            /* counted references: imports, then its own */
  uint8_t *elem_dropped;     /* per element segment: dropped (elem.drop or active) */
  cis_table **elem_vals;     /* per element segment: a passive one's items of any's or
                                extern's hierarchy, evaluated once (gc.c), or NULL */
  uint8_t *data_dropped;     /* per data segment: dropped */

  cis_instance **deps;       /* instances we import from (counted) */
  uint32_t ndeps;

  cis_limits limits;         /* applied to each top-level call */
  cis__account *acct;        /* memory account (counted reference) */
  uint64_t footprint;        /* bookkeeping bytes charged to acct at creation */
  cis_instance *next_free;   /* link in cis_instance_free's list of instances to destroy */
  atomic_int cancel;         /* set by cis_instance_cancel from any thread */
  _Atomic(atomic_int *) cancel_too; /* also set by cis_instance_cancel: the skill call's flag
                                       (cis__callctx_link_instance), or NULL */
  atomic_uint cancel_users;  /* cancels between their read of cancel_too and their write */
  const int *cancel_ext;     /* the skill call's caller's flag (cis_invoke_options.cancel), read at
                                each clock check of its calls; set and read on the calling thread */
  atomic_uint quota;         /* CPU share in per mille its calls may use, 0 none (cis_instance_quota, any thread) */
  void (*on_wait)(void *, cis_wait); /* told before its call may wait (cis_instance_on_wait) */
  void *on_wait_user;
  uint64_t deadline_abs;     /* calls end by then (CLOCK_MONOTONIC ns, cis_instance_set_deadline); 0 none */
  uint64_t wait_after_ns;    /* or once its guest ran this long */
  uint64_t fuel_left;        /* after the last call */
  int exit_code;             /* set with CIS_EEXIT */
  void *user;                /* embedder data */

  cis_slot *stack;           /* value stack, allocated on first call */
  size_t stack_slots;        /* its size in slots */
  cis__exec *active;         /* the running call, for re-entry from host calls */
};

/* ------------------------------------------------------------ execution */

/* How many fuel units run between two checks of the clock and the cancel
 * flag: bounds the latency of a deadline or cancel. */
#define CIS__TICK_QUANTUM 20000

/* One entry of an engine into a call's value stack (the interpreter's
 * run of frames), which a collection inside the call walks for the
 * references its frames hold (gc.h). Entries nest as the call does: wasm
 * -> host -> wasm makes two, the inner one's prev the outer one. */
typedef struct cis__gcmark cis__gcmark;
typedef struct cis__frames {
  struct cis__frames *prev;  /* the entry this one runs under, or NULL */
  /* Marks (cis__gc_mark) what its frames hold where they stopped; false
   * when a frame has no stack map there (then nothing may be freed). */
  bool (*roots)(const struct cis__frames *fr, cis__gcmark *m);
} cis__frames;

/* A compiled function's frame of references (src/aot/aot_rt.h's
 * cis_aot_roots, the same layout): slots s[0 .. n) on its C stack, marked
 * by a collection inside the call (gc.c). */
typedef struct cis__roots {
  struct cis__roots *prev;   /* the frame of a caller, or NULL */
  uint64_t n;                /* slots */
  void *s[];
} cis__roots;

struct cis__exec {
  cis_instance *top;         /* instance of the top-level call: its limits,
                                cancel flag and value stack apply */
  uint64_t deadline_ns;      /* absolute, cis__now_ns clock; UINT64_MAX none */
  uint64_t fuel;             /* remaining budget; UINT64_MAX unlimited */
  int64_t ticks;             /* units left before the next slow check */
  uint32_t depth;            /* current wasm call depth */
  uint32_t max_depth;        /* top->limits.max_call_depth */
  cis_slot *stack;           /* value stack base; NULL until an engine needs one
                                (cis__exec_value_stack) */
  cis_slot *stack_end;       /* one past its end */
  cis_slot *sp;              /* first free slot (for re-entrant calls) */
  cis__frames *frames;       /* the innermost entry whose frames a collection
                                walks, or NULL */
  cis__exn *exn;             /* the exception in flight, while a call returns CIS_EXCEPTION */
  cis__exn *exns;            /* every exception the call made and has not freed (exn.c) */
  bool exn_kept;             /* an exnref went where it outlives the call */
  const cis_slot *gc_args;   /* the operands of the GC instruction that allocates (cis__gc_op): */
  uint32_t gc_nargs;         /* roots while it does, in slots */
  cis__roots *roots;         /* the innermost compiled frame of references, or NULL */
};

/* ------------------------------------------------------- exceptions (exn.c)
 *
 * Throwing: make the exception with cis__exn_new, fill its values, set
 * ex->exn and unwind; a frame that cannot catch it returns CIS_EXCEPTION
 * to its caller, which goes on unwinding (host functions may return it
 * too, or another error instead). A catch that takes the values only
 * calls cis__exn_caught(ex, e, false), one that takes the exnref
 * cis__exn_caught(ex, e, true). */

/* A new tag of a function type (its params are the values) with one
 * reference. CIS_ENOMEM. */
cis_result cis__tag_create(uint32_t type_id, const cis__functype *type, cis_tag **out);
cis_tag *cis__tag_ref(cis_tag *t);
void cis__tag_free(cis_tag *t);
/* A new exception of tag under the call ex, its values unset, listed on
 * ex and charged to the account of ex's instance. Errors (message on
 * ex->top): CIS_EMEMLIMIT, CIS_ENOMEM. */
cis_result cis__exn_new(cis__exec *ex, cis_tag *tag, cis__exn **out);
/* e was caught. as_value: the code now holds it as an exnref; else only
 * its values were taken, and an exception no code ever held is freed. */
void cis__exn_caught(cis__exec *ex, cis__exn *e, bool as_value);
/* An exnref is written where it may outlive the call (a global, a table
 * element, a result of the top-level call): the call's exceptions are
 * kept until the engine is freed. */
static inline void cis__exn_keep(cis__exec *ex, const void *ref) {
  if (ref) ex->exn_kept = true;
}
/* The end of top-level call ex: frees its exceptions, or hands them to
 * the engine when one was kept. */
void cis__exn_call_end(cis__exec *ex);
/* Frees a list of exceptions (the engine's kept ones). */
void cis__exn_free_list(cis__exn *list);

/* Gives the call ex its value stack, the top instance's, when an engine
 * that keeps its frames there (the interpreter) is entered and ex has
 * none yet: a call that runs only compiled code and host functions makes
 * none (an 8 MB allocation and its release were ~0.7% of a cached start
 * of the compiled engine). Errors: CIS_ENOMEM (message on ex->top). */
cis_result cis__exec_value_stack(cis__exec *ex);

/* The slow path behind the engines' tick counter: charges the units used
 * since the last check to the fuel, then checks cancel and the deadline.
 * Returns CIS_OK (and refills ex->ticks), CIS_EFUEL, CIS_ECANCELED or
 * CIS_ETIMEOUT. */
cis_result cis__exec_check(cis__exec *ex);

/* How many times calls of this process paused under their CPU quota
 * (cis_instance_quota), so far: for tests, which cannot tell a pause from
 * the thread's other sleeps (a lock, a page fault's wait) by its context
 * switches. */
uint64_t cis__exec_quota_pauses(void);

/* Native stack addresses below this trap (CIS_TRAP_STACK) in the call
 * ex: for engines whose code recurses on the native stack (src/aot/);
 * 0 when there is no limit. */
uintptr_t cis__exec_cstack_limit(const cis__exec *ex);

/* Calls any function (wasm in any instance, or host) from an engine. The
 * caller is the instance whose code makes the call (host functions see it
 * as cis_call_instance). Same slot convention as ops->call. */
cis_result cis__exec_call(cis__exec *ex, cis_instance *caller, cis_func *f,
                          cis_slot *args_results);

/* Writes "function 3 (name)" for a wasm function (the name from the name
 * section, when there is one) or "host function env.f" into buf: the
 * wording trap messages use, e.g. "out of bounds memory access in
 * function 3 (name)". */
void cis__fmt_func(char *buf, size_t n, const cis_func *f);

/* memory.grow under the memory's cap and the account that pays for it:
 * returns old pages or -1. */
int64_t cis__memory_grow(cis_memory *mem, uint64_t delta_pages);
/* table.grow under the table's cap and its account: returns old size or -1. */
int64_t cis__table_grow(cis_table *t, uint64_t delta, void *init);

/* ------------------------------------------ semantics both engines share
 *
 * Constant expressions, element items and the bulk instructions, once
 * (segments.c; the cheap ones inline here): the engines call these
 * instead of keeping their own copies. The bulk ones take validated
 * indices and return CIS_OK or the trap code, setting no message (the
 * engine names the function that trapped); a trap writes nothing.
 * Addresses, indices and lengths are 64-bit (memory64, table64: a 32-bit
 * memory's or table's zero-extended), checked without wrapping. */

/* Whether [at, at + n) lies inside size units. */
static inline bool cis__in_bounds(uint64_t at, uint64_t n, uint64_t size) {
  return at <= size && n <= size - at;
}

/* The value of validated constant expression x in inst (not v128). */
cis_slot cis__const_value(const cis_instance *inst, const cis__expr *x);
/* The value of validated v128 constant expression x in inst. */
void cis__const_v128(const cis_instance *inst, const cis__expr *x, uint8_t out[16]);
/* Item k of element segment s as a table element of inst. */
void *cis__elem_item(const cis_instance *inst, const cis__elem *s, uint32_t k);
/* table.init seg of table ti: n items from s to d. */
cis_result cis__table_init(cis_instance *inst, uint32_t seg, uint32_t ti, uint64_t d, uint64_t s,
                           uint64_t n);
/* table.copy: n elements of table st from s to table dt at d (may overlap). */
cis_result cis__table_copy(cis_instance *inst, uint32_t dt, uint32_t st, uint64_t d, uint64_t s,
                           uint64_t n);
/* memory.init seg of memory mi: n bytes from s to d. */
cis_result cis__memory_init(cis_instance *inst, uint32_t seg, uint32_t mi, uint64_t d, uint64_t s,
                            uint64_t n);

/* Memory 0's initial contents as one image, which instantiation may map
 * from a file instead of copying the segments (ops mem_image): the range
 * of the memory it covers, rounded out to 64 KiB pages, and the bytes of
 * data in it. */
typedef struct cis__data_image {
  uint64_t start;            /* first byte (a multiple of 64 KiB) */
  uint64_t len;              /* bytes (a multiple of 64 KiB) */
  uint64_t data;             /* bytes of the segments in it */
} cis__data_image;
/* Segment data below which an image is not worth a mapping (a copy of a
 * few pages costs less than mapping them and dropping them again). */
#define CIS__DATA_IMAGE_MIN (1u << 20)
/* Whether m's memory 0 starts as an image (*out): the memory is m's own,
 * every active segment of it has a constant offset (no global.get), lies
 * inside the memory's initial size and after the one before it (in
 * order, no overlap: what every linker writes), they hold at least
 * min_data bytes, and the image is not mostly zeros (at most twice their
 * size plus a page). Otherwise the segments are copied. */
bool cis__data_image_plan(const cis__module *m, uint64_t min_data, cis__data_image *out);
/* The active segment of memory 0 at or after *i: its index in *i and
 * its offset in *off; false when there is none. For a module with a
 * plan (its offsets are constant). */
bool cis__data_image_next(const cis__module *m, uint32_t *i, uint32_t *off);
/* Whether img, plan->len bytes, holds exactly m's segments at their
 * offsets (less plan->start) and zeros elsewhere. */
bool cis__data_image_equal(const cis__module *m, const cis__data_image *plan, const uint8_t *img);

/* table.get and table.set of element i of t. */
static inline cis_result cis__table_get(const cis_table *t, uint64_t i, void **out) {
  if (i >= t->size) return CIS_TRAP_TABLE_OOB;
  *out = t->elems[i];
  return CIS_OK;
}
static inline cis_result cis__table_set(cis_table *t, uint64_t i, void *v) {
  if (i >= t->size) return CIS_TRAP_TABLE_OOB;
  t->elems[i] = v;
  return CIS_OK;
}
/* elem.drop and data.drop of segment seg: what the segment held is gone
 * for table.init and memory.init (which then see it as empty). */
static inline void cis__elem_drop(cis_instance *inst, uint32_t seg) { inst->elem_dropped[seg] = 1; }
static inline void cis__data_drop(cis_instance *inst, uint32_t seg) { inst->data_dropped[seg] = 1; }
/* table.fill: n elements of t from i with v. */
static inline cis_result cis__table_fill(cis_table *t, uint64_t i, void *v, uint64_t n) {
  if (!cis__in_bounds(i, n, t->size)) return CIS_TRAP_TABLE_OOB;
  for (uint64_t k = 0; k < n; k++) t->elems[i + k] = v;
  return CIS_OK;
}
/* memory.copy: n bytes from s in memory sm to d in memory dm (the same
 * memory or two: multi-memory; the ranges may overlap). */
static inline cis_result cis__memory_copy(cis_memory *dm, const cis_memory *sm, uint64_t d, uint64_t s,
                                          uint64_t n) {
  if (!cis__in_bounds(d, n, dm->size) || !cis__in_bounds(s, n, sm->size)) return CIS_TRAP_MEM_OOB;
  if (n) memmove(dm->base + d, sm->base + s, n);
  return CIS_OK;
}
/* memory.fill: n bytes of mem from d with v. */
static inline cis_result cis__memory_fill(cis_memory *mem, uint64_t d, uint8_t v, uint64_t n) {
  if (!cis__in_bounds(d, n, mem->size)) return CIS_TRAP_MEM_OOB;
  if (n) memset(mem->base + d, v, n);
  return CIS_OK;
}

/* ------------------------------------------------------ module files */

/* The largest module file cis_module_new_file reads. */
#define CIS__MODULE_FILE_MAX (1ull << 30)

/* How a module file in the text format is told and loaded: the text
 * compiler's (src/wat), above the runtime. */
typedef struct cis__module_text_loader {
  bool (*is_text)(const uint8_t *bytes, size_t len);
  cis_result (*load)(cis_engine *e, const char *text, size_t len, cis_module **out);
} cis__module_text_loader;

/* cis_module_new_file's work: the file at path, recognised by its
 * identity when the engine knows it (known_file), else read (mapped when
 * only its owner may write it) and loaded as binary, or through text when
 * it is text. Errors as cis_module_new's, and CIS_ENOTFOUND, CIS_EIO,
 * CIS_EINVAL (not a regular file), CIS_ETOOBIG for the file itself. */
cis_result cis__module_load_file(cis_engine *e, const char *path, uint64_t deadline_ns,
                                 const cis__module_text_loader *text, cis_module **out);
/* Tests: the whole seconds a file must have been left unchanged for the
 * engine to record it (remember_file); 0: at once. */
void cis__module_test_settle_s(int s);

#endif /* CIS_RUNTIME_RUNTIME_H */
