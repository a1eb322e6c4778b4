/*
 * This file implements the non-blocking libpq plumbing of pgwire.h, which
 * both PostgreSQL backends use: connect within a deadline
 * (PQconnectStartParams, PQconnectPoll and poll()), wait on the socket,
 * collect every result of a query, and classify a failed result's
 * SQLSTATE. Every wait is a poll() on PQsocket bounded by the caller's
 * deadline, so no wait outlasts it (libpq's own host name lookup, which
 * PQconnectStartParams does blocking, is outside our reach). A wait for a
 * query's result first spins for up to CIS_PG_SPIN_US microseconds,
 * within the same deadline, before it sleeps in poll().
 *
 * It reports what happened and leaves the decisions to the backend: a
 * timeout does not cancel or drop anything here, because the two backends
 * answer it differently (kv cancels the query, vfs_db drops the
 * connection; each says why).
 *
 * It also holds cis__pq, the table through which libpq is called: libpq is
 * loaded by soname on the first connect (common/dynlib.h), not linked.
 */
#include "common/pgwire.h"

#include "common/callctx.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How often a wait that serves a call looks at its cancel. */
#define CANCEL_POLL_MS 25
#include <unistd.h>

#include "common/internal.h"

/* The soname and package the build found (cmake/CisDeps.cmake), never a
 * guess made here. */
#if !defined(CIS_PQ_SONAME) || !defined(CIS_PQ_PACKAGE)
#error "CIS_PQ_SONAME and CIS_PQ_PACKAGE come from the build"
#endif

cis__pq_api cis__pq;

static const char *const pq_names[] = {CIS__PQ_FUNCS(CIS__DYNLIB_NAME)};

static void pq_bind(void *const *fn) {
  size_t i = 0;
#define BIND(f, member) cis__pq.member = (__typeof__(f) *)fn[i++];
  CIS__PQ_FUNCS(BIND)
#undef BIND
}

cis__dynlib cis__pq_lib = {.soname = CIS_PQ_SONAME, .package = CIS_PQ_PACKAGE,
                           .names = pq_names, .count = CIS_ARRAY_LEN(pq_names), .bind = pq_bind};

/* Records how the call ended: outcome, the failing step and libpq's
 * detail (copied, since libpq's buffer goes with the next call or the
 * connection). Returns the outcome. */
static cis__pgwire_outcome note(cis__pgwire_report *rep, cis__pgwire_outcome o, const char *what,
                                const char *msg) {
  rep->outcome = o;
  rep->what = what;
  snprintf(rep->msg, sizeof rep->msg, "%s", msg ? msg : "");
  return o;
}

static void report_init(cis__pgwire_report *rep) {
  rep->outcome = CIS__PGWIRE_DONE;
  rep->what = NULL;
  rep->msg[0] = '\0';
  rep->sqlclass = CIS__PGWIRE_SQL_NONE;
  rep->sqlmsg[0] = '\0';
  rep->sqlcmd = -1;
  rep->settled = false;
}

/* Loads libpq (once). NOLIB with the loader's message when it cannot. */
static cis__pgwire_outcome pq_load(cis__pgwire_report *rep) {
  char why[CIS__PGWIRE_MSG_MAX];
  if (cis__dynlib_load(&cis__pq_lib, why, sizeof why) == CIS_OK) return CIS__PGWIRE_DONE;
  return note(rep, CIS__PGWIRE_NOLIB, "load libpq", why);
}

/* Maps a failed result to its class by its SQLSTATE. A result without one
 * (libpq's own, such as a lost connection) is DOWN when the connection is
 * no longer up. */
static cis__pgwire_sqlclass classify(const PGconn *pg, const PGresult *r) {
  const char *s = cis__pq.resultErrorField(r, PG_DIAG_SQLSTATE);
  if (!s || strlen(s) != 5)
    return cis__pq.status(pg) == CONNECTION_OK ? CIS__PGWIRE_SQL_ERROR : CIS__PGWIRE_SQL_DOWN;
  if (strcmp(s, "57014") == 0) return CIS__PGWIRE_SQL_CANCELLED;
  if (strcmp(s, "53100") == 0) return CIS__PGWIRE_SQL_DISK_FULL;
  if (strncmp(s, "08", 2) == 0 || strncmp(s, "53", 2) == 0 || strncmp(s, "58", 2) == 0 ||
      strcmp(s, "57P01") == 0 || strcmp(s, "57P02") == 0 || strcmp(s, "57P03") == 0)
    return CIS__PGWIRE_SQL_DOWN;
  return CIS__PGWIRE_SQL_ERROR;
}

