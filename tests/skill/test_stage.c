/*
 * This file tests the stages of one invocation (src/skill/stage.h): driven
 * one at a time, grant → link → run → collect give a WASI module and an
 * installed skill what cis_skills_invoke_wasm (cis run --skill-host) and
 * cis_skills_invoke (cis skill run, the server) give: the same status,
 * trap text, exit code, output, log lines and figures. Each stage fails
 * where it should and collect still ends the call, and collect is the one
 * place a call's KV writes persist.
 *
 * Usage: test_stage WAT_DIR
 *   WAT_DIR  the test skills built from tests/skill/wat
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "support/skill_host.h"
#include "support/test_clock.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cis/cis_kv.h"
#include "cis/cis_skill.h"
#include "skill/stage.h"

static const char *g_wat;  /* built skills */
static char g_root[256];   /* this run's folder; each test has a home below */

/* A skill host in a new home for test, on engine (NULL: the default). */
static cis_skills *open_new_home_on(const char *test, const char *engine) {
  char home[512], kv[600];
  cis_test_home(home, sizeof home, g_root, test, 1);
  snprintf(kv, sizeof kv, "sqlite:%s/kv.db", home);
  return cis_test_skills_open_on(home, kv, NULL, engine);
}

static cis_skills *open_new_home(const char *test) { return open_new_home_on(test, NULL); }

/* What each stage returned; -1: not reached. */
typedef struct stage_rcs {
  cis_result grant, link, run, collect;
  cis_result invoke; /* what the one-call API returned for the same call */
} stage_rcs;

/* Drives the stages one by one as cis__invoke does, recording each one's
 * return. */
static stage_rcs stages(cis__call *c) {
  stage_rcs r = {-1, -1, -1, -1, -1};
  cis_result rc = r.grant = cis__call_grant(c);
  if (rc == CIS_OK) rc = r.link = cis__call_link(c);
  if (rc == CIS_OK) rc = r.run = cis__call_run(c);
  r.collect = cis__call_collect(c, rc);
  return r;
}

/* Installed skill name through the stages. */
static stage_rcs skill_stages(cis_skills *s, const char *name, const char *input, const cis_invoke_options *o,
                              cis_invoke_result *res) {
  cis__skill_entry *e;
  assert_int_equal(cis__skill_lookup(s, name, &e), CIS_OK);
  memset(res, 0, sizeof *res);
  cis__call c;
  cis__call_init(&c, s, input, strlen(input), o, res);
  cis__call_target(&c, e->m, e->dir, &e->g, e->mod, e->m->name, e->m->name);
  stage_rcs r = stages(&c);
  cis__skill_entry_release(e);
  return r;
}

/* The log text without each line's time stamp, the one part two calls may
 * not share. */
static void logs_without_time(const char *logs, char *out, size_t cap) {
  size_t used = 0;
  out[0] = '\0';
  for (const char *p = logs; p && *p && used + 1 < cap;) {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p + 1) : strlen(p);
    const char *sp = memchr(p, ' ', n); /* the stamp is the first field */
    const char *from = sp ? sp + 1 : p;
    size_t k = (size_t)(p + n - from);
    if (used + k + 1 > cap) k = cap - used - 1;
    memcpy(out + used, from, k);
    used += k;
    out[used] = '\0';
    p += n;
  }
}

/* The figures two runs of one call must share (not the times). */
static void same_result(const cis_invoke_result *a, const cis_invoke_result *b) {
  assert_int_equal(a->status, b->status);
  assert_string_equal(a->error, b->error);
  assert_int_equal(a->exit_code, b->exit_code);
  assert_int_equal(a->output_len, b->output_len);
  if (a->output_len) assert_memory_equal(a->output, b->output, a->output_len);
  assert_int_equal(a->stats.kv_gets, b->stats.kv_gets);
  assert_int_equal(a->stats.kv_sets, b->stats.kv_sets);
  assert_int_equal(a->stats.log_lines, b->stats.log_lines);
  assert_int_equal(a->stats.fuel_left, b->stats.fuel_left);
  assert_int_equal(a->stats.memory_peak, b->stats.memory_peak);
  assert_true((a->logs == NULL) == (b->logs == NULL));
  char la[4096], lb[4096];
  logs_without_time(a->logs, la, sizeof la);
  logs_without_time(b->logs, lb, sizeof lb);
  assert_string_equal(la, lb);
}

/* Calls installed skill name with input through cis_skills_invoke, then
 * through the stages, and checks both give the same result. Returns the
 * stages' returns, invoke's in .invoke; the stages' result is left in got
 * for the caller's own checks (and cis_invoke_result_free). */
static stage_rcs stages_beside_invoke(cis_skills *s, const char *name, const char *input,
                                      const cis_invoke_options *o, cis_invoke_result *got) {
  cis_invoke_result want;
  cis_result rc = cis_skills_invoke(s, name, input, strlen(input), o, &want);
  stage_rcs r = skill_stages(s, name, input, o, got);
  r.invoke = rc;
  same_result(&want, got);
  cis_invoke_result_free(&want);
  return r;
}

/* A WASI module that writes, then traps three calls deep: run returns the
 * trap, collect ends the call with it, and every part of the result is
 * what cis_skills_invoke_wasm gives. */
