/*
 * This file implements the tests of the registry's PostgreSQL backend
 * (src/skill/registry_postgres.c) through the public API: two handles on
 * two homes (two nodes) sharing one database see each other's installs,
 * removals, trusted keys and settings; tenants stay apart; the tokens of
 * cis_tokens_open_registry live there too; a database out of reach is
 * CIS_EREGISTRYDOWN; a call waits for it no later than its own deadline;
 * and rows written behind cis's back (oversized, a
 * sha256 that is a path, module bytes that do not match) are refused
 * without a crash or a file read outside the home.
 *
 * Usage: test_registry_postgres SKILL_DIR CONNSTR_FILE (the shared `pg`
 * fixture of tests/support). Each test works as a tenant of its own, named
 * with the process id, so runs do not meet in the database.
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/cancel_later.h"
#include "support/failed_open.h"
#include "cis/cis_serve.h"
#include "cis/cis_skill.h"
#include "common/internal.h"
#include "serve/http_internal.h"
#include "skill/registry_internal.h"
#include "support/pg_connstr.h"
#include "support/test_file.h"

static const char *g_dir;
static char g_conn[1024], g_spec[1100], g_root[256];

/* A tenant name of this test and process. */
static void tenant_of(char *out, size_t cap, const char *test) { snprintf(out, cap, "%s-%d", test, (int)getpid()); }

/* The tenant limits of the next node() (0: none). */
static uint32_t g_max_skills;
static uint64_t g_max_module_bytes;
/* The timeouts of the next node()'s handle (0: the defaults). */
static uint64_t g_timeout_ms, g_max_timeout_ms;

/* A node: a handle on a home of its own (g_root/test/node) as tenant. */
static cis_skills *node(const char *test, const char *nodename, const char *tenant, const char *spec) {
  char home[512];
  snprintf(home, sizeof home, "%s/%s", g_root, test);
  mkdir(home, 0700);
  snprintf(home, sizeof home, "%s/%s/%s", g_root, test, nodename);
  cis_skills_config c;
  cis_skills_config_default(&c);
  c.home = home;
  c.tenant = tenant;
  c.registry = spec;
  c.max_skills = g_max_skills;
  c.max_module_bytes = g_max_module_bytes;
  if (g_timeout_ms) c.limits.timeout_ms = g_timeout_ms;
  if (g_max_timeout_ms) c.max_limits.timeout_ms = g_max_timeout_ms;
  cis_skills *s = NULL;
  if (cis_skills_open(&c, &s) != CIS_OK) fail_msg("open %s: %s", home, cis_skills_errmsg(s));
  return s;
}

static uint8_t *hello(size_t *len, char sha[65]) {
  char path[512];
  snprintf(path, sizeof path, "%s/hello.wasm", g_dir);
  uint8_t *w = cis_test_file_read(path, len);
  assert_non_null(w);
  assert_int_equal(cis_sha256_hex(w, *len, sha), CIS_OK);
  return w;
}

static void register_hello(cis_skills *s, const char *name) {
  size_t len;
  char sha[65], man[1024];
  uint8_t *w = hello(&len, sha);
  snprintf(man, sizeof man,
           "{\"name\":\"%s\",\"version\":\"1.0.0\",\"abi\":\"cis_v1\",\"wasm\":{\"path\":\"hello.wasm\","
           "\"sha256\":\"%s\"},\"permissions\":{\"log\":true}}",
           name, sha);
  cis_result rc = cis_skills_register(s, w, len, man, strlen(man));
  if (rc != CIS_OK) fail_msg("register: %s", cis_skills_errmsg(s));
  free(w);
}

static cis_result invoke(cis_skills *s, const char *name) {
  cis_invoke_result r;
  cis_result rc = cis_skills_invoke(s, name, "{}", 2, NULL, &r);
  if (rc == CIS_OK) assert_non_null(strstr(r.output, "\"result\":2"));
  cis_invoke_result_free(&r);
  return rc;
}

/* Waits (at most 15 s, polling every 100 ms) for invoke to give want. */
static cis_result invoke_until(cis_skills *s, const char *name, cis_result want) {
  cis_result rc = CIS_OK;
  for (int i = 0; i < 150; i++) {
    if ((rc = invoke(s, name)) == want) return rc;
    struct timespec ts = {0, 100 * 1000000};
    nanosleep(&ts, NULL);
  }
  return rc;
}

/* Runs sql on the database directly (a row written behind cis's back);
 * the first value of its first row as a number, 0 when it has none. */
