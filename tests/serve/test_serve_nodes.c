/*
 * This file implements the tests of several `cis serve` nodes sharing one
 * PostgreSQL database for the registry, the KV store and the files of db
 * mounts (docs/serve.md, "Several nodes"): two server processes with
 * homes of their own, a skill installed through one run on the other, KV
 * and files written by a call on one read by a call on the other, a token
 * made through one node's database good on the other, a removal through
 * one seen by the other within the documented bound, a call whose
 * registry read outlasts its bound (another client holds the table's
 * lock) answered 503 with CIS_ETIMEOUT, not the skill's 422, and the database
 * stopped: 503 with CIS_EREGISTRYDOWN, then service again once it is back;
 * the nodes' shares of their tenants' CPU (a busy tenant yields to one
 * calling another node), hostile rows in the shares' table, and that
 * table as an older build left it, upgraded in place; lookups of tokens
 * not cached past --token-lookup-rate waiting their turn. Every wait is
 * bounded.
 *
 * argv: the cis program, the folder of the built fixtures, the folder of
 * the private PostgreSQL cluster (tests/support/pg.sh, a fixture of its
 * own: this test stops it) and pg.sh itself.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "cis/cis_serve.h"
#include "serve/http_client.h"
#include "serve/serve_fixture.h"
#include "support/pg_connstr.h"

static const char *g_cis, *g_dir, *g_pgdir, *g_pgsh;
static char g_conn[1024], g_root[128];

/* The environment of a node whose home is home: everything in the one
 * database. */
static void node_env(const char *home, char env[5][1200], char **envp) {
  snprintf(env[0], sizeof env[0], "CIS_HOME=%s", home);
  snprintf(env[1], sizeof env[1], "CIS_REGISTRY=postgres:%s", g_conn);
  snprintf(env[2], sizeof env[2], "CIS_KV=postgres:%s", g_conn);
  snprintf(env[3], sizeof env[3], "CIS_FS_DB=postgres:%s", g_conn);
  snprintf(env[4], sizeof env[4], "PATH=/usr/bin:/bin");
  for (int i = 0; i < 5; i++) envp[i] = env[i];
  envp[5] = NULL;
}

static void nap_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

/* Runs `cis ARGS` as node home; its stdout into out. The exit status, or
 * -1 when it could not run or took over 120 s. */
static int run_cis(const char *home, char *out, size_t cap, const char *const *args) {
  char env[5][1200], *envp[6];
  node_env(home, env, envp);
  return serve_run_cis(g_cis, envp, out, cap, args);
}

typedef struct node {
  char home[256]; /* its own CIS_HOME */
  serve_proc sv;  /* its cis serve process */
} node;

/* Starts `cis serve --listen 127.0.0.1:0 EXTRA...` as a node with home
 * g_root/name, and reads its port. */
static int node_start_with(node *nd, const char *name, const char *const *extra) {
  snprintf(nd->home, sizeof nd->home, "%s/%s", g_root, name);
  mkdir(nd->home, 0700);
  char env[5][1200], *envp[6];
  node_env(nd->home, env, envp);
  return serve_proc_start(&nd->sv, g_cis, envp, extra);
}

static int node_start(node *nd, const char *name) { return node_start_with(nd, name, NULL); }

/* SIGTERM, then the exit status (at most 120 s). */
static int node_stop(node *nd) {
  kill(nd->sv.pid, SIGTERM);
  return serve_proc_wait(&nd->sv);
}

/* Installs fixture (a .wat of tests/serve, built here) as skill name
 * through the node on port, with the manifest's extra fields: the status. */
static int install_fixture(int port, const char *token, const char *fixture, const char *name, const char *extra) {
  char *body = serve_install_request(g_dir, fixture, name, "cis_v1", extra);
  if (!body) return -1;
  http_resp r;
  int st = http_send(port, "POST", "/v1/skills", token, body, &r) == 0 ? r.status : 0;
  http_resp_free(&r);
  free(body);
  return st;
}

/* Installs nodes_skill.wasm as `name`, with KV and a db mount. */
static int install(int port, const char *token, const char *name) {
  return install_fixture(port, token, "nodes_skill", name,
                         ",\"permissions\":{\"kv\":true,\"fs\":{\"mounts\":[{\"guest\":\"/data\",\"type\":\"db\"}]}}");
}

