/*
 * This file implements cis_module_new_text: the text format compiled by
 * cis__wat_compile into a binary module, which cis_module_new then decodes
 * and validates as it does any binary. A text error is reported on the
 * engine as "LINE:COL: what".
 */
#include <stdlib.h>

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