static long sql(const char *fmt, ...) {
  char q[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(q, sizeof q, fmt, ap);
  va_end(ap);
  PGconn *pg = PQconnectdb(g_conn);
  assert_int_equal(PQstatus(pg), CONNECTION_OK);
  PGresult *r = PQexec(pg, q);
  if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
    fail_msg("%s: %s", q, PQerrorMessage(pg));
  long n = PQntuples(r) > 0 ? atol(PQgetvalue(r, 0, 0)) : 0;
  PQclear(r);
  PQfinish(pg);
  return n;
}

static void skill_installed_on_one_node_runs_on_another(void **state) {
  (void)state;
  char t[96];
  tenant_of(t, sizeof t, "install");
  cis_skills *a = node("install", "a", t, g_spec), *b = node("install", "b", t, g_spec);
  register_hello(a, "hello");
  /* b never saw the install: the module comes from the database. */
  assert_int_equal(invoke(b, "hello"), CIS_OK);
  char sha[65], path[700];
  size_t len;
  free(hello(&len, sha));
  snprintf(path, sizeof path, "%s/install/b/modules/%s.wasm", g_root, sha);
  assert_int_equal(access(path, R_OK), 0); /* kept as a local copy */
  cis_skill_info *list;
  size_t n;
  assert_int_equal(cis_skills_list(b, &list, &n), CIS_OK);
  assert_int_equal(n, 1);
  assert_string_equal(list[0].name, "hello");
  free(list);
  cis_skills_close(a);
  cis_skills_close(b);
}

static void removal_on_one_node_stops_the_skill_on_another(void **state) {
  (void)state;
  char t[96];
  tenant_of(t, sizeof t, "remove");
  cis_skills *a = node("remove", "a", t, g_spec), *b = node("remove", "b", t, g_spec);
  register_hello(a, "hello");
  assert_int_equal(invoke(a, "hello"), CIS_OK); /* cached on both */
  assert_int_equal(invoke(b, "hello"), CIS_OK);
  assert_int_equal(cis_skills_remove(b, "hello"), CIS_OK);
  assert_int_equal(invoke(b, "hello"), CIS_ENOTFOUND); /* at once on the node that removed it */
  /* On the other within the poll interval (1 s; waited for 15 s at most). */
  assert_int_equal(invoke_until(a, "hello", CIS_ENOTFOUND), CIS_ENOTFOUND);
  assert_int_equal(cis_skills_remove(a, "hello"), CIS_ENOTFOUND);
  cis_skills_close(a);
  cis_skills_close(b);
}

static void tenants_stay_apart_in_the_shared_registry(void **state) {
  (void)state;
  char t1[96], t2[96];
  tenant_of(t1, sizeof t1, "tenant1");
  tenant_of(t2, sizeof t2, "tenant2");
  cis_skills *a = node("tenants", "a", t1, g_spec), *b = node("tenants", "b", t2, g_spec);
  register_hello(a, "hello");
  assert_int_equal(invoke(b, "hello"), CIS_ENOTFOUND);
  cis_skill_info *list;
  size_t n;
  assert_int_equal(cis_skills_list(b, &list, &n), CIS_OK);
  assert_int_equal(n, 0);
  free(list);
  assert_int_equal(cis_skills_remove(b, "hello"), CIS_ENOTFOUND);
  assert_int_equal(invoke(a, "hello"), CIS_OK);
  cis_skills_close(a);
  cis_skills_close(b);
}

/* Each tenant has its own generation: another tenant's installs and
 * removals, on another node, leave this tenant's cache as it was (its row
 * changed behind cis's back stays unseen past the poll bound), while a
 * change of its own tenant on another node is seen within the bound. */
static void changes_of_one_tenant_leave_anothers_cache_warm(void **state) {
  (void)state;
  char quiet[96], busy[96];
  tenant_of(quiet, sizeof quiet, "quiet");
  tenant_of(busy, sizeof busy, "busy");
  cis_skills *a = node("pertenant", "a", quiet, g_spec), *b = node("pertenant", "b", busy, g_spec);
  cis_skills *c = node("pertenant", "c", quiet, g_spec);
  register_hello(a, "hello");
  assert_int_equal(invoke(a, "hello"), CIS_OK);
  sql("UPDATE cis_skills SET manifest = '\\x7b7d'::bytea WHERE tenant = '%s' AND name = 'hello'", quiet);
  for (int i = 0; i < 3; i++) {
    register_hello(b, "churn");
    assert_int_equal(cis_skills_remove(b, "churn"), CIS_OK);
    struct timespec ts = {0, (long)(CIS__REGISTRY_POLL_MS * 1000000u / 2 + 100000000u)};
    nanosleep(&ts, NULL);
    assert_int_equal(invoke(a, "hello"), CIS_OK);
  }
  register_hello(c, "other");
  cis_result rc = CIS_OK;
  for (int i = 0; i < 150 && rc == CIS_OK; i++) {
    struct timespec ts = {0, 100 * 1000000};
    nanosleep(&ts, NULL);
    rc = invoke(a, "hello");
  }
  assert_int_not_equal(rc, CIS_OK);
  cis_skills_close(c);
  cis_skills_close(b);
  cis_skills_close(a);
}

/* hello.wasm with a custom section naming tag: a module of its own (its
 * sha256 into sha), which no other test or run shares. */
static uint8_t *unique_hello(const char *tag, size_t *len, char sha[65]) {
  char ignored[65];
  size_t n;
  uint8_t *w = hello(&n, ignored);
  size_t tl = strlen(tag);
  assert_true(tl < 100);
  uint8_t *u = malloc(n + 6 + tl);
  assert_non_null(u);
  memcpy(u, w, n);
  free(w);
  u[n] = 0;                        /* a custom section */
  u[n + 1] = (uint8_t)(1 + 2 + 1 + tl); /* its size: the name "gc", then the tag's length and bytes */
  u[n + 2] = 2;
  memcpy(u + n + 3, "gc", 2);
  u[n + 5] = (uint8_t)tl;
  memcpy(u + n + 6, tag, tl);
  *len = n + 6 + tl;
  assert_int_equal(cis_sha256_hex(u, *len, sha), CIS_OK);
  return u;
}

/* Installs module w (len bytes, sha) as name. */
static cis_result put_module(cis_skills *s, const char *name, const uint8_t *w, size_t len, const char *sha) {
  char man[1024];
  snprintf(man, sizeof man,
           "{\"name\":\"%s\",\"version\":\"1.0.0\",\"abi\":\"cis_v1\",\"wasm\":{\"path\":\"m.wasm\","
           "\"sha256\":\"%s\"},\"permissions\":{\"log\":true}}",
           name, sha);
  return cis_skills_register(s, w, len, man, strlen(man));
}

/* One node installing and removing a skill over and over. */
typedef struct churner {
  cis_skills *s;
  const uint8_t *w;
  size_t len;
  const char *sha;
  int rounds;
  cis_result rc;
} churner;

static void *churn_main(void *p) {
  churner *c = p;
  for (int i = 0; i < c->rounds && c->rc == CIS_OK; i++) {
    c->rc = put_module(c->s, "churn", c->w, c->len, c->sha);
    if (c->rc == CIS_OK) c->rc = cis_skills_remove(c->s, "churn");
  }
  return NULL;
}

/* Rows of module sha in the database. */
static long module_rows(const char *sha) { return sql("SELECT count(*) FROM cis_modules WHERE sha256 = '%s'", sha); }

/* A module's row stays while a skill of any tenant refers to it and goes
 * with the last one; an install racing removals of the same module on
 * other nodes always ends with its module's row there (a node that never
 * saw it can run the skill). */
static void module_rows_go_with_the_last_skill_and_never_before(void **state) {
  (void)state;
  char t1[96], t2[96], sha[65], tag[64];
  tenant_of(t1, sizeof t1, "gc1");
  tenant_of(t2, sizeof t2, "gc2");
  snprintf(tag, sizeof tag, "%d-%ld", (int)getpid(), (long)time(NULL));
  size_t len;
  uint8_t *w = unique_hello(tag, &len, sha);
  cis_skills *a = node("gc", "a", t1, g_spec), *b = node("gc", "b", t2, g_spec);
  assert_int_equal(put_module(a, "one", w, len, sha), CIS_OK);
  assert_int_equal(put_module(b, "two", w, len, sha), CIS_OK);
  assert_int_equal(invoke(b, "two"), CIS_OK);
  assert_int_equal(cis_skills_remove(a, "one"), CIS_OK);
  assert_int_equal(module_rows(sha), 1);
  assert_int_equal(cis_skills_remove(b, "two"), CIS_OK);
  assert_int_equal(module_rows(sha), 0);
  char path[700];
  snprintf(path, sizeof path, "%s/gc/b/modules/%s.wasm", g_root, sha);
  assert_int_not_equal(access(path, F_OK), 0); /* the node's copy went with it */
  /* Two nodes churn the module while a third installs it, 20 times. */
  cis_skills *c1 = node("gc", "c1", t1, g_spec), *c2 = node("gc", "c2", t2, g_spec);
  churner x = {.s = c1, .w = w, .len = len, .sha = sha, .rounds = 20}, y = x;
  y.s = c2;
  pthread_t tx, ty;
  assert_int_equal(pthread_create(&tx, NULL, churn_main, &x), 0);
  assert_int_equal(pthread_create(&ty, NULL, churn_main, &y), 0);
  for (int i = 0; i < 20; i++) {
    assert_int_equal(put_module(a, "keep", w, len, sha), CIS_OK);
    assert_int_equal(module_rows(sha), 1);
    if (i < 19) assert_int_equal(cis_skills_remove(a, "keep"), CIS_OK);
  }
  pthread_join(tx, NULL);
  pthread_join(ty, NULL);
  assert_int_equal(x.rc, CIS_OK);
  assert_int_equal(y.rc, CIS_OK);
  assert_int_equal(module_rows(sha), 1);
  cis_skills *fresh = node("gc", "fresh", t1, g_spec); /* no local copy */
  assert_int_equal(invoke(fresh, "keep"), CIS_OK);
  assert_int_equal(cis_skills_remove(fresh, "keep"), CIS_OK);
  assert_int_equal(module_rows(sha), 0);
  free(w);
  cis_skills_close(fresh);
  cis_skills_close(c2);
  cis_skills_close(c1);
  cis_skills_close(b);
  cis_skills_close(a);
}

/* A node keeps a copy of each module it ran; one whose row another node
 * removed goes when the node next fetches a module, and the copies of
 * modules still installed stay. */
static void a_nodes_copies_of_removed_modules_go_at_its_next_fetch(void **state) {
  (void)state;
  char t[96], tag[64], sha1[65], sha2[65], sha3[65], p1[700], p2[700], p3[700];
  tenant_of(t, sizeof t, "copies");
  size_t l1, l2, l3;
  snprintf(tag, sizeof tag, "c1-%d-%ld", (int)getpid(), (long)time(NULL));
  uint8_t *w1 = unique_hello(tag, &l1, sha1);
  snprintf(tag, sizeof tag, "c2-%d-%ld", (int)getpid(), (long)time(NULL));
  uint8_t *w2 = unique_hello(tag, &l2, sha2);
  snprintf(tag, sizeof tag, "c3-%d-%ld", (int)getpid(), (long)time(NULL));
  uint8_t *w3 = unique_hello(tag, &l3, sha3);
  cis_skills *a = node("copies", "a", t, g_spec), *b = node("copies", "b", t, g_spec);
  assert_int_equal(put_module(a, "one", w1, l1, sha1), CIS_OK);
  assert_int_equal(put_module(a, "three", w3, l3, sha3), CIS_OK);
  assert_int_equal(invoke(b, "one"), CIS_OK);
  assert_int_equal(invoke(b, "three"), CIS_OK);
  snprintf(p1, sizeof p1, "%s/copies/b/modules/%s.wasm", g_root, sha1);
  snprintf(p2, sizeof p2, "%s/copies/b/modules/%s.wasm", g_root, sha2);
  snprintf(p3, sizeof p3, "%s/copies/b/modules/%s.wasm", g_root, sha3);
  assert_int_equal(access(p1, F_OK), 0);
  assert_int_equal(cis_skills_remove(a, "one"), CIS_OK);
  assert_int_equal(module_rows(sha1), 0);
  assert_int_equal(access(p1, F_OK), 0); /* b's copy: b has not been told */
  assert_int_equal(put_module(a, "two", w2, l2, sha2), CIS_OK);
  assert_int_equal(invoke_until(b, "two", CIS_OK), CIS_OK);
  assert_int_equal(access(p2, F_OK), 0);
  assert_int_not_equal(access(p1, F_OK), 0);
  assert_int_equal(access(p3, F_OK), 0);
  free(w1);
  free(w2);
  free(w3);
  cis_skills_close(b);
  cis_skills_close(a);
}

/* Runs q on pg, which must succeed; the first value of its first row, if
 * any, into out (cap bytes). */
static void pg_run(PGconn *pg, const char *q, char *out, size_t cap) {
  PGresult *r = PQexec(pg, q);
  if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
    fail_msg("%s: %s", q, PQerrorMessage(pg));
  if (out && cap) snprintf(out, cap, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
  PQclear(r);
}

/* One install of the module as "late" (a churner's rounds unused). */
static void *put_main(void *p) {
  churner *x = p;
  x->rc = put_module(x->s, "late", x->w, x->len, x->sha);
  return NULL;
}

typedef struct collector {
  const char *sha;
  char said[8];                        /* what cis_module_gc answered */
} collector;

static void *gc_main(void *p) {
  collector *c = p;
  PGconn *pg = PQconnectdb(g_conn);
  char q[200];
  snprintf(q, sizeof q, "SELECT cis_module_gc('%s')", c->sha);
  pg_run(pg, q, c->said, sizeof c->said);
  PQfinish(pg);
  return NULL;
}

/* The two orders of an install and a collection of its module, each held
 * at the point where the other must wait: an install that holds the
 * module's row keeps it (the collection, once it has the row, sees the new
 * skill); a collection that holds the row first takes the module, and the
 * install stores it again. */
static void module_collection_and_install_take_turns(void **state) {
  (void)state;
  char t[96], sha[65], tag[64], said[16];
  tenant_of(t, sizeof t, "turns");
  snprintf(tag, sizeof tag, "turns-%d-%ld", (int)getpid(), (long)time(NULL));
  size_t len;
  uint8_t *w = unique_hello(tag, &len, sha);
  cis_skills *a = node("turns", "a", t, g_spec);
  assert_int_equal(put_module(a, "first", w, len, sha), CIS_OK);
  assert_int_equal(cis_skills_remove(a, "first"), CIS_OK);
  assert_int_equal(module_rows(sha), 0);
  /* An install in flight (its row written, its module's row held), then
   * a collection: it waits, and keeps the module. */
  PGconn *x = PQconnectdb(g_conn);
  char q[600];
  snprintf(q, sizeof q, "INSERT INTO cis_modules(sha256, bytes) VALUES ('%s', '\\x00'::bytea)", sha);
  pg_run(x, q, NULL, 0);
  pg_run(x, "BEGIN", NULL, 0);
  snprintf(q, sizeof q, "SELECT 1 FROM cis_modules WHERE sha256 = '%s' FOR SHARE", sha);
  pg_run(x, q, NULL, 0);
  snprintf(q, sizeof q,
           "INSERT INTO cis_skills(tenant,name,version,sha256,description,manifest,installed_at) VALUES "
           "('%s','held','1','%s','','\\x7b7d'::bytea,0)",
           t, sha);
  pg_run(x, q, NULL, 0);
  collector c = {.sha = sha};
  pthread_t tc;
  assert_int_equal(pthread_create(&tc, NULL, gc_main, &c), 0);
  struct timespec pause = {0, 300 * 1000000};
  nanosleep(&pause, NULL);
  pg_run(x, "COMMIT", NULL, 0);
  pthread_join(tc, NULL);
  assert_string_equal(c.said, "f");
  assert_int_equal(module_rows(sha), 1);
  snprintf(q, sizeof q, "DELETE FROM cis_skills WHERE tenant = '%s' AND name = 'held'", t);
  pg_run(x, q, NULL, 0);
  /* A collection in flight (the module's row taken, not committed), then
   * an install: it waits, finds the module gone, and stores it again. */
  pg_run(x, "BEGIN", NULL, 0);
  snprintf(q, sizeof q, "SELECT cis_module_gc('%s')", sha);
  pg_run(x, q, said, sizeof said);
  assert_string_equal(said, "t");
  churner p = {.s = a, .w = w, .len = len, .sha = sha};
  pthread_t tp;
  assert_int_equal(pthread_create(&tp, NULL, put_main, &p), 0);
  nanosleep(&pause, NULL);
  pg_run(x, "COMMIT", NULL, 0);
  pthread_join(tp, NULL);
  assert_int_equal(p.rc, CIS_OK);
  assert_int_equal(module_rows(sha), 1);
  cis_skills *fresh = node("turns", "fresh", t, g_spec); /* no local copy */
  assert_int_equal(invoke(fresh, "late"), CIS_OK);
  cis_skills_close(fresh);
  PQfinish(x);
  free(w);
  cis_skills_close(a);
}

/* A tenant's installs stop at its limits on the shared registry too
 * (CIS_EQUOTA), counted over every node's installs. */
static void tenant_limits_hold_across_nodes(void **state) {
  (void)state;
  char t[96], sha[65], sha2[65], tag[64];
  tenant_of(t, sizeof t, "limits");
  snprintf(tag, sizeof tag, "lim-%d-%ld", (int)getpid(), (long)time(NULL));
  size_t len, len2;
  uint8_t *w = unique_hello(tag, &len, sha);
  strcat(tag, "x");
  uint8_t *w2 = unique_hello(tag, &len2, sha2);
  g_max_skills = 2;
  g_max_module_bytes = len + 8;
  cis_skills *a = node("limits", "a", t, g_spec), *b = node("limits", "b", t, g_spec);
  g_max_skills = 0;
  g_max_module_bytes = 0;
  assert_int_equal(put_module(a, "one", w, len, sha), CIS_OK);
  assert_int_equal(put_module(b, "two", w, len, sha), CIS_OK); /* the module counts once */
  assert_int_equal(put_module(a, "three", w, len, sha), CIS_EQUOTA);
  assert_int_equal(put_module(b, "one", w, len, sha), CIS_OK); /* replaced: no more */
  assert_int_equal(cis_skills_remove(a, "two"), CIS_OK);
  assert_int_equal(put_module(b, "two", w2, len2, sha2), CIS_EQUOTA); /* two modules: above the bytes */
  assert_int_equal(put_module(b, "one", w2, len2, sha2), CIS_OK);     /* one module, replaced */
  assert_int_equal(cis_skills_remove(b, "one"), CIS_OK);
  free(w2);
  free(w);
  cis_skills_close(b);
  cis_skills_close(a);
}

/* Installs of one tenant at the very same moment on several nodes: exactly
 * max_skills of them succeed, the rest are CIS_EQUOTA; a refused one
 * leaves no module of its own behind. */
typedef struct installer {
  cis_skills *s;            /* its node */
  char name[16];            /* the skill it installs */
  const uint8_t *w;         /* the module */
  size_t len;               /* its bytes */
  const char *sha;          /* its sha256 */
  pthread_barrier_t *start; /* all begin together */
  cis_result rc;            /* the install's outcome */
} installer;

static void *install_one(void *arg) {
  installer *in = arg;
  pthread_barrier_wait(in->start);
  in->rc = put_module(in->s, in->name, in->w, in->len, in->sha);
  return NULL;
}

static void concurrent_installs_stop_exactly_at_the_limits(void **state) {
  (void)state;
  enum { N = 6, LIMIT = 3 };
  char t[96], tag[64], sha[N][65];
  tenant_of(t, sizeof t, "limrace");
  installer in[N];
  uint8_t *w[N];
  pthread_t th[N];
  pthread_barrier_t start;
  pthread_barrier_init(&start, NULL, N);
  g_max_skills = LIMIT;
  for (int i = 0; i < N; i++) {
    char nodename[16];
    snprintf(nodename, sizeof nodename, "n%d", i);
    snprintf(tag, sizeof tag, "limrace-%d-%ld-%d", (int)getpid(), (long)time(NULL), i);
    size_t len;
    w[i] = unique_hello(tag, &len, sha[i]);
    in[i] = (installer){.s = node("limrace", nodename, t, g_spec), .w = w[i], .len = len, .sha = sha[i],
                        .start = &start};
    snprintf(in[i].name, sizeof in[i].name, "s%d", i);
  }
  g_max_skills = 0;
  for (int i = 0; i < N; i++) assert_int_equal(pthread_create(&th[i], NULL, install_one, &in[i]), 0);
  int ok = 0;
  for (int i = 0; i < N; i++) {
    pthread_join(th[i], NULL);
    if (in[i].rc == CIS_OK) ok++;
    else if (in[i].rc != CIS_EQUOTA) fail_msg("%s: %s: %s", in[i].name, cis_errname(in[i].rc), cis_skills_errmsg(in[i].s));
  }
  pthread_barrier_destroy(&start);
  assert_int_equal(ok, LIMIT);
  cis_skill_info *list = NULL;
  size_t n = 0;
  assert_int_equal(cis_skills_list(in[0].s, &list, &n), CIS_OK);
  assert_int_equal(n, LIMIT);
  free(list);
  /* The refused installs' modules went with them. */
  for (int i = 0; i < N; i++) {
    uint8_t *b = NULL;
    size_t bl = 0;
    cis_result rc = cis__registry_postgres.module_get(in[i].s, cis__registry_until(), sha[i], &b, &bl);
    free(b);
    if (in[i].rc != CIS_OK && rc != CIS_ENOTFOUND) fail_msg("%s's module stayed: %s", in[i].name, cis_errname(rc));
  }
  for (int i = 0; i < N; i++) {
    cis_skills_close(in[i].s);
    free(w[i]);
  }
}

static void keys_and_settings_are_shared_by_the_nodes(void **state) {
  (void)state;
  char t[96];
  tenant_of(t, sizeof t, "keys");
  cis_skills *a = node("keys", "a", t, g_spec), *b = node("keys", "b", t, g_spec);
  register_hello(a, "hello");
  const char *pk = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
  assert_int_equal(cis_skills_key_trust(a, "dev", pk), CIS_OK);
  cis_key_info *keys;
  size_t n;
  assert_int_equal(cis_skills_keys(b, &keys, &n), CIS_OK);
  assert_int_equal(n, 1);
  assert_string_equal(keys[0].name, "dev");
  assert_string_equal(keys[0].public_key, pk);
  free(keys);
  assert_int_equal(cis_skills_key_untrust(b, "dev"), CIS_OK);
  assert_int_equal(cis_skills_key_untrust(a, "dev"), CIS_ENOTFOUND);
  assert_int_equal(cis_skills_setting_set(a, "hello", "colour", "blue"), CIS_OK);
  char *json = NULL;
  assert_int_equal(cis_skills_settings(b, "hello", &json), CIS_OK);
  assert_string_equal(json, "{\"colour\":\"blue\"}");
  free(json);
  assert_int_equal(cis_skills_setting_set(b, "hello", "colour", NULL), CIS_OK);
  assert_int_equal(cis_skills_settings(a, "hello", &json), CIS_OK);
  assert_string_equal(json, "{}");
  free(json);
  cis_skills_close(a);
  cis_skills_close(b);
}

typedef struct setter {
  cis_skills *s;
  cis_result rc;
} setter;

static void *set_main(void *p) {
  setter *x = p;
  x->rc = cis_skills_setting_set(x->s, "hello", "colour", "red");
  return NULL;
}

static void registry_wait_ends(const char *test, const cis_invoke_options *o, uint64_t default_ms, uint64_t max_ms,
                               cancel_later *cl, cis_result want, const char *words);

/* Runs skill "cold" (its row not read yet) on a node of limits
 * default_ms and max_ms (0: the defaults) with options o, while another
 * thread's write holds the handle's connection (waiting at the server on
 * a row another client locked; the registry's own bound is
 * CIS__REGISTRY_TIMEOUT_MS): the call ends with CIS_ETIMEOUT after
 * 250 ms to 2.5 s, and the write goes on once the row is free. */
static void registry_wait_ends_in_300_ms(const char *test, const cis_invoke_options *o, uint64_t default_ms,
                                         uint64_t max_ms) {
  registry_wait_ends(test, o, default_ms, max_ms, NULL, CIS_ETIMEOUT, "until the deadline");
}

/* The same wait, ended (want, words: the call's code and a part of its
 * message) by the deadline, or by cl's flag (o->cancel) set cl->ms after
 * the call starts. */
static void registry_wait_ends(const char *test, const cis_invoke_options *o, uint64_t default_ms, uint64_t max_ms,
                               cancel_later *cl, cis_result want, const char *words) {
  char t[96], q[400];
  tenant_of(t, sizeof t, test);
  g_timeout_ms = default_ms;
  g_max_timeout_ms = max_ms;
  cis_skills *a = node(test, "a", t, g_spec);
  g_timeout_ms = g_max_timeout_ms = 0;
  register_hello(a, "hello");
  register_hello(a, "cold"); /* looked up by nobody yet: the call reads its row */
  assert_int_equal(cis_skills_setting_set(a, "hello", "colour", "blue"), CIS_OK);
  PGconn *pg = PQconnectdb(g_conn);
  assert_int_equal(PQstatus(pg), CONNECTION_OK);
  pg_run(pg, "BEGIN", NULL, 0);
  snprintf(q, sizeof q,
           "SELECT 1 FROM cis_skill_settings WHERE tenant = '%s' AND skill = 'hello' AND key = 'colour' FOR UPDATE", t);
  pg_run(pg, q, NULL, 0);
  setter x = {.s = a, .rc = CIS_EIO};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, set_main, &x), 0);
  /* The write is waiting for the row this client holds (and so holds the
   * handle's connection). */
  char waiting[8] = "";
  for (int i = 0; i < 400 && strcmp(waiting, "1") != 0; i++) {
    pg_run(pg, "SELECT count(*) FROM pg_stat_activity WHERE pg_backend_pid() = ANY (pg_blocking_pids(pid))", waiting,
           sizeof waiting);
    if (strcmp(waiting, "1") != 0) usleep(5000);
  }
  assert_string_equal(waiting, "1");
  cis_invoke_result r;
  uint64_t t0 = cis__now_ns();
  pthread_t canceller;
  if (cl) assert_int_equal(pthread_create(&canceller, NULL, flag_after, cl), 0);
  cis_result rc = cis_skills_invoke(a, "cold", "{}", 2, o, &r);
  uint64_t took_ms = (cis__now_ns() - t0) / 1000000u;
  if (cl) pthread_join(canceller, NULL);
  if (rc != want) fail_msg("%s: %s", cis_errname(rc), r.error);
  if (!strstr(r.error, words)) fail_msg("%s", r.error);
  cis_invoke_result_free(&r);
  print_message("%s: the call ended after %llu ms\n", test, (unsigned long long)took_ms);
  if (took_ms < (cl ? 190 : 250) || took_ms > 2500) fail_msg("the call ended after %llu ms", (unsigned long long)took_ms);
  pg_run(pg, "COMMIT", NULL, 0);
  PQfinish(pg);
  pthread_join(th, NULL);
  assert_int_equal(x.rc, CIS_OK);
  assert_int_equal(invoke(a, "cold"), CIS_OK);
  cis_skills_close(a);
}

