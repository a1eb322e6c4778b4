/*
 * matmul.c -- a dense matrix multiply.
 *
 * This file implements C = A * B for 192 x 192 matrices of doubles, the
 * i-k-j loop order that compilers vectorise natively (the inner loop is
 * a scaled add of one row of B into one row of C), repeated over several
 * rounds whose inputs change. It measures how close compiled wasm comes
 * to vectorised native code on the simplest loop nest there is.
 */
#include "bench.h"

BENCH_SEED(0x5eed);

#define N 192
#define ROUNDS 200

static double a[N][N], b[N][N], c[N][N];

BENCH_ENTRY {
  uint64_t s = bench_seed();
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++) {
      a[i][j] = (double)(bench_rand(&s) % 1000) / 997.0;
      b[i][j] = (double)(bench_rand(&s) % 1000) / 991.0;
    }
  uint64_t acc = 0;
  for (int r = 0; r < ROUNDS; r++) {
    for (int i = 0; i < N; i++)
      for (int j = 0; j < N; j++) c[i][j] = 0.0;
    for (int i = 0; i < N; i++)
      for (int k = 0; k < N; k++) {
        double aik = a[i][k];
        for (int j = 0; j < N; j++) c[i][j] += aik * b[k][j];
      }
    double sum = 0.0;
    for (int i = 0; i < N; i++) sum += c[i][(i * 7 + r) % N];
    acc = bench_mix(acc, (uint64_t)(sum * 1024.0));
    a[r % N][(r * 13) % N] += 0.5; /* the next round's input differs */
  }
  return bench_result(acc);
}
