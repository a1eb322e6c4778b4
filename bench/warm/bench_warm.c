/*
 * This file implements the warm-call benchmark of bench/warm.sh, through
 * the public C API only, so the same source builds against an older cis
 * for a before/after comparison. It prints "key value unit" lines on
 * stdout, progress on stderr, and checks only that every call succeeded
 * with the expected output.
 *
 *   bench_warm TRIVIAL.wasm HOSTLOOP.wasm [CALLS]
 *
 * 1. Reference: a bare cis_func_call of the trivial skill's cis_main on one
 *    instance kept by the program (its one import a no-op host function),
 *    timed in batches of 1000 calls.
 * 2. Warm call: cis_skills_invoke of the same module installed as a skill,
 *    after a warm-up: median and 99th percentile of CALLS single calls.
 * 3. Throughput: CALLS calls on one thread, then CALLS calls on each of two
 *    threads at once sharing one cis_skills handle: calls per second, the
 *    ratio of two threads to one, and the CPU time the process obtained
 *    per second of wall time in each (on a shared machine two threads may
 *    not get two cores), and calls per CPU-second in each: equal when the
 *    two threads do not slow each other down.
 * 4. Host call: a guest loop of N calls of a no-op host function minus the
 *    same loop without the call, per call (median of 31), beside the same
 *    pair of loops in native C (a call through a function pointer).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cis/cis_skill.h"

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
  uint8_t *b = n > 0 ? malloc((size_t)n) : NULL;
  *len = b ? fread(b, 1, (size_t)n, f) : 0;
  fclose(f);
  return b;
}

static void die(const char *what, cis_result rc, const char *detail) {
  fprintf(stderr, "bench_warm: %s: %s: %s\n", what, cis_errname(rc), detail ? detail : "");
  exit(1);
}

static cis_result host_nop(cis_call *c, const cis_slot *a, cis_slot *r) {
  (void)c;
  (void)a;
  r[0].i32 = 0;
  return CIS_OK;
}

static cis_result host_nop0(cis_call *c, const cis_slot *a, cis_slot *r) {
  (void)c;
  (void)a;
  (void)r;
  return CIS_OK;
}

/* ------------------------------------------------------------ reference */

static double bare_call(const uint8_t *wasm, size_t len) {
  cis_engine *e;
  cis_module *m;
  cis_imports *im;
  cis_instance *inst;
  cis_result rc;
  if ((rc = cis_engine_new(NULL, &e)) != CIS_OK) die("engine", rc, "");
  if ((rc = cis_module_new(e, wasm, len, &m)) != CIS_OK) die("module", rc, cis_errmsg(e));
  cis_host_func_def d = {"cis_v1", "output_write", "(ii)i", host_nop, NULL, 0};
  if ((rc = cis_imports_new(e, &im)) != CIS_OK || (rc = cis_imports_add_host_funcs(im, &d, 1)) != CIS_OK)
    die("imports", rc, "");
  if ((rc = cis_instance_new(m, im, NULL, &inst)) != CIS_OK) die("instance", rc, cis_errmsg(e));
  cis_func *f = cis_instance_func(inst, "cis_main");
  enum { BATCH = 1000, BATCHES = 201 };
  double v[BATCHES];
  cis_val r;
  for (int i = 0; i < BATCH; i++) cis_func_call(inst, f, NULL, 0, &r, 1);
  for (int b = 0; b < BATCHES; b++) {
    uint64_t t0 = now_ns();
    for (int i = 0; i < BATCH; i++)
      if ((rc = cis_func_call(inst, f, NULL, 0, &r, 1)) != CIS_OK) die("call", rc, cis_errmsg(inst));
    v[b] = (double)(now_ns() - t0) / BATCH;
  }
  cis_instance_free(inst);
  cis_imports_free(im);
  cis_module_free(m);
  cis_engine_free(e);
  return pct(v, BATCHES, 50);
}

/* ------------------------------------------------------------ warm call */

static void invoke_ok(cis_skills *s) {
  cis_invoke_result r;
  cis_result rc = cis_skills_invoke(s, "trivial", "{}", 2, NULL, &r);
  if (rc != CIS_OK) die("invoke", rc, r.error);
  if (strcmp(r.output, "{}") != 0) die("invoke", CIS_EINVAL, r.output);
  cis_invoke_result_free(&r);
}

