/*
 * This file implements the compiled tier's engine ops (runtime.h) and the
 * runtime services compiled code calls (aot_rt.h). prepare obtains the
 * module's compiled object (cache.c: from the cache, or generated and
 * compiled now), unprepare unloads it, and call enters compiled code.
 *
 * Each entry into compiled code (a top-level call, a call from a host
 * function back into wasm, a call from another instance or engine) builds
 * a cis_aot_ctx on the C stack from the instance and sets a jump buffer.
 * Compiled functions call each other directly in C; a trap or a limit
 * raised anywhere below leaves by a long jump to the innermost entry, which
 * restores the call depth and returns the code. Only compiled frames and
 * this file's service frames lie between the two, and they hold no
 * resources, so nothing is leaked by skipping them. A call that leaves
 * compiled code (imports, host functions, other instances) goes through
 * cis__exec_call like any engine's, so the runtime's limits, re-entry and
 * linking work unchanged, and a failure it returns is re-raised here.
 *
 * Exceptions: a compiled function with a try links a handler of its own
 * (cis_aot_hnd, aot_rt.h) into the entry's context; a throw, or an
 * exception a call out of compiled code lets through, long-jumps to the
 * innermost one (raise_exn), or leaves the entry with CIS_EXCEPTION when
 * there is none, the exception in flight in cis__exec.exn as for every
 * engine.
 *
 * GC: compiled code runs each 0xFB instruction through one service (gc),
 * which is the interpreter's operation (cis__gc_op) on the operands the
 * code spilled to a slot array on its C stack; objects are charged,
 * trapped on and cast as on the interpreter. A function that holds object
 * references keeps them in a frame of slots on its C stack, linked from
 * the call (cis__exec.roots), which a collection marks; an entry restores
 * the link when a trap or an exception leaves by a long jump.
 *
 * Deadline and cancel: compiled code decrements the call's tick counter
 * (cis__exec.ticks) at every loop header and at the entries of functions
 * that call outside their loops or are long outside them (codegen.c,
 * scan_body), and calls tick() when it goes negative, which is the
 * runtime's one slow path (cis__exec_check: fuel, cancel flag, clock).
 * Every unbounded execution in wasm passes a loop header or such an
 * entry, so an infinite loop is stopped within one tick quantum of
 * iterations; the counter and the flag are per call and per instance, so
 * cancelling one instance never stops another. The same counter is the
 * fuel of this engine: one unit per ticking entry and loop iteration
 * (docs/aot.md).
 */
#include <dlfcn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aot/aot.h"
#include "runtime/gc.h"
#include "runtime/rt_internal.h"
#include "wasm/opcodes.h"

#if defined(__SANITIZE_ADDRESS__)
#define AOT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AOT_ASAN 1
#endif
#endif
#ifdef AOT_ASAN
#include <sanitizer/asan_interface.h>
#endif

/* The private state of one entry into compiled code. */
typedef struct entry_rt {
  cis__exec *ex;        /* the running call */
  cis_instance *inst;   /* the instance entered */
  const cis__aot_code *code; /* its module's compiled code */
  cis_result rc;        /* why it left (the long jump carries no value) */
  void *jb[5];          /* where traps and limits leave to (__builtin_setjmp) */
} entry_rt;

static inline entry_rt *RT(cis_aot_ctx *c) { return c->rt; }

/* The compiler's own setjmp and longjmp, not libc's: they keep the frame,
 * stack pointer and resume address only (the entering function saves the
 * registers itself) and bind no libc function, which was a lazy binding
 * (about 700 instructions) only a cached start paid. libc's longjmp would
 * also tell ASan that the skipped frames are gone: done here. */
__attribute__((noreturn)) static void leave(cis_aot_ctx *c, cis_result rc) {
  entry_rt *r = RT(c);
  r->rc = rc;
#ifdef AOT_ASAN
  __asan_handle_no_return();
#endif
  __builtin_longjmp(r->jb, 1);
}

/* -------------------------------------------------------- services */

__attribute__((noreturn)) static void api_trap(cis_aot_ctx *c, int32_t code, uint32_t func) {
  entry_rt *r = RT(c);
  char fn[192];
  if (func < r->inst->m->nfuncs) cis__fmt_func(fn, sizeof fn, r->inst->funcs[func]);
  else snprintf(fn, sizeof fn, "function %u", func);
  if (code == CIS_TRAP_STACK) cis__fail(r->ex->top, code, "call stack exhausted in %s", fn);
  else cis__fail(r->ex->top, code, "%s in %s", cis_strerror(code), fn);
  leave(c, code);
}

