/*
 * This file implements the skill registry: modules stored content-addressed
 * by sha256 under <home>/modules/, metadata and manifests in SQLite
 * (<home>/registry.db), and an in-memory cache of decoded modules keyed by
 * sha256 so a module is decoded and validated once per process.
 *
 * The registry is split by tenant: each row belongs to one tenant, and a
 * handle installs, lists, shows, removes and runs only its own tenant's
 * skills (cis_skills_config.tenant). Two tenants may install the same
 * name; the sharing checks (KV namespaces, volumes) look only at the
 * tenant's own skills, since a tenant's KV and files are its own anyway,
 * and answering them from another tenant's rows would tell who installed
 * what.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cis/cis_http.h"
#include "skill/skill_internal.h"


cis_result cis__read_file(const char *path, size_t max, uint8_t **out, size_t *len) {
  *out = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? CIS_ENOTFOUND : CIS_EIO;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return CIS_EIO;
  }
  if ((uint64_t)st.st_size > max) {
    close(fd);
    return CIS_ETOOBIG;
  }
  uint8_t *buf = malloc((size_t)st.st_size + 1);
  if (!buf) {
    close(fd);
    return CIS_ENOMEM;
  }
  size_t done = 0;
  while (done < (size_t)st.st_size) {
    ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += (size_t)n;
  }
  close(fd);
  buf[done] = 0;
  *out = buf;
  *len = done;
  return CIS_OK;
}

/* Writes data to path atomically (temp file + rename), so a crash never
 * leaves a half-written module behind. */
cis_result cis__write_atomic(const char *path, const uint8_t *data, size_t len) {
  char tmp[4300];
  snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return CIS_EIO;
  size_t done = 0;
  while (done < len) {
    ssize_t n = write(fd, data + done, len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      unlink(tmp);
      return CIS_EIO;
    }
    done += (size_t)n;
  }
  if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
    unlink(tmp);
    return CIS_EIO;
  }
  return CIS_OK;
}

static cis_result mkdirs(const char *path) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return CIS_EIO;
    *p = '/';
  }
  if (mkdir(buf, 0755) != 0 && errno != EEXIST) return CIS_EIO;
  return CIS_OK;
}

/* Adds TEXT column col to the skills table unless it is there. Looking
 * first keeps a registry that is already up to date free of writes. */
static cis_result add_column(cis_skills *s, const char *col) {
  char sql[128];
  sqlite3_stmt *st;
  snprintf(sql, sizeof sql, "SELECT %s FROM skills LIMIT 0", col);
  if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) == SQLITE_OK) {
    sqlite3_finalize(st);
    return CIS_OK;
  }
  char *err = NULL;
  snprintf(sql, sizeof sql, "ALTER TABLE skills ADD COLUMN %s TEXT", col);
  if (sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK) {
    cis_result rc = cis__skills_fail(s, CIS_EIO, "registry schema: %s", err ? err : "?");
    sqlite3_free(err);
    return rc;
  }
  return CIS_OK;
}

/* Moves a registry from before the split by tenant (name alone was the
 * key) to the (tenant, name) key, its skills becoming the "default"
 * tenant's, where the CLI has always installed them. Every column the old
 * table has is carried over (read from its schema, so a column added by
 * add_column before this runs is kept). One transaction: another process
 * opening it meanwhile waits under the busy timeout. */
static cis_result split_by_tenant(cis_skills *s) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(s->db, "SELECT tenant FROM skills LIMIT 0", -1, &st, NULL) == SQLITE_OK) {
    sqlite3_finalize(st);
    return CIS_OK;
  }
  char defs[2048] = "", names[1024] = "";
  size_t dn = 0, nn = 0;
  if (sqlite3_prepare_v2(s->db, "PRAGMA table_info(skills)", -1, &st, NULL) != SQLITE_OK)
    return cis__skills_fail(s, CIS_EIO, "registry: %s", sqlite3_errmsg(s->db));
  while (sqlite3_step(st) == SQLITE_ROW) {
    const char *col = (const char *)sqlite3_column_text(st, 1), *type = (const char *)sqlite3_column_text(st, 2);
    /* Our own column names: a-z, 0-9 and _ only, so quoting is enough. */
    if (!col || strspn(col, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(col)) continue;
    dn += (size_t)snprintf(defs + dn, dn < sizeof defs ? sizeof defs - dn : 0, "\"%s\" %s%s, ", col,
                           type && !strcmp(type, "INTEGER") ? "INTEGER" : "TEXT",
                           sqlite3_column_int(st, 3) ? " NOT NULL" : "");
    nn += (size_t)snprintf(names + nn, nn < sizeof names ? sizeof names - nn : 0, ", \"%s\"", col);
  }
  sqlite3_finalize(st);
  if (dn >= sizeof defs || nn >= sizeof names || !nn)
    return cis__skills_fail(s, CIS_EIO, "registry schema (split by tenant): unexpected columns");
  char *sql = sqlite3_mprintf("BEGIN IMMEDIATE;"
                              "CREATE TABLE skills_by_tenant(tenant TEXT NOT NULL, %sPRIMARY KEY(tenant, name));"
                              "INSERT INTO skills_by_tenant(tenant%s) SELECT 'default'%s FROM skills;"
                              "DROP TABLE skills;"
                              "ALTER TABLE skills_by_tenant RENAME TO skills;"
                              "COMMIT;",
                              defs, names, names);
  if (!sql) return cis__skills_fail(s, CIS_ENOMEM, "out of memory");
  char *err = NULL;
  int r = sqlite3_exec(s->db, sql, NULL, NULL, &err);
  sqlite3_free(sql);
  if (r != SQLITE_OK) {
    /* A second opener may have split it first: then the column is there. */
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    if (sqlite3_prepare_v2(s->db, "SELECT tenant FROM skills LIMIT 0", -1, &st, NULL) == SQLITE_OK) {
      sqlite3_finalize(st);
      sqlite3_free(err);
      return CIS_OK;
    }
    cis_result rc = cis__skills_fail(s, CIS_EIO, "registry schema (split by tenant): %s", err ? err : "?");
    sqlite3_free(err);
    return rc;
  }
  return CIS_OK;
}

