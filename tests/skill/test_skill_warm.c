/*
 * This file tests warm calls through the public skill API (src/skill/warm.c
 * and the runtime's memory pool): a call never sees what an earlier call of
 * the same skill left in its memory, globals or data segments, on the same
 * thread or another; the registry lookup is cached between calls, and the
 * cache follows installs, updates and removals made through another handle
 * or another process on the same CIS_HOME; without the generation file
 * nothing is cached and every call reads the registry. Call ids name the
 * calling process, also in a forked child.
 *
 * Usage: test_skill_warm SKILL_DIR WAT_DIR
 *   SKILL_DIR  the C test skills (tests/skill/CMakeLists.txt)
 *   WAT_DIR    the test skills built from tests/skill/wat
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "support/cancel_later.h"
#include "support/skill_host.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cis/cis_skill.h"
#include "skill/skill_internal.h"

static const char *g_dir, *g_wat; /* built skills */
static char g_root[256];          /* this run's folder; each test has a home below */

/* Invokes name with input; returns the status and copies the output (or
 * the error) into out. */
static cis_result call(cis_skills *s, const char *name, const char *input, char *out, size_t cap) {
  cis_invoke_result r;
  cis_result rc = cis_skills_invoke(s, name, input, strlen(input), NULL, &r);
  snprintf(out, cap, "%s", rc == CIS_OK ? r.output : r.error);
  cis_invoke_result_free(&r);
  return rc;
}

/* Rewrites name's stored manifest behind cis's back (no generation bump):
 * a registry change only a fresh read of the database can see. */
static void corrupt_row(const char *home, const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/registry.db", home);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  char sql[256];
  snprintf(sql, sizeof sql, "UPDATE skills SET manifest='{}' WHERE name='%s'", name);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_changes(db), 1);
  sqlite3_close(db);
}

/* ------------------------------------------------------------ isolation */

static void warm_call_starts_fresh_on_the_same_thread(void **st) {
  (void)st;
  char home[512], out[1024];
  cis_test_home(home, sizeof home, g_root, "fresh_same", 1);
  cis_skills *s = cis_test_skills_open(home, NULL, NULL);
  assert_int_equal(cis_test_register(s, g_wat, "warm_secret.wasm", "secret", ""), CIS_OK);
  for (int i = 0; i < 5; i++) {
    assert_int_equal(call(s, "secret", "{}", out, sizeof out), CIS_OK);
    assert_string_equal(out, "{\"fresh\":true}");
  }
  cis_skills_close(s);
}

typedef struct thread_call {
  cis_skills *s;      /* shared host */
  int calls;          /* how many calls to make */
  int fresh;          /* calls that answered fresh */
} thread_call;

static void *call_fresh(void *arg) {
  thread_call *t = arg;
  char out[1024];
  for (int i = 0; i < t->calls; i++)
    if (call(t->s, "secret", "{}", out, sizeof out) == CIS_OK && !strcmp(out, "{\"fresh\":true}")) t->fresh++;
  return NULL;
}

/* Call 1 on this thread leaves its secret; the calls of two other threads,
 * running at once on the same host, all start fresh. */
static void warm_call_starts_fresh_on_other_threads(void **st) {
  (void)st;
  char home[512], out[1024];
  cis_test_home(home, sizeof home, g_root, "fresh_threads", 1);
  cis_skills *s = cis_test_skills_open(home, NULL, NULL);
  assert_int_equal(cis_test_register(s, g_wat, "warm_secret.wasm", "secret", ""), CIS_OK);
  assert_int_equal(call(s, "secret", "{}", out, sizeof out), CIS_OK);
  thread_call t[2] = {{s, 50, 0}, {s, 50, 0}};
  pthread_t th[2];
  for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&th[i], NULL, call_fresh, &t[i]), 0);
  for (int i = 0; i < 2; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
  assert_int_equal(t[0].fresh, 50);
  assert_int_equal(t[1].fresh, 50);
  cis_skills_close(s);
}

