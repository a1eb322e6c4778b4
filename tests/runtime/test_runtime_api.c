/*
 * This file implements the runtime's API tests: configuration defaults,
 * signature strings, host functions, typed calls, exports, linking errors,
 * instantiation order and traps in segments and the start function,
 * standalone objects, and the bounds-checked guest-memory accessors. Each
 * error path is driven on purpose and its code and message checked.
 */
#include "runtime/rt_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

static cis_result host_swap(cis_call *c, const cis_slot *a, cis_slot *r) {
  (void)c;
  /* Writes results[0] before reading args[1]: only correct if the runtime
   * gave args and results separate storage. */
  r[0].i32 = a[1].i32;
  r[1].i32 = a[0].i32;
  return CIS_OK;
}

static cis_result host_fail(cis_call *c, const cis_slot *a, cis_slot *r) {
  switch (a[0].i32) {
  case 0: r[0].i32 = 100; return CIS_OK;
  case 1: return cis_call_fail(c, CIS_EDENIED, "no access to %s", "the thing");
  case 2:
    cis_instance_set_exit_code(cis_call_instance(c), 3);
    return CIS_EEXIT;
  case 3: return 5; /* not a cis_result */
  default: return CIS_EIO;
  }
}

/* Calls back into the instance's "add" (or "trap" for a negative arg). */
static cis_result host_reenter(cis_call *c, const cis_slot *a, cis_slot *r) {
  cis_instance *inst = cis_call_instance(c);
  int *seen = cis_call_user(c);
  if (seen) *seen = (int)cis_call_remaining_ms(c);
  if (a[0].i32 < 0) {
    cis_result rc = cis_func_call(inst, cis_instance_func(inst, "trap"), NULL, 0, NULL, 0);
    return rc;
  }
  cis_val args[2] = {{.type = CIS_I32, .of.i32 = a[0].i32}, {.type = CIS_I32, .of.i32 = 1000}};
  cis_val res[1];
  cis_result rc = cis_func_call(inst, cis_instance_func(inst, "add"), args, 2, res, 1);
  if (rc != CIS_OK) return rc;
  r[0].i32 = res[0].of.i32;
  return CIS_OK;
}

static int reenter_seen;

/* The api.wat instance with its three host imports. */
static cis_instance *api_instance(cis_engine *e, cis_module **mod) {
  cis_host_func_def defs[] = {
      {"host", "swap", "(ii)ii", host_swap, NULL, 0},
      {"host", "fail", "(i)i", host_fail, NULL, 0},
      {"host", "reenter", "(i)i", host_reenter, &reenter_seen, 0},
  };
  cis_imports *im = NULL;
  assert_int_equal(cis_imports_new(e, &im), CIS_OK);
  assert_int_equal(cis_imports_add_host_funcs(im, defs, 3), CIS_OK);
  *mod = rt_load(e, "api");
  cis_instance *inst = NULL;
  cis_result rc = cis_instance_new(*mod, im, NULL, &inst);
  if (rc != CIS_OK) fail_msg("instantiate api: %s: %s", cis_errname(rc), cis_errmsg(e));
  cis_imports_free(im); /* the instance keeps what it imported */
  return inst;
}

static int32_t call_i32(cis_instance *inst, const char *name, int32_t x) {
  cis_val a = {.type = CIS_I32, .of.i32 = x}, r;
  cis_result rc = cis_func_call(inst, cis_instance_func(inst, name), &a, 1, &r, 1);
  if (rc != CIS_OK) fail_msg("%s: %s: %s", name, cis_errname(rc), cis_errmsg(inst));
  assert_int_equal(r.type, CIS_I32);
  return r.of.i32;
}

/* ------------------------------------------------------------- defaults */

static void limits_defaults(void **state) {
  (void)state;
  cis_limits l;
  memset(&l, 0xab, sizeof l);
  cis_limits_default(&l);
  assert_int_equal(l.timeout_ms, 30000);
  assert_int_equal(l.max_memory_bytes, 512ull * 1024 * 1024);
  assert_int_equal(l.max_call_depth, CIS_DEFAULT_MAX_CALL_DEPTH);
  assert_int_equal(l.max_stack_bytes, CIS_DEFAULT_MAX_STACK_BYTES);
  assert_int_equal(l.fuel, 0);
  assert_int_equal(l.max_table_elems, 0);
  cis_engine_config c;
  assert_int_equal(setenv("CIS_ENGINE", "interp", 1), 0); /* else auto: tests/aot */
  cis_engine_config_default(&c);
  assert_string_equal(c.engine, "interp");
  c.engine = "no-such-engine";
  cis_engine *e = NULL;
  assert_int_equal(cis_engine_new(&c, &e), CIS_EUNSUPPORTED);
  assert_null(e);
  assert_int_equal(cis_engine_new(NULL, &e), CIS_OK);
  cis_engine_free(e);
}

/* ---------------------------------------------------------- signatures */