/* Invokes skill name through the node on port with input; the status,
 * the body into out. */
static int invoke(int port, const char *token, const char *name, const char *input, char *out, size_t cap) {
  char path[256];
  snprintf(path, sizeof path, "/v1/skills/%s/invoke", name);
  http_resp r;
  int st = http_send(port, "POST", path, token, input, &r) == 0 ? r.status : 0;
  snprintf(out, cap, "%s", r.body ? r.body : "");
  http_resp_free(&r);
  return st;
}

/* Whether an answer says the server was too busy to start the skill: a
 * loaded machine may take a registry read past its bound (5 s) before
 * the skill runs, and the server answers 503 (CIS_ETIMEOUT, or
 * CIS_EREGISTRYDOWN for a connection not made in that time), which a
 * client asks again. */
static bool busy_answer(int status, const char *body) {
  return status == 503 &&
         (strstr(body, "\"type\":\"CIS_ETIMEOUT\"") || strstr(body, "\"type\":\"CIS_EREGISTRYDOWN\""));
}

/* invoke, asked again (5 times at most, 0.2 s apart) while the server
 * says it was too busy to start the skill: for the calls whose subject is
 * what the skill does, not that answer. */
static int invoke_served(int port, const char *token, const char *name, const char *input, char *out, size_t cap) {
  int st = invoke(port, token, name, input, out, cap);
  for (int i = 0; i < 4 && busy_answer(st, out); i++) {
    print_message("busy, asked again: %d %s\n", st, out);
    nap_ms(200);
    st = invoke(port, token, name, input, out, cap);
  }
  return st;
}

/* A token for tenant made with `cis token create` as node home. */
static void token_create(const char *home, const char *tenant, const char *name, char *tok, size_t cap) {
  const char *args[] = {"token", "create", "--tenant", tenant, "--name", name, NULL};
  assert_int_equal(run_cis(home, tok, cap, args), 0);
  tok[strcspn(tok, "\n")] = 0;
  assert_int_equal(strncmp(tok, "cis_", 4), 0);
}