static void api_tick(cis_aot_ctx *c) {
  cis_result rc = cis__exec_check(RT(c)->ex);
  if (rc != CIS_OK) leave(c, rc);
}

/* Unwinds exception e: to the innermost handler of this entry (a
 * compiled function with a try, cis_aot_hnd), whose frame the long jump
 * resumes; or, when none, out of the entry with CIS_EXCEPTION and e in
 * flight. The frames skipped hold no resources, as for a trap. */
__attribute__((noreturn)) static void raise_exn(cis_aot_ctx *c, cis__exn *e) {
  RT(c)->ex->exn = e;
  cis_aot_hnd *h = c->hnd;
  if (!h) leave(c, CIS_EXCEPTION);
  h->exn = e;
#ifdef AOT_ASAN
  __asan_handle_no_return();
#endif
  __builtin_longjmp(h->jb, 1);
}

/* A call from compiled code ended with rc, not CIS_OK: an exception
 * unwinds, anything else leaves the entry. Out of the call's path. */
__attribute__((noreturn, noinline, cold)) static void call_failed(cis_aot_ctx *c, cis_result rc) {
  if (rc == CIS_EXCEPTION && RT(c)->ex->exn) raise_exn(c, RT(c)->ex->exn);
  leave(c, rc);
}

static void api_call_ref(cis_aot_ctx *c, void *fn, uint64_t *ar) {
  entry_rt *r = RT(c);
  cis_result rc = cis__exec_call(r->ex, r->inst, fn, (cis_slot *)ar);
  if (__builtin_expect(rc != CIS_OK, 0)) call_failed(c, rc);
}

static void api_call(cis_aot_ctx *c, uint32_t func, uint64_t *ar) {
  api_call_ref(c, RT(c)->inst->funcs[func], ar);
}

/* The memory instructions of any memory (the _n services); those of
 * memory 0 are the same with index 0. */
static int64_t api_memory_grow_n(cis_aot_ctx *c, uint32_t mem, uint64_t delta) {
  return cis__memory_grow(RT(c)->inst->memories[mem], delta);
}

static int32_t api_memory_init_n(cis_aot_ctx *c, uint32_t seg, uint32_t mem, uint64_t d,
                                 uint64_t s, uint64_t n) {
  return cis__memory_init(RT(c)->inst, seg, mem, d, s, n);
}

static int32_t api_memory_copy_n(cis_aot_ctx *c, uint32_t dm, uint32_t sm, uint64_t d,
                                 uint64_t s, uint64_t n) {
  cis_memory *const *mems = RT(c)->inst->memories;
  return cis__memory_copy(mems[dm], mems[sm], d, s, n);
}

static int32_t api_memory_fill_n(cis_aot_ctx *c, uint32_t mem, uint64_t d, uint32_t v,
                                 uint64_t n) {
  return cis__memory_fill(RT(c)->inst->memories[mem], d, (uint8_t)v, n);
}

static int64_t api_memory_grow(cis_aot_ctx *c, uint64_t delta) {
  return api_memory_grow_n(c, 0, delta);
}

static int32_t api_memory_init(cis_aot_ctx *c, uint32_t seg, uint64_t d, uint64_t s,
                               uint64_t n) {
  return api_memory_init_n(c, seg, 0, d, s, n);
}

static void api_data_drop(cis_aot_ctx *c, uint32_t seg) { cis__data_drop(RT(c)->inst, seg); }

static int32_t api_memory_copy(cis_aot_ctx *c, uint64_t d, uint64_t s, uint64_t n) {
  return api_memory_copy_n(c, 0, 0, d, s, n);
}

static int32_t api_memory_fill(cis_aot_ctx *c, uint64_t d, uint32_t v, uint64_t n) {
  return api_memory_fill_n(c, 0, d, v, n);
}

static int32_t api_table_get(cis_aot_ctx *c, uint32_t tab, uint64_t i, void **out) {
  return cis__table_get(RT(c)->inst->tables[tab], i, out);
}

static int32_t api_table_set(cis_aot_ctx *c, uint32_t tab, uint64_t i, void *v) {
  return cis__table_set(RT(c)->inst->tables[tab], i, v);
}

