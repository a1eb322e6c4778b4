/*
 * This file implements the skill registry: modules stored content-addressed
 * by sha256 under <home>/modules/, metadata and manifests in SQLite
 * (<home>/registry.db), and an in-memory cache of decoded modules keyed by
 * sha256 so a module is decoded and validated once per process.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "skill/skill_internal.h"

void cis__sha256_hex(const uint8_t *data, size_t len, char out[65]) {
  unsigned char md[32];
  unsigned int n = 0;
  EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
  for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

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
static cis_result write_atomic(const char *path, const uint8_t *data, size_t len) {
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

cis_result cis__registry_open(cis_skills *s) {
  char path[4200];
  if (mkdirs(s->home) != CIS_OK) return cis__skills_fail(s, CIS_EIO, "cannot create %s: %s", s->home, strerror(errno));
  snprintf(path, sizeof path, "%s/modules", s->home);
  if (mkdirs(path) != CIS_OK) return cis__skills_fail(s, CIS_EIO, "cannot create %s", path);
  snprintf(path, sizeof path, "%s/registry.db", s->home);
  if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK)
    return cis__skills_fail(s, CIS_EIO, "cannot open %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "?");
  sqlite3_busy_timeout(s->db, 5000);
  char *err = NULL;
  if (sqlite3_exec(s->db,
                   "PRAGMA journal_mode=WAL;"
                   "CREATE TABLE IF NOT EXISTS skills(name TEXT PRIMARY KEY, version TEXT NOT NULL,"
                   " sha256 TEXT NOT NULL, description TEXT NOT NULL, manifest TEXT NOT NULL,"
                   " installed_at INTEGER NOT NULL);",
                   NULL, NULL, &err) != SQLITE_OK) {
    cis_result rc = cis__skills_fail(s, CIS_EIO, "registry schema: %s", err ? err : "?");
    sqlite3_free(err);
    return rc;
  }
  /* `dir`, the folder a skill was installed from (host mounts name their
   * source relative to it), came after the first registries were made:
   * add it to those. The error of a second ALTER is "duplicate column". */
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(s->db, "SELECT dir FROM skills LIMIT 0", -1, &st, NULL) == SQLITE_OK) {
    sqlite3_finalize(st);
  } else if (sqlite3_exec(s->db, "ALTER TABLE skills ADD COLUMN dir TEXT", NULL, NULL, &err) != SQLITE_OK) {
    cis_result rc = cis__skills_fail(s, CIS_EIO, "registry schema: %s", err ? err : "?");
    sqlite3_free(err);
    return rc;
  }
  return CIS_OK;
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
    cis__sha256_hex(owned, len, got);
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

/* Checks the host mounts' sources: relative ones need the folder the skill
 * came from (dir, NULL when registered from memory), and every source must
 * be a directory now, so a typo shows at install rather than at a call. */
static cis_result check_host_mounts(cis_skills *s, const cis_manifest *m, const char *dir) {
  for (size_t i = 0; i < m->n_mounts; i++) {
    const cis_manifest_mount *mt = &m->mounts[i];
    if (strcmp(mt->type, "host")) continue;
    if (mt->source[0] != '/' && !dir)
      return cis__skills_fail(s, CIS_EMANIFEST,
                              "permissions.fs.mounts[%zu].source: relative, but the skill is registered from "
                              "memory (no folder to resolve it in): give an absolute path",
                              i);
    char path[8400];
    cis__mount_source_path(dir, mt->source, path, sizeof path);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
      return cis__skills_fail(s, CIS_EMANIFEST, "permissions.fs.mounts[%zu].source: %s is not a directory", i,
                              path);
  }
  return CIS_OK;
}

void cis__mount_source_path(const char *dir, const char *source, char *out, size_t cap) {
  if (source[0] == '/' || !dir) snprintf(out, cap, "%s", source);
  else snprintf(out, cap, "%s/%s", dir, source);
}

/* Registers a skill; dir is the absolute folder it was installed from, or
 * NULL. */