static void stages_give_a_wasi_module_what_invoke_wasm_gives(void **st) {
  (void)st;
  cis_skills *s = open_new_home("wasi");
  size_t len;
  uint8_t *wasm = cis_test_slurp(g_wat, "stage_wasi.wasm", &len);
  cis_invoke_options o = {.call_id = "call-1"};
  cis_invoke_result want;
  assert_int_equal(cis_skills_invoke_wasm(s, wasm, len, "{}", 2, &o, &want), CIS_TRAP_UNREACHABLE);

  char sha[65], name[24];
  assert_int_equal(cis_sha256_hex(wasm, len, sha), CIS_OK);
  snprintf(name, sizeof name, "wasm-%.12s", sha);
  cis_module *mod;
  assert_int_equal(cis__module_cached(s, sha, wasm, len, 0, &mod), CIS_OK);
  cis_invoke_result got;
  memset(&got, 0, sizeof got);
  cis__call c;
  cis__call_init(&c, s, "{}", 2, &o, &got);
  cis__call_target(&c, NULL, NULL, NULL, mod, name, name);
  stage_rcs r = stages(&c);
  assert_int_equal(r.grant, CIS_OK);
  assert_int_equal(r.link, CIS_OK);
  assert_int_equal(r.run, CIS_TRAP_UNREACHABLE);
  assert_int_equal(r.collect, CIS_TRAP_UNREACHABLE);
  same_result(&want, &got);
  assert_non_null(strstr(got.error, "unreachable"));
  assert_non_null(strstr(got.logs, "oops")); /* its stderr, as a log line */
  assert_null(got.output); /* a failed call keeps no output */
  cis_module_free(mod);
  cis_invoke_result_free(&want);
  cis_invoke_result_free(&got);
  free(wasm);
  cis_skills_close(s);
}

/* An installed skill with KV: the stages answer as cis_skills_invoke does. */
static void stages_give_an_installed_skill_what_invoke_gives(void **st) {
  (void)st;
  cis_skills *s = open_new_home("skill");
  cis_test_install(s, g_wat, "stage_kv.wasm", "stagekv", "\"permissions\":{\"kv\":true}");
  cis_invoke_options o = {.call_id = "call-2"};
  cis_invoke_result got;
  stage_rcs r = stages_beside_invoke(s, "stagekv", "{}", &o, &got);
  assert_int_equal(r.invoke, CIS_OK);
  assert_int_equal(r.run, CIS_OK);
  assert_int_equal(r.collect, CIS_OK);
  assert_string_equal(got.output, "{}");
  assert_int_equal(got.stats.kv_sets, 1);
  assert_true(got.stats.memory_peak >= 65536);
  cis_invoke_result_free(&got);
  cis_skills_close(s);
}

/* Key k of skill ns as the store holds it now: its value's first byte, or
 * 0 when it is not there. */
static char stored(cis_skills *s, const char *ns) {
  cis_principal who = {s->tenant, ns};
  cis_kv_txn *t;
  assert_int_equal(cis_kv_begin(s->kv, &who, 5000, &t), CIS_OK);
  void *v = NULL;
  size_t vl = 0;
  cis_result rc = cis_kv_get(t, "k", 1, &v, &vl);
  char c = rc == CIS_OK && vl ? ((char *)v)[0] : 0;
  if (rc != CIS_OK) assert_int_equal(rc, CIS_ENOTFOUND);
  cis_kv_free(v);
  cis_kv_rollback(t);
  return c;
}

/* The skill writes k, then traps: collect drops the write. The same skill
 * answering: collect commits it. */
static void collect_keeps_kv_writes_only_of_a_call_that_succeeded(void **st) {
  (void)st;
  cis_skills *s = open_new_home("commit");
  cis_test_install(s, g_wat, "stage_kv.wasm", "stagekv", "\"permissions\":{\"kv\":true}");
  cis_invoke_result res;
  stage_rcs r = skill_stages(s, "stagekv", "{ }", NULL, &res);
  assert_int_equal(r.run, CIS_TRAP_UNREACHABLE);
  assert_int_equal(r.collect, CIS_TRAP_UNREACHABLE);
  assert_int_equal(res.stats.kv_sets, 1); /* it did write */
  cis_invoke_result_free(&res);
  assert_int_equal(stored(s, "stagekv"), 0);
  r = skill_stages(s, "stagekv", "{}", NULL, &res);
  assert_int_equal(r.collect, CIS_OK);
  cis_invoke_result_free(&res);
  assert_int_equal(stored(s, "stagekv"), 'v');
  cis_skills_close(s);
}

/* The call's deadline travels with its KV transaction (the call context):
 * a commit that waits for the store's write lock, held by another client,
 * ends the call at its deadline, set when the call began and never
 * re-armed, with CIS_ETIMEOUT in stage COLLECT, the commit's words in the
 * error, and nothing written. */
