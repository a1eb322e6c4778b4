/*
 * This file implements the skill benchmarks of bench/skill.sh, through the
 * public C API only (include/cis/cis_skill.h). It is a benchmark, not a
 * test: it prints figures and checks only that every call succeeded with
 * the expected output.
 *
 *   bench_skill hostcall GUEST.wasm [REPS]
 *       Host-call overhead in ns per call, for log (null sink) and KV get
 *       (warm SQLite): the guest (bench/skill/guest.c) calls the host N
 *       times in a loop; the same loop without the call is subtracted.
 *   bench_skill coldstart SKILL.wasm EXPECTED_OUTPUT [REPS]
 *       In-process cold start to first output: load + validate +
 *       instantiate + run of a skill whose module the host has never seen
 *       (each repetition gets different bytes), and the warm call (module
 *       cached) for comparison.
 *   bench_skill spawn REPS EXPECTED_OUTPUT COMMAND [ARG...]
 *       Process cold start: the time from spawning COMMAND to the first
 *       byte on its stdout, and to its exit. The output must start with
 *       EXPECTED_OUTPUT.
 *
 * Output lines are "key value unit" pairs on stdout (bench/skill.sh reads
 * them); progress goes to stderr. Times are medians, with the 10th and
 * 90th percentiles where useful, over REPS repetitions after warm-up.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cis/cis_skill.h"

extern char **environ;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The p-th percentile (0..100) of v[0..n), which it sorts. */
static double pct(double *v, size_t n, double p) {
  qsort(v, n, sizeof *v, cmp_double);
  size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
  return v[i < n ? i : n - 1];
}

static uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = n > 0 ? malloc((size_t)n + 64) : NULL;
  *len = b ? fread(b, 1, (size_t)n, f) : 0;
  fclose(f);
  return b;
}

static void die(const char *what, cis_result rc, const char *detail) {
  fprintf(stderr, "bench_skill: %s: %s: %s\n", what, cis_errname(rc), detail ? detail : "");
  exit(1);
}

/* A host on a fresh registry and SQLite KV under a temporary folder, with
 * the null log sink. */
static cis_skills *open_host(char *home, size_t cap) {
  snprintf(home, cap, "/tmp/cis-bench-skill-XXXXXX");
  if (!mkdtemp(home)) {
    perror("bench_skill: mkdtemp");
    exit(1);
  }
  cis_skills_config c;
  cis_skills_config_default(&c);
  c.home = home;
  cis_log_sink null;
  cis_log_sink_null(&null);
  c.log_sink = &null;
  cis_skills *s;
  cis_result rc = cis_skills_open(&c, &s);
  if (rc != CIS_OK) die("open", rc, cis_skills_errmsg(s));
  return s;
}

static void remove_home(const char *home) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
  if (system(cmd) != 0) fprintf(stderr, "bench_skill: could not remove %s\n", home);
}

/* ------------------------------------------------------------- hostcall */

/* Wall time in ns of one call of the guest with {"op":op,"n":n}. */
static double one_loop(cis_skills *s, const uint8_t *wasm, size_t len, const char *op, long n) {
  char in[96];
  int il = snprintf(in, sizeof in, "{\"op\":\"%s\",\"n\":%ld}", op, n);
  cis_invoke_options o;
  memset(&o, 0, sizeof o);
  o.allow_kv = true;
  cis_invoke_result r;
  uint64_t t0 = now_ns();
  cis_result rc = cis_skills_invoke_wasm(s, wasm, len, in, (size_t)il, &o, &r);
  uint64_t t1 = now_ns();
  if (rc != CIS_OK) die(op, rc, r.error);
  char want[64];
  snprintf(want, sizeof want, "{\"n\":%ld,", n);
  if (strncmp(r.output, want, strlen(want)) != 0) die(op, CIS_EINVAL, r.output);
  cis_invoke_result_free(&r);
  return (double)(t1 - t0);
}

/* ns per host call of op: the median over reps of (loop with the call -
 * empty loop) / n, each pair measured back to back. */
