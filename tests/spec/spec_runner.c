/*
 * This file implements the WebAssembly spec-suite runner: it reads the JSON
 * command lists that wast2json made from the official .wast scripts and
 * runs every command against libcis through its public API only
 * (include/cis/cis.h). The format and the comparison rules are those of
 * ../shared/wasm-testsuite/README.md.
 *
 *   spec_runner [DIR | FILE.json] [NAME...]
 *
 * DIR holds one folder per script (core/i32/i32.json, ...) or flat .json
 * files; NAMEs limit the run to those scripts. Each JSON file runs in a
 * child process with a fresh engine, a fresh `spectest` host module and a
 * fresh registry, so an engine crash costs one file, not the whole run:
 * the child reports its counts through a shared page and the parent counts
 * whatever the crash left unrun as failed.
 *
 * Output: one line per failed command (`file:line: expected ..., got ...`),
 * a count line per file, and a last line `spec: N passed, M failed, K
 * skipped`. Exit 0 when nothing failed, 1 otherwise, 77 when the suite is
 * missing (unless CI=true, where a missing suite is a failure).
 *
 * Text modules (.wat, those of assert_malformed) are compiled by
 * cis_module_new_text; with --text every module is compiled from its text
 * in the .wast instead of read from wast2json's binary (see "text
 * modules" below). Nothing is skipped.
 *
 * Errors are compared by message: for assert_malformed, assert_invalid,
 * assert_unlinkable, assert_uninstantiable, assert_trap and
 * assert_exhaustion, cis's message must start with the script's text (or
 * with what spec_common.c's text_map gives for it), in the right class of codes. v128
 * values are passed and compared lane by lane (lane_type, NaN patterns
 * per float lane).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "cis/cis.h"
#include "spec_common.h"
#include "support/test_file.h"

#ifndef CIS_SPEC_DEFAULT_DIR
#define CIS_SPEC_DEFAULT_DIR "../shared/wasm-testsuite/core"
#endif

/* A script gets this long (wall clock) before its child is killed; one
 * call is bounded by the engine's own deadline well before that. */
#define SPEC_FILE_SECONDS 600

/* One instance a script created, kept until the script ends. */
typedef struct spec_inst {
  char *name;          /* "$M1", or NULL for an anonymous module */
  size_t name_len;     /* length of name */
  cis_instance *inst;  /* our reference */
} spec_inst;

/* The state of one script run. */
typedef struct spec_script {
  const char *dir;          /* folder of the JSON file; module files are relative to it */
  char wast[256];           /* "<name>.wast", the prefix of failure lines */
  cis_engine *engine;       /* fresh per script */
  spec_host host;           /* spectest, and every registered instance in its imports */
  cis_instance *current;    /* the current module, or NULL when the last one failed */
  spec_inst *insts;         /* every instance created, named or not */
  size_t ninsts, cap_insts; /* used / allocated entries of insts */
  spec_counts *counts;      /* shared with the parent */
  int line;                 /* line of the command being run */
} spec_script;

/* ------------------------------------------------------------ reporting */

/* Prints one failure line for the command in progress and counts it. */
static void fail(spec_script *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(spec_script *s, const char *fmt, ...) {
  va_list ap;
  printf("%s:%d: ", s->wast, s->line);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
  s->counts->failed++;
}

static void pass(spec_script *s) { s->counts->passed++; }

/* --engine: the execution engine every script runs on (NULL: the default). */
static const char *spec_engine;

/* ------------------------------------------------------- JSON and names */

/* cJSON decodes "\u0000" into a NUL byte inside a NUL-terminated string,
 * which loses the length of names such as those of names.wast. Before
 * parsing we therefore rewrite, inside JSON strings only, the escape
 * \u0000 as \u0001 followed by '0' and the escape \u0001 as \u0001
 * followed by '1'. The encoding is injective (a raw 0x01 byte cannot occur
 * in JSON text), and unescape_name() reverses it on the decoded bytes.
 * Returns a malloc'd NUL-terminated copy, or NULL when out of memory. */
static char *protect_nul_escapes(const char *text, size_t len) {
  char *out = malloc(len + len / 6 + 2);
  if (!out) return NULL;
  size_t o = 0;
  int in_string = 0;
  for (size_t i = 0; i < len; i++) {
    char c = text[i];
    if (!in_string) {
      if (c == '"') in_string = 1;
      out[o++] = c;
      continue;
    }
    if (c == '"') {
      in_string = 0;
      out[o++] = c;
    } else if (c == '\\' && i + 1 < len) {
      if (text[i + 1] == 'u' && i + 5 < len && !memcmp(text + i + 2, "000", 3) &&
          (text[i + 5] == '0' || text[i + 5] == '1')) {
        memcpy(out + o, "\\u0001", 6);
        o += 6;
        out[o++] = text[i + 5];
        i += 5;
      } else {
        out[o++] = c;
        out[o++] = text[++i];
      }
    } else {
      out[o++] = c;
    }
  }
  out[o] = '\0';
  return out;
}

/* A length-counted name decoded from a protected JSON string. */
typedef struct spec_name {
  char *bytes; /* malloc'd, NUL-terminated for printing, may hold NULs */
  size_t len;  /* length in bytes without the terminator */
} spec_name;

/* Decodes the protected string s (see protect_nul_escapes) into *out.
 * Returns false when s is NULL or out of memory. */
static bool unescape_name(const char *s, spec_name *out) {
  out->bytes = NULL;
  out->len = 0;
  if (!s) return false;
  size_t n = strlen(s);
  char *b = malloc(n + 1);
  if (!b) return false;
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\x01' && (s[i + 1] == '0' || s[i + 1] == '1')) {
      b[o++] = (char)(s[i + 1] - '0');
      i++;
    } else {
      b[o++] = s[i];
    }
  }
  b[o] = '\0';
  out->bytes = b;
  out->len = o;
  return true;
}

