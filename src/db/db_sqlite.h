/*
 * This file declares the SQLite dialect's helpers of the database layer
 * (src/db), for the services that hold an SQLite connection of their own.
 */
#ifndef CIS_DB_DB_SQLITE_H
#define CIS_DB_DB_SQLITE_H

#include <stddef.h>

struct sqlite3;

/* The words for a failed SQLite call that returned rc on db, into buf
 * (cap bytes, cap > 0), which it returns. The connection's own message
 * when the connection still holds that failure, else SQLite's text for
 * rc: a connection shared between threads (SQLITE_OPEN_FULLMUTEX) may
 * have run another thread's call since, whose message ("not an error"
 * after a success) would describe that call. Read under the
 * connection's mutex, so the message is not freed while it is copied. */
const char *cis__db_sqlite_why(struct sqlite3 *db, int rc, char *buf, size_t cap);

#endif /* CIS_DB_DB_SQLITE_H */
