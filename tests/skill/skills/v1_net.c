/*
 * This file implements a cis_v1 test skill for AI and HTTP. Input
 * {"prompt":P} asks the AI provider; {"url":U} fetches U. The answer is
 * read with a deliberately small first buffer, so the retry path of the
 * ABI (full length returned, answer kept) is exercised.
 */
#include <stdio.h>
#include <string.h>
#include "cis_skill.h"

static char in[8192], arg[4096], ans[65536], esc[140000], out[150000];

__attribute__((export_name("cis_main"))) int cis_main(void) {
  if (cis_input_all(in, sizeof in) < 0) return CIS_SKILL_ETOO_LARGE;
  int64_t n;
  int ai = cis_json_get_string(in, "prompt", arg, sizeof arg) >= 0;
  if (!ai && cis_json_get_string(in, "url", arg, sizeof arg) < 0) return CIS_SKILL_EINVALID;
  char small[4];
  if (ai) n = cis_ai_chat(arg, (int32_t)strlen(arg), small, sizeof small);
  else n = cis_http_request("GET", 3, arg, (int32_t)strlen(arg), "", 0, small, sizeof small);
  if (n > (int64_t)sizeof small) {
    if (n >= (int64_t)sizeof ans) return CIS_SKILL_ETOO_LARGE;
    int64_t m = ai ? cis_ai_chat(arg, (int32_t)strlen(arg), ans, sizeof ans)
                   : cis_http_request("GET", 3, arg, (int32_t)strlen(arg), "", 0, ans, sizeof ans);
    if (m != n) return CIS_SKILL_EINTERNAL;
  } else if (n >= 0) {
    memcpy(ans, small, (size_t)n);
  }
  if (n < 0) {
    char msg[256];
    int32_t ml = cis_error_message(msg, sizeof msg - 1);
    msg[ml >= 0 && ml < 255 ? ml : 0] = 0;
    int32_t e = cis_json_escape(msg, (int32_t)strlen(msg), esc, sizeof esc);
    snprintf(out, sizeof out, "{\"error\":%lld,\"message\":\"%.*s\"}", (long long)n, e, esc);
    return cis_output(out);
  }
  int32_t e = cis_json_escape(ans, (int32_t)n, esc, sizeof esc);
  snprintf(out, sizeof out, "{\"answer\":\"%.*s\"}", e < 0 ? 0 : e, esc);
  return cis_output(out);
}