/* Prints a name for a failure line, with bytes outside printable ASCII as
 * \xx, into buf (truncated). */
static const char *show_name(const spec_name *n, char *buf, size_t len) {
  size_t o = 0;
  for (size_t i = 0; i < n->len && o + 5 < len; i++) {
    unsigned char c = (unsigned char)n->bytes[i];
    if (c >= 0x20 && c < 0x7f && c != '\\')
      buf[o++] = (char)c;
    else
      o += (size_t)snprintf(buf + o, len - o, "\\%02x", c);
  }
  buf[o < len ? o : len - 1] = '\0';
  return buf;
}

static const char *jstr(const cJSON *obj, const char *key) {
  return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, key));
}

/* --------------------------------------------------------------- values */

static bool parse_u64(const char *s, uint64_t *out) {
  if (!s || !*s || *s == '-') return false;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end) return false;
  *out = v;
  return true;
}

static bool type_of_name(const char *t, cis_valtype *out) {
  static const struct {
    const char *name;
    cis_valtype type;
  } map[] = {{"i32", CIS_I32},         {"i64", CIS_I64},         {"f32", CIS_F32},
             {"f64", CIS_F64},         {"v128", CIS_V128},       {"funcref", CIS_FUNCREF},
             {"externref", CIS_EXTERNREF}};
  for (size_t i = 0; t && i < sizeof map / sizeof map[0]; i++)
    if (!strcmp(t, map[i].name)) {
      *out = map[i].type;
      return true;
    }
  return false;
}

/* The bytes of one lane of a v128 of lane type lt ("i8" ... "f64"), or 0
 * when lt is none of them. */
static unsigned lane_bytes(const char *lt) {
  static const struct {
    const char *name;
    unsigned bytes;
  } lanes[] = {{"i8", 1}, {"i16", 2}, {"i32", 4}, {"i64", 8}, {"f32", 4}, {"f64", 8}};
  for (size_t i = 0; lt && i < sizeof lanes / sizeof lanes[0]; i++)
    if (!strcmp(lt, lanes[i].name)) return lanes[i].bytes;
  return 0;
}

/* A v128 value {"type": "v128", "lane_type": L, "value": [lanes]}: each
 * lane the unsigned decimal of its bits, lane 0 first. When lanes is not
 * NULL, a float lane may instead be a NaN pattern ("nan:canonical" or
 * "nan:arithmetic"): lanes[i] is then 1 or 2 (else 0). Fills out[16]
 * little-endian; false when the value is not of this form. */
static bool parse_v128(const cJSON *j, uint8_t out[16], uint8_t *lanes, unsigned *lane_size) {
  const char *lt = jstr(j, "lane_type");
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "value");
  unsigned lb = lane_bytes(lt);
  if (!lb || !cJSON_IsArray(v) || cJSON_GetArraySize(v) != (int)(16 / lb)) return false;
  bool is_float = lt[0] == 'f';
  memset(out, 0, 16);
  for (unsigned i = 0; i < 16 / lb; i++) {
    const char *s = cJSON_GetStringValue(cJSON_GetArrayItem(v, (int)i));
    uint64_t bits;
    if (lanes) lanes[i] = 0;
    if (lanes && is_float && s && !strcmp(s, "nan:canonical")) {
      lanes[i] = 1;
      continue;
    }
    if (lanes && is_float && s && !strcmp(s, "nan:arithmetic")) {
      lanes[i] = 2;
      continue;
    }
    if (!parse_u64(s, &bits) || (lb < 8 && bits >> (8 * lb))) return false;
    for (unsigned k = 0; k < lb; k++) out[i * lb + k] = (uint8_t)(bits >> (8 * k));
  }
  if (lane_size) *lane_size = lb;
  return true;
}

/* Parses an argument value {"type": T, "value": V} into *out. Returns
 * false (with the reason in err) for anything this runner cannot pass. */
static bool parse_arg(const cJSON *j, cis_val *out, char *err, size_t errlen) {
  const char *t = jstr(j, "type"), *v = jstr(j, "value");
  uint64_t bits = 0;
  memset(out, 0, sizeof *out);
  if (!type_of_name(t, &out->type)) {
    snprintf(err, errlen, "unsupported argument type %s", t ? t : "(none)");
    return false;
  }
  if (out->type == CIS_V128) {
    if (parse_v128(j, out->v128, NULL, NULL)) return true;
    snprintf(err, errlen, "bad v128 argument");
    return false;
  }
  if (out->type == CIS_FUNCREF || out->type == CIS_EXTERNREF) {
    if (v && !strcmp(v, "null")) return true; /* of.u64 is already 0: a null ref */
    if (out->type == CIS_EXTERNREF && parse_u64(v, &bits) && bits != UINT64_MAX) {
      out->of.externref = spec_extern_of(bits);
      return true;
    }
    snprintf(err, errlen, "unsupported %s argument %s", t, v ? v : "(none)");
    return false;
  }
  if (!parse_u64(v, &bits) ||
      ((out->type == CIS_I32 || out->type == CIS_F32) && bits > UINT32_MAX)) {
    snprintf(err, errlen, "bad %s argument %s", t, v ? v : "(none)");
    return false;
  }
  if (out->type == CIS_I32 || out->type == CIS_F32)
    out->of.u32 = (uint32_t)bits;
  else
    out->of.u64 = bits;
  return true;
}