/* A call waits for the registry no later than its own deadline. */
static void a_call_ends_at_its_own_deadline_while_the_registry_waits(void **state) {
  (void)state;
  cis_invoke_options o = {.timeout_ms = 300};
  registry_wait_ends_in_300_ms("deadline", &o, 0, 0);
}

/* A call without a deadline of its own waits for its skill's row no
 * longer than the longest deadline the handle could give it (its default
 * and the most a manifest may ask for, both 300 ms here), not the
 * registry's own 5 s. */
static void a_call_s_registry_wait_ends_by_the_handle_s_longest_deadline(void **state) {
  (void)state;
  registry_wait_ends_in_300_ms("longest", NULL, 300, 300);
}

/* The caller's cancel ends a call's wait for its skill's row at the
 * server (another client holds the skills' table locked; the registry's
 * connection serves the call during its lookup: db/db_conn.h) long before
 * a far deadline, in the load stage; the call runs once the lock is
 * gone. */
static void a_cancel_ends_the_registry_wait_at_the_server(void **state) {
  (void)state;
  char t[96];
  tenant_of(t, sizeof t, "cancel");
  cis_skills *a = node("cancel", "a", t, g_spec);
  register_hello(a, "cold"); /* looked up by nobody yet: the call reads its row */
  PGconn *pg = PQconnectdb(g_conn);
  assert_int_equal(PQstatus(pg), CONNECTION_OK);
  pg_run(pg, "BEGIN", NULL, 0);
  pg_run(pg, "LOCK TABLE cis_skills IN ACCESS EXCLUSIVE MODE", NULL, 0);
  cancel_later cl = {.ms = 200};
  cis_invoke_options o = {.timeout_ms = 30000, .cancel = &cl.flag};
  pthread_t th;
  cis_invoke_result r;
  uint64_t t0 = cis__now_ns();
  assert_int_equal(pthread_create(&th, NULL, flag_after, &cl), 0);
  cis_result rc = cis_skills_invoke(a, "cold", "{}", 2, &o, &r);
  uint64_t took_ms = (cis__now_ns() - t0) / 1000000u;
  pthread_join(th, NULL);
  pg_run(pg, "COMMIT", NULL, 0);
  PQfinish(pg);
  if (rc != CIS_ECANCELED) fail_msg("%s: %s", cis_errname(rc), r.error);
  assert_int_equal(r.stage, CIS_STAGE_LOAD);
  if (!strstr(r.error, "cancelled")) fail_msg("%s", r.error);
  cis_invoke_result_free(&r);
  print_message("a cancel at 200 ms ended the registry's wait after %llu ms\n", (unsigned long long)took_ms);
  if (took_ms < 190 || took_ms > 5000) fail_msg("the cancelled call ended after %llu ms", (unsigned long long)took_ms);
  assert_int_equal(invoke(a, "cold"), CIS_OK);
  cis_skills_close(a);
}

