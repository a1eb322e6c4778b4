/*
 * This file declares what the key-value store's files share: the built-in
 * backends' method tables and the error helpers they use.
 */
#ifndef CIS_KV_INTERNAL_H
#define CIS_KV_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

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

/* What a commit's own round trip checks (cis__kv_db_conn.check): the
 * namespace's usage and, under a tenant quota, the tenant's totals after
 * the writes, each figure held to its limit only when the commit may
 * grow it. A figure over its limit fails the COMMIT with CIS_EKVLIMIT,
 * nothing applied. */
typedef struct cis__kv_commit_check {
  bool on;                   /* check at all */
  const cis_kv_ns *ns;       /* the namespace (the store's, valid during the commit) */
  uint64_t max_keys;         /* the namespace's keys at most; UINT64_MAX = not held */
  uint64_t max_bytes;        /* ... and its bytes */
  uint64_t tenant_max_keys;  /* the tenant's keys at most; UINT64_MAX = not held */
  uint64_t tenant_max_bytes; /* ... and its bytes */
} cis__kv_commit_check;

/* The head of the built-in backends' connections: the database layer's
 * connection they run on (db/db_conn.h), which the store offers to the
 * call's transaction (db/db_txn.h) for a filesystem on the same database
 * to join. */
typedef struct cis__kv_db_conn {
  cis_kv_conn base;  /* must stay first: the store sees only this */
  cis__db_conn *db;  /* the session; NULL only while opening */
  /* Set by the store before a commit on a PostgreSQL connection: the
   * quotas its COMMIT's round trip checks, after the writes (the checks
   * that a usage read and the store would make otherwise). */
  cis__kv_commit_check check;
} cis__kv_db_conn;

#endif /* CIS_KV_INTERNAL_H */