void cis__pgwire_oneline(char *buf, size_t cap, const char *msg, const char *fallback) {
  snprintf(buf, cap, "%s", msg && *msg ? msg : fallback);
  for (char *p = buf; *p; p++)
    if (*p == '\n' || *p == '\r' || *p == '\t') *p = ' ';
  size_t n = strlen(buf);
  while (n && buf[n - 1] == ' ') buf[--n] = '\0';
}

cis__pgwire_outcome cis__pgwire_wait(PGconn *pg, short events, cis__pgwire_until until,
                                     cis__pgwire_report *rep) {
  report_init(rep);
  if (pq_load(rep) != CIS__PGWIRE_DONE) return rep->outcome;
  int fd = cis__pq.socket(pg);
  if (fd < 0) return note(rep, CIS__PGWIRE_LOST, "wait", "no socket");
  for (;;) {
    if (cis__callctx_cancelled(until.call)) return note(rep, CIS__PGWIRE_CANCELLED, NULL, NULL);
    int ms = -1;
    if (until.ns != UINT64_MAX) {
      uint64_t left = cis__ms_left(until.ns);
      if (left == 0) return note(rep, CIS__PGWIRE_TIMEOUT, NULL, NULL);
      ms = cis__ms_int(left);
    }
    /* A call's cancel is looked at every 25 ms. */
    if (until.call && (ms < 0 || ms > CANCEL_POLL_MS)) ms = CANCEL_POLL_MS;
    struct pollfd p = {.fd = fd, .events = events};
    int r = poll(&p, 1, ms);
    if (r > 0) return CIS__PGWIRE_DONE;
    if (r == 0 && !until.call) return note(rep, CIS__PGWIRE_TIMEOUT, NULL, NULL);
    if (r < 0 && errno != EINTR) return note(rep, CIS__PGWIRE_LOST, "poll", strerror(errno));
  }
}

/* A failed result: the first one's class and words are kept in rep (a
 * later failure is its consequence); r is freed. */
static void failed_result(PGconn *pg, PGresult *r, cis__pgwire_report *rep) {
  if (rep->sqlclass == CIS__PGWIRE_SQL_NONE) {
    rep->sqlclass = classify(pg, r);
    snprintf(rep->sqlmsg, sizeof rep->sqlmsg, "%s", cis__pq.resultErrorMessage(r));
  }
  cis__pq.clear(r);
}

/* What collecting every result came to: a failed statement, the
 * connection lost on the way, or done. */
static cis__pgwire_outcome collected(PGconn *pg, cis__pgwire_report *rep) {
  if (rep->sqlclass != CIS__PGWIRE_SQL_NONE) return note(rep, CIS__PGWIRE_FAILED, NULL, NULL);
  if (cis__pq.status(pg) != CONNECTION_OK) return note(rep, CIS__PGWIRE_LOST, NULL, cis__pq.errorMessage(pg));
  return CIS__PGWIRE_DONE;
}

/* ------------------------------------------- spinning before sleeping
 *
 * A round trip to a server close by (loopback, the same rack) takes tens
 * of microseconds, and a client that sleeps in poll() for it about doubles
 * that: its CPU goes idle, and waking it (on a virtual machine, a halt and
 * a wake-up of the virtual CPU) costs as much as the trip itself. So a
 * collect's wait for its results first spins on PQconsumeInput +
 * PQisBusy for a short budget, and sleeps only when they are not in by
 * then: a slow statement costs the budget's CPU once, a quick one loses
 * no time.
 *
 * That holds while the answers come within the budget. A spin that runs
 * out was spinning while the server worked, on a CPU that looked busy to
 * the scheduler: when every CPU is busy, the server's process, woken by
 * the query, waits behind other tasks for one rather than taking the
 * spinner's, and a round trip takes about twice as long as with a sleep
 * (bench/NOTES.md). So each spin that runs out turns spinning off for the
 * next waits of its kind, twice as many after each one in a row (up to
 * SPIN_SKIP_MAX), and a spin that takes its answers in time turns the
 * back-off off. Each kind of wait (a COMMIT's, which waits for the
 * server's log flush; a statement's) learns on its own, so that commits
 * that take long on a loaded server do not stop the spin that catches
 * its quick reads. */