cis_result cis__registry_open(cis_skills *s) {
  char path[4200];
  if (mkdirs(s->home) != CIS_OK) return cis__skills_fail(s, CIS_EIO, "cannot create %s: %s", s->home, strerror(errno));
  snprintf(path, sizeof path, "%s/modules", s->home);
  if (mkdirs(path) != CIS_OK) return cis__skills_fail(s, CIS_EIO, "cannot create %s", path);
  snprintf(path, sizeof path, "%s/registry.db", s->home);
  if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK)
    return cis__skills_fail(s, CIS_EIO, "cannot open %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "?");
  sqlite3_busy_timeout(s->db, 5000);
  /* Opening writes nothing unless something must change, so that calls,
   * which only read the registry, still work on a full disk. Hence the
   * rollback journal rather than WAL: a WAL reader needs its -shm file,
   * which cannot be made or grown on a full disk. Writes (install,
   * remove) are rare, and readers of other processes wait out a write
   * under the busy timeout. A registry from the WAL days is moved over
   * when it can be (not on a full disk, where it stays as it is). */
  char *err = NULL;
  sqlite3_stmt *st;
  bool wal = false, have_table = false;
  if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK) {
    if (sqlite3_step(st) == SQLITE_ROW) wal = !sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
  }
  if (wal) sqlite3_exec(s->db, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
  if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name='skills'", -1, &st,
                         NULL) != SQLITE_OK)
    return cis__skills_fail(s, CIS_EIO, "registry: %s", sqlite3_errmsg(s->db));
  int r = sqlite3_step(st);
  have_table = r == SQLITE_ROW;
  sqlite3_finalize(st);
  if (r != SQLITE_ROW && r != SQLITE_DONE) return cis__skills_fail(s, CIS_EIO, "registry: %s", sqlite3_errmsg(s->db));
  if (!have_table &&
      sqlite3_exec(s->db,
                   "CREATE TABLE IF NOT EXISTS skills(tenant TEXT NOT NULL, name TEXT NOT NULL,"
                   " version TEXT NOT NULL, sha256 TEXT NOT NULL, description TEXT NOT NULL,"
                   " manifest TEXT NOT NULL, installed_at INTEGER NOT NULL, dir TEXT, grants TEXT,"
                   " PRIMARY KEY(tenant, name));",
                   NULL, NULL, &err) != SQLITE_OK) {
    cis_result rc = cis__skills_fail(s, CIS_EIO, "registry schema: %s", err ? err : "?");
    sqlite3_free(err);
    return rc;
  }
  /* `dir`, the folder a skill was installed from (host mounts name their
   * source relative to it), and `grants`, what the operator allowed it at
   * install (JSON), came after the first registries were made: add them
   * to those. */
  cis_result rc = add_column(s, "dir");
  if (rc == CIS_OK) rc = add_column(s, "grants");
  /* `signature`, a signed skill's skill.sig (sign.c), came later too. */
  if (rc == CIS_OK) rc = add_column(s, "signature");
  if (rc == CIS_OK) rc = split_by_tenant(s);
  return rc;
}

