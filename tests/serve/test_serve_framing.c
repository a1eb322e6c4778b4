/*
 * This file implements the tests of how the HTTP server reads what a
 * hostile client sends, byte for byte over a raw socket on 127.0.0.1:
 * message framing per RFC 9112 (Content-Length with Transfer-Encoding,
 * Content-Lengths that differ or are malformed: 400 and the connection
 * closed, a request pipelined behind never answered), control bytes and
 * NULs in the request target, percent-encoded or raw, and in header
 * values (400) or the bearer token (401), raw NULs the server's library
 * would hide anywhere in the head, folded lines and names that are no
 * token (400), and an invoke's stats, which
 * carry fuel_left only when a fuel limit applies.
 *
 * argv[1]: the folder holding the built fixtures (the .wat files here).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cis/cis_serve.h"
#include "cis/cis_skill.h"
#include "serve/http_client.h"
#include "serve/serve_fixture.h"

static const char *g_dir;

typedef struct srv {
  char home[128];
  cis_server *s;
  int port;
  char token[CIS_TOKEN_MAX];
} srv;

/* A server on a fresh home with alice's skills and token; token_rate:
 * lookups a second of tokens not cached (0: the default). */
static srv *srv_start(unsigned token_rate) {
  srv *v = calloc(1, sizeof *v);
  if (!v || serve_home_new(v->home, sizeof v->home)) {
    free(v);
    return NULL;
  }
  cis_skills *sk = serve_open(v->home, "alice");
  bool ok = sk && serve_register(sk, g_dir, "echo", "echo", "cis_v1", "") == CIS_OK &&
            serve_register(sk, g_dir, "fueled", "echo", "cis_v1", ",\"limits\":{\"fuel\":1000000}") == CIS_OK;
  cis_skills_close(sk);
  cis_server_config c;
  serve_config_loopback(&c, v->home, 2);
  c.token_lookup_rate = token_rate;
  if (!ok || serve_token(v->home, "alice", "a1", v->token, sizeof v->token) != CIS_OK ||
      cis_server_start(&c, &v->s) != CIS_OK) {
    fprintf(stderr, "server: %s\n", v->s ? cis_errmsg(v->s) : "no skill or token");
    cis_server_free(v->s);
    serve_home_remove(v->home);
    free(v);
    return NULL;
  }
  v->port = cis_server_port(v->s, 0);
  return v;
}

static void srv_stop(srv *v) {
  if (!v) return;
  cis_server_free(v->s);
  serve_home_remove(v->home);
  free(v);
}

static int setup(void **state) {
  *state = srv_start(0);
  return *state ? 0 : -1;
}

static int teardown(void **state) {
  srv_stop(*state);
  return 0;
}

/* What one connection got: the bytes, and whether the server closed it. */
typedef struct exchange {
  char buf[65536];
  size_t len;
  bool closed;                         /* EOF (or a reset) within the bound */
} exchange;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Sends len raw bytes to 127.0.0.1:port on a fresh connection, then reads
 * what comes back for at most wait_ms, until the server closes. The
 * connection stays open from our side. */