static void signature_strings(void **state) {
  (void)state;
  cis_engine *e = rt_engine(NULL);
  static const char *bad[] = {"", "ii", "(ii", "(x)", "(i)i ", "( i)", "(i))", "(i)(i)",
                              "(w)", "i(i)", "(ii)q"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    cis_host_func_def d = {"m", "n", bad[i], host_swap, NULL, 0};
    cis_func *f = (cis_func *)1;
    cis_result rc = cis_func_new_host(e, &d, &f);
    if (rc != CIS_EINVAL) fail_msg("signature \"%s\" gave %s", bad[i], cis_errname(rc));
    assert_null(f);
    assert_non_null(strstr(cis_errmsg(e), "bad signature"));
  }
  cis_host_func_def nul = {"m", "n", NULL, host_swap, NULL, 0};
  cis_func *f = NULL;
  assert_int_equal(cis_func_new_host(e, &nul, &f), CIS_EINVAL);
  cis_host_func_def nofn = {"m", "n", "()", NULL, NULL, 0};
  assert_int_equal(cis_func_new_host(e, &nofn, &f), CIS_EINVAL);

  cis_host_func_def good = {"m", "n", "(IfFrR)iIfFrR", host_swap, NULL, 0};
  assert_int_equal(cis_func_new_host(e, &good, &f), CIS_OK);
  uint32_t np, nr;
  const cis_valtype *p, *r;
  cis_func_type(f, &np, &p, &nr, &r);
  assert_int_equal(np, 5);
  assert_int_equal(nr, 6);
  cis_valtype want_p[] = {CIS_I64, CIS_F32, CIS_F64, CIS_EXTERNREF, CIS_FUNCREF};
  cis_valtype want_r[] = {CIS_I32, CIS_I64, CIS_F32, CIS_F64, CIS_EXTERNREF, CIS_FUNCREF};
  assert_memory_equal(p, want_p, sizeof want_p);
  assert_memory_equal(r, want_r, sizeof want_r);
  cis_func_free(f);

  cis_host_func_def empty = {"m", "n", "()", host_swap, NULL, 0};
  assert_int_equal(cis_func_new_host(e, &empty, &f), CIS_OK);
  cis_func_type(f, &np, &p, &nr, &r);
  assert_int_equal(np + nr, 0);
  cis_func_free(f);
  cis_engine_free(e);
}

/* ---------------------------------------------------------------- calls */

static void typed_calls(void **state) {
  (void)state;
  cis_engine *e = rt_engine(NULL);
  cis_module *mod;
  cis_instance *inst = api_instance(e, &mod);
  cis_func *add = cis_instance_func(inst, "add");
  assert_non_null(add);
  cis_val a[2] = {{.type = CIS_I32, .of.i32 = 40}, {.type = CIS_I32, .of.i32 = 2}}, r[2];
  assert_int_equal(cis_func_call(inst, add, a, 2, r, 1), CIS_OK);
  assert_int_equal(r[0].type, CIS_I32);
  assert_int_equal(r[0].of.i32, 42);

  /* Wrong count, wrong type, wrong result room, NULL pointers. */
  assert_int_equal(cis_func_call(inst, add, a, 1, r, 1), CIS_EINVAL);
  assert_non_null(strstr(cis_errmsg(inst), "takes 2 arguments"));
  assert_int_equal(cis_func_call(inst, add, a, 2, r, 2), CIS_EINVAL);
  assert_int_equal(cis_func_call(inst, add, a, 2, r, 0), CIS_EINVAL);
  cis_val wrong[2] = {{.type = CIS_I32, .of.i32 = 1}, {.type = CIS_I64, .of.i64 = 1}};
  assert_int_equal(cis_func_call(inst, add, wrong, 2, r, 1), CIS_EINVAL);
  assert_non_null(strstr(cis_errmsg(inst), "argument 1"));
  assert_int_equal(cis_func_call(inst, add, NULL, 2, r, 1), CIS_EINVAL);
  assert_int_equal(cis_func_call(inst, add, a, 2, NULL, 1), CIS_EINVAL);
  assert_int_equal(cis_func_call(inst, NULL, a, 2, r, 1), CIS_EINVAL);
  assert_int_equal(cis_func_call(NULL, add, a, 2, r, 1), CIS_EINVAL);

  /* i64 through the typed API, and the slots API. */
  cis_val b[2] = {{.type = CIS_I64, .of.i64 = 5}, {.type = CIS_I64, .of.i64 = INT64_MAX}};
  assert_int_equal(cis_func_call(inst, cis_instance_func(inst, "sub64"), b, 2, r, 1), CIS_OK);
  assert_int_equal(r[0].type, CIS_I64);
  assert_true(r[0].of.i64 == 5 - INT64_MAX);
  cis_slot sa[2] = {{.i32 = -7}, {.i32 = 10}}, sr[1];
  assert_int_equal(cis_func_call_slots(inst, add, sa, sr), CIS_OK);
  assert_int_equal(sr[0].i32, 3);
  assert_int_equal(cis_func_call_slots(inst, add, NULL, sr), CIS_EINVAL);

  /* Host results written before the last argument is read. */
  cis_val s[2] = {{.type = CIS_I32, .of.i32 = 1}, {.type = CIS_I32, .of.i32 = 2}};
  assert_int_equal(cis_func_call(inst, cis_instance_func(inst, "swap"), s, 2, r, 2), CIS_OK);
  assert_int_equal(r[0].of.i32, 2);
  assert_int_equal(r[1].of.i32, 1);

  /* A trap is a typed error with its message on the instance. */
  assert_int_equal(cis_func_call(inst, cis_instance_func(inst, "trap"), NULL, 0, NULL, 0),
                   CIS_TRAP_UNREACHABLE);
  assert_non_null(strstr(cis_errmsg(inst), "unreachable"));
  assert_int_equal(call_i32(inst, "load", 16), 0x6c6c6568); /* "hell" */
  cis_val oob = {.type = CIS_I32, .of.i32 = 65535};
  assert_int_equal(cis_func_call(inst, cis_instance_func(inst, "load"), &oob, 1, r, 1),
                   CIS_TRAP_MEM_OOB);
  assert_non_null(strstr(cis_errmsg(inst), "out of bounds memory access"));
  /* The instance is still usable after a trap. */
  assert_int_equal(call_i32(inst, "load", 17), 0x6f6c6c65);

  cis_instance_free(inst);
  cis_module_free(mod);
  cis_engine_free(e);
}