static uint32_t api_table_size(cis_aot_ctx *c, uint32_t tab) {
  return RT(c)->inst->tables[tab]->size;
}

static int64_t api_table_grow(cis_aot_ctx *c, uint32_t tab, void *init, uint64_t delta) {
  return cis__table_grow(RT(c)->inst->tables[tab], delta, init);
}

static int32_t api_table_fill(cis_aot_ctx *c, uint32_t tab, uint64_t i, void *v, uint64_t n) {
  return cis__table_fill(RT(c)->inst->tables[tab], i, v, n);
}

static int32_t api_table_copy(cis_aot_ctx *c, uint32_t dt, uint32_t st, uint64_t d,
                              uint64_t s, uint64_t n) {
  return cis__table_copy(RT(c)->inst, dt, st, d, s, n);
}

static int32_t api_table_init(cis_aot_ctx *c, uint32_t seg, uint32_t tab, uint64_t d,
                              uint64_t s, uint64_t n) {
  return cis__table_init(RT(c)->inst, seg, tab, d, s, n);
}

static void api_elem_drop(cis_aot_ctx *c, uint32_t seg) { cis__elem_drop(RT(c)->inst, seg); }

__attribute__((noreturn)) static void api_throw(cis_aot_ctx *c, uint32_t tag, uint64_t *vals,
                                                uint32_t func) {
  (void)func;
  entry_rt *r = RT(c);
  cis__exn *e;
  cis_result rc = cis__exn_new(r->ex, r->inst->tags[tag], &e);
  if (rc != CIS_OK) leave(c, rc);
  if (e->nslots) memcpy(e->vals, vals, (size_t)e->nslots * sizeof *e->vals);
  raise_exn(c, e);
}

__attribute__((noreturn)) static void api_throw_ref(cis_aot_ctx *c, void *exn, uint32_t func) {
  if (!exn) api_trap(c, CIS_TRAP_NULL_REF, func);
  raise_exn(c, exn);
}

static int32_t api_catch(cis_aot_ctx *c, void *exn, uint32_t tag, uint64_t *vals,
                         int32_t as_value) {
  entry_rt *r = RT(c);
  cis__exn *e = exn;
  if (tag != UINT32_MAX) {
    if (r->inst->tags[tag] != e->tag) return 0;
    if (e->nslots) memcpy(vals, e->vals, (size_t)e->nslots * sizeof *e->vals);
  }
  r->ex->exn = NULL;
  cis__exn_caught(r->ex, e, as_value != 0);
  return 1;
}

static void api_exn_keep(cis_aot_ctx *c, void *ref) { cis__exn_keep(RT(c)->ex, ref); }

/* The layout of type x of the entered module, asked of the runtime once
 * per type (a lock and a look-up) and kept in the code: layouts are per
 * canonical type, so any thread finds the same one. NULL when out of
 * memory. */
static const cis__gclayout *layout_of(entry_rt *r, uint32_t x) {
  const cis__gclayout *l = atomic_load_explicit(&r->code->layouts[x], memory_order_acquire);
  if (!l) {
    l = cis__gc_layout(r->inst->module, x);
    if (l) atomic_store_explicit(&r->code->layouts[x], l, memory_order_release);
  }
  return l;
}

/* Compiled code's frames of references are the runtime's. */
_Static_assert(sizeof(cis_aot_roots) == offsetof(cis__roots, s) &&
                   offsetof(cis_aot_roots, prev) == offsetof(cis__roots, prev) &&
                   offsetof(cis_aot_roots, n) == offsetof(cis__roots, n),
               "cis_aot_roots is cis__roots's header");

/* The cast flags compiled code passes (aot_rt.h): a change is a new ABI. */
_Static_assert(CIS__GC_NULLABLE == 0x100 && CIS__GC_NEGATE == 0x200, "the cast flags are CIS_AOT_ABI's");

