/*
 * This file implements a cis_v1 test skill for the KV and log host calls.
 * Input {"op":"set|get|del|trap","key":K,"value":V}; output
 * {"op":..,"rc":N,"value":..}. "trap" writes first, then traps, so the
 * host must roll the write back.
 */
#include <stdio.h>
#include <string.h>
#include "cis_skill.h"

static char in[65536], key[1024], val[32768], out[40000], esc[33000];

__attribute__((export_name("cis_main"))) int cis_main(void) {
  if (cis_input_all(in, sizeof in) < 0) return CIS_SKILL_ETOO_LARGE;
  char op[16] = "";
  cis_json_get_string(in, "op", op, sizeof op);
  cis_json_get_string(in, "key", key, sizeof key);
  int32_t vl = cis_json_get_string(in, "value", val, sizeof val);
  int64_t rc = 0;
  val[vl < 0 ? 0 : vl] = 0;
  if (!strcmp(op, "set")) rc = cis_kv_set(key, (int32_t)strlen(key), val, vl < 0 ? 0 : vl);
  else if (!strcmp(op, "del")) rc = cis_kv_delete(key, (int32_t)strlen(key));
  else if (!strcmp(op, "get")) {
    rc = cis_kv_get(key, (int32_t)strlen(key), val, sizeof val - 1);
    val[rc >= 0 && rc < (int64_t)sizeof val ? rc : 0] = 0;
  } else if (!strcmp(op, "trap")) {
    cis_kv_set(key, (int32_t)strlen(key), val, vl < 0 ? 0 : vl);
    __builtin_trap();
  } else if (!strcmp(op, "badptr")) {
    rc = cis_kv_set((const void *)0xfffffff0u, 64, val, 1); /* must trap, never return */
  }
  cis_logs(CIS_LOG_INFO, op);
  int32_t e = cis_json_escape(val, (int32_t)strlen(val), esc, sizeof esc);
  snprintf(out, sizeof out, "{\"op\":\"%s\",\"rc\":%lld,\"value\":\"%.*s\"}", op, (long long)rc, e < 0 ? 0 : e, esc);
  return cis_output(out);
}