/* The budget when CIS_PG_SPIN_US does not give one (bench/NOTES.md,
 * "PostgreSQL: waiting for a result without sleeping"), and the most it
 * may give: beyond a millisecond the CPU burnt buys nothing a sleep does
 * not. */
#define SPIN_US_DEFAULT 200u
#define SPIN_US_MAX 1000u
/* The most waits a run of spins that ran out turns the spin off for: one
 * in SPIN_SKIP_MAX + 1 tries again, so a machine that quietens down is
 * noticed within a few milliseconds of round trips, and one that stays
 * busy pays for a failed spin once in that many. */
#define SPIN_SKIP_MAX 64u

unsigned cis__pgwire_spin_parse(const char *s, long ncpus) {
  /* On one CPU a spinning client keeps everything else off it: a server
   * on the same machine could not run to answer, nor could the process's
   * other threads, so the spin would only delay what it waits for. (-1,
   * sysconf not knowing, is taken as one.) */
  if (ncpus <= 1) return 0;
  if (!s || !*s) return SPIN_US_DEFAULT;
  unsigned v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return SPIN_US_DEFAULT; /* a sign, a space, a unit, garbage */
    if (v <= SPIN_US_MAX) v = v * 10 + (unsigned)(*p - '0'); /* saturates, never wraps */
  }
  return v > SPIN_US_MAX ? SPIN_US_MAX : v;
}

/* What the spins of one kind of wait learnt, shared by every thread (a
 * lost race only spins once more, or once less). */
typedef struct spin_kind {
  atomic_uint skip;    /* waits left that sleep without a spin */
  atomic_uint backoff; /* what the latest spin that ran out set skip to; 0: none since one in time */
} spin_kind;

static pthread_once_t spin_once = PTHREAD_ONCE_INIT;
static atomic_uint spin_us; /* the budget in µs; set once, or by cis__pgwire_spin_set */
static spin_kind spin_kinds[CIS__PGWIRE_KINDS];
static atomic_uint_fast64_t spin_planned; /* ns the latest spin was to last at most */

uint64_t cis__pgwire_spin_planned_ns(void) {
  return atomic_load_explicit(&spin_planned, memory_order_relaxed);
}

static void spin_read(void) {
  atomic_store_explicit(&spin_us,
                        cis__pgwire_spin_parse(getenv("CIS_PG_SPIN_US"),
                                               sysconf(_SC_NPROCESSORS_ONLN)),
                        memory_order_relaxed);
}

unsigned cis__pgwire_spin_us(void) {
  pthread_once(&spin_once, spin_read);
  return atomic_load_explicit(&spin_us, memory_order_relaxed);
}

void cis__pgwire_spin_set(unsigned us) {
  pthread_once(&spin_once, spin_read); /* so that the first read does not undo this */
  atomic_store_explicit(&spin_us, us > SPIN_US_MAX ? SPIN_US_MAX : us, memory_order_relaxed);
  for (int k = 0; k < CIS__PGWIRE_KINDS; k++) {
    atomic_store_explicit(&spin_kinds[k].skip, 0, memory_order_relaxed);
    atomic_store_explicit(&spin_kinds[k].backoff, 0, memory_order_relaxed);
  }
}

static spin_kind *kind_of(cis__pgwire_kind k) {
  return &spin_kinds[(unsigned)k < CIS__PGWIRE_KINDS ? k : CIS__PGWIRE_STATEMENT];
}

unsigned cis__pgwire_spin_skips(cis__pgwire_kind k) {
  return atomic_load_explicit(&kind_of(k)->skip, memory_order_relaxed);
}

/* One collect's spin: decided at its first wait, over by the time its
 * budget from then is spent, whatever number of waits it took. */
