/*
 * This file implements the tests of the database spec (src/db/spec.c):
 * every form of the one grammar, for a service with a default file and
 * one without, every form they refuse with its typed error and a message
 * that never quotes a password, hostile inputs (length, NUL bytes,
 * control characters), and what "the same database" means.
 *
 * test_db_spec WORKDIR
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "db/db.h"

static const char *workdir;

/* A service without a default file (KV, the filesystem) and one with
 * (the registry, the token store). */
static const cis__db_default all_flags[] = {CIS__DB_NO_DEFAULT, CIS__DB_HAS_DEFAULT};
#define N_FLAGS (sizeof all_flags / sizeof all_flags[0])

/* Parses text under flags, expecting success, dialect d and target. */
static void accepts(const char *text, cis__db_default flags, cis__db_dialect d, const char *target) {
  cis__db_spec s;
  char why[256] = "unset";
  int rc = cis__db_spec_parse(text, flags, &s, why, sizeof why);
  if (rc != CIS_OK) fail_msg("\"%s\" (default %d) refused: %s", text ? text : "(null)", flags, why);
  assert_string_equal(why, "");
  assert_int_equal(s.dialect, d);
  assert_non_null(s.target);
  assert_int_equal(s.target_len, strlen(target));
  assert_memory_equal(s.target, target, s.target_len);
  assert_int_equal(s.target[s.target_len], 0); /* NUL-terminated, as the text */
}

/* Parses text under flags, expecting rc and a message holding `has`. */
static void refuses(const char *text, cis__db_default flags, int rc, const char *has) {
  cis__db_spec s;
  memset(&s, 0xa5, sizeof s);
  char why[256] = "";
  assert_int_equal(cis__db_spec_parse(text, flags, &s, why, sizeof why), rc);
  assert_int_equal(s.dialect, CIS__DB_NONE); /* zeroed */
  assert_null(s.target);
  assert_false(s.home_default);
  if (!strstr(why, has)) fail_msg("\"%s\": \"%s\" lacks \"%s\"", text ? text : "(null)", why, has);
  /* And without a message buffer. */
  assert_int_equal(cis__db_spec_parse(text, flags, &s, NULL, 0), rc);
}

/* ------------------------------------------------- forms every service takes */

static void sqlite_path_under_every_flag(void **state) {
  (void)state;
  for (size_t i = 0; i < N_FLAGS; i++) {
    accepts("sqlite:/var/lib/cis/kv.db", all_flags[i], CIS__DB_SQLITE, "/var/lib/cis/kv.db");
    accepts("sqlite:kv.db", all_flags[i], CIS__DB_SQLITE, "kv.db");
    /* SQLite's own in-memory database is a path to SQLite: no form of its own. */
    accepts("sqlite::memory:", all_flags[i], CIS__DB_SQLITE, ":memory:");
    accepts("sqlite:/caf\xc3\xa9 db", all_flags[i], CIS__DB_SQLITE, "/caf\xc3\xa9 db"); /* UTF-8, spaces */
  }
}

static void postgres_uri_kept_whole(void **state) {
  (void)state;
  for (size_t i = 0; i < N_FLAGS; i++) {
    accepts("postgres://cis:pw@db:5432/cis?sslmode=disable", all_flags[i], CIS__DB_POSTGRES,
            "postgres://cis:pw@db:5432/cis?sslmode=disable");
    accepts("postgresql://db/cis", all_flags[i], CIS__DB_POSTGRES, "postgresql://db/cis");
    accepts("postgres://", all_flags[i], CIS__DB_POSTGRES, "postgres://");
  }
}

static void postgres_conninfo_drops_prefix(void **state) {
  (void)state;
  for (size_t i = 0; i < N_FLAGS; i++) {
    accepts("postgres:host=db port=5432 dbname=cis", all_flags[i], CIS__DB_POSTGRES, "host=db port=5432 dbname=cis");
    /* A URI as the connection string, as libpq takes it. */
    accepts("postgres:postgresql://u:sekrit@db/fs", all_flags[i], CIS__DB_POSTGRES, "postgresql://u:sekrit@db/fs");
  }
}

