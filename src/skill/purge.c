/*
 * This file implements cis_skills_remove_ex: a skill's removal, and with
 * CIS_SKILLS_REMOVE_PURGE the deletion of what it stored for its tenant
 * (its KV namespace, its own tree of the database filesystem, its
 * settings), so that the tenant's totals fall when it drops a skill.
 * Without it the data of a removed skill would count against the
 * tenant's limits for good, with nothing left that could delete it.
 *
 * It also implements cis_skills_tenant_remove, the deletion of a whole
 * tenant: every part is found by listing what the tenant has left (its
 * registry rows, the KV store's namespaces of the tenant, the
 * filesystem's trees under "TENANT/"), never from another part, so a
 * deletion cut short is finished by running it again.
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

/* ------------------------------------------------- a tenant's deletion */

/* What a tenant's deletion is doing, for its message. */
typedef struct tenant_job {
  cis_skills *s;              /* the handle of the tenant */
  cis_tenant_removed *out;    /* what went so far */
  char why[768];              /* what was not deleted, and why */
} tenant_job;

/* This process's calls on our SQLite store take turns (stage.c's
 * link_kv): each transaction of the deletion takes its turn as they do.
 * false when the store stayed busy (why said). */
static bool kv_turn_take(tenant_job *j) {
  if (!j->s->kv_serial) return true;
  struct timespec until;
  cis__timespec_after(CLOCK_REALTIME, PURGE_TIMEOUT_MS, &until);
  if (pthread_mutex_timedlock(&j->s->kv_call_lock, &until) == 0) return true;
  snprintf(j->why, sizeof j->why, "kv: the store stayed busy for %u ms", PURGE_TIMEOUT_MS);
  return false;
}

static void kv_turn_give(tenant_job *j) {
  if (j->s->kv_serial) pthread_mutex_unlock(&j->s->kv_call_lock);
}

/* The KV store the tenant's namespaces are in, ready: *none when it is an
 * SQLite store of ours that was never made (nothing is stored there, and
 * the deletion must not create it). */
static cis_result tenant_kv_ready(tenant_job *j, bool *none) {
  *none = !j->s->kv && sqlite_file_absent(j->s->kv_spec);
  return *none ? CIS_OK : cis__skills_kv_ready(j->s, j->why, sizeof j->why);
}

/* One namespace of the tenant (ns, n bytes), emptied PURGE_PAGE keys a
 * transaction; its usage row goes with its last key. */
static cis_result tenant_kv_drop(tenant_job *j, const uint8_t *ns, size_t n) {
  char name[CIS_KV_MAX_NAME_BYTES + 1];
  if (n > CIS_KV_MAX_NAME_BYTES || memchr(ns, 0, n)) return CIS_OK; /* no principal can name it */
  memcpy(name, ns, n);
  name[n] = '\0';
  cis_principal who = {j->s->tenant, name};
  for (unsigned round = 0; round < PURGE_MAX_ROUNDS; round++) {
    uint64_t keys = 0;
    bool more = false;
    if (!kv_turn_take(j)) return CIS_ETIMEOUT;
    cis_result rc = cis_kv_namespace_drop(j->s->kv, &who, PURGE_TIMEOUT_MS, PURGE_PAGE, &keys, &more);
    kv_turn_give(j);
    j->out->kv_keys += keys;
    if (rc != CIS_OK) {
      snprintf(j->why, sizeof j->why, "kv namespace %s: %s", name, cis_kv_errmsg(j->s->kv));
      return rc;
    }
    if (!more) {
      j->out->kv_namespaces++;
      return CIS_OK;
    }
  }
  snprintf(j->why, sizeof j->why, "kv namespace %s: still not empty after %u transactions", name, PURGE_MAX_ROUNDS);
  return CIS_ETIMEOUT;
}