/* Decodes and validates bytes once per process; shared by every call. */
cis_result cis__module_cached(cis_skills *s, const char *sha, const uint8_t *bytes, size_t len,
                              cis_module **out) {
  *out = NULL;
  pthread_mutex_lock(&s->cache_lock);
  for (cache_entry *e = s->cache; e; e = e->next)
    if (!strcmp(e->sha256, sha)) {
      *out = cis_module_ref(e->module);
      pthread_mutex_unlock(&s->cache_lock);
      return CIS_OK;
    }
  pthread_mutex_unlock(&s->cache_lock);
  uint8_t *owned = NULL;
  if (!bytes) {
    char path[4200];
    snprintf(path, sizeof path, "%s/modules/%s.wasm", s->home, sha);
    cis_result rc = cis__read_file(path, CIS__MAX_MODULE_BYTES, &owned, &len);
    if (rc != CIS_OK) return cis__skills_fail(s, rc, "module %s: %s", sha, cis_strerror(rc));
    char got[65];
    rc = cis_sha256_hex(owned, len, got);
    if (rc != CIS_OK) {
      free(owned);
      return cis__skills_fail(s, rc, "module %s: cannot hash it: %s", sha, cis_strerror(rc));
    }
    if (strcmp(got, sha)) {
      free(owned);
      return cis__skills_fail(s, CIS_EHASH, "stored module %s does not match its hash", sha);
    }
    bytes = owned;
  }
  cis_module *m;
  cis_result rc = cis_module_new(s->engine, bytes, len, &m);
  free(owned);
  if (rc != CIS_OK) return cis__skills_fail(s, rc, "module %.12s: %s", sha, cis_errmsg(s->engine));
  pthread_mutex_lock(&s->cache_lock);
  cache_entry *e = calloc(1, sizeof *e);
  if (e) {
    memcpy(e->sha256, sha, 65);
    e->module = cis_module_ref(m);
    e->next = s->cache;
    s->cache = e;
  }
  pthread_mutex_unlock(&s->cache_lock);
  *out = m;
  return CIS_OK;
}

void cis__mount_source_path(const char *dir, const char *source, char *out, size_t cap) {
  if (source[0] == '/' || !dir) snprintf(out, cap, "%s", source);
  else snprintf(out, cap, "%s/%s", dir, source);
}

/* Whether path is base or under it; both resolved. */
static bool path_within(const char *path, const char *base) {
  size_t n = strlen(base);
  if (n == 1 && base[0] == '/') return true;
  return !strncmp(path, base, n) && (path[n] == '\0' || path[n] == '/');
}

cis_result cis__host_source_check(const char *dir, const char *source, const char *const *allowed,
                                  size_t nallowed, char *resolved, size_t cap, int *which, char *why,
                                  size_t whycap) {
  *which = -1;
  if (source[0] != '/' && !dir) {
    snprintf(why, whycap, "relative, but the skill is registered from memory (no folder to resolve it in): "
                          "give an absolute path");
    return CIS_EMANIFEST;
  }
  char path[PATH_MAX + 4200];
  cis__mount_source_path(dir, source, path, sizeof path);
  char *real = realpath(path, NULL);
  struct stat st;
  if (!real || stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
    snprintf(why, whycap, "%s is not a directory", path);
    free(real);
    return CIS_EMANIFEST;
  }
  cis_result rc = CIS_OK;
  char *realdir = dir ? realpath(dir, NULL) : NULL;
  if (!realdir || !path_within(real, realdir)) {
    rc = CIS_EDENIED;
    for (size_t i = 0; i < nallowed && rc != CIS_OK; i++) {
      char *ra = allowed[i] ? realpath(allowed[i], NULL) : NULL;
      if (ra && path_within(real, ra)) {
        rc = CIS_OK;
        *which = (int)i;
      }
      free(ra);
    }
    if (rc != CIS_OK)
      snprintf(why, whycap, "%s is outside the skill's folder%s%s (the operator may allow it with --allow-host-path)",
               real, realdir ? " " : "", realdir ? realdir : "");
  }
  if (rc == CIS_OK && strlen(real) >= cap) {
    snprintf(why, whycap, "resolved path too long");
    rc = CIS_EMANIFEST;
  }
  if (rc == CIS_OK) snprintf(resolved, cap, "%s", real);
  free(real);
  free(realdir);
  return rc;
}

cis_result cis__vfs_tree_key(const char *tenant, const char *skill, const char *volume, char *out, size_t cap) {
  size_t c = cap < 256 ? cap : 256; /* the layered filesystem takes 1..255 bytes */
  int n = volume ? snprintf(out, c, "%s/volume:%s", tenant, volume) : snprintf(out, c, "%s/skill:%s", tenant, skill);
  if (n < 0 || (size_t)n >= c) {
    if (cap) out[0] = '\0';
    return CIS_EINVAL;
  }
  return CIS_OK;
}

void cis__grants_free(cis__grants *g) {
  if (!g) return;
  char **lists[] = {g->volumes, g->namespaces, g->host_paths};
  size_t ns[] = {g->n_volumes, g->n_namespaces, g->n_host_paths};
  for (size_t l = 0; l < 3; l++) {
    for (size_t i = 0; i < ns[l]; i++) free(lists[l][i]);
    free(lists[l]);
  }
  memset(g, 0, sizeof *g);
}

/* Appends a copy of v to a grants list unless it is there. */
static cis_result grants_add(char ***list, size_t *n, const char *v) {
  for (size_t i = 0; i < *n; i++)
    if (!strcmp((*list)[i], v)) return CIS_OK;
  char **p = realloc(*list, (*n + 1) * sizeof *p);
  if (!p) return CIS_ENOMEM;
  *list = p;
  if (!(p[*n] = strdup(v))) return CIS_ENOMEM;
  (*n)++;
  return CIS_OK;
}