static int pg(const char *cmd) {
  char line[1024];
  snprintf(line, sizeof line, "'%s' %s '%s' >/dev/null 2>&1", g_pgsh, cmd, g_pgdir);
  int st = system(line);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Starts nodes NAME-a and NAME-b, makes a token of tenant through a's
 * database (the test's name as the token's) and installs skill through
 * a. */
static void two_nodes_with_skill(node *a, node *b, const char *name, const char *tenant, const char *skill,
                                 char *tok, size_t cap) {
  char home[64];
  snprintf(home, sizeof home, "%s-a", name);
  assert_int_equal(node_start(a, home), 0);
  snprintf(home, sizeof home, "%s-b", name);
  assert_int_equal(node_start(b, home), 0);
  token_create(a->home, tenant, name, tok, cap);
  assert_int_equal(install(a->sv.port, tok, skill), 201);
}

static void install_on_one_node_run_on_the_other_sharing_kv_files_and_tokens(void **state) {
  (void)state;
  node a, b;
  char tok[256], out[4096];
  two_nodes_with_skill(&a, &b, "share", "acme", "shared", tok, sizeof tok);
  /* b never saw the install. */
  assert_int_equal(invoke_served(b.sv.port, tok, "shared", "{\"op\":\"get\"}", out, sizeof out), 200);
  /* KV: written by a call on a, read by a call on b. */
  assert_int_equal(invoke_served(a.sv.port, tok, "shared", "{\"op\":\"set\",\"value\":\"from-a\"}", out, sizeof out), 200);
  assert_int_equal(invoke_served(b.sv.port, tok, "shared", "{\"op\":\"get\"}", out, sizeof out), 200);
  assert_non_null(strstr(out, "\"value\":\"from-a\""));
  /* Files of a db mount: written on a, read on b. */
  assert_int_equal(invoke_served(a.sv.port, tok, "shared", "{\"op\":\"write\",\"value\":\"file-a\"}", out, sizeof out), 200);
  assert_non_null(strstr(out, "\"rc\":0"));
  assert_int_equal(invoke_served(b.sv.port, tok, "shared", "{\"op\":\"read\"}", out, sizeof out), 200);
  assert_non_null(strstr(out, "\"value\":\"file-a\""));
  /* The token revoked through b's database is refused by a within the
   * token poll bound (a caches verified tokens; docs/serve.md: 1 s),
   * waited for here up to 15 s. */
  const char *revoke[] = {"token", "revoke", "share", NULL};
  assert_int_equal(run_cis(b.home, out, sizeof out, revoke), 0);
  int revoked = 200;
  for (int i = 0; i < 150 && revoked != 401; i++) {
    revoked = invoke(a.sv.port, tok, "shared", "{\"op\":\"get\"}", out, sizeof out);
    if (revoked != 401) nap_ms(100);
  }
  assert_int_equal(revoked, 401);
  /* `cis config show` names the setting and masks the password. */
  const char *show[] = {"config", "show", NULL};
  assert_int_equal(run_cis(a.home, out, sizeof out, show), 0);
  assert_non_null(strstr(out, "registry"));
  assert_non_null(strstr(out, "CIS_REGISTRY"));
  const char *pw = strstr(g_conn, "password=");
  if (pw) {
    char secret[128] = "";
    sscanf(pw + 9, "%127s", secret);
    assert_true(strlen(secret) > 0);
    assert_null(strstr(out, secret));
  }
  assert_int_equal(node_stop(&a), 0);
  assert_int_equal(node_stop(&b), 0);
}

static void removed_on_one_node_is_404_on_the_other_within_the_poll_bound(void **state) {
  (void)state;
  node a, b;
  char tok[256], out[4096];
  two_nodes_with_skill(&a, &b, "rm", "beta", "gone", tok, sizeof tok);
  assert_int_equal(invoke_served(a.sv.port, tok, "gone", "{\"op\":\"get\"}", out, sizeof out), 200); /* cached on a */
  assert_int_equal(invoke_served(b.sv.port, tok, "gone", "{\"op\":\"get\"}", out, sizeof out), 200);
  http_resp r;
  assert_int_equal(http_send(b.sv.port, "DELETE", "/v1/skills/gone", tok, NULL, &r), 0);
  assert_true(r.status == 200 || r.status == 204);
  http_resp_free(&r);
  /* The bound is 1 s (CIS__REGISTRY_POLL_MS); waited for 15 s at most. */
  int st = 0;
  for (int i = 0; i < 150 && st != 404; i++) {
    st = invoke(a.sv.port, tok, "gone", "{\"op\":\"get\"}", out, sizeof out);
    if (st != 404) nap_ms(100);
  }
  assert_int_equal(st, 404);
  assert_int_equal(node_stop(&a), 0);
  assert_int_equal(node_stop(&b), 0);
}

/* A registry read that outlasts its bound while another client holds
 * cis_skills' lock ends the call before its skill runs: 503 with
 * CIS_ETIMEOUT (the server is busy, the skill is not at fault), and the
 * call runs once the lock is gone. */
static void registry_read_past_its_bound_is_503_not_the_skills_422(void **state) {
  (void)state;
  node a, b;
  char tok[256], out[4096];
  two_nodes_with_skill(&a, &b, "busy", "delta", "held", tok, sizeof tok);
  /* b has not read the skill: its first call must. */
  PGconn *c = PQconnectdb(g_conn);
  assert_int_equal(PQstatus(c), CONNECTION_OK);
  PGresult *r = PQexec(c, "BEGIN; LOCK TABLE cis_skills IN ACCESS EXCLUSIVE MODE");
  assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
  PQclear(r);
  time_t t0 = time(NULL);
  int st = invoke(b.sv.port, tok, "held", "{\"op\":\"get\"}", out, sizeof out);
  time_t took = time(NULL) - t0;
  r = PQexec(c, "ROLLBACK");
  PQclear(r);
  PQfinish(c);
  print_message("status %d after %ld s: %s\n", st, (long)took, out);
  assert_int_equal(st, 503);
  assert_non_null(strstr(out, "CIS_ETIMEOUT"));
  assert_true(took <= 30);
  assert_int_equal(invoke_served(b.sv.port, tok, "held", "{\"op\":\"get\"}", out, sizeof out), 200);
  assert_int_equal(node_stop(&a), 0);
  assert_int_equal(node_stop(&b), 0);
}

static void dead_registry_database_is_503_typed_then_recovers(void **state) {
  (void)state;
  node a;
  assert_int_equal(node_start(&a, "dead-a"), 0);
  char tok[256], out[4096];
  token_create(a.home, "gamma", "dead", tok, sizeof tok);
  assert_int_equal(install(a.sv.port, tok, "alive"), 201);
  assert_int_equal(invoke_served(a.sv.port, tok, "alive", "{\"op\":\"get\"}", out, sizeof out), 200);
  assert_int_equal(pg("stop"), 0);
  assert_int_equal(invoke(a.sv.port, tok, "alive", "{\"op\":\"get\"}", out, sizeof out), 503);
  assert_non_null(strstr(out, "CIS_EREGISTRYDOWN"));
  http_resp r;
  assert_int_equal(http_get(a.sv.port, "/v1/skills", tok, &r), 0);
  assert_int_equal(r.status, 503);
  http_resp_free(&r);
  /* The cluster shares' rounds fail too, counted, and go on (bounded: 10 s). */
  unsigned long long failed = 0;
  for (int i = 0; i < 100 && (failed == 0 || failed == ~0ull); i++) {
    failed = http_metric(a.sv.port, "cis_cluster_share_failures_total");
    if (failed == 0 || failed == ~0ull) nap_ms(100);
  }
  assert_true(failed > 0 && failed != ~0ull);
  unsigned long long rounds = http_metric(a.sv.port, "cis_cluster_share_rounds_total");
  assert_int_equal(pg("restart"), 0);
  /* Service again once the database is back (bounded: 30 s). */
  int st = 0;
  for (int i = 0; i < 300 && st != 200; i++) {
    st = invoke(a.sv.port, tok, "alive", "{\"op\":\"get\"}", out, sizeof out);
    if (st != 200) nap_ms(100);
  }
  assert_int_equal(st, 200);
  for (int i = 0; i < 100 && http_metric(a.sv.port, "cis_cluster_share_rounds_total") <= rounds; i++) nap_ms(100);
  assert_true(http_metric(a.sv.port, "cis_cluster_share_rounds_total") > rounds);
  assert_int_equal(node_stop(&a), 0);
}

/* Whether a spinning call's status says it ended at its deadline. */
static bool hog_ended(int status) { return status == 422 || status == 503; }

/* The quiet tenant's client: an echo call on its node every 20 ms until
 * told to stop (bounded by 60 s all the same). */
typedef struct quiet_client {
  int port;
  const char *token;
  atomic_bool stop;
  atomic_int calls, busy, failed; /* answered; too busy to start (busy_answer); else */
  int last_status;                 /* the last failed call's status and body, */
  char last_body[512];             /* for the failure's message */
} quiet_client;

static void *quiet_main(void *arg) {
  quiet_client *q = arg;
  char out[512];
  for (int i = 0; i < 3000 && !atomic_load(&q->stop); i++) {
    int st = invoke(q->port, q->token, "calm", "{\"n\":1}", out, sizeof out);
    if (st == 200) {
      atomic_fetch_add(&q->calls, 1);
    } else if (busy_answer(st, out)) {
      atomic_fetch_add(&q->busy, 1);
    } else {
      q->last_status = st;
      snprintf(q->last_body, sizeof q->last_body, "%s", out);
      atomic_fetch_add(&q->failed, 1);
    }
    nap_ms(20);
  }
  return NULL;
}

/* The CPU time process pid has used (ms; /proc/PID/stat's utime and
 * stime, in clock ticks), or -1. */
static long proc_cpu_ms(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  const char *p = strrchr(buf, ')'); /* past the command's name, which may hold anything */
  unsigned long ut, st;
  if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return -1;
  return (long)((ut + st) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

/* The nodes of a cluster share their tenants' CPU use through the
 * registry's database: a tenant that keeps node b's CPU busy runs on b's
 * lane, its long calls under their quota, while another tenant calls
 * node a, though b sees no other tenant of its own; alone in the cluster
 * it does neither. */
static void tenant_busy_on_one_node_yields_to_a_tenant_calling_another(void **state) {
  (void)state;
  node a, b;
  char qtok[256], ntok[256], out[512];
  assert_int_equal(node_start(&a, "share-a"), 0);
  assert_int_equal(node_start(&b, "share-b"), 0);
  token_create(a.home, "calm", "share-calm", qtok, sizeof qtok);
  token_create(a.home, "loud", "share-loud", ntok, sizeof ntok);
  assert_int_equal(install_fixture(a.sv.port, qtok, "echo", "calm", ""), 201);
  assert_int_equal(install_fixture(b.sv.port, ntok, "busy", "hog", ",\"limits\":{\"timeout_ms\":400}"), 201);
  /* Alone (the installs' own work on a, which counts as its tenant's,
   * aged out of the figures: a row is counted for 1 s, then b reads again
   * within 250 ms; waited for 10 s at most): its calls (each spins to its
   * 400 ms deadline: 422, or 503 where a loaded machine took the time
   * before the guest ran) stay off b's lane. */
  nap_ms(1500);
  for (int i = 0; i < 100 && http_metric(b.sv.port, "cis_cluster_tenants_elsewhere") != 0; i++) nap_ms(100);
  assert_int_equal(http_metric(b.sv.port, "cis_cluster_tenants_elsewhere"), 0);
  for (int i = 0; i < 4; i++) assert_true(hog_ended(invoke(b.sv.port, ntok, "hog", "1", out, sizeof out)));
  assert_int_equal(http_metric(b.sv.port, "cis_pool_lane_total"), 0);
  assert_int_equal(http_metric(b.sv.port, "cis_tenants_over_share"), 0);
  assert_int_equal(http_metric(b.sv.port, "cis_pool_throttled_total"), 0);
  /* The quiet tenant calls a: b learns of it (within a round or two of
   * 250 ms) and puts the busy tenant's next calls on its lane. */
  quiet_client q = {.port = a.sv.port, .token = qtok};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, quiet_main, &q), 0);
  /* Its calls' quota holds too: a call (400 ms) spinning under it takes
   * some 5 % of a CPU, where it took one (on a machine busy with other
   * work a lane's call may get less all the same: this fails only on
   * calls that run free on an idle one). */
  unsigned long long lane = 0, elsewhere_b = 0;
  long least_cpu_ms = -1;
  for (int i = 0; i < 100 && (lane == 0 || least_cpu_ms < 0 || least_cpu_ms >= 160 || atomic_load(&q.calls) == 0);
       i++) {
    long cpu0 = proc_cpu_ms(b.sv.pid);
    assert_true(hog_ended(invoke(b.sv.port, ntok, "hog", "1", out, sizeof out)));
    long used = proc_cpu_ms(b.sv.pid) - cpu0;
    if (cpu0 >= 0 && used >= 0 && (least_cpu_ms < 0 || used < least_cpu_ms)) least_cpu_ms = used;
    lane = http_metric(b.sv.port, "cis_pool_lane_total");
    if (elsewhere_b == 0 || elsewhere_b == ~0ull) elsewhere_b = http_metric(b.sv.port, "cis_cluster_tenants_elsewhere");
  }
  atomic_store(&q.stop, true);
  pthread_join(th, NULL);
  assert_true(lane > 0 && lane != ~0ull);
  assert_true(elsewhere_b >= 1 && elsewhere_b != ~0ull);
  if (least_cpu_ms < 0 || least_cpu_ms >= 160) fail_msg("node b used %ld ms of CPU at least a 400 ms call", least_cpu_ms);
  unsigned long long throttled = http_metric(b.sv.port, "cis_pool_throttled_total");
  assert_true(throttled > 0 && throttled != ~0ull);
  assert_true(http_metric(b.sv.port, "cis_cluster_share_rounds_total") > 0);
  assert_int_equal(http_metric(b.sv.port, "cis_cluster_share_failures_total"), 0);
  if (atomic_load(&q.calls) == 0 || atomic_load(&q.failed) != 0)
    fail_msg("the quiet tenant's calls: %d answered, %d failed (the last: %d %s)", atomic_load(&q.calls),
             atomic_load(&q.failed), q.last_status, q.last_body);
  if (atomic_load(&q.busy)) print_message("the quiet tenant's calls: %d found the server too busy\n", atomic_load(&q.busy));
  assert_int_equal(node_stop(&a), 0);
  assert_int_equal(node_stop(&b), 0);
}

/* Runs sql on the test's database: whether it succeeded. */
static bool sql_ok(const char *sql) {
  PGconn *c = PQconnectdb(g_conn);
  bool ok = PQstatus(c) == CONNECTION_OK;
  if (ok) {
    PGresult *r = PQexec(c, sql);
    ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) fprintf(stderr, "sql: %s", PQerrorMessage(c));
    PQclear(r);
  }
  PQfinish(c);
  return ok;
}

