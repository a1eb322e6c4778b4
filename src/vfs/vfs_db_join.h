/*
 * This file declares how a database filesystem joins a transaction that
 * another service (the KV store) holds open on the same database, so that
 * a skill call's file changes and KV writes are one transaction, made
 * durable and visible by one COMMIT (docs/dbfs.md, "One unit").
 *
 * While joined, the mount's statements run on the borrowed handle inside
 * that transaction: the filesystem prepares its statements there, writes
 * what it caches before the scope's end, and never begins, commits, rolls
 * back or closes anything on it; the owner's commit commits both, its
 * rollback drops both.
 */
#ifndef CIS_VFS_DB_JOIN_H
#define CIS_VFS_DB_JOIN_H

#include <stdbool.h>
#include <stdint.h>

#include "cis/cis_vfs.h"
#include "common/callctx.h"

/* Joins a db mount's open call scope, before its first change, to the
 * transaction open on `handle`: a sqlite3 * (dialect "sqlite") or a
 * PGconn * (dialect "postgres"; prepared, the session's record of the
 * cis_vfs_<i> statements prepared on it, which the owner clears when it
 * reconnects). The scope's end (cis_vfs_scope_end) then writes what is
 * left to write and leaves the handle, whether it commits or rolls back;
 * the handle's owner commits or rolls back after. Errors: CIS_EINVAL (not
 * a db mount, of another dialect, no scope open, a change already made,
 * already joined), CIS_ENOMEM. */
cis_result cis__vfs_db_join(cis_vfs *mount, const char *dialect, void *handle, uint64_t *prepared);

/* Leaves the borrowed handle, if joined, before its owner rolls back: the
 * scope's changes are dropped (its end then fails) and the mount goes back
 * to its own connection. Nothing happens on a mount that is not joined. */
void cis__vfs_db_unjoin(cis_vfs *mount);

/* Whether the mount runs joined now (for the tests). */
bool cis__vfs_db_joined(cis_vfs *mount);

/* Binds a mount (of any backend) to the call ctx until the mount goes or
 * is bound again (NULL: unbound): each backend step then runs under the
 * call's deadline, read from ctx at that step, and ends with ECANCELED
 * before it starts once the call is cancelled. cis_vfs_set_timeout then
 * has no effect on the mount. ctx outlives the binding. */
void cis__vfs_bind_call(cis_vfs *fs, const cis__callctx *ctx);

#endif /* CIS_VFS_DB_JOIN_H */
