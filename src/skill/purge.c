/*
 * This file implements cis_skills_remove_ex: a skill's removal, and with
 * CIS_SKILLS_REMOVE_PURGE the deletion of what it stored for its tenant
 * (its KV namespace, its own tree of the database filesystem, its
 * settings), so that the tenant's totals fall when it drops a skill.
 * Without it the data of a removed skill would count against the
 * tenant's limits for good, with nothing left that could delete it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cis/cis_kv.h"
#include "cis/cis_vfs.h"
#include "common/internal.h"
#include "db/db.h"
#include "skill/registry_internal.h"
#include "skill/skill_internal.h"

#define PURGE_PAGE 1000u           /* keys deleted per KV transaction */
#define PURGE_TIMEOUT_MS 30000u    /* bound of each transaction, and of a wait for the store */
#define PURGE_MAX_ROUNDS 1000000u  /* KV transactions at most (10^9 keys) */

/* Whether spec names an SQLite file that does not exist: nothing is
 * stored there, and a purge must not create it. */
static bool sqlite_file_absent(const char *spec) {
  cis__db_spec db;
  if (cis__db_spec_parse(spec, CIS__DB_NO_DEFAULT, &db, NULL, 0) != CIS_OK || db.dialect != CIS__DB_SQLITE)
    return false;
  if (!db.target_len || !strcmp(db.target, ":memory:") || !strncmp(db.target, "file:", 5)) return false;
  struct stat st;
  return stat(db.target, &st) != 0 && errno == ENOENT;
}

/* The KV namespaces a purge may delete, and whether an installed skill of
 * the tenant still uses each (its kv.namespace, else its name). */
typedef struct ns_use {
  const char *ns[2];
  bool used[2];
} ns_use;

static int note_use(void *ctx, const cis__reg_row *row) {
  ns_use *u = ctx;
  cis_manifest *m = NULL;
  char err[256];
  bool parsed = cis__manifest_parse(row->manifest, row->manifest_len, &m, err, sizeof err) == CIS_OK;
  const char *ns = parsed && m->kv_namespace ? m->kv_namespace : row->name;
  for (size_t i = 0; i < 2; i++)
    /* A row that does not parse (a shared database may hold anything)
     * could use any namespace: its neighbours' data stay. */
    if (u->ns[i] && (!parsed || !strcmp(u->ns[i], ns))) u->used[i] = true;
  cis__manifest_free(m);
  return 0;
}

/* Deletes every key of the tenant's namespace ns, PURGE_PAGE a
 * transaction. *found is set when there was any. */
static cis_result kv_clear(cis_skills *s, const char *ns, bool *found, char *why, size_t whycap) {
  cis_principal who = {s->tenant, ns};
  for (unsigned round = 0; round < PURGE_MAX_ROUNDS; round++) {
    /* This process's calls on our SQLite store take turns (stage.c's
     * link_kv): a purge takes its turn as they do. */
    if (s->kv_serial) {
      struct timespec until;
      cis__timespec_after(CLOCK_REALTIME, PURGE_TIMEOUT_MS, &until);
      if (pthread_mutex_timedlock(&s->kv_call_lock, &until) != 0) {
        snprintf(why, whycap, "kv namespace %s: the store stayed busy for %u ms", ns, PURGE_TIMEOUT_MS);
        return CIS_ETIMEOUT;
      }
    }
    cis_kv_txn *t = NULL;
    cis_kv_keys page = {0};
    cis_result rc = cis_kv_begin(s->kv, &who, PURGE_TIMEOUT_MS, &t);
    if (rc == CIS_OK) rc = cis_kv_list(t, NULL, 0, NULL, 0, PURGE_PAGE, &page);
    for (size_t i = 0; i < page.n && rc == CIS_OK; i++) {
      rc = cis_kv_delete(t, page.keys[i].key, page.keys[i].len);
      if (rc == CIS_ENOTFOUND) rc = CIS_OK; /* deleted meanwhile by another writer */
    }
    size_t n = page.n;
    bool more = page.more;
    cis_kv_keys_free(&page);
    if (rc == CIS_OK) rc = cis_kv_commit(t);
    else cis_kv_rollback(t);
    if (s->kv_serial) pthread_mutex_unlock(&s->kv_call_lock);
    if (rc != CIS_OK) {
      snprintf(why, whycap, "kv namespace %s: %s", ns, cis_kv_errmsg(s->kv));
      return rc;
    }
    if (n) *found = true;
    if (!more) return CIS_OK;
  }
  snprintf(why, whycap, "kv namespace %s: still not empty after %u transactions", ns, PURGE_MAX_ROUNDS);
  return CIS_ETIMEOUT;
}

/* The KV part: the namespaces of name and of its manifest (kv_ns, may be
 * NULL) that no installed skill of the tenant uses. */
static cis_result purge_kv(cis_skills *s, const char *name, const char *kv_ns, bool *found, char *why,
                           size_t whycap) {
  ns_use u = {{name, kv_ns && strcmp(kv_ns, name) ? kv_ns : NULL}, {false, false}};
  cis_result rc = s->reg->skill_each(s, cis__registry_until(), note_use, &u);
  if (rc != CIS_OK) {
    snprintf(why, whycap, "the registry's skills could not be read: %s", cis_skills_errmsg(s));
    return rc;
  }
  if ((u.ns[0] && !u.used[0]) || (u.ns[1] && !u.used[1])) {
    /* An SQLite store of ours that was never made holds nothing. */
    if (!s->kv && sqlite_file_absent(s->kv_spec)) return CIS_OK;
    if ((rc = cis__skills_kv_ready(s, why, whycap)) != CIS_OK) return rc;
  }
  for (size_t i = 0; i < 2; i++)
    if (u.ns[i] && !u.used[i] && (rc = kv_clear(s, u.ns[i], found, why, whycap)) != CIS_OK) return rc;
  return CIS_OK;
}

