/*
 * This file declares what the runtime's own files share and nobody else
 * needs: the private extensions of the objects in runtime.h, a small hash
 * index, the name formatting used in link errors, and the helpers that
 * create and release instance-owned objects.
 *
 * Private state rides in structs that embed the shared struct first (as a
 * SQLite backend embeds sqlite3_file), so engines keep reading runtime.h's
 * view while the runtime keeps its bookkeeping to itself. Only objects the
 * runtime allocates one by one are extended this way; a module's defined
 * functions stay a plain cis_func array because engines index it.
 */
#ifndef CIS_RUNTIME_RT_INTERNAL_H
#define CIS_RUNTIME_RT_INTERNAL_H

#include "runtime/runtime.h"

/* ------------------------------------------------------------ hash index */

/* An open-addressing index from a 64-bit key hash to an entry number of an
 * array the caller owns. Slots keep the hash, so growing needs no callback;
 * lookups compare candidates through the caller's match function. */
typedef struct cis__index_slot {
  uint32_t entry; /* entry number + 1; 0 = empty */
  uint32_t hash;  /* low bits of the key's hash, to skip most compares */
} cis__index_slot;

typedef struct cis__index {
  cis__index_slot *slots; /* cap slots, or NULL while empty */
  uint32_t cap;           /* power of two, or 0 */
  uint32_t count;         /* used slots */
} cis__index;

/* Adds entry under hash; the caller has checked it is not there yet.
 * CIS_ENOMEM when the table cannot grow. */
cis_result cis__index_add(cis__index *ix, uint64_t hash, uint32_t entry);
/* Finds the entry whose key matches: match(ctx, entry) decides. Returns the
 * entry number or UINT32_MAX. */
uint32_t cis__index_find(const cis__index *ix, uint64_t hash,
                         bool (*match)(const void *ctx, uint32_t entry), const void *ctx);
void cis__index_free(cis__index *ix);

/* ---------------------------------------------------------------- engine */

/* A released memory's reservation, kept for the next memory of about the
 * same reach instead of being unmapped and mapped again (objects.c). Its
 * pages were zeroed or dropped with MADV_DONTNEED: they read as zero. */
typedef struct cis__pooled_mem {
  uint8_t *base;              /* start of the reservation */
  uint64_t reserved;          /* bytes reserved */
  uint64_t accessible;        /* bytes left PROT_READ|PROT_WRITE from base */
} cis__pooled_mem;

/* The pools are split in stripes, one per thread as far as there are
 * enough: every instance takes a memory and a value stack and gives them
 * back, and one engine-wide lock and list written by every call kept two
 * threads' warm calls from running in parallel (the line bounced between
 * cores). A thread uses its own stripe and falls back to the others. */
#define CIS__POOL_STRIPES 4
/* Bounds of each stripe: reservations kept, and their address space. */
#define CIS__MEM_POOL_MAX 4
#define CIS__MEM_POOL_MAX_BYTES (16ull << 30)
/* Value stacks (8 MiB by default) a stripe keeps for the next instances:
 * allocating and freeing one per instance cost glibc a trim each time. */
#define CIS__STACK_POOL_MAX 2
/* Initial sizes up to this are zeroed with memset when released, larger
 * ones (and grown pages) dropped with madvise. */
#define CIS__MEM_POOL_ZERO_MAX (256u * 1024u)

typedef struct cis__pool_stripe {
  pthread_mutex_t lock;       /* guards the fields below */
  cis__pooled_mem mem[CIS__MEM_POOL_MAX]; /* released reservations, reusable */
  uint32_t nmem;              /* entries used in mem */
  uint64_t bytes;             /* address space they hold */
  uint64_t reused;            /* memories created from this stripe (tests read the sum) */
  cis_slot *stacks[CIS__STACK_POOL_MAX]; /* released value stacks */
  size_t stack_slots[CIS__STACK_POOL_MAX]; /* their sizes in slots */
  uint32_t nstacks;           /* entries used in stacks */
  CIS__PAD(pad);              /* keeps the next stripe's lock off this one's lines */
} cis__pool_stripe;

typedef struct cis__engine_rt {
  struct cis_engine pub;      /* first: the shared view */
  CIS__PAD(pad);              /* every call reads pub; every instance takes and gives below */
  cis__pool_stripe pools[CIS__POOL_STRIPES];
  pthread_mutex_t pin_lock;   /* guards pinned */
  cis_instance **pinned;      /* freed instances whose functions escaped */
  size_t npinned, cap_pinned; /* entries and allocated entries */
  bool closing;               /* cis_engine_free is running: free, never pin */
  cis__exn *kept_exns;        /* exceptions kept past their call (exn.c), under pin_lock */
  struct cis__gcheap *_Atomic gc; /* GC's objects (gc.c), made on first use */
  CIS__PAD(gc_pad);           /* every top-level call writes below */
  atomic_uint gc_calls;       /* calls and instantiations running (cis__gc_call_begin) */
  atomic_int gc_busy;         /* a collection is deciding or running */
} cis__engine_rt;