/* A page of the tenant's namespaces after `after` (NULL: from the first). */
static cis_result tenant_kv_page(tenant_job *j, const cis_kv_key *after, size_t max, cis_kv_keys *page) {
  cis_result rc = cis_kv_namespaces(j->s->kv, j->s->tenant, after ? after->key : NULL, after ? after->len : 0, max,
                                    PURGE_TIMEOUT_MS, page);
  if (rc != CIS_OK) snprintf(j->why, sizeof j->why, "kv namespaces: %s", cis_kv_errmsg(j->s->kv));
  return rc;
}

/* Every namespace of the tenant in the KV store, a page of names at a
 * time, each page after the last name of the one before (a name no
 * principal can hold is passed over, not listed again). */
static cis_result tenant_kv(tenant_job *j) {
  bool none;
  cis_result rc = tenant_kv_ready(j, &none);
  if (rc != CIS_OK || none) return rc;
  cis_kv_key last = {0};
  for (unsigned round = 0; round < PURGE_MAX_ROUNDS; round++) {
    cis_kv_keys page;
    if ((rc = tenant_kv_page(j, round ? &last : NULL, PURGE_PAGE, &page)) != CIS_OK) break;
    for (size_t i = 0; i < page.n && rc == CIS_OK; i++) rc = tenant_kv_drop(j, page.keys[i].key, page.keys[i].len);
    bool more = page.more && page.n;
    if (rc == CIS_OK && more) {
      free(last.key);
      last = page.keys[page.n - 1];
      page.keys[--page.n] = (cis_kv_key){0};
    }
    cis_kv_keys_free(&page);
    if (rc != CIS_OK || !more) break;
  }
  free(last.key);
  return rc;
}

/* The filesystem database's configuration for the tenant's trees. */
static void tenant_fs_config(const tenant_job *j, cis_vfs_db_config *c) {
  cis_vfs_db_config_default(c);
  c->spec = j->s->vfs_db_spec;
  c->tenant = j->s->tenant;
}

/* Deletes tree name (one transaction); one gone meanwhile is no error. */
static cis_result tenant_fs_drop(tenant_job *j, const char *name) {
  cis_vfs_db_config c;
  tenant_fs_config(j, &c);
  c.tenant = name;
  cis_result rc = cis_vfs_db_tenant_delete(&c);
  if (rc == CIS_OK) j->out->fs_trees++;
  if (rc == CIS_ENOTFOUND) return CIS_OK;
  if (rc != CIS_OK) snprintf(j->why, sizeof j->why, "files (tree %s): %s", name, cis_errmsg(NULL));
  return rc;
}

/* A page of the tenant's trees under "TENANT/" after `after`. */
static cis_result tenant_fs_page(tenant_job *j, const char *after, size_t max, char ***names, size_t *n, bool *more) {
  char prefix[CIS_TENANT_NAME_MAX + 2];
  snprintf(prefix, sizeof prefix, "%s/", j->s->tenant);
  cis_vfs_db_config c;
  tenant_fs_config(j, &c);
  cis_result rc = cis_vfs_db_tenant_list(&c, prefix, after, max, names, n, more);
  if (rc != CIS_OK) snprintf(j->why, sizeof j->why, "files (the tenant's trees): %s", cis_errmsg(NULL));
  return rc;
}

/* The tenant's trees: the one named after it, then those under
 * "TENANT/" (its skills' own, its volumes), a page at a time. */
static cis_result tenant_fs(tenant_job *j) {
  if (sqlite_file_absent(j->s->vfs_db_spec)) return CIS_OK;
  cis_result rc = tenant_fs_drop(j, j->s->tenant);
  char after[256] = "";
  for (unsigned round = 0; rc == CIS_OK && round < PURGE_MAX_ROUNDS; round++) {
    char **names = NULL;
    size_t n = 0;
    bool more = false;
    if ((rc = tenant_fs_page(j, round ? after : NULL, PURGE_PAGE, &names, &n, &more)) != CIS_OK) break;
    for (size_t i = 0; i < n && rc == CIS_OK; i++) rc = tenant_fs_drop(j, names[i]);
    if (n) snprintf(after, sizeof after, "%s", names[n - 1]);
    free(names);
    if (!more) break;
  }
  return rc;
}

