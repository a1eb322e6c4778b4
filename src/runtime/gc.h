/*
 * This file declares GC's objects at run time (WebAssembly 3.0): struct
 * and array objects, the object that wraps an externref made into an
 * anyref (any.convert_extern), i31 references, and the one operation that
 * runs GC's instructions for an engine (gc.c).
 *
 * References. A reference of any's hierarchy is one slot: 0 is null, an
 * odd value is an i31 (its 31 bits shifted left by one, then 1: one value
 * per integer, so ref.eq stays a compare of slots), anything else points
 * to a cis__gcobj. An externref slot holds the host's pointer, or an
 * object that extern.convert_any made from an anyref (the object itself,
 * or an i31 boxed in an object of kind CIS__GC_I31BOX); any.convert_extern
 * unwraps such an object again and wraps any other externref in an
 * object of kind CIS__GC_EXTERN, so a round trip gives back the same
 * reference. Which externrefs are objects the heap knows
 * (cis__gc_is_obj).
 *
 * Lifetime. Objects belong to their engine's heap and are charged to the
 * memory account of the instance whose call (or instantiation) made them,
 * CIS_EMEMLIMIT past it. A collection frees those no root reaches. It
 * runs at the end of the call that brought the engine's count of calls
 * and instantiations to zero (cis__gc_call_begin / end count them), and
 * inside a call, at an allocation, when every call of the engine running
 * is held by that call (its top-level call's, or another engine's call it
 * entered from a host function: cis__exec_gc_held): an instantiation, or
 * a call on another thread, stops it.
 * Either runs once the bytes allocated since the last one pass the bytes
 * left live by it (1 MiB at least); inside a call also when the account
 * has no room, and the allocation is charged again after it; and after an
 * allocation that found no room even so, the next one between calls runs
 * whatever was allocated (a dead slot of the failed call's frames, or an
 * unmapped frame, may have kept its garbage). Roots: the
 * globals and tables of any's and extern's hierarchies of every instance
 * (registered at instantiation, until they are freed), the engine's kept
 * exceptions, every object the host was handed (a result, a host
 * function's argument, cis_global_get, cis_anyref_from_host: pinned, once
 * per handing, until the host releases it with cis_anyref_release or the
 * engine is freed), and inside a call what it holds: the slots that the
 * stack maps of the interpreter's frames name where the frames stopped
 * (ex->frames: exact, for every slot of any's or extern's hierarchy; a
 * frame stopped where its map has no entry makes the collection free
 * nothing), the slots of compiled code's frames of references (ex->roots:
 * a compiled function keeps there every reference it holds across a call
 * or an allocation, src/aot), the operands the allocating instruction
 * stores (ex->gc_args) and the values of the call's exceptions. Host
 * functions hold what they were handed pinned. No native frame is read:
 * roots are exact, slots whose type may hold an object. Marking uses an
 * explicit stack on the heap; when it cannot grow, the collection frees nothing. An engine whose instances share
 * functions, globals or tables with another engine's never collects
 * (another engine's calls are not counted here): its objects go with it,
 * as exceptions do.
 */
#ifndef CIS_RUNTIME_GC_H
#define CIS_RUNTIME_GC_H

#include "runtime/runtime.h"

/* A struct or array type's layout, by canonical id, made once per process
 * (cis__gc_layout) and never freed, as canonical types are not. */
typedef struct cis__gclayout {
  uint32_t type_id;          /* canonical id of the type */
  uint8_t comp;              /* CIS__COMP_STRUCT or CIS__COMP_ARRAY */
  uint32_t nfields;          /* a struct's fields; 1 for an array (its element) */
  uint32_t size;             /* a struct's bytes; an array element's bytes */
  struct cis__gcfield {
    uint32_t off;            /* byte offset in the object's data (arrays: 0) */
    uint8_t st;              /* storage type: CIS__I8, CIS__I16, a number, v128
                                or reference kind (module.h) */
    uint8_t bytes;           /* 1, 2, 4, 8 or 16 */
  } fields[];
} cis__gclayout;