static void host_errors(void **state) {
  (void)state;
  cis_engine *e = rt_engine(NULL);
  cis_module *mod;
  cis_instance *inst = api_instance(e, &mod);
  cis_func *f = cis_instance_func(inst, "fail");
  cis_val a = {.type = CIS_I32, .of.i32 = 0}, r;
  assert_int_equal(cis_func_call(inst, f, &a, 1, &r, 1), CIS_OK);
  assert_int_equal(r.of.i32, 100);
  a.of.i32 = 1;
  assert_int_equal(cis_func_call(inst, f, &a, 1, &r, 1), CIS_EDENIED);
  assert_string_equal(cis_errmsg(inst), "no access to the thing");
  a.of.i32 = 2;
  assert_int_equal(cis_func_call(inst, f, &a, 1, &r, 1), CIS_EEXIT);
  assert_int_equal(cis_instance_exit_code(inst), 3);
  a.of.i32 = 3;
  assert_int_equal(cis_func_call(inst, f, &a, 1, &r, 1), CIS_TRAP_HOST);
  assert_non_null(strstr(cis_errmsg(inst), "host.fail"));
  a.of.i32 = 4;
  assert_int_equal(cis_func_call(inst, f, &a, 1, &r, 1), CIS_EIO);
  assert_non_null(strstr(cis_errmsg(inst), "host function host.fail failed"));
  cis_instance_free(inst);
  cis_module_free(mod);
  cis_engine_free(e);
}

static void reentrant_calls(void **state) {
  (void)state;
  cis_engine *e = rt_engine(NULL);
  cis_module *mod;
  cis_instance *inst = api_instance(e, &mod);
  reenter_seen = -1;
  assert_int_equal(call_i32(inst, "reenter", 5), 1005);
  /* The host saw the call's own deadline: at most the 30 s default. */
  assert_true(reenter_seen > 0 && reenter_seen <= 30000);
  /* A trap in the nested call ends the outer call with the same code. */
  cis_val a = {.type = CIS_I32, .of.i32 = -1}, r;
  assert_int_equal(cis_func_call(inst, cis_instance_func(inst, "reenter"), &a, 1, &r, 1),
                   CIS_TRAP_UNREACHABLE);
  assert_non_null(strstr(cis_errmsg(inst), "unreachable"));
  assert_int_equal(call_i32(inst, "reenter", 1), 1001);
  cis_instance_free(inst);
  cis_module_free(mod);
  cis_engine_free(e);
}

/* -------------------------------------------------------------- exports */

static void exports(void **state) {
  (void)state;
  cis_engine *e = rt_engine(NULL);
  cis_module *mod;
  cis_instance *inst = api_instance(e, &mod);
  cis_extern x;
  assert_int_equal(cis_instance_export(inst, "nope", 4, &x), CIS_ENOTFOUND);
  assert_non_null(strstr(cis_errmsg(inst), "\"nope\""));
  /* Names are length-counted: "add" is found, "ad" and "add\0" are not. */
  assert_int_equal(cis_instance_export(inst, "add", 3, &x), CIS_OK);
  assert_int_equal(x.kind, CIS_EXTERN_FUNC);
  assert_int_equal(cis_instance_export(inst, "add", 2, &x), CIS_ENOTFOUND);
  assert_int_equal(cis_instance_export(inst, "add\0", 4, &x), CIS_ENOTFOUND);
  assert_int_equal(cis_instance_export(inst, NULL, 3, &x), CIS_EINVAL);
  assert_null(cis_instance_func(inst, "nope"));
  assert_null(cis_instance_func(inst, "mem")); /* not a function */
  assert_int_equal(cis_instance_export(inst, "mem", 3, &x), CIS_OK);
  assert_int_equal(x.kind, CIS_EXTERN_MEMORY);
  assert_ptr_equal(x.of.memory, cis_instance_memory(inst));
  assert_int_equal(cis_instance_export(inst, "g", 1, &x), CIS_OK);
  assert_int_equal(x.kind, CIS_EXTERN_GLOBAL);
  cis_val v = cis_global_get(x.of.global);
  assert_int_equal(v.type, CIS_I32);
  assert_int_equal(v.of.i32, 7);
  assert_int_equal(cis_instance_export(inst, "gi", 2, &x), CIS_OK);
  cis_val iv = {.type = CIS_I64, .of.i64 = 1};
  assert_int_equal(cis_global_set(x.of.global, iv), CIS_EINVAL); /* immutable */
  assert_int_equal(cis_instance_export(inst, "tab", 3, &x), CIS_OK);
  assert_int_equal(x.kind, CIS_EXTERN_TABLE);

  /* Descriptors of the module. */
  assert_int_equal(cis_module_import_count(mod), 3);
  cis_extern_desc d;
  assert_int_equal(cis_module_import(mod, 0, &d), CIS_OK);
  assert_int_equal(d.kind, CIS_EXTERN_FUNC);
  assert_int_equal(d.module_len, 4);
  assert_memory_equal(d.module, "host", 4);
  assert_int_equal(d.nparams, 2);
  assert_int_equal(d.nresults, 2);
  assert_int_equal(d.params[1], CIS_I32);
  assert_int_equal(cis_module_import(mod, 3, &d), CIS_ENOTFOUND);
  uint32_t nx = cis_module_export_count(mod);
  bool saw_mem = false;
  for (uint32_t i = 0; i < nx; i++) {
    assert_int_equal(cis_module_export(mod, i, &d), CIS_OK);
    if (d.kind == CIS_EXTERN_MEMORY) {
      saw_mem = true;
      assert_int_equal(d.min, 1);
      assert_true(d.has_max);
      assert_int_equal(d.max, 4);
    }
  }
  assert_true(saw_mem);
  assert_int_equal(cis_module_export(mod, nx, &d), CIS_ENOTFOUND);
  cis_instance_free(inst);
  cis_module_free(mod);
  cis_engine_free(e);
}

