/*
 * This file declares what the interpreter's files share: the internal code
 * a module's function bodies are translated into, the per-function
 * descriptors, and the entry points of the translator (translate.c) and
 * the executor (execute.c). Nothing outside src/interp/ includes it; the
 * rest of the library sees only cis__interp_ops (interp_ops.h).
 *
 * Frames. A function runs on a flat frame of 8-byte slots inside the call's
 * value stack: parameters first, then declared locals, then the constants
 * that code inside loops reads (filled on entry, so a loop reads them for
 * free), then one slot per operand-stack position the translator found
 * the body can reach. An
 * internal instruction names its operands by slot number, so the wasm
 * operand stack never moves at run time. A call passes its arguments in
 * place: the callee's frame starts at the caller's slot of the first
 * argument, and the callee leaves its results in its first slots, where the
 * caller expects them.
 *
 * v128. A v128 value takes two consecutive slots, its low 8 bytes (lanes
 * 0..) first: a v128 parameter or local, and an operand-stack position
 * holding a v128, are two slots wide, so slot numbers follow the types
 * below them (the translator tracks which stack entries are v128). The
 * same layout holds for arguments and results in place, and for the
 * runtime's slot arrays (cis_func_call_slots, host functions). nparams,
 * nresults and ninit below count slots, not values.
 *
 * Return records (where to resume the caller) grow down from the top of the
 * value stack while frames grow up from the bottom; the call traps with
 * CIS_TRAP_STACK when they would meet.
 *
 * Stack maps (WebAssembly GC). A function whose frame may ever hold a
 * reference of any's or extern's hierarchy gets a map after its handler
 * table (gcmap): its parameters and locals of those types, and per place
 * where a collection can find the frame stopped (just after a call, or
 * after a GC instruction that may allocate) the operand slots below the
 * instruction's operands that hold one then. Each entry into the loop
 * (cis__interp_run) is an entry of ex->frames that says where its
 * current frame stopped; the frames under it are those of its return
 * records, which resume just after their calls. A collection inside the
 * call marks exactly the mapped slots of every frame (execute.c,
 * interp_roots), and frees nothing when a frame's place is unmapped.
 *
 * Fuel. The unit is one wasm instruction. A function charges, on entry, the
 * number of instructions in its body (a loop body counted once), and every
 * taken back edge of a loop charges the number of instructions in that
 * loop's body (nested loops counted once). This is an approximation that
 * depends only on the path taken, so it is deterministic. Calls that leave
 * the interpreter (host functions, other instances) charge 1.
 *
 * Handlers. A function with a try (try_table, or the legacy try) has a
 * handler table after its code, in 32-bit units: the number of entries
 * and of clauses, then per entry (one per try, in the order the tries
 * open, so an entry nested in another comes after it) its body's code
 * range [start, end), the entry to try next (CIS__IHND_NONE: the caller),
 * its first clause and their count; then per clause its tag index
 * (CIS__IHND_ALL: any), the code position to resume at, the first slot
 * that gets the exception's values and the slot that gets its exnref
 * (CIS__IHND_NONE: none). An exception at code position pos of a frame
 * is looked up in the last entry whose range holds pos (the innermost),
 * then along `next`; a frame that catches nothing returns to its caller,
 * which looks it up at its call. Unwinding charges no fuel.
 */
#ifndef CIS_INTERP_INTERP_H
#define CIS_INTERP_INTERP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

#include "interp/interp_ops.h"
#include "runtime/runtime.h"

/* Direct threading needs labels as values (GCC, clang). Build with
 * -DCIS_INTERP_SWITCH=1 for the portable switch dispatch. */
#ifndef CIS_INTERP_SWITCH
#if defined(__GNUC__)
#define CIS_INTERP_SWITCH 0
#else
#define CIS_INTERP_SWITCH 1
#endif
#endif

/* Internal operation numbers (ops.def). */
enum {
#define OP(name, fmt) CIS__IOP_##name,
#include "interp/ops.def"
#undef OP
  CIS__IOP_COUNT
};

/* One function's code. A function is translated on its first call: until
 * then code is NULL and only index, nparams and nresults are set. The
 * translation fills the other fields, then stores code with release order;
 * whoever reads code with acquire order and finds it set may read the rest
 * (written once, never changed). */
typedef struct cis__ifunc {
  _Atomic(const uint32_t *) code; /* first instruction; NULL until translated */
  const cis_slot *init; /* what slots nparams .. nparams+ninit-1 start with (never NULL once translated) */
  uint32_t ninit;       /* declared locals (zero) then constants used in loops */
  uint32_t index;       /* function index in the module (imports included) */
  uint32_t nparams;     /* parameters: slots 0 .. nparams-1 */
  uint32_t nresults;    /* results, left in slots 0 .. nresults-1 */
  uint32_t nslots;      /* frame size in slots (locals, constants, operand stack) */
  uint32_t cost;        /* fuel charged on entry */
  size_t need;          /* bytes a call needs: frame plus one return record */
  size_t ncode;         /* units of code (the disassembler's bound) */
  const uint32_t *hnd;  /* handler table (after the code), or NULL when no try */
  uint32_t nhnd;        /* its units */
  const uint32_t *gcmap; /* stack map (after the handlers: cis__interp_gc_slots),
                           or NULL when no slot ever holds a reference of
                           any's or extern's hierarchy */
  uint32_t ngcmap;      /* its units */
  void *block;          /* the allocation holding init, code, handlers, stack
                           map, then the offset map (cis__interp_wasm_offset),
                           or NULL */
} cis__ifunc;

