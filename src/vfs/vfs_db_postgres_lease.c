/*
 * This file implements the lease on a tenant's tree that a PostgreSQL
 * mount holds (docs/dbfs.md, "PostgreSQL: the lease"), the way NFSv4
 * delegates a file to one client: while a mount holds it, no other mount
 * commits to the tenant, so the mount trusts its caches from one call to
 * the next and asks the server nothing to read what it knows.
 *
 * The lease is a session-level advisory lock, exclusive, on
 * (CIS__VDB_LEASE_CLASS, tenant), held by a connection of its own that a
 * thread keeps (the keeper). Every writer of the tenant that does not
 * hold it takes the same lock shared for its transaction (vfs_db_sql.c's
 * Q_LOCK, Q_LOCK_CHECK); finding it held, the writer sends a recall
 * (NOTIFY on the tenant's channel) and waits for the lock. The keeper,
 * which LISTENs on that channel, gives the lease back at once: it first
 * moves the epoch off "held", so no method of the mount starts trusting
 * its caches from then on, waits for the mount's write transactions that
 * rely on the lease (they took no shared lock) to end, and unlocks.
 *
 * A mount asks for the lease as a method begins outside a transaction
 * (cis__vdb_lease_arm), and waits for the keeper's one try
 * (pg_try_advisory_lock): the mount's own transactions take the lock
 * shared while it is not held, so a try made while one is open would fail
 * against the mount itself. After a recall or a failed try the keeper
 * waits a backoff that doubles, from 10 ms to 2 s, before it tries again,
 * so two mounts writing the same tenant take turns at that pace rather
 * than recalling each other at every commit, and a mount whose lease
 * another holds asks that rarely. The backoff starts again once the lease
 * was kept for 10 s.
 *
 * A lost keeper connection loses the lease (the server ends the session
 * and its locks): the epoch moves off "held" when the keeper sees its
 * socket close, and the keeper connects again a second later.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/internal.h"
#include "common/pgwire.h"
#include "db/db_conn_pg.h"
#include "vfs/vfs_db_internal.h"

#define NS_PER_MS 1000000ull
#define BACKOFF_MIN_NS (10 * NS_PER_MS)
#define BACKOFF_MAX_NS (2000 * NS_PER_MS)
#define CALM_NS (10000 * NS_PER_MS)     /* held this long without a recall: backoff back to min */
#define RECONNECT_NS (1000 * NS_PER_MS) /* after a lost or failed keeper connection */
#define STMT_MS 5000                    /* bound on each of the keeper's statements */
#define TRY_WAIT_MS 100                 /* a mount waits this long at most for a try (one round
                                           trip): then it goes on without the lease */

struct cis__vdb_lease {
  char *conninfo;          /* owned copy */
  int64_t tenant;          /* the tenant (its id: the advisory lock's object) */
  pthread_t thread;        /* the keeper */
  int wake[2];             /* pipe: the mount's nudges and the stop, to the keeper */
  pthread_mutex_t mu;      /* guards holders and answers */
  pthread_cond_t cv;       /* signals holders reaching 0, and each answer */
  uint64_t holders;        /* write transactions relying on the lease (lease_take_hold) */
  uint64_t answers;        /* tries the keeper made (each answers the asks before it) */
  _Atomic uint64_t retry_at; /* cis__now_ns() time before which no try is made */
  atomic_bool connected;   /* the keeper has its connection */
  atomic_int sock;         /* its socket, or -1 */
  _Atomic uint64_t epoch;  /* odd while held; moves at each grant and each loss */
  atomic_bool asked;       /* the mount wants the lease and the keeper has not tried since */
  atomic_bool stop;        /* the keeper is to end */
  _Atomic uint64_t grants; /* leases taken (for the tests) */
  _Atomic uint64_t recalls;/* leases given back on a recall (same) */
  /* The mount's side, touched by the mount's thread alone. */
  uint64_t arm_epoch;      /* the epoch as the method running began (odd: held) */
  uint64_t seen_epoch;     /* the epoch in which a check last confirmed the caches */
  uint64_t poll_call;      /* the call whose poll of the keeper's socket found nothing
                              waiting (0: none) */
  bool relied;             /* the open write transaction relies on the lease: it took
                              no shared lock of it (lease_hold) */
};

static void nudge(cis__vdb_lease *l) {
  char b = 1;
  ssize_t n = write(l->wake[1], &b, 1); /* a full pipe has a nudge waiting already */
  (void)n;
}

/* Runs one simple statement on the keeper's connection: 1 when its one
 * value is "t", 0 for anything else that succeeded, -1 when the
 * connection failed (the caller drops it). Notifications that arrive
 * meanwhile are counted into *recalled. */
