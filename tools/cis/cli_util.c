/*
 * This file implements what the `cis` subcommands share besides option
 * parsing: reading typed values from the command line and printing them
 * back, printing names and errors, and reading module files.
 *
 * Values are printed so that they read back exactly: integers as signed
 * decimal, floats with the fewest digits that parse to the same bits, and
 * NaNs with a payload other than the canonical one as `nan:0xPAYLOAD`.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define CLI_MAX_FILE (1ull << 30) /* a module larger than this is refused unread */

/* Parses an integer of `bits` bits: an optional sign, then cis_parse_u64.
 * Negative values go down to -2^(bits-1); positive ones up to 2^bits - 1,
 * so both -1 and 0xffffffff spell the i32 with all bits set. */
static bool parse_int(const char *s, unsigned bits, uint64_t *out) {
  bool neg = false;
  if (*s == '-' || *s == '+') neg = *s++ == '-';
  uint64_t mag;
  if (!cis_parse_u64(s, &mag)) return false;
  uint64_t umax = bits == 32 ? UINT32_MAX : UINT64_MAX;
  uint64_t nmax = bits == 32 ? (1ull << 31) : (1ull << 63);
  if (neg) {
    if (mag > nmax) return false;
    *out = (0 - mag) & umax;
  } else {
    if (mag > umax) return false;
    *out = mag;
  }
  return true;
}

bool cli_parse_val(cis_valtype t, const char *text, cis_val *out) {
  memset(out, 0, sizeof *out);
  out->type = t;
  if (!text || !*text || isspace((unsigned char)text[0])) return false;
  uint64_t bits;
  char *end;
  switch (t) {
  case CIS_I32:
    if (!parse_int(text, 32, &bits)) return false;
    out->of.u32 = (uint32_t)bits;
    return true;
  case CIS_I64:
    if (!parse_int(text, 64, &bits)) return false;
    out->of.u64 = bits;
    return true;
  case CIS_F32: {
    errno = 0;
    float f = strtof(text, &end);
    if (*end || (errno == ERANGE && isinf(f))) return false; /* 1e99 is a typo, not inf */
    out->of.f32 = f;
    return true;
  }
  case CIS_F64: {
    errno = 0;
    double d = strtod(text, &end);
    if (*end || (errno == ERANGE && isinf(d))) return false;
    out->of.f64 = d;
    return true;
  }
  case CIS_FUNCREF:
  case CIS_EXTERNREF:
  case CIS_ANYREF:
    return !strcmp(text, "null"); /* of is already zero: the null reference */
  case CIS_V128:
  case CIS_EXNREF:
  case CIS_NULLEXNREF:
    return false;
  }
  return false;
}

/* Formats a float (given as a double plus its bits) with the fewest digits
 * that read back to the same bits: at most 9 for f32, 17 for f64. */
static void format_float(double d, uint64_t bits, bool is32, char *buf, size_t len) {
  bool neg = is32 ? (bits >> 31) & 1 : (bits >> 63) & 1;
  if (isnan(d)) {
    uint64_t payload = is32 ? bits & 0x7fffffu : bits & 0xfffffffffffffull;
    uint64_t canon = is32 ? 0x400000u : 0x8000000000000ull;
    if (payload == canon)
      snprintf(buf, len, "%snan", neg ? "-" : "");
    else
      snprintf(buf, len, "%snan:0x%" PRIx64, neg ? "-" : "", payload);
    return;
  }
  if (isinf(d)) {
    snprintf(buf, len, "%sinf", neg ? "-" : "");
    return;
  }
  for (int p = 1; p <= (is32 ? 9 : 17); p++) {
    snprintf(buf, len, "%.*g", p, d);
    if (is32) {
      float back = strtof(buf, NULL);
      uint32_t b;
      memcpy(&b, &back, sizeof b);
      if (b == (uint32_t)bits) return;
    } else {
      double back = strtod(buf, NULL);
      uint64_t b;
      memcpy(&b, &back, sizeof b);
      if (b == bits) return;
    }
  }
}

void cli_format_val(const cis_val *v, char *buf, size_t len) {
  switch (v->type) {
  case CIS_I32:
    snprintf(buf, len, "%" PRId32, v->of.i32);
    return;
  case CIS_I64:
    snprintf(buf, len, "%" PRId64, v->of.i64);
    return;
  case CIS_F32:
    format_float((double)v->of.f32, v->of.u32, true, buf, len);
    return;
  case CIS_F64:
    format_float(v->of.f64, v->of.u64, false, buf, len);
    return;
  case CIS_FUNCREF:
    snprintf(buf, len, "%s", v->of.funcref ? "ref" : "null");
    return;
  case CIS_EXTERNREF:
  case CIS_EXNREF:
  case CIS_NULLEXNREF:
  case CIS_ANYREF:
    snprintf(buf, len, "%s", v->of.externref ? "ref" : "null");
    return;
  case CIS_V128:
    break;
  }
  snprintf(buf, len, "<%s value>", cli_type_name(v->type));
}

const char *cli_type_name(cis_valtype t) {
  switch (t) {
  case CIS_I32: return "i32";
  case CIS_I64: return "i64";
  case CIS_F32: return "f32";
  case CIS_F64: return "f64";
  case CIS_V128: return "v128";
  case CIS_FUNCREF: return "funcref";
  case CIS_EXTERNREF: return "externref";
  case CIS_EXNREF: return "exnref";
  case CIS_NULLEXNREF: return "nullexnref";
  case CIS_ANYREF: return "anyref";
  }
  return "?";
}

void cli_print_name(FILE *f, const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c < 0x7f && c != '\\')
      fputc(c, f);
    else
      fprintf(f, "\\%02x", c);
  }
}