/* A call whose lookup's reads wait at the server past the call's
 * deadline (another client holds the skills' table locked) fails in the
 * load stage with the words of the read that waited (its statement's
 * parse or its run, stopped at the deadline), not those of a read tried
 * after it, whose time was gone before it began. */
static void a_registry_wait_past_the_deadline_says_which_read_waited(void **state) {
  (void)state;
  char t[96];
  tenant_of(t, sizeof t, "waited");
  cis_skills *a = node("waited", "a", t, g_spec);
  register_hello(a, "cold"); /* looked up by nobody yet: the call reads the names, then its row */
  PGconn *pg = PQconnectdb(g_conn);
  assert_int_equal(PQstatus(pg), CONNECTION_OK);
  pg_run(pg, "BEGIN", NULL, 0);
  pg_run(pg, "LOCK TABLE cis_skills IN ACCESS EXCLUSIVE MODE", NULL, 0);
  cis_invoke_options o = {.timeout_ms = 300};
  cis_invoke_result r;
  cis_result rc = cis_skills_invoke(a, "cold", "{}", 2, &o, &r);
  pg_run(pg, "COMMIT", NULL, 0);
  PQfinish(pg);
  if (rc != CIS_ETIMEOUT) fail_msg("%s: %s", cis_errname(rc), r.error);
  assert_int_equal(r.stage, CIS_STAGE_LOAD);
  if (!strstr(r.error, "registry database: prepare: no answer before the deadline") &&
      !strstr(r.error, "registry database: query: the deadline passed: the statement was cancelled"))
    fail_msg("%s", r.error);
  cis_invoke_result_free(&r);
  assert_int_equal(invoke(a, "cold"), CIS_OK);
  cis_skills_close(a);
}