/* Rows in the shares' table that no node wrote (a name no tenant may
 * have, one past the longest, a negative figure, figures whose sum
 * overflows, rows from the future) are not counted and fail no round. */
static void hostile_rows_in_the_shares_table_are_ignored(void **state) {
  (void)state;
  node a;
  assert_int_equal(node_start(&a, "hostile-a"), 0);
  /* The table exists once a has made a round. */
  for (int i = 0; i < 100 && (http_metric(a.sv.port, "cis_cluster_share_rounds_total") == 0 ||
                              http_metric(a.sv.port, "cis_cluster_share_rounds_total") == ~0ull); i++)
    nap_ms(100);
  char long_name[200];
  memset(long_name, 'x', 65);
  long_name[65] = 0;
  char sql[2048];
  snprintf(sql, sizeof sql,
           "INSERT INTO cis_tenant_load(node, tenant, cpu_ns_per_s, begun_per_s, at) VALUES"
           " ('evil', 'a''b', 1000, 5, now()),"
           " ('evil', 'x y', 1000, 5, now()),"
           " ('evil', '%s', 1000, 5, now()),"
           " ('evil', 'neg', -5, -5, now()),"
           " ('evil', 'big', 9223372036854775807, 9223372036854775807, now()),"
           " ('evil2', 'big', 9223372036854775807, -9223372036854775808, now()),"
           " ('evil', 'late', 1000, 5, now() + interval '1 hour')",
           long_name);
  assert_true(sql_ok(sql));
  /* Only "big" counts (for the second it is fresh); no round fails. */
  unsigned long long seen = 0;
  for (int i = 0; i < 20 && seen != 1; i++) {
    seen = http_metric(a.sv.port, "cis_cluster_tenants_elsewhere");
    if (seen != 1) nap_ms(50);
  }
  assert_int_equal(seen, 1);
  for (int i = 0; i < 30 && http_metric(a.sv.port, "cis_cluster_tenants_elsewhere") != 0; i++) nap_ms(100);
  assert_int_equal(http_metric(a.sv.port, "cis_cluster_tenants_elsewhere"), 0);
  assert_int_equal(http_metric(a.sv.port, "cis_cluster_share_failures_total"), 0);
  assert_int_equal(node_stop(&a), 0);
}

