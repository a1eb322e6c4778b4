/*
 * This file declares the non-blocking libpq plumbing that the PostgreSQL
 * backends (kv/kv_postgres.c, vfs/vfs_db_postgres.c) share: a connect
 * bounded by a deadline, a wait on the connection's socket, the collection
 * of every result of what was just sent, and the classes of SQLSTATE that
 * tell a dead server from a bad statement.
 *
 * It speaks neutral outcomes, never a backend's error vocabulary: each
 * backend maps an outcome to its own codes (cis_result in kv, errno values
 * in vfs_db), writes its own message and keeps its own policy on what to do
 * with the connection afterwards. So nothing here closes a connection it
 * was given: a timeout or a loss is reported, and what to do about it is
 * the backend's decision. The one cancel request sent here is a COMMIT's
 * whose wait ends early (cis__pgwire_until), since what the COMMIT did
 * must be known before anyone may report it.
 *
 * Built as the library cis_pgwire, so that cis_common does not depend on
 * libpq. Nor does libcis link libpq: it is loaded on the first connect
 * (common/dynlib.h), and every libpq function, here and in the backends, is
 * called through the table cis__pq, which holds what is loaded.
 */
#ifndef CIS_COMMON_PGWIRE_H
#define CIS_COMMON_PGWIRE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/dynlib.h"

/* The libpq functions cis calls, as (function, member of cis__pq). */
#define CIS__PQ_FUNCS(X)                                                               \
  X(PQcancel, cancel) X(PQclear, clear) X(PQcmdStatus, cmdStatus)                      \
  X(PQconnectPoll, connectPoll) X(PQconnectStartParams, connectStartParams)            \
  X(PQconninfoFree, conninfoFree) X(PQconninfoParse, conninfoParse)                    \
  X(PQconsumeInput, consumeInput) X(PQerrorMessage, errorMessage) X(PQfinish, finish)  \
  X(PQflush, flush) X(PQfreeCancel, freeCancel) X(PQfreemem, freemem)                  \
  X(PQgetCancel, getCancel) X(PQgetisnull, getisnull) X(PQgetlength, getlength)        \
  X(PQgetResult, getResult) X(PQgetvalue, getvalue) X(PQisBusy, isBusy)                \
  X(PQntuples, ntuples) X(PQresultErrorField, resultErrorField)                        \
  X(PQresultErrorMessage, resultErrorMessage) X(PQresultStatus, resultStatus)          \
  X(PQsendPrepare, sendPrepare) X(PQsendQuery, sendQuery)                              \
  X(PQsendQueryPrepared, sendQueryPrepared) X(PQsetNoticeProcessor, setNoticeProcessor) \
  X(PQsetNoticeReceiver, setNoticeReceiver) X(PQsetnonblocking, setnonblocking)        \
  X(PQsocket, socket) X(PQstatus, status) X(PQtransactionStatus, transactionStatus)       \
  X(PQenterPipelineMode, enterPipelineMode) X(PQexitPipelineMode, exitPipelineMode)    \
  X(PQpipelineSync, pipelineSync) X(PQsendQueryParams, sendQueryParams)          \
  X(PQnotifies, notifies)

/* libpq's functions, valid once cis__pq_lib is loaded: cis__pgwire_connect
 * loads it, so a connection it made is proof that they are. */
typedef struct cis__pq_api {
  CIS__PQ_FUNCS(CIS__DYNLIB_MEMBER)
} cis__pq_api;
extern cis__pq_api cis__pq;
/* libpq itself (its soname is the one the build found). */
extern cis__dynlib cis__pq_lib;

/* Room for a failure's detail, at least a backend's whole message buffer
 * (each backend checks this with a static assertion), so that what a
 * backend makes of the detail does not depend on the copy kept here. */
#define CIS__PGWIRE_MSG_MAX 256

/* How a call ended. */
typedef enum cis__pgwire_outcome {
  CIS__PGWIRE_DONE = 0, /* finished: connected, ready, or every result arrived and none failed */
  CIS__PGWIRE_FAILED,   /* every result arrived, the connection is up, and one failed */
  CIS__PGWIRE_TIMEOUT,  /* the deadline passed first */
  CIS__PGWIRE_CANCELLED, /* the call the wait served was cancelled first (cis__pgwire_until) */
  CIS__PGWIRE_LOST,     /* the connection broke, or could not be made */
  CIS__PGWIRE_REJECTED, /* connect: the connection string is malformed */
  CIS__PGWIRE_NOMEM,    /* connect: libpq could not allocate the connection */
  CIS__PGWIRE_NOLIB,    /* libpq could not be loaded (rep->msg: the soname, the package) */
} cis__pgwire_outcome;

/* What the SQLSTATE of a failed result says about the server. */
typedef enum cis__pgwire_sqlclass {
  CIS__PGWIRE_SQL_NONE = 0,  /* no result failed */
  CIS__PGWIRE_SQL_ERROR,     /* the statement's own failure (syntax, constraint, no SQLSTATE) */
  CIS__PGWIRE_SQL_DOWN,      /* 08, 53 (but 53100), 58, 57P01-57P03, or none on a broken link */
  CIS__PGWIRE_SQL_DISK_FULL, /* 53100: the server's disk is full */
  CIS__PGWIRE_SQL_CANCELLED, /* 57014: cancelled (statement_timeout or a cancel request) */
} cis__pgwire_sqlclass;