static int keeper_query(PGconn *pg, const char *sql, bool *recalled) {
  cis__pgwire_report rep;
  PGresult *r = NULL;
  cis__pgwire_outcome o = cis__pgwire_collect(pg, cis__pq.sendQuery(pg, sql),
                                              cis__pgwire_at(cis__deadline_after(STMT_MS, 0)), &r, &rep);
  for (PGnotify *n; (n = cis__pq.notifies(pg)) != NULL;) {
    *recalled = true;
    cis__pq.freemem(n);
  }
  int v = 0;
  if (o == CIS__PGWIRE_DONE && r && cis__pq.ntuples(r) == 1 &&
      strcmp(cis__pq.getvalue(r, 0, 0), "t") == 0)
    v = 1;
  if (r) cis__pq.clear(r);
  if (o == CIS__PGWIRE_DONE) return v;
  return o == CIS__PGWIRE_FAILED && cis__pq.status(pg) == CONNECTION_OK ? 0 : -1;
}

/* Connects conn (the keeper's session, db/db_conn.h) and listens for the
 * tenant's recalls: its handle, or NULL (conn dropped). */
static PGconn *keeper_connect(cis__vdb_lease *l, cis__db_conn *conn) {
  cis__pgwire_report rep;
  if (cis__db_conn_connect(conn, cis__deadline_after(STMT_MS, 0), &rep) != CIS__PGWIRE_DONE) return NULL;
  PGconn *pg = cis__db_conn_pg(conn);
  char sql[128];
  bool recalled = false;
  snprintf(sql, sizeof sql, "SET statement_timeout = %d; LISTEN cis_vfs_lease_%" PRId64, STMT_MS,
           l->tenant);
  if (keeper_query(pg, sql, &recalled) != 0) {
    cis__db_conn_drop(conn);
    return NULL;
  }
  return pg;
}

/* The lease is no longer held: nothing may trust it from now on, and the
 * write transactions that relied on it end first. */
static void give_up(cis__vdb_lease *l) {
  pthread_mutex_lock(&l->mu);
  atomic_fetch_add(&l->epoch, 1);
  while (l->holders && !atomic_load(&l->stop)) pthread_cond_wait(&l->cv, &l->mu);
  pthread_mutex_unlock(&l->mu);
}

/* Sets the time before which no try is made, where the mount sees it too
 * (it asks only after it: a try the keeper would not make yet would keep
 * the mount waiting). */
static void retry_after(cis__vdb_lease *l, uint64_t *retry_at, uint64_t at) {
  *retry_at = at;
  atomic_store(&l->retry_at, at);
}

static int ms_until(uint64_t at, uint64_t now) {
  if (at <= now) return 0;
  uint64_t ms = (at - now + NS_PER_MS - 1) / NS_PER_MS;
  return ms > 60000 ? 60000 : (int)ms;
}