typedef struct worker {
  cis_skills *s;       /* shared host */
  long calls;          /* calls to make */
  pthread_barrier_t *go; /* start together */
} worker;

static void *work(void *arg) {
  worker *w = arg;
  pthread_barrier_wait(w->go);
  for (long i = 0; i < w->calls; i++) invoke_ok(w->s);
  return NULL;
}

static double cpu_s(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (double)u.ru_utime.tv_sec + (double)u.ru_stime.tv_sec +
         ((double)u.ru_utime.tv_usec + (double)u.ru_stime.tv_usec) / 1e6;
}

/* Calls per second of nthreads threads making calls each at once; *cores
 * receives the CPU time the process got per second of wall time (on a
 * shared machine, two threads may get less than two cores). */
static double throughput(cis_skills *s, int nthreads, long calls, double *cores) {
  pthread_t th[8];
  worker w[8];
  pthread_barrier_t go;
  pthread_barrier_init(&go, NULL, (unsigned)nthreads + 1);
  for (int i = 0; i < nthreads; i++) {
    w[i] = (worker){s, calls, &go};
    pthread_create(&th[i], NULL, work, &w[i]);
  }
  pthread_barrier_wait(&go);
  uint64_t t0 = now_ns();
  double c0 = cpu_s();
  for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
  double secs = (double)(now_ns() - t0) / 1e9;
  *cores = (cpu_s() - c0) / secs;
  pthread_barrier_destroy(&go);
  return (double)nthreads * (double)calls / secs;
}

/* ------------------------------------------------------------ host call */

static double loop_ns(cis_instance *inst, cis_func *f, int32_t n) {
  cis_val a = {.type = CIS_I32, .of.i32 = n};
  uint64_t t0 = now_ns();
  cis_result rc = cis_func_call(inst, f, &a, 1, NULL, 0);
  if (rc != CIS_OK) die("host loop", rc, cis_errmsg(inst));
  return (double)(now_ns() - t0);
}

static void native_nop(void) { __asm__ volatile(""); }
static void (*volatile native_fn)(void) = native_nop;

static double native_loop_ns(int32_t n, int with_call) {
  uint64_t t0 = now_ns();
  for (volatile int32_t i = n; i > 0; i--)
    if (with_call) native_fn();
  return (double)(now_ns() - t0);
}

