/*
 * This file implements the tests of a whole tenant's deletion
 * (cis_skills_tenant_remove, include/cis/cis_skill.h) on SQLite or on
 * PostgreSQL (a database of its own per case on the shared server):
 *   - tenants "alice", "alice2", "alice0", "alice.x", "Alice", "al_ce" and
 *     "default", each with skills (one module shared by all, one its
 *     own), settings, a trusted key, a bearer token, KV keys in several
 *     namespaces (a skill's, a shared one, one of a module run without a
 *     manifest, the one outside a skill) and files in its skill's tree,
 *     a volume and the tree named after it: removing one leaves every
 *     row of the others as it was, byte for byte, and none of its own;
 *     run again, it is CIS_OK with nothing to delete; a namespace larger
 *     than a transaction of the deletion goes whole;
 *   - its token no longer verifies, on a token store that had it cached;
 *   - the default tenant only with its flag; unknown flags and names that
 *     are not a tenant's are CIS_EINVAL;
 *   - a KV store, a filesystem database or a registry out of reach is a
 *     typed error before anything is deleted; a failure half-way through
 *     (the registry, the KV store) is typed, and running it again
 *     finishes the job; a KV method table of version 4 is
 *     CIS_EUNSUPPORTED.
 *
 * argv: sqlite WORKDIR SKILL_DIR | postgres CONNSTR_FILE WORKDIR SKILL_DIR
 */
#include <libpq-fe.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cis/cis_kv.h"
#include "cis/cis_serve.h"
#include "cis/cis_skill.h"
#include "cis/cis_vfs.h"
#include "kv/kv_testing.h"
#include "skill/registry_internal.h"
#include "skill/skill_internal.h"
#include "support/pg_connstr.h"
#include "support/test_file.h"

static struct {
  bool pg;               /* the PostgreSQL run */
  char server[1024];     /* the shared server's connection string */
  char conn[1200];       /* the case's own database on it */
  char dbname[64];       /* its name */
  const char *work;      /* scratch folder */
  const char *skills;    /* the folder of hello.wasm */
  int ncase;             /* cases so far (names of homes and databases) */
} g;

#define OK(x)                                                                                           \
  do {                                                                                                  \
    cis_result r_ = (x);                                                                                \
    if (r_ != CIS_OK) fail_msg("%s:%d: %s -> %s", __FILE__, __LINE__, #x, cis_errname(r_));             \
  } while (0)

/* The tenants of every case: the one removed first, names that start
 * like it, one that a LIKE pattern of another would match, the default. */
static const char *const tenants[] = {"alice", "alice2", "alice0", "alice.x", "Alice", "al_ce", "default"};
#define NTENANTS (sizeof tenants / sizeof tenants[0])

/* --------------------------------------------------------- a case's home */

/* Where a case keeps its data: a home, and the specs of the registry, the
 * KV store and the filesystem's database. */
typedef struct env {
  char home[1024];
  char registry[1300]; /* "" = the home's registry.db */
  char kv[1300];
  char fs[1300];
} env;

static void pg_quiet(void *arg, const char *message) { (void)arg, (void)message; }

/* Runs one statement on the server (the shared database), fmt with name. */
static void pg_admin(const char *fmt, const char *name) {
  PGconn *c = PQconnectdb(g.server);
  if (PQstatus(c) != CONNECTION_OK) fail_msg("connect: %s", PQerrorMessage(c));
  PQsetNoticeProcessor(c, pg_quiet, NULL); /* "does not exist, skipping" */
  char q[256];
  snprintf(q, sizeof q, fmt, name);
  PGresult *r = PQexec(c, q);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) fail_msg("%s: %s", q, PQresultErrorMessage(r));
  PQclear(r);
  PQfinish(c);
}

/* A new case: a home of its own and, on PostgreSQL, a database of its own
 * (every table of it the case's alone, so that whole tables compare). */
static void env_make(env *e) {
  g.ncase++;
  snprintf(e->home, sizeof e->home, "%s/%s-%d-%d", g.work, g.pg ? "pg" : "sq", (int)getpid(), g.ncase);
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->home);
  if (system(cmd) != 0 || mkdir(e->home, 0700) != 0) fail_msg("cannot make %s", e->home);
  if (g.pg) {
    snprintf(g.dbname, sizeof g.dbname, "cis_tenant_rm_%d_%d", (int)getpid(), g.ncase);
    pg_admin("DROP DATABASE IF EXISTS %s WITH (FORCE)", g.dbname);
    pg_admin("CREATE DATABASE %s", g.dbname);
    snprintf(g.conn, sizeof g.conn, "%s dbname=%s", g.server, g.dbname);
    snprintf(e->registry, sizeof e->registry, "postgres:%s", g.conn);
    snprintf(e->kv, sizeof e->kv, "postgres:%s", g.conn);
    snprintf(e->fs, sizeof e->fs, "postgres:%s", g.conn);
  } else {
    e->registry[0] = '\0';
    snprintf(e->kv, sizeof e->kv, "sqlite:%s/kv.db", e->home);
    snprintf(e->fs, sizeof e->fs, "sqlite:%s/fs.db", e->home);
  }
}

