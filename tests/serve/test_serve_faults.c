/*
 * This file implements the fault tests of `cis serve` (docs/serve.md,
 * "Faults"), on the server as a process:
 *
 * - killed with SIGKILL while clients make writing calls (kvpair: two
 *   keys a call, in the call's one transaction), then restarted on the same
 *   CIS_HOME: every call answered 200 has both its keys; every other call
 *   (failed, or cut off unanswered) has both or neither, never one. A few
 *   rounds, on the KV of SQLite, and (mode pg) on PostgreSQL;
 * - a call that runs long is lowered in CPU priority while it runs, and
 *   its worker serves later calls at the normal priority again; also
 *   without CAP_SYS_NICE, where a fresh worker takes its place;
 * - a test that fails leaves no server running (the teardown stops every
 *   server a test started, on every path): checked by running this
 *   program in mode selftest, whose one test starts a server and fails;
 * - (mode pg) PostgreSQL stopped while calls run: they get 503 with the
 *   typed error CIS_EKVDOWN and no backend detail (the server's log has
 *   it, at most a line a second, counting the rest), /v1/health says
 *   "degraded"; once it is back, calls succeed again with the same server
 *   process, and health says "ok".
 *
 *   test_serve_faults CIS FIXTURES sqlite
 *   test_serve_faults CIS FIXTURES pg PGDIR PG_SH
 *   test_serve_faults CIS FIXTURES selftest FILE   (fails on purpose)
 *
 * PGDIR holds a private cluster (tests/serve/CMakeLists.txt starts it),
 * which this test stops and restarts: never the shared one. Every wait and
 * loop is bounded.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cis/cis_kv.h"
#include "cis/cis_serve.h"
#include "serve/http_client.h"
#include "serve/serve_fixture.h"
#include "support/pg_connstr.h"

static const char *g_cis, *g_dir, *g_pgdir, *g_pgsh;
static char g_kv[1024]; /* CIS_KV of the server: "" for SQLite in the home */
static bool g_no_nice;  /* start the server without CAP_SYS_NICE (setpriv) */
static const char *g_errlog; /* the server's stderr goes there (appended) when set */
static int g_nice0;     /* the nice value of the tests, and of the servers they start */

#define CLIENTS 4
#define MAX_CALLS 4000 /* per client and round */
#define ROUNDS 3

static void nap_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

typedef serve_proc server;

/* Starts `cis serve --listen 127.0.0.1:0 --workers 4` on home (CIS_KV from
 * g_kv) and reads its port; 0 on success. */
static int serve_start(const char *home, server *sv) {
  char envhome[300], envkv[1100];
  snprintf(envhome, sizeof envhome, "CIS_HOME=%s", home);
  snprintf(envkv, sizeof envkv, "CIS_KV=%s", g_kv);
  /* The interpreter: under the default engine (auto) the first call
   * starts the compile worker thread, which a call lowered in priority
   * would pass its nice value on to; this test is about the pool. */
  char *env[] = {envhome, "PATH=/usr/bin:/bin", "CIS_ENGINE=interp", g_kv[0] ? envkv : NULL, NULL};
  static const char *const no_nice[] = {"/usr/bin/setpriv", "--bounding-set", "-sys_nice", NULL};
  static const char *const extra[] = {"--workers", "4", "--tenant-concurrency", "16", NULL};
  const char *launcher[8] = {NULL};
  int n = 0;
  if (g_errlog) { /* sh runs what follows it in its place, its stderr into the file */
    launcher[n++] = "/bin/sh", launcher[n++] = "-c", launcher[n++] = "exec \"$@\" 2>>\"$0\"";
    launcher[n++] = g_errlog;
  }
  for (int i = 0; g_no_nice && no_nice[i]; i++) launcher[n++] = no_nice[i];
  return serve_proc_start_via(sv, n ? launcher : NULL, g_cis, env, extra);
}

