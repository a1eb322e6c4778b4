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

#include "db/db.h"
#include "kv/kv_native.h"
#include "skill/skill_join.h"
#include "vfs/vfs_db_join.h"

bool cis__skill_same_db(const cis_kv *kv, const char *vfs_spec) {
  const cis__db_spec *k = cis__kv_native_db(kv);
  cis__db_spec f;
  if (!k || cis__db_spec_parse(vfs_spec, CIS__DB_NO_DEFAULT, &f, NULL, 0) != CIS_OK) return false;
  return cis__db_same(k, &f);
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
    snprintf(err, errcap, "kv: %s", cis_kv_errmsg(kv));
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

cis_result cis__skill_kv_begin(cis_kv *kv, const cis_principal *ns, const cis__callctx *ctx, cis_kv_txn **out) {
  return cis__kv_begin_in(kv, ns, ctx, out);
}

void cis__skill_bind_mounts(cis_vfs **fss, size_t n, const cis__callctx *ctx) {
  for (size_t i = 0; i < n; i++) cis__vfs_bind_call(fss[i], ctx);
}
