/*
 * This file implements the tests of the tenant boundary where it was
 * found open (issue 14), and of the server's token cache:
 * - `cis mcp --tenant T` serves T's skills, never the default tenant's;
 * - no host path of a CLI-installed skill in what the HTTP API answers
 *   (show, list, an invoke's error, the calls list, MCP), and an install
 *   over HTTP cannot probe the host's folders with host mounts; a store's
 *   own words (hosts, files) stay with the operator over MCP too;
 * - a verified token is cached (by its hash), the cache is bounded, and a
 *   revocation through the same handle or another one on the same SQLite
 *   registry is refused at the next check.
 *
 * argv[1]: the cis program; argv[2]: the folder of the built fixtures.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "cis/cis_serve.h"
#include "cis/cis_skill.h"
#include "serve/http_client.h"
#include "serve/http_internal.h"
#include "serve/serve_fixture.h"

static const char *g_cis, *g_dir;

/* Runs `cis ARGS...` (the interpreter) with CIS_HOME=home and extra_env
 * (one more NAME=VALUE, or NULL), input on its stdin, its stdout into out
 * (cap bytes) and its stderr into err_path when not NULL
 * (serve_run_cis_input). The exit status, or -1. */
static int run_cis_input(const char *home, const char *extra_env, const char *err_path, const char *input, char *out,
                         size_t cap, const char *const *args) {
  char envhome[300];
  snprintf(envhome, sizeof envhome, "CIS_HOME=%s", home);
  char *env[] = {envhome, "PATH=/usr/bin:/bin", "CIS_ENGINE=interp", (char *)extra_env, NULL};
  return serve_run_cis_input(g_cis, env, input, err_path, out, cap, args);
}

/* The start of an MCP session over stdio: initialize, then initialized. */
#define MCP_STDIO_HELLO                                                                                        \
  "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-06-18\","   \
  "\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}\n"                                   \
  "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n"

/* ------------------------------------------------------- cis mcp --tenant */

static void mcp_tenant_serves_the_tenants_skills_only(void **state) {
  (void)state;
  char home[128];
  assert_int_equal(serve_home_new(home, sizeof home), 0);
  cis_skills *d = serve_open(home, NULL), *acme = serve_open(home, "acme");
  assert_non_null(d);
  assert_non_null(acme);
  assert_int_equal(serve_register(d, g_dir, "operators-tool", "echo", "cis_v1", ""), CIS_OK);
  assert_int_equal(serve_register(acme, g_dir, "acme-tool", "echo", "cis_v1", ""), CIS_OK);
  cis_skills_close(d);
  cis_skills_close(acme);
  const char *input =
      MCP_STDIO_HELLO
      "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}\n"
      "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"acme-tool\","
      "\"arguments\":{\"v\":7}}}\n"
      "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":\"operators-tool\","
      "\"arguments\":{}}}\n";
  static char out[64 * 1024];
  const char *args[] = {"mcp", "--tenant", "acme", NULL};
  assert_int_equal(run_cis_input(home, NULL, NULL, input, out, sizeof out, args), 0);
  /* The tenant's own tool is listed and runs; the default tenant's is
   * neither listed nor run. */
  assert_non_null(strstr(out, "\"acme-tool\""));
  assert_null(strstr(out, "\"operators-tool\""));
  const char *r3 = strstr(out, "\"id\":3");
  assert_non_null(r3);
  assert_non_null(strstr(out, "\\\"v\\\":7"));
  const char *r4 = strstr(out, "\"id\":4");
  assert_non_null(r4);
  assert_null(strstr(r4, "\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"{}\"}"));
  /* Without --tenant: the default tenant's, not acme's. */
  const char *dargs[] = {"mcp", NULL};
  assert_int_equal(run_cis_input(home, NULL, NULL, input, out, sizeof out, dargs), 0);
  assert_non_null(strstr(out, "\"operators-tool\""));
  assert_null(strstr(out, "\"acme-tool\""));
  serve_home_remove(home);
}