static void env_done(env *e) {
  (void)e;
  if (g.pg) pg_admin("DROP DATABASE IF EXISTS %s WITH (FORCE)", g.dbname);
}

/* A spec of a database that is out of reach: an SQLite "file" that is a
 * folder, or a server no one listens for. */
static void dead_spec(const env *e, char *out, size_t cap) {
  if (g.pg) snprintf(out, cap, "postgres:host=127.0.0.1 port=1 connect_timeout=2 dbname=none");
  else snprintf(out, cap, "sqlite:%s", e->home);
}

/* The handle of tenant (NULL: the default) on e, with kv (a store of the
 * caller's, or NULL), kv_spec, fs_spec and registry overriding e's when
 * not NULL. */
static cis_skills *open_on(const env *e, const char *tenant, cis_kv *kv, const char *kv_spec, const char *fs_spec,
                           const char *registry) {
  cis_skills_config c;
  cis_skills_config_default(&c);
  c.home = e->home;
  c.tenant = tenant;
  c.kv = kv;
  c.kv_spec = kv_spec ? kv_spec : e->kv;
  c.vfs_db_spec = fs_spec ? fs_spec : e->fs;
  c.registry = registry ? registry : (e->registry[0] ? e->registry : NULL);
  cis_log_sink null;
  cis_log_sink_null(&null);
  c.log_sink = &null;
  cis_skills *s = NULL;
  if (cis_skills_open(&c, &s) != CIS_OK) fail_msg("open %s: %s", tenant ? tenant : "default", cis_skills_errmsg(s));
  return s;
}

static cis_skills *open_tenant(const env *e, const char *tenant) {
  return open_on(e, strcmp(tenant, "default") ? tenant : NULL, NULL, NULL, NULL, NULL);
}

/* ------------------------------------------------------------- the data */

/* hello.wasm, with a custom section naming `own` when not NULL (a module
 * of that tenant's own: other bytes, another sha256). */
static uint8_t *module(const char *own, size_t *len, char sha[65]) {
  size_t n;
  uint8_t *w = cis_test_file_read_in(g.skills, "hello.wasm", "", &n);
  if (!w) fail_msg("cannot read %s/hello.wasm", g.skills);
  if (own) {
    size_t nl = strlen(own);
    assert_true(nl < 100);
    uint8_t *x = realloc(w, n + 3 + nl);
    assert_non_null(x);
    w = x;
    w[n++] = 0;                   /* custom section */
    w[n++] = (uint8_t)(nl + 1);   /* its size */
    w[n++] = (uint8_t)nl;         /* its name's */
    memcpy(w + n, own, nl);
    n += nl;
  }
  *len = n;
  OK(cis_sha256_hex(w, n, sha));
  return w;
}

static void install(cis_skills *s, const char *name, const char *own) {
  size_t len;
  char sha[65], man[1024];
  uint8_t *w = module(own, &len, sha);
  snprintf(man, sizeof man,
           "{\"name\":\"%s\",\"version\":\"1.0.0\",\"abi\":\"cis_v1\",\"wasm\":{\"path\":\"hello.wasm\","
           "\"sha256\":\"%s\"},\"permissions\":{\"log\":true}}",
           name, sha);
  if (cis_skills_register(s, w, len, man, strlen(man)) != CIS_OK)
    fail_msg("register %s: %s", name, cis_skills_errmsg(s));
  free(w);
}

/* A store of the case's own on spec (the caller closes it). */
static cis_kv *kv_open(const char *spec, const cis_kv_methods *m) {
  cis_kv_config kc;
  cis_kv_config_default(&kc);
  kc.spec = spec;
  kc.methods = m;
  cis_kv *kv = NULL;
  if (cis_kv_open(&kc, &kv) != CIS_OK) fail_msg("kv open: %s", cis_kv_errmsg(kv));
  return kv;
}

/* Writes n keys (k00000...) into tenant's namespace ns (NULL: outside a
 * skill), each value v. */
static void kv_fill(cis_kv *kv, const char *tenant, const char *ns, unsigned n, const char *v) {
  cis_principal who = {tenant, ns};
  cis_kv_txn *t = NULL;
  OK(cis_kv_begin(kv, &who, 60000, &t));
  for (unsigned i = 0; i < n; i++) {
    char k[32];
    snprintf(k, sizeof k, "k%05u", i);
    if (cis_kv_set(t, k, strlen(k), v, strlen(v)) != CIS_OK) fail_msg("kv set: %s", cis_kv_errmsg(kv));
  }
  if (cis_kv_commit(t) != CIS_OK) fail_msg("kv commit: %s", cis_kv_errmsg(kv));
}

