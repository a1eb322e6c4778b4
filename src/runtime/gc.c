/*
 * This file implements GC's objects at run time (gc.h): the layouts of
 * struct and array types, the engine's heap of objects, the casts' test,
 * and GC's instructions, once for every engine (the interpreter calls
 * cis__gc_op from one handler) and for constant expressions.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/gc.h"
#include "runtime/rt_internal.h"
#include "wasm/opcodes.h"

/* ---------------------------------------------------------------- layouts */

/* The process's layouts by canonical id: a hash table, as the canonical
 * types it mirrors, never shrunk. */
static struct {
  pthread_mutex_t lock;
  const cis__gclayout **slots; /* open addressing by type id; NULL free */
  uint32_t cap, n;
} layouts = {.lock = PTHREAD_MUTEX_INITIALIZER};

static uint32_t hash32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  return x;
}

static bool layouts_put(const cis__gclayout *l) {
  if (2 * (layouts.n + 1) > layouts.cap) {
    uint32_t cap = layouts.cap ? 2 * layouts.cap : 64;
    const cis__gclayout **s = calloc(cap, sizeof *s);
    if (!s) return false;
    for (uint32_t i = 0; i < layouts.cap; i++)
      if (layouts.slots[i]) {
        uint32_t k = hash32(layouts.slots[i]->type_id) & (cap - 1);
        while (s[k]) k = (k + 1) & (cap - 1);
        s[k] = layouts.slots[i];
      }
    free(layouts.slots);
    layouts.slots = s;
    layouts.cap = cap;
  }
  uint32_t k = hash32(l->type_id) & (layouts.cap - 1);
  while (layouts.slots[k]) k = (k + 1) & (layouts.cap - 1);
  layouts.slots[k] = l;
  layouts.n++;
  return true;
}

/* Bytes a field of storage type st takes. */
static uint8_t st_bytes(uint8_t st) {
  switch (st) {
  case CIS__I8: return 1;
  case CIS__I16: return 2;
  case CIS__I32: case CIS__F32: return 4;
  case CIS__V128: return 16;
  default: return 8; /* i64, f64, every reference */
  }
}

const cis__gclayout *cis__gc_layout(const cis_module *mod, uint32_t x) {
  const cis__functype *t = &mod->m->types[x];
  uint32_t id = mod->type_ids[x];
  const cis__gclayout *found = NULL;
  pthread_mutex_lock(&layouts.lock);
  for (uint32_t k = layouts.cap ? hash32(id) & (layouts.cap - 1) : 0; layouts.cap && layouts.slots[k];
       k = (k + 1) & (layouts.cap - 1))
    if (layouts.slots[k]->type_id == id) {
      found = layouts.slots[k];
      break;
    }
  if (!found) {
    cis__gclayout *l = malloc(sizeof *l + (size_t)t->nparams * sizeof l->fields[0]);
    if (l) {
      l->type_id = id;
      l->comp = t->comp;
      l->nfields = t->nparams;
      uint32_t off = 0;
      for (uint32_t i = 0; i < t->nparams; i++) {
        uint8_t st = t->vts ? (uint8_t)t->vts[i] : t->types[i];
        uint8_t b = st_bytes(st);
        uint8_t al = b > 8 ? 8 : b;
        off = (off + al - 1) & ~(uint32_t)(al - 1);
        l->fields[i] = (struct cis__gcfield){.off = off, .st = st, .bytes = b};
        off += b;
      }
      l->size = t->comp == CIS__COMP_ARRAY ? l->fields[0].bytes : off;
      if (!layouts_put(l)) {
        free(l);
        l = NULL;
      }
      found = l;
    }
  }
  pthread_mutex_unlock(&layouts.lock);
  return found;
}

/* ------------------------------------------------------------------- heap */

/* A root container: a global or table (not counted: it leaves the
 * registry when it is freed, cis__gc_forget). */
typedef struct gcroot {
  bool table;                /* a table, else a global */
  void *p;                   /* cis_table * or cis_global * */
} gcroot;

/* An engine's heap: every object, and a set of their addresses for
 * cis__gc_is_obj. */
typedef struct cis__gcheap {
  pthread_mutex_t collect;   /* held by a collection from start to end */
  pthread_mutex_t lock;      /* guards everything below */
  cis__gcobj *objs;          /* every object */
  uint64_t count, bytes;     /* objects, and their charge */
  uintptr_t *set;            /* open addressing; 0 free */
  uint64_t cap;              /* slots of set (a power of two) */
  gcroot *roots;             /* registered globals and tables */
  size_t nroots, caproots;   /* used and allocated */
  uint64_t since;            /* bytes allocated since the last collection */
  uint64_t live;             /* bytes left live by it */
  bool no_collect;           /* shares objects with another engine's calls */
  bool stress;               /* CIS_GC_STRESS=1: every collection that may run is due */
  atomic_bool due;           /* since passed the threshold (a relaxed read per
                                allocation inside a call) */
  atomic_bool starved;       /* an allocation found no room, even after a collection
                                inside its call: the next collection between calls
                                runs, due or not */
  uint64_t collections;      /* collections run */
} cis__gcheap;

/* A collection is due once this much was allocated (and the bytes live). */
#define GC_MIN_BYTES (1u << 20)

/* Is a collection of h due (force: whenever it may collect)? h->lock held. */
static bool due_locked(const cis__gcheap *h, bool force) {
  return !h->no_collect && (force || h->stress || (h->since >= GC_MIN_BYTES && h->since >= h->live));
}
static uint64_t try_collect(cis_engine *e, cis__gcheap *h, bool force, cis__exec *ex);

static cis__gcheap *heap_of(cis_engine *e, bool make) {
  cis__engine_rt *r = (cis__engine_rt *)e;
  cis__gcheap *h = atomic_load_explicit(&r->gc, memory_order_acquire);
  if (h || !make) return h;
  h = calloc(1, sizeof *h);
  if (!h) return NULL;
  pthread_mutex_init(&h->lock, NULL);
  pthread_mutex_init(&h->collect, NULL);
  /* Collecting at every allocation that may makes a missing root show at
   * once, as a use after free under a sanitizer: for tests (docs/engine.md). */
  const char *stress = getenv("CIS_GC_STRESS");
  h->stress = stress && strcmp(stress, "1") == 0;
  atomic_init(&h->due, h->stress);
  cis__gcheap *expect = NULL;
  if (!atomic_compare_exchange_strong_explicit(&r->gc, &expect, h, memory_order_acq_rel, memory_order_acquire)) {
    pthread_mutex_destroy(&h->lock);
    pthread_mutex_destroy(&h->collect);
    free(h);
    return expect;
  }
  return h;
}

