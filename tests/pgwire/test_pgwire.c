/*
 * This file implements the unit tests of the libpq plumbing the PostgreSQL
 * backends share (src/common/pgwire.c), against a fake server: a thread
 * that speaks just enough of the PostgreSQL protocol (startup, then a
 * scripted reply to each simple query) to put libpq's results and waits in
 * an exact order, which a real server cannot be made to do on demand.
 *
 * What they guard: a failed result seen first is kept even when the wait
 * for the next message succeeds (a failed read must not pass for an empty
 * one); a success before a failure is not handed out; SQLSTATEs map to
 * their classes; a timeout or a lost connection after a failure still
 * reports that failure; connect's own outcomes; the spin before a wait
 * (CIS_PG_SPIN_US): the same outcomes with it on and off, a quick answer
 * taken without sleeping, a slow one still received by the sleep after
 * it, a deadline that bounds the spin too, spinning turned off for a
 * kind of wait whose spins run out (and on again once one takes its
 * answers in time), and the variable's parsing. The backends'
 * mapping of these outcomes to their errors is tested by their own
 * suites on a real server (tests/kv, tests/vfsdb).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/callctx.h"
#include "common/internal.h"
#include "common/pgwire.h"

/* ------------------------------------------------ counting the sleeps */

/* The test is linked with -Wl,--wrap=poll (CMakeLists.txt), so every
 * poll() of pgwire.c comes here: the number of sleeps tells a result
 * taken by the spin (none) from one the wait slept for. The fake server's
 * thread never polls. */
int __real_poll(struct pollfd *fds, nfds_t n, int ms);
int __wrap_poll(struct pollfd *fds, nfds_t n, int ms);

static atomic_uint polls;

int __wrap_poll(struct pollfd *fds, nfds_t n, int ms) {
  atomic_fetch_add(&polls, 1);
  return __real_poll(fds, n, ms);
}

/* Spin budgets the outcome tests run with: off, and the most there is
 * (so that every answer of the fake server that comes at once is taken
 * by the spin). */
static unsigned spin_off = 0, spin_max = 1000;

/* Sets the spin budget a case runs with (its initial state). */
static int spin_setup(void **state) {
  cis__pgwire_spin_set(*(unsigned *)*state);
  return 0;
}

/* ------------------------------------------------------ the fake server */

/* A reply is a space-separated list of steps, one string per query (a
 * simple query, or a pipeline's sync point):
 *   E<sqlstate>  ErrorResponse with that SQLSTATE ("E-": with none)
 *   C<tag>       CommandComplete (a PGRES_COMMAND_OK result)
 *   1, 2, n      ParseComplete, BindComplete, NoData (a pipeline's statement)
 *   Z            ReadyForQuery (the end of the query's results)
 *   W<ms>        a pause, so that libpq has to wait for what follows
 *   K            wait (up to 5 s) for the client's cancel request on the
 *                listening socket, and count it (fake.cancels)
 *   X            close the connection
 *   H            answer nothing more (until the client goes) */
typedef struct fake {
  int lfd;                    /* listening socket, 127.0.0.1 */
  int port;                   /* its port */
  pthread_t thread;           /* serves one connection */
  const char *const *replies; /* one per query, in order; NULL-terminated */
  atomic_int cancels;         /* cancel requests received with the right key (K) */
} fake;