/* ------------------------------------------------------- registry cache */

/* The second call does not read the registry: a row changed behind cis's
 * back goes unseen until the generation moves (here, another handle
 * installs an unrelated skill), and is read then. */
static void warm_lookup_is_cached_until_the_registry_changes(void **st) {
  (void)st;
  char home[512], out[1024];
  cis_test_home(home, sizeof home, g_root, "cached", 1);
  cis_skills *a = cis_test_skills_open(home, NULL, NULL);
  assert_int_equal(cis_test_register(a, g_dir, "hello.wasm", "hello", ""), CIS_OK);
  assert_int_equal(call(a, "hello", "{}", out, sizeof out), CIS_OK);
  corrupt_row(home, "hello");
  assert_int_equal(call(a, "hello", "{}", out, sizeof out), CIS_OK);
  assert_string_equal(out, "{\"result\":2}");
  cis_skills *b = cis_test_skills_open(home, NULL, NULL);
  assert_int_equal(cis_test_register(b, g_dir, "hello.wasm", "other", ""), CIS_OK);
  assert_int_not_equal(call(a, "hello", "{}", out, sizeof out), CIS_OK);
  cis_skills_close(b);
  cis_skills_close(a);
}

/* A handle of tenant on home. */
static cis_skills *open_as(const char *home, const char *tenant) {
  cis_skills_config c;
  cis_skills_config_default(&c);
  c.home = home;
  c.tenant = tenant;
  return cis_test_skills_open_config(&c);
}

/* Each tenant has its own generation: another tenant's installs and
 * removals leave this tenant's cache as it was (the row changed behind
 * cis's back stays unseen), a change of its own tenant is seen. */
static void warm_cache_of_a_tenant_stays_while_another_changes(void **st) {
  (void)st;
  char home[512], out[1024];
  cis_test_home(home, sizeof home, g_root, "per_tenant", 1);
  cis_skills *a = open_as(home, "alice"), *b = open_as(home, "bob"), *a2 = open_as(home, "alice");
  assert_int_equal(cis_test_register(a, g_dir, "hello.wasm", "hello", ""), CIS_OK);
  assert_int_equal(call(a, "hello", "{}", out, sizeof out), CIS_OK);
  corrupt_row(home, "hello");
  for (int i = 0; i < 3; i++) {
    assert_int_equal(cis_test_register(b, g_dir, "hello.wasm", "churn", ""), CIS_OK);
    assert_int_equal(cis_skills_remove(b, "churn"), CIS_OK);
    assert_int_equal(call(a, "hello", "{}", out, sizeof out), CIS_OK);
    assert_string_equal(out, "{\"result\":2}");
  }
  assert_int_equal(cis_test_register(a2, g_dir, "hello.wasm", "other", ""), CIS_OK);
  assert_int_not_equal(call(a, "hello", "{}", out, sizeof out), CIS_OK);
  cis_skills_close(a2);
  cis_skills_close(b);
  cis_skills_close(a);
}

/* The path of file's module (of the built skills) in home. */
static void module_file(const char *home, const char *file, char *path, size_t cap) {
  size_t len;
  uint8_t *w = cis_test_slurp(g_dir, file, &len);
  char sha[65];
  assert_int_equal(cis_sha256_hex(w, len, sha), CIS_OK);
  free(w);
  snprintf(path, cap, "%s/modules/%s.wasm", home, sha);
}

/* How many module files home keeps. */
static int module_files(const char *home) {
  char cmd[700];
  snprintf(cmd, sizeof cmd, "ls %s/modules | grep -c '\\.wasm$'", home);
  FILE *p = popen(cmd, "r");
  int n = -1;
  assert_non_null(p);
  assert_int_equal(fscanf(p, "%d", &n), 1);
  pclose(p);
  return n;
}

/* A module's bytes stay while a skill of any tenant refers to them and go
 * with the last one (removed, or replaced by other code); installed again,
 * they are stored again; churn leaves nothing behind. */
