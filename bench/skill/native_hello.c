/*
 * This file implements the native reference of bench/skill.sh: the work of
 * examples/hello (compute 1+1, answer {"result":2}) as a plain native
 * process, to compare process start-up costs.
 */
#include <stdio.h>

int main(void) {
  volatile int a = 1, b = 1;
  printf("{\"result\":%d}\n", a + b);
  return 0;
}