static int write_all(int fd, const void *p, size_t n) {
  const char *b = p;
  while (n) {
    ssize_t k = write(fd, b, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return -1;
    b += k;
    n -= (size_t)k;
  }
  return 0;
}

static int read_all(int fd, void *p, size_t n) {
  char *b = p;
  while (n) {
    ssize_t k = read(fd, b, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return -1;
    b += k;
    n -= (size_t)k;
  }
  return 0;
}

/* Sends one message: type, then its length (itself included), then body. */
static int send_msg(int fd, char type, const void *body, size_t n) {
  char head[5];
  uint32_t len = htonl((uint32_t)(n + 4));
  head[0] = type;
  memcpy(head + 1, &len, 4);
  return write_all(fd, head, 5) || (n && write_all(fd, body, n)) ? -1 : 0;
}

/* Appends a NUL-terminated field to body at *n. */
static void put_str(char *body, size_t *n, const char *s) {
  size_t k = strlen(s) + 1;
  memcpy(body + *n, s, k);
  *n += k;
}

static int send_error(int fd, const char *sqlstate) {
  char body[256], msg[64];
  size_t n = 0;
  put_str(body, &n, "SERROR");
  put_str(body, &n, "VERROR");
  if (strcmp(sqlstate, "-") != 0) {
    body[n++] = 'C';
    put_str(body, &n, sqlstate);
  }
  snprintf(msg, sizeof msg, "Mfake failure %s", sqlstate);
  put_str(body, &n, msg);
  body[n++] = '\0';
  return send_msg(fd, 'E', body, n);
}

static int send_handshake(int fd) {
  static const char *const params[][2] = {
      {"server_version", "15.0"},
      {"client_encoding", "UTF8"},
      {"standard_conforming_strings", "on"},
  };
  uint32_t auth_ok = 0, key[2] = {htonl(4242), htonl(7)};
  if (send_msg(fd, 'R', &auth_ok, 4)) return -1;
  for (size_t i = 0; i < CIS_ARRAY_LEN(params); i++) {
    char body[64];
    size_t n = 0;
    put_str(body, &n, params[i][0]);
    put_str(body, &n, params[i][1]);
    if (send_msg(fd, 'S', body, n)) return -1;
  }
  return send_msg(fd, 'K', key, 8) || send_msg(fd, 'Z', "I", 1) ? -1 : 0;
}

/* Takes one cancel request on f's listening socket: a connection that
 * sends CancelRequest with the key of send_handshake. Counted in
 * f->cancels; false when none came within 5 s. */
static bool take_cancel(fake *f) {
  struct pollfd p = {.fd = f->lfd, .events = POLLIN};
  if (__real_poll(&p, 1, 5000) != 1) return false; /* not counted: the client's sleeps are */
  int fd = accept(f->lfd, NULL, NULL);
  if (fd < 0) return false;
  uint32_t req[4];
  bool ok = read_all(fd, req, sizeof req) == 0 && ntohl(req[0]) == 16 && ntohl(req[1]) == 80877102 &&
            ntohl(req[2]) == 4242 && ntohl(req[3]) == 7;
  close(fd);
  if (ok) atomic_fetch_add(&f->cancels, 1);
  return ok;
}

/* Plays one reply. Returns 1 to keep serving, 0 to stop. */
static int play(fake *f, int fd, const char *reply) {
  char steps[256];
  snprintf(steps, sizeof steps, "%s", reply);
  for (char *save = NULL, *s = strtok_r(steps, " ", &save); s; s = strtok_r(NULL, " ", &save)) {
    int bad = 0;
    switch (s[0]) {
    case 'E': bad = send_error(fd, s + 1); break;
    case 'C': bad = send_msg(fd, 'C', s + 1, strlen(s + 1) + 1); break;
    case 'Z': bad = send_msg(fd, 'Z', "I", 1); break;
    case '1':
    case '2':
    case 'n': bad = send_msg(fd, s[0], NULL, 0); break;
    case 'K': bad = !take_cancel(f); break;
    case 'W': {
      struct timespec ts = {0, atol(s + 1) * 1000000L};
      nanosleep(&ts, NULL);
      break;
    }
    case 'X': return 0;
    case 'H': return 1;
    default: return 0;
    }
    if (bad) return 0;
  }
  return 1;
}

/* Serves one connection: the handshake, then each query's reply, until
 * the client terminates or goes away. */
static void *serve(void *arg) {
  fake *f = arg;
  int fd = accept(f->lfd, NULL, NULL);
  if (fd < 0) return NULL;
  /* As PostgreSQL does: a reply's messages are separate writes, and with
   * Nagle's algorithm the second would wait for the client's delayed
   * acknowledgement of the first (40 ms). */
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  uint32_t len;
  char buf[1024];
  /* The startup packet: its length, then the rest. */
  if (read_all(fd, &len, 4) || ntohl(len) < 8 || ntohl(len) > sizeof buf ||
      read_all(fd, buf, ntohl(len) - 4) || send_handshake(fd))
    goto done;
  for (size_t q = 0;;) {
    char type;
    if (read_all(fd, &type, 1) || read_all(fd, &len, 4) || ntohl(len) < 4) break;
    size_t n = ntohl(len) - 4;
    if (n > sizeof buf || read_all(fd, buf, n)) break;
    if (type == 'X') break;
    if (type != 'Q' && type != 'S') continue; /* a pipeline's statement: answered at its sync point */
    const char *reply = f->replies && f->replies[q] ? f->replies[q++] : "Z";
    if (!play(f, fd, reply)) break;
  }
done:
  close(fd);
  return NULL;
}

/* Listens on a free port of 127.0.0.1 (without accepting). */
static void fake_listen(fake *f) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  f->lfd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(f->lfd >= 0);
  assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(f->lfd, 4), 0);
  assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&a, &al), 0);
  f->port = ntohs(a.sin_port);
}

static void conninfo(const fake *f, char *out, size_t cap) {
  snprintf(out, cap,
           "host=127.0.0.1 port=%d user=u dbname=d sslmode=disable gssencmode=disable", f->port);
}

static cis__pgwire_until in_ms(uint64_t ms) { return cis__pgwire_at(cis__now_ns() + ms * 1000000ull); }
static cis__pgwire_until in_us(uint64_t us) { return cis__pgwire_at(cis__now_ns() + us * 1000ull); }

/* Timing bounds a loaded machine cannot fail. Every wait here sleeps in
 * poll() (or spins within the deadline before it), so load only makes
 * it late in wall time: a deadline is never met early (the exact lower
 * bound), and the upper bound is a multiple of what is awaited that only
 * a deadline not enforced at all, or several times late, exceeds. */
#define WALL_FACTOR 10.0

/* Milliseconds since t0 (a cis__now_ns() time), with the fraction. */
static double took_ms(uint64_t t0) { return (double)(cis__now_ns() - t0) / 1e6; }

/* Starts a fake server with these replies and connects to it. */
static PGconn *fake_start(fake *f, const char *const *replies) {
  char ci[160];
  cis__pgwire_report rep;
  PGconn *pg = NULL;
  memset(f, 0, sizeof *f);
  f->replies = replies;
  fake_listen(f);
  assert_int_equal(pthread_create(&f->thread, NULL, serve, f), 0);
  conninfo(f, ci, sizeof ci);
  cis__pgwire_outcome o = cis__pgwire_connect(&pg, "cis-test", ci, in_ms(5000), &rep);
  if (o != CIS__PGWIRE_DONE) fail_msg("connect: %d %s: %s", o, rep.what, rep.msg);
  assert_non_null(pg);
  assert_int_equal(PQisnonblocking(pg), 1);
  return pg;
}

static void fake_stop(fake *f, PGconn *pg) {
  PQfinish(pg);
  pthread_join(f->thread, NULL);
  close(f->lfd);
}

/* Sends sql and collects its results within ms. */
static cis__pgwire_outcome run(PGconn *pg, uint64_t ms, PGresult **out, cis__pgwire_report *rep) {
  return cis__pgwire_collect(pg, PQsendQuery(pg, "SELECT 1"), in_ms(ms), out, rep);
}

/* ----------------------------------------------------------------- cases */

/* The regression a8afafa fixed in kv (and vfs_db had right): the error
 * arrives, then libpq waits for ReadyForQuery and that wait succeeds. The
 * failure must survive it; a DONE here would read as "no rows". */
