/*
 * This file implements the registry's PostgreSQL backend
 * (registry_internal.h: "postgres:CONNSTR" or a postgres:// URI), which
 * lets several nodes share one registry: the skill rows, the module bytes
 * (cis_modules, by sha256), the tenants' trusted keys, the skills'
 * settings (the server's tokens too, in the token store's table:
 * src/serve/http_token.c) and a generation
 * counter that every change bumps in the statement making it, so that a
 * node reading it learns that its cached entries are stale (warm.c polls
 * it at most every CIS__REGISTRY_POLL_MS).
 *
 * A node that never saw an install fetches the module from the database,
 * checks its sha256 and keeps a copy in <home>/modules/ (a cache, checked
 * again at every load by cis__module_cached). Every row read is held to
 * the bounds a local install would meet (sizes, the sha256's form), since
 * the database is shared and another node's bug or an operator's edit
 * must not become this node's crash.
 *
 * Its connection is the database layer's (db/db_pg.h), every statement
 * bounded by the method's deadline (registry_internal.h: the call's, or
 * CIS__REGISTRY_TIMEOUT_MS from now), as the wait for the connection
 * another thread's statement holds. A database out of reach is
 * CIS_EREGISTRYDOWN, which the server answers with 503; the next
 * statement connects again, so service resumes when the database does.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/pgwire.h"
#include "db/db_pg.h"
#include "skill/registry_internal.h"
#include "skill/skill_internal.h"

/* ------------------------------------------------------------- schema */

/* The class of the advisory lock under which a tenant's installs check
 * its limits in turn (two-key form; the object is a hash of the tenant's
 * name): apart from the filesystem's (1667855222, 1667855224) and the
 * KV's (1667855223). */
#define INSTALL_CLASS "1667855225"

/* The registry's migrations (db/db.h), applied by each connect under the
 * registry's advisory lock, so two nodes starting together take turns.
 * Step 1 is what the registry made before cis_schema (IF NOT EXISTS, OR
 * REPLACE), so a database from before is taken as it is. */
static const char schema_v1[] =
    "CREATE TABLE IF NOT EXISTS cis_skills(tenant text NOT NULL, name text NOT NULL, version text NOT NULL,"
    " sha256 text NOT NULL, description text NOT NULL, manifest bytea NOT NULL, installed_at bigint NOT NULL,"
    " dir text, grants text, signature bytea, PRIMARY KEY (tenant, name));"
    "CREATE TABLE IF NOT EXISTS cis_modules(sha256 text PRIMARY KEY, bytes bytea NOT NULL);"
    "CREATE TABLE IF NOT EXISTS cis_trusted_keys(tenant text NOT NULL, name text NOT NULL,"
    " public_key text NOT NULL, added_at bigint NOT NULL, PRIMARY KEY (tenant, name));"
    "CREATE TABLE IF NOT EXISTS cis_skill_settings(tenant text NOT NULL, skill text NOT NULL, key text NOT NULL,"
    " value text NOT NULL, PRIMARY KEY (tenant, skill, key));"
    "CREATE TABLE IF NOT EXISTS cis_registry_gen(id int PRIMARY KEY, gen bigint NOT NULL);"
    "INSERT INTO cis_registry_gen(id, gen) VALUES (1, 0) ON CONFLICT DO NOTHING;"
    "CREATE TABLE IF NOT EXISTS cis_registry_tenant_gen(tenant text PRIMARY KEY, gen bigint NOT NULL);"
    "CREATE INDEX IF NOT EXISTS cis_registry_tenant_gen_by_gen ON cis_registry_tenant_gen(gen);"
    "CREATE INDEX IF NOT EXISTS cis_skills_by_sha256 ON cis_skills(sha256);"
    /* Removes module h when no skill of any tenant refers to it. The row
     * lock first: an install holds the module's row (FOR SHARE) in the
     * statement that writes its skill, so the check below, a statement of
     * its own with a snapshot taken after that install committed, sees
     * its row. One DELETE ... NOT EXISTS would not: its recheck after a
     * lock wait keeps the old snapshot. */
    "CREATE OR REPLACE FUNCTION cis_module_gc(h text) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $f$ "
    "BEGIN "
    "  PERFORM 1 FROM cis_modules WHERE sha256 = h FOR UPDATE; "
    "  IF NOT FOUND OR EXISTS (SELECT 1 FROM cis_skills WHERE sha256 = h) THEN RETURN false; END IF; "
    "  DELETE FROM cis_modules WHERE sha256 = h; "
    "  RETURN true; "
    "END $f$;"
    /* What tenant t's skills other than n hold (how many, the bytes of
     * their distinct modules, whether h is one), read after the tenant's
     * other installs committed: its lock first, held to the commit of the
     * statement that calls it, then each query a snapshot of its own. */
    "CREATE OR REPLACE FUNCTION cis_skill_room(t text, n text, h text, OUT skills bigint, OUT bytes bigint,"
    " OUT has boolean) LANGUAGE plpgsql VOLATILE AS $f$ "
    "BEGIN "
    "  PERFORM pg_advisory_xact_lock(" INSTALL_CLASS ", ('x' || left(md5(t), 8))::bit(32)::int4); "
    "  SELECT count(*) INTO skills FROM cis_skills WHERE tenant = t AND name <> n; "
    "  SELECT coalesce(sum(octet_length(m.bytes)), 0)::bigint INTO bytes FROM cis_modules m "
    "   WHERE m.sha256 IN (SELECT sha256 FROM cis_skills WHERE tenant = t AND name <> n); "
    "  has := EXISTS (SELECT 1 FROM cis_skills WHERE tenant = t AND name <> n AND sha256 = h); "
    "END $f$;";
static const cis__db_migration pg_steps[] = {{.version = 1, .sql = schema_v1}};
static const cis__db_schema pg_schema = {
    .service = "registry", .pg_lock = 7162999126, .steps = pg_steps, .n = 1};

static const cis__db_pg_config pg_config = {
    .appname = "cis-registry",
    .label = "registry database",
    .down = CIS_EREGISTRYDOWN,
    .schema = &pg_schema,
};
/* The process's watch of the generations (below). */
static const cis__db_pg_config watch_config = {
    .appname = "cis-registry-watch",
    .label = "registry database",
    .down = CIS_EREGISTRYDOWN,
    .schema = &pg_schema,
};

