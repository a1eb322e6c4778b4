/*
 * This file implements the notes example skill: a tiny notebook kept in
 * the skill's KV memory. {"op":"add","note":"buy milk"} stores a note;
 * {"op":"list"} returns every note; {"op":"clear"} deletes them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cis_skill.h"

static char in[8192], note[4096], buf[4096], esc[9000], out[1 << 16];

static long count(void) {
  char c[32];
  int64_t n = cis_kv_get("count", 5, c, sizeof c - 1);
  if (n < 0) return 0;
  c[n] = 0;
  return atol(c);
}

static void set_count(long n) {
  char c[32];
  int l = snprintf(c, sizeof c, "%ld", n);
  cis_kv_set("count", 5, c, l);
}

__attribute__((export_name("cis_main"))) int cis_main(void) {
  if (cis_input_all(in, sizeof in) < 0) return CIS_SKILL_ETOO_LARGE;
  char op[16] = "list";
  cis_json_get_string(in, "op", op, sizeof op);
  long n = count();
  char key[32];
  if (!strcmp(op, "add")) {
    int32_t l = cis_json_get_string(in, "note", note, sizeof note);
    if (l < 0) return CIS_SKILL_EINVALID;
    int kl = snprintf(key, sizeof key, "note:%ld", n);
    int32_t rc = cis_kv_set(key, kl, note, l);
    if (rc < 0) return rc;
    set_count(n + 1);
    cis_logs(CIS_LOG_INFO, "note added");
    snprintf(out, sizeof out, "{\"added\":true,\"count\":%ld}", n + 1);
    return cis_output(out);
  }
  if (!strcmp(op, "clear")) {
    for (long i = 0; i < n; i++) cis_kv_delete(key, snprintf(key, sizeof key, "note:%ld", i));
    cis_kv_delete("count", 5);
    return cis_output("{\"cleared\":true}");
  }
  size_t o = (size_t)snprintf(out, sizeof out, "{\"notes\":[");
  for (long i = 0; i < n; i++) {
    int kl = snprintf(key, sizeof key, "note:%ld", i);
    int64_t l = cis_kv_get(key, kl, buf, sizeof buf);
    if (l < 0 || l > (int64_t)sizeof buf) continue;
    int32_t e = cis_json_escape(buf, (int32_t)l, esc, sizeof esc);
    if (e < 0 || o + (size_t)e + 8 > sizeof out) return CIS_SKILL_ETOO_LARGE;
    o += (size_t)snprintf(out + o, sizeof out - o, "%s\"%.*s\"", i ? "," : "", e, esc);
  }
  snprintf(out + o, sizeof out - o, "]}");
  return cis_output(out);
}