static void api_gc(cis_aot_ctx *c, uint32_t code, uint32_t a, uint32_t b, uint32_t x, uint32_t y,
                   uint64_t *args, uint32_t func) {
  entry_rt *r = RT(c);
  enum cis__op op;
  const cis__gclayout *la = NULL, *lb = NULL;
  /* The generator writes only the module's GC instructions, of its types. */
  if (!cis__op_lookup(0xFB, code, &op) || !cis__op_is_gc(op) || (x != UINT32_MAX && x >= r->code->ntypes) ||
      (y != UINT32_MAX && y >= r->code->ntypes) || (x != UINT32_MAX && !r->code->layouts))
    api_trap(c, CIS_TRAP_UNREACHABLE, func);
  if ((x != UINT32_MAX && !(la = layout_of(r, x))) || (y != UINT32_MAX && !(lb = layout_of(r, y))))
    leave(c, cis__fail(r->ex->top, CIS_ENOMEM, "out of memory making a type's layout"));
  cis_result rc = cis__gc_op(r->ex, r->inst, op, a, b, la, lb, (cis_slot *)args);
  if (rc == CIS_OK) return;
  if (rc == CIS_EMEMLIMIT || rc == CIS_ENOMEM) leave(c, rc); /* the message is set */
  api_trap(c, rc, func);
}

static const cis_aot_api api = {
    .trap = api_trap,
    .tick = api_tick,
    .call = api_call,
    .call_ref = api_call_ref,
    .memory_grow = api_memory_grow,
    .memory_init = api_memory_init,
    .data_drop = api_data_drop,
    .memory_copy = api_memory_copy,
    .memory_fill = api_memory_fill,
    .table_get = api_table_get,
    .table_set = api_table_set,
    .table_size = api_table_size,
    .table_grow = api_table_grow,
    .table_fill = api_table_fill,
    .table_copy = api_table_copy,
    .table_init = api_table_init,
    .elem_drop = api_elem_drop,
    .throw_ = api_throw,
    .throw_ref = api_throw_ref,
    .catch_ = api_catch,
    .exn_keep = api_exn_keep,
    .memory_grow_n = api_memory_grow_n,
    .memory_init_n = api_memory_init_n,
    .memory_copy_n = api_memory_copy_n,
    .memory_fill_n = api_memory_fill_n,
    .gc = api_gc,
};

/* ----------------------------------------------------------- layout */

/* The offsets compiled code reads (codegen.c emits the same offsetof),
 * each in four decimal digits, in this order: cis_global.val,
 * cis_table.size, cis_table.elems, cis_func.kind, cis_func.type_id,
 * cis_func.inst, cis_func.index, cis_memory.base, cis_memory.size, the
 * sizes of a slot and of a pointer, then GC's: cis__gcobj.lay, .len and
 * .data, cis__gclayout.size and .fields, the size of a field and its
 * off. The compiler makes the digits (offsetof is a constant
 * expression), so the text is a constant: making it at every cached start
 * cost 0.9 K instructions and a pthread_once, whose first run is a futex
 * system call. */
#define LAYOUT_D4(v)                                                                   \
  (char)('0' + (v) / 1000 % 10), (char)('0' + (v) / 100 % 10), (char)('0' + (v) / 10 % 10), \
      (char)('0' + (v) % 10)
#define LAYOUT_FIELDS(X)                                                                  \
  X(offsetof(cis_global, val)) X(offsetof(cis_table, size)) X(offsetof(cis_table, elems)) \
  X(offsetof(cis_func, kind)) X(offsetof(cis_func, type_id)) X(offsetof(cis_func, inst))  \
  X(offsetof(cis_func, index)) X(offsetof(cis_memory, base)) X(offsetof(cis_memory, size))   \
  X(sizeof(cis_slot)) X(sizeof(void *)) X(offsetof(cis__gcobj, lay)) X(offsetof(cis__gcobj, len)) \
  X(offsetof(cis__gcobj, data)) X(offsetof(cis__gclayout, size)) X(offsetof(cis__gclayout, fields)) \
  X(sizeof(struct cis__gcfield)) X(offsetof(struct cis__gcfield, off))
#define LAYOUT_FIELD(v) LAYOUT_D4(v), ' ',
#define LAYOUT_FITS(v) _Static_assert((v) < 10000, "a layout field has four digits");
LAYOUT_FIELDS(LAYOUT_FITS)
static const char layout_text[] = {LAYOUT_FIELDS(LAYOUT_FIELD) 0};

const char *cis__aot_layout(void) { return layout_text; }

/* ------------------------------------------------------------- ops */