/* ------------------------------------------------------------- backend */

/* Runs sql for handle s by until, the message on s. */
static cis_result q(cis_skills *s, uint64_t until, const char *sql, int n, const char *const *vals, const int *lens,
                    const bool *bin, PGresult **out) {
  char err[400];
  cis_result rc = cis__db_pg_query(s->pgdb, until, sql, n, vals, lens, bin, out, err, sizeof err);
  if (rc != CIS_OK) return cis__skills_fail(s, rc, "%s", err);
  return CIS_OK;
}

static int slen(const char *v) { return v ? (int)strlen(v) : 0; }

static struct cis__gen_watch *watch_take(const char *conninfo);
static void watch_release(struct cis__gen_watch *w);

static cis_result pg_open(cis_skills *s, const char *conninfo) {
  if (cis__db_pg_new(conninfo, &pg_config, &s->pgdb) != CIS_OK || !(s->pg_watch = watch_take(conninfo)))
    return cis__skills_fail(s, CIS_ENOMEM, "out of memory");
  return CIS_OK;
}

static void pg_close(cis_skills *s) {
  cis__db_pg_free(s->pgdb);
  s->pgdb = NULL;
  watch_release(s->pg_watch);
  s->pg_watch = NULL;
}

/* The CTEs that record a change of tenant $1 when the CTE named by what
 * changed a row: the global counter (row 1 of cis_registry_gen; its row
 * lock orders the values as the commits) moves on, and the tenant's row of
 * cis_registry_tenant_gen takes the new value (the watch below reads the
 * rows past what it saw). Followed by the statement's own SELECT. */
#define BUMP_GEN(what)                                                                                   \
  "g AS (UPDATE cis_registry_gen SET gen = gen + 1 WHERE id = 1 AND EXISTS (SELECT 1 FROM " what ") "  \
  "RETURNING gen), "                                                                                    \
  "t AS (INSERT INTO cis_registry_tenant_gen(tenant, gen) SELECT $1, gen FROM g "                       \
  "ON CONFLICT (tenant) DO UPDATE SET gen = EXCLUDED.gen RETURNING 1) "

/* The row of skill $2 of tenant $1 ($3..$10), written when m (the
 * module's row, held) has a row: old, its sha256 before; up, the rows
 * written; the tenant's generation moved with it. */
#define PUT_SKILL_ROW                                                                                     \
  "old AS (SELECT sha256 FROM cis_skills WHERE tenant=$1::text AND name=$2::text), "                       \
  "up AS (INSERT INTO cis_skills(tenant,name,sha256,version,description,manifest,installed_at,dir,grants," \
  "signature) SELECT $1::text,$2::text,$3::text,$4::text,$5::text,$6::bytea,$7::bigint,$8::text,$9::text,"  \
  "$10::bytea WHERE EXISTS (SELECT 1 FROM m) ON CONFLICT (tenant,name) DO UPDATE SET "                     \
  "sha256=EXCLUDED.sha256, version=EXCLUDED.version, description=EXCLUDED.description, "                  \
  "manifest=EXCLUDED.manifest, installed_at=EXCLUDED.installed_at, dir=EXCLUDED.dir, grants=EXCLUDED.grants, " \
  "signature=EXCLUDED.signature RETURNING 1), " BUMP_GEN("up")
/* The skill's row, only while its module's row is there, held (FOR
 * SHARE) until the commit against cis_module_gc: 0 rows written when a
 * removal took the module meanwhile (the caller stores it again). Gives
 * the rows written and the sha256 the skill had before. */
static const char put_sql[] =
    "WITH m AS (SELECT 1 FROM cis_modules WHERE sha256=$3::text FOR SHARE), "
    PUT_SKILL_ROW
    "SELECT (SELECT count(*) FROM up), (SELECT sha256 FROM old)";
/* put_sql with the tenant's room checked first (cis_skill_room, the
 * limits $12 skills and $13 bytes, 0: none, for a module of $11 bytes):
 * no row written when it has none. Gives also what the tenant's other
 * skills hold. */
static const char put_room_sql[] =
    "WITH r AS (SELECT * FROM cis_skill_room($1::text, $2::text, $3::text)), "
    "ok AS (SELECT ($12::bigint = 0 OR r.skills + 1 <= $12::bigint) AND ($13::bigint = 0 OR "
    "r.bytes + CASE WHEN r.has THEN 0 ELSE $11::bigint END <= $13::bigint) AS yes FROM r), "
    "m AS (SELECT 1 FROM cis_modules WHERE sha256=$3::text AND (SELECT yes FROM ok) FOR SHARE), "
    PUT_SKILL_ROW
    "SELECT (SELECT count(*) FROM up), (SELECT sha256 FROM old), (SELECT skills FROM r), (SELECT bytes FROM r), "
    "(SELECT CASE WHEN has THEN 1 ELSE 0 END FROM r)::bigint, (SELECT CASE WHEN yes THEN 1 ELSE 0 END FROM ok)::bigint";
static const char gc_sql[] = "SELECT cis_module_gc($1::text)";

/* Removes module sha's row when no skill refers to it any more, and this
 * node's copy with it (other nodes' copies stay: caches). A failure
 * leaves the row (space, not harm). */
static void pg_module_gc(cis_skills *s, uint64_t until, const char *sha) {
  if (!cis__sha256_hex_valid(sha)) return;
  PGresult *r = NULL;
  const char *v[1] = {sha};
  int l[1] = {64};
  char err[400];
  bool gone = cis__db_pg_query(s->pgdb, until, gc_sql, 1, v, l, NULL, &r, err, sizeof err) == CIS_OK &&
              cis__db_pg_rows(r) == 1 && cis__db_pg_value(r, 0, 0, NULL) && cis__db_pg_value(r, 0, 0, NULL)[0];
  cis__db_pg_clear(r);
  if (gone) {
    char path[4200];
    snprintf(path, sizeof path, "%s/modules/%s.wasm", s->home, sha);
    unlink(path);
  }
}
static const char module_has_sql[] = "SELECT 1 FROM cis_modules WHERE sha256=$1";
static const char module_put_sql[] =
    "INSERT INTO cis_modules(sha256, bytes) VALUES($1, $2) ON CONFLICT (sha256) DO NOTHING";

