/*
 * This file implements the guest of the host-call benchmark
 * (bench/skill/bench_skill.c): a cis_v1 skill that calls the host N times
 * in a loop. Input: {"op":"empty"|"log"|"kv","n":N}; output: {"n":N,"acc":A}.
 *
 *   empty  the loop alone: the same store to a volatile per iteration, no
 *          host call. Its time is subtracted from the others.
 *   log    cis_v1.log at level debug, a 32-byte message
 *   kv     cis_v1.kv_get of key "warm" (64 bytes, written by an earlier
 *          call) into a 256-byte buffer
 *
 * Each iteration stores its result to a volatile, so the compiler keeps the
 * empty loop's iterations too, and no loop is unrolled: the loops differ
 * only by the call.
 */
#include "cis_skill.h"

static volatile int64_t sink;

/* The value of member "n" in a flat JSON object (digits only), or 0. */
static int64_t get_n(const char *json) {
  for (const char *p = json; *p; p++) {
    if (p[0] == '"' && p[1] == 'n' && p[2] == '"' && p[3] == ':') {
      int64_t v = 0;
      for (p += 4; *p >= '0' && *p <= '9'; p++) v = v * 10 + (*p - '0');
      return v;
    }
  }
  return 0;
}

__attribute__((export_name("cis_main"))) int cis_main(void) {
  static char in[256], op[16], val[256], out[96];
  if (cis_input_all(in, sizeof in) < 0) return CIS_SKILL_ETOO_LARGE;
  if (cis_json_get_string(in, "op", op, sizeof op) < 0) return CIS_SKILL_EINVALID;
  int64_t n = get_n(in), acc = 0;
  static const char msg[] = "benchmark line of 32 bytes .....";
  /* No unrolling: the empty loop must run as many iterations as the
   * others, or its time would not be theirs minus the calls. */
  if (op[0] == 'e') {
#pragma clang loop unroll(disable)
    for (int64_t i = 0; i < n; i++) sink = i;
  } else if (op[0] == 'l') {
#pragma clang loop unroll(disable)
    for (int64_t i = 0; i < n; i++) sink = cis_log(CIS_LOG_DEBUG, msg, 32);
  } else if (op[0] == 'k') {
#pragma clang loop unroll(disable)
    for (int64_t i = 0; i < n; i++) sink = cis_kv_get("warm", 4, val, sizeof val);
  } else if (op[0] == 's') {
    /* Setup: the key the kv loop reads. */
    for (int i = 0; i < 64; i++) val[i] = (char)('a' + i % 26);
    int32_t rc = cis_kv_set("warm", 4, val, 64);
    if (rc < 0) return rc;
  } else {
    return CIS_SKILL_EINVALID;
  }
  acc = sink;
  /* {"n":N,"acc":A} without printf: the guest has no libc. */
  int64_t v[2] = {n, acc};
  const char *keys[2] = {"{\"n\":", ",\"acc\":"};
  int o = 0;
  for (int k = 0; k < 2; k++) {
    for (const char *s = keys[k]; *s; s++) out[o++] = *s;
    int64_t x = v[k];
    if (x < 0) {
      out[o++] = '-';
      x = -x;
    }
    char d[24];
    int m = 0;
    do d[m++] = (char)('0' + x % 10); while ((x /= 10) > 0);
    while (m) out[o++] = d[--m];
  }
  out[o++] = '}';
  return cis_output_write(out, o);
}
