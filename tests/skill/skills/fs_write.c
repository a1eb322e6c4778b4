/*
 * This file implements a WASI command skill for tests/skill/test_stage.c:
 * with input {"read":1} it answers {"f":TEXT}, /data/f's content ("-" for
 * none); otherwise it writes V of {"v":"V"} (or "new") into /data/f, and
 * into KV key f too when the input has "kv":1, and answers {}. A file
 * call that fails is said on stderr (with its errno's text) and ends the
 * skill with exit code 3.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cis_skill.h"

int main(void) {
  static char in[256], got[64];
  size_t n = fread(in, 1, sizeof in - 1, stdin);
  in[n] = 0;
  if (strstr(in, "\"read\"")) {
    FILE *f = fopen("/data/f", "r");
    size_t k = f ? fread(got, 1, sizeof got - 1, f) : 0;
    got[k] = 0;
    if (f) fclose(f);
    printf("{\"f\":\"%s\"}\n", f ? got : "-");
    return 0;
  }
  int kv = strstr(in, "\"kv\":1") != NULL;
  const char *v = "new";
  char *q = strstr(in, "\"v\":\""), *end = q ? strchr(q + 5, '"') : NULL;
  if (end) {
    *end = 0;
    v = q + 5;
  }
  FILE *f = fopen("/data/f", "w");
  if (!f || fputs(v, f) < 0 || fclose(f) != 0) {
    fprintf(stderr, "fs_write: /data/f: %s\n", strerror(errno));
    return 3;
  }
  if (kv && cis_kv_set("f", 1, v, (int32_t)strlen(v)) != 0) return 4;
  printf("{}\n");
  return 0;
}
