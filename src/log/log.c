/*
 * This file implements the log service declared in include/cis/cis_log.h:
 * the logger, the per-call state that enforces the per-call caps, and the
 * two line formats (text and JSON Lines).
 *
 * A skill's message is untrusted bytes. Before it reaches a sink it is made
 * valid UTF-8 (bad sequences become U+FFFD) and cut at a character boundary
 * to max_msg_bytes. The text format escapes control characters so that a
 * message cannot end its line and forge another; the JSON format escapes
 * them as JSON requires, so every line parses.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cis/cis_log.h"
#include "common/internal.h"

struct cis_log {
  cis__handle h;           /* why cis_log_new failed (cis_errmsg) */
  cis_log_format format;   /* text or JSON lines */
  cis_log_level min_level; /* lower levels are skipped */
  size_t max_msg_bytes;    /* cut point of one message */
  uint32_t max_call_lines; /* lines per call before the marker */
  size_t max_call_bytes;   /* message bytes per call before the marker */
  cis_log_sink sink;       /* owned copy of the embedder's table */
  pthread_mutex_t lock;    /* serialises sink->write across threads */
};

struct cis_log_call {
  cis_log *log;        /* the logger this call writes to */
  char *tenant;        /* owned, cleaned copy; "" for the default tenant */
  char *skill;         /* owned, cleaned copy */
  char *call_id;       /* owned, cleaned copy */
  uint32_t lines;      /* lines written, marker excluded */
  size_t bytes;        /* message bytes written */
  uint64_t dropped;    /* lines refused by the per-call cap */
  bool marker_sent;    /* the "further lines dropped" line went out */
  char *msg;           /* scratch: the cleaned message */
  size_t msg_cap;      /* bytes allocated in msg */
  char *line;          /* scratch: the formatted line */
  size_t line_len;     /* bytes used in line */
  size_t line_cap;     /* bytes allocated in line */
  bool oom;            /* a scratch allocation failed while formatting */
};

static const char *const level_names[] = {"debug", "info", "warn", "error"};

const char *cis_log_level_name(int level) {
  if (level < 0 || level > CIS_LOG_ERROR) return "?";
  return level_names[level];
}

void cis_log_config_default(cis_log_config *c) {
  memset(c, 0, sizeof *c);
  c->format = CIS_LOG_TEXT;
  c->min_level = CIS_LOG_INFO;
  c->max_msg_bytes = CIS_LOG_DEFAULT_MAX_MSG_BYTES;
  c->max_call_lines = CIS_LOG_DEFAULT_MAX_CALL_LINES;
  c->max_call_bytes = CIS_LOG_DEFAULT_MAX_CALL_BYTES;
  cis_log_sink_stderr(&c->sink);
}

/* Creates a logger from cfg. The sink is validated before the logger
 * takes it, so that on failure the caller still owns it untouched (the
 * failed logger is a shell holding why). Errors: CIS_EINVAL (NULL, bad
 * format/level, sink version or write missing), CIS_ENOMEM. */
cis_result cis_log_new(const cis_log_config *cfg, cis_log **out) {
  if (!out) return CIS_EINVAL;
  cis_log *log = *out = calloc(1, sizeof *log);
  if (!log) return CIS_ENOMEM;
  cis__handle_init(&log->h, CIS__H_OTHER);
  const char *bad = !cfg                                                                  ? "NULL config"
                    : cfg->format != CIS_LOG_TEXT && cfg->format != CIS_LOG_JSON          ? "unknown format"
                    : (int)cfg->min_level < CIS_LOG_DEBUG || cfg->min_level > CIS_LOG_ERROR ? "unknown level"
                    : cfg->sink.version != CIS_LOG_SINK_VERSION ? "a sink table of another version"
                    : !cfg->sink.write                          ? "a sink without write"
                                                                : NULL;
  if (bad) return cis__handle_failed(&log->h, cis__fail(log, CIS_EINVAL, "log: %s", bad));
  log->format = cfg->format;
  log->min_level = cfg->min_level;
  log->max_msg_bytes = cfg->max_msg_bytes ? cfg->max_msg_bytes : CIS_LOG_DEFAULT_MAX_MSG_BYTES;
  log->max_call_lines = cfg->max_call_lines ? cfg->max_call_lines : CIS_LOG_DEFAULT_MAX_CALL_LINES;
  log->max_call_bytes = cfg->max_call_bytes ? cfg->max_call_bytes : CIS_LOG_DEFAULT_MAX_CALL_BYTES;
  log->sink = cfg->sink;
  if (pthread_mutex_init(&log->lock, NULL) != 0) {
    log->sink = (cis_log_sink){0}; /* not taken: the caller keeps it */
    return cis__handle_failed(&log->h, CIS_ENOMEM);
  }
  return CIS_OK;
}

