/*
 * This file implements the server's bearer tokens (cis_serve.h): made from
 * OpenSSL's RNG, shown once, kept as their SHA-256 in the `tokens` table
 * of the registry database, checked by id with a constant-time compare
 * of the hashes (CRYPTO_memcmp). libcrypto is loaded on first use, as for
 * module hashes (src/common/sha256.c), so the CLI's other commands never
 * map it.
 *
 * With a PostgreSQL registry (cis_tokens_open_registry) the tokens live in
 * its cis_tokens table instead, so that a token made through one node is
 * good on every node sharing the database; a database out of reach is
 * CIS_EREGISTRYDOWN, which the server answers with 503, not 401.
 *
 * Verified tokens are cached in the handle (token_cache), keyed by the
 * token's SHA-256 (never the token), so a request of a known token reads
 * no table. Revocation still takes effect:
 * - through this handle: at once (the cache is emptied);
 * - through another handle or process on the same SQLite registry: at the
 *   next check. A revocation commits, then moves a counter in
 *   PATH-tokens.gen (common/genfile.h), mapped shared by every handle of
 *   every process on that registry; a check reads it (one atomic load, no
 *   system call) and empties the cache when it moved. A row deleted
 *   behind cis's back (the sqlite3 shell) is seen within
 *   CIS__TOKENS_POLL_MS: a check reads the tokens table's change count
 *   (tokens_changes, moved by triggers on every change to the table,
 *   whoever makes it) that often, and at every check when the counter's
 *   file could not be made. Not SQLite's data_version, which moves with
 *   any commit to the file: the registry's installs and removals share
 *   it, and would empty the cache each time;
 * - through another node sharing PostgreSQL: within CIS__TOKENS_POLL_MS
 *   (plus one query), since a revocation bumps a token generation (row 2
 *   of cis_registry_gen) that a check reads at most that often.
 * A check that fills the cache while the cache is emptied does not put
 * its entry in (epoch), so a revocation is never undone by a late fill.
 *
 * The server checks through cis__tokens_check_paced: a token not cached
 * reads the store only when the server's rate of such lookups allows it
 * (http.c, token_wait), so that a client sending tokens no one was given
 * cannot make every request a read of the registry's database.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cis/cis_serve.h"
#include "common/dynlib.h"
#include "common/genfile.h"
#include "common/internal.h"
#include "common/sha256.h"
#include "db/db.h"
#include "db/db_conn.h"
#include "db/db_pg.h"
#include "db/db_sqlite.h"
#include "serve/http_internal.h"

#if !defined(CIS_CRYPTO_SONAME) || !defined(CIS_CRYPTO_PACKAGE)
#error "CIS_CRYPTO_SONAME and CIS_CRYPTO_PACKAGE come from the build"
#endif

#define TOKEN_FUNCS(X)         \
  X(RAND_bytes, rand_bytes)    \
  X(CRYPTO_memcmp, memcmp_ct)  \
  X(EVP_DecodeBlock, decode_block)

static struct {
  TOKEN_FUNCS(CIS__DYNLIB_MEMBER)
} tk;

static const char *const tk_names[] = {TOKEN_FUNCS(CIS__DYNLIB_NAME)};

static void tk_bind(void *const *fn) {
  size_t i = 0;
#define BIND(f, member) tk.member = (__typeof__(f) *)fn[i++];
  TOKEN_FUNCS(BIND)
#undef BIND
}

/* A second table over the same libcrypto as sha256.c: dlopen counts
 * references, so the library is mapped once. */
static cis__dynlib tk_lib = {.soname = CIS_CRYPTO_SONAME, .package = CIS_CRYPTO_PACKAGE, .names = tk_names,
                             .count = CIS_ARRAY_LEN(tk_names), .bind = tk_bind};

cis_result cis__http_crypto_load(char *err, size_t cap) { return cis__dynlib_load(&tk_lib, err, cap); }

cis_result cis__http_random(void *buf, size_t n) {
  if (cis__dynlib_load(&tk_lib, NULL, 0) != CIS_OK) return CIS_EUNSUPPORTED;
  return n <= INT32_MAX && tk.rand_bytes(buf, (int)n) == 1 ? CIS_OK : CIS_EIO;
}

bool cis__http_equal_ct(const void *a, const void *b, size_t n) { return tk.memcmp_ct(a, b, n) == 0; }