/* Is got[16] the expected v128 j? Lanes compare bitwise, or against a NaN
 * pattern per f32/f64 lane. Writes the expected lanes into want. */
static bool match_v128(const cJSON *j, const uint8_t got[16], char *want, size_t wantlen) {
  uint8_t exp[16], nan[16];
  unsigned lb = 0;
  char *p = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(j, "value"));
  snprintf(want, wantlen, "v128:%s %s", jstr(j, "lane_type") ? jstr(j, "lane_type") : "?", p ? p : "?");
  free(p);
  if (!parse_v128(j, exp, nan, &lb)) return false;
  for (unsigned i = 0; i < 16 / lb; i++) {
    const uint8_t *g = got + i * lb;
    uint64_t bits = 0;
    for (unsigned k = 0; k < lb; k++) bits |= (uint64_t)g[k] << (8 * k);
    if (nan[i] && lb == 4) {
      if (!spec_f32_matches((uint32_t)bits, (spec_nan)nan[i], 0)) return false;
    } else if (nan[i]) {
      if (!spec_f64_matches(bits, (spec_nan)nan[i], 0)) return false;
    } else if (memcmp(g, exp + i * lb, lb)) {
      return false;
    }
  }
  return true;
}

/* Checks one result against an expected value {"type", "value"}, by the
 * README's rules: bitwise, NaN patterns for floats, identity for host
 * references, null for funcref. Returns true on a match; otherwise writes
 * the expected form into want. */
static bool match_val(const cJSON *j, const cis_val *got, char *want, size_t wantlen) {
  const char *t = jstr(j, "type"), *v = jstr(j, "value");
  cis_valtype type;
  snprintf(want, wantlen, "%s:%s", t ? t : "?", v ? v : "?");
  if (!type_of_name(t, &type)) return false;
  if (got->type != type) return false;
  if (type == CIS_V128) return match_v128(j, got->v128, want, wantlen);
  if (!v) return false;
  uint64_t bits;
  switch (type) {
  case CIS_I32:
    return parse_u64(v, &bits) && bits == got->of.u32;
  case CIS_I64:
    return parse_u64(v, &bits) && bits == got->of.u64;
  case CIS_F32:
    if (!strcmp(v, "nan:canonical")) return spec_f32_matches(got->of.u32, SPEC_NAN_CANONICAL, 0);
    if (!strcmp(v, "nan:arithmetic")) return spec_f32_matches(got->of.u32, SPEC_NAN_ARITHMETIC, 0);
    return parse_u64(v, &bits) && bits == got->of.u32;
  case CIS_F64:
    if (!strcmp(v, "nan:canonical")) return spec_f64_matches(got->of.u64, SPEC_NAN_CANONICAL, 0);
    if (!strcmp(v, "nan:arithmetic")) return spec_f64_matches(got->of.u64, SPEC_NAN_ARITHMETIC, 0);
    return parse_u64(v, &bits) && bits == got->of.u64;
  case CIS_FUNCREF:
    return !strcmp(v, "null") && got->of.funcref == NULL;
  case CIS_EXTERNREF:
    if (!strcmp(v, "null")) return got->of.externref == NULL;
    return parse_u64(v, &bits) && bits != UINT64_MAX && got->of.externref == spec_extern_of(bits);
  default:
    return false;
  }
}



static bool remember(spec_script *s, const char *name, cis_instance *inst) {
  if (s->ninsts == s->cap_insts) {
    size_t cap = s->cap_insts ? 2 * s->cap_insts : 16;
    spec_inst *n = realloc(s->insts, cap * sizeof *n);
    if (!n) return false;
    s->insts = n;
    s->cap_insts = cap;
  }
  spec_inst *e = &s->insts[s->ninsts++];
  e->name = NULL;
  e->name_len = 0;
  e->inst = inst;
  if (name) {
    spec_name n;
    if (!unescape_name(name, &n)) return false;
    e->name = n.bytes;
    e->name_len = n.len;
  }
  return true;
}

/* The instance a command refers to: module `name` (the latest of that
 * name), or the current module when name is NULL. NULL when there is none. */
static cis_instance *find_inst(spec_script *s, const char *name) {
  if (!name) return s->current;
  spec_name n;
  if (!unescape_name(name, &n)) return NULL;
  cis_instance *found = NULL;
  for (size_t i = s->ninsts; i-- > 0;) {
    if (s->insts[i].name && s->insts[i].name_len == n.len &&
        !memcmp(s->insts[i].name, n.bytes, n.len)) {
      found = s->insts[i].inst;
      break;
    }
  }
  free(n.bytes);
  return found;
}

/* ----------------------------------------------------------- text modules */

/* The text format, through cis_module_new_text. The .wat modules of
 * assert_malformed are compiled from wast2json's .wat file and must fail
 * with a decode-range code whose message holds the script's text. With
 * --text, every module of a script is compiled from its own text in the
 * .wast (the (module ...) form at the command's line; the strings of a
 * (module quote ...)), not read from wast2json's binary: only (module
 * binary ...) forms still come from the .wasm file. */
static bool spec_text_mode;

/* The .wast of the script being run (each script runs in its own child,
 * or in turn with --no-fork: the cache is keyed by path). */
