/*
 * This file implements the cis_v1 skill of tests/serve/test_serve_nodes.c,
 * which shows that two nodes share KV and files: input
 * {"op":"set|get|write|read","value":V}; "set" and "get" use KV key "k",
 * "write" and "read" the file /data/f of its db mount. Output
 * {"op":..,"rc":N,"value":..}.
 */
#include <stdio.h>
#include <string.h>
#include "cis_skill.h"

static char in[4096], val[1024], out[4096], esc[2200];

__attribute__((export_name("cis_main"))) int cis_main(void) {
  if (cis_input_all(in, sizeof in) < 0) return CIS_SKILL_ETOO_LARGE;
  char op[16] = "";
  cis_json_get_string(in, "op", op, sizeof op);
  int32_t vl = cis_json_get_string(in, "value", val, sizeof val);
  val[vl < 0 ? 0 : vl] = 0;
  long long rc = 0;
  if (!strcmp(op, "set")) rc = cis_kv_set("k", 1, val, vl < 0 ? 0 : vl);
  else if (!strcmp(op, "get")) {
    int64_t n = cis_kv_get("k", 1, val, sizeof val - 1);
    val[n >= 0 && n < (int64_t)sizeof val ? n : 0] = 0;
    rc = n;
  } else if (!strcmp(op, "write")) {
    FILE *f = fopen("/data/f", "wb");
    rc = f && fputs(val, f) >= 0 ? 0 : -1;
    if (f && fclose(f) != 0) rc = -1;
  } else if (!strcmp(op, "read")) {
    FILE *f = fopen("/data/f", "rb");
    size_t n = f ? fread(val, 1, sizeof val - 1, f) : 0;
    val[n] = 0;
    rc = f ? (long long)n : -1;
    if (f) fclose(f);
  }
  int32_t e = cis_json_escape(val, (int32_t)strlen(val), esc, sizeof esc);
  snprintf(out, sizeof out, "{\"op\":\"%s\",\"rc\":%lld,\"value\":\"%.*s\"}", op, rc, e < 0 ? 0 : e, esc);
  return cis_output(out);
}
