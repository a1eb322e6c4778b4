/*
 * This file implements the .wast runner: it reads WebAssembly script files
 * itself (wast_script.c), compiles every module with cis's own text
 * compiler (cis_module_new_text; `binary` modules with cis_module_new)
 * and runs every command through the public API, judged by the rules the
 * JSON runner uses (spec_common.c: spectest, NaN patterns, host
 * references, messages compared by prefix).
 *
 *   wast_runner [--no-fork] [--engine interp|aot] [--standard 2|3]
 *               [--timeout S] [--passing LIST] [--dump-modules DIR2]
 *               [DIR | FILE.wast] [NAME...]
 *
 * --standard is the WebAssembly standard modules are held to
 * (cis_engine_config.standard): 3 by default, 2 for the 2.0 suite, whose
 * scripts take 3.0's encodings of memory indices as malformed.
 *
 * DIR holds scripts as DIR/<n>/<n>.wast (the 2.0 suite's layout),
 * DIR/<n>.wast (the 3.0 suite's) and DIR/<sub>/<n>.wast for other
 * folders (3.0's custom/ and legacy/, named "custom/<n>"); NAMEs limit
 * the run to those scripts. Each script runs in a child process with a
 * fresh engine, `spectest` and registry, bounded by S seconds (default
 * 300): a crash or a hang costs one script.
 *
 * Output: one line per failed command (`script:line: what`), a count line
 * per script, and `wast: N passed, M failed, K skipped` over every script.
 * Exit 0 when nothing failed, 1 otherwise, 77 when there is no script
 * (unless CI=true, where that is a failure).
 *
 * --dump-modules DIR2 writes the binary of every module the scripts load
 * (valid or not; a text module's as cis's text compiler makes it) to
 * DIR2/HASH.wasm, as seeds for the fuzz targets.
 *
 * With --passing LIST (a file of script names, one a line, # comments),
 * the run is a ratchet for a suite cis does not pass whole yet (the 3.0
 * suite): every listed script must pass with no failed command (the run
 * fails and prints "REGRESSED: name" otherwise), and scripts that pass
 * but are not listed are printed as "newly passing: name", for the list
 * to grow. Other failures do not fail the run. A name followed by
 * `interp` holds on the interpreter only (the compiled tier refuses its
 * modules: several memories, exception handling): a run on aot leaves
 * it out of the list.
 *
 * Skipped: assert_malformed_custom and assert_invalid_custom (custom
 * sections' own rules, which cis does not read). Everything else counts.
 * What cis cannot express through its API (references of the GC
 * proposal) fails as such.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cis/cis.h"
#include "spec_common.h"
#include "wat/wat.h"
#include "support/test_file.h"
#include "wast_script.h"

#ifndef CIS_WAST_DEFAULT_DIR
#define CIS_WAST_DEFAULT_DIR "../shared/wasm-testsuite/core"
#endif

/* --engine: the execution engine every script runs on (NULL: the default). */
static const char *ws_engine;
/* --standard: the standard modules are held to (0: the default). */
static int ws_standard;
/* --dump-modules: the folder each module's binary is written to (NULL: none). */
static const char *ws_dump;

/* An instance or a module definition the script named. */
typedef struct ws_named {
  wast_name name;      /* borrowed from the command; NULL s for none */
  cis_instance *inst;  /* an instance, or */
  cis_module *mod;     /* a definition */
} ws_named;

/* The state of one script run. */
typedef struct ws_script {
  char label[256];         /* the script's name, the prefix of failure lines */
  char stem[256];          /* its file name without .wast: wast2json's file names */
  cis_engine *engine;      /* fresh per script */
  spec_host host;          /* spectest, and every registered instance in its imports */
  cis_instance *current;   /* the current module, or NULL when the last one failed */
  cis_module *last_def;    /* the last module definition */
  ws_named *named;         /* every instance and definition, named or not */
  size_t nnamed, cap;
  spec_counts *counts;     /* shared with the parent */
  uint32_t line;           /* line of the command being run */
} ws_script;

/* ------------------------------------------------------------ reporting */