static void test_failure_kept_across_a_successful_wait(void **state) {
  (void)state;
  static const char *const replies[] = {"E22012 W200 Z", "CSET Z", NULL};
  fake f;
  cis__pgwire_report rep;
  PGresult *r = NULL;
  PGconn *pg = fake_start(&f, replies);
  assert_int_equal(run(pg, 5000, &r, &rep), CIS__PGWIRE_FAILED);
  assert_int_equal(rep.outcome, CIS__PGWIRE_FAILED);
  assert_int_equal(rep.sqlclass, CIS__PGWIRE_SQL_ERROR);
  assert_non_null(strstr(rep.sqlmsg, "fake failure 22012"));
  assert_null(r);
  /* The connection is still good for the next query. */
  assert_int_equal(run(pg, 5000, &r, &rep), CIS__PGWIRE_DONE);
  assert_int_equal(rep.sqlclass, CIS__PGWIRE_SQL_NONE);
  assert_non_null(r);
  assert_string_equal(PQcmdStatus(r), "SET");
  PQclear(r);
  fake_stop(&f, pg);
}

/* A success before the failure is not handed out (nor leaked). */
static void test_success_then_failure(void **state) {
  (void)state;
  static const char *const replies[] = {"CSET W100 E42601 W100 Z", NULL};
  fake f;
  cis__pgwire_report rep;
  PGresult *r = NULL;
  PGconn *pg = fake_start(&f, replies);
  assert_int_equal(run(pg, 5000, &r, &rep), CIS__PGWIRE_FAILED);
  assert_int_equal(rep.sqlclass, CIS__PGWIRE_SQL_ERROR);
  assert_null(r);
  fake_stop(&f, pg);
}

/* Each SQLSTATE lands in its class; the connection stays up throughout. */
static void test_sqlstate_classes(void **state) {
  (void)state;
  static const struct {
    const char *reply;
    cis__pgwire_sqlclass want;
  } cases[] = {
      {"E57014 Z", CIS__PGWIRE_SQL_CANCELLED}, {"E53100 Z", CIS__PGWIRE_SQL_DISK_FULL},
      {"E53300 Z", CIS__PGWIRE_SQL_DOWN},      {"E08006 Z", CIS__PGWIRE_SQL_DOWN},
      {"E58030 Z", CIS__PGWIRE_SQL_DOWN},      {"E57P01 Z", CIS__PGWIRE_SQL_DOWN},
      {"E57P02 Z", CIS__PGWIRE_SQL_DOWN},      {"E57P03 Z", CIS__PGWIRE_SQL_DOWN},
      {"E57P04 Z", CIS__PGWIRE_SQL_ERROR},     {"E57000 Z", CIS__PGWIRE_SQL_ERROR},
      {"E42601 Z", CIS__PGWIRE_SQL_ERROR},     {"E- Z", CIS__PGWIRE_SQL_ERROR},
  };
  const char *replies[CIS_ARRAY_LEN(cases) + 1];
  for (size_t i = 0; i < CIS_ARRAY_LEN(cases); i++) replies[i] = cases[i].reply;
  replies[CIS_ARRAY_LEN(cases)] = NULL;
  fake f;
  cis__pgwire_report rep;
  PGconn *pg = fake_start(&f, replies);
  for (size_t i = 0; i < CIS_ARRAY_LEN(cases); i++) {
    if (run(pg, 5000, NULL, &rep) != CIS__PGWIRE_FAILED || rep.sqlclass != cases[i].want)
      fail_msg("%s: outcome %d class %d, want class %d", cases[i].reply, rep.outcome,
               rep.sqlclass, cases[i].want);
  }
  fake_stop(&f, pg);
}

/* A connection lost after a failure: LOST (libpq said so itself, so no
 * step is named), with the failure still in the report. */
static void test_lost_after_failure(void **state) {
  (void)state;
  static const char *const replies[] = {"E22012 W100 X", NULL};
  fake f;
  cis__pgwire_report rep;
  PGresult *r = NULL;
  PGconn *pg = fake_start(&f, replies);
  assert_int_equal(run(pg, 5000, &r, &rep), CIS__PGWIRE_LOST);
  assert_null(rep.what);
  assert_true(rep.msg[0] != '\0');
  assert_int_equal(rep.sqlclass, CIS__PGWIRE_SQL_ERROR);
  assert_non_null(strstr(rep.sqlmsg, "22012"));
  assert_null(r);
  fake_stop(&f, pg);
}

/* Lost with no failure before it, and a query libpq could not send. */
static void test_lost(void **state) {
  (void)state;
  static const char *const replies[] = {"X", NULL};
  fake f;
  cis__pgwire_report rep;
  PGconn *pg = fake_start(&f, replies);
  assert_int_equal(run(pg, 5000, NULL, &rep), CIS__PGWIRE_LOST);
  assert_int_equal(rep.sqlclass, CIS__PGWIRE_SQL_NONE);
  assert_true(rep.msg[0] != '\0');
  fake_stop(&f, pg);

  assert_int_equal(cis__pgwire_collect(NULL, 0, cis__pgwire_at(UINT64_MAX), NULL, &rep), CIS__PGWIRE_LOST);
  assert_null(rep.what);
  assert_true(rep.msg[0] != '\0');
}

/* The deadline after a failure: TIMEOUT, on time, with the failure kept
 * and no wording of its own (the backend says what it did about it). */
static void test_timeout_after_failure(void **state) {
  (void)state;
  static const char *const replies[] = {"E22012 H", NULL};
  fake f;
  cis__pgwire_report rep;
  PGresult *r = NULL;
  PGconn *pg = fake_start(&f, replies);
  uint64_t t0 = cis__now_ns();
  assert_int_equal(run(pg, 300, &r, &rep), CIS__PGWIRE_TIMEOUT);
  double took = took_ms(t0);
  print_message("deadline 300 ms: timed out after %.1f ms\n", took);
  if (took < 300.0 || took > 300.0 * WALL_FACTOR)
    fail_msg("timed out after %.1f ms for 300", took);
  assert_null(rep.what);
  assert_string_equal(rep.msg, "");
  assert_int_equal(rep.sqlclass, CIS__PGWIRE_SQL_ERROR);
  assert_null(r);
  fake_stop(&f, pg);
}

