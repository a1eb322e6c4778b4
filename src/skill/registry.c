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
#include "db/db.h"
#include "db/db_conn.h"
#include "db/db_pg.h"
#include "skill/registry_internal.h"
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

void cis__reg_row_free(cis__reg_row *r) {
  if (!r) return;
  free(r->name);
  free(r->version);
  free(r->sha256);
  free(r->description);
  free(r->manifest);
  free(r->dir);
  free(r->grants);
  free(r->signature);
  memset(r, 0, sizeof *r);
}

const cis__registry_methods *cis__registry_backend(const char *spec, const char **arg, char *why,
                                                   size_t whycap) {
  *arg = NULL;
  cis__db_spec db;
  if (cis__db_spec_parse(spec, CIS__DB_HAS_DEFAULT, &db, why, whycap) != CIS_OK) return NULL;
  if (!db.home_default) *arg = db.target;
  return db.dialect == CIS__DB_SQLITE ? &cis__registry_sqlite : &cis__registry_postgres;
}

cis_result cis__registry_open(cis_skills *s, const char *spec) {
  char path[4200];
  if (mkdirs(s->home) != CIS_OK) return cis__skills_fail(s, CIS_EIO, "cannot create %s: %s", s->home, strerror(errno));
  /* The modules' folder: the SQLite backend's store, the PostgreSQL
   * backend's local copies. */
  snprintf(path, sizeof path, "%s/modules", s->home);
  if (mkdirs(path) != CIS_OK) return cis__skills_fail(s, CIS_EIO, "cannot create %s", path);
  const char *arg;
  char why[160];
  const cis__registry_methods *m = cis__registry_backend(spec, &arg, why, sizeof why);
  if (!m) return cis__skills_fail(s, CIS_EINVAL, "registry: %s", why);
  if (m->version != CIS__REGISTRY_METHODS_VERSION)
    return cis__skills_fail(s, CIS_EINVAL, "registry: %s backend of version %d", m->name, m->version);
  s->reg = m;
  return m->open(s, arg);
}

uint64_t cis__registry_until(void) { return cis__deadline_after(CIS__REGISTRY_TIMEOUT_MS, 0); }

uint64_t cis__registry_call_until(uint64_t call_until) {
  return call_until && call_until != UINT64_MAX ? call_until : cis__registry_until();
}

void cis__registry_serve(cis_skills *s, const struct cis__callctx *call) {
  if (s->sqconn) cis__db_conn_set_call(s->sqconn, call);
  if (s->pgdb) cis__db_pg_serve(s->pgdb, call);
}

void cis__registry_close(cis_skills *s) {
  if (s->reg) s->reg->close(s);
  s->reg = NULL;
}

