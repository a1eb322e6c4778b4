/*
 * This file implements the HTTP server of installed skills (cis_serve.h,
 * docs/serve.md) on libmicrohttpd, loaded on first use like libpq and
 * libcurl: a cis program that never serves never maps it.
 *
 * A request goes through stages, each a function: the body is gathered
 * under the cap (on_request), the server's own state answers first
 * (draining: 503), then the route (http_parse.c), the bearer token (401),
 * and the tenant's handle (one cis_skills per tenant, opened on its first
 * request and shared by its calls). Whatever touches a skill (install,
 * list, show, remove, invoke, MCP) becomes a job: admitted at once or
 * refused with 429 (the queue is full, or the tenant has its share of
 * calls in flight), run by one of the workers, and answered when it ends.
 * Calls (invoke, MCP) go to the pool of workers; the registry's own work
 * (install, list, show, remove) to a small background pool of its own
 * (pool.h), so that a tenant's installs never take a call's worker.
 * Memory stays bounded: connections are capped (in all and per client
 * address), so are bodies, the queue and the MCP sessions kept.
 *
 * libmicrohttpd reads every connection on a few polling threads (epoll);
 * a request whose job is queued or running is suspended, and the worker
 * that ends the job resumes it for its answer, so a connection costs
 * memory, not a thread, and the calls in flight are exactly the workers'
 * and the queue's. Before anything else a request's head is checked: its
 * framing (RFC 9112) and the bytes of its target and headers. A watchdog
 * closes connections whose head or body comes too slowly.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cis/cis_mcp.h"
#include "cis/cis_serve.h"
#include "common/dynlib.h"
#include "common/internal.h"
#include "common/sha256.h"
#include "serve/http_calls.h"
#include "serve/http_internal.h"
#include "serve/mcp_versions.h"
#include "serve/coro.h"
#include "serve/meter.h"
#include "serve/pace.h"
#include "serve/pool.h"
#include "serve/share.h"
#include "db/db.h"
#include "common/json.h"
#include "common/rate.h"

#if !defined(CIS_MHD_SONAME) || !defined(CIS_MHD_PACKAGE)
#error "CIS_MHD_SONAME and CIS_MHD_PACKAGE come from the build"
#endif

#define MHD_FUNCS(X)                                  \
  X(MHD_start_daemon, start_daemon)                   \
  X(MHD_stop_daemon, stop_daemon)                     \
  X(MHD_get_daemon_info, daemon_info)                 \
  X(MHD_lookup_connection_value, lookup)              \
  X(MHD_get_connection_values_n, values_n)            \
  X(MHD_create_response_from_buffer, response_new)    \
  X(MHD_add_response_header, add_header)              \
  X(MHD_queue_response, queue_response)               \
  X(MHD_suspend_connection, suspend)                  \
  X(MHD_resume_connection, resume)                    \
  X(MHD_get_connection_info, connection_info)         \
  X(MHD_get_version, version)                         \
  X(MHD_destroy_response, response_free)

static struct {
  MHD_FUNCS(CIS__DYNLIB_MEMBER)
} mhd;

static const char *const mhd_names[] = {MHD_FUNCS(CIS__DYNLIB_NAME)};

/* Whether the loaded libmicrohttpd hands out the request line and the
 * headers as C strings found by strlen in its buffer (up to 0.9.75), so
 * that a NUL inside one hides the rest: the head's layout is then checked
 * (cis__http_head_start). Later versions report real lengths, which the
 * same checks read, and lay their buffer out otherwise. */
static bool mhd_cuts_at_nul;

static void mhd_bind(void *const *fn) {
  size_t i = 0;
#define BIND(f, member) mhd.member = (__typeof__(f) *)fn[i++];
  MHD_FUNCS(BIND)
#undef BIND
  unsigned major = 0, minor = 0, patch = 0;
  const char *v = mhd.version();
  mhd_cuts_at_nul = v && sscanf(v, "%u.%u.%u", &major, &minor, &patch) == 3 && major == 0 &&
                    (minor < 9 || (minor == 9 && patch <= 75));
}

static cis__dynlib mhd_lib = {.soname = CIS_MHD_SONAME, .package = CIS_MHD_PACKAGE, .names = mhd_names,
                              .count = CIS_ARRAY_LEN(mhd_names), .bind = mhd_bind};

/* libmicrohttpd's polling threads per listener by default: 4 per online
 * CPU, 8 to 64 (cis_server_config.http_threads). A request waits in its
 * thread's event loop behind the work of that loop's other connections:
 * with more loops, each of fewer connections, one tenant's flood of
 * requests delays fewer of the others' (bench/NOTES.md). */
#define CIS__HTTP_THREADS_PER_CPU 4u
#define CIS__HTTP_THREADS_MIN 8u
#define CIS__HTTP_THREADS_MAX_AUTO 64u
/* Connections over a cap that libmicrohttpd still holds until it reads
 * their end (on_connection shuts them down). */
#define CIS__HTTP_REFUSED_ROOM 64u
/* Threads of the background pool, for the registry's work (installs,
 * removals, lists, shows): two, so that one slow install (a big module's
 * check, a registry write waiting for a lock) does not hold up every
 * tenant's; each at a low priority (pool.h). */
#define CIS__HTTP_ADMIN_WORKERS 2

/* Upper bounds of the call latency histogram, in seconds. */
/* From 100 us: a warm call over HTTP takes some 50 us, and percentiles
 * read from the buckets (the page's charts) are only as fine as they. */
static const double buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30};
#define NBUCKETS (sizeof buckets / sizeof buckets[0])
#define MAX_ERROR_KINDS 64

/* A skill call known to be short runs on the polling thread that read its
 * request, on a stack of its own (coro.h): no hand-off to a worker and
 * back, whose two thread wake-ups cost as much as the rest of a short
 * call (bench/NOTES.md). Known: the last calls of its skill (a slot of
 * the tenant's table, by the name's hash) ended within inline_us
 * without waiting. A call that waits (KV, files, the network, a module's
 * load) or runs past inline_us moves to a worker at that point
 * (cis_invoke_options.on_wait), its skill's slot then sends the next
 * INLINE_COOLDOWN calls to the pool, and one short call there makes it
 * inline again. The polling thread's other connections wait at most that
 * long (and one engine check). */
#define INLINE_SLOTS 64
#define INLINE_COOLDOWN 32

/* One tenant: its registry handle and its calls in flight. */
typedef struct tenant {
  struct tenant *_Atomic next;         /* list (tenants are few; never removed while serving) */
  char name[CIS_TOKEN_NAME_MAX + 1];   /* as its tokens name it */
  cis_skills *skills;                  /* its handle, shared by its calls */
  cis__pool_owner owner;               /* its calls' queue and count in the pool (pool_mu) */
  cis__pool_owner admin_owner;         /* its registry jobs' in the background pool (pool_mu) */
  cis__calls *calls;                   /* its recent calls (GET /v1/calls) */
  struct cis_server *s;                /* its server (metrics of its MCP calls) */
  atomic_int quick[INLINE_SLOTS];      /* per skill (hash): > 0 its calls run inline; < 0 pool calls
                                          left before it may (relaxed: a guess, the move is the guard) */
  pthread_mutex_t sess_mu;             /* guards sessions and their users, ended and used */
  struct mcp_session *sessions;        /* its kept MCP sessions, newest first */
} tenant;

/* One MCP session (a handshake version, 2024-11-05 to 2025-11-25): made
 * by initialize, named by the Mcp-Session-Id header, and only ever its
 * tenant's. */
typedef struct mcp_session {
  struct mcp_session *next;            /* list, newest first */
  char id[65];                         /* 64 hex digits of the RNG */
  tenant *t;                           /* whose */
  cis_mcp *m;                          /* the protocol state (messages may run
                                          at once: a cancel reaches a call) */
  unsigned users;                      /* jobs holding it (its tenant's sess_mu) */
  bool ended;                          /* out of the list; the last user frees it */
  uint64_t used;                       /* last use, for dropping the oldest */
} mcp_session;

struct job;

/* One open connection, as the watchdog sees it (all fields under
 * conn_mu): made at MHD_CONNECTION_NOTIFY_STARTED, dropped at
 * MHD_CONNECTION_NOTIFY_CLOSED, which libmicrohttpd gives before it
 * closes the socket, so fd is open while the entry is listed. */
typedef enum conn_phase {
  CONN_HEAD,                           /* waiting for a request's head (since: accepted, or the last answer) */
  CONN_BODY,                           /* reading its body (since: the head) */
  CONN_BUSY,                           /* its request is being answered: not watched */
} conn_phase;

typedef struct conn_watch {
  struct conn_watch *next, *prev;      /* the server's list */
  int fd;                              /* its socket (shut down, never closed, by the watchdog) */
  struct sockaddr_storage addr;        /* the client's address (per-address cap) */
  /* The phase and its clock are written by the connection's own polling
   * thread without conn_mu (a request takes no server-wide lock): since
   * and body_bytes first, then phase with release, read in the opposite
   * order, so the watchdog never pairs a phase with an older clock. */
  _Atomic conn_phase phase;            /* what it waits for */
  atomic_uint_fast64_t since;          /* start of the phase (ns, monotonic) */
  atomic_uint_fast64_t body_bytes;     /* body bytes read in CONN_BODY */
  bool refused;                        /* over a cap: shut at once, not counted as open */
  bool cut;                            /* shut by the watchdog */
} conn_watch;

/* The body of one request, gathered under the cap. */
typedef struct request {
  struct job *job;                     /* its job while it runs, then its answer; NULL before */
  conn_watch *w;                       /* its connection's entry, or NULL */
  bool started;                        /* on_request saw its head */
  const char *target;                  /* the raw target (the library's buffer), from on_uri */
  size_t target_len;                   /* its length before decoding */
  bool bad_target;                     /* it had a control byte */
  cis__http_head head;                      /* its head, read at the first call */
  char *buf;                           /* body bytes, NUL-terminated */
  size_t len, cap;                     /* used and allocated */
  bool too_big;                        /* went past max_body: dropped */
  size_t dropped;                      /* bytes dropped since */
  bool answered;                       /* a reply was queued early (413), or waits its turn to be */
  unsigned early;                      /* an answer due before the request was read whole (400, 413), or 0 */
  char early_msg[96];                  /* its message */
  /* Its turn of a pacer (pace.h), for its token's lookup or refusal or
   * an answer that needs no token, when it waits for one. */
  cis__pace_item pace;
  uint64_t began;                      /* when handle() took it up (cis__now_ns) */
  uint64_t polled;                     /* its share of its polling thread's untimed work (meter.h), ns */
} request;

struct job;
typedef void (*job_fn)(cis_server *s, struct job *j);

/* A unit of work for the pool, and its answer. */
typedef struct job {
  cis__pool_job pj;                    /* first: the pool's part (pool.h) */
  cis_server *s;                       /* whose */
  struct MHD_Connection *conn;         /* suspended while the job runs; resumed by job_finish */
  bool orphaned;                       /* its request ended first: job_finish frees it (server mu) */
  unsigned refused;                    /* not admitted: 503 or 429, answered at once */
  job_fn run;                          /* what to do, on a worker */
  tenant *t;                           /* whose */
  cis__route route;                    /* what was asked */
  const char *body;                    /* the request body (the connection's) */
  size_t body_len;
  char proto[32];                      /* MCP-Protocol-Version header, "" when absent */
  char session[80];                    /* Mcp-Session-Id header, "" when absent */
  char mcp_method[64];                 /* Mcp-Method header, "" when absent */
  cis__mcp_peek peek;                  /* an MCP message's shape */
  unsigned status;                     /* the answer: HTTP status */
  char *out;                           /* its body (malloc'd), or NULL */
  size_t out_len;
  const char *ctype;                   /* its content type */
  bool purge;                          /* DELETE ?purge=true: the skill's data go too */
  char new_session[65];                /* Mcp-Session-Id to send, "" for none */
  const char *version_hdr;             /* MCP-Protocol-Version to send, or NULL */
  bool sse;                            /* /mcp: answer as one SSE event (Accept) */
  cis__coro *co;                       /* an inline call's stack, until the call ends */
  bool moved;                          /* the inline call went on on a worker */
  cis_wait moved_why;                  /* why: to load its skill (this thread's cache missed) is no sign of its kind */
  cis_instance *inst;                  /* its call's instance while it lives (for a moved call's quota) */
} job;

struct cis_server {
  cis__handle h;                       /* why cis_server_start failed (cis_errmsg) */
  cis_skills_config skills_cfg;        /* each tenant's handle's (strings below) */
  char *home, *kv_spec, *vfs_db_spec;  /* copies of the config's strings */
  char *registry;                      /* and the registry's (NULL: the home's) */
  size_t max_body;                     /* request body cap */
  unsigned nworkers, qcap, tenant_cap, max_conn, max_sessions;
  unsigned lane;                       /* threads of the lane for tenants over their CPU share; 0: none */
  unsigned registry_rate;              /* registry changes one tenant may start a second; 0: no limit */
  /* Requests that carry no token the server has cached: lookups of their
   * tokens and their refusals (token_turn); and the answers of the routes
   * that need none (answer_waits). */
  cis__pacer token_pace, public_pace;
  unsigned http_threads;               /* libmicrohttpd's polling threads per listener */
  uint64_t inline_us;                  /* short calls' budget on a polling thread; 0: none run there */
  struct MHD_Daemon **daemons;         /* one per listen address */
  int *ports;                          /* their bound ports */
  size_t ndaemons;
  cis_tokens *tokens;                  /* the token store */
  cis__share *share;                   /* the cluster's shares (a PostgreSQL registry), or NULL */
  pthread_mutex_t mu;                  /* guards the tenants' insertion and the dropping of MCP
                                          sessions at the cap; no request takes it otherwise */
  pthread_cond_t idle_cv;              /* a job ended, or the last request did (pool_mu) */
  pthread_mutex_t pool_mu;             /* the pool's, and each job's done, refused and orphaned */
  cis__pool pool;                      /* the workers and the tenants' queues (pool.h) */
  cis__pool admin;                     /* the background pool: installs, removals, lists, shows */
  atomic_uint requests;                /* requests begun and not yet answered in full */
  atomic_uint idle_waiters;            /* threads in cis_server_wait_idle (told by the last request's end) */
  atomic_bool draining;                /* new requests get 503 */
  atomic_bool store_down;              /* the last call that reached KV or files found them down */
  atomic_uint_fast64_t failed_said_ns; /* when the log last gave a server-side failure's words */
  atomic_uint failed_unsaid;           /* such failures since, not given (failed_said) */
  tenant *_Atomic tenants;             /* opened handles: read without a lock, added under mu */
  atomic_uint nsessions;               /* MCP sessions kept, all tenants' (each tenant keeps its own) */
  atomic_uint_fast64_t session_clock;  /* ticks at each session use: the oldest idle one goes first */
  uint64_t clock;                      /* session use counter */
  /* Connections (conn_mu): the watchdog's list and the caps. */
  pthread_mutex_t conn_mu;             /* guards the connection fields */
  pthread_cond_t conn_cv;              /* wakes the watchdog to stop */
  conn_watch *conns;                   /* open connections, refused ones included until closed */
  unsigned nopen;                      /* open and admitted (cis_connections_open) */
  unsigned per_ip;                     /* connections one client address may hold */
  uint64_t head_ns;                    /* a head must come within this */
  uint64_t body_rate;                  /* bytes per second a body must average after head_ns */
  pthread_t watchdog;                  /* shuts slow connections */
  bool watching, watch_stop;           /* started; asked to end */
  uint64_t refused_max, refused_ip;    /* connections refused by the global and the per-address cap */
  uint64_t slow_head, slow_body;       /* connections shut for a slow head or body */
  /* Counters: atomics, so that requests of different tenants never wait
   * for one another to count. */
  struct {
    atomic_uint_fast64_t by_class[6];  /* responses by status / 100 */
    atomic_uint_fast64_t calls;        /* invocations finished */
    atomic_uint_fast64_t rejected_full, rejected_tenant, rejected_draining;
    atomic_uint_fast64_t installs_over_limit; /* installs refused at a tenant's limit (CIS_EQUOTA) */
    atomic_uint_fast64_t token_lookups; /* of tokens not cached */
    atomic_uint_fast64_t hist[NBUCKETS + 1]; /* call latency, cumulative at print */
    atomic_uint_fast64_t sum_ns;       /* all calls */
    struct {
      _Atomic int code;                /* 0: free; claimed once, by compare-and-swap */
      atomic_uint_fast64_t n;
    } errors[MAX_ERROR_KINDS];         /* failed calls by error, in the order first seen */
  } m;
};

