/*
 * This file implements a skill in the seed 002 ABI: plain extern imports
 * from module `env`, whose i64 results pack (ptr << 32) | len in memory the
 * host allocates through the exported `alloc`. Entry: seed 000's
 * `main() -> i32` returning a NUL-terminated JSON string.
 */
#define CIS_SKILL_SEED_ABIS
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cis_skill.h"

__attribute__((export_name("alloc"))) void *alloc(int n) { return malloc((size_t)n); }

static char out[4096];

__attribute__((export_name("main"))) int skill_main(void) {
  int32_t set = host_memory_set("greeting", 8, "hello", 5);
  uint32_t p = 0, l = 0;
  int32_t e = cis_unpack(host_memory_get("greeting", 8), &p, &l);
  char got[64] = "";
  if (e == 0 && l < sizeof got) memcpy(got, (const void *)(uintptr_t)p, l);
  int32_t del = host_memory_delete("greeting", 8);
  int32_t missing = cis_unpack(host_memory_get("greeting", 8), &p, &l);
  host_log(2, "seed002 warn", 12);
  int32_t ai = cis_unpack(host_ai_chat("hi", 2), &p, &l);
  snprintf(out, sizeof out,
           "{\"abi\":\"seed002\",\"set\":%d,\"got\":\"%s\",\"del\":%d,\"missing\":%d,\"ai\":%d}", set, got, del,
           missing, ai);
  return (int)(uintptr_t)out;
}
