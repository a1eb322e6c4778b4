/*
 * cis_serve.h -- the HTTP server of installed skills (`cis serve`) and
 * the bearer tokens its tenants present.
 *
 * Tokens: each belongs to one tenant. It is shown once, when made, and
 * only its SHA-256 is kept (in the registry database, <home>/registry.db,
 * table `tokens`), so a copy of the database gives no one a token. A
 * token reads "cis_<id>_<64 hex digits>": the id finds the row, and the
 * hashes are compared in constant time.
 *
 * The server (docs/serve.md): JSON over HTTP under /v1 (install, list,
 * show, remove and invoke skills), /v1/health, /metrics (Prometheus) and
 * /mcp (MCP's streamable HTTP transport, JSON responses). Every route but
 * health and metrics needs a token, and a tenant sees and runs only its
 * own skills (one cis_skills handle per tenant). Calls run on a pool of
 * worker threads fed by a bounded queue; a call that runs long (a skill
 * stuck until its deadline) leaves its worker to a fresh thread, so stuck
 * calls never hold the workers. A full queue, or a tenant at its
 * concurrency cap, is answered 429 at once. cis_server_drain stops taking
 * work (503) and lets what is in flight finish within its deadline.
 */
#ifndef CIS_CIS_SERVE_H
#define CIS_CIS_SERVE_H

#include "cis/cis.h"
#include "cis/cis_skill.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- tokens */

/* Room for a token and its NUL: "cis_", up to 19 digits, "_", 64 hex. */
#define CIS_TOKEN_MAX 96
/* A tenant or token name here: 1 to 64 of [A-Za-z0-9._-]. */
#define CIS_TOKEN_NAME_MAX 64

typedef struct cis_tokens cis_tokens;

typedef struct cis_token_info {
  int64_t id;                        /* row id (cis_tokens_revoke takes it) */
  char tenant[CIS_TOKEN_NAME_MAX + 1]; /* whose token */
  char name[CIS_TOKEN_NAME_MAX + 1]; /* unique label */
  int64_t created_at;                /* unix seconds */
} cis_token_info;

/* Opens the token store of home (NULL = $CIS_HOME, else
 * ~/.local/share/cis, as cis_skills_open), creating its table when
 * needed. Errors: CIS_EIO, CIS_EINVAL, CIS_ENOMEM. On failure *out is a
 * failed handle (cis.h, "Errors"): cis_tokens_errmsg(*out) says why; close
 * it with cis_tokens_close. A handle may be shared by threads. */
CIS_EXTERN cis_result cis_tokens_open(const char *home, cis_tokens **out);
/* As cis_tokens_open, in the registry that registry names (the forms of
 * cis_skills_config.registry; NULL: the home's registry.db). With
 * "postgres:CONNSTR" the tokens live in that database, shared by every
 * node of it, and a database out of reach fails the calls that need it
 * with CIS_EREGISTRYDOWN (connected on first use, not here). */
CIS_EXTERN cis_result cis_tokens_open_registry(const char *home, const char *registry, cis_tokens **out);
CIS_EXTERN void cis_tokens_close(cis_tokens *t);
/* The calling thread's message of its last failed call on t, or of its
 * failed open (on every thread). */
CIS_EXTERN const char *cis_tokens_errmsg(const cis_tokens *t);

/* Makes a token for tenant, named name (NULL: "token-<id>"), from 32
 * bytes of OpenSSL's RNG. The token goes to token (cap >= CIS_TOKEN_MAX),
 * its row to info (may be NULL). Errors: CIS_EINVAL (tenant or name not
 * 1..64 of [A-Za-z0-9._-], cap too small), CIS_EEXIST (name taken),
 * CIS_EUNSUPPORTED (no libcrypto), CIS_EIO. */
CIS_EXTERN cis_result cis_tokens_create(cis_tokens *t, const char *tenant, const char *name, char *token,
                                        size_t cap, cis_token_info *info);
/* Every token's row (never the token), by id. Free *out with free(). */
CIS_EXTERN cis_result cis_tokens_list(cis_tokens *t, cis_token_info **out, size_t *n);
/* Revokes the token named name_or_id, or whose id it is (all digits): it
 * is refused from then on. CIS_ENOTFOUND when there is none. */