static void module_bytes_go_with_the_last_skill_of_any_tenant(void **st) {
  (void)st;
  char home[512], out[1024], hello[700], echo[700];
  cis_test_home(home, sizeof home, g_root, "module_gc", 1);
  cis_skills *a = open_as(home, "alice"), *b = open_as(home, "bob");
  module_file(home, "hello.wasm", hello, sizeof hello);
  module_file(home, "wasi_echo.wasm", echo, sizeof echo);
  assert_int_equal(cis_test_register(a, g_dir, "hello.wasm", "one", ""), CIS_OK);
  assert_int_equal(cis_test_register(b, g_dir, "hello.wasm", "two", ""), CIS_OK);
  assert_int_equal(access(hello, F_OK), 0);
  assert_int_equal(cis_skills_remove(a, "one"), CIS_OK);
  assert_int_equal(access(hello, F_OK), 0); /* bob's still refers to it */
  assert_int_equal(call(b, "two", "{}", out, sizeof out), CIS_OK);
  assert_int_equal(cis_skills_remove(b, "two"), CIS_OK);
  assert_int_not_equal(access(hello, F_OK), 0);
  assert_int_equal(cis_test_register(a, g_dir, "hello.wasm", "one", ""), CIS_OK);
  assert_int_equal(access(hello, F_OK), 0);
  assert_int_equal(call(a, "one", "{}", out, sizeof out), CIS_OK);
  assert_int_equal(cis_test_register(a, g_dir, "wasi_echo.wasm", "one", "\"abi\":\"wasi\""), CIS_OK);
  assert_int_not_equal(access(hello, F_OK), 0); /* replaced */
  assert_int_equal(access(echo, F_OK), 0);
  for (int i = 0; i < 10; i++) {
    assert_int_equal(cis_test_register(b, g_dir, "hello.wasm", "churn", ""), CIS_OK);
    assert_int_equal(cis_skills_remove(b, "churn"), CIS_OK);
  }
  assert_int_equal(module_files(home), 1);
  assert_int_equal(cis_skills_remove(a, "one"), CIS_OK);
  assert_int_equal(module_files(home), 0);
  cis_skills_close(b);
  cis_skills_close(a);
}

/* A tenant's installs stop at its limits (CIS_EQUOTA): skills, and bytes
 * of distinct modules (one module shared by two skills counts once, a
 * skill replaced does not count); other tenants have limits of their own. */
static void tenant_limits_refuse_installs_past_them(void **st) {
  (void)st;
  char home[512], hello[700];
  cis_test_home(home, sizeof home, g_root, "tenant_limits", 1);
  module_file(home, "hello.wasm", hello, sizeof hello);
  size_t hello_len;
  free(cis_test_slurp(g_dir, "hello.wasm", &hello_len));
  cis_skills *t[2];
  const char *names[2] = {"alice", "bob"};
  for (int i = 0; i < 2; i++) {
    cis_skills_config c;
    cis_skills_config_default(&c);
    c.home = home;
    c.tenant = names[i];
    c.max_skills = 2;
    c.max_module_bytes = hello_len + 16;
    t[i] = cis_test_skills_open_config(&c);
  }
  for (int i = 0; i < 2; i++) {
    assert_int_equal(cis_test_register(t[i], g_dir, "hello.wasm", "a", ""), CIS_OK);
    assert_int_equal(cis_test_register(t[i], g_dir, "hello.wasm", "b", ""), CIS_OK); /* counted once */
    assert_int_equal(cis_test_register(t[i], g_dir, "hello.wasm", "c", ""), CIS_EQUOTA);
    assert_non_null(strstr(cis_skills_errmsg(t[i]), "skills"));
    assert_int_equal(cis_test_register(t[i], g_dir, "hello.wasm", "a", ""), CIS_OK); /* replaced */
  }
  assert_int_equal(cis_skills_remove(t[0], "b"), CIS_OK);
  assert_int_equal(cis_test_register(t[0], g_dir, "wasi_echo.wasm", "b", "\"abi\":\"wasi\""), CIS_EQUOTA);
  assert_non_null(strstr(cis_skills_errmsg(t[0]), "bytes"));
  cis_skills_close(t[1]);
  cis_skills_close(t[0]);
}