/* The code of m from its loaded object ld (whose count it takes over). */
static cis_result code_of(const cis__module *m, cis__aot_loaded *ld, cis__aot_code **out, char *msg,
                          size_t cap) {
  const cis_aot_object *obj = cis__aot_loaded_object(ld);
  if (obj->nfuncs != m->ncodes) {
    cis__aot_release(ld);
    snprintf(msg, cap, "the compiled object has %u functions, the module %u", obj->nfuncs,
             m->ncodes);
    return CIS_EIO;
  }
  cis__aot_code *code = calloc(1, sizeof *code);
  if (!code) {
    cis__aot_release(ld);
    snprintf(msg, cap, "out of memory loading compiled code");
    return CIS_ENOMEM;
  }
  code->ld = ld;
  code->obj = obj;
  code->nimports = m->nfunc_imports;
  code->ntypes = m->ntypes;
  if (m->uses_gc && m->ntypes && !(code->layouts = calloc(m->ntypes, sizeof *code->layouts))) {
    cis__aot_code_free(code);
    snprintf(msg, cap, "out of memory loading compiled code");
    return CIS_ENOMEM;
  }
  *out = code;
  return CIS_OK;
}

void cis__aot_release_bytes(void *owner) { cis__aot_release(owner); }

cis_result cis__aot_hold_known_bytes(const uint8_t *bytes, size_t len, int standard,
                                     const uint8_t **held, void **owner) {
  cis__aot_loaded *ld = NULL;
  cis_result rc = cis__aot_known_bytes(bytes, len, standard, &ld, held);
  *owner = ld;
  return rc;
}

cis_result cis__aot_hold_known_file(const cis__file_id *f, int standard, const uint8_t **held,
                                    void **owner) {
  cis__aot_loaded *ld = NULL;
  cis_result rc = cis__aot_known_file(f, standard, &ld, held);
  *owner = ld;
  return rc;
}

void cis__aot_remember_known_file(const cis__file_id *f, int standard, void *owner) {
  (void)standard; /* in the key text of owner's entry */
  cis__aot_remember_file(f, owner);
}

cis_result cis__aot_load(const cis__module *m, bool compile, uint64_t wait_ms, uint64_t deadline,
                         cis__aot_code **out, bool *compiled, char *msg, size_t cap) {
  cis__aot_loaded *ld = NULL;
  bool did = false;
  *out = NULL;
  if (compiled) *compiled = false;
  cis_result rc;
  /* Decoded from the bytes of the object it found (known_bytes): that
   * object, without looking for it again. */
  if (m->bytes_release == cis__aot_release_bytes)
    return code_of(m, cis__aot_retain(m->bytes_owner), out, msg, cap);
  rc = cis__aot_obtain(m, compile, wait_ms, deadline, &ld, &did, msg, cap);
  if (compiled) *compiled = did;
  return rc == CIS_OK ? code_of(m, ld, out, msg, cap) : rc;
}

const cis__mem_image *cis__aot_code_image(const cis__aot_code *code, const cis__module *m) {
  return code ? cis__aot_image(code->ld, m) : NULL;
}

static const cis__mem_image *aot_mem_image(cis_module *mod) {
  return cis__aot_code_image(mod->engine_data, mod->m);
}

void cis__aot_code_free(cis__aot_code *code) {
  if (!code) return;
  cis__aot_release(code->ld);
  free((void *)code->layouts);
  free(code);
}

static cis_result aot_prepare(cis_module *mod) {
  char msg[CIS_ERRMSG_MAX];
  msg[0] = 0;
  cis__aot_code *code = NULL;
  /* A compile waits for another process compiling the same module at
   * most as long as a call of the engine may last: the module is loaded
   * for a call, which is meant to end by then. A load on a call's own
   * time (cis_module_new_until) ends by that call's deadline. */
  cis_result rc = cis__aot_load(mod->m, true, mod->engine->cfg.limits.timeout_ms,
                                mod->load_deadline, &code, NULL, msg, sizeof msg);
  if (rc != CIS_OK) return cis__fail(mod, rc, "%s", msg[0] ? msg : cis_strerror(rc));
  mod->engine_data = code;
  return CIS_OK;
}

/* Before validation (runtime.h): the code of a module whose very bytes
 * are in the cache, or already loaded in this process. Skipping the
 * validation then is safe: a load compares the entry's module bytes with
 * the module's in full (cache.c), and an entry is only ever compiled from
 * a module that passed validation, so these bytes passed it too; the
 * validator fills nothing the engines read. An entry written by someone
 * else could hold bytes that never passed it, but whoever can write the
 * cache can already write the machine code that runs. CIS_ENOTFOUND when
 * there is no such code (nothing is compiled here). */