static struct {
  char path[PATH_MAX]; /* "" when nothing is cached */
  char *text;          /* malloc'd, NUL-terminated */
  size_t len;          /* bytes */
} spec_wast;

static const char *wast_text(spec_script *s, size_t *len) {
  char path[PATH_MAX];
  if ((size_t)snprintf(path, sizeof path, "%s/%s", s->dir, s->wast) >= sizeof path) return NULL;
  if (strcmp(path, spec_wast.path)) {
    free(spec_wast.text);
    spec_wast.text = (char *)cis_test_file_read(path, &spec_wast.len);
    snprintf(spec_wast.path, sizeof spec_wast.path, "%s", spec_wast.text ? path : "");
  }
  *len = spec_wast.len;
  return spec_wast.text;
}

/* The offset past the string, line comment or (nested) block comment
 * opening at t[i], or i when none opens there. */
static size_t wast_skip_one(const char *t, size_t n, size_t i) {
  if (t[i] == '"') {
    for (i++; i < n && t[i] != '"'; i++)
      if (t[i] == '\\' && i + 1 < n) i++;
    return i < n ? i + 1 : n;
  }
  if (t[i] == ';' && i + 1 < n && t[i + 1] == ';') {
    while (i < n && t[i] != '\n') i++;
    return i;
  }
  if (t[i] == '(' && i + 1 < n && t[i + 1] == ';') {
    size_t depth = 1;
    for (i += 2; i < n && depth; i++) {
      if (t[i] == '(' && i + 1 < n && t[i + 1] == ';') depth++, i++;
      else if (t[i] == ';' && i + 1 < n && t[i + 1] == ')') depth--, i++;
    }
    return i;
  }
  return i;
}

/* Finds the first (module ...) form at or after line `line` of the .wast:
 * [*b, *e) holds it, parentheses included. A script whose command there is
 * no (module ...) nor an assertion is a module of bare fields (the
 * abbreviation inline-module.wast tests): then [*b, *e) is the rest of the
 * text. */
static bool wast_module_at(const char *t, size_t n, int line, size_t *b, size_t *e) {
  size_t i = 0;
  for (int l = 1; l < line && i < n; i++)
    if (t[i] == '\n') l++;
  bool first = true;
  while (i < n) {
    size_t j = wast_skip_one(t, n, i);
    if (j != i) {
      i = j;
      continue;
    }
    if (!strncmp(t + i, "(module", 7) && i + 7 < n && strchr(" \t\r\n()", t[i + 7])) break;
    if (first && t[i] == '(' && strncmp(t + i, "(assert_", 8)) {
      *b = i;
      *e = n;
      return true;
    }
    if (!strchr(" \t\r\n", t[i])) first = false;
    i++;
  }
  if (i >= n) return false;
  *b = i;
  size_t depth = 0;
  while (i < n) {
    size_t j = wast_skip_one(t, n, i);
    if (j != i) {
      i = j;
      continue;
    }
    if (t[i] == '(') depth++;
    if (t[i] == ')' && --depth == 0) {
      *e = i + 1;
      return true;
    }
    i++;
  }
  return false;
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* The strings of t[i..e) decoded and joined with spaces: the text of a
 * (module quote ...). Returns a malloc'd buffer, or NULL. */
static char *wast_quote(const char *t, size_t i, size_t e, size_t *len) {
  char *out = malloc(e - i + 1);
  size_t o = 0;
  if (!out) return NULL;
  while (i < e) {
    if (t[i] != '"') {
      i++;
      continue;
    }
    if (o) out[o++] = ' ';
    for (i++; i < e && t[i] != '"'; i++) {
      if (t[i] != '\\') {
        out[o++] = t[i];
        continue;
      }
      char c = t[++i];
      if (c == 'n') out[o++] = '\n';
      else if (c == 't') out[o++] = '\t';
      else if (c == 'r') out[o++] = '\r';
      else if (c == 'u') { /* \u{hex}: UTF-8 */
        unsigned long cp = strtoul(t + i + 2, NULL, 16);
        while (i < e && t[i] != '}') i++;
        if (cp < 0x80) out[o++] = (char)cp;
        else if (cp < 0x800) out[o++] = (char)(0xc0 | cp >> 6), out[o++] = (char)(0x80 | (cp & 0x3f));
        else if (cp < 0x10000)
          out[o++] = (char)(0xe0 | cp >> 12), out[o++] = (char)(0x80 | ((cp >> 6) & 0x3f)),
          out[o++] = (char)(0x80 | (cp & 0x3f));
        else
          out[o++] = (char)(0xf0 | cp >> 18), out[o++] = (char)(0x80 | ((cp >> 12) & 0x3f)),
          out[o++] = (char)(0x80 | ((cp >> 6) & 0x3f)), out[o++] = (char)(0x80 | (cp & 0x3f));
      } else if (hex_digit(c) >= 0 && hex_digit(t[i + 1]) >= 0) {
        out[o++] = (char)(hex_digit(c) * 16 + hex_digit(t[i + 1]));
        i++;
      } else {
        out[o++] = c; /* \" \' \\ */
      }
    }
    i++;
  }
  out[o] = '\0';
  *len = o;
  return out;
}

/* Loads a module from text when that is the way for this command: a .wat
 * file, or (with --text) the command's (module ...) in the .wast. Returns
 * false when the module is a binary one, for the caller to read; else
 * sets *rc (and *read_ok, as load_module does). */
static bool text_load(spec_script *s, const char *filename, cis_module **out, bool *read_ok,
                      cis_result *rc) {
  size_t fl = filename ? strlen(filename) : 0;
  bool wat_file = fl > 4 && !strcmp(filename + fl - 4, ".wat");
  if (!wat_file && !spec_text_mode) return false;
  char *text = NULL;
  size_t len = 0;
  if (spec_text_mode) {
    size_t n, b, e;
    const char *t = wast_text(s, &n);
    if (!t || !wast_module_at(t, n, s->line, &b, &e)) {
      fail(s, "cannot find the module's text in %s at line %d", s->wast, s->line);
      *rc = CIS_EIO;
      return true;
    }
    /* (module $id? binary ...) comes from the binary file; quote from its strings */
    size_t i = b + 7;
    while (i < e && strchr(" \t\r\n", t[i])) i++;
    if (t[i] == '$')
      while (i < e && !strchr(" \t\r\n()", t[i])) i++;
    while (i < e && strchr(" \t\r\n", t[i])) i++;
    if (!strncmp(t + i, "binary", 6)) return false;
    if (!strncmp(t + i, "quote", 5)) {
      text = wast_quote(t, i + 5, e - 1, &len);
    } else {
      text = malloc(e - b + 1);
      if (text) memcpy(text, t + b, e - b), len = e - b, text[len] = '\0';
    }
  } else {
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", s->dir, filename) >= sizeof path) {
      fail(s, "module path too long");
      *rc = CIS_EINVAL;
      return true;
    }
    text = (char *)cis_test_file_read(path, &len);
  }
  if (!text) {
    fail(s, "cannot read the text of %s: %s", filename ? filename : "the module", strerror(errno));
    *rc = CIS_EIO;
    return true;
  }
  *read_ok = true;
  *rc = cis_module_new_text(s->engine, text, len, out);
  free(text);
  if (*rc == CIS_OK && !*out) *rc = CIS_ESTATE;
  return true;
}

