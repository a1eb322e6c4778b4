/*
 * This file implements what the spec-suite runners share (spec_common.h):
 * the `spectest` host module, value comparison and display, the matching
 * of error messages against the scripts' texts, and the driver that runs
 * each script in a child process.
 */
#include "spec_common.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------- spectest */

static cis_result spectest_print(cis_call *call, const cis_slot *args, cis_slot *results) {
  (void)call, (void)args, (void)results;
  return CIS_OK;
}

cis_result spec_host_new(cis_engine *e, spec_host *h) {
  static const cis_host_func_def prints[] = {
      {"spectest", "print", "()", spectest_print, NULL, 0},
      {"spectest", "print_i32", "(i)", spectest_print, NULL, 0},
      {"spectest", "print_i64", "(I)", spectest_print, NULL, 0},
      {"spectest", "print_f32", "(f)", spectest_print, NULL, 0},
      {"spectest", "print_f64", "(F)", spectest_print, NULL, 0},
      {"spectest", "print_i32_f32", "(if)", spectest_print, NULL, 0},
      {"spectest", "print_f64_f64", "(FF)", spectest_print, NULL, 0},
  };
  static const char *gnames[4] = {"global_i32", "global_i64", "global_f32", "global_f64"};
  cis_val gvals[4];
  memset(h, 0, sizeof *h);
  memset(gvals, 0, sizeof gvals);
  gvals[0].type = CIS_I32, gvals[0].of.u32 = 666;
  gvals[1].type = CIS_I64, gvals[1].of.u64 = 666;
  gvals[2].type = CIS_F32, gvals[2].of.u32 = 0x4426a666u;
  gvals[3].type = CIS_F64, gvals[3].of.u64 = 0x4084d4cccccccccdull;

  cis_result rc = cis_imports_new(e, &h->imports);
  if (rc) return rc;
  rc = cis_imports_add_host_funcs(h->imports, prints, sizeof prints / sizeof prints[0]);
  if (rc) return rc;
  for (int i = 0; i < 4; i++) {
    rc = cis_global_new(e, gvals[i], false, &h->globals[i]);
    if (rc) return rc;
    rc = cis_imports_add_global(h->imports, "spectest", 8, gnames[i], strlen(gnames[i]),
                                h->globals[i]);
    if (rc) return rc;
  }
  rc = cis_table_new(e, CIS_FUNCREF, 10, 20, true, &h->table);
  if (rc) return rc;
  rc = cis_imports_add_table(h->imports, "spectest", 8, "table", 5, h->table);
  if (rc) return rc;
  rc = cis_memory_new(e, 1, 2, true, &h->memory);
  if (rc) return rc;
  rc = cis_imports_add_memory(h->imports, "spectest", 8, "memory", 6, h->memory);
  if (rc) return rc;
  /* spectest.table64, a 64-bit table (table64.wast), made by a module: the
   * API makes 32-bit tables only. Engines that take no such module (2.0,
   * the compiled tier) go without it. */
  static const char t64[] = "(module (table (export \"t\") i64 10 20 funcref))";
  cis_extern x;
  if (cis_module_new_text(e, t64, sizeof t64 - 1, &h->table64_mod) != CIS_OK ||
      cis_instance_new(h->table64_mod, NULL, NULL, &h->table64) != CIS_OK ||
      cis_instance_export(h->table64, "t", 1, &x) != CIS_OK)
    return CIS_OK;
  return cis_imports_add_table(h->imports, "spectest", 8, "table64", 7, x.of.table);
}

void spec_host_free(spec_host *h) {
  cis_imports_free(h->imports);
  for (int i = 0; i < 4; i++)
    if (h->globals[i]) cis_global_free(h->globals[i]);
  if (h->table) cis_table_free(h->table);
  if (h->memory) cis_memory_free(h->memory);
  cis_instance_free(h->table64);
  cis_module_free(h->table64_mod);
  memset(h, 0, sizeof *h);
}

/* --------------------------------------------------------------- values */

bool spec_f32_matches(uint32_t got, spec_nan how, uint32_t want) {
  if (how == SPEC_NAN_CANONICAL) return (got & 0x7fffffffu) == 0x7fc00000u;
  if (how == SPEC_NAN_ARITHMETIC) return (got & 0x7fc00000u) == 0x7fc00000u;
  return got == want;
}

bool spec_f64_matches(uint64_t got, spec_nan how, uint64_t want) {
  if (how == SPEC_NAN_CANONICAL) return (got & 0x7fffffffffffffffull) == 0x7ff8000000000000ull;
  if (how == SPEC_NAN_ARITHMETIC) return (got & 0x7ff8000000000000ull) == 0x7ff8000000000000ull;
  return got == want;
}