static bool listed(const char *const *list, size_t n, const char *v) {
  for (size_t i = 0; i < n; i++)
    if (list[i] && !strcmp(list[i], v)) return true;
  return false;
}

static char *grants_to_json(const cis__grants *g) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  cJSON_AddItemToObject(o, "volumes", cJSON_CreateStringArray((const char *const *)g->volumes, (int)g->n_volumes));
  cJSON_AddItemToObject(o, "namespaces",
                        cJSON_CreateStringArray((const char *const *)g->namespaces, (int)g->n_namespaces));
  cJSON_AddItemToObject(o, "host_paths",
                        cJSON_CreateStringArray((const char *const *)g->host_paths, (int)g->n_host_paths));
  char *j = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return j;
}

static cis_result grants_from_json(const char *text, cis__grants *g) {
  memset(g, 0, sizeof *g);
  if (!text) return CIS_OK; /* installed before grants were kept */
  cJSON *o = cJSON_Parse(text);
  if (!o) return CIS_OK;
  struct {
    const char *key;
    char ***list;
    size_t *n;
  } f[] = {{"volumes", &g->volumes, &g->n_volumes},
           {"namespaces", &g->namespaces, &g->n_namespaces},
           {"host_paths", &g->host_paths, &g->n_host_paths}};
  cis_result rc = CIS_OK;
  for (size_t k = 0; k < 3 && rc == CIS_OK; k++) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, f[k].key), *it;
    cJSON_ArrayForEach(it, a) {
      if (cJSON_IsString(it) && (rc = grants_add(f[k].list, f[k].n, it->valuestring)) != CIS_OK) break;
    }
  }
  cJSON_Delete(o);
  if (rc != CIS_OK) cis__grants_free(g);
  return rc;
}

/* One installed skill as the sharing checks see it. */
typedef struct other_skill {
  char *name;           /* its name */
  cis_manifest *m;      /* its manifest */
} other_skill;

/* Every skill of the handle's tenant but `except` (may be NULL) whose
 * stored manifest still parses; *n of them. */
static cis_result other_skills(cis_skills *s, const char *except, other_skill **out, size_t *n) {
  *out = NULL;
  *n = 0;
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(s->db, "SELECT name, manifest FROM skills WHERE tenant=? ORDER BY name", -1, &st, NULL) !=
      SQLITE_OK)
    return cis__skills_fail(s, CIS_EIO, "registry: %s", sqlite3_errmsg(s->db));
  sqlite3_bind_text(st, 1, s->tenant, -1, SQLITE_STATIC);
  cis_result rc = CIS_OK;
  int r;
  while ((r = sqlite3_step(st)) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(st, 0);
    if (!name || (except && !strcmp(name, except))) continue;
    cis_manifest *m = NULL;
    char err[64];
    if (cis__manifest_parse((const char *)sqlite3_column_text(st, 1), (size_t)sqlite3_column_bytes(st, 1), &m, err,
                            sizeof err) != CIS_OK)
      continue; /* a row no run could use either */
    other_skill *p = realloc(*out, (*n + 1) * sizeof *p);
    char *copy = strdup(name);
    if (p) *out = p;
    if (!p || !copy) {
      free(copy);
      cis__manifest_free(m);
      rc = CIS_ENOMEM;
      break;
    }
    p[*n].name = copy;
    p[*n].m = m;
    (*n)++;
  }
  if (rc == CIS_OK && r != SQLITE_DONE) rc = cis__skills_fail(s, CIS_EIO, "registry: %s", sqlite3_errmsg(s->db));
  sqlite3_finalize(st);
  return rc;
}

static void other_skills_free(other_skill *o, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(o[i].name);
    cis__manifest_free(o[i].m);
  }
  free(o);
}

static const char *kv_ns(const cis_manifest *m) { return m->kv_namespace ? m->kv_namespace : m->name; }

/* Whether other skill o shares KV namespace ns: it uses it, or it is named
 * after it (its own namespace by default, whether or not it uses KV now). */
static bool shares_namespace(const other_skill *o, const char *ns) {
  return !strcmp(o->name, ns) || (o->m->kv && !strcmp(kv_ns(o->m), ns));
}

static bool mounts_volume(const cis_manifest *m, const char *vol) {
  for (size_t i = 0; i < m->n_mounts; i++)
    if (m->mounts[i].volume && !strcmp(m->mounts[i].volume, vol)) return true;
  return false;
}