/* An object's kind: a struct or array; a host's externref made an anyref
 * (any.convert_extern); an i31 made an externref (extern.convert_any). */
enum { CIS__GC_OBJ = 0, CIS__GC_EXTERN = 1, CIS__GC_I31BOX = 2 };

/* An object. Its data follows the header, 16-byte aligned. */
typedef struct cis__gcobj {
  const cis__gclayout *lay;  /* its type (NULL for an extern wrapper) */
  struct cis__gcobj *next;   /* the heap's list of every object */
  cis__account *acct;        /* charged for it, counted */
  uint64_t bytes;            /* what it is charged */
  uint32_t len;              /* an array's elements */
  uint8_t kind;              /* CIS__GC_OBJ, CIS__GC_EXTERN or CIS__GC_I31BOX */
  uint8_t mark;              /* reached, during a collection */
  uint32_t pins;             /* times the host was handed it, less those it released
                                (cis_anyref_release): a root while not 0;
                                UINT32_MAX stays */
  _Alignas(16) uint8_t data[]; /* fields, elements, or the wrapped externref */
} cis__gcobj;

/* A cast's flags, above its kind in cis__gc_op's a. */
enum { CIS__GC_NULLABLE = 0x100, CIS__GC_NEGATE = 0x200 };

/* The i31 reference of the low 31 bits of v, and back. */
static inline uint64_t cis__i31_ref(uint32_t v) { return ((uint64_t)(v & 0x7fffffffu) << 1) | 1u; }
static inline bool cis__is_i31(uint64_t r) { return r & 1u; }
static inline uint32_t cis__i31_u(uint64_t r) { return (uint32_t)(r >> 1) & 0x7fffffffu; }
static inline int32_t cis__i31_s(uint64_t r) { return (int32_t)((uint32_t)(r >> 1) << 1) >> 1; }

/* Is full value type vt of module m a reference that may hold an object
 * (any's or extern's hierarchy)? funcref and exnref slots never do
 * (exceptions are the call's, marked through ex->exns). */
static inline bool cis__gc_vt_obj(const cis__module *m, uint32_t vt) {
  if (!cis__vt_is_ref(vt)) return false;
  if (cis__vt_has_idx(vt)) return cis__vt_idx(vt) < m->ntypes && !cis__is_functype(&m->types[cis__vt_idx(vt)]);
  uint8_t top = cis__kind_top(cis__vt_kind(vt));
  return top == CIS__ANYREF || top == CIS__EXTERNREF;
}

/* The layout of type x of mod (a struct or array type), or NULL when out
 * of memory. Thread safe; the first call per canonical type allocates. */
const cis__gclayout *cis__gc_layout(const cis_module *mod, uint32_t x);

/* A call (or an instantiation) of engine e starts: no collection runs
 * until the matching cis__gc_call_end. Waits while one runs. */
void cis__gc_call_begin(cis_engine *e);
/* It ends: when it was the last, the heap may be collected. */
void cis__gc_call_end(cis_engine *e);
/* Registers the roots of instance inst being built (its globals and
 * tables of any's and extern's hierarchies), and stops e's collections
 * when inst shares any with another engine. CIS_ENOMEM (message on the
 * engine). */
cis_result cis__gc_adopt(cis_instance *inst);
/* Pins what the host is handed (once more each): slot values n[0..) of types types[0..)
 * (full value types through vts when not NULL; a v128 takes two slots)
 * that are objects of e's heap. */
void cis__gc_pin_slots(cis_engine *e, const uint8_t *types, uint32_t n, const cis_slot *slots);
/* Table (table) or global p is being freed: it is no root any more. */
void cis__gc_forget(void *p, bool table);
/* cis_global_get's value of g, pinned when it is an object. */
cis_slot cis__gc_global_read(const cis_global *g);
/* Collects e's heap now unless a call runs; returns the objects freed. */
uint64_t cis__gc_collect(cis_engine *e);