static uint64_t hashp(uintptr_t p) { return (uint64_t)(p >> 4) * 0x9e3779b97f4a7c15ull; }

static bool set_has(const cis__gcheap *h, uintptr_t p) {
  if (!h->cap) return false;
  for (uint64_t k = hashp(p) & (h->cap - 1); h->set[k]; k = (k + 1) & (h->cap - 1))
    if (h->set[k] == p) return true;
  return false;
}

static void set_put(uintptr_t *set, uint64_t cap, uintptr_t p) {
  uint64_t k = hashp(p) & (cap - 1);
  while (set[k]) k = (k + 1) & (cap - 1);
  set[k] = p;
}

/* Room in h's set for one more object. */
static bool set_room(cis__gcheap *h) {
  if (2 * (h->count + 1) <= h->cap) return true;
  uint64_t cap = h->cap ? 2 * h->cap : 256;
  uintptr_t *s = calloc(cap, sizeof *s);
  if (!s) return false;
  for (uint64_t i = 0; i < h->cap; i++)
    if (h->set[i]) set_put(s, cap, h->set[i]);
  free(h->set);
  h->set = s;
  h->cap = cap;
  return true;
}

/* The engine and entry fields of root container r. */
static cis_engine *_Atomic *root_engine(const gcroot *r) {
  return r->table ? &((cis__table_rt *)r->p)->gc_engine : &((cis__global_rt *)r->p)->gc_engine;
}
static size_t *root_slot(const gcroot *r) {
  return r->table ? &((cis__table_rt *)r->p)->gc_slot : &((cis__global_rt *)r->p)->gc_slot;
}

void cis__gc_heap_free(cis_engine *e) {
  cis__gcheap *h = heap_of(e, false);
  if (!h) return;
  for (cis__gcobj *o = h->objs, *next; o; o = next) {
    next = o->next;
    cis__account_uncharge(o->acct, o->bytes, CIS__CHARGE_OTHER);
    cis__account_free(o->acct);
    free(o);
  }
  free(h->set);
  for (size_t i = 0; i < h->nroots; i++) atomic_store(root_engine(&h->roots[i]), NULL);
  free(h->roots);
  pthread_mutex_destroy(&h->lock);
  pthread_mutex_destroy(&h->collect);
  free(h);
}

uint64_t cis__gc_count(cis_engine *e, uint64_t *bytes) {
  cis__gcheap *h = heap_of(e, false);
  uint64_t n = 0, b = 0;
  if (h) {
    pthread_mutex_lock(&h->lock);
    n = h->count;
    b = h->bytes;
    pthread_mutex_unlock(&h->lock);
  }
  if (bytes) *bytes = b;
  return n;
}

uint64_t cis__gc_collections(cis_engine *e) {
  cis__gcheap *h = heap_of(e, false);
  uint64_t n = 0;
  if (h) {
    pthread_mutex_lock(&h->lock);
    n = h->collections;
    pthread_mutex_unlock(&h->lock);
  }
  return n;
}

bool cis__gc_is_obj(cis_engine *e, const void *r) {
  cis__gcheap *h = heap_of(e, false);
  if (!h || !r || ((uintptr_t)r & 1)) return false;
  pthread_mutex_lock(&h->lock);
  bool yes = set_has(h, (uintptr_t)r);
  pthread_mutex_unlock(&h->lock);
  return yes;
}

/* A new object of data bytes, zeroed (every field its default), charged
 * to a. Inside call ex (NULL: none, or one whose frames must not be
 * scanned), the heap is collected first when due, and when the account
 * has no room, then charged again. Errors: CIS_EMEMLIMIT, CIS_ENOMEM; no
 * message. */
static cis_result obj_new(cis_engine *e, cis__exec *ex, cis__account *a, uint64_t data, cis__gcobj **out) {
  *out = NULL;
  uint64_t bytes = sizeof(cis__gcobj) + data;
  if (data > ((uint64_t)1 << 40)) return CIS_EMEMLIMIT;
  cis__gcheap *h = heap_of(e, true);
  if (!h) return CIS_ENOMEM;
  if (ex && atomic_load_explicit(&h->due, memory_order_relaxed)) try_collect(e, h, false, ex);
  if (!cis__account_charge(a, bytes, CIS__CHARGE_OTHER) &&
      !(ex && try_collect(e, h, true, ex) && cis__account_charge(a, bytes, CIS__CHARGE_OTHER))) {
    /* A dead slot of the call's frames (a compiled frame's popped
     * position keeps its last reference), or a frame without a stack map,
     * may have kept what the call's failure leaves as garbage. Without frames the next
     * collection is exact about them; it must not wait until the next
     * calls allocate enough to be due, as they would fail first. */
    atomic_store(&h->starved, true);
    return CIS_EMEMLIMIT;
  }
  cis__gcobj *o = calloc(1, (size_t)bytes);
  if (!o) {
    cis__account_uncharge(a, bytes, CIS__CHARGE_OTHER);
    return CIS_ENOMEM;
  }
  o->acct = cis__account_ref(a);
  o->bytes = bytes;
  pthread_mutex_lock(&h->lock);
  bool ok = set_room(h);
  if (ok) {
    set_put(h->set, h->cap, (uintptr_t)o);
    o->next = h->objs;
    h->objs = o;
    h->count++;
    h->bytes += bytes;
    h->since += bytes;
    if (due_locked(h, false)) atomic_store_explicit(&h->due, true, memory_order_relaxed);
  }
  pthread_mutex_unlock(&h->lock);
  if (!ok) {
    cis__account_uncharge(a, bytes, CIS__CHARGE_OTHER);
    cis__account_free(o->acct);
    free(o);
    return CIS_ENOMEM;
  }
  *out = o;
  return CIS_OK;
}