/* cis mcp over stdio with the KV store out of reach: the tool result has
 * the generic text, the operator's stderr the detail. */
static void mcp_stdio_store_failure_detail_goes_to_stderr_only(void **state) {
  (void)state;
  char home[128], errpath[256];
  assert_int_equal(serve_home_new(home, sizeof home), 0);
  cis_skills *d = serve_open(home, NULL);
  assert_non_null(d);
  assert_int_equal(serve_register(d, g_dir, "kvpair", "kvpair", "cis_v1", ",\"permissions\":{\"kv\":true}"), CIS_OK);
  cis_skills_close(d);
  const char *input =
      MCP_STDIO_HELLO
      "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"kvpair\","
      "\"arguments\":{}}}\n";
  static char out[16 * 1024];
  snprintf(errpath, sizeof errpath, "%s/mcp.err", home);
  const char *args[] = {"mcp", NULL};
  assert_int_equal(run_cis_input(home, "CIS_KV=postgres:host=127.0.0.1 port=1 connect_timeout=2 dbname=cis_secret_db",
                                 errpath, input, out, sizeof out, args),
                   0);
  assert_non_null(strstr(out, "CIS_EKVDOWN"));
  assert_null(strstr(out, "127.0.0.1"));
  FILE *f = fopen(errpath, "r");
  assert_non_null(f);
  char err[4096];
  size_t n = fread(err, 1, sizeof err - 1, f);
  err[n] = 0;
  fclose(f);
  assert_non_null(strstr(err, "cis mcp: kvpair: CIS_EKVDOWN"));
  assert_non_null(strstr(err, "127.0.0.1"));
  serve_home_remove(home);
}

/* -------------------------------------------------- host paths over HTTP */

/* POST /mcp of a stateless (2026-07-28) tools/call of tool with arguments
 * (JSON), as token. */
static int mcp_call(int port, const char *token, const char *tool, const char *arguments, http_resp *r) {
  char body[1024], auth[CIS_TOKEN_MAX + 32];
  snprintf(body, sizeof body,
           "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"%s\","
           "\"arguments\":%s,\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\","
           "\"io.modelcontextprotocol/clientInfo\":{\"name\":\"t\",\"version\":\"1\"},"
           "\"io.modelcontextprotocol/clientCapabilities\":{}}}}",
           tool, arguments);
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
  const char *h[] = {"Content-Type: application/json", "Accept: application/json, text/event-stream",
                     "MCP-Protocol-Version: 2026-07-28", "Mcp-Method: tools/call", auth, NULL};
  return http_request(port, "POST", "/mcp", h, body, strlen(body), 0, r);
}


typedef struct hp {
  char home[128];     /* the server's home */
  char skill[256];    /* the folder the skill was installed from */
  char data[256];     /* the host folder it mounts (granted) */
  char token[CIS_TOKEN_MAX];
  cis_server *s;
  int port;
} hp;

/* Writes len bytes to path; 0 on success. */
static int put_file(const char *path, const void *p, size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t w = fwrite(p, 1, len, f);
  return fclose(f) == 0 && w == len ? 0 : -1;
}

static int hp_teardown(void **state);

/* A default-tenant skill installed by the operator from a folder, with a
 * host mount of a granted folder outside it; a server and a token of the
 * default tenant. */