cis_result cis__install_check(cis_skills *s, const cis_manifest *m, cis_module *mod, const char *dir,
                              const cis_install_options *opt, cis__grants *used) {
  cis__grants g;
  memset(&g, 0, sizeof g);
  cis_result rc = CIS_OK;
  char why[PATH_MAX + 400];
  other_skill *others = NULL;
  size_t nothers = 0;

  /* HTTP rules, read by the parser invoke uses. */
  if (m->n_http_allow) {
    cis_http_policy *pol;
    if ((rc = cis_http_policy_new(&pol)) != CIS_OK) goto done;
    for (size_t i = 0; i < m->n_http_allow && rc == CIS_OK; i++)
      if (cis_http_policy_add(pol, m->http_allow[i]) != CIS_OK)
        rc = cis__skills_fail(s, CIS_EMANIFEST, "permissions.http.allow[%zu]: %s", i, cis_errmsg(pol));
    cis_http_policy_free(pol);
    if (rc != CIS_OK) goto done;
  }
  /* The entry the ABI will call, with its signature. */
  if (mod && (rc = cis__check_entry(m, mod, why, sizeof why)) != CIS_OK) {
    cis__skills_fail(s, rc, "%s", why);
    goto done;
  }
  /* Every import: one the host will give a call, with its type. */
  if (mod && (rc = cis__check_imports(s, m, mod, why, sizeof why)) != CIS_OK) {
    cis__skills_fail(s, rc, "%s", why);
    goto done;
  }
  /* Mounts: host sources inside the skill's folder unless allowed; named
   * volumes only when granted. */
  for (size_t i = 0; i < m->n_mounts; i++) {
    const cis_manifest_mount *mt = &m->mounts[i];
    if (!strcmp(mt->type, "host")) {
      char resolved[PATH_MAX];
      int which;
      rc = cis__host_source_check(dir, mt->source, opt ? opt->allow_host_paths : NULL,
                                  opt ? opt->nallow_host_paths : 0, resolved, sizeof resolved, &which, why,
                                  sizeof why);
      if (rc != CIS_OK) {
        cis__skills_fail(s, rc, "permissions.fs.mounts[%zu].source: %s", i, why);
        goto done;
      }
      if (which >= 0) {
        char *ra = realpath(opt->allow_host_paths[which], NULL);
        rc = ra ? grants_add(&g.host_paths, &g.n_host_paths, ra) : CIS_ENOMEM;
        free(ra);
        if (rc != CIS_OK) goto done;
      }
    } else if (mt->volume) {
      if (!opt || !listed(opt->allow_volumes, opt->nallow_volumes, mt->volume)) {
        rc = cis__skills_fail(s, CIS_EDENIED,
                              "permissions.fs.mounts[%zu].volume: \"%s\" is a volume other skills may share; "
                              "it needs the operator's grant (--allow-volume %s)",
                              i, mt->volume, mt->volume);
        goto done;
      }
      if ((rc = grants_add(&g.volumes, &g.n_volumes, mt->volume)) != CIS_OK) goto done;
    }
  }
  /* A KV namespace is the skill's own unless the operator lets it share
   * one with the skills already installed: either order of install meets
   * this check, the later one failing. */
  if (m->kv) {
    if ((rc = other_skills(s, m->name, &others, &nothers)) != CIS_OK) goto done;
    const char *ns = kv_ns(m);
    /* "wasm-" and 12 hex digits is the namespace of a module run without a
     * manifest (cis_skills_invoke_wasm): not a skill's to take. */
    if (strlen(ns) == 17 && !strncmp(ns, "wasm-", 5) && strspn(ns + 5, "0123456789abcdef") == 12 &&
        (!opt || !listed(opt->allow_namespaces, opt->nallow_namespaces, ns))) {
      rc = cis__skills_fail(s, CIS_EDENIED,
                            "%s: the KV namespace \"%s\" is that of a module run without a manifest; using it "
                            "needs the operator's grant (--allow-namespace %s)",
                            m->kv_namespace ? "permissions.kv.namespace" : "name", ns, ns);
      goto done;
    }
    for (size_t i = 0; i < nothers; i++) {
      if (!shares_namespace(&others[i], ns)) continue;
      if (!opt || !listed(opt->allow_namespaces, opt->nallow_namespaces, ns)) {
        rc = cis__skills_fail(s, CIS_EDENIED,
                              "%s: the KV namespace \"%s\" is skill %s's; sharing it needs the operator's grant "
                              "(--allow-namespace %s)",
                              m->kv_namespace ? "permissions.kv.namespace" : "name", ns, others[i].name, ns);
        goto done;
      }
      if ((rc = grants_add(&g.namespaces, &g.n_namespaces, ns)) != CIS_OK) goto done;
    }
  }
done:
  if (rc == CIS_ENOMEM) cis__skills_fail(s, rc, "out of memory");
  other_skills_free(others, nothers);
  if (rc == CIS_OK && used) *used = g;
  else cis__grants_free(&g);
  return rc;
}

/* Registers a skill; dir is the absolute folder it was installed from, or
 * NULL. */