/* An object of layout l (an array of len elements). */
static cis_result gc_new(cis_engine *e, cis__exec *ex, cis__account *a, const cis__gclayout *l, uint32_t len,
                         cis__gcobj **out) {
  uint64_t data = l->comp == CIS__COMP_ARRAY ? (uint64_t)len * l->size : l->size;
  cis_result rc = obj_new(e, ex, a, data, out);
  if (rc == CIS_OK) {
    (*out)->lay = l;
    (*out)->len = len;
  }
  return rc;
}

/* ------------------------------------------------------------------ casts */

bool cis__gc_test(uint64_t r, uint8_t kind, uint32_t id, bool nullable) {
  if (!r) return nullable;
  if (cis__kind_is_bottom(kind)) return false;
  if (kind == CIS__FUNCREF) /* func, or a function type */
    return id == UINT32_MAX || cis__canon_id_sub(((const cis_func *)(uintptr_t)r)->type_id, id);
  if (kind == CIS__EXTERNREF || kind == CIS__EXNREF || kind == CIS__ANYREF) return true;
  if (cis__is_i31(r)) return kind == CIS__I31REF || kind == CIS__EQREF;
  const cis__gcobj *o = (const cis__gcobj *)(uintptr_t)r;
  if (o->kind != CIS__GC_OBJ) return false; /* an externref made an anyref: only any */
  if (kind == CIS__EQREF) return true;
  if (kind != cis__comp_kind(o->lay->comp)) return false;
  return id == UINT32_MAX || cis__canon_id_sub(o->lay->type_id, id);
}

/* ----------------------------------------------------------- instructions */

/* Reads field f's value at q into slots v (two for a v128), extended as
 * sx asks for a packed one (op: a _s or _u form, or the plain one). */
static void field_get(const struct cis__gcfield *f, const uint8_t *q, cis_slot *v, bool sign) {
  switch (f->st) {
  case CIS__I8: v->u64 = sign ? (uint32_t)(int32_t)(int8_t)q[0] : q[0]; return;
  case CIS__I16: {
    uint16_t x;
    memcpy(&x, q, 2);
    v->u64 = sign ? (uint32_t)(int32_t)(int16_t)x : x;
    return;
  }
  case CIS__I32: case CIS__F32: {
    uint32_t x;
    memcpy(&x, q, 4);
    v->u64 = x;
    return;
  }
  case CIS__V128: memcpy(v, q, 16); return;
  default: memcpy(&v->u64, q, 8); return;
  }
}

static void field_set(const struct cis__gcfield *f, uint8_t *q, const cis_slot *v) {
  memcpy(q, v, f->bytes); /* little-endian: the low bytes of the slot */
}

/* Slots a value of field f takes. */
static uint32_t fslots(const struct cis__gcfield *f) { return f->st == CIS__V128 ? 2 : 1; }

static cis_result fail_alloc(cis__exec *ex, cis_result rc, uint64_t bytes) {
  if (rc == CIS_EMEMLIMIT)
    return cis__fail(ex->top, rc, "memory limit exceeded: an object of %llu bytes passes the limit of %llu bytes",
                     (unsigned long long)bytes, (unsigned long long)ex->top->limits.max_memory_bytes);
  return cis__fail(ex->top, rc, "out of memory making an object");
}

/* Element k of array o as the value in v (the same store as fields). */
static uint8_t *elem_at(cis__gcobj *o, uint64_t k) { return o->data + k * o->lay->size; }

/* Fills elements [d, d + n) of o from items of element segment seg of
 * inst, from s. */
static cis_result elems_in(cis_instance *inst, uint32_t seg, cis__gcobj *o, uint64_t d, uint64_t s, uint64_t n) {
  const cis__elem *e = &inst->m->elems[seg];
  uint64_t len = inst->elem_dropped[seg] ? 0 : e->count;
  if (!cis__in_bounds(s, n, len)) return CIS_TRAP_TABLE_OOB;
  for (uint64_t k = 0; k < n; k++) {
    void *item = cis__elem_item(inst, e, (uint32_t)(s + k));
    memcpy(elem_at(o, d + k), &item, sizeof item);
  }
  return CIS_OK;
}

/* Bytes [s, s + n * size) of data segment seg of inst into elements [d,
 * d + n) of o. */
static cis_result data_in(cis_instance *inst, uint32_t seg, cis__gcobj *o, uint64_t d, uint64_t s, uint64_t n) {
  const cis__data *ds = &inst->m->datas[seg];
  uint64_t len = inst->data_dropped[seg] ? 0 : ds->len, size = o->lay->size;
  if (n > UINT32_MAX || !cis__in_bounds(s, n * size, len)) return CIS_TRAP_MEM_OOB;
  if (n) memcpy(elem_at(o, d), ds->bytes + s, (size_t)(n * size));
  return CIS_OK;
}

#define OBJ(slot) ((cis__gcobj *)(slot).externref)

static cis_result convert(const cis_instance *inst, cis__exec *ex, uint32_t op, cis_slot *v);

/* The operand slots of allocating GC instruction op that may hold
 * references (the values a new object takes, a reference converted). */
static uint32_t ref_operands(uint32_t op, uint32_t a, const cis__gclayout *la) {
  uint32_t n = 0;
  switch (op) {
  case CIS__OP_STRUCT_NEW:
    for (uint32_t k = 0; k < la->nfields; k++) n += fslots(&la->fields[k]);
    return n;
  case CIS__OP_ARRAY_NEW: return fslots(&la->fields[0]);
  case CIS__OP_ARRAY_NEW_FIXED: return a * fslots(&la->fields[0]);
  case CIS__OP_ANY_CONVERT_EXTERN: case CIS__OP_EXTERN_CONVERT_ANY: return 1;
  default: return 0;
  }
}

static cis_result gc_op(cis__exec *ex, cis_instance *inst, uint32_t op, uint32_t a, uint32_t b,
                        const cis__gclayout *la, const cis__gclayout *lb, cis_slot *args);

bool cis__gc_op_collects(uint32_t op) {
  switch (op) { /* those that reach obj_new with their call */
  case CIS__OP_STRUCT_NEW: case CIS__OP_STRUCT_NEW_DEFAULT: case CIS__OP_ARRAY_NEW: case CIS__OP_ARRAY_NEW_DEFAULT:
  case CIS__OP_ARRAY_NEW_FIXED: case CIS__OP_ARRAY_NEW_DATA: case CIS__OP_ARRAY_NEW_ELEM:
  case CIS__OP_ANY_CONVERT_EXTERN: case CIS__OP_EXTERN_CONVERT_ANY:
    return true;
  default:
    return false;
  }
}

