/*
 * This file implements the tests' DevTools Protocol client over a pipe
 * (cdp_pipe.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "serve/cdp_pipe.h"

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int cdp_find_browser(char *out, size_t cap) {
  const char *env = getenv("CIS_CHROMIUM");
  if (env && *env) {
    snprintf(out, cap, "%s", env);
    return access(out, X_OK) == 0;
  }
  const char *path = getenv("PATH");
  static const char *const names[] = {"chromium", "chromium-browser"};
  for (size_t k = 0; k < 2; k++) {
    for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
      const char *e = strchr(p, ':');
      size_t n = e ? (size_t)(e - p) : strlen(p);
      if (n && snprintf(out, cap, "%.*s/%s", (int)n, p, names[k]) < (int)cap && access(out, X_OK) == 0) return 1;
      p += n + (e ? 1 : 0);
    }
  }
  return 0;
}

int cdp_launch(cdp *c, const char *browser, const char *profile_dir, const char *log_path, unsigned timeout_ms) {
  memset(c, 0, sizeof *c);
  c->to = c->from = -1;
  c->next_id = 1;
  c->deadline_ms = now_ms() + timeout_ms;
  int in[2], out[2]; /* in: we write, it reads (its 3); out: it writes (its 4) */
  if (pipe2(in, O_CLOEXEC) != 0) return -1;
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]);
    close(in[1]);
    return -1;
  }
  char profile[600];
  snprintf(profile, sizeof profile, "--user-data-dir=%s", profile_dir);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    setpgid(0, 0); /* its helpers too end with cdp_close's kill of the group */
    /* Above 4 first, so that placing them on 3 and 4 cannot clobber. */
    int r = fcntl(in[0], F_DUPFD, 10), w = fcntl(out[1], F_DUPFD, 10);
    if (r < 0 || w < 0 || dup2(r, 3) < 0 || dup2(w, 4) < 0) _exit(126);
    int log = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (log >= 0) {
      dup2(log, 1);
      dup2(log, 2);
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    char *argv[] = {(char *)browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-dev-shm-usage", "--disable-extensions", "--no-proxy-server",
                    "--no-default-browser-check", "--hide-scrollbars", "--mute-audio", "--remote-debugging-pipe",
                    profile, "about:blank", NULL};
    execv(browser, argv);
    _exit(127);
  }
  setpgid(pid, pid);
  close(in[0]);
  close(out[1]);
  c->pid = pid;
  c->to = in[1];
  c->from = out[0];
  return 0;
}

static int send_text(cdp *c, const char *text) {
  size_t n = strlen(text) + 1; /* with its NUL */
  while (n) {
    ssize_t k = write(c->to, text, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return -1;
    text += k;
    n -= (size_t)k;
  }
  return 0;
}

/* The next whole message (parsed), or NULL at the deadline or the end. */
static cJSON *next_message(cdp *c) {
  for (;;) {
    char *nul = c->len ? memchr(c->buf, 0, c->len) : NULL;
    if (nul) {
      cJSON *m = cJSON_Parse(c->buf);
      size_t used = (size_t)(nul - c->buf) + 1;
      memmove(c->buf, c->buf + used, c->len - used);
      c->len -= used;
      if (m) return m;
      continue;
    }
    uint64_t now = now_ms();
    if (now >= c->deadline_ms) {
      fprintf(stderr, "cdp: out of time\n");
      return NULL;
    }
    struct pollfd p = {.fd = c->from, .events = POLLIN};
    int k = poll(&p, 1, (int)(c->deadline_ms - now));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) continue; /* the deadline check above ends it */
    if (c->len + 65536 > c->cap) {
      size_t cap = c->cap ? c->cap * 2 : 1 << 20;
      if (cap > (256u << 20)) return NULL; /* a reply past 256 MiB is not one this client asks for */
      char *b = realloc(c->buf, cap);
      if (!b) return NULL;
      c->buf = b;
      c->cap = cap;
    }
    ssize_t n = read(c->from, c->buf + c->len, c->cap - c->len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      fprintf(stderr, "cdp: the browser closed its pipe\n");
      return NULL;
    }
    c->len += (size_t)n;
  }
}

