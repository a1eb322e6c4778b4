/*
 * This file implements the mock server core of tests/net/mock_server.h on
 * libmicrohttpd: it binds 127.0.0.1 only, gathers each request's body,
 * hands the request to a handler and sends what the handler answers
 * (buffered or streamed). It also implements the route handler behind
 * cis_mock_http_start, used by the HTTP client tests.
 */
#include "net/mock_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MOCK_MAX_REQUEST_BODY (16u * 1024u * 1024u)

struct cis_mock_server {
  struct MHD_Daemon *daemon;  /* the libmicrohttpd server */
  uint16_t port;              /* bound port on 127.0.0.1 */
  cis_mock_handler handler;   /* answers each request */
  void *user;                 /* handler's state */
  void (*free_user)(void *);  /* releases user at stop; may be NULL */
  atomic_bool stopping;       /* cuts sleeps and streams short */
  atomic_uint requests;       /* requests handled */
  pthread_mutex_t lock;       /* guards the last_* copies */
  char *last_method;          /* copy of the last request's method */
  char *last_path;            /* copy of the last request's path */
  char *last_headers;         /* the last request's headers, one per line */
  char *last_body;            /* copy of the last request's body */
};

/* State of one request while its body arrives. */
typedef struct conn_ctx {
  char *body;       /* gathered body, NUL-terminated */
  size_t len;       /* bytes in body */
  size_t cap;       /* bytes allocated */
  bool too_big;     /* body went past MOCK_MAX_REQUEST_BODY */
} conn_ctx;

/* A streamed response body. */
typedef struct stream_ctx {
  cis_mock_server *srv;  /* for the stopping flag */
  unsigned delay_ms;     /* pause before each block */
} stream_ctx;

bool cis_mock_sleep(cis_mock_server *s, unsigned ms) {
  while (ms > 0) {
    if (atomic_load(&s->stopping)) return false;
    unsigned step = ms < 10 ? ms : 10;
    struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)step * 1000000L};
    nanosleep(&ts, NULL);
    ms -= step;
  }
  return !atomic_load(&s->stopping);
}

void cis_mock_set_body(cis_mock_response *resp, const char *text) {
  free(resp->body);
  resp->body = strdup(text);
  resp->body_len = resp->body ? strlen(text) : 0;
}

void cis_mock_add_header(cis_mock_response *resp, const char *name, const char *value) {
  if (resp->nheaders >= CIS_MOCK_MAX_HEADERS) return;
  snprintf(resp->headers[resp->nheaders].name, sizeof resp->headers[0].name, "%s", name);
  snprintf(resp->headers[resp->nheaders].value, sizeof resp->headers[0].value, "%s", value);
  resp->nheaders++;
}

const char *cis_mock_header(const cis_mock_request *req, const char *name) {
  return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *cis_mock_arg(const cis_mock_request *req, const char *name) {
  return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* Appends "key: value\n" to the string at *cls. */
static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value) {
  (void)kind;
  char **acc = cls;
  size_t old = *acc ? strlen(*acc) : 0;
  size_t add = strlen(key) + strlen(value ? value : "") + 3;
  char *n = realloc(*acc, old + add + 1);
  if (!n) return MHD_NO;
  snprintf(n + old, add + 1, "%s: %s\n", key, value ? value : "");
  *acc = n;
  return MHD_YES;
}

static void remember(cis_mock_server *s, const cis_mock_request *req) {
  char *headers = NULL;
  MHD_get_connection_values(req->conn, MHD_HEADER_KIND, collect_header, &headers);
  pthread_mutex_lock(&s->lock);
  free(s->last_method);
  free(s->last_path);
  free(s->last_headers);
  free(s->last_body);
  s->last_method = strdup(req->method);
  s->last_path = strdup(req->path);
  s->last_headers = headers ? headers : strdup("");
  s->last_body = strdup(req->body);
  pthread_mutex_unlock(&s->lock);
}

void cis_mock_last(cis_mock_server *s, char **method, char **path, char **headers, char **body) {
  pthread_mutex_lock(&s->lock);
  if (method) *method = s->last_method ? strdup(s->last_method) : NULL;
  if (path) *path = s->last_path ? strdup(s->last_path) : NULL;
  if (headers) *headers = s->last_headers ? strdup(s->last_headers) : NULL;
  if (body) *body = s->last_body ? strdup(s->last_body) : NULL;
  pthread_mutex_unlock(&s->lock);
}

unsigned cis_mock_requests(cis_mock_server *s) { return atomic_load(&s->requests); }
uint16_t cis_mock_port(const cis_mock_server *s) { return s->port; }

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
  (void)pos;
  stream_ctx *st = cls;
  if (st->delay_ms && !cis_mock_sleep(st->srv, st->delay_ms)) return MHD_CONTENT_READER_END_WITH_ERROR;
  if (atomic_load(&st->srv->stopping)) return MHD_CONTENT_READER_END_WITH_ERROR;
  size_t n = max < 1024 ? max : 1024;
  memset(buf, 'x', n);
  return (ssize_t)n;
}