/* ------------------------------------------------------------- modules */

static void module_errors(void **state) {
  (void)state;
  cis_engine *e = rt_engine(NULL);
  cis_module *m = (cis_module *)1;
  static const uint8_t junk[] = {0x00, 0x61, 0x73, 0x6e, 0x01, 0x00, 0x00, 0x00};
  cis_result rc = cis_module_new(e, junk, sizeof junk, &m);
  assert_true(rc < 0);
  assert_null(m);
  assert_true(cis_errmsg(e)[0] != '\0');
  static const uint8_t truncated[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00};
  assert_true(cis_module_new(e, truncated, sizeof truncated, &m) < 0);
  assert_true(cis_errmsg(e)[0] != '\0');
  assert_int_equal(cis_module_new(e, NULL, 4, &m), CIS_EINVAL);

  /* A decode-only module describes itself but cannot be instantiated. */
  size_t len;
  uint8_t *bytes = rt_read_fixture("grow", &len);
  assert_int_equal(cis_module_decode_only(e, bytes, len, &m), CIS_OK);
  free(bytes);
  assert_int_equal(cis_module_export_count(m), 3);
  cis_instance *inst = (cis_instance *)1;
  assert_int_equal(cis_instance_new(m, NULL, NULL, &inst), CIS_ESTATE);
  assert_null(inst);
  assert_non_null(strstr(cis_errmsg(e), "without validation"));
  /* Reference counting: the extra reference keeps it alive. */
  assert_ptr_equal(cis_module_ref(m), m);
  cis_module_free(m);
  assert_int_equal(cis_module_export_count(m), 3);
  cis_module_free(m);
  cis_engine_free(e);
}

/* ------------------------------------------------------------- linking */

static cis_result host_id(cis_call *c, const cis_slot *a, cis_slot *r) {
  (void)c;
  r[0] = a[0];
  return CIS_OK;
}

/* The pieces imports.wat asks for, each replaceable by a wrong one. */
typedef struct link_parts {
  const char *f_sig;                 /* signature of env.f */
  uint32_t mem_min, mem_max;         /* env.mem */
  bool mem_has_max;
  cis_valtype tab_elem;              /* env.tab */
  uint32_t tab_min, tab_max;
  bool tab_has_max;
  cis_valtype g_type;                /* env.g */
  bool g_mut;
  const char *skip;                  /* name left out, or NULL */
  bool mem_as_global;                /* offer a global under "mem" */
} link_parts;

static const link_parts good_parts = {"(i)i", 2, 4, true, CIS_FUNCREF, 3, 10, true,
                                      CIS_I64, true, NULL, false};

