/*
 * This file declares how a skill call makes its KV writes and its db
 * mounts' file changes one database transaction when both live in the
 * same database (skill_join.c; docs/dbfs.md, "One unit").
 */
#ifndef CIS_SKILL_JOIN_H
#define CIS_SKILL_JOIN_H

#include <stdbool.h>
#include <stddef.h>

#include "cis/cis_kv.h"
#include "cis/cis_vfs.h"
#include "common/callctx.h"
#include "skill/manifest.h"

/* Whether the KV store (on a built-in backend: the host's own, or an
 * embedder's made with cis_kv_open) and the filesystem's spec name one
 * database: the same SQLite file (device and inode, so another path to it
 * counts; a file not made yet is no match), or the same PostgreSQL
 * connection string once the spec's "postgres:" or "postgresql:" prefix
 * is dropped (a URI is compared whole): cis__db_same (db/db.h). NULL
 * never matches. */
bool cis__skill_same_db(const cis_kv *kv, const char *vfs_spec);

/* Joins the scope of every writable db mount of the manifest (fss[i] for
 * mounts[i], i < n) to txn, when kv and vfs_spec name one database:
 * the KV transaction is opened now (its lock held to its end) and the
 * mounts' statements run inside it, so cis_kv_commit commits both. Call
 * after the scopes began and before the guest runs. Nothing happens when
 * the databases differ, txn is NULL or no mount is a writable db mount.
 * On failure err says which mount. Errors: the KV's (CIS_ETIMEOUT, ...),
 * the join's (CIS_EINVAL, CIS_ENOMEM). */
cis_result cis__skill_join_mounts(const cis_kv *kv, const char *vfs_spec, cis_kv_txn *txn,
                                  const cis_manifest *m, cis_vfs **fss, size_t n, char *err,
                                  size_t errcap);

/* Leaves the KV transaction on every joined mount of fss (n of them, NULL
 * slots allowed): before the KV transaction rolls back, which then drops
 * the mounts' changes with its own. Mounts not joined are left alone. */
void cis__skill_unjoin_mounts(cis_vfs **fss, size_t n);

/* The call ctx's KV transaction and mounts: both read the call's deadline
 * and cancel flag from ctx at each backend step (cis__kv_begin_in,
 * cis__vfs_bind_call), so that nothing re-arms a timeout per WASI call.
 * Errors of the begin: cis_kv_begin's. */
cis_result cis__skill_kv_begin(cis_kv *kv, const cis_principal *ns, const cis__callctx *ctx, cis_kv_txn **out);
void cis__skill_bind_mounts(cis_vfs **fss, size_t n, const cis__callctx *ctx);

#endif /* CIS_SKILL_JOIN_H */