static void fail(ws_script *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(ws_script *s, const char *fmt, ...) {
  va_list ap;
  printf("%s:%" PRIu32 ": ", s->label, s->line);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
  s->counts->failed++;
}

static void pass(ws_script *s) { s->counts->passed++; }

/* A name for failure lines, bytes outside printable ASCII as \xx. */
static const char *show_name(const wast_name *n, char *buf, size_t len) {
  size_t o = 0;
  for (size_t i = 0; n->s && i < n->n && o + 5 < len; i++) {
    unsigned char c = (unsigned char)n->s[i];
    if (c >= 0x20 && c < 0x7f && c != '\\')
      buf[o++] = (char)c;
    else
      o += (size_t)snprintf(buf + o, len - o, "\\%02x", c);
  }
  buf[o < len ? o : len - 1] = '\0';
  return buf;
}

/* An expected value for failure lines. */
static const char *show_expected(const wast_val *v, char *buf, size_t len) {
  static const char *const nans[] = {"", "nan:canonical", "nan:arithmetic"};
  switch (v->kind) {
  case WAST_I32: snprintf(buf, len, "i32:%" PRIu64, v->bits); break;
  case WAST_I64: snprintf(buf, len, "i64:%" PRIu64, v->bits); break;
  case WAST_F32:
    if (v->nan[0]) snprintf(buf, len, "f32:%s", nans[v->nan[0] % 3]);
    else snprintf(buf, len, "f32:0x%08" PRIx64, v->bits);
    break;
  case WAST_F64:
    if (v->nan[0]) snprintf(buf, len, "f64:%s", nans[v->nan[0] % 3]);
    else snprintf(buf, len, "f64:0x%016" PRIx64, v->bits);
    break;
  case WAST_V128: {
    int o = snprintf(buf, len, "v128:");
    for (int i = 0; i < 16 && o > 0 && (size_t)o < len; i++)
      o += snprintf(buf + o, len - (size_t)o, "%02x", v->v128[i]);
    for (unsigned i = 0; i < v->shape.lanes && o > 0 && (size_t)o < len; i++)
      if (v->nan[i]) o += snprintf(buf + o, len - (size_t)o, " lane%u:%s", i, nans[v->nan[i] % 3]);
    break;
  }
  case WAST_REF_NULL: snprintf(buf, len, "ref.null %s", v->heap[0] ? v->heap : "(any)"); break;
  case WAST_REF_EXTERN:
    if (v->has_n) snprintf(buf, len, "externref:%" PRIu64, v->bits);
    else snprintf(buf, len, "a non-null externref");
    break;
  case WAST_REF_HOST: snprintf(buf, len, "ref.host %" PRIu64, v->bits); break;
  case WAST_REF_FUNC: snprintf(buf, len, "a non-null funcref"); break;
  case WAST_REF_STRUCT: snprintf(buf, len, "a struct reference"); break;
  case WAST_REF_ARRAY: snprintf(buf, len, "an array reference"); break;
  case WAST_REF_I31: snprintf(buf, len, "an i31 reference"); break;
  case WAST_REF_EQ: snprintf(buf, len, "an eq reference"); break;
  case WAST_REF_ANY: snprintf(buf, len, "an any reference"); break;
  case WAST_REF_EXN: snprintf(buf, len, "an exception reference"); break;
  case WAST_EITHER: {
    int o = snprintf(buf, len, "either");
    for (uint32_t i = 0; i < v->nalts && o > 0 && (size_t)o < len; i++) {
      char one[160];
      o += snprintf(buf + o, len - (size_t)o, " (%s)", show_expected(&v->alts[i], one, sizeof one));
    }
    break;
  }
  default: snprintf(buf, len, "?");
  }
  return buf;
}

/* ---------------------------------------------------------------- values */

/* Heap types of ref.null by the reference type cis gives them. */
static bool heap_is(const char *heap, const char *a, const char *b) {
  return !strcmp(heap, a) || !strcmp(heap, b);
}

/* The instance an action calls into: ref.host arguments become anyrefs
 * there (cis_anyref_from_host). */
static cis_instance *arg_inst;

/* The argument v for a parameter of type want. False (why in err) for
 * what cis cannot pass. */
static bool to_arg(const wast_val *v, cis_valtype want, cis_val *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  if (want == CIS_ANYREF && v->kind == WAST_REF_NULL && !heap_is(v->heap, "func", "nofunc") &&
      !heap_is(v->heap, "extern", "noextern") && !heap_is(v->heap, "exn", "noexn")) {
    out->type = CIS_ANYREF;
    return true;
  }
  if (want == CIS_ANYREF && v->kind == WAST_REF_HOST) {
    if (cis_anyref_from_host(arg_inst, spec_extern_of(v->bits), out) == CIS_OK) return true;
    snprintf(err, errlen, "ref.host %" PRIu64 ": %s", v->bits, cis_errmsg(arg_inst));
    return false;
  }
  switch (v->kind) {
  case WAST_I32: out->type = CIS_I32, out->of.u32 = (uint32_t)v->bits; return true;
  case WAST_I64: out->type = CIS_I64, out->of.u64 = v->bits; return true;
  case WAST_F32: out->type = CIS_F32, out->of.u32 = (uint32_t)v->bits; return true;
  case WAST_F64: out->type = CIS_F64, out->of.u64 = v->bits; return true;
  case WAST_V128: out->type = CIS_V128, memcpy(out->v128, v->v128, 16); return true;
  case WAST_REF_NULL:
    /* cis has funcref and externref: a null of the parameter's type, if
     * the heap type is of its family (or a type index, whose family only
     * the module knows) */
    if ((want == CIS_FUNCREF && !heap_is(v->heap, "extern", "noextern")) ||
        (want == CIS_EXTERNREF && !heap_is(v->heap, "func", "nofunc"))) {
      if (heap_is(v->heap, "func", "nofunc") || heap_is(v->heap, "extern", "noextern") ||
          v->heap[0] == '$' || (v->heap[0] >= '0' && v->heap[0] <= '9')) {
        out->type = want;
        return true;
      }
    }
    snprintf(err, errlen, "ref.null %s for a %s parameter", v->heap, spec_type_name(want));
    return false;
  case WAST_REF_EXTERN:
    out->type = CIS_EXTERNREF, out->of.externref = spec_extern_of(v->bits);
    return true;
  default:
    snprintf(err, errlen, "cis has no %s argument", v->kind == WAST_REF_HOST ? "anyref (ref.host)" : "such");
    return false;
  }
}

static bool lane_matches(const wast_val *v, const uint8_t got[16], unsigned i) {
  unsigned lb = 16u / v->shape.lanes;
  uint64_t g = 0, w = 0;
  for (unsigned k = 0; k < lb; k++) {
    g |= (uint64_t)got[i * lb + k] << (8 * k);
    w |= (uint64_t)v->v128[i * lb + k] << (8 * k);
  }
  if (v->shape.is_float && lb == 4) return spec_f32_matches((uint32_t)g, (spec_nan)v->nan[i], (uint32_t)w);
  if (v->shape.is_float) return spec_f64_matches(g, (spec_nan)v->nan[i], w);
  return g == w;
}

/* Is got the expected value v? Bitwise, NaN patterns per float (lane),
 * host references by identity, reference patterns by kind. */
static bool matches(const wast_val *v, const cis_val *got) {
  switch (v->kind) {
  case WAST_I32: return got->type == CIS_I32 && got->of.u32 == (uint32_t)v->bits;
  case WAST_I64: return got->type == CIS_I64 && got->of.u64 == v->bits;
  case WAST_F32:
    return got->type == CIS_F32 && spec_f32_matches(got->of.u32, (spec_nan)v->nan[0], (uint32_t)v->bits);
  case WAST_F64: return got->type == CIS_F64 && spec_f64_matches(got->of.u64, (spec_nan)v->nan[0], v->bits);
  case WAST_V128:
    if (got->type != CIS_V128 || !v->shape.lanes) return false;
    for (unsigned i = 0; i < v->shape.lanes; i++)
      if (!lane_matches(v, got->v128, i)) return false;
    return true;
  case WAST_REF_NULL: {
    bool fnull = got->type == CIS_FUNCREF && !got->of.funcref;
    bool xnull = got->type == CIS_EXTERNREF && !got->of.externref;
    bool enull = (got->type == CIS_EXNREF || got->type == CIS_NULLEXNREF) && !got->of.externref;
    if (heap_is(v->heap, "func", "nofunc")) return fnull;
    if (heap_is(v->heap, "extern", "noextern")) return xnull;
    if (heap_is(v->heap, "exn", "noexn")) return enull;
    bool anull = got->type == CIS_ANYREF && !got->of.externref;
    if (!v->heap[0] || v->heap[0] == '$' || (v->heap[0] >= '0' && v->heap[0] <= '9'))
      return fnull || xnull || enull || anull;
    return anull; /* any, none, eq, struct, array, i31 */
  }
  case WAST_REF_STRUCT: return cis_anyref_kind_of(got) == CIS_ANYREF_STRUCT;
  case WAST_REF_ARRAY: return cis_anyref_kind_of(got) == CIS_ANYREF_ARRAY;
  case WAST_REF_I31: return cis_anyref_kind_of(got) == CIS_ANYREF_I31;
  case WAST_REF_EQ: {
    cis_anyref_kind k = cis_anyref_kind_of(got);
    return k == CIS_ANYREF_I31 || k == CIS_ANYREF_STRUCT || k == CIS_ANYREF_ARRAY;
  }
  case WAST_REF_ANY: return got->type == CIS_ANYREF && got->of.externref;
  case WAST_REF_HOST:
    return cis_anyref_kind_of(got) == CIS_ANYREF_HOST && cis_anyref_host(got) == spec_extern_of(v->bits);
  case WAST_REF_EXTERN:
    if (got->type != CIS_EXTERNREF || !got->of.externref) return false;
    return !v->has_n || got->of.externref == spec_extern_of(v->bits);
  case WAST_REF_FUNC: return got->type == CIS_FUNCREF && got->of.funcref;
  case WAST_REF_EXN: return got->type == CIS_EXNREF && got->of.externref;
  case WAST_EITHER:
    for (uint32_t i = 0; i < v->nalts; i++)
      if (matches(&v->alts[i], got)) return true;
    return false;
  default: return false; /* GC and anyref references: not in cis's API */
  }
}

/* ------------------------------------------------------------- instances */

static bool remember(ws_script *s, const wast_name *name, cis_instance *inst, cis_module *mod) {
  if (s->nnamed == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 16;
    ws_named *n = realloc(s->named, cap * sizeof *n);
    if (!n) return false;
    s->named = n;
    s->cap = cap;
  }
  ws_named *e = &s->named[s->nnamed++];
  e->name = *name;
  e->inst = inst;
  e->mod = mod;
  return true;
}

/* The latest instance (or, with defs, module definition) named name;
 * with no name, the current module (or the last definition). */
static ws_named *find(ws_script *s, const wast_name *name, bool defs) {
  for (size_t i = s->nnamed; i-- > 0;) {
    ws_named *e = &s->named[i];
    if ((defs ? e->mod != NULL : e->inst != NULL) && e->name.s && e->name.n == name->n &&
        !memcmp(e->name.s, name->s, name->n))
      return e;
  }
  return NULL;
}

static cis_instance *find_inst(ws_script *s, const wast_name *name) {
  if (!name->s) return s->current;
  ws_named *e = find(s, name, false);
  return e ? e->inst : NULL;
}

/* wast2json's name of a command's module file ("select.2.wasm"): the
 * key of the message map's file-specific entries. */
static const char *file_of(ws_script *s, const wast_cmd *c, char *buf, size_t len) {
  snprintf(buf, len, "%s.%" PRIu32 ".wasm", s->stem, c->file_index);
  return buf;
}

/* Writes module m's binary (a text one's as the text compiler makes it;
 * none when its text is malformed) to ws_dump/HASH.wasm: seeds for the
 * decode and run fuzz targets (fuzz/README.md). */
static void dump_module(const wast_module *m) {
  uint8_t *bin = NULL;
  size_t n = m->len;
  const uint8_t *p = m->bytes;
  if (m->form != WAST_FORM_BINARY) {
    char msg[256];
    if (cis__wat_compile_std((const char *)m->bytes, m->len, ws_standard ? ws_standard : 3, &bin, &n, msg,
                             sizeof msg) != CIS_OK)
      return;
    p = bin;
  }
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a: a name per content */
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%016" PRIx64 ".wasm", ws_dump, h);
  FILE *f = fopen(path, "wbx");
  if (f) {
    if (fwrite(p, 1, n, f) != n) fprintf(stderr, "wast_runner: cannot write %s\n", path);
    fclose(f);
  }
  free(bin);
}

/* Compiles a command's module: text and quote forms by the text
 * compiler, binary forms by the decoder; both validate. */
static cis_result load(ws_script *s, const wast_module *m, cis_module **out) {
  *out = NULL;
  if (ws_dump) dump_module(m);
  cis_result rc = m->form == WAST_FORM_BINARY
                      ? cis_module_new(s->engine, m->bytes, m->len, out)
                      : cis_module_new_text(s->engine, (const char *)m->bytes, m->len, out);
  if (rc == CIS_OK && !*out) rc = CIS_ESTATE; /* defend against a broken contract */
  return rc;
}

/* --------------------------------------------------------------- commands */

static void cmd_module(ws_script *s, const wast_cmd *c) {
  char buf[640];
  cis_module *m = NULL;
  if (!c->module.definition) s->current = NULL;
  cis_result rc = load(s, &c->module, &m);
  if (rc) {
    fail(s, "module should load, got %s", spec_describe_rc(rc, cis_errmsg(s->engine), buf, sizeof buf));
    return;
  }
  if (c->module.definition) {
    if (!remember(s, &c->module.id, NULL, m)) {
      cis_module_free(m);
      fail(s, "out of host memory");
      return;
    }
    s->last_def = m;
    pass(s);
    return;
  }
  cis_instance *inst = NULL;
  rc = cis_instance_new(m, s->host.imports, NULL, &inst);
  cis_module_free(m);
  if (rc || !inst) {
    fail(s, "module should instantiate, got %s", spec_describe_rc(rc, cis_errmsg(s->engine), buf, sizeof buf));
    if (inst) cis_instance_free(inst);
    return;
  }
  if (!remember(s, &c->module.id, inst, NULL)) {
    cis_instance_free(inst);
    fail(s, "out of host memory");
    return;
  }
  s->current = inst;
  pass(s);
}

/* (module instance $i? $m?): a new instance of a definition. */
static void cmd_instance(ws_script *s, const wast_cmd *c) {
  char buf[640], shown[256];
  s->current = NULL;
  ws_named *def = c->id2.s ? find(s, &c->id2, true) : NULL;
  cis_module *m = def ? def->mod : c->id2.s ? NULL : s->last_def;
  if (!m) {
    fail(s, "module instance of %s, but there is no such definition",
         c->id2.s ? show_name(&c->id2, shown, sizeof shown) : "the last definition");
    return;
  }
  cis_instance *inst = NULL;
  cis_result rc = cis_instance_new(m, s->host.imports, NULL, &inst);
  if (rc || !inst) {
    fail(s, "module instance should instantiate, got %s",
         spec_describe_rc(rc, cis_errmsg(s->engine), buf, sizeof buf));
    if (inst) cis_instance_free(inst);
    return;
  }
  if (!remember(s, &c->id, inst, NULL)) {
    cis_instance_free(inst);
    fail(s, "out of host memory");
    return;
  }
  s->current = inst;
  pass(s);
}

static void cmd_register(ws_script *s, const wast_cmd *c) {
  char shown[256], buf[640];
  cis_instance *inst = find_inst(s, &c->id);
  if (!inst) {
    fail(s, "register of %s, but there is no such module",
         c->id.s ? show_name(&c->id, shown, sizeof shown) : "the current module");
    return;
  }
  cis_result rc = cis_imports_add_instance(s->host.imports, c->as.s, c->as.n, inst);
  if (rc)
    fail(s, "register as \"%s\" failed: %s", show_name(&c->as, shown, sizeof shown),
         spec_describe_rc(rc, cis_errmsg(s->engine), buf, sizeof buf));
  else
    pass(s);
}

/* What an action produced. */
/* An argument of a script's action: to_arg over the action's values. */
static bool action_arg(void *ctx, uint32_t i, cis_valtype want, cis_val *out, char *err,
                       size_t errlen) {
  const wast_action *a = ctx;
  return to_arg(&a->args[i], want, out, err, errlen);
}

/* Performs an action. Returns false when it could not even be attempted
 * (no such module or export, arguments cis cannot pass): reported here.
 * Otherwise fills *o, whose results the caller frees. */
static bool run_action(ws_script *s, const wast_action *a, spec_outcome *o) {
  char shown[256];
  memset(o, 0, sizeof *o);
  cis_instance *inst = find_inst(s, &a->module);
  if (!inst) {
    fail(s, "action on %s, but there is no such module (an earlier module failed?)",
         a->module.s ? show_name(&a->module, shown, sizeof shown) : "the current module");
    return false;
  }
  cis_extern ext;
  cis_result rc = cis_instance_export(inst, a->field.s, a->field.n, &ext);
  if (rc) {
    fail(s, "export \"%s\" not found: %s", show_name(&a->field, shown, sizeof shown), cis_errname(rc));
    return false;
  }
  if (a->get) {
    if (ext.kind != CIS_EXTERN_GLOBAL) {
      fail(s, "export \"%s\" is not a global", show_name(&a->field, shown, sizeof shown));
      return false;
    }
    if (!spec_get(ext.of.global, o)) fail(s, "out of host memory");
    return o->results != NULL;
  }
  if (ext.kind != CIS_EXTERN_FUNC) {
    fail(s, "export \"%s\" is not a function", show_name(&a->field, shown, sizeof shown));
    return false;
  }
  uint32_t np = 0, nr = 0;
  const cis_valtype *pt = NULL, *rt = NULL;
  cis_func_type(ext.of.func, &np, &pt, &nr, &rt);
  if (a->nargs != np) {
    fail(s, "\"%s\" takes %" PRIu32 " arguments, the script passes %" PRIu32,
         show_name(&a->field, shown, sizeof shown), np, a->nargs);
    return false;
  }
  char err[300];
  arg_inst = inst;
  if (spec_call(inst, ext.of.func, action_arg, (void *)a, o, err, sizeof err)) return true;
  fail(s, "%s", err);
  return false;
}

/* action, assert_return, assert_trap, assert_exhaustion, assert_exception. */
static void cmd_action(ws_script *s, const wast_cmd *c) {
  spec_outcome o;
  char buf[640], want[512], got[128], what[256];
  const char *type = wast_cmd_name(c), *text = c->text ? c->text : "";
  if (!run_action(s, &c->action, &o)) return;
  show_name(&c->action.field, what, sizeof what);
  switch (c->kind) {
  case WAST_ACTION:
  case WAST_ASSERT_RETURN:
    if (o.rc) {
      fail(s, "%s \"%s\": expected results, got %s", type, what, spec_describe_rc(o.rc, o.msg, buf, sizeof buf));
      break;
    }
    if (c->kind == WAST_ACTION) {
      pass(s);
      break;
    }
    if (c->nresults != o.nresults) {
      fail(s, "assert_return \"%s\": expected %" PRIu32 " results, the function returns %" PRIu32, what,
           c->nresults, o.nresults);
      break;
    }
    for (uint32_t i = 0; i < c->nresults; i++) {
      if (!matches(&c->results[i], &o.results[i])) {
        fail(s, "assert_return \"%s\": result %" PRIu32 ": expected %s, got %s", what, i,
             show_expected(&c->results[i], want, sizeof want), spec_show_val(&o.results[i], got, sizeof got));
        goto done;
      }
    }
    pass(s);
    break;
  case WAST_ASSERT_EXHAUSTION:
    if (o.rc != CIS_TRAP_STACK || !spec_text_matches(text, NULL, o.msg))
      fail(s, "assert_exhaustion \"%s\": expected CIS_TRAP_STACK (%s), got %s", what, text,
           o.rc ? spec_describe_rc(o.rc, o.msg, buf, sizeof buf) : "results");
    else
      pass(s);
    break;
  case WAST_ASSERT_EXCEPTION: /* an uncaught wasm exception ends the call */
    if (o.rc != CIS_EXCEPTION)
      fail(s, "assert_exception \"%s\": expected an exception, got %s", what,
           o.rc ? spec_describe_rc(o.rc, o.msg, buf, sizeof buf) : "results");
    else
      pass(s);
    break;
  default: /* assert_trap */
    if (!o.rc)
      fail(s, "assert_trap \"%s\": expected trap \"%s\", got results", what, text);
    else if (!cis_is_trap(o.rc) || !spec_text_matches(text, NULL, o.msg))
      fail(s, "assert_trap \"%s\": expected trap \"%s\", got %s", what, text,
           spec_describe_rc(o.rc, o.msg, buf, sizeof buf));
    else
      pass(s);
  }
done:
  free(o.results);
}

/* Does a text module's message say text? It holds it, or, for a text
 * "what: detail" (the reference interpreter's "type mismatch: instruction
 * requires [i32] but stack has []"), what: the stacks' detail is the
 * reference's own wording. */
static bool text_says(const char *msg, const char *text) {
  if (strstr(msg, text)) return true;
  const char *colon = strstr(text, ": ");
  if (!colon || colon == text) return false;
  size_t n = (size_t)(colon - text);
  for (const char *m = msg; *m; m++)
    if (!strncmp(m, text, n)) return true;
  return false;
}

/* assert_malformed and assert_invalid: the module must fail to load with a
 * code in [lo, hi] saying what the script's text says. A text module's
 * message may be the text compiler's "LINE:COL: what" (malformed, or
 * invalid in a way its binary could not say, as a table size beyond 32
 * bits), so there the text must be in it; elsewhere the message must
 * start with it. */
static void cmd_bad_module(ws_script *s, const wast_cmd *c, int lo, int hi) {
  char buf[640], file[300];
  const char *type = wast_cmd_name(c), *text = c->text ? c->text : "";
  cis_module *m = NULL;
  cis_result rc = load(s, &c->module, &m);
  const char *msg = cis_errmsg(s->engine);
  bool text_form = c->module.form != WAST_FORM_BINARY;
  if (rc == CIS_OK) {
    fail(s, "%s: expected \"%s\", but the module loaded", type, text);
    cis_module_free(m);
  } else if (rc < lo || rc > hi ||
             !(text_form ? text_says(msg, text) : spec_text_matches(text, file_of(s, c, file, sizeof file), msg))) {
    fail(s, "%s: expected \"%s\" (a code in %d..%d), got %s", type, text, hi, lo,
         spec_describe_rc(rc, msg, buf, sizeof buf));
  } else {
    pass(s);
  }
}

/* assert_unlinkable and assert_uninstantiable (assert_trap of a module):
 * the module loads, and instantiation must fail as text says (a link
 * code, or a trap). */
static void cmd_bad_instance(ws_script *s, const wast_cmd *c) {
  char buf[640], file[300];
  const char *type = wast_cmd_name(c), *text = c->text ? c->text : "";
  bool unlinkable = c->kind == WAST_ASSERT_UNLINKABLE;
  cis_module *m = NULL;
  cis_result rc = load(s, &c->module, &m);
  if (rc) {
    fail(s, "%s: the module should load, got %s", type,
         spec_describe_rc(rc, cis_errmsg(s->engine), buf, sizeof buf));
    return;
  }
  cis_instance *inst = NULL;
  rc = cis_instance_new(m, s->host.imports, NULL, &inst);
  cis_module_free(m);
  if (rc == CIS_OK) {
    fail(s, "%s: expected \"%s\", but it instantiated", type, text);
    if (inst) cis_instance_free(inst);
    return;
  }
  bool right_class = unlinkable ? (rc == CIS_EUNKNOWNIMPORT || rc == CIS_EIMPORTTYPE) : cis_is_trap(rc);
  if (!right_class || !spec_text_matches(text, file_of(s, c, file, sizeof file), cis_errmsg(s->engine)))
    fail(s, "%s: expected \"%s\", got %s", type, text,
         spec_describe_rc(rc, cis_errmsg(s->engine), buf, sizeof buf));
  else
    pass(s);
}

static void run_command(ws_script *s, const wast_cmd *c) {
  s->line = c->line;
  s->counts->line = c->line;
  switch (c->kind) {
  case WAST_MODULE: cmd_module(s, c); break;
  case WAST_INSTANCE: cmd_instance(s, c); break;
  case WAST_REGISTER: cmd_register(s, c); break;
  case WAST_ASSERT_MALFORMED: cmd_bad_module(s, c, -199, -100); break;
  case WAST_ASSERT_INVALID: cmd_bad_module(s, c, -299, -200); break;
  case WAST_ASSERT_UNLINKABLE:
  case WAST_ASSERT_UNINSTANTIABLE: cmd_bad_instance(s, c); break;
  case WAST_ASSERT_MALFORMED_CUSTOM: cmd_bad_module(s, c, -199, -100); break;
  case WAST_ASSERT_INVALID_CUSTOM: cmd_bad_module(s, c, -299, -200); break;
  default: cmd_action(s, c);
  }
  s->counts->done++;
}

/* Runs every command of one .wast script (in the child process, or in
 * turn with --no-fork). A reading error ends the script: the commands
 * before it run, and it counts as one failed command. */
static void run_script(const char *path, spec_counts *counts) {
  ws_script s;
  wast_script w;
  memset(&s, 0, sizeof s);
  memset(&w, 0, sizeof w);
  s.counts = counts;
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  snprintf(s.stem, sizeof s.stem, "%.*s", (int)(strlen(base) > 5 ? strlen(base) - 5 : strlen(base)), base);
  snprintf(s.label, sizeof s.label, "%s", base);

  size_t len = 0;
  char *text = (char *)cis_test_file_read(path, &len);
  if (!text) {
    fail(&s, "cannot read %s: %s", path, strerror(errno));
    return;
  }
  wast_parse(text, len, &w);
  counts->total = w.ncmds + (w.rc ? 1 : 0);

  cis_engine_config ecfg;
  cis_engine_config_default(&ecfg);
  if (ws_engine) ecfg.engine = ws_engine;
  ecfg.standard = ws_standard;
  cis_result rc = cis_engine_new(&ecfg, &s.engine);
  if (rc == CIS_OK) rc = spec_host_new(s.engine, &s.host);
  if (rc) {
    char buf[640];
    fail(&s, "cannot set up the engine and spectest: %s",
         spec_describe_rc(rc, s.engine ? cis_errmsg(s.engine) : "", buf, sizeof buf));
    counts->failed += counts->total ? counts->total - 1 : 0;
    goto out;
  }
  for (size_t i = 0; i < w.ncmds; i++) run_command(&s, &w.cmds[i]);
  if (w.rc) {
    s.line = w.err_line;
    fail(&s, "cannot read the script: %s (%s)", w.msg, cis_errname(w.rc));
    counts->done++;
  }

out:
  for (size_t i = 0; i < s.nnamed; i++) {
    if (s.named[i].inst) cis_instance_free(s.named[i].inst);
    if (s.named[i].mod) cis_module_free(s.named[i].mod);
  }
  free(s.named);
  spec_host_free(&s.host);
  if (s.engine) cis_engine_free(s.engine);
  wast_script_free(&w);
  free(text);
}

/* ---------------------------------------------------------------- driver */

/* The scripts of a run, and what the ratchet list says of them. */
typedef struct ws_run {
  spec_run run;
  char **names;          /* NAME arguments */
  int nnames;
  char **passing;        /* --passing: scripts that must pass */
  size_t npassing;
  bool *seen;            /* per passing entry: run */
  unsigned regressed;    /* listed scripts that failed */
  unsigned newly;        /* unlisted scripts that passed */
} ws_run;

static bool is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && !strcmp(s + n - m, suffix);
}