/* The polling threads per listener when the configuration sets none. */
static unsigned default_http_threads(void) {
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  long n = (cpus > 0 ? cpus : 1) * (long)CIS__HTTP_THREADS_PER_CPU;
  return n < CIS__HTTP_THREADS_MIN ? CIS__HTTP_THREADS_MIN : n > CIS__HTTP_THREADS_MAX_AUTO ? CIS__HTTP_THREADS_MAX_AUTO : (unsigned)n;
}

void cis_server_config_default(cis_server_config *c) {
  memset(c, 0, sizeof *c);
  cis_skills_config_default(&c->skills);
}

/* ------------------------------------------------------------- replies */

/* A call that failed on the server's side (a 5xx: a database out of
 * reach, a host error) answers its client with the error's name only,
 * since a backend's own words may name hosts or files; the operator's log
 * gets them, at most one line a second, which says how many failures it
 * left out before it: a dead database under a flood of calls does not
 * flood the log. */
static void failed_said(cis_server *s, const char *tenant, const char *via, const char *skill,
                        const cis_invoke_result *res) {
  uint64_t now = cis__now_ns(), last = atomic_load_explicit(&s->failed_said_ns, memory_order_relaxed);
  if ((last && now - last < 1000000000u) ||
      !atomic_compare_exchange_strong_explicit(&s->failed_said_ns, &last, now, memory_order_relaxed,
                                               memory_order_relaxed)) {
    atomic_fetch_add_explicit(&s->failed_unsaid, 1, memory_order_relaxed);
    return;
  }
  unsigned unsaid = atomic_exchange_explicit(&s->failed_unsaid, 0, memory_order_relaxed);
  char more[64] = "";
  if (unsaid) snprintf(more, sizeof more, " (and %u more such failures before it)", unsaid);
  fprintf(stderr, "cis serve: tenant %s: %s %s: %s: %s%s\n", tenant, via, skill, cis_errname(res->status),
          res->error[0] ? res->error : cis_strerror(res->status), more);
}

static char *error_json(const char *type, const char *message, size_t *len) {
  cJSON *o = cJSON_CreateObject(), *e = o ? cJSON_AddObjectToObject(o, "error") : NULL;
  if (e) {
    cJSON_AddStringToObject(e, "type", type);
    cJSON_AddStringToObject(e, "message", message);
  }
  char *text = e ? cJSON_PrintUnformatted(o) : NULL;
  cJSON_Delete(o);
  *len = text ? strlen(text) : 0;
  return text;
}

static void job_error(job *j, unsigned status, cis_result code, const char *message) {
  j->status = code == CIS_EREGISTRYDOWN ? 503 : status; /* the shared registry database is down */
  free(j->out);
  j->out = error_json(cis_errname(code), message, &j->out_len);
  j->ctype = "application/json";
}

static void count_status(cis_server *s, unsigned status) {
  atomic_fetch_add_explicit(&s->m.by_class[status / 100 < 6 ? status / 100 : 0], 1, memory_order_relaxed);
}

/* Sends status with body (copied) and the given header pairs (name, value,
 * ..., NULL). */