const char *spec_type_name(cis_valtype t) {
  switch (t) {
  case CIS_I32: return "i32";
  case CIS_I64: return "i64";
  case CIS_F32: return "f32";
  case CIS_F64: return "f64";
  case CIS_V128: return "v128";
  case CIS_FUNCREF: return "funcref";
  case CIS_EXTERNREF: return "externref";
  case CIS_EXNREF: return "exnref";
  case CIS_NULLEXNREF: return "nullexnref";
  case CIS_ANYREF: return "anyref";
  }
  return "?";
}

const char *spec_show_val(const cis_val *v, char *buf, size_t len) {
  switch (v->type) {
  case CIS_I32:
    snprintf(buf, len, "i32:%" PRIu32 " (0x%08" PRIx32 ")", v->of.u32, v->of.u32);
    break;
  case CIS_I64:
    snprintf(buf, len, "i64:%" PRIu64 " (0x%016" PRIx64 ")", v->of.u64, v->of.u64);
    break;
  case CIS_F32:
    snprintf(buf, len, "f32:0x%08" PRIx32 " (%.9g)", v->of.u32, (double)v->of.f32);
    break;
  case CIS_F64:
    snprintf(buf, len, "f64:0x%016" PRIx64 " (%.17g)", v->of.u64, v->of.f64);
    break;
  case CIS_FUNCREF:
    if (v->of.funcref)
      snprintf(buf, len, "funcref:%p", (void *)v->of.funcref);
    else
      snprintf(buf, len, "funcref:null");
    break;
  case CIS_EXTERNREF:
    if (!v->of.externref)
      snprintf(buf, len, "externref:null");
    else
      snprintf(buf, len, "externref:%" PRIuPTR, (uintptr_t)v->of.externref - 1);
    break;
  case CIS_EXNREF:
  case CIS_NULLEXNREF:
    snprintf(buf, len, "exnref:%s", v->of.externref ? "non-null" : "null");
    break;
  case CIS_ANYREF: {
    static const char *const kinds[] = {"null", "i31", "struct", "array", "host"};
    snprintf(buf, len, "anyref:%s", kinds[cis_anyref_kind_of(v)]);
    break;
  }
  case CIS_V128: {
    int o = snprintf(buf, len, "v128:");
    for (int i = 0; i < 16 && o > 0 && (size_t)o < len; i++)
      o += snprintf(buf + o, len - (size_t)o, "%02x", v->v128[i]);
    break;
  }
  default:
    snprintf(buf, len, "type 0x%02x", (unsigned)v->type);
  }
  return buf;
}

/* --------------------------------------------------------------- errors */

const char *spec_describe_rc(cis_result rc, const char *detail, char *buf, size_t len) {
  const char *text = cis_strerror(rc);
  if (detail && *detail && !strncmp(detail, text, strlen(text)))
    snprintf(buf, len, "%s: %s", cis_errname(rc), detail); /* detail already says it */
  else if (detail && *detail)
    snprintf(buf, len, "%s (%s): %s", cis_errname(rc), cis_strerror(rc), detail);
  else
    snprintf(buf, len, "%s (%s)", cis_errname(rc), cis_strerror(rc));
  return buf;
}

/* Where cis's message for a command differs from the spec's text on
 * purpose: the spec's text, the module file it applies to (NULL: every
 * file), and what cis's message starts with instead. Each entry says why;
 * everything else must start with the spec's text itself. */
static const struct {
  const char *spec; /* the script's expected text */
  const char *file; /* the command's module file, or NULL */
  const char *cis;  /* the start of cis's message for it */
} text_map[] = {
    /* bulk.wast: the reference interpreter names the table slot of the null
     * entry; cis's trap message names the function that trapped (the
     * interpreter does not keep the slot at the trap). */
    {"uninitialized element 2", NULL, "uninitialized element"},
    /* select.wast: wabt 1.0.32 encodes `select (result)` (an empty type
     * vector) as plain select (0x1b), so this binary holds a select
     * without types and one operand too few: a type mismatch. The other
     * arity case (select.3, two types) is encoded as written. */
    {"invalid result arity", "select.2.wasm", "type mismatch"},
};

bool spec_text_matches(const char *text, const char *file, const char *msg) {
  if (!text || !msg) return false;
  if (!strncmp(msg, text, strlen(text))) return true;
  for (size_t i = 0; i < sizeof text_map / sizeof text_map[0]; i++)
    if (!strcmp(text, text_map[i].spec) && (!text_map[i].file || (file && !strcmp(file, text_map[i].file))) &&
        !strncmp(msg, text_map[i].cis, strlen(text_map[i].cis)))
      return true;
  return false;
}

/* --------------------------------------------------------------- driver */