cis_result cis__gc_op(cis__exec *ex, cis_instance *inst, uint32_t op, uint32_t a, uint32_t b, const cis__gclayout *la, const cis__gclayout *lb, cis_slot *args) {
  /* What the instruction is about to store is a root while it allocates:
   * the frames' stack maps stop below its operands. */
  uint32_t refs = ref_operands(op, a, la);
  if (!refs || !ex) return gc_op(ex, inst, op, a, b, la, lb, args);
  const cis_slot *saved = ex->gc_args;
  uint32_t nsaved = ex->gc_nargs;
  ex->gc_args = args;
  ex->gc_nargs = refs;
  cis_result rc = gc_op(ex, inst, op, a, b, la, lb, args);
  ex->gc_args = saved;
  ex->gc_nargs = nsaved;
  return rc;
}

static cis_result gc_op(cis__exec *ex, cis_instance *inst, uint32_t op, uint32_t a, uint32_t b,
                        const cis__gclayout *la, const cis__gclayout *lb, cis_slot *args) {
  cis__gcobj *o = NULL, *o2;
  cis_result rc;
  uint64_t i, n;
  switch (op) {
  case CIS__OP_STRUCT_NEW: case CIS__OP_STRUCT_NEW_DEFAULT: {
    rc = gc_new(inst->engine, ex, ex->top->acct, la, 0, &o);
    if (rc != CIS_OK) return fail_alloc(ex, rc, la->size);
    if (op == CIS__OP_STRUCT_NEW) {
      const cis_slot *v = args;
      for (uint32_t k = 0; k < la->nfields; v += fslots(&la->fields[k]), k++)
        field_set(&la->fields[k], o->data + la->fields[k].off, v);
    }
    args[0].externref = o;
    return CIS_OK;
  }
  case CIS__OP_STRUCT_GET: case CIS__OP_STRUCT_GET_S: case CIS__OP_STRUCT_GET_U:
    if (!(o = OBJ(args[0]))) return CIS_TRAP_NULL_STRUCT;
    field_get(&la->fields[a], o->data + la->fields[a].off, args, op == CIS__OP_STRUCT_GET_S);
    return CIS_OK;
  case CIS__OP_STRUCT_SET:
    if (!(o = OBJ(args[0]))) return CIS_TRAP_NULL_STRUCT;
    field_set(&la->fields[a], o->data + la->fields[a].off, args + 1);
    return CIS_OK;
  case CIS__OP_ARRAY_NEW: case CIS__OP_ARRAY_NEW_DEFAULT: case CIS__OP_ARRAY_NEW_FIXED:
  case CIS__OP_ARRAY_NEW_DATA: case CIS__OP_ARRAY_NEW_ELEM: {
    uint32_t vs = fslots(&la->fields[0]);
    n = op == CIS__OP_ARRAY_NEW_FIXED ? a
        : op == CIS__OP_ARRAY_NEW ? args[vs].u32
        : op == CIS__OP_ARRAY_NEW_DEFAULT ? args[0].u32 : args[1].u32;
    if (op == CIS__OP_ARRAY_NEW_DATA) { /* checked before allocating */
      const cis__data *ds = &inst->m->datas[a];
      uint64_t len = inst->data_dropped[a] ? 0 : ds->len;
      if (!cis__in_bounds(args[0].u32, n * la->size, len)) return CIS_TRAP_MEM_OOB;
    } else if (op == CIS__OP_ARRAY_NEW_ELEM) {
      uint64_t len = inst->elem_dropped[a] ? 0 : inst->m->elems[a].count;
      if (!cis__in_bounds(args[0].u32, n, len)) return CIS_TRAP_TABLE_OOB;
    }
    rc = gc_new(inst->engine, ex, ex->top->acct, la, (uint32_t)n, &o);
    if (rc != CIS_OK) return fail_alloc(ex, rc, n * la->size);
    if (op == CIS__OP_ARRAY_NEW)
      for (i = 0; i < n; i++) field_set(&la->fields[0], elem_at(o, i), args);
    else if (op == CIS__OP_ARRAY_NEW_FIXED)
      for (i = 0; i < n; i++) field_set(&la->fields[0], elem_at(o, i), args + i * vs);
    else if (op == CIS__OP_ARRAY_NEW_DATA) data_in(inst, a, o, 0, args[0].u32, n);
    else if (op == CIS__OP_ARRAY_NEW_ELEM) elems_in(inst, a, o, 0, args[0].u32, n);
    args[0].externref = o;
    return CIS_OK;
  }
  case CIS__OP_ARRAY_GET: case CIS__OP_ARRAY_GET_S: case CIS__OP_ARRAY_GET_U:
    if (!(o = OBJ(args[0]))) return CIS_TRAP_NULL_ARRAY;
    if (args[1].u32 >= o->len) return CIS_TRAP_ARRAY_OOB;
    field_get(&la->fields[0], elem_at(o, args[1].u32), args, op == CIS__OP_ARRAY_GET_S);
    return CIS_OK;
  case CIS__OP_ARRAY_SET:
    if (!(o = OBJ(args[0]))) return CIS_TRAP_NULL_ARRAY;
    if (args[1].u32 >= o->len) return CIS_TRAP_ARRAY_OOB;
    field_set(&la->fields[0], elem_at(o, args[1].u32), args + 2);
    return CIS_OK;
  case CIS__OP_ARRAY_LEN:
    if (!(o = OBJ(args[0]))) return CIS_TRAP_NULL_ARRAY;
    args[0].u64 = o->len;
    return CIS_OK;
  case CIS__OP_ARRAY_FILL: {
    if (!(o = OBJ(args[0]))) return CIS_TRAP_NULL_ARRAY;
    uint32_t vs = fslots(&la->fields[0]);
    i = args[1].u32;
    n = args[2 + vs].u32;
    if (!cis__in_bounds(i, n, o->len)) return CIS_TRAP_ARRAY_OOB;
    for (uint64_t k = 0; k < n; k++) field_set(&la->fields[0], elem_at(o, i + k), args + 2);
    return CIS_OK;
  }
  case CIS__OP_ARRAY_COPY:
    if (!(o = OBJ(args[0])) || !(o2 = OBJ(args[2]))) return CIS_TRAP_NULL_ARRAY;
    n = args[4].u32;
    if (!cis__in_bounds(args[1].u32, n, o->len) || !cis__in_bounds(args[3].u32, n, o2->len))
      return CIS_TRAP_ARRAY_OOB;
    if (n) memmove(elem_at(o, args[1].u32), elem_at(o2, args[3].u32), (size_t)(n * la->size));
    (void)lb;
    return CIS_OK;
  case CIS__OP_ARRAY_INIT_DATA: case CIS__OP_ARRAY_INIT_ELEM:
    if (!(o = OBJ(args[0]))) return CIS_TRAP_NULL_ARRAY;
    n = args[3].u32;
    if (!cis__in_bounds(args[1].u32, n, o->len)) return CIS_TRAP_ARRAY_OOB;
    return op == CIS__OP_ARRAY_INIT_DATA ? data_in(inst, a, o, args[1].u32, args[2].u32, n)
                                         : elems_in(inst, a, o, args[1].u32, args[2].u32, n);
  case CIS__OP_REF_TEST: case CIS__OP_REF_TEST_NULL: case CIS__OP_BR_ON_CAST: case CIS__OP_BR_ON_CAST_FAIL:
    args[0].u64 = cis__gc_test(args[0].u64, (uint8_t)a, b, a & CIS__GC_NULLABLE) != ((a & CIS__GC_NEGATE) != 0);
    return CIS_OK;
  case CIS__OP_REF_CAST: case CIS__OP_REF_CAST_NULL:
    return cis__gc_test(args[0].u64, (uint8_t)a, b, a & CIS__GC_NULLABLE) ? CIS_OK : CIS_TRAP_CAST;
  case CIS__OP_REF_I31: args[0].u64 = cis__i31_ref(args[0].u32); return CIS_OK;
  case CIS__OP_I31_GET_S: case CIS__OP_I31_GET_U:
    if (!args[0].u64) return CIS_TRAP_NULL_I31;
    args[0].u64 = op == CIS__OP_I31_GET_S ? (uint32_t)cis__i31_s(args[0].u64) : cis__i31_u(args[0].u64);
    return CIS_OK;
  case CIS__OP_ANY_CONVERT_EXTERN: case CIS__OP_EXTERN_CONVERT_ANY:
    rc = convert(inst, ex, op, args);
    return rc == CIS_OK ? CIS_OK : fail_alloc(ex, rc, sizeof(void *));
  default: return CIS_TRAP_UNREACHABLE; /* not a GC instruction: the translator never emits it */
  }
}

