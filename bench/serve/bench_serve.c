/*
 * This file implements the HTTP server benchmark (docs/serve.md): what a
 * call through `cis serve`'s HTTP API costs beside the same call made in
 * process, measured in one run on one machine, so the ratio carries over
 * where absolute times do not. It prints "key value unit" lines on stdout.
 *
 *   bench_serve [CALLS]
 *   bench_serve loop THREADS CALLS
 *
 * The skill is echo (answers its input, the module of fuzz/fuzz_mcp.c).
 * 1. Reference: CALLS calls of cis_skills_invoke on one handle (the warm
 *    path), median per call.
 * 2. HTTP: CALLS calls of POST /v1/skills/echo/invoke on a server in this
 *    process (1 worker), one loopback connection per call, median per call
 *    from connect to the last byte of the reply.
 * 3. The ratio of the two medians, and the server's added time per call.
 *
 * `loop` is the in-process reference of bench/serve_load.sh: CALLS calls
 * of cis_skills_invoke shared among THREADS threads on one handle (as the
 * server's workers share a tenant's), after a warm-up of 100 a thread;
 * it prints the throughput and the p50 and p99 of a call.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cis/cis_serve.h"

static const uint8_t echo_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x12, 0x03, 0x60,
    0x03, 0x7e, 0x7f, 0x7f, 0x01, 0x7f, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f,
    0x60, 0x00, 0x01, 0x7f, 0x02, 0x2b, 0x02, 0x06, 0x63, 0x69, 0x73, 0x5f,
    0x76, 0x31, 0x0a, 0x69, 0x6e, 0x70, 0x75, 0x74, 0x5f, 0x72, 0x65, 0x61,
    0x64, 0x00, 0x00, 0x06, 0x63, 0x69, 0x73, 0x5f, 0x76, 0x31, 0x0c, 0x6f,
    0x75, 0x74, 0x70, 0x75, 0x74, 0x5f, 0x77, 0x72, 0x69, 0x74, 0x65, 0x00,
    0x01, 0x03, 0x02, 0x01, 0x02, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x15,
    0x02, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, 0x08, 0x63,
    0x69, 0x73, 0x5f, 0x6d, 0x61, 0x69, 0x6e, 0x00, 0x02, 0x0a, 0x1b, 0x01,
    0x19, 0x01, 0x01, 0x7f, 0x42, 0x00, 0x41, 0x00, 0x41, 0x80, 0x80, 0x04,
    0x10, 0x00, 0x21, 0x00, 0x41, 0x00, 0x20, 0x00, 0x10, 0x01, 0x1a, 0x41,
    0x00, 0x0b,
};

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, size_t n) {
  qsort(v, n, sizeof *v, cmp_u64);
  return v[n / 2];
}

/* One HTTP call; 0 when the reply was a 200. */
static int http_call(int port, const char *req, size_t len) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct timeval tv = {30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0 || send(fd, req, len, 0) != (ssize_t)len) {
    if (fd >= 0) close(fd);
    return -1;
  }
  char buf[4096];
  size_t got = 0;
  for (;;) {
    ssize_t k = recv(fd, buf + got, sizeof buf - 1 - got, 0);
    if (k <= 0) break;
    got += (size_t)k;
    if (got == sizeof buf - 1) break;
  }
  close(fd);
  buf[got] = 0;
  return strncmp(buf, "HTTP/1.1 200", 12) == 0 ? 0 : -1;
}

static const char input[] = "{\"text\":\"hello\"}";

/* One thread of `loop`: its share of the calls, each timed. */
typedef struct loop_arg {
  cis_skills *s;
  uint64_t *ns; /* its slice of the latencies */
  size_t n;     /* calls to make */
  int failed;
} loop_arg;

static void *loop_thread(void *p) {
  loop_arg *a = p;
  for (size_t i = 0; i < a->n + 100; i++) {
    cis_invoke_result r;
    uint64_t t0 = now_ns();
    cis_result rc = cis_skills_invoke(a->s, "echo", input, sizeof input - 1, NULL, &r);
    uint64_t dt = now_ns() - t0;
    cis_invoke_result_free(&r);
    if (rc != CIS_OK) {
      a->failed = 1;
      return NULL;
    }
    if (i >= 100) a->ns[i - 100] = dt;
  }
  return NULL;
}

static int loop_main(cis_skills *s, size_t threads, size_t calls) {
  uint64_t *ns = calloc(calls, sizeof *ns);
  loop_arg *a = calloc(threads, sizeof *a);
  pthread_t *th = calloc(threads, sizeof *th);
  if (!ns || !a || !th) return 1;
  size_t off = 0;
  int failed = 0;
  uint64_t t0 = now_ns();
  for (size_t i = 0; i < threads; i++) {
    a[i] = (loop_arg){.s = s, .ns = ns + off, .n = calls / threads + (i < calls % threads)};
    off += a[i].n;
    if (pthread_create(&th[i], NULL, loop_thread, &a[i]) != 0) return 1;
  }
  for (size_t i = 0; i < threads; i++) {
    pthread_join(th[i], NULL);
    failed |= a[i].failed;
  }
  uint64_t wall = now_ns() - t0;
  if (failed) {
    fprintf(stderr, "bench_serve: a call failed: %s\n", cis_skills_errmsg(s));
    return 1;
  }
  qsort(ns, calls, sizeof *ns, cmp_u64);
  size_t i99 = (calls * 99 + 99) / 100;
  printf("calls %zu\nthreads %zu\n", calls, threads);
  /* The warm-up calls are in the wall time: throughput is a floor. */
  printf("throughput %.1f calls/s\n", (double)(calls + 100 * threads) / ((double)wall / 1e9));
  printf("p50 %.1f us\np99 %.1f us\n", ns[calls / 2] / 1e3, ns[i99 ? i99 - 1 : 0] / 1e3);
  free(ns);
  free(a);
  free(th);
  return 0;
}

