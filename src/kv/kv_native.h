/*
 * This file declares the KV store's one opening onto its backend's own
 * connection: a transaction's native database handle, so that a
 * filesystem on the same database can run its statements inside the
 * same transaction (one COMMIT for a skill call's KV writes and file
 * changes; docs/dbfs.md, "One unit").
 */
#ifndef CIS_KV_NATIVE_H
#define CIS_KV_NATIVE_H

#include <stdint.h>

#include "cis/cis_kv.h"
#include "common/callctx.h"
#include "db/db.h"

/* The database a store built on a built-in backend connects to, without
 * connecting (its target the SQLite file's path or the PostgreSQL
 * connection string: it may hold a password, never print it), owned by
 * the store. NULL for a backend of the embedder's. */
const cis__db_spec *cis__kv_native_db(const cis_kv *kv);

/* Opens t's backend transaction now, on a connection pinned to t until it
 * commits or rolls back, with the namespace's write lock (SQLite: BEGIN
 * IMMEDIATE, the file's write lock), and gives its native handle:
 * *dialect "sqlite" (*handle a sqlite3 *) or "postgres" (a PGconn *, and
 * *pg_prepared the session's record of the filesystem's prepared
 * statements). The handle is t's: the caller runs statements on it only
 * until t commits or rolls back, from t's thread, and never begins,
 * commits, rolls back or closes anything on it. cis_kv_commit then
 * applies t's writes and commits, in that one transaction. Errors:
 * CIS_EUNSUPPORTED (a backend of the embedder's), CIS_ETIMEOUT (the lock
 * was not free before the deadline), the backend's begin and lock
 * errors. */
cis_result cis__kv_txn_native(cis_kv_txn *t, const char **dialect, void **handle,
                              uint64_t **pg_prepared);

/* Begins a transaction of the call ctx in namespace ns (cis_kv_begin
 * with the time left): every backend step then reads the
 * call's deadline from ctx (ended with CIS_ETIMEOUT past it, CIS_ECANCELED
 * once cancelled), so nothing re-arms it; cis_kv_txn_set_timeout has no
 * effect on it. ctx outlives the transaction. Errors: cis_kv_begin's. */
cis_result cis__kv_begin_in(cis_kv *kv, const cis_principal *ns, const cis__callctx *ctx, cis_kv_txn **out);

#endif /* CIS_KV_NATIVE_H */
