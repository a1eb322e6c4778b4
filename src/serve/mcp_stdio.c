/*
 * This file implements the stdio transport of the MCP server
 * (cis_mcp_serve_fd): newline-delimited JSON-RPC messages read from one
 * file descriptor, each reply written as one line to another.
 *
 * Memory is bounded by the line cap: a line is gathered in a buffer that
 * never grows past max_message; a longer one is answered with a parse
 * error as soon as it passes the cap and the rest of it is dropped as it
 * arrives, up to its newline.
 *
 * Each tools/call runs on a thread of its own, so that reading goes on
 * and a notifications/cancelled behind it reaches it (the core keeps the
 * calls in flight). At most CIS_MCP_MAX_CALLS run at once: one more makes
 * the reader wait for a slot, so threads and memory stay bounded. Replies
 * are written whole, one at a time, under a lock; at end of input the
 * calls in flight are waited for, and answered.
 *
 * A watch thread looks at the tool list every watch_ms (a digest of names,
 * modules and install times) and, once the session is initialized, sends
 * notifications/tools/list_changed when it differs from the last look.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cis/cis_mcp.h"

#define READ_CHUNK 65536 /* bytes per read() */

size_t cis__mcp_max_message(const cis_mcp *m);
bool cis__mcp_failed(const cis_mcp *m);
bool cis__mcp_is_call(const char *msg, size_t len);
void cis__mcp_set_pushes(cis_mcp *m, bool on);
unsigned cis__mcp_watch_ms(const cis_mcp *m);
bool cis__mcp_may_notify(cis_mcp *m);
bool cis__mcp_list_digest(cis_mcp *m, char *hex);

#define LIST_CHANGED "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n"

/* One tools/call on its thread. */
typedef struct slot {
  pthread_t tid;
  bool used;            /* a thread was started for it and not joined */
  bool done;            /* its thread ended (join it) */
  char *msg;            /* the message (malloc'd; the thread frees it) */
  size_t len;
  struct server *srv;
} slot;

/* The transport's shared state. */
typedef struct server {
  cis_mcp *m;
  int out_fd;
  pthread_mutex_t lock; /* guards writing and what follows */
  pthread_cond_t ended; /* a call thread ended */
  cis_result wrc;       /* the first failure of a call thread (EIO, ENOMEM) */
  slot slots[CIS_MCP_MAX_CALLS];
  pthread_cond_t stop_cv; /* the watch thread's sleep, cut short by stop */
  bool stop;            /* input ended: the watch thread ends */
  char first[65];       /* the tool list's digest as serving began */
  bool have_first;      /* first holds one */
} server;

/* The reply to a line over the cap; it has no id, since we never read it. */
#define TOO_LONG_FMT \
  "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"Parse error: message longer than %zu bytes\"}}"

/* Writes all n bytes; CIS_EIO when the reader is gone or writing fails. */
static cis_result write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return CIS_EIO;
    p += w;
    n -= (size_t)w;
  }
  return CIS_OK;
}

/* Handles one message and writes its reply (if any) and a newline as one
 * piece, under the lock: replies of calls ending together never mix. */
static cis_result answer(server *srv, const char *msg, size_t len) {
  char *reply = NULL;
  size_t rlen = 0;
  cis_result rc = cis_mcp_handle(srv->m, msg, len, &reply, &rlen);
  if (rc == CIS_OK && reply) {
    char *line = realloc(reply, rlen + 1);
    if (!line) {
      free(reply);
      return CIS_ENOMEM;
    }
    reply = line;
    reply[rlen] = '\n';
    pthread_mutex_lock(&srv->lock);
    rc = write_all(srv->out_fd, reply, rlen + 1);
    pthread_mutex_unlock(&srv->lock);
  }
  free(reply);
  return rc;
}

static void *call_thread(void *arg) {
  slot *sl = arg;
  server *srv = sl->srv;
  cis_result rc = answer(srv, sl->msg, sl->len);
  free(sl->msg);
  sl->msg = NULL;
  pthread_mutex_lock(&srv->lock);
  if (rc != CIS_OK && srv->wrc == CIS_OK) srv->wrc = rc;
  sl->done = true;
  pthread_cond_signal(&srv->ended);
  pthread_mutex_unlock(&srv->lock);
  return NULL;
}

/* The watch thread: every watch_ms, the tool list's digest against the
 * last one; a change is sent once the session may be notified. The first
 * look is taken before serving begins (cis_mcp_serve_fd), not when the
 * thread gets to run: a change made after the first reply would else go
 * unseen when the thread started late. */
static void *watch_thread(void *arg) {
  server *srv = arg;
  unsigned ms = cis__mcp_watch_ms(srv->m);
  char last[65], now[65];
  memcpy(last, srv->first, sizeof last);
  bool have = srv->have_first;
  pthread_mutex_lock(&srv->lock);
  while (!srv->stop) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&srv->stop_cv, &srv->lock, &until);
    if (srv->stop) break;
    pthread_mutex_unlock(&srv->lock);
    bool got = cis__mcp_list_digest(srv->m, now);
    bool changed = got && have && strcmp(now, last) != 0;
    if (got) memcpy(last, now, sizeof last), have = true;
    bool tell = changed && cis__mcp_may_notify(srv->m);
    pthread_mutex_lock(&srv->lock);
    if (tell) {
      cis_result rc = write_all(srv->out_fd, LIST_CHANGED, sizeof LIST_CHANGED - 1);
      if (rc != CIS_OK && srv->wrc == CIS_OK) srv->wrc = rc;
    }
  }
  pthread_mutex_unlock(&srv->lock);
  return NULL;
}

