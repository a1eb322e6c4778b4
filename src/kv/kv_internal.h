/*
 * This file declares what the key-value store's files share: the built-in
 * backends' method tables and the error helpers they use.
 */
#ifndef CIS_KV_INTERNAL_H
#define CIS_KV_INTERNAL_H

#include <stdarg.h>

#include "cis/cis_kv.h"
#include "common/internal.h"
#include "db/db_conn.h"

extern const cis_kv_methods cis__kv_sqlite_methods;
extern const cis_kv_methods cis__kv_postgres_methods;

/* Writes a formatted detail into c->errmsg and returns code. */
cis_result cis__kv_conn_fail(cis_kv_conn *c, cis_result code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* The smallest byte string above every string that starts with p: p with
 * trailing 0xff bytes dropped and its last byte incremented, written to
 * out (room for n bytes). Returns the length, 0 when there is none (p
 * empty or all 0xff). The backends' prefix listings bound their range
 * scans with it. */
size_t cis__kv_prefix_end(const uint8_t *p, size_t n, uint8_t *out);

/* The head of the built-in backends' connections: the database layer's
 * connection they run on (db/db_conn.h), which the store offers to the
 * call's transaction (db/db_txn.h) for a filesystem on the same database
 * to join. */
typedef struct cis__kv_db_conn {
  cis_kv_conn base;  /* must stay first: the store sees only this */
  cis__db_conn *db;  /* the session; NULL only while opening */
  /* Set by the store around a commit that reads the namespace's usage
   * after its writes and before the COMMIT, and applies the whole commit
   * again on a new connection when that read finds the session lost: the
   * writes that begin the transaction need no answer of their own then
   * (a session lost under them shows at that read, nothing committed). */
  bool read_before_commit;
} cis__kv_db_conn;

#endif /* CIS_KV_INTERNAL_H */