/* The number sql's first row holds, or -1. */
static long long sql_int(const char *sql) {
  PGconn *c = PQconnectdb(g_conn);
  long long v = -1;
  if (PQstatus(c) == CONNECTION_OK) {
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
      v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else fprintf(stderr, "sql: %s", PQerrorMessage(c));
    PQclear(r);
  }
  PQfinish(c);
  return v;
}

/* A shares' table an older node made (step 1: no calls begun) is
 * upgraded by the first node of this build, its rows kept, and a node
 * of the older build still writes to it: its rows count as before. */
static void shares_table_of_an_older_build_is_upgraded_in_place(void **state) {
  (void)state;
  assert_true(sql_ok("DROP TABLE IF EXISTS cis_tenant_load;"
                     " CREATE UNLOGGED TABLE cis_tenant_load(node text NOT NULL, tenant text NOT NULL,"
                     " cpu_ns_per_s bigint NOT NULL, at timestamptz NOT NULL, PRIMARY KEY (node, tenant));"
                     " INSERT INTO cis_tenant_load VALUES ('older', 'elder', 1000, now() - interval '1 minute');"
                     " CREATE TABLE IF NOT EXISTS cis_schema(service text PRIMARY KEY, version bigint NOT NULL);"
                     " INSERT INTO cis_schema VALUES ('shares', 1) ON CONFLICT (service) DO UPDATE SET version = 1"));
  node a;
  assert_int_equal(node_start(&a, "upgrade-a"), 0);
  unsigned long long rounds = 0;
  for (int i = 0; i < 100 && (rounds == 0 || rounds == ~0ull); i++) {
    rounds = http_metric(a.sv.port, "cis_cluster_share_rounds_total");
    if (rounds == 0 || rounds == ~0ull) nap_ms(100);
  }
  assert_true(rounds > 0 && rounds != ~0ull);
  assert_int_equal(http_metric(a.sv.port, "cis_cluster_share_failures_total"), 0);
  assert_int_equal(sql_int("SELECT version FROM cis_schema WHERE service = 'shares'"), 2);
  assert_int_equal(sql_int("SELECT count(*) FROM cis_tenant_load WHERE node = 'older' AND begun_per_s = 0"), 1);
  /* The older node's write names step 1's columns only. */
  assert_true(sql_ok("INSERT INTO cis_tenant_load(node, tenant, cpu_ns_per_s, at) VALUES ('older', 'elder', 1000, now())"
                     " ON CONFLICT (node, tenant) DO UPDATE SET cpu_ns_per_s = excluded.cpu_ns_per_s, at = excluded.at"));
  unsigned long long seen = 0;
  for (int i = 0; i < 20 && seen != 1; i++) {
    seen = http_metric(a.sv.port, "cis_cluster_tenants_elsewhere");
    if (seen != 1) nap_ms(50);
  }
  assert_int_equal(seen, 1);
  assert_int_equal(http_metric(a.sv.port, "cis_cluster_share_failures_total"), 0);
  assert_int_equal(node_stop(&a), 0);
}

