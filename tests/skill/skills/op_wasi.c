/*
 * This file implements a WASI command skill for tests/skill/test_operate.c:
 * its input (stdin) names what to do.
 *
 *   {"op":"env"}    answers {"v":"$OP_VAR"} (null when unset)
 *   {"op":"read"}   answers {"v":"first line of /extra/in.txt"}
 *   {"op":"fail"}   writes two lines to stderr and exits 3
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  static char in[4096];
  size_t n = fread(in, 1, sizeof in - 1, stdin);
  in[n] = 0;
  if (strstr(in, "\"env\"")) {
    const char *v = getenv("OP_VAR");
    if (v) printf("{\"v\":\"%s\"}\n", v);
    else printf("{\"v\":null}\n");
    return 0;
  }
  if (strstr(in, "\"read\"")) {
    char line[256] = "";
    FILE *f = fopen("/extra/in.txt", "r");
    if (!f) {
      fprintf(stderr, "cannot open /extra/in.txt\n");
      return 2;
    }
    if (!fgets(line, sizeof line, f)) line[0] = 0;
    fclose(f);
    line[strcspn(line, "\n")] = 0;
    printf("{\"v\":\"%s\"}\n", line);
    return 0;
  }
  fprintf(stderr, "op_wasi: bad input\nsecond line of stderr\n");
  return 3;
}