static void a_call_s_deadline_ends_its_kv_commit_waiting_for_the_lock(void **st) {
  (void)st;
  cis_skills *s = open_new_home("commitwait");
  cis_test_install(s, g_wat, "stage_kv.wasm", "stagekv", "\"permissions\":{\"kv\":true}");
  cis_invoke_result res;
  memset(&res, 0, sizeof res);
  /* A first call opens the store (the file), and traps: nothing written. */
  assert_int_equal(cis_skills_invoke(s, "stagekv", "{ }", 3, NULL, &res), CIS_TRAP_UNREACHABLE);
  cis_invoke_result_free(&res);
  char home[512], path[600];
  cis_test_home(home, sizeof home, g_root, "commitwait", 0);
  snprintf(path, sizeof path, "%s/kv.db", home);
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
  cis_invoke_options o = {.timeout_ms = 500};
  memset(&res, 0, sizeof res);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  cis_result rc = cis_skills_invoke(s, "stagekv", "{}", 2, &o, &res);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double took = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
  print_message("a 500 ms call waiting in its KV commit ended after %.1f ms: %s\n", took, res.error);
  assert_int_equal(rc, CIS_ETIMEOUT);
  assert_int_equal(res.stage, CIS_STAGE_COLLECT);
  if (!strstr(res.error, "kv commit") || !strstr(res.error, "deadline"))
    fail_msg("error \"%s\" does not say the commit met the deadline", res.error);
  if (took < 450.0 || took > 500.0 * 10) fail_msg("a 500 ms call ended after %.1f ms", took);
  cis_invoke_result_free(&res);
  assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  assert_int_equal(stored(s, "stagekv"), 0);
  cis_skills_close(s);
}

/* The instance of a call in flight, for a canceller on another thread
 * (cis_invoke_options.on_instance, as cis mcp keeps it). */
typedef struct inflight {
  pthread_mutex_t lock;
  cis_instance *inst;     /* the call's, NULL before and after it */
  bool made;              /* the call reached its guest */
  double cancelled_ms;    /* when the canceller cancelled it (cis_test_mono_ms) */
  int flag;               /* the call's cis_invoke_options.cancel, when it has one */
} inflight;

static bool keep_instance(void *user, cis_instance *inst) {
  inflight *f = user;
  pthread_mutex_lock(&f->lock);
  f->inst = inst;
  if (inst) f->made = true;
  pthread_mutex_unlock(&f->lock);
  return true;
}

/* Cancels the call of f 200 ms after its instance was made (the guest
 * then waits in a host function); gives up after 5 s without one. */
static void *cancel_in_flight(void *p) {
  inflight *f = p;
  struct timespec tick = {0, 10 * 1000000};
  for (int i = 0; i < 500; i++) {
    pthread_mutex_lock(&f->lock);
    bool made = f->made;
    pthread_mutex_unlock(&f->lock);
    if (made) break;
    nanosleep(&tick, NULL);
  }
  struct timespec pause = {0, 200 * 1000000};
  nanosleep(&pause, NULL);
  pthread_mutex_lock(&f->lock);
  f->cancelled_ms = cis_test_mono_ms();
  if (f->inst) cis_instance_cancel(f->inst);
  pthread_mutex_unlock(&f->lock);
  return NULL;
}

/* The value of key of namespace ns (the default tenant's) as a string in
 * out ("" when absent). */
static void stored_key(cis_skills *s, const char *ns, const char *key, char *out, size_t cap) {
  cis_principal who = {s->tenant, ns};
  cis_kv_txn *t;
  assert_int_equal(cis_kv_begin(s->kv, &who, 5000, &t), CIS_OK);
  void *v = NULL;
  size_t vl = 0;
  cis_result rc = cis_kv_get(t, key, strlen(key), &v, &vl);
  if (rc != CIS_OK) assert_int_equal(rc, CIS_ENOTFOUND);
  snprintf(out, cap, "%.*s", rc == CIS_OK ? (int)vl : 0, rc == CIS_OK ? (const char *)v : "");
  cis_kv_free(v);
  cis_kv_rollback(t);
}

/* Opens s's store (a call of stagekv) and returns a transaction that
 * holds kvwait's namespace lock (an increment of ctr, uncommitted). */
static cis_kv_txn *hold_kvwait_lock(cis_skills *s) {
  cis_invoke_result res;
  assert_int_equal(cis_skills_invoke(s, "stagekv", "{}", 2, NULL, &res), CIS_OK);
  cis_invoke_result_free(&res);
  cis_principal who = {s->tenant, "kvwait"};
  cis_kv_txn *holder;
  int64_t ctr;
  assert_int_equal(cis_kv_begin(s->kv, &who, 20000, &holder), CIS_OK);
  assert_int_equal(cis_kv_increment(holder, "ctr", 3, 1, &ctr), CIS_OK);
  return holder;
}

/* A cancel of the guest (cis_instance_cancel, from another thread: what
 * cis mcp's notifications/cancelled does) reaches the call's KV
 * transaction: the skill's increment, waiting for the namespace's lock
 * another transaction holds, ends at once with the cancel, not at the
 * call's deadline; the call ends with CIS_ECANCELED in run, and its write
 * before the wait is rolled back. */