cJSON *cdp_call(cdp *c, const char *method, const char *params) {
  int id = c->next_id++;
  size_t cap = strlen(method) + (params ? strlen(params) : 0) + 256;
  char *text = malloc(cap);
  if (!text) return NULL;
  if (c->session[0])
    snprintf(text, cap, "{\"id\":%d,\"sessionId\":\"%s\",\"method\":\"%s\",\"params\":%s}", id, c->session, method,
             params ? params : "{}");
  else
    snprintf(text, cap, "{\"id\":%d,\"method\":\"%s\",\"params\":%s}", id, method, params ? params : "{}");
  int bad = send_text(c, text);
  free(text);
  if (bad) return NULL;
  for (cJSON *m; (m = next_message(c));) {
    const cJSON *mid = cJSON_GetObjectItemCaseSensitive(m, "id");
    if (!cJSON_IsNumber(mid) || mid->valueint != id) { /* an event, or another reply */
      cJSON_Delete(m);
      continue;
    }
    cJSON *res = cJSON_DetachItemFromObjectCaseSensitive(m, "result");
    if (!res) {
      char *e = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(m, "error"));
      fprintf(stderr, "cdp: %s: %s\n", method, e ? e : "no result");
      free(e);
    }
    cJSON_Delete(m);
    return res;
  }
  return NULL;
}

int cdp_open_page(cdp *c, int width, int height) {
  cJSON *r = cdp_call(c, "Target.createTarget", "{\"url\":\"about:blank\"}");
  const cJSON *tid = cJSON_GetObjectItemCaseSensitive(r, "targetId");
  char params[256];
  if (!cJSON_IsString(tid)) {
    cJSON_Delete(r);
    return -1;
  }
  snprintf(params, sizeof params, "{\"targetId\":\"%s\",\"flatten\":true}", tid->valuestring);
  cJSON_Delete(r);
  r = cdp_call(c, "Target.attachToTarget", params);
  const cJSON *sid = cJSON_GetObjectItemCaseSensitive(r, "sessionId");
  if (!cJSON_IsString(sid) || strlen(sid->valuestring) >= sizeof c->session) {
    cJSON_Delete(r);
    return -1;
  }
  snprintf(c->session, sizeof c->session, "%s", sid->valuestring);
  cJSON_Delete(r);
  snprintf(params, sizeof params, "{\"width\":%d,\"height\":%d,\"deviceScaleFactor\":1,\"mobile\":false}", width,
           height);
  r = cdp_call(c, "Emulation.setDeviceMetricsOverride", params);
  int ok = r != NULL;
  cJSON_Delete(r);
  return ok ? 0 : -1;
}

char *cdp_eval(cdp *c, const char *expr) {
  cJSON *p = cJSON_CreateObject();
  cJSON_AddStringToObject(p, "expression", expr);
  cJSON_AddBoolToObject(p, "returnByValue", 1);
  cJSON_AddBoolToObject(p, "awaitPromise", 1);
  char *params = cJSON_PrintUnformatted(p);
  cJSON_Delete(p);
  cJSON *r = params ? cdp_call(c, "Runtime.evaluate", params) : NULL;
  free(params);
  char *out = NULL;
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "result"), "value");
  if (cJSON_GetObjectItemCaseSensitive(r, "exceptionDetails")) {
    char *e = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(r, "exceptionDetails"));
    fprintf(stderr, "cdp: %s threw: %.400s\n", expr, e ? e : "");
    free(e);
  } else if (cJSON_IsString(v)) {
    out = strdup(v->valuestring);
  } else if (v) {
    out = cJSON_PrintUnformatted(v);
  } else if (r) {
    out = strdup("undefined");
  }
  cJSON_Delete(r);
  return out;
}

void cdp_close(cdp *c) {
  if (c->pid > 0) {
    if (c->to >= 0) {
      /* Asked first; the group is killed whatever it answers. */
      c->session[0] = 0;
      uint64_t d = now_ms() + 3000;
      if (d < c->deadline_ms) c->deadline_ms = d;
      cJSON_Delete(cdp_call(c, "Browser.close", NULL));
    }
    int status;
    uint64_t until = now_ms() + 5000;
    pid_t got = 0;
    while ((got = waitpid(c->pid, &status, WNOHANG)) == 0 && now_ms() < until) usleep(20000);
    /* Its helper processes share its group (setpgid at launch). */
    kill(-c->pid, SIGKILL);
    if (got == 0) waitpid(c->pid, &status, 0); /* killed: ends at once */
    c->pid = 0;
  }
  if (c->to >= 0) close(c->to);
  if (c->from >= 0) close(c->from);
  c->to = c->from = -1;
  free(c->buf);
  c->buf = NULL;
}