/* ------------------------------------------------- one grammar */

static void postgresql_prefix_is_postgres_everywhere(void **state) {
  (void)state;
  for (size_t i = 0; i < N_FLAGS; i++) {
    accepts("postgresql:host=db dbname=cis", all_flags[i], CIS__DB_POSTGRES, "host=db dbname=cis");
    accepts("postgresql:postgres://u@db/x", all_flags[i], CIS__DB_POSTGRES, "postgres://u@db/x");
  }
}

static void empty_conninfo_is_libpq_defaults_everywhere(void **state) {
  (void)state;
  for (size_t i = 0; i < N_FLAGS; i++) {
    accepts("postgres:", all_flags[i], CIS__DB_POSTGRES, "");
    accepts("postgresql:", all_flags[i], CIS__DB_POSTGRES, "");
    cis__db_spec s;
    assert_int_equal(cis__db_spec_parse("postgres:", all_flags[i], &s, NULL, 0), CIS_OK);
    assert_false(s.home_default); /* libpq's defaults are no default file */
  }
}

static void default_file_only_where_the_service_has_one(void **state) {
  (void)state;
  const char *defaults[] = {NULL, "", "sqlite", "sqlite:"};
  for (size_t i = 0; i < 4; i++) {
    cis__db_spec s;
    assert_int_equal(cis__db_spec_parse(defaults[i], CIS__DB_HAS_DEFAULT, &s, NULL, 0), CIS_OK);
    assert_int_equal(s.dialect, CIS__DB_SQLITE);
    assert_true(s.home_default);
    assert_int_equal(s.target_len, 0);
    assert_string_equal(s.target, "");
    /* Elsewhere: one message, whichever form and service. */
    refuses(defaults[i], CIS__DB_NO_DEFAULT, CIS_EINVAL,
            "no database named: only the registry and the token store have a default file (want sqlite:PATH, "
            "postgres:CONNSTR or a postgres:// URI)");
  }
  cis__db_spec c; /* counted: the first 7 bytes are "sqlite:" */
  assert_int_equal(cis__db_spec_parse_n("sqlite:/x", 7, CIS__DB_HAS_DEFAULT, &c, NULL, 0), CIS_OK);
  assert_true(c.home_default);
  /* A path is a path, not the default. */
  cis__db_spec s;
  assert_int_equal(cis__db_spec_parse("sqlite:/r.db", CIS__DB_HAS_DEFAULT, &s, NULL, 0), CIS_OK);
  assert_false(s.home_default);
  assert_string_equal(s.target, "/r.db");
  /* The message names the same forms for every service. */
  for (size_t i = 0; i < N_FLAGS; i++)
    refuses("x:y", all_flags[i], CIS_EINVAL, "unknown spec \"x\" (want sqlite:PATH, postgres:CONNSTR or a postgres:// URI)");
}

/* ------------------------------------------------- refused forms */

static void unknown_schemes_refused_without_the_secret(void **state) {
  (void)state;
  for (size_t i = 0; i < N_FLAGS; i++) {
    cis__db_default f = all_flags[i];
    refuses("mysql:host=db password=hunter2", f, CIS_EINVAL, "unknown spec \"mysql\"");
    refuses("SQLITE:/x.db", f, CIS_EINVAL, "unknown spec \"SQLITE\""); /* schemes are case-sensitive */
    refuses("Postgres:host=db", f, CIS_EINVAL, "unknown spec \"Postgres\"");
    refuses(" sqlite:/x.db", f, CIS_EINVAL, "unknown spec ("); /* no trimming */
    refuses(":memory:", f, CIS_EINVAL, "unknown spec (");
    refuses("/var/lib/cis/kv.db", f, CIS_EINVAL, "unknown spec ("); /* no bare paths */
    refuses("file:/x.db", f, CIS_EINVAL, "unknown spec \"file\"");
    refuses("sqlite3:/x.db", f, CIS_EINVAL, "unknown spec \"sqlite3\"");
    refuses("postgres/x", f, CIS_EINVAL, "unknown spec (");
    const char *leaky[] = {"host=db password=hunter2", "user:hunter2@db", "pass hunter2:x",
                           "hunter2hunter2hunter2hunter2hunter2:x", "a=hunter2:b"};
    for (size_t k = 0; k < sizeof leaky / sizeof leaky[0]; k++) {
      cis__db_spec s;
      char why[256];
      assert_int_equal(cis__db_spec_parse(leaky[k], f, &s, why, sizeof why), CIS_EINVAL);
      if (strstr(why, "hunter2") || strstr(why, "@db")) fail_msg("\"%s\" quoted: %s", leaky[k], why);
    }
  }
}