/* Writes file "f" holding text into the tree of that name. */
static void tree_put(const env *e, const char *tree, const char *text) {
  cis_vfs_db_config c;
  cis_vfs_db_config_default(&c);
  c.spec = e->fs;
  c.tenant = tree;
  cis_vfs_backend *b = NULL;
  cis_vfs *fs = NULL;
  cis_result rc = cis_vfs_db_new(&c, &b);
  cis_result mr = cis_vfs_mount(b, NULL, &fs);
  if (rc != CIS_OK || mr != CIS_OK) fail_msg("mount %s: %s", tree, cis_vfs_errmsg(fs));
  cis_vfs_file *root = NULL, *f = NULL;
  size_t done = 0;
  if (cis_vfs_open_root(fs, &root) || cis_vfs_openat(root, "f", 1, CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_TRUNC, &f) ||
      cis_vfs_pwrite(f, text, strlen(text), 0, &done) || cis_vfs_fsync(f))
    fail_msg("write %s/f: %s", tree, cis_vfs_errmsg(fs));
  cis_vfs_close(f);
  cis_vfs_close(root);
  cis_vfs_unmount(fs);
}

static bool tree_has(const env *e, const char *tree) {
  cis_vfs_db_config c;
  cis_vfs_db_config_default(&c);
  c.spec = e->fs;
  c.tenant = tree;
  bool exists = false;
  if (cis_vfs_db_tenant_exists(&c, &exists) != CIS_OK) fail_msg("tenant_exists: %s", cis_errmsg(NULL));
  return exists;
}

/* The token store of the case. */
static cis_tokens *tokens_open(const env *e) {
  cis_tokens *t = NULL;
  if (cis_tokens_open_registry(e->home, e->registry[0] ? e->registry : NULL, &t) != CIS_OK)
    fail_msg("tokens: %s", cis_tokens_errmsg(t));
  return t;
}

/* Everything a tenant may have; bulk keys more in namespace "bulk".
 * token (CIS_TOKEN_MAX bytes, may be NULL) receives its bearer token. */