/* assert_malformed of a text module: it must fail to compile, with a code
 * in the decode range and the script's text in the message. */
static void text_bad_module(spec_script *s, const cJSON *c, const char *type) {
  const char *text = jstr(c, "text"), *file = jstr(c, "filename");
  char buf[640];
  bool read_ok = false;
  cis_module *m = NULL;
  cis_result rc = CIS_OK;
  if (!text_load(s, file, &m, &read_ok, &rc)) {
    fail(s, "%s %s: not a text module", type, file ? file : "(no file)");
    return;
  }
  if (!read_ok) return; /* reported */
  const char *msg = cis_errmsg(s->engine);
  if (rc == CIS_OK) {
    fail(s, "%s %s: expected \"%s\", but the text compiled", type, file, text ? text : "");
    cis_module_free(m);
  } else if (rc < -199 || rc > -100) {
    fail(s, "%s %s: expected \"%s\" (a decode code), got %s", type, file, text ? text : "",
         spec_describe_rc(rc, msg, buf, sizeof buf));
  } else if (text && !strstr(msg, text)) {
    fail(s, "%s %s: expected \"%s\", got %s", type, file, text,
         spec_describe_rc(rc, msg, buf, sizeof buf));
  } else {
    pass(s);
  }
}

/* Reads and decodes+validates module file `filename` of the script. A file
 * that cannot be read is a failed command (reported here, *read_ok false);
 * otherwise returns the engine's code, with *out set on success. */
static cis_result load_module(spec_script *s, const char *filename, cis_module **out,
                              bool *read_ok) {
  char path[PATH_MAX];
  *out = NULL;
  *read_ok = false;
  cis_result trc;
  if (text_load(s, filename, out, read_ok, &trc)) return trc; /* a text module */
  if (!filename || (size_t)snprintf(path, sizeof path, "%s/%s", s->dir, filename) >= sizeof path) {
    fail(s, "command has no usable module filename");
    return CIS_EINVAL;
  }
  size_t len = 0;
  uint8_t *bytes = cis_test_file_read(path, &len);
  if (!bytes) {
    fail(s, "cannot read %s: %s", path, strerror(errno));
    return CIS_EIO;
  }
  *read_ok = true;
  cis_result rc = cis_module_new(s->engine, bytes, len, out);
  free(bytes);
  if (rc == CIS_OK && !*out) rc = CIS_ESTATE; /* defend against a broken contract */
  return rc;
}

/* ---------------------------------------------------------------- actions */

/* An argument of a script's action: parse_arg over its JSON args. */
static bool json_arg(void *ctx, uint32_t i, cis_valtype want, cis_val *out, char *err,
                     size_t errlen) {
  (void)want; /* the JSON says its type; spec_call compares */
  return parse_arg(cJSON_GetArrayItem((const cJSON *)ctx, (int)i), out, err, errlen);
}

/* Performs an action (invoke or get) of the script. Returns false when the
 * action could not even be attempted (unknown module or export, bad
 * arguments): that is reported as a failure here. Otherwise fills *o, whose
 * results the caller frees. */