/* ------------------------------------------------- hostile input */

static void length_bounded(void **state) {
  (void)state;
  static char text[CIS__DB_SPEC_MAX + 2];
  memcpy(text, "sqlite:/", 8);
  memset(text + 8, 'a', CIS__DB_SPEC_MAX - 8);
  text[CIS__DB_SPEC_MAX] = 0;
  cis__db_spec s;
  assert_int_equal(cis__db_spec_parse(text, CIS__DB_NO_DEFAULT, &s, NULL, 0), CIS_OK);
  assert_int_equal(s.target_len, CIS__DB_SPEC_MAX - 7);
  text[CIS__DB_SPEC_MAX] = 'a';
  text[CIS__DB_SPEC_MAX + 1] = 0;
  for (size_t i = 0; i < N_FLAGS; i++) refuses(text, all_flags[i], CIS_ETOOBIG, "4097 bytes (at most 4096)");
  memcpy(text, "postgres:", 9);
  refuses(text, CIS__DB_NO_DEFAULT, CIS_ETOOBIG, "at most 4096");
  /* The bound comes first: a long spec of an unknown scheme says so. */
  memcpy(text, "mysql:xxx", 9);
  refuses(text, CIS__DB_NO_DEFAULT, CIS_ETOOBIG, "at most 4096");
}

static void nul_and_control_characters_refused(void **state) {
  (void)state;
  cis__db_spec s;
  char why[256];
  /* A NUL inside a counted spec: the rest would be dropped by every C API. */
  assert_int_equal(cis__db_spec_parse_n("sqlite:/a\0b", 11, 0, &s, why, sizeof why), CIS_EINVAL);
  assert_non_null(strstr(why, "NUL byte in the database spec at byte 9"));
  assert_int_equal(cis__db_spec_parse_n("\0", 1, CIS__DB_HAS_DEFAULT, &s, why, sizeof why), CIS_EINVAL);
  assert_int_equal(s.dialect, CIS__DB_NONE);
  for (size_t i = 0; i < N_FLAGS; i++) {
    cis__db_default f = all_flags[i];
    refuses("sqlite:/tmp/a\nb.db", f, CIS_EINVAL, "control character in the database spec at byte 13");
    refuses("postgres:host=db\tdbname=x", f, CIS_EINVAL, "at byte 16");
    refuses("postgres://db/x\r", f, CIS_EINVAL, "at byte 15");
    refuses("sqlite:/x\x7f", f, CIS_EINVAL, "at byte 9");
    refuses("\x1b[2Jsqlite:/x", f, CIS_EINVAL, "at byte 0");
    refuses("mysql:\x01", f, CIS_EINVAL, "control character"); /* before the scheme's verdict */
  }
}

static void counted_text_need_not_end_in_nul(void **state) {
  (void)state;
  const char buf[] = "sqlite:/a.dbXXXX"; /* the spec is the first 12 bytes */
  cis__db_spec s;
  assert_int_equal(cis__db_spec_parse_n(buf, 12, 0, &s, NULL, 0), CIS_OK);
  assert_int_equal(s.target_len, 5);
  assert_memory_equal(s.target, "/a.db", 5);
  assert_int_equal(cis__db_spec_parse_n(buf, 7, 0, &s, NULL, 0), CIS_EINVAL); /* "sqlite:", no default */
  /* A message buffer of one byte stays a string. */
  char tiny[1] = {'x'};
  assert_int_equal(cis__db_spec_parse("mysql:x", 0, &s, tiny, sizeof tiny), CIS_EINVAL);
  assert_int_equal(tiny[0], 0);
}