static void exchange_raw(int port, const char *bytes, size_t len, int wait_ms, exchange *x) {
  memset(x, 0, sizeof *x);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  size_t sent = 0;
  for (int i = 0; i < 1000 && sent < len; i++) {
    ssize_t k = send(fd, bytes + sent, len - sent, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break; /* the server may close before taking it all */
    sent += (size_t)k;
  }
  uint64_t until = now_ms() + (uint64_t)wait_ms;
  for (int i = 0; i < 10000 && x->len < sizeof x->buf - 1; i++) {
    uint64_t t = now_ms();
    if (t >= until) break;
    struct pollfd p = {fd, POLLIN, 0};
    int r = poll(&p, 1, (int)(until - t));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    ssize_t k = recv(fd, x->buf + x->len, sizeof x->buf - 1 - x->len, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      x->closed = true;
      break;
    }
    x->len += (size_t)k;
  }
  x->buf[x->len] = 0;
  close(fd);
}

/* How many responses x holds (status lines), and the first one's status. */
static int responses(const exchange *x, int *first) {
  int n = 0;
  *first = 0;
  for (const char *p = x->buf; (p = strstr(p, "HTTP/1.1 ")) != NULL; p += 9) {
    if (!n) *first = atoi(p + 9);
    n++;
  }
  return n;
}

/* How many of x's responses are 400s. */
static int only_400(const exchange *x) {
  int n = 0;
  for (const char *p = x->buf; (p = strstr(p, "HTTP/1.1 400 ")) != NULL; p += 9) n++;
  return n;
}

/* Expects exactly one response, of status want, and the connection
 * closed after it (what was pipelined behind never answered). */
static void expect_refused_and_closed(const srv *v, const char *req, size_t len, int want) {
  exchange x;
  exchange_raw(v->port, req, len, 10000, &x);
  int st;
  int n = responses(&x, &st);
  if (n != 1 || st != want || !x.closed)
    fprintf(stderr, "got %d response(s), closed %d:\n%s\n", n, x.closed, x.buf);
  assert_int_equal(n, 1);
  assert_int_equal(st, want);
  assert_true(x.closed);
}

#define PIPELINED "GET /v1/health HTTP/1.1\r\nHost: h\r\n\r\n"

/* ------------------------------------------------------------- framing */

static void length_and_transfer_encoding_is_400_and_closes(void **state) {
  srv *v = *state;
  char req[1024];
  int n = snprintf(req, sizeof req,
                   "POST /v1/skills/echo/invoke HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer %s\r\n"
                   "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n" PIPELINED,
                   v->token);
  expect_refused_and_closed(v, req, (size_t)n, 400);
  /* The other order of the two headers, and no token at all. */
  n = snprintf(req, sizeof req,
               "POST /v1/skills/echo/invoke HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
               "Content-Length: 7\r\n\r\n2\r\n{}\r\n0\r\n\r\n" PIPELINED);
  expect_refused_and_closed(v, req, (size_t)n, 400);
}

static void content_lengths_that_differ_are_400_and_close(void **state) {
  srv *v = *state;
  char req[1024];
  int n = snprintf(req, sizeof req,
                   "POST /v1/skills/echo/invoke HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer %s\r\n"
                   "Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}" PIPELINED,
                   v->token);
  expect_refused_and_closed(v, req, (size_t)n, 400);
}

static void malformed_content_length_is_400_and_closes(void **state) {
  srv *v = *state;
  static const char *const bad[] = {"abc", "", "2, 2", "2,2", "-2", "+2", "0x2", "2 2"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "POST /v1/skills/echo/invoke HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer %s\r\n"
                     "Content-Length: %s\r\n\r\n{}" PIPELINED,
                     v->token, bad[i]);
    exchange x;
    exchange_raw(v->port, req, (size_t)n, 10000, &x);
    int st;
    int count = responses(&x, &st);
    if (count < 1 || st != 400 || !x.closed || only_400(&x) != count)
      fprintf(stderr, "Content-Length \"%s\": %d response(s), closed %d:\n%s\n", bad[i], count, x.closed, x.buf);
    /* libmicrohttpd refuses some of these itself, and 0.9.75 writes the
     * head of its 400 twice; never the pipelined request's answer. */
    assert_true(count >= 1 && count <= 2);
    assert_int_equal(st, 400);
    assert_int_equal(only_400(&x), count);
    assert_true(x.closed);
  }
  /* A length past 64 bits is libmicrohttpd's own 413, closed too. */
  char req[1024];
  int n = snprintf(req, sizeof req,
                   "POST /v1/skills/echo/invoke HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n{}"
                   PIPELINED);
  exchange x;
  exchange_raw(v->port, req, (size_t)n, 10000, &x);
  assert_true(x.closed);
  assert_null(strstr(x.buf, "HTTP/1.1 200"));
  assert_non_null(strstr(x.buf, "HTTP/1.1 413"));
}

/* The same length twice is one length (RFC 9112 6.3 lets a recipient
 * take it), and well-framed requests pipelined on one connection are all
 * answered: the refusals above are the framing's, not the pipelining's. */
