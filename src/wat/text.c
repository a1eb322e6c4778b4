/*
 * This file implements cis_module_new_text: the text format compiled by
 * cis__wat_compile into a binary module, which cis_module_new then decodes
 * and validates as it does any binary. A text error is reported on the
 * engine as "LINE:COL: what". And cis_module_new_file, which loads a file
 * holding either form: it lives here, above both the runtime and the text
 * compiler.
 */
#include <stdlib.h>
#include <string.h>

#include "common/internal.h"
#include "runtime/runtime.h"
#include "wat/wat.h"

cis_result cis_module_new_text(cis_engine *e, const char *text, size_t len, cis_module **out) {
  if (!out) return cis__fail(e, CIS_EINVAL, "module output pointer is NULL");
  *out = NULL;
  if (!e) return CIS_EINVAL;
  if (!text && len) return cis__fail(e, CIS_EINVAL, "module text is NULL");
  uint8_t *bin = NULL;
  size_t n = 0;
  char msg[CIS_ERRMSG_MAX];
  cis_result rc = cis__wat_compile_std(text, len, e->cfg.standard, &bin, &n, msg, sizeof msg);
  if (rc != CIS_OK) return cis__fail(e, rc, "%s", msg[0] ? msg : cis_strerror(rc));
  rc = cis_module_new(e, bin, n, out);
  free(bin);
  return rc;
}

bool cis_module_is_text(const uint8_t *bytes, size_t len) {
  if (!bytes || (len >= 4 && !memcmp(bytes, "\0asm", 4))) return false;
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

static cis_result load_text(cis_engine *e, const char *text, size_t len, cis_module **out) {
  return cis_module_new_text(e, text, len, out);
}

cis_result cis_module_new_file(cis_engine *e, const char *path, uint64_t deadline_ns,
                               cis_module **out) {
  static const cis__module_text_loader text = {cis_module_is_text, load_text};
  return cis__module_load_file(e, path, deadline_ns, &text, out);
}