static bool selected(ws_run *r, const char *label) {
  if (r->nnames == 0) return true;
  for (int i = 0; i < r->nnames; i++)
    if (!strcmp(label, r->names[i])) return true;
  return false;
}

/* Runs one script and checks it against the ratchet list. */
static void run_one(ws_run *r, const char *path, const char *label) {
  spec_run_one(&r->run, path, label, run_script);
  if (!r->passing) return;
  bool ok = r->run.last.failed == 0;
  for (size_t i = 0; i < r->npassing; i++) {
    if (strcmp(r->passing[i], label)) continue;
    r->seen[i] = true;
    if (!ok) {
      printf("REGRESSED: %s (listed as passing)\n", label);
      r->regressed++;
    }
    return;
  }
  if (ok) {
    printf("newly passing: %s (add it to the list)\n", label);
    r->newly++;
  }
}

/* Runs the scripts of dir in name order: dir/<n>.wast, dir/<n>/<n>.wast,
 * and (one level down) dir/<sub>/<n>.wast as "<sub>/<n>". prefix is the
 * label prefix of the level. Returns the number of scripts run. */
static unsigned run_dir(ws_run *r, const char *dir, const char *prefix, int depth) {
  struct dirent **ents = NULL;
  int n = scandir(dir, &ents, NULL, alphasort);
  unsigned found = 0;
  for (int i = 0; i < n; i++) {
    const char *e = ents[i]->d_name;
    char path[PATH_MAX], label[512];
    if (e[0] == '.') goto next;
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e) >= sizeof path) goto next;
    if (ends_with(e, ".wast") && is_file(path)) {
      snprintf(label, sizeof label, "%s%.*s", prefix, (int)(strlen(e) - 5), e);
    } else if (is_dir(path)) {
      char inner[PATH_MAX];
      if ((size_t)snprintf(inner, sizeof inner, "%s/%s/%s.wast", dir, e, e) < sizeof inner &&
          is_file(inner)) {
        snprintf(path, sizeof path, "%s", inner);
        snprintf(label, sizeof label, "%s%s", prefix, e);
      } else {
        if (depth == 0) {
          char sub[512];
          snprintf(sub, sizeof sub, "%s%s/", prefix, e);
          found += run_dir(r, path, sub, depth + 1);
        }
        goto next;
      }
    } else {
      goto next;
    }
    if (!selected(r, label)) goto next;
    found++;
    run_one(r, path, label);
  next:
    free(ents[i]);
  }
  free(ents);
  return found;
}