static void hostcall(const uint8_t *wasm, size_t len) {
  cis_engine *e;
  cis_module *m;
  cis_imports *im;
  cis_instance *inst;
  cis_result rc;
  if ((rc = cis_engine_new(NULL, &e)) != CIS_OK) die("engine", rc, "");
  if ((rc = cis_module_new(e, wasm, len, &m)) != CIS_OK) die("module", rc, cis_errmsg(e));
  cis_host_func_def d = {"host", "nop", "()", host_nop0, NULL, 0};
  if ((rc = cis_imports_new(e, &im)) != CIS_OK || (rc = cis_imports_add_host_funcs(im, &d, 1)) != CIS_OK)
    die("imports", rc, "");
  cis_limits l;
  cis_limits_default(&l); /* a deadline, as every skill call has */
  if ((rc = cis_instance_new(m, im, &l, &inst)) != CIS_OK) die("instance", rc, cis_errmsg(e));
  cis_func *calls = cis_instance_func(inst, "calls"), *empty = cis_instance_func(inst, "empty");
  enum { N = 1000000, REPS = 31 };
  double d_cis[REPS], d_nat[REPS];
  loop_ns(inst, calls, N);
  loop_ns(inst, empty, N);
  for (int i = 0; i < REPS; i++) {
    d_cis[i] = (loop_ns(inst, calls, N) - loop_ns(inst, empty, N)) / N;
    d_nat[i] = (native_loop_ns(N, 1) - native_loop_ns(N, 0)) / N;
  }
  double c = pct(d_cis, REPS, 50), n = pct(d_nat, REPS, 50);
  printf("hostcall_ns %.2f ns/call\nhostcall_native_ns %.2f ns/call\n", c, n);
  fprintf(stderr, "host call      %8.2f ns (native call through a pointer %.2f ns; %d calls per loop, median of %d)\n",
          c, n, N, REPS);
  cis_instance_free(inst);
  cis_imports_free(im);
  cis_module_free(m);
  cis_engine_free(e);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: bench_warm TRIVIAL.wasm HOSTLOOP.wasm [CALLS]\n");
    return 2;
  }
  long calls = argc > 3 ? atol(argv[3]) : 20000;
  if (calls < 100) calls = 100;
  size_t tlen, hlen;
  uint8_t *trivial = slurp(argv[1], &tlen), *loop = slurp(argv[2], &hlen);
  if (!trivial || !loop) die("read", CIS_EIO, argv[!trivial ? 1 : 2]);

  double bare = bare_call(trivial, tlen);

  char home[64];
  snprintf(home, sizeof home, "/tmp/cis-bench-warm-XXXXXX");
  if (!mkdtemp(home)) die("mkdtemp", CIS_EIO, home);
  cis_skills_config c;
  cis_skills_config_default(&c);
  c.home = home;
  cis_log_sink null;
  cis_log_sink_null(&null);
  c.log_sink = &null;
  cis_skills *s;
  cis_result rc = cis_skills_open(&c, &s);
  if (rc != CIS_OK) die("open", rc, cis_skills_errmsg(s));
  /* The sha256 of the module, which the manifest must carry. */
  char cmd[600], sha[65] = "";
  snprintf(cmd, sizeof cmd, "sha256sum '%s'", argv[1]);
  FILE *p = popen(cmd, "r");
  if (!p || fscanf(p, "%64s", sha) != 1) die("sha256sum", CIS_EIO, argv[1]);
  pclose(p);
  char man[512];
  snprintf(man, sizeof man, "{\"name\":\"trivial\",\"version\":\"1.0\",\"wasm\":{\"path\":\"trivial.wasm\",\"sha256\":\"%s\"}}",
           sha);
  if ((rc = cis_skills_register(s, trivial, tlen, man, strlen(man))) != CIS_OK) die("register", rc, cis_skills_errmsg(s));

  for (int i = 0; i < 1000; i++) invoke_ok(s);
  double *v = malloc(sizeof(double) * (size_t)calls);
  for (long i = 0; i < calls; i++) {
    uint64_t t0 = now_ns();
    invoke_ok(s);
    v[i] = (double)(now_ns() - t0);
  }
  double med = pct(v, (size_t)calls, 50), p99 = pct(v, (size_t)calls, 99);
  free(v);
  double cores1, cores2;
  double one = throughput(s, 1, calls, &cores1), two = throughput(s, 2, calls, &cores2);
  printf("bare_call_ns %.1f ns\nwarm_call_median_ns %.0f ns\nwarm_call_p99_ns %.0f ns\n", bare, med, p99);
  printf("calls_per_s_1 %.0f calls/s\ncalls_per_s_2 %.0f calls/s\nthreads_2_over_1 %.2f x\n", one, two, two / one);
  printf("cores_1 %.2f cores\ncores_2 %.2f cores\n", cores1, cores2);
  printf("calls_per_cpu_s_1 %.0f calls/s\ncalls_per_cpu_s_2 %.0f calls/s\n", one / cores1, two / cores2);
  fprintf(stderr, "bare call      %8.1f ns (cis_func_call of cis_main, the reference)\n", bare);
  fprintf(stderr, "warm call      %8.0f ns median, %.0f ns p99 (%ld calls; %.0fx the bare call)\n", med, p99, calls,
          med / bare);
  fprintf(stderr, "calls/s        %8.0f on 1 thread, %.0f on 2 threads (%.2fx; CPU obtained %.2f and %.2f cores)\n",
          one, two, two / one, cores1, cores2);
  fprintf(stderr, "calls/CPU-s    %8.0f on 1 thread, %.0f on 2 threads (%.2fx: 1.00 means no contention between them)\n",
          one / cores1, two / cores2, (two / cores2) / (one / cores1));
  cis_skills_close(s);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
  if (system(cmd) != 0) fprintf(stderr, "bench_warm: could not remove %s\n", home);

  hostcall(loop, hlen);
  free(trivial);
  free(loop);
  return 0;
}