static void seed(const env *e, cis_kv *kv, cis_tokens *tk, const char *tenant, unsigned bulk, char *token) {
  cis_skills *s = open_tenant(e, tenant);
  install(s, "hello", NULL);
  install(s, "own", tenant);
  OK(cis_skills_setting_set(s, "hello", "colour", tenant));
  OK(cis_skills_setting_set(s, "own", "size", "big"));
  OK(cis_skills_key_trust(s, "dev", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
  cis_skills_close(s);
  char name[96], buf[CIS_TOKEN_MAX];
  snprintf(name, sizeof name, "tok-%s", tenant);
  cis_token_info info;
  if (cis_tokens_create(tk, tenant, name, token ? token : buf, CIS_TOKEN_MAX, &info) != CIS_OK)
    fail_msg("token: %s", cis_tokens_errmsg(tk));
  kv_fill(kv, tenant, "hello", 2, tenant);
  kv_fill(kv, tenant, "shared", 1, tenant);
  kv_fill(kv, tenant, "wasm-0123456789ab", 1, tenant);
  kv_fill(kv, tenant, NULL, 1, tenant);
  if (bulk) kv_fill(kv, tenant, "bulk", bulk, "x");
  char tree[160];
  snprintf(tree, sizeof tree, "%s/skill:hello", tenant);
  tree_put(e, tree, tenant);
  snprintf(tree, sizeof tree, "%s/volume:data", tenant);
  tree_put(e, tree, tenant);
  tree_put(e, tenant, tenant);
}

/* Every tenant of the case, alice with `bulk` keys more; tokens[i]
 * receives each one's token. */
static void seed_all(const env *e, unsigned bulk, char tok[][CIS_TOKEN_MAX]) {
  cis_kv *kv = kv_open(e->kv, NULL);
  cis_tokens *tk = tokens_open(e);
  for (size_t i = 0; i < NTENANTS; i++) seed(e, kv, tk, tenants[i], i == 0 ? bulk : 0, tok ? tok[i] : NULL);
  cis_tokens_close(tk);
  cis_kv_close(kv);
}

/* --------------------------------------------- what the databases hold */

/* A growing text. */
typedef struct text {
  char *p;
  size_t n, cap;
} text;

static void text_add(text *t, const void *s, size_t n) {
  if (t->n + n + 1 > t->cap) {
    t->cap = (t->n + n + 1) * 2;
    t->p = realloc(t->p, t->cap);
    assert_non_null(t->p);
  }
  memcpy(t->p + t->n, s, n);
  t->n += n;
  t->p[t->n] = '\0';
}

static void text_str(text *t, const char *s) { text_add(t, s, strlen(s)); }

static int line_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* One table's rows, each column's bytes in hex, ordered, of the rows
 * where cond holds (?1 the tenant, ?2 its length + 1, ?3 "TENANT/"; as a
 * blob when blob). cond "1" for all; the count of them in *count. */
static void sq_rows(text *t, sqlite3 *db, const char *table, const char *cond, const char *tenant, bool blob,
                    int64_t *count) {
  char sql[1024];
  snprintf(sql, sizeof sql, "SELECT * FROM %s WHERE %s", table, cond);
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
    if (strstr(sqlite3_errmsg(db), "no such table")) return;
    fail_msg("%s: %s", sql, sqlite3_errmsg(db));
  }
  char slashed[128];
  snprintf(slashed, sizeof slashed, "%s/", tenant);
  if (blob) {
    sqlite3_bind_blob(st, 1, tenant, (int)strlen(tenant), SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 3, slashed, (int)strlen(slashed), SQLITE_TRANSIENT);
  } else {
    sqlite3_bind_text(st, 1, tenant, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, slashed, -1, SQLITE_TRANSIENT);
  }
  sqlite3_bind_int(st, 2, (int)strlen(slashed));
  /* Rows as text lines, sorted: the order of a table is not its content. */
  char **lines = NULL;
  size_t n = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    text row = {0};
    text_str(&row, table);
    for (int i = 0; i < sqlite3_column_count(st); i++) {
      const unsigned char *b = sqlite3_column_blob(st, i);
      int len = sqlite3_column_bytes(st, i);
      char hex[3];
      text_str(&row, "|");
      for (int k = 0; b && k < len; k++) {
        snprintf(hex, sizeof hex, "%02x", b[k]);
        text_add(&row, hex, 2);
      }
      if (!b) text_str(&row, sqlite3_column_type(st, i) == SQLITE_NULL ? "NULL" : "");
    }
    lines = realloc(lines, (n + 1) * sizeof *lines);
    lines[n++] = row.p;
  }
  sqlite3_finalize(st);
  if (n) qsort(lines, n, sizeof *lines, line_cmp);
  for (size_t i = 0; i < n; i++) {
    text_str(t, lines[i]);
    text_str(t, "\n");
    free(lines[i]);
  }
  free(lines);
  if (count) *count += (int64_t)n;
}

/* The tables and the condition of a tenant's rows in each (SQLite:
 * ?1..?3 of sq_rows; PostgreSQL: $1 the tenant), exact by design: a
 * tenant's own rows are those naming it, and its trees those named it
 * or "TENANT/...". */
typedef struct table {
  int db;            /* SQLite: 0 registry.db, 1 kv.db, 2 fs.db */
  const char *name;  /* the table, on SQLite */
  const char *pname; /* ... on PostgreSQL */
  const char *mine;  /* SQLite: the tenant's rows */
  const char *pmine; /* PostgreSQL: the same */
  bool blob;         /* SQLite: the tenant bound as a blob */
} table;

#define SQ_TREES "SELECT tenant_id FROM cis_vfs_tenants WHERE name=?1 OR substr(name,1,?2)=?3"
#define PG_TREES                                                                                        \
  "SELECT tenant_id FROM cis_vfs_tenants WHERE name=convert_to($1,'UTF8') OR "                           \
  "position(convert_to($1 || '/','UTF8') in name)=1"

static const table tables[] = {
    {0, "skills", "cis_skills", "tenant=?1", "tenant=$1", false},
    {0, "settings", "cis_skill_settings", "tenant=?1", "tenant=$1", false},
    {0, "trusted_keys", "cis_trusted_keys", "tenant=?1", "tenant=$1", false},
    {0, "tokens", "cis_tokens", "tenant=?1", "tenant=$1", false},
    {1, "cis_kv", "cis_kv", "tenant=?1", "tenant=convert_to($1,'UTF8')", true},
    {1, "cis_kv_usage", "cis_kv_usage", "tenant=?1", "tenant=convert_to($1,'UTF8')", true},
    {2, "cis_vfs_tenants", "cis_vfs_tenants", "tenant_id IN (" SQ_TREES ")", "tenant_id IN (" PG_TREES ")", true},
    {2, "cis_vfs_layers", "cis_vfs_layers", "tenant_id IN (" SQ_TREES ")", "tenant_id IN (" PG_TREES ")", true},
    {2, "cis_vfs_entries", "cis_vfs_entries", "tenant_id IN (" SQ_TREES ")", "tenant_id IN (" PG_TREES ")", true},
    {2, "cis_vfs_inodes", "cis_vfs_inodes", "tenant_id IN (" SQ_TREES ")", "tenant_id IN (" PG_TREES ")", true},
    {2, "cis_vfs_blocks", "cis_vfs_blocks", "tenant_id IN (" SQ_TREES ")", "tenant_id IN (" PG_TREES ")", true},
};
#define NTABLES (sizeof tables / sizeof tables[0])