static cis_result aot_prepare_known(cis_module *mod) {
  char msg[CIS_ERRMSG_MAX];
  cis__aot_code *code = NULL;
  cis_result rc = cis__aot_load(mod->m, false, 0, 0, &code, NULL, msg, sizeof msg);
  if (rc == CIS_OK) mod->engine_data = code;
  return rc;
}

static void aot_unprepare(cis_module *mod) {
  cis__aot_code_free(mod->engine_data);
  mod->engine_data = NULL;
}

/* What the CPU runs of the code of functions that use v128
 * (aot_prelude_simd.h): bit 0, their x86-64-v2 bodies (SSSE3, SSE4.1,
 * SSE4.2 and POPCNT, the level's instructions the generated code may
 * use); bit 1, SSSE3 (the base bodies' shuffles). The object cannot ask
 * itself: libgcc's part of __builtin_cpu_supports is a constructor, and
 * cis runs none. Asked once; every thread gets the same answer, so a
 * race only asks twice. */
static uint32_t cpu_bits(void) {
#if defined(__x86_64__)
  static _Atomic int v = -1;
  int x = atomic_load_explicit(&v, memory_order_relaxed);
  if (x < 0) {
    __builtin_cpu_init();
    int ssse3 = __builtin_cpu_supports("ssse3") != 0;
    x = (ssse3 && __builtin_cpu_supports("sse4.1") && __builtin_cpu_supports("sse4.2") &&
         __builtin_cpu_supports("popcnt")) |
        ssse3 << 1;
    atomic_store_explicit(&v, x, memory_order_relaxed);
  }
  return (uint32_t)x;
#else
  return 0;
#endif
}

/* Enters compiled function f on slots ar. The depth the runtime counted
 * for this call (cis__exec_call) is handed to the compiled function,
 * which counts itself on entry. */
cis_result cis__aot_enter(cis__exec *ex, cis_func *f, cis_slot *ar, const cis__aot_code *code) {
  cis_instance *inst = f->inst;
  entry_rt r;
  r.ex = ex;
  r.inst = inst;
  r.code = code;
  cis_aot_ctx c;
  cis_memory *mem0 = inst->m->nmemories ? inst->memories[0] : NULL;
  c.mem = mem0 ? mem0->base : NULL;
  c.mem_size = mem0 ? &mem0->size : NULL;
  c.ticks = &ex->ticks;
  c.depth = &ex->depth;
  c.max_depth = ex->max_depth;
  c.cstack_limit = cis__exec_cstack_limit(ex);
  c.globals = (void *const *)inst->globals;
  c.funcs = (void *const *)inst->funcs;
  c.tables = (void *const *)inst->tables;
  c.type_ids = inst->module->type_ids;
  c.inst = inst;
  c.api = &api;
  c.fptrs = code->obj->fptrs;
  const uint32_t cpu = cpu_bits();
  c.cpu_v2 = cpu & 1;
  c.cpu_ssse3 = cpu >> 1 & 1;
  c.rt = &r;
  c.hnd = NULL;
  c.mems = (void *const *)inst->memories;
  c.roots = (cis_aot_roots **)&ex->roots;
  const uint32_t depth0 = ex->depth;
  /* a long jump skips the frames' unlinking of their references */
  cis__roots *const roots0 = ex->roots;
  ex->depth--;
  r.rc = CIS_OK;
  if (__builtin_setjmp(r.jb)) {
    ex->depth = depth0;
    ex->roots = roots0;
    return r.rc;
  }
  code->obj->entries[f->index - code->nimports](&c, (uint64_t *)ar);
  ex->depth = depth0;
  return CIS_OK;
}

static cis_result aot_call(cis__exec *ex, cis_func *f, cis_slot *ar) {
  return cis__aot_enter(ex, f, ar, f->inst->module->engine_data);
}

const cis__engine_ops cis__aot_ops = {
    .name = "aot",
    .prepare = aot_prepare,
    .unprepare = aot_unprepare,
    .call = aot_call,
    .prepare_known = aot_prepare_known,
    .known_bytes = cis__aot_hold_known_bytes,
    .release_bytes = cis__aot_release_bytes,
    .known_file = cis__aot_hold_known_file,
    .remember_file = cis__aot_remember_known_file,
    .mem_image = aot_mem_image,
};