static void well_framed_requests_are_answered_in_turn(void **state) {
  srv *v = *state;
  char req[2048];
  int n = snprintf(req, sizeof req,
                   "POST /v1/skills/echo/invoke HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer %s\r\n"
                   "Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}" PIPELINED
                   "GET /v1/skills/echo HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n",
                   v->token, v->token);
  exchange x;
  exchange_raw(v->port, req, (size_t)n, 20000, &x);
  int st;
  int count = responses(&x, &st);
  if (count != 3 || st != 200) fprintf(stderr, "%d response(s):\n%s\n", count, x.buf);
  assert_int_equal(count, 3);
  assert_int_equal(st, 200);
  assert_true(x.closed);
  assert_null(strstr(x.buf, "HTTP/1.1 4"));
}

/* ------------------------------------------------------------- bytes */

static int status_raw(const srv *v, const char *req, size_t len) {
  exchange x;
  exchange_raw(v->port, req, len, 10000, &x);
  int st;
  if (responses(&x, &st) < 1) fprintf(stderr, "no response:\n%s\n", x.buf);
  return st;
}

static void nul_in_the_target_is_400(void **state) {
  srv *v = *state;
  char req[1024];
  /* It answered for echo: the path was cut at the %00. */
  int n = snprintf(req, sizeof req,
                   "GET /v1/skills/echo%%00anything HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer %s\r\n"
                   "Connection: close\r\n\r\n",
                   v->token);
  assert_int_equal(status_raw(v, req, (size_t)n), 400);
  n = snprintf(req, sizeof req, "GET /ui/page.js%%00.html HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  assert_int_equal(status_raw(v, req, (size_t)n), 400);
  /* Other control bytes, encoded (either case of hex) or raw, and in the
   * query. */
  static const char *const targets[] = {"/v1/health%0a", "/v1/health%1F", "/v1/health%7f", "/v1/calls?limit=1%00",
                                        "/v1/he\x01lth", "/v1/health\x7f"};
  for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
    n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n",
                 targets[i], v->token);
    int st = status_raw(v, req, (size_t)n);
    if (st != 400) fprintf(stderr, "target %zu: %d\n", i, st);
    assert_int_equal(st, 400);
  }
  /* The same targets, cleaned, are served: %2F and the like stay. */
  n = snprintf(req, sizeof req, "GET /v1/health HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  assert_int_equal(status_raw(v, req, (size_t)n), 200);
}

static void control_byte_in_a_header_is_400(void **state) {
  srv *v = *state;
  static const char ctl[] = "GET /v1/health HTTP/1.1\r\nHost: h\r\nX-Note: a\x01" "b\r\nConnection: close\r\n\r\n";
  assert_int_equal(status_raw(v, ctl, sizeof ctl - 1), 400);
  static const char del[] = "GET /v1/health HTTP/1.1\r\nHost: h\r\nX-Note: a\x7f\r\nConnection: close\r\n\r\n";
  assert_int_equal(status_raw(v, del, sizeof del - 1), 400);
  /* A tab is a field value's own whitespace (RFC 9110 5.5). */
  static const char tab[] = "GET /v1/health HTTP/1.1\r\nHost: h\r\nX-Note: a\tb\r\nConnection: close\r\n\r\n";
  assert_int_equal(status_raw(v, tab, sizeof tab - 1), 200);
}

/* Raw NULs, which the server's library hides by cutting its C strings
 * short: in the target, the method, a header value (in the middle, last,
 * or several before more bytes) and the token; a folded header line and a
 * name that is no token; each 400. */