static enum MHD_Result reply(cis_server *s, struct MHD_Connection *c, unsigned status, const char *ctype,
                             const char *body, size_t len, ...) {
  struct MHD_Response *r = mhd.response_new(len, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
  if (!r) return MHD_NO;
  if (ctype) mhd.add_header(r, "Content-Type", ctype);
  mhd.add_header(r, "Cache-Control", "no-store");
  va_list ap;
  va_start(ap, len);
  for (const char *k; (k = va_arg(ap, const char *));) {
    const char *v = va_arg(ap, const char *);
    if (v && *v) mhd.add_header(r, k, v);
  }
  va_end(ap);
  enum MHD_Result ok = mhd.queue_response(c, status, r);
  mhd.response_free(r);
  count_status(s, status);
  return ok;
}

static enum MHD_Result reply_error(cis_server *s, struct MHD_Connection *c, unsigned status, cis_result code,
                                   const char *message, ...) {
  size_t len;
  char *body = error_json(cis_errname(code), message, &len);
  const char *h1 = NULL, *v1 = NULL;
  va_list ap;
  va_start(ap, message);
  h1 = va_arg(ap, const char *);
  if (h1) v1 = va_arg(ap, const char *);
  va_end(ap);
  enum MHD_Result ok = reply(s, c, status, "application/json", body, len, h1, v1, NULL);
  free(body);
  return ok;
}

/* ------------------------------------------------------------- tenants */

/* The tenant's entry, its handle opened on first use; NULL when it cannot
 * be opened (said on stderr: the message may name server paths). */
static tenant *tenant_find(cis_server *s, const char *name) {
  for (tenant *t = atomic_load_explicit(&s->tenants, memory_order_acquire); t;
       t = atomic_load_explicit(&t->next, memory_order_acquire))
    if (!strcmp(t->name, name)) return t;
  return NULL;
}

static tenant *tenant_get(cis_server *s, const char *name) {
  /* Tenants are only ever added (at the head, published whole), so a
   * lookup takes no lock: requests of different tenants never meet here. */
  tenant *t = tenant_find(s, name);
  if (t) return t;
  /* Opened under the lock: it is rare (once per tenant), and two threads
   * must not open two handles for one tenant. */
  pthread_mutex_lock(&s->mu);
  if ((t = tenant_find(s, name))) {
    pthread_mutex_unlock(&s->mu);
    return t;
  }
  t = calloc(1, sizeof *t);
  if (t) t->s = s;
  if (t) pthread_mutex_init(&t->sess_mu, NULL);
  if (t) {
    snprintf(t->name, sizeof t->name, "%s", name);
    cis_skills_config c = s->skills_cfg;
    c.tenant = t->name;
    if (!(t->calls = cis__calls_new()) || cis_skills_open(&c, &t->skills) != CIS_OK) {
      fprintf(stderr, "cis serve: tenant %s: %s\n", name,
              t->skills ? cis_skills_errmsg(t->skills) : "out of memory");
      cis_skills_close(t->skills);
      cis__calls_free(t->calls);
      pthread_mutex_destroy(&t->sess_mu);
      free(t);
      t = NULL;
    } else {
      atomic_store_explicit(&t->next, atomic_load_explicit(&s->tenants, memory_order_relaxed), memory_order_relaxed);
      atomic_store_explicit(&s->tenants, t, memory_order_release);
    }
  }
  pthread_mutex_unlock(&s->mu);
  return t;
}

/* ------------------------------------------------------------- metrics */

/* Counts a finished call (HTTP invoke or MCP tools/call) in the metrics,
 * and in /v1/health, which says "degraded" from a call that found a store
 * down until one that used KV succeeds. */
static void record_call(cis_server *s, cis_result rc, uint64_t ns, const cis_invoke_result *res) {
  if (rc == CIS_EKVDOWN || rc == CIS_EVFSDOWN) atomic_store(&s->store_down, true);
  else if (rc == CIS_OK && res->stats.kv_gets + res->stats.kv_sets + res->stats.kv_deletes)
    atomic_store(&s->store_down, false);
  double sec = (double)ns / 1e9;
  size_t b = 0;
  while (b < NBUCKETS && sec > buckets[b]) b++;
  atomic_fetch_add_explicit(&s->m.hist[b], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&s->m.sum_ns, ns, memory_order_relaxed);
  atomic_fetch_add_explicit(&s->m.calls, 1, memory_order_relaxed);
  if (rc != CIS_OK) {
    for (size_t i = 0; i < MAX_ERROR_KINDS; i++) {
      int code = 0;
      if (atomic_compare_exchange_strong(&s->m.errors[i].code, &code, (int)rc) || code == (int)rc) {
        atomic_fetch_add_explicit(&s->m.errors[i].n, 1, memory_order_relaxed);
        break;
      }
    }
  }
}

/* The Prometheus text exposition (version 0.0.4). */
static char *metrics_text(cis_server *s, size_t *len) {
  size_t cap = 12288;
  char *b = malloc(cap);
  if (!b) return NULL;
  size_t n = 0;
#define OUT(...)                                                                  \
  do {                                                                            \
    int k_ = snprintf(b + n, n < cap ? cap - n : 0, __VA_ARGS__);                 \
    if (k_ > 0) n += (size_t)k_;                                                  \
  } while (0)
#define LOAD(x) ((unsigned long long)atomic_load_explicit(&(x), memory_order_relaxed))
  OUT("# HELP cis_http_responses_total HTTP responses by status class.\n"
      "# TYPE cis_http_responses_total counter\n");
  for (int c = 1; c < 6; c++) OUT("cis_http_responses_total{class=\"%dxx\"} %llu\n", c, LOAD(s->m.by_class[c]));
  OUT("# HELP cis_calls_total Skill invocations finished.\n# TYPE cis_calls_total counter\n"
      "cis_calls_total %llu\n",
      LOAD(s->m.calls));
  OUT("# HELP cis_call_errors_total Failed invocations by error type.\n# TYPE cis_call_errors_total counter\n");
  for (size_t i = 0; i < MAX_ERROR_KINDS && atomic_load(&s->m.errors[i].code); i++)
    OUT("cis_call_errors_total{type=\"%s\"} %llu\n", cis_errname((cis_result)atomic_load(&s->m.errors[i].code)),
        LOAD(s->m.errors[i].n));
  OUT("# HELP cis_rejected_total Requests refused before running, by reason.\n# TYPE cis_rejected_total counter\n"
      "cis_rejected_total{reason=\"queue_full\"} %llu\ncis_rejected_total{reason=\"tenant_concurrency\"} %llu\n"
      "cis_rejected_total{reason=\"draining\"} %llu\n",
      LOAD(s->m.rejected_full), LOAD(s->m.rejected_tenant), LOAD(s->m.rejected_draining));
  OUT("# HELP cis_call_duration_seconds Invocation latency.\n# TYPE cis_call_duration_seconds histogram\n");
  uint64_t cum = 0;
  for (size_t i = 0; i < NBUCKETS; i++) {
    cum += LOAD(s->m.hist[i]);
    OUT("cis_call_duration_seconds_bucket{le=\"%g\"} %llu\n", buckets[i], (unsigned long long)cum);
  }
  cum += LOAD(s->m.hist[NBUCKETS]);
  OUT("cis_call_duration_seconds_bucket{le=\"+Inf\"} %llu\ncis_call_duration_seconds_sum %.6f\n"
      "cis_call_duration_seconds_count %llu\n",
      (unsigned long long)cum, (double)LOAD(s->m.sum_ns) / 1e9, (unsigned long long)cum);
  pthread_mutex_lock(&s->pool_mu);
  cis__pool pool = s->pool; /* the counters, as one moment's */
  unsigned admin_busy = s->admin.running, admin_queued = s->admin.queued;
  unsigned long long admin_paced = s->admin.paced;
  pthread_mutex_unlock(&s->pool_mu);
  unsigned nsessions = atomic_load(&s->nsessions);
  OUT("# HELP cis_pool_workers Worker threads.\n# TYPE cis_pool_workers gauge\ncis_pool_workers %u\n"
      "# HELP cis_pool_busy Jobs running, long ones included.\n# TYPE cis_pool_busy gauge\ncis_pool_busy %u\n"
      "# HELP cis_pool_demoted_total Calls lowered in CPU priority for running long.\n"
      "# TYPE cis_pool_demoted_total counter\ncis_pool_demoted_total %llu\n"
      "# HELP cis_pool_throttled_total Long calls given a CPU quota while short calls ran (here, or another tenant's on another node).\n"
      "# TYPE cis_pool_throttled_total counter\ncis_pool_throttled_total %llu\n"
      "# HELP cis_pool_long Long calls running on a thread of their own (their slot handed off).\n"
      "# TYPE cis_pool_long gauge\ncis_pool_long %u\n"
      "# HELP cis_pool_handoffs_total Long calls whose worker slot went to a fresh thread.\n"
      "# TYPE cis_pool_handoffs_total counter\ncis_pool_handoffs_total %llu\n"
      "# HELP cis_pool_threads Threads of the pool for calls: the workers and the long calls' own.\n"
      "# TYPE cis_pool_threads gauge\ncis_pool_threads %u\n"
      "# HELP cis_pool_trims_total Times the idle pool gave freed memory back to the system.\n"
      "# TYPE cis_pool_trims_total counter\ncis_pool_trims_total %llu\n"
      "# HELP cis_calls_inline_total Calls run on the polling thread that read them (known short).\n"
      "# TYPE cis_calls_inline_total counter\ncis_calls_inline_total %llu\n"
      "# HELP cis_calls_inline_moved_total Inline calls that waited or ran long and went on on a worker.\n"
      "# TYPE cis_calls_inline_moved_total counter\n"
      "cis_calls_inline_moved_total{reason=\"load\"} %llu\ncis_calls_inline_moved_total{reason=\"store\"} %llu\n"
      "cis_calls_inline_moved_total{reason=\"wait\"} %llu\ncis_calls_inline_moved_total{reason=\"long\"} %llu\n"
      "# HELP cis_http_threads Polling threads per listen address, each an event loop over its share of the connections.\n"
      "# TYPE cis_http_threads gauge\ncis_http_threads %u\n"
      "# HELP cis_pool_lane_workers Threads of the low-priority lane for tenants over their CPU share.\n"
      "# TYPE cis_pool_lane_workers gauge\ncis_pool_lane_workers %u\n"
      "# HELP cis_pool_lane_total Calls run on the lane (their tenant over its CPU share).\n"
      "# TYPE cis_pool_lane_total counter\ncis_pool_lane_total %llu\n"
      "# HELP cis_tenants_over_share Tenants over their share of the recent CPU now (their calls on the lane).\n"
      "# TYPE cis_tenants_over_share gauge\ncis_tenants_over_share %u\n"
      "# HELP cis_queue_length Jobs waiting for a worker.\n# TYPE cis_queue_length gauge\ncis_queue_length %u\n"
      "# HELP cis_queue_capacity Most jobs one tenant may have waiting.\n# TYPE cis_queue_capacity gauge\n"
      "cis_queue_capacity %u\n"
      "# HELP cis_mcp_sessions MCP sessions kept.\n# TYPE cis_mcp_sessions gauge\ncis_mcp_sessions %u\n"
      "# HELP cis_draining 1 while the server drains.\n# TYPE cis_draining gauge\ncis_draining %d\n",
      s->nworkers, pool.running, (unsigned long long)pool.demoted, (unsigned long long)pool.throttled,
      pool.nlong, (unsigned long long)pool.handoffs, pool.nthreads, (unsigned long long)pool.trims,
      (unsigned long long)pool.inline_runs, (unsigned long long)pool.inline_moves[CIS_WAIT_LOAD],
      (unsigned long long)pool.inline_moves[CIS_WAIT_STORE], (unsigned long long)pool.inline_moves[CIS_WAIT_HOST],
      (unsigned long long)pool.inline_moves[CIS_WAIT_LONG], s->http_threads, s->lane, (unsigned long long)pool.lane_runs,
      (unsigned)atomic_load(&s->pool.nover), pool.queued,
      s->qcap, nsessions, atomic_load(&s->draining) ? 1 : 0);
  cis__share_stats sh;
  cis__share_stats_get(s->share, &sh);
  OUT("# HELP cis_cluster_share_rounds_total Rounds this node told the others its tenants' CPU use and read theirs.\n"
      "# TYPE cis_cluster_share_rounds_total counter\ncis_cluster_share_rounds_total %llu\n"
      "# HELP cis_cluster_share_failures_total Such rounds the registry database failed.\n"
      "# TYPE cis_cluster_share_failures_total counter\ncis_cluster_share_failures_total %llu\n"
      "# HELP cis_cluster_tenants_elsewhere Tenants active on the cluster's other nodes at the last round.\n"
      "# TYPE cis_cluster_tenants_elsewhere gauge\ncis_cluster_tenants_elsewhere %u\n",
      (unsigned long long)sh.rounds, (unsigned long long)sh.failures, sh.elsewhere);
  OUT("# HELP cis_admin_workers Threads of the background pool (installs, removals, lists, shows).\n"
      "# TYPE cis_admin_workers gauge\ncis_admin_workers %u\n"
      "# HELP cis_admin_busy Registry jobs running on the background pool.\n"
      "# TYPE cis_admin_busy gauge\ncis_admin_busy %u\n"
      "# HELP cis_admin_queue_length Registry jobs waiting for the background pool.\n"
      "# TYPE cis_admin_queue_length gauge\ncis_admin_queue_length %u\n"
      "# HELP cis_tenant_registry_rate Registry changes one tenant may start a second (0: no limit).\n"
      "# TYPE cis_tenant_registry_rate gauge\ncis_tenant_registry_rate %u\n"
      "# HELP cis_registry_paced_total Registry changes that waited for their tenant's rate.\n"
      "# TYPE cis_registry_paced_total counter\ncis_registry_paced_total %llu\n",
      CIS__HTTP_ADMIN_WORKERS, admin_busy, admin_queued, s->registry_rate, admin_paced);
  unsigned token_queued = cis__pacer_queued(&s->token_pace), public_queued = cis__pacer_queued(&s->public_pace);
  OUT("# HELP cis_token_lookup_rate Lookups a second in the token store of tokens not cached (0: no limit).\n"
      "# TYPE cis_token_lookup_rate gauge\ncis_token_lookup_rate %u\n"
      "# HELP cis_token_lookups_total Lookups in the token store of tokens not cached.\n"
      "# TYPE cis_token_lookups_total counter\ncis_token_lookups_total %llu\n"
      "# HELP cis_token_lookup_waits_total Requests that waited their turn to have their token looked up, or to be refused.\n"
      "# TYPE cis_token_lookup_waits_total counter\ncis_token_lookup_waits_total %llu\n"
      "# HELP cis_token_lookups_late_total Requests answered 429 after the longest wait for their turn.\n"
      "# TYPE cis_token_lookups_late_total counter\ncis_token_lookups_late_total %llu\n"
      "# HELP cis_token_lookup_queue Requests waiting their turn now.\n"
      "# TYPE cis_token_lookup_queue gauge\ncis_token_lookup_queue %u\n",
      s->token_pace.rate, (unsigned long long)atomic_load(&s->m.token_lookups),
      (unsigned long long)atomic_load(&s->token_pace.waits), (unsigned long long)atomic_load(&s->token_pace.late),
      token_queued);
  OUT("# HELP cis_public_rate Answers a second of the routes that need no token, to requests with none the server knows "
      "(0: no limit).\n"
      "# TYPE cis_public_rate gauge\ncis_public_rate %u\n"
      "# HELP cis_public_waits_total Requests of the routes that need no token that waited their turn.\n"
      "# TYPE cis_public_waits_total counter\ncis_public_waits_total %llu\n"
      "# HELP cis_public_late_total Requests of the routes that need no token answered 429 after the longest wait.\n"
      "# TYPE cis_public_late_total counter\ncis_public_late_total %llu\n"
      "# HELP cis_public_queue Requests of the routes that need no token waiting their turn now.\n"
      "# TYPE cis_public_queue gauge\ncis_public_queue %u\n",
      s->public_pace.rate, (unsigned long long)atomic_load(&s->public_pace.waits),
      (unsigned long long)atomic_load(&s->public_pace.late), public_queued);
  OUT("# HELP cis_tenant_max_skills Skills one tenant may have installed (0: no limit).\n"
      "# TYPE cis_tenant_max_skills gauge\ncis_tenant_max_skills %u\n"
      "# HELP cis_tenant_max_module_bytes Bytes of the modules one tenant's skills refer to (0: no limit).\n"
      "# TYPE cis_tenant_max_module_bytes gauge\ncis_tenant_max_module_bytes %llu\n"
      "# HELP cis_installs_over_limit_total Installs refused at a tenant's limit.\n"
      "# TYPE cis_installs_over_limit_total counter\ncis_installs_over_limit_total %llu\n"
      "# HELP cis_tenant_max_kv_keys KV keys of all one tenant's skills together (0: no limit).\n"
      "# TYPE cis_tenant_max_kv_keys gauge\ncis_tenant_max_kv_keys %llu\n"
      "# HELP cis_tenant_max_kv_bytes KV bytes of all one tenant's skills together (0: no limit).\n"
      "# TYPE cis_tenant_max_kv_bytes gauge\ncis_tenant_max_kv_bytes %llu\n"
      "# HELP cis_tenant_max_fs_files Nodes of all one tenant's db trees together (0: no limit).\n"
      "# TYPE cis_tenant_max_fs_files gauge\ncis_tenant_max_fs_files %llu\n"
      "# HELP cis_tenant_max_fs_bytes Bytes in files of all one tenant's db trees together (0: no limit).\n"
      "# TYPE cis_tenant_max_fs_bytes gauge\ncis_tenant_max_fs_bytes %llu\n",
      (unsigned)s->skills_cfg.max_skills, (unsigned long long)s->skills_cfg.max_module_bytes,
      LOAD(s->m.installs_over_limit), (unsigned long long)s->skills_cfg.max_kv_keys,
      (unsigned long long)s->skills_cfg.max_kv_bytes, (unsigned long long)s->skills_cfg.max_fs_files,
      (unsigned long long)s->skills_cfg.max_fs_bytes);
#undef LOAD
  pthread_mutex_lock(&s->conn_mu);
  OUT("# HELP cis_connections_open Connections open (refused ones aside).\n# TYPE cis_connections_open gauge\n"
      "cis_connections_open %u\n"
      "# HELP cis_connections_refused_total Connections closed at once for a cap, by cap.\n"
      "# TYPE cis_connections_refused_total counter\n"
      "cis_connections_refused_total{reason=\"max_connections\"} %llu\n"
      "cis_connections_refused_total{reason=\"per_address\"} %llu\n"
      "# HELP cis_connections_slow_total Connections closed for a head or body that came too slowly.\n"
      "# TYPE cis_connections_slow_total counter\n"
      "cis_connections_slow_total{phase=\"head\"} %llu\ncis_connections_slow_total{phase=\"body\"} %llu\n",
      s->nopen, (unsigned long long)s->refused_max, (unsigned long long)s->refused_ip,
      (unsigned long long)s->slow_head, (unsigned long long)s->slow_body);
  pthread_mutex_unlock(&s->conn_mu);
#undef OUT
  if (n >= cap) n = cap - 1; /* the table above is far below 12 KiB with 64 error kinds */
  *len = n;
  return b;
}

/* ------------------------------------------------------------- pool */

/* A job on a worker (pool.c): the route's function. */
static void job_run(cis__pool_job *pj) {
  job *j = (job *)pj;
  j->run(j->s, j);
}

/* The same on the background pool: the CPU time the job used counts in
 * its tenant's share of the workers' pool ("Fair shares of the CPU"), so
 * that a tenant busy installing is seen as busy there too. */
static void admin_run(cis__pool_job *pj) {
  job *j = (job *)pj;
  uint64_t cpu0 = cis__pool_self_cpu_ns();
  j->run(j->s, j);
  uint64_t cpu = cis__pool_self_cpu_ns();
  cis__pool_charge(&j->s->pool, &j->t->owner, cpu > cpu0 ? cpu - cpu0 : 0);
}

/* Whether j is the registry's work (the background pool's), not a call. */
static bool is_admin(const job *j) {
  switch (j->route.kind) {
  case CIS__ROUTE_LIST:
  case CIS__ROUTE_SHOW:
  case CIS__ROUTE_REMOVE:
  case CIS__ROUTE_INSTALL: return true;
  default: return false;
  }
}

/* A job ended on its worker (pool.h's finish): its connection, suspended
 * since the job was queued, is resumed, and the access handler answers
 * (answer_job). A job whose request ended first is freed here. */
static void job_free(job *j) {
  free(j->out);
  pthread_cond_destroy(&j->pj.cv);
  free(j);
}

static void job_finish(cis__pool_job *pj) {
  job *j = (job *)pj;
  cis_server *s = j->s;
  pthread_mutex_lock(&s->pool_mu);
  bool orphan = j->orphaned;
  pthread_mutex_unlock(&s->pool_mu);
  if (orphan) job_free(j);
  else mhd.resume(j->conn); /* j is the connection's from here */
}

/* Under s->pool_mu: queues j for a worker (of the background pool for the
 * registry's work), the worker's wake left in *w for after the unlock.
 * Returns 0, or the status of the refusal: 503 draining, 429 the queue
 * full or the tenant at its cap. */
static unsigned admit(cis_server *s, job *j, cis__pool_wake *w) {
  bool admin = is_admin(j);
  j->s = s;
  j->pj.run = admin ? admin_run : job_run;
  j->pj.finish = job_finish;
  j->pj.owner = admin ? &j->t->admin_owner : &j->t->owner;
  /* A change is a commit (and its syncs) of the shared database: paced
   * per tenant. Reads are not. */
  j->pj.paced = j->route.kind == CIS__ROUTE_INSTALL || j->route.kind == CIS__ROUTE_REMOVE;
  unsigned refused = 0;
  if (atomic_load(&s->draining)) {
    refused = 503;
    atomic_fetch_add(&s->m.rejected_draining, 1);
  } else {
    switch (cis__pool_submit_later(admin ? &s->admin : &s->pool, &j->pj, w)) {
    case CIS__POOL_ADMITTED:
    case CIS__POOL_LANE: break; /* (the inline admission's only) */
    case CIS__POOL_OWNER_FULL: /* --tenant-concurrency, when set */
      refused = 429;
      atomic_fetch_add(&s->m.rejected_tenant, 1);
      break;
    case CIS__POOL_FULL: /* the tenant's queue full, or the calls in flight at their bound */
      refused = 429;
      atomic_fetch_add(&s->m.rejected_full, 1);
      break;
    }
  }
  return refused;
}

/* ------------------------------------------------------------- jobs */

/* The status of a failed invocation: guest faults are the skill's (422),
 * never the server's. */
static unsigned invoke_status(cis_result rc) {
  switch (rc) {
  case CIS_ENOTFOUND: return 404;
  case CIS_EKVDOWN:
  case CIS_EVFSDOWN:
  case CIS_EREGISTRYDOWN: return 503;
  case CIS_ENOMEM:
  case CIS_EIO: return 500;
  default: return 422;
  }
}

static void run_list(cis_server *s, job *j) {
  (void)s;
  cis_skill_info *list = NULL;
  size_t n = 0;
  cis_result rc = cis_skills_list(j->t->skills, &list, &n);
  if (rc != CIS_OK) {
    job_error(j, 500, rc, "the registry could not be read");
    return;
  }
  cJSON *o = cJSON_CreateObject(), *a = o ? cJSON_AddArrayToObject(o, "skills") : NULL;
  for (size_t i = 0; a && i < n; i++) {
    cJSON *e = cJSON_CreateObject();
    if (!e) break;
    cJSON_AddStringToObject(e, "name", list[i].name);
    cJSON_AddStringToObject(e, "version", list[i].version);
    cJSON_AddStringToObject(e, "sha256", list[i].sha256);
    cJSON_AddStringToObject(e, "description", list[i].description);
    cJSON_AddNumberToObject(e, "installed_at", (double)list[i].installed_at);
    /* A skill listed but not loadable (unsigned or untrusted under the
     * signature rule, a stored manifest that no longer parses) says why:
     * it is left out of tools/list, and the operator sees the reason. */
    char *shown = NULL;
    cis_result why = cis_skills_show(j->t->skills, list[i].name, &shown);
    free(shown);
    if (why != CIS_OK && why != CIS_ENOTFOUND) {
      cJSON *r = cJSON_AddObjectToObject(e, "refused");
      cJSON_AddStringToObject(r, "error", cis_errname(why));
      cJSON_AddStringToObject(r, "message", cis_skills_errmsg(j->t->skills));
    }
    cJSON_AddItemToArray(a, e);
  }
  free(list);
  j->out = a ? cJSON_PrintUnformatted(o) : NULL;
  cJSON_Delete(o);
  if (!j->out) {
    job_error(j, 500, CIS_ENOMEM, "out of memory");
    return;
  }
  j->out_len = strlen(j->out);
  j->status = 200;
}

static void not_found(job *j) {
  char msg[128];
  snprintf(msg, sizeof msg, "no skill %s", j->route.name);
  job_error(j, 404, CIS_ENOTFOUND, msg);
}

/* Drops the host's folders from a show: a host mount's source and the
 * host paths the operator granted are the server's business, not its
 * API clients' (whose own installs can have neither). */
static void show_without_host_paths(cJSON *o) {
  cJSON *mounts = cJSON_GetObjectItemCaseSensitive(
      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "permissions"), "fs"), "mounts");
  cJSON *m;
  cJSON_ArrayForEach(m, mounts) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(m, "type");
    if (cJSON_IsString(type) && !strcmp(type->valuestring, "host")) cJSON_DeleteItemFromObjectCaseSensitive(m, "source");
  }
  /* Each granted path as "(hidden)": the grant is still seen, and the
   * field keeps its type. */
  cJSON *hp = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "grants"), "host_paths"), *p;
  cJSON_ArrayForEach(p, hp) {
    if (cJSON_IsString(p)) cJSON_SetValuestring(p, "(hidden)");
  }
}

