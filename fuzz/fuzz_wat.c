/*
 * fuzz_wat.c -- libFuzzer entry point of the fuzz_wat target.
 *
 * This file implements LLVMFuzzerTestOneInput for fuzz_wat: each input is
 * WebAssembly text for the text-format compiler (src/wat/). The compiler
 * must return a typed code with a "LINE:COL: what" message, or a binary
 * module, which the decoder and validator (src/wasm/) then take as
 * cis_module_new_text does. Seeds: the .wat files of fuzz/wat/ and the module texts of
 * the spec suite; dictionary fuzz/wat.dict (keywords and every mnemonic).
 */
#include <stdlib.h>
#include <string.h>

#include "cis/cis.h"
#include "wasm/module.h"
#include "wat/wat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *bin = NULL;
  size_t n = 0;
  char msg[256];
  cis_result rc = cis__wat_compile((const char *)data, size, &bin, &n, msg, sizeof msg);
  if (rc != CIS_OK) {
    /* a typed error of the compiler's own, with its position (invalid:
     * a table or memory limit beyond 32 bits) */
    if (rc != CIS_EMALFORMED && rc != CIS_EINVALID && rc != CIS_ETOOBIG && rc != CIS_ENOMEM) abort();
    if (!strchr(msg, ':')) abort();
    return 0;
  }
  if (n < 8 || memcmp(bin, "\0asm\1\0\0\0", 8)) abort();
  cis__module *m = NULL;
  cis__diag d;
  memset(&d, 0, sizeof d);
  if (cis__module_decode(bin, n, &m, &d) == CIS_OK) (void)cis__module_validate(m, &d);
  cis__module_free(m);
  free(bin);
  return 0;
}