static void *keeper_main(void *arg) {
  cis__vdb_lease *l = arg;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL); /* the process's signals are its main thread's */
  char try_sql[96], unlock_sql[96];
  int32_t obj = (int32_t)(l->tenant % 2147483648LL);
  snprintf(try_sql, sizeof try_sql, "SELECT pg_try_advisory_lock(%d, %" PRId32 ")",
           CIS__VDB_LEASE_CLASS, obj);
  snprintf(unlock_sql, sizeof unlock_sql, "SELECT pg_advisory_unlock(%d, %" PRId32 ")",
           CIS__VDB_LEASE_CLASS, obj);
  static const cis__db_conn_config conn_cfg = {.appname = "cis-vfs-lease"};
  cis__db_conn *conn = NULL; /* the keeper's session, made on its first connect */
  PGconn *pg = NULL;         /* its handle while connected */
  bool held = false;
  uint64_t backoff = BACKOFF_MIN_NS, retry_at = 0, held_since = 0;
  while (!atomic_load(&l->stop)) {
    uint64_t now = cis__now_ns();
    bool recalled = false, lost = false, given = false;
    if (!pg && now >= retry_at) {
      if (!conn && cis__db_conn_new_pg(l->conninfo, &conn_cfg, &conn) != CIS_OK) conn = NULL;
      pg = conn ? keeper_connect(l, conn) : NULL;
      if (!pg) retry_after(l, &retry_at, now + RECONNECT_NS);
      atomic_store(&l->sock, pg ? cis__pq.socket(pg) : -1);
      atomic_store(&l->connected, pg != NULL);
    }
    if (pg && atomic_load(&l->asked) && (held || now >= retry_at)) {
      atomic_store(&l->asked, false);
      int got = held ? 1 : keeper_query(pg, try_sql, &recalled);
      if (got < 0) {
        lost = true;
      } else if (got && !held) {
        held = true;
        held_since = now;
        atomic_fetch_add(&l->epoch, 1);
        atomic_fetch_add(&l->grants, 1);
      } else if (!got) {
        retry_after(l, &retry_at, now + backoff);
        if (backoff < BACKOFF_MAX_NS) backoff *= 2;
      }
      pthread_mutex_lock(&l->mu);
      l->answers++;
      pthread_cond_broadcast(&l->cv);
      pthread_mutex_unlock(&l->mu);
    }
    if (held && now - held_since >= CALM_NS) backoff = BACKOFF_MIN_NS;
    if (!lost && !(recalled && held)) {
      struct pollfd p[2] = {{.fd = l->wake[0], .events = POLLIN},
                            {.fd = pg ? cis__pq.socket(pg) : -1, .events = POLLIN}};
      int timeout = -1;
      if (!pg || (atomic_load(&l->asked) && !held)) timeout = ms_until(retry_at, now);
      /* Held: wakes once, when the backoff may start again (after that,
       * only for the socket or a nudge). */
      if (held) timeout = now - held_since < CALM_NS ? ms_until(held_since + CALM_NS, now) : -1;
      int n = poll(p, 2, timeout);
      if (n > 0 && (p[0].revents & POLLIN)) {
        char buf[64];
        while (read(l->wake[0], buf, sizeof buf) > 0) {
        }
      }
      if (n > 0 && pg && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
        /* Anything on an idle keeper's socket is a recall or the end of
         * its session, whose lock the server may free before the socket
         * closes. The epoch moves off "held" before the bytes are read,
         * so that a mount's one poll (lease_epoch) sees either
         * the bytes or the moved epoch, never neither: read first, a
         * session's end could leave nothing to see until its close. */
        if (held) {
          give_up(l);
          given = true;
        }
        if (!cis__pq.consumeInput(pg) || cis__pq.status(pg) != CONNECTION_OK) lost = true;
        for (PGnotify *m; (m = cis__pq.notifies(pg)) != NULL;) {
          recalled = true;
          cis__pq.freemem(m);
        }
        /* Given up for bytes that were no recall: on an idle session that
         * is its end (an error, then the close), so the session goes and
         * the keeper connects again, as for a loss seen at the close. */
        if (given && !lost && !recalled) lost = true;
      }
    }
    if (held && (lost || recalled)) {
      if (!given) give_up(l);
      held = false;
      atomic_fetch_add(&l->recalls, recalled ? 1 : 0);
      retry_after(l, &retry_at, cis__now_ns() + backoff);
      if (backoff < BACKOFF_MAX_NS) backoff *= 2;
      if (!lost && keeper_query(pg, unlock_sql, &recalled) < 0) lost = true;
    }
    if (lost && pg) {
      atomic_store(&l->sock, -1);
      cis__db_conn_drop(conn); /* the session's end releases whatever it held */
      pg = NULL;
      atomic_store(&l->connected, false);
      if (retry_at < cis__now_ns() + RECONNECT_NS)
        retry_after(l, &retry_at, cis__now_ns() + RECONNECT_NS);
    }
  }
  if (held) give_up(l);
  cis__db_conn_close(conn);
  return NULL;
}

cis__vdb_lease *cis__vdb_lease_start(const char *conninfo, int64_t tenant) {
  cis__vdb_lease *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  l->tenant = tenant;
  l->wake[0] = l->wake[1] = -1;
  atomic_store(&l->sock, -1);
  if (!(l->conninfo = strdup(conninfo)) || pipe2(l->wake, O_CLOEXEC | O_NONBLOCK) != 0)
    goto fail;
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->cv, NULL);
  if (pthread_create(&l->thread, NULL, keeper_main, l) != 0) {
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    goto fail;
  }
  return l;
fail:
  if (l->wake[0] >= 0) close(l->wake[0]), close(l->wake[1]);
  free(l->conninfo);
  free(l);
  return NULL;
}

void cis__vdb_lease_stop(cis__vdb_lease *l) {
  if (!l) return;
  pthread_mutex_lock(&l->mu);
  atomic_store(&l->stop, true);
  pthread_cond_broadcast(&l->cv);
  pthread_mutex_unlock(&l->mu);
  nudge(l);
  pthread_join(l->thread, NULL);
  pthread_mutex_destroy(&l->mu);
  pthread_cond_destroy(&l->cv);
  close(l->wake[0]);
  close(l->wake[1]);
  free(l->conninfo);
  free(l);
}