static void a_cancel_ends_the_call_s_kv_wait(void **st) {
  (void)st;
  cis_skills *s = open_new_home("kvcancel");
  cis_test_install(s, g_wat, "stage_kvwait.wasm", "kvwait", "\"permissions\":{\"kv\":true}");
  cis_test_install(s, g_wat, "stage_kv.wasm", "stagekv", "\"permissions\":{\"kv\":true}");
  cis_invoke_result res;
  cis_kv_txn *holder = hold_kvwait_lock(s);

  inflight f = {.lock = PTHREAD_MUTEX_INITIALIZER};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, cancel_in_flight, &f), 0);
  cis_invoke_options o = {.timeout_ms = 10000, .on_instance = keep_instance, .on_instance_user = &f};
  cis_result rc = cis_skills_invoke(s, "kvwait", "{}", 2, &o, &res);
  double ended = cis_test_mono_ms();
  pthread_join(th, NULL);
  double after = ended - f.cancelled_ms;
  print_message("a call cancelled in its KV wait ended %.1f ms after the cancel: %s\n", after, res.error);
  if (rc != CIS_ECANCELED || res.stage != CIS_STAGE_RUN)
    fail_msg("%s in stage %d: %s", cis_errname(rc), (int)res.stage, res.error);
  if (!strstr(res.error, "cancelled")) fail_msg("error \"%s\" does not say the call was cancelled", res.error);
  if (after > 1000.0) fail_msg("the call ended %.1f ms after its cancel", after);
  cis_invoke_result_free(&res);

  assert_int_equal(cis_kv_commit(holder), CIS_OK);
  char v[16];
  stored_key(s, "kvwait", "k", v, sizeof v);
  assert_string_equal(v, ""); /* rolled back */
  stored_key(s, "kvwait", "ctr", v, sizeof v);
  assert_string_equal(v, "1"); /* the holder's alone */
  cis_skills_close(s);
}

/* A caller's cancel flag (cis_invoke_options.cancel) and when it was set. */
typedef struct flag_cancel {
  int flag;            /* the call's cis_invoke_options.cancel */
  int after_ms;        /* set this long after the canceller starts */
  double set_ms;       /* when it was set (cis_test_mono_ms) */
} flag_cancel;

static void *set_flag_later(void *p) {
  flag_cancel *f = p;
  struct timespec pause = {f->after_ms / 1000, (long)(f->after_ms % 1000) * 1000000};
  nanosleep(&pause, NULL);
  f->set_ms = cis_test_mono_ms();
  __atomic_store_n(&f->flag, 1, __ATOMIC_RELAXED);
  return NULL;
}

/* Runs skill name with a 10 s timeout, its flag set after_ms into the
 * call: it ends with CIS_ECANCELED in stage want_stage, well before its
 * deadline and within 1 s of the flag. */
static void cancelled_by_flag(cis_skills *s, const char *name, int after_ms, cis_stage want_stage) {
  flag_cancel f = {.after_ms = after_ms};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, set_flag_later, &f), 0);
  cis_invoke_options o = {.timeout_ms = 10000, .cancel = &f.flag};
  cis_invoke_result res;
  cis_result rc = cis_skills_invoke(s, name, "{}", 2, &o, &res);
  double ended = cis_test_mono_ms();
  pthread_join(th, NULL);
  double after = ended - f.set_ms;
  print_message("%s, its flag set at %d ms: ended %.1f ms after it: %s\n", name, after_ms, after, res.error);
  if (rc != CIS_ECANCELED || res.stage != want_stage)
    fail_msg("%s in stage %d (want %d): %s", cis_errname(rc), (int)res.stage, (int)want_stage, res.error);
  if (!strstr(res.error, "cancelled")) fail_msg("error \"%s\" does not say the call was cancelled", res.error);
  if (after > 1000.0) fail_msg("the call ended %.1f ms after its flag", after);
  assert_true(!res.output || !*res.output);
  cis_invoke_result_free(&res);
}

/* The caller's flag reaches every stage: set before the call, it ends the
 * call where its skill loaded, before anything is granted; set while the
 * guest spins, the guest stops at its next clock check; set while the
 * call waits for a KV lock another transaction holds, the wait ends, and
 * the call's write before it is rolled back. */
static void the_caller_s_flag_cancels_the_call_in_any_stage(void **st) {
  (void)st;
  cis_skills *s = open_new_home("flagcancel");
  cis_test_install(s, g_wat, "stage_spin.wasm", "spin", NULL);
  cis_test_install(s, g_wat, "stage_kvwait.wasm", "kvwait", "\"permissions\":{\"kv\":true}");
  cis_test_install(s, g_wat, "stage_kv.wasm", "stagekv", "\"permissions\":{\"kv\":true}");
  cis_invoke_result res;
  int set = 1;
  cis_invoke_options o = {.cancel = &set};
  assert_int_equal(cis_skills_invoke(s, "stagekv", "{}", 2, &o, &res), CIS_ECANCELED);
  assert_int_equal(res.stage, CIS_STAGE_LOAD);
  assert_int_equal(res.stats.kv_sets, 0); /* it never ran */
  assert_true(!res.output || !*res.output);
  cis_invoke_result_free(&res);

  cancelled_by_flag(s, "spin", 200, CIS_STAGE_RUN);

  cis_kv_txn *holder = hold_kvwait_lock(s);
  cancelled_by_flag(s, "kvwait", 300, CIS_STAGE_RUN);
  assert_int_equal(cis_kv_commit(holder), CIS_OK);
  char v[16];
  stored_key(s, "kvwait", "k", v, sizeof v);
  assert_string_equal(v, ""); /* rolled back */
  cis_skills_close(s);
}

/* Cancels the call whose instance f keeps when a host function first asks
 * for its time left: WASI does at a file call on a mount, before the
 * call's backend steps. */
static void cancel_at_host_wait(void *user, cis_wait why) {
  inflight *f = user;
  pthread_mutex_lock(&f->lock);
  if (why == CIS_WAIT_HOST && f->inst) {
    f->cancelled_ms = cis_test_mono_ms();
    cis_instance_cancel(f->inst);
  }
  pthread_mutex_unlock(&f->lock);
}

/* A host in a new home whose skill fswrite (tests/skill/skills/fs_write.c)
 * has a database mount at /data (fs.db) and KV (kv.db: another
 * database). */