typedef struct spin_window {
  enum { SPIN_UNDECIDED, SPIN_ON, SPIN_OFF } state;
  uint64_t stop;   /* when the spin ends (SPIN_ON) */
  bool by_budget;  /* stop is the budget's end, not the deadline */
  bool ran_out;    /* the spin ended with an answer still to come */
} spin_window;

/* Whether a collect's first wait spins, and until when. */
static void spin_decide(spin_window *w, cis__pgwire_until end) {
  w->state = SPIN_OFF;
  uint64_t budget_ns = (uint64_t)cis__pgwire_spin_us() * 1000u;
  if (budget_ns == 0) return;
  spin_kind *k = kind_of(end.kind);
  unsigned skip = atomic_load_explicit(&k->skip, memory_order_relaxed);
  if (skip && atomic_compare_exchange_strong_explicit(&k->skip, &skip, skip - 1, memory_order_relaxed,
                                                      memory_order_relaxed))
    return;
  uint64_t now = cis__now_ns();
  w->by_budget = !(end.ns <= now || end.ns - now <= budget_ns);
  w->stop = w->by_budget ? now + budget_ns : end.ns;
  w->state = SPIN_ON;
  atomic_store_explicit(&spin_planned, w->stop > now ? w->stop - now : 0, memory_order_relaxed);
}

/* What a collect's spin teaches its kind: one that ran out its budget
 * turns spinning off for the next waits, twice as many as the last time
 * when the one before ran out too; one that took every answer in time
 * ends the back-off. A spin the deadline cut short teaches nothing (the
 * collect timed out), nor does a collect that did not spin. */
static void spin_learn(const spin_window *w, cis__pgwire_until end) {
  if (w->state == SPIN_UNDECIDED || (w->state == SPIN_OFF && !w->ran_out)) return;
  spin_kind *k = kind_of(end.kind);
  if (!w->ran_out) {
    if (atomic_load_explicit(&k->backoff, memory_order_relaxed))
      atomic_store_explicit(&k->backoff, 0, memory_order_relaxed);
    return;
  }
  if (!w->by_budget) return;
  unsigned b = atomic_load_explicit(&k->backoff, memory_order_relaxed);
  b = b == 0 ? 1 : b >= SPIN_SKIP_MAX / 2 ? SPIN_SKIP_MAX : b * 2;
  atomic_store_explicit(&k->backoff, b, memory_order_relaxed);
  atomic_store_explicit(&k->skip, b, memory_order_relaxed);
}

/* Reads what has arrived until a result can be read without blocking,
 * while the collect's spin lasts (never past its deadline). Returns DONE
 * (whether or not the result came: await_result sleeps for the rest) or
 * LOST.
 *
 * Only the wait for a result spins. A flush (push) waits for the server
 * to read a large value out of the socket's buffer, and a connect for
 * several exchanges and the server's start of a backend process: neither
 * ends within a spin's microseconds, and a connect is not on a hot path. */
static cis__pgwire_outcome spin_for_result(PGconn *pg, cis__pgwire_until end, spin_window *w,
                                           cis__pgwire_report *rep) {
  if (!cis__pq.isBusy(pg)) return CIS__PGWIRE_DONE;
  if (w->state == SPIN_UNDECIDED) spin_decide(w, end);
  if (w->state != SPIN_ON) return CIS__PGWIRE_DONE;
  /* The clock first: past the deadline nothing is read, and the wait
   * reports the timeout as it would without a spin. */
  for (uint64_t now = cis__now_ns(); now < w->stop; now = cis__now_ns()) {
    if (!cis__pq.consumeInput(pg))
      return note(rep, CIS__PGWIRE_LOST, NULL, cis__pq.errorMessage(pg));
    if (!cis__pq.isBusy(pg)) return CIS__PGWIRE_DONE;
    /* One system call when nothing else wants this CPU; when something
     * does (the server, woken onto this CPU by the query), it runs now
     * rather than at the end of the spin. */
    sched_yield();
  }
  w->state = SPIN_OFF; /* the rest of the collect sleeps */
  w->ran_out = true;
  return CIS__PGWIRE_DONE;
}

/* Waits, within until, until the next result can be read without
 * blocking: the collect's spin first, then poll(). A wait reports into a
 * report of its own, so a failed result already noted keeps its words. */