/* any.convert_extern: an object that extern.convert_any made is the
 * anyref it came from again (an object itself; an i31, which it boxed, so
 * that no externref of the host is taken for one); any other externref is
 * wrapped in an object. extern.convert_any: an object wrapping an
 * externref gives it back, an i31 is boxed, any other object is its own
 * externref. Null stays null. */
static cis_result convert(const cis_instance *inst, cis__exec *ex, uint32_t op, cis_slot *v) {
  void *r = v->externref;
  if (!r) return CIS_OK;
  bool to_extern = op == CIS__OP_EXTERN_CONVERT_ANY;
  if (to_extern && !cis__is_i31(v->u64)) {
    const cis__gcobj *o = r;
    if (o->kind == CIS__GC_EXTERN) memcpy(&v->externref, o->data, sizeof r);
    return CIS_OK;
  }
  if (!to_extern && cis__gc_is_obj(inst->engine, r)) {
    const cis__gcobj *o = r;
    if (o->kind == CIS__GC_I31BOX) memcpy(&v->u64, o->data, sizeof v->u64);
    return CIS_OK;
  }
  cis__gcobj *o;
  cis_result rc = obj_new(inst->engine, ex, inst->acct, sizeof *v, &o);
  if (rc != CIS_OK) {
    v->externref = NULL;
    return rc;
  }
  o->kind = to_extern ? CIS__GC_I31BOX : CIS__GC_EXTERN;
  memcpy(o->data, v, sizeof *v);
  v->externref = o;
  return CIS_OK;
}

bool cis__gc_const_op(const cis_instance *inst, uint32_t op, const uint8_t **p, const uint8_t *end, cis_slot *st,
                      cis_slot *hi, int *n) {
  uint32_t x = 0, cnt = 0;
  if (op == CIS__OP_ANY_CONVERT_EXTERN || op == CIS__OP_EXTERN_CONVERT_ANY)
    return convert(inst, NULL, op, &st[*n - 1]) == CIS_OK;
  if (op == CIS__OP_REF_I31) {
    st[*n - 1].u64 = cis__i31_ref(st[*n - 1].u32);
    return true;
  }
  cis__read_u32(p, end, &x);
  if (op == CIS__OP_ARRAY_NEW_FIXED) cis__read_u32(p, end, &cnt);
  const cis__gclayout *l = cis__gc_layout(inst->module, x);
  /* operands: struct.new its fields, array.new a value and a length,
   * array.new_default a length, array.new_fixed cnt values (a v128 takes
   * one entry, its high bytes in hi) */
  uint32_t take = op == CIS__OP_STRUCT_NEW ? l ? l->nfields : 0
                  : op == CIS__OP_ARRAY_NEW ? 2
                  : op == CIS__OP_ARRAY_NEW_DEFAULT ? 1
                  : op == CIS__OP_ARRAY_NEW_FIXED ? cnt : 0;
  if ((uint32_t)*n < take) return false; /* not after validation */
  cis_slot *args = st + *n - take, *args_hi = hi + *n - take;
  uint32_t len = op == CIS__OP_ARRAY_NEW ? args[1].u32 : op == CIS__OP_ARRAY_NEW_DEFAULT ? args[0].u32 : cnt;
  cis__gcobj *o = NULL;
  if (!l || gc_new(inst->engine, NULL, inst->acct, l, l->comp == CIS__COMP_ARRAY ? len : 0, &o) != CIS_OK) {
    *n -= (int)take;
    hi[*n].u64 = 0;
    st[(*n)++].u64 = 0;
    return false;
  }
  /* a value in the two slots field_set takes: a v128's low 8 bytes, then
   * its high ones */
  cis_slot v[2];
  if (op == CIS__OP_STRUCT_NEW)
    for (uint32_t k = 0; k < l->nfields; k++) {
      v[0] = args[k], v[1] = args_hi[k];
      field_set(&l->fields[k], o->data + l->fields[k].off, v);
    }
  else if (op == CIS__OP_ARRAY_NEW || op == CIS__OP_ARRAY_NEW_FIXED)
    for (uint32_t k = 0; k < len; k++) {
      uint32_t at = op == CIS__OP_ARRAY_NEW ? 0 : k;
      v[0] = args[at], v[1] = args_hi[at];
      field_set(&l->fields[0], elem_at(o, k), v);
    }
  *n -= (int)take;
  hi[*n].u64 = 0;
  st[(*n)++].externref = o;
  return true;
}