static bool run_action(spec_script *s, const cJSON *action, spec_outcome *o) {
  memset(o, 0, sizeof *o);
  const char *type = jstr(action, "type");
  const char *modname = jstr(action, "module");
  spec_name field;
  char shown[256];
  if (!type || !unescape_name(jstr(action, "field"), &field)) {
    fail(s, "action without type or field");
    return false;
  }
  bool ok = false;
  cis_instance *inst = find_inst(s, modname);
  if (!inst) {
    fail(s, "action on %s, but there is no such module (an earlier module failed?)",
         modname ? modname : "the current module");
    goto done;
  }
  cis_extern ext;
  cis_result rc = cis_instance_export(inst, field.bytes, field.len, &ext);
  if (rc) {
    fail(s, "export \"%s\" not found: %s", show_name(&field, shown, sizeof shown),
         cis_errname(rc));
    goto done;
  }
  if (!strcmp(type, "get")) {
    if (ext.kind != CIS_EXTERN_GLOBAL) {
      fail(s, "export \"%s\" is not a global", show_name(&field, shown, sizeof shown));
      goto done;
    }
    ok = spec_get(ext.of.global, o);
    if (!ok) fail(s, "out of host memory");
    goto done;
  }
  if (strcmp(type, "invoke")) {
    fail(s, "unknown action type %s", type);
    goto done;
  }
  if (ext.kind != CIS_EXTERN_FUNC) {
    fail(s, "export \"%s\" is not a function", show_name(&field, shown, sizeof shown));
    goto done;
  }
  uint32_t np = 0, nr = 0;
  const cis_valtype *pt = NULL, *rt = NULL;
  cis_func_type(ext.of.func, &np, &pt, &nr, &rt);
  const cJSON *jargs = cJSON_GetObjectItemCaseSensitive(action, "args");
  int nargs = cJSON_GetArraySize(jargs);
  if (nargs < 0 || (uint32_t)nargs != np) {
    fail(s, "\"%s\" takes %" PRIu32 " arguments, the script passes %d",
         show_name(&field, shown, sizeof shown), np, nargs);
    goto done;
  }
  char err[300];
  ok = spec_call(inst, ext.of.func, json_arg, (void *)jargs, o, err, sizeof err);
  if (!ok) fail(s, "%s", err);
done:
  free(field.bytes);
  return ok;
}

/* ---------------------------------------------------------------- commands */

static void cmd_module(spec_script *s, const cJSON *c) {
  char buf[640];
  bool read_ok;
  cis_module *m = NULL;
  s->current = NULL;
  cis_result rc = load_module(s, jstr(c, "filename"), &m, &read_ok);
  if (!read_ok) return;
  if (rc) {
    fail(s, "module %s should load, got %s", jstr(c, "filename"),
         spec_describe_rc(rc, cis_errmsg(s->engine), buf, sizeof buf));
    return;
  }
  cis_instance *inst = NULL;
  rc = cis_instance_new(m, s->host.imports, NULL, &inst);
  cis_module_free(m);
  if (rc || !inst) {
    fail(s, "module %s should instantiate, got %s", jstr(c, "filename"),
         spec_describe_rc(rc, cis_errmsg(s->engine), buf, sizeof buf));
    if (inst) cis_instance_free(inst);
    return;
  }
  if (!remember(s, jstr(c, "name"), inst)) {
    cis_instance_free(inst);
    fail(s, "out of host memory");
    return;
  }
  s->current = inst;
  pass(s);
}

static void cmd_register(spec_script *s, const cJSON *c) {
  const char *name = jstr(c, "name");
  spec_name as;
  cis_instance *inst = find_inst(s, name);
  if (!inst) {
    fail(s, "register of %s, but there is no such module", name ? name : "the current module");
    return;
  }
  if (!unescape_name(jstr(c, "as"), &as)) {
    fail(s, "register without \"as\"");
    return;
  }
  cis_result rc = cis_imports_add_instance(s->host.imports, as.bytes, as.len, inst);
  if (rc) {
    char buf[640];
    fail(s, "register as \"%s\" failed: %s", as.bytes,
         spec_describe_rc(rc, cis_errmsg(s->engine), buf, sizeof buf));
  } else {
    pass(s);
  }
  free(as.bytes);
}

/* action, assert_return, assert_trap and assert_exhaustion. */
static void cmd_action(spec_script *s, const cJSON *c, const char *type) {
  const cJSON *action = cJSON_GetObjectItemCaseSensitive(c, "action");
  spec_outcome o;
  char buf[640], want[128], got[128];
  if (!run_action(s, action, &o)) return;
  spec_name field;
  char what[256] = "?";
  if (unescape_name(jstr(action, "field"), &field)) {
    show_name(&field, what, sizeof what);
    free(field.bytes);
  }
  if (!strcmp(type, "assert_return") || !strcmp(type, "action")) {
    if (o.rc) {
      fail(s, "%s \"%s\": expected results, got %s", type, what,
           spec_describe_rc(o.rc, o.msg, buf, sizeof buf));
      goto done;
    }
    if (!strcmp(type, "action")) {
      pass(s);
      goto done;
    }
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(c, "expected");
    int n = cJSON_GetArraySize(exp);
    if (n < 0 || (uint32_t)n != o.nresults) {
      fail(s, "assert_return \"%s\": expected %d results, the function returns %" PRIu32, what, n,
           o.nresults);
      goto done;
    }
    for (int i = 0; i < n; i++) {
      if (!match_val(cJSON_GetArrayItem(exp, i), &o.results[i], want, sizeof want)) {
        fail(s, "assert_return \"%s\": result %d: expected %s, got %s", what, i, want,
             spec_show_val(&o.results[i], got, sizeof got));
        goto done;
      }
    }
    pass(s);
    goto done;
  }
  const char *text = jstr(c, "text");
  if (!strcmp(type, "assert_exhaustion")) {
    if (o.rc != CIS_TRAP_STACK || !spec_text_matches(text, NULL, o.msg))
      fail(s, "assert_exhaustion \"%s\": expected CIS_TRAP_STACK (%s), got %s", what,
           text ? text : "", o.rc ? spec_describe_rc(o.rc, o.msg, buf, sizeof buf) : "results");
    else
      pass(s);
    goto done;
  }
  /* assert_trap */
  if (!o.rc) {
    fail(s, "assert_trap \"%s\": expected trap \"%s\", got results", what, text ? text : "");
  } else if (!cis_is_trap(o.rc) || !spec_text_matches(text, NULL, o.msg)) {
    fail(s, "assert_trap \"%s\": expected trap \"%s\", got %s", what, text ? text : "",
         spec_describe_rc(o.rc, o.msg, buf, sizeof buf));
  } else {
    pass(s);
  }
done:
  free(o.results);
}

