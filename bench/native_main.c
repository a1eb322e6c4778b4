/*
 * native_main.c -- native harness for the benchmark workloads.
 *
 * This file implements the main() linked with each workload when it is
 * built natively: it calls run() once and prints the checksum on its own
 * line, exactly as the wasm engines are asked to.
 */
#include <stdio.h>

long long run(void);

int main(void) {
  printf("%lld\n", run());
  return 0;
}
