/*
 * This file implements the test skill of test_skill_fs's call-scope cases,
 * a WASI command that changes a file and a KV key in one call. Input:
 *   {"dir": D, "n": N, "v": V, "trap": T, "spin": S}
 * It writes V into each of D/f0 .. D/f(N-1) and into the KV key "v", reads
 * D/f0 back (the call sees its own write: exit 6 when it does not), then
 * traps when T is 1, or runs until its deadline when S is 1 (holding what
 * its writes locked). With {"read": 1, "dir": D, "n": N} it prints
 * {"kv": K, "files": [..]} instead: the KV value and each file's content
 * ("-" for none). Exit 3 when a file cannot be written, 4 read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cis_skill.h"

static long num(const char *in, const char *key, long dflt) {
  const char *k = strstr(in, key);
  return k ? strtol(k + strlen(key), NULL, 10) : dflt;
}

static int text(const char *in, const char *key, char *out, size_t cap) {
  const char *k = strstr(in, key);
  if (!k || !(k = strchr(k + strlen(key), '"'))) return -1;
  const char *e = strchr(k + 1, '"');
  if (!e || (size_t)(e - k - 1) >= cap) return -1;
  memcpy(out, k + 1, (size_t)(e - k - 1));
  out[e - k - 1] = 0;
  return 0;
}

int main(void) {
  static char in[4096], dir[512], path[700], buf[64];
  size_t n = fread(in, 1, sizeof in - 1, stdin);
  in[n] = 0;
  if (text(in, "\"dir\":", dir, sizeof dir)) return 2;
  long files = num(in, "\"n\":", 1);
  if (num(in, "\"read\":", 0)) {
    int64_t kl = cis_kv_get("v", 1, buf, sizeof buf - 1);
    if (kl < 0) strcpy(buf, "-");
    else buf[kl] = 0;
    printf("{\"kv\":\"%s\",\"files\":[", buf);
    for (long i = 0; i < files; i++) {
      snprintf(path, sizeof path, "%s/f%ld", dir, i);
      FILE *f = fopen(path, "r");
      char got[64] = "-";
      if (f) {
        size_t k = fread(got, 1, sizeof got - 1, f);
        got[k] = 0;
        fclose(f);
      }
      printf("%s\"%s\"", i ? "," : "", got);
    }
    printf("]}\n");
    return 0;
  }
  long v = num(in, "\"v\":", 0);
  snprintf(buf, sizeof buf, "%ld", v);
  for (long i = 0; i < files; i++) {
    snprintf(path, sizeof path, "%s/f%ld", dir, i);
    FILE *f = fopen(path, "w");
    if (!f) return 3;
    fputs(buf, f);
    if (fclose(f) != 0) return 3;
  }
  if (cis_kv_set("v", 1, buf, (int32_t)strlen(buf)) != 0) return 5;
  snprintf(path, sizeof path, "%s/f0", dir);
  FILE *f = fopen(path, "r");
  if (!f) return 4;
  char got[64] = "";
  size_t k = fread(got, 1, sizeof got - 1, f);
  got[k] = 0;
  fclose(f);
  if (strcmp(got, buf) != 0) return 6;
  if (num(in, "\"trap\":", 0)) __builtin_trap();
  if (num(in, "\"spin\":", 0))
    for (volatile unsigned spin = 0;; spin++) {
    }
  printf("{\"v\":%ld}\n", v);
  return 0;
}
