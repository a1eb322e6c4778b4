/*
 * harness.c -- the two fuzzing harnesses: decode, and decode-link-run.
 *
 * This file implements what fuzz_decode and fuzz_run do with one input
 * (see harness.h). It is linked both into the libFuzzer binaries and into
 * the regression tests, and uses nothing but the public API. Everything the
 * engine hands back (messages, names, signatures, memory) is read in full,
 * so that AddressSanitizer checks those buffers too, not only the engine's
 * own accesses. One exception to the public API: the interpreter translates a
 * function on its first call, so both harnesses translate every function
 * that was not called (cis__interp_translate_all), to keep the translator
 * under the fuzzer.
 */
#include "harness.h"

#include "interp/interp.h"

#include <stdlib.h>
#include <string.h>

/* Reads of returned data end here so the compiler cannot drop them. */
static volatile uint64_t sink;

static void touch(const void *p, size_t n) {
  const uint8_t *b = p;
  uint64_t h = 0;
  for (size_t i = 0; i < n; i++) h = h * 31 + b[i];
  sink += h;
}

static void touch_str(const char *s) { touch(s, strlen(s)); }

static void touch_desc(const cis_extern_desc *d) {
  touch(d->module, d->module_len);
  touch(d->name, d->name_len);
  if (d->kind == CIS_EXTERN_FUNC) {
    touch(d->params, d->nparams * sizeof *d->params);
    touch(d->results, d->nresults * sizeof *d->results);
  }
}

static cis_engine *new_engine(void) {
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  /* The interpreter, not the default tiering: a fuzzer must not fork a
   * compile (and a C compiler) for each module it makes up. The compiled
   * tier's inputs are fuzzed by fuzz_aot_entry and fuzz_aot_elf. */
  cfg.engine = "interp";
  cfg.limits.fuel = CIS_FUZZ_FUEL;
  cfg.limits.timeout_ms = CIS_FUZZ_TIMEOUT_MS;
  cfg.limits.max_memory_bytes = CIS_FUZZ_MAX_MEMORY;
  cfg.limits.max_table_elems = CIS_FUZZ_MAX_TABLE;
  cfg.limits.max_call_depth = CIS_FUZZ_MAX_DEPTH;
  cis_engine *e = NULL;
  if (cis_engine_new(&cfg, &e) != CIS_OK) return NULL;
  return e;
}

/* Validates and reads back a module. Returns it, or NULL when it did not
 * validate (the message has then been read). */
static cis_module *load(cis_engine *e, const uint8_t *bytes, size_t len) {
  cis_module *m = NULL;
  cis_result r = cis_module_new(e, bytes, len, &m);
  if (r != CIS_OK) {
    /* Error messages quote offsets, names and counts from the input. */
    touch_str(cis_errmsg(e));
    touch_str(cis_strerror(r));
    touch_str(cis_errname(r));
    return NULL;
  }
  cis_extern_desc d;
  for (uint32_t i = 0, n = cis_module_import_count(m); i < n; i++)
    if (cis_module_import(m, i, &d) == CIS_OK) touch_desc(&d);
  for (uint32_t i = 0, n = cis_module_export_count(m); i < n; i++)
    if (cis_module_export(m, i, &d) == CIS_OK) touch_desc(&d);
  return m;
}

void cis_fuzz_decode(const uint8_t *bytes, size_t len) {
  cis_engine *e = new_engine();
  if (!e) return;
  cis_module *m = load(e, bytes, len);
  if (m) {
    (void)cis__interp_translate_all(m);
    cis_module_free(m);
  }
  cis_engine_free(e);
}

/* ------------------------------------------------------------- fuzz_run */

/* The host function behind every function import: all results zero (for
 * references, null). The result count travels in the user pointer. */
static cis_result zero_fn(cis_call *call, const cis_slot *args, cis_slot *results) {
  (void)args;
  size_t n = (size_t)(uintptr_t)cis_call_user(call);
  for (size_t i = 0; i < n; i++) results[i].u64 = 0;
  return CIS_OK;
}

