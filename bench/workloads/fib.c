/*
 * fib.c -- recursion workload.
 *
 * This file implements the classic doubly recursive Fibonacci function. It
 * measures the cost of calls and returns with almost no other work: the
 * frame set-up, argument passing and the return path of an engine.
 */
#include "bench.h"

BENCH_SEED(36);

/* noinline keeps gcc from unrolling the recursion into the caller, which
 * would make the native baseline measure something else. */
__attribute__((noinline)) static uint32_t fib(uint32_t n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

BENCH_ENTRY {
  uint64_t acc = 0;
  uint32_t base = (uint32_t)bench_seed();
  for (uint32_t i = 0; i < 6; i++) acc = bench_mix(acc, fib(base + (i & 1)));
  return bench_result(acc);
}
