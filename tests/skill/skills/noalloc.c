/*
 * This file implements a seed 002 skill that exports no allocator, so a
 * host call that must hand back memory answers NO_ALLOCATOR (-10).
 */
#define CIS_SKILL_SEED_ABIS
#include "cis_skill.h"

__attribute__((export_name("main"))) int skill_main(void) {
  host_memory_set("k", 1, "v", 1);
  int64_t r = host_memory_get("k", 1);
  return (int)(uintptr_t)(r == CIS_SKILL_ENO_ALLOCATOR ? "{\"get\":-10}" : "{\"get\":\"unexpected\"}");
}