/* Ends the server: SIGKILL (a crash) or SIGTERM (a drain); waits at most
 * 120 s, then kills it. Returns its exit status, 128+signal, or -1. */
static int serve_end(server *sv, int sig) {
  kill(sv->pid, sig);
  int st = 0;
  bool gone = false;
  for (int i = 0; i < 1200 && !gone; i++) {
    if (waitpid(sv->pid, &st, WNOHANG) == sv->pid) gone = true;
    else nap_ms(100);
  }
  if (!gone) {
    kill(sv->pid, SIGKILL);
    waitpid(sv->pid, &st, 0);
  }
  close(sv->out);
  serve_proc_forget(sv);
  if (!gone) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A tenant's token and the kvpair skill installed for it, through the
 * library (as `cis token create` and `cis skill install` would). */
static int set_up(const char *home, char *token, size_t cap) {
  cis_tokens *t = NULL;
  if (cis_tokens_open(home, &t) != CIS_OK) return -1;
  cis_result rc = cis_tokens_create(t, "acme", NULL, token, cap, NULL);
  cis_tokens_close(t);
  if (rc != CIS_OK) return -1;
  cis_skills *s = serve_open(home, "acme");
  if (!s) return -1;
  rc = serve_register(s, g_dir, "kvpair", "kvpair", "cis_v1", ",\"permissions\":{\"kv\":true}");
  if (rc == CIS_OK) rc = serve_register(s, g_dir, "spin", "spin", "cis_v1", ",\"limits\":{\"timeout_ms\":300}");
  cis_skills_close(s);
  return rc == CIS_OK ? 0 : -1;
}

/* One client: calls kvpair with keys "r<round>-t<id>-i<n>" until told to
 * stop, until the server no longer answers, or MAX_CALLS. */
typedef struct client {
  int port, round, id;
  const char *token;
  atomic_bool *stop;
  bool stop_on_silence;        /* a dead server ends the client */
  int status[MAX_CALLS];       /* each call's answer, 0 for none */
  int n;                       /* calls made */
  atomic_int *ok;              /* 200s of every client */
  atomic_int *unavailable;     /* 503s of every client */
  char bad[256];               /* the first 503 body that was not as it should be */
  int odd_status;              /* the first answer neither 200 nor 503 (0: none) */
  char odd[256];               /* and its body, so that a failure says why */
} client;

static void key_of(char *out, size_t cap, int round, int id, int i) {
  snprintf(out, cap, "\"r%d-t%d-i%d\"", round, id, i);
}

static void *client_main(void *arg) {
  client *c = arg;
  for (c->n = 0; c->n < MAX_CALLS && !atomic_load(c->stop);) {
    char key[64];
    key_of(key, sizeof key, c->round, c->id, c->n);
    http_resp r;
    int st = http_send(c->port, "POST", "/v1/skills/kvpair/invoke", c->token, key, &r) == 0 ? r.status : 0;
    c->status[c->n++] = st;
    if (st == 200) atomic_fetch_add(c->ok, 1);
    if (st == 503) {
      atomic_fetch_add(c->unavailable, 1);
      /* Typed, and nothing of the backend's own words (host, password). */
      if (!c->bad[0] && (!strstr(r.body, "\"type\":\"CIS_EKVDOWN\"") || strstr(r.body, "127.0.0.1") ||
                         strstr(r.body, "password") || strstr(r.body, "host=")))
        snprintf(c->bad, sizeof c->bad, "%s", r.body);
    }
    if (st != 200 && st != 503 && !c->odd_status) {
      c->odd_status = st ? st : -1;
      snprintf(c->odd, sizeof c->odd, "%s", st ? r.body : "(no answer)");
    }
    if (st != 0) http_resp_free(&r);
    if (st == 0 && c->stop_on_silence) break;
    if (st != 200 && st != 0) nap_ms(5); /* no busy loop on refusals */
  }
  return NULL;
}

/* Both keys of each call of c checked in the store: a 200 has both, any
 * other call both or neither. Returns the calls found whole. */
static int check_calls(cis_kv *kv, const client *c) {
  cis_principal who = {.tenant = "acme", .skill = "kvpair"};
  cis_kv_txn *t = NULL;
  assert_int_equal(cis_kv_begin(kv, &who, 30000, &t), CIS_OK);
  int whole = 0;
  for (int i = 0; i < c->n; i++) {
    char k[72];
    key_of(k, sizeof k, c->round, c->id, i);
    size_t kl = strlen(k), vl = 0;
    char v[8];
    cis_result a = cis_kv_get_into(t, k, kl, v, sizeof v, &vl);
    k[kl] = 'b';
    cis_result b = cis_kv_get_into(t, k, kl + 1, v, sizeof v, &vl);
    assert_true(a == CIS_OK || a == CIS_ENOTFOUND);
    assert_true(b == CIS_OK || b == CIS_ENOTFOUND);
    if (a != b) fail_msg("call %.*s: one key of two is there", (int)kl, k);
    if (c->status[i] == 200 && a != CIS_OK) fail_msg("call %.*s answered 200 is not in the KV", (int)kl, k);
    whole += a == CIS_OK;
  }
  cis_kv_rollback(t);
  return whole;
}

static cis_kv *kv_open(const char *home) {
  char spec[1200];
  if (g_kv[0]) snprintf(spec, sizeof spec, "%s", g_kv);
  else snprintf(spec, sizeof spec, "sqlite:%s/kv.db", home);
  cis_kv_config c;
  cis_kv_config_default(&c);
  c.spec = spec;
  cis_kv *kv = NULL;
  if (cis_kv_open(&c, &kv) != CIS_OK) fail_msg("kv open: %s", cis_kv_errmsg(kv));
  return kv;
}

static void kill9_during_writes_keeps_whole_calls_only(void **state) {
  (void)state;
  char home[128], token[CIS_TOKEN_MAX];
  assert_int_equal(serve_home_new(home, sizeof home), 0);
  assert_int_equal(set_up(home, token, sizeof token), 0);
  static client cl[CLIENTS];
  for (int round = 0; round < ROUNDS; round++) {
    server sv;
    assert_int_equal(serve_start(home, &sv), 0);
    atomic_bool stop = false;
    atomic_int ok = 0, unavailable = 0;
    pthread_t th[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
      memset(&cl[i], 0, sizeof cl[i]);
      cl[i] = (client){.port = sv.port, .round = round, .id = i, .token = token, .stop = &stop,
                       .stop_on_silence = true, .ok = &ok, .unavailable = &unavailable};
      assert_int_equal(pthread_create(&th[i], NULL, client_main, &cl[i]), 0);
    }
    /* Killed once calls are flowing: some answered, others in flight. */
    for (int i = 0; i < 3000 && atomic_load(&ok) < 20 + 10 * round; i++) nap_ms(10);
    assert_true(atomic_load(&ok) >= 20 + 10 * round);
    assert_int_equal(serve_end(&sv, SIGKILL), 128 + SIGKILL);
    atomic_store(&stop, true);
    for (int i = 0; i < CLIENTS; i++) pthread_join(th[i], NULL);
    /* Restarted on the same home: it serves, and the store holds whole
     * calls only. */
    assert_int_equal(serve_start(home, &sv), 0);
    http_resp r;
    assert_int_equal(http_send(sv.port, "POST", "/v1/skills/kvpair/invoke", token, "\"after\"", &r), 0);
    assert_int_equal(r.status, 200);
    http_resp_free(&r);
    cis_kv *kv = kv_open(home);
    int whole = 0, answered = 0;
    for (int i = 0; i < CLIENTS; i++) {
      whole += check_calls(kv, &cl[i]);
      for (int j = 0; j < cl[i].n; j++) answered += cl[i].status[j] == 200;
    }
    cis_kv_close(kv);
    fprintf(stderr, "round %d: %d calls answered 200, %d whole in the store\n", round, answered, whole);
    assert_true(whole >= answered);
    assert_int_equal(serve_end(&sv, SIGTERM), 0);
  }
  serve_home_remove(home);
}

/* The threads of a server, as the kernel shows them. */
typedef struct thread_counts {
  int niced;   /* nice value not g_nice0, the lane's and the background pool's aside */
  int workers; /* named "cis-worker": the pool's slots */
  int longs;   /* named "cis-long": calls handed off, still running */
  int lanes;   /* named "cis-lane": the lane's slots */
  int lanes_low; /* of them, at nice 19 and SCHED_IDLE (they lower themselves once) */
  int admins;  /* named "cis-admin": the background pool's (installs, removals) */
  int admins_low; /* of them, at nice 10 above g_nice0 (they lower themselves once) */
} thread_counts;

/* Reads /proc/PID/task/ (stat field 19 is the nice value; comm the name;
 * the policy from sched_getscheduler, which any thread may ask);
 * false when it cannot be read. Only the pool's named threads are
 * counted: the HTTP server runs a thread per connection, which ends a
 * little after its connection, so the process's whole count moved by one
 * with the timing of the last request. */
static bool threads_of(pid_t pid, thread_counts *tc) {
  *tc = (thread_counts){0};
  char dir[64];
  snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
  DIR *d = opendir(dir);
  if (!d) return false;
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    char path[400], buf[1024];
    snprintf(path, sizeof path, "%s/%s/stat", dir, e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue; /* it ended meanwhile */
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* After the name's closing parenthesis: state is field 3, nice 19. */
    char *q = strrchr(buf, ')');
    char *open = strchr(buf, '(');
    if (!q || !open) continue;
    long nice = 0;
    if (sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %ld", &nice) != 1) continue;
    *q = 0;
    const char *name = open + 1;
    bool lane = strcmp(name, "cis-lane") == 0, admin = strcmp(name, "cis-admin") == 0;
    tc->niced += nice != g_nice0 && !lane && !admin;
    tc->admins += admin;
    tc->admins_low += admin && nice == (g_nice0 + 10 > 19 ? 19 : g_nice0 + 10);
    tc->workers += strcmp(name, "cis-worker") == 0;
    tc->longs += strcmp(name, "cis-long") == 0;
    tc->lanes += lane;
    tc->lanes_low += lane && nice == 19 && sched_getscheduler((pid_t)atoi(e->d_name)) == SCHED_IDLE;
  }
  closedir(d);
  return true;
}

/* Waits (bounded: 10 s) for the pool at rest: `workers` workers, no long
 * thread, no thread lowered but the lane's 2 (the default), at nice 19 and
 * SCHED_IDLE, and the background pool's 2, at nice 10. Whether it came; *tc as last
 * read. */
static bool wait_pool_at_rest(pid_t pid, int workers, thread_counts *tc) {
  for (int i = 0; i < 1000; i++) {
    if (threads_of(pid, tc) && tc->niced == 0 && tc->workers == workers && tc->longs == 0 && tc->lanes == 2 &&
        tc->lanes_low == 2 && tc->admins == 2 && tc->admins_low == 2)
      return true;
    nap_ms(10);
  }
  return false;
}

/* A call that uses 2 ms of CPU time is lowered in CPU priority while it
 * runs (cis_pool_demoted_total) and its slot handed to a fresh worker;
 * once it ends the pool is back to its 4 workers at the normal priority
 * (and its lane's 2 at nice 19), and serves the next calls. */
static void long_call_is_lowered_then_its_worker_restored(void **state) {
  g_no_nice = *state != NULL;
  char home[128], token[CIS_TOKEN_MAX];
  assert_int_equal(serve_home_new(home, sizeof home), 0);
  assert_int_equal(set_up(home, token, sizeof token), 0);
  server sv;
  assert_int_equal(serve_start(home, &sv), 0);
  assert_int_equal(http_metric(sv.port, "cis_pool_demoted_total"), 0);
  thread_counts tc;
  if (!wait_pool_at_rest(sv.pid, 4, &tc))
    fail_msg("at the start: %d workers, %d long, %d lowered, %d lane (%d at nice 19, idle), %d admin (%d at nice 10)",
             tc.workers, tc.longs, tc.niced, tc.lanes, tc.lanes_low, tc.admins, tc.admins_low);
  http_resp r;
  /* A first call compiles the module and opens the store: it may be long
   * too, so the count is read after it and the spinning call must add to
   * it. */
  assert_int_equal(http_send(sv.port, "POST", "/v1/skills/kvpair/invoke", token, "\"short\"", &r), 0);
  assert_int_equal(r.status, 200);
  http_resp_free(&r);
  /* A spinning guest is handed off (and paused by its CPU quota while
   * short calls run), not lowered: cis_pool_handoffs_total counts it. */
  unsigned long long before = http_metric(sv.port, "cis_pool_handoffs_total");
  assert_true(before <= 1);
  /* A call lowered or handed off ends its thread after its answer. */
  if (!wait_pool_at_rest(sv.pid, 4, &tc))
    fail_msg("after the first call: %d workers, %d long, %d lowered, %d lane (%d at nice 19, idle)", tc.workers, tc.longs, tc.niced, tc.lanes, tc.lanes_low);
  assert_int_equal(http_send(sv.port, "POST", "/v1/skills/spin/invoke", token, "{}", &r), 0);
  assert_int_equal(r.status, 422);
  assert_non_null(strstr(r.body, "CIS_ETIMEOUT"));
  http_resp_free(&r);
  assert_int_equal(http_metric(sv.port, "cis_pool_handoffs_total"), before + 1);
  /* Its thread ends, the slot's fresh one stays: as many workers as
   * before, none lowered. */
  if (!wait_pool_at_rest(sv.pid, 4, &tc))
    fail_msg("after the long call: %d workers, %d long, %d lowered, %d lane (%d at nice 19, idle)", tc.workers, tc.longs, tc.niced, tc.lanes, tc.lanes_low);
  assert_int_equal(http_metric(sv.port, "cis_pool_threads"), 4 + 2); /* the pool's own count agrees (the lane's) */
  assert_int_equal(http_metric(sv.port, "cis_pool_lane_workers"), 2);
  assert_int_equal(http_metric(sv.port, "cis_pool_lane_total"), 0); /* one tenant alone: never on the lane */
  for (int i = 0; i < 8; i++) {
    assert_int_equal(http_send(sv.port, "POST", "/v1/skills/kvpair/invoke", token, "\"again\"", &r), 0);
    assert_int_equal(r.status, 200);
    http_resp_free(&r);
  }
  assert_int_equal(serve_end(&sv, SIGTERM), 0);
  serve_home_remove(home);
}

/* Mode selftest: starts a server, writes "PID HOME" to g_selftest_file,
 * and fails, as a test that fails mid-way. */
static const char *g_selftest_file;

static void selftest_fails_with_a_server_running(void **state) {
  (void)state;
  char home[128];
  assert_int_equal(serve_home_new(home, sizeof home), 0);
  server sv;
  assert_int_equal(serve_start(home, &sv), 0);
  FILE *f = fopen(g_selftest_file, "w");
  assert_non_null(f);
  fprintf(f, "%d %s\n", (int)sv.pid, home);
  fclose(f);
  fail_msg("failing on purpose, with the server %d running", (int)sv.pid);
}

/* This program in mode selftest (a test that fails with its server
 * running) ends with that server gone: stopped by the teardown, not left
 * holding the runner's output open until ctest's timeout. */
static void failed_test_leaves_no_server_running(void **state) {
  (void)state;
  char file[] = "/tmp/cis-serve-selftest-XXXXXX";
  int fd = mkstemp(file);
  assert_true(fd >= 0);
  close(fd);
  char *argv[] = {"/proc/self/exe", (char *)g_cis, (char *)g_dir, "selftest", file, NULL};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0); /* its failure is expected */
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t child;
  extern char **environ;
  int rc = posix_spawn(&child, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  assert_int_equal(rc, 0);
  int st = 0;
  bool gone = false;
  for (int i = 0; i < 1200 && !gone; i++) {
    if (waitpid(child, &st, WNOHANG) == child) gone = true;
    else nap_ms(100);
  }
  if (!gone) {
    kill(child, SIGKILL);
    waitpid(child, &st, 0);
  }
  int pid = 0;
  char home[200] = "";
  FILE *f = fopen(file, "r");
  bool read = f && fscanf(f, "%d %199s", &pid, home) == 2;
  if (f) fclose(f);
  unlink(file);
  if (home[0]) serve_home_remove(home);
  assert_true(gone);
  assert_true(read);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) != 0); /* its one test failed */
  bool alive = kill(pid, 0) == 0;
  if (alive) kill(pid, SIGKILL); /* left behind: not ours to leave running either */
  if (alive) fail_msg("the server %d of the failed test still ran after it", pid);
}