/* The skill's own tree of the tenant's database filesystem. */
static cis_result purge_tree(cis_skills *s, const char *name, bool *found, char *why, size_t whycap) {
  if (sqlite_file_absent(s->vfs_db_spec)) return CIS_OK;
  char key[256];
  if (cis__vfs_tree_key(s->tenant, name, NULL, key, sizeof key) != CIS_OK) return CIS_OK; /* never made */
  cis_vfs_db_config c;
  cis_vfs_db_config_default(&c);
  c.spec = s->vfs_db_spec;
  c.tenant = key;
  cis_result rc = cis_vfs_db_tenant_delete(&c);
  if (rc == CIS_OK) *found = true;
  if (rc == CIS_ENOTFOUND) return CIS_OK;
  if (rc != CIS_OK) snprintf(why, whycap, "files (its db tree): %s", cis_errmsg(NULL));
  return rc;
}

typedef struct setting_keys {
  char **keys;
  size_t n;
  bool nomem;
} setting_keys;

static int setting_note(void *ctx, const char *key, const char *value) {
  (void)value;
  setting_keys *k = ctx;
  char **p = realloc(k->keys, (k->n + 1) * sizeof *p);
  if (!p || !(p[k->n] = strdup(key))) {
    if (p) k->keys = p;
    k->nomem = true;
    return 1;
  }
  k->keys = p;
  k->n++;
  return 0;
}

/* The operator's settings of name. */
static cis_result purge_settings(cis_skills *s, const char *name, bool *found, char *why, size_t whycap) {
  setting_keys k = {0};
  cis_result rc = s->reg->setting_each(s, cis__registry_until(), name, setting_note, &k);
  if (rc == CIS_OK && k.nomem) rc = cis__skills_fail(s, CIS_ENOMEM, "out of memory");
  for (size_t i = 0; i < k.n && rc == CIS_OK; i++) {
    rc = s->reg->setting_put(s, cis__registry_until(), name, k.keys[i], NULL);
    if (rc == CIS_ENOTFOUND) rc = CIS_OK;
    if (rc == CIS_OK) *found = true;
  }
  for (size_t i = 0; i < k.n; i++) free(k.keys[i]);
  free(k.keys);
  if (rc != CIS_OK) snprintf(why, whycap, "settings: %s", cis_skills_errmsg(s));
  return rc;
}

/* The namespace named in the manifest of name's row, or NULL (malloc'd). */
static char *row_kv_namespace(const cis__reg_row *row) {
  cis_manifest *m = NULL;
  char err[256], *ns = NULL;
  if (cis__manifest_parse(row->manifest, row->manifest_len, &m, err, sizeof err) == CIS_OK && m->kv_namespace)
    ns = strdup(m->kv_namespace);
  cis__manifest_free(m);
  return ns;
}

cis_result cis_skills_remove_ex(cis_skills *s, const char *name, unsigned flags) {
  if (!s || !name) return CIS_EINVAL;
  if (s->h.failed) return CIS_ESTATE; /* its open failed: only its message and close */
  if (flags & ~CIS_SKILLS_REMOVE_PURGE) return cis__skills_fail(s, CIS_EINVAL, "unknown flags %#x", flags);
  if (!(flags & CIS_SKILLS_REMOVE_PURGE)) return cis_skills_remove(s, name);
  /* Its name makes its tree's and namespace's: nothing else may pass. */
  if (!cis__manifest_name_valid(name))
    return cis__skills_fail(s, CIS_EINVAL, "not a skill's name (it must match [a-z0-9][a-z0-9._-]{0,63})");
  cis__reg_row row;
  char *kv_ns = NULL;
  cis_result rc = s->reg->skill_get(s, cis__registry_until(), name, &row);
  if (rc == CIS_OK) {
    kv_ns = row_kv_namespace(&row);
    cis__reg_row_free(&row);
    rc = cis_skills_remove(s, name);
  }
  bool removed = rc == CIS_OK;
  if (rc != CIS_OK && rc != CIS_ENOTFOUND) {
    free(kv_ns);
    return rc;
  }
  /* Removed first, so that no call starts on it while its data go. */
  bool found = false;
  char why[768] = "";
  rc = purge_kv(s, name, kv_ns, &found, why, sizeof why);
  if (rc == CIS_OK) rc = purge_tree(s, name, &found, why, sizeof why);
  if (rc == CIS_OK) rc = purge_settings(s, name, &found, why, sizeof why);
  free(kv_ns);
  if (rc != CIS_OK)
    return cis__skills_fail(s, rc, removed ? "skill %s removed, but not all it stored was deleted: %s"
                                           : "not all that is stored under %s was deleted: %s",
                            name, why);
  if (!removed && !found)
    return cis__skills_fail(s, CIS_ENOTFOUND, "skill %s is not installed, and nothing is stored under its name", name);
  return CIS_OK;
}