static int hp_setup(void **state) {
  hp *v = calloc(1, sizeof *v);
  *state = v;
  if (!v || serve_home_new(v->home, sizeof v->home)) goto fail;
  snprintf(v->skill, sizeof v->skill, "%s/skill-src", v->home);
  snprintf(v->data, sizeof v->data, "%s/operators-data", v->home);
  if (mkdir(v->skill, 0755) || mkdir(v->data, 0755)) goto fail;
  size_t len;
  uint8_t *wasm = serve_fixture(g_dir, "nodes_skill", &len); /* WASI files, test_serve_nodes's */
  if (!wasm) goto fail;
  char extra[600], manifest[2048], path[400];
  snprintf(extra, sizeof extra,
           ",\"permissions\":{\"fs\":{\"mounts\":[{\"guest\":\"/data\",\"type\":\"host\",\"source\":\"%s\"}]}}",
           v->data);
  int bad = serve_manifest(wasm, len, "files", "cis_v1", extra, manifest, sizeof manifest);
  snprintf(path, sizeof path, "%s/m.wasm", v->skill);
  bad = bad || put_file(path, wasm, len);
  free(wasm);
  snprintf(path, sizeof path, "%s/skill.json", v->skill);
  if (bad || put_file(path, manifest, strlen(manifest))) goto fail;
  cis_skills *d = serve_open(v->home, NULL);
  if (!d) goto fail;
  const char *allow[] = {v->data};
  cis_install_options opt;
  memset(&opt, 0, sizeof opt);
  opt.allow_host_paths = allow;
  opt.nallow_host_paths = 1;
  cis_result rc = cis_skills_install_ex(d, v->skill, &opt, NULL, 0);
  if (rc != CIS_OK) fprintf(stderr, "install: %s\n", cis_skills_errmsg(d));
  cis_skills_close(d);
  if (rc != CIS_OK) goto fail;
  if (serve_token(v->home, "default", "ops", v->token, sizeof v->token) != CIS_OK) goto fail;
  cis_server_config c;
  serve_config_loopback(&c, v->home, 2);
  if (cis_server_start(&c, &v->s) != CIS_OK) {
    fprintf(stderr, "server: %s\n", cis_errmsg(v->s));
    cis_server_free(v->s);
    v->s = NULL;
    goto fail;
  }
  v->port = cis_server_port(v->s, 0);
  return 0;
fail:
  hp_teardown(state);
  *state = NULL;
  return -1;
}

static int hp_teardown(void **state) {
  hp *v = *state;
  if (!v) return 0;
  cis_server_free(v->s);
  if (v->home[0]) serve_home_remove(v->home);
  free(v);
  return 0;
}

/* Whether body names the home, where every host folder of the test is. */
static void no_host_path(const hp *v, const http_resp *r) {
  if (r->body && strstr(r->body, v->home)) fprintf(stderr, "leaks a host path: %s\n", r->body);
  assert_null(r->body ? strstr(r->body, v->home) : NULL);
}

static void show_over_http_names_no_host_path(void **state) {
  hp *v = *state;
  http_resp r;
  assert_int_equal(http_get(v->port, "/v1/skills/files", v->token, &r), 0);
  assert_int_equal(r.status, 200);
  no_host_path(v, &r);
  /* The rest of the answer is there: the mount, its type, the grant. */
  assert_non_null(strstr(r.body, "\"guest\""));
  assert_non_null(strstr(r.body, "\"host\""));
  assert_non_null(strstr(r.body, "\"grants\""));
  http_resp_free(&r);
  assert_int_equal(http_get(v->port, "/v1/skills", v->token, &r), 0);
  assert_int_equal(r.status, 200);
  no_host_path(v, &r);
  http_resp_free(&r);
  /* The library's own show (the operator's, cis skill show) still names
   * them. */
  cis_skills *d = serve_open(v->home, NULL);
  assert_non_null(d);
  char *json = NULL;
  assert_int_equal(cis_skills_show(d, "files", &json), CIS_OK);
  assert_non_null(strstr(json, v->data));
  free(json);
  cis_skills_close(d);
}