static cis_result register_skill(cis_skills *s, const uint8_t *wasm, size_t wasm_len, const char *manifest,
                                 size_t manifest_len, const char *dir, const cis_install_options *opt) {
  if (!s || !wasm || !manifest) return CIS_EINVAL;
  char err[512];
  cis_manifest *m;
  cis__grants g;
  memset(&g, 0, sizeof g);
  char *gjson = NULL;
  cis_result rc = cis__manifest_parse(manifest, manifest_len, &m, err, sizeof err);
  if (rc != CIS_OK) return cis__skills_fail(s, rc, "%s", err);
  char sha[65];
  rc = cis_sha256_hex(wasm, wasm_len, sha);
  if (rc != CIS_OK) {
    rc = cis__skills_fail(s, rc, "cannot hash the module: %s", cis_strerror(rc));
    goto done;
  }
  if (strcmp(sha, m->sha256)) {
    rc = cis__skills_fail(s, CIS_EHASH, "wasm.sha256: the module's sha256 is %s, the manifest says %s", sha, m->sha256);
    goto done;
  }
  if (wasm_len > CIS__MAX_MODULE_BYTES) {
    rc = cis__skills_fail(s, CIS_ETOOBIG, "module larger than %u bytes", CIS__MAX_MODULE_BYTES);
    goto done;
  }
  const char *sig = opt ? opt->signature : NULL;
  size_t siglen = sig ? opt->signature_len : 0;
  if ((rc = cis__signature_check(s, m->name, manifest, manifest_len, sig, siglen)) != CIS_OK) goto done;
  cis_module *mod;
  rc = cis__module_cached(s, sha, wasm, wasm_len, &mod); /* validated once, here */
  if (rc != CIS_OK) goto done;
  rc = cis__install_check(s, m, mod, dir, opt, &g);
  cis_module_free(mod);
  if (rc != CIS_OK) goto done;
  if (!(gjson = grants_to_json(&g))) {
    rc = cis__skills_fail(s, CIS_ENOMEM, "out of memory");
    goto done;
  }
  char path[4200];
  snprintf(path, sizeof path, "%s/modules/%s.wasm", s->home, sha);
  if (access(path, F_OK) != 0 && (rc = cis__write_atomic(path, wasm, wasm_len)) != CIS_OK) {
    rc = cis__skills_fail(s, rc, "cannot store %s", path);
    goto done;
  }
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db,
                         "INSERT OR REPLACE INTO skills(name,version,sha256,description,manifest,installed_at,dir,grants,"
                         "tenant,signature) VALUES(?,?,?,?,?,?,?,?,?,?)",
                         -1, &st, NULL) != SQLITE_OK) {
    rc = cis__skills_fail(s, CIS_EIO, "registry: %s", sqlite3_errmsg(s->db));
    goto done;
  }
  sqlite3_bind_text(st, 1, m->name, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, m->version, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 3, sha, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 4, m->description, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 5, manifest, (int)manifest_len, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 6, (sqlite3_int64)time(NULL));
  if (dir) sqlite3_bind_text(st, 7, dir, -1, SQLITE_TRANSIENT);
  else sqlite3_bind_null(st, 7);
  sqlite3_bind_text(st, 8, gjson, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 9, s->tenant, -1, SQLITE_STATIC);
  if (sig) sqlite3_bind_text(st, 10, sig, (int)siglen, SQLITE_TRANSIENT);
  else sqlite3_bind_null(st, 10);
  if (sqlite3_step(st) != SQLITE_DONE) rc = cis__skills_fail(s, CIS_EIO, "registry: %s", sqlite3_errmsg(s->db));
  sqlite3_finalize(st);
  if (rc == CIS_OK) cis__registry_changed(s); /* committed: no handle runs the old entry now */
done:
  free(gjson);
  cis__grants_free(&g);
  cis__manifest_free(m);
  return rc;
}

cis_result cis_skills_register(cis_skills *s, const uint8_t *wasm, size_t wasm_len,
                               const char *manifest, size_t manifest_len) {
  return register_skill(s, wasm, wasm_len, manifest, manifest_len, NULL, NULL);
}

cis_result cis_skills_register_ex(cis_skills *s, const uint8_t *wasm, size_t wasm_len, const char *manifest,
                                  size_t manifest_len, const cis_install_options *opt) {
  return register_skill(s, wasm, wasm_len, manifest, manifest_len, NULL, opt);
}

cis_result cis_skills_install(cis_skills *s, const char *path, char *name_out, size_t name_cap) {
  return cis_skills_install_ex(s, path, NULL, name_out, name_cap);
}

/* The folder's skill.sig as the install's signature, unless the caller
 * gave one: *opt then points at *withsig, which holds *text. */
static cis_result folder_signature(cis_skills *s, const char *dir, const cis_install_options **opt,
                                   cis_install_options *withsig, uint8_t **text) {
  if (*opt && (*opt)->signature) return CIS_OK;
  char spath[4300];
  snprintf(spath, sizeof spath, "%s/%s", dir, CIS_SIGNATURE_FILE);
  if (access(spath, F_OK) != 0) return CIS_OK;
  size_t len;
  cis_result rc = cis__read_file(spath, 4096, text, &len);
  if (rc == CIS_ETOOBIG) return cis__skills_fail(s, CIS_ESIGNATURE, "%s: larger than a signature can be", spath);
  if (rc != CIS_OK) return cis__skills_fail(s, rc, "%s: %s", spath, cis_strerror(rc));
  if (*opt) *withsig = **opt;
  else memset(withsig, 0, sizeof *withsig);
  withsig->signature = (const char *)*text;
  withsig->signature_len = len;
  *opt = withsig;
  return CIS_OK;
}

