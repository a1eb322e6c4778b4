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

/* The seed is read again for each call: fib has no side effects, and from
 * one seed clang computed fib(36) and fib(37) once each for the wasm build
 * where gcc called fib six times, so the wasm engines ran a third of the
 * native work. */
BENCH_ENTRY {
  uint64_t acc = 0;
  for (uint32_t i = 0; i < 6; i++) acc = bench_mix(acc, fib((uint32_t)bench_seed() + (i & 1)));
  return bench_result(acc);
}
