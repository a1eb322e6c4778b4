/*
 * This file implements the database spec (db.h): the one parser of the
 * text that names a database, shared by the KV store, the database
 * filesystem, the registry, the token store and the same-database check
 * of a skill call, and that check itself.
 *
 * A spec comes from configuration files, the environment and embedders,
 * and a PostgreSQL one may carry a password: it is bounded in length,
 * refused with a NUL byte or a control character in it, and never quoted
 * in a message past its scheme.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/internal.h"
#include "db/db.h"

#define SCHEME_MAX 32 /* longest scheme an error message quotes */

/* Whether text[0..len) starts with the NUL-terminated prefix p. */
static bool has_prefix(const char *text, size_t len, const char *p) {
  size_t n = strlen(p);
  return len >= n && memcmp(text, p, n) == 0;
}

static bool equals(const char *text, size_t len, const char *w) {
  return len == strlen(w) && memcmp(text, w, len) == 0;
}

/* Sets *out to the spec that text[off..len) names for dialect d. */
static void take(cis__db_spec *out, cis__db_dialect d, const char *text, size_t off, size_t len) {
  out->dialect = d;
  out->target = text + off;
  out->target_len = len - off;
}

static cis_result refuse(cis_result rc, cis__db_spec *out, char *why, size_t whycap, const char *fmt,
                         ...) __attribute__((format(printf, 5, 6)));
static cis_result refuse(cis_result rc, cis__db_spec *out, char *why, size_t whycap, const char *fmt,
                         ...) {
  memset(out, 0, sizeof *out);
  if (why && whycap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whycap, fmt, ap);
    va_end(ap);
  }
  return rc;
}

#define WANTED "want sqlite:PATH, postgres:CONNSTR or a postgres:// URI"

/* The length of text's scheme when it is one that may be quoted (letters,
 * digits, '+', '-', '.', up to SCHEME_MAX, then ':'), else 0: what
 * precedes the first ':' may be anything, a password too. */
static size_t quotable_scheme(const char *text, size_t len) {
  size_t i = 0;
  while (i < len && i <= SCHEME_MAX && text[i] != ':') {
    char c = text[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
              c == '-' || c == '.';
    if (!ok) return 0;
    i++;
  }
  return i < len && i > 0 && i <= SCHEME_MAX && text[i] == ':' ? i : 0;
}

cis_result cis__db_spec_parse_n(const char *text, size_t len, cis__db_default def, cis__db_spec *out,
                                char *why, size_t whycap) {
  memset(out, 0, sizeof *out);
  if (why && whycap) why[0] = 0;
  if (!text) {
    text = "";
    len = 0;
  }
  if (len > CIS__DB_SPEC_MAX)
    return refuse(CIS_ETOOBIG, out, why, whycap, "a database spec of %zu bytes (at most %u)", len,
                  CIS__DB_SPEC_MAX);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)text[i];
    if (c == 0) return refuse(CIS_EINVAL, out, why, whycap, "a NUL byte in the database spec at byte %zu", i);
    if (c < 0x20 || c == 0x7f)
      return refuse(CIS_EINVAL, out, why, whycap, "a control character in the database spec at byte %zu", i);
  }

  if (len == 0 || equals(text, len, "sqlite") || equals(text, len, "sqlite:")) {
    /* One message whichever service refuses it. */
    if (def != CIS__DB_HAS_DEFAULT)
      return refuse(CIS_EINVAL, out, why, whycap,
                    "no database named: only the registry and the token store have a default file (" WANTED
                    ")");
    take(out, CIS__DB_SQLITE, text, len, len);
    out->home_default = true;
    return CIS_OK;
  }
  if (has_prefix(text, len, "sqlite:")) {
    take(out, CIS__DB_SQLITE, text, 7, len);
    return CIS_OK;
  }
  /* A URI goes to libpq whole: its scheme is part of it. */
  if (has_prefix(text, len, "postgres://") || has_prefix(text, len, "postgresql://")) {
    take(out, CIS__DB_POSTGRES, text, 0, len);
    return CIS_OK;
  }
  /* "postgresql:" is "postgres:"; an empty connection string is libpq's
   * defaults (PGHOST, PGDATABASE, ...), as libpq itself reads "". */
  size_t off = has_prefix(text, len, "postgres:") ? 9 : has_prefix(text, len, "postgresql:") ? 11 : 0;
  if (off) {
    take(out, CIS__DB_POSTGRES, text, off, len);
    return CIS_OK;
  }
  size_t n = quotable_scheme(text, len);
  if (n) return refuse(CIS_EINVAL, out, why, whycap, "unknown spec \"%.*s\" (" WANTED ")", (int)n, text);
  return refuse(CIS_EINVAL, out, why, whycap, "unknown spec (" WANTED ")");
}

cis_result cis__db_spec_parse(const char *text, cis__db_default def, cis__db_spec *out, char *why,
                              size_t whycap) {
  return cis__db_spec_parse_n(text, text ? strlen(text) : 0, def, out, why, whycap);
}

cis_result cis_db_spec_check(const char *spec, bool with_default) {
  char why[256] = "";
  cis__db_spec s;
  cis_result rc = cis__db_spec_parse(spec, with_default ? CIS__DB_HAS_DEFAULT : CIS__DB_NO_DEFAULT, &s, why,
                                     sizeof why);
  return rc == CIS_OK ? rc : cis__fail(&cis__no_handle, rc, "%s", why);
}

const char *cis__db_dialect_name(cis__db_dialect d) {
  switch (d) {
  case CIS__DB_SQLITE: return "sqlite";
  case CIS__DB_POSTGRES: return "postgres";
  default: return "none";
  }
}

bool cis__db_identify(const cis__db_spec *spec, cis__db_identity *out) {
  memset(out, 0, sizeof *out);
  if (!spec || !spec->target || spec->home_default) return false;
  if (spec->dialect == CIS__DB_POSTGRES) {
    out->dialect = CIS__DB_POSTGRES;
    out->conninfo = spec->target;
    return true;
  }
  if (spec->dialect != CIS__DB_SQLITE || !spec->target_len || spec->target_len > CIS__DB_SPEC_MAX) return false;
  /* Names compare badly (relative paths, links); the file does not. */
  char path[CIS__DB_SPEC_MAX + 1];
  memcpy(path, spec->target, spec->target_len);
  path[spec->target_len] = 0;
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return false;
  out->dialect = CIS__DB_SQLITE;
  out->dev = st.st_dev;
  out->ino = st.st_ino;
  return true;
}

bool cis__db_same(const cis__db_spec *a, const cis__db_spec *b) {
  cis__db_identity x, y;
  if (!cis__db_identify(a, &x) || !cis__db_identify(b, &y) || x.dialect != y.dialect) return false;
  if (x.dialect == CIS__DB_SQLITE) return x.dev == y.dev && x.ino == y.ino;
  return a->target_len == b->target_len && !memcmp(x.conninfo, y.conninfo, a->target_len);
}