cis_result cis_skills_install_ex(cis_skills *s, const char *path, const cis_install_options *opt, char *name_out,
                                 size_t name_cap) {
  if (!s || !path) return CIS_EINVAL;
  char mpath[4200], dir[4200];
  struct stat st;
  if (stat(path, &st) != 0) return cis__skills_fail(s, CIS_ENOTFOUND, "%s: %s", path, strerror(errno));
  if (S_ISDIR(st.st_mode)) {
    snprintf(dir, sizeof dir, "%s", path);
    snprintf(mpath, sizeof mpath, "%s/skill.json", path);
  } else {
    snprintf(mpath, sizeof mpath, "%s", path);
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
  }
  uint8_t *man = NULL, *wasm = NULL;
  size_t manlen, wasmlen;
  cis_result rc = cis__read_file(mpath, CIS_MANIFEST_MAX_BYTES, &man, &manlen);
  if (rc != CIS_OK) return cis__skills_fail(s, rc, "%s: %s", mpath, cis_strerror(rc));
  char err[512];
  cis_manifest *m;
  rc = cis__manifest_parse((const char *)man, manlen, &m, err, sizeof err);
  if (rc != CIS_OK) {
    free(man);
    return cis__skills_fail(s, rc, "%s: %s", mpath, err);
  }
  char wpath[8400];
  snprintf(wpath, sizeof wpath, "%s/%s", dir, m->wasm_path);
  rc = cis__read_file(wpath, CIS__MAX_MODULE_BYTES, &wasm, &wasmlen);
  uint8_t *sigtext = NULL;
  cis_install_options withsig;
  if (rc != CIS_OK) rc = cis__skills_fail(s, rc, "%s: %s", wpath, cis_strerror(rc));
  else rc = folder_signature(s, dir, &opt, &withsig, &sigtext);
  if (rc == CIS_OK) {
    char *absdir = realpath(dir, NULL);
    if (!absdir) rc = cis__skills_fail(s, CIS_EIO, "%s: %s", dir, strerror(errno));
    else rc = register_skill(s, wasm, wasmlen, (const char *)man, manlen, absdir, opt);
    free(absdir);
  }
  if (rc == CIS_OK && name_out && name_cap) snprintf(name_out, name_cap, "%s", m->name);
  cis__manifest_free(m);
  free(man);
  free(wasm);
  free(sigtext);
  return rc;
}

cis_result cis_skills_remove(cis_skills *s, const char *name) {
  if (!s || !name) return CIS_EINVAL;
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(s->db, "DELETE FROM skills WHERE tenant=? AND name=?", -1, &st, NULL) != SQLITE_OK)
    return cis__skills_fail(s, CIS_EIO, "registry: %s", sqlite3_errmsg(s->db));
  sqlite3_bind_text(st, 1, s->tenant, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
  int r = sqlite3_step(st);
  sqlite3_finalize(st);
  if (r != SQLITE_DONE) return cis__skills_fail(s, CIS_EIO, "registry: %s", sqlite3_errmsg(s->db));
  if (sqlite3_changes(s->db) == 0) return cis__skills_fail(s, CIS_ENOTFOUND, "skill %s is not installed", name);
  cis__registry_changed(s);
  /* The module file stays: another skill may share it (same sha256). */
  return CIS_OK;
}

cis_result cis_skills_list(cis_skills *s, cis_skill_info **out, size_t *n) {
  if (!s || !out || !n) return CIS_EINVAL;
  *out = NULL;
  *n = 0;
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(s->db,
                         "SELECT name,version,sha256,description,installed_at FROM skills WHERE tenant=? ORDER BY name",
                         -1, &st, NULL) != SQLITE_OK)
    return cis__skills_fail(s, CIS_EIO, "registry: %s", sqlite3_errmsg(s->db));
  sqlite3_bind_text(st, 1, s->tenant, -1, SQLITE_STATIC);
  size_t cap = 0;
  cis_result rc = CIS_OK;
  int r;
  while ((r = sqlite3_step(st)) == SQLITE_ROW) {
    if (*n == cap) {
      cap = cap ? cap * 2 : 16;
      cis_skill_info *p = realloc(*out, cap * sizeof *p);
      if (!p) {
        rc = CIS_ENOMEM;
        break;
      }
      *out = p;
    }
    cis_skill_info *i = &(*out)[(*n)++];
    memset(i, 0, sizeof *i);
    snprintf(i->name, sizeof i->name, "%s", (const char *)sqlite3_column_text(st, 0));
    snprintf(i->version, sizeof i->version, "%s", (const char *)sqlite3_column_text(st, 1));
    snprintf(i->sha256, sizeof i->sha256, "%s", (const char *)sqlite3_column_text(st, 2));
    snprintf(i->description, sizeof i->description, "%s", (const char *)sqlite3_column_text(st, 3));
    i->installed_at = sqlite3_column_int64(st, 4);
  }
  if (rc == CIS_OK && r != SQLITE_DONE) rc = cis__skills_fail(s, CIS_EIO, "registry: %s", sqlite3_errmsg(s->db));
  sqlite3_finalize(st);
  if (rc != CIS_OK) {
    free(*out);
    *out = NULL;
    *n = 0;
  }
  return rc;
}