/* Reads the ratchet list: one script name a line; # starts a comment. */
/* Whether the scripts run on the compiled engine (--engine, else the
 * default engine $CIS_ENGINE names). */
static bool on_aot(void) {
  const char *e = ws_engine ? ws_engine : getenv("CIS_ENGINE");
  return e && !strcmp(e, "aot");
}

static bool read_passing(ws_run *r, const char *path) {
  size_t len = 0;
  char *text = (char *)cis_test_file_read(path, &len);
  if (!text) {
    fprintf(stderr, "wast_runner: cannot read %s: %s\n", path, strerror(errno));
    return false;
  }
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    char *hash = strchr(line, '#');
    if (hash) *hash = '\0';
    char *b = line + strspn(line, " \t\r");
    size_t l = strcspn(b, " \t\r");
    if (!l) continue;
    /* "NAME interp": the script holds on the interpreter only (the
     * compiled tier refuses its modules), so a run on aot leaves it out. */
    const char *tag = b + l + strspn(b + l, " \t\r");
    if (!strncmp(tag, "interp", 6) && on_aot()) continue;
    char **np = realloc(r->passing, (r->npassing + 1) * sizeof *np);
    if (!np) break;
    r->passing = np;
    r->passing[r->npassing] = strndup(b, l);
    if (r->passing[r->npassing]) r->npassing++;
  }
  free(text);
  r->seen = calloc(r->npassing ? r->npassing : 1, sizeof *r->seen);
  return r->seen != NULL;
}

