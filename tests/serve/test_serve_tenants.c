/*
 * This file implements the tests of the registry's split by tenant
 * (cis_skills_config.tenant): what one tenant installs, another cannot
 * list, show, run or remove, even under the same name; a handle given a
 * tenant runs calls for that tenant only; a registry from before the split
 * is moved to the "default" tenant; settings are each tenant's, and a
 * settings table from before the tenant key is moved to its tenants.
 *
 * argv[1]: the folder holding the built fixtures (the .wat files of tests/serve).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "support/failed_open.h"
#include "cis/cis_skill.h"
#include "serve/serve_fixture.h"
#include "support/test_clock.h"

static const char *g_dir;

typedef struct two {
  char home[128];
  cis_skills *a, *b; /* tenants "alice" and "bob" */
} two;

static int setup(void **state) {
  two *t = calloc(1, sizeof *t);
  if (!t || serve_home_new(t->home, sizeof t->home)) return -1;
  t->a = serve_open(t->home, "alice");
  t->b = serve_open(t->home, "bob");
  if (!t->a || !t->b) return -1;
  *state = t;
  return 0;
}

static int teardown(void **state) {
  two *t = *state;
  cis_skills_close(t->a);
  cis_skills_close(t->b);
  serve_home_remove(t->home);
  free(t);
  return 0;
}

static cis_result run(cis_skills *s, const char *name, const char *input, char *out, size_t cap) {
  cis_invoke_result r;
  cis_result rc = cis_skills_invoke(s, name, input, strlen(input), NULL, &r);
  if (out) snprintf(out, cap, "%s", r.output ? r.output : "");
  cis_invoke_result_free(&r);
  return rc;
}

static void tenant_cannot_list_show_run_or_remove_another_tenants_skill(void **state) {
  two *t = *state;
  assert_int_equal(serve_register(t->a, g_dir, "secret", "echo", "cis_v1", ""), CIS_OK);
  cis_skill_info *list = NULL;
  size_t n = 9;
  assert_int_equal(cis_skills_list(t->b, &list, &n), CIS_OK);
  assert_int_equal(n, 0);
  free(list);
  char *json = NULL;
  assert_int_equal(cis_skills_show(t->b, "secret", &json), CIS_ENOTFOUND);
  assert_null(json);
  assert_int_equal(run(t->b, "secret", "{}", NULL, 0), CIS_ENOTFOUND);
  assert_int_equal(cis_skills_remove(t->b, "secret"), CIS_ENOTFOUND);
  /* Still there for its own tenant. */
  char out[256];
  assert_int_equal(run(t->a, "secret", "{\"x\":1}", out, sizeof out), CIS_OK);
  assert_string_equal(out, "{\"x\":1}");
  assert_int_equal(cis_skills_list(t->a, &list, &n), CIS_OK);
  assert_int_equal(n, 1);
  assert_string_equal(list[0].name, "secret");
  free(list);
}

static void same_name_in_two_tenants_is_two_skills(void **state) {
  two *t = *state;
  assert_int_equal(serve_register(t->a, g_dir, "tool", "echo", "cis_v1", ""), CIS_OK);
  assert_int_equal(serve_register(t->b, g_dir, "tool", "other", "cis_v1", ""), CIS_OK);
  char out[256];
  assert_int_equal(run(t->a, "tool", "{\"me\":\"alice\"}", out, sizeof out), CIS_OK);
  assert_string_equal(out, "{\"me\":\"alice\"}");
  assert_int_equal(run(t->b, "tool", "{\"me\":\"bob\"}", out, sizeof out), CIS_OK);
  assert_string_equal(out, "{\"who\":\"other\"}");
  /* Removing one leaves the other. */
  assert_int_equal(cis_skills_remove(t->b, "tool"), CIS_OK);
  assert_int_equal(run(t->b, "tool", "{}", NULL, 0), CIS_ENOTFOUND);
  assert_int_equal(run(t->a, "tool", "{}", out, sizeof out), CIS_OK);
  /* The default handle sees neither. */
  cis_skills *d = serve_open(t->home, NULL);
  assert_non_null(d);
  assert_int_equal(run(d, "tool", "{}", NULL, 0), CIS_ENOTFOUND);
  cis_skills_close(d);
}

