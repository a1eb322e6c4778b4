/*
 * This file declares the virtual filesystem's entry point for a skill call
 * (the layer above: src/skill): a mount bound to the call's context, and
 * through it to the call's transaction (db/db_txn.h).
 */
#ifndef CIS_VFS_CALL_H
#define CIS_VFS_CALL_H

#include "cis/cis_vfs.h"
#include "common/callctx.h"

/* Binds a mount (of any backend) to the call ctx until the mount goes or
 * is bound again (NULL: unbound): each backend step then runs under the
 * call's deadline, read from ctx at that step, and ends with ECANCELED
 * before it starts once the call is cancelled. cis_vfs_set_timeout then
 * has no effect on the mount. ctx outlives the binding.
 *
 * A writable db mount on the database of ctx's transaction (ctx->txn,
 * offered by the call's KV store) also joins it, with its scope open and
 * before its first change: its statements run inside that transaction
 * from then on, its scope's end writes what is left and leaves, and the
 * owner's one COMMIT makes both durable (docs/dbfs.md, "One unit"). A
 * mount on another database, or read-only, stays on its own connection
 * (the ordered commit). On failure the mount is still bound, not joined,
 * and cis_vfs_errmsg says why. Errors: CIS_EINVAL (no scope open, a
 * change made already, joined already), CIS_ENOMEM, the owner's opening
 * of its transaction (CIS_ETIMEOUT, ...). */
cis_result cis__vfs_bind_call(cis_vfs *fs, const cis__callctx *ctx);

#endif /* CIS_VFS_CALL_H */