/* The epoch, or 0 while something waits on the keeper's socket: a recall
 * or the end of its session (the server gave the lock up: another writer
 * may have it already), which the keeper has not handled yet. One poll,
 * no round trip; the epoch read again after it, so a socket closed and
 * its number reused meanwhile is seen as a moved epoch. */
static uint64_t lease_epoch(cis__vdb_lease *l, bool look) {
  uint64_t e = atomic_load(&l->epoch);
  if (!(e & 1) || !look) return e;
  struct pollfd p = {.fd = atomic_load(&l->sock), .events = POLLIN};
  if (p.fd < 0 || poll(&p, 1, 0) != 0 || atomic_load(&l->epoch) != e) return 0;
  return e;
}

static uint64_t lease_try(cis__vdb_lease *l, uint64_t wait_ms, bool look) {
  if (wait_ms > TRY_WAIT_MS) wait_ms = TRY_WAIT_MS;
  uint64_t e = atomic_load(&l->epoch);
  if (e & 1) return lease_epoch(l, look);
  if (!atomic_load(&l->connected) || cis__now_ns() < atomic_load(&l->retry_at))
    return e;
  pthread_mutex_lock(&l->mu);
  uint64_t seen = l->answers;
  atomic_store(&l->asked, true);
  nudge(l);
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += (time_t)(wait_ms / 1000);
  until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
  while (l->answers == seen && !atomic_load(&l->stop))
    if (pthread_cond_timedwait(&l->cv, &l->mu, &until) != 0) break;
  pthread_mutex_unlock(&l->mu);
  return lease_epoch(l, true);
}

static bool lease_take_hold(cis__vdb_lease *l, uint64_t want) {
  pthread_mutex_lock(&l->mu);
  uint64_t e = atomic_load(&l->epoch);
  bool held = (e & 1) && (!want || e == want);
  if (held) l->holders++;
  pthread_mutex_unlock(&l->mu);
  return held;
}

static void lease_give_hold(cis__vdb_lease *l) {
  pthread_mutex_lock(&l->mu);
  if (l->holders && --l->holders == 0) pthread_cond_broadcast(&l->cv);
  pthread_mutex_unlock(&l->mu);
}

void cis__vdb_lease_counts(cis__vdb_lease *l, uint64_t *grants, uint64_t *recalls) {
  *grants = atomic_load(&l->grants);
  *recalls = atomic_load(&l->recalls);
}

/* ---- the mount's side ----
 *
 * While the mount holds the lease no other mount commits to the tenant:
 * the caches a check confirmed in the lease's epoch stay true until the
 * epoch moves, so a method that begins in that epoch needs no check, and
 * a write transaction begun on them checks nothing either (its commit
 * compares the generation it began from) and keeps the lease until it
 * ends (cis__vdb_lease_hold). Reads rely on the lease only as their
 * method begins: a writer elsewhere commits only after the keeper moved
 * the epoch off "held". */

/* The epoch (asking the keeper for the lease when `take`), its socket
 * polled once per public call: a create runs some eight methods, and a
 * poll is a system call. Once a poll in this call found nothing waiting,
 * what the keeper's thread publishes is enough for the rest of it: a
 * recall is given back only through the epoch, and what a poll would see
 * next has waited microseconds. */
static uint64_t epoch_now(cis__vdb_lease *l, bool take, uint64_t wait_ms, uint64_t call) {
  bool poll = !call || l->poll_call != call; /* 0: outside any call */
  uint64_t e = take ? lease_try(l, wait_ms, poll) : lease_epoch(l, poll);
  if (poll && (e & 1)) l->poll_call = call;
  return e;
}

void cis__vdb_lease_arm(cis__vdb_lease *l, bool take, uint64_t wait_ms, uint64_t call) {
  l->arm_epoch = epoch_now(l, take, wait_ms, call);
}

bool cis__vdb_lease_trusted(const cis__vdb_lease *l) {
  return (l->arm_epoch & 1) && l->arm_epoch == l->seen_epoch;
}

void cis__vdb_lease_confirmed(cis__vdb_lease *l) {
  if (l->arm_epoch & 1) l->seen_epoch = l->arm_epoch;
}

bool cis__vdb_lease_held(cis__vdb_lease *l, uint64_t call) {
  return epoch_now(l, false, 0, call) & 1;
}

bool cis__vdb_lease_hold(cis__vdb_lease *l, bool same_epoch) {
  if (l->relied || !lease_take_hold(l, same_epoch ? l->arm_epoch : 0)) return false;
  l->relied = true;
  return true;
}

void cis__vdb_lease_unhold(cis__vdb_lease *l) {
  if (!l->relied) return;
  l->relied = false;
  lease_give_hold(l);
}
