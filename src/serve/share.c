/*
 * This file implements the cluster's shares of `cis serve` (share.h).
 */
#include "serve/share.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "cis/cis_skill.h"
#include "common/internal.h"
#include "db/db_pg.h"

/* A statement's longest wait: a round that cannot finish in it is
 * skipped (the figures of the last one stay), and the next tries again. */
#define SHARE_TIMEOUT_MS 1000u
/* Rows of other nodes count while this fresh. */
#define SHARE_FRESH_SQL "interval '1 second'"
/* Rows this old are a dead node's: removed every SHARE_SWEEP_ROUNDS. */
#define SHARE_STALE_SQL "interval '5 minutes'"
#define SHARE_SWEEP_ROUNDS 240u
/* Tenants read back at most: the busiest first. */
#define SHARE_ROWS_MAX 10000
#define SHARE_ROWS_MAX_SQL "10000"

static const cis__db_migration pg_steps[] = {
    {.version = 1,
     .sql = "CREATE UNLOGGED TABLE IF NOT EXISTS cis_tenant_load(node text NOT NULL, tenant text NOT NULL,"
            " cpu_ns_per_s bigint NOT NULL, at timestamptz NOT NULL, PRIMARY KEY (node, tenant))"},
    /* Calls begun a second: who calls there (not only runs long calls). */
    {.version = 2,
     .sql = "ALTER TABLE cis_tenant_load ADD COLUMN IF NOT EXISTS begun_per_s bigint NOT NULL DEFAULT 0"},
};
static const cis__db_schema pg_schema = {.service = "shares", .pg_lock = 7162999128, .steps = pg_steps, .n = 2};
static const cis__db_pg_config pg_config = {
    .appname = "cis-share",
    .label = "registry database",
    .down = CIS_EREGISTRYDOWN,
    .schema = &pg_schema,
};

static const char sql_write[] =
    "INSERT INTO cis_tenant_load(node, tenant, cpu_ns_per_s, begun_per_s, at)"
    " SELECT $1, t, c, b, now() FROM unnest($2::text[], $3::int8[], $4::int8[]) AS u(t, c, b)"
    " ON CONFLICT (node, tenant) DO UPDATE SET cpu_ns_per_s = excluded.cpu_ns_per_s,"
    " begun_per_s = excluded.begun_per_s, at = excluded.at";
static const char sql_read[] =
    "SELECT tenant, least(sum(greatest(cpu_ns_per_s, 0)), 1000000000000000)::int8 AS c,"
    " bool_or(begun_per_s > 0) FROM cis_tenant_load"
    " WHERE node <> $1 AND at > now() - " SHARE_FRESH_SQL " AND at <= now() + " SHARE_FRESH_SQL
    " GROUP BY tenant ORDER BY c DESC LIMIT " SHARE_ROWS_MAX_SQL;
/* A row from the future was not written by a node (each writes the
 * database's now()): removed as a stale one. */
static const char sql_sweep[] =
    "DELETE FROM cis_tenant_load WHERE at < now() - " SHARE_STALE_SQL " OR at > now() + " SHARE_STALE_SQL;
static const char sql_leave[] = "DELETE FROM cis_tenant_load WHERE node = $1";

/* A tenant of this node at one round. */
typedef struct share_tenant {
  const char *name; /* the server's, which outlives the share */
  cis__pool_owner *owner;
  uint64_t cpu_ns, begun; /* the owner's counts then */
} share_tenant;

typedef struct share_list {
  share_tenant *v;
  size_t n, cap;
} share_list;

struct cis__share {
  cis__share_config c;
  cis__db_pg *pg;
  char node[40]; /* this node's name in the table: random, per start */
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool stop;
  share_list prev; /* the tenants at the last round, by name */
  uint64_t prev_at; /* when (ns) */
  /* Stats (under mu). */
  uint64_t rounds, failures;
  unsigned elsewhere;
  bool warned; /* a failure was said on stderr since the last success */
};

static void collect_one(void *ctx, const char *tenant, cis__pool_owner *owner) {
  share_list *l = ctx;
  if (!owner) return;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    share_tenant *v = realloc(l->v, cap * sizeof *v);
    if (!v) return; /* counted next round */
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = (share_tenant){.name = tenant,
                                .owner = owner,
                                .cpu_ns = atomic_load_explicit(&owner->cpu_ns, memory_order_relaxed),
                                .begun = atomic_load_explicit(&owner->begun, memory_order_relaxed)};
}

static int by_name(const void *a, const void *b) {
  return strcmp(((const share_tenant *)a)->name, ((const share_tenant *)b)->name);
}

static share_tenant *find(const share_list *l, const char *name) {
  share_tenant key = {.name = name};
  return l->n ? bsearch(&key, l->v, l->n, sizeof *l->v, by_name) : NULL;
}

/* Appends s to the growing buffer *b (of *len bytes, *cap room); false
 * when out of memory. */