void cis_log_flush(cis_log *log) {
  if (!log || !log->sink.flush) return;
  pthread_mutex_lock(&log->lock);
  log->sink.flush(log->sink.user);
  pthread_mutex_unlock(&log->lock);
}

void cis_log_free(cis_log *log) {
  if (!log) return;
  if (log->h.failed) { /* a shell: it took no sink */
    free(log);
    return;
  }
  cis_log_flush(log);
  if (log->sink.destroy) log->sink.destroy(log->sink.user);
  pthread_mutex_destroy(&log->lock);
  free(log);
}

/* ------------------------------------------------------------ the call */

static size_t utf8_clean(const char *src, size_t len, char *dst, size_t max, bool *truncated);

/* A copy of s (NULL = "") made valid UTF-8, so every line built from it
 * is valid too. NULL when out of memory. */
static char *clean_dup(const char *s) {
  if (!s) s = "";
  size_t len = strlen(s);
  bool cut;
  char *d = malloc(len * 3 + 1); /* each bad byte may become 3 bytes */
  if (d) utf8_clean(s, len, d, len * 3, &cut);
  return d;
}

/* Starts one call's log. Copies every string so the caller's buffers may
 * go away. Errors: CIS_EINVAL, CIS_ENOMEM. */
cis_result cis_log_call_begin(cis_log *log, const cis_principal *who, const char *call_id,
                              cis_log_call **out) {
  cis_result rc = CIS_OK;
  if (!out) return CIS_EINVAL;
  *out = NULL;
  if (!log) return CIS_EINVAL;
  if (log->h.failed) return CIS_ESTATE; /* its creation failed: only its message and free */
  cis_log_call *c = calloc(1, sizeof *c);
  if (!c) return CIS_ENOMEM;
  c->log = log;
  c->tenant = clean_dup(who ? who->tenant : NULL);
  c->skill = clean_dup(who ? who->skill : NULL);
  c->call_id = clean_dup(call_id);
  if (!c->tenant || !c->skill || !c->call_id) CIS_TRY(CIS_ENOMEM);
  *out = c;
  return CIS_OK;
fail:
  cis_log_call_end(c);
  return rc;
}

void cis_log_call_end(cis_log_call *c) {
  if (!c) return;
  free(c->tenant);
  free(c->skill);
  free(c->call_id);
  free(c->msg);
  free(c->line);
  free(c);
}

uint32_t cis_log_call_lines(const cis_log_call *c) { return c ? c->lines : 0; }
uint64_t cis_log_call_dropped(const cis_log_call *c) { return c ? c->dropped : 0; }

/* ---------------------------------------------------------------- UTF-8 */

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when it is not one
 * (overlong forms, surrogates and values above U+10FFFF are invalid). */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  if (c < 0x80) return 1;
  size_t len;
  uint32_t cp;
  if (c >= 0xc2 && c <= 0xdf) len = 2, cp = c & 0x1f;
  else if (c >= 0xe0 && c <= 0xef) len = 3, cp = c & 0x0f;
  else if (c >= 0xf0 && c <= 0xf4) len = 4, cp = c & 0x07;
  else return 0;
  if (n < len) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if (len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) return 0;
  if (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) return 0;
  return len;
}

/* Grows *buf to hold at least need bytes. False when out of memory. */
static bool reserve(char **buf, size_t *cap, size_t need) {
  if (need <= *cap) return true;
  size_t n = *cap ? *cap : 256;
  while (n < need) n *= 2;
  char *p = realloc(*buf, n);
  if (!p) return false;
  *buf = p;
  *cap = n;
  return true;
}