static void raw_nul_anywhere_in_the_head_is_400(void **state) {
  srv *v = *state;
  char req[2048];
  static const char *const heads[] = {
      "GET /v1/health\0x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
      "GET /v1/health?a=1\0 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
      "GET /v1/health\0HTTP/1.1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
      "GE\0T /v1/health HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
      "GET  /v1/health HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
      "GET /v1/health HTTP/1.1\r\nHost: h\r\nX-Note: a\0b\r\nConnection: close\r\n\r\n",
      "GET /v1/health HTTP/1.1\r\nHost: h\r\nConnection: close\r\nX-Note: a\0b\r\n\r\n",
      "GET /v1/health HTTP/1.1\r\nHost: h\r\nConnection: close\r\nX-Note: a\0\0\0\0b\r\n\r\n",
      "GET /v1/health HTTP/1.1\r\nHost: h\r\nX-Note: \0\r\nConnection: close\r\n\r\n",
      "GET /v1/health HTTP/1.1\r\nHost: h\r\nX-Note: a\r\n folded\r\nConnection: close\r\n\r\n",
      "GET /v1/health HTTP/1.1\r\nHost: h\r\nX-Note : a\r\nConnection: close\r\n\r\n",
      "GET /v1/health HTTP/1.1\r\nHost: h\r\nX(Note): a\r\nConnection: close\r\n\r\n",
      "GET /v1/health HTTP/1.1\0x\r\nHost: h\r\nConnection: close\r\n\r\n",
  };
  static const size_t lens[] = {
      sizeof "GET /v1/health\0x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n" - 1,
      sizeof "GET /v1/health?a=1\0 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n" - 1,
      sizeof "GET /v1/health\0HTTP/1.1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n" - 1,
      sizeof "GE\0T /v1/health HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n" - 1,
      sizeof "GET  /v1/health HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n" - 1,
      sizeof "GET /v1/health HTTP/1.1\r\nHost: h\r\nX-Note: a\0b\r\nConnection: close\r\n\r\n" - 1,
      sizeof "GET /v1/health HTTP/1.1\r\nHost: h\r\nConnection: close\r\nX-Note: a\0b\r\n\r\n" - 1,
      sizeof "GET /v1/health HTTP/1.1\r\nHost: h\r\nConnection: close\r\nX-Note: a\0\0\0\0b\r\n\r\n" - 1,
      sizeof "GET /v1/health HTTP/1.1\r\nHost: h\r\nX-Note: \0\r\nConnection: close\r\n\r\n" - 1,
      sizeof "GET /v1/health HTTP/1.1\r\nHost: h\r\nX-Note: a\r\n folded\r\nConnection: close\r\n\r\n" - 1,
      sizeof "GET /v1/health HTTP/1.1\r\nHost: h\r\nX-Note : a\r\nConnection: close\r\n\r\n" - 1,
      sizeof "GET /v1/health HTTP/1.1\r\nHost: h\r\nX(Note): a\r\nConnection: close\r\n\r\n" - 1,
      sizeof "GET /v1/health HTTP/1.1\0x\r\nHost: h\r\nConnection: close\r\n\r\n" - 1,
  };
  for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
    int st = status_raw(v, heads[i], lens[i]);
    if (st != 400) fprintf(stderr, "head %zu: %d\n", i, st);
    assert_int_equal(st, 400);
  }
  /* The token followed by a NUL and more: it answered 200 for the token. */
  int n = snprintf(req, sizeof req, "GET /v1/skills HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer %s", v->token);
  static const char tail[] = "\0garbage\r\nConnection: close\r\n\r\n";
  memcpy(req + n, tail, sizeof tail);
  assert_int_equal(status_raw(v, req, (size_t)n + sizeof tail - 1), 400);
  /* Last, and after it more NULs than the line end would have. */
  n = snprintf(req, sizeof req, "GET /v1/skills HTTP/1.1\r\nHost: h\r\nConnection: close\r\nAuthorization: Bearer %s",
               v->token);
  static const char tail2[] = "\0\0\0\0x\r\n\r\n";
  memcpy(req + n, tail2, sizeof tail2);
  assert_int_equal(status_raw(v, req, (size_t)n + sizeof tail2 - 1), 400);
}

/* What the layout check must still take: bare LF line ends, empty lines
 * before the request line, an empty value, blanks around a value, a head
 * of many and long headers, and a token read whole. */
static void whole_heads_of_every_shape_are_served(void **state) {
  srv *v = *state;
  static const char lf[] = "GET /v1/health HTTP/1.1\nHost: h\nX-Note: a\nConnection: close\n\n";
  assert_int_equal(status_raw(v, lf, sizeof lf - 1), 200);
  static const char lead[] = "\r\n\r\nGET /v1/health HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  assert_int_equal(status_raw(v, lead, sizeof lead - 1), 200);
  static const char empty[] = "GET /v1/health HTTP/1.1\r\nHost: h\r\nX-Note:\r\nX-B:  \t b \t\r\nConnection: close\r\n\r\n";
  assert_int_equal(status_raw(v, empty, sizeof empty - 1), 200);
  static const char ten[] = "GET /v1/health HTTP/1.0\r\n\r\n";
  assert_int_equal(status_raw(v, ten, sizeof ten - 1), 200);
  char *big = malloc(24000);
  assert_non_null(big);
  size_t n = (size_t)sprintf(big, "GET /v1/skills HTTP/1.1\r\nHost: h\r\n");
  for (int i = 0; i < 60; i++) n += (size_t)sprintf(big + n, "X-Filler-%d: %0*d\r\n", i, 100 + i * 5, i);
  n += (size_t)sprintf(big + n, "X-Long: ");
  memset(big + n, 'a', 6000);
  n += 6000;
  n += (size_t)sprintf(big + n, "\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n", v->token);
  assert_int_equal(status_raw(v, big, n), 200);
  free(big);
}

