/*
 * This file implements how cis run, validate and inspect load a module
 * file that may be binary (.wasm) or text (.wat), by content: a binary
 * starts with "\0asm"; text that opens (after spaces and comments) with
 * "(" is compiled by cis_module_new_text, whose errors say LINE:COL.
 * Anything else goes to cis_module_new, which names what it lacks (the
 * magic header), as it did before the text format was accepted.
 */
#ifndef CIS_CLI_WAT_H
#define CIS_CLI_WAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cis/cis.h"

/* Does bytes[0..len) look like a text module (cis_module_is_text)? */
static inline bool cli_is_wat(const uint8_t *bytes, size_t len) { return cis_module_is_text(bytes, len); }

/* cis_module_new or cis_module_new_text, whichever the bytes are. */
static inline cis_result cli_module_new(cis_engine *e, const uint8_t *bytes, size_t len,
                                        cis_module **out) {
  if (cli_is_wat(bytes, len)) return cis_module_new_text(e, (const char *)bytes, len, out);
  return cis_module_new(e, bytes, len, out);
}

#endif