/* A call made on another thread, for the tests of waits (timeout_ms 0:
 * the handle's). */
typedef struct invoker {
  cis_skills *s;
  const char *name;
  uint64_t timeout_ms;
  cis_result rc;
  char error[sizeof ((cis_invoke_result *)0)->error];
} invoker;

static void *invoker_main(void *p) {
  invoker *x = p;
  cis_invoke_options o = {.timeout_ms = x->timeout_ms};
  cis_invoke_result r;
  x->rc = cis_skills_invoke(x->s, x->name, "{}", 2, &o, &r);
  snprintf(x->error, sizeof x->error, "%s", r.error);
  cis_invoke_result_free(&r);
  return NULL;
}

/* A handle's call, its time into *took_ms. */
static cis_result invoke_timed(cis_skills *s, const char *name, uint64_t timeout_ms, char *err, size_t cap,
                               uint64_t *took_ms) {
  invoker x = {.s = s, .name = name, .timeout_ms = timeout_ms};
  uint64_t t0 = cis__now_ns();
  invoker_main(&x);
  *took_ms = (cis__now_ns() - t0) / 1000000u;
  snprintf(err, cap, "%s", x.error);
  return x.rc;
}

/* The process's watch of the tenants' generations, polled by one call at
 * a time: while a poll waits at the server (its table locked by another
 * client, as a poll by a call on the lane waits for a CPU), another
 * tenant's call goes on with what the watch knows as long as that is
 * within its bound, and waits past it only until its own deadline. The
 * watch's times are set wide for the test (a poll due at 100 ms, what
 * is known good for 30 s, then 120 ms), so that a loaded machine's
 * delays do not decide it. */