/* Instantiates imports.wat with parts; returns the code and frees all. */
static cis_result link_with(const link_parts *p, char *msg, size_t msg_len) {
  cis_engine *e = rt_engine(NULL);
  cis_module *mod = rt_load(e, "imports");
  cis_imports *im = NULL;
  assert_int_equal(cis_imports_new(e, &im), CIS_OK);
  cis_func *f = NULL;
  cis_memory *mem = NULL;
  cis_table *tab = NULL;
  cis_global *g = NULL;
  cis_host_func_def d = {"env", "f", p->f_sig, host_id, NULL, 0};
  assert_int_equal(cis_func_new_host(e, &d, &f), CIS_OK);
  assert_int_equal(cis_memory_new(e, p->mem_min, p->mem_max, p->mem_has_max, &mem), CIS_OK);
  assert_int_equal(cis_table_new(e, p->tab_elem, p->tab_min, p->tab_max, p->tab_has_max, &tab),
                   CIS_OK);
  cis_val gv = {.type = p->g_type, .of.u64 = 5};
  assert_int_equal(cis_global_new(e, gv, p->g_mut, &g), CIS_OK);
  const char *skip = p->skip ? p->skip : "";
  if (strcmp(skip, "f")) assert_int_equal(cis_imports_add_func(im, "env", 3, "f", 1, f), CIS_OK);
  if (strcmp(skip, "mem")) {
    if (p->mem_as_global)
      assert_int_equal(cis_imports_add_global(im, "env", 3, "mem", 3, g), CIS_OK);
    else
      assert_int_equal(cis_imports_add_memory(im, "env", 3, "mem", 3, mem), CIS_OK);
  }
  if (strcmp(skip, "tab"))
    assert_int_equal(cis_imports_add_table(im, "env", 3, "tab", 3, tab), CIS_OK);
  if (strcmp(skip, "g")) assert_int_equal(cis_imports_add_global(im, "env", 3, "g", 1, g), CIS_OK);
  /* The set holds its own references. */
  cis_func_free(f);
  cis_memory_free(mem);
  cis_table_free(tab);
  cis_global_free(g);

  cis_instance *inst = (cis_instance *)1;
  cis_result rc = cis_instance_new(mod, im, NULL, &inst);
  snprintf(msg, msg_len, "%s", cis_errmsg(e));
  if (rc == CIS_OK) {
    assert_int_equal(call_i32(inst, "call_f", 9), 9);
    cis_val r;
    assert_int_equal(cis_func_call(inst, cis_instance_func(inst, "get_g"), NULL, 0, &r, 1),
                     CIS_OK);
    assert_int_equal(r.of.i64, 5);
    cis_instance_free(inst);
  } else {
    assert_null(inst);
  }
  cis_imports_free(im);
  cis_module_free(mod);
  cis_engine_free(e);
  return rc;
}

static void linking(void **state) {
  (void)state;
  char msg[512];
  link_parts p = good_parts;
  assert_int_equal(link_with(&p, msg, sizeof msg), CIS_OK);
  /* A larger memory/table than the minimum, with a smaller maximum, fits. */
  p.mem_min = 3, p.mem_max = 3, p.tab_min = 5, p.tab_max = 9;
  assert_int_equal(link_with(&p, msg, sizeof msg), CIS_OK);

  struct {
    link_parts p;
    cis_result want;
    const char *text;
  } cases[] = {
      {good_parts, CIS_EUNKNOWNIMPORT, "unknown import \"env\".\"f\""},
      {good_parts, CIS_EIMPORTTYPE, "function type"},
      {good_parts, CIS_EIMPORTTYPE, "memory size 1 is below the minimum 2"},
      {good_parts, CIS_EIMPORTTYPE, "memory has no maximum"},
      {good_parts, CIS_EIMPORTTYPE, "memory maximum 5 exceeds"},
      {good_parts, CIS_EIMPORTTYPE, "table element type"},
      {good_parts, CIS_EIMPORTTYPE, "table size 2 is below"},
      {good_parts, CIS_EIMPORTTYPE, "table maximum 11 exceeds"},
      {good_parts, CIS_EIMPORTTYPE, "global value type"},
      {good_parts, CIS_EIMPORTTYPE, "global mutability"},
      {good_parts, CIS_EIMPORTTYPE, "expected a memory, found a global"},
      {good_parts, CIS_EUNKNOWNIMPORT, "unknown import \"env\".\"g\""},
  };
  cases[0].p.skip = "f";
  cases[1].p.f_sig = "(I)i";
  cases[2].p.mem_min = 1;
  cases[3].p.mem_has_max = false;
  cases[4].p.mem_max = 5;
  cases[5].p.tab_elem = CIS_EXTERNREF;
  cases[6].p.tab_min = 2;
  cases[7].p.tab_max = 11;
  cases[8].p.g_type = CIS_I32;
  cases[9].p.g_mut = false;
  cases[10].p.mem_as_global = true;
  cases[11].p.skip = "g";
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    cis_result rc = link_with(&cases[i].p, msg, sizeof msg);
    if (rc != cases[i].want || !strstr(msg, cases[i].text))
      fail_msg("case %zu: %s \"%s\", wanted %s \"%s\"", i, cis_errname(rc), msg,
               cis_errname(cases[i].want), cases[i].text);
    const char *prefix =
        cases[i].want == CIS_EUNKNOWNIMPORT ? "unknown import" : "incompatible import type";
    assert_int_equal(strncmp(msg, prefix, strlen(prefix)), 0);
  }
}