/* Installs of one tenant at the very same moment, each through a handle
 * of its own (as processes on one home): exactly max_skills of them
 * succeed, the rest are CIS_EQUOTA. */
typedef struct installer {
  cis_skills *s;            /* its handle */
  char name[16];            /* the skill it installs */
  pthread_barrier_t *start; /* all begin together */
  cis_result rc;            /* the install's outcome */
} installer;

static void *install_one(void *arg) {
  installer *in = arg;
  pthread_barrier_wait(in->start);
  in->rc = cis_test_register(in->s, g_dir, "hello.wasm", in->name, "");
  return NULL;
}

static void concurrent_installs_stop_exactly_at_the_skills_limit(void **st) {
  (void)st;
  char home[512];
  cis_test_home(home, sizeof home, g_root, "tenant_limits_race", 1);
  enum { N = 6, LIMIT = 3 };
  installer in[N];
  pthread_t th[N];
  pthread_barrier_t start;
  pthread_barrier_init(&start, NULL, N);
  for (int i = 0; i < N; i++) {
    cis_skills_config c;
    cis_skills_config_default(&c);
    c.home = home;
    c.tenant = "alice";
    c.max_skills = LIMIT;
    in[i] = (installer){.s = cis_test_skills_open_config(&c), .start = &start};
    snprintf(in[i].name, sizeof in[i].name, "s%d", i);
  }
  for (int i = 0; i < N; i++) assert_int_equal(pthread_create(&th[i], NULL, install_one, &in[i]), 0);
  int ok = 0;
  for (int i = 0; i < N; i++) {
    pthread_join(th[i], NULL);
    if (in[i].rc == CIS_OK) ok++;
    else if (in[i].rc != CIS_EQUOTA) fail_msg("%s: %s", in[i].name, cis_errname(in[i].rc));
  }
  pthread_barrier_destroy(&start);
  assert_int_equal(ok, LIMIT);
  cis_skill_info *list = NULL;
  size_t n = 0;
  assert_int_equal(cis_skills_list(in[0].s, &list, &n), CIS_OK);
  assert_int_equal(n, LIMIT);
  free(list);
  for (int i = 0; i < N; i++) cis_skills_close(in[i].s);
}

/* Another handle on the same home removes, then reinstalls the skill with
 * other code: this handle's next call fails, then runs the new code. */
static void warm_call_follows_another_handle(void **st) {
  (void)st;
  char home[512], out[1024];
  cis_test_home(home, sizeof home, g_root, "two_handles", 1);
  cis_skills *a = cis_test_skills_open(home, NULL, NULL), *b = cis_test_skills_open(home, NULL, NULL);
  assert_int_equal(cis_test_register(a, g_dir, "hello.wasm", "w", ""), CIS_OK);
  assert_int_equal(call(a, "w", "{}", out, sizeof out), CIS_OK);
  assert_string_equal(out, "{\"result\":2}");
  assert_int_equal(cis_skills_remove(b, "w"), CIS_OK);
  assert_int_equal(call(a, "w", "{}", out, sizeof out), CIS_ENOTFOUND);
  assert_int_equal(cis_test_register(b, g_dir, "wasi_echo.wasm", "w", "\"abi\":\"wasi\""), CIS_OK);
  assert_int_equal(call(a, "w", "{\"x\":1}", out, sizeof out), CIS_OK);
  assert_string_equal(out, "{\"echo\":{\"x\":1}}\n");
  /* And an update through this handle is seen by the other. */
  assert_int_equal(call(b, "w", "{}", out, sizeof out), CIS_OK);
  assert_int_equal(cis_test_register(a, g_dir, "hello.wasm", "w", ""), CIS_OK);
  assert_int_equal(call(b, "w", "{}", out, sizeof out), CIS_OK);
  assert_string_equal(out, "{\"result\":2}");
  cis_skills_close(b);
  cis_skills_close(a);
}