static void invoke_error_over_http_names_no_host_path(void **state) {
  hp *v = *state;
  http_resp r;
  assert_int_equal(http_send(v->port, "POST", "/v1/skills/files/invoke", v->token, "{\"op\":\"read\"}", &r), 0);
  assert_int_equal(r.status, 200);
  http_resp_free(&r);
  /* The granted folder gone: the call fails, saying which mount. */
  assert_int_equal(rmdir(v->data), 0);
  assert_int_equal(http_send(v->port, "POST", "/v1/skills/files/invoke", v->token, "{\"op\":\"read\"}", &r), 0);
  if (r.status != 422) fprintf(stderr, "%d %s\n", r.status, r.body);
  assert_int_equal(r.status, 422);
  no_host_path(v, &r);
  assert_non_null(strstr(r.body, "permissions.fs.mounts[0]"));
  http_resp_free(&r);
  assert_int_equal(http_get(v->port, "/v1/calls", v->token, &r), 0);
  assert_int_equal(r.status, 200);
  no_host_path(v, &r);
  http_resp_free(&r);
  assert_int_equal(mcp_call(v->port, v->token, "files", "{\"op\":\"read\"}", &r), 0);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.body, "isError"));
  assert_non_null(strstr(r.body, "permissions.fs.mounts[0]"));
  no_host_path(v, &r);
  http_resp_free(&r);
}


/* An install over HTTP with a host mount: the same refusal whether the
 * folder exists or not, naming neither (no probing of the host). */
static void install_with_a_host_mount_is_refused_without_probing_the_host(void **state) {
  hp *v = *state;
  const char *sources[] = {v->data, "/nonexistent-cis-probe", "/etc"};
  char first[512] = "";
  for (size_t i = 0; i < 3; i++) {
    char extra[600];
    snprintf(extra, sizeof extra,
             ",\"permissions\":{\"fs\":{\"mounts\":[{\"guest\":\"/m\",\"type\":\"mem\"},"
             "{\"guest\":\"/h\",\"type\":\"host\",\"source\":\"%s\"}]}}",
             sources[i]);
    char *body = serve_install_request(g_dir, "echo", "probe", "cis_v1", extra);
    assert_non_null(body);
    http_resp r;
    assert_int_equal(http_send(v->port, "POST", "/v1/skills", v->token, body, &r), 0);
    free(body);
    assert_int_equal(r.status, 422);
    assert_non_null(strstr(r.body, "CIS_EDENIED"));
    assert_non_null(strstr(r.body, "permissions.fs.mounts[1]"));
    assert_null(strstr(r.body, sources[i]));
    if (i == 0) snprintf(first, sizeof first, "%s", r.body);
    else assert_string_equal(r.body, first);
    http_resp_free(&r);
  }
}


/* A store out of reach: its own words (hosts, files) stay in the server,
 * over /mcp as over /v1/skills/{name}/invoke (503 with the generic text
 * there; the error's name and generic text in the tool result here). */
static void store_failure_words_stay_in_the_server_over_mcp(void **state) {
  (void)state;
  char home[128];
  assert_int_equal(serve_home_new(home, sizeof home), 0);
  cis_skills *d = serve_open(home, NULL);
  assert_non_null(d);
  assert_int_equal(serve_register(d, g_dir, "kvpair", "kvpair", "cis_v1", ",\"permissions\":{\"kv\":true}"), CIS_OK);
  cis_skills_close(d);
  char tok[CIS_TOKEN_MAX];
  assert_int_equal(serve_token(home, "default", "ops", tok, sizeof tok), CIS_OK);
  cis_server_config c;
  serve_config_loopback(&c, home, 2);
  /* Nothing listens on port 1: every KV call finds the store down. */
  c.skills.kv_spec = "postgres:host=127.0.0.1 port=1 connect_timeout=2 dbname=cis_secret_db";
  cis_server *s = NULL;
  assert_int_equal(cis_server_start(&c, &s), CIS_OK);
  int port = cis_server_port(s, 0);
  http_resp r;
  assert_int_equal(http_send(port, "POST", "/v1/skills/kvpair/invoke", tok, "\"k1\"", &r), 0);
  assert_int_equal(r.status, 503);
  assert_null(strstr(r.body, "cis_secret_db"));
  assert_null(strstr(r.body, "127.0.0.1"));
  http_resp_free(&r);
  assert_int_equal(mcp_call(port, tok, "kvpair", "{}", &r), 0);
  assert_int_equal(r.status, 200);
  if (r.body && (strstr(r.body, "cis_secret_db") || strstr(r.body, "127.0.0.1"))) fprintf(stderr, "%s\n", r.body);
  assert_non_null(r.body);
  assert_non_null(strstr(r.body, "isError"));
  assert_non_null(strstr(r.body, "CIS_EKVDOWN"));
  assert_null(strstr(r.body, "cis_secret_db"));
  assert_null(strstr(r.body, "127.0.0.1"));
  http_resp_free(&r);
  cis_server_free(s);
  serve_home_remove(home);
}