CIS_EXTERN cis_result cis_tokens_revoke(cis_tokens *t, const char *name_or_id);
/* The tenant of token (len bytes) into tenant (cap >= CIS_TOKEN_NAME_MAX
 * + 1). CIS_EDENIED for anything but a live token (malformed, unknown,
 * revoked: one answer for all), CIS_EUNSUPPORTED (no libcrypto), CIS_EIO. */
CIS_EXTERN cis_result cis_tokens_check(cis_tokens *t, const char *token, size_t len, char *tenant, size_t cap);

/* ------------------------------------------------------------- server */

#define CIS_SERVE_DEFAULT_LISTEN "127.0.0.1:8080"
#define CIS_SERVE_DEFAULT_MAX_BODY (8u * 1024 * 1024)
#define CIS_SERVE_DEFAULT_WORKERS 4u
#define CIS_SERVE_DEFAULT_QUEUE 64u
#define CIS_SERVE_DEFAULT_PER_ADDRESS 64u
#define CIS_SERVE_DEFAULT_HEAD_TIMEOUT_MS 10000u
/* How long a call may run on the polling thread that read its request
 * (docs/serve.md, "Short calls where they arrive"). */
#define CIS_SERVE_DEFAULT_INLINE_US 200u
#define CIS_SERVE_INLINE_OFF UINT64_MAX
#define CIS_SERVE_DEFAULT_MIN_BODY_RATE 1024u
/* Threads of the lane where the calls of a tenant over its share of the
 * server's recent CPU run, at a low priority (docs/serve.md, "One
 * tenant's load and the others"). */
#define CIS_SERVE_DEFAULT_LANE_WORKERS 2u
#define CIS_SERVE_LANE_OFF (~0u)
/* Registry changes (installs, removals) one tenant may start a second,
 * with a burst of as many (docs/serve.md, "One tenant's load and the
 * others"). */
#define CIS_SERVE_DEFAULT_REGISTRY_RATE 20u
#define CIS_SERVE_REGISTRY_RATE_OFF (~0u)
/* Lookups a second in the token store of bearer tokens the server has
 * not cached, with a burst of as many (docs/serve.md, "Tenants and
 * tokens"). */
#define CIS_SERVE_DEFAULT_TOKEN_LOOKUP_RATE 1000u
#define CIS_SERVE_TOKEN_LOOKUP_RATE_OFF (~0u)
/* Answers a second of the routes that need no token to requests with no
 * token the server knows (docs/serve.md, "Tenants and tokens"). */
#define CIS_SERVE_DEFAULT_PUBLIC_RATE 1000u
#define CIS_SERVE_PUBLIC_RATE_OFF (~0u)

typedef struct cis_server cis_server;