/* Copies src[0..len) into dst as valid UTF-8 of at most max bytes, cut at
 * a character boundary, and NUL-terminates it (dst holds max + 1 bytes).
 * Sets *truncated when something did not fit. Returns the bytes written. */
static size_t utf8_clean(const char *src, size_t len, char *dst, size_t max, bool *truncated) {
  const unsigned char *s = (const unsigned char *)src;
  size_t i = 0, o = 0;
  *truncated = false;
  while (i < len) {
    size_t k = utf8_seq(s + i, len - i);
    const char *piece = k ? (const char *)s + i : "\xef\xbf\xbd"; /* U+FFFD */
    size_t plen = k ? k : 3;
    if (o + plen > max) {
      *truncated = true;
      break;
    }
    memcpy(dst + o, piece, plen);
    o += plen;
    i += k ? k : 1;
  }
  dst[o] = '\0';
  return o;
}

/* ------------------------------------------------------------ formatting */

static void put(cis_log_call *c, const char *s, size_t n) {
  if (c->oom) return;
  if (!reserve(&c->line, &c->line_cap, c->line_len + n + 1)) {
    c->oom = true;
    return;
  }
  memcpy(c->line + c->line_len, s, n);
  c->line_len += n;
  c->line[c->line_len] = '\0';
}

static void puts_(cis_log_call *c, const char *s) { put(c, s, strlen(s)); }

/* Appends s[0..n) escaped for a text line: control characters and the
 * backslash become escapes, so one message is always one line. */
static void put_text_escaped(cis_log_call *c, const char *s, size_t n) {
  size_t start = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch >= 0x20 && ch != 0x7f && ch != '\\') continue;
    put(c, s + start, i - start);
    char esc[8];
    switch (ch) {
    case '\n': memcpy(esc, "\\n", 3); break;
    case '\r': memcpy(esc, "\\r", 3); break;
    case '\t': memcpy(esc, "\\t", 3); break;
    case '\\': memcpy(esc, "\\\\", 3); break;
    default: snprintf(esc, sizeof esc, "\\x%02x", ch); break;
    }
    puts_(c, esc);
    start = i + 1;
  }
  put(c, s + start, n - start);
}

/* Appends s[0..n) (valid UTF-8) as a quoted JSON string. */
static void put_json_string(cis_log_call *c, const char *s, size_t n) {
  put(c, "\"", 1);
  size_t start = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch >= 0x20 && ch != '"' && ch != '\\' && ch != 0x7f) continue;
    put(c, s + start, i - start);
    char esc[8];
    switch (ch) {
    case '"': memcpy(esc, "\\\"", 3); break;
    case '\\': memcpy(esc, "\\\\", 3); break;
    case '\n': memcpy(esc, "\\n", 3); break;
    case '\r': memcpy(esc, "\\r", 3); break;
    case '\t': memcpy(esc, "\\t", 3); break;
    default: snprintf(esc, sizeof esc, "\\u%04x", ch); break;
    }
    puts_(c, esc);
    start = i + 1;
  }
  put(c, s + start, n - start);
  put(c, "\"", 1);
}

static void put_json_field(cis_log_call *c, const char *name, const char *s) {
  put(c, ",\"", 2);
  puts_(c, name);
  put(c, "\":", 2);
  put_json_string(c, s, strlen(s));
}