static void imports_builder(void **state) {
  (void)state;
  cis_engine *e = rt_engine(NULL);
  cis_imports *im = NULL;
  assert_int_equal(cis_imports_new(e, &im), CIS_OK);
  cis_host_func_def d = {"env", "f", "(i)i", host_id, NULL, 0};
  assert_int_equal(cis_imports_add_host_funcs(im, &d, 1), CIS_OK);
  /* The same key again is refused; the first stands. */
  assert_int_equal(cis_imports_add_host_funcs(im, &d, 1), CIS_EEXIST);
  assert_non_null(strstr(cis_errmsg(im), "already defined"));
  /* Length-counted keys: a name with a NUL is another name. */
  cis_func *f = NULL;
  assert_int_equal(cis_func_new_host(e, &d, &f), CIS_OK);
  assert_int_equal(cis_imports_add_func(im, "env", 3, "f\0x", 3, f), CIS_OK);
  assert_int_equal(cis_imports_add_func(im, "env", 3, "f\0x", 3, f), CIS_EEXIST);
  assert_int_equal(cis_imports_add_func(im, NULL, 3, "f", 1, f), CIS_EINVAL);
  assert_int_equal(cis_imports_add_func(im, "env", 3, "g", 1, NULL), CIS_EINVAL);
  cis_func_free(f);
  cis_host_func_def bad = {"env", "h", "(i", host_id, NULL, 0};
  assert_int_equal(cis_imports_add_host_funcs(im, &bad, 1), CIS_EINVAL);
  assert_non_null(strstr(cis_errmsg(im), "bad signature"));
  cis_host_func_def noname = {"env", NULL, "()", host_id, NULL, 0};
  assert_int_equal(cis_imports_add_host_funcs(im, &noname, 1), CIS_EINVAL);
  assert_int_equal(cis_imports_add_instance(im, "x", 1, NULL), CIS_EINVAL);
  cis_imports_free(im);
  cis_engine_free(e);
}

/* An instance registered under a name is importable, and stays alive
 * while an importer uses it even after the embedder dropped it. */
static void registered_instances(void **state) {
  (void)state;
  cis_engine *e = rt_engine(NULL);
  cis_module *mod;
  cis_instance *api = api_instance(e, &mod);
  cis_imports *im = NULL;
  assert_int_equal(cis_imports_new(e, &im), CIS_OK);
  assert_int_equal(cis_imports_add_instance(im, "env", 3, api), CIS_OK);
  /* segments.wat wants env.tab with at least 4 elements: api's has 2. */
  cis_module *seg_mod = rt_load(e, "segments");
  cis_instance *inst = NULL;
  assert_int_equal(cis_instance_new(seg_mod, im, NULL, &inst), CIS_EIMPORTTYPE);
  assert_non_null(strstr(cis_errmsg(e), "table size 2 is below the minimum 4"));
  cis_module_free(seg_mod);

  /* data_oob.wat writes api's memory, then traps: the write stays. */
  cis_module *data_mod = rt_load(e, "data_oob");
  assert_int_equal(cis_instance_new(data_mod, im, NULL, &inst), CIS_TRAP_MEM_OOB);
  assert_null(inst);
  assert_memory_equal(cis_instance_mem(api, 100, 4), "kept", 4);
  cis_module_free(data_mod);

  /* importer.wat calls api's add on api's memory. */
  cis_module *imp_mod = rt_load(e, "importer");
  assert_int_equal(cis_instance_new(imp_mod, im, NULL, &inst), CIS_OK);
  cis_imports_free(im);
  cis_instance_free(api); /* the importer keeps it alive */
  assert_int_equal(call_i32(inst, "add_loaded", 100), 0x7470656b + 1); /* "kept" */
  cis_instance_free(inst);
  cis_module_free(imp_mod);
  cis_module_free(mod);
  cis_engine_free(e);
}

/* ------------------------------------------------------- instantiation */

/* Segments run in order; the out-of-bounds one traps, and what the earlier
 * ones wrote into the imported table stays, callable through it even
 * after the failed instance is gone from the embedder's view. */
static void segment_traps(void **state) {
  (void)state;
  cis_engine *e = rt_engine(NULL);
  cis_module *umod = rt_load(e, "table_user");
  cis_instance *user = NULL;
  assert_int_equal(cis_instance_new(umod, NULL, NULL, &user), CIS_OK);
  cis_imports *im = NULL;
  assert_int_equal(cis_imports_new(e, &im), CIS_OK);
  assert_int_equal(cis_imports_add_instance(im, "env", 3, user), CIS_OK);

  cis_module *smod = rt_load(e, "segments");
  cis_instance *inst = (cis_instance *)1;
  assert_int_equal(cis_instance_new(smod, im, NULL, &inst), CIS_TRAP_TABLE_OOB);
  assert_null(inst);
  assert_int_equal(strncmp(cis_errmsg(e), "out of bounds table access", 26), 0);
  /* Element 1 was written by the first segment; the data segment after
   * the trap never ran. */
  assert_int_equal(call_i32(user, "call", 1), 7);
  cis_val a = {.type = CIS_I32, .of.i32 = 0}, r;
  assert_int_equal(cis_func_call(user, cis_instance_func(user, "call"), &a, 1, &r, 1),
                   CIS_TRAP_UNINIT_ELEM);
  uint8_t *mem = cis_instance_mem(user, 0, 5);
  assert_non_null(mem);
  assert_memory_not_equal(mem, "never", 5);
  cis_imports_free(im);
  cis_module_free(smod);
  cis_instance_free(user);
  cis_module_free(umod);
  cis_engine_free(e); /* frees the failed instance pinned by its functions */
}