static cis_result pg_skill_put(cis_skills *s, uint64_t until, const cis__reg_row *row, const uint8_t *wasm, size_t len) {
  PGresult *r = NULL;
  const char *mv[2] = {row->sha256, len ? (const char *)wasm : ""};
  int ml[2] = {slen(row->sha256), (int)len};
  bool mb[2] = {false, true};
  if (len > INT32_MAX) return cis__skills_fail(s, CIS_ETOOBIG, "module too large for the registry");
  char at[32];
  snprintf(at, sizeof at, "%lld", (long long)row->installed_at);
  char lim[3][32];
  snprintf(lim[0], sizeof lim[0], "%zu", len);
  snprintf(lim[1], sizeof lim[1], "%u", s->max_skills);
  snprintf(lim[2], sizeof lim[2], "%llu", (unsigned long long)s->max_module_bytes);
  const char *v[13] = {s->tenant, row->name, row->sha256, row->version, row->description,
                       row->manifest_len ? row->manifest : "", at, row->dir, row->grants,
                       row->signature ? (row->signature_len ? row->signature : "") : NULL,
                       lim[0], lim[1], lim[2]};
  int l[13] = {slen(s->tenant), slen(row->name), slen(row->sha256), slen(row->version), slen(row->description),
               (int)row->manifest_len, slen(at), slen(row->dir), slen(row->grants), (int)row->signature_len,
               slen(lim[0]), slen(lim[1]), slen(lim[2])};
  bool b[13] = {false, false, false, false, false, true, false, false, false, true, false, false, false};
  /* With a tenant limit, its room is read in the statement that writes
   * the row, after the tenant's other installs (cis_skill_room). */
  bool room = s->max_skills || s->max_module_bytes;
  /* The module before the row: a node that reads the row finds it. A
   * removal of the same module between the two takes it again; then the
   * row is not written, and both go once more. */
  for (int round = 0; round < 3; round++) {
    cis_result rc = q(s, until, module_has_sql, 1, mv, ml, mb, &r);
    if (rc != CIS_OK) return rc;
    bool have = cis__db_pg_rows(r) > 0;
    cis__db_pg_clear(r);
    if (!have && (rc = q(s, until, module_put_sql, 2, mv, ml, mb, NULL)) != CIS_OK) return rc;
    if ((rc = q(s, until, room ? put_room_sql : put_sql, room ? 13 : 10, v, l, b, &r)) != CIS_OK) return rc;
    bool written = cis__db_pg_rows(r) == 1 && cis__db_pg_int8(r, 0, 0) == 1;
    if (room && !written && cis__db_pg_rows(r) == 1 && cis__db_pg_int8(r, 0, 5) == 0) {
      uint64_t skills = (uint64_t)cis__db_pg_int8(r, 0, 2), bytes = (uint64_t)cis__db_pg_int8(r, 0, 3);
      bool has = cis__db_pg_int8(r, 0, 4) != 0;
      cis__db_pg_clear(r);
      if (!have) pg_module_gc(s, until, row->sha256); /* stored for this install alone */
      rc = cis__registry_room(s, skills, bytes, has, len);
      return rc != CIS_OK ? rc : cis__skills_fail(s, CIS_EIO, "registry: the room check and its numbers disagree");
    }
    size_t n = 0;
    const char *old = written ? cis__db_pg_value(r, 0, 1, &n) : NULL;
    char was[65] = "";
    if (old && n == 64) memcpy(was, old, 64);
    cis__db_pg_clear(r);
    if (!written) continue;
    if (was[0] && strcmp(was, row->sha256)) pg_module_gc(s, until, was); /* replaced */
    return CIS_OK;
  }
  return cis__skills_fail(s, CIS_EIO, "registry: the module %s was removed at each try", row->sha256);
}

/* A copy of a value (NUL-terminated; NULL for SQL NULL), bounded by max:
 * CIS_EIO when longer (a row no local install could have made). */
static cis_result val_dup(const PGresult *r, int row, int col, size_t max, char **out, size_t *len) {
  size_t n;
  const char *v = cis__db_pg_value(r, row, col, &n);
  *out = NULL;
  if (len) *len = 0;
  if (!v) return CIS_OK;
  if (n > max) return CIS_EIO;
  if (!(*out = malloc(n + 1))) return CIS_ENOMEM;
  memcpy(*out, v, n);
  (*out)[n] = '\0';
  if (len) *len = n;
  return CIS_OK;
}


/* Row `i` of a result with the columns of ROW_COLUMNS into *out: CIS_EIO
 * for a row that breaks a bound (too long, a NULL where none may be, a
 * sha256 that is not 64 hex digits). */
static cis_result row_read(const PGresult *r, int i, cis__reg_row *out) {
  memset(out, 0, sizeof *out);
  cis_result rc = val_dup(r, i, 0, 255, &out->name, NULL);
  if (rc == CIS_OK) rc = val_dup(r, i, 1, 4096, &out->version, NULL);
  if (rc == CIS_OK) rc = val_dup(r, i, 2, 64, &out->sha256, NULL);
  if (rc == CIS_OK) rc = val_dup(r, i, 3, CIS_MANIFEST_MAX_BYTES, &out->description, NULL);
  if (rc == CIS_OK) rc = val_dup(r, i, 4, CIS_MANIFEST_MAX_BYTES, &out->manifest, &out->manifest_len);
  out->installed_at = cis__db_pg_int8(r, i, 5);
  if (rc == CIS_OK) rc = val_dup(r, i, 6, 4095, &out->dir, NULL);
  if (rc == CIS_OK) rc = val_dup(r, i, 7, CIS_MANIFEST_MAX_BYTES, &out->grants, NULL);
  if (rc == CIS_OK) rc = val_dup(r, i, 8, CIS__REGISTRY_MAX_SIGNATURE, &out->signature, &out->signature_len);
  if (rc == CIS_OK && (!out->name || !out->manifest || !cis__sha256_hex_valid(out->sha256))) rc = CIS_EIO;
  if (rc != CIS_OK) cis__reg_row_free(out);
  return rc;
}

#define ROW_COLUMNS "name,version,sha256,description,manifest,installed_at,dir,grants,signature"
static const char get_sql[] = "SELECT " ROW_COLUMNS " FROM cis_skills WHERE tenant=$1 AND name=$2";
static const char each_sql[] = "SELECT " ROW_COLUMNS " FROM cis_skills WHERE tenant=$1 ORDER BY name";