/* Gathers the body over several calls, then runs the handler once. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
  (void)version;
  cis_mock_server *s = cls;
  conn_ctx *cc = *con_cls;
  if (!cc) {
    cc = calloc(1, sizeof *cc);
    if (!cc) return MHD_NO;
    *con_cls = cc;
    return MHD_YES;
  }
  if (*upload_data_size > 0) {
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    if (cc->too_big || n > MOCK_MAX_REQUEST_BODY - cc->len) {
      cc->too_big = true;
      return MHD_YES;
    }
    if (cc->len + n + 1 > cc->cap) {
      size_t cap = cc->cap ? cc->cap : 1024;
      while (cap < cc->len + n + 1) cap *= 2;
      char *b = realloc(cc->body, cap);
      if (!b) return MHD_NO;
      cc->body = b;
      cc->cap = cap;
    }
    memcpy(cc->body + cc->len, upload_data, n);
    cc->len += n;
    cc->body[cc->len] = '\0';
    return MHD_YES;
  }

  cis_mock_request req = {.method = method, .path = url, .body = cc->body ? cc->body : "",
                          .body_len = cc->len, .conn = conn};
  cis_mock_response *resp = calloc(1, sizeof *resp);
  if (!resp) return MHD_NO;
  resp->status = 200;
  atomic_fetch_add(&s->requests, 1);
  remember(s, &req);
  if (cc->too_big) {
    resp->status = 413;
    cis_mock_set_body(resp, "request body too large");
  } else {
    s->handler(s->user, s, &req, resp);
  }

  struct MHD_Response *r;
  if (resp->stream_bytes > 0) {
    stream_ctx *st = malloc(sizeof *st);
    if (!st) {
      free(resp->body);
      free(resp);
      return MHD_NO;
    }
    st->srv = s;
    st->delay_ms = resp->stream_delay_ms;
    r = MHD_create_response_from_callback(resp->stream_bytes, 1024, stream_read, st, free);
  } else {
    r = MHD_create_response_from_buffer(resp->body_len, resp->body ? resp->body : (char *)"",
                                        MHD_RESPMEM_MUST_COPY);
  }
  enum MHD_Result ok = MHD_NO;
  if (r) {
    MHD_add_response_header(r, "Content-Type", resp->content_type ? resp->content_type : "text/plain");
    for (int i = 0; i < resp->nheaders; i++)
      MHD_add_response_header(r, resp->headers[i].name, resp->headers[i].value);
    ok = MHD_queue_response(conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);
  }
  free(resp->body);
  free(resp);
  return ok;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)cls, (void)conn, (void)toe;
  conn_ctx *cc = *con_cls;
  if (!cc) return;
  free(cc->body);
  free(cc);
  *con_cls = NULL;
}

cis_mock_server *cis_mock_start_port(uint16_t port, cis_mock_handler handler, void *user,
                                     void (*free_user)(void *)) {
  cis_mock_server *s = calloc(1, sizeof *s);
  if (!s) goto fail;
  s->handler = handler;
  s->user = user;
  s->free_user = free_user;
  pthread_mutex_init(&s->lock, NULL);
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
                               0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &sin,
                               MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                               MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
  if (!s->daemon) goto fail;
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
  if (!info || info->port == 0) goto fail;
  s->port = info->port;
  return s;
fail:
  if (s) {
    if (s->daemon) MHD_stop_daemon(s->daemon);
    pthread_mutex_destroy(&s->lock);
    free(s);
  }
  if (free_user) free_user(user);
  return NULL;
}

cis_mock_server *cis_mock_start(cis_mock_handler handler, void *user, void (*free_user)(void *)) {
  return cis_mock_start_port(0, handler, user, free_user);
}

void cis_mock_stop(cis_mock_server *s) {
  if (!s) return;
  atomic_store(&s->stopping, true);
  MHD_stop_daemon(s->daemon);
  if (s->free_user) s->free_user(s->user);
  free(s->last_method);
  free(s->last_path);
  free(s->last_headers);
  free(s->last_body);
  pthread_mutex_destroy(&s->lock);
  free(s);
}

/* ------------------------------------------------------------ the routes */

