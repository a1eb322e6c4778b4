/*
 * This file implements the summariser example skill: {"text": T} asks the
 * configured AI provider for a one-sentence summary and returns
 * {"summary": S}. Without a provider it reports the typed error.
 */
#include <stdio.h>
#include <string.h>
#include "cis_skill.h"

static char in[65536], text[60000], prompt[61000], ans[65536], esc[140000], out[150000];

__attribute__((export_name("cis_main"))) int cis_main(void) {
  if (cis_input_all(in, sizeof in) < 0) return CIS_SKILL_ETOO_LARGE;
  if (cis_json_get_string(in, "text", text, sizeof text) < 0) return CIS_SKILL_EINVALID;
  int pl = snprintf(prompt, sizeof prompt, "Summarise in one sentence: %s", text);
  int64_t n = cis_ai_chat(prompt, pl, ans, sizeof ans);
  if (n < 0) {
    snprintf(out, sizeof out, "{\"error\":%lld}", (long long)n);
    return cis_output(out);
  }
  if (n > (int64_t)sizeof ans) return CIS_SKILL_ETOO_LARGE;
  int32_t e = cis_json_escape(ans, (int32_t)n, esc, sizeof esc);
  snprintf(out, sizeof out, "{\"summary\":\"%.*s\"}", e < 0 ? 0 : e, esc);
  return cis_output(out);
}