static void dialect_names(void **state) {
  (void)state;
  assert_string_equal(cis__db_dialect_name(CIS__DB_SQLITE), "sqlite");
  assert_string_equal(cis__db_dialect_name(CIS__DB_POSTGRES), "postgres");
  assert_string_equal(cis__db_dialect_name(CIS__DB_NONE), "none");
}

/* ------------------------------------------------- one database or two */

static bool same(const char *a, cis__db_default fa, const char *b, cis__db_default fb) {
  cis__db_spec x, y;
  assert_int_equal(cis__db_spec_parse(a, fa, &x, NULL, 0), CIS_OK);
  assert_int_equal(cis__db_spec_parse(b, fb, &y, NULL, 0), CIS_OK);
  bool r = cis__db_same(&x, &y);
  assert_int_equal(cis__db_same(&y, &x), r); /* symmetric */
  return r;
}

static void touch(const char *path) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fclose(f);
}

static void sqlite_same_file_by_device_and_inode(void **state) {
  (void)state;
  char dir[1024], a[1100], b[1100], link[1100], dotted[1100], sub[1100], subspec[1200];
  snprintf(dir, sizeof dir, "%s/same", workdir);
  mkdir(workdir, 0755);
  mkdir(dir, 0755);
  snprintf(sub, sizeof sub, "%s/sub", dir);
  mkdir(sub, 0755);
  snprintf(a, sizeof a, "sqlite:%s/a.db", dir);
  snprintf(b, sizeof b, "sqlite:%s/b.db", dir);
  snprintf(link, sizeof link, "sqlite:%s/link.db", dir);
  snprintf(dotted, sizeof dotted, "sqlite:%s/sub/../a.db", dir);
  unlink(a + 7);
  unlink(b + 7);
  unlink(link + 7);

  /* Not made yet: no identity, so no match, not even with itself. */
  assert_false(same(a, 0, a, 0));
  cis__db_spec s;
  cis__db_identity id;
  assert_int_equal(cis__db_spec_parse(a, 0, &s, NULL, 0), CIS_OK);
  assert_false(cis__db_identify(&s, &id));
  assert_int_equal(id.dialect, CIS__DB_NONE);

  touch(a + 7);
  assert_true(cis__db_identify(&s, &id));
  struct stat st;
  assert_int_equal(stat(a + 7, &st), 0);
  assert_int_equal(id.dialect, CIS__DB_SQLITE);
  assert_true(id.dev == st.st_dev && id.ino == st.st_ino);
  assert_true(same(a, 0, a, CIS__DB_NO_DEFAULT));

  assert_int_equal(symlink(a + 7, link + 7), 0);
  assert_true(same(a, 0, link, 0));   /* a symlink to it */
  assert_true(same(a, 0, dotted, 0)); /* another spelling */
  char cwd[PATH_MAX];
  assert_non_null(getcwd(cwd, sizeof cwd));
  assert_int_equal(chdir(sub), 0);
  assert_true(same(a, 0, "sqlite:../a.db", 0)); /* relative to the working folder */
  assert_int_equal(chdir(dir), 0);
  assert_true(same("sqlite:a.db", 0, link, 0));
  assert_int_equal(chdir(cwd), 0);

  assert_false(same(a, 0, b, 0)); /* b not made */
  touch(b + 7);
  assert_false(same(a, 0, b, 0)); /* another file */
  snprintf(subspec, sizeof subspec, "sqlite:%s", sub);
  assert_false(same(subspec, 0, subspec, 0)); /* a folder is no database file */
  assert_false(same(a, 0, "postgres:host=db", 0));
  assert_false(same(a, 0, "sqlite", CIS__DB_HAS_DEFAULT)); /* the caller's default: unknown here */
  assert_false(same("sqlite:", CIS__DB_HAS_DEFAULT, "sqlite:", CIS__DB_HAS_DEFAULT));
  assert_false(cis__db_same(NULL, &s));
  assert_false(cis__db_same(&s, NULL));
}