static void per_call(cis_skills *s, const uint8_t *wasm, size_t len, const char *op, long n, int reps,
                     const char *key) {
  double *d = malloc(sizeof(double) * (size_t)reps);
  double *empty = malloc(sizeof(double) * (size_t)reps);
  for (int i = 0; i < 3; i++) { /* warm-up: caches, the KV statement, the page cache */
    one_loop(s, wasm, len, op, n);
    one_loop(s, wasm, len, "empty", n);
  }
  for (int i = 0; i < reps; i++) {
    double a = one_loop(s, wasm, len, op, n);
    double b = one_loop(s, wasm, len, "empty", n);
    d[i] = (a - b) / (double)n;
    empty[i] = b / (double)n;
  }
  double p10 = pct(d, (size_t)reps, 10), med = pct(d, (size_t)reps, 50), p90 = pct(d, (size_t)reps, 90);
  double e = pct(empty, (size_t)reps, 50);
  printf("%s_ns %.1f ns/call\n%s_p10_ns %.1f ns/call\n%s_p90_ns %.1f ns/call\n%s_calls %ld calls/loop\n",
         key, med, key, p10, key, p90, key, n);
  printf("%s_empty_iter_ns %.2f ns/iteration\n", key, e);
  fprintf(stderr, "%-12s %8.1f ns/call (p10 %.1f, p90 %.1f; %ld calls per loop, %d loops; empty loop %.2f ns/iter)\n",
          key, med, p10, p90, n, reps, e);
  free(d);
  free(empty);
}

static int hostcall(int argc, char **argv) {
  if (argc < 3) return 2;
  size_t len;
  uint8_t *wasm = slurp(argv[2], &len);
  if (!wasm) {
    fprintf(stderr, "bench_skill: cannot read %s\n", argv[2]);
    return 1;
  }
  int reps = argc > 3 ? atoi(argv[3]) : 31;
  if (reps < 1) reps = 1;
  char home[64];
  cis_skills *s = open_host(home, sizeof home);
  one_loop(s, wasm, len, "setup", 0); /* the key the kv loop reads, committed */

  /* The log cap lets a call write 1000 lines (CIS_LOG_DEFAULT_MAX_CALL_LINES);
   * past it lines are counted and dropped. So: loops of 1000 lines, all
   * written (formatted, captured for the call, passed to the null sink),
   * and loops of 100 000, where all but the first 1000 are dropped. */
  per_call(s, wasm, len, "log", CIS_LOG_DEFAULT_MAX_CALL_LINES - 1, reps, "log_written");
  per_call(s, wasm, len, "log", 100000, reps, "log_dropped");
  per_call(s, wasm, len, "kv", 100000, reps, "kv_get");
  cis_skills_close(s);
  remove_home(home);
  free(wasm);
  return 0;
}

/* ------------------------------------------------------------ coldstart */

/* bytes + a custom section named "bench-<i>": a module no cache has seen,
 * which decodes and validates like the original. */
static size_t with_custom_section(const uint8_t *wasm, size_t len, unsigned i, uint8_t *out) {
  memcpy(out, wasm, len);
  char name[24];
  int nl = snprintf(name, sizeof name, "bench-%08u", i);
  out[len] = 0;                          /* custom section */
  out[len + 1] = (uint8_t)(nl + 1);      /* size: name length byte + name */
  out[len + 2] = (uint8_t)nl;            /* name length */
  memcpy(out + len + 3, name, (size_t)nl);
  return len + 3 + (size_t)nl;
}

static int coldstart(int argc, char **argv) {
  if (argc < 4) return 2;
  size_t len;
  uint8_t *wasm = slurp(argv[2], &len);
  if (!wasm) {
    fprintf(stderr, "bench_skill: cannot read %s\n", argv[2]);
    return 1;
  }
  const char *want = argv[3];
  int reps = argc > 4 ? atoi(argv[4]) : 201;
  if (reps < 1) reps = 1;
  char home[64];
  cis_skills *s = open_host(home, sizeof home);
  uint8_t *fresh = malloc(len + 64);
  double *cold = malloc(sizeof(double) * (size_t)reps), *warm = malloc(sizeof(double) * (size_t)reps);
  double *inst = malloc(sizeof(double) * (size_t)reps);
  for (int i = -5; i < reps; i++) { /* 5 warm-up rounds */
    size_t fl = with_custom_section(wasm, len, (unsigned)(i + 5), fresh);
    cis_invoke_result r;
    uint64_t t0 = now_ns();
    cis_result rc = cis_skills_invoke_wasm(s, fresh, fl, "{}", 2, NULL, &r);
    uint64_t t1 = now_ns();
    if (rc != CIS_OK) die("cold call", rc, r.error);
    if (strcmp(r.output, want)) die("cold call output", CIS_EINVAL, r.output);
    double instantiate = (double)r.stats.instantiate_ns;
    cis_invoke_result_free(&r);
    /* The same module again: decoded and validated already (cached). */
    uint64_t t2 = now_ns();
    rc = cis_skills_invoke_wasm(s, fresh, fl, "{}", 2, NULL, &r);
    uint64_t t3 = now_ns();
    if (rc != CIS_OK) die("warm call", rc, r.error);
    cis_invoke_result_free(&r);
    if (i >= 0) {
      cold[i] = (double)(t1 - t0) / 1e3;
      warm[i] = (double)(t3 - t2) / 1e3;
      inst[i] = instantiate / 1e3;
    }
  }
  size_t n = (size_t)reps;
  double c50 = pct(cold, n, 50), c10 = pct(cold, n, 10), c90 = pct(cold, n, 90);
  double w50 = pct(warm, n, 50), i50 = pct(inst, n, 50);
  printf("cold_us %.1f us\ncold_p10_us %.1f us\ncold_p90_us %.1f us\nwarm_us %.1f us\ninstantiate_us %.1f us\n"
         "module_bytes %zu bytes\n",
         c50, c10, c90, w50, i50, len);
  fprintf(stderr, "cold call   %8.1f us (p10 %.1f, p90 %.1f; %d calls; instantiation %.1f us)\n", c50, c10, c90,
          reps, i50);
  fprintf(stderr, "warm call   %8.1f us (module cached)\n", w50);
  cis_skills_close(s);
  remove_home(home);
  free(fresh);
  free(cold);
  free(warm);
  free(inst);
  free(wasm);
  return 0;
}

