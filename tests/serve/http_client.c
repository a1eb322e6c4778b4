/*
 * This file implements the server tests' HTTP client (http_client.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "serve/http_client.h"

#define MAX_REPLY (16u << 20)

static int send_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return -1;
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

int http_request(int port, const char *method, const char *path, const char *const *headers, const char *body,
                 size_t len, int chunked, http_resp *r) {
  memset(r, 0, sizeof *r);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct timeval tv = {60, 0}; /* a generous bound: ASan builds on a shared machine */
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  char head[8192];
  size_t n = (size_t)snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n",
                              method, path, port);
  for (size_t i = 0; headers && headers[i] && n < sizeof head; i++)
    n += (size_t)snprintf(head + n, sizeof head - n, "%s\r\n", headers[i]);
  if (body && n < sizeof head)
    n += chunked ? (size_t)snprintf(head + n, sizeof head - n, "Transfer-Encoding: chunked\r\n")
                 : (size_t)snprintf(head + n, sizeof head - n, "Content-Length: %zu\r\n", len);
  if (n < sizeof head) n += (size_t)snprintf(head + n, sizeof head - n, "\r\n");
  int bad = n >= sizeof head || send_all(fd, head, n);
  if (!bad && body) {
    if (chunked) {
      char sz[32];
      snprintf(sz, sizeof sz, "%zx\r\n", len);
      /* The server may answer and close before taking it all (413). */
      if (send_all(fd, sz, strlen(sz)) == 0 && send_all(fd, body, len) == 0) send_all(fd, "\r\n0\r\n\r\n", 7);
    } else {
      send_all(fd, body, len);
    }
  }
  size_t cap = 65536, got = 0;
  char *buf = malloc(cap + 1);
  while (buf && !bad) {
    if (got == cap) {
      if (cap >= MAX_REPLY) break;
      char *b = realloc(buf, cap * 2 + 1);
      if (!b) break;
      buf = b;
      cap *= 2;
    }
    ssize_t k = recv(fd, buf + got, cap - got, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    got += (size_t)k;
  }
  close(fd);
  if (!buf) return -1;
  buf[got] = 0;
  char *end = strstr(buf, "\r\n\r\n");
  if (bad || !end || sscanf(buf, "HTTP/1.%*d %d", &r->status) != 1) {
    free(buf);
    r->status = 0;
    return -1;
  }
  size_t hl = (size_t)(end - buf);
  r->head = malloc(hl + 1);
  r->body_len = got - hl - 4;
  r->body = malloc(r->body_len + 1);
  if (!r->head || !r->body) {
    free(buf);
    http_resp_free(r);
    return -1;
  }
  memcpy(r->head, buf, hl);
  r->head[hl] = 0;
  memcpy(r->body, end + 4, r->body_len);
  r->body[r->body_len] = 0;
  free(buf);
  return 0;
}

int http_get(int port, const char *path, const char *token, http_resp *r) {
  return http_send(port, "GET", path, token, NULL, r);
}

int http_send(int port, const char *method, const char *path, const char *token, const char *body, http_resp *r) {
  char auth[256];
  const char *h[] = {auth, NULL};
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", token ? token : "");
  return http_request(port, method, path, token ? h : NULL, body, body ? strlen(body) : 0, 0, r);
}

const char *http_header(const http_resp *r, const char *name, char *out, size_t cap) {
  size_t n = strlen(name);
  for (const char *p = r->head ? strstr(r->head, "\r\n") : NULL; p; p = strstr(p + 2, "\r\n")) {
    const char *line = p + 2;
    if (!strncasecmp(line, name, n) && line[n] == ':') {
      const char *v = line + n + 1;
      while (*v == ' ') v++;
      const char *e = strstr(v, "\r\n");
      size_t l = e ? (size_t)(e - v) : strlen(v);
      if (l >= cap) l = cap - 1;
      memcpy(out, v, l);
      out[l] = 0;
      return out;
    }
  }
  return NULL;
}

void http_resp_free(http_resp *r) {
  free(r->head);
  free(r->body);
  r->head = r->body = NULL;
}

unsigned long long http_metric(int port, const char *name) {
  http_resp r;
  if (http_get(port, "/metrics", NULL, &r) != 0) return ~0ull;
  char line[128];
  snprintf(line, sizeof line, "\n%s ", name); /* the sample, not its # HELP */
  const char *p = r.body ? strstr(r.body, line) : NULL;
  unsigned long long v = ~0ull;
  if (p) sscanf(p + strlen(line), "%llu", &v);
  http_resp_free(&r);
  return v;
}
