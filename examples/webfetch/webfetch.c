/*
 * This file implements the web-fetch example skill: {"url": U} fetches U
 * through the host's allow-listed HTTP client and returns its size and
 * first bytes. Hosts outside the manifest's allow-list are refused.
 */
#include <stdio.h>
#include <string.h>
#include "cis_skill.h"

static char in[8192], url[4096], body[1 << 20], esc[400], out[1024];

__attribute__((export_name("cis_main"))) int cis_main(void) {
  if (cis_input_all(in, sizeof in) < 0) return CIS_SKILL_ETOO_LARGE;
  if (cis_json_get_string(in, "url", url, sizeof url) < 0) return CIS_SKILL_EINVALID;
  int64_t n = cis_http_request("GET", 3, url, (int32_t)strlen(url), "", 0, body, sizeof body);
  if (n < 0) {
    snprintf(out, sizeof out, "{\"error\":%lld}", (long long)n);
    return cis_output(out);
  }
  if (n > (int64_t)sizeof body) return CIS_SKILL_ETOO_LARGE;
  int32_t e = cis_json_escape(body, n < 64 ? (int32_t)n : 64, esc, sizeof esc);
  snprintf(out, sizeof out, "{\"bytes\":%lld,\"head\":\"%.*s\"}", (long long)n, e < 0 ? 0 : e, esc);
  return cis_output(out);
}