/* ---------------------------------------------------------- token cache */

typedef struct tk {
  char home[128];
  cis_tokens *a, *b; /* two handles on one home's token store */
} tk;

static int tk_setup(void **state) {
  tk *v = calloc(1, sizeof *v);
  if (!v || serve_home_new(v->home, sizeof v->home)) return -1;
  if (cis_tokens_open(v->home, &v->a) != CIS_OK || cis_tokens_open(v->home, &v->b) != CIS_OK)
    return -1;
  *state = v;
  return 0;
}

static int tk_teardown(void **state) {
  tk *v = *state;
  cis_tokens_close(v->a);
  cis_tokens_close(v->b);
  serve_home_remove(v->home);
  free(v);
  return 0;
}

static cis_result check(cis_tokens *t, const char *tok) {
  char who[CIS_TOKEN_NAME_MAX + 1];
  return cis_tokens_check(t, tok, strlen(tok), who, sizeof who);
}

static void verified_token_is_cached_by_its_hash(void **state) {
  tk *v = *state;
  char tok[CIS_TOKEN_MAX], who[CIS_TOKEN_NAME_MAX + 1];
  assert_int_equal(cis_tokens_create(v->a, "acme", "c1", tok, sizeof tok, NULL), CIS_OK);
  assert_int_equal(cis__tokens_cached(v->a), 0);
  assert_int_equal(cis_tokens_check(v->a, tok, strlen(tok), who, sizeof who), CIS_OK);
  assert_string_equal(who, "acme");
  assert_int_equal(cis__tokens_cached(v->a), 1);
  memset(who, 0, sizeof who);
  assert_int_equal(cis_tokens_check(v->a, tok, strlen(tok), who, sizeof who), CIS_OK); /* from the cache */
  assert_string_equal(who, "acme");
  assert_int_equal(cis__tokens_cached(v->a), 1);
  /* A wrong token is never kept, even one of a live id. */
  char bad[CIS_TOKEN_MAX];
  snprintf(bad, sizeof bad, "%s", tok);
  bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == '0' ? '1' : '0';
  assert_int_equal(check(v->a, bad), CIS_EDENIED);
  assert_int_equal(cis__tokens_cached(v->a), 1);
}

static void revoked_through_the_same_handle_is_refused_at_once(void **state) {
  tk *v = *state;
  char tok[CIS_TOKEN_MAX];
  assert_int_equal(cis_tokens_create(v->a, "acme", "c2", tok, sizeof tok, NULL), CIS_OK);
  assert_int_equal(check(v->a, tok), CIS_OK);
  assert_int_equal(check(v->a, tok), CIS_OK);
  assert_int_equal(cis_tokens_revoke(v->a, "c2"), CIS_OK);
  assert_int_equal(cis__tokens_cached(v->a), 0);
  assert_int_equal(check(v->a, tok), CIS_EDENIED);
}

