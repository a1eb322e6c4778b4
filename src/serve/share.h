/*
 * This file declares the cluster's shares of `cis serve` (share.c): the
 * nodes that share one PostgreSQL registry tell each other, through a
 * table of that database, what CPU time each tenant's calls use on each
 * node, so that the fairness of each node's pool (pool.h) weighs a tenant
 * by its use on the whole cluster. A tenant that floods one node while
 * another tenant calls a second node then runs on its node's lane: on a
 * machine the nodes share, the quiet tenant's calls no longer wait for
 * it (docs/serve.md, "One tenant's load and the others").
 *
 * Each node writes, every period, one row per tenant that used CPU or
 * began a call there since the last: (node, tenant, CPU time a second,
 * calls begun a second). It reads the rows of the other nodes written
 * within the last second, summed per tenant, and hands them to its pool
 * (cis__pool_remote): the CPU time weighs the tenant's share, the calls
 * it began hold the long calls' quota of the other tenants. The
 * table is UNLOGGED (nothing in it outlives a restart usefully); a node
 * removes its rows when it stops, and rows older than five minutes (a
 * node that died) are removed by any node.
 */
#ifndef CIS_SERVE_SHARE_H
#define CIS_SERVE_SHARE_H

#include <stdint.h>

#include "cis/cis.h"
#include "serve/pool.h"

/* One tenant of this node: fn(ctx, its name, its owner in the pool). */
typedef void (*cis__share_tenant_fn)(void *ctx, const char *tenant, cis__pool_owner *owner);

typedef struct cis__share_config {
  const char *conninfo; /* the registry's PostgreSQL database (copied; never in a message) */
  cis__pool *pool;      /* whose fairness the other nodes' figures go to */
  /* Lists this node's tenants (any thread; tenants are only added). */
  void (*tenants)(void *user, cis__share_tenant_fn fn, void *ctx);
  void *user;
  unsigned period_ms; /* how often it writes and reads; 0: CIS__SHARE_PERIOD_MS */
} cis__share_config;

/* Long enough that a node's writes cost the database little (a few
 * statements a second), short against the time a noisy tenant's burst
 * lasts. */
#define CIS__SHARE_PERIOD_MS 250u

typedef struct cis__share cis__share;

/* Starts the share's thread ("cis-share"); it connects on its first
 * round, so a database out of reach delays nothing. Errors: CIS_ENOMEM
 * (also: no thread). */
cis_result cis__share_start(const cis__share_config *c, cis__share **out);
/* Stops the thread and removes this node's rows (bounded by a second);
 * s stays readable (cis__share_stats_get) until cis__share_free. NULL is
 * fine. */
void cis__share_stop(cis__share *s);
void cis__share_free(cis__share *s);

typedef struct cis__share_stats {
  uint64_t rounds;    /* rounds that wrote and read */
  uint64_t failures;  /* rounds the database failed */
  unsigned elsewhere; /* tenants active on other nodes at the last round */
} cis__share_stats;
void cis__share_stats_get(cis__share *s, cis__share_stats *out);

#endif /* CIS_SERVE_SHARE_H */