static void run_show(cis_server *s, job *j) {
  (void)s;
  char *json = NULL;
  cis_result rc = cis_skills_show(j->t->skills, j->route.name, &json);
  if (rc == CIS_ENOTFOUND) return not_found(j);
  /* A skill refused as an invoke would refuse it (a signature) is the
   * skill's 422 with its reason; the store's failure is the server's. */
  if (rc != CIS_OK) return job_error(j, invoke_status(rc), rc, cis_skills_errmsg(j->t->skills));
  cJSON *o = cJSON_Parse(json);
  free(json);
  if (o) show_without_host_paths(o);
  j->out = o ? cJSON_Print(o) : NULL;
  cJSON_Delete(o);
  if (!j->out) return job_error(j, 500, CIS_ENOMEM, "out of memory");
  j->out_len = strlen(j->out);
  j->status = 200;
}

static void run_remove(cis_server *s, job *j) {
  (void)s;
  cis_result rc = cis_skills_remove_ex(j->t->skills, j->route.name, j->purge ? CIS_SKILLS_REMOVE_PURGE : 0);
  if (rc == CIS_ENOTFOUND) return not_found(j);
  if (rc != CIS_OK && j->purge && rc != CIS_EINVAL) {
    /* The detail may name the server's databases: kept for the operator.
     * The skill may be gone with some of its data left: the same request
     * again deletes what is left. */
    fprintf(stderr, "cis serve: tenant %s: remove %s: %s\n", j->t->name, j->route.name,
            cis_skills_errmsg(j->t->skills));
    bool down = rc == CIS_EKVDOWN || rc == CIS_EVFSDOWN || rc == CIS_EREGISTRYDOWN || rc == CIS_ETIMEOUT;
    return job_error(j, down ? 503 : 500, rc,
                     "the skill's data could not all be deleted (its removal may have been done): ask again");
  }
  if (rc != CIS_OK) return job_error(j, 500, rc, "the registry could not be written");
  j->status = 204;
}

/* The index of the manifest's first host mount, or -1 (none, or not a
 * manifest: the install says what is wrong with it). */
static int first_host_mount(const char *manifest, size_t len) {
  cJSON *o = cJSON_ParseWithLength(manifest, len);
  const cJSON *mounts = cJSON_GetObjectItemCaseSensitive(
      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "permissions"), "fs"), "mounts");
  const cJSON *m;
  int i = 0, found = -1;
  cJSON_ArrayForEach(m, mounts) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(m, "type");
    if (cJSON_IsString(type) && !strcmp(type->valuestring, "host")) {
      found = i;
      break;
    }
    i++;
  }
  cJSON_Delete(o);
  return found;
}

static void run_install(cis_server *s, job *j) {
  char *manifest = NULL, *sig = NULL, err[512] = "";
  uint8_t *wasm = NULL;
  size_t mlen = 0, wlen = 0;
  cis_result rc = cis__http_bundle_parse(j->body, j->body_len, s->max_body, &manifest, &mlen, &wasm, &wlen, &sig,
                                         err, sizeof err);
  if (rc != CIS_OK) {
    job_error(j, rc == CIS_ETOOBIG ? 413 : rc == CIS_ENOMEM ? 500 : rc == CIS_EUNSUPPORTED ? 500 : 400, rc, err);
    return;
  }
  /* A host mount is refused before the install looks at the host: its
   * answers (no such folder, outside the skill's) would let a client
   * probe the server's filesystem. */
  int hm = first_host_mount(manifest, mlen);
  if (hm >= 0) {
    char msg[160];
    snprintf(msg, sizeof msg, "permissions.fs.mounts[%d]: a host mount needs the operator's grant, which a skill "
             "installed over HTTP never has", hm);
    job_error(j, 422, CIS_EDENIED, msg);
    free(manifest);
    free(wasm);
    free(sig);
    return;
  }
  /* No grants: a tenant's skill gets no host folder, shared volume or
   * other skill's KV namespace (the install says which field asks). */
  cis_install_options opt;
  memset(&opt, 0, sizeof opt);
  opt.signature = sig;
  opt.signature_len = sig ? strlen(sig) : 0;
  rc = cis_skills_register_ex(j->t->skills, wasm, wlen, manifest, mlen, &opt);
  if (rc == CIS_OK) {
    cJSON *m = cJSON_Parse(manifest), *o = cJSON_CreateObject();
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(m, "name");
    char hex[65] = "";
    cis_sha256_hex(wasm, wlen, hex);
    if (o) {
      cJSON_AddStringToObject(o, "name", cJSON_IsString(name) ? name->valuestring : "");
      cJSON_AddStringToObject(o, "sha256", hex);
    }
    j->out = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    cJSON_Delete(m);
    if (j->out) {
      j->out_len = strlen(j->out);
      j->status = 201;
    } else {
      job_error(j, 500, CIS_ENOMEM, "out of memory");
    }
  } else if (rc == CIS_ENOMEM || rc == CIS_EIO || rc == CIS_EUNSUPPORTED) {
    /* The detail may name the server's folders: kept for the operator. */
    fprintf(stderr, "cis serve: tenant %s: install: %s\n", j->t->name, cis_skills_errmsg(j->t->skills));
    job_error(j, 500, rc, "the skill could not be stored");
  } else {
    /* What the install checks found: the manifest or the module; or the
     * tenant's room (413: its skills or module bytes at their limit). */
    if (rc == CIS_EQUOTA) atomic_fetch_add(&j->s->m.installs_over_limit, 1);
    job_error(j, rc == CIS_EQUOTA ? 413 : 422, rc, cis_skills_errmsg(j->t->skills));
  }
  free(manifest);
  free(wasm);
  free(sig);
}

/* on_instance of a call on the pool: the pool may set the instance's CPU
 * quota while the call runs long (pool.h). */
static bool attach_instance(void *user, cis_instance *inst) {
  job *j = user;
  j->inst = inst;
  cis__pool_attach(&j->s->pool, &j->pj, inst);
  return true;
}

/* ------------------------------------------------------------- inline calls */

static atomic_int *quick_slot(tenant *t, const char *skill) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (const unsigned char *p = (const unsigned char *)skill; *p; p++) h = (h ^ *p) * 16777619u;
  return &t->quick[h % INLINE_SLOTS];
}

/* What a call of the skill taught: a short one makes its skill's calls
 * inline (after any cool-down), one moved for what it did (a store, a
 * wait, its length) sends the next ones to the pool, a long one keeps
 * them there. */
static void quick_learn(job *j, uint64_t ns) {
  atomic_int *q = quick_slot(j->t, j->route.name);
  int v = atomic_load_explicit(q, memory_order_relaxed);
  if (j->moved && j->moved_why != CIS_WAIT_LOAD) v = -INLINE_COOLDOWN;
  else if (ns >= j->s->inline_us * 1000ull) v = v > 0 ? 0 : v;
  else if (v < 1) v++;
  atomic_store_explicit(q, v, memory_order_relaxed);
}

/* on_wait of an inline call: back to the polling thread, which hands the
 * call to a worker; returns there. A call on a worker already: nothing. */
static void inline_wait(void *user, cis_wait why) {
  job *j = user;
  if (!j->co || j->moved) return;
  j->moved = true;
  j->moved_why = why;
  cis__coro_yield(j->co);
}

static void inline_main(void *arg) {
  job *j = arg;
  j->run(j->s, j);
}

/* A moved inline call, on its worker: taken up where it stopped. */
static void job_resume(cis__pool_job *pj) {
  job *j = (job *)pj;
  if (j->inst) cis__pool_attach(&j->s->pool, pj, j->inst); /* its quota, should it run long */
  cis__coro_resume(j->co); /* it ends: a moved call yields no more */
  cis__coro_free(j->co);
  j->co = NULL;
}

/* A call's figures as a JSON object, written here: every answer has a
 * dozen numbers, and cJSON prints each through printf and reads it back
 * with sscanf to check it (some 5% of a short call's time over HTTP).
 * Counts exact, times in ms to the nanosecond. */
static void stats_json(cis_result rc, const cis_invoke_stats *st, char *out, size_t cap) {
  char fuel[48] = "";
  if (cis__http_fuel_limited(rc, st)) snprintf(fuel, sizeof fuel, "\"fuel_left\":%" PRIu64 ",", st->fuel_left);
  snprintf(out, cap,
           "{\"wall_ms\":%" PRIu64 ".%06" PRIu64 ",\"instantiate_ms\":%" PRIu64 ".%06" PRIu64 ",%s"
           "\"kv_gets\":%" PRIu32 ",\"kv_sets\":%" PRIu32 ",\"kv_deletes\":%" PRIu32 ",\"ai_calls\":%" PRIu32
           ",\"ai_tokens\":%" PRIu64 ",\"http_calls\":%" PRIu32 ",\"log_lines\":%" PRIu32
           ",\"memory_peak_bytes\":%" PRIu64 "}",
           st->wall_ns / 1000000u, st->wall_ns % 1000000u, st->instantiate_ns / 1000000u,
           st->instantiate_ns % 1000000u, fuel, st->kv_gets, st->kv_sets, st->kv_deletes, st->ai_calls,
           (uint64_t)st->ai_tokens, st->http_calls, st->log_lines, (uint64_t)st->memory_peak);
}

static void run_invoke(cis_server *s, job *j) {
  cis_invoke_options opt = {.tenant = j->t->name, .on_instance = attach_instance, .on_instance_user = j};
  if (j->co) {
    opt.on_wait = inline_wait;
    opt.on_wait_user = j;
    opt.wait_after_us = s->inline_us;
  }
  cis_invoke_result res;
  uint64_t t0 = cis__now_ns();
  cis_result rc = cis_skills_invoke(j->t->skills, j->route.name, j->body, j->body_len, &opt, &res);
  record_call(s, rc, cis__now_ns() - t0, &res);
  /* The guest's part: a first load in this thread's cache (once per
   * thread) is no sign of a long skill, and moves an inline call anyway. */
  quick_learn(j, res.stats.wall_ns);
  if (rc == CIS_ENOTFOUND && res.stage == CIS_STAGE_LOAD) {
    cis_invoke_result_free(&res);
    return not_found(j);
  }
  /* A malformed input is the client's (400); an output the guest got
   * wrong, the same code in collect, stays the skill's (422). A deadline
   * that passed before the guest ran (a registry read, the wait for KV's
   * lock or a connection) is the server's being busy (503), not the
   * skill's fault. */
  j->status = rc == CIS_OK                                       ? 200
              : rc == CIS_EJSON && res.stage == CIS_STAGE_GRANT ? 400
              : rc == CIS_ETIMEOUT && res.stage != CIS_STAGE_NONE && res.stage < CIS_STAGE_RUN ? 503
                                                                : invoke_status(rc);
  if (j->status >= 500) failed_said(s, j->t->name, "invoke", j->route.name, &res);
  cJSON *o = cJSON_CreateObject();
  if (o) {
    if (rc == CIS_OK && res.output) cJSON_AddItemToObject(o, "output", cJSON_CreateRaw(res.output));
    else cJSON_AddNullToObject(o, "output");
    if (rc != CIS_OK) {
      cJSON *e = cJSON_AddObjectToObject(o, "error");
      cJSON_AddStringToObject(e, "type", cis_errname(rc));
      /* A backend's own words may name hosts or files: not the client's. */
      cJSON_AddStringToObject(e, "message", j->status >= 500 ? cis_strerror(rc) : res.error);
    }
    cJSON_AddStringToObject(o, "logs", res.logs ? res.logs : "");
    char st[512];
    stats_json(rc, &res.stats, st, sizeof st);
    cJSON_AddRawToObject(o, "stats", st);
    if (rc == CIS_EEXIT || res.exit_code) cJSON_AddNumberToObject(o, "exit_code", res.exit_code);
  }
  j->out = o ? cJSON_PrintUnformatted(o) : NULL;
  cJSON_Delete(o);
  cis__calls_add(j->t->calls, j->route.name, j->status, &res);
  cis_invoke_result_free(&res);
  if (!j->out) return job_error(j, 500, CIS_ENOMEM, "out of memory");
  j->out_len = strlen(j->out);
}

/* ------------------------------------------------------------- MCP */

/* A JSON-RPC error reply without an id, for refusals of the transport. */
static void mcp_error(job *j, unsigned status, int code, const char *message) {
  cJSON *o = cJSON_CreateObject(), *e = NULL;
  if (o) {
    cJSON_AddStringToObject(o, "jsonrpc", "2.0");
    cJSON_AddNullToObject(o, "id");
    e = cJSON_AddObjectToObject(o, "error");
  }
  if (e) {
    cJSON_AddNumberToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", message);
    if (code == -32022) {
      cJSON *d = cJSON_AddObjectToObject(e, "data");
      if (d)
        cJSON_AddItemToObject(d, "supported", cJSON_CreateStringArray(cis__mcp_versions, (int)cis__mcp_nversions));
    }
  }
  free(j->out);
  j->out = e ? cJSON_PrintUnformatted(o) : NULL;
  cJSON_Delete(o);
  j->out_len = j->out ? strlen(j->out) : 0;
  j->status = status;
  j->ctype = "application/json";
}

