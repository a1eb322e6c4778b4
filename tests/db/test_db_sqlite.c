/*
 * This file implements the tests of the SQLite dialect's error wording
 * (src/db/sqlite.c): a failure is worded by the connection's message
 * while the connection still holds it, and by SQLite's text for the code
 * once another call on the shared connection replaced it, never as the
 * other call's "not an error"; and the folder of a new file, made one
 * level deep (cis__db_sqlite_make_folder).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sqlite3.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "db/db_sqlite.h"

static sqlite3 *open_memory(void) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL), SQLITE_OK);
  return db;
}

/* The connection's own words while it holds the failure. */
static void failure_still_held_is_the_connection_s_message(void **state) {
  (void)state;
  sqlite3 *db = open_memory();
  sqlite3_stmt *st = NULL;
  int r = sqlite3_prepare_v2(db, "SELECT * FROM no_such_table", -1, &st, NULL);
  assert_int_equal(r, SQLITE_ERROR);
  char buf[256];
  assert_string_equal(cis__db_sqlite_why(db, r, buf, sizeof buf), "no such table: no_such_table");
  sqlite3_close(db);
}

/* Another call succeeded since (as another thread's on a shared
 * connection): SQLite's text for the failure's code. */
static void failure_replaced_by_a_success_is_the_code_s_text(void **state) {
  (void)state;
  sqlite3 *db = open_memory();
  sqlite3_stmt *st = NULL;
  int r = sqlite3_prepare_v2(db, "SELECT * FROM no_such_table", -1, &st, NULL);
  assert_int_equal(r, SQLITE_ERROR);
  assert_int_equal(sqlite3_exec(db, "SELECT 1", NULL, NULL, NULL), SQLITE_OK);
  char buf[256];
  const char *why = cis__db_sqlite_why(db, r, buf, sizeof buf);
  assert_string_equal(why, sqlite3_errstr(SQLITE_ERROR));
  assert_null(strstr(why, "not an error"));
  /* A busy failure replaced so: its own code's words. */
  assert_string_equal(cis__db_sqlite_why(db, SQLITE_BUSY, buf, sizeof buf), sqlite3_errstr(SQLITE_BUSY));
  sqlite3_close(db);
}

/* No connection (an open that failed), and a small buffer: cut, ended. */
static void no_connection_and_a_small_buffer(void **state) {
  (void)state;
  char buf[8];
  const char *why = cis__db_sqlite_why(NULL, SQLITE_CANTOPEN, buf, sizeof buf);
  assert_ptr_equal(why, buf);
  assert_int_equal(strlen(why), sizeof buf - 1);
  assert_memory_equal(why, sqlite3_errstr(SQLITE_CANTOPEN), sizeof buf - 1);
}

/* The file's folder is made when its own folder is there (0700); a path
 * two folders into nothing, or under a file, is left to SQLite's error;
 * a file in the current folder or in / needs none. */
static void the_folder_of_a_new_file_is_made_one_level_deep(void **state) {
  (void)state;
  char root[] = "/tmp/cis-db-folder-XXXXXX", path[256], dir[256];
  assert_non_null(mkdtemp(root));
  snprintf(path, sizeof path, "%s/home/fs.db", root);
  assert_int_equal(cis__db_sqlite_make_folder(path), 0);
  snprintf(dir, sizeof dir, "%s/home", root);
  struct stat st;
  assert_int_equal(stat(dir, &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  assert_int_equal(st.st_mode & 0777, 0700);
  assert_int_equal(cis__db_sqlite_make_folder(path), 0); /* there already */
  snprintf(path, sizeof path, "%s/a/b/fs.db", root);
  assert_int_equal(cis__db_sqlite_make_folder(path), ENOENT);
  snprintf(dir, sizeof dir, "%s/a", root);
  assert_int_equal(stat(dir, &st), -1);
  FILE *f = fopen(dir, "w"); /* root/a is a file now */
  assert_non_null(f);
  fclose(f);
  snprintf(path, sizeof path, "%s/a/b/kv.db", root);
  assert_int_equal(cis__db_sqlite_make_folder(path), ENOTDIR);
  assert_int_equal(cis__db_sqlite_make_folder("fs.db"), 0);
  assert_int_equal(cis__db_sqlite_make_folder("/fs.db"), 0);
  assert_int_equal(cis__db_sqlite_make_folder(NULL), 0);
  unlink(dir);
  snprintf(dir, sizeof dir, "%s/home", root);
  rmdir(dir);
  rmdir(root);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(failure_still_held_is_the_connection_s_message),
      cmocka_unit_test(failure_replaced_by_a_success_is_the_code_s_text),
      cmocka_unit_test(no_connection_and_a_small_buffer),
      cmocka_unit_test(the_folder_of_a_new_file_is_made_one_level_deep),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