static void tenant_handle_refuses_a_call_for_another_tenant(void **state) {
  two *t = *state;
  assert_int_equal(serve_register(t->a, g_dir, "echo", "echo", "cis_v1", ""), CIS_OK);
  cis_invoke_options o = {.tenant = "bob"};
  cis_invoke_result r;
  assert_int_equal(cis_skills_invoke(t->a, "echo", "{}", 2, &o, &r), CIS_EDENIED);
  assert_null(r.output);
  cis_invoke_result_free(&r);
  o.tenant = "alice";
  assert_int_equal(cis_skills_invoke(t->a, "echo", "{}", 2, &o, &r), CIS_OK);
  cis_invoke_result_free(&r);
}

static void sharing_checks_see_only_the_tenants_own_skills(void **state) {
  two *t = *state;
  /* bob's skill "notes" uses KV under its own name: alice may install a
   * skill naming that namespace without a grant (her KV is her own), so
   * bob's install tells her nothing. */
  assert_int_equal(serve_register(t->b, g_dir, "notes", "echo", "cis_v1", ",\"permissions\":{\"kv\":true}"),
                   CIS_OK);
  assert_int_equal(serve_register(t->a, g_dir, "mine", "echo", "cis_v1",
                                  ",\"permissions\":{\"kv\":{\"namespace\":\"notes\"}}"),
                   CIS_OK);
  /* Within bob's own skills the check still holds. */
  assert_int_equal(serve_register(t->b, g_dir, "thief", "echo", "cis_v1",
                                  ",\"permissions\":{\"kv\":{\"namespace\":\"notes\"}}"),
                   CIS_EDENIED);
}

static void bad_tenant_name_is_einval(void **state) {
  two *t = *state;
  cis_skills_config c;
  cis_skills_config_default(&c);
  c.home = t->home;
  cis_skills *s = NULL;
  c.tenant = "";
  cis_test_skills_open_fails(&c, CIS_EINVAL, "tenant", NULL, 0);
  c.tenant = "a\nb";
  cis_test_skills_open_fails(&c, CIS_EINVAL, "tenant", NULL, 0);
  char big[CIS_TENANT_NAME_MAX + 2];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = 0;
  c.tenant = big; /* one byte over */
  cis_test_skills_open_fails(&c, CIS_EINVAL, "tenant", NULL, 0);
  /* Names that would mean two things: a skill's tree key, a path, a
   * quote, a space. The same rule as tokens' (cis_tenant_name_valid). */
  static const char *const bad[] = {"alice/skill:atk", "a'b", "x y", ".", "..", "a/b", "a:b", "caf\xc3\xa9"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    c.tenant = bad[i];
    assert_false(cis_tenant_name_valid(bad[i]));
    cis_test_skills_open_fails(&c, CIS_EINVAL, "A-Z a-z 0-9 . _ -", NULL, 0);
  }
  big[sizeof big - 2] = 0; /* 64 bytes: the most */
  static const char *const good[] = {"a", "Alice.Smith-2_x", "..a"};
  for (size_t i = 0; i < sizeof good / sizeof *good; i++) assert_true(cis_tenant_name_valid(good[i]));
  assert_true(cis_tenant_name_valid(big));
  assert_false(cis_tenant_name_valid(NULL));
  /* A call of the default handle may name another tenant, by the same rule. */
  c.tenant = NULL;
  assert_int_equal(cis_skills_open(&c, &s), CIS_OK);
  assert_int_equal(serve_register(s, g_dir, "echo", "echo", "cis_v1", ""), CIS_OK);
  cis_invoke_options o = {.tenant = "alice/skill:atk"};
  cis_invoke_result r;
  assert_int_equal(cis_skills_invoke(s, "echo", "{}", 2, &o, &r), CIS_EINVAL);
  assert_non_null(strstr(r.error, "tenant"));
  assert_null(r.output);
  cis_invoke_result_free(&r);
  o.tenant = "alice";
  assert_int_equal(cis_skills_invoke(s, "echo", "{}", 2, &o, &r), CIS_OK);
  cis_invoke_result_free(&r);
  cis_skills_close(s);
}

/* One call of a skill on its own thread, timed. */
typedef struct timed_call {
  cis_skills *s;
  uint64_t timeout_ms; /* cis_invoke_options.timeout_ms */
  cis_result rc;
  double ms;           /* how long cis_skills_invoke took */
  pthread_t th;
} timed_call;