/* The session named id of tenant t, held (users + 1), or NULL. Sessions
 * are kept per tenant, under its own lock: one tenant's MCP traffic never
 * waits for another's. */
static mcp_session *session_take(cis_server *s, const char *id, tenant *t) {
  if (strlen(id) != 64) return NULL;
  pthread_mutex_lock(&t->sess_mu);
  mcp_session *x = t->sessions;
  /* Compared in constant time: a session id is a credential of sorts. */
  for (; x; x = x->next)
    if (cis__http_equal_ct(x->id, id, 64)) break;
  if (x) {
    x->users++;
    x->used = atomic_fetch_add(&s->session_clock, 1) + 1;
  }
  pthread_mutex_unlock(&t->sess_mu);
  return x;
}

static void session_free(mcp_session *x) {
  cis_mcp_free(x->m);
  free(x);
}

static void session_put(cis_server *s, mcp_session *x) {
  (void)s;
  pthread_mutex_lock(&x->t->sess_mu);
  bool last = --x->users == 0 && x->ended;
  pthread_mutex_unlock(&x->t->sess_mu);
  if (last) session_free(x);
}

/* Takes the least recently used idle session of any tenant out of its
 * list, or none. Only when the server is at its cap of sessions, at an
 * initialize; s->mu makes such drops one at a time. */
static mcp_session *session_drop_oldest(cis_server *s) {
  tenant *who = NULL;
  uint64_t oldest = UINT64_MAX;
  for (tenant *t = atomic_load(&s->tenants); t; t = t->next) {
    pthread_mutex_lock(&t->sess_mu);
    for (mcp_session *x = t->sessions; x; x = x->next)
      if (!x->users && x->used < oldest) oldest = x->used, who = t;
    pthread_mutex_unlock(&t->sess_mu);
  }
  if (!who) return NULL;
  mcp_session *drop = NULL;
  pthread_mutex_lock(&who->sess_mu);
  for (mcp_session **p = &who->sessions; *p; p = &(*p)->next)
    if (!(*p)->users && (*p)->used == oldest) { /* still idle, not used since */
      drop = *p;
      *p = drop->next;
      atomic_fetch_sub(&s->nsessions, 1);
      break;
    }
  pthread_mutex_unlock(&who->sess_mu);
  return drop;
}

/* Keeps session x (made by an initialize that succeeded), dropping the
 * least recently used idle one when at the cap. */
static void session_keep(cis_server *s, mcp_session *x) {
  mcp_session *drop = NULL;
  if (atomic_load(&s->nsessions) >= s->max_sessions) {
    pthread_mutex_lock(&s->mu);
    if (atomic_load(&s->nsessions) >= s->max_sessions) drop = session_drop_oldest(s);
    pthread_mutex_unlock(&s->mu);
  }
  tenant *t = x->t;
  pthread_mutex_lock(&t->sess_mu);
  x->used = atomic_fetch_add(&s->session_clock, 1) + 1;
  x->next = t->sessions;
  t->sessions = x;
  atomic_fetch_add(&s->nsessions, 1);
  pthread_mutex_unlock(&t->sess_mu);
  if (drop) session_free(drop);
}

/* Ends session id of tenant t; false when there is none. */
static bool session_end(cis_server *s, const char *id, tenant *t) {
  if (strlen(id) != 64) return false;
  mcp_session *drop = NULL;
  pthread_mutex_lock(&t->sess_mu);
  for (mcp_session **p = &t->sessions; *p; p = &(*p)->next)
    if (cis__http_equal_ct((*p)->id, id, 64)) {
      drop = *p;
      *p = drop->next;
      atomic_fetch_sub(&s->nsessions, 1);
      break;
    }
  /* A session in use is freed by its last user (session_put). */
  bool now = drop && !drop->users;
  if (drop && !now) drop->ended = true;
  pthread_mutex_unlock(&t->sess_mu);
  if (now) session_free(drop);
  return drop != NULL;
}

/* The JSON-RPC error code of a reply, or 0 for a result. */
static int reply_error_code(const char *text) {
  cJSON *o = cJSON_Parse(text);
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "code");
  int code = cJSON_IsNumber(c) ? c->valueint : 0;
  cJSON_Delete(o);
  return code;
}

/* One message through handle m; the reply becomes the job's answer. */
static void mcp_exchange(job *j, cis_mcp *m, bool stateless) {
  char *out = NULL;
  size_t len = 0;
  if (cis_mcp_handle(m, j->body, j->body_len, &out, &len) != CIS_OK)
    return mcp_error(j, 500, -32603, "out of memory");
  if (!out && j->peek.is_request) {
    /* A request cancelled while it ran: no response is sent for it, so its
     * stream (the client accepts one) ends without a message. */
    j->out = strdup("");
    j->status = j->out ? 200 : 500;
    j->ctype = "text/event-stream";
    return;
  }
  if (!out) { /* a notification or a response: accepted */
    j->status = 202;
    return;
  }
  j->out = out;
  j->out_len = len;
  j->ctype = "application/json";
  j->status = 200;
  if (stateless) { /* 2026-07-28 carries these errors in the status too */
    int code = reply_error_code(out);
    if (code == -32601) j->status = 404;
    else if (code == -32022 || code == -32700 || code == -32600) j->status = 400;
  }
}

/* An MCP tools/call that ran: in the tenant's recent calls, with the
 * status an HTTP invoke of it would have had. */
static void mcp_called(void *user, const char *tool, const cis_invoke_result *res) {
  tenant *t = user;
  unsigned status = res->status == CIS_OK ? 200 : invoke_status(res->status);
  record_call(t->s, res->status, res->stats.wall_ns, res);
  if (status >= 500) failed_said(t->s, t->name, "MCP tools/call", tool, res);
  cis__calls_add_via(t->calls, tool, "mcp", status, res);
}

/* A skill an MCP tools/list left out (unsigned under --require-signature,
 * ...): the operator's log says which and why. */
static void mcp_skipped(void *user, const char *tool, cis_result rc, const char *why) {
  tenant *t = user;
  fprintf(stderr, "cis serve: tenant %s: warn: MCP tools/list leaves out %s: %s: %s\n", t->name, tool,
          cis_errname(rc), why);
}

static cis_result mcp_new(tenant *t, cis_mcp **m) {
  cis_mcp_config c = {.skills = t->skills,
                      .tenant = t->name,
                      .on_call = mcp_called,
                      .on_call_user = t,
                      .on_skip = mcp_skipped,
                      .on_skip_user = t};
  return cis_mcp_new(&c, m);
}

/* POST /mcp: the streamable HTTP transport, JSON responses only. */
static void run_mcp(cis_server *s, job *j) {
  const cis__mcp_peek *p = &j->peek;
  if (!p->parsed) return mcp_error(j, 400, -32700, "Parse error");
  if (j->proto[0] && !cis__http_mcp_version_known(j->proto))
    return mcp_error(j, 400, -32022, "Unsupported protocol version");
  /* 2026-07-28: no sessions, the version in every request's _meta, which
   * the header must match. */
  bool modern = !strcmp(j->proto, CIS_MCP_LATEST_VERSION) || !strcmp(p->meta_version, CIS_MCP_LATEST_VERSION);
  if (modern) {
    if (strcmp(j->proto, p->meta_version) != 0 && (p->is_request || p->meta_version[0]))
      return mcp_error(j, 400, -32020, "HeaderMismatch: MCP-Protocol-Version and params._meta differ");
    if (p->method[0] && strcmp(j->mcp_method, p->method) != 0)
      return mcp_error(j, 400, -32020, "HeaderMismatch: Mcp-Method is not the body's method");
    cis_mcp *m = NULL;
    if (mcp_new(j->t, &m) != CIS_OK) {
      cis_mcp_free(m);
      return mcp_error(j, 500, -32603, "out of memory");
    }
    mcp_exchange(j, m, true);
    cis_mcp_free(m);
    return;
  }
  if (p->is_initialize) {
    mcp_session *x = calloc(1, sizeof *x);
    if (!x || mcp_new(j->t, &x->m) != CIS_OK || cis__http_random(x->id, 32) != CIS_OK) {
      if (x) cis_mcp_free(x->m);
      free(x);
      return mcp_error(j, 500, -32603, "cannot make a session");
    }
    uint8_t raw[32]; /* 32 random bytes, as hex */
    memcpy(raw, x->id, sizeof raw);
    cis__hex(raw, sizeof raw, x->id);
    x->t = j->t;
    mcp_exchange(j, x->m, false);
    if (j->status == 200 && j->out && reply_error_code(j->out) == 0) {
      snprintf(j->new_session, sizeof j->new_session, "%s", x->id);
      j->version_hdr = cis_mcp_negotiated_version(x->m);
      session_keep(s, x);
    } else {
      session_free(x);
    }
    return;
  }
  if (!j->session[0]) return mcp_error(j, 400, -32600, "Bad Request: no Mcp-Session-Id (initialize first)");
  mcp_session *x = session_take(s, j->session, j->t);
  if (!x) return mcp_error(j, 404, -32600, "Session not found");
  const char *agreed = cis_mcp_negotiated_version(x->m);
  if (j->proto[0] && agreed && strcmp(j->proto, agreed) != 0)
    mcp_error(j, 400, -32600, "Bad Request: MCP-Protocol-Version is not the session's");
  else mcp_exchange(j, x->m, false);
  session_put(s, x);
}

/* ------------------------------------------------------------- requests */

static const char *header(struct MHD_Connection *c, const char *name) {
  return mhd.lookup(c, MHD_HEADER_KIND, name);
}

/* Turns j's JSON answer into one SSE event ("event: message", each line
 * of it a "data:" line, then the blank line that ends the event and the
 * stream). Out of memory, the answer stays JSON. */
static void sse_event(job *j) {
  size_t lines = 1;
  for (size_t i = 0; i < j->out_len; i++) lines += j->out[i] == '\n';
  char *e = malloc(16 + j->out_len + lines * 7 + 2), *q = e;
  if (!e) return;
  memcpy(q, "event: message\n", 15);
  q += 15;
  for (const char *p = j->out, *end = j->out + j->out_len;;) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
    memcpy(q, "data: ", 6);
    memcpy(q + 6, p, n);
    q += 6 + n;
    *q++ = '\n';
    if (!nl || nl + 1 == end) break; /* a final newline makes no empty line */
    p = nl + 1;
  }
  *q++ = '\n';
  free(j->out);
  j->out = e;
  j->out_len = (size_t)(q - e);
  j->ctype = "text/event-stream";
}

/* GET / and /ui/{file}: the operator page, under a policy that lets it
 * load only its own files and talk only to this server. */
static enum MHD_Result reply_page(cis_server *s, struct MHD_Connection *c, const char *name) {
  const cis__page_asset *a = cis__page_find(name);
  if (!a) return reply_error(s, c, 404, CIS_ENOTFOUND, "no such route", NULL);
  return reply(s, c, 200, a->ctype, a->data, a->len, "Content-Security-Policy",
               "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
               "X-Content-Type-Options", "nosniff", "Referrer-Policy", "no-referrer", NULL);
}

/* GET /v1/calls?limit=N: the tenant's recent calls, newest first. */
static enum MHD_Result reply_calls(cis_server *s, struct MHD_Connection *c, tenant *t) {
  unsigned limit;
  if (cis__calls_limit(mhd.lookup(c, MHD_GET_ARGUMENT_KIND, "limit"), &limit) != 0)
    return reply_error(s, c, 400, CIS_EINVAL, "limit is a whole number from 1 (at most 64 are kept)", NULL);
  size_t len;
  char *body = cis__calls_json(t->calls, limit, &len);
  if (!body) return reply_error(s, c, 500, CIS_ENOMEM, "out of memory", NULL);
  enum MHD_Result ok = reply(s, c, 200, "application/json", body, len, NULL);
  free(body);
  return ok;
}

/* Whether rq may have its turn now: a token not in the store's cache
 * looked up, or a request with no token the server knows refused. A
 * bucket of --token-lookup-rate a second. Each lookup is a read of the
 * registry's database (a round trip on PostgreSQL) on the polling
 * thread, by a client that needs no token to ask, and each refusal an
 * answer such a client's next request follows at once: without the
 * bucket a client guessing tokens, or sending none, costs every tenant
 * (bench/serve_tenants.sh -s forged, -s notoken), and no tenant's share
 * can be charged with it. Tokens in use stay in the cache and never
 * wait for it. */
static bool token_turn(cis_server *s, request *rq) { return cis__pacer_turn(&s->token_pace, &rq->pace); }

typedef struct token_ctx {
  cis_server *s;
  request *rq;
} token_ctx;

/* cis__tokens_check_paced's may_look_up: rq's turn (token_turn). */
static bool token_lookup_allowed(void *ctx) {
  token_ctx *tc = ctx;
  bool ok = token_turn(tc->s, tc->rq);
  if (ok) atomic_fetch_add_explicit(&tc->s->m.token_lookups, 1, memory_order_relaxed);
  return ok;
}

/* Parks rq until pacer p gives it its turn, or its longest wait passed:
 * its connection suspended, holding no thread. A client that sends
 * tokens no one was given, or none, then waits its turn, one per
 * connection, rather than being answered at once and sending the next:
 * at most p's rate of its requests a second reach the database or an
 * answer. */
static enum MHD_Result pace_wait(cis__pacer *p, struct MHD_Connection *c, request *rq) {
  mhd.suspend(c); /* before it is queued: the pacer's resume comes after */
  cis__pacer_wait(p, &rq->pace, c);
  return MHD_YES;
}

/* The pacers' way back to a waiting request (pace.h). */
static void pace_resume(void *conn) { mhd.resume(conn); }

/* Stops the pacers: those still waiting are resumed (429) before the
 * listeners stop (libmicrohttpd must not stop with a connection
 * suspended). */
static void pacers_stop(cis_server *s) {
  cis__pacer_stop(&s->token_pace);
  cis__pacer_stop(&s->public_pace);
}

/* The token of rq's Authorization header (one header, "Bearer " and the
 * token, spaces around it dropped) into *tok and *n; false when it has
 * none of that shape. The value with its real length: a NUL in it ends
 * no token early. */