/* What the case's databases hold: of every tenant but `tenant` (others),
 * or of `tenant` alone; *count (may be NULL) the rows. malloc'd. Taken
 * while `tenant` still has its trees, a dump of the others leaves their
 * rows out; taken after, it would show any that were left. */
static char *dump(const env *e, const char *tenant, bool others, int64_t *count) {
  text t = {0};
  text_str(&t, "");
  if (count) *count = 0;
  if (g.pg) {
    PGconn *c = PQconnectdb(g.conn);
    if (PQstatus(c) != CONNECTION_OK) fail_msg("connect: %s", PQerrorMessage(c));
    for (size_t i = 0; i < NTABLES; i++) {
      char sql[1024];
      snprintf(sql, sizeof sql, "SELECT x::text FROM %s x WHERE %s(%s) ORDER BY 1", tables[i].pname,
               others ? "NOT " : "", tables[i].pmine);
      const char *v[1] = {tenant};
      PGresult *r = PQexecParams(c, sql, 1, NULL, v, NULL, NULL, 0);
      if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        if (strstr(PQresultErrorMessage(r), "does not exist")) {
          PQclear(r);
          continue;
        }
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
      }
      for (int k = 0; k < PQntuples(r); k++) {
        text_str(&t, tables[i].pname);
        text_str(&t, "|");
        text_str(&t, PQgetvalue(r, k, 0));
        text_str(&t, "\n");
      }
      if (count) *count += PQntuples(r);
      PQclear(r);
    }
    PQfinish(c);
    return t.p;
  }
  static const char *const files[] = {"registry.db", "kv.db", "fs.db"};
  for (int f = 0; f < 3; f++) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", e->home, files[f]);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) fail_msg("open %s", path);
    sqlite3_busy_timeout(db, 10000);
    for (size_t i = 0; i < NTABLES; i++) {
      if (tables[i].db != f) continue;
      char cond[512];
      snprintf(cond, sizeof cond, "%s(%s)", others ? "NOT " : "", tables[i].mine);
      sq_rows(&t, db, tables[i].name, cond, tenant, tables[i].blob, count);
    }
    sqlite3_close(db);
  }
  return t.p;
}

/* Fails, showing the first line where two dumps differ. */
static void same_rows(const char *want, const char *got, const char *what) {
  if (!strcmp(want, got)) return;
  size_t i = 0, line = 1, start = 0;
  for (; want[i] && want[i] == got[i]; i++)
    if (want[i] == '\n') line++, start = i + 1;
  fail_msg("%s: line %zu differs:\n  was: %.300s\n  now: %.300s", what, line, want + start, got + start);
}

/* Rows of `tenant` in the case's databases. */
static int64_t rows_of(const env *e, const char *tenant) {
  int64_t n = 0;
  free(dump(e, tenant, false, &n));
  return n;
}

/* Whether module sha is stored: its file in the home (SQLite) or its row
 * (PostgreSQL). */
static bool module_stored(const env *e, const char *own) {
  size_t len;
  char sha[65];
  free(module(own, &len, sha));
  if (!g.pg) {
    char path[1300];
    snprintf(path, sizeof path, "%s/modules/%s.wasm", e->home, sha);
    return access(path, F_OK) == 0;
  }
  PGconn *c = PQconnectdb(g.conn);
  const char *v[1] = {sha};
  PGresult *r = PQexecParams(c, "SELECT 1 FROM cis_modules WHERE sha256=$1", 1, NULL, v, NULL, NULL, 0);
  bool has = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0;
  PQclear(r);
  PQfinish(c);
  return has;
}

/* Removes tenant through a handle of its own, expecting want. */
static cis_result remove_tenant(const env *e, const char *tenant, unsigned flags, cis_tenant_removed *r,
                                char *msg, size_t cap) {
  cis_skills *s = open_tenant(e, tenant);
  cis_result rc = cis_skills_tenant_remove(s, flags, r);
  if (msg) snprintf(msg, cap, "%s", cis_skills_errmsg(s));
  cis_skills_close(s);
  return rc;
}