static cis_skills *open_fswrite(const char *test) {
  char home[512], spec[700];
  cis_test_home(home, sizeof home, g_root, test, 1);
  snprintf(spec, sizeof spec, "sqlite:%s/fs.db", home);
  cis_skills_config cfg;
  cis_skills_config_default(&cfg);
  cfg.home = home;
  cfg.vfs_db_spec = spec;
  cis_skills *s = cis_test_skills_open_config(&cfg);
  cis_test_install(s, g_wat, "fs_write.wasm", "fswrite",
                   "\"abi\":\"wasi\",\"permissions\":{\"kv\":true,"
                   "\"fs\":{\"mounts\":[{\"guest\":\"/data\",\"type\":\"db\"}]}}");
  return s;
}

/* What fswrite's /data/f holds, as its {"f":...} answer. */
static void fswrite_file_is(cis_skills *s, const char *want) {
  cis_invoke_result res;
  assert_int_equal(cis_skills_invoke(s, "fswrite", "{\"read\":1}", 10, NULL, &res), CIS_OK);
  assert_string_equal(res.output, want);
  cis_invoke_result_free(&res);
}

/* A cancel of the guest that comes while a WASI file call of a database
 * mount is under way ends that file call's next backend step with
 * ECANCELED (the mount's last error says the call was cancelled), not only
 * the guest at its next host call; the call ends with CIS_ECANCELED and
 * its file is as before. */
static void a_cancel_ends_the_next_step_of_a_db_mount(void **st) {
  (void)st;
  cis_skills *s = open_fswrite("fscancel");
  inflight f = {.lock = PTHREAD_MUTEX_INITIALIZER};
  cis_invoke_options o = {.on_instance = keep_instance, .on_instance_user = &f, .on_wait = cancel_at_host_wait,
                          .on_wait_user = &f};
  cis__skill_entry *e;
  assert_int_equal(cis__skill_lookup(s, "fswrite", &e), CIS_OK);
  cis_invoke_result res;
  memset(&res, 0, sizeof res);
  cis__call c;
  cis__call_init(&c, s, "{}", 2, &o, &res);
  cis__call_target(&c, e->m, e->dir, &e->g, e->mod, e->m->name, e->m->name);
  assert_int_equal(cis__call_grant(&c), CIS_OK);
  assert_int_equal(cis__call_link(&c), CIS_OK);
  cis_result rc = cis__call_run(&c);
  const char *msg = "";
  cis_wasi_last_vfs_error(c.wasi, &msg);
  print_message("a cancel in a file call: %s; the mount's last error: %s\n", cis_errname(rc), msg);
  if (rc != CIS_ECANCELED) fail_msg("run: %s: %s", cis_errname(rc), c.ctx.msg);
  if (!strstr(msg, "cancelled")) fail_msg("no step of the file call met the cancel: \"%s\"", msg);
  assert_int_equal(cis__call_collect(&c, rc), CIS_ECANCELED);
  cis_invoke_result_free(&res);
  cis__skill_entry_release(e);
  fswrite_file_is(s, "{\"f\":\"-\"}\n");
  cis_skills_close(s);
}

/* A call cancelled after its guest returned (its instance still handed
 * out: on_instance) commits nothing: collect ends it with CIS_ECANCELED
 * and its file write is dropped. */
static void a_cancel_before_collect_drops_the_call_s_files(void **st) {
  (void)st;
  cis_skills *s = open_fswrite("fscommit");
  inflight f = {.lock = PTHREAD_MUTEX_INITIALIZER};
  cis_invoke_options o = {.on_instance = keep_instance, .on_instance_user = &f};
  cis_invoke_result res;
  stage_rcs r = skill_stages(s, "fswrite", "{}", NULL, &res); /* uncancelled, it writes */
  assert_int_equal(r.collect, CIS_OK);
  cis_invoke_result_free(&res);
  fswrite_file_is(s, "{\"f\":\"new\"}\n");

  cis__skill_entry *e;
  assert_int_equal(cis__skill_lookup(s, "fswrite", &e), CIS_OK);
  memset(&res, 0, sizeof res);
  cis__call c;
  const char *in = "{\"v\":\"cancelled\"}";
  cis__call_init(&c, s, in, strlen(in), &o, &res);
  cis__call_target(&c, e->m, e->dir, &e->g, e->mod, e->m->name, e->m->name);
  assert_int_equal(cis__call_grant(&c), CIS_OK);
  assert_int_equal(cis__call_link(&c), CIS_OK);
  assert_int_equal(cis__call_run(&c), CIS_OK);
  cis_instance_cancel(f.inst);
  assert_int_equal(cis__call_collect(&c, CIS_OK), CIS_ECANCELED);
  assert_string_equal(res.error, "call cancelled before its commit");
  cis_invoke_result_free(&res);
  cis__skill_entry_release(e);
  fswrite_file_is(s, "{\"f\":\"new\"}\n");
  cis_skills_close(s);
}

/* Cancels the instance it kept, and sets the call's flag, as the instance
 * is taken back (inst NULL): the moment the call's commit is about to
 * begin. */
static bool cancel_when_taken_back(void *user, cis_instance *inst) {
  inflight *f = user;
  if (!inst && f->inst) cis_instance_cancel(f->inst);
  if (!inst) __atomic_store_n(&f->flag, 1, __ATOMIC_RELAXED);
  f->inst = inst;
  return true;
}