static cis_result pg_skill_get(cis_skills *s, uint64_t until, const char *name, cis__reg_row *out) {
  memset(out, 0, sizeof *out);
  PGresult *r;
  const char *v[2] = {s->tenant, name};
  int l[2] = {slen(s->tenant), slen(name)};
  cis_result rc = q(s, until, get_sql, 2, v, l, NULL, &r);
  if (rc != CIS_OK) return rc;
  if (cis__db_pg_rows(r) == 0) rc = cis__skills_fail(s, CIS_ENOTFOUND, "skill %s is not installed", name);
  else if ((rc = row_read(r, 0, out)) != CIS_OK)
    rc = cis__skills_fail(s, rc, "registry: the stored row of %s is out of bounds", name);
  cis__db_pg_clear(r);
  return rc;
}

static const char del_sql[] =
    "WITH d AS (DELETE FROM cis_skills WHERE tenant=$1 AND name=$2 RETURNING sha256), " BUMP_GEN("d")
    "SELECT sha256 FROM d";

static cis_result pg_skill_del(cis_skills *s, uint64_t until, const char *name) {
  PGresult *r;
  const char *v[2] = {s->tenant, name};
  int l[2] = {slen(s->tenant), slen(name)};
  cis_result rc = q(s, until, del_sql, 2, v, l, NULL, &r);
  if (rc != CIS_OK) return rc;
  char sha[65] = "";
  size_t n = 0;
  const char *h = cis__db_pg_rows(r) == 1 ? cis__db_pg_value(r, 0, 0, &n) : NULL;
  if (!h) rc = cis__skills_fail(s, CIS_ENOTFOUND, "skill %s is not installed", name);
  else if (n == 64) memcpy(sha, h, 64);
  cis__db_pg_clear(r);
  if (sha[0]) pg_module_gc(s, until, sha);
  return rc;
}

static cis_result pg_skill_each(cis_skills *s, uint64_t until, cis__reg_row_fn fn, void *ctx) {
  PGresult *r;
  const char *v[1] = {s->tenant};
  int l[1] = {slen(s->tenant)};
  cis_result rc = q(s, until, each_sql, 1, v, l, NULL, &r);
  if (rc != CIS_OK) return rc;
  for (int i = 0, n = cis__db_pg_rows(r); i < n; i++) {
    cis__reg_row row;
    if (row_read(r, i, &row) != CIS_OK) continue; /* a row no run could use either */
    int stop = fn(ctx, &row);
    cis__reg_row_free(&row);
    if (stop) break;
  }
  cis__db_pg_clear(r);
  return CIS_OK;
}

static const char name_each_sql[] = "SELECT name FROM cis_skills WHERE tenant=$1 ORDER BY name";

static cis_result pg_name_each(cis_skills *s, uint64_t until, cis__reg_name_fn fn, void *ctx) {
  PGresult *r;
  const char *v[1] = {s->tenant};
  int l[1] = {slen(s->tenant)};
  cis_result rc = q(s, until, name_each_sql, 1, v, l, NULL, &r);
  if (rc != CIS_OK) return rc;
  for (int i = 0, n = cis__db_pg_rows(r); i < n; i++) {
    size_t len = 0;
    const char *name = cis__db_pg_value(r, i, 0, &len);
    if (name && fn(ctx, name)) break;
  }
  cis__db_pg_clear(r);
  return CIS_OK;
}

static const char usage_sql[] =
    "WITH o AS (SELECT sha256 FROM cis_skills WHERE tenant=$1::text AND name<>$2::text), "
    "d AS (SELECT DISTINCT sha256 FROM o) "
    "SELECT (SELECT count(*) FROM o), "
    "(SELECT coalesce(sum(octet_length(m.bytes)), 0)::bigint FROM cis_modules m JOIN d USING (sha256)), "
    "(SELECT count(*) FROM d WHERE sha256=$3::text)";

static cis_result pg_usage(cis_skills *s, uint64_t until, const char *name, const char *sha, uint64_t *skills, uint64_t *bytes,
                           bool *has_sha) {
  PGresult *r;
  const char *v[3] = {s->tenant, name, sha};
  int l[3] = {slen(s->tenant), slen(name), slen(sha)};
  cis_result rc = q(s, until, usage_sql, 3, v, l, NULL, &r);
  if (rc != CIS_OK) return rc;
  bool one = cis__db_pg_rows(r) == 1;
  *skills = one ? (uint64_t)cis__db_pg_int8(r, 0, 0) : 0;
  *bytes = one ? (uint64_t)cis__db_pg_int8(r, 0, 1) : 0;
  *has_sha = one && cis__db_pg_int8(r, 0, 2) > 0;
  cis__db_pg_clear(r);
  return CIS_OK;
}

static const char module_get_sql[] = "SELECT bytes FROM cis_modules WHERE sha256=$1";
static const char modules_present_sql[] = "SELECT sha256 FROM cis_modules WHERE sha256 = ANY($1::text[])";

#define SWEEP_BATCH 32u /* local copies asked about per query (on the stack of a call) */

/* Removes the copies in names[0..n) (module hashes) whose rows are gone. */
static void sweep_batch(cis_skills *s, uint64_t until, char (*names)[65], size_t n) {
  char arr[SWEEP_BATCH * 65 + 3], *p = arr;
  *p++ = '{';
  for (size_t i = 0; i < n; i++) {
    memcpy(p, names[i], 64);
    p += 64;
    *p++ = i + 1 < n ? ',' : '}';
  }
  *p = 0;
  const char *v[1] = {arr};
  int l[1] = {(int)(p - arr)};
  PGresult *r = NULL;
  char err[400];
  if (cis__db_pg_query(s->pgdb, until, modules_present_sql, 1, v, l, NULL, &r, err, sizeof err) != CIS_OK)
    return; /* kept (a cache), the call's message untouched */
  int rows = cis__db_pg_rows(r);
  for (size_t i = 0; i < n; i++) {
    bool present = false;
    for (int k = 0; k < rows && !present; k++) {
      const char *got = cis__db_pg_value(r, k, 0, NULL);
      present = got && !strcmp(got, names[i]);
    }
    if (!present) {
      char path[4200];
      snprintf(path, sizeof path, "%s/modules/%.64s.wasm", s->home, names[i]);
      unlink(path);
    }
  }
  cis__db_pg_clear(r);
}

