/*
 * This file implements a cis_v1 test skill that reads one KV key and gives
 * up in its own words (returns 1) when the store fails, unless the input
 * says {"tolerate":true}: then it reports the code and succeeds.
 */
#include <stdio.h>
#include <string.h>
#include "cis_skill.h"

static char in[256], val[256], out[300];

__attribute__((export_name("cis_main"))) int cis_main(void) {
  if (cis_input_all(in, sizeof in) < 0) return 1;
  int64_t rc = cis_kv_get("k", 1, val, sizeof val - 1);
  if (rc < 0 && rc != CIS_SKILL_ENOT_FOUND && !strstr(in, "\"tolerate\":true")) return 1;
  snprintf(out, sizeof out, "{\"rc\":%lld}", (long long)rc);
  return cis_output(out);
}