typedef struct cancel_later {
  cis__callctx call;
  unsigned ms;
} cancel_later;

static void *cancel_after(void *p) {
  cancel_later *c = p;
  usleep(c->ms * 1000u);
  cis__callctx_cancel(&c->call);
  return NULL;
}

/* A wait that serves a call ends when the call is cancelled (looked at
 * every 25 ms), long before a far deadline; with a cancelled call it
 * does not start; the deadline still ends it when nobody cancels. */
static void test_cancel_of_the_call_ends_the_wait(void **state) {
  (void)state;
  static const char *const replies[] = {"H", NULL};
  fake f;
  cis__pgwire_report rep;
  PGconn *pg = fake_start(&f, replies);
  cancel_later c = {.ms = 200};
  cis__callctx_init(&c.call, UINT64_MAX, NULL);
  pthread_t th;
  uint64_t t0 = cis__now_ns();
  assert_int_equal(pthread_create(&th, NULL, cancel_after, &c), 0);
  cis__pgwire_until until = {cis__now_ns() + 30000000000ull, &c.call, CIS__PGWIRE_STATEMENT, false};
  assert_int_equal(cis__pgwire_collect(pg, PQsendQuery(pg, "SELECT 1"), until, NULL, &rep), CIS__PGWIRE_CANCELLED);
  double took = took_ms(t0);
  pthread_join(th, NULL);
  print_message("a cancel at 200 ms ended the wait after %.1f ms\n", took);
  if (took < 190.0 || took > 200.0 * WALL_FACTOR) fail_msg("the cancelled wait took %.1f ms", took);
  assert_int_equal(rep.outcome, CIS__PGWIRE_CANCELLED);
  /* Cancelled already: the wait returns at once. */
  t0 = cis__now_ns();
  assert_int_equal(cis__pgwire_wait(pg, POLLIN, until, &rep), CIS__PGWIRE_CANCELLED);
  assert_true(took_ms(t0) < 100.0 * WALL_FACTOR);
  /* Nobody cancels: the deadline, also when polling in slices. */
  cis__callctx_init(&c.call, UINT64_MAX, NULL);
  until.ns = cis__now_ns() + 120000000ull;
  t0 = cis__now_ns();
  assert_int_equal(cis__pgwire_wait(pg, POLLIN, until, &rep), CIS__PGWIRE_TIMEOUT);
  took = took_ms(t0);
  if (took < 120.0 || took > 120.0 * WALL_FACTOR) fail_msg("a 120 ms deadline in slices took %.1f ms", took);
  fake_stop(&f, pg);
}

/* A statement that does not end: the cancel request goes out without the
 * caller waiting for it (PQcancel itself blocks until the server closes,
 * which here is only after the call has returned), and it is the right
 * one: CancelRequest with the key the server gave at startup. */
static void test_cancel_async(void **state) {
  (void)state;
  static const char *const replies[] = {"H", NULL};
  fake f;
  PGconn *pg = fake_start(&f, replies);
  assert_int_equal(PQsendQuery(pg, "SELECT pg_sleep(1000)"), 1);
  uint64_t t0 = cis__now_ns();
  assert_true(cis__pgwire_cancel_async(pg));
  double took = took_ms(t0);
  print_message("cancel_async returned after %.1f ms\n", took);
  /* A cancel that waited would not return before the server answers,
   * which it does only below: it would hang, not be slow. The bound only
   * turns that into a failure, so it is generous. */
  if (took > 200.0 * WALL_FACTOR) fail_msg("cancel_async took %.1f ms", took);
  struct pollfd p = {.fd = f.lfd, .events = POLLIN};
  assert_int_equal(poll(&p, 1, 5000), 1);
  int fd = accept(f.lfd, NULL, NULL);
  assert_true(fd >= 0);
  uint32_t req[4];
  assert_int_equal(read_all(fd, req, sizeof req), 0);
  assert_int_equal(ntohl(req[0]), 16);
  assert_int_equal(ntohl(req[1]), 80877102); /* the CancelRequest code */
  assert_int_equal(ntohl(req[2]), 4242);     /* the backend key of send_handshake */
  assert_int_equal(ntohl(req[3]), 7);
  close(fd);
  assert_false(cis__pgwire_cancel_async(NULL));
  fake_stop(&f, pg);
}

/* ------------------------------------------ a COMMIT that ends early */

/* How a COMMIT's wait that ran out of time came out (pgwire.h,
 * cis__pgwire_until). */
typedef struct settle_want {
  cis__pgwire_outcome outcome;
  cis__pgwire_sqlclass sqlclass;
  bool committed; /* DONE with the COMMIT's result handed out */
} settle_want;

/* Sends a COMMIT (alone, or in pipeline mode as the KV store's commit
 * ends: `pipe`), whose wait is of kind k, settles or not (`settle`), and
 * ends at 300 ms, or at a cancel of its call at 100 ms (`cancel`); the
 * fake server answers it with `reply` (after the statement's
 * ParseComplete, BindComplete and NoData in a pipeline). The wait must
 * come out as w says, having sent one cancel request when it settles.
 * Returns how long it took, in ms. */