/* This node's copies of modules another node removed from the registry
 * (pg_module_gc deletes the remover's copy only): removed whenever a copy
 * is added, so that the folder holds what the registry still has, not
 * everything this node ever ran. */
static void sweep_copies(cis_skills *s, uint64_t until) {
  char dir[4200];
  snprintf(dir, sizeof dir, "%s/modules", s->home);
  DIR *d = opendir(dir);
  if (!d) return;
  char names[SWEEP_BATCH][65];
  size_t n = 0;
  for (struct dirent *de; (de = readdir(d));) {
    if (strlen(de->d_name) != 69 || strcmp(de->d_name + 64, ".wasm")) continue;
    memcpy(names[n], de->d_name, 64);
    names[n][64] = 0;
    if (!cis__sha256_hex_valid(names[n])) continue;
    if (++n == SWEEP_BATCH) {
      sweep_batch(s, until, names, n);
      n = 0;
    }
  }
  if (n) sweep_batch(s, until, names, n);
  closedir(d);
}

/* The local copy first (the caller checks its hash), else the database's
 * bytes, checked here before they become the local copy. */
static cis_result pg_module_get(cis_skills *s, uint64_t until, const char *sha, uint8_t **bytes, size_t *len) {
  *bytes = NULL;
  *len = 0;
  char path[4200];
  snprintf(path, sizeof path, "%s/modules/%s.wasm", s->home, sha);
  uint8_t *local = NULL;
  size_t llen;
  if (cis__read_file(path, CIS__MAX_MODULE_BYTES, &local, &llen) == CIS_OK) {
    char got[65];
    if (cis_sha256_hex(local, llen, got) == CIS_OK && !strcmp(got, sha)) {
      *bytes = local;
      *len = llen;
      return CIS_OK;
    }
    free(local); /* a damaged copy: the database's replaces it */
  }
  PGresult *r;
  const char *v[1] = {sha};
  int l[1] = {slen(sha)};
  cis_result rc = q(s, until, module_get_sql, 1, v, l, NULL, &r);
  if (rc != CIS_OK) return rc;
  size_t n = 0;
  const char *b = cis__db_pg_rows(r) ? cis__db_pg_value(r, 0, 0, &n) : NULL;
  if (!b) rc = cis__skills_fail(s, CIS_ENOTFOUND, "module %s is not in the registry", sha);
  else if (n > CIS__MAX_MODULE_BYTES) rc = cis__skills_fail(s, CIS_ETOOBIG, "stored module %s is too large", sha);
  else {
    char got[65];
    if ((rc = cis_sha256_hex(b, n, got)) != CIS_OK) rc = cis__skills_fail(s, rc, "module %s: cannot hash it", sha);
    else if (strcmp(got, sha)) rc = cis__skills_fail(s, CIS_EHASH, "stored module %s does not match its hash", sha);
    else if (!(*bytes = malloc(n ? n : 1))) rc = cis__skills_fail(s, CIS_ENOMEM, "out of memory");
    else {
      memcpy(*bytes, b, n);
      *len = n;
      cis__write_atomic(path, *bytes, n); /* a cache: a failure costs only a fetch */
    }
  }
  cis__db_pg_clear(r);
  if (rc == CIS_OK) sweep_copies(s, until);
  return rc;
}

static const char key_put_sql[] =
    "WITH up AS (INSERT INTO cis_trusted_keys(tenant,name,public_key,added_at) VALUES($1,$2,$3,$4::bigint) "
    "ON CONFLICT (tenant,name) DO UPDATE SET public_key=EXCLUDED.public_key, added_at=EXCLUDED.added_at "
    "RETURNING 1), " BUMP_GEN("up") "SELECT 1";
static const char key_del_sql[] =
    "WITH d AS (DELETE FROM cis_trusted_keys WHERE tenant=$1 AND name=$2 RETURNING 1), " BUMP_GEN("d")
    "SELECT count(*) FROM d";
static const char key_each_sql[] =
    "SELECT name, public_key, added_at FROM cis_trusted_keys WHERE tenant=$1 ORDER BY name";
static const char key_find_sql[] =
    "SELECT name FROM cis_trusted_keys WHERE tenant=$1 AND public_key=$2 ORDER BY name LIMIT 1";

static cis_result pg_key_put(cis_skills *s, uint64_t until, const char *name, const char *hex, int64_t at) {
  char a[32];
  snprintf(a, sizeof a, "%lld", (long long)at);
  const char *v[4] = {s->tenant, name, hex, a};
  int l[4] = {slen(s->tenant), slen(name), slen(hex), slen(a)};
  return q(s, until, key_put_sql, 4, v, l, NULL, NULL);
}

static cis_result pg_key_del(cis_skills *s, uint64_t until, const char *name) {
  PGresult *r;
  const char *v[2] = {s->tenant, name};
  int l[2] = {slen(s->tenant), slen(name)};
  cis_result rc = q(s, until, key_del_sql, 2, v, l, NULL, &r);
  if (rc != CIS_OK) return rc;
  if (cis__db_pg_rows(r) != 1 || cis__db_pg_int8(r, 0, 0) == 0)
    rc = cis__skills_fail(s, CIS_ENOTFOUND, "no trusted key named %s", name);
  cis__db_pg_clear(r);
  return rc;
}

static cis_result pg_key_each(cis_skills *s, uint64_t until, cis__reg_key_fn fn, void *ctx) {
  PGresult *r;
  const char *v[1] = {s->tenant};
  int l[1] = {slen(s->tenant)};
  cis_result rc = q(s, until, key_each_sql, 1, v, l, NULL, &r);
  if (rc != CIS_OK) return rc;
  for (int i = 0, n = cis__db_pg_rows(r); i < n; i++) {
    size_t nl, kl;
    const char *nm = cis__db_pg_value(r, i, 0, &nl), *k = cis__db_pg_value(r, i, 1, &kl);
    if (!nm || !k || nl > 64 || kl > 64) continue; /* not a row trust could have made */
    if (fn(ctx, nm, k, cis__db_pg_int8(r, i, 2))) break;
  }
  cis__db_pg_clear(r);
  return CIS_OK;
}