/* Another process replaces the skill while this one has it cached. */
static void warm_call_follows_another_process(void **st) {
  (void)st;
  char home[512], out[1024];
  cis_test_home(home, sizeof home, g_root, "two_processes", 1);
  cis_skills *a = cis_test_skills_open(home, NULL, NULL);
  assert_int_equal(cis_test_register(a, g_dir, "hello.wasm", "w", ""), CIS_OK);
  assert_int_equal(call(a, "w", "{}", out, sizeof out), CIS_OK);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    cis_skills_config c;
    cis_skills_config_default(&c);
    c.home = home;
    cis_log_sink null;
    cis_log_sink_null(&null);
    c.log_sink = &null;
    cis_skills *b = NULL;
    int code = cis_skills_open(&c, &b) == CIS_OK &&
                       cis_test_register(b, g_dir, "wasi_echo.wasm", "w", "\"abi\":\"wasi\"") == CIS_OK
                   ? 0
                   : 1;
    cis_skills_close(b);
    _exit(code);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  assert_int_equal(call(a, "w", "{\"y\":2}", out, sizeof out), CIS_OK);
  assert_string_equal(out, "{\"echo\":{\"y\":2}}\n");
  cis_skills_close(a);
}

/* With no generation file to share (here a folder stands in its way),
 * nothing is cached: a change behind cis's back is seen at once. */
static void warm_lookup_without_generation_file_reads_the_registry(void **st) {
  (void)st;
  char home[512], out[1024], path[600];
  cis_test_home(home, sizeof home, g_root, "no_gen", 1);
  snprintf(path, sizeof path, "%s/registry.gen", home);
  assert_int_equal(mkdir(path, 0700), 0);
  cis_skills *a = cis_test_skills_open(home, NULL, NULL);
  assert_int_equal(cis_test_register(a, g_dir, "hello.wasm", "hello", ""), CIS_OK);
  assert_int_equal(call(a, "hello", "{}", out, sizeof out), CIS_OK);
  corrupt_row(home, "hello");
  assert_int_not_equal(call(a, "hello", "{}", out, sizeof out), CIS_OK);
  cis_skills_close(a);
}

/* Whether a call's log names pid in its call id ("call=SECONDS-PID-N"). */
static bool logs_name_pid(cis_skills *s, unsigned pid) {
  cis_invoke_result r;
  if (cis_skills_invoke(s, "hello", "{}", 2, NULL, &r) != CIS_OK) return false;
  char want[32];
  snprintf(want, sizeof want, "-%x-", pid);
  const char *call = r.logs ? strstr(r.logs, "call=") : NULL;
  const char *end = call ? strchr(call, ' ') : NULL;
  bool ok = call && strstr(call, want) && (!end || strstr(call, want) < end);
  cis_invoke_result_free(&r);
  return ok;
}

/* Call ids carry the process id, read once per process: a forked child's
 * calls carry the child's, not its parent's. */
static void call_ids_name_the_calling_process_after_fork(void **st) {
  (void)st;
  char home[512];
  cis_test_home(home, sizeof home, g_root, "call_ids", 1);
  cis_skills *a = cis_test_skills_open(home, NULL, NULL);
  assert_int_equal(cis_test_register(a, g_dir, "hello.wasm", "hello", ""), CIS_OK);
  assert_true(logs_name_pid(a, (unsigned)getpid()));
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) _exit(logs_name_pid(a, (unsigned)getpid()) ? 0 : 1);
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  cis_skills_close(a);
}

/* KV calls of one process on its SQLite store take turns on a mutex
 * (skill.c): one that cannot get its turn before its deadline ends with
 * CIS_ETIMEOUT, and runs once the turn is free. */
