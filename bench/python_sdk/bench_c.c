/*
 * This file implements the C side of bench/python_sdk.sh: the warm calls
 * that the Python SDK's side (bench_py.py) repeats through ctypes, timed
 * the same way, so the difference is what Python adds. Public C API only.
 * It prints "key value unit" lines:
 *
 *   invoke_median_ns  a warm cis_skills_invoke of the trivial skill
 *                     (bench/warm/trivial.wat, installed from memory),
 *                     median of CALLS single calls after a warm-up
 *   call_ns           a cis_func_call of an exported i32 add on one
 *                     instance, per call, in batches of 1000 (median batch)
 *
 *   bench_c TRIVIAL.wasm HOME [CALLS]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cis/cis_skill.h"

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

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = n > 0 ? malloc((size_t)n) : NULL;
  if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
    free(b);
    b = NULL;
  }
  fclose(f);
  *len = (size_t)n;
  return b;
}

/* Warm invokes of the trivial skill; the median single call in ns. */
static int bench_invoke(const char *wasm_path, const char *home, size_t calls, uint64_t *out) {
  size_t len;
  uint8_t *wasm = read_file(wasm_path, &len);
  if (!wasm) return fprintf(stderr, "bench_c: cannot read %s\n", wasm_path), 1;
  char sha[65], manifest[512];
  if (cis_sha256_hex(wasm, len, sha) != CIS_OK) return 1;
  snprintf(manifest, sizeof manifest,
           "{\"name\":\"trivial\",\"version\":\"1.0.0\",\"abi\":\"cis_v1\","
           "\"wasm\":{\"path\":\"trivial.wasm\",\"sha256\":\"%s\"}}", sha);
  cis_skills_config cfg;
  cis_skills_config_default(&cfg);
  cfg.home = home;
  cfg.engine = "interp";
  cis_skills *s = NULL;
  if (cis_skills_open(&cfg, &s) != CIS_OK)
    return fprintf(stderr, "bench_c: open: %s\n", cis_skills_errmsg(s)), 1;
  int rc = 1;
  uint64_t *t = calloc(calls, sizeof *t);
  if (!t || cis_skills_register(s, wasm, len, manifest, strlen(manifest)) != CIS_OK) {
    fprintf(stderr, "bench_c: register: %s\n", cis_skills_errmsg(s));
    goto fail;
  }
  for (size_t i = 0; i < calls / 10 + 100; i++) { /* warm-up: module cache, KV, allocator */
    cis_invoke_result r;
    cis_result st = cis_skills_invoke(s, "trivial", "{}", 2, NULL, &r);
    cis_invoke_result_free(&r);
    if (st != CIS_OK) goto fail;
  }
  for (size_t i = 0; i < calls; i++) {
    cis_invoke_result r;
    uint64_t t0 = now_ns();
    cis_result st = cis_skills_invoke(s, "trivial", "{}", 2, NULL, &r);
    t[i] = now_ns() - t0;
    if (st != CIS_OK || r.output_len != 2) {
      fprintf(stderr, "bench_c: invoke: %s\n", r.error);
      cis_invoke_result_free(&r);
      goto fail;
    }
    cis_invoke_result_free(&r);
  }
  *out = median(t, calls);
  rc = 0;
fail:
  free(t);
  free(wasm);
  cis_skills_close(s);
  return rc;
}

/* cis_func_call of add(1, 2) on one instance; ns per call. */
static int bench_call(uint64_t *out) {
  static const char wat[] = "(module (func (export \"add\") (param i32 i32) (result i32)"
                            " local.get 0 local.get 1 i32.add))";
  cis_engine_config ec;
  cis_engine_config_default(&ec);
  ec.engine = "interp";
  cis_engine *e = NULL;
  cis_module *m = NULL;
  cis_instance *inst = NULL;
  int rc = 1;
  enum { BATCH = 1000, BATCHES = 101 };
  uint64_t t[BATCHES];
  if (cis_engine_new(&ec, &e) != CIS_OK || cis_module_new_text(e, wat, sizeof wat - 1, &m) != CIS_OK ||
      cis_instance_new(m, NULL, NULL, &inst) != CIS_OK)
    goto fail;
  cis_func *f = cis_instance_func(inst, "add");
  cis_val args[2] = {{.type = CIS_I32, .of.i32 = 1}, {.type = CIS_I32, .of.i32 = 2}};
  cis_val res[1];
  for (int b = 0; b < BATCHES; b++) {
    uint64_t t0 = now_ns();
    for (int i = 0; i < BATCH; i++)
      if (cis_func_call(inst, f, args, 2, res, 1) != CIS_OK || res[0].of.i32 != 3) goto fail;
    t[b] = now_ns() - t0;
  }
  *out = median(t, BATCHES) / BATCH;
  rc = 0;
fail:
  cis_instance_free(inst);
  cis_module_free(m);
  cis_engine_free(e);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 3) return fprintf(stderr, "usage: bench_c TRIVIAL.wasm HOME [CALLS]\n"), 2;
  size_t calls = argc > 3 ? strtoul(argv[3], NULL, 10) : 20000;
  if (!calls) calls = 1;
  uint64_t inv = 0, call = 0;
  if (bench_invoke(argv[1], argv[2], calls, &inv) || bench_call(&call)) return 1;
  printf("invoke_median_ns %llu ns\n", (unsigned long long)inv);
  printf("call_ns %llu ns\n", (unsigned long long)call);
  return 0;
}