static void assert_removed(const cis_tenant_removed *r, uint64_t tokens, uint64_t skills, uint64_t ns,
                           uint64_t kv_keys, uint64_t trees, uint64_t settings, uint64_t keys) {
  if (r->tokens != tokens || r->skills != skills || r->kv_namespaces != ns || r->kv_keys != kv_keys ||
      r->fs_trees != trees || r->settings != settings || r->keys != keys)
    fail_msg("removed tokens %llu skills %llu namespaces %llu keys %llu trees %llu settings %llu trusted %llu; "
             "expected %llu %llu %llu %llu %llu %llu %llu",
             (unsigned long long)r->tokens, (unsigned long long)r->skills, (unsigned long long)r->kv_namespaces,
             (unsigned long long)r->kv_keys, (unsigned long long)r->fs_trees, (unsigned long long)r->settings,
             (unsigned long long)r->keys, (unsigned long long)tokens, (unsigned long long)skills,
             (unsigned long long)ns, (unsigned long long)kv_keys, (unsigned long long)trees,
             (unsigned long long)settings, (unsigned long long)keys);
}

/* Removes victim and checks that the others' rows are as they were, byte
 * for byte, and that none of victim's is left; the counts of what went
 * are what seed made (bulk keys more). */
static void remove_exactly(const env *e, const char *victim, unsigned bulk) {
  char *before = dump(e, victim, true, NULL);
  assert_true(rows_of(e, victim) > 0);
  cis_tenant_removed r;
  char msg[1024];
  cis_result rc = remove_tenant(e, victim, strcmp(victim, "default") ? 0 : CIS_SKILLS_TENANT_REMOVE_DEFAULT, &r,
                                msg, sizeof msg);
  if (rc != CIS_OK) fail_msg("remove %s: %s: %s", victim, cis_errname(rc), msg);
  /* hello, shared, wasm-..., the one outside a skill, and bulk. */
  assert_removed(&r, 1, 2, bulk ? 5 : 4, 2 + 1 + 1 + 1 + bulk, 3, 2, 1);
  char *after = dump(e, victim, true, NULL);
  same_rows(before, after, victim);
  free(before);
  free(after);
  int64_t left = 0;
  char *mine = dump(e, victim, false, &left);
  if (left) fail_msg("%lld rows of %s are left:\n%s", (long long)left, victim, mine);
  free(mine);
  char tree[160];
  snprintf(tree, sizeof tree, "%s/skill:hello", victim);
  assert_false(tree_has(e, tree));
  assert_false(tree_has(e, victim));
  assert_false(module_stored(e, victim)); /* its own module went */
  assert_true(module_stored(e, NULL));    /* the one others use stays */
  /* Again: nothing to delete, and no error. */
  OK(remove_tenant(e, victim, strcmp(victim, "default") ? 0 : CIS_SKILLS_TENANT_REMOVE_DEFAULT, &r, NULL, 0));
  assert_removed(&r, 0, 0, 0, 0, 0, 0, 0);
}

/* =================================================================== cases */

/* Alice goes whole and alone; her token stops verifying on a store that
 * had it cached; then al_ce, whose name as a LIKE pattern matches the
 * alices; a tenant made again starts empty. */
static void removes_the_tenant_and_nothing_else(void **state) {
  (void)state;
  env e;
  env_make(&e);
  char tok[NTENANTS][CIS_TOKEN_MAX];
  seed_all(&e, 2500, tok); /* more keys than one transaction of the deletion takes */
  cis_tokens *tk = tokens_open(&e);
  char who[CIS_TOKEN_NAME_MAX + 1];
  OK(cis_tokens_check(tk, tok[0], strlen(tok[0]), who, sizeof who)); /* cached now */
  assert_string_equal(who, "alice");

  remove_exactly(&e, "alice", 2500);
  cis_result rc = CIS_OK;
  for (int i = 0; i < 60 && (rc = cis_tokens_check(tk, tok[0], strlen(tok[0]), who, sizeof who)) == CIS_OK; i++)
    usleep(100 * 1000); /* PostgreSQL: the next poll of the token generation */
  assert_int_equal(rc, CIS_EDENIED);
  OK(cis_tokens_check(tk, tok[1], strlen(tok[1]), who, sizeof who));
  assert_string_equal(who, "alice2");
  cis_tokens_close(tk);

  remove_exactly(&e, "al_ce", 0);
  assert_true(tree_has(&e, "alice2/skill:hello"));
  assert_true(tree_has(&e, "alice.x"));

  /* Made again, alice starts with nothing. */
  cis_skills *s = open_tenant(&e, "alice");
  install(s, "hello", NULL);
  char *json = NULL;
  OK(cis_skills_settings(s, "hello", &json));
  assert_string_equal(json, "{}");
  free(json);
  cis_key_info *keys = NULL;
  size_t n = 9;
  OK(cis_skills_keys(s, &keys, &n));
  assert_int_equal(n, 0);
  free(keys);
  cis_skills_close(s);
  cis_kv *kv = kv_open(e.kv, NULL);
  cis_kv_keys page;
  OK(cis_kv_namespaces(kv, "alice", NULL, 0, 0, 10000, &page));
  assert_int_equal(page.n, 0);
  cis_kv_keys_free(&page);
  cis_kv_close(kv);
  env_done(&e);
}