/* -------------------------------------------------------------- collector */

static cis__engine_rt *rt_of(cis_engine *e) { return (cis__engine_rt *)e; }

void cis__gc_call_begin(cis_engine *e) {
  cis__engine_rt *r = rt_of(e);
  for (;;) {
    atomic_fetch_add(&r->gc_calls, 1);
    if (!atomic_load(&r->gc_busy)) return;
    /* a collection decides or runs: let it end (it holds collect) */
    atomic_fetch_sub(&r->gc_calls, 1);
    cis__gcheap *h = heap_of(e, false);
    if (h) {
      pthread_mutex_lock(&h->collect);
      pthread_mutex_unlock(&h->collect);
    }
  }
}

/* The explicit mark stack. */
typedef struct mstack {
  cis__gcobj **p;
  size_t n, cap;
  bool oom;                  /* it could not grow: the collection frees nothing */
} mstack;

/* Marks the object slot value v is, if it is one of h's not yet marked,
 * and queues it when it may hold references. */
static void mark_val(cis__gcheap *h, mstack *st, uint64_t v) {
  if (!v || (v & 1) || !set_has(h, (uintptr_t)v)) return;
  cis__gcobj *o = (cis__gcobj *)(uintptr_t)v;
  if (o->mark) return;
  o->mark = 1;
  if (o->kind != CIS__GC_OBJ) return; /* a host's externref, or an i31: nothing to follow */
  if (st->n == st->cap) {
    size_t cap = st->cap ? 2 * st->cap : 256;
    cis__gcobj **p = realloc(st->p, cap * sizeof *p);
    if (!p) {
      st->oom = true;
      return;
    }
    st->p = p;
    st->cap = cap;
  }
  st->p[st->n++] = o;
}

/* Marks what object o's reference fields or elements hold. */
static void scan_obj(cis__gcheap *h, mstack *st, const cis__gcobj *o) {
  const cis__gclayout *l = o->lay;
  uint64_t v;
  if (l->comp == CIS__COMP_ARRAY) {
    if (!cis__vt_is_ref(l->fields[0].st)) return;
    for (uint32_t k = 0; k < o->len; k++) {
      memcpy(&v, o->data + (size_t)k * l->size, sizeof v);
      mark_val(h, st, v);
    }
    return;
  }
  for (uint32_t k = 0; k < l->nfields; k++)
    if (cis__vt_is_ref(l->fields[k].st)) {
      memcpy(&v, o->data + l->fields[k].off, sizeof v);
      mark_val(h, st, v);
    }
}

void cis__gc_forget(void *p, bool table) {
  gcroot r = {.table = table, .p = p};
  cis_engine *e = atomic_load(root_engine(&r));
  if (!e) return;
  cis__gcheap *h = heap_of(e, false);
  pthread_mutex_lock(&h->lock); /* a collection scanning it is over */
  size_t k = *root_slot(&r);
  if (k < h->nroots && h->roots[k].p == p) {
    h->roots[k] = h->roots[--h->nroots];
    if (k < h->nroots) *root_slot(&h->roots[k]) = k;
  }
  pthread_mutex_unlock(&h->lock);
}

/* ------------------------------------------------ the running call's roots
 *
 * A collection inside a call (ex) also marks what the call holds: the
 * slots that the stack maps of its engines' frames name at the positions
 * where the frames stopped (ex->frames, walked by each engine: the
 * interpreter's frames on the value stack), compiled code's frames of
 * references (ex->roots, mark_roots), the operands the allocating
 * instruction stores (ex->gc_args), and the values of the exceptions the
 * call made. Host functions hold what they were handed pinned. No native
 * frame is read: every engine keeps the references its frames hold where
 * these find them. */

/* Marks the slots of call ex's compiled frames of references (src/aot:
 * each links one while it runs, and holds every reference that may be an
 * object there). */
static void mark_roots(cis__gcheap *h, mstack *st, const cis__exec *ex) {
  for (const cis__roots *r = ex->roots; r; r = r->prev)
    for (uint64_t k = 0; k < r->n; k++) mark_val(h, st, (uint64_t)(uintptr_t)r->s[k]);
}

struct cis__gcmark {
  cis__gcheap *h;
  mstack *st;
};

void cis__gc_mark(cis__gcmark *m, uint64_t v) { mark_val(m->h, m->st, v); }

/* Marks what call ex's frames (their stack maps), the operands of its
 * allocating instruction and its exceptions hold. False when a frame
 * cannot be mapped: what it holds is unknown, so nothing may be freed (a
 * reachable object freed would be a use after free in the guest). */
static bool mark_call(cis__gcheap *h, mstack *st, const cis__exec *ex) {
  cis__gcmark m = {.h = h, .st = st};
  mark_roots(h, st, ex);
  for (const cis__frames *fr = ex->frames; fr; fr = fr->prev)
    if (!fr->roots(fr, &m)) return false;
  for (uint32_t k = 0; k < ex->gc_nargs; k++) mark_val(h, st, ex->gc_args[k].u64);
  for (const cis__exn *x = ex->exns; x; x = x->next)
    for (uint32_t k = 0; k < x->nslots; k++) mark_val(h, st, x->vals[k].u64);
  return true;
}

/* Marks from every root and frees what is left unmarked: h->collect is
 * held and no call of e runs but those call ex holds (NULL: none), whose
 * frames are roots then. Returns the objects freed. */