static void data_and_start_traps(void **state) {
  (void)state;
  cis_engine *e = rt_engine(NULL);
  cis_memory *mem = NULL;
  assert_int_equal(cis_memory_new(e, 1, 0, false, &mem), CIS_OK);
  cis_imports *im = NULL;
  assert_int_equal(cis_imports_new(e, &im), CIS_OK);
  assert_int_equal(cis_imports_add_memory(im, "env", 3, "mem", 3, mem), CIS_OK);

  cis_module *dmod = rt_load(e, "data_oob");
  cis_instance *inst = (cis_instance *)1;
  assert_int_equal(cis_instance_new(dmod, im, NULL, &inst), CIS_TRAP_MEM_OOB);
  assert_null(inst);
  assert_int_equal(strncmp(cis_errmsg(e), "out of bounds memory access", 27), 0);
  assert_memory_equal(cis_memory_data(mem) + 100, "kept", 4);
  assert_int_equal(cis_memory_data(mem)[65534], 0);

  cis_module *smod = rt_load(e, "start_trap");
  inst = (cis_instance *)1;
  assert_int_equal(cis_instance_new(smod, im, NULL, &inst), CIS_TRAP_UNREACHABLE);
  assert_null(inst);
  assert_non_null(strstr(cis_errmsg(e), "unreachable"));
  assert_memory_equal(cis_memory_data(mem), "started", 7);

  /* Without imports at all: unknown import. */
  assert_int_equal(cis_instance_new(smod, NULL, NULL, &inst), CIS_EUNKNOWNIMPORT);
  cis_module_free(dmod);
  cis_module_free(smod);
  cis_imports_free(im);
  cis_memory_free(mem);
  cis_engine_free(e);
}

/* -------------------------------------------------- standalone objects */

static void standalone_objects(void **state) {
  (void)state;
  cis_engine *e = rt_engine(NULL); /* 512 MiB = 8192 pages */
  cis_memory *m = (cis_memory *)1;
  assert_int_equal(cis_memory_new(e, 2, 1, true, &m), CIS_EINVAL);
  assert_null(m);
  assert_int_equal(cis_memory_new(e, 65537, 0, false, &m), CIS_EINVAL);
  assert_int_equal(cis_memory_new(e, 8193, 0, false, &m), CIS_EMEMLIMIT);
  assert_non_null(strstr(cis_errmsg(e), "exceeds the limit of 8192 pages"));
  assert_int_equal(cis_memory_new(e, 1, 3, true, &m), CIS_OK);
  uint8_t *base = cis_memory_data(m);
  assert_int_equal(cis_memory_size(m), 65536);
  assert_int_equal(cis_memory_grow(m, 1), 1);
  assert_int_equal(cis_memory_grow(m, 2), -1); /* past the declared max */
  assert_int_equal(cis_memory_grow(m, 1), 2);
  assert_int_equal(cis_memory_grow(m, 0), 3);
  assert_ptr_equal(cis_memory_data(m), base);
  base[3 * 65536 - 1] = 1; /* the last byte is writable */
  assert_int_equal(cis_memory_size(m), 3 * 65536);
  cis_memory_free(m);
  /* An empty memory with max 0 still has a base. */
  assert_int_equal(cis_memory_new(e, 0, 0, true, &m), CIS_OK);
  assert_non_null(cis_memory_data(m));
  assert_int_equal(cis_memory_grow(m, 1), -1);
  cis_memory_free(m);

  cis_table *t = (cis_table *)1;
  assert_int_equal(cis_table_new(e, CIS_I32, 1, 0, false, &t), CIS_EINVAL);
  assert_null(t);
  assert_int_equal(cis_table_new(e, CIS_FUNCREF, 2, 1, true, &t), CIS_EINVAL);
  assert_int_equal(cis_table_new(e, CIS_FUNCREF, 10000001, 0, false, &t), CIS_EMEMLIMIT);
  assert_int_equal(cis_table_new(e, CIS_EXTERNREF, 1, 0, false, &t), CIS_OK);
  cis_table_free(t);

  cis_global *g = (cis_global *)1;
  cis_val v128 = {.type = CIS_V128, .v128 = {1, 2, 3, [15] = 0xff}};
  assert_int_equal(cis_global_new(e, v128, true, &g), CIS_OK); /* a v128 keeps its 16 bytes */
  assert_memory_equal(cis_global_get(g).v128, v128.v128, 16);
  cis_global_free(g);
  g = (cis_global *)1;
  cis_val bad = {.type = (cis_valtype)0x55, .of.u64 = 0};
  assert_int_equal(cis_global_new(e, bad, true, &g), CIS_EINVAL);
  assert_null(g);
  cis_val f = {.type = CIS_F32, .of.f32 = 1.5f};
  assert_int_equal(cis_global_new(e, f, true, &g), CIS_OK);
  cis_val i = {.type = CIS_I32, .of.i32 = 1};
  assert_int_equal(cis_global_set(g, i), CIS_EINVAL); /* wrong type */
  f.of.f32 = -2.0f;
  assert_int_equal(cis_global_set(g, f), CIS_OK);
  assert_true(cis_global_get(g).of.f32 == -2.0f);
  cis_global_free(g);
  cis_engine_free(e);
}

/* ------------------------------------------------------- guest memory */

