/*
 * sort.c -- sorting workload.
 *
 * This file implements an introsort-style quicksort (median of three,
 * insertion sort for short ranges, recursion on the smaller side only) and
 * runs it over pseudo-random 32-bit keys. It stresses unpredictable
 * branches, compare-and-swap loops over memory, and moderate recursion.
 */
#include "bench.h"

BENCH_SEED(12345);

#define N (1u << 21) /* 2 Mi keys, 8 MiB */
#define ROUNDS 2

static uint32_t a[N];

static void insertion(uint32_t *v, uint32_t n) {
  for (uint32_t i = 1; i < n; i++) {
    uint32_t x = v[i], j = i;
    while (j > 0 && v[j - 1] > x) {
      v[j] = v[j - 1];
      j--;
    }
    v[j] = x;
  }
}

static inline void swap(uint32_t *x, uint32_t *y) {
  uint32_t t = *x;
  *x = *y;
  *y = t;
}

static void quicksort(uint32_t *v, uint32_t n) {
  while (n > 16) {
    uint32_t m = n / 2;
    /* Median of three into v[m] keeps sorted or reversed runs from
     * degrading to quadratic time. */
    if (v[m] < v[0]) swap(&v[m], &v[0]);
    if (v[n - 1] < v[0]) swap(&v[n - 1], &v[0]);
    if (v[n - 1] < v[m]) swap(&v[n - 1], &v[m]);
    uint32_t pivot = v[m];
    uint32_t i = 0, j = n - 1;
    for (;;) {
      while (v[i] < pivot) i++;
      while (v[j] > pivot) j--;
      if (i >= j) break;
      swap(&v[i], &v[j]);
      i++;
      j--;
    }
    /* Hoare partition: [0, j] and [j+1, n). Recursing on the smaller part
     * bounds the stack depth by log2(n). */
    uint32_t left = j + 1, right = n - left;
    if (left < right) {
      quicksort(v, left);
      v += left;
      n = right;
    } else {
      quicksort(v + left, right);
      n = left;
    }
  }
  insertion(v, n);
}

BENCH_ENTRY {
  uint64_t s = bench_seed();
  uint64_t acc = 0;
  for (int r = 0; r < ROUNDS; r++) {
    /* The second round sorts keys with many duplicates. */
    uint32_t mask = r == 0 ? 0xFFFFFFFFu : 0xFFFFu;
    for (uint32_t i = 0; i < N; i++) a[i] = (uint32_t)bench_rand(&s) & mask;
    quicksort(a, N);
    uint64_t sum = 0;
    uint32_t unsorted = 0;
    for (uint32_t i = 0; i < N; i++) {
      sum += (uint64_t)a[i] * (i + 1);
      if (i && a[i - 1] > a[i]) unsorted++;
    }
    acc = bench_mix(bench_mix(acc, sum), unsorted);
  }
  return bench_result(acc);
}