static void another_tenants_poll_on_its_way_keeps_no_call_waiting(void **state) {
  (void)state;
  char y[96], w[96];
  tenant_of(y, sizeof y, "watchy");
  tenant_of(w, sizeof w, "watchw");
  cis_skills *y0 = node("watch", "y0", y, g_spec), *w0 = node("watch", "w0", w, g_spec);
  register_hello(y0, "hello");
  register_hello(w0, "hello");
  cis__registry_watch_times_set(100, 30000);
  assert_int_equal(invoke(y0, "hello"), CIS_OK); /* the watch polled */
  struct timespec ts = {0, 150 * 1000000};
  nanosleep(&ts, NULL); /* a poll is due */
  PGconn *pg = PQconnectdb(g_conn);
  assert_int_equal(PQstatus(pg), CONNECTION_OK);
  pg_run(pg, "BEGIN", NULL, 0);
  pg_run(pg, "LOCK TABLE cis_registry_tenant_gen IN ACCESS EXCLUSIVE MODE", NULL, 0);
  /* A new handle of tenant w polls (it never read the generation) and
   * waits at the server: its call's deadline is far. */
  cis_skills *w1 = node("watch", "w1", w, g_spec);
  invoker x = {.s = w1, .name = "hello", .timeout_ms = 30000};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, invoker_main, &x), 0);
  char waiting[8] = "";
  for (int i = 0; i < 400 && strcmp(waiting, "1") != 0; i++) {
    pg_run(pg, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cis-registry-watch' AND "
               "pg_backend_pid() = ANY (pg_blocking_pids(pid))", waiting, sizeof waiting);
    if (strcmp(waiting, "1") != 0) usleep(5000);
  }
  assert_string_equal(waiting, "1");
  /* A new handle of tenant y needs the generation too: it takes what the
   * watch knows, without waiting for w's poll. */
  cis_skills *y1 = node("watch", "y1", y, g_spec);
  char err1[sizeof ((cis_invoke_result *)0)->error], err2[sizeof err1];
  uint64_t took1, took2;
  cis_result rc1 = invoke_timed(y1, "hello", 10000, err1, sizeof err1, &took1);
  /* What the watch knows past its bound: a call waits for that poll, and
   * no longer than its own deadline. */
  cis__registry_watch_times_set(100, 120);
  cis_skills *y2 = node("watch", "y2", y, g_spec);
  cis_result rc2 = invoke_timed(y2, "hello", 300, err2, sizeof err2, &took2);
  /* Let go (before any check, so that a failure leaves no lock behind). */
  pg_run(pg, "COMMIT", NULL, 0);
  PQfinish(pg);
  pthread_join(th, NULL);
  cis__registry_watch_times_set(0, 0);
  print_message("with another tenant's poll on its way: %s after %llu ms\n", cis_errname(rc1),
                (unsigned long long)took1);
  if (rc1 != CIS_OK) fail_msg("%s: %s", cis_errname(rc1), err1);
  if (took1 >= 5000) fail_msg("the call waited %llu ms for another tenant's poll", (unsigned long long)took1);
  print_message("past the bound: %s after %llu ms: %s\n", cis_errname(rc2), (unsigned long long)took2, err2);
  assert_int_equal(rc2, CIS_ETIMEOUT);
  if (!strstr(err2, "another call's poll of the generations stayed unfinished until the deadline")) fail_msg("%s", err2);
  if (took2 < 250 || took2 > 2500) fail_msg("the call ended after %llu ms", (unsigned long long)took2);
  if (x.rc != CIS_OK) fail_msg("the poller's call: %s: %s", cis_errname(x.rc), x.error);
  assert_int_equal(invoke(y2, "hello"), CIS_OK);
  cis_skills_close(y2);
  cis_skills_close(y1);
  cis_skills_close(w1);
  cis_skills_close(w0);
  cis_skills_close(y0);
}

/* A call whose lookup waits for the handle's connection (another
 * thread's statement holds it at the server) ends on the caller's cancel
 * at 200 ms, not at its 30 s deadline. */
static void a_cancel_ends_the_wait_for_the_registry_s_connection(void **state) {
  (void)state;
  cancel_later cl = {.ms = 200};
  cis_invoke_options o = {.timeout_ms = 30000, .cancel = &cl.flag};
  registry_wait_ends("connwait", &o, 0, 0, &cl, CIS_ECANCELED, "cancelled while another statement held the connection");
}

static void tokens_made_on_one_node_are_good_on_another(void **state) {
  (void)state;
  char home[512], tok[CIS_TOKEN_MAX], tenant[CIS_TOKEN_NAME_MAX + 1], name[64];
  snprintf(home, sizeof home, "%s/tokens", g_root);
  mkdir(home, 0700);
  cis_tokens *a = NULL, *b = NULL;
  /* "postgresql:CONNSTR" is "postgres:CONNSTR" (the one grammar, db/db.h). */
  char longer[1200];
  assert_true(!strncmp(g_spec, "postgres:", 9));
  snprintf(longer, sizeof longer, "postgresql:%s", g_spec + 9);
  assert_int_equal(cis_tokens_open_registry(home, g_spec, &a), CIS_OK);
  assert_int_equal(cis_tokens_open_registry(home, longer, &b), CIS_OK);
  snprintf(name, sizeof name, "ci-%d", (int)getpid());
  cis_token_info info;
  assert_int_equal(cis_tokens_create(a, "acme", name, tok, sizeof tok, &info), CIS_OK);
  assert_int_equal(cis_tokens_check(b, tok, strlen(tok), tenant, sizeof tenant), CIS_OK);
  assert_string_equal(tenant, "acme");
  char tok2[CIS_TOKEN_MAX];
  assert_int_equal(cis_tokens_create(b, "acme", name, tok2, sizeof tok2, NULL), CIS_EEXIST); /* names are unique */
  cis_token_info *list;
  size_t n;
  assert_int_equal(cis_tokens_list(b, &list, &n), CIS_OK);
  bool seen = false;
  for (size_t i = 0; i < n; i++) seen |= !strcmp(list[i].name, name) && list[i].id == info.id;
  free(list);
  assert_true(seen);
  /* Revoked through one node, refused by the other at once. */
  snprintf(name, sizeof name, "ci2-%d", (int)getpid());
  assert_int_equal(cis_tokens_create(a, "acme", name, tok2, sizeof tok2, NULL), CIS_OK);
  assert_int_equal(cis_tokens_check(b, tok2, strlen(tok2), tenant, sizeof tenant), CIS_OK);
  assert_int_equal(cis_tokens_revoke(b, name), CIS_OK);
  assert_int_equal(cis_tokens_check(a, tok2, strlen(tok2), tenant, sizeof tenant), CIS_EDENIED);
  assert_int_equal(cis_tokens_revoke(a, name), CIS_ENOTFOUND);
  cis_tokens_close(a);
  cis_tokens_close(b);
}