static void memory_accessors(void **state) {
  (void)state;
  cis_engine *e = rt_engine(NULL);
  cis_module *mod;
  cis_instance *inst = api_instance(e, &mod);
  const uint64_t size = 65536;
  assert_non_null(cis_instance_mem(inst, 0, size));
  assert_non_null(cis_instance_mem(inst, size, 0));
  assert_non_null(cis_instance_mem(inst, size - 1, 1));
  assert_null(cis_instance_mem(inst, size, 1));
  assert_null(cis_instance_mem(inst, size - 1, 2));
  assert_null(cis_instance_mem(inst, 0, size + 1));
  assert_null(cis_instance_mem(inst, UINT64_MAX, 1));
  assert_null(cis_instance_mem(inst, UINT64_MAX, 0));
  assert_null(cis_instance_mem(inst, 1, UINT64_MAX));
  assert_null(cis_instance_mem(inst, size + 1, UINT64_MAX - size));
  assert_null(cis_instance_mem(inst, (uint64_t)1 << 32, 1));
  assert_null(cis_instance_mem(NULL, 0, 0));

  char buf[8];
  assert_int_equal(cis_instance_mem_read(inst, 16, buf, 5), CIS_OK);
  assert_memory_equal(buf, "hello", 5);
  assert_int_equal(cis_instance_mem_write(inst, size - 3, "abc", 3), CIS_OK);
  assert_int_equal(cis_instance_mem_write(inst, size - 2, "abc", 3), CIS_TRAP_MEM_OOB);
  assert_non_null(strstr(cis_errmsg(inst), "out of bounds memory access"));
  assert_int_equal(cis_instance_mem_read(inst, UINT64_MAX - 1, buf, 4), CIS_TRAP_MEM_OOB);
  assert_int_equal(cis_instance_mem_read(inst, 0, NULL, 4), CIS_EINVAL);

  /* After growth the new pages are reachable, at the same base. */
  uint8_t *base = cis_instance_mem(inst, 0, 1);
  assert_int_equal(call_i32(inst, "grow", 1), 1);
  assert_ptr_equal(cis_instance_mem(inst, 0, 1), base);
  assert_non_null(cis_instance_mem(inst, size, size));
  assert_null(cis_instance_mem(inst, size, size + 1));

  /* A module without memory. */
  cis_module *fm = rt_load(e, "fuel");
  cis_instance *nomem = NULL;
  assert_int_equal(cis_instance_new(fm, NULL, NULL, &nomem), CIS_OK);
  assert_null(cis_instance_memory(nomem));
  assert_null(cis_instance_mem(nomem, 0, 0));
  assert_int_equal(cis_instance_mem_read(nomem, 0, buf, 1), CIS_TRAP_MEM_OOB);
  cis_instance_free(nomem);
  cis_module_free(fm);
  cis_instance_free(inst);
  cis_module_free(mod);
  cis_engine_free(e);
}

static void user_data_and_limits(void **state) {
  (void)state;
  cis_engine *e = rt_engine(NULL);
  cis_module *mod = rt_load(e, "grow");
  cis_instance *inst = NULL;
  assert_int_equal(cis_instance_new(mod, NULL, NULL, &inst), CIS_OK);
  int token;
  assert_null(cis_instance_user(inst));
  cis_instance_set_user(inst, &token);
  assert_ptr_equal(cis_instance_user(inst), &token);
  assert_ptr_equal(cis_instance_module(inst), mod);
  cis_limits l;
  cis_instance_get_limits(inst, &l);
  assert_int_equal(l.max_memory_bytes, CIS_DEFAULT_MAX_MEMORY);
  /* Lowering the cap binds later growth. */
  l.max_memory_bytes = 4 * 65536;
  cis_instance_set_limits(inst, &l);
  assert_int_equal(call_i32(inst, "grow", 3), 1);
  assert_int_equal(call_i32(inst, "grow", 1), -1);
  /* Raising it again lets the memory grow on, at the same base. */
  uint8_t *base = cis_instance_mem(inst, 0, 1);
  l.max_memory_bytes = 64 * 65536;
  cis_instance_set_limits(inst, &l);
  cis_limits got;
  cis_instance_get_limits(inst, &got);
  assert_int_equal(got.max_memory_bytes, 64 * 65536);
  assert_int_equal(call_i32(inst, "grow", 60), 4);
  assert_int_equal(call_i32(inst, "grow", 1), -1);
  assert_ptr_equal(cis_instance_mem(inst, 0, 64 * 65536), base);
  cis_instance_free(inst);
  cis_module_free(mod);
  cis_engine_free(e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(limits_defaults),
      cmocka_unit_test(signature_strings),
      cmocka_unit_test(typed_calls),
      cmocka_unit_test(host_errors),
      cmocka_unit_test(reentrant_calls),
      cmocka_unit_test(exports),
      cmocka_unit_test(module_errors),
      cmocka_unit_test(linking),
      cmocka_unit_test(imports_builder),
      cmocka_unit_test(registered_instances),
      cmocka_unit_test(segment_traps),
      cmocka_unit_test(data_and_start_traps),
      cmocka_unit_test(standalone_objects),
      cmocka_unit_test(memory_accessors),
      cmocka_unit_test(user_data_and_limits),
  };
  return cmocka_run_group_tests_name("runtime_api", tests, NULL, NULL);
}
