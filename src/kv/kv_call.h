/*
 * This file declares the KV store's entry point for a skill call (the
 * layer above: src/skill): the call's transaction, bound to the call's
 * context. Nothing of a backend's connection leaves the store: a
 * filesystem on the same database joins the call's transaction
 * (db/db_txn.h), which the store opens and ends.
 */
#ifndef CIS_KV_CALL_H
#define CIS_KV_CALL_H

#include "cis/cis_kv.h"
#include "common/callctx.h"

/* Begins a transaction of the call ctx in namespace ns (cis_kv_begin
 * with the time left): every backend step then reads the call's deadline
 * from ctx (ended with CIS_ETIMEOUT past it, CIS_ECANCELED once
 * cancelled), so nothing re-arms it; cis_kv_txn_set_timeout has no
 * effect on it. ctx outlives the transaction.
 *
 * When ctx carries the call's transaction (ctx->txn) and the store is on
 * a built-in backend, the store offers it its database: the first
 * member's join then opens the backend transaction, on a connection
 * pinned to it, with the namespace's write lock (SQLite: BEGIN
 * IMMEDIATE), and cis_kv_commit applies the KV writes and commits the
 * members' work with them in that one transaction; cis_kv_rollback drops
 * both. Both end the call's transaction first (its members leave). A
 * backend of the embedder's offers nothing: a join then fails with
 * CIS_EUNSUPPORTED. Errors: cis_kv_begin's; those of the offer
 * (CIS_ESTATE: ctx's transaction has an owner already). */
cis_result cis__kv_begin_in(cis_kv *kv, const cis_principal *ns, const cis__callctx *ctx, cis_kv_txn **out);

#endif /* CIS_KV_CALL_H */