/* Keeps a released instance alive until the engine is freed, because its
 * functions still sit in tables or globals it does not own (see
 * instance.c). Returns false if it could not be recorded. */
bool cis__engine_pin(cis_engine *e, cis_instance *inst);

/* Unmaps every reservation the engine's memory pool holds, and frees its
 * pooled value stacks (its close). */
void cis__memory_pool_drain(cis_engine *e);
/* Memories created from the pool so far (tests read it). */
uint64_t cis__memory_pool_reused(cis_engine *e);
/* A value stack of exactly slots slots from e's pool, or NULL. */
cis_slot *cis__stack_take(cis_engine *e, size_t slots);
/* Keeps a released value stack for the next instance, or frees it. */
void cis__stack_give(cis_engine *e, cis_slot *stack, size_t slots);

/* ---------------------------------------------------------------- module */

typedef struct cis__module_rt {
  struct cis_module pub;     /* first: the shared view */
  bool validated;            /* passed cis__module_validate: may be instantiated */
  bool prepared;             /* ops->prepare succeeded: unprepare on free */
  cis_valtype *valtypes;     /* every type's params then results, back to back */
  uint32_t *valtype_off;     /* per type: where its entries start in valtypes */
  cis__index exports;        /* export name -> export number */
} cis__module_rt;

static inline cis__module_rt *cis__mod_rt(const cis_module *m) { return (cis__module_rt *)m; }

/* The cis_valtype view of type index ti of module m: params, then results. */
static inline const cis_valtype *cis__module_valtypes(const cis_module *m, uint32_t ti) {
  const cis__module_rt *r = cis__mod_rt(m);
  return r->valtypes + r->valtype_off[ti];
}

/* Export number of name in m, or UINT32_MAX. */
uint32_t cis__module_find_export(const cis_module *m, const char *name, size_t len);

/* -------------------------------------------------------- memory account */

/* One instance's memory account (the rule is in cis.h, cis_limits): all
 * charges together stay within limit + CIS_MEMORY_SLACK, linear memories
 * alone within limit. It is counted by the instance and by every memory
 * or table charged to it, so a shared object that outlives its instance
 * keeps drawing on the same limit. A lock, because objects of one account
 * may be grown from different threads when instances share them. */
struct cis__account {
  atomic_uint refs;          /* the instance, and each object charged here */
  pthread_mutex_t lock;      /* guards the four fields below */
  uint64_t used;             /* bytes charged: memories, tables, bookkeeping */
  uint64_t mem;              /* of which linear memories */
  uint64_t limit;            /* max_memory_bytes; 0 = none */
  uint64_t peak;             /* the most `used` has been */
};

/* What a charge is for: linear memory, or anything else (tables and the
 * instance's bookkeeping), which may also use the slack. */
enum { CIS__CHARGE_MEMORY = 1, CIS__CHARGE_OTHER = 0 };

/* A new account with one reference, or NULL when out of memory. */
cis__account *cis__account_new(uint64_t limit);
cis__account *cis__account_ref(cis__account *a);
void cis__account_free(cis__account *a);
/* Adds n bytes of the given kind unless that would pass the limit: true
 * when charged. A NULL account (nobody pays) accepts everything. */
bool cis__account_charge(cis__account *a, uint64_t n, int kind);
void cis__account_uncharge(cis__account *a, uint64_t n, int kind);
/* Bytes a charge of that kind could take now (UINT64_MAX without limit). */
uint64_t cis__account_left(cis__account *a, int kind);
uint64_t cis__account_used(cis__account *a);
uint64_t cis__account_peak(cis__account *a);
void cis__account_set_limit(cis__account *a, uint64_t limit);
/* Makes a the payer of a memory or table that has none yet (a standalone
 * object being imported), charging its current size. CIS_OK when the
 * object already had a payer or a could afford it; CIS_EMEMLIMIT (message
 * on msg_handle) when not. */
cis_result cis__memory_adopt(void *msg_handle, cis_memory *m, cis__account *a);
cis_result cis__table_adopt(void *msg_handle, cis_table *t, cis__account *a);

/* ------------------------------------------------- tables, globals, funcs */

/* Tables and globals remember the instance that defined them (not a
 * counted reference), so that whoever imports them can keep that instance
 * alive: a table's elements and a funcref global's value may be that
 * instance's functions. */
typedef struct cis__table_rt {
  struct cis_table pub;     /* first: the shared view */
  cis_instance *owner;      /* defining instance, or NULL when standalone */
  cis_engine *_Atomic gc_engine; /* engine whose heap holds it as a root (gc.c), or NULL */
  size_t gc_slot;           /* its entry there */
} cis__table_rt;

typedef struct cis__global_rt {
  struct cis_global pub;    /* first: the shared view */
  cis_instance *owner;      /* defining instance, or NULL when standalone */
  cis_engine *_Atomic gc_engine; /* engine whose heap holds it as a root (gc.c), or NULL */
  size_t gc_slot;           /* its entry there */
} cis__global_rt;