static cis_result pg_key_find(cis_skills *s, uint64_t until, const char *hex, char name[65]) {
  PGresult *r;
  const char *v[2] = {s->tenant, hex};
  int l[2] = {slen(s->tenant), slen(hex)};
  cis_result rc = q(s, until, key_find_sql, 2, v, l, NULL, &r);
  if (rc != CIS_OK) return rc;
  size_t n = 0;
  const char *nm = cis__db_pg_rows(r) ? cis__db_pg_value(r, 0, 0, &n) : NULL;
  if (!nm || n > 64) rc = CIS_ENOTFOUND;
  else snprintf(name, 65, "%s", nm);
  cis__db_pg_clear(r);
  return rc;
}

static const char set_put_sql[] =
    "INSERT INTO cis_skill_settings(tenant,skill,key,value) VALUES($1,$2,$3,$4) "
    "ON CONFLICT (tenant,skill,key) DO UPDATE SET value=EXCLUDED.value";
static const char set_del_sql[] = "DELETE FROM cis_skill_settings WHERE tenant=$1 AND skill=$2 AND key=$3";
static const char set_each_sql[] =
    "SELECT key, value FROM cis_skill_settings WHERE tenant=$1 AND skill=$2 ORDER BY key";
static const char set_get_sql[] = "SELECT value FROM cis_skill_settings WHERE tenant=$1 AND skill=$2 AND key=$3";

#define SETTING_MAX_KEY 255u
#define SETTING_MAX_VALUE (64u * 1024u)

static cis_result pg_setting_put(cis_skills *s, uint64_t until, const char *skill, const char *key, const char *value) {
  const char *v[4] = {s->tenant, skill, key, value};
  int l[4] = {slen(s->tenant), slen(skill), slen(key), slen(value)};
  return q(s, until, value ? set_put_sql : set_del_sql, value ? 4 : 3, v, l, NULL, NULL);
}

static cis_result pg_setting_each(cis_skills *s, uint64_t until, const char *skill, cis__reg_setting_fn fn, void *ctx) {
  PGresult *r;
  const char *v[2] = {s->tenant, skill};
  int l[2] = {slen(s->tenant), slen(skill)};
  cis_result rc = q(s, until, set_each_sql, 2, v, l, NULL, &r);
  if (rc != CIS_OK) return rc;
  for (int i = 0, n = cis__db_pg_rows(r); i < n; i++) {
    size_t kl, vl;
    const char *k = cis__db_pg_value(r, i, 0, &kl), *val = cis__db_pg_value(r, i, 1, &vl);
    if (!k || !val || kl > SETTING_MAX_KEY || vl > SETTING_MAX_VALUE) continue;
    if (fn(ctx, k, val)) break;
  }
  cis__db_pg_clear(r);
  return CIS_OK;
}

static cis_result pg_setting_get(cis_skills *s, uint64_t until, const char *skill, const char *key, size_t klen, char **val,
                                 size_t *vlen) {
  *val = NULL;
  *vlen = 0;
  PGresult *r;
  const char *v[3] = {s->tenant, skill, klen ? key : ""};
  int l[3] = {slen(s->tenant), slen(skill), (int)klen};
  cis_result rc = q(s, until, set_get_sql, 3, v, l, NULL, &r);
  if (rc != CIS_OK) return rc;
  if (cis__db_pg_rows(r) == 0) rc = CIS_ENOTFOUND;
  else rc = val_dup(r, 0, 0, SETTING_MAX_VALUE, val, vlen);
  if (rc == CIS_OK && !*val) rc = CIS_ENOTFOUND;
  cis__db_pg_clear(r);
  return rc;
}

/* ------------------------------------------------------- generations */

/* What a process knows of its tenants' generations on one database: one
 * watch per connection string, shared by every handle on it (a server's
 * tenants), polled at most every CIS__REGISTRY_POLL_MS / 4 by one query
 * that reads only the tenants changed since the last (their rows of
 * cis_registry_tenant_gen past the largest value seen; ordered as the
 * commits, BUMP_GEN). Each handle then compares its own tenant's value:
 * one tenant's changes drop no other tenant's cache, and the polls do not
 * grow with the number of tenants. */
typedef struct tenant_gen {
  char tenant[CIS_TENANT_NAME_MAX + 1]; /* "" = free */
  int64_t gen;
} tenant_gen;

struct cis__gen_watch {
  struct cis__gen_watch *next;         /* watches (watches_mu) */
  char *conninfo;                      /* which database */
  unsigned refs;                       /* handles on it (watches_mu) */
  cis__db_pg *db;                      /* its own connection: one poll at a time (polling) */
  pthread_mutex_t mu;                  /* guards what follows; never held across a query */
  pthread_cond_t polled_cv;            /* a poll ended */
  bool polling;                        /* a thread's poll is on its way */
  uint64_t polled_ns;                  /* when the last poll that succeeded began; 0: none */
  int64_t seen;                        /* the largest value read; -1 before the first poll */
  tenant_gen *v;                       /* the tenants that ever changed, open addressing */
  size_t n, cap;                       /* used, slots (a power of two, or 0) */
};

static pthread_mutex_t watches_mu = PTHREAD_MUTEX_INITIALIZER;
static struct cis__gen_watch *watches;

static size_t tenant_hash(const char *t) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (; *t; t++) h = (h ^ (unsigned char)*t) * 1099511628211ull;
  return (size_t)h;
}

/* The slot of tenant in w->v (its own, or the free one it would take). */
static tenant_gen *watch_slot(struct cis__gen_watch *w, const char *tenant) {
  for (size_t i = tenant_hash(tenant) & (w->cap - 1);; i = (i + 1) & (w->cap - 1))
    if (!w->v[i].tenant[0] || !strcmp(w->v[i].tenant, tenant)) return &w->v[i];
}

/* Sets tenant's value (under w->mu); false when out of memory. A
 * tenant's handles take a value they have not seen as a change. */
