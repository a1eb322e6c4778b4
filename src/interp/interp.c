/*
 * This file implements the interpreter's engine ops (runtime.h): prepare
 * makes a validated module's code, with every function left to translate
 * on its first call (translate.c), unprepare frees it, and call runs one
 * wasm function on the value stack of the running call.
 *
 * An entry through call() is where the interpreter joins the runtime's call
 * chain: a top-level call, a call from a host function back into wasm, or
 * a call from another instance. Calls inside one instance never come back
 * here; execute.c handles them without C recursion.
 */
#include <string.h>

#include "interp/interp.h"

static cis_result interp_prepare(cis_module *mod) {
  cis__icode *ic = NULL;
  cis_result rc = cis__interp_prepare(mod, &ic);
  if (rc != CIS_OK) return rc;
  mod->engine_data = ic;
  return CIS_OK;
}

static void interp_unprepare(cis_module *mod) {
  cis__interp_free(mod->engine_data);
  mod->engine_data = NULL;
}

/* Runs wasm function f of f->inst with its frame at ex->sp, translating
 * it first if this is its first call. ar holds the arguments and receives
 * the results. Errors: CIS_TRAP_STACK when the frame does not fit, those of
 * cis__interp_resolve, any trap or limit code of the run. */
static cis_result interp_call(cis__exec *ex, cis_func *f, cis_slot *ar) {
  cis_instance *inst = f->inst;
  cis__icode *ic = inst->module->engine_data;
  const cis__ifunc *fn = &ic->funcs[f->index - ic->nimports];
  if (!cis__interp_code(fn)) {
    cis_result rc = cis__interp_resolve(ic, f->index - ic->nimports, ex->top, &fn);
    if (rc != CIS_OK) return rc;
  }
  if (__builtin_expect(!ex->stack, 0)) { /* the call's first entry into the interpreter */
    cis_result rc = cis__exec_value_stack(ex);
    if (rc != CIS_OK) return rc;
  }
  cis_slot *fp = ex->sp;
  if (fp < ex->stack || fp > ex->stack_end ||
      (size_t)((char *)ex->stack_end - (char *)fp) < fn->need)
  {
    char name[192];
    cis__fmt_func(name, sizeof name, f);
    return cis__fail(ex->top, CIS_TRAP_STACK, "call stack exhausted in %s", name);
  }
  /* ar may lie in the caller's frame just below fp; memmove either way. */
  if (fn->nparams) memmove(fp, ar, (size_t)fn->nparams * sizeof *fp);
  if (fn->ninit) memcpy(fp + fn->nparams, fn->init, (size_t)fn->ninit * sizeof *fp);
  ex->ticks -= fn->cost;
  if (ex->ticks < 0) {
    cis_result rc = cis__exec_check(ex);
    if (rc != CIS_OK) return rc;
  }
  cis_result rc = cis__interp_run(ex, inst, fn, fp);
  if (rc == CIS_OK && fn->nresults) memmove(ar, fp, (size_t)fn->nresults * sizeof *fp);
  return rc;
}

const cis__engine_ops cis__interp_ops = {
    .name = "interp",
    .prepare = interp_prepare,
    .unprepare = interp_unprepare,
    .call = interp_call,
};