static void *timed_call_main(void *arg) {
  timed_call *t = arg;
  cis_invoke_options o = {.timeout_ms = t->timeout_ms};
  cis_invoke_result r;
  double t0 = cis_test_mono_ms();
  t->rc = cis_skills_invoke(t->s, "spinkv", "{}", 2, &o, &r);
  t->ms = cis_test_mono_ms() - t0;
  cis_invoke_result_free(&r);
  return NULL;
}

/* A call's deadline counts from its start, whatever it waited for: a call
 * queued behind another for the KV store (this process's calls take
 * turns on it) runs only what is left of its time, and the one holding
 * the store holds it no longer than its own deadline. */
static void a_call_that_waited_keeps_its_deadline_from_its_start(void **state) {
  two *t = *state;
  assert_int_equal(serve_register(t->a, g_dir, "spinkv", "spin", "cis_v1",
                                  ",\"permissions\":{\"kv\":true},\"limits\":{\"timeout_ms\":20000}"),
                   CIS_OK);
  timed_call holder = {.s = t->a, .timeout_ms = 1000}, waiter = {.s = t->a, .timeout_ms = 1500};
  assert_int_equal(pthread_create(&holder.th, NULL, timed_call_main, &holder), 0);
  struct timespec pause = {0, 200 * 1000000};
  nanosleep(&pause, NULL);
  assert_int_equal(pthread_create(&waiter.th, NULL, timed_call_main, &waiter), 0);
  pthread_join(holder.th, NULL);
  pthread_join(waiter.th, NULL);
  print_message("holder %.0f ms (%s), waiter %.0f ms (%s)\n", holder.ms, cis_errname(holder.rc), waiter.ms,
                cis_errname(waiter.rc));
  assert_int_equal(holder.rc, CIS_ETIMEOUT);
  assert_int_equal(waiter.rc, CIS_ETIMEOUT);
  assert_true(holder.ms >= 1000 && holder.ms < 1000 + 600);
  /* It waited about 800 ms: given its 1500 again it would end near 2300. */
  assert_true(waiter.ms >= 1500 && waiter.ms < 1500 + 600);
}

static void registry_from_before_the_split_becomes_the_default_tenants(void **state) {
  (void)state;
  char home[128], path[256];
  assert_int_equal(serve_home_new(home, sizeof home), 0);
  size_t len = 0;
  uint8_t *wasm = serve_fixture(g_dir, "echo", &len);
  assert_non_null(wasm);
  char manifest[1024];
  assert_int_equal(serve_manifest(wasm, len, "old", "cis_v1", "", manifest, sizeof manifest), 0);
  /* Store the module, then write the row as the older registry did. */
  {
    cis_skills *d = serve_open(home, NULL);
    assert_non_null(d);
    assert_int_equal(cis_skills_register(d, wasm, len, manifest, strlen(manifest)), CIS_OK);
    cis_skills_close(d);
  }
  snprintf(path, sizeof path, "%s/registry.db", home);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db,
                                "CREATE TABLE old AS SELECT name, version, sha256, description, manifest,"
                                " installed_at, dir, grants FROM skills;"
                                "DROP TABLE skills;"
                                "CREATE TABLE skills(name TEXT PRIMARY KEY, version TEXT NOT NULL,"
                                " sha256 TEXT NOT NULL, description TEXT NOT NULL, manifest TEXT NOT NULL,"
                                " installed_at INTEGER NOT NULL, dir TEXT, grants TEXT);"
                                "INSERT INTO skills SELECT * FROM old; DROP TABLE old;"
                                /* Registries then had no schema versions. */
                                "DROP TABLE cis_schema;",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(db);
  cis_skills *alice = serve_open(home, "alice");
  assert_non_null(alice);
  assert_int_equal(run(alice, "old", "{}", NULL, 0), CIS_ENOTFOUND);
  cis_skills *d = serve_open(home, NULL);
  assert_non_null(d);
  char out[64];
  assert_int_equal(run(d, "old", "{\"a\":2}", out, sizeof out), CIS_OK);
  assert_string_equal(out, "{\"a\":2}");
  /* And alice may now install her own "old". */
  cis_result rc = cis_skills_register(alice, wasm, len, manifest, strlen(manifest));
  if (rc != CIS_OK) fprintf(stderr, "register: %s\n", cis_skills_errmsg(alice));
  assert_int_equal(rc, CIS_OK);
  cis_skills_close(d);
  cis_skills_close(alice);
  free(wasm);
  serve_home_remove(home);
}