/* Settings are each tenant's in the shared registry too: tenant in the key
 * and in every statement's WHERE (the SQLite registry's bug, checked here). */
static void settings_of_same_named_skills_are_each_tenants_own(void **state) {
  (void)state;
  char t1[96], t2[96];
  tenant_of(t1, sizeof t1, "set1");
  tenant_of(t2, sizeof t2, "set2");
  cis_skills *a = node("settings", "a", t1, g_spec), *b = node("settings", "b", t2, g_spec);
  register_hello(a, "hello");
  register_hello(b, "hello");
  assert_int_equal(cis_skills_setting_set(a, "hello", "colour", "blue"), CIS_OK);
  char *json = NULL;
  assert_int_equal(cis_skills_settings(b, "hello", &json), CIS_OK);
  assert_string_equal(json, "{}");
  free(json);
  assert_int_equal(cis_skills_setting_set(b, "hello", "colour", "red"), CIS_OK);
  assert_int_equal(cis_skills_setting_set(b, "hello", "colour", NULL), CIS_OK);
  assert_int_equal(cis_skills_settings(a, "hello", &json), CIS_OK);
  assert_string_equal(json, "{\"colour\":\"blue\"}");
  free(json);
  cis_skills_close(a);
  cis_skills_close(b);
}

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A node caches a verified token (its hash): a change behind cis's back
 * is not read per check. A revocation through the node itself is refused
 * there at once, and through another node within the poll bound
 * (CIS__TOKENS_POLL_MS, waited here up to 15 s on a loaded machine). */
static void token_cache_sees_a_revocation_on_another_node_within_the_poll_bound(void **state) {
  (void)state;
  char home[512], tok[CIS_TOKEN_MAX], tenant[CIS_TOKEN_NAME_MAX + 1], name[64];
  snprintf(home, sizeof home, "%s/tokcache", g_root);
  mkdir(home, 0700);
  cis_tokens *a = NULL, *b = NULL;
  assert_int_equal(cis_tokens_open_registry(home, g_spec, &a), CIS_OK);
  assert_int_equal(cis_tokens_open_registry(home, g_spec, &b), CIS_OK);
  snprintf(name, sizeof name, "cache-%d", (int)getpid());
  assert_int_equal(cis_tokens_create(a, "acme", name, tok, sizeof tok, NULL), CIS_OK);
  assert_int_equal(cis_tokens_check(b, tok, strlen(tok), tenant, sizeof tenant), CIS_OK);
  assert_int_equal(cis__tokens_cached(b), 1);
  assert_int_equal(cis_tokens_check(a, tok, strlen(tok), tenant, sizeof tenant), CIS_OK);
  /* The stored hash changed behind cis's back (no revocation): the cache
   * answers, the table is not read. */
  sql("UPDATE cis_tokens SET hash = repeat('0', 64) WHERE name = '%s'", name);
  assert_int_equal(cis_tokens_check(b, tok, strlen(tok), tenant, sizeof tenant), CIS_OK);
  assert_string_equal(tenant, "acme");
  /* Revoked through a: refused by a at once. */
  assert_int_equal(cis_tokens_revoke(a, name), CIS_OK);
  uint64_t t0 = mono_ms();
  assert_int_equal(cis_tokens_check(a, tok, strlen(tok), tenant, sizeof tenant), CIS_EDENIED);
  /* And by b once its poll reads the new generation. */
  cis_result rc = CIS_OK;
  for (int i = 0; i < 300 && rc == CIS_OK; i++) {
    rc = cis_tokens_check(b, tok, strlen(tok), tenant, sizeof tenant);
    if (rc == CIS_OK) {
      struct timespec ts = {0, 50 * 1000000};
      nanosleep(&ts, NULL);
    }
  }
  assert_int_equal(rc, CIS_EDENIED);
  fprintf(stderr, "revocation seen by the other node after %llu ms (poll bound %u ms)\n",
          (unsigned long long)(mono_ms() - t0), CIS__TOKENS_POLL_MS);
  assert_int_equal(cis__tokens_cached(b), 0);
  cis_tokens_close(a);
  cis_tokens_close(b);
}

static void a_registry_database_out_of_reach_is_eregistrydown(void **state) {
  (void)state;
  /* Port 1 on loopback: nothing listens, the connection is refused. */
  const char *dead = "postgres:host=127.0.0.1 port=1 dbname=x user=x connect_timeout=2";
  cis_skills *a = node("dead", "a", "dead", dead); /* opening connects to nothing */
  cis_skill_info *list;
  size_t n;
  assert_int_equal(cis_skills_list(a, &list, &n), CIS_EREGISTRYDOWN);
  assert_int_equal(invoke(a, "hello"), CIS_EREGISTRYDOWN);
  assert_null(strstr(cis_skills_errmsg(a), "user=x")); /* never the connection string */
  cis_skills_close(a);
  char home[512], tenant[CIS_TOKEN_NAME_MAX + 1];
  snprintf(home, sizeof home, "%s/dead", g_root);
  cis_tokens *t = NULL;
  assert_int_equal(cis_tokens_open_registry(home, dead, &t), CIS_OK);
  const char *tok = "cis_1_0000000000000000000000000000000000000000000000000000000000000000";
  assert_int_equal(cis_tokens_check(t, tok, strlen(tok), tenant, sizeof tenant), CIS_EREGISTRYDOWN);
  cis_tokens_close(t);
}

static void a_registry_spec_naming_no_backend_is_einval(void **state) {
  (void)state;
  char home[512];
  snprintf(home, sizeof home, "%s/badspec", g_root);
  cis_skills_config c;
  cis_skills_config_default(&c);
  c.home = home;
  c.registry = "mysql:db";
  cis_test_skills_open_fails(&c, CIS_EINVAL, "mysql", NULL, 0);
  cis_test_tokens_open_fails(home, "mysql:db", CIS_EINVAL, "registry: ", NULL, 0);
}

/* Moves tenant t's generation as a write of cis does, so that the nodes
 * read its rows again (a node keeps the names of a tenant's skills per
 * generation: a row written behind cis's back without it stays unknown). */
static void generation_moved(const char *t) {
  sql("WITH g AS (UPDATE cis_registry_gen SET gen = gen + 1 WHERE id = 1 RETURNING gen) "
      "INSERT INTO cis_registry_tenant_gen(tenant, gen) SELECT '%s', gen FROM g "
      "ON CONFLICT (tenant) DO UPDATE SET gen = EXCLUDED.gen",
      t);
}

