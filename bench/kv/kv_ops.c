/*
 * kv_ops.c -- the time of a skill call's KV transaction on one store.
 *
 * This file implements the program behind bench/kv.sh: over libcis's
 * public KV API it runs N transactions of each kind (begin, one operation,
 * commit: what a skill call that makes that one call costs its store; or
 * two sets, `pair`) and
 * prints the best of R rounds in microseconds per transaction. On
 * PostgreSQL it first times one libpq round trip (`SELECT 1` on a
 * connection of its own), the reference the other figures are divided by,
 * so that they read as round trips, whatever the machine.
 *
 *   kv_ops SPEC [N [R [OPS]]]
 *       SPEC as cis_kv_config.spec ("sqlite:PATH", "postgres:CONNSTR");
 *       OPS the kinds run, comma-separated, among set, pair, increment and
 *       get (default all four, in that order)
 */
#include <inttypes.h>
#include <stdbool.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cis/cis.h"
#include "cis/cis_kv.h"

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

typedef enum { OP_GET, OP_SET, OP_INCREMENT, OP_PAIR, OP_N } op_kind;
static const char *const OP_NAME[OP_N] = {"get", "set", "increment", "pair"};

/* One transaction of kind k in the namespace of who; i varies the value. */
static cis_result one(cis_kv *kv, const cis_principal *who, op_kind k, unsigned i) {
  cis_kv_txn *t;
  cis_result rc = cis_kv_begin(kv, who, 10000, &t);
  if (rc != CIS_OK) return rc;
  char v[32];
  int n = snprintf(v, sizeof v, "v%u", i);
  void *got = NULL;
  size_t glen = 0;
  int64_t ctr = 0;
  switch (k) {
  case OP_GET:
    rc = cis_kv_get(t, "key", 3, &got, &glen);
    free(got);
    break;
  case OP_SET:
    rc = cis_kv_set(t, "key", 3, v, (size_t)n);
    break;
  case OP_PAIR:
    rc = cis_kv_set(t, "k1", 2, v, (size_t)n);
    if (rc == CIS_OK) rc = cis_kv_set(t, "k2", 2, v, (size_t)n);
    break;
  default:
    rc = cis_kv_increment(t, "ctr", 3, 1, &ctr);
    break;
  }
  if (rc != CIS_OK) {
    cis_kv_rollback(t);
    return rc;
  }
  return cis_kv_commit(t);
}

/* Marks in want[] the kinds the comma-separated list ops names; false
 * (with a message) for a name that is none. */
static bool parse_ops(const char *ops, bool want[OP_N]) {
  for (int k = 0; k < OP_N; k++) want[k] = false;
  for (const char *o = ops; *o;) {
    size_t len = strcspn(o, ",");
    int k = 0;
    while (k < OP_N && !(strlen(OP_NAME[k]) == len && strncmp(o, OP_NAME[k], len) == 0)) k++;
    if (k == OP_N) {
      fprintf(stderr, "kv_ops: unknown operation '%.*s' (set, pair, increment, get)\n", (int)len, o);
      return false;
    }
    want[k] = true;
    o += len + (o[len] == ',');
  }
  return true;
}

/* libpq's round trip alone: the best of r rounds of n `SELECT 1`. */
static double round_trip_us(const char *conninfo, unsigned n, unsigned r) {
  PGconn *pg = PQconnectdb(conninfo);
  if (PQstatus(pg) != CONNECTION_OK) {
    fprintf(stderr, "kv_ops: %s", PQerrorMessage(pg));
    PQfinish(pg);
    return -1;
  }
  double best = -1;
  for (unsigned round = 0; round < r; round++) {
    double t0 = now_us();
    for (unsigned i = 0; i < n; i++) PQclear(PQexec(pg, "SELECT 1"));
    double us = (now_us() - t0) / n;
    if (best < 0 || us < best) best = us;
  }
  PQfinish(pg);
  return best;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 5) {
    fprintf(stderr, "usage: kv_ops SPEC [N [R [OPS]]]\n");
    return 2;
  }
  unsigned n = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 500;
  unsigned r = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 5;
  if (n == 0 || n > 1000000 || r == 0 || r > 100) {
    fprintf(stderr, "kv_ops: N in 1..1000000, R in 1..100\n");
    return 2;
  }
  const char *spec = argv[1];
  bool want[OP_N];
  if (!parse_ops(argc > 4 ? argv[4] : "set,pair,increment,get", want)) return 2;
  double ref = 0;
  if (strncmp(spec, "postgres:", 9) == 0 && (ref = round_trip_us(spec + 9, n, r)) < 0) return 1;
  cis_kv_config cfg;
  cis_kv_config_default(&cfg);
  cfg.spec = spec;
  cis_kv *kv;
  if (cis_kv_open(&cfg, &kv) != CIS_OK) {
    fprintf(stderr, "kv_ops: %s\n", cis_kv_errmsg(kv));
    cis_kv_close(kv);
    return 1;
  }
  char tenant[64];
  snprintf(tenant, sizeof tenant, "bench%ld", (long)time(NULL) % 100000);
  cis_principal who = {.tenant = tenant, .skill = "kvops"};
  if (ref > 0) printf("round trip (libpq SELECT 1): %.1f us\n", ref);
  printf("%-10s %10s%s\n", "operation", "us/txn", ref > 0 ? "  round trips" : "");
  int st = 0;
  /* The key get reads, whatever else runs. */
  cis_result rc0 = want[OP_GET] ? one(kv, &who, OP_SET, 0) : CIS_OK;
  if (rc0 != CIS_OK) {
    fprintf(stderr, "kv_ops: set: %s: %s\n", cis_errname(rc0), cis_kv_errmsg(kv));
    st = 1;
  }
  static const op_kind order[] = {OP_SET, OP_PAIR, OP_INCREMENT, OP_GET};
  for (size_t k = 0; k < sizeof order / sizeof order[0] && !st; k++) {
    op_kind kind = order[k];
    if (!want[kind]) continue;
    double best = -1;
    for (unsigned round = 0; round < r && !st; round++) {
      double t0 = now_us();
      for (unsigned i = 0; i < n; i++) {
        cis_result rc = one(kv, &who, kind, i);
        if (rc != CIS_OK) {
          fprintf(stderr, "kv_ops: %s: %s: %s\n", OP_NAME[kind], cis_errname(rc), cis_kv_errmsg(kv));
          st = 1;
          break;
        }
      }
      double us = (now_us() - t0) / n;
      if (best < 0 || us < best) best = us;
    }
    if (st) break;
    if (ref > 0) printf("%-10s %10.1f  %11.2f\n", OP_NAME[kind], best, best / ref);
    else printf("%-10s %10.1f\n", OP_NAME[kind], best);
  }
  cis_kv_close(kv);
  return st;
}
