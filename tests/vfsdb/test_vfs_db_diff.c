/*
 * This file implements the differential test of the database filesystem:
 * the fuzz_vfs_db harness (fuzz/fuzz_vfs_db.c) runs sequences of VFS calls
 * on a memory mount and on a database mount of a fresh tenant, and every
 * result must agree, as must the two trees at the end. The sequences are
 * the findings kept in fuzz/findings/vfs_db/ (given on the command
 * line, each named after what it guards) and SEQUENCES pseudo-random ones
 * from fixed seeds, so a run is the same every time; it stops making new
 * ones after a time budget so that a slow machine still ends. A sequence
 * that disagrees is written to WORKDIR as diff-SEED.bin for the fuzz
 * target to replay.
 *
 *   test_vfs_db_diff sqlite WORKDIR SEQUENCES [INPUT...]
 *   test_vfs_db_diff postgres CONNSTR_FILE SEQUENCES [INPUT...]
 *   test_vfs_db_diff postgres-lease CONNSTR_FILE SEQUENCES [INPUT...]
 *   test_vfs_db_diff host WORKDIR SEQUENCES [INPUT...]
 *
 * host runs the same sequences on a host directory (a fresh one under
 * WORKDIR each) instead of a database, the memory backend still the
 * oracle: the backend most guests use, held to the same contract.
 * postgres-lease mounts with leases (cis_vfs_db_config.lease), so the
 * mount trusts its caches between calls and the second mount's writes
 * recall its lease.
 */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/pg_connstr.h"

int cis_fuzz_vfs_db(const uint8_t *data, size_t size, const char *db_spec, const char *tenant,
                    char *why, size_t cap);

#define SEQ_BYTES 900 /* some 200 calls */
#define BUDGET_S 90   /* stops making sequences after this */

static struct {
  char spec[2200];  /* the database (cis_vfs_db_config.spec) */
  char dir[1024];   /* where a disagreeing sequence is written */
  char run[48];     /* makes tenant names unique per run */
  int sequences;
  bool host;        /* a host directory instead of a database */
  int ninputs;
  char **inputs;
} g;

static void fill_seq(uint8_t *p, size_t n, uint64_t seed) {
  uint64_t x = seed * 0x9E3779B97F4A7C15u + 1;
  for (size_t i = 0; i < n; i++) {
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    p[i] = (uint8_t)((x * 0x2545F4914F6CDD1Du) >> 56);
  }
}

static int rm_one(const char *path, const struct stat *st, int kind, struct FTW *ftw) {
  (void)st, (void)ftw;
  return (kind == FTW_DP ? rmdir(path) : unlink(path)) == 0 || errno == ENOENT ? 0 : -1;
}

/* Removes the host directory tree at path (the host mode's last one);
 * symlinks in it are removed, not followed. */
static void rm_tree(const char *path) {
  if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
    fail_msg("cannot remove %s", path);
}

static void run_one(const uint8_t *in, size_t n, const char *name) {
  char tenant[160], why[1024], spec[1300];
  snprintf(tenant, sizeof tenant, "%s-%s", g.run, name);
  const char *use = g.spec;
  if (g.host) { /* a fresh directory per sequence */
    snprintf(spec, sizeof spec, "host:%s/host", g.dir);
    rm_tree(spec + 5);
    if (mkdir(spec + 5, 0755) != 0) fail_msg("mkdir %s", spec + 5);
    use = spec;
  }
  int rc = cis_fuzz_vfs_db(in, n, use, tenant, why, sizeof why);
  if (rc == 0) return;
  char path[1200];
  snprintf(path, sizeof path, "%s/diff-%s.bin", g.dir, name);
  FILE *f = fopen(path, "wb");
  if (f) {
    fwrite(in, 1, n, f);
    fclose(f);
  }
  fail_msg("sequence %s (written to %s): %s", name, path, why);
}

/* The findings kept: each still agrees. */
static void test_kept_inputs_agree(void **state) {
  (void)state;
  for (int i = 0; i < g.ninputs; i++) {
    FILE *f = fopen(g.inputs[i], "rb");
    if (!f) fail_msg("cannot open %s", g.inputs[i]);
    static uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    char name[32];
    snprintf(name, sizeof name, "kept%d", i);
    run_one(buf, n, name);
  }
}

/* Sequences from fixed seeds: calls of every kind, in every order. */
static void test_sequences_agree(void **state) {
  (void)state;
  static uint8_t buf[SEQ_BYTES];
  time_t t0 = time(NULL);
  int done = 0;
  for (int s = 0; s < g.sequences; s++, done++) {
    if (time(NULL) - t0 > BUDGET_S) break;
    fill_seq(buf, sizeof buf, (uint64_t)s);
    char name[32];
    snprintf(name, sizeof name, "%d", s);
    run_one(buf, sizeof buf, name);
  }
  print_message("%d sequences agreed\n", done);
  if (g.sequences > 0) assert_true(done > 0); /* 0: the kept inputs alone */
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s sqlite WORKDIR | postgres[-lease] CONNSTR_FILE | host WORKDIR  SEQUENCES [INPUT...]\n",
            argv[0]);
    return 2;
  }
  snprintf(g.run, sizeof g.run, "diff%ld-%ld", (long)getpid(), (long)time(NULL) % 100000);
  if (!strcmp(argv[1], "sqlite")) {
    snprintf(g.dir, sizeof g.dir, "%s", argv[2]);
    mkdir(g.dir, 0755);
    snprintf(g.spec, sizeof g.spec, "sqlite:%s/diff.db", g.dir);
  } else if (!strcmp(argv[1], "host")) {
    snprintf(g.dir, sizeof g.dir, "%s", argv[2]);
    mkdir(g.dir, 0755);
    g.host = true;
  } else if (!strcmp(argv[1], "postgres") || !strcmp(argv[1], "postgres-lease")) {
    char conninfo[2048];
    int rc = cis_test_read_connstr(argv[2], conninfo, sizeof conninfo);
    if (rc) return rc;
    snprintf(g.spec, sizeof g.spec, "%spostgres:%s", strcmp(argv[1], "postgres") ? "lease:" : "",
             conninfo);
    const char *tmp = getenv("TMPDIR");
    snprintf(g.dir, sizeof g.dir, "%s", tmp && *tmp ? tmp : "/tmp");
  } else {
    fprintf(stderr, "%s: sqlite, postgres, postgres-lease or host, not %s\n", argv[0], argv[1]);
    return 2;
  }
  g.sequences = atoi(argv[3]);
  g.ninputs = argc - 4;
  g.inputs = argv + 4;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kept_inputs_agree),
      cmocka_unit_test(test_sequences_agree),
  };
  return cmocka_run_group_tests_name(argv[1], tests, NULL, NULL) ? 1 : 0;
}