static void revoked_through_another_handle_is_refused_at_the_next_check(void **state) {
  tk *v = *state;
  char tok[CIS_TOKEN_MAX], keep[CIS_TOKEN_MAX];
  assert_int_equal(cis_tokens_create(v->a, "acme", "c3", tok, sizeof tok, NULL), CIS_OK);
  assert_int_equal(cis_tokens_create(v->a, "acme", "c4", keep, sizeof keep, NULL), CIS_OK);
  assert_int_equal(check(v->a, tok), CIS_OK);
  assert_int_equal(check(v->a, keep), CIS_OK);
  assert_int_equal(cis__tokens_cached(v->a), 2);
  /* Another handle (another process, `cis token revoke`) revokes. */
  assert_int_equal(cis_tokens_revoke(v->b, "c3"), CIS_OK);
  assert_int_equal(check(v->a, tok), CIS_EDENIED);
  assert_int_equal(check(v->a, keep), CIS_OK);
}

/* Runs sql on registry.db through a connection of its own, as another
 * process (the registry's installs share the file); returns it open when
 * keep (the caller closes it), else NULL. */
static sqlite3 *exec_on_registry(const char *home, const char *sql, bool keep) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/registry.db", home);
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  if (keep) return db;
  sqlite3_close(db);
  return NULL;
}

/* Deletes token row `name` straight in registry.db, as the sqlite3 shell
 * would: no counter moves. */
static void delete_behind_cis(const char *home, const char *name) {
  char sql[128];
  snprintf(sql, sizeof sql, "DELETE FROM tokens WHERE name = '%s'", name);
  sqlite3 *db = exec_on_registry(home, sql, true);
  assert_int_equal(sqlite3_changes(db), 1);
  sqlite3_close(db);
}

/* A revocation through cis moves the counter every handle reads; a row
 * deleted behind cis's back moves the tokens table's change count (its
 * triggers), read once per CIS__TOKENS_POLL_MS. */
static void a_row_deleted_behind_cis_is_refused_within_the_poll_bound(void **state) {
  tk *v = *state;
  char tok[CIS_TOKEN_MAX];
  assert_int_equal(cis_tokens_create(v->a, "acme", "c5", tok, sizeof tok, NULL), CIS_OK);
  assert_int_equal(check(v->a, tok), CIS_OK);
  delete_behind_cis(v->home, "c5");
  cis_result rc = CIS_OK;
  for (int i = 0; i < 100 && rc == CIS_OK; i++) { /* 5 s at most: 1 s and load */
    rc = check(v->a, tok);
    if (rc == CIS_OK) usleep(50 * 1000);
  }
  assert_int_equal(rc, CIS_EDENIED);
}

/* Without the counter's file (here a folder stands in its way), every
 * check reads the change count: a deletion anywhere is seen at once. */
static void without_the_counter_file_every_check_reads_the_database(void **state) {
  (void)state;
  char home[256], gen[PATH_MAX];
  assert_int_equal(serve_home_new(home, sizeof home), 0);
  snprintf(gen, sizeof gen, "%s/registry.db-tokens.gen", home);
  assert_int_equal(mkdir(gen, 0700), 0);
  cis_tokens *t = NULL;
  assert_int_equal(cis_tokens_open(home, &t), CIS_OK);
  char tok[CIS_TOKEN_MAX];
  assert_int_equal(cis_tokens_create(t, "acme", "c6", tok, sizeof tok, NULL), CIS_OK);
  assert_int_equal(check(t, tok), CIS_OK);
  assert_int_equal(check(t, tok), CIS_OK); /* cached */
  delete_behind_cis(home, "c6");
  assert_int_equal(check(t, tok), CIS_EDENIED);
  cis_tokens_close(t);
  rmdir(gen);
  serve_home_remove(home);
}


/* Commits to the registry's file that leave the tokens alone (a skill's
 * install or removal) leave the cache full past the poll: SQLite's
 * data_version, which moves with them, emptied it every poll, and each
 * request after paid a read that waited for the next install's commit. */