static char sig_char(cis_valtype t) {
  switch (t) {
  case CIS_I32: return 'i';
  case CIS_I64: return 'I';
  case CIS_F32: return 'f';
  case CIS_F64: return 'F';
  case CIS_EXTERNREF: return 'r';
  case CIS_FUNCREF: return 'R';
  case CIS_V128: return 'v'; /* two slots; cis_val.v128 (zero here) */
  default: return 0;
  }
}

/* Writes the signature string of a function type into a new buffer, or
 * returns NULL when a type cannot be expressed. */
static char *signature(const cis_extern_desc *d) {
  char *s = malloc((size_t)d->nparams + d->nresults + 3), *p = s;
  if (!s) return NULL;
  *p++ = '(';
  for (uint32_t i = 0; i < d->nparams; i++)
    if (!(*p++ = sig_char(d->params[i]))) goto fail;
  *p++ = ')';
  for (uint32_t i = 0; i < d->nresults; i++)
    if (!(*p++ = sig_char(d->results[i]))) goto fail;
  *p = 0;
  return s;
fail:
  free(s);
  return NULL;
}

/* One object made to satisfy an import, kept to be freed at the end. */
typedef struct made {
  cis_extern_kind kind; /* which *_free to call */
  void *obj;            /* the func, memory, table or global; NULL if none */
} made;

static void free_made(made *mk) {
  switch (mk->kind) {
  case CIS_EXTERN_FUNC: cis_func_free(mk->obj); break;
  case CIS_EXTERN_MEMORY: cis_memory_free(mk->obj); break;
  case CIS_EXTERN_TABLE: cis_table_free(mk->obj); break;
  case CIS_EXTERN_GLOBAL: cis_global_free(mk->obj); break;
  case CIS_EXTERN_TAG: break; /* never made: tags come from instances only */
  }
}

/* Makes an external matching import d and adds it to im. Imports that
 * cannot be met within the fuzzing limits are left out: instantiation then
 * fails with an unknown import, which is a path worth running too. */
static void satisfy(cis_engine *e, cis_imports *im, const cis_extern_desc *d, made *mk) {
  mk->kind = d->kind;
  mk->obj = NULL;
  cis_result r = CIS_OK;
  switch (d->kind) {
  case CIS_EXTERN_FUNC: {
    char *sig = signature(d);
    if (!sig) return;
    cis_host_func_def def = {.module = "fuzz", .name = "zero", .signature = sig,
                             .fn = zero_fn, .user = (void *)(uintptr_t)d->nresults};
    cis_func *f = NULL;
    r = cis_func_new_host(e, &def, &f);
    free(sig);
    if (r != CIS_OK) return;
    mk->obj = f;
    r = cis_imports_add_func(im, d->module, d->module_len, d->name, d->name_len, f);
    break;
  }
  case CIS_EXTERN_MEMORY: {
    if (d->min > CIS_FUZZ_MAX_MEMORY / 65536) return;
    cis_memory *mem = NULL;
    uint32_t max = d->max > UINT32_MAX ? UINT32_MAX : (uint32_t)d->max;
    if (cis_memory_new(e, (uint32_t)d->min, max, d->has_max, &mem) != CIS_OK) return;
    mk->obj = mem;
    r = cis_imports_add_memory(im, d->module, d->module_len, d->name, d->name_len, mem);
    break;
  }
  case CIS_EXTERN_TABLE: {
    if (d->min > CIS_FUZZ_MAX_TABLE) return;
    cis_table *t = NULL;
    uint32_t max = d->max > UINT32_MAX ? UINT32_MAX : (uint32_t)d->max;
    if (cis_table_new(e, d->type, (uint32_t)d->min, max, d->has_max, &t) != CIS_OK) return;
    mk->obj = t;
    r = cis_imports_add_table(im, d->module, d->module_len, d->name, d->name_len, t);
    break;
  }
  case CIS_EXTERN_GLOBAL: {
    if (!sig_char(d->type)) return;
    cis_val v = {.type = d->type, .of.u64 = 0};
    cis_global *g = NULL;
    if (cis_global_new(e, v, d->mutable_, &g) != CIS_OK) return;
    mk->obj = g;
    r = cis_imports_add_global(im, d->module, d->module_len, d->name, d->name_len, g);
    break;
  }
  case CIS_EXTERN_TAG: break; /* an embedder makes no tags: an unknown import */
  }
  /* A rejected duplicate name is fine: the first one stands. */
  (void)r;
}