static bool put(char **b, size_t *len, size_t *cap, const char *s) {
  size_t n = strlen(s);
  if (*len + n + 1 > *cap) {
    size_t c = (*len + n + 1) * 2;
    char *nb = realloc(*b, c);
    if (!nb) return false;
    *b = nb;
    *cap = c;
  }
  memcpy(*b + *len, s, n + 1);
  *len += n;
  return true;
}

/* Writes this node's figures for cur (against prev, dt_ns ago): the
 * tenants that used CPU or began a call. */
static cis_result write_rows(cis__share *s, const share_list *cur, uint64_t dt_ns, char *err, size_t cap) {
  char *names = NULL, *rates = NULL, *begins = NULL;
  size_t nl = 0, nc = 0, rl = 0, rc_ = 0, bl = 0, bc = 0;
  bool ok = put(&names, &nl, &nc, "{") && put(&rates, &rl, &rc_, "{") && put(&begins, &bl, &bc, "{");
  size_t rows = 0;
  for (size_t i = 0; ok && i < cur->n; i++) {
    const share_tenant *t = &cur->v[i];
    const share_tenant *p = find(&s->prev, t->name);
    uint64_t cpu = p && t->cpu_ns >= p->cpu_ns ? t->cpu_ns - p->cpu_ns : 0;
    uint64_t begun = p && t->begun >= p->begun ? t->begun - p->begun : 0;
    if (!p || (!cpu && !begun)) continue; /* new: measured from the next round */
    char num[32], nbegun[32];
    /* A tenant that began calls using no CPU yet is active all the same: 1. */
    uint64_t rate = dt_ns ? cpu * 1000000000ull / dt_ns : 0;
    snprintf(num, sizeof num, "%s%" PRIu64, rows ? "," : "", rate ? rate : 1);
    /* Calls that began count as some a second, however short the round. */
    uint64_t brate = dt_ns && begun < UINT64_MAX / 1000000000ull ? begun * 1000000000ull / dt_ns : begun;
    snprintf(nbegun, sizeof nbegun, "%s%" PRIu64, rows ? "," : "", begun && !brate ? 1 : brate);
    /* Tenant names are A-Z a-z 0-9 . _ - (cis_tenant_name_valid): quoted
     * all the same. */
    ok = put(&names, &nl, &nc, rows ? ",\"" : "\"") && put(&names, &nl, &nc, t->name) &&
         put(&names, &nl, &nc, "\"") && put(&rates, &rl, &rc_, num) && put(&begins, &bl, &bc, nbegun);
    rows++;
  }
  ok = ok && put(&names, &nl, &nc, "}") && put(&rates, &rl, &rc_, "}") && put(&begins, &bl, &bc, "}");
  cis_result rc = CIS_ENOMEM;
  if (ok && rows) {
    const char *vals[4] = {s->node, names, rates, begins};
    rc = cis__db_pg_query(s->pg, cis__deadline_after(SHARE_TIMEOUT_MS, 0), sql_write, 4, vals, NULL, NULL, NULL,
                          err, cap);
  } else if (ok) {
    rc = CIS_OK;
  } else {
    snprintf(err, cap, "out of memory");
  }
  free(names);
  free(rates);
  free(begins);
  return rc;
}

/* Reads the other nodes' figures and hands them to the pool. */
static cis_result read_rows(cis__share *s, const share_list *cur, char *err, size_t cap) {
  const char *vals[1] = {s->node};
  PGresult *r = NULL;
  cis_result rc =
      cis__db_pg_query(s->pg, cis__deadline_after(SHARE_TIMEOUT_MS, 0), sql_read, 1, vals, NULL, NULL, &r, err, cap);
  if (rc != CIS_OK) return rc;
  int rows = cis__db_pg_rows(r);
  if (rows > SHARE_ROWS_MAX) rows = SHARE_ROWS_MAX;
  cis__pool_remote_use *u = rows > 0 ? calloc((size_t)rows, sizeof *u) : NULL;
  if (rows > 0 && !u) {
    cis__db_pg_clear(r);
    snprintf(err, cap, "out of memory");
    return CIS_ENOMEM;
  }
  size_t n = 0;
  for (int i = 0; i < rows; i++) {
    size_t len = 0;
    const char *name = cis__db_pg_value(r, i, 0, &len);
    int64_t rate = cis__db_pg_int8(r, i, 1);
    size_t blen = 0; /* results come binary: a bool is one byte */
    const char *calling = cis__db_pg_value(r, i, 2, &blen);
    if (!name || rate <= 0) continue;
    char nm[CIS_TENANT_NAME_MAX + 1];
    if (len > CIS_TENANT_NAME_MAX) continue; /* no tenant's: ignored */
    memcpy(nm, name, len);
    nm[len] = 0;
    if (!cis_tenant_name_valid(nm)) continue; /* not a node's row */
    const share_tenant *t = find(cur, nm);
    u[n++] = (cis__pool_remote_use){
        .owner = t ? t->owner : NULL, .cpu_ns_per_s = (uint64_t)rate, .calling = calling && blen == 1 && *calling != 0};
  }
  cis__db_pg_clear(r);
  cis__pool_remote(s->c.pool, u, n);
  free(u);
  pthread_mutex_lock(&s->mu);
  s->elsewhere = (unsigned)n;
  pthread_mutex_unlock(&s->mu);
  return CIS_OK;
}