/* The instance is taken back (on_instance(NULL)) before the call commits:
 * a cancel from then on, of the instance or by the caller's flag, does
 * not reach the call, whose files (fs.db) and KV writes (kv.db) both
 * commit, never the files alone. */
static void a_cancel_once_the_instance_is_taken_back_leaves_the_commit_whole(void **st) {
  (void)st;
  cis_skills *s = open_fswrite("fswhole");
  inflight f = {.lock = PTHREAD_MUTEX_INITIALIZER};
  cis_invoke_options o = {.on_instance = cancel_when_taken_back, .on_instance_user = &f, .cancel = &f.flag};
  cis_invoke_result res;
  const char *in = "{\"kv\":1,\"v\":\"whole\"}";
  cis_result rc = cis_skills_invoke(s, "fswrite", in, strlen(in), &o, &res);
  if (rc != CIS_OK) fail_msg("%s in stage %d: %s", cis_errname(rc), (int)res.stage, res.error);
  cis_invoke_result_free(&res);
  fswrite_file_is(s, "{\"f\":\"whole\"}\n");
  char v[16];
  stored_key(s, "fswrite", "f", v, sizeof v);
  assert_string_equal(v, "whole");
  cis_skills_close(s);
}

/* A call's settings are read for its context: by its deadline, and not
 * at all once it is cancelled (CIS_ECANCELED, the registry not asked). */
static void a_call_s_settings_are_read_for_its_context(void **st) {
  (void)st;
  cis_skills *s = open_new_home("settings");
  cis_test_install(s, g_wat, "stage_kv.wasm", "stagekv", "");
  assert_int_equal(cis_skills_setting_set(s, "stagekv", "greeting", "hello"), CIS_OK);
  cis__callctx x;
  cis__callctx_init(&x, cis__deadline_after(5000, 0), NULL);
  char *v = NULL;
  size_t n = 0;
  assert_int_equal(cis__setting_get(s, &x, "stagekv", "greeting", 8, &v, &n), CIS_OK);
  assert_string_equal(v, "hello");
  free(v);
  assert_int_equal(cis__setting_get(s, NULL, "stagekv", "greeting", 8, &v, &n), CIS_OK);
  assert_int_equal(n, 5);
  free(v);
  cis__callctx_cancel(&x);
  assert_int_equal(cis__setting_get(s, &x, "stagekv", "greeting", 8, &v, &n), CIS_ECANCELED);
  assert_null(v);
  if (!strstr(cis_skills_errmsg(s), "cancelled")) fail_msg("message \"%s\"", cis_skills_errmsg(s));
  cis_skills_close(s);
}

/* The skill writes k, then throws an exception nothing catches: the call
 * ends with CIS_EXCEPTION and collect drops the write, as for a trap, on
 * each engine. Caught by the skill's own try, the exception ends nothing:
 * the write is committed. */
static void an_uncaught_exception_drops_the_call_s_kv_writes(void **st) {
  (void)st;
  static const char *const engines[] = {"interp", "aot"};
  for (size_t i = 0; i < 2; i++) {
    char test[32];
    snprintf(test, sizeof test, "exn-%s", engines[i]);
    cis_skills *s = open_new_home_on(test, engines[i]);
    cis_test_install(s, g_wat, "stage_exn.wasm", "stageexn", "\"permissions\":{\"kv\":true}");
    cis_invoke_result res;
    stage_rcs r = skill_stages(s, "stageexn", "{ }", NULL, &res);
    assert_int_equal(r.run, CIS_EXCEPTION);
    assert_int_equal(r.collect, CIS_EXCEPTION);
    assert_int_equal(res.stats.kv_sets, 1); /* it did write */
    cis_invoke_result_free(&res);
    assert_int_equal(stored(s, "stageexn"), 0);
    r = skill_stages(s, "stageexn", "{}", NULL, &res);
    assert_int_equal(r.collect, CIS_OK);
    assert_string_equal(res.output, "{}");
    cis_invoke_result_free(&res);
    assert_int_equal(stored(s, "stageexn"), 'v');
    cis_skills_close(s);
  }
}

/* The result says where a call failed: the stage, whatever the code. */
static void the_result_names_the_stage_that_failed(void **st) {
  (void)st;
  cis_skills *s = open_new_home("where");
  cis_test_install(s, g_wat, "stage_kv.wasm", "stagekv", "\"permissions\":{\"kv\":true}");
  cis_test_install(s, g_wat, "stage_badout.wasm", "badout", "");
  static const struct {
    const char *skill, *input;
    cis_result rc;
    cis_stage stage;
  } cases[] = {
      {"stagekv", "{}", CIS_OK, CIS_STAGE_NONE},
      {"nosuch", "{}", CIS_ENOTFOUND, CIS_STAGE_LOAD},
      {"stagekv", "{bad", CIS_EJSON, CIS_STAGE_GRANT},
      {"stagekv", "{ }", CIS_TRAP_UNREACHABLE, CIS_STAGE_RUN},
      {"badout", "{}", CIS_EJSON, CIS_STAGE_COLLECT},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cis_invoke_result res;
    cis_result rc = cis_skills_invoke(s, cases[i].skill, cases[i].input, strlen(cases[i].input), NULL, &res);
    if (rc != cases[i].rc || res.stage != cases[i].stage)
      fail_msg("%s %s: %s in stage %d, want %s in %d", cases[i].skill, cases[i].input, cis_errname(rc),
               (int)res.stage, cis_errname(cases[i].rc), (int)cases[i].stage);
    cis_invoke_result_free(&res);
  }
  cis_skills_close(s);
}