/* The default tenant only with its flag; unknown flags, a failed handle
 * and names that are not a tenant's are refused, and nothing goes. */
static void refusals_are_typed(void **state) {
  (void)state;
  env e;
  env_make(&e);
  seed_all(&e, 0, NULL);
  char *all = dump(&e, "", true, NULL);
  cis_tenant_removed r;
  char msg[1024];
  assert_int_equal(remove_tenant(&e, "default", 0, &r, msg, sizeof msg), CIS_EDENIED);
  if (!strstr(msg, "CIS_SKILLS_TENANT_REMOVE_DEFAULT")) fail_msg("message: %s", msg);
  assert_removed(&r, 0, 0, 0, 0, 0, 0, 0);
  assert_int_equal(remove_tenant(&e, "alice", 2, &r, msg, sizeof msg), CIS_EINVAL);
  if (!strstr(msg, "unknown flags")) fail_msg("message: %s", msg);
  assert_int_equal(cis_skills_tenant_remove(NULL, 0, &r), CIS_EINVAL);
  char *now = dump(&e, "", true, NULL);
  same_rows(all, now, "refused");
  free(now);
  free(all);
  /* Names that would reach past the tenant: never a handle. */
  static const char *const bad[] = {"alice/x", "..", ".", "al%ce", "alice*", "a b",
                                    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cis_skills_config c;
    cis_skills_config_default(&c);
    c.home = e.home;
    c.tenant = bad[i];
    c.kv_spec = e.kv;
    c.vfs_db_spec = e.fs;
    c.registry = e.registry[0] ? e.registry : NULL;
    cis_skills *s = NULL;
    assert_int_equal(cis_skills_open(&c, &s), CIS_EINVAL);
    assert_int_equal(cis_skills_tenant_remove(s, 0, &r), CIS_ESTATE);
    cis_skills_close(s);
  }
  remove_exactly(&e, "default", 0);
  env_done(&e);
}

/* The handle's registry with tenant_drop failing for one part, as a
 * database that went away would (the rest the backend's own). */
static cis__registry_methods faulty;
static const cis__registry_methods *faulty_real;
static cis__reg_part faulty_part;

static cis_result faulty_drop(cis_skills *s, uint64_t until, cis__reg_part part, unsigned limit, uint64_t *n) {
  if (part != faulty_part) return faulty_real->tenant_drop(s, until, part, limit, n);
  *n = 0;
  return cis__skills_fail(s, CIS_EREGISTRYDOWN, "registry: the database went away");
}

/* Databases out of reach are typed errors before anything goes; a KV
 * table of version 4 lists no namespaces; a failure half-way (the
 * registry's, the KV store's, inside a namespace larger than one
 * transaction) leaves a typed error and what went, and the removal run
 * again finishes the job. */