cis_result cis__registry_get(cis_skills *s, const char *name, cis_manifest **m, char **dir, cis__grants *g) {
  *m = NULL;
  if (dir) *dir = NULL;
  if (g) memset(g, 0, sizeof *g);
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(s->db, "SELECT manifest, dir, grants, signature FROM skills WHERE tenant=? AND name=?", -1, &st,
                         NULL) != SQLITE_OK)
    return cis__skills_fail(s, CIS_EIO, "registry: %s", sqlite3_errmsg(s->db));
  sqlite3_bind_text(st, 1, s->tenant, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
  cis_result rc;
  int r = sqlite3_step(st);
  if (r == SQLITE_ROW) {
    char err[512];
    rc = cis__manifest_parse((const char *)sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0), m,
                             err, sizeof err);
    if (rc != CIS_OK) rc = cis__skills_fail(s, rc, "stored manifest of %s: %s", name, err);
    /* Checked again at every load: a manifest changed in the registry
     * after install no longer matches its signature. */
    if (rc == CIS_OK)
      rc = cis__signature_check(s, name, (const char *)sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0),
                                (const char *)sqlite3_column_text(st, 3), (size_t)sqlite3_column_bytes(st, 3));
    const unsigned char *d = sqlite3_column_text(st, 1);
    if (rc == CIS_OK && dir && d && !(*dir = strdup((const char *)d))) rc = CIS_ENOMEM;
    if (rc == CIS_OK && g) rc = grants_from_json((const char *)sqlite3_column_text(st, 2), g);
    if (rc != CIS_OK) {
      cis__manifest_free(*m);
      *m = NULL;
      if (dir) {
        free(*dir);
        *dir = NULL;
      }
    }
  } else if (r == SQLITE_DONE) {
    rc = cis__skills_fail(s, CIS_ENOTFOUND, "skill %s is not installed", name);
  } else {
    rc = cis__skills_fail(s, CIS_EIO, "registry: %s", sqlite3_errmsg(s->db));
  }
  sqlite3_finalize(st);
  return rc;
}

/* "sharing" of show: the KV namespace and each volume of m, with the
 * other installed skills that share it. */
static cJSON *sharing_json(const cis_manifest *m, const other_skill *others, size_t n) {
  cJSON *sh = cJSON_CreateObject();
  if (!sh) return NULL;
  if (m->kv) {
    cJSON *ns = cJSON_AddObjectToObject(sh, "kv_namespace");
    cJSON_AddStringToObject(ns, "name", kv_ns(m));
    cJSON *with = cJSON_AddArrayToObject(ns, "shared_with");
    for (size_t i = 0; i < n; i++)
      if (shares_namespace(&others[i], kv_ns(m))) cJSON_AddItemToArray(with, cJSON_CreateString(others[i].name));
  }
  cJSON *vols = cJSON_AddArrayToObject(sh, "volumes");
  for (size_t k = 0; k < m->n_mounts; k++) {
    const char *v = m->mounts[k].volume;
    if (!v) continue;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", v);
    cJSON *with = cJSON_AddArrayToObject(o, "shared_with");
    for (size_t i = 0; i < n; i++)
      if (mounts_volume(others[i].m, v)) cJSON_AddItemToArray(with, cJSON_CreateString(others[i].name));
    cJSON_AddItemToArray(vols, o);
  }
  return sh;
}

cis_result cis_skills_show(cis_skills *s, const char *name, char **json) {
  if (!s || !name || !json) return CIS_EINVAL;
  *json = NULL;
  cis_manifest *m;
  cis__grants g;
  cis_result rc = cis__registry_get(s, name, &m, NULL, &g);
  if (rc != CIS_OK) return rc;
  other_skill *others = NULL;
  size_t n = 0;
  cis_limits eff;
  cis__skill_limits(s, m, &eff);
  char *text = cis__manifest_to_json(m, &eff);
  cJSON *o = text ? cJSON_Parse(text) : NULL;
  free(text);
  if (o && (rc = other_skills(s, m->name, &others, &n)) == CIS_OK) {
    char *gj = grants_to_json(&g);
    cJSON *gobj = gj ? cJSON_Parse(gj) : NULL;
    free(gj);
    if (gobj) cJSON_AddItemToObject(o, "grants", gobj);
    cJSON *sh = sharing_json(m, others, n);
    if (sh) cJSON_AddItemToObject(o, "sharing", sh);
    *json = cJSON_Print(o);
  }
  cJSON_Delete(o);
  other_skills_free(others, n);
  cis__grants_free(&g);
  cis__manifest_free(m);
  if (rc != CIS_OK) return rc;
  return *json ? CIS_OK : CIS_ENOMEM;
}