/* Rows no install could have made, written straight into the database. */
static void hostile_rows_are_refused_without_harm(void **state) {
  (void)state;
  char t[96];
  tenant_of(t, sizeof t, "hostile");
  cis_skills *a = node("hostile", "a", t, g_spec);
  register_hello(a, "good");
  char sha[65];
  size_t len;
  free(hello(&len, sha));
  /* An oversized manifest (2 MiB, over the 1 MiB any install allows). */
  sql("INSERT INTO cis_skills(tenant,name,version,sha256,description,manifest,installed_at) VALUES "
      "('%s','big','1','%s','',convert_to(repeat('x', 2097152),'UTF8'),0)",
      t, sha);
  generation_moved(t);
  assert_int_equal(invoke_until(a, "big", CIS_EIO), CIS_EIO);
  /* A sha256 that is a path: never used to name a file. */
  sql("INSERT INTO cis_skills(tenant,name,version,sha256,description,manifest,installed_at) SELECT "
      "'%s','path','1','../../../../etc/passwd','',manifest,0 FROM cis_skills WHERE tenant='%s' AND name='good'",
      t, t);
  generation_moved(t);
  assert_int_equal(invoke_until(a, "path", CIS_EIO), CIS_EIO);
  /* A name longer than any skill's. */
  sql("INSERT INTO cis_skills(tenant,name,version,sha256,description,manifest,installed_at) SELECT "
      "'%s',repeat('n', 300),'1',sha256,'',manifest,0 FROM cis_skills WHERE tenant='%s' AND name='good'",
      t, t);
  /* A manifest that is not JSON. */
  sql("INSERT INTO cis_skills(tenant,name,version,sha256,description,manifest,installed_at) VALUES "
      "('%s','notjson','1','%s','','\\x00ff00'::bytea,0)",
      t, sha);
  generation_moved(t);
  assert_int_equal(invoke_until(a, "notjson", CIS_EJSON), CIS_EJSON);
  /* Generation rows no tenant can have, or going back: read past, no harm
   * (the watch's next poll reads them; waited past its half second). */
  sql("INSERT INTO cis_registry_tenant_gen(tenant, gen) VALUES (repeat('t', 5000), 9223372036854775000), "
      "('', 1), ('%s', -5) ON CONFLICT (tenant) DO UPDATE SET gen = EXCLUDED.gen",
      t);
  struct timespec ts = {0, (long)(CIS__REGISTRY_POLL_MS * 1000000u / 2 + 100000000u)};
  nanosleep(&ts, NULL);
  assert_int_equal(invoke(a, "good"), CIS_OK);
  /* A change made on another node after them is still seen. */
  assert_int_equal(invoke(a, "good2"), CIS_ENOTFOUND);
  cis_skills *other = node("hostile", "c", t, g_spec);
  register_hello(other, "good2");
  cis_skills_close(other);
  assert_int_equal(invoke_until(a, "good2", CIS_OK), CIS_OK);
  /* Listing skips what no call could use and keeps the rest. */
  cis_skill_info *list;
  size_t n;
  assert_int_equal(cis_skills_list(a, &list, &n), CIS_OK);
  bool good = false;
  for (size_t i = 0; i < n; i++) {
    assert_true(strlen(list[i].name) < 256);
    good |= !strcmp(list[i].name, "good");
  }
  free(list);
  assert_true(good);
  /* Module bytes that do not match their sha256, on a node without a
   * local copy: refused, and no copy is kept. */
  const char *fake = "1111111111111111111111111111111111111111111111111111111111111111";
  sql("INSERT INTO cis_modules(sha256, bytes) VALUES ('%s', '\\x0061736d01000000'::bytea) ON CONFLICT DO NOTHING",
      fake);
  sql("INSERT INTO cis_skills(tenant,name,version,sha256,description,manifest,installed_at) VALUES "
      "('%s','fake','1','%s','',convert_to('{\"name\":\"fake\",\"version\":\"1\",\"abi\":\"cis_v1\","
      "\"wasm\":{\"path\":\"m.wasm\",\"sha256\":\"%s\"}}','UTF8'),0)",
      t, fake, fake);
  cis_skills *b = node("hostile", "b", t, g_spec);
  assert_int_equal(invoke(b, "fake"), CIS_EHASH);
  char path[700];
  snprintf(path, sizeof path, "%s/hostile/b/modules/%s.wasm", g_root, fake);
  assert_int_not_equal(access(path, F_OK), 0);
  /* A damaged local copy is replaced by the database's. */
  snprintf(path, sizeof path, "%s/hostile/b/modules/%s.wasm", g_root, sha);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  fputs("not a module", f);
  fclose(f);
  assert_int_equal(invoke(b, "good"), CIS_OK);
  uint8_t *copy = cis_test_file_read(path, &len);
  assert_non_null(copy);
  assert_int_equal(memcmp(copy, "\0asm", 4), 0);
  free(copy);
  cis_skills_close(a);
  cis_skills_close(b);
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  g_dir = argv[1];
  int rc = cis_test_read_connstr(argv[2], g_conn, sizeof g_conn);
  if (rc) return rc;
  snprintf(g_spec, sizeof g_spec, "postgres:%s", g_conn);
  snprintf(g_root, sizeof g_root, "/tmp/cis-regpg-%d", (int)getpid());
  if (mkdir(g_root, 0700) != 0) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(skill_installed_on_one_node_runs_on_another),
      cmocka_unit_test(removal_on_one_node_stops_the_skill_on_another),
      cmocka_unit_test(tenants_stay_apart_in_the_shared_registry),
      cmocka_unit_test(changes_of_one_tenant_leave_anothers_cache_warm),
      cmocka_unit_test(module_rows_go_with_the_last_skill_and_never_before),
      cmocka_unit_test(a_nodes_copies_of_removed_modules_go_at_its_next_fetch),
      cmocka_unit_test(module_collection_and_install_take_turns),
      cmocka_unit_test(tenant_limits_hold_across_nodes),
      cmocka_unit_test(concurrent_installs_stop_exactly_at_the_limits),
      cmocka_unit_test(keys_and_settings_are_shared_by_the_nodes),
      cmocka_unit_test(a_call_ends_at_its_own_deadline_while_the_registry_waits),
      cmocka_unit_test(a_call_s_registry_wait_ends_by_the_handle_s_longest_deadline),
      cmocka_unit_test(a_cancel_ends_the_registry_wait_at_the_server),
      cmocka_unit_test(a_registry_wait_past_the_deadline_says_which_read_waited),
      cmocka_unit_test(another_tenants_poll_on_its_way_keeps_no_call_waiting),
      cmocka_unit_test(a_cancel_ends_the_wait_for_the_registry_s_connection),
      cmocka_unit_test(tokens_made_on_one_node_are_good_on_another),
      cmocka_unit_test(settings_of_same_named_skills_are_each_tenants_own),
      cmocka_unit_test(token_cache_sees_a_revocation_on_another_node_within_the_poll_bound),
      cmocka_unit_test(a_registry_database_out_of_reach_is_eregistrydown),
      cmocka_unit_test(a_registry_spec_naming_no_backend_is_einval),
      cmocka_unit_test(hostile_rows_are_refused_without_harm),
  };
  rc = cmocka_run_group_tests(tests, NULL, NULL);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_root);
  return rc;
}
