/*
 * This file implements a WASI command skill: JSON on stdin, JSON on
 * stdout. It wraps its input: {"echo": <input>}.
 */
#include <stdio.h>

int main(void) {
  static char buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf - 1, stdin);
  buf[n] = 0;
  printf("{\"echo\":%s}\n", n ? buf : "null");
  return 0;
}
