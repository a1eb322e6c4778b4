/*
 * This file implements a seed 001 skill whose `execute(input_ptr)` returns
 * an i64: the packed range (ptr << 32) | len of its JSON output, the
 * second result form of docs/abi.md's entry table (the host's read_packed
 * path). {"value":V} answers {"abi":"seed001-packed","value":V}, stored and
 * read back through cis.memory_*; {"bad":true} answers a range outside
 * memory, which the host must refuse as CIS_EABI.
 */
#define CIS_SKILL_SEED_ABIS
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cis_skill.h"

__attribute__((export_name("alloc"))) void *alloc(int n) { return malloc((size_t)n); }
__attribute__((export_name("dealloc"))) void dealloc(void *p, int n) { (void)n; free(p); }

static char out[2048];

__attribute__((export_name("execute"))) int64_t execute(const char *input) {
  char v[512];
  if (strstr(input, "\"bad\""))
    return (int64_t)(((uint64_t)0xfffffff0u << 32) | 16u);
  if (cis_json_get_string(input, "value", v, sizeof v) < 0) strcpy(v, "none");
  cis_seed_memory_set("k", 1, v, (int32_t)strlen(v));
  char back[512];
  int32_t n = cis_seed_memory_get("k", 1, back, sizeof back - 1);
  back[n >= 0 ? n : 0] = 0;
  /* No NUL at the end: the length says where the output stops. */
  int len = snprintf(out, sizeof out, "{\"abi\":\"seed001-packed\",\"value\":\"%s\"}", back);
  out[len] = 'X';
  return (int64_t)(((uint64_t)(uintptr_t)out << 32) | (uint32_t)len);
}
