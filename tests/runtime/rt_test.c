/*
 * This file implements the helpers the runtime tests share (rt_test.h).
 */
#include "runtime/rt_test.h"

#include "support/test_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

uint8_t *rt_read_fixture(const char *name, size_t *len) {
  uint8_t *buf = cis_test_file_read_in(CIS_RT_WASM_DIR, name, ".wasm", len);
  if (!buf) fail_msg("cannot read fixture %s/%s.wasm", CIS_RT_WASM_DIR, name);
  return buf;
}

cis_module *rt_load(cis_engine *e, const char *name) {
  size_t len = 0;
  uint8_t *bytes = rt_read_fixture(name, &len);
  cis_module *m = NULL;
  cis_result rc = cis_module_new(e, bytes, len, &m);
  free(bytes);
  if (rc != CIS_OK) fail_msg("loading %s: %s: %s", name, cis_errname(rc), cis_errmsg(e));
  return m;
}

cis_engine *rt_engine(void (*tweak)(cis_limits *l)) {
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  if (tweak) tweak(&cfg.limits);
  cis_engine *e = NULL;
  assert_int_equal(cis_engine_new(&cfg, &e), CIS_OK);
  return e;
}

double rt_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}