static void kv_call_waiting_for_its_turn_ends_at_its_deadline(void **st) {
  (void)st;
  char home[512], out[1024];
  cis_test_home(home, sizeof home, g_root, "kv_turn", 1);
  cis_skills *s = cis_test_skills_open(home, NULL, NULL);
  assert_true(s->kv_serial);
  assert_int_equal(cis_test_register(s, g_dir, "v1_kv.wasm", "notes", "\"permissions\":{\"kv\":true}"), CIS_OK);
  const char *set = "{\"op\":\"set\",\"key\":\"k\",\"value\":\"v\"}";
  cis_invoke_options o;
  memset(&o, 0, sizeof o);
  o.timeout_ms = 100;
  pthread_mutex_lock(&s->kv_call_lock); /* another call's turn */
  cis_invoke_result r;
  assert_int_equal(cis_skills_invoke(s, "notes", set, strlen(set), &o, &r), CIS_ETIMEOUT);
  assert_non_null(strstr(r.error, "busy until the deadline"));
  cis_invoke_result_free(&r);
  pthread_mutex_unlock(&s->kv_call_lock);
  assert_int_equal(call(s, "notes", set, out, sizeof out), CIS_OK);
  cis_skills_close(s);
}

/* Another connection to home's registry.db holding its exclusive lock
 * (ROLLBACK and sqlite3_close end it). */
static sqlite3 *registry_locked(const char *home) {
  char path[600];
  snprintf(path, sizeof path, "%s/registry.db", home);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
  return db;
}

/* A call reads the SQLite registry no later than its own deadline: while
 * another process holds the file's exclusive lock, a call of 200 ms ends
 * at it with CIS_ETIMEOUT (the registry alone would wait
 * CIS__REGISTRY_TIMEOUT_MS), one cancelled meanwhile at its cancel
 * (CIS_ECANCELED), and both run once the lock is gone. */
static void registry_read_waits_no_later_than_the_calls_deadline(void **st) {
  (void)st;
  char home[512], out[1024];
  cis_test_home(home, sizeof home, g_root, "reg_deadline", 1);
  cis_skills *s = cis_test_skills_open(home, NULL, NULL);
  assert_int_equal(cis_test_register(s, g_dir, "hello.wasm", "hello", ""), CIS_OK);
  cis_skills *s2 = cis_test_skills_open(home, NULL, NULL);
  sqlite3 *db = registry_locked(home);
  cis_invoke_options o;
  memset(&o, 0, sizeof o);
  o.timeout_ms = 200;
  cis_invoke_result r;
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  cis_result rc = cis_skills_invoke(s, "hello", "{}", 2, &o, &r);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double took = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
  if (rc != CIS_ETIMEOUT) fail_msg("%s: %s", cis_errname(rc), r.error);
  assert_non_null(strstr(r.error, "locked until the deadline"));
  cis_invoke_result_free(&r);
  print_message("a call of 200 ms ended after %.1f ms\n", took);
  if (took < 150 || took > 2000) fail_msg("the call ended after %.1f ms", took);
  /* The caller's cancel ends that wait (the registry's connection serves
   * the call during its lookup: db/db_conn.h), long before a far
   * deadline, in the load stage. A second handle (opened before the
   * lock): nothing cached. */
  cancel_later cl = {.ms = 200};
  o.timeout_ms = 30000;
  o.cancel = &cl.flag;
  pthread_t th;
  clock_gettime(CLOCK_MONOTONIC, &a);
  assert_int_equal(pthread_create(&th, NULL, flag_after, &cl), 0);
  rc = cis_skills_invoke(s2, "hello", "{}", 2, &o, &r);
  clock_gettime(CLOCK_MONOTONIC, &b);
  pthread_join(th, NULL);
  took = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
  if (rc != CIS_ECANCELED) fail_msg("%s: %s", cis_errname(rc), r.error);
  assert_int_equal(r.stage, CIS_STAGE_LOAD);
  assert_non_null(strstr(r.error, "cancelled"));
  cis_invoke_result_free(&r);
  print_message("a cancel at 200 ms ended the registry's wait after %.1f ms\n", took);
  if (took < 190 || took > 5000) fail_msg("the cancelled call ended after %.1f ms", took);
  assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  assert_int_equal(call(s, "hello", "{}", out, sizeof out), CIS_OK);
  assert_int_equal(call(s2, "hello", "{}", out, sizeof out), CIS_OK);
  cis_skills_close(s2);
  cis_skills_close(s);
}

