/*
 * This file implements what the database filesystem's suites on the
 * shared PostgreSQL fixture share when they change rows behind cis's back.
 */
#ifndef CIS_TEST_VFSDB_PG_H
#define CIS_TEST_VFSDB_PG_H

#include <stdio.h>

/* The statement that moves the generation (next_eid) of the tenants whose
 * names start with run and '-': a test that changed rows behind cis's
 * back runs it so that the mounts see the change (they trust their caches
 * while the generation stays, docs/dbfs.md). Only the run's own tenants:
 * the server is shared with the suites running beside it, whose
 * round-trip counts another's moved generation would change. */
static inline void vfsdb_pg_bump_sql(char *out, size_t cap, const char *run) {
  snprintf(out, cap,
           "UPDATE cis_vfs_tenants SET next_eid = next_eid + 1 "
           "WHERE position(convert_to('%s-', 'UTF8') in name) = 1",
           run);
}

#endif