static void format_time(char *dst, size_t cap, uint64_t unix_ms) {
  time_t secs = (time_t)(unix_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  snprintf(dst, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(unix_ms % 1000));
}

static uint64_t now_unix_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Builds rec's line into c->line in the logger's format. */
static void format_line(cis_log_call *c, const cis_log_record *rec) {
  char ts[96]; /* sized for any int values, as -Wformat-truncation demands */
  format_time(ts, sizeof ts, rec->unix_ms);
  c->line_len = 0;
  c->oom = false;
  if (c->log->format == CIS_LOG_JSON) {
    puts_(c, "{\"ts\":\"");
    puts_(c, ts);
    puts_(c, "\",\"level\":\"");
    puts_(c, level_names[rec->level]);
    put(c, "\"", 1);
    put_json_field(c, "tenant", rec->tenant);
    put_json_field(c, "skill", rec->skill);
    put_json_field(c, "call", rec->call_id);
    puts_(c, ",\"msg\":");
    put_json_string(c, rec->msg, rec->msg_len);
    if (rec->truncated) {
      char n[48];
      snprintf(n, sizeof n, ",\"truncated\":true,\"len\":%zu", rec->orig_len);
      puts_(c, n);
    }
    if (rec->limit_marker) puts_(c, ",\"limit\":true");
    if (rec->host) puts_(c, ",\"source\":\"host\"");
    puts_(c, "}\n");
  } else {
    static const char *const upper[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    puts_(c, ts);
    put(c, " ", 1);
    puts_(c, upper[rec->level]);
    put(c, " ", 1);
    put_text_escaped(c, rec->tenant, strlen(rec->tenant));
    put(c, "/", 1);
    put_text_escaped(c, rec->skill, strlen(rec->skill));
    puts_(c, " call=");
    put_text_escaped(c, rec->call_id, strlen(rec->call_id));
    puts_(c, rec->host ? " host: " : " ");
    put_text_escaped(c, rec->msg, rec->msg_len);
    if (rec->truncated) {
      char n[64];
      snprintf(n, sizeof n, " [truncated from %zu bytes]", rec->orig_len);
      puts_(c, n);
    }
    put(c, "\n", 1);
  }
}

/* Formats rec and hands it to the sink under the logger's lock. */
static cis_result emit(cis_log_call *c, cis_log_record *rec) {
  rec->unix_ms = now_unix_ms();
  rec->tenant = c->tenant;
  rec->skill = c->skill;
  rec->call_id = c->call_id;
  format_line(c, rec);
  if (c->oom) return CIS_ENOMEM;
  pthread_mutex_lock(&c->log->lock);
  c->log->sink.write(c->log->sink.user, rec, c->line, c->line_len);
  pthread_mutex_unlock(&c->log->lock);
  return CIS_OK;
}

/* Logs one message of the call. The per-call cap is checked on the cleaned
 * (and cut) size, which is what the sink receives. The first refused line
 * triggers the one marker line; from then on every line of the call is
 * refused and only counted, even one that would still fit. */
static cis_result write_line(cis_log_call *c, int level, const char *msg, size_t len, bool host) {
  if (!c || level < CIS_LOG_DEBUG || level > CIS_LOG_ERROR || (!msg && len)) return CIS_EINVAL;
  cis_log *log = c->log;
  if (level < (int)log->min_level) return CIS_OK;

  cis_log_record rec;
  memset(&rec, 0, sizeof rec);
  if (!reserve(&c->msg, &c->msg_cap, log->max_msg_bytes + 1)) return CIS_ENOMEM;
  rec.msg_len = utf8_clean(msg ? msg : "", len, c->msg, log->max_msg_bytes, &rec.truncated);

  if (c->marker_sent || c->lines >= log->max_call_lines ||
      rec.msg_len > log->max_call_bytes - c->bytes) {
    c->dropped++;
    if (c->marker_sent) return CIS_ETOOBIG;
    c->marker_sent = true;
    char text[160];
    int n = snprintf(text, sizeof text,
                     "log limit of this call reached (%u lines, %zu bytes): further lines dropped",
                     log->max_call_lines, log->max_call_bytes);
    cis_log_record mark;
    memset(&mark, 0, sizeof mark);
    mark.level = CIS_LOG_WARN;
    mark.msg = text;
    mark.msg_len = (size_t)n;
    mark.orig_len = (size_t)n;
    mark.limit_marker = true;
    cis_result rc = emit(c, &mark);
    return rc != CIS_OK ? rc : CIS_ETOOBIG;
  }

  rec.level = (cis_log_level)level;
  rec.host = host;
  rec.msg = c->msg;
  rec.orig_len = len;
  cis_result rc = emit(c, &rec);
  if (rc != CIS_OK) return rc;
  c->lines++;
  c->bytes += rec.msg_len;
  return CIS_OK;
}

cis_result cis_log_write(cis_log_call *c, int level, const char *msg, size_t len) {
  return write_line(c, level, msg, len, false);
}

cis_result cis_log_write_host(cis_log_call *c, int level, const char *msg, size_t len) {
  return write_line(c, level, msg, len, true);
}