/* Joins the call threads that ended; with all, waits for every one. */
static void reap(server *srv, bool all) {
  for (size_t i = 0; i < CIS_MCP_MAX_CALLS; i++) {
    slot *sl = &srv->slots[i];
    pthread_mutex_lock(&srv->lock);
    bool join = sl->used && (sl->done || all);
    pthread_mutex_unlock(&srv->lock);
    if (!join) continue;
    pthread_join(sl->tid, NULL);
    sl->used = sl->done = false;
  }
}

/* A free slot, waiting for a call to end when all are taken. */
static slot *free_slot(server *srv) {
  for (;;) {
    reap(srv, false);
    pthread_mutex_lock(&srv->lock);
    for (size_t i = 0; i < CIS_MCP_MAX_CALLS; i++)
      if (!srv->slots[i].used) {
        pthread_mutex_unlock(&srv->lock);
        return &srv->slots[i];
      }
    bool any_done = false;
    for (size_t i = 0; i < CIS_MCP_MAX_CALLS; i++) any_done |= srv->slots[i].done;
    if (!any_done) pthread_cond_wait(&srv->ended, &srv->lock);
    pthread_mutex_unlock(&srv->lock);
  }
}

/* Handles one complete line (without its newline): a tools/call on a
 * thread of its own, anything else at once. */
static cis_result serve_line(server *srv, char *line, size_t len) {
  if (len && line[len - 1] == '\r') len--;
  size_t i = 0;
  while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
  if (i == len) return CIS_OK; /* a blank line is no message */
  if (cis__mcp_is_call(line, len)) {
    slot *sl = free_slot(srv);
    if ((sl->msg = malloc(len))) {
      memcpy(sl->msg, line, len);
      sl->len = len;
      sl->srv = srv;
      sl->done = false;
      if (pthread_create(&sl->tid, NULL, call_thread, sl) == 0) {
        sl->used = true;
        return CIS_OK;
      }
      free(sl->msg);
      sl->msg = NULL;
    }
    /* No thread or no memory for one: the call runs here, as before. */
  }
  return answer(srv, line, len);
}

cis_result cis_mcp_serve_fd(cis_mcp *m, int in_fd, int out_fd) {
  if (cis__mcp_failed(m)) return CIS_ESTATE; /* its creation failed: only its message and free */
  size_t cap = cis__mcp_max_message(m);
  server srv = {.m = m, .out_fd = out_fd, .wrc = CIS_OK};
  pthread_mutex_init(&srv.lock, NULL);
  pthread_cond_init(&srv.ended, NULL);
  pthread_cond_init(&srv.stop_cv, NULL);
  pthread_t watcher;
  srv.have_first = cis__mcp_list_digest(m, srv.first);
  bool watching = pthread_create(&watcher, NULL, watch_thread, &srv) == 0;
  cis__mcp_set_pushes(m, watching); /* initialize says listChanged */
  char *chunk = malloc(READ_CHUNK);
  char *line = NULL;   /* the line so far, at most cap bytes */
  size_t len = 0;      /* its length */
  size_t alloc = 0;    /* line's allocation */
  bool dropping = false; /* past the cap: read up to the newline and drop */
  cis_result rc = CIS_OK;
  if (!chunk) rc = CIS_ENOMEM;
  while (rc == CIS_OK) {
    ssize_t got = read(in_fd, chunk, READ_CHUNK);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      rc = CIS_EIO;
      break;
    }
    if (got == 0) {
      /* End of input: a last line without its newline is still a message. */
      if (!dropping && len) rc = serve_line(&srv, line, len);
      break;
    }
    const char *p = chunk, *end = chunk + got;
    while (p < end && rc == CIS_OK) {
      const char *nl = memchr(p, '\n', (size_t)(end - p));
      size_t take = (size_t)((nl ? nl : end) - p);
      if (!dropping && len + take > cap) {
        char msg[200];
        int n = snprintf(msg, sizeof msg, TOO_LONG_FMT "\n", cap);
        pthread_mutex_lock(&srv.lock);
        rc = write_all(out_fd, msg, (size_t)n);
        pthread_mutex_unlock(&srv.lock);
        dropping = true;
        len = 0;
      }
      if (!dropping && take) {
        if (len + take > alloc) {
          size_t want = alloc ? alloc : 4096;
          while (want < len + take) want *= 2;
          if (want > cap) want = cap;
          char *grown = realloc(line, want);
          if (!grown) {
            rc = CIS_ENOMEM;
            break;
          }
          line = grown;
          alloc = want;
        }
        memcpy(line + len, p, take);
        len += take;
      }
      if (!nl) break;
      if (!dropping && rc == CIS_OK) rc = serve_line(&srv, line, len);
      dropping = false;
      len = 0;
      p = nl + 1;
    }
    pthread_mutex_lock(&srv.lock);
    if (rc == CIS_OK) rc = srv.wrc; /* a call's reply could not be written */
    pthread_mutex_unlock(&srv.lock);
    if (rc != CIS_OK) break;
  }
  reap(&srv, true); /* the calls in flight end (within their deadlines) */
  if (watching) {
    pthread_mutex_lock(&srv.lock);
    srv.stop = true;
    pthread_cond_signal(&srv.stop_cv);
    pthread_mutex_unlock(&srv.lock);
    pthread_join(watcher, NULL);
  }
  cis__mcp_set_pushes(m, false);
  if (rc == CIS_OK) rc = srv.wrc;
  pthread_cond_destroy(&srv.stop_cv);
  pthread_cond_destroy(&srv.ended);
  pthread_mutex_destroy(&srv.lock);
  free(line);
  free(chunk);
  return rc;
}