static double commit_ends_early(bool pipe, cis__pgwire_kind k, bool settle, bool cancel, const char *reply,
                                settle_want w) {
  char steps[128];
  snprintf(steps, sizeof steps, "%s%s", pipe ? "1 2 n " : "", reply);
  const char *const replies[] = {steps, NULL};
  fake f;
  cis__pgwire_report rep;
  PGresult *r = NULL;
  PGconn *pg = fake_start(&f, replies);
  cancel_later c = {.ms = 100};
  cis__callctx_init(&c.call, UINT64_MAX, NULL);
  pthread_t th;
  cis__pgwire_until until = {cis__now_ns() + 300000000ull, cancel ? &c.call : NULL, k, settle};
  if (cancel) until.ns = cis__now_ns() + 30000000000ull;
  uint64_t t0 = cis__now_ns();
  if (cancel) assert_int_equal(pthread_create(&th, NULL, cancel_after, &c), 0);
  cis__pgwire_outcome o;
  if (pipe) {
    assert_int_equal(PQenterPipelineMode(pg), 1);
    int sent = PQsendQueryParams(pg, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) && PQpipelineSync(pg) == 1;
    o = cis__pgwire_collect_pipeline(pg, sent, until, -1, &r, &rep);
  } else {
    o = cis__pgwire_collect(pg, PQsendQuery(pg, "COMMIT"), until, &r, &rep);
  }
  double took = took_ms(t0);
  if (cancel) pthread_join(th, NULL);
  print_message("%s%s%s, %s, \"%s\": outcome %d after %.1f ms (%s)\n", pipe ? "pipeline " : "",
                k == CIS__PGWIRE_COMMIT ? "commit" : "statement", settle ? " that settles" : "",
                cancel ? "call cancelled" : "deadline", reply, (int)o, took, rep.msg);
  assert_int_equal(o, w.outcome);
  assert_int_equal(rep.outcome, w.outcome);
  assert_int_equal(rep.settled, settle);
  assert_int_equal(rep.sqlclass, w.sqlclass);
  if (w.committed) {
    assert_non_null(r);
    assert_string_equal(PQcmdStatus(r), "COMMIT");
    PQclear(r);
  } else {
    assert_null(r);
  }
  fake_stop(&f, pg);
  assert_int_equal(atomic_load(&f.cancels), settle ? 1 : 0);
  return took;
}

/* A COMMIT's wait that runs out of time (or whose call is cancelled)
 * cancels it and waits for the answers: what the server says decides.
 * Stopped by the cancel: the deadline (or the cancel) after all, nothing
 * applied; committed before the cancel came: done, late; failed on its
 * own: that failure; no answer within CIS__PGWIRE_SETTLE_MS either: LOST,
 * not known. A statement outside a transaction settles the same way (its
 * kind only says how its spin learns); a wait that does not settle is
 * left at once. */
static void test_commit_that_ends_early_settles(void **state) {
  (void)state;
  const settle_want stopped = {CIS__PGWIRE_TIMEOUT, CIS__PGWIRE_SQL_CANCELLED, false};
  const settle_want cancelled = {CIS__PGWIRE_CANCELLED, CIS__PGWIRE_SQL_CANCELLED, false};
  const settle_want committed = {CIS__PGWIRE_DONE, CIS__PGWIRE_SQL_NONE, true};
  const settle_want own = {CIS__PGWIRE_FAILED, CIS__PGWIRE_SQL_ERROR, false};
  const settle_want unknown = {CIS__PGWIRE_LOST, CIS__PGWIRE_SQL_NONE, false};
  for (int pipe = 0; pipe < 2; pipe++) {
    double took = commit_ends_early(pipe, CIS__PGWIRE_COMMIT, true, false, "K E57014 Z", stopped);
    if (took < 300.0 || took > 300.0 * WALL_FACTOR) fail_msg("a stopped COMMIT took %.1f ms for 300", took);
    commit_ends_early(pipe, CIS__PGWIRE_STATEMENT, true, false, "K E57014 Z", stopped);
    commit_ends_early(pipe, CIS__PGWIRE_COMMIT, true, true, "K E57014 Z", cancelled);
    commit_ends_early(pipe, CIS__PGWIRE_COMMIT, true, false, "K CCOMMIT Z", committed);
    commit_ends_early(pipe, CIS__PGWIRE_COMMIT, true, false, "K E23505 Z", own);
    took = commit_ends_early(pipe, CIS__PGWIRE_COMMIT, true, false, "K H", unknown);
    double least = 300.0 + CIS__PGWIRE_SETTLE_MS;
    if (took < least || took > least * WALL_FACTOR) fail_msg("an unanswered cancel took %.1f ms for %.0f", took, least);
    /* A wait that does not settle: left at the deadline, no cancel sent
     * here. */
    took = commit_ends_early(pipe, CIS__PGWIRE_COMMIT, false, false, "H",
                             (settle_want){CIS__PGWIRE_TIMEOUT, CIS__PGWIRE_SQL_NONE, false});
    if (took > 300.0 * WALL_FACTOR) fail_msg("a wait that does not settle took %.1f ms for 300", took);
  }
}

/* A server that accepts (the kernel does, from the backlog) but never
 * answers the startup packet: connect gives up at the deadline. */
static void test_connect_deadline(void **state) {
  (void)state;
  fake f;
  char ci[160];
  cis__pgwire_report rep;
  PGconn *pg = (PGconn *)&f; /* must come back NULL */
  memset(&f, 0, sizeof f);
  fake_listen(&f);
  conninfo(&f, ci, sizeof ci);
  uint64_t t0 = cis__now_ns();
  assert_int_equal(cis__pgwire_connect(&pg, "cis-test", ci, in_ms(300), &rep),
                   CIS__PGWIRE_TIMEOUT);
  double took = took_ms(t0);
  print_message("connect deadline 300 ms: gave up after %.1f ms\n", took);
  if (took < 300.0 || took > 300.0 * WALL_FACTOR)
    fail_msg("gave up after %.1f ms for 300", took);
  assert_null(pg);
  assert_string_equal(rep.what, "connect");
  assert_string_equal(rep.msg, "no connection before the deadline");
  close(f.lfd);
}

/* Nobody listening, or no socket file, is LOST; a string libpq cannot
 * parse is REJECTED. */