/* Runs `pg.sh CMD PGDIR`; its exit status (pg.sh bounds its own waits). */
static int pg(const char *cmd) {
  char line[1200];
  snprintf(line, sizeof line, "'%s' %s '%s' >/dev/null", g_pgsh, cmd, g_pgdir);
  int st = system(line);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int health(int port, char *out, size_t cap) {
  http_resp r;
  if (http_get(port, "/v1/health", NULL, &r) != 0) return 0;
  snprintf(out, cap, "%s", r.body);
  int st = r.status;
  http_resp_free(&r);
  return st;
}

/* The lines of the server's log at path that begin with prefix: how many,
 * whether one goes on with the KV store's own words (its backend's
 * label), whether one counts failures it left out. */
typedef struct failures_said {
  int lines;
  bool with_words, counted;
  char last[512]; /* the last such line, for the test's output */
} failures_said;

static failures_said failures_in(const char *path, const char *prefix) {
  failures_said f = {0};
  FILE *in = fopen(path, "r");
  char line[2048];
  while (in && fgets(line, sizeof line, in)) {
    if (strncmp(line, prefix, strlen(prefix))) continue;
    f.lines++;
    snprintf(f.last, sizeof f.last, "%.500s", line);
    if (strstr(line, "kv (postgres): ")) f.with_words = true;
    if (strstr(line, "more such failures before it")) f.counted = true;
  }
  if (in) fclose(in);
  return f;
}

/* A stateless MCP tools/call (protocol 2026-07-28) of kvpair, into r. */
static void mcp_call_kvpair(int port, const char *token, http_resp *r) {
  static const char body[] =
      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"kvpair\","
      "\"arguments\":{\"k\":\"mcp\"},\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\","
      "\"io.modelcontextprotocol/clientInfo\":{\"name\":\"t\",\"version\":\"1\"},"
      "\"io.modelcontextprotocol/clientCapabilities\":{}}}}";
  char auth[CIS_TOKEN_MAX + 32];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
  const char *h[] = {auth, "Accept: application/json, text/event-stream", "MCP-Protocol-Version: 2026-07-28",
                     "Mcp-Method: tools/call", NULL};
  assert_int_equal(http_request(port, "POST", "/mcp", h, body, strlen(body), 0, r), 0);
}

static void postgres_stopped_gives_503_then_recovers(void **state) {
  (void)state;
  char home[128], token[CIS_TOKEN_MAX], body[256];
  assert_int_equal(serve_home_new(home, sizeof home), 0);
  assert_int_equal(set_up(home, token, sizeof token), 0);
  char errlog[200];
  snprintf(errlog, sizeof errlog, "%s/serve.err", home);
  g_errlog = errlog;
  server sv;
  int started = serve_start(home, &sv);
  g_errlog = NULL;
  assert_int_equal(started, 0);
  static client cl[CLIENTS];
  atomic_bool stop = false;
  atomic_int ok = 0, unavailable = 0;
  pthread_t th[CLIENTS];
  for (int i = 0; i < CLIENTS; i++) {
    memset(&cl[i], 0, sizeof cl[i]);
    cl[i] = (client){.port = sv.port, .round = 9, .id = i, .token = token, .stop = &stop, .ok = &ok,
                     .unavailable = &unavailable};
    assert_int_equal(pthread_create(&th[i], NULL, client_main, &cl[i]), 0);
  }
  for (int i = 0; i < 3000 && atomic_load(&ok) < 10; i++) nap_ms(10);
  assert_true(atomic_load(&ok) >= 10);
  assert_int_equal(health(sv.port, body, sizeof body), 200);
  assert_non_null(strstr(body, "\"status\":\"ok\""));
  /* The database goes away under the calls. */
  struct timespec down0, down1;
  clock_gettime(CLOCK_MONOTONIC, &down0);
  assert_int_equal(pg("stop"), 0);
  for (int i = 0; i < 3000 && atomic_load(&unavailable) < 5; i++) nap_ms(10);
  if (atomic_load(&unavailable) < 5)
    fail_msg("PostgreSQL stopped: %d calls answered 503 in 30 s (first odd answer: %d %s)", atomic_load(&unavailable),
             cl[0].odd_status, cl[0].odd);
  /* Health follows the last call that ended: a call that committed just
   * before the stop may end after the first 503s. The calls go on failing,
   * so it turns "degraded" and stays: waited for (bounded). */
  bool degraded = false;
  for (int i = 0; i < 300 && !degraded; i++) {
    assert_int_equal(health(sv.port, body, sizeof body), 200);
    degraded = strstr(body, "\"status\":\"degraded\"") != NULL;
    if (!degraded) nap_ms(100);
  }
  if (!degraded) fail_msg("health with PostgreSQL stopped: %s", body);
  /* Back: the same server process answers 200 again. */
  assert_int_equal(pg("restart"), 0);
  clock_gettime(CLOCK_MONOTONIC, &down1);
  int ok_back = atomic_load(&ok);
  for (int i = 0; i < 6000 && atomic_load(&ok) < ok_back + 10; i++) nap_ms(10);
  if (atomic_load(&ok) < ok_back + 10)
    fail_msg("PostgreSQL back: %d calls answered 200 in 60 s", atomic_load(&ok) - ok_back);
  atomic_store(&stop, true);
  for (int i = 0; i < CLIENTS; i++) pthread_join(th[i], NULL);
  /* Health follows the last call that ended, and a client's last call may
   * have begun in the outage and ended after others succeeded (or met a
   * connection of the pool that died with the server): one more call,
   * alone, decides it. */
  http_resp r;
  assert_int_equal(http_send(sv.port, "POST", "/v1/skills/kvpair/invoke", token, "\"last\"", &r), 0);
  if (r.status != 200) fail_msg("the call after the clients: status %d: %s", r.status, r.body);
  http_resp_free(&r);
  assert_int_equal(health(sv.port, body, sizeof body), 200);
  if (!strstr(body, "\"status\":\"ok\"")) fail_msg("health after recovery: %s", body);
  /* Every answer was a 200 or a typed 503; the store holds whole calls. */
  cis_kv *kv = kv_open(home);
  for (int i = 0; i < CLIENTS; i++) {
    if (cl[i].odd_status) fail_msg("client %d: status %d: %s", i, cl[i].odd_status, cl[i].odd);
    if (cl[i].bad[0]) fail_msg("a 503 not as it should be: %s", cl[i].bad);
    check_calls(kv, &cl[i]);
  }
  cis_kv_close(kv);
  /* An MCP tools/call that fails alike is said as well: PostgreSQL stopped
   * again, the call alone, more than the log's one second after its last
   * failure line. */
  assert_int_equal(pg("stop"), 0);
  nap_ms(1100);
  mcp_call_kvpair(sv.port, token, &r);
  if (r.status != 200 || !strstr(r.body, "\"isError\":true"))
    fail_msg("MCP tools/call with PostgreSQL stopped: status %d: %s", r.status, r.body);
  http_resp_free(&r);
  assert_int_equal(pg("restart"), 0);
  assert_int_equal(serve_end(&sv, SIGTERM), 0);
  failures_said mcp = failures_in(errlog, "cis serve: tenant acme: MCP tools/call kvpair: CIS_EKVDOWN: ");
  if (mcp.lines != 1 || !mcp.with_words) fail_msg("the MCP call's failure lines: %d, the last: %s", mcp.lines, mcp.last);
  /* The operator's log has the failures' own words, which the clients did
   * not get: at most a line a second, the next one counting those left
   * out (every call of the outage failed alike). */
  long outage_s = (long)(down1.tv_sec - down0.tv_sec) + 1;
  failures_said said = failures_in(errlog, "cis serve: tenant acme: invoke kvpair: CIS_EKVDOWN: ");
  print_message("%d failure lines in the log, the last: %s", said.lines, said.last);
  if (said.lines < 1 || said.lines > outage_s + 2 || !said.with_words || (said.lines > 1 && !said.counted))
    fail_msg("the log's failure lines: %d in an outage of some %ld s (with the store's words: %d, counting those "
             "left out: %d; %d calls answered 503)",
             said.lines, outage_s, said.with_words, said.counted, atomic_load(&unavailable));
  serve_home_remove(home);
}

int main(int argc, char **argv) {
  if (argc < 4) return 2;
  errno = 0;
  g_nice0 = getpriority(PRIO_PROCESS, 0); /* the servers' own: they inherit it */
  if (errno) g_nice0 = 0;
  g_cis = argv[1];
  g_dir = argv[2];
  signal(SIGPIPE, SIG_IGN);
  if (!strcmp(argv[3], "selftest") && argc == 5) {
    g_selftest_file = argv[4];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(selftest_fails_with_a_server_running, serve_procs_kill),
    };
    return cmocka_run_group_tests_name("serve_faults_selftest", tests, NULL, NULL);
  }
  if (!strcmp(argv[3], "sqlite")) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(failed_test_leaves_no_server_running, serve_procs_kill),
        cmocka_unit_test_teardown(kill9_during_writes_keeps_whole_calls_only, serve_procs_kill),
        cmocka_unit_test_prestate_setup_teardown(long_call_is_lowered_then_its_worker_restored, NULL, serve_procs_kill,
                                                 NULL),
        /* Without the right to raise a thread's priority back (root without
         * CAP_SYS_NICE; any other user already lacks it): the worker ends
         * and the watch starts another. */
        cmocka_unit_test_prestate_setup_teardown(long_call_is_lowered_then_its_worker_restored, NULL, serve_procs_kill,
                                                 geteuid() == 0 && !access("/usr/bin/setpriv", X_OK) ? (void *)1
                                                                                                   : NULL),
    };
    return cmocka_run_group_tests_name("serve_faults_sqlite", tests, NULL, NULL);
  }
  if (strcmp(argv[3], "pg") != 0 || argc < 6) return 2;
  g_pgdir = argv[4];
  g_pgsh = argv[5];
  char file[1100], conn[1000];
  snprintf(file, sizeof file, "%s/connstr", g_pgdir);
  int rc = cis_test_read_connstr(file, conn, sizeof conn);
  if (rc != 0) return rc;
  snprintf(g_kv, sizeof g_kv, "postgres:%s", conn);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(kill9_during_writes_keeps_whole_calls_only, serve_procs_kill),
      cmocka_unit_test_teardown(postgres_stopped_gives_503_then_recovers, serve_procs_kill),
  };
  return cmocka_run_group_tests_name("serve_faults_pg", tests, NULL, NULL);
}
