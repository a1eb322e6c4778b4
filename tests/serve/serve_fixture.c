/*
 * This file implements what the server tests share (serve_fixture.h):
 * temporary homes, per-tenant handles and skills registered from the
 * built fixtures through the public API.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "serve/serve_fixture.h"

int serve_home_new(char *home, size_t cap) {
  snprintf(home, cap, "/tmp/cis-serve-test-XXXXXX");
  return mkdtemp(home) ? 0 : -1;
}

void serve_home_remove(const char *home) {
  char cmd[600];
  if (!home[0] || strncmp(home, "/tmp/cis-serve-test-", 20) != 0) return;
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
  if (system(cmd) != 0) fprintf(stderr, "serve fixture: could not remove %s\n", home);
}

cis_skills *serve_open(const char *home, const char *tenant) {
  cis_skills_config c;
  cis_skills_config_default(&c);
  c.home = home;
  c.tenant = tenant;
  char err[256] = "";
  cis_skills *s = NULL;
  if (cis_skills_open(&c, &s, err, sizeof err) != CIS_OK) {
    fprintf(stderr, "serve fixture: open: %s\n", err);
    return NULL;
  }
  return s;
}

uint8_t *serve_fixture(const char *dir, const char *name, size_t *len) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s.wasm", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  uint8_t *b = malloc(1 << 16);
  *len = b ? fread(b, 1, 1 << 16, f) : 0;
  fclose(f);
  return b;
}

int serve_manifest(const uint8_t *wasm, size_t len, const char *name, const char *abi, const char *extra,
                   char *out, size_t cap) {
  char hex[65];
  if (cis_sha256_hex(wasm, len, hex) != CIS_OK) return -1;
  int n = snprintf(out, cap,
                   "{\"name\":\"%s\",\"version\":\"1.0\",\"abi\":\"%s\",\"wasm\":{\"path\":\"m.wasm\",\"sha256\":"
                   "\"%s\"}%s}",
                   name, abi, hex, extra);
  return n > 0 && (size_t)n < cap ? 0 : -1;
}

cis_result serve_register(cis_skills *s, const char *dir, const char *name, const char *fixture, const char *abi,
                          const char *extra) {
  size_t len = 0;
  uint8_t *wasm = serve_fixture(dir, fixture, &len);
  if (!wasm) return CIS_ENOTFOUND;
  char manifest[2048];
  cis_result rc = CIS_EINVAL;
  if (serve_manifest(wasm, len, name, abi, extra, manifest, sizeof manifest) == 0)
    rc = cis_skills_register(s, wasm, len, manifest, strlen(manifest));
  if (rc != CIS_OK) fprintf(stderr, "serve fixture: %s: %s: %s\n", name, cis_errname(rc), cis_skills_errmsg(s));
  free(wasm);
  return rc;
}
