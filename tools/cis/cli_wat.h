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

/* Does bytes[0..len) look like a text module: "(" first, after white
 * space and ;; or (; ;) comments (nested ones are closed by the parser;
 * here the first ";)" is enough to find what follows)? */
static inline bool cli_is_wat(const uint8_t *bytes, size_t len) {
  if (len >= 4 && !memcmp(bytes, "\0asm", 4)) return false;
  size_t i = 0;
  while (i < len) {
    uint8_t c = bytes[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      i++;
    } else if (c == ';' && i + 1 < len && bytes[i + 1] == ';') {
      while (i < len && bytes[i] != '\n') i++;
    } else if (c == '(' && i + 1 < len && bytes[i + 1] == ';') {
      for (i += 2; i + 1 < len && !(bytes[i] == ';' && bytes[i + 1] == ')'); i++) {
      }
      i += 2;
    } else {
      return c == '(';
    }
  }
  return false;
}

/* cis_module_new or cis_module_new_text, whichever the bytes are. */
static inline cis_result cli_module_new(cis_engine *e, const uint8_t *bytes, size_t len,
                                        cis_module **out) {
  if (cli_is_wat(bytes, len)) return cis_module_new_text(e, (const char *)bytes, len, out);
  return cis_module_new(e, bytes, len, out);
}

#endif
