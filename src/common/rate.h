/*
 * This file implements a token bucket, header only: `rate` tokens a
 * second, at most `rate` kept, full at its first use. It paces what no
 * CPU share of ours limits (a tenant's registry changes, the lookups of
 * bearer tokens the server has not seen). Not locked: its user
 * serialises the calls.
 */
#ifndef CIS_COMMON_RATE_H
#define CIS_COMMON_RATE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct cis__rate {
  double left; /* tokens there as of at */
  uint64_t at; /* CLOCK_MONOTONIC ns of the last refill; 0: never used, full */
} cis__rate;

/* Refills b for the time up to now (ns) at rate a second; returns the
 * tokens there, a part of one included (one may be taken at 1 or more). */
static inline double cis__rate_refill(cis__rate *b, double rate, uint64_t now) {
  if (!b->at) b->left = rate;
  else if (now > b->at) b->left += (double)(now - b->at) * rate / 1e9;
  if (b->left > rate) b->left = rate;
  b->at = now;
  return b->left;
}

/* Takes one token after a refill to now: whether there was one. */
static inline bool cis__rate_take(cis__rate *b, double rate, uint64_t now) {
  if (cis__rate_refill(b, rate, now) < 1) return false;
  b->left -= 1;
  return true;
}

#endif /* CIS_COMMON_RATE_H */
