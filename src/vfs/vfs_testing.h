/*
 * This file declares the virtual filesystem's test hooks: fault injection
 * and a count of backend calls, for the project's own tests (tests/vfs,
 * tests/vfsdb, tests/wasi, tests/errors, tests/skillfs). They are not
 * part of the public API (include/cis/cis_vfs.h).
 */
#ifndef CIS_VFS_TESTING_H
#define CIS_VFS_TESTING_H

#include <stdint.h>

#include "cis/cis_vfs.h"

/* Fault injection: after `skip` more backend calls succeed, the next
 * `count` fail with `err` (an error number, e.g. EIO or CIS_VFS_EDOWN; 0
 * means EIO) without reaching the backend. count 0 turns it off. close
 * cannot fail, so it is never a faulty call (nor counted in skip). */
void cis__vfs_inject_fault(cis_vfs *fs, uint32_t skip, uint32_t count, int err);
/* Backend calls made so far (close included). */
uint64_t cis__vfs_backend_calls(const cis_vfs *fs);
/* The database filesystem's SQLite dialect: the next n ROLLBACKs of any
 * connection fail (SQLITE_IOERR) without being run, leaving their
 * transactions open. 0 turns it off. */
void cis__vdb_sqlite_fail_rollbacks(unsigned n);

#endif