/* What a call found, for the backend to put in its own words. Filled in
 * by every call that takes one; meaningful until the next. */
typedef struct cis__pgwire_report {
  cis__pgwire_outcome outcome;      /* how the call ended (also its return value) */
  const char *what;                 /* the step that failed ("connect", "wait", "poll",
                                       "connection string"), or NULL: the caller's own */
  char msg[CIS__PGWIRE_MSG_MAX];    /* libpq's detail as given (several lines, possibly
                                       cut short); "" when it gave none, and for a query's
                                       timeout, whose wording is the caller's */
  cis__pgwire_sqlclass sqlclass;    /* the first failed result's class; also set when a
                                       timeout or a loss came after that failure */
  char sqlmsg[CIS__PGWIRE_MSG_MAX]; /* that result's message, as msg */
  int sqlcmd;                       /* in a pipeline, the command whose result that was
                                       (0: the first sent since the last sync point);
                                       -1 otherwise */
  bool settled;                     /* a collect that settles ran out of time or was
                                       cancelled, and cancelled its statement
                                       (cis__pgwire_until) */
} cis__pgwire_report;

/* What a wait for results is for. A COMMIT's answer waits for the
 * server's flush of its log, some times as long as a statement's, so the
 * spin before a wait (cis__pgwire_spin_us) learns for each kind on its own
 * whether its answers come within the budget. */
typedef enum cis__pgwire_kind {
  CIS__PGWIRE_STATEMENT, /* statements, or anything else */
  CIS__PGWIRE_COMMIT,    /* what ends with a COMMIT */
  CIS__PGWIRE_KINDS
} cis__pgwire_kind;

/* How long a wait that settles waits for the answer to its cancel
 * request (below). */
#define CIS__PGWIRE_SETTLE_MS 1000

/* When a wait ends: at a time (a cis__now_ns() time; UINT64_MAX: none),
 * or earlier when the call it serves (NULL: none) is cancelled, seen
 * within 25 ms (CIS__PGWIRE_CANCELLED); what it waits for; and whether
 * it settles.
 *
 * A collect that settles (what ends with a COMMIT, or a statement outside
 * any transaction, which the server commits as it ends) is not left
 * there as another wait is. Its COMMIT is at the server already, behind
 * statements that may wait for a lock, and would run once they get it: a
 * caller that reported the deadline would then have applied what it said
 * it did not. So when its time runs out, or its call is cancelled, the
 * collect sends a cancel request (cis__pgwire_cancel_async) and goes on
 * waiting for the answers, up to CIS__PGWIRE_SETTLE_MS more, unbounded
 * by the call, and says what they came to (rep->settled): TIMEOUT or
 * CANCELLED when the cancel stopped it (nothing applied; rep->sqlclass is
 * CIS__PGWIRE_SQL_CANCELLED), FAILED when it failed on its own first
 * (nothing applied either), DONE when it committed before the cancel came
 * (late, but done), LOST when no answer came in that time either (not
 * known whether it committed: rep->msg says so) or the connection broke
 * meanwhile. */
typedef struct cis__pgwire_until {
  uint64_t ns;
  const struct cis__callctx *call;
  cis__pgwire_kind kind;
  bool settle;
} cis__pgwire_until;

/* A wait for a statement that ends at ns only. */
static inline cis__pgwire_until cis__pgwire_at(uint64_t ns) {
  return (cis__pgwire_until){ns, NULL, CIS__PGWIRE_STATEMENT, false};
}

/* Copies msg (libpq's: several lines with a trailing newline) into buf
 * (cap bytes) as one line: line breaks and tabs become spaces, trailing
 * spaces go. fallback stands in for a NULL or empty msg. */
void cis__pgwire_oneline(char *buf, size_t cap, const char *msg, const char *fallback);

/* Connects with libpq's non-blocking connect, as application `appname`,
 * to `conninfo` (a connection string or URI), waiting no later than
 * `until` (its time, or a cancel of its call), and makes the
 * connection non-blocking. On DONE *out is the connection (the caller
 * PQfinishes it); otherwise *out is NULL and rep says why: REJECTED,
 * NOMEM, TIMEOUT, CANCELLED, LOST or NOLIB, with rep->what always set.
 *
 * NOLIB is libpq missing: it is loaded here, on the first connect of the
 * process, and a failure is retried on the next connect.
 *
 * REJECTED is a connection string that does not parse. LOST is a
 * database out of reach: a refused connection, a failed authentication,
 * and also what libpq's first step meets inside PQconnectStartParams,
 * such as a host name that does not resolve (looked up there, blocking:
 * that lookup is the one wait not bounded by `until`) or a Unix socket
 * that is not there. */
cis__pgwire_outcome cis__pgwire_connect(PGconn **out, const char *appname, const char *conninfo,
                                        cis__pgwire_until until, cis__pgwire_report *rep);

