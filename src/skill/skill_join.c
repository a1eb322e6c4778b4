/*
 * This file implements one transaction for a skill call's KV writes and
 * its db mounts' file changes when the KV store and the filesystem are
 * one database (skill_join.h): the KV transaction is opened at the start
 * of the call on a connection it keeps, and each writable db mount's
 * scope runs its statements on that connection (vfs_db_join.h), so the
 * KV's one COMMIT makes both durable and visible, and its ROLLBACK drops
 * both. Otherwise the ordered commit of skill.c applies (files, then KV).
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "kv/kv_native.h"
#include "skill/skill_join.h"
#include "vfs/vfs_db_join.h"

/* The PostgreSQL connection string of a spec, or NULL for another scheme:
 * the URI forms are kept whole, as both services pass them on. */
static const char *pg_arg(const char *spec) {
  if (!strncmp(spec, "postgres://", 11) || !strncmp(spec, "postgresql://", 13)) return spec;
  if (!strncmp(spec, "postgresql:", 11)) return spec + 11;
  if (!strncmp(spec, "postgres:", 9)) return spec + 9;
  return NULL;
}

bool cis__skill_same_db(const cis_kv *kv, const char *vfs_spec) {
  const char *dialect = NULL, *target = cis__kv_native_target(kv, &dialect);
  if (!target || !vfs_spec) return false;
  if (!strcmp(dialect, "sqlite")) {
    struct stat a, b;
    /* Names compare badly (relative paths, links); the file does not. */
    if (strncmp(vfs_spec, "sqlite:", 7) || stat(target, &a) != 0 || stat(vfs_spec + 7, &b) != 0) return false;
    return S_ISREG(a.st_mode) && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
  }
  const char *y = pg_arg(vfs_spec);
  return y && !strcmp(target, y);
}

cis_result cis__skill_join_mounts(const cis_kv *kv, const char *vfs_spec, cis_kv_txn *txn,
                                  const cis_manifest *m, cis_vfs **fss, size_t n, char *err,
                                  size_t errcap) {
  if (!txn || !m || !fss) return CIS_OK;
  bool any = false;
  for (size_t i = 0; i < n && i < m->n_mounts && !any; i++)
    any = fss[i] && !strcmp(m->mounts[i].type, "db") && !m->mounts[i].read_only;
  if (!any || !cis__skill_same_db(kv, vfs_spec)) return CIS_OK;
  const char *dialect = NULL;
  void *handle = NULL;
  uint64_t *prep = NULL;
  cis_result rc = cis__kv_txn_native(txn, &dialect, &handle, &prep);
  if (rc != CIS_OK) {
    snprintf(err, errcap, "kv: %s", cis_kv_errmsg(NULL));
    return rc;
  }
  for (size_t i = 0; i < n && i < m->n_mounts; i++) {
    if (!fss[i] || strcmp(m->mounts[i].type, "db") || m->mounts[i].read_only) continue;
    if ((rc = cis__vfs_db_join(fss[i], dialect, handle, prep)) != CIS_OK) {
      snprintf(err, errcap, "permissions.fs.mounts[%zu]: cannot join the KV transaction: %s", i,
               cis_strerror(rc));
      return rc;
    }
  }
  return CIS_OK;
}

void cis__skill_unjoin_mounts(cis_vfs **fss, size_t n) {
  for (size_t i = 0; fss && i < n; i++)
    if (fss[i]) cis__vfs_db_unjoin(fss[i]);
}