static void control_byte_in_the_bearer_token_is_401(void **state) {
  srv *v = *state;
  char req[1024];
  /* A control byte after it (a raw NUL is hidden by libmicrohttpd 0.9.75,
   * which keeps header values as C strings: see docs/serve.md). */
  size_t n = (size_t)snprintf(req, sizeof req,
                       "GET /v1/skills HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer %s\x01\r\nConnection: close\r\n\r\n",
                       v->token);
  assert_int_equal(status_raw(v, req, n), 401);
  n = (size_t)snprintf(req, sizeof req,
                       "GET /v1/skills HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer %s\r\nAuthorization: Bearer x\r\n"
                       "Connection: close\r\n\r\n",
                       v->token);
  assert_int_equal(status_raw(v, req, n), 401);
  /* The token alone is taken. */
  n = (size_t)snprintf(req, sizeof req,
                       "GET /v1/skills HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n",
                       v->token);
  assert_int_equal(status_raw(v, req, n), 200);
}

/* ------------------------------------------------------------- stats */

static void fuel_left_only_when_a_fuel_limit_applies(void **state) {
  srv *v = *state;
  http_resp r;
  assert_int_equal(http_send(v->port, "POST", "/v1/skills/echo/invoke", v->token, "{\"a\":1}", &r), 0);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.body, "\"stats\""));
  if (strstr(r.body, "fuel_left")) fprintf(stderr, "%s\n", r.body);
  assert_null(strstr(r.body, "fuel_left"));
  http_resp_free(&r);
  assert_int_equal(http_send(v->port, "POST", "/v1/skills/fueled/invoke", v->token, "{\"a\":1}", &r), 0);
  assert_int_equal(r.status, 200);
  const char *f = strstr(r.body, "\"fuel_left\":");
  assert_non_null(f);
  double left = strtod(f + 12, NULL);
  assert_true(left > 0 && left < 1000000);
  http_resp_free(&r);
  /* The recent calls say the same. */
  assert_int_equal(http_get(v->port, "/v1/calls?limit=2", v->token, &r), 0);
  assert_int_equal(r.status, 200);
  const char *fueled = strstr(r.body, "\"name\":\"fueled\""), *echo = strstr(r.body, "\"name\":\"echo\"");
  assert_non_null(fueled);
  assert_non_null(echo);
  assert_true(fueled < echo); /* newest first */
  const char *first_fuel = strstr(r.body, "fuel_left");
  assert_non_null(first_fuel);
  assert_true(first_fuel < echo);
  assert_null(strstr(echo, "fuel_left"));
  http_resp_free(&r);
}

/* What a burst of raw requests on fresh connections got: each's first
 * status, and whether the server closed each. */
#define BURST 24
typedef struct burst {
  int status[BURST];
  bool closed[BURST];
} burst;

/* Sends req on BURST fresh connections at once, then reads each's answer
 * until the server closes it (5 s for all at most). */