int main(int argc, char **argv) {
  bool loop = argc > 1 && !strcmp(argv[1], "loop");
  if (loop && argc != 4) {
    fprintf(stderr, "usage: bench_serve [CALLS] | bench_serve loop THREADS CALLS\n");
    return 2;
  }
  size_t threads = loop ? strtoul(argv[2], NULL, 10) : 1;
  if (threads < 1 || threads > 256) threads = 2;
  size_t calls = argc > 1 ? strtoul(argv[loop ? 3 : 1], NULL, 10) : 2000;
  if (calls < 10 || calls > 1000000) calls = 2000;
  char home[] = "/tmp/cis-bench-serve-XXXXXX";
  if (!mkdtemp(home)) return 1;
  char hex[65], manifest[512];
  if (cis_sha256_hex(echo_wasm, sizeof echo_wasm, hex) != CIS_OK) return 1;
  snprintf(manifest, sizeof manifest,
           "{\"name\":\"echo\",\"version\":\"1\",\"abi\":\"cis_v1\",\"wasm\":{\"path\":\"m.wasm\",\"sha256\":\"%s\"}}",
           hex);
  cis_skills_config sc;
  cis_skills_config_default(&sc);
  sc.home = home;
  sc.tenant = "bench";
  cis_skills *s = NULL;
  cis_tokens *t = NULL;
  char token[CIS_TOKEN_MAX];
  if (cis_skills_open(&sc, &s) != CIS_OK ||
      cis_skills_register(s, echo_wasm, sizeof echo_wasm, manifest, strlen(manifest)) != CIS_OK ||
      cis_tokens_open(home, &t) != CIS_OK ||
      cis_tokens_create(t, "bench", NULL, token, sizeof token, NULL) != CIS_OK) {
    fprintf(stderr, "bench_serve: set-up: %s\n", t && cis_tokens_errmsg(t)[0] ? cis_tokens_errmsg(t) : cis_skills_errmsg(s));
    return 1;
  }
  cis_tokens_close(t);
  if (loop) {
    int st = loop_main(s, threads, calls);
    cis_skills_close(s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
    return system(cmd) == 0 ? st : 1;
  }
  uint64_t *ns = malloc(calls * sizeof *ns);
  /* 1. In process. */
  for (size_t i = 0; i < calls + 100; i++) {
    cis_invoke_result r;
    uint64_t t0 = now_ns();
    cis_result rc = cis_skills_invoke(s, "echo", input, sizeof input - 1, NULL, &r);
    uint64_t dt = now_ns() - t0;
    cis_invoke_result_free(&r);
    if (rc != CIS_OK) return 1;
    if (i >= 100) ns[i - 100] = dt;
  }
  uint64_t direct = median(ns, calls);
  /* 2. Over HTTP. */
  cis_server_config c;
  cis_server_config_default(&c);
  const char *listen[] = {"127.0.0.1:0"};
  c.listen = listen;
  c.nlisten = 1;
  c.skills.home = home;
  c.workers = 1;
  cis_server *srv = NULL;
  if (cis_server_start(&c, &srv) != CIS_OK) {
    fprintf(stderr, "bench_serve: server: %s\n", cis_errmsg(srv));
    return 1;
  }
  int port = cis_server_port(srv, 0);
  char req[512];
  int len = snprintf(req, sizeof req,
                     "POST /v1/skills/echo/invoke HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "Authorization: Bearer %s\r\nContent-Length: %zu\r\n\r\n%s",
                     token, sizeof input - 1, input);
  for (size_t i = 0; i < calls + 100; i++) {
    uint64_t t0 = now_ns();
    if (http_call(port, req, (size_t)len) != 0) {
      fprintf(stderr, "bench_serve: an HTTP call failed\n");
      return 1;
    }
    uint64_t dt = now_ns() - t0;
    if (i >= 100) ns[i - 100] = dt;
  }
  uint64_t http = median(ns, calls);
  cis_server_free(srv);
  cis_skills_close(s);
  printf("calls %zu\n", calls);
  printf("direct_median %.2f us\n", direct / 1e3);
  printf("http_median %.2f us\n", http / 1e3);
  printf("http_over_direct %.1f x\n", (double)http / (double)direct);
  printf("http_added %.2f us\n", (double)(http - direct) / 1e3);
  free(ns);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
  return system(cmd) == 0 ? 0 : 1;
}