static uint64_t collect(cis_engine *e, cis__gcheap *h, const cis__exec *ex) {
  mstack st = {0};
  pthread_mutex_lock(&h->lock);
  if (ex && !mark_call(h, &st, ex)) st.oom = true; /* keeps everything */
  for (size_t i = 0; i < h->nroots; i++) {
    if (h->roots[i].table) {
      const cis_table *t = h->roots[i].p;
      for (uint32_t k = 0; k < t->size; k++) mark_val(h, &st, (uint64_t)(uintptr_t)t->elems[k]);
    } else {
      mark_val(h, &st, ((const cis_global *)h->roots[i].p)->val.u64);
    }
  }
  for (cis__gcobj *o = h->objs; o; o = o->next)
    if (o->pins) mark_val(h, &st, (uint64_t)(uintptr_t)o);
  cis__engine_rt *r = rt_of(e);
  pthread_mutex_lock(&r->pin_lock);
  for (const cis__exn *x = r->kept_exns; x; x = x->next)
    for (uint32_t k = 0; k < x->nslots; k++) mark_val(h, &st, x->vals[k].u64);
  pthread_mutex_unlock(&r->pin_lock);
  while (st.n && !st.oom) scan_obj(h, &st, st.p[--st.n]);
  free(st.p);
  uint64_t freed = 0;
  for (cis__gcobj **pp = &h->objs; *pp;) {
    cis__gcobj *o = *pp;
    if (o->mark || st.oom) {
      o->mark = 0;
      pp = &o->next;
      continue;
    }
    *pp = o->next;
    h->count--;
    h->bytes -= o->bytes;
    cis__account_uncharge(o->acct, o->bytes, CIS__CHARGE_OTHER);
    cis__account_free(o->acct);
    free(o);
    freed++;
  }
  if (freed) { /* the set again, from the survivors */
    memset(h->set, 0, h->cap * sizeof *h->set);
    for (cis__gcobj *o = h->objs; o; o = o->next) set_put(h->set, h->cap, (uintptr_t)o);
  }
  h->since = 0;
  atomic_store_explicit(&h->due, false, memory_order_relaxed);
  h->live = h->bytes;
  h->collections++;
  pthread_mutex_unlock(&h->lock);
  return freed;
}

/* Collects h when due (force: whatever was allocated) and no call of e
 * runs but those call ex holds (ex NULL: none). A call that begins
 * meanwhile either sees gc_busy, and waits for h->collect, or is seen in
 * gc_calls here (both sequentially consistent). Returns the objects
 * freed. */
static uint64_t try_collect(cis_engine *e, cis__gcheap *h, bool force, cis__exec *ex) {
  cis__engine_rt *r = rt_of(e);
  if (!ex && atomic_exchange(&h->starved, false)) force = true;
  uint32_t held = ex ? cis__exec_gc_held(ex, e) : 0;
  /* another thread's call: its frames are not ours to read */
  if (ex && (!held || atomic_load(&r->gc_calls) != held)) return 0;
  if (pthread_mutex_trylock(&h->collect)) return 0;
  atomic_store(&r->gc_busy, 1);
  uint64_t freed = 0;
  pthread_mutex_lock(&h->lock);
  bool due = due_locked(h, force);
  pthread_mutex_unlock(&h->lock);
  if (due && atomic_load(&r->gc_calls) == held) freed = collect(e, h, ex);
  atomic_store(&r->gc_busy, 0);
  pthread_mutex_unlock(&h->collect);
  return freed;
}

void cis__gc_call_end(cis_engine *e) {
  cis__engine_rt *r = rt_of(e);
  if (atomic_fetch_sub(&r->gc_calls, 1) != 1) return;
  cis__gcheap *h = heap_of(e, false);
  if (h) try_collect(e, h, false, NULL);
}

uint64_t cis__gc_collect(cis_engine *e) {
  cis__gcheap *h = heap_of(e, false);
  return h ? try_collect(e, h, true, NULL) : 0;
}

/* Stops e's collections for good. */
static void no_collect(cis_engine *e) {
  cis__gcheap *h = heap_of(e, true);
  if (!h) return; /* no heap, no objects to keep: the next allocation makes one */
  pthread_mutex_lock(&h->lock);
  h->no_collect = true;
  pthread_mutex_unlock(&h->lock);
}

/* Registers container p (a table or global) as a root of e's heap h,
 * until it is freed (cis__gc_forget); h->lock held. Another engine's
 * container: *other gets that engine (both stop collecting). */
static bool add_root(cis_engine *e, cis__gcheap *h, bool table, void *p, cis_engine **other) {
  gcroot r = {.table = table, .p = p};
  cis_engine *was = NULL;
  if (!atomic_compare_exchange_strong(root_engine(&r), &was, e)) {
    if (was != e) *other = was;
    return true;
  }
  if (h->nroots == h->caproots) {
    size_t cap = h->caproots ? 2 * h->caproots : 16;
    gcroot *n = realloc(h->roots, cap * sizeof *n);
    if (!n) {
      atomic_store(root_engine(&r), NULL);
      return false;
    }
    h->roots = n;
    h->caproots = cap;
  }
  *root_slot(&r) = h->nroots;
  h->roots[h->nroots++] = r;
  return true;
}

/* Does passive segment s keep its items from instantiation on (they may
 * be objects, which must be the same at each use)? */
static bool elem_vals_needed(const cis__module *m, const cis__elem *s) {
  return s->mode == CIS__SEG_PASSIVE && s->exprs && s->count && cis__gc_vt_obj(m, s->vt);
}

/* Evaluates the items of inst's passive segments that keep them, each
 * into a table of its own (which the heap then scans as a root).
 * Errors (on the engine): CIS_ENOMEM, CIS_EMEMLIMIT. */
static cis_result elem_vals(cis_instance *inst) {
  const cis__module *m = inst->m;
  cis_result rc = CIS_OK;
  inst->elem_vals = calloc(m->nelems, sizeof *inst->elem_vals);
  if (!inst->elem_vals) return cis__fail(inst->engine, CIS_ENOMEM, "out of memory for element segments");
  for (uint32_t i = 0; i < m->nelems; i++) {
    const cis__elem *s = &m->elems[i];
    if (!elem_vals_needed(m, s)) continue;
    cis__limits lim = {.min = s->count, .max = s->count, .has_max = true};
    cis_table *t;
    CIS_TRY(cis__table_create(inst->engine, s->type, &lim, 0, inst, inst->acct, &t));
    for (uint32_t k = 0; k < s->count; k++) t->elems[k] = cis__const_value(inst, &s->exprs[k]).externref;
    inst->elem_vals[i] = t;
  }
fail:
  return rc;
}