/* A name the tenant does not have is answered from the names read once
 * per generation: with the registry locked by another connection it is
 * still a prompt CIS_ENOTFOUND, not a wait for the lock. A skill installed
 * through another handle after the names were read is found at once. */
static void absent_names_are_answered_without_the_registry(void **st) {
  (void)st;
  char home[512], out[1024];
  cis_test_home(home, sizeof home, g_root, "absent", 1);
  cis_skills *s = cis_test_skills_open(home, NULL, NULL);
  assert_int_equal(cis_test_register(s, g_dir, "hello.wasm", "hello", ""), CIS_OK);
  assert_int_equal(call(s, "hello", "{}", out, sizeof out), CIS_OK);
  assert_int_equal(call(s, "absent0", "{}", out, sizeof out), CIS_ENOTFOUND);
  assert_non_null(strstr(out, "not installed"));
  sqlite3 *db = registry_locked(home);
  cis_invoke_options o;
  memset(&o, 0, sizeof o);
  o.timeout_ms = 300;
  for (int i = 1; i <= 3; i++) {
    char name[24];
    snprintf(name, sizeof name, "absent%d", i);
    cis_invoke_result r;
    cis_result rc = cis_skills_invoke(s, name, "{}", 2, &o, &r);
    if (rc != CIS_ENOTFOUND) fail_msg("%s: %s: %s", name, cis_errname(rc), r.error);
    assert_non_null(strstr(r.error, "not installed"));
    cis_invoke_result_free(&r);
  }
  assert_int_equal(call(s, "hello", "{}", out, sizeof out), CIS_OK); /* cached */
  assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  cis_skills *b = cis_test_skills_open(home, NULL, NULL);
  assert_int_equal(cis_test_register(b, g_dir, "hello.wasm", "absent1", ""), CIS_OK);
  assert_int_equal(call(s, "absent1", "{}", out, sizeof out), CIS_OK);
  assert_string_equal(out, "{\"result\":2}");
  assert_int_equal(cis_skills_remove(b, "absent1"), CIS_OK);
  assert_int_equal(call(s, "absent1", "{}", out, sizeof out), CIS_ENOTFOUND);
  cis_skills_close(b);
  cis_skills_close(s);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: test_skill_warm SKILL_DIR WAT_DIR\n");
    return 2;
  }
  g_dir = argv[1];
  g_wat = argv[2];
  if (cis_test_root_make(g_root, sizeof g_root, "warm") != 0) return 2;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(warm_call_starts_fresh_on_the_same_thread),
      cmocka_unit_test(warm_call_starts_fresh_on_other_threads),
      cmocka_unit_test(warm_lookup_is_cached_until_the_registry_changes),
      cmocka_unit_test(warm_cache_of_a_tenant_stays_while_another_changes),
      cmocka_unit_test(module_bytes_go_with_the_last_skill_of_any_tenant),
      cmocka_unit_test(tenant_limits_refuse_installs_past_them),
      cmocka_unit_test(concurrent_installs_stop_exactly_at_the_skills_limit),
      cmocka_unit_test(warm_call_follows_another_handle),
      cmocka_unit_test(warm_call_follows_another_process),
      cmocka_unit_test(warm_lookup_without_generation_file_reads_the_registry),
      cmocka_unit_test(call_ids_name_the_calling_process_after_fork),
      cmocka_unit_test(kv_call_waiting_for_its_turn_ends_at_its_deadline),
      cmocka_unit_test(registry_read_waits_no_later_than_the_calls_deadline),
      cmocka_unit_test(absent_names_are_answered_without_the_registry),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  cis_test_root_remove(g_root);
  return rc;
}