int cli_exit_code(cis_result rc) {
  if (rc == CIS_OK) return CLI_EXIT_OK;
  switch (rc) { /* single codes whose class says too little */
  case CIS_EJSON:
  case CIS_EMANIFEST:
  case CIS_EHASH:
  case CIS_EABI:
  case CIS_EINVAL:
    return CLI_EXIT_BAD_INPUT;
  case CIS_ESKILL:
  case CIS_EEXIT:
    return CLI_EXIT_SKILL;
  case CIS_TRAP_STACK: /* the call-depth limit, though the engine reports it as a trap */
  case CIS_ETOOBIG:
  case CIS_EQUOTA:
  case CIS_EKVLIMIT:
    return CLI_EXIT_LIMIT;
  case CIS_ETIMEOUT:
  case CIS_ECANCELED:
    return CLI_EXIT_TIMEOUT;
  case CIS_EPATH:
  case CIS_ESIGNATURE:
    return CLI_EXIT_DENIED;
  default:
    break;
  }
  /* Otherwise the class: each owns a range of 100 codes (errors.def). */
  switch (-rc / 100) {
  case 1: /* decode */
  case 2: /* validate */
  case 3: /* link / instantiate */
    return CLI_EXIT_BAD_INPUT;
  case 4:
    return CLI_EXIT_TRAP;
  case 5:
    return CLI_EXIT_LIMIT;
  case 6:
    return CLI_EXIT_DENIED;
  default:
    return CLI_EXIT_FAIL;
  }
}

void cli_error(const char *context, cis_result rc, const char *detail) {
  const char *text = cis_strerror(rc);
  /* A detail that already opens with the code's name: say the name once. */
  size_t n = strlen(cis_errname(rc));
  while (detail && !strncmp(detail, cis_errname(rc), n) && (detail[n] == ':' || detail[n] == '\0')) {
    detail += n;
    while (*detail == ':' || *detail == ' ') detail++;
  }
  /* Engine messages often open with the code's own text; say it once. */
  if (detail && *detail && !strncmp(detail, text, strlen(text)))
    fprintf(stderr, "cis: %s: %s: %s\n", context, cis_errname(rc), detail);
  else if (detail && *detail)
    fprintf(stderr, "cis: %s: %s: %s: %s\n", context, cis_errname(rc), text, detail);
  else
    fprintf(stderr, "cis: %s: %s: %s\n", context, cis_errname(rc), text);
}

/* Reads the open file fd (path names it in messages) to its end into a
 * malloc'd buffer of cap bytes to start with (grown as needed), closing
 * fd. Returns the buffer, or NULL after printing the reason. */
static uint8_t *read_fd(int fd, const char *path, size_t cap, size_t *len) {
  size_t n = 0;
  uint8_t *b = malloc(cap);
  const char *why = b ? NULL : "out of memory";
  while (!why) {
    if (n == cap) {
      if (cap >= CLI_MAX_FILE) {
        why = "file larger than 1 GiB";
        break;
      }
      uint8_t *nb = realloc(b, cap * 2);
      if (!nb) {
        why = "out of memory";
        break;
      }
      b = nb;
      cap *= 2;
    }
    ssize_t got = read(fd, b + n, cap - n);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) why = strerror(errno);
    if (got <= 0) break;
    n += (size_t)got;
  }
  close(fd);
  if (why) {
    fprintf(stderr, "cis: %s: cannot read: %s\n", path, why);
    free(b);
    return NULL;
  }
  *len = n;
  return b;
}

/* A buffer size for reading a file whose stat is st (ok: stat succeeded). */
static size_t read_cap(bool ok, const struct stat *st) {
  return ok && S_ISREG(st->st_mode) && (uint64_t)st->st_size < CLI_MAX_FILE
             ? (size_t)st->st_size + 1
             : 1 << 16; /* not a regular file: grown as it is read */
}

/* open(2) of path for reading, or -1 after printing why not. */
static int open_or_say(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) fprintf(stderr, "cis: %s: cannot open: %s\n", path, strerror(errno));
  return fd;
}

/* Reads the file by open, read and close, not stdio: the functions a
 * cached start of the compiled engine calls to read its entry, so a start
 * binds them once whichever engine runs (docs/aot.md, Cached start), with
 * no FILE and no buffer size asked of fstat. stat's size (the entry's
 * load calls stat too) sizes the buffer; it is a hint, since the file may
 * change or be a pipe (size 0): the reads go on until one returns 0, and
 * the byte more than the size lets the last read see the end. */
uint8_t *cli_read_file(const char *path, size_t *len) {
  struct stat st;
  size_t cap = read_cap(stat(path, &st) == 0, &st);
  int fd = open_or_say(path);
  return fd < 0 ? NULL : read_fd(fd, path, cap, len);
}

cis_result cli_check_component(const uint8_t *bytes, size_t len, char *msg, size_t cap) {
  /* A component has the core module's magic and version 0x0d, layer 1
   * (the component model's binary format): not a module cis can run. The
   * text is the library's CIS__COMPONENT_HINT (src/wasm/module.h), which
   * install and the HTTP install say: keep the two the same. */
  static const uint8_t component[8] = {0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00};
  if (len < 8 || memcmp(bytes, component, 8)) return CIS_OK;
  snprintf(msg, cap,
           "this is a WebAssembly component (component model, WASI preview 2), and cis runs only core "
           "modules with WASI preview 1: build for wasm32-wasip1 (Rust: cargo build --target "
           "wasm32-wasip1, or wasm32-unknown-unknown with the cis SDK; C: clang --target=wasm32-wasi), "
           "not with cargo component or for wasm32-wasip2; see docs/sdk.md");
  return CIS_EVERSION;
}

cis_result cli_engine_for_reading(cis_engine **e) {
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = "interp";
  return cis_engine_new(&cfg, e);
}