static bool bearer_of(const request *rq, const char **tok, size_t *n) {
  const cis__http_head *h = &rq->head;
  const char *a = h->auth;
  if (!a || h->n_auth != 1 || h->auth_bad || h->auth_len < 7 || strncasecmp(a, "Bearer ", 7) != 0) return false;
  size_t len = h->auth_len - 7;
  a += 7;
  while (len && *a == ' ') a++, len--;
  while (len && a[len - 1] == ' ') len--;
  *tok = a;
  *n = len;
  return true;
}

static bool no_lookup(void *ctx) {
  (void)ctx;
  return false;
}

/* Whether rq's answer, which needs no token, waits for its turn of p
 * first: a request with no token the server has cached takes one, so
 * that a client flooding the routes that need none, or asking for what
 * is not there, gets p's rate of answers a second and costs the tenants
 * no more (bench/serve_tenants.sh -s public). A cached token (a tenant's
 * client, an operator's monitoring with one) never waits: nothing is
 * looked up for it here. */
static bool answer_waits(cis_server *s, cis__pacer *p, request *rq) {
  if (!p->rate || rq->pace.turned) return false;
  const char *tok;
  size_t n;
  char who[CIS_TOKEN_NAME_MAX + 1];
  bool paced;
  if (rq->pace.state != CIS__PACE_USE && bearer_of(rq, &tok, &n) &&
      cis__tokens_check_paced(s->tokens, tok, n, who, sizeof who, no_lookup, NULL, &paced) == CIS_OK)
    return false;
  return !cis__pacer_turn(p, &rq->pace);
}

/* The tenant the request's bearer token names into out, or false;
 * *down when the token store's database could not be read, *paced when
 * the token was not looked up: it waits its turn (pace_wait). */
static bool authenticate(cis_server *s, request *rq, char *out, size_t cap, bool *down, bool *paced) {
  const char *a;
  size_t n;
  *down = *paced = false;
  if (!bearer_of(rq, &a, &n)) return false;
  token_ctx tc = {s, rq};
  cis_result rc = cis__tokens_check_paced(s->tokens, a, n, out, cap, token_lookup_allowed, &tc, paced);
  *down = rc == CIS_EREGISTRYDOWN;
  return rc == CIS_OK;
}

/* Fills job j for the route (the request's body, its headers); sets
 * j->run, or answers at once (a malformed input, DELETE /mcp) and leaves
 * it NULL. */
static enum MHD_Result build_job(cis_server *s, struct MHD_Connection *c, request *rq, const cis__route *route,
                                 tenant *t, job *j) {
  j->t = t;
  j->route = *route;
  j->body = rq->buf ? rq->buf : "";
  j->body_len = rq->len;
  j->ctype = "application/json";
  switch (route->kind) {
  case CIS__ROUTE_LIST: j->run = run_list; break;
  case CIS__ROUTE_SHOW: j->run = run_show; break;
  case CIS__ROUTE_REMOVE:
    if (cis__http_flag(mhd.lookup(c, MHD_GET_ARGUMENT_KIND, "purge"), &j->purge) != 0)
      return reply_error(s, c, 400, CIS_EINVAL, "purge is true, false, 1 or 0", NULL);
    j->run = run_remove;
    break;
  case CIS__ROUTE_INSTALL: j->run = run_install; break;
  case CIS__ROUTE_INVOKE:
    if (!rq->len) {
      j->body = "{}";
      j->body_len = 2;
    }
    j->run = run_invoke;
    break;
  case CIS__ROUTE_MCP: {
    const char *pv = header(c, "MCP-Protocol-Version"), *sid = header(c, "Mcp-Session-Id");
    snprintf(j->proto, sizeof j->proto, "%s", pv ? pv : "");
    snprintf(j->session, sizeof j->session, "%s", sid ? sid : "");
    const char *mm = header(c, "Mcp-Method");
    snprintf(j->mcp_method, sizeof j->mcp_method, "%s", mm ? mm : "");
    /* A client that takes only an event stream gets its response as one
     * SSE event; one that takes JSON too gets JSON, the simpler. */
    const char *acc = header(c, "Accept");
    j->sse = acc && strcasestr(acc, "text/event-stream") && !strcasestr(acc, "application/json");
    cis__http_mcp_peek(j->body, j->body_len, &j->peek);
    j->run = run_mcp;
    break;
  }
  case CIS__ROUTE_MCP_END: {
    const char *sid = header(c, "Mcp-Session-Id");
    if (!sid) return reply_error(s, c, 400, CIS_EINVAL, "no Mcp-Session-Id", NULL);
    if (!session_end(s, sid, t)) return reply_error(s, c, 404, CIS_ENOTFOUND, "no such session", NULL);
    return reply(s, c, 204, NULL, NULL, 0, NULL);
  }
  default: return reply_error(s, c, 404, CIS_ENOTFOUND, "no such route", NULL);
  }
  return MHD_YES;
}

static enum MHD_Result answer_job(cis_server *s, struct MHD_Connection *c, request *rq);
static enum MHD_Result answer_done_job(cis_server *s, struct MHD_Connection *c, request *rq);

/* This polling thread's meter (meter.h): each polling thread belongs to
 * one server's daemon, so a thread-local one is that server's. */
static _Thread_local cis__poll_meter poll_meter;

static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return 0;
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Charges tenant t with what the polling thread spent on rq so far: the
 * token's check, the routing, the job's set-up, and its share of the
 * thread's work around requests (rq->polled: its connection, head and
 * answer). A request's handling is its tenant's work as its call is: a
 * tenant sending requests that cost little each (calls of skills it does
 * not have, 404 from memory) would otherwise be seen using almost nothing
 * while it keeps the polling threads busy, and never go over its share
 * (bench/serve_tenants.sh -s absent). An inline call's charge starts at
 * rq->began instead. */
static void charge_handling(cis_server *s, tenant *t, const request *rq) {
  uint64_t now = cis__now_ns(), ns = now > rq->began ? now - rq->began : 0;
  cis__poll_meter_timed(&poll_meter, ns);
  cis__pool_charge(&s->pool, &t->owner, ns + rq->polled);
}

/* Runs job j now, on this polling thread, on a stack of its own; answers
 * at once when it ends here, or suspends the connection and hands the
 * call to a worker when it moves (inline_wait). False when the pool does
 * not admit it inline (work waits, a cap) or no stack could be had: the
 * caller queues it as usual. */
static bool run_inline(cis_server *s, struct MHD_Connection *c, request *rq, job *j, enum MHD_Result *ok) {
  j->s = s;
  j->pj.run = job_resume;
  j->pj.finish = job_finish;
  j->pj.owner = &j->t->owner;
  if (atomic_load(&s->draining)) return false;
  if (!(j->co = cis__coro_new(inline_main, j))) return false;
  if (cis__pool_enter_inline(&s->pool, &j->pj) != CIS__POOL_ADMITTED) {
    cis__coro_free(j->co);
    j->co = NULL;
    return false;
  }
  j->pj.cpu0 = rq->began; /* its request's handling here is charged with it (charge_handling) */
  cis__pool_charge(&s->pool, j->pj.owner, rq->polled);
  rq->job = j;
  if (cis__coro_resume(j->co)) { /* it ended here */
    cis__coro_free(j->co);
    j->co = NULL;
    cis__poll_meter_timed(&poll_meter, cis__pool_leave_inline(&s->pool, &j->pj));
    *ok = answer_done_job(s, c, rq);
    return true;
  }
  /* It waits, or runs long: a worker takes it up (job_resume) and its end
   * resumes the connection, suspended first so the resume comes after. */
  j->conn = c;
  mhd.suspend(c);
  cis__pool_wake w = {0};
  pthread_mutex_lock(&s->pool_mu);
  uint64_t ran = cis__pool_continue_later(&s->pool, &j->pj, j->moved_why, &w);
  pthread_mutex_unlock(&s->pool_mu);
  cis__pool_wake_now(&w);
  cis__poll_meter_timed(&poll_meter, ran);
  *ok = MHD_YES;
  return true;
}

static enum MHD_Result handle(cis_server *s, struct MHD_Connection *c, const char *url, const char *method,
                              request *rq) {
  if (atomic_load(&s->draining)) {
    atomic_fetch_add(&s->m.rejected_draining, 1);
    return reply_error(s, c, 503, CIS_ESTATE, "the server is shutting down", "Connection", "close", NULL);
  }
  rq->began = cis__now_ns();
  cis__route route;
  int st = cis__http_route(method, url, &route);
  /* A browser page must not reach /mcp through DNS rebinding: a request
   * that says where it comes from is refused (API clients send none). */
  bool from_page = !st && (route.kind == CIS__ROUTE_MCP || route.kind == CIS__ROUTE_MCP_END) && header(c, "Origin");
  /* Refusals given before a token is read take a turn as a 401 does, and
   * the routes that need no token one of their own pacer. */
  if ((st || from_page) && answer_waits(s, &s->token_pace, rq)) return pace_wait(&s->token_pace, c, rq);
  if (!st && (route.kind == CIS__ROUTE_HEALTH || route.kind == CIS__ROUTE_METRICS || route.kind == CIS__ROUTE_PAGE) &&
      answer_waits(s, &s->public_pace, rq))
    return pace_wait(&s->public_pace, c, rq);
  if (st == 404) return reply_error(s, c, 404, CIS_ENOTFOUND, "no such route", NULL);
  if (st == 405) return reply_error(s, c, 405, CIS_EINVAL, "method not allowed", "Allow", route.allow, NULL);
  if (route.kind == CIS__ROUTE_HEALTH) {
    if (atomic_load(&s->store_down))
      return reply(s, c, 200, "application/json", "{\"status\":\"degraded\"}", 21, NULL);
    return reply(s, c, 200, "application/json", "{\"status\":\"ok\"}", 15, NULL);
  }
  if (route.kind == CIS__ROUTE_METRICS) {
    size_t len;
    char *text = metrics_text(s, &len);
    if (!text) return reply_error(s, c, 500, CIS_ENOMEM, "out of memory", NULL);
    enum MHD_Result ok = reply(s, c, 200, "text/plain; version=0.0.4", text, len, NULL);
    free(text);
    return ok;
  }
  if (route.kind == CIS__ROUTE_PAGE) return reply_page(s, c, route.name);
  if (from_page)
    return reply_error(s, c, 403, CIS_EDENIED, "requests from web pages (Origin) are not served", NULL);
  char who[CIS_TOKEN_NAME_MAX + 1];
  bool down, paced, authed = authenticate(s, rq, who, sizeof who, &down, &paced);
  if (!authed && down)
    return reply_error(s, c, 503, CIS_EREGISTRYDOWN, "the registry database is unavailable", NULL);
  /* A refusal takes a turn too, unless its lookup took one. */
  if (!authed && (paced || (!rq->pace.turned && !token_turn(s, rq)))) return pace_wait(&s->token_pace, c, rq);
  if (!authed)
    return reply_error(s, c, 401, CIS_EDENIED, "a valid bearer token is needed", "WWW-Authenticate",
                       "Bearer realm=\"cis\"", NULL);
  tenant *t = tenant_get(s, who);
  if (!t) return reply_error(s, c, 500, CIS_EIO, "the tenant's registry could not be opened", NULL);
  if (rq->too_big) {
    char msg[96];
    snprintf(msg, sizeof msg, "the body is larger than %zu bytes", s->max_body);
    enum MHD_Result ok = reply_error(s, c, 413, CIS_ETOOBIG, msg, "Connection", "close", NULL);
    charge_handling(s, t, rq);
    return ok;
  }
  if (route.kind == CIS__ROUTE_CALLS) {
    enum MHD_Result ok = reply_calls(s, c, t);
    charge_handling(s, t, rq);
    return ok;
  }
  job *jp = calloc(1, sizeof *jp);
  if (!jp) return reply_error(s, c, 500, CIS_ENOMEM, "out of memory", NULL);
  pthread_cond_init(&jp->pj.cv, NULL);
  enum MHD_Result ok = build_job(s, c, rq, &route, t, jp);
  if (!jp->run) { /* answered already (400, 404): no job */
    job_free(jp);
    charge_handling(s, t, rq);
    return ok;
  }
  if (jp->run == run_invoke && s->inline_us &&
      atomic_load_explicit(quick_slot(t, jp->route.name), memory_order_relaxed) > 0) {
    enum MHD_Result ok2;
    if (run_inline(s, c, rq, jp, &ok2)) return ok2;
  }
  if (jp->run == run_mcp && jp->peek.parsed && !jp->peek.is_request) {
    /* A notification (or a client's response) runs no guest: handled on
     * the connection's thread, so that a notifications/cancelled reaches
     * its call even while the tenant's calls fill its cap or the queue. */
    jp->s = s;
    run_mcp(s, jp);
    jp->refused = 0;
    jp->pj.done = true;
    rq->job = jp;
    charge_handling(s, t, rq);
    return answer_job(s, c, rq);
  }
  /* The connection waits, suspended, holding no thread: the worker that
   * ends the job resumes it. Suspended before the job is queued, so that
   * the resume can only come after. */
  jp->conn = c;
  rq->job = jp;
  mhd.suspend(c);
  cis__pool_wake w = {0};
  pthread_mutex_lock(&s->pool_mu);
  jp->refused = admit(s, jp, &w);
  pthread_mutex_unlock(&s->pool_mu);
  cis__pool_wake_now(&w);
  charge_handling(s, t, rq);
  if (jp->refused) mhd.resume(c); /* answered at the next call */
  return MHD_YES;
}

/* The answer of the request's job, once it ended (or was refused); the
 * job is freed. */
static enum MHD_Result answer_job(cis_server *s, struct MHD_Connection *c, request *rq) {
  job *jp = rq->job;
  pthread_mutex_lock(&s->pool_mu);
  bool done = jp->refused || jp->pj.done;
  pthread_mutex_unlock(&s->pool_mu);
  if (!done) return MHD_YES; /* not resumed by its job: cannot happen */
  return answer_done_job(s, c, rq);
}

/* The same, for a job that ended on this thread (no other wrote it). */
static enum MHD_Result answer_done_job(cis_server *s, struct MHD_Connection *c, request *rq) {
  job *jp = rq->job;
  job j = *jp;
  enum MHD_Result ok;
  unsigned refused = j.refused;
  if (refused == 503) ok = reply_error(s, c, 503, CIS_ESTATE, "the server is shutting down", "Connection", "close", NULL);
  else if (refused == 429)
    ok = reply_error(s, c, 429, CIS_ESTATE, "too many calls in flight; retry later", "Retry-After", "1", NULL);
  else {
    if (j.sse && j.status == 200 && j.out && j.out_len) sse_event(&j);
    ok = reply(s, c, j.status, j.out ? j.ctype : NULL, j.out, j.out ? j.out_len : 0, "Mcp-Session-Id",
               j.new_session[0] ? j.new_session : NULL, "MCP-Protocol-Version", j.version_hdr, NULL);
  }
  jp->out = j.out; /* sse_event may have replaced it */
  rq->job = NULL;
  job_free(jp);
  return ok;
}