static cis__pgwire_outcome await_result(PGconn *pg, cis__pgwire_until until, spin_window *w,
                                        cis__pgwire_report *rep) {
  cis__pgwire_outcome o = spin_for_result(pg, until, w, rep);
  if (o != CIS__PGWIRE_DONE) return o;
  while (cis__pq.isBusy(pg)) {
    cis__pgwire_report wr;
    o = cis__pgwire_wait(pg, POLLIN, until, &wr);
    if (o != CIS__PGWIRE_DONE) return note(rep, o, wr.what, wr.msg);
    if (!cis__pq.consumeInput(pg)) return note(rep, CIS__PGWIRE_LOST, NULL, cis__pq.errorMessage(pg));
  }
  return CIS__PGWIRE_DONE;
}

/* libpq's default receiver prints the server's notices and warnings on
 * stderr, which is the embedder's: a library keeps quiet. A notice is never
 * an error (those come back as results), so it goes nowhere. */
static void drop_notice(void *arg, const PGresult *res) {
  (void)arg;
  (void)res;
}

cis__pgwire_outcome cis__pgwire_connect(PGconn **out, const char *appname, const char *conninfo,
                                        cis__pgwire_until until, cis__pgwire_report *rep) {
  static const char *const keys[] = {"application_name", "dbname", NULL};
  const char *vals[] = {appname, conninfo, NULL};
  report_init(rep);
  *out = NULL;
  if (pq_load(rep) != CIS__PGWIRE_DONE) return rep->outcome;
  /* expand_dbname: conninfo may be a whole connection string or URI. */
  PGconn *pg = cis__pq.connectStartParams(keys, vals, 1);
  if (!pg) return note(rep, CIS__PGWIRE_NOMEM, "connect", "out of memory");
  cis__pq.setNoticeReceiver(pg, drop_notice, NULL); /* before any message can arrive */
  if (cis__pq.status(pg) == CONNECTION_BAD) {
    /* libpq fails here both for a malformed string and for a first step
     * that could not start (a host name that does not resolve, a missing
     * socket file). Only the first is the caller's mistake; the second is
     * a database out of reach, like a refused connection. */
    char *perr = NULL;
    PQconninfoOption *opts = cis__pq.conninfoParse(conninfo, &perr);
    bool malformed = !opts;
    cis__pq.conninfoFree(opts);
    cis__pq.freemem(perr);
    if (malformed) note(rep, CIS__PGWIRE_REJECTED, "connection string", cis__pq.errorMessage(pg));
    else note(rep, CIS__PGWIRE_LOST, "connect", cis__pq.errorMessage(pg));
    goto fail;
  }
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  while (st != PGRES_POLLING_OK) {
    if (st == PGRES_POLLING_FAILED) {
      note(rep, CIS__PGWIRE_LOST, "connect", cis__pq.errorMessage(pg));
      goto fail;
    }
    cis__pgwire_outcome o =
        cis__pgwire_wait(pg, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, until, rep);
    if (o == CIS__PGWIRE_TIMEOUT)
      note(rep, CIS__PGWIRE_TIMEOUT, "connect", "no connection before the deadline");
    if (o == CIS__PGWIRE_CANCELLED) note(rep, CIS__PGWIRE_CANCELLED, "connect", "the call was cancelled");
    if (o != CIS__PGWIRE_DONE) goto fail;
    st = cis__pq.connectPoll(pg);
  }
  if (cis__pq.setnonblocking(pg, 1) != 0) {
    note(rep, CIS__PGWIRE_LOST, "connect", cis__pq.errorMessage(pg));
    goto fail;
  }
  *out = pg;
  return CIS__PGWIRE_DONE;

fail:
  cis__pq.finish(pg);
  return rep->outcome;
}

/* Pushes out what libpq still buffers (a large value or block). */
static cis__pgwire_outcome push(PGconn *pg, cis__pgwire_until until, cis__pgwire_report *rep) {
  for (;;) {
    int f = cis__pq.flush(pg);
    if (f == 0) return CIS__PGWIRE_DONE;
    if (f < 0) return note(rep, CIS__PGWIRE_LOST, NULL, cis__pq.errorMessage(pg));
    cis__pgwire_outcome o = cis__pgwire_wait(pg, POLLOUT | POLLIN, until, rep);
    if (o != CIS__PGWIRE_DONE) return o;
    if (!cis__pq.consumeInput(pg))
      return note(rep, CIS__PGWIRE_LOST, NULL, cis__pq.errorMessage(pg));
  }
}