static void other_commits_to_the_file_leave_the_cache_full(void **state) {
  tk *v = *state;
  char tok[CIS_TOKEN_MAX];
  assert_int_equal(cis_tokens_create(v->a, "acme", "c7", tok, sizeof tok, NULL), CIS_OK);
  assert_int_equal(check(v->a, tok), CIS_OK);
  uint64_t emptied = cis__tokens_emptied(v->a);
  for (int i = 0; i < 3; i++) {
    exec_on_registry(v->home, "CREATE TABLE IF NOT EXISTS other(x); INSERT INTO other VALUES (1)", false);
    usleep((CIS__TOKENS_POLL_MS + 100) * 1000);
    assert_int_equal(check(v->a, tok), CIS_OK);
  }
  assert_int_equal(cis__tokens_emptied(v->a), emptied);
  /* A change to the tokens table still empties it. */
  exec_on_registry(v->home, "UPDATE tokens SET created_at = created_at + 1 WHERE name = 'c7'", false);
  usleep((CIS__TOKENS_POLL_MS + 100) * 1000);
  assert_int_equal(check(v->a, tok), CIS_OK);
  assert_true(cis__tokens_emptied(v->a) > emptied);
}

/* A store made before the change count (schema 1) gets it at its next
 * open, and a row deleted behind cis's back is seen as on a new one. */
static void a_store_made_before_the_change_count_gets_it_at_open(void **state) {
  (void)state;
  char home[256], tok[CIS_TOKEN_MAX];
  assert_int_equal(serve_home_new(home, sizeof home), 0);
  cis_tokens *t = NULL;
  assert_int_equal(cis_tokens_open(home, &t), CIS_OK);
  assert_int_equal(cis_tokens_create(t, "acme", "c9", tok, sizeof tok, NULL), CIS_OK);
  cis_tokens_close(t);
  exec_on_registry(home,
                   "DROP TRIGGER tokens_changes_insert; DROP TRIGGER tokens_changes_update;"
                   " DROP TRIGGER tokens_changes_delete; DROP TABLE tokens_changes;"
                   " UPDATE cis_schema SET version = 1 WHERE service = 'tokens'",
                   false);
  assert_int_equal(cis_tokens_open(home, &t), CIS_OK);
  assert_int_equal(check(t, tok), CIS_OK);
  delete_behind_cis(home, "c9");
  cis_result rc = CIS_OK;
  for (int i = 0; i < 100 && rc == CIS_OK; i++) { /* 5 s at most: 1 s and load */
    rc = check(t, tok);
    if (rc == CIS_OK) usleep(50 * 1000);
  }
  assert_int_equal(rc, CIS_EDENIED);
  cis_tokens_close(t);
  serve_home_remove(home);
}

typedef struct late_check {
  cis_tokens *t;
  const char *tok;
  atomic_bool released; /* set by the holder just before it lets go */
  bool after_release;   /* the check returned after that */
  cis_result rc;
} late_check;

static void *check_thread(void *p) {
  late_check *l = p;
  l->rc = check(l->t, l->tok);
  l->after_release = atomic_load(&l->released);
  return NULL;
}

/* A poll that finds the file locked by another connection (an install's
 * commit) goes on with the cache, and reads again at the next check; once
 * its last good read is two polls old, it waits for the lock as before,
 * so a lock held for long does not stretch the bound on changes made
 * behind cis's back. */
