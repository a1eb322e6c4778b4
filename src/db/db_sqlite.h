/*
 * This file declares the SQLite dialect's helpers of the database layer
 * (src/db), for the services that hold an SQLite connection of their own:
 * the wording of a failure, the folder of a new file and the migrations
 * of a schema.
 */
#ifndef CIS_DB_DB_SQLITE_H
#define CIS_DB_DB_SQLITE_H

#include <stddef.h>

#include "db/db.h"

struct sqlite3;

/* The words for a failed SQLite call that returned rc on db, into buf
 * (cap bytes, cap > 0), which it returns. The connection's own message
 * when the connection still holds that failure, else SQLite's text for
 * rc: a connection shared between threads (SQLITE_OPEN_FULLMUTEX) may
 * have run another thread's call since, whose message ("not an error"
 * after a success) would describe that call. Read under the
 * connection's mutex, so the message is not freed while it is copied. */
const char *cis__db_sqlite_why(struct sqlite3 *db, int rc, char *buf, size_t cap);

/* Makes the folder of the SQLite file at path when it is missing and its
 * own folder is there: one level, as $CIS_HOME is for the default files
 * <home>/fs.db and <home>/kv.db; a path deeper into nothing stays SQLite's
 * error. Mode 0700: the file holds tenants' data. 0, or the errno of a
 * folder that could not be made (the open then fails with its own
 * words). */
int cis__db_sqlite_make_folder(const char *path);

/* Applies schema's migrations to db past the version cis_schema records
 * for the service: reads only when it is current (an up-to-date database
 * opens on a full disk); else one transaction under the database's write
 * lock (BEGIN IMMEDIATE, waiting under db's busy timeout), in which the
 * version is read again, so that of two openers one migrates and the
 * other finds it done. A step that fails rolls the whole back. err gets
 * "SERVICE schema: ..." (cap > 0).
 * Errors: CIS_EIO (reading, the lock, a migration, the commit: nothing
 * changed), CIS_EUNSUPPORTED (the database is at a version newer than
 * the last step: refused, not changed), a step function's own code. */
cis_result cis__db_sqlite_migrate(struct sqlite3 *db, const cis__db_schema *schema, char *err, size_t cap);

#endif /* CIS_DB_DB_SQLITE_H */
