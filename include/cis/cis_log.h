/*
 * cis_log.h -- the log service: leveled lines from skills, with caps.
 *
 * A skill logs through its host binding; the binding calls this service.
 * The service knows nothing of WebAssembly: it takes plain byte strings.
 *
 * Concepts
 *   cis_log       a logger: format (text or JSON lines), minimum level,
 *                 caps, and one sink. Shared between threads.
 *   cis_log_call  the log state of ONE skill call: who (tenant, skill), the
 *                 call id, and the per-call counters that enforce the
 *                 per-call cap. Used by one thread at a time.
 *   cis_log_sink  where finished lines go: a method table the embedder may
 *                 fill in (the "host callback sink"), or one of the built-in
 *                 sinks below (null, stderr, buffer).
 *
 * Every line carries the level, a UTC timestamp, the tenant, the skill name
 * and the call id. Messages are cleaned before they are written: invalid
 * UTF-8 becomes U+FFFD, and in text lines control characters are escaped
 * (\n, \t, \xNN) so a skill cannot forge extra lines.
 *
 * Caps
 *   max_msg_bytes   a longer message is cut at a UTF-8 boundary and marked
 *                   ("truncated": true in JSON, " [truncated from N bytes]"
 *                   in text).
 *   max_call_lines, max_call_bytes
 *                   once a call has written that many lines or message
 *                   bytes, ONE marker line (level warn) says so and every
 *                   further line of the call is dropped and counted.
 *
 * Errors: CIS_EINVAL for a NULL argument, an unknown level or format, or a
 * sink table of an unknown version; CIS_ENOMEM; CIS_ETOOBIG from
 * cis_log_write when the line was dropped by the per-call cap.
 */
#ifndef CIS_CIS_LOG_H
#define CIS_CIS_LOG_H

#include "cis/cis.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ----------------------------------------------------------------- levels */

typedef enum cis_log_level {
  CIS_LOG_DEBUG = 0,
  CIS_LOG_INFO = 1,
  CIS_LOG_WARN = 2,
  CIS_LOG_ERROR = 3,
} cis_log_level;

typedef enum cis_log_format {
  CIS_LOG_TEXT = 0, /* "2024-05-01T12:00:00.123Z INFO tenant/skill call=ID message" */
  CIS_LOG_JSON = 1, /* one JSON object per line (JSON Lines) */
} cis_log_format;

/* "debug", "info", "warn", "error"; "?" for anything else. */
CIS_EXTERN const char *cis_log_level_name(int level);

/* ------------------------------------------------------------------ sinks */

/* One finished line, as handed to a sink. Every pointer is valid only
 * during the sink's write call. */
typedef struct cis_log_record {
  cis_log_level level;   /* level of the line */
  uint64_t unix_ms;      /* wall-clock time, milliseconds since 1970 UTC */
  const char *tenant;    /* never NULL; "" is the default tenant */
  const char *skill;     /* never NULL; "" outside a skill */
  const char *call_id;   /* never NULL */
  const char *msg;       /* cleaned (valid UTF-8) and possibly cut; NUL-terminated,
                            but may hold NUL bytes of its own: use msg_len */
  size_t msg_len;        /* bytes in msg */
  size_t orig_len;       /* bytes the skill passed, before cleaning and cutting */
  bool truncated;        /* msg was cut at max_msg_bytes */
  bool limit_marker;     /* this is the per-call "further lines dropped" line */
  bool host;             /* written by cis about the call (a denial, a
                            provider's error), not by the skill: text lines
                            say "host:" before msg, JSON lines have
                            "source":"host" */
} cis_log_record;

#define CIS_LOG_SINK_VERSION 1

/* A sink: a method table plus its state. The logger copies the table. It
 * calls write for every line, one call at a time (the logger serialises
 * them), so a sink needs no lock of its own against this logger. */
typedef struct cis_log_sink {
  int version;  /* CIS_LOG_SINK_VERSION */
  void *user;   /* the sink's state, passed to every method */
  /* Receives one line: rec is the structured form, line the formatted one
   * (text or JSON as configured), len bytes ending in '\n'. Required. */
  void (*write)(void *user, const cis_log_record *rec, const char *line, size_t len);
  /* Pushes buffered output out. Optional (NULL). */
  void (*flush)(void *user);
  /* Releases user; called once by cis_log_free. Optional (NULL). */
  void (*destroy)(void *user);
} cis_log_sink;

/* Discards every line; for benchmarks. */
CIS_EXTERN void cis_log_sink_null(cis_log_sink *out);
/* Writes every line to stderr with one fwrite, so lines of several loggers
 * do not interleave within a line. */
CIS_EXTERN void cis_log_sink_stderr(cis_log_sink *out);

/* A memory buffer the embedder reads back (e.g. to return a call's log to
 * its caller). It keeps whole lines only: a line that does not fit in the
 * remaining capacity is dropped and counted. Thread-safe. */
