/*
 * This file implements the SQLite dialect's helpers (db_sqlite.h).
 */
#include "db/db_sqlite.h"

#include <sqlite3.h>
#include <stdio.h>

const char *cis__db_sqlite_why(sqlite3 *db, int rc, char *buf, size_t cap) {
  sqlite3_mutex *mu = db ? sqlite3_db_mutex(db) : NULL;
  sqlite3_mutex_enter(mu); /* a no-op on NULL (a connection without one) */
  /* Primary codes: a call's extended code (SQLITE_BUSY_SNAPSHOT) and the
   * connection's plain one name one failure. */
  if (db && (sqlite3_errcode(db) & 0xff) == (rc & 0xff)) snprintf(buf, cap, "%s", sqlite3_errmsg(db));
  else snprintf(buf, cap, "%s", sqlite3_errstr(rc));
  sqlite3_mutex_leave(mu);
  return buf;
}
