/*
 * fuzz_wast.c -- libFuzzer entry point of the fuzz_wast target.
 *
 * This file implements LLVMFuzzerTestOneInput for fuzz_wast: each input is
 * a WebAssembly script (.wast) for the reader of tests/spec/wast_runner
 * (tests/spec/wast_script.c). The reader must return CIS_OK or a typed
 * code (malformed, too big, out of memory) with a "LINE:COL: what"
 * message, never crash, and hand back commands whose every field is
 * consistent: a module's bytes of its stated length, values of known
 * kinds. Seeds: the .wast files of fuzz/wast/ and the spec suites' scripts (2.0 and
 * 3.0); dictionary fuzz/wast.dict.
 */
#include <stdlib.h>
#include <string.h>

#include "wast_script.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_val(const wast_val *v, int depth) {
  if (v->kind > WAST_EITHER || (v->kind == WAST_EITHER && (depth > 0 || !v->nalts))) abort();
  if (v->kind == WAST_V128 && v->shape.lanes != 16 && v->shape.lanes != 8 && v->shape.lanes != 4 &&
      v->shape.lanes != 2)
    abort();
  for (uint32_t i = 0; i < v->nalts; i++) check_val(&v->alts[i], depth + 1);
}

static void check_name(const wast_name *n) {
  if (n->s && n->s[n->n] != '\0') abort(); /* length-counted, NUL after it */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  wast_script s;
  cis_result rc = wast_parse((const char *)data, size, &s);
  if (rc != s.rc) abort();
  if (rc != CIS_OK && rc != CIS_EMALFORMED && rc != CIS_ETOOBIG && rc != CIS_ENOMEM) abort();
  if (rc != CIS_OK && !strchr(s.msg, ':')) abort();
  for (size_t i = 0; i < s.ncmds; i++) {
    const wast_cmd *c = &s.cmds[i];
    if (c->kind > WAST_ASSERT_INVALID_CUSTOM || !c->line) abort();
    if (c->module.bytes && c->module.bytes[c->module.len] != '\0') abort();
    if (c->module.form > WAST_FORM_QUOTE) abort();
    check_name(&c->module.id), check_name(&c->id), check_name(&c->id2), check_name(&c->as);
    check_name(&c->action.module), check_name(&c->action.field);
    for (uint32_t k = 0; k < c->action.nargs; k++) check_val(&c->action.args[k], 1);
    for (uint32_t k = 0; k < c->nresults; k++) check_val(&c->results[k], 0);
    if (strcmp(wast_cmd_name(c), "?") == 0) abort();
  }
  wast_script_free(&s);
  return 0;
}