/* ------------------------------------------- a COMMIT that ends early
 *
 * A wait that settles (what ends with a COMMIT, or a statement the server
 * commits on its own) and runs out of time, or whose call is cancelled,
 * cancels the statement and waits for the answers a while more
 * (cis__pgwire_until, pgwire.h): a dropped connection would not stop a
 * server that already holds the COMMIT and runs it once the statement
 * before it gets its lock. */

/* Whether a collect whose wait ended with o goes on settling: one that
 * settles, the first time. Sends the cancel request, and moves *until to the
 * settle's end, no longer bounded by the call. *late keeps o. */
static bool settle_start(PGconn *pg, cis__pgwire_outcome o, cis__pgwire_until *until, cis__pgwire_outcome *late) {
  if (!until->settle || *late != CIS__PGWIRE_DONE ||
      (o != CIS__PGWIRE_TIMEOUT && o != CIS__PGWIRE_CANCELLED))
    return false;
  *late = o;
  cis__pgwire_cancel_async(pg); /* failing to start, the statement_timeout a caller set still ends it */
  until->ns = cis__now_ns() + (uint64_t)CIS__PGWIRE_SETTLE_MS * 1000000u;
  until->call = NULL;
  return true;
}

/* What a settled collect came to, o being how its settle ended. */
static cis__pgwire_outcome settle_end(cis__pgwire_outcome o, cis__pgwire_outcome late, cis__pgwire_report *rep) {
  if (late == CIS__PGWIRE_DONE) return o;
  rep->settled = true;
  switch (o) {
  case CIS__PGWIRE_DONE:
    rep->outcome = o; /* committed before the cancel came */
    return o;
  case CIS__PGWIRE_FAILED:
    /* Stopped (the cancel's 57014), or failed on its own before: either
     * way nothing applied, and a failure of its own keeps its words. */
    return rep->sqlclass == CIS__PGWIRE_SQL_CANCELLED ? note(rep, late, NULL, NULL) : o;
  case CIS__PGWIRE_TIMEOUT:
    note(rep, CIS__PGWIRE_LOST, NULL, NULL);
    snprintf(rep->msg, sizeof rep->msg,
             "no answer within %d ms of the cancel sent when its time ran out: whether it committed is not known",
             CIS__PGWIRE_SETTLE_MS);
    return CIS__PGWIRE_LOST;
  default:
    return o; /* lost meanwhile: not known either */
  }
}

cis__pgwire_outcome cis__pgwire_collect(PGconn *pg, int sent, cis__pgwire_until until, PGresult **out,
                                        cis__pgwire_report *rep) {
  cis__pgwire_outcome o;
  PGresult *keep = NULL;
  report_init(rep);
  if (pq_load(rep) != CIS__PGWIRE_DONE) return rep->outcome;
  if (!sent) return note(rep, CIS__PGWIRE_LOST, NULL, cis__pq.errorMessage(pg));
  cis__pgwire_outcome late = CIS__PGWIRE_DONE; /* how a wait that settles ended before it did */
  while ((o = push(pg, until, rep)) != CIS__PGWIRE_DONE)
    if (!settle_start(pg, o, &until, &late)) return settle_end(o, late, rep);
  /* Every result until libpq has none left. A wait reports into a report
   * of its own: the first failure lives in rep, and a wait that succeeds
   * after it must not wipe it out (a failed read would pass for an empty
   * one). */
  spin_window w = {0};
  for (;;) {
    if ((o = await_result(pg, until, &w, rep)) != CIS__PGWIRE_DONE) {
      if (settle_start(pg, o, &until, &late)) continue;
      goto done;
    }
    PGresult *r = cis__pq.getResult(pg);
    if (!r) break;
    ExecStatusType st = cis__pq.resultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
      if (out && !keep && rep->sqlclass == CIS__PGWIRE_SQL_NONE) keep = r;
      else cis__pq.clear(r);
    } else {
      failed_result(pg, r, rep);
    }
  }
  o = collected(pg, rep);