/* gcov's flush, present when a runner is built with --coverage. The
 * children end with _exit (no atexit handlers: nothing of the parent's
 * stdio or LeakSanitizer runs twice), so they write their counts first.
 * __gcov_dump (clang's runtime; GCC's when something else pulls it from
 * libgcov.a, as a weak reference does not), else GCC's __gcov_exit, which
 * is in the object every instrumented file pulls in. */
extern void __gcov_dump(void) __attribute__((weak));
extern void __gcov_exit(void) __attribute__((weak));

static void flush_coverage(void) {
  if (__gcov_dump)
    __gcov_dump();
  else if (__gcov_exit)
    __gcov_exit();
}

bool spec_run_init(spec_run *r, const char *prog) {
  r->shared = mmap(NULL, sizeof(spec_counts), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
  if (r->shared == MAP_FAILED) {
    fprintf(stderr, "%s: mmap: %s\n", prog, strerror(errno));
    r->shared = NULL;
    return false;
  }
  return true;
}

void spec_run_one(spec_run *r, const char *path, const char *label, spec_script_fn fn) {
  spec_counts *c = r->shared;
  memset(c, 0, sizeof *c);
  fflush(stdout);
  if (!r->fork) {
    fn(path, c);
  } else {
    pid_t pid = fork();
    if (pid < 0) {
      printf("%s: cannot fork: %s\n", label, strerror(errno));
      c->failed = 1;
    } else if (pid == 0) {
      alarm(r->seconds);
      fn(path, c);
      fflush(stdout);
      flush_coverage();
      _exit(0);
    } else {
      int st = 0;
      while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
      }
      if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        char why[128];
        if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
          snprintf(why, sizeof why, "took longer than %u s", r->seconds);
        else if (WIFSIGNALED(st))
          snprintf(why, sizeof why, "killed by signal %d, %s", WTERMSIG(st),
                   strsignal(WTERMSIG(st)));
        else
          snprintf(why, sizeof why, "exited with status %d", WEXITSTATUS(st));
        printf("%s:%" PRIu64 ": the script's process %s after %" PRIu64 " of %" PRIu64
               " commands; the command in progress and the rest count as failed\n",
               label, c->line, why, c->done, c->total);
        uint64_t rest = c->total > c->done ? c->total - c->done : 1;
        c->failed += rest;
      }
    }
  }
  printf("%-28s %6" PRIu64 " passed, %4" PRIu64 " failed, %4" PRIu64 " skipped\n", label,
         c->passed, c->failed, c->skipped);
  fflush(stdout);
  r->last = *c;
  r->passed += c->passed;
  r->failed += c->failed;
  r->skipped += c->skipped;
  r->scripts++;
}

int spec_run_no_suite(const char *prog, const char *where, const char *hint) {
  const char *ci = getenv("CI");
  if (ci && !strcmp(ci, "true")) {
    fprintf(stderr, "%s: FAILED: no spec scripts at %s (CI=true needs the suite)\n", prog, where);
    return 1;
  }
  printf("%s: SKIPPED: no spec scripts at %s; %s\n", prog, where, hint);
  return 77;
}

/* ---------------------------------------------------------------- actions */

bool spec_call(cis_instance *inst, cis_func *f, spec_arg_fn arg, void *ctx, spec_outcome *o,
               char *err, size_t errlen) {
  uint32_t np = 0, nr = 0;
  const cis_valtype *pt = NULL, *rt = NULL;
  cis_func_type(f, &np, &pt, &nr, &rt);
  cis_val *args = calloc(np ? np : 1, sizeof *args);
  o->results = calloc(nr ? nr : 1, sizeof *o->results);
  o->nresults = nr;
  bool ok = args && o->results;
  if (!ok) snprintf(err, errlen, "out of host memory");
  for (uint32_t i = 0; ok && i < np; i++) {
    char why[256];
    if (!arg(ctx, i, pt[i], &args[i], why, sizeof why)) {
      snprintf(err, errlen, "argument %" PRIu32 ": %s", i, why);
      ok = false;
    } else if (args[i].type != pt[i]) {
      snprintf(err, errlen, "argument %" PRIu32 " is %s, the function takes %s", i,
               spec_type_name(args[i].type), spec_type_name(pt[i]));
      ok = false;
    }
  }
  if (ok) {
    o->rc = cis_func_call(inst, f, args, np, o->results, nr);
    if (o->rc) snprintf(o->msg, sizeof o->msg, "%s", cis_errmsg(inst));
  } else {
    free(o->results);
    o->results = NULL;
    o->nresults = 0;
  }
  free(args);
  return ok;
}

bool spec_get(cis_global *g, spec_outcome *o) {
  o->results = calloc(1, sizeof *o->results);
  if (!o->results) return false;
  o->results[0] = cis_global_get(g);
  o->nresults = 1;
  return true;
}