static bool watch_set(struct cis__gen_watch *w, const char *tenant, int64_t gen) {
  if (!*tenant || strlen(tenant) > CIS_TENANT_NAME_MAX) return true; /* no handle can have it */
  if (2 * (w->n + 1) > w->cap) { /* at most half full: probes end */
    size_t cap = w->cap ? 2 * w->cap : 64;
    tenant_gen *old = w->v, *v = calloc(cap, sizeof *v);
    if (!v) return false;
    size_t oldcap = w->cap;
    w->v = v, w->cap = cap;
    for (size_t i = 0; i < oldcap; i++)
      if (old[i].tenant[0]) *watch_slot(w, old[i].tenant) = old[i];
    free(old);
  }
  tenant_gen *x = watch_slot(w, tenant);
  if (!x->tenant[0]) {
    snprintf(x->tenant, sizeof x->tenant, "%s", tenant);
    w->n++;
  }
  x->gen = gen; /* another value is a change, whichever way it went */
  return true;
}

/* The tenants changed since $1, and the global counter: the next poll
 * reads past that, not past the largest tenant value (a row set by hand
 * to a huge value would hide every later change). */
static const char changed_sql[] = "SELECT tenant, gen FROM cis_registry_tenant_gen WHERE gen > $1::bigint "
                                  "UNION ALL SELECT NULL, gen FROM cis_registry_gen WHERE id = 1";

/* Reads the tenants changed since w->seen: called with w->mu held and
 * w->polling this thread's, it lets go of w->mu for the query, so that
 * other handles read what is known meanwhile, and takes it again to
 * write what it read. */
static cis_result watch_poll(struct cis__gen_watch *w, uint64_t until, char *err, size_t cap) {
  char since[24];
  snprintf(since, sizeof since, "%lld", (long long)w->seen);
  const char *v[1] = {since};
  int l[1] = {(int)strlen(since)};
  PGresult *r = NULL;
  int64_t next = w->seen;
  pthread_mutex_unlock(&w->mu);
  cis_result rc = cis__db_pg_query(w->db, until, changed_sql, 1, v, l, NULL, &r, err, cap);
  pthread_mutex_lock(&w->mu);
  for (int i = 0; rc == CIS_OK && i < cis__db_pg_rows(r); i++) {
    size_t n;
    const char *t = cis__db_pg_value(r, i, 0, &n);
    int64_t g = cis__db_pg_int8(r, i, 1);
    char tenant[CIS_TENANT_NAME_MAX + 1];
    if (!t) { /* the global counter */
      next = g;
      continue;
    }
    if (n > CIS_TENANT_NAME_MAX) continue; /* no handle can have it */
    memcpy(tenant, t, n);
    tenant[n] = 0;
    if (!watch_set(w, tenant, g)) {
      snprintf(err, cap, "out of memory");
      rc = CIS_ENOMEM;
    }
  }
  cis__db_pg_clear(r);
  if (rc == CIS_OK) w->seen = next;
  return rc;
}

/* The watch of conninfo, made on first use, with one more reference. */
static struct cis__gen_watch *watch_take(const char *conninfo) {
  pthread_mutex_lock(&watches_mu);
  struct cis__gen_watch *w = watches;
  while (w && strcmp(w->conninfo, conninfo)) w = w->next;
  if (!w && (w = calloc(1, sizeof *w))) {
    if (!(w->conninfo = strdup(conninfo)) || cis__db_pg_new(conninfo, &watch_config, &w->db) != CIS_OK) {
      free(w->conninfo);
      free(w);
      w = NULL;
    } else {
      pthread_mutex_init(&w->mu, NULL);
      pthread_cond_init(&w->polled_cv, NULL);
      w->seen = -1;
      w->next = watches;
      watches = w;
    }
  }
  if (w) w->refs++;
  pthread_mutex_unlock(&watches_mu);
  return w;
}

static void watch_release(struct cis__gen_watch *w) {
  if (!w) return;
  pthread_mutex_lock(&watches_mu);
  bool last = --w->refs == 0;
  if (last) {
    struct cis__gen_watch **p = &watches;
    while (*p != w) p = &(*p)->next;
    *p = w->next;
  }
  pthread_mutex_unlock(&watches_mu);
  if (!last) return;
  cis__db_pg_free(w->db);
  pthread_cond_destroy(&w->polled_cv);
  pthread_mutex_destroy(&w->mu);
  free(w->v);
  free(w->conninfo);
  free(w);
}

/* The watch's times in ms (cis__registry_watch_times_set): a poll is
 * due at the first, and calls wait for another's poll past the second. */
static atomic_uint watch_due_ms = CIS__REGISTRY_POLL_MS / 4, watch_bound_ms = CIS__REGISTRY_POLL_MS / 2;

void cis__registry_watch_times_set(unsigned due_ms, unsigned bound_ms) {
  atomic_store(&watch_due_ms, due_ms || bound_ms ? due_ms : CIS__REGISTRY_POLL_MS / 4);
  atomic_store(&watch_bound_ms, due_ms || bound_ms ? bound_ms : CIS__REGISTRY_POLL_MS / 2);
}

/* Waits on w->polled_cv (w->mu held) until a poll ends or until passes:
 * false at the deadline. */
static bool watch_wait(struct cis__gen_watch *w, uint64_t until) {
  uint64_t left = cis__ms_left(until);
  if (!left) return false;
  struct timespec ts;
  cis__timespec_after(CLOCK_REALTIME, left, &ts); /* the condition's clock */
  pthread_cond_timedwait(&w->polled_cv, &w->mu, &ts);
  return true;
}

/* The tenant's generation: polled when what is known is a quarter of
 * CIS__REGISTRY_POLL_MS old. While another thread's poll is on its way a
 * handle goes on with what is known up to half of it (a handle reads
 * this at most every half, warm.c: a change is seen within the whole).
 * That thread may be a call of a tenant over its CPU share, on the lane
 * at the lowest priority, and the other tenants' calls must not wait for
 * its turn at a CPU. Only what is older waits for that poll, by the
 * deadline. */