/* On a PostgreSQL registry too, tokens the node has not cached are looked
 * up at --token-lookup-rate a second: past the burst each waits its turn
 * and is refused 401 once looked up; a token made meanwhile is served at
 * its turn. */
static void token_lookups_past_the_rate_wait_on_postgres(void **state) {
  (void)state;
  node a;
  static const char *const extra[] = {"--token-lookup-rate", "2", NULL};
  assert_int_equal(node_start_with(&a, "pace-a", extra), 0);
  assert_int_equal(http_metric(a.sv.port, "cis_token_lookup_rate"), 2);
  char out[512];
  for (int i = 0; i < 5; i++) {
    char forged[CIS_TOKEN_MAX];
    snprintf(forged, sizeof forged, "cis_%d_%064x", 5000 + i, i);
    assert_int_equal(invoke(a.sv.port, forged, "echo", "{}", out, sizeof out), 401);
  }
  unsigned long long waits = http_metric(a.sv.port, "cis_token_lookup_waits_total");
  assert_true(waits >= 2 && waits != ~0ull);
  assert_true(http_metric(a.sv.port, "cis_token_lookups_total") >= 5);
  char tok[256];
  token_create(a.home, "calm", "pace-calm", tok, sizeof tok);
  assert_int_equal(install_fixture(a.sv.port, tok, "echo", "calm", ""), 201);
  assert_int_equal(node_stop(&a), 0);
}