typedef struct cis_server_config {
  const char *const *listen; /* "HOST:PORT" each (HOST an IPv4 or [IPv6]
                                literal or a name; PORT 0 = any free port,
                                cis_server_port tells which); none =
                                CIS_SERVE_DEFAULT_LISTEN */
  size_t nlisten;
  cis_skills_config skills;  /* what each tenant's handle is opened with
                                (home, KV, limits, max_limits: the most a
                                manifest may ask for); its tenant is set
                                per handle */
  size_t max_body;           /* request body cap (413 above); 0 = 8 MiB */
  unsigned workers;          /* threads for calls (long ones get threads
                                of their own, docs/serve.md); 0 = 4 */
  unsigned queue;            /* calls of one tenant waiting for a worker
                                (429 when full); 0 = 64 */
  unsigned tenant_concurrency; /* a hard cap on calls of one tenant
                                  running or waiting at once (429
                                  above); 0 = none: tenants share the
                                  workers in turn, each with a queue of
                                  its own */
  unsigned max_connections;  /* open connections; 0 = 256. One more is
                                closed at once */
  unsigned max_connections_per_address; /* open connections from one
                                client address (IPv4 or IPv6 host); 0 =
                                CIS_SERVE_DEFAULT_PER_ADDRESS. One more is
                                closed at once */
  uint64_t head_timeout_ms;  /* a request's head must be complete within
                                this of its connection's start (or of the
                                last answer on it), else the connection
                                is closed; 0 = CIS_SERVE_DEFAULT_HEAD_TIMEOUT_MS */
  uint64_t min_body_rate;    /* bytes a second a body must average, from
                                head_timeout_ms after its head on, else
                                the connection is closed; 0 =
                                CIS_SERVE_DEFAULT_MIN_BODY_RATE */
  unsigned mcp_sessions;     /* MCP sessions kept (oldest dropped above);
                                0 = 1024 */
  uint64_t inline_us;        /* a call of a skill whose calls end within
                                this (µs) runs on the polling thread that
                                read it, and moves to a worker past it or
                                before it waits; 0 =
                                CIS_SERVE_DEFAULT_INLINE_US,
                                CIS_SERVE_INLINE_OFF: every call on a worker */
  unsigned lane_workers;     /* threads of the lane (at nice 19) that runs
                                the calls of a tenant using more than its
                                share of the server's recent CPU while
                                others call; 0 =
                                CIS_SERVE_DEFAULT_LANE_WORKERS,
                                CIS_SERVE_LANE_OFF: no lane, every
                                tenant's calls run alike */
  unsigned tenant_registry_rate; /* registry changes (installs, removals)
                                    one tenant may start a second, with a
                                    burst of as many; the others wait
                                    their turn in its queue (429 when it
                                    is full); 0 =
                                    CIS_SERVE_DEFAULT_REGISTRY_RATE,
                                    CIS_SERVE_REGISTRY_RATE_OFF: no limit */
  unsigned http_threads;     /* polling threads per listen address, each an
                                event loop over its share of the
                                connections (at most 1024); 0 = 4 per
                                online CPU, 8 to 64 */
  unsigned token_lookup_rate; /* lookups a second in the token store of
                                 bearer tokens the server has not cached
                                 (each a read of the registry's database),
                                 with a burst of as many; a request whose
                                 token would need one past it waits its
                                 turn, its connection suspended, and is
                                 answered 429 after 1 s; 0 =
                                 CIS_SERVE_DEFAULT_TOKEN_LOOKUP_RATE,
                                 CIS_SERVE_TOKEN_LOOKUP_RATE_OFF: no limit.
                                 The refusals of requests with no token the
                                 server knows (401; 403, 404, 405 given
                                 before a token is read) take a turn too */
  unsigned public_rate;      /* answers a second of the routes that need
                                no token (/v1/health, /metrics, the
                                operator page) to requests with no token
                                the server knows, with a burst of as
                                many; past it a request waits its turn,
                                and is answered 429 after 1 s; 0 =
                                CIS_SERVE_DEFAULT_PUBLIC_RATE,
                                CIS_SERVE_PUBLIC_RATE_OFF: no limit */
} cis_server_config;

CIS_EXTERN void cis_server_config_default(cis_server_config *c);
/* Binds every listen address, starts the workers and serves. Errors:
 * CIS_EINVAL (a bad address or setting), CIS_EIO (cannot bind, or the
 * registry cannot be opened), CIS_EUNSUPPORTED (libmicrohttpd missing;
 * the message names the package), CIS_ENOMEM. On failure *out is a failed
 * server (cis.h, "Errors"): cis_errmsg(*out) says why; free it with
 * cis_server_free. */
CIS_EXTERN cis_result cis_server_start(const cis_server_config *c, cis_server **out);
/* The port listener i (in the order given) is bound to, or -1. */
CIS_EXTERN int cis_server_port(const cis_server *s, size_t i);
/* Stops taking work: from now on every request is answered 503 (health
 * included, so a balancer takes the node out). Calls already queued or
 * running go on. Safe from any thread, not from a signal handler. */
CIS_EXTERN void cis_server_drain(cis_server *s);
/* Waits until no call is queued or running and every request begun has
 * been answered in full, up to timeout_ms; CIS_OK, or CIS_ETIMEOUT with
 * calls or replies still in flight. */
CIS_EXTERN cis_result cis_server_wait_idle(cis_server *s, uint64_t timeout_ms);
/* Drains, waits for the calls in flight (each ends by its deadline) and
 * their replies, then closes the listeners and frees everything. */
CIS_EXTERN void cis_server_free(cis_server *s);

#ifdef __cplusplus
}
#endif
#endif /* CIS_CIS_SERVE_H */