cis_result cis__gc_adopt(cis_instance *inst) {
  const cis__module *m = inst->m;
  cis_engine *e = inst->engine;
  bool any = false, share = false;
  for (uint32_t i = 0; i < m->nfunc_imports; i++) {
    const cis_func *f = inst->funcs[i];
    if (f && f->kind == CIS__FUNC_WASM && f->inst->engine != e) {
      share = true;
      no_collect(f->inst->engine);
    }
  }
  for (uint32_t i = 0; i < m->nglobals && !any; i++) any = cis__gc_vt_obj(m, m->globals[i].type.vt);
  for (uint32_t i = 0; i < m->ntables && !any; i++) any = cis__gc_vt_obj(m, m->tables[i].vt);
  bool segs = false;
  for (uint32_t i = 0; i < m->nelems && !segs; i++) segs = elem_vals_needed(m, &m->elems[i]);
  if (!any && !share && !segs) return CIS_OK;
  cis_result rc = segs ? elem_vals(inst) : CIS_OK;
  if (rc != CIS_OK) return rc;
  cis__gcheap *h = heap_of(e, true);
  if (!h) return cis__fail(e, CIS_ENOMEM, "out of memory registering GC roots");
  cis_engine *other = NULL;
  bool ok = true;
  pthread_mutex_lock(&h->lock);
  for (uint32_t i = 0; ok && i < m->nglobals; i++)
    if (cis__gc_vt_obj(m, m->globals[i].type.vt)) ok = add_root(e, h, false, inst->globals[i], &other);
  for (uint32_t i = 0; ok && i < m->ntables; i++)
    if (cis__gc_vt_obj(m, m->tables[i].vt)) ok = add_root(e, h, true, inst->tables[i], &other);
  for (uint32_t i = 0; ok && segs && i < m->nelems; i++)
    if (inst->elem_vals[i]) ok = add_root(e, h, true, inst->elem_vals[i], &other);
  if (share || other) h->no_collect = true;
  pthread_mutex_unlock(&h->lock);
  if (other) no_collect(other);
  return ok ? CIS_OK : cis__fail(e, CIS_ENOMEM, "out of memory registering GC roots");
}

void cis__gc_pin_slots(cis_engine *e, const uint8_t *types, uint32_t n, const cis_slot *slots) {
  cis__gcheap *h = heap_of(e, false);
  if (!h) return;
  pthread_mutex_lock(&h->lock);
  for (uint32_t i = 0, k = 0; i < n; k += types[i] == CIS__V128 ? 2 : 1, i++) {
    uint64_t v = slots[k].u64;
    if (cis__vt_is_ref(types[i]) && v && !(v & 1) && set_has(h, (uintptr_t)v)) {
      cis__gcobj *o = (cis__gcobj *)(uintptr_t)v;
      o->pins += o->pins != UINT32_MAX; /* so many that it stays for good */
    }
  }
  pthread_mutex_unlock(&h->lock);
}

cis_slot cis__gc_global_read(const cis_global *g) {
  cis_engine *e = atomic_load(&((cis__global_rt *)g)->gc_engine);
  if (!e) return g->val;
  cis__gc_call_begin(e); /* no collection between the read and the pin */
  cis_slot v = g->val;
  uint8_t t = CIS__ANYREF;
  cis__gc_pin_slots(e, &t, 1, &v);
  cis__gc_call_end(e);
  return v;
}

/* ------------------------------------------------------------ public API */

cis_anyref_kind cis_anyref_kind_of(const cis_val *v) {
  if (!v || v->type != CIS_ANYREF || !v->of.externref) return CIS_ANYREF_NULL;
  if (cis__is_i31(v->of.u64)) return CIS_ANYREF_I31;
  const cis__gcobj *o = v->of.externref;
  if (o->kind == CIS__GC_EXTERN) return CIS_ANYREF_HOST;
  return o->lay->comp == CIS__COMP_STRUCT ? CIS_ANYREF_STRUCT : CIS_ANYREF_ARRAY;
}

int32_t cis_anyref_i31(const cis_val *v) {
  return cis_anyref_kind_of(v) == CIS_ANYREF_I31 ? cis__i31_s(v->of.u64) : 0;
}

void *cis_anyref_host(const cis_val *v) {
  void *x = NULL;
  if (cis_anyref_kind_of(v) == CIS_ANYREF_HOST) memcpy(&x, ((const cis__gcobj *)v->of.externref)->data, sizeof x);
  return x;
}

cis_result cis_anyref_release(cis_instance *inst, const cis_val *v) {
  if (!inst || !v) return CIS_EINVAL;
  if (v->type != CIS_ANYREF && v->type != CIS_EXTERNREF)
    return cis__fail(inst, CIS_EINVAL, "value type 0x%02x is no reference of any's or extern's hierarchy",
                     (unsigned)v->type);
  cis__gcheap *h = heap_of(inst->engine, false);
  uint64_t r = v->of.u64;
  if (!h || !r || (r & 1)) return CIS_OK; /* null, an i31, or no object at all */
  cis_result rc = CIS_OK;
  pthread_mutex_lock(&h->lock);
  if (set_has(h, (uintptr_t)r)) {
    cis__gcobj *o = (cis__gcobj *)(uintptr_t)r;
    if (!o->pins) rc = CIS_EINVAL;
    else if (o->pins != UINT32_MAX) o->pins--;
  }
  pthread_mutex_unlock(&h->lock);
  return rc == CIS_OK ? rc : cis__fail(inst, rc, "the reference was released more times than it was handed out");
}

cis_result cis_anyref_from_host(cis_instance *inst, void *x, cis_val *out) {
  if (!inst || !out) return CIS_EINVAL;
  memset(out, 0, sizeof *out);
  out->type = CIS_ANYREF;
  out->of.externref = x;
  cis__gc_call_begin(inst->engine); /* no collection before the pin */
  bool ok = convert(inst, NULL, CIS__OP_ANY_CONVERT_EXTERN, &out->of) == CIS_OK;
  uint8_t t = CIS__ANYREF;
  cis__gc_pin_slots(inst->engine, &t, 1, &out->of);
  cis__gc_call_end(inst->engine);
  return ok ? CIS_OK : cis__fail(inst, CIS_EMEMLIMIT, "memory limit exceeded: no room for an anyref");
}
