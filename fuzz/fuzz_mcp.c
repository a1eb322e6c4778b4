/*
 * fuzz_mcp.c -- libFuzzer entry point of the fuzz_mcp target.
 *
 * This file implements LLVMFuzzerTestOneInput for fuzz_mcp: each input is
 * a stream of JSON-RPC messages, one per line, as `cis mcp` reads them. A
 * fresh cis_mcp session handles the whole input as one message, then each
 * line in turn (so initialize, then tools/list and tools/call, reach the
 * methods behind the handshake), checking that every reply is one line of
 * JSON, one reply object or (for a batch) a non-empty array of them, and
 * that a message without an id (a notification) gets none.
 *
 * The registry is made once in a temporary folder: "echo" (answers with
 * its input, with an input_schema), "strict" (the same module under a
 * schema using every keyword the arguments check knows) and "trap" (traps
 * at once), from the modules below (tests/mcp/echo_input.wat and
 * trap.wat). tools/list pages two tools at a time, so cursors are read
 * and made; notifications/cancelled reaches the flight list (nothing is
 * in flight: calls run on this thread).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cis/cis_mcp.h"
#include "common/json.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
static const uint8_t trap_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60,
    0x00, 0x01, 0x7f, 0x03, 0x02, 0x01, 0x00, 0x05, 0x03, 0x01, 0x00, 0x01,
    0x07, 0x15, 0x02, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00,
    0x08, 0x63, 0x69, 0x73, 0x5f, 0x6d, 0x61, 0x69, 0x6e, 0x00, 0x00, 0x0a,
    0x05, 0x01, 0x03, 0x00, 0x00, 0x0b,
};

static char root[64] = "/tmp/cis-fuzz-mcp-XXXXXX"; /* the registry's home */
static cis_skills *skills;

static void cleanup(void) {
  cis_skills_close(skills);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  if (system(cmd) != 0) fprintf(stderr, "fuzz_mcp: could not remove %s\n", root);
}

static void add(const char *name, const uint8_t *wasm, size_t len, const char *extra) {
  char hex[65], manifest[2048];
  if (cis_sha256_hex(wasm, len, hex) != CIS_OK) abort();
  snprintf(manifest, sizeof manifest,
           "{\"name\":\"%s\",\"version\":\"1\",\"abi\":\"cis_v1\",\"wasm\":{\"path\":\"m.wasm\",\"sha256\":\"%s\"},"
           "\"limits\":{\"timeout_ms\":1000}%s}",
           name, hex, extra);
  if (cis_skills_register(skills, wasm, len, manifest, strlen(manifest)) != CIS_OK) {
    fprintf(stderr, "fuzz_mcp: %s: %s\n", name, cis_skills_errmsg(skills));
    abort();
  }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  if (!mkdtemp(root)) abort();
  cis_skills_config c;
  cis_skills_config_default(&c);
  c.home = root;
  c.engine = "interp"; /* no compile forked for the skills an input installs */
  if (cis_skills_open(&c, &skills) != CIS_OK) {
    fprintf(stderr, "fuzz_mcp: %s\n", cis_skills_errmsg(skills));
    abort();
  }
  atexit(cleanup);
  add("echo", echo_wasm, sizeof echo_wasm,
      ",\"input_schema\":{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\"}}}");
  add("strict", echo_wasm, sizeof echo_wasm,
      ",\"input_schema\":{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"mode\"],"
      "\"properties\":{\"mode\":{\"enum\":[\"fast\",\"slow\"]},\"n\":{\"type\":[\"integer\",\"null\"],"
      "\"minimum\":0,\"maximum\":9},\"tags\":{\"type\":\"array\",\"maxItems\":3,\"items\":{\"type\":"
      "\"string\",\"minLength\":1,\"const\":\"a\"}},\"o\":{\"type\":\"object\",\"additionalProperties\":"
      "{\"type\":\"boolean\"}}}}");
  add("trap", trap_wasm, sizeof trap_wasm, "");
  return 0;
}

/* Stops the run, showing the reply that broke the rule. */
static void bad_reply(const char *why, const char *reply) {
  fprintf(stderr, "fuzz_mcp: %s: %.2000s\n", why, reply);
  abort();
}

/* Whether msg is a well-formed JSON-RPC notification: a request object
 * with a method and no id, which never gets a reply. Judged by the strict
 * parser MCP reads messages with (cis__json_parse_strict), so cJSON's
 * leniency (invalid UTF-8, a number such as 03) does not count a message
 * cis rightly refuses as a parse error. */
static int is_notification(const char *msg, size_t len) {
  cJSON *d = NULL;
  char why[160];
  if (cis__json_parse_strict(msg, len, true, &d, why, sizeof why) != CIS_OK) return 0;
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(d, "jsonrpc");
  int yes = cJSON_IsObject(d) && cJSON_IsString(v) && strcmp(v->valuestring, "2.0") == 0 &&
            cJSON_IsString(cJSON_GetObjectItemCaseSensitive(d, "method")) &&
            !cJSON_GetObjectItemCaseSensitive(d, "id");
  cJSON_Delete(d);
  return yes;
}

/* Handles one message and checks the shape of its reply. */
static void one(cis_mcp *m, const char *msg, size_t len) {
  char *reply = NULL;
  size_t rlen = 0;
  if (cis_mcp_handle(m, msg, len, &reply, &rlen) != CIS_OK) abort();
  if (!reply) return;
  if (is_notification(msg, len)) bad_reply("a reply to a notification", reply);
  if (rlen != strlen(reply) || memchr(reply, '\n', rlen)) bad_reply("not one line", reply);
  cJSON *d = cJSON_Parse(reply);
  if (!d) bad_reply("not JSON", reply);
  /* A batch (2025-03-26 allows them) gets a non-empty array of replies. */
  if (cJSON_IsArray(d) && cJSON_GetArraySize(d) == 0) bad_reply("an empty batch reply", reply);
  const cJSON *r = cJSON_IsArray(d) ? d->child : d;
  for (; r; r = cJSON_IsArray(d) ? r->next : NULL) {
    if (!cJSON_IsObject(r)) bad_reply("not a JSON object", reply);
    /* A reply has exactly one of result and error. */
    int has = !!cJSON_GetObjectItemCaseSensitive(r, "result") + !!cJSON_GetObjectItemCaseSensitive(r, "error");
    if (has != 1) bad_reply("not exactly one of result and error", reply);
  }
  cJSON_Delete(d);
  free(reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cis_mcp_config c = {.skills = skills, .tenant = "fuzz", .max_message = 65536, .page_size = 2};
  cis_mcp *m = NULL;
  if (cis_mcp_new(&c, &m) != CIS_OK) abort();
  one(m, (const char *)data, size);
  const char *p = (const char *)data, *end = p + size;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = (size_t)((nl ? nl : end) - p);
    one(m, p, n);
    p += n + 1;
  }
  cis_mcp_free(m);
  return 0;
}