static void a_poll_that_finds_the_file_locked_keeps_the_cache_for_two_polls(void **state) {
  tk *v = *state;
  char tok[CIS_TOKEN_MAX];
  assert_int_equal(cis_tokens_create(v->a, "acme", "c8", tok, sizeof tok, NULL), CIS_OK);
  assert_int_equal(check(v->a, tok), CIS_OK);
  sqlite3 *hold = exec_on_registry(v->home, "BEGIN EXCLUSIVE", true);
  usleep((CIS__TOKENS_POLL_MS + 100) * 1000);
  uint64_t emptied = cis__tokens_emptied(v->a);
  assert_int_equal(check(v->a, tok), CIS_OK); /* due, locked: from the cache */
  assert_int_equal(check(v->a, tok), CIS_OK);
  assert_int_equal(cis__tokens_emptied(v->a), emptied);
  usleep(CIS__TOKENS_POLL_MS * 1000);
  late_check l = {.t = v->a, .tok = tok};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, check_thread, &l), 0);
  usleep(300 * 1000);
  atomic_store(&l.released, true);
  assert_int_equal(sqlite3_exec(hold, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(hold);
  assert_int_equal(pthread_join(th, NULL), 0);
  assert_int_equal(l.rc, CIS_OK);
  assert_true(l.after_release); /* two polls old: it waited for the lock */
}

static void token_cache_is_bounded(void **state) {
  tk *v = *state;
  enum { N = CIS__TOKEN_CACHE_MAX + 8 };
  char(*toks)[CIS_TOKEN_MAX] = calloc(N, CIS_TOKEN_MAX);
  assert_non_null(toks);
  for (int i = 0; i < N; i++) {
    char name[32];
    snprintf(name, sizeof name, "many-%d", i);
    assert_int_equal(cis_tokens_create(v->a, "acme", name, toks[i], CIS_TOKEN_MAX, NULL), CIS_OK);
  }
  for (int i = 0; i < N; i++) {
    assert_int_equal(check(v->a, toks[i]), CIS_OK);
    assert_true(cis__tokens_cached(v->a) <= CIS__TOKEN_CACHE_MAX);
  }
  /* Every token still checks, cached or not. */
  for (int i = 0; i < N; i++) assert_int_equal(check(v->a, toks[i]), CIS_OK);
  assert_true(cis__tokens_cached(v->a) >= 1);
  free(toks);
}

int main(int argc, char **argv) {
  g_cis = argc > 1 ? argv[1] : "cis";
  g_dir = argc > 2 ? argv[2] : ".";
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(mcp_tenant_serves_the_tenants_skills_only),
      cmocka_unit_test(mcp_stdio_store_failure_detail_goes_to_stderr_only),
      cmocka_unit_test_setup_teardown(show_over_http_names_no_host_path, hp_setup, hp_teardown),
      cmocka_unit_test_setup_teardown(invoke_error_over_http_names_no_host_path, hp_setup, hp_teardown),
      cmocka_unit_test_setup_teardown(install_with_a_host_mount_is_refused_without_probing_the_host, hp_setup,
                                      hp_teardown),
      cmocka_unit_test(store_failure_words_stay_in_the_server_over_mcp),
      cmocka_unit_test_setup_teardown(verified_token_is_cached_by_its_hash, tk_setup, tk_teardown),
      cmocka_unit_test_setup_teardown(revoked_through_the_same_handle_is_refused_at_once, tk_setup, tk_teardown),
      cmocka_unit_test_setup_teardown(revoked_through_another_handle_is_refused_at_the_next_check, tk_setup,
                                      tk_teardown),
      cmocka_unit_test_setup_teardown(a_row_deleted_behind_cis_is_refused_within_the_poll_bound, tk_setup,
                                      tk_teardown),
      cmocka_unit_test(without_the_counter_file_every_check_reads_the_database),
      cmocka_unit_test_setup_teardown(other_commits_to_the_file_leave_the_cache_full, tk_setup, tk_teardown),
      cmocka_unit_test(a_store_made_before_the_change_count_gets_it_at_open),
      cmocka_unit_test_setup_teardown(a_poll_that_finds_the_file_locked_keeps_the_cache_for_two_polls, tk_setup,
                                      tk_teardown),
      cmocka_unit_test_setup_teardown(token_cache_is_bounded, tk_setup, tk_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