static void postgres_same_connection_string(void **state) {
  (void)state;
  const cis__db_default kv = CIS__DB_NO_DEFAULT;
  /* Whichever prefix names it. */
  assert_true(same("postgres:host=x dbname=y", kv, "postgresql:host=x dbname=y", kv));
  assert_true(same("postgres:host=x dbname=y", kv, "postgres:host=x dbname=y", 0));
  assert_true(same("postgres://u@x/y", 0, "postgres:postgres://u@x/y", 0));
  assert_true(same("postgres:", kv, "postgresql:", kv)); /* libpq's defaults, both */
  /* No other normalisation (docs/dbfs.md): these count as two. */
  assert_false(same("postgres:host=x dbname=y", 0, "postgres:dbname=y host=x", 0));
  assert_false(same("postgres:host=x dbname=y", 0, "postgres:host=x dbname=y application_name=o", 0));
  assert_false(same("postgres:host=x dbname=y", 0, "postgres://x/y", 0));
  assert_false(same("postgres://x/y", 0, "postgresql://x/y", 0));
  assert_false(same("postgres:host=x", 0, "postgres:host=x ", 0));
  cis__db_spec s;
  cis__db_identity id;
  assert_int_equal(cis__db_spec_parse("postgresql:host=x", kv, &s, NULL, 0), CIS_OK);
  assert_true(cis__db_identify(&s, &id));
  assert_int_equal(id.dialect, CIS__DB_POSTGRES);
  assert_string_equal(id.conninfo, "host=x");
}

/* The public check reads as the services read, its message in
 * cis_errmsg(NULL), no secret quoted; a success leaves no message. */
static void public_check_reads_as_the_services(void **state) {
  (void)state;
  assert_int_equal(cis_db_spec_check("sqlite:/tmp/x.db", false), CIS_OK);
  assert_int_equal(cis_db_spec_check("postgres://u:pw@h/db", false), CIS_OK);
  assert_int_equal(cis_db_spec_check("sqlite", true), CIS_OK);
  assert_int_equal(cis_db_spec_check(NULL, true), CIS_OK);
  assert_int_equal(cis_db_spec_check("sqlite:", false), CIS_EINVAL);
  assert_non_null(strstr(cis_errmsg(NULL), "only the registry and the token store have a default file"));
  assert_int_equal(cis_db_spec_check(NULL, false), CIS_EINVAL);
  assert_int_equal(cis_db_spec_check("mysql://u:hunter2@h/db", true), CIS_EINVAL);
  assert_non_null(strstr(cis_errmsg(NULL), "unknown"));
  assert_null(strstr(cis_errmsg(NULL), "hunter2"));
  assert_int_equal(cis_db_spec_check("postgres:host=h\npassword=hunter2", false), CIS_EINVAL);
  assert_null(strstr(cis_errmsg(NULL), "hunter2"));
  char big[CIS__DB_SPEC_MAX + 16];
  memset(big, 'a', sizeof big - 1);
  memcpy(big, "sqlite:", 7);
  big[sizeof big - 1] = 0;
  assert_int_equal(cis_db_spec_check(big, false), CIS_ETOOBIG);
  assert_string_not_equal(cis_errmsg(NULL), "");
}

int main(int argc, char **argv) {
  workdir = argc > 1 ? argv[1] : "test_db_spec.work";
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(sqlite_path_under_every_flag),
      cmocka_unit_test(postgres_uri_kept_whole),
      cmocka_unit_test(postgres_conninfo_drops_prefix),
      cmocka_unit_test(postgresql_prefix_is_postgres_everywhere),
      cmocka_unit_test(empty_conninfo_is_libpq_defaults_everywhere),
      cmocka_unit_test(default_file_only_where_the_service_has_one),
      cmocka_unit_test(unknown_schemes_refused_without_the_secret),
      cmocka_unit_test(length_bounded),
      cmocka_unit_test(nul_and_control_characters_refused),
      cmocka_unit_test(counted_text_need_not_end_in_nul),
      cmocka_unit_test(dialect_names),
      cmocka_unit_test(sqlite_same_file_by_device_and_inode),
      cmocka_unit_test(postgres_same_connection_string),
      cmocka_unit_test(public_check_reads_as_the_services),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