static void test_connect_refused_and_rejected(void **state) {
  (void)state;
  fake f;
  char ci[160];
  cis__pgwire_report rep;
  PGconn *pg = NULL;
  memset(&f, 0, sizeof f);
  fake_listen(&f);
  close(f.lfd); /* the port is free again: refused */
  conninfo(&f, ci, sizeof ci);
  assert_int_equal(cis__pgwire_connect(&pg, "cis-test", ci, in_ms(5000), &rep), CIS__PGWIRE_LOST);
  assert_null(pg);
  assert_string_equal(rep.what, "connect");
  assert_true(rep.msg[0] != '\0');

  /* Failing inside libpq's first step, before any wait, is still a
   * database out of reach, not a malformed string. */
  assert_int_equal(cis__pgwire_connect(&pg, "cis-test", "host=/nonexistent/cis-test port=5 dbname=d",
                                       in_ms(5000), &rep),
                   CIS__PGWIRE_LOST);
  assert_null(pg);
  assert_string_equal(rep.what, "connect");

  assert_int_equal(cis__pgwire_connect(&pg, "cis-test", "this is not=a connection string",
                                       in_ms(5000), &rep),
                   CIS__PGWIRE_REJECTED);
  assert_null(pg);
  assert_string_equal(rep.what, "connection string");
  assert_true(rep.msg[0] != '\0');
}

/* What CIS_PG_SPIN_US was read as: run by ctest once without the
 * variable and once with it set (test_pgwire_spin_env), before any case
 * sets the budget itself. */
static void test_spin_budget_from_environment(void **state) {
  (void)state;
  const char *env = getenv("CIS_PG_SPIN_US");
  long ncpus = sysconf(_SC_NPROCESSORS_ONLN);
  unsigned want = cis__pgwire_spin_parse(env, ncpus);
  print_message("CIS_PG_SPIN_US=%s, %ld CPUs: spin %u us\n", env ? env : "(unset)", ncpus, want);
  assert_int_equal(cis__pgwire_spin_us(), want);
  const char *expect = getenv("CIS_PGWIRE_TEST_SPIN_US"); /* what ctest says it must be */
  if (expect && ncpus > 1) assert_int_equal(cis__pgwire_spin_us(), (unsigned)atoi(expect));
}

/* Hostile values of CIS_PG_SPIN_US fall back to the default or are
 * capped, and one CPU never spins. */
static void test_spin_parse(void **state) {
  (void)state;
  enum { D = 200 }; /* the default */
  static const struct {
    const char *env;
    long ncpus;
    unsigned want;
  } cases[] = {
      {NULL, 2, D},     {"", 2, D},         {"0", 2, 0},        {"25", 2, 25},
      {"150", 8, 150},  {"1000", 2, 1000},  {"1001", 2, 1000},  {"0999", 2, 999},
      {"99999999999999999999999999", 2, 1000}, /* past any integer: capped, not wrapped */
      {"4294967296", 2, 1000},                 /* 2^32: 0 if it wrapped in 32 bits */
      {"-5", 2, D},     {"+5", 2, D},       {" 5", 2, D},       {"5 ", 2, D},
      {"5us", 2, D},    {"0x10", 2, D},     {"1e3", 2, D},      {"abc", 2, D},
      {"100", 1, 0},    {NULL, 1, 0},       {"100", 0, 0},      {"100", -1, 0},
  };
  for (size_t i = 0; i < CIS_ARRAY_LEN(cases); i++) {
    unsigned got = cis__pgwire_spin_parse(cases[i].env, cases[i].ncpus);
    if (got != cases[i].want)
      fail_msg("'%s' on %ld CPUs: %u, want %u", cases[i].env ? cases[i].env : "(null)",
               cases[i].ncpus, got, cases[i].want);
  }
  cis__pgwire_spin_set(5000);
  assert_int_equal(cis__pgwire_spin_us(), 1000);
}

/* With the spin on, an answer that comes at once is taken without a
 * sleep. The server's thread has to run and answer within the spin, which
 * a loaded machine may not give it every time, so this asks for it once
 * in up to 200 queries; with the spin off each query sleeps at least
 * once. */
static void test_spin_takes_a_quick_answer(void **state) {
  (void)state;
  enum { QUERIES = 200 };
  const char *replies[QUERIES + 1];
  for (size_t i = 0; i < QUERIES; i++) replies[i] = "CSET Z";
  replies[QUERIES] = NULL;
  fake f;
  cis__pgwire_report rep;
  cis__pgwire_spin_set(1000);
  PGconn *pg = fake_start(&f, replies);
  int q = 0;
  unsigned slept = 1;
  for (; q < QUERIES && slept; q++) {
    PGresult *r = NULL;
    cis__pgwire_spin_set(1000); /* spinning again, if a busy machine turned it off */
    atomic_store(&polls, 0);
    assert_int_equal(run(pg, 5000, &r, &rep), CIS__PGWIRE_DONE);
    slept = atomic_load(&polls);
    assert_non_null(r);
    assert_string_equal(PQcmdStatus(r), "SET");
    PQclear(r);
  }
  print_message("the first answer taken without a sleep: query %d\n", q);
  if (slept) fail_msg("each of %d queries slept in poll() with a spin of 1000 us", QUERIES);
  fake_stop(&f, pg);
}

/* An answer slower than the spin still arrives: the wait sleeps for it. */
static void test_spin_then_sleep_for_a_slow_answer(void **state) {
  (void)state;
  static const char *const replies[] = {"W20 CSET Z", "E22012 W20 Z", NULL};
  fake f;
  cis__pgwire_report rep;
  PGresult *r = NULL;
  cis__pgwire_spin_set(1000);
  PGconn *pg = fake_start(&f, replies);
  atomic_store(&polls, 0);
  uint64_t t0 = cis__now_ns();
  assert_int_equal(run(pg, 5000, &r, &rep), CIS__PGWIRE_DONE);
  print_message("answer after 20 ms: %.1f ms, %u sleeps\n", took_ms(t0), atomic_load(&polls));
  assert_true(atomic_load(&polls) >= 1); /* a spin as long as the answer would sleep none */
  assert_non_null(r);
  assert_string_equal(PQcmdStatus(r), "SET");
  PQclear(r);
  r = NULL;
  /* A failure, then the end of the results 20 ms later. */
  atomic_store(&polls, 0);
  assert_int_equal(run(pg, 5000, &r, &rep), CIS__PGWIRE_FAILED);
  assert_true(atomic_load(&polls) >= 1);
  assert_int_equal(rep.sqlclass, CIS__PGWIRE_SQL_ERROR);
  assert_null(r);
  fake_stop(&f, pg);
}