/* Marks reference v (a slot of any's or extern's hierarchy) for the
 * collection m: what an engine's frame walker (cis__frames.roots) calls
 * for each such slot its frames hold. */
void cis__gc_mark(cis__gcmark *m, uint64_t v);
/* Can GC instruction op (enum cis__op) collect, under cis__gc_op? Those
 * that allocate; an engine's stack maps cover at least these. */
bool cis__gc_op_collects(uint32_t op);

/* What the collector asks of a running call (exec.c). */
/* How many calls of engine e call ex holds (cis__gc_call_begin): its
 * top-level call's, and those of other engines' instances it entered
 * from host functions. */
uint32_t cis__exec_gc_held(const cis__exec *ex, const cis_engine *e);

/* Frees engine e's heap: every object. */
void cis__gc_heap_free(cis_engine *e);
/* How many objects e's heap holds, and their bytes (tests). */
uint64_t cis__gc_count(cis_engine *e, uint64_t *bytes);
/* How many collections e's heap ran (tests). */
uint64_t cis__gc_collections(cis_engine *e);

/* Is r (an externref or anyref slot's pointer, not null, not i31) an
 * object of e's heap? */
bool cis__gc_is_obj(cis_engine *e, const void *r);

/* Does reference r (a slot of the hierarchy whose top is kind's) match
 * the heap type kind (an abstract one; with id != UINT32_MAX the concrete
 * type of canonical id `id`, kind its composite's), null only when
 * nullable? ref.test, ref.cast, br_on_cast. */
bool cis__gc_test(uint64_t r, uint8_t kind, uint32_t id, bool nullable);

/* Runs GC instruction op (enum cis__op, 0xFB) of inst's code under ex.
 * Its operands are in consecutive slots from args (a v128 in two), and
 * its result goes to args[0] (two slots for a v128). The casts test
 * args[0]: a is the heap type's kind with flags (CIS__GC_NULLABLE: null
 * matches, CIS__GC_NEGATE: the answer negated), b its canonical id (or
 * UINT32_MAX); ref.test, br_on_cast and br_on_cast_fail write the answer
 * (an i32) over it, ref.cast traps when it is no. Otherwise a is its
 * second index immediate, if any (struct.get: the field;
 * array.new_fixed: the count; array.new_data, array.init_data: the data
 * segment; array.new_elem, array.init_elem: the element segment), la and
 * lb the layouts of its type immediates. An allocation (an op for which
 * cis__gc_op_collects says so) may collect first: the references the
 * caller still needs must lie where ex->frames' stack maps say at the
 * frame's stopping place (the interpreter's), in its frames of
 * references (ex->roots: compiled code's) or in the call's exceptions. Returns CIS_OK, a trap (no message: the
 * engine names the function), or CIS_EMEMLIMIT / CIS_ENOMEM with the
 * message on ex->top. */
cis_result cis__gc_op(cis__exec *ex, cis_instance *inst, uint32_t op, uint32_t a, uint32_t b, const cis__gclayout *la, const cis__gclayout *lb, cis_slot *args);

/* A GC instruction of a constant expression (struct.new, struct.new_default,
 * array.new, array.new_default, array.new_fixed, ref.i31,
 * any.convert_extern, extern.convert_any) in instance inst being built:
 * its immediates at *p (advanced past them), its operands the top of
 * st[0 .. *n) (a v128's high 8 bytes in hi[], the same entry), replaced
 * by its result. False when the allocation failed (the account's limit
 * or out of memory): the result is then null. */
bool cis__gc_const_op(const cis_instance *inst, uint32_t op, const uint8_t **p, const uint8_t *end, cis_slot *st,
                      cis_slot *hi, int *n);

#endif /* CIS_RUNTIME_GC_H */