static void failures_are_typed_and_a_second_run_finishes(void **state) {
  (void)state;
  env e;
  env_make(&e);
  seed_all(&e, 1200, NULL);
  char *all = dump(&e, "", true, NULL);
  char dead[1300];
  dead_spec(&e, dead, sizeof dead);
  cis_tenant_removed r;

  /* Each database out of reach: the KV store, the files', the registry
   * (on SQLite, one out of reach fails the handle's open instead). */
  for (int which = 0; which < (g.pg ? 3 : 2); which++) {
    cis_skills *s = open_on(&e, "alice", NULL, which == 0 ? dead : NULL, which == 1 ? dead : NULL,
                            which == 2 ? dead : NULL);
    cis_result rc = cis_skills_tenant_remove(s, 0, &r);
    const char *msg = cis_skills_errmsg(s);
    bool typed = which == 0   ? rc == CIS_EKVDOWN || rc == CIS_EKV
                 : which == 1 ? rc == CIS_EVFSDOWN || rc == CIS_EVFS
                              : rc == CIS_EREGISTRYDOWN;
    if (!typed || !strstr(msg, "not all of it was deleted") ||
        !strstr(msg, which == 0 ? "kv" : which == 1 ? "files" : "tokens"))
      fail_msg("database %d out of reach: %s: %s", which, cis_errname(rc), msg);
    assert_removed(&r, 0, 0, 0, 0, 0, 0, 0);
    cis_skills_close(s);
    char *now = dump(&e, "", true, NULL);
    same_rows(all, now, "a database out of reach");
    free(now);
  }

  /* A KV method table of version 4: it opens, but lists no namespaces. */
  cis_kv_methods v4 = *(g.pg ? cis_kv_methods_postgres() : cis_kv_methods_sqlite());
  v4.version = 4;
  v4.namespaces = NULL;
  v4.drop = NULL;
  cis_kv *old = kv_open(e.kv + strcspn(e.kv, ":") + 1, &v4);
  cis_skills *s = open_on(&e, "alice", old, NULL, NULL, NULL);
  assert_int_equal(cis_skills_tenant_remove(s, 0, &r), CIS_EUNSUPPORTED);
  if (!strstr(cis_skills_errmsg(s), "version 4")) fail_msg("message: %s", cis_skills_errmsg(s));
  cis_skills_close(s);
  cis_kv_close(old);
  char *now = dump(&e, "", true, NULL);
  same_rows(all, now, "a KV table of version 4");
  free(now);
  free(all);

  /* The registry fails at the settings: tokens, skills, KV and files
   * went, and the message says what did not; run again, the rest goes. */
  char *before = dump(&e, "alice", true, NULL);
  s = open_tenant(&e, "alice");
  faulty_real = s->reg;
  faulty = *s->reg;
  faulty.tenant_drop = faulty_drop;
  faulty_part = CIS__REG_SETTINGS;
  s->reg = &faulty;
  cis_result rc = cis_skills_tenant_remove(s, 0, &r);
  s->reg = faulty_real;
  if (rc != CIS_EREGISTRYDOWN || !strstr(cis_skills_errmsg(s), "settings: registry: the database went away"))
    fail_msg("registry failing: %s: %s", cis_errname(rc), cis_skills_errmsg(s));
  assert_removed(&r, 1, 2, 5, 5 + 1200, 3, 0, 0);
  assert_true(rows_of(&e, "alice") == 3); /* two settings, a key */
  OK(cis_skills_tenant_remove(s, 0, &r));
  assert_removed(&r, 0, 0, 0, 0, 0, 2, 1);
  cis_skills_close(s);
  assert_int_equal(rows_of(&e, "alice"), 0);
  char *after = dump(&e, "alice", true, NULL);
  same_rows(before, after, "the second run after the registry failed");
  free(after);

  /* The KV store fails inside a namespace larger than one transaction:
   * what went before stays gone, and the second run takes the rest. */
  cis_kv *kv = kv_open(e.kv, NULL);
  cis_tokens *tk = tokens_open(&e);
  seed(&e, kv, tk, "alice", 1200, NULL);
  cis_tokens_close(tk);
  s = open_on(&e, "alice", kv, NULL, NULL, NULL);
  /* Its calls: the probe's listing, the first page of names, the
   * namespace outside a skill (begin, drop, commit), then bulk's (begin,
   * drop, commit: a thousand keys), and its next begin: then it fails. */
  cis__kv_inject_fault(kv, 9, 1000, CIS_EKVDOWN);
  rc = cis_skills_tenant_remove(s, 0, &r);
  if (rc != CIS_EKVDOWN || !strstr(cis_skills_errmsg(s), "kv namespace bulk"))
    fail_msg("kv failing: %s: %s", cis_errname(rc), cis_skills_errmsg(s));
  assert_removed(&r, 1, 2, 1, 1 + 1000, 0, 0, 0);
  cis__kv_inject_fault(kv, 0, 0, CIS_OK);
  OK(cis_skills_tenant_remove(s, 0, &r));
  assert_removed(&r, 0, 0, 4, 200 + 2 + 1 + 1, 3, 2, 1);
  cis_skills_close(s);
  cis_kv_close(kv);
  assert_int_equal(rows_of(&e, "alice"), 0);
  after = dump(&e, "alice", true, NULL);
  same_rows(before, after, "the second run after the KV store failed");
  free(after);
  free(before);
  env_done(&e);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: test_tenant_remove sqlite WORKDIR SKILL_DIR | postgres CONNSTR_FILE WORKDIR SKILL_DIR\n");
    return 2;
  }
  g.pg = strcmp(argv[1], "postgres") == 0;
  if (g.pg) {
    if (argc < 5) return 2;
    int rc = cis_test_read_connstr(argv[2], g.server, sizeof g.server);
    if (rc) return rc;
  }
  static char abswork[1024];
  const char *dir = g.pg ? argv[3] : argv[2];
  mkdir(dir, 0755);
  if (!realpath(dir, abswork)) return 2;
  g.work = abswork;
  g.skills = g.pg ? argv[4] : argv[3];
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(removes_the_tenant_and_nothing_else),
      cmocka_unit_test(refusals_are_typed),
      cmocka_unit_test(failures_are_typed_and_a_second_run_finishes),
  };
  return cmocka_run_group_tests_name(g.pg ? "tenant removal on postgres" : "tenant removal on sqlite", tests, NULL,
                                     NULL);
}