/* One round: this node's figures out, the others' in. */
static void round_once(cis__share *s) {
  share_list cur = {0};
  s->c.tenants(s->c.user, collect_one, &cur);
  if (cur.n) qsort(cur.v, cur.n, sizeof *cur.v, by_name);
  uint64_t now = cis__now_ns();
  char err[256] = "";
  cis_result rc = write_rows(s, &cur, s->prev_at && now > s->prev_at ? now - s->prev_at : 0, err, sizeof err);
  if (rc == CIS_OK) rc = read_rows(s, &cur, err, sizeof err);
  if (rc == CIS_OK && s->rounds % SHARE_SWEEP_ROUNDS == SHARE_SWEEP_ROUNDS - 1)
    rc = cis__db_pg_query(s->pg, cis__deadline_after(SHARE_TIMEOUT_MS, 0), sql_sweep, 0, NULL, NULL, NULL, NULL, err,
                          sizeof err);
  free(s->prev.v);
  s->prev = cur;
  s->prev_at = now;
  pthread_mutex_lock(&s->mu);
  bool say = rc != CIS_OK && !s->warned;
  if (rc == CIS_OK) {
    s->rounds++;
    s->warned = false;
  } else {
    s->failures++;
    s->warned = true;
  }
  pthread_mutex_unlock(&s->mu);
  /* Once per outage: the rounds go on, the figures of the last good one
   * stay with the pool. */
  if (say) fprintf(stderr, "cis serve: cluster shares: %s (retrying)\n", err);
}

static void *share_main(void *arg) {
  cis__share *s = arg;
  pthread_setname_np(pthread_self(), "cis-share");
  pthread_mutex_lock(&s->mu);
  while (!s->stop) {
    pthread_mutex_unlock(&s->mu);
    round_once(s);
    pthread_mutex_lock(&s->mu);
    struct timespec until;
    cis__timespec_after(CLOCK_REALTIME, s->c.period_ms, &until);
    while (!s->stop && pthread_cond_timedwait(&s->cv, &s->mu, &until) == 0) {
    }
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

cis_result cis__share_start(const cis__share_config *c, cis__share **out) {
  *out = NULL;
  if (!c || !c->conninfo || !c->pool || !c->tenants) return CIS_EINVAL;
  cis__share *s = calloc(1, sizeof *s);
  if (!s) return CIS_ENOMEM;
  s->c = *c;
  if (!s->c.period_ms) s->c.period_ms = CIS__SHARE_PERIOD_MS;
  uint8_t id[12];
  if (getrandom(id, sizeof id, 0) != (ssize_t)sizeof id) { /* a name unlikely to repeat all the same */
    uint64_t t = cis__now_ns() ^ ((uint64_t)getpid() << 32);
    memcpy(id, &t, sizeof t);
    memset(id + sizeof t, 0, sizeof id - sizeof t);
  }
  for (size_t i = 0; i < sizeof id; i++) snprintf(s->node + 2 * i, 3, "%02x", id[i]);
  if (cis__db_pg_new(c->conninfo, &pg_config, &s->pg) != CIS_OK) {
    free(s);
    return CIS_ENOMEM;
  }
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  if (pthread_create(&s->th, NULL, share_main, s) != 0) {
    cis__db_pg_free(s->pg);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
    return CIS_ENOMEM;
  }
  *out = s;
  return CIS_OK;
}

void cis__share_stop(cis__share *s) {
  if (!s) return;
  pthread_mutex_lock(&s->mu);
  if (s->stop) { /* stopped before */
    pthread_mutex_unlock(&s->mu);
    return;
  }
  s->stop = true;
  pthread_cond_signal(&s->cv);
  pthread_mutex_unlock(&s->mu);
  pthread_join(s->th, NULL);
  /* The others stop counting this node's tenants now, not in a second. */
  const char *vals[1] = {s->node};
  char err[256];
  (void)cis__db_pg_query(s->pg, cis__deadline_after(SHARE_TIMEOUT_MS, 0), sql_leave, 1, vals, NULL, NULL, NULL, err,
                         sizeof err);
  cis__pool_remote(s->c.pool, NULL, 0);
  cis__db_pg_free(s->pg);
  s->pg = NULL;
  free(s->prev.v);
  s->prev = (share_list){0};
  pthread_mutex_lock(&s->mu);
  s->elsewhere = 0;
  pthread_mutex_unlock(&s->mu);
}

void cis__share_free(cis__share *s) {
  if (!s) return;
  cis__share_stop(s);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  free(s);
}

void cis__share_stats_get(cis__share *s, cis__share_stats *out) {
  memset(out, 0, sizeof *out);
  if (!s) return;
  pthread_mutex_lock(&s->mu);
  out->rounds = s->rounds;
  out->failures = s->failures;
  out->elsewhere = s->elsewhere;
  pthread_mutex_unlock(&s->mu);
}