static int usage(void) {
  fprintf(stderr,
          "usage: wast_runner [--no-fork] [--engine interp|aot] [--standard 2|3] [--timeout S]\n"
          "                   [--passing LIST] [--dump-modules DIR2] [DIR | FILE.wast] [NAME...]\n"
          "  DIR defaults to %s\n",
          CIS_WAST_DEFAULT_DIR);
  return 2;
}

int main(int argc, char **argv) {
  ws_run r;
  memset(&r, 0, sizeof r);
  r.run.fork = true;
  r.run.seconds = 300;
  const char *passing = NULL;
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (!strcmp(argv[i], "--no-fork"))
      r.run.fork = false;
    else if (!strcmp(argv[i], "--engine") && i + 1 < argc)
      ws_engine = argv[++i];
    else if (!strcmp(argv[i], "--standard") && i + 1 < argc && (atoi(argv[i + 1]) == 2 || atoi(argv[i + 1]) == 3))
      ws_standard = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--timeout") && i + 1 < argc && atoi(argv[i + 1]) > 0)
      r.run.seconds = (unsigned)atoi(argv[++i]);
    else if (!strcmp(argv[i], "--passing") && i + 1 < argc)
      passing = argv[++i];
    else if (!strcmp(argv[i], "--dump-modules") && i + 1 < argc && is_dir(argv[i + 1]))
      ws_dump = argv[++i];
    else
      return usage();
  }
  const char *target = i < argc ? argv[i++] : CIS_WAST_DEFAULT_DIR;
  r.names = argv + i;
  r.nnames = argc - i;
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (!spec_run_init(&r.run, "wast_runner")) return 1;
  if (passing && !read_passing(&r, passing)) return 1;

  unsigned found = 0;
  if (is_file(target) && ends_with(target, ".wast")) {
    const char *b = strrchr(target, '/');
    char label[256];
    snprintf(label, sizeof label, "%s", b ? b + 1 : target);
    label[strlen(label) - 5] = '\0';
    run_one(&r, target, label);
    found = 1;
  } else if (is_dir(target)) {
    found = run_dir(&r, target, "", 0);
  }
  int rc;
  if (found == 0 && r.nnames) {
    fprintf(stderr, "wast_runner: no script matches the names given under %s\n", target);
    rc = 1;
  } else if (found == 0) {
    rc = spec_run_no_suite("wast_runner", target,
                           "put the WebAssembly spec suite there (see "
                           "../shared/wasm-testsuite/README.md) or pass its folder");
  } else {
    printf("wast: %u scripts, %" PRIu64 " passed, %" PRIu64 " failed, %" PRIu64 " skipped\n",
           r.run.scripts, r.run.passed, r.run.failed, r.run.skipped);
    rc = r.run.failed ? 1 : 0;
    if (r.passing) {
      unsigned missing = 0;
      for (size_t k = 0; k < r.npassing; k++)
        if (!r.seen[k] && selected(&r, r.passing[k])) {
          printf("REGRESSED: %s (listed as passing, but there is no such script)\n", r.passing[k]);
          missing++;
        }
      printf("ratchet: %zu listed, %u regressed, %u newly passing\n", r.npassing, r.regressed + missing,
             r.newly);
      rc = r.regressed + missing ? 1 : 0;
    }
  }
  for (size_t k = 0; k < r.npassing; k++) free(r.passing[k]);
  free(r.passing);
  free(r.seen);
  return rc;
}