long cis__http_base64_decode(const char *text, size_t len, uint8_t *out) {
  /* EVP_DecodeBlock skips blanks at either end and counts '=' as zero
   * bytes, so the text is held to the strict form here first. */
  if (len % 4 || len > INT32_MAX) return -1;
  size_t pad = 0;
  while (pad < 2 && pad < len && text[len - 1 - pad] == '=') pad++;
  for (size_t i = 0; i < len - pad; i++) {
    char c = text[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/'))
      return -1;
  }
  if (len == 0) return 0;
  int n = tk.decode_block(out, (const unsigned char *)text, (int)len);
  if (n < 0 || (size_t)n != len / 4 * 3) return -1;
  return (long)((size_t)n - pad);
}

/* At most CIS__TOKEN_CACHE_MAX verified tokens are kept; a fill past it
 * empties the cache first (a server has few tokens; an attacker cannot
 * fill it, as only tokens that verified are kept). Slots are twice as
 * many, for short probes. */
#define TOKEN_CACHE_SLOTS (2u * CIS__TOKEN_CACHE_MAX)

typedef struct token_slot {
  char digest[64];                     /* SHA-256 of the token (hex); "" = free */
  char tenant[CIS_TOKEN_NAME_MAX + 1]; /* whose token */
} token_slot;

/* Verified tokens of the handle (file comment). The atomic fields are
 * written under mu and read without it by a thread's own copies
 * (local_get). */
typedef struct token_cache {
  pthread_mutex_t mu;                  /* guards every field below */
  uint64_t serial;                     /* this handle's, never reused (its threads' copies name it) */
  token_slot *slots;                   /* TOKEN_CACHE_SLOTS, NULL until the first fill */
  size_t used;                         /* filled slots */
  _Atomic uint64_t epoch;              /* bumped by every emptying */
  sqlite3_stmt *changes;               /* SQLite: reads tokens_changes.n, under mu */
  int64_t last_version;                /* its last value; -1 before the first */
  _Atomic uint64_t version_ns;         /* when it was last due; 0 before the first */
  uint64_t read_ns;                    /* when it was last read */
  _Atomic uint64_t *gen;               /* SQLite: revocations' counter (PATH-tokens.gen), or NULL */
  _Atomic uint64_t gen_seen;           /* its value at the last check */
  _Atomic uint64_t polled_ns;          /* last read of the PostgreSQL generation */
  _Atomic int64_t pg_gen;              /* its value then; -1 before the first */
  bool polling;                        /* a thread is reading the generation */
} token_cache;

/* Each thread's copies of the entries it used last, so that a known
 * token is checked with no lock and no write to memory that another
 * thread reads: a copy holds while its handle's epoch stands. */
#define TOKEN_LOCAL_SLOTS 8
typedef struct local_slot {
  uint64_t serial, epoch;              /* whose handle, as of which emptying */
  char digest[64];
  char tenant[CIS_TOKEN_NAME_MAX + 1];
} local_slot;
static _Thread_local local_slot tl_tokens[TOKEN_LOCAL_SLOTS];
static _Thread_local unsigned tl_tokens_next;
static atomic_uint_fast64_t token_serials;

/* The longest wait for the database within one statement, as the
 * registry's. */
#define TOKENS_TIMEOUT_MS 5000u

/* The token store's migrations (db/db.h), in the registry's database:
 * SQLite's tokens table, then its change count (file comment); PostgreSQL's cis_tokens and the counters
 * (cis_registry_gen, the registry's too: row 2 is the token generation),
 * under the registry's advisory lock, as both make those counters. Step 1
 * is what was made before cis_schema (IF NOT EXISTS). */
static const cis__db_migration sq_steps[] = {
    {.version = 1,
     .sql = "CREATE TABLE IF NOT EXISTS tokens(id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " tenant TEXT NOT NULL, name TEXT NOT NULL UNIQUE, hash TEXT NOT NULL,"
            " created_at INTEGER NOT NULL)"},
    {.version = 2,
     .sql = "CREATE TABLE IF NOT EXISTS tokens_changes(id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);"
            "INSERT OR IGNORE INTO tokens_changes(id, n) VALUES (1, 0);"
            "CREATE TRIGGER IF NOT EXISTS tokens_changes_insert AFTER INSERT ON tokens"
            " BEGIN UPDATE tokens_changes SET n = n + 1 WHERE id = 1; END;"
            "CREATE TRIGGER IF NOT EXISTS tokens_changes_update AFTER UPDATE ON tokens"
            " BEGIN UPDATE tokens_changes SET n = n + 1 WHERE id = 1; END;"
            "CREATE TRIGGER IF NOT EXISTS tokens_changes_delete AFTER DELETE ON tokens"
            " BEGIN UPDATE tokens_changes SET n = n + 1 WHERE id = 1; END"},
};
static const cis__db_schema sq_schema = {.service = "tokens", .steps = sq_steps, .n = 2};
static const cis__db_migration pg_steps[] = {
    {.version = 1,
     .sql = "CREATE TABLE IF NOT EXISTS cis_tokens(id bigserial PRIMARY KEY, tenant text NOT NULL,"
            " name text NOT NULL UNIQUE, hash text NOT NULL, created_at bigint NOT NULL);"
            "CREATE TABLE IF NOT EXISTS cis_registry_gen(id int PRIMARY KEY, gen bigint NOT NULL)"},
};
static const cis__db_schema pg_schema = {.service = "tokens", .pg_lock = 7162999126, .steps = pg_steps, .n = 1};
static const cis__db_pg_config pg_config = {
    .appname = "cis-tokens",
    .label = "registry database",
    .down = CIS_EREGISTRYDOWN,
    .schema = &pg_schema,
};

struct cis_tokens {
  cis__handle h;              /* last error, per thread */
  cis__db_conn *conn;         /* <home>/registry.db (serialized mode: the threads share it), or NULL */
  sqlite3 *db;                /* its handle */
  cis__db_pg *pg;             /* the PostgreSQL registry's database, or NULL */
  token_cache cache;          /* verified tokens */
};

/* ------------------------------------------------------ token cache */

static void cache_init(token_cache *c) {
  pthread_mutex_init(&c->mu, NULL);
  c->serial = atomic_fetch_add(&token_serials, 1) + 1;
  c->last_version = -1;
  c->pg_gen = -1;
}

/* Empties the cache (under c->mu). */
static void cache_clear(token_cache *c) {
  if (c->slots) memset(c->slots, 0, TOKEN_CACHE_SLOTS * sizeof *c->slots);
  c->used = 0;
  c->epoch++;
}

static size_t cache_home(const char d[64]) {
  uint64_t h = 0;
  for (int i = 0; i < 16; i++) h = h << 4 | (uint64_t)(d[i] <= '9' ? d[i] - '0' : d[i] - 'a' + 10);
  return (size_t)(h % TOKEN_CACHE_SLOTS); /* a SHA-256: its digits are already spread */
}

static bool slot_free(const token_slot *x) { return x->digest[0] == 0; }

/* The slot of digest d, or NULL (under c->mu). */
static token_slot *cache_find(token_cache *c, const char d[64]) {
  if (!c->slots) return NULL;
  for (size_t i = cache_home(d), n = 0; n < TOKEN_CACHE_SLOTS; n++, i = (i + 1) % TOKEN_CACHE_SLOTS) {
    token_slot *x = &c->slots[i];
    if (slot_free(x)) return NULL;
    if (tk.memcmp_ct(x->digest, d, 64) == 0) return x;
  }
  return NULL;
}

/* Keeps d → tenant unless the cache was emptied since epoch (the check
 * that verified it may have read a row revoked meanwhile). */
static void cache_put(token_cache *c, const char d[64], const char *tenant, uint64_t epoch) {
  pthread_mutex_lock(&c->mu);
  if (c->epoch != epoch || cache_find(c, d)) goto done;
  if (!c->slots && !(c->slots = calloc(TOKEN_CACHE_SLOTS, sizeof *c->slots))) goto done; /* no cache, no harm */
  if (c->used >= CIS__TOKEN_CACHE_MAX) cache_clear(c);
  size_t i = cache_home(d);
  while (!slot_free(&c->slots[i])) i = (i + 1) % TOKEN_CACHE_SLOTS; /* at most half full: ends */
  memcpy(c->slots[i].digest, d, 64);
  snprintf(c->slots[i].tenant, sizeof c->slots[i].tenant, "%s", tenant);
  c->used++;
done:
  pthread_mutex_unlock(&c->mu);
}

/* SQLite: empties the cache when the tokens table changed since the last
 * check (under c->mu, t's connection armed). A failed read empties it too.
 * With the revocations' counter: when it moved, and when the change count
 * moved at its reading every CIS__TOKENS_POLL_MS.
 *
 * A read that finds the file locked (another connection's commit, such
 * as an install's) does not wait while the last good read is under two
 * polls old: the cache stays as it was and the next check reads again.
 * Waiting there, under c->mu, held up every request's check. */
static void cache_sqlite_fresh(cis_tokens *t) {
  token_cache *c = &t->cache;
  uint64_t now = cis__now_ns(), poll = (uint64_t)CIS__TOKENS_POLL_MS * 1000000u;
  if (c->gen) {
    uint64_t g = atomic_load_explicit(c->gen, memory_order_acquire);
    if (g != c->gen_seen) cache_clear(c);
    c->gen_seen = g;
    if (c->last_version >= 0 && now - c->version_ns < poll) return;
    c->version_ns = now;
  }
  bool patient = c->last_version < 0 || now - c->read_ns >= 2 * poll;
  uint64_t until = cis__db_conn_until(t->conn);
  if (!patient) cis__db_conn_arm(t->conn, now);
  int64_t v = -1;
  int r = sqlite3_step(c->changes);
  if (r == SQLITE_ROW) v = sqlite3_column_int64(c->changes, 0);
  sqlite3_reset(c->changes);
  cis__db_conn_arm(t->conn, until);
  if (r == SQLITE_BUSY && !patient) {
    c->version_ns = 0; /* due again at the next check */
    return;
  }
  if (v < 0 || v != c->last_version) cache_clear(c);
  c->last_version = v;
  c->read_ns = now;
}

static const char pg_gen_sql[] = "SELECT gen FROM cis_registry_gen WHERE id = 2";

/* Runs sql on the PostgreSQL token store, each statement bounded by
 * TOKENS_TIMEOUT_MS. */
static cis_result pg_query(cis_tokens *t, const char *sql, int n, const char *const *v, const int *l,
                           PGresult **out, char *err, size_t cap) {
  return cis__db_pg_query(t->pg, cis__deadline_after(TOKENS_TIMEOUT_MS, 0), sql, n, v, l, NULL, out, err, cap);
}

/* SQLite: the calling thread's waits for the file's lock and its
 * statements end by TOKENS_TIMEOUT_MS from now (the busy and progress
 * handlers of db/db_conn.h). */
static void sq_arm(cis_tokens *t) { cis__db_conn_arm(t->conn, cis__deadline_after(TOKENS_TIMEOUT_MS, 0)); }

/* PostgreSQL: reads the token generation when CIS__TOKENS_POLL_MS passed
 * since the last read (one thread at a time; the others go on with the
 * cache meanwhile) and empties the cache when it moved. A database out of
 * reach is CIS_EREGISTRYDOWN: a node that cannot learn of revocations does
 * not go on trusting its cache. */
static cis_result cache_pg_fresh(cis_tokens *t) {
  token_cache *c = &t->cache;
  uint64_t now = cis__now_ns();
  if (atomic_load(&c->pg_gen) >= 0 && now - atomic_load(&c->polled_ns) < (uint64_t)CIS__TOKENS_POLL_MS * 1000000u)
    return CIS_OK; /* not due: no lock */
  pthread_mutex_lock(&c->mu);
  bool due = c->pg_gen < 0 || now - c->polled_ns >= (uint64_t)CIS__TOKENS_POLL_MS * 1000000u;
  if (!due || c->polling) {
    /* First reads wait for nothing: with no generation yet, the cache is
     * empty, and the row is read from the table. */
    pthread_mutex_unlock(&c->mu);
    return CIS_OK;
  }
  c->polling = true;
  pthread_mutex_unlock(&c->mu);
  PGresult *r = NULL;
  char err[400];
  cis_result rc = pg_query(t, pg_gen_sql, 0, NULL, NULL, &r, err, sizeof err);
  int64_t gen = rc == CIS_OK && cis__db_pg_rows(r) == 1 ? cis__db_pg_int8(r, 0, 0) : 0;
  cis__db_pg_clear(r);
  pthread_mutex_lock(&c->mu);
  c->polling = false;
  if (rc == CIS_OK) {
    if (gen != c->pg_gen) cache_clear(c);
    c->pg_gen = gen;
    c->polled_ns = now;
  }
  pthread_mutex_unlock(&c->mu);
  return rc == CIS_OK ? CIS_OK : cis__fail(t, rc, "token store: %s", err);
}

/* SQLite: whether nothing moved since the last check under mu and no
 * read of the change count is due (a thread's copies then hold). */
static bool cache_sqlite_quiet(token_cache *c) {
  if (!c->gen || atomic_load(c->gen) != atomic_load(&c->gen_seen)) return false;
  uint64_t v = atomic_load(&c->version_ns);
  return v && cis__now_ns() - v < (uint64_t)CIS__TOKENS_POLL_MS * 1000000u;
}

/* The tenant of digest d from this thread's copies, with no lock. */
static bool local_get(token_cache *c, const char d[64], char *tenant, size_t cap) {
  if (c->changes && !cache_sqlite_quiet(c)) return false; /* the locked path looks */
  uint64_t e = atomic_load(&c->epoch);
  for (unsigned i = 0; i < TOKEN_LOCAL_SLOTS; i++) {
    const local_slot *x = &tl_tokens[i];
    if (x->serial == c->serial && x->epoch == e && tk.memcmp_ct(x->digest, d, 64) == 0 && strlen(x->tenant) < cap) {
      snprintf(tenant, cap, "%s", x->tenant);
      return true;
    }
  }
  return false;
}

/* Keeps a copy of d -> tenant in this thread, as of epoch. */
static void local_put(token_cache *c, const char d[64], const char *tenant, uint64_t epoch) {
  local_slot *x = &tl_tokens[tl_tokens_next++ % TOKEN_LOCAL_SLOTS];
  x->serial = c->serial;
  x->epoch = epoch;
  memcpy(x->digest, d, 64);
  snprintf(x->tenant, sizeof x->tenant, "%s", tenant);
}

/* The tenant of digest d from the cache into tenant; *epoch receives the
 * cache's epoch for a later cache_put. */
static bool cache_get(cis_tokens *t, const char d[64], char *tenant, size_t cap, uint64_t *epoch) {
  token_cache *c = &t->cache;
  pthread_mutex_lock(&c->mu);
  if (c->changes) cache_sqlite_fresh(t);
  token_slot *x = cache_find(c, d);
  bool hit = x && strlen(x->tenant) < cap;
  if (hit) snprintf(tenant, cap, "%s", x->tenant);
  *epoch = c->epoch;
  pthread_mutex_unlock(&c->mu);
  return hit;
}

size_t cis__tokens_cached(cis_tokens *t) {
  pthread_mutex_lock(&t->cache.mu);
  size_t n = t->cache.used;
  pthread_mutex_unlock(&t->cache.mu);
  return n;
}

uint64_t cis__tokens_emptied(cis_tokens *t) { return atomic_load(&t->cache.epoch); }

/* After a revocation through this handle: at once. */
static void cache_revoked(cis_tokens *t) {
  pthread_mutex_lock(&t->cache.mu);
  cache_clear(&t->cache);
  pthread_mutex_unlock(&t->cache.mu);
  /* After the commit: other handles and processes empty theirs. */
  if (t->cache.gen) atomic_fetch_add_explicit(t->cache.gen, 1, memory_order_acq_rel);
}

static bool name_ok(const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > CIS_TOKEN_NAME_MAX) return false;
  return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

const char *cis_tokens_errmsg(const cis_tokens *t) { return cis_errmsg(t); }

cis_result cis_tokens_open(const char *home, cis_tokens **out) {
  return cis_tokens_open_registry(home, NULL, out);
}

/* Frees what t holds, all but t itself. */
static void tokens_release(cis_tokens *t) {
  sqlite3_finalize(t->cache.changes);
  cis__genfile_unmap(t->cache.gen);
  pthread_mutex_destroy(&t->cache.mu);
  free(t->cache.slots);
  cis__db_conn_close(t->conn);
  cis__db_pg_free(t->pg);
}

cis_result cis_tokens_open_registry(const char *home, const char *registry, cis_tokens **out) {
  if (!out) return CIS_EINVAL;
  cis_tokens *t = *out = calloc(1, sizeof *t);
  if (!t) return CIS_ENOMEM;
  cis__handle_init(&t->h, CIS__H_SHARED);
  cache_init(&t->cache);
  cis_result rc = CIS_OK;
  cis__db_spec db;
  char why[160];
  if (cis__db_spec_parse(registry, CIS__DB_HAS_DEFAULT, &db, why, sizeof why) != CIS_OK) {
    rc = cis__fail(t, CIS_EINVAL, "registry: %s", why);
    goto fail;
  }
  const char *arg = db.home_default ? NULL : db.target;
  if (db.dialect == CIS__DB_POSTGRES) {
    /* Connected by the first call: a database out of reach now fails
     * those calls (503 from the server), not the start. */
    if (cis__db_pg_new(arg, &pg_config, &t->pg) != CIS_OK) {
      rc = cis__fail(t, CIS_ENOMEM, "token store: out of memory");
      goto fail;
    }
    return CIS_OK;
  }
  char path[4200];
  if (arg) snprintf(path, sizeof path, "%s", arg);
  else if (home && *home) snprintf(path, sizeof path, "%s/registry.db", home);
  else if (getenv("CIS_HOME") && *getenv("CIS_HOME")) snprintf(path, sizeof path, "%s/registry.db", getenv("CIS_HOME"));
  else if (getenv("HOME")) snprintf(path, sizeof path, "%s/.local/share/cis/registry.db", getenv("HOME"));
  else {
    rc = cis__fail(t, CIS_EINVAL, "no CIS_HOME and no HOME");
    goto fail;
  }
  static const cis__db_conn_config conn_cfg = {.sqlite_flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                                                SQLITE_OPEN_FULLMUTEX};
  int r = cis__db_conn_open_sqlite(path, &conn_cfg, cis__deadline_after(TOKENS_TIMEOUT_MS, 0), &t->conn);
  t->db = t->conn ? cis__db_conn_sqlite(t->conn) : NULL;
  if (r != SQLITE_OK) {
    rc = cis__fail(t, r == SQLITE_NOMEM ? CIS_ENOMEM : CIS_EIO, "cannot open %s: %s", path,
                   t->db ? sqlite3_errmsg(t->db) : sqlite3_errstr(r));
    goto fail;
  }
  char mwhy[400];
  if ((rc = cis__db_sqlite_migrate(t->db, &sq_schema, mwhy, sizeof mwhy)) != CIS_OK) {
    cis__fail(t, rc, "%s: %s", path, mwhy);
    goto fail;
  }
  if (sqlite3_prepare_v2(t->db, "SELECT n FROM tokens_changes WHERE id = 1", -1, &t->cache.changes, NULL) !=
      SQLITE_OK) {
    rc = cis__fail(t, CIS_EIO, "%s: %s", path, sqlite3_errmsg(t->db));
    goto fail;
  }
  char gpath[4220];
  snprintf(gpath, sizeof gpath, "%s-tokens.gen", path);
  t->cache.gen = cis__genfile_map(gpath);
  if (t->cache.gen) t->cache.gen_seen = atomic_load(t->cache.gen);
  return CIS_OK;
fail:
  tokens_release(t);
  return cis__handle_failed(&t->h, rc);
}

void cis_tokens_close(cis_tokens *t) {
  if (!t) return;
  if (!t->h.failed) tokens_release(t); /* a failed one is a shell */
  free(t);
}

static cis_result crypto_ready(cis_tokens *t) {
  char why[512];
  cis_result rc = cis__dynlib_load(&tk_lib, why, sizeof why);
  return rc == CIS_OK ? CIS_OK : cis__fail(t, rc, "%s", why);
}

/* A failed call on t->db that returned r (the server's threads share the
 * connection: cis__db_sqlite_why). */
static cis_result db_fail(cis_tokens *t, int r) {
  char why[256];
  return cis__fail(t, CIS_EIO, "token store: %s", cis__db_sqlite_why(t->db, r, why, sizeof why));
}

static void row_info(sqlite3_stmt *st, cis_token_info *i) {
  memset(i, 0, sizeof *i);
  i->id = sqlite3_column_int64(st, 0);
  snprintf(i->tenant, sizeof i->tenant, "%s", (const char *)sqlite3_column_text(st, 1));
  snprintf(i->name, sizeof i->name, "%s", (const char *)sqlite3_column_text(st, 2));
  i->created_at = sqlite3_column_int64(st, 3);
}

/* ---------------------------------------------- PostgreSQL token store */

static cis_result pg_q(cis_tokens *t, const char *sql, int n, const char *const *v, PGresult **out) {
  /* Zeroed: a query without parameters (n = 0) still passes the array.
   * Every caller passes at most 4. */
  int l[4] = {0};
  for (int i = 0; i < n; i++) l[i] = v[i] ? (int)strlen(v[i]) : 0;
  char err[400];
  cis_result rc = pg_query(t, sql, n, v, l, out, err, sizeof err);
  return rc == CIS_OK ? CIS_OK : cis__fail(t, rc, "token store: %s", err);
}

static const char pg_next_sql[] = "SELECT nextval(pg_get_serial_sequence('cis_tokens', 'id'))";
static const char pg_insert_sql[] =
    "INSERT INTO cis_tokens(id, tenant, name, hash, created_at) VALUES($1::bigint, $2, $3, $4, $5::bigint) "
    "ON CONFLICT (name) DO NOTHING RETURNING id";
static const char pg_list_sql[] = "SELECT id, tenant, name, created_at FROM cis_tokens ORDER BY id";
/* A revocation bumps the token generation (row 2, made by the first) in
 * its own statement, so every node's cache learns of it. */
#define PG_REVOKE(where)                                                                                     \
  "WITH d AS (DELETE FROM cis_tokens WHERE " where " RETURNING id), "                                       \
  "g AS (INSERT INTO cis_registry_gen(id, gen) SELECT 2, 1 WHERE EXISTS (SELECT 1 FROM d) "                  \
  "ON CONFLICT (id) DO UPDATE SET gen = cis_registry_gen.gen + 1 RETURNING 1) SELECT id FROM d"
static const char pg_del_id_sql[] = PG_REVOKE("id = $1::bigint");
static const char pg_del_name_sql[] = PG_REVOKE("name = $1");
static const char pg_check_sql[] = "SELECT hash, tenant FROM cis_tokens WHERE id = $1::bigint";

/* The PostgreSQL half of cis_tokens_create: the id from the table's
 * sequence first (it is part of the token), then the row, whose name
 * must be free. */
static cis_result pg_create(cis_tokens *t, const char *tenant, const char *name, const char *hex, char *token,
                            size_t cap, int64_t now, int64_t *id_out, char *tokname, size_t namecap) {
  PGresult *r;
  cis_result rc = pg_q(t, pg_next_sql, 0, NULL, &r);
  if (rc != CIS_OK) return rc;
  int64_t id = cis__db_pg_rows(r) == 1 ? cis__db_pg_int8(r, 0, 0) : 0;
  cis__db_pg_clear(r);
  if (id <= 0) return cis__fail(t, CIS_EIO, "token store: no id from the sequence");
  if (name) snprintf(tokname, namecap, "%s", name);
  else snprintf(tokname, namecap, "token-%lld", (long long)id);
  snprintf(token, cap, "cis_%lld_%s", (long long)id, hex);
  char digest[65], idt[24], at[24];
  if ((rc = cis_sha256_hex(token, strlen(token), digest)) != CIS_OK)
    return cis__fail(t, rc, "cannot hash the token: %s", cis_strerror(rc));
  snprintf(idt, sizeof idt, "%lld", (long long)id);
  snprintf(at, sizeof at, "%lld", (long long)now);
  const char *v[5] = {idt, tenant, tokname, digest, at};
  int l[5];
  for (int i = 0; i < 5; i++) l[i] = (int)strlen(v[i]);
  char err[400];
  rc = pg_query(t, pg_insert_sql, 5, v, l, &r, err, sizeof err);
  if (rc != CIS_OK) return cis__fail(t, rc, "token store: %s", err);
  if (cis__db_pg_rows(r) != 1) rc = cis__fail(t, CIS_EEXIST, "a token named %s exists", tokname);
  cis__db_pg_clear(r);
  *id_out = id;
  return rc;
}

static cis_result pg_list(cis_tokens *t, cis_token_info **out, size_t *n) {
  PGresult *r;
  cis_result rc = pg_q(t, pg_list_sql, 0, NULL, &r);
  if (rc != CIS_OK) return rc;
  int rows = cis__db_pg_rows(r);
  if (rows > 0 && !(*out = calloc((size_t)rows, sizeof **out))) rc = cis__fail(t, CIS_ENOMEM, "out of memory");
  for (int i = 0; rc == CIS_OK && i < rows; i++) {
    size_t tl, nl;
    const char *tn = cis__db_pg_value(r, i, 1, &tl), *nm = cis__db_pg_value(r, i, 2, &nl);
    if (!tn || !nm || tl > CIS_TOKEN_NAME_MAX || nl > CIS_TOKEN_NAME_MAX) continue; /* not a row create made */
    cis_token_info *x = &(*out)[(*n)++];
    x->id = cis__db_pg_int8(r, i, 0);
    snprintf(x->tenant, sizeof x->tenant, "%s", tn);
    snprintf(x->name, sizeof x->name, "%s", nm);
    x->created_at = cis__db_pg_int8(r, i, 3);
  }
  cis__db_pg_clear(r);
  return rc;
}

static cis_result pg_revoke(cis_tokens *t, const char *name_or_id, bool by_id) {
  PGresult *r;
  const char *v[1] = {name_or_id};
  cis_result rc = pg_q(t, by_id ? pg_del_id_sql : pg_del_name_sql, 1, v, &r);
  if (rc != CIS_OK) return rc;
  if (cis__db_pg_rows(r) == 0) rc = cis__fail(t, CIS_ENOTFOUND, "no token %s", name_or_id);
  cis__db_pg_clear(r);
  return rc;
}

/* CIS_OK with the tenant when the row of idtext holds digest. */
static cis_result pg_check(cis_tokens *t, const char *idtext, const char *digest, char *tenant, size_t cap) {
  PGresult *r;
  const char *v[1] = {idtext};
  cis_result rc = pg_q(t, pg_check_sql, 1, v, &r);
  if (rc != CIS_OK) return rc;
  rc = CIS_EDENIED;
  size_t hl = 0, wl = 0;
  const char *stored = cis__db_pg_rows(r) == 1 ? cis__db_pg_value(r, 0, 0, &hl) : NULL;
  const char *who = stored ? cis__db_pg_value(r, 0, 1, &wl) : NULL;
  if (stored && who && hl == 64 && tk.memcmp_ct(stored, digest, 64) == 0 && wl < cap && wl == strlen(who)) {
    snprintf(tenant, cap, "%s", who);
    rc = CIS_OK;
  }
  cis__db_pg_clear(r);
  return rc;
}

cis_result cis_tokens_create(cis_tokens *t, const char *tenant, const char *name, char *token, size_t cap,
                             cis_token_info *info) {
  if (!t || !token) return CIS_EINVAL;
  if (t->h.failed) return CIS_ESTATE; /* its open failed: only its message and close */
  if (cap < CIS_TOKEN_MAX) return cis__fail(t, CIS_EINVAL, "token buffer smaller than CIS_TOKEN_MAX");
  token[0] = 0;
  if (!cis_tenant_name_valid(tenant))
    return cis__fail(t, CIS_EINVAL, "tenant: 1 to %d of A-Z a-z 0-9 . _ - (not . or ..)", CIS_TENANT_NAME_MAX);
  if (name && !name_ok(name)) return cis__fail(t, CIS_EINVAL, "name: 1 to %d of A-Z a-z 0-9 . _ -", CIS_TOKEN_NAME_MAX);
  cis_result rc = crypto_ready(t);
  if (rc != CIS_OK) return rc;
  uint8_t secret[32];
  if (cis__http_random(secret, sizeof secret) != CIS_OK) return cis__fail(t, CIS_EIO, "OpenSSL's RNG failed");
  char hex[65];
  cis__hex(secret, sizeof secret, hex);
  if (t->pg) {
    int64_t now = (int64_t)time(NULL), id = 0;
    char tokname[CIS_TOKEN_NAME_MAX + 1];
    rc = pg_create(t, tenant, name, hex, token, cap, now, &id, tokname, sizeof tokname);
    if (rc != CIS_OK) memset(token, 0, cap);
    else if (info) {
      memset(info, 0, sizeof *info);
      info->id = id;
      snprintf(info->tenant, sizeof info->tenant, "%s", tenant);
      snprintf(info->name, sizeof info->name, "%s", tokname);
      info->created_at = now;
    }
    memset(secret, 0, sizeof secret);
    memset(hex, 0, sizeof hex);
    return rc;
  }
  /* The row first (its id is part of the token), under a placeholder
   * name and hash, then both set: one transaction. */
  sq_arm(t);
  int r = sqlite3_exec(t->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
  if (r != SQLITE_OK) return db_fail(t, r);
  sqlite3_stmt *st = NULL;
  int64_t now = (int64_t)time(NULL), id = 0;
  char tokname[CIS_TOKEN_NAME_MAX + 1], digest[65];
  /* The placeholder name is unique (a name holds no '/', and the
   * transaction is the only writer). */
  if ((r = sqlite3_prepare_v2(t->db,
                              "INSERT INTO tokens(tenant, name, hash, created_at)"
                              " VALUES(?, '/new/' || (SELECT ifnull(max(id), 0) + 1 FROM tokens), '', ?)",
                              -1, &st, NULL)) != SQLITE_OK) {
    rc = db_fail(t, r);
    goto done;
  }
  sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, now);
  if ((r = sqlite3_step(st)) != SQLITE_DONE) {
    rc = db_fail(t, r);
    goto done;
  }
  sqlite3_finalize(st);
  st = NULL;
  id = sqlite3_last_insert_rowid(t->db);
  if (name) snprintf(tokname, sizeof tokname, "%s", name);
  else snprintf(tokname, sizeof tokname, "token-%lld", (long long)id);
  snprintf(token, cap, "cis_%lld_%s", (long long)id, hex);
  if ((rc = cis_sha256_hex(token, strlen(token), digest)) != CIS_OK) {
    cis__fail(t, rc, "cannot hash the token: %s", cis_strerror(rc));
    goto done;
  }
  if ((r = sqlite3_prepare_v2(t->db, "UPDATE tokens SET name = ?, hash = ? WHERE id = ?", -1, &st, NULL)) !=
      SQLITE_OK) {
    rc = db_fail(t, r);
    goto done;
  }
  sqlite3_bind_text(st, 1, tokname, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, digest, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, id);
  r = sqlite3_step(st);
  if (r == SQLITE_CONSTRAINT) rc = cis__fail(t, CIS_EEXIST, "a token named %s exists", tokname);
  else if (r != SQLITE_DONE) rc = db_fail(t, r);
done:
  sqlite3_finalize(st);
  if (rc == CIS_OK && (r = sqlite3_exec(t->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK) rc = db_fail(t, r);
  if (rc != CIS_OK) {
    sqlite3_exec(t->db, "ROLLBACK", NULL, NULL, NULL);
    memset(token, 0, cap);
  } else if (info) {
    memset(info, 0, sizeof *info);
    info->id = id;
    snprintf(info->tenant, sizeof info->tenant, "%s", tenant);
    snprintf(info->name, sizeof info->name, "%s", tokname);
    info->created_at = now;
  }
  memset(secret, 0, sizeof secret);
  memset(hex, 0, sizeof hex);
  return rc;
}

cis_result cis_tokens_list(cis_tokens *t, cis_token_info **out, size_t *n) {
  if (!t || !out || !n) return CIS_EINVAL;
  if (t->h.failed) return CIS_ESTATE; /* its open failed: only its message and close */
  *out = NULL;
  *n = 0;
  if (t->pg) {
    cis_result rc = pg_list(t, out, n);
    if (rc != CIS_OK) {
      free(*out);
      *out = NULL;
      *n = 0;
    }
    return rc;
  }
  sqlite3_stmt *st;
  sq_arm(t);
  int pr = sqlite3_prepare_v2(t->db, "SELECT id, tenant, name, created_at FROM tokens WHERE hash != '' ORDER BY id",
                              -1, &st, NULL);
  if (pr != SQLITE_OK) return db_fail(t, pr);
  cis_result rc = CIS_OK;
  size_t cap = 0;
  int r;
  while ((r = sqlite3_step(st)) == SQLITE_ROW) {
    if (*n == cap) {
      cap = cap ? 2 * cap : 16;
      cis_token_info *p = realloc(*out, cap * sizeof *p);
      if (!p) {
        rc = cis__fail(t, CIS_ENOMEM, "out of memory");
        break;
      }
      *out = p;
    }
    row_info(st, &(*out)[(*n)++]);
  }
  if (rc == CIS_OK && r != SQLITE_DONE) rc = db_fail(t, r);
  sqlite3_finalize(st);
  if (rc != CIS_OK) {
    free(*out);
    *out = NULL;
    *n = 0;
  }
  return rc;
}

cis_result cis_tokens_revoke(cis_tokens *t, const char *name_or_id) {
  if (!t || !name_or_id || !*name_or_id) return CIS_EINVAL;
  if (t->h.failed) return CIS_ESTATE; /* its open failed: only its message and close */
  bool by_id = strspn(name_or_id, "0123456789") == strlen(name_or_id) && strlen(name_or_id) < 19;
  if (t->pg) {
    cis_result rc = pg_revoke(t, name_or_id, by_id);
    if (rc == CIS_OK) cache_revoked(t);
    return rc;
  }
  sqlite3_stmt *st;
  sq_arm(t);
  int pr = sqlite3_prepare_v2(t->db, by_id ? "DELETE FROM tokens WHERE id = ?" : "DELETE FROM tokens WHERE name = ?",
                              -1, &st, NULL);
  if (pr != SQLITE_OK) return db_fail(t, pr);
  if (by_id) sqlite3_bind_int64(st, 1, strtoll(name_or_id, NULL, 10));
  else sqlite3_bind_text(st, 1, name_or_id, -1, SQLITE_STATIC);
  int r = sqlite3_step(st);
  sqlite3_finalize(st);
  if (r != SQLITE_DONE) return db_fail(t, r);
  if (sqlite3_changes(t->db) == 0) return cis__fail(t, CIS_ENOTFOUND, "no token %s", name_or_id);
  cache_revoked(t);
  return CIS_OK;
}

cis_result cis_tokens_check(cis_tokens *t, const char *token, size_t len, char *tenant, size_t cap) {
  return cis__tokens_check_paced(t, token, len, tenant, cap, NULL, NULL, NULL);
}

cis_result cis__tokens_check_paced(cis_tokens *t, const char *token, size_t len, char *tenant, size_t cap,
                                   bool (*may_look_up)(void *ctx), void *ctx, bool *paced) {
  if (paced) *paced = false;
  if (!t || !tenant || cap < CIS_TOKEN_NAME_MAX + 1) return CIS_EINVAL;
  if (t->h.failed) return CIS_ESTATE; /* its open failed: only its message and close */
  tenant[0] = 0;
  /* "cis_" ID "_" 64 hex: anything else is refused before the database. */
  if (!token || len < 4 + 1 + 1 + 64 || len >= CIS_TOKEN_MAX || memcmp(token, "cis_", 4) != 0)
    return cis__fail(t, CIS_EDENIED, "not a valid token");
  size_t digits = 0;
  while (4 + digits < len && token[4 + digits] >= '0' && token[4 + digits] <= '9') digits++;
  if (digits == 0 || digits > 18 || 4 + digits + 1 + 64 != len || token[4 + digits] != '_')
    return cis__fail(t, CIS_EDENIED, "not a valid token");
  for (size_t i = 4 + digits + 1; i < len; i++)
    if (!((token[i] >= '0' && token[i] <= '9') || (token[i] >= 'a' && token[i] <= 'f')))
      return cis__fail(t, CIS_EDENIED, "not a valid token");
  char idtext[20];
  memcpy(idtext, token + 4, digits);
  idtext[digits] = 0;
  cis_result rc = crypto_ready(t);
  if (rc != CIS_OK) return rc;
  char digest[65];
  if ((rc = cis_sha256_hex(token, len, digest)) != CIS_OK) return cis__fail(t, rc, "cannot hash the token");
  /* The cache's key is the hash, never the token. */
  if (t->pg && (rc = cache_pg_fresh(t)) != CIS_OK) return rc;
  if (t->conn) sq_arm(t); /* the cache's read of the change count, the row's */
  uint64_t epoch;
  if (local_get(&t->cache, digest, tenant, cap)) return CIS_OK;
  if (cache_get(t, digest, tenant, cap, &epoch)) {
    local_put(&t->cache, digest, tenant, epoch);
    return CIS_OK;
  }
  /* Not seen: the store's read waits for the caller's leave. */
  if (may_look_up && !may_look_up(ctx)) {
    if (paced) *paced = true;
    return cis__fail(t, CIS_ESTATE, "too many lookups of tokens not seen lately; retry later");
  }
  if (t->pg) {
    rc = pg_check(t, idtext, digest, tenant, cap);
    if (rc == CIS_EDENIED) cis__fail(t, rc, "not a valid token");
    if (rc == CIS_OK) cache_put(&t->cache, digest, tenant, epoch);
    if (rc == CIS_OK) local_put(&t->cache, digest, tenant, epoch);
    return rc;
  }
  sqlite3_stmt *st;
  int pr = sqlite3_prepare_v2(t->db, "SELECT hash, tenant FROM tokens WHERE id = ?", -1, &st, NULL);
  if (pr != SQLITE_OK) return db_fail(t, pr);
  sqlite3_bind_int64(st, 1, strtoll(idtext, NULL, 10));
  int r = sqlite3_step(st);
  rc = CIS_EDENIED;
  if (r == SQLITE_ROW) {
    const char *stored = (const char *)sqlite3_column_text(st, 0);
    const char *who = (const char *)sqlite3_column_text(st, 1);
    if (stored && who && sqlite3_column_bytes(st, 0) == 64 && tk.memcmp_ct(stored, digest, 64) == 0 &&
        strlen(who) < cap) {
      snprintf(tenant, cap, "%s", who);
      rc = CIS_OK;
    }
  } else if (r != SQLITE_DONE) {
    rc = db_fail(t, r);
  }
  sqlite3_finalize(st);
  if (rc == CIS_EDENIED) cis__fail(t, rc, "not a valid token");
  if (rc == CIS_OK) cache_put(&t->cache, digest, tenant, epoch);
  if (rc == CIS_OK) local_put(&t->cache, digest, tenant, epoch);
  return rc;
}