/* The settings of a skill are its tenant's: the same name in another
 * tenant has settings of its own (bug: they were keyed by name alone). */
static void settings_of_same_named_skills_are_each_tenants_own(void **state) {
  two *t = *state;
  assert_int_equal(serve_register(t->a, g_dir, "tool", "echo", "cis_v1", ""), CIS_OK);
  assert_int_equal(serve_register(t->b, g_dir, "tool", "echo", "cis_v1", ""), CIS_OK);
  assert_int_equal(cis_skills_setting_set(t->a, "tool", "api_url", "https://alice.example"), CIS_OK);
  char *json = NULL;
  assert_int_equal(cis_skills_settings(t->b, "tool", &json), CIS_OK);
  assert_string_equal(json, "{}");
  free(json);
  assert_int_equal(cis_skills_setting_set(t->b, "tool", "api_url", "https://bob.example"), CIS_OK);
  assert_int_equal(cis_skills_settings(t->a, "tool", &json), CIS_OK);
  assert_string_equal(json, "{\"api_url\":\"https://alice.example\"}");
  free(json);
  /* Deleting bob's leaves alice's. */
  assert_int_equal(cis_skills_setting_set(t->b, "tool", "api_url", NULL), CIS_OK);
  assert_int_equal(cis_skills_settings(t->a, "tool", &json), CIS_OK);
  assert_string_equal(json, "{\"api_url\":\"https://alice.example\"}");
  free(json);
  assert_int_equal(cis_skills_settings(t->b, "tool", &json), CIS_OK);
  assert_string_equal(json, "{}");
  free(json);
}


/* A registry database whose schema is newer than this build's is refused
 * and left as it is, by the registry and by the token store. */
static void registry_at_a_newer_schema_is_refused_unchanged(void **state) {
  (void)state;
  char home[128], path[256];
  assert_int_equal(serve_home_new(home, sizeof home), 0);
  cis_skills *d = serve_open(home, NULL);
  assert_non_null(d);
  cis_skills_close(d);
  cis_tokens *tk = NULL;
  assert_int_equal(cis_tokens_open(home, &tk), CIS_OK);
  cis_tokens_close(tk);
  snprintf(path, sizeof path, "%s/registry.db", home);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "UPDATE cis_schema SET version = version + 1", NULL, NULL, NULL), SQLITE_OK);
  /* data_version moves when another connection commits. */
  sqlite3_stmt *dv;
  assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA data_version", -1, &dv, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(dv), SQLITE_ROW);
  int64_t version_before = sqlite3_column_int64(dv, 0);
  sqlite3_reset(dv);
  cis_skills_config c;
  cis_skills_config_default(&c);
  c.home = home;
  cis_test_skills_open_fails(&c, CIS_EUNSUPPORTED,
                             "registry schema: the database is at version 6, newer than this build's 5", NULL, 0);
  cis_test_tokens_open_fails(home, NULL, CIS_EUNSUPPORTED,
                             "tokens schema: the database is at version 3, newer than this build's 2", NULL, 0);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT group_concat(service || version) FROM cis_schema", -1, &st, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  const char *rows = (const char *)sqlite3_column_text(st, 0);
  if (!strstr(rows, "registry6") || !strstr(rows, "tokens3")) fail_msg("%s", rows);
  sqlite3_finalize(st);
  assert_int_equal(sqlite3_step(dv), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int64(dv, 0), version_before); /* nobody wrote */
  sqlite3_finalize(dv);
  sqlite3_close(db);
  serve_home_remove(home);
}

/* A call reads its own tenant's setting (config_get), not another
 * tenant's of a skill of the same name. */
static void a_call_reads_its_tenants_setting(void **state) {
  two *t = *state;
  assert_int_equal(serve_register(t->a, g_dir, "greeter", "config", "cis_v1", ""), CIS_OK);
  assert_int_equal(serve_register(t->b, g_dir, "greeter", "config", "cis_v1", ""), CIS_OK);
  assert_int_equal(cis_skills_setting_set(t->a, "greeter", "greeting", "hi-alice"), CIS_OK);
  char out[256];
  assert_int_equal(run(t->b, "greeter", "{}", out, sizeof out), CIS_OK);
  assert_string_equal(out, "{\"greeting\":null}");
  assert_int_equal(run(t->a, "greeter", "{}", out, sizeof out), CIS_OK);
  assert_string_equal(out, "{\"greeting\":\"hi-alice\"}");
  assert_int_equal(cis_skills_setting_set(t->b, "greeter", "greeting", "hi-bob"), CIS_OK);
  assert_int_equal(run(t->b, "greeter", "{}", out, sizeof out), CIS_OK);
  assert_string_equal(out, "{\"greeting\":\"hi-bob\"}");
  assert_int_equal(run(t->a, "greeter", "{}", out, sizeof out), CIS_OK);
  assert_string_equal(out, "{\"greeting\":\"hi-alice\"}");
}