/* Decodes and validates bytes once per process; shared by every call. */
cis_result cis__module_cached(cis_skills *s, const char *sha, const uint8_t *bytes, size_t len,
                              uint64_t deadline, cis_module **out) {
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
    cis_result rc = s->reg->module_get(s, cis__registry_call_until(deadline), sha, &owned, &len);
    if (rc != CIS_OK) return rc;
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
  cis_result rc = cis_module_new_until(s->engine, bytes, len, deadline == UINT64_MAX ? 0 : deadline, &m);
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
typedef struct others_ctx {
  const char *except;   /* left out (may be NULL) */
  other_skill **out;    /* the list */
  size_t *n;            /* its length */
  cis_result rc;        /* CIS_ENOMEM stops the listing */
} others_ctx;

static int other_add(void *ctx, const cis__reg_row *row) {
  others_ctx *c = ctx;
  if (c->except && !strcmp(row->name, c->except)) return 0;
  cis_manifest *m = NULL;
  char err[64];
  if (cis__manifest_parse(row->manifest, row->manifest_len, &m, err, sizeof err) != CIS_OK)
    return 0; /* a row no run could use either */
  other_skill *p = realloc(*c->out, (*c->n + 1) * sizeof *p);
  char *copy = strdup(row->name);
  if (p) *c->out = p;
  if (!p || !copy) {
    free(copy);
    cis__manifest_free(m);
    c->rc = CIS_ENOMEM;
    return 1;
  }
  p[*c->n].name = copy;
  p[*c->n].m = m;
  (*c->n)++;
  return 0;
}

static cis_result other_skills(cis_skills *s, const char *except, other_skill **out, size_t *n) {
  *out = NULL;
  *n = 0;
  others_ctx c = {.except = except, .out = out, .n = n, .rc = CIS_OK};
  cis_result rc = s->reg->skill_each(s, cis__registry_until(), other_add, &c);
  return rc != CIS_OK ? rc : c.rc;
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

cis_result cis__registry_room(cis_skills *s, uint64_t skills, uint64_t bytes, bool has, size_t len) {
  if (s->max_skills && skills + 1 > s->max_skills)
    return cis__skills_fail(s, CIS_EQUOTA, "tenant %s has %llu skills, the most it may have", s->tenant,
                            (unsigned long long)skills);
  if (!has) bytes += len;
  if (s->max_module_bytes && bytes > s->max_module_bytes)
    return cis__skills_fail(s, CIS_EQUOTA, "tenant %s: its modules would take %llu bytes, above its %llu", s->tenant,
                            (unsigned long long)bytes, (unsigned long long)s->max_module_bytes);
  return CIS_OK;
}

/* Registers a skill; dir is the absolute folder it was installed from, or
 * NULL. */
static cis_result register_skill(cis_skills *s, const uint8_t *wasm, size_t wasm_len, const char *manifest,
                                 size_t manifest_len, const char *dir, const cis_install_options *opt) {
  if (!s || !wasm || !manifest) return CIS_EINVAL;
  if (s->h.failed) return CIS_ESTATE; /* its open failed: only its message and close */
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
  rc = cis__module_cached(s, sha, wasm, wasm_len, 0, &mod); /* validated once, here */
  if (rc != CIS_OK) goto done;
  rc = cis__install_check(s, m, mod, dir, opt, &g);
  cis_module_free(mod);
  if (rc != CIS_OK) goto done;
  if (!(gjson = grants_to_json(&g))) {
    rc = cis__skills_fail(s, CIS_ENOMEM, "out of memory");
    goto done;
  }
  cis__reg_row row = {.name = m->name, .version = m->version, .sha256 = sha, .description = m->description,
                      .manifest = (char *)manifest, .manifest_len = manifest_len, .installed_at = (int64_t)time(NULL),
                      .dir = (char *)dir, .grants = gjson, .signature = (char *)sig, .signature_len = siglen};
  rc = s->reg->skill_put(s, cis__registry_until(), &row, wasm, wasm_len); /* checks the tenant's room (cis__registry_room) */
  /* Committed: no handle runs the old entry now. A failure may have
   * committed too (a connection lost after the commit): the caches go
   * either way. */
  cis__registry_changed(s);
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
  if (s->h.failed) return CIS_ESTATE; /* its open failed: only its message and close */
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
  if (s->h.failed) return CIS_ESTATE; /* its open failed: only its message and close */
  cis_result rc = s->reg->skill_del(s, cis__registry_until(), name);
  if (rc != CIS_OK) return rc;
  cis__registry_changed(s);
  /* Its module went with it (the backend) unless another skill of any
   * tenant refers to the same sha256. */
  return CIS_OK;
}

typedef struct list_ctx {
  cis_skill_info **out; /* the list */
  size_t *n, cap;       /* its length and room */
  cis_result rc;        /* CIS_ENOMEM stops the listing */
} list_ctx;

static int list_add(void *ctx, const cis__reg_row *row) {
  list_ctx *c = ctx;
  if (*c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 16;
    cis_skill_info *p = realloc(*c->out, cap * sizeof *p);
    if (!p) {
      c->rc = CIS_ENOMEM;
      return 1;
    }
    *c->out = p;
    c->cap = cap;
  }
  cis_skill_info *i = &(*c->out)[(*c->n)++];
  memset(i, 0, sizeof *i);
  snprintf(i->name, sizeof i->name, "%s", row->name);
  snprintf(i->version, sizeof i->version, "%s", row->version ? row->version : "");
  snprintf(i->sha256, sizeof i->sha256, "%s", row->sha256 ? row->sha256 : "");
  snprintf(i->description, sizeof i->description, "%s", row->description ? row->description : "");
  i->installed_at = row->installed_at;
  return 0;
}

cis_result cis_skills_list(cis_skills *s, cis_skill_info **out, size_t *n) {
  if (!s || !out || !n) return CIS_EINVAL;
  *out = NULL;
  *n = 0;
  if (s->h.failed) return CIS_ESTATE; /* its open failed: only its message and close */
  list_ctx c = {.out = out, .n = n, .cap = 0, .rc = CIS_OK};
  cis_result rc = s->reg->skill_each(s, cis__registry_until(), list_add, &c);
  if (rc == CIS_OK && c.rc != CIS_OK) rc = cis__skills_fail(s, c.rc, "out of memory");
  if (rc != CIS_OK) {
    free(*out);
    *out = NULL;
    *n = 0;
  }
  return rc;
}

cis_result cis__registry_get(cis_skills *s, uint64_t until, const char *name, cis_manifest **m, char **dir,
                              cis__grants *g) {
  *m = NULL;
  if (dir) *dir = NULL;
  if (g) memset(g, 0, sizeof *g);
  cis__reg_row row;
  cis_result rc = s->reg->skill_get(s, until, name, &row);
  if (rc != CIS_OK) return rc;
  char err[512];
  rc = cis__manifest_parse(row.manifest, row.manifest_len, m, err, sizeof err);
  if (rc != CIS_OK) rc = cis__skills_fail(s, rc, "stored manifest of %s: %s", name, err);
  /* Checked again at every load: a manifest changed in the registry
   * after install no longer matches its signature. */
  if (rc == CIS_OK) rc = cis__signature_check_by(s, until, name, row.manifest, row.manifest_len, row.signature, row.signature_len);
  if (rc == CIS_OK && dir && row.dir) {
    *dir = row.dir;
    row.dir = NULL;
  }
  if (rc == CIS_OK && g) rc = grants_from_json(row.grants, g);
  if (rc != CIS_OK) {
    cis__manifest_free(*m);
    *m = NULL;
    if (dir) {
      free(*dir);
      *dir = NULL;
    }
  }
  cis__reg_row_free(&row);
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
  if (s->h.failed) return CIS_ESTATE; /* its open failed: only its message and close */
  cis_manifest *m;
  cis__grants g;
  cis_result rc = cis__registry_get(s, cis__registry_until(), name, &m, NULL, &g);
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