/* assert_malformed and assert_invalid: the module must fail to load with a
 * code in [lo, hi] and a message that says what the script's text says
 * (text_matches). Text modules of assert_malformed are skipped. */
static void cmd_bad_module(spec_script *s, const cJSON *c, const char *type, int lo, int hi) {
  const char *mt = jstr(c, "module_type"), *text = jstr(c, "text");
  if (mt && !strcmp(mt, "text")) {
    text_bad_module(s, c, type);
    return;
  }
  char buf[640];
  bool read_ok;
  cis_module *m = NULL;
  cis_result rc = load_module(s, jstr(c, "filename"), &m, &read_ok);
  if (!read_ok) return;
  if (rc == CIS_OK) {
    fail(s, "%s %s: expected \"%s\", but the module loaded", type, jstr(c, "filename"),
         text ? text : "");
    cis_module_free(m);
  } else if (rc < lo || rc > hi || !spec_text_matches(text, jstr(c, "filename"), cis_errmsg(s->engine))) {
    fail(s, "%s %s: expected \"%s\" (a code in %d..%d), got %s", type, jstr(c, "filename"),
         text ? text : "", hi, lo, spec_describe_rc(rc, cis_errmsg(s->engine), buf, sizeof buf));
  } else {
    pass(s);
  }
}

/* assert_unlinkable and assert_uninstantiable: the module loads, and
 * instantiation must fail as text says (a link code, or a trap). */
static void cmd_bad_instance(spec_script *s, const cJSON *c, const char *type) {
  const char *text = jstr(c, "text"), *file = jstr(c, "filename");
  bool unlinkable = !strcmp(type, "assert_unlinkable");
  char buf[640];
  bool read_ok;
  cis_module *m = NULL;
  cis_result rc = load_module(s, file, &m, &read_ok);
  if (!read_ok) return;
  if (rc) {
    fail(s, "%s %s: the module should load, got %s", type, file,
         spec_describe_rc(rc, cis_errmsg(s->engine), buf, sizeof buf));
    return;
  }
  cis_instance *inst = NULL;
  rc = cis_instance_new(m, s->host.imports, NULL, &inst);
  cis_module_free(m);
  if (rc == CIS_OK) {
    fail(s, "%s %s: expected \"%s\", but it instantiated", type, file, text ? text : "");
    if (inst) cis_instance_free(inst);
    return;
  }
  bool right_class = unlinkable ? (rc == CIS_EUNKNOWNIMPORT || rc == CIS_EIMPORTTYPE)
                                : cis_is_trap(rc);
  if (!right_class || !spec_text_matches(text, file, cis_errmsg(s->engine)))
    fail(s, "%s %s: expected \"%s\", got %s", type, file, text ? text : "",
         spec_describe_rc(rc, cis_errmsg(s->engine), buf, sizeof buf));
  else
    pass(s);
}

static void run_command(spec_script *s, const cJSON *c) {
  const char *type = jstr(c, "type");
  const cJSON *line = cJSON_GetObjectItemCaseSensitive(c, "line");
  s->line = cJSON_IsNumber(line) ? line->valueint : 0;
  s->counts->line = (uint64_t)s->line;
  if (!type) {
    fail(s, "command without a type");
  } else if (!strcmp(type, "module")) {
    cmd_module(s, c);
  } else if (!strcmp(type, "register")) {
    cmd_register(s, c);
  } else if (!strcmp(type, "action") || !strcmp(type, "assert_return") ||
             !strcmp(type, "assert_trap") || !strcmp(type, "assert_exhaustion")) {
    cmd_action(s, c, type);
  } else if (!strcmp(type, "assert_malformed")) {
    cmd_bad_module(s, c, type, -199, -100);
  } else if (!strcmp(type, "assert_invalid")) {
    cmd_bad_module(s, c, type, -299, -200);
  } else if (!strcmp(type, "assert_unlinkable") || !strcmp(type, "assert_uninstantiable")) {
    cmd_bad_instance(s, c, type);
  } else {
    fail(s, "unknown command type %s", type);
  }
  s->counts->done++;
}

/* Runs every command of one JSON script, counting into *counts. Used in the
 * child process (or in-process with --no-fork). */