static void burst_raw(int port, const char *req, size_t len, burst *b) {
  memset(b, 0, sizeof *b);
  int fd[BURST];
  for (int i = 0; i < BURST; i++) {
    fd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd[i] >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd[i], (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(send(fd[i], req, len, MSG_NOSIGNAL), (ssize_t)len);
  }
  uint64_t until = now_ms() + 5000;
  for (int i = 0; i < BURST; i++) {
    char buf[4096];
    size_t got = 0;
    for (int k = 0; k < 1000 && got < sizeof buf - 1; k++) {
      uint64_t t = now_ms();
      if (t >= until) break;
      struct pollfd p = {fd[i], POLLIN, 0};
      int r = poll(&p, 1, (int)(until - t));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      ssize_t n = recv(fd[i], buf + got, sizeof buf - 1 - got, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        b->closed[i] = true;
        break;
      }
      got += (size_t)n;
    }
    buf[got] = 0;
    if (!strncmp(buf, "HTTP/1.1 ", 9)) b->status[i] = atoi(buf + 9);
    close(fd[i]);
  }
}

/* The answers given before a request is read whole (a malformed head:
 * 400; a declared body over the cap: 413) close their connection. With
 * no token the server knows they take a turn of --token-lookup-rate as a
 * 401 does: past the burst they wait (429 after a second, its connection
 * closed too), so that a client opening a connection per malformed
 * request gets no more answers a second than one sending forged tokens.
 * A token the server has cached is answered at once, its bucket empty. */
static void early_answers_without_a_known_token_wait_their_turn(void **state) {
  (void)state;
  srv *v = srv_start(4);
  assert_non_null(v);
  http_resp r;
  assert_int_equal(http_get(v->port, "/v1/skills", v->token, &r), 0); /* alice's token now cached */
  assert_int_equal(r.status, 200);
  http_resp_free(&r);
  static const char bad[] = "GET /v1/health HTTP/1.1\r\nHost: h\r\nX-Note: a\x01" "b\r\n\r\n";
  char big[256];
  int nbig = snprintf(big, sizeof big, "POST /v1/skills/echo/invoke HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n",
                      512 * 1024 * 1024);
  /* A malformed head whose body came with it: read while it waits,
   * dropped when it is answered. */
  static const char bad_body[] = "POST /v1/skills/echo/invoke HTTP/1.1\r\nHost: h\r\nX-Note: a\x01" "b\r\n"
                                 "Content-Length: 5\r\n\r\nhello";
  const char *reqs[] = {bad, big, bad_body};
  size_t lens[] = {sizeof bad - 1, (size_t)nbig, sizeof bad_body - 1};
  int wants[] = {400, 413, 400};
  for (int k = 0; k < 3; k++) {
    uint64_t waits = http_metric(v->port, "cis_token_lookup_waits_total");
    burst b;
    burst_raw(v->port, reqs[k], lens[k], &b);
    int answered = 0, late = 0;
    for (int i = 0; i < BURST; i++) {
      if (b.status[i] == wants[k]) answered++;
      else if (b.status[i] == 429) late++;
      else fail_msg("%d, request %d: %d", wants[k], i, b.status[i]);
      assert_true(b.closed[i]);
    }
    if (answered < 1 || late < 1) fail_msg("%d: %d answered, %d 429", wants[k], answered, late);
    assert_true(http_metric(v->port, "cis_token_lookup_waits_total") >= waits + (unsigned long long)late);
    /* The bucket is empty; alice's malformed request is answered at once. */
    char mine[512];
    int n = k == 1 ? snprintf(mine, sizeof mine,
                         "POST /v1/skills/echo/invoke HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer %s\r\n"
                         "Content-Length: %d\r\n\r\n",
                         v->token, 512 * 1024 * 1024)
              : snprintf(mine, sizeof mine,
                         "GET /v1/health HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer %s\r\nX-Note: a\x01"
                         "b\r\n\r\n",
                         v->token);
    uint64_t t0 = now_ms();
    expect_refused_and_closed(v, mine, (size_t)n, wants[k]);
    assert_true(now_ms() - t0 < 900); /* not after a wait of the pacer's (a second for the 429) */
  }
  srv_stop(v);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
    return 2;
  }
  g_dir = argv[1];
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(length_and_transfer_encoding_is_400_and_closes),
      cmocka_unit_test(content_lengths_that_differ_are_400_and_close),
      cmocka_unit_test(malformed_content_length_is_400_and_closes),
      cmocka_unit_test(well_framed_requests_are_answered_in_turn),
      cmocka_unit_test(nul_in_the_target_is_400),
      cmocka_unit_test(control_byte_in_a_header_is_400),
      cmocka_unit_test(control_byte_in_the_bearer_token_is_401),
      cmocka_unit_test(raw_nul_anywhere_in_the_head_is_400),
      cmocka_unit_test(whole_heads_of_every_shape_are_served),
      cmocka_unit_test(fuel_left_only_when_a_fuel_limit_applies),
      cmocka_unit_test(early_answers_without_a_known_token_wait_their_turn),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