/* Calls one exported function with zero arguments, if its signature can be
 * expressed with cis_val. */
static void call_export(cis_instance *inst, const cis_extern_desc *d) {
  cis_extern ext;
  if (cis_instance_export(inst, d->name, d->name_len, &ext) != CIS_OK) return;
  if (ext.kind != CIS_EXTERN_FUNC) return;
  uint32_t np, nr;
  const cis_valtype *pt, *rt;
  cis_func_type(ext.of.func, &np, &pt, &nr, &rt);
  for (uint32_t i = 0; i < np; i++)
    if (!sig_char(pt[i])) return;
  for (uint32_t i = 0; i < nr; i++)
    if (!sig_char(rt[i])) return;
  cis_val *args = calloc((size_t)np + 1, sizeof *args);
  cis_val *res = calloc((size_t)nr + 1, sizeof *res);
  if (args && res) {
    for (uint32_t i = 0; i < np; i++) args[i].type = pt[i];
    cis_result r = cis_func_call(inst, ext.of.func, args, np, res, nr);
    if (r != CIS_OK) touch_str(cis_errmsg(inst));
    else touch(res, nr * sizeof *res);
  }
  free(args);
  free(res);
}

void cis_fuzz_run(const uint8_t *bytes, size_t len) {
  cis_engine *e = new_engine();
  if (!e) return;
  cis_module *m = load(e, bytes, len);
  cis_imports *im = NULL;
  cis_instance *inst = NULL;
  made *mk = NULL;
  uint32_t nimp = 0;
  if (!m) goto done;
  nimp = cis_module_import_count(m);
  mk = calloc((size_t)nimp + 1, sizeof *mk);
  if (!mk || cis_imports_new(e, &im) != CIS_OK) goto done;
  for (uint32_t i = 0; i < nimp; i++) {
    cis_extern_desc d;
    if (cis_module_import(m, i, &d) == CIS_OK) satisfy(e, im, &d, &mk[i]);
  }

  if (cis_instance_new(m, im, NULL, &inst) != CIS_OK) {
    touch_str(cis_errmsg(e));
    goto done;
  }
  uint32_t calls = 0;
  for (uint32_t i = 0, n = cis_module_export_count(m); i < n && calls < CIS_FUZZ_MAX_CALLS; i++) {
    cis_extern_desc d;
    if (cis_module_export(m, i, &d) != CIS_OK || d.kind != CIS_EXTERN_FUNC) continue;
    call_export(inst, &d);
    calls++;
  }
  (void)cis__interp_translate_all(m); /* what the calls did not reach */
  /* The last byte of memory 0 must be mapped after whatever ran. */
  cis_memory *mem = cis_instance_memory(inst);
  if (mem && cis_memory_size(mem)) touch(cis_memory_data(mem) + cis_memory_size(mem) - 1, 1);
  /* Whatever ran, the memory account held: memories within the limit,
   * everything within the limit and its slack (cis.h, cis_limits). */
  if (cis_instance_memory_used(inst) > CIS_FUZZ_MAX_MEMORY + CIS_MEMORY_SLACK ||
      (mem && cis_memory_size(mem) > CIS_FUZZ_MAX_MEMORY))
    abort();

done:
  if (inst) cis_instance_free(inst);
  if (im) cis_imports_free(im);
  if (mk)
    for (uint32_t i = 0; i < nimp; i++)
      if (mk[i].obj) free_made(&mk[i]);
  free(mk);
  if (m) cis_module_free(m);
  cis_engine_free(e);
}