static inline cis_instance *cis__table_owner(const cis_table *t) {
  return ((const cis__table_rt *)t)->owner;
}
static inline cis_instance *cis__global_owner(const cis_global *g) {
  return ((const cis__global_rt *)g)->owner;
}

/* Host functions carry their cis_valtype view and a label for messages. */
typedef struct cis__host_func {
  struct cis_func pub;      /* first: the shared view; pub.kind == CIS__FUNC_HOST */
  cis_valtype *vtypes;      /* params then results, for cis_func_type */
  char *label;              /* "module.name" of the definition, for messages */
  uint32_t flags;           /* the definition's CIS_HOST_* */
} cis__host_func;

/* Creates a host function with one reference (the caller's); its type is
 * interned in e. Errors, with the message on msg_handle: CIS_EINVAL for a
 * missing callback or a bad signature, CIS_ENOMEM. */
cis_result cis__host_func_new(cis_engine *e, const cis_host_func_def *def, void *msg_handle,
                              cis_func **out);
/* One more reference to a host function; a module's own functions are not
 * counted (their instance owns them) and are returned unchanged. */
cis_func *cis__func_ref(cis_func *f);

/* Parses a signature string ("(ii)I") into types, a new array of nparams
 * then nresults value-type bytes owned by the caller. CIS_EINVAL when the
 * string is malformed, CIS_ENOMEM. */
cis_result cis__sig_parse(const char *sig, cis__functype *out);

/* Create a table, memory or global with one reference, owned by `owner`
 * (NULL for standalone ones) and charged to acct (NULL: nobody pays yet).
 * Errors, with the message on msg_handle: CIS_EINVAL for impossible limits
 * or types, CIS_EMEMLIMIT when the minimum exceeds the cap (max_elems /
 * max_bytes, 0 = default) or what acct has left, CIS_ENOMEM.
 * cis__global_create sets no message and returns CIS_EUNSUPPORTED for a
 * type a slot cannot hold (v128). */
cis_result cis__table_create(void *msg_handle, uint8_t elem, const cis__limits *lim,
                             uint64_t max_elems, cis_instance *owner, cis__account *acct,
                             cis_table **out);
/* A memory given a pool engine takes a pooled reservation when one fits
 * and returns its reservation there when freed (NULL: its own mapping). */
cis_result cis__memory_create(void *msg_handle, const cis__limits *lim, uint64_t max_bytes,
                              cis__account *acct, cis_engine *pool, cis_memory **out);
cis_result cis__global_create(uint8_t type, bool mutable_, cis_slot val, cis_instance *owner,
                              cis_global **out);
/* Maps img over its range of new memory m, copy-on-write, in place of
 * the zero pages there, and records it (a release then maps zero pages
 * over it again). 1 when mapped; 0 when not (a range outside m, or the
 * mapping failed): m still reads as zero; -1 when m lost those pages
 * (the memory is unusable: free it). */
int cis__memory_map_image(cis_memory *m, const cis__mem_image *img);
/* Take one more reference each. */
cis_memory *cis__memory_ref(cis_memory *m);
cis_table *cis__table_ref(cis_table *t);
cis_global *cis__global_ref(cis_global *g);
/* Forgets the owner of an object whose owner is being freed. */
void cis__table_disown(cis_table *t);
void cis__global_disown(cis_global *g);

/* Pages a byte cap allows (0 = no cap beyond wasm32's 65536). */
uint32_t cis__cap_pages(uint64_t max_bytes);
/* Elements a table cap allows (0 = the default of 10,000,000). */
uint32_t cis__cap_elems(uint64_t max_elems);
/* Applies a new byte cap to a memory's later growth. */
void cis__memory_set_cap(cis_memory *m, uint64_t max_bytes);
void cis__table_set_cap(cis_table *t, uint64_t max_elems);

/* ------------------------------------------------------------- imports */

/* Resolves (module, name) in im: direct entries first, then the exports
 * of instances registered under that module name (the latest first). On
 * success fills *out. CIS_ENOTFOUND when absent. */
cis_result cis__imports_find(const cis_imports *im, const char *mod, size_t mod_len,
                             const char *name, size_t name_len, cis_extern *out);

/* ------------------------------------------------------------ instance */

/* cis_instance_export without a message on inst: CIS_ENOTFOUND. */
cis_result cis__instance_export(const cis_instance *inst, const char *name, size_t len,
                                cis_extern *out);

/* Frees an instance whose count reached zero and drops what it holds.
 * cis_instance_free decides first whether to pin it instead (instance.c);
 * the engine's close destroys the pinned ones. */
void cis__instance_destroy(cis_instance *inst);

/* ------------------------------------------------------------ messages */

/* Writes a name as a quoted, escaped string ("env"."f\00") into buf. */
void cis__fmt_name(char *buf, size_t n, const char *s, size_t len);

/* Runs f as a call from inside the runtime (the start function): nested
 * under the thread's running call if there is one, else top-level under
 * inst's limits. Message on inst. */
cis_result cis__call_internal(cis_instance *inst, cis_func *f, cis_slot *args_results);

#endif /* CIS_RUNTIME_RT_INTERNAL_H */