int main(int argc, char **argv) {
  if (argc < 5) return 2;
  g_cis = argv[1];
  g_dir = argv[2];
  g_pgdir = argv[3];
  g_pgsh = argv[4];
  char file[600];
  snprintf(file, sizeof file, "%s/connstr", g_pgdir);
  int rc = cis_test_read_connstr(file, g_conn, sizeof g_conn);
  if (rc) return rc;
  signal(SIGPIPE, SIG_IGN);
  snprintf(g_root, sizeof g_root, "/tmp/cis-nodes-%d", (int)getpid());
  if (mkdir(g_root, 0700) != 0) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(install_on_one_node_run_on_the_other_sharing_kv_files_and_tokens, serve_procs_kill),
      cmocka_unit_test_teardown(removed_on_one_node_is_404_on_the_other_within_the_poll_bound, serve_procs_kill),
      cmocka_unit_test_teardown(registry_read_past_its_bound_is_503_not_the_skills_422, serve_procs_kill),
      cmocka_unit_test_teardown(dead_registry_database_is_503_typed_then_recovers, serve_procs_kill),
      cmocka_unit_test_teardown(tenant_busy_on_one_node_yields_to_a_tenant_calling_another, serve_procs_kill),
      cmocka_unit_test_teardown(hostile_rows_in_the_shares_table_are_ignored, serve_procs_kill),
      cmocka_unit_test_teardown(shares_table_of_an_older_build_is_upgraded_in_place, serve_procs_kill),
      cmocka_unit_test_teardown(token_lookups_past_the_rate_wait_on_postgres, serve_procs_kill),
  };
  rc = cmocka_run_group_tests(tests, NULL, NULL);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_root);
  return rc;
}