/* Waits until pg's socket is ready for `events` (POLLIN, POLLOUT) or
 * `until` passes. Returns DONE, TIMEOUT (rep->msg empty), CANCELLED (the
 * same; `until`'s call was cancelled) or LOST (no
 * socket, or poll failed: rep->what is "wait" or "poll"), or NOLIB. */
cis__pgwire_outcome cis__pgwire_wait(PGconn *pg, short events, cis__pgwire_until until,
                                     cis__pgwire_report *rep);

/* Collects every result of what was just sent: call it straight after a
 * PQsend* function, passing what that returned (0, libpq could not send,
 * is a LOST connection). It first pushes out what libpq still buffers,
 * then drains every result, waiting no later than `until`.
 *
 * The first successful result goes to *out when out is not NULL and no
 * failure came before it; the caller PQclears it. Any other outcome than
 * DONE leaves *out alone and frees every result.
 *
 * The first failed result is remembered (rep->sqlclass, rep->sqlmsg) and
 * nothing later erases it: not the results after it, nor a wait that
 * succeeds. When every result has arrived that is FAILED. A timeout or a
 * lost connection after it still ends the call as TIMEOUT, CANCELLED or LOST (with
 * rep->what and rep->msg saying how it was lost; rep->what NULL when libpq
 * reported the loss itself, "wait" or "poll" when the socket did), and the
 * earlier failure stays in the report, for backends that let it decide.
 * All results in without a failure but the connection gone is LOST. NOLIB
 * only when libpq was never loaded (pg cannot be a connection then). */
cis__pgwire_outcome cis__pgwire_collect(PGconn *pg, int sent, cis__pgwire_until until, PGresult **out,
                                        cis__pgwire_report *rep);

/* The same for a connection in pipeline mode (PQenterPipelineMode): call
 * it after PQpipelineSync, passing whether every send and the sync
 * succeeded. It collects the results of every command sent since the last
 * sync point up to this one, in order. *out gets the first successful
 * result of command `keep` (0 the first sent since the last sync point,
 * -1 the last), when no command failed; the first failed
 * result decides, as above (the commands after it are skipped by the
 * server: PGRES_PIPELINE_ABORTED, not a failure of their own). After DONE
 * or FAILED the pipeline is idle, so PQexitPipelineMode may follow. */
cis__pgwire_outcome cis__pgwire_collect_pipeline(PGconn *pg, int sent, cis__pgwire_until until, int keep,
                                                 PGresult **out, cis__pgwire_report *rep);

/* The spin budget of a wait for results, in microseconds: how long
 * cis__pgwire_collect and cis__pgwire_collect_pipeline read what arrives
 * before they sleep in poll() (always within their deadline), once per
 * collect. Read once per process from CIS_PG_SPIN_US by
 * cis__pgwire_spin_parse. A spin that runs out its budget turns spinning
 * off for the process's next waits of its kind (until.kind): 1, then 2,
 * 4, up to 64 while spins of that kind keep running out, none again once
 * one takes its answers in time. A spin whose answers do not come holds a
 * CPU the server may need for them (bench/NOTES.md, "A spin that backs
 * off"). */
unsigned cis__pgwire_spin_us(void);

/* The budget CIS_PG_SPIN_US = s gives with ncpus CPUs online: 0 on one
 * CPU (or ncpus < 1), whatever s says; the default (200) when s is NULL,
 * empty or not all decimal digits (a sign, a space, a unit); at most
 * 1000, so larger values, however long, are capped there. 0 turns the
 * spin off. */
unsigned cis__pgwire_spin_parse(const char *s, long ncpus);

/* Sets the budget for the rest of the process (capped at 1000 µs),
 * whatever CIS_PG_SPIN_US said, and turns spinning back on for each kind
 * where spins that ran out had turned it off: for tests. */
void cis__pgwire_spin_set(unsigned us);

/* How many of the next waits of kind k will sleep without a spin (for
 * tests). */
unsigned cis__pgwire_spin_skips(cis__pgwire_kind k);

/* How long the latest spin was to last at most, in ns: the earlier of its
 * budget and its deadline, as it began (for tests: the wall clock of a
 * loaded machine cannot tell which one stopped it). */
uint64_t cis__pgwire_spin_planned_ns(void);

/* Asks the server to cancel the statement running on pg, without waiting:
 * the cancel request is sent from a detached thread, because libpq's
 * PQcancel connects to the server blocking, which against an unreachable
 * host could outlast any deadline. The caller then drops pg (the request
 * does not need it) and returns at once; the server stops the statement
 * and releases its locks when the request arrives, and statement_timeout
 * stops it anyway when it does not. Returns false when no request could
 * be started (no cancel handle, no thread): the caller drops pg all the
 * same. */
bool cis__pgwire_cancel_async(PGconn *pg);

/* Makes every cancel request of cis__pgwire_cancel_async go out ms later
 * (0: at once), as on a machine so loaded that its thread waits that long
 * for a CPU: for tests. */
void cis__pgwire_cancel_delay_set(unsigned ms);

#endif /* CIS_COMMON_PGWIRE_H */
