/*
 * This file declares what the two spec-suite runners share: spec_runner
 * (wast2json's JSON command lists) and wast_runner (.wast scripts read by
 * tests/spec/wast_script.c). Both run scripts through the public API only
 * and must judge them alike, so the rules live here once: the `spectest`
 * host module, value comparison (bitwise, NaN patterns), host references,
 * how an error's message is matched against the script's text, and the
 * driver that runs each script in a child process with a time bound.
 */
#ifndef CIS_SPEC_COMMON_H
#define CIS_SPEC_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cis/cis.h"

/* Counts one script reports to the parent through a shared page. */
typedef struct spec_counts {
  uint64_t passed;   /* commands that did what the script asked */
  uint64_t failed;   /* commands that did not */
  uint64_t skipped;  /* commands the runner does not attempt */
  uint64_t total;    /* commands in the script; what a crash leaves unrun is failed */
  uint64_t done;     /* commands finished so far */
  uint64_t line;     /* .wast line of the command in progress, for crash reports */
} spec_counts;

/* --------------------------------------------------------------- spectest */

/* The `spectest` module of one script and the runner's references to its
 * objects, kept until the script ends. */
typedef struct spec_host {
  cis_imports *imports;     /* spectest plus every registered instance */
  cis_memory *memory;       /* spectest.memory */
  cis_table *table;         /* spectest.table */
  cis_module *table64_mod;  /* spectest.table64's module (3.0 on the interpreter), or NULL */
  cis_instance *table64;    /* its instance, which exports the table */
  cis_global *globals[4];   /* spectest.global_{i32,i64,f32,f64} */
} spec_host;

/* Builds `spectest` into a fresh import set: the print functions as
 * no-ops, the four immutable globals (666, 666.6), a funcref table 10..20
 * and a memory of 1..2 pages. */
cis_result spec_host_new(cis_engine *e, spec_host *h);
void spec_host_free(spec_host *h);

/* ----------------------------------------------------------------- values */

/* Host reference N (the script's ref.extern N) crosses the API as the
 * pointer value N+1: distinct per N, never NULL, and reversible. */
static inline void *spec_extern_of(uint64_t n) { return (void *)(uintptr_t)(n + 1); }

/* How an expected float (or float lane) is compared. */
typedef enum spec_nan {
  SPEC_BITS = 0,        /* bitwise */
  SPEC_NAN_CANONICAL,   /* nan:canonical: the quiet NaN with no payload, either sign */
  SPEC_NAN_ARITHMETIC,  /* nan:arithmetic: any quiet NaN */
} spec_nan;

bool spec_f32_matches(uint32_t got, spec_nan how, uint32_t want);
bool spec_f64_matches(uint64_t got, spec_nan how, uint64_t want);

const char *spec_type_name(cis_valtype t);
/* A value for failure lines: type, bits, and a readable form. */
const char *spec_show_val(const cis_val *v, char *buf, size_t len);

/* ---------------------------------------------------------------- actions */

/* What an action (invoke or get) produced. */
typedef struct spec_outcome {
  cis_result rc;     /* CIS_OK or the engine's code */
  char msg[512];     /* cis_errmsg of the failing handle */
  cis_val *results;  /* malloc'd, nresults entries */
  uint32_t nresults; /* results the function declares */
} spec_outcome;

/* Makes argument i of a call, of type want, into *out; false with why in
 * err. A runner's reading of its script's arguments. */
typedef bool (*spec_arg_fn)(void *ctx, uint32_t i, cis_valtype want, cis_val *out, char *err,
                            size_t errlen);
/* Calls f of inst with its arguments from arg (as many as f takes), its
 * outcome into *o (whose results the caller frees). False, with why in
 * err and *o without results, when the call could not be made (an
 * argument, host memory). */
bool spec_call(cis_instance *inst, cis_func *f, spec_arg_fn arg, void *ctx, spec_outcome *o,
               char *err, size_t errlen);
/* The value of global g as *o's one result; false when host memory fails. */
bool spec_get(cis_global *g, spec_outcome *o);

/* ----------------------------------------------------------------- errors */

/* "CIS_X (text): detail" for an engine code, or "CIS_X: detail" when
 * detail opens with the text anyway. */
const char *spec_describe_rc(cis_result rc, const char *detail, char *buf, size_t len);
/* Does msg, the detail of a failure, say what the script's text says? It
 * must start with the text, or with what cis says instead on purpose (a
 * short list, each entry with its reason). file is wast2json's name of
 * the command's module file ("select.2.wasm"), or NULL. */
bool spec_text_matches(const char *text, const char *file, const char *msg);

/* ----------------------------------------------------------------- driver */

/* Runs one script, counting into *counts (in the child process). */
typedef void (*spec_script_fn)(const char *path, spec_counts *counts);

/* Run-wide options and totals. */
typedef struct spec_run {
  bool fork;            /* isolate each script in a child process */
  unsigned seconds;     /* wall-clock bound of one script's child */
  uint64_t passed;      /* totals over every script */
  uint64_t failed;      /* " */
  uint64_t skipped;     /* " */
  unsigned scripts;     /* scripts run */
  spec_counts *shared;  /* the page children write their counts to */
  spec_counts last;     /* the counts of the last script run */
} spec_run;

/* Maps the shared page; false (with a message) when it cannot. */
bool spec_run_init(spec_run *r, const char *prog);
/* Runs fn on path (in a child unless !r->fork), prints the script's count
 * line under label and adds its counts. A child that dies (a signal, or
 * its wall-clock alarm) fails the command it was running and every
 * command it did not reach. */
void spec_run_one(spec_run *r, const char *path, const char *label, spec_script_fn fn);
/* What a run that found no script does: exit 77 with a SKIPPED line, or
 * under CI=true 1 with a FAILED line. `where` names what was looked at. */
int spec_run_no_suite(const char *prog, const char *where, const char *hint);

#endif