/* ---------------------------------------------------------------- spawn */

/* Runs argv once; sets *first to the ns until the first stdout byte and
 * *done to the ns until exit. The output must start with want. */
static int spawn_once(char **argv, const char *want, double *first, double *done) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  posix_spawn_file_actions_addclose(&fa, fds[1]);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  uint64_t t0 = now_ns();
  int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    fprintf(stderr, "bench_skill: cannot run %s: %s\n", argv[0], strerror(rc));
    return -1;
  }
  char out[4096];
  size_t n = 0;
  uint64_t t_first = 0;
  for (;;) {
    ssize_t got = read(fds[0], out + n, sizeof out - 1 - n);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    if (!t_first) t_first = now_ns();
    n += (size_t)got;
    if (n == sizeof out - 1) n = 0; /* keep reading; only the start matters */
  }
  close(fds[0]);
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  uint64_t t_end = now_ns();
  out[n] = 0;
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || strncmp(out, want, strlen(want)) != 0) {
    fprintf(stderr, "bench_skill: %s: exit status %d, output \"%.200s\", want \"%s\"\n", argv[0],
            WIFEXITED(st) ? WEXITSTATUS(st) : -1, out, want);
    return -1;
  }
  *first = (double)(t_first - t0) / 1e6;
  *done = (double)(t_end - t0) / 1e6;
  return 0;
}

static int spawn(int argc, char **argv) {
  if (argc < 5) return 2;
  int reps = atoi(argv[2]);
  if (reps < 1) reps = 1;
  const char *want = argv[3];
  char **cmd = argv + 4;
  double *first = malloc(sizeof(double) * (size_t)reps), *done = malloc(sizeof(double) * (size_t)reps);
  double f, d;
  for (int i = 0; i < 3; i++) /* warm-up: the page cache, ld.so's */
    if (spawn_once(cmd, want, &f, &d) != 0) return 1;
  for (int i = 0; i < reps; i++)
    if (spawn_once(cmd, want, &first[i], &done[i]) != 0) return 1;
  size_t n = (size_t)reps;
  double f50 = pct(first, n, 50), f10 = pct(first, n, 10), f90 = pct(first, n, 90), d50 = pct(done, n, 50);
  printf("first_ms %.3f ms\nfirst_p10_ms %.3f ms\nfirst_p90_ms %.3f ms\nexit_ms %.3f ms\n", f50, f10, f90, d50);
  fprintf(stderr, "%-40.40s first output %7.3f ms (p10 %.3f, p90 %.3f), exit %7.3f ms, %d runs\n", cmd[0], f50,
          f10, f90, d50, reps);
  free(first);
  free(done);
  return 0;
}

int main(int argc, char **argv) {
  int rc = 2;
  if (argc > 1 && !strcmp(argv[1], "hostcall")) rc = hostcall(argc, argv);
  else if (argc > 1 && !strcmp(argv[1], "coldstart")) rc = coldstart(argc, argv);
  else if (argc > 1 && !strcmp(argv[1], "spawn")) rc = spawn(argc, argv);
  if (rc == 2)
    fprintf(stderr, "usage: bench_skill hostcall GUEST.wasm [REPS]\n"
                    "       bench_skill coldstart SKILL.wasm EXPECTED_OUTPUT [REPS]\n"
                    "       bench_skill spawn REPS EXPECTED_OUTPUT COMMAND [ARG...]\n");
  return rc;
}