/* Every row of one part of the tenant in the registry, PURGE_PAGE a
 * transaction; *count adds what went. */
static cis_result tenant_reg(tenant_job *j, cis__reg_part part, const char *what, uint64_t *count) {
  for (unsigned round = 0; round < PURGE_MAX_ROUNDS; round++) {
    uint64_t n = 0;
    cis_result rc = j->s->reg->tenant_drop(j->s, cis__registry_until(), part, PURGE_PAGE, &n);
    *count += n;
    if (rc != CIS_OK) {
      snprintf(j->why, sizeof j->why, "%s: %s", what, cis_skills_errmsg(j->s));
      return rc;
    }
    if (n < PURGE_PAGE) return CIS_OK;
  }
  snprintf(j->why, sizeof j->why, "%s: still some left after %u transactions", what, PURGE_MAX_ROUNDS);
  return CIS_ETIMEOUT;
}

/* Before anything is deleted: the KV store and the filesystem's database
 * answer (one name of each listed), so that one out of reach fails the
 * deletion whole rather than after the skills went. */
static cis_result tenant_probe(tenant_job *j) {
  bool none;
  cis_result rc = tenant_kv_ready(j, &none);
  if (rc == CIS_OK && !none) {
    cis_kv_keys page;
    if ((rc = tenant_kv_page(j, NULL, 1, &page)) == CIS_OK) cis_kv_keys_free(&page);
  }
  if (rc == CIS_OK && !sqlite_file_absent(j->s->vfs_db_spec)) {
    char **names = NULL;
    size_t n = 0;
    if ((rc = tenant_fs_page(j, NULL, 1, &names, &n, NULL)) == CIS_OK) free(names);
  }
  return rc;
}

cis_result cis_skills_tenant_remove(cis_skills *s, unsigned flags, cis_tenant_removed *removed) {
  cis_tenant_removed sink;
  tenant_job j = {.s = s, .out = removed ? removed : &sink};
  memset(j.out, 0, sizeof *j.out);
  if (!s) return CIS_EINVAL;
  if (s->h.failed) return CIS_ESTATE; /* its open failed: only its message and close */
  if (flags & ~CIS_SKILLS_TENANT_REMOVE_DEFAULT) return cis__skills_fail(s, CIS_EINVAL, "unknown flags %#x", flags);
  /* Its name makes its keys and trees' names: nothing else may pass. */
  if (!cis_tenant_name_valid(s->tenant)) return cis__skills_fail(s, CIS_EINVAL, "tenant: " CIS__TENANT_RULE);
  if (!strcmp(s->tenant, "default") && !(flags & CIS_SKILLS_TENANT_REMOVE_DEFAULT))
    return cis__skills_fail(s, CIS_EDENIED,
                            "the default tenant is removed only when asked by name (CIS_SKILLS_TENANT_REMOVE_DEFAULT)");
  cis_result rc = tenant_probe(&j);
  if (rc == CIS_OK) rc = tenant_reg(&j, CIS__REG_TOKENS, "tokens", &j.out->tokens);
  if (rc == CIS_OK) {
    rc = tenant_reg(&j, CIS__REG_SKILLS, "skills", &j.out->skills);
    cis__registry_changed(s); /* a page may have gone before a failure */
  }
  if (rc == CIS_OK) rc = tenant_kv(&j);
  if (rc == CIS_OK) rc = tenant_fs(&j);
  if (rc == CIS_OK) rc = tenant_reg(&j, CIS__REG_SETTINGS, "settings", &j.out->settings);
  if (rc == CIS_OK) rc = tenant_reg(&j, CIS__REG_KEYS, "trusted keys", &j.out->keys);
  if (j.out->keys) cis__registry_changed(s); /* loads check signatures against them */
  if (rc != CIS_OK)
    return cis__skills_fail(s, rc, "tenant %s: not all of it was deleted (run the removal again to finish): %s",
                            s->tenant, j.why);
  return CIS_OK;
}