done:
  o = settle_end(o, late, rep);
  spin_learn(&w, until);
  if (o == CIS__PGWIRE_DONE && out) *out = keep;
  else cis__pq.clear(keep);
  return o;
}

cis__pgwire_outcome cis__pgwire_collect_pipeline(PGconn *pg, int sent, cis__pgwire_until until, int keep,
                                                 PGresult **out, cis__pgwire_report *rep) {
  cis__pgwire_outcome o;
  PGresult *kept = NULL; /* the first successful result of the command kept */
  int cmd = 0;           /* the command the next result belongs to */
  bool first = true;     /* the next result is its command's first */
  report_init(rep);
  if (pq_load(rep) != CIS__PGWIRE_DONE) return rep->outcome;
  if (!sent) return note(rep, CIS__PGWIRE_LOST, NULL, cis__pq.errorMessage(pg));
  cis__pgwire_outcome late = CIS__PGWIRE_DONE; /* how a wait that settles ended before it did */
  while ((o = push(pg, until, rep)) != CIS__PGWIRE_DONE)
    if (!settle_start(pg, o, &until, &late)) return settle_end(o, late, rep);
  /* A NULL from PQgetResult ends one command's results; the sync point's
   * own result ends the whole. As in cis__pgwire_collect, a wait reports
   * into a report of its own. */
  spin_window w = {0};
  for (;;) {
    if ((o = await_result(pg, until, &w, rep)) != CIS__PGWIRE_DONE) {
      if (settle_start(pg, o, &until, &late)) continue;
      goto done;
    }
    PGresult *r = cis__pq.getResult(pg);
    if (!r) {
      if (cis__pq.status(pg) != CONNECTION_OK) break; /* no sync point will come */
      cmd++; /* that command's results are over */
      first = true;
      continue;
    }
    ExecStatusType st = cis__pq.resultStatus(r);
    if (st == PGRES_PIPELINE_SYNC) {
      cis__pq.clear(r);
      break;
    }
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
      if (out && first && (keep < 0 || cmd == keep)) {
        cis__pq.clear(kept);
        kept = r;
      } else {
        cis__pq.clear(r);
      }
      first = false;
    } else if (st == PGRES_PIPELINE_ABORTED) {
      cis__pq.clear(r); /* skipped after an earlier failure, which decides */
    } else {
      if (rep->sqlclass == CIS__PGWIRE_SQL_NONE) rep->sqlcmd = cmd;
      failed_result(pg, r, rep);
    }
  }
  o = collected(pg, rep);

done:
  o = settle_end(o, late, rep);
  spin_learn(&w, until);
  if (o == CIS__PGWIRE_DONE && out) *out = kept;
  else cis__pq.clear(kept);
  return o;
}

/* How late cancel requests go out (cis__pgwire_cancel_delay_set). */
static atomic_uint cancel_delay_ms;

void cis__pgwire_cancel_delay_set(unsigned ms) { atomic_store(&cancel_delay_ms, ms); }

/* The detached thread of cis__pgwire_cancel_async: one blocking request. */
static void *cancel_thread(void *arg) {
  PGcancel *cn = arg;
  char buf[256];
  unsigned late = atomic_load(&cancel_delay_ms);
  if (late) {
    struct timespec ts = {late / 1000u, (long)(late % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
  }
  cis__pq.cancel(cn, buf, sizeof buf); /* its outcome has no one to go to */
  cis__pq.freeCancel(cn);
  return NULL;
}

bool cis__pgwire_cancel_async(PGconn *pg) {
  PGcancel *cn = pg && cis__dynlib_loaded(&cis__pq_lib) ? cis__pq.getCancel(pg) : NULL;
  if (!cn) return false;
  pthread_attr_t attr;
  pthread_t t;
  bool started = false;
  if (pthread_attr_init(&attr) == 0) {
    if (pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
        pthread_create(&t, &attr, cancel_thread, cn) == 0)
      started = true;
    pthread_attr_destroy(&attr);
  }
  if (!started) cis__pq.freeCancel(cn);
  return started;
}