/* Times this thread was made to give up its CPU. */
static long involuntary_switches(void) {
  struct rusage ru;
  return getrusage(RUSAGE_THREAD, &ru) == 0 ? ru.ru_nivcsw : 0;
}

/* A server that never answers, with the longest spin: a deadline longer
 * than the spin is met by the sleep after it, and one shorter than the
 * spin cuts the spin itself short. */
static void test_spin_within_the_deadline(void **state) {
  (void)state;
  static const char *const replies[] = {"H", NULL};
  fake f;
  cis__pgwire_report rep;
  cis__pgwire_spin_set(1000);
  PGconn *pg = fake_start(&f, replies);
  /* 5 ms, five times the spin: TIMEOUT on time, after sleeping. */
  atomic_store(&polls, 0);
  uint64_t t0 = cis__now_ns();
  long preempted = involuntary_switches();
  assert_int_equal(run(pg, 5, NULL, &rep), CIS__PGWIRE_TIMEOUT);
  double took = took_ms(t0);
  preempted = involuntary_switches() - preempted;
  print_message("deadline 5 ms, spin 1 ms: timed out after %.2f ms, %u sleeps, preempted %ld "
                "times\n", took, atomic_load(&polls), preempted);
  if (took < 5.0 || took > 5.0 * WALL_FACTOR) fail_msg("timed out after %.2f ms for 5", took);
  /* A spin that lost its CPU past the deadline (a loaded machine) never
   * gets to sleep; one that kept it sleeps after its 1 ms. */
  if (preempted == 0) assert_true(atomic_load(&polls) >= 1);
  assert_int_equal(cis__pgwire_spin_planned_ns(), 1000000); /* the budget, not the deadline */
  assert_null(rep.what);
  assert_string_equal(rep.msg, "");
  assert_int_equal(rep.sqlclass, CIS__PGWIRE_SQL_NONE);
  /* 200 µs, a fifth of the spin. The query is still unanswered, so each
   * collect waits for its results again. The spin is planned to end at
   * the deadline, not at its budget (what it planned, since the wall
   * clock of a loaded machine, whose scheduler may hand the CPU away for
   * milliseconds at each yield, cannot tell the two apart). No deadline
   * is ever met early. */
  double quickest = 1e9;
  for (int i = 0; i < 10; i++) {
    cis__pgwire_spin_set(1000); /* spinning again, if a busy machine turned it off */
    t0 = cis__now_ns();
    assert_int_equal(cis__pgwire_collect(pg, 1, in_us(200), NULL, &rep), CIS__PGWIRE_TIMEOUT);
    took = took_ms(t0);
    if (took < 0.2) fail_msg("timed out after %.3f ms for 0.2", took);
    if (took < quickest) quickest = took;
    uint64_t planned = cis__pgwire_spin_planned_ns();
    if (planned > 200000) fail_msg("a spin planned %llu ns for a 200 us deadline", (unsigned long long)planned);
  }
  print_message("deadline 200 us, spin 1 ms: quickest timeout of ten %.3f ms\n", quickest);
  fake_stop(&f, pg);
}

/* u as a wait for what ends with a COMMIT. */
static cis__pgwire_until as_commit(cis__pgwire_until u) {
  u.kind = CIS__PGWIRE_COMMIT;
  return u;
}

/* A wait of 200 µs on pg, which has a query out that will never be
 * answered: a spin covers all of it without a sleep (it is planned to the
 * deadline, which teaches nothing), a wait that does not spin sleeps in
 * poll(). Returns whether it slept. */
static bool short_wait_slept(PGconn *pg, cis__pgwire_kind kind) {
  cis__pgwire_report rep;
  cis__pgwire_until u = in_us(200);
  u.kind = kind;
  atomic_store(&polls, 0);
  assert_int_equal(cis__pgwire_collect(pg, 1, u, NULL, &rep), CIS__PGWIRE_TIMEOUT);
  return atomic_load(&polls) > 0;
}

/* A spin that runs out its budget turns spinning off for the next waits
 * of its kind, and only its kind: 1 wait, then 2, 4, up to 64 while the
 * spins of that kind keep running out. One that takes its answers in
 * time ends the back-off, so that the next run-out turns it off for one
 * wait again. Against a server that never answers, a wait with a 50 ms
 * deadline spins its whole 1 ms budget and runs out, whatever the load
 * (the budget's end, not the deadline, stops it). */
