/*
 * mock_server.h -- small HTTP servers on 127.0.0.1 for tests.
 *
 * A mock server listens on an ephemeral port of 127.0.0.1 only and runs
 * one thread per connection (libmicrohttpd), so a slow handler never holds
 * up another request. Test suites of any area link cis_test_mock:
 *
 *   cis_mock_server *s = cis_mock_http_start();         // the routes below
 *   ... "http://127.0.0.1:%u/echo", cis_mock_port(s) ...
 *   cis_mock_stop(s);
 *
 * cis_mock_http_start() serves these routes:
 *   /echo                200, the request body back; X-Method and X-Path
 *                        headers say what arrived
 *   /headers             200, the request headers as "name: value" lines
 *   /status/NNN          status NNN, body "status NNN"
 *   /redirect?to=U&code=C  status C (default 302) with Location: U
 *   /loop                302 to itself, for ever
 *   /slow?ms=N           waits N ms, then 200 "slow"
 *   /bytes?n=N           200 with N bytes of 'x' (streamed, any size)
 *   /drip?n=N&ms=M       200 with N bytes, 1 KiB every M ms
 *   anything else        404
 *
 * The mock LLM (mock_llm.h) is another handler on the same server core.
 */
#ifndef CIS_TESTS_MOCK_SERVER_H
#define CIS_TESTS_MOCK_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cis_mock_server cis_mock_server;

/* One request as a handler sees it. */
typedef struct cis_mock_request {
  const char *method;  /* "GET", "POST", ... */
  const char *path;    /* path without the query string */
  const char *body;    /* request body, NUL-terminated; "" when none */
  size_t body_len;     /* bytes in body */
  void *conn;          /* the underlying connection; use the getters below */
} cis_mock_request;

#define CIS_MOCK_MAX_HEADERS 8

/* What a handler answers. The server pre-fills status 200 and an empty
 * body; the handler sets what it needs. */
typedef struct cis_mock_response {
  int status;                /* HTTP status */
  char *body;                /* malloc'd by the handler; the server frees it */
  size_t body_len;           /* bytes in body */
  const char *content_type;  /* static string; NULL = text/plain */
  uint64_t stream_bytes;     /* when > 0: send this many 'x' instead of body */
  unsigned stream_delay_ms;  /* pause before each 1 KiB streamed block */
  int nheaders;              /* used entries of headers */
  struct {
    char name[64];           /* header name */
    char value[2048];        /* header value */
  } headers[CIS_MOCK_MAX_HEADERS]; /* extra response headers */
} cis_mock_response;

typedef void (*cis_mock_handler)(void *user, cis_mock_server *srv, const cis_mock_request *req,
                                 cis_mock_response *resp);

/* Starts a server on 127.0.0.1 and an ephemeral port. free_user (may be
 * NULL) releases user when the server stops. NULL when it cannot start. */
cis_mock_server *cis_mock_start(cis_mock_handler handler, void *user, void (*free_user)(void *));
/* Like cis_mock_start, on a chosen port (0 = ephemeral). */
cis_mock_server *cis_mock_start_port(uint16_t port, cis_mock_handler handler, void *user,
                                     void (*free_user)(void *));
/* Starts the route server described at the top of this file. */
cis_mock_server *cis_mock_http_start(void);
/* Stops the server; waits for running handlers (sleeps are cut short). */
void cis_mock_stop(cis_mock_server *s);

uint16_t cis_mock_port(const cis_mock_server *s);
/* Requests handled so far. */
unsigned cis_mock_requests(cis_mock_server *s);
/* Copies of the last request's method, path, headers ("name: value\n"
 * lines) and body; each may be NULL. The caller frees the strings. */
void cis_mock_last(cis_mock_server *s, char **method, char **path, char **headers, char **body);

/* Request header or query argument of req; NULL when absent. */
const char *cis_mock_header(const cis_mock_request *req, const char *name);
const char *cis_mock_arg(const cis_mock_request *req, const char *name);

/* Sleeps ms in small steps; returns false early when the server stops. */
bool cis_mock_sleep(cis_mock_server *s, unsigned ms);

/* Sets resp's body to a malloc'd copy of text (or printf-style). */
void cis_mock_set_body(cis_mock_response *resp, const char *text);
void cis_mock_add_header(cis_mock_response *resp, const char *name, const char *value);

#endif /* CIS_TESTS_MOCK_SERVER_H */