static cis_result register_skill(cis_skills *s, const uint8_t *wasm, size_t wasm_len, const char *manifest,
                                 size_t manifest_len, const char *dir) {
  if (!s || !wasm || !manifest) return CIS_EINVAL;
  char err[512];
  cis_manifest *m;
  cis_result rc = cis__manifest_parse(manifest, manifest_len, &m, err, sizeof err);
  if (rc != CIS_OK) return cis__skills_fail(s, rc, "%s", err);
  if ((rc = check_host_mounts(s, m, dir)) != CIS_OK) goto done;
  char sha[65];
  cis__sha256_hex(wasm, wasm_len, sha);
  if (strcmp(sha, m->sha256)) {
    rc = cis__skills_fail(s, CIS_EHASH, "wasm.sha256: the module's sha256 is %s, the manifest says %s", sha, m->sha256);
    goto done;
  }
  if (wasm_len > CIS__MAX_MODULE_BYTES) {
    rc = cis__skills_fail(s, CIS_ETOOBIG, "module larger than %u bytes", CIS__MAX_MODULE_BYTES);
    goto done;
  }
  cis_module *mod;
  rc = cis__module_cached(s, sha, wasm, wasm_len, &mod); /* validated once, here */
  if (rc != CIS_OK) goto done;
  cis_module_free(mod);
  char path[4200];
  snprintf(path, sizeof path, "%s/modules/%s.wasm", s->home, sha);
  if (access(path, F_OK) != 0 && (rc = write_atomic(path, wasm, wasm_len)) != CIS_OK) {
    rc = cis__skills_fail(s, rc, "cannot store %s", path);
    goto done;
  }
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db,
                         "INSERT OR REPLACE INTO skills(name,version,sha256,description,manifest,installed_at,dir)"
                         " VALUES(?,?,?,?,?,?,?)",
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
  if (sqlite3_step(st) != SQLITE_DONE) rc = cis__skills_fail(s, CIS_EIO, "registry: %s", sqlite3_errmsg(s->db));
  sqlite3_finalize(st);
done:
  cis__manifest_free(m);
  return rc;
}

cis_result cis_skills_register(cis_skills *s, const uint8_t *wasm, size_t wasm_len,
                               const char *manifest, size_t manifest_len) {
  return register_skill(s, wasm, wasm_len, manifest, manifest_len, NULL);
}

cis_result cis_skills_install(cis_skills *s, const char *path, char *name_out, size_t name_cap) {
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
  if (rc != CIS_OK) rc = cis__skills_fail(s, rc, "%s: %s", wpath, cis_strerror(rc));
  else {
    char *absdir = realpath(dir, NULL);
    if (!absdir) rc = cis__skills_fail(s, CIS_EIO, "%s: %s", dir, strerror(errno));
    else rc = register_skill(s, wasm, wasmlen, (const char *)man, manlen, absdir);
    free(absdir);
  }
  if (rc == CIS_OK && name_out && name_cap) snprintf(name_out, name_cap, "%s", m->name);
  cis__manifest_free(m);
  free(man);
  free(wasm);
  return rc;
}

cis_result cis_skills_remove(cis_skills *s, const char *name) {
  if (!s || !name) return CIS_EINVAL;
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(s->db, "DELETE FROM skills WHERE name=?", -1, &st, NULL) != SQLITE_OK)
    return cis__skills_fail(s, CIS_EIO, "registry: %s", sqlite3_errmsg(s->db));
  sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
  int r = sqlite3_step(st);
  sqlite3_finalize(st);
  if (r != SQLITE_DONE) return cis__skills_fail(s, CIS_EIO, "registry: %s", sqlite3_errmsg(s->db));
  if (sqlite3_changes(s->db) == 0) return cis__skills_fail(s, CIS_ENOTFOUND, "skill %s is not installed", name);
  /* The module file stays: another skill may share it (same sha256). */
  return CIS_OK;
}

cis_result cis_skills_list(cis_skills *s, cis_skill_info **out, size_t *n) {
  if (!s || !out || !n) return CIS_EINVAL;
  *out = NULL;
  *n = 0;
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(s->db, "SELECT name,version,sha256,description,installed_at FROM skills ORDER BY name",
                         -1, &st, NULL) != SQLITE_OK)
    return cis__skills_fail(s, CIS_EIO, "registry: %s", sqlite3_errmsg(s->db));
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

cis_result cis__registry_get(cis_skills *s, const char *name, cis_manifest **m, char **dir) {
  *m = NULL;
  if (dir) *dir = NULL;
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(s->db, "SELECT manifest, dir FROM skills WHERE name=?", -1, &st, NULL) != SQLITE_OK)
    return cis__skills_fail(s, CIS_EIO, "registry: %s", sqlite3_errmsg(s->db));
  sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
  cis_result rc;
  if (sqlite3_step(st) == SQLITE_ROW) {
    char err[512];
    rc = cis__manifest_parse((const char *)sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0), m,
                             err, sizeof err);
    if (rc != CIS_OK) rc = cis__skills_fail(s, rc, "stored manifest of %s: %s", name, err);
    const unsigned char *d = sqlite3_column_text(st, 1);
    if (rc == CIS_OK && dir && d && !(*dir = strdup((const char *)d))) {
      cis__manifest_free(*m);
      *m = NULL;
      rc = CIS_ENOMEM;
    }
  } else {
    rc = cis__skills_fail(s, CIS_ENOTFOUND, "skill %s is not installed", name);
  }
  sqlite3_finalize(st);
  return rc;
}

cis_result cis_skills_show(cis_skills *s, const char *name, char **json) {
  if (!s || !name || !json) return CIS_EINVAL;
  *json = NULL;
  cis_manifest *m;
  cis_result rc = cis__registry_get(s, name, &m, NULL);
  if (rc != CIS_OK) return rc;
  *json = cis__manifest_to_json(m, &s->limits);
  cis__manifest_free(m);
  return *json ? CIS_OK : CIS_ENOMEM;
}