static void settings_equal(cis_skills *s, const char *name, const char *want) {
  char *json = NULL;
  assert_int_equal(cis_skills_settings(s, name, &json), CIS_OK);
  assert_string_equal(json, want);
  free(json);
}

/* A settings table from before the tenant key still opens: a row goes to
 * the one tenant that has a skill of its name, else to "default". */
static void settings_from_before_the_tenant_key_go_to_their_tenant(void **state) {
  two *t = *state;
  cis_skills *d = serve_open(t->home, NULL);
  assert_non_null(d);
  assert_int_equal(serve_register(t->a, g_dir, "solo", "echo", "cis_v1", ""), CIS_OK);
  assert_int_equal(serve_register(d, g_dir, "both", "echo", "cis_v1", ""), CIS_OK);
  assert_int_equal(serve_register(t->b, g_dir, "both", "echo", "cis_v1", ""), CIS_OK);
  cis_skills_close(d);
  cis_skills_close(t->a);
  cis_skills_close(t->b);
  t->a = t->b = NULL;
  char path[256];
  snprintf(path, sizeof path, "%s/registry.db", t->home);
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db,
                                "DROP TABLE IF EXISTS settings;"
                                "CREATE TABLE settings(skill TEXT NOT NULL, key TEXT NOT NULL,"
                                " value TEXT NOT NULL, PRIMARY KEY(skill, key));"
                                "INSERT INTO settings VALUES('solo','k','1'),('both','k','2'),('gone','k','3');"
                                /* Registries then had no schema versions. */
                                "DROP TABLE cis_schema;",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(db);
  t->a = serve_open(t->home, "alice");
  t->b = serve_open(t->home, "bob");
  d = serve_open(t->home, NULL);
  assert_non_null(t->a);
  assert_non_null(t->b);
  assert_non_null(d);
  settings_equal(t->a, "solo", "{\"k\":\"1\"}");
  settings_equal(d, "both", "{\"k\":\"2\"}");
  settings_equal(t->b, "both", "{}");
  /* The orphan row went to "default"; new rows are keyed by tenant. */
  assert_int_equal(cis_skills_setting_set(t->b, "both", "k", "b"), CIS_OK);
  settings_equal(d, "both", "{\"k\":\"2\"}");
  settings_equal(t->b, "both", "{\"k\":\"b\"}");
  cis_skills_close(d);
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT tenant FROM settings WHERE skill='gone'", -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(st, 0), "default");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

int main(int argc, char **argv) {
  g_dir = argc > 1 ? argv[1] : ".";
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(tenant_cannot_list_show_run_or_remove_another_tenants_skill, setup, teardown),
      cmocka_unit_test_setup_teardown(same_name_in_two_tenants_is_two_skills, setup, teardown),
      cmocka_unit_test_setup_teardown(tenant_handle_refuses_a_call_for_another_tenant, setup, teardown),
      cmocka_unit_test_setup_teardown(sharing_checks_see_only_the_tenants_own_skills, setup, teardown),
      cmocka_unit_test_setup_teardown(bad_tenant_name_is_einval, setup, teardown),
      cmocka_unit_test_setup_teardown(a_call_that_waited_keeps_its_deadline_from_its_start, setup, teardown),
      cmocka_unit_test(registry_from_before_the_split_becomes_the_default_tenants),
      cmocka_unit_test(registry_at_a_newer_schema_is_refused_unchanged),
      cmocka_unit_test_setup_teardown(settings_of_same_named_skills_are_each_tenants_own, setup, teardown),
      cmocka_unit_test_setup_teardown(settings_from_before_the_tenant_key_go_to_their_tenant, setup, teardown),
      cmocka_unit_test_setup_teardown(a_call_reads_its_tenants_setting, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