static cis_result pg_generation(cis_skills *s, uint64_t until, uint64_t *gen) {
  struct cis__gen_watch *w = s->pg_watch;
  const uint64_t due = (uint64_t)atomic_load(&watch_due_ms) * 1000000u,
                 bound = (uint64_t)atomic_load(&watch_bound_ms) * 1000000u;
  char err[400] = "";
  cis_result rc = CIS_OK;
  pthread_mutex_lock(&w->mu); /* held for reads and writes of memory only */
  for (;;) {
    uint64_t now = cis__now_ns(), age = w->polled_ns ? now - w->polled_ns : UINT64_MAX;
    if (age < due || (w->polling && age < bound)) break;
    if (w->polling) {
      if (watch_wait(w, until)) continue;
      snprintf(err, sizeof err, "registry database: another call's poll of the generations stayed unfinished "
                                "until the deadline");
      rc = CIS_ETIMEOUT;
      break;
    }
    w->polling = true;
    rc = watch_poll(w, until, err, sizeof err);
    w->polled_ns = rc == CIS_OK ? now : 0;
    w->polling = false;
    pthread_cond_broadcast(&w->polled_cv);
    break;
  }
  *gen = 0;
  if (rc == CIS_OK && w->cap) {
    tenant_gen *x = watch_slot(w, s->tenant);
    *gen = x->tenant[0] ? (uint64_t)x->gen : 0;
  }
  pthread_mutex_unlock(&w->mu);
  return rc == CIS_OK ? CIS_OK : cis__skills_fail(s, rc, "%s", err);
}

/* ------------------------------------------------- a tenant's deletion */

/* A page of the tenant's rows of each part ($2: how many), by the
 * table's key, the tenant matched by equality; each gives the rows it
 * deleted (skills: their modules). Skills and keys move the tenant's
 * generation, as skill_del and key_del do; tokens the token generation
 * (row 2 of cis_registry_gen), as a revocation does (PG_REVOKE,
 * src/serve/http_token.c), so that every node's cache of them empties. */
static const char drop_skills_sql[] =
    "WITH v AS (SELECT name FROM cis_skills WHERE tenant=$1 ORDER BY name LIMIT $2::bigint), "
    "d AS (DELETE FROM cis_skills k USING v WHERE k.tenant=$1 AND k.name=v.name RETURNING k.sha256), "
    BUMP_GEN("d") "SELECT sha256 FROM d";
static const char drop_keys_sql[] =
    "WITH v AS (SELECT name FROM cis_trusted_keys WHERE tenant=$1 ORDER BY name LIMIT $2::bigint), "
    "d AS (DELETE FROM cis_trusted_keys k USING v WHERE k.tenant=$1 AND k.name=v.name RETURNING 1), "
    BUMP_GEN("d") "SELECT 1 FROM d";
static const char drop_settings_sql[] =
    "WITH v AS (SELECT skill, key FROM cis_skill_settings WHERE tenant=$1 ORDER BY skill, key LIMIT $2::bigint), "
    "d AS (DELETE FROM cis_skill_settings k USING v WHERE k.tenant=$1 AND k.skill=v.skill AND k.key=v.key "
    "RETURNING 1) SELECT 1 FROM d";
static const char drop_tokens_sql[] =
    "WITH v AS (SELECT id FROM cis_tokens WHERE tenant=$1 ORDER BY id LIMIT $2::bigint), "
    "d AS (DELETE FROM cis_tokens k USING v WHERE k.id=v.id RETURNING 1), "
    "g AS (INSERT INTO cis_registry_gen(id, gen) SELECT 2, 1 WHERE EXISTS (SELECT 1 FROM d) "
    "ON CONFLICT (id) DO UPDATE SET gen = cis_registry_gen.gen + 1 RETURNING 1) SELECT 1 FROM d";
/* The token store makes its table on its first use of the database. */
static const char tokens_made_sql[] = "SELECT 1 WHERE to_regclass('cis_tokens') IS NOT NULL";

static cis_result pg_tenant_drop(cis_skills *s, uint64_t until, cis__reg_part part, unsigned limit, uint64_t *n) {
  static const char *const sql[] = {[CIS__REG_TOKENS] = drop_tokens_sql, [CIS__REG_SKILLS] = drop_skills_sql,
                                     [CIS__REG_SETTINGS] = drop_settings_sql, [CIS__REG_KEYS] = drop_keys_sql};
  *n = 0;
  if ((unsigned)part > CIS__REG_KEYS)
    return cis__skills_fail(s, CIS_EINVAL, "registry: no part %d of a tenant", (int)part);
  PGresult *r = NULL;
  cis_result rc;
  if (part == CIS__REG_TOKENS) {
    if ((rc = q(s, until, tokens_made_sql, 0, NULL, NULL, NULL, &r)) != CIS_OK) return rc;
    bool made = cis__db_pg_rows(r) > 0;
    cis__db_pg_clear(r);
    if (!made) return CIS_OK;
  }
  char lim[16];
  snprintf(lim, sizeof lim, "%u", limit);
  const char *v[2] = {s->tenant, lim};
  int l[2] = {slen(s->tenant), slen(lim)};
  if ((rc = q(s, until, sql[part], 2, v, l, NULL, &r)) != CIS_OK) return rc;
  int rows = cis__db_pg_rows(r);
  *n = rows > 0 ? (uint64_t)rows : 0;
  /* The modules the page referred to, each once, freed when no skill of
   * any tenant refers to it now (pg_module_gc checks). */
  for (int i = 0; part == CIS__REG_SKILLS && i < rows; i++) {
    size_t hl = 0;
    const char *h = cis__db_pg_value(r, i, 0, &hl);
    char sha[65];
    if (!h || hl != 64) continue;
    memcpy(sha, h, 64);
    sha[64] = '\0';
    bool seen = false;
    for (int k = 0; k < i && !seen; k++) {
      const char *o = cis__db_pg_value(r, k, 0, NULL);
      seen = o && !strcmp(o, sha);
    }
    if (!seen) pg_module_gc(s, until, sha);
  }
  cis__db_pg_clear(r);
  return CIS_OK;
}

const cis__registry_methods cis__registry_postgres = {
    .version = CIS__REGISTRY_METHODS_VERSION,
    .name = "postgres",
    .open = pg_open,
    .close = pg_close,
    .skill_put = pg_skill_put,
    .skill_get = pg_skill_get,
    .skill_del = pg_skill_del,
    .skill_each = pg_skill_each,
    .name_each = pg_name_each,
    .module_get = pg_module_get,
    .usage = pg_usage,
    .key_put = pg_key_put,
    .key_del = pg_key_del,
    .key_each = pg_key_each,
    .key_find = pg_key_find,
    .setting_put = pg_setting_put,
    .setting_each = pg_setting_each,
    .setting_get = pg_setting_get,
    .generation = pg_generation,
    .tenant_drop = pg_tenant_drop,
};