/* ------------------------------------------------------------- connections */

/* Whether two client addresses are the same host (the port aside). */
static bool same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
  if (a->ss_family != b->ss_family) return false;
  if (a->ss_family == AF_INET)
    return !memcmp(&((const struct sockaddr_in *)a)->sin_addr, &((const struct sockaddr_in *)b)->sin_addr,
                   sizeof(struct in_addr));
  if (a->ss_family == AF_INET6)
    return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &((const struct sockaddr_in6 *)b)->sin6_addr,
                   sizeof(struct in6_addr));
  return false;
}

/* MHD_OPTION_NOTIFY_CONNECTION: a connection is listed when it starts,
 * and refused at once (its socket shut down, counted by reason) when it
 * would pass the global cap or its address's; it leaves the list when it
 * closes. A linear count of the address's connections: the list holds
 * at most the global cap plus those being refused. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode what) {
  cis_server *s = cls;
  if (what == MHD_CONNECTION_NOTIFY_CLOSED) {
    conn_watch *w = *socket_context;
    if (!w) return;
    pthread_mutex_lock(&s->conn_mu);
    if (w->prev) w->prev->next = w->next;
    else s->conns = w->next;
    if (w->next) w->next->prev = w->prev;
    if (!w->refused) s->nopen--;
    pthread_mutex_unlock(&s->conn_mu);
    free(w);
    *socket_context = NULL;
    return;
  }
  if (what != MHD_CONNECTION_NOTIFY_STARTED) return;
  conn_watch *w = calloc(1, sizeof *w);
  if (!w) return; /* not watched: MHD's own limits still hold */
  const union MHD_ConnectionInfo *fi = mhd.connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
  const union MHD_ConnectionInfo *ai = mhd.connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  w->fd = fi ? fi->connect_fd : -1;
  if (ai && ai->client_addr)
    memcpy(&w->addr, ai->client_addr,
           ai->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
  w->phase = CONN_HEAD;
  w->since = cis__now_ns();
  pthread_mutex_lock(&s->conn_mu);
  unsigned same = 0;
  for (conn_watch *x = s->conns; x; x = x->next) same += !x->refused && same_host(&x->addr, &w->addr);
  if (s->nopen >= s->max_conn) {
    w->refused = true;
    s->refused_max++;
  } else if (same >= s->per_ip) {
    w->refused = true;
    s->refused_ip++;
  } else {
    s->nopen++;
  }
  if (w->refused && w->fd >= 0) shutdown(w->fd, SHUT_RDWR); /* libmicrohttpd reads the end and closes it */
  w->next = s->conns;
  if (s->conns) s->conns->prev = w;
  s->conns = w;
  pthread_mutex_unlock(&s->conn_mu);
  *socket_context = w;
}

/* The request's connection moves to phase ph (its clock restarts). */
static void conn_enter(cis_server *s, conn_watch *w, conn_phase ph) {
  (void)s;
  if (!w) return;
  atomic_store_explicit(&w->since, cis__now_ns(), memory_order_relaxed);
  atomic_store_explicit(&w->body_bytes, 0, memory_order_relaxed);
  atomic_store_explicit(&w->phase, ph, memory_order_release);
}

static void conn_body(cis_server *s, conn_watch *w, size_t n) {
  (void)s;
  if (w) atomic_fetch_add_explicit(&w->body_bytes, n, memory_order_relaxed);
}

/* The cluster's shares (share.h): this node's tenants and their owners. */
static void share_tenants(void *user, cis__share_tenant_fn fn, void *ctx) {
  cis_server *s = user;
  for (tenant *t = atomic_load_explicit(&s->tenants, memory_order_acquire); t;
       t = atomic_load_explicit(&t->next, memory_order_acquire))
    fn(ctx, t->name, &t->owner);
}

/* With a PostgreSQL registry (the nodes of a cluster share it) and a lane
 * for tenants over their share, the nodes tell each other their tenants'
 * CPU use: a tenant's share is then the cluster's. */
static cis_result share_start(cis_server *s, char *err, size_t errcap) {
  cis__db_spec db;
  char why[160];
  if (!s->lane || !s->registry || cis__db_spec_parse(s->registry, CIS__DB_HAS_DEFAULT, &db, why, sizeof why) != CIS_OK ||
      db.dialect != CIS__DB_POSTGRES)
    return CIS_OK; /* a spec that does not parse failed the token store first */
  cis__share_config c = {.conninfo = db.target, .pool = &s->pool, .tenants = share_tenants, .user = s};
  if (cis__share_start(&c, &s->share) != CIS_OK) {
    snprintf(err, errcap, "cannot start the cluster's shares");
    return CIS_ENOMEM;
  }
  return CIS_OK;
}

/* The watchdog: every CONN_WATCH_MS, shuts down the connections whose
 * head has not come within head_ns (of their start, or of their last
 * answer), and those whose body, once head_ns has passed since its head,
 * averages under body_rate bytes a second. Under conn_mu, so that a
 * socket is never touched after its close (CLOSED unlists it first). */
#define CONN_WATCH_MS 100

static void *watchdog_main(void *arg) {
  cis_server *s = arg;
  pthread_setname_np(pthread_self(), "cis-conn-watch");
  pthread_mutex_lock(&s->conn_mu);
  while (!s->watch_stop) {
    uint64_t now = cis__now_ns();
    for (conn_watch *w = s->conns; w; w = w->next) {
      if (w->refused || w->cut || w->fd < 0) continue;
      conn_phase ph = atomic_load_explicit(&w->phase, memory_order_acquire);
      uint64_t since = atomic_load_explicit(&w->since, memory_order_relaxed);
      if (ph == CONN_BUSY || now < since || now - since <= s->head_ns) continue;
      bool slow_body = false;
      if (ph == CONN_BODY) {
        double secs = (double)(now - since) / 1e9;
        slow_body = (double)atomic_load_explicit(&w->body_bytes, memory_order_relaxed) < secs * (double)s->body_rate;
        if (!slow_body) continue;
      }
      shutdown(w->fd, SHUT_RDWR);
      w->cut = true;
      if (slow_body) s->slow_body++;
      else s->slow_head++;
    }
    struct timespec until;
    cis__timespec_after(CLOCK_REALTIME, CONN_WATCH_MS, &until);
    pthread_cond_timedwait(&s->conn_cv, &s->conn_mu, &until);
  }
  pthread_mutex_unlock(&s->conn_mu);
  return NULL;
}

/* Each request starts here, with its raw target, before the library
 * decodes it in place (and ends the path at a %00, so that
 * "/v1/skills/echo%00x" would reach echo): a control byte in it, raw or
 * percent-encoded, is refused, and its length kept for the head's layout
 * check. The answer becomes the request's *con_cls (on_completed frees
 * it, whether or not on_request ever saw it); NULL when out of memory. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c) {
  (void)cls, (void)c;
  request *rq = calloc(1, sizeof *rq);
  if (rq && uri) {
    rq->target = uri;
    rq->target_len = strlen(uri);
    rq->bad_target = cis__http_target_bad(uri);
  }
  return rq;
}

/* Each header of the head, with its real length (MHD_get_connection_values_n). */
static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_len,
                                   const char *value, size_t value_len) {
  (void)kind;
  cis__http_head_add(cls, key, key_len, value, value_len);
  return MHD_YES;
}

/* The 429 of a request its pacer resumed after its longest wait. */
static enum MHD_Result reply_late(cis_server *s, struct MHD_Connection *c, request *rq) {
  rq->pace.state = CIS__PACE_NONE;
  return reply_error(s, c, 429, CIS_ESTATE, "too many requests with no token the server knows; retry later",
                     "Retry-After", "1", rq->early ? "Connection" : NULL, "close", NULL);
}

/* The answer due before rq was read whole (rq->early: 400, 413), which
 * closes its connection. Charged to its tenant when its token is one the
 * server has cached, as any request's handling is. */
static enum MHD_Result reply_early(cis_server *s, struct MHD_Connection *c, request *rq) {
  uint64_t began = cis__now_ns();
  enum MHD_Result ok = reply_error(s, c, rq->early, rq->early == 413 ? CIS_ETOOBIG : CIS_EINVAL, rq->early_msg,
                                   "Connection", "close", NULL);
  const char *tok;
  size_t n;
  char who[CIS_TOKEN_NAME_MAX + 1];
  bool paced;
  tenant *t;
  if (bearer_of(rq, &tok, &n) &&
      cis__tokens_check_paced(s->tokens, tok, n, who, sizeof who, no_lookup, NULL, &paced) == CIS_OK &&
      (t = tenant_get(s, who))) {
    rq->began = began;
    charge_handling(s, t, rq);
  }
  return ok;
}

/* An answer due before rq was read whole: given at once to a request
 * whose token the server has cached, else after a turn of the token
 * pacer, as a 401 is, so that a client sending malformed requests on
 * fresh connections gets no more answers a second than one sending
 * forged tokens. Its body is not read meanwhile, and dropped after. */
static enum MHD_Result answer_early(cis_server *s, struct MHD_Connection *c, request *rq) {
  rq->answered = true;
  if (answer_waits(s, &s->token_pace, rq)) {
    conn_enter(s, rq->w, CONN_BUSY); /* its wait is the server's, not a slow client's */
    return pace_wait(&s->token_pace, c, rq);
  }
  return reply_early(s, c, rq);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
  cis_server *s = cls;
  request *rq = *con_cls;
  if (!rq) return MHD_NO; /* on_uri ran out of memory */
  if (!rq->started) {
    rq->started = true;
    rq->polled = cis__poll_meter_head(&poll_meter, cis__now_ns(), thread_cpu_ns);
    const union MHD_ConnectionInfo *ci = mhd.connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    rq->w = ci ? ci->socket_context : NULL;
    conn_enter(s, rq->w, CONN_BODY); /* the head is in: its body's clock starts */
    /* Counted until on_completed, after the reply went out: a drain
     * waits for that, not just for the job, or closing the listeners
     * could cut a reply short. */
    atomic_fetch_add(&s->requests, 1);
    if (mhd_cuts_at_nul) {
      const union MHD_ConnectionInfo *hs = mhd.connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
      cis__http_head_start(&rq->head, method, hs ? hs->header_size : 0, rq->target, rq->target_len, version);
    }
    mhd.values_n(c, MHD_HEADER_KIND, scan_header, &rq->head);
    const char *bad = cis__http_head_problem(&rq->head, rq->bad_target);
    if (bad) {
      rq->early = 400;
      snprintf(rq->early_msg, sizeof rq->early_msg, "malformed request: %s", bad);
      return answer_early(s, c, rq);
    }
    /* A declared length above the cap is refused before the body is
     * read; a chunked one is counted as it comes and dropped. */
    if (rq->head.n_length && rq->head.length > s->max_body) {
      rq->too_big = true;
      rq->early = 413;
      snprintf(rq->early_msg, sizeof rq->early_msg, "the body is larger than %zu bytes", s->max_body);
      return answer_early(s, c, rq);
    }
    return MHD_YES;
  }
  if (rq->job) return answer_job(s, c, rq); /* resumed: its job ended */
  if (rq->early && rq->pace.state == CIS__PACE_GO) { /* resumed with its turn; body bytes are dropped */
    rq->pace.state = CIS__PACE_USE;
    *upload_size = 0;
    return reply_early(s, c, rq);
  }
  if (rq->early && rq->pace.state == CIS__PACE_LATE) {
    *upload_size = 0;
    return reply_late(s, c, rq);
  }
  if (*upload_size) {
    size_t n = *upload_size;
    *upload_size = 0;
    conn_body(s, rq->w, n);
    /* A 413 can only be queued once the body ended: past the cap the
     * bytes are dropped, and a sender that goes on for another cap's
     * worth loses the connection, so no thread is held without bound. */
    if (rq->too_big || rq->answered) { /* answered early (413, 400): dropped */
      rq->dropped += n;
      return rq->dropped > s->max_body ? MHD_NO : MHD_YES;
    }
    if (rq->len + n > s->max_body) {
      rq->too_big = true;
      free(rq->buf);
      rq->buf = NULL;
      rq->len = rq->cap = 0;
      return MHD_YES;
    }
    if (rq->len + n + 1 > rq->cap) {
      size_t cap = rq->cap ? rq->cap : 4096;
      while (cap < rq->len + n + 1) cap *= 2;
      if (cap > s->max_body + 1) cap = s->max_body + 1;
      char *b = realloc(rq->buf, cap);
      if (!b) return MHD_NO;
      rq->buf = b;
      rq->cap = cap;
    }
    memcpy(rq->buf + rq->len, upload, n);
    rq->len += n;
    rq->buf[rq->len] = 0;
    return MHD_YES;
  }
  if (rq->pace.state == CIS__PACE_LATE) return reply_late(s, c, rq); /* resumed by its pacer: it waited too long */
  if (rq->pace.state == CIS__PACE_GO) { /* resumed by its pacer, with its turn */
    rq->pace.state = CIS__PACE_USE;
    return handle(s, c, url, method, rq);
  }
  if (rq->answered) return MHD_YES;
  rq->answered = true;
  conn_enter(s, rq->w, CONN_BUSY);
  return handle(s, c, url, method, rq);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode why) {
  (void)c, (void)why;
  cis_server *s = cls;
  request *rq = *con_cls;
  if (rq && !rq->started) free(rq); /* ended before its head was whole */
  else if (rq) {
    /* A keep-alive connection waits for its next head from now. */
    conn_enter(s, rq->w, CONN_HEAD);
    if (rq->job) {
      /* Its job still runs only if the connection was closed while
       * suspended (the daemon stopped): it frees itself when it ends. */
      pthread_mutex_lock(&s->pool_mu);
      bool running = !rq->job->refused && !rq->job->pj.done;
      if (running) rq->job->orphaned = true;
      pthread_mutex_unlock(&s->pool_mu);
      if (!running) job_free(rq->job);
    }
    free(rq->buf);
    free(rq);
    /* A wait for idle (cis_server_wait_idle) is told when the last
     * request ends, under the lock, so that it cannot miss it; with none
     * waiting no lock is taken (both sides count first, then look). */
    if (atomic_fetch_sub(&s->requests, 1) == 1 && atomic_load(&s->idle_waiters)) {
      pthread_mutex_lock(&s->pool_mu);
      pthread_cond_broadcast(&s->idle_cv);
      pthread_mutex_unlock(&s->pool_mu);
    }
  }
  *con_cls = NULL;
}

