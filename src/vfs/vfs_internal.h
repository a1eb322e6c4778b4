/*
 * This file declares what the parts of the virtual filesystem share
 * beyond include/cis/cis_vfs.h: access from a mount to its backend, for
 * backend-specific public calls such as the database's layer operations.
 */
#ifndef CIS_VFS_INTERNAL_H
#define CIS_VFS_INTERNAL_H

#include "cis/cis_vfs.h"
#include "db/db_txn.h"

/* The backend a mount owns. */
cis_vfs_backend *cis__vfs_backend(cis_vfs *fs);
/* The deadline cis_vfs_set_timeout set (UINT64_MAX: none), for backend
 * calls that do not go through the wrappers. */
uint64_t cis__vfs_deadline(const cis_vfs *fs);
/* Files of the mount open now (a rollback needs none). */
size_t cis__vfs_open_files(const cis_vfs *fs);
/* Makes the backend's last message the mount's (cis_vfs_errmsg), for
 * backend-specific calls that do not go through the wrappers. */
void cis__vfs_take_backend_error(cis_vfs *fs);
/* Re-reads the backend's usage for the quotas (after a rollback). */
int cis__vfs_refresh_usage(cis_vfs *fs);
/* Whether the mount's quotas let its tree go from the usage the mount
 * counts to `bytes` and `nodes` (a layer rollback, checked before it
 * changes anything): EDQUOT, the detail on the mount (not counted as a
 * refusal of the guest's, cis_vfs_quota_refusals), when that grows the
 * nodes or the bytes past their quota; what does not grow passes. */
int cis__vfs_quota_check(cis_vfs *fs, uint64_t bytes, uint64_t nodes, const char *what);
/* Whether a host backend opens with openat2 (false: openat(O_NOFOLLOW),
 * as when CIS_VFS_HOST_NO_OPENAT2=1 or the kernel lacks it; false for any
 * other backend). For the tests. */
bool cis__vfs_host_uses_openat2(const cis_vfs_backend *b);
/* Entries a host backend's usage walks have stat'ed so far (0 for any
 * other backend). For the tests: a mount without a quota walks nothing. */
uint64_t cis__vfs_host_usage_entries(const cis_vfs_backend *b);
/* Times a database backend counted its tree's usage from the tree's rows
 * rather than read its usage row (0 for any other backend). For the
 * tests: a mount's quota reads the row. */
uint64_t cis__vfs_db_usage_scans(cis_vfs *mount);
/* Statements a database backend ran and write transactions it committed
 * so far (false for any other backend). For the tests of its fast paths. */
bool cis__vfs_db_counts(cis_vfs *mount, uint64_t *statements, uint64_t *commits);
/* A db mount's lease (PostgreSQL): leases its keeper took and gave back on
 * a recall, and other mounts' leases its writers recalled (tests). */
bool cis__vfs_db_lease_counts(cis_vfs *mount, uint64_t *grants, uint64_t *given_back,
                              uint64_t *recalled);
/* Joins a db mount's open scope, before its first change, to the call's
 * transaction t (db/db_txn.h; vfs_call.h says what follows). Errors:
 * CIS_EINVAL (not a db mount, no scope open, a change made already,
 * joined already, another dialect or database), CIS_EUNSUPPORTED (t has
 * no owner that shares its transaction), CIS_ENOMEM, the owner's opening;
 * the mount's message says why. */
cis_result cis__vfs_db_join(cis_vfs *mount, cis__db_txn *t);
/* A db mount's connection serves the call ctx (NULL: none): a cancel of
 * the call ends a wait inside the database (SQLite's lock, a long
 * statement: db/db_conn.h). Other mounts: nothing. */
void cis__vfs_db_serve(cis_vfs *mount, const struct cis__callctx *ctx);
/* The same for a db mount on t's database only; CIS_OK without a join
 * for any other mount. */
cis_result cis__vfs_db_join_same(cis_vfs *mount, cis__db_txn *t);
/* Whether the mount runs joined now (for the tests). */
bool cis__vfs_db_joined(cis_vfs *mount);
/* The database backend's round trips to its server (PostgreSQL; else 0). */
uint64_t cis__vfs_db_round_trips(cis_vfs *mount);
/* A number that moves at the start of every public call on a file or a
 * path made on this thread (cis_vfs_openat, _pread, _fstat, ...): a
 * backend may check its cache once per value. */
uint64_t cis__vfs_call_seq(void);
/* Sets the detail of a backend constructor's failure on this thread, for
 * the public call to hand out with one of the two below. */
void cis__vfs_set_ctor_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Ends a failed backend constructor: *out becomes a failed backend holding
 * the detail (b->errmsg; cis_vfs_mount passes it and code on to a failed
 * mount); returns code, or CIS_ENOMEM (*out NULL) without memory for it. */
cis_result cis__vfs_backend_failed(cis_result code, cis_vfs_backend **out);
/* Ends a public call that takes no handle: a failure's detail becomes the
 * thread's (cis_errmsg(NULL)); returns code. */
cis_result cis__vfs_no_handle(cis_result code);
/* Whether fs is a mount whose cis_vfs_mount failed. */
bool cis__vfs_failed(const cis_vfs *fs);

#endif /* CIS_VFS_INTERNAL_H */