static void run_script(const char *json_path, spec_counts *counts) {
  spec_script s;
  memset(&s, 0, sizeof s);
  s.counts = counts;
  char *dir = strdup(json_path);
  char *slash = dir ? strrchr(dir, '/') : NULL;
  if (slash) *slash = '\0';
  s.dir = slash ? dir : ".";
  const char *base = strrchr(json_path, '/');
  snprintf(s.wast, sizeof s.wast, "%s", base ? base + 1 : json_path);

  size_t len = 0;
  char *raw = (char *)cis_test_file_read(json_path, &len);
  int read_errno = raw ? 0 : errno;
  char *prot = raw ? protect_nul_escapes(raw, len) : NULL;
  cJSON *root = prot ? cJSON_Parse(prot) : NULL;
  free(raw);
  free(prot);
  const cJSON *cmds = cJSON_GetObjectItemCaseSensitive(root, "commands");
  const char *src = jstr(root, "source_filename");
  if (src) snprintf(s.wast, sizeof s.wast, "%s", src);
  if (!cJSON_IsArray(cmds)) {
    fail(&s, "%s: cannot read a command list (%s)", json_path,
         read_errno ? strerror(read_errno) : "bad JSON");
    goto out;
  }
  counts->total = (uint64_t)cJSON_GetArraySize(cmds);

  cis_engine_config ecfg;
  cis_engine_config_default(&ecfg);
  if (spec_engine) ecfg.engine = spec_engine;
  ecfg.standard = 2; /* the JSON suites are 2.0's */
  cis_result rc = cis_engine_new(&ecfg, &s.engine);
  if (rc == CIS_OK) rc = spec_host_new(s.engine, &s.host);
  if (rc) {
    char buf[640];
    fail(&s, "cannot set up the engine and spectest: %s",
         spec_describe_rc(rc, s.engine ? cis_errmsg(s.engine) : "", buf, sizeof buf));
    counts->failed += counts->total - 1;
    goto out;
  }
  const cJSON *c;
  cJSON_ArrayForEach(c, cmds) run_command(&s, c);

out:
  spec_host_free(&s.host);
  for (size_t i = 0; i < s.ninsts; i++) {
    cis_instance_free(s.insts[i].inst);
    free(s.insts[i].name);
  }
  free(s.insts);
  if (s.engine) cis_engine_free(s.engine);
  cJSON_Delete(root);
  free(dir);
}

/* ---------------------------------------------------------------- driver */

static bool is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && !strcmp(s + n - m, suffix);
}

/* Is script `name` selected by the NAME arguments (all when none)? */
static bool selected(const char *name, char **names, int nnames) {
  if (nnames == 0) return true;
  for (int i = 0; i < nnames; i++)
    if (!strcmp(name, names[i])) return true;
  return false;
}

/* Runs every script under dir in name order: dir/<n>/<n>.json folders
 * and flat dir/<n>.json files. Returns the number of scripts found. */
static unsigned run_dir(spec_run *r, const char *dir, char **names, int nnames) {
  struct dirent **ents = NULL;
  int n = scandir(dir, &ents, NULL, alphasort);
  unsigned found = 0;
  for (int i = 0; i < n; i++) {
    const char *e = ents[i]->d_name;
    char path[PATH_MAX], label[256];
    if (e[0] == '.') goto next;
    if (ends_with(e, ".json")) {
      snprintf(label, sizeof label, "%.*s", (int)(strlen(e) - 5), e);
      if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e) >= sizeof path || !is_file(path))
        goto next;
    } else {
      snprintf(label, sizeof label, "%s", e);
      if ((size_t)snprintf(path, sizeof path, "%s/%s/%s.json", dir, e, e) >= sizeof path ||
          !is_file(path))
        goto next;
    }
    if (!selected(label, names, nnames)) goto next;
    found++;
    spec_run_one(r, path, label, run_script);
  next:
    free(ents[i]);
  }
  free(ents);
  return found;
}

static int usage(void) {
  fprintf(stderr, "usage: spec_runner [--no-fork] [--engine interp|aot] [DIR | FILE.json] [NAME...]\n"
                  "  DIR defaults to %s\n",
          CIS_SPEC_DEFAULT_DIR);
  return 2;
}

int main(int argc, char **argv) {
  spec_run r;
  memset(&r, 0, sizeof r);
  r.fork = true;
  r.seconds = SPEC_FILE_SECONDS;
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (!strcmp(argv[i], "--no-fork"))
      r.fork = false;
    else if (!strcmp(argv[i], "--text")) /* every module from its text: see text_load */
      spec_text_mode = true;
    else if (!strcmp(argv[i], "--engine") && i + 1 < argc)
      spec_engine = argv[++i];
    else
      return usage();
  }
  const char *target = i < argc ? argv[i++] : CIS_SPEC_DEFAULT_DIR;
  setvbuf(stdout, NULL, _IOLBF, 0);

  if (!spec_run_init(&r, "spec_runner")) return 1;

  unsigned found = 0;
  if (is_file(target) && ends_with(target, ".json")) {
    const char *b = strrchr(target, '/');
    char label[256];
    snprintf(label, sizeof label, "%s", b ? b + 1 : target);
    label[strlen(label) - 5] = '\0';
    spec_run_one(&r, target, label, run_script);
    found = 1;
  } else if (is_dir(target)) {
    found = run_dir(&r, target, argv + i, argc - i);
  }
  if (found == 0 && i < argc) {
    fprintf(stderr, "spec_runner: no script matches the names given under %s\n", target);
    return 1;
  }
  if (found == 0)
    return spec_run_no_suite("spec_runner", target,
                             "put the WebAssembly spec suite there (see "
                             "../shared/wasm-testsuite/README.md) or pass its folder");
  printf("spec: %" PRIu64 " passed, %" PRIu64 " failed, %" PRIu64 " skipped\n", r.passed,
         r.failed, r.skipped);
  return r.failed ? 1 : 0;
}