/* A call that fails before it has a skill to run (its arguments, its
 * handle, the lookup, the module's load) fails in stage LOAD, its status
 * and error filled the one way the later stages' are (collect, from the
 * call's context), with no output, logs or figures. */
static void a_load_failure_is_written_like_the_other_stages(void **st) {
  (void)st;
  cis_skills *s = open_new_home("load");
  static const uint8_t junk[] = {0, 'a', 's', 'm', 9, 0, 0, 0};
  static const struct {
    const char *skill;        /* NULL: invoke_wasm */
    const uint8_t *wasm;      /* its module */
    size_t wasm_len;
    const char *input;
    cis_result rc;
    const char *error;        /* in the result's error */
  } cases[] = {
      {"nosuch", NULL, 0, "{}", CIS_ENOTFOUND, "nosuch"},
      {NULL, junk, sizeof junk, "{}", CIS_EVERSION, "unknown binary version"},
      {NULL, NULL, 0, "{}", CIS_EINVAL, "the handle, the skill and the input are required"},
      {"nosuch", NULL, 0, NULL, CIS_EINVAL, "the handle, the skill and the input are required"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cis_invoke_result res;
    const char *in = cases[i].input;
    size_t len = in ? strlen(in) : 0;
    cis_result rc = cases[i].skill || !cases[i].wasm ? cis_skills_invoke(s, cases[i].skill, in, len, NULL, &res)
                                                      : cis_skills_invoke_wasm(s, cases[i].wasm, cases[i].wasm_len, in,
                                                                               len, NULL, &res);
    if (rc != cases[i].rc || res.status != rc || res.stage != CIS_STAGE_LOAD || !strstr(res.error, cases[i].error))
      fail_msg("case %zu: %s in stage %d (%s), want %s in LOAD with \"%s\"", i, cis_errname(rc), (int)res.stage,
               res.error, cis_errname(cases[i].rc), cases[i].error);
    assert_null(res.output);
    assert_null(res.logs);
    assert_int_equal(res.stats.wall_ns, 0);
    cis_invoke_result_free(&res);
  }
  cis_invoke_result res;
  assert_int_equal(cis_skills_invoke_wasm(s, NULL, 0, "{}", 2, NULL, &res), CIS_EINVAL);
  assert_int_equal(res.stage, CIS_STAGE_LOAD);
  cis_skills_close(s);

  /* A handle that did not open (a tenant no name may have). */
  char home[512];
  cis_test_home(home, sizeof home, g_root, "loadbad", 1);
  cis_skills_config c;
  cis_skills_config_default(&c);
  c.home = home;
  c.tenant = "no such tenant!";
  cis_skills *bad = NULL;
  assert_int_not_equal(cis_skills_open(&c, &bad), CIS_OK);
  assert_non_null(bad);
  assert_int_equal(cis_skills_invoke(bad, "any", "{}", 2, NULL, &res), CIS_ESTATE);
  assert_int_equal(res.stage, CIS_STAGE_LOAD);
  if (!strstr(res.error, "the handle did not open: tenant")) fail_msg("error \"%s\"", res.error);
  cis_skills_close(bad);
}

/* Fuel from the manifest runs out in run; the figures are invoke's. */
static void stages_run_out_of_fuel_as_invoke_does(void **st) {
  (void)st;
  cis_skills *s = open_new_home("fuel");
  cis_test_install(s, g_wat, "stage_spin.wasm", "spin", "\"limits\":{\"fuel\":100000}");
  cis_invoke_options o = {.call_id = "call-3"};
  cis_invoke_result got;
  stage_rcs r = stages_beside_invoke(s, "spin", "{}", &o, &got);
  assert_int_equal(r.invoke, CIS_EFUEL);
  assert_int_equal(r.link, CIS_OK);
  assert_int_equal(r.run, CIS_EFUEL);
  assert_int_equal(r.collect, CIS_EFUEL);
  assert_int_equal(got.stats.fuel_left, 0);
  cis_invoke_result_free(&got);
  cis_skills_close(s);
}

/* Input that is not JSON stops the call in grant: collect returns the
 * reason and makes nothing (no logs, no figures), as invoke does. */
static void a_call_refused_in_grant_ends_in_collect_with_nothing_made(void **st) {
  (void)st;
  cis_skills *s = open_new_home("grant");
  cis_test_install(s, g_wat, "stage_kv.wasm", "stagekv", "\"permissions\":{\"kv\":true}");
  cis_invoke_result got;
  stage_rcs r = stages_beside_invoke(s, "stagekv", "{", NULL, &got);
  assert_int_equal(r.invoke, CIS_EJSON);
  assert_int_equal(r.grant, CIS_EJSON);
  assert_int_equal(r.link, -1);
  assert_int_equal(r.collect, CIS_EJSON);
  assert_null(got.logs);
  assert_int_equal(got.stats.wall_ns, 0);
  cis_invoke_result_free(&got);
  cis_skills_close(s);
}

/* A memory limit below the module's memory stops the call in link (the
 * instance is not made): collect ends it with the log made in grant and
 * nothing kept, as invoke does. */
static void a_call_refused_in_link_ends_in_collect(void **st) {
  (void)st;
  cis_skills *s = open_new_home("link");
  cis_test_install(s, g_wat, "stage_kv.wasm", "stagekv", "\"permissions\":{\"kv\":true}");
  cis_invoke_options o = {.call_id = "call-4", .max_memory = 1};
  cis_invoke_result got;
  stage_rcs r = stages_beside_invoke(s, "stagekv", "{}", &o, &got);
  assert_int_not_equal(r.invoke, CIS_OK);
  assert_int_equal(r.grant, CIS_OK);
  assert_int_equal(r.link, r.invoke);
  assert_int_equal(r.run, -1);
  assert_int_equal(r.collect, r.invoke);
  assert_non_null(strstr(got.error, "instantiate: "));
  assert_non_null(got.logs);
  cis_invoke_result_free(&got);
  assert_int_equal(stored(s, "stagekv"), 0);
  cis_skills_close(s);
}

/* Entries in the compiled tier's cache folder dir. */
static int cso_files(const char *dir) {
  char cmd[700];
  snprintf(cmd, sizeof cmd, "ls '%s' 2>/dev/null | grep -c '\\.cso$'", dir);
  FILE *f = popen(cmd, "r");
  assert_non_null(f);
  int n = 0;
  if (fscanf(f, "%d", &n) != 1) n = 0;
  pclose(f);
  return n;
}

/* A call's time counts from its start, its skill's load included: on the
 * compiled engine with no code in the cache and a compiler slower than
 * the call (it sleeps 3 s), the call ends at its 500 ms with CIS_ETIMEOUT
 * (2.5 s allowed for a loaded machine), its compile goes on in a process
 * of its own, and a later call runs the compiled code. */
static void a_call_s_time_counts_its_skill_s_load(void **st) {
  (void)st;
  char home[512], cache[600], cc[600];
  cis_test_home(home, sizeof home, g_root, "load_time", 1);
  snprintf(cache, sizeof cache, "%s/cache", home);
  snprintf(cc, sizeof cc, "%s/slow-cc", home);
  FILE *f = fopen(cc, "w");
  assert_non_null(f);
  fprintf(f, "#!/bin/sh\nsleep 3\nexec gcc \"$@\"\n");
  fclose(f);
  assert_int_equal(chmod(cc, 0755), 0);
  setenv("CIS_AOT_CACHE", cache, 1);
  setenv("CIS_CC", cc, 1);
  cis_skills_config c;
  cis_skills_config_default(&c);
  c.home = home;
  c.engine = "interp"; /* installed without compiling */
  cis_skills *s = cis_test_skills_open_config(&c);
  cis_test_install(s, g_wat, "stage_kv.wasm", "slowload", "\"permissions\":{\"kv\":true}");
  cis_skills_close(s);
  c.engine = "aot";
  s = cis_test_skills_open_config(&c);
  cis_invoke_options o = {.timeout_ms = 500};
  cis_invoke_result r;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  assert_int_equal(cis_skills_invoke(s, "slowload", "{}", 2, &o, &r), CIS_ETIMEOUT);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  assert_true(took >= 0.45 && took < 2.5);
  assert_non_null(strstr(r.error, "deadline"));
  cis_invoke_result_free(&r);
  for (int i = 0; i < 12000 && cso_files(cache) == 0; i++) {
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
  }
  assert_int_equal(cso_files(cache), 1);
  assert_int_equal(cis_skills_invoke(s, "slowload", "{}", 2, &o, &r), CIS_OK);
  assert_string_equal(r.output, "{}");
  cis_invoke_result_free(&r);
  cis_skills_close(s);
  unsetenv("CIS_CC");
  unsetenv("CIS_AOT_CACHE");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_stage WAT_DIR\n");
    return 2;
  }
  g_wat = argv[1];
  if (cis_test_root_make(g_root, sizeof g_root, "stage") != 0) return 2;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(stages_give_a_wasi_module_what_invoke_wasm_gives),
      cmocka_unit_test(stages_give_an_installed_skill_what_invoke_gives),
      cmocka_unit_test(collect_keeps_kv_writes_only_of_a_call_that_succeeded),
      cmocka_unit_test(an_uncaught_exception_drops_the_call_s_kv_writes),
      cmocka_unit_test(a_call_s_deadline_ends_its_kv_commit_waiting_for_the_lock),
      cmocka_unit_test(a_cancel_ends_the_call_s_kv_wait),
      cmocka_unit_test(the_caller_s_flag_cancels_the_call_in_any_stage),
      cmocka_unit_test(a_cancel_ends_the_next_step_of_a_db_mount),
      cmocka_unit_test(a_cancel_before_collect_drops_the_call_s_files),
      cmocka_unit_test(a_cancel_once_the_instance_is_taken_back_leaves_the_commit_whole),
      cmocka_unit_test(a_call_s_settings_are_read_for_its_context),
      cmocka_unit_test(the_result_names_the_stage_that_failed),
      cmocka_unit_test(a_load_failure_is_written_like_the_other_stages),
      cmocka_unit_test(stages_run_out_of_fuel_as_invoke_does),
      cmocka_unit_test(a_call_refused_in_grant_ends_in_collect_with_nothing_made),
      cmocka_unit_test(a_call_refused_in_link_ends_in_collect),
      cmocka_unit_test(a_call_s_time_counts_its_skill_s_load),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  cis_test_root_remove(g_root);
  return failed;
}
