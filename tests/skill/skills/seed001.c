/*
 * This file implements a skill in the seed 001 ABI: `execute(input_ptr)
 * -> output_ptr` with alloc/dealloc exports, memory imported from
 * env.memory, and the `cis` module's caller-provided-buffer imports. It
 * stores the input's "value" under "k", reads it back and returns it.
 */
#define CIS_SKILL_SEED_ABIS
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cis_skill.h"

__attribute__((export_name("alloc"))) void *alloc(int n) { return malloc((size_t)n); }
__attribute__((export_name("dealloc"))) void dealloc(void *p, int n) { (void)n; free(p); }

static char out[4096];

__attribute__((export_name("execute"))) char *execute(const char *input) {
  char v[1024];
  if (cis_json_get_string(input, "value", v, sizeof v) < 0) strcpy(v, "none");
  cis_seed_memory_set("k", 1, v, (int32_t)strlen(v));
  int32_t err = cis_seed_last_error();
  char back[1024];
  int32_t n = cis_seed_memory_get("k", 1, back, sizeof back - 1);
  back[n >= 0 ? n : 0] = 0;
  char tiny[2];
  int32_t need = cis_seed_memory_get("k", 1, tiny, 1); /* too small: full length */
  cis_seed_log(1, "seed001 ran", 11);
  snprintf(out, sizeof out, "{\"abi\":\"seed001\",\"set_error\":%d,\"value\":\"%s\",\"needed\":%d}", err, back, need);
  return out;
}