typedef struct cis_log_buffer cis_log_buffer;

/* cap = 0 means 1 MiB. Errors: CIS_EINVAL (cap SIZE_MAX), CIS_ENOMEM. On
 * failure *out is a failed buffer (cis.h, "Errors"): cis_errmsg(*out)
 * says why; it reads empty, its sink has no write (cis_log_new refuses
 * it); free it with cis_log_buffer_free. */
CIS_EXTERN cis_result cis_log_buffer_new(size_t cap, cis_log_buffer **out);
/* The buffer must outlive every logger that writes to it. */
CIS_EXTERN void cis_log_buffer_free(cis_log_buffer *b);
/* A sink writing into b. Its destroy is NULL: the embedder frees b. */
CIS_EXTERN void cis_log_sink_buffer(cis_log_buffer *b, cis_log_sink *out);
/* Copies the buffered text to dst when it fits in cap (plus a NUL when
 * there is room) and returns its full length; when the length is above cap
 * nothing is copied, so the caller can retry with a larger dst. */
CIS_EXTERN size_t cis_log_buffer_read(cis_log_buffer *b, char *dst, size_t cap);
/* Empties the buffer and resets its dropped count. */
CIS_EXTERN void cis_log_buffer_clear(cis_log_buffer *b);
/* Lines dropped because the buffer was full, since the last clear. */
CIS_EXTERN uint64_t cis_log_buffer_dropped(cis_log_buffer *b);

/* ----------------------------------------------------------------- logger */

#define CIS_LOG_DEFAULT_MAX_MSG_BYTES 4096u
#define CIS_LOG_DEFAULT_MAX_CALL_LINES 1000u
#define CIS_LOG_DEFAULT_MAX_CALL_BYTES (256u * 1024u)

typedef struct cis_log_config {
  cis_log_format format;    /* text or JSON lines */
  cis_log_level min_level;  /* lines below it are skipped (and not counted) */
  size_t max_msg_bytes;     /* per message; 0 = CIS_LOG_DEFAULT_MAX_MSG_BYTES */
  uint32_t max_call_lines;  /* per call; 0 = CIS_LOG_DEFAULT_MAX_CALL_LINES */
  size_t max_call_bytes;    /* message bytes per call; 0 = CIS_LOG_DEFAULT_MAX_CALL_BYTES */
  cis_log_sink sink;        /* copied; the logger owns user from then on */
} cis_log_config;

typedef struct cis_log cis_log;

/* Text format, level info, default caps, stderr sink. */
CIS_EXTERN void cis_log_config_default(cis_log_config *c);
/* Creates a logger. On success the logger owns cfg->sink (its destroy runs
 * in cis_log_free); on failure the caller still owns it. Errors:
 * CIS_EINVAL (NULL, an unknown format or level, a sink of another version
 * or without write), CIS_ENOMEM. On failure *out is a failed logger (cis.h,
 * "Errors"): cis_errmsg(*out) says why, cis_log_call_begin on it is
 * CIS_ESTATE; free it with cis_log_free (which leaves the sink alone). */
CIS_EXTERN cis_result cis_log_new(const cis_log_config *cfg, cis_log **out);
/* Flushes and destroys the sink, then frees. All calls must have ended. */
CIS_EXTERN void cis_log_free(cis_log *log);
/* Pushes the sink's buffered output out. */
CIS_EXTERN void cis_log_flush(cis_log *log);

/* ------------------------------------------------------------------ calls */

typedef struct cis_log_call cis_log_call;

/* Starts the log of one skill call. who and call_id are copied (who may be
 * NULL; call_id may be NULL for ""). */
CIS_EXTERN cis_result cis_log_call_begin(cis_log *log, const cis_principal *who,
                                         const char *call_id, cis_log_call **out);
/* Logs msg[0..len) at level (0..3). Returns CIS_OK when the line was
 * written or skipped for its level, CIS_ETOOBIG when the per-call cap
 * dropped it, CIS_EINVAL for a level outside 0..3 or msg NULL with len > 0. */
CIS_EXTERN cis_result cis_log_write(cis_log_call *c, int level, const char *msg, size_t len);
/* The same for a line cis writes about the call itself (record.host):
 * what the host decided or met on the skill's behalf. Counted in the same
 * per-call cap, so a skill cannot flood the log through host calls. */
CIS_EXTERN cis_result cis_log_write_host(cis_log_call *c, int level, const char *msg, size_t len);
/* Lines written (the marker excluded) and dropped so far in this call. */
CIS_EXTERN uint32_t cis_log_call_lines(const cis_log_call *c);
CIS_EXTERN uint64_t cis_log_call_dropped(const cis_log_call *c);
/* Ends the call and frees c. NULL is allowed. */
CIS_EXTERN void cis_log_call_end(cis_log_call *c);

#ifdef __cplusplus
}
#endif
#endif /* CIS_CIS_LOG_H */