/* A module's code, kept in cis_module.engine_data. Functions are
 * translated on their first call, by whichever thread makes it; the
 * executor takes no lock (an acquire load of the callee's code and a test
 * for NULL), the lock serialises translations only: each function is
 * translated once, and the translator's scratch buffers are reused from
 * one to the next. */
typedef struct cis__icode {
  cis__ifunc *funcs;     /* one per defined function */
  uint32_t nfuncs;       /* defined functions */
  uint32_t nimports;     /* imported functions: index i is funcs[i - nimports] */
  cis_module *mod;       /* the module (not owned) */
  pthread_mutex_t lock;  /* held while translating */
  struct tr *scratch;    /* translator state kept between translations, or NULL */
  atomic_uint ntranslated; /* functions translated so far */
  atomic_uint fail_next;   /* test hook: translations left to fail as out of memory */
} cis__icode;

/* The handler table's marks (above). */
#define CIS__IHND_ALL UINT32_MAX
#define CIS__IHND_NONE UINT32_MAX
enum { CIS__IHND_HEAD = 2, CIS__IHND_ENTRY = 5, CIS__IHND_CLAUSE = 4 };

/* Where a frame resumes its caller, kept at the top of the value stack. */
typedef struct cis__iret {
  const uint32_t *pc;        /* caller's next instruction */
  cis_slot *fp;              /* caller's frame */
  const cis__ifunc *fn;      /* caller, for trap messages */
} cis__iret;

/* Makes the code of mod (validated) with no function translated yet.
 * Errors: CIS_ENOMEM; CIS_EINVALID when the function and code counts
 * differ. The message is set on mod. */
cis_result cis__interp_prepare(cis_module *mod, cis__icode **out);
/* Frees the code and every translation; NULL is fine. */
void cis__interp_free(cis__icode *ic);

/* Translates defined function i (0-based, imports excluded) unless some
 * thread did; *out is &ic->funcs[i], its code set. Thread safe. Errors:
 * CIS_ENOMEM; CIS_ETOOBIG when the function's frame cannot be addressed;
 * CIS_EINVALID when the body does not decode as the validator promised.
 * The message is set on msgh (the caller's handle, since the module is
 * shared); the function stays untranslated, so a later call tries again. */
cis_result cis__interp_resolve(cis__icode *ic, uint32_t i, void *msgh, const cis__ifunc **out);

/* f's code with acquire order: NULL while f is not translated. */
static inline const uint32_t *cis__interp_code(const cis__ifunc *f) {
  return atomic_load_explicit(&f->code, memory_order_acquire);
}

/* The module offset of the wasm instruction that the code of translated
 * function f (of module m) at unit pos came from, for a trap's backtrace:
 * with after false, pos is where an instruction that trapped starts; with
 * after true, it is a return address, just after a call. Only
 * instructions that can trap or call are mapped (a few bytes each, after
 * the code, so only translated functions pay). False when pos is before
 * every mapped instruction. */
bool cis__interp_wasm_offset(const cis__module *m, const cis__ifunc *f, size_t pos, bool after, uint32_t *off);

/* The slots of the frame of translated function f (gcmap not NULL) that
 * hold references of any's or extern's hierarchy while it is stopped at
 * code unit pos, just after a call or a GC instruction that may collect:
 * its parameters and locals of those types, all their lives (*loc,
 * *nloc), and the operand slots below the instruction's operands that
 * hold one (*ops, *nops). False when pos is no such place (or the map
 * gave up its places): the frame cannot be mapped there. */
bool cis__interp_gc_slots(const cis__ifunc *f, size_t pos, const uint32_t **loc, uint32_t *nloc,
                          const uint32_t **ops, uint32_t *nops);

/* Internal queries and hooks, for tests and the fuzzers. They do nothing
 * (false, 0, CIS_EINVAL) for a module another engine prepared. */
/* Whether function fidx (imports included) of mod has been translated. */
bool cis__interp_is_translated(const cis_module *mod, uint32_t fidx);
/* How many of mod's functions have been translated. */
uint32_t cis__interp_translated_count(const cis_module *mod);
/* Translates every function of mod that is not yet; the first error
 * stops it. The message goes to mod's own handle: one thread only. */
cis_result cis__interp_translate_all(cis_module *mod);
/* Makes the next n allocations of mod's translations fail as if memory
 * ran out: the translator's first state, or a translation's block. */
void cis__interp_fail_translations(cis_module *mod, unsigned n);

/* Code units of an instruction's handler word. */
#define CIS__IHEAD 2
/* The handler word of each internal operation, as the executor dispatches
 * it: the handler's address with direct threading, the op number with the
 * switch. Stored in the first CIS__IHEAD units of an instruction. */
const void *const *cis__interp_handlers(void);

/* Runs f of inst with its frame at fp: parameters already in place and
 * the slots after them filled from f->init. Results are left in fp[0 .. nresults-1]. Return
 * records go below ex->stack_end. Returns CIS_OK, a trap (message on
 * ex->top) or a limit code from cis__exec_check / cis__exec_call. */
cis_result cis__interp_run(cis__exec *ex, cis_instance *inst, const cis__ifunc *f, cis_slot *fp);

/* Disassembler (dump.c), for debugging and tests. */
/* Writes translated function f, one instruction a line. */
void cis__interp_dump(const cis__ifunc *f, FILE *out);
/* Length in units of the instruction at code[at] (its op in *op), or -1
 * when the word there is no instruction or it overruns ncode. */
int cis__interp_next(const uint32_t *code, size_t ncode, size_t at, int *op);
/* Name of op number op ("i32_add_si"). */
const char *cis__interp_op_name(int op);

#endif /* CIS_INTERP_INTERP_H */
