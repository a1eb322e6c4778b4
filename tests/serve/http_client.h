/*
 * This file declares the server tests' HTTP client: one request per
 * connection (Connection: close) over loopback with a raw socket, every
 * wait bounded, the reply read whole (at most 16 MiB).
 */
#ifndef CIS_TESTS_SERVE_HTTP_CLIENT_H
#define CIS_TESTS_SERVE_HTTP_CLIENT_H

#include <stddef.h>

typedef struct http_resp {
  int status;          /* the status code; 0 when no reply came */
  char *head;          /* the status line and headers (malloc'd) */
  char *body;          /* the body, NUL-terminated (malloc'd) */
  size_t body_len;
} http_resp;

/* Sends METHOD PATH to 127.0.0.1:port with the extra header lines
 * (each "Name: value", NULL-terminated list, may be NULL) and the body
 * (len bytes, may be NULL; sent with Content-Length unless chunked, then
 * as one chunk). Returns 0 when a reply was read, -1 when the connection
 * could not be made or gave no reply (r->status 0). */
int http_request(int port, const char *method, const char *path, const char *const *headers, const char *body,
                 size_t len, int chunked, http_resp *r);
/* Shorthands: with "Authorization: Bearer TOKEN" when token is not NULL. */
int http_get(int port, const char *path, const char *token, http_resp *r);
int http_send(int port, const char *method, const char *path, const char *token, const char *body, http_resp *r);
/* The value of header name in r (case-insensitive) into out; NULL when
 * it is not there. */
const char *http_header(const http_resp *r, const char *name, char *out, size_t cap);
void http_resp_free(http_resp *r);
/* The value of the sample name (no labels) in GET /metrics of the server
 * on port; ~0 when it cannot be read. */
unsigned long long http_metric(int port, const char *name);

#endif