static unsigned long arg_num(const cis_mock_request *req, const char *name, unsigned long dflt) {
  const char *v = cis_mock_arg(req, name);
  return v ? strtoul(v, NULL, 10) : dflt;
}

static void http_routes(void *user, cis_mock_server *srv, const cis_mock_request *req,
                        cis_mock_response *resp) {
  (void)user;
  char text[128];
  if (strcmp(req->path, "/echo") == 0) {
    resp->body = malloc(req->body_len + 1);
    if (resp->body) {
      memcpy(resp->body, req->body, req->body_len + 1);
      resp->body_len = req->body_len;
    }
    cis_mock_add_header(resp, "X-Method", req->method);
    cis_mock_add_header(resp, "X-Path", req->path);
  } else if (strcmp(req->path, "/headers") == 0) {
    char *h = NULL;
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, collect_header, &h);
    resp->body = h;
    resp->body_len = h ? strlen(h) : 0;
  } else if (strncmp(req->path, "/status/", 8) == 0) {
    resp->status = atoi(req->path + 8);
    if (resp->status < 100 || resp->status > 599) resp->status = 400;
    snprintf(text, sizeof text, "status %d", resp->status);
    cis_mock_set_body(resp, text);
  } else if (strcmp(req->path, "/redirect") == 0) {
    const char *to = cis_mock_arg(req, "to");
    resp->status = (int)arg_num(req, "code", 302);
    if (to) cis_mock_add_header(resp, "Location", to);
    cis_mock_set_body(resp, "moved");
  } else if (strcmp(req->path, "/loop") == 0) {
    resp->status = 302;
    cis_mock_add_header(resp, "Location", "/loop");
    cis_mock_set_body(resp, "again");
  } else if (strcmp(req->path, "/slow") == 0) {
    cis_mock_sleep(srv, (unsigned)arg_num(req, "ms", 1000));
    cis_mock_set_body(resp, "slow");
  } else if (strcmp(req->path, "/bytes") == 0) {
    resp->stream_bytes = arg_num(req, "n", 0);
    if (resp->stream_bytes == 0) cis_mock_set_body(resp, "");
  } else if (strcmp(req->path, "/drip") == 0) {
    resp->stream_bytes = arg_num(req, "n", 10240);
    resp->stream_delay_ms = (unsigned)arg_num(req, "ms", 100);
  } else {
    resp->status = 404;
    cis_mock_set_body(resp, "not found");
  }
}

cis_mock_server *cis_mock_http_start(void) { return cis_mock_start(http_routes, NULL, NULL); }