static void test_spin_backs_off_after_running_out(void **state) {
  (void)state;
  static const char *const never[] = {"H", NULL};
  enum { QUICK = 40 };
  const char *quick_replies[QUICK + 1];
  for (size_t i = 0; i < QUICK; i++) quick_replies[i] = "CCOMMIT Z";
  quick_replies[QUICK] = NULL;
  fake f, q;
  cis__pgwire_report rep;
  PGconn *pg = fake_start(&f, never);
  PGconn *quick = fake_start(&q, quick_replies);
  assert_int_equal(PQsendQuery(pg, "SELECT 1"), 1);
  cis__pgwire_spin_set(1000);
  /* Nothing ran out yet: both kinds spin. */
  assert_false(short_wait_slept(pg, CIS__PGWIRE_COMMIT));
  assert_false(short_wait_slept(pg, CIS__PGWIRE_STATEMENT));
  static const unsigned backoff[] = {1, 2, 4, 8, 16, 32, 64, 64};
  for (size_t i = 0; i < sizeof backoff / sizeof *backoff; i++) {
    assert_int_equal(cis__pgwire_collect(pg, 1, as_commit(in_ms(50)), NULL, &rep), CIS__PGWIRE_TIMEOUT);
    if (cis__pgwire_spin_skips(CIS__PGWIRE_COMMIT) != backoff[i])
      fail_msg("run-out %zu in a row: %u waits without a spin, want %u", i + 1,
               cis__pgwire_spin_skips(CIS__PGWIRE_COMMIT), backoff[i]);
    assert_int_equal(cis__pgwire_spin_skips(CIS__PGWIRE_STATEMENT), 0);
    /* A statement still spins; each commit of the back-off sleeps. */
    assert_false(short_wait_slept(pg, CIS__PGWIRE_STATEMENT));
    /* Each commit wait of the back-off goes without a spin (its count
     * falls by one; a loaded machine may pass a 200 µs deadline before
     * the sleep, so the count, not the sleep, tells). */
    for (unsigned k = 0; k < backoff[i]; k++) {
      short_wait_slept(pg, CIS__PGWIRE_COMMIT);
      if (cis__pgwire_spin_skips(CIS__PGWIRE_COMMIT) != backoff[i] - k - 1)
        fail_msg("commit wait %u of %u: %u left", k + 1, backoff[i], cis__pgwire_spin_skips(CIS__PGWIRE_COMMIT));
    }
    assert_int_equal(cis__pgwire_spin_skips(CIS__PGWIRE_COMMIT), 0);
  }
  /* A commit whose answer the spin takes (without a sleep; a loaded
   * machine may keep the server's thread from answering within the spin,
   * whose run-out then turns it off again: those waits are slept
   * through) ends the back-off: the next run-out turns it off for one. */
  int taken = -1;
  for (int i = 0; i < QUICK && taken < 0; i++) {
    while (cis__pgwire_spin_skips(CIS__PGWIRE_COMMIT)) short_wait_slept(pg, CIS__PGWIRE_COMMIT);
    PGresult *r = NULL;
    atomic_store(&polls, 0);
    assert_int_equal(cis__pgwire_collect(quick, PQsendQuery(quick, "COMMIT"), as_commit(in_ms(5000)), &r, &rep),
                     CIS__PGWIRE_DONE);
    assert_non_null(r);
    PQclear(r);
    if (atomic_load(&polls) == 0) taken = i;
  }
  print_message("the first commit answer the spin took: %d\n", taken);
  if (taken < 0) fail_msg("no commit answer of %d taken by a spin of 1000 us", QUICK);
  assert_int_equal(cis__pgwire_collect(pg, 1, as_commit(in_ms(50)), NULL, &rep), CIS__PGWIRE_TIMEOUT);
  assert_int_equal(cis__pgwire_spin_skips(CIS__PGWIRE_COMMIT), 1);
  /* Turning the spin on again ends every back-off. */
  cis__pgwire_spin_set(1000);
  assert_int_equal(cis__pgwire_spin_skips(CIS__PGWIRE_COMMIT), 0);
  fake_stop(&q, quick);
  fake_stop(&f, pg);
}

static void test_oneline(void **state) {
  (void)state;
  char buf[32];
  cis__pgwire_oneline(buf, sizeof buf, "ERROR:  boom\nDETAIL:\tx\r\n", "fb");
  assert_string_equal(buf, "ERROR:  boom DETAIL: x");
  cis__pgwire_oneline(buf, sizeof buf, NULL, "fb");
  assert_string_equal(buf, "fb");
  cis__pgwire_oneline(buf, sizeof buf, "", "fb");
  assert_string_equal(buf, "fb");
  /* Only line breaks: not empty as given, so no fallback, but blank. */
  cis__pgwire_oneline(buf, sizeof buf, "\n", "fb");
  assert_string_equal(buf, "");
  /* Cut to the buffer first, then trailing spaces trimmed. */
  cis__pgwire_oneline(buf, 8, "abc\n\n\n\n\nxyz", "fb");
  assert_string_equal(buf, "abc");
}

/* A case run once with the spin off and once with it at its longest:
 * the outcomes must not depend on it. */
#define SPIN_BOTH(t)                                                   \
  {#t " (spin off)", t, spin_setup, NULL, &spin_off},                  \
  {#t " (spin 1000 us)", t, spin_setup, NULL, &spin_max}

int main(int argc, char **argv) {
  const struct CMUnitTest env_only[] = {
      cmocka_unit_test(test_spin_budget_from_environment),
  };
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_spin_budget_from_environment), /* first: before any case sets it */
      SPIN_BOTH(test_failure_kept_across_a_successful_wait),
      SPIN_BOTH(test_success_then_failure),
      SPIN_BOTH(test_sqlstate_classes),
      SPIN_BOTH(test_lost_after_failure),
      SPIN_BOTH(test_lost),
      SPIN_BOTH(test_timeout_after_failure),
      cmocka_unit_test(test_cancel_of_the_call_ends_the_wait),
      cmocka_unit_test(test_cancel_async),
      cmocka_unit_test(test_commit_that_ends_early_settles),
      cmocka_unit_test(test_connect_deadline),
      cmocka_unit_test(test_connect_refused_and_rejected),
      cmocka_unit_test(test_spin_parse),
      cmocka_unit_test(test_spin_takes_a_quick_answer),
      cmocka_unit_test(test_spin_then_sleep_for_a_slow_answer),
      cmocka_unit_test(test_spin_within_the_deadline),
      cmocka_unit_test(test_spin_backs_off_after_running_out),
      cmocka_unit_test(test_oneline),
  };
  /* --env-only: only what the variable was read as (test_pgwire_spin_env). */
  if (argc > 1 && strcmp(argv[1], "--env-only") == 0)
    return cmocka_run_group_tests(env_only, NULL, NULL);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