/* ------------------------------------------------------------- life */

/* Parses "HOST:PORT" into a socket address. */
static cis_result parse_listen(const char *spec, struct sockaddr_storage *ss, char *err, size_t errcap) {
  char host[256];
  const char *colon = strrchr(spec, ':');
  if (!colon || colon == spec || !colon[1] || (size_t)(colon - spec) >= sizeof host) {
    snprintf(err, errcap, "listen %s: HOST:PORT expected", spec);
    return CIS_EINVAL;
  }
  memcpy(host, spec, (size_t)(colon - spec));
  host[colon - spec] = 0;
  if (host[0] == '[') { /* [IPv6] */
    size_t n = strlen(host);
    if (n < 3 || host[n - 1] != ']') {
      snprintf(err, errcap, "listen %s: [IPv6]:PORT expected", spec);
      return CIS_EINVAL;
    }
    memmove(host, host + 1, n - 2);
    host[n - 2] = 0;
  }
  char *end;
  unsigned long port = strtoul(colon + 1, &end, 10);
  if (*end || port > 65535) {
    snprintf(err, errcap, "listen %s: bad port", spec);
    return CIS_EINVAL;
  }
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res = NULL;
  int g = getaddrinfo(host, colon + 1, &hints, &res);
  if (g != 0 || !res) {
    snprintf(err, errcap, "listen %s: %s", spec, gai_strerror(g));
    return CIS_EINVAL;
  }
  memset(ss, 0, sizeof *ss);
  memcpy(ss, res->ai_addr, res->ai_addrlen <= sizeof *ss ? res->ai_addrlen : sizeof *ss);
  freeaddrinfo(res);
  return CIS_OK;
}

static void server_release(cis_server *s);

cis_result cis_server_start(const cis_server_config *cfg, cis_server **out) {
  if (!out) return CIS_EINVAL;
  cis_server *s = *out = calloc(1, sizeof *s);
  if (!s) return CIS_ENOMEM;
  cis__handle_init(&s->h, CIS__H_OTHER);
  char err[512] = "";
  size_t errcap = sizeof err;
  cis_result rc = CIS_OK;
  if (!cfg) return cis__handle_failed(&s->h, cis__fail(&s->h, CIS_EINVAL, "server: NULL config"));
  if ((rc = cis__dynlib_load(&mhd_lib, err, errcap)) != CIS_OK ||
      (rc = cis__http_crypto_load(err, errcap)) != CIS_OK) {
    cis__fail(&s->h, rc, "%s", err);
    return cis__handle_failed(&s->h, rc);
  }
  pthread_mutex_init(&s->mu, NULL);
  pthread_mutex_init(&s->pool_mu, NULL);
  pthread_cond_init(&s->idle_cv, NULL);
  pthread_mutex_init(&s->conn_mu, NULL);
  cis__pacer_init(&s->token_pace, 0, "cis-token-pace", pace_resume);
  cis__pacer_init(&s->public_pace, 0, "cis-public-pace", pace_resume);
  pthread_cond_init(&s->conn_cv, NULL);
  s->skills_cfg = cfg->skills;
  s->home = cfg->skills.home ? strdup(cfg->skills.home) : NULL;
  s->kv_spec = cfg->skills.kv_spec ? strdup(cfg->skills.kv_spec) : NULL;
  s->vfs_db_spec = cfg->skills.vfs_db_spec ? strdup(cfg->skills.vfs_db_spec) : NULL;
  s->registry = cfg->skills.registry ? strdup(cfg->skills.registry) : NULL;
  s->skills_cfg.home = s->home;
  s->skills_cfg.kv_spec = s->kv_spec;
  s->skills_cfg.vfs_db_spec = s->vfs_db_spec;
  s->skills_cfg.registry = s->registry;
  s->max_body = cfg->max_body ? cfg->max_body : CIS_SERVE_DEFAULT_MAX_BODY;
  s->nworkers = cfg->workers ? cfg->workers : CIS_SERVE_DEFAULT_WORKERS;
  s->qcap = cfg->queue ? cfg->queue : CIS_SERVE_DEFAULT_QUEUE;
  s->tenant_cap = cfg->tenant_concurrency; /* 0: none; tenants share the workers in turn */
  s->max_conn = cfg->max_connections ? cfg->max_connections : 256;
  s->max_sessions = cfg->mcp_sessions ? cfg->mcp_sessions : 1024;
  s->per_ip = cfg->max_connections_per_address ? cfg->max_connections_per_address : CIS_SERVE_DEFAULT_PER_ADDRESS;
  s->head_ns = (cfg->head_timeout_ms ? cfg->head_timeout_ms : CIS_SERVE_DEFAULT_HEAD_TIMEOUT_MS) * 1000000ull;
  s->inline_us = cfg->inline_us == CIS_SERVE_INLINE_OFF ? 0
                 : cfg->inline_us                        ? cfg->inline_us
                                                         : CIS_SERVE_DEFAULT_INLINE_US;
  s->body_rate = cfg->min_body_rate ? cfg->min_body_rate : CIS_SERVE_DEFAULT_MIN_BODY_RATE;
  s->lane = cfg->lane_workers == CIS_SERVE_LANE_OFF ? 0
            : cfg->lane_workers                    ? cfg->lane_workers
                                                   : CIS_SERVE_DEFAULT_LANE_WORKERS;
  s->registry_rate = cfg->tenant_registry_rate == CIS_SERVE_REGISTRY_RATE_OFF ? 0
                     : cfg->tenant_registry_rate ? cfg->tenant_registry_rate
                                                 : CIS_SERVE_DEFAULT_REGISTRY_RATE;
  s->token_pace.rate = cfg->token_lookup_rate == CIS_SERVE_TOKEN_LOOKUP_RATE_OFF ? 0
                       : cfg->token_lookup_rate ? cfg->token_lookup_rate
                                                : CIS_SERVE_DEFAULT_TOKEN_LOOKUP_RATE;
  s->public_pace.rate = cfg->public_rate == CIS_SERVE_PUBLIC_RATE_OFF ? 0
                        : cfg->public_rate        ? cfg->public_rate
                                                  : CIS_SERVE_DEFAULT_PUBLIC_RATE;
  s->http_threads = cfg->http_threads ? cfg->http_threads : default_http_threads();
  if (s->nworkers > 1024 || s->lane > 1024 || s->http_threads > 1024 || s->qcap > 1000000 || s->max_conn > 65536 ||
      s->per_ip > 65536 || s->head_ns > 3600000ull * 1000000ull) {
    snprintf(err, errcap, "workers, lane workers and HTTP threads (at most 1024 each), queue (1000000), connections "
             "(65536) or head timeout (1h) too large");
    rc = CIS_EINVAL;
    goto fail;
  }
  if (pthread_create(&s->watchdog, NULL, watchdog_main, s) != 0) {
    snprintf(err, errcap, "cannot start the connection watchdog");
    rc = CIS_ENOMEM;
    goto fail;
  }
  s->watching = true;
  if ((rc = cis_tokens_open_registry(s->home, s->registry, &s->tokens)) != CIS_OK) {
    snprintf(err, errcap, "%s", cis_tokens_errmsg(s->tokens));
    goto fail;
  }
  if (!cis__pacer_start(&s->token_pace) || !cis__pacer_start(&s->public_pace)) {
    snprintf(err, errcap, "cannot start the pacers of requests with no token");
    rc = CIS_ENOMEM;
    goto fail;
  }
  /* Each tenant may queue --queue calls; all tenants together as many as
   * there may be connections (each waiting call holds one). Every call in
   * flight may be long and handed off: threads stay within 2 x workers +
   * queue. */
  unsigned total = s->max_conn > s->qcap ? s->max_conn : s->qcap;
  cis__pool_config pc = {.workers = s->nworkers, .queue = s->qcap, .queue_total = total,
                         .owner_cap = s->tenant_cap, .long_max = s->nworkers + s->qcap, .lane = s->lane};
  if ((rc = cis__pool_start(&s->pool, &pc, &s->pool_mu, &s->idle_cv)) != CIS_OK) {
    snprintf(err, errcap, "cannot start worker threads");
    goto fail;
  }
  if ((rc = share_start(s, err, errcap)) != CIS_OK) goto fail;
  /* The registry's work: each tenant queues --queue jobs there too. */
  cis__pool_config ac = {.workers = CIS__HTTP_ADMIN_WORKERS, .queue = s->qcap, .queue_total = total,
                         .owner_cap = s->tenant_cap, .background = true, .owner_rate = s->registry_rate};
  if ((rc = cis__pool_start(&s->admin, &ac, &s->pool_mu, &s->idle_cv)) != CIS_OK) {
    snprintf(err, errcap, "cannot start the background threads");
    goto fail;
  }
  static const char *const deflisten[] = {CIS_SERVE_DEFAULT_LISTEN};
  const char *const *listen = cfg->nlisten ? cfg->listen : deflisten;
  size_t nlisten = cfg->nlisten ? cfg->nlisten : 1;
  s->daemons = calloc(nlisten, sizeof *s->daemons);
  s->ports = calloc(nlisten, sizeof *s->ports);
  if (!s->daemons || !s->ports) {
    snprintf(err, errcap, "out of memory");
    rc = CIS_ENOMEM;
    goto fail;
  }
  for (size_t i = 0; i < nlisten; i++) {
    struct sockaddr_storage ss;
    if ((rc = parse_listen(listen[i] ? listen[i] : "", &ss, err, errcap)) != CIS_OK) goto fail;
    /* Connections cost memory, not threads: s->http_threads polling
     * threads (epoll) serve them all, and a request whose job runs waits
     * suspended. */
    unsigned flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    uint16_t port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                   : ((struct sockaddr_in *)&ss)->sin_port);
    struct MHD_Daemon *d = mhd.start_daemon(
        flags, port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_THREAD_POOL_SIZE, s->http_threads,
        /* The caps are on_connection's, which counts what it refuses;
         * libmicrohttpd's own stand behind them, with room for the refused
         * connections it has not closed yet (at its global cap it stops
         * accepting, and new connections wait in the backlog). */
        MHD_OPTION_CONNECTION_LIMIT, s->max_conn + CIS__HTTP_REFUSED_ROOM,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->per_ip + CIS__HTTP_REFUSED_ROOM,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    if (!d) {
      snprintf(err, errcap, "listen %s: cannot bind (in use, or not an address of this host)", listen[i]);
      rc = CIS_EIO;
      goto fail;
    }
    s->daemons[s->ndaemons] = d;
    const union MHD_DaemonInfo *info = mhd.daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    s->ports[s->ndaemons++] = info ? info->port : port;
  }
  return CIS_OK;
fail:
  cis__fail(&s->h, rc, "%s", err);
  server_release(s);
  return cis__handle_failed(&s->h, rc);
}

int cis_server_port(const cis_server *s, size_t i) {
  return s && !s->h.failed && i < s->ndaemons ? s->ports[i] : -1;
}

void cis_server_drain(cis_server *s) {
  if (s) atomic_store(&s->draining, true);
}

/* Under s->pool_mu: whether a job waits or runs in either pool, or a
 * request is not answered in full. */
static bool busy(cis_server *s) {
  return s->pool.queued || s->pool.running || s->admin.queued || s->admin.running || atomic_load(&s->requests);
}

cis_result cis_server_wait_idle(cis_server *s, uint64_t timeout_ms) {
  if (!s) return CIS_EINVAL;
  if (s->h.failed) return CIS_ESTATE;
  struct timespec until;
  cis__timespec_after(CLOCK_REALTIME, timeout_ms, &until);
  pthread_mutex_lock(&s->pool_mu);
  atomic_fetch_add(&s->idle_waiters, 1);
  int r = 0;
  while (busy(s) && r != ETIMEDOUT) r = pthread_cond_timedwait(&s->idle_cv, &s->pool_mu, &until);
  bool idle = !busy(s);
  atomic_fetch_sub(&s->idle_waiters, 1);
  pthread_mutex_unlock(&s->pool_mu);
  return idle ? CIS_OK : CIS_ETIMEOUT;
}

void cis_server_free(cis_server *s) {
  if (!s) return;
  if (!s->h.failed) server_release(s); /* a failed one is a shell */
  free(s);
}

/* Stops and frees what s holds, all but s itself. */
static void server_release(cis_server *s) {
  cis_server_drain(s);
  /* Calls end by their deadlines, their replies within the connection
   * timeout (30 s) after; a listener that did not start has nothing. */
  if (s->ndaemons)
    cis_server_wait_idle(s, (s->skills_cfg.max_limits.timeout_ms ? s->skills_cfg.max_limits.timeout_ms
                                                                  : CIS_SKILL_CEILING_TIMEOUT_MS) + 35000);
  /* The pool ends its jobs first (each by its deadline), each resuming
   * its connection: libmicrohttpd must not be stopped with a connection
   * suspended. Their answers then go out before the listeners close. */
  cis__share_stop(s->share); /* before the pool it tells; /metrics still reads it */
  cis__pool_stop(&s->pool);
  cis__pool_stop(&s->admin);
  cis__coro_trim();
  if (s->ndaemons) cis_server_wait_idle(s, 5000);
  pacers_stop(s);
  for (size_t i = 0; i < s->ndaemons; i++) mhd.stop_daemon(s->daemons[i]);
  cis__share_free(s->share);
  s->share = NULL;
  if (s->watching) {
    pthread_mutex_lock(&s->conn_mu);
    s->watch_stop = true;
    pthread_cond_signal(&s->conn_cv);
    pthread_mutex_unlock(&s->conn_mu);
    pthread_join(s->watchdog, NULL);
  }
  for (tenant *t = s->tenants, *n; t; t = n) {
    n = t->next;
    for (mcp_session *x = t->sessions, *xn; x; x = xn) {
      xn = x->next;
      session_free(x);
    }
    pthread_mutex_destroy(&t->sess_mu);
    cis_skills_close(t->skills);
    cis__calls_free(t->calls);
    free(t);
  }
  cis_tokens_close(s->tokens);
  pthread_mutex_destroy(&s->mu);
  pthread_mutex_destroy(&s->pool_mu);
  pthread_cond_destroy(&s->idle_cv);
  pthread_mutex_destroy(&s->conn_mu);
  cis__pacer_destroy(&s->token_pace);
  cis__pacer_destroy(&s->public_pace);
  pthread_cond_destroy(&s->conn_cv);
  free(s->daemons);
  free(s->ports);
  free(s->home);
  free(s->kv_spec);
  free(s->vfs_db_spec);
  free(s->registry);
}
