/*
 * This file implements the notes example skill: a tiny notebook kept in
 * the skill's KV memory. {"op":"add","note":"buy milk"} stores a note;
 * {"op":"list"} returns every note; {"op":"clear"} deletes them.
 *
 * Calls may run at the same time. "count" is both the number of notes and
 * the index of the next one, so it is never read and written back with
 * kv_get + kv_set (two concurrent adds would both read 3, both store
 * note:3 and both write 4): an add takes its index with the atomic
 * cis_kv_increment, which holds the notebook's lock until the call ends,
 * so each add gets its own index and the note and the count commit (or
 * vanish) together. clear takes the same lock with an increment of 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cis_skill.h"

static char in[8192], note[4096], buf[4096], esc[9000], out[1 << 16];

/* The committed count, for listing (no lock needed to read). */
static long count(void) {
  char c[32];
  int64_t n = cis_kv_get("count", 5, c, sizeof c - 1);
  if (n < 0 || n >= (int64_t)sizeof c) return 0;
  c[n] = 0;
  return atol(c);
}

__attribute__((export_name("cis_main"))) int cis_main(void) {
  if (cis_input_all(in, sizeof in) < 0) return CIS_SKILL_ETOO_LARGE;
  char op[16] = "list";
  cis_json_get_string(in, "op", op, sizeof op);
  char key[32];
  if (!strcmp(op, "add")) {
    int32_t l = cis_json_get_string(in, "note", note, sizeof note);
    if (l < 0) return CIS_SKILL_EINVALID;
    int64_t n = 0;
    int32_t rc = cis_kv_increment("count", 5, 1, &n); /* n - 1 is this note's index */
    if (rc < 0) return rc;
    int kl = snprintf(key, sizeof key, "note:%lld", (long long)(n - 1));
    rc = cis_kv_set(key, kl, note, l);
    if (rc < 0) return rc; /* the increment is rolled back with the call */
    cis_logs(CIS_LOG_INFO, "note added");
    snprintf(out, sizeof out, "{\"added\":true,\"count\":%lld}", (long long)n);
    return cis_output(out);
  }
  if (!strcmp(op, "clear")) {
    int64_t n = 0;
    int32_t rc = cis_kv_increment("count", 5, 0, &n); /* reads under the lock */
    if (rc < 0) return rc;
    for (int64_t i = 0; i < n; i++) cis_kv_delete(key, snprintf(key, sizeof key, "note:%lld", (long long)i));
    cis_kv_delete("count", 5);
    return cis_output("{\"cleared\":true}");
  }
  long n = count();
  size_t o = (size_t)snprintf(out, sizeof out, "{\"notes\":[");
  for (long i = 0; i < n; i++) {
    int kl = snprintf(key, sizeof key, "note:%ld", i);
    int64_t l = cis_kv_get(key, kl, buf, sizeof buf);
    if (l < 0 || l > (int64_t)sizeof buf) continue;
    int32_t e = cis_json_escape(buf, (int32_t)l, esc, sizeof esc);
    if (e < 0 || o + (size_t)e + 8 > sizeof out) return CIS_SKILL_ETOO_LARGE;
    o += (size_t)snprintf(out + o, sizeof out - o, "%s\"%.*s\"", o > 10 ? "," : "", e, esc);
  }
  snprintf(out + o, sizeof out - o, "]}");
  return cis_output(out);
}
