/*
 * This file implements the registry the MCP tests share (mcp_fixture.h):
 * skills registered through the public API from the built .wat fixtures,
 * each manifest's wasm.sha256 computed here (cis_sha256_hex).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "mcp/mcp_fixture.h"

static unsigned char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  unsigned char *b = malloc(1 << 20);
  *len = b ? fread(b, 1, 1 << 20, f) : 0;
  fclose(f);
  return b;
}

int mcp_fixture_add(cis_skills *s, const char *dir, const char *name, const char *fixture, const char *extra) {
  char path[512], hex[65], manifest[16384];
  snprintf(path, sizeof path, "%s/%s.wasm", dir, fixture);
  size_t len = 0;
  unsigned char *wasm = read_all(path, &len);
  if (!wasm) {
    fprintf(stderr, "mcp fixture: cannot read %s\n", path);
    return -1;
  }
  if (cis_sha256_hex(wasm, len, hex) != CIS_OK) {
    free(wasm);
    fprintf(stderr, "mcp fixture: cannot hash %s\n", path);
    return -1;
  }
  snprintf(manifest, sizeof manifest,
           "{\"name\":\"%s\",\"version\":\"1.0\",\"abi\":\"cis_v1\",\"wasm\":{\"path\":\"m.wasm\",\"sha256\":\"%s\"}%s}",
           name, hex, extra);
  cis_result rc = cis_skills_register(s, wasm, len, manifest, strlen(manifest));
  free(wasm);
  if (rc != CIS_OK) {
    fprintf(stderr, "mcp fixture: %s: %s: %s\n", name, cis_errname(rc), cis_skills_errmsg(s));
    return -1;
  }
  return 0;
}

static int add(cis_skills *s, const char *dir, const char *name, const char *fixture, const char *extra) {
  return mcp_fixture_add(s, dir, name, fixture, extra);
}

cis_skills *mcp_fixture_open(const char *fixture_dir, char *home, size_t homecap) {
  snprintf(home, homecap, "/tmp/cis-mcp-test-XXXXXX");
  if (!mkdtemp(home)) return NULL;
  cis_skills_config c;
  cis_skills_config_default(&c);
  c.home = home;
  cis_skills *s = NULL;
  if (cis_skills_open(&c, &s) != CIS_OK) {
    fprintf(stderr, "mcp fixture: open: %s\n", cis_skills_errmsg(s));
    cis_skills_close(s);
    return NULL;
  }
  if (add(s, fixture_dir, "echo", "echo_input",
          ",\"description\":\"Answers with its input\",\"input_schema\":" ECHO_SCHEMA) ||
      add(s, fixture_dir, "plain", "echo_input", "") || add(s, fixture_dir, "trap", "trap", "") ||
      add(s, fixture_dir, "spin", "spin", ",\"limits\":{\"timeout_ms\":200}") ||
      add(s, fixture_dir, "fail", "fail", "") ||
      add(s, fixture_dir, "logger", "logger", ",\"permissions\":{\"log\":true}") ||
      add(s, fixture_dir, "numbers", "numbers", "")) {
    cis_skills_close(s);
    return NULL;
  }
  return s;
}

void mcp_fixture_remove(const char *home) {
  char cmd[600];
  if (!home[0] || strncmp(home, "/tmp/cis-mcp-test-", 18) != 0) return;
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
  if (system(cmd) != 0) fprintf(stderr, "mcp fixture: could not remove %s\n", home);
}
