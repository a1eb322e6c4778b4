/*
 * This file implements a cis_v1 test skill for the limits. {"op":"spin"}
 * loops forever; {"op":"grow"} grows memory page by page until
 * memory.grow fails and reports how far it got; {"op":"recurse"} recurses
 * without end.
 */
#include <stdio.h>
#include <string.h>
#include "cis_skill.h"

static char in[1024], out[256];
static volatile int sink;

static int recurse(int n) {
  if (sink == -12345) return n; /* never: keeps the recursion unbounded */
  return n + recurse(n + 1) + sink;
}

__attribute__((export_name("cis_main"))) int cis_main(void) {
  cis_input_all(in, sizeof in);
  char op[16] = "";
  cis_json_get_string(in, "op", op, sizeof op);
  if (!strcmp(op, "spin")) for (;;) sink++;
  if (!strcmp(op, "recurse")) return recurse(0);
  if (!strcmp(op, "grow")) {
    long pages = __builtin_wasm_memory_size(0);
    while (__builtin_wasm_memory_grow(0, 16) != (__SIZE_TYPE__)-1) pages += 16;
    while (__builtin_wasm_memory_grow(0, 1) != (__SIZE_TYPE__)-1) pages += 1;
    snprintf(out, sizeof out, "{\"grow_failed\":true,\"pages\":%ld}", pages);
    return cis_output(out);
  }
  return cis_output("{\"op\":\"none\"}");
}
