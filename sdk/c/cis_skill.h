/*
 * cis_skill.h -- header-only C SDK for writing cis skills.
 *
 * Build a skill with clang:
 *   clang --target=wasm32 -O2 -nostdlib -fno-builtin -Wl,--no-entry \
 *         -I sdk/c skill.c -o skill.wasm
 * (the export_name attribute exports cis_main, wasm-ld exports the memory;
 * -fno-builtin keeps clang from calling a memcpy that is not there; docs/sdk.md
 * has the wasi-libc line, and `cis skill init NAME --lang c` writes it all).
 *
 * The skill exports `int cis_main(void)`; it reads its JSON input with
 * cis_input_*, writes its JSON output with cis_output*, and reaches the host
 * through the cis_v1 imports below (see docs/abi.md). Every function returns
 * a negative CIS_SKILL_E* code on failure.
 *
 * Define CIS_SKILL_SEED_ABIS before including to also declare the seed 001
 * (`cis` module) and seed 002 (`env.host_*`) imports.
 */
#ifndef CIS_SKILL_SDK_H
#define CIS_SKILL_SDK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes returned to the guest (docs/abi.md). */
#define CIS_SKILL_OK 0
#define CIS_SKILL_ENOT_FOUND (-1)
#define CIS_SKILL_EDENIED (-2)
#define CIS_SKILL_ETOO_LARGE (-3)
#define CIS_SKILL_ETIMEOUT (-4)
#define CIS_SKILL_EUNAVAILABLE (-5)
#define CIS_SKILL_EINVALID (-6)
#define CIS_SKILL_ENO_PROVIDER (-7)
#define CIS_SKILL_EUPSTREAM (-8)
#define CIS_SKILL_EQUOTA (-9)
#define CIS_SKILL_ENO_ALLOCATOR (-10)
#define CIS_SKILL_EALLOC_FAILED (-11)
#define CIS_SKILL_EINTERNAL (-12)

#define CIS_LOG_DEBUG 0
#define CIS_LOG_INFO 1
#define CIS_LOG_WARN 2
#define CIS_LOG_ERROR 3

#define CIS__IMPORT(mod, name) __attribute__((import_module(mod), import_name(name)))

/* ------------------------------------------------------------ cis_v1 ABI */

CIS__IMPORT("cis_v1", "input_len") int64_t cis_input_len(void);
CIS__IMPORT("cis_v1", "input_read") int32_t cis_input_read(int64_t offset, void *dst, int32_t len);
CIS__IMPORT("cis_v1", "output_write") int32_t cis_output_write(const void *src, int32_t len);
CIS__IMPORT("cis_v1", "kv_get") int64_t cis_kv_get(const void *key, int32_t key_len, void *val,
                                                   int32_t val_cap);
CIS__IMPORT("cis_v1", "kv_set") int32_t cis_kv_set(const void *key, int32_t key_len, const void *val,
                                                   int32_t val_len);
CIS__IMPORT("cis_v1", "kv_delete") int32_t cis_kv_delete(const void *key, int32_t key_len);

/* Atomic read-modify-write (docs/kv.md, "Consistency"): use these, not
 * cis_kv_get + cis_kv_set, for counters, ids and anything concurrent calls
 * update. Both hold the skill's KV lock until the call ends, and commit or
 * vanish with the call like every other write.
 *
 * cis_kv_increment adds delta to the integer stored as decimal text under
 * key (absent = 0) and writes the new value to *out; 0 or an error code
 * (CIS_SKILL_EINVALID when the value is not such an integer or the sum
 * overflows). delta 0 just reads it under the lock. */
CIS__IMPORT("cis_v1", "kv_increment")
int32_t cis_kv_increment(const void *key, int32_t key_len, int64_t delta, int64_t *out);
/* Pass as expect_len to cis_kv_cas: the key must be absent. */
#define CIS_KV_CAS_ABSENT (-1)
/* Sets key to val only if it now holds exactly expect[0..expect_len)
 * (or is absent, with CIS_KV_CAS_ABSENT): 1 swapped, 0 not, or an error
 * code. */
CIS__IMPORT("cis_v1", "kv_cas")
int32_t cis_kv_cas(const void *key, int32_t key_len, const void *expect, int32_t expect_len,
                   const void *val, int32_t val_len);
CIS__IMPORT("cis_v1", "ai_chat") int64_t cis_ai_chat(const void *prompt, int32_t prompt_len,
                                                     void *out, int32_t out_cap);
CIS__IMPORT("cis_v1", "http_request")
int64_t cis_http_request(const char *method, int32_t method_len, const char *url, int32_t url_len,
                         const void *body, int32_t body_len, void *out, int32_t out_cap);
CIS__IMPORT("cis_v1", "log") int32_t cis_log(int32_t level, const char *msg, int32_t len);
CIS__IMPORT("cis_v1", "error_message") int32_t cis_error_message(char *dst, int32_t cap);
CIS__IMPORT("cis_v1", "remaining_ms") int64_t cis_remaining_ms(void);
/* The operator's setting key (cis skill config set NAME KEY VALUE, or
 * cis skill run --config KEY=VALUE): its length, the value written to
 * val when it fits in val_cap (call again with a larger buffer when it
 * does not), or CIS_SKILL_ENOT_FOUND. */
CIS__IMPORT("cis_v1", "config_get") int64_t cis_config_get(const void *key, int32_t key_len, void *val,
                                                           int32_t val_cap);

/* ------------------------------------------------------- small helpers */

static inline size_t cis_strlen(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

/* Writes a NUL-terminated string to the output. */
static inline int32_t cis_output(const char *s) { return cis_output_write(s, (int32_t)cis_strlen(s)); }

/* Logs a NUL-terminated message. */
static inline int32_t cis_logs(int32_t level, const char *msg) {
  return cis_log(level, msg, (int32_t)cis_strlen(msg));
}

/* Reads setting key (NUL-terminated) into buf (cap bytes) as a
 * NUL-terminated string. Returns its length, CIS_SKILL_ENOT_FOUND, or
 * CIS_SKILL_ETOO_LARGE when it does not fit with its NUL. */
static inline int64_t cis_config(const char *key, char *buf, int32_t cap) {
  int64_t n = cis_config_get(key, (int32_t)cis_strlen(key), buf, cap);
  if (n < 0) return n;
  if (n >= cap) return CIS_SKILL_ETOO_LARGE;
  buf[n] = 0;
  return n;
}

/* Reads the whole input into buf (cap bytes, NUL-terminated when it fits).
 * Returns the input length, or CIS_SKILL_ETOO_LARGE when it does not fit. */
static inline int64_t cis_input_all(char *buf, int32_t cap) {
  int64_t n = cis_input_len();
  if (n < 0) return n;
  if (n >= cap) return CIS_SKILL_ETOO_LARGE;
  int64_t done = 0;
  while (done < n) {
    int32_t got = cis_input_read(done, buf + done, (int32_t)(n - done));
    if (got <= 0) return got < 0 ? got : CIS_SKILL_EINTERNAL;
    done += got;
  }
  buf[n] = 0;
  return n;
}

/* Reads 4 hex digits; -1 when they are not. */
static inline int32_t cis__hex4(const char *p) {
  int32_t v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/* Finds the string value of "key" in a flat JSON object text and copies
 * it (unescaped, NUL-terminated) to dst. Every JSON escape is decoded:
 * \uXXXX becomes its UTF-8 bytes, a surrogate pair one 4-byte character.
 * Returns its length, or -1 when absent or not a string,
 * CIS_SKILL_ETOO_LARGE when it does not fit, or CIS_SKILL_EINVALID for a
 * malformed escape, a lone surrogate, or \u0000 (which a NUL-terminated
 * result could not hold). */
static inline int32_t cis_json_get_string(const char *json, const char *key, char *dst, int32_t cap) {
  size_t kl = cis_strlen(key);
  for (const char *p = json; *p; p++) {
    if (*p != '"') continue;
    size_t i = 0;
    while (i < kl && p[1 + i] == key[i]) i++;
    if (i != kl || p[1 + kl] != '"') continue;
    const char *q = p + 2 + kl;
    while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r') q++;
    if (*q++ != ':') continue;
    while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r') q++;
    if (*q++ != '"') return -1;
    int32_t n = 0;
    while (*q && *q != '"') {
      char enc[4];
      int32_t el = 1;
      enc[0] = *q++;
      if (enc[0] == '\\') {
        char e = *q++;
        if (e == 'n') enc[0] = '\n';
        else if (e == 't') enc[0] = '\t';
        else if (e == 'r') enc[0] = '\r';
        else if (e == 'b') enc[0] = '\b';
        else if (e == 'f') enc[0] = '\f';
        else if (e == '"' || e == '\\' || e == '/') enc[0] = e;
        else if (e == 'u') {
          int32_t cp = cis__hex4(q);
          if (cp < 0) return CIS_SKILL_EINVALID;
          q += 4;
          if (cp >= 0xdc00 && cp <= 0xdfff) return CIS_SKILL_EINVALID; /* a lone low surrogate */
          if (cp >= 0xd800 && cp <= 0xdbff) {
            int32_t lo = q[0] == '\\' && q[1] == 'u' ? cis__hex4(q + 2) : -1;
            if (lo < 0xdc00 || lo > 0xdfff) return CIS_SKILL_EINVALID; /* high without low */
            q += 6;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          }
          if (cp == 0) return CIS_SKILL_EINVALID;
          if (cp < 0x80) {
            enc[0] = (char)cp;
          } else if (cp < 0x800) {
            enc[0] = (char)(0xc0 | (cp >> 6));
            enc[1] = (char)(0x80 | (cp & 0x3f));
            el = 2;
          } else if (cp < 0x10000) {
            enc[0] = (char)(0xe0 | (cp >> 12));
            enc[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
            enc[2] = (char)(0x80 | (cp & 0x3f));
            el = 3;
          } else {
            enc[0] = (char)(0xf0 | (cp >> 18));
            enc[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
            enc[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
            enc[3] = (char)(0x80 | (cp & 0x3f));
            el = 4;
          }
        } else {
          return CIS_SKILL_EINVALID; /* an unknown escape, or the text ends */
        }
      }
      if (n + el >= cap) return CIS_SKILL_ETOO_LARGE;
      for (int32_t j = 0; j < el; j++) dst[n++] = enc[j];
    }
    if (*q != '"') return CIS_SKILL_EINVALID; /* unterminated */
    dst[n] = 0;
    return n;
  }
  return -1;
}

/* Appends src[0..len) to dst as the body of a JSON string (quotes not
 * included), escaping what JSON requires. Returns bytes written, or -1
 * when it does not fit in cap. */
static inline int32_t cis_json_escape(const char *src, int32_t len, char *dst, int32_t cap) {
  static const char hex[] = "0123456789abcdef";
  int32_t n = 0;
  for (int32_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)src[i];
    char esc = 0;
    if (ch == '"') esc = '"';
    else if (ch == '\\') esc = '\\';
    else if (ch == '\n') esc = 'n';
    else if (ch == '\t') esc = 't';
    else if (ch == '\r') esc = 'r';
    if (esc) {
      if (n + 2 > cap) return -1;
      dst[n++] = '\\';
      dst[n++] = esc;
    } else if (ch < 0x20) {
      if (n + 6 > cap) return -1;
      dst[n++] = '\\'; dst[n++] = 'u'; dst[n++] = '0'; dst[n++] = '0';
      dst[n++] = hex[ch >> 4]; dst[n++] = hex[ch & 15];
    } else {
      if (n + 1 > cap) return -1;
      dst[n++] = (char)ch;
    }
  }
  return n;
}

#ifdef CIS_SKILL_SEED_ABIS
/* ----------------------------------------- seed 001: module `cis` */
CIS__IMPORT("cis", "ai_prompt") int32_t cis_seed_ai_prompt(const char *p, int32_t pl, char *r, int32_t rc);
CIS__IMPORT("cis", "memory_get") int32_t cis_seed_memory_get(const char *k, int32_t kl, char *v, int32_t vc);
CIS__IMPORT("cis", "memory_set") void cis_seed_memory_set(const char *k, int32_t kl, const char *v, int32_t vl);
CIS__IMPORT("cis", "memory_delete") int32_t cis_seed_memory_delete(const char *k, int32_t kl);
CIS__IMPORT("cis", "memory_increment")
int32_t cis_seed_memory_increment(const char *k, int32_t kl, int64_t delta, int64_t *out);
CIS__IMPORT("cis", "memory_cas")
int32_t cis_seed_memory_cas(const char *k, int32_t kl, const char *e, int32_t el, const char *v, int32_t vl);
CIS__IMPORT("cis", "http_request")
int32_t cis_seed_http_request(const char *u, int32_t ul, const char *b, int32_t bl, char *r, int32_t rc);
CIS__IMPORT("cis", "log") void cis_seed_log(int32_t level, const char *m, int32_t ml);
CIS__IMPORT("cis", "last_error") int32_t cis_seed_last_error(void);
CIS__IMPORT("cis", "config_get") int32_t cis_seed_config_get(const char *k, int32_t kl, char *v, int32_t vc);

/* ----------------------------------------- seed 002: module `env` */
CIS__IMPORT("env", "host_memory_get") int64_t host_memory_get(const char *k, int32_t kl);
CIS__IMPORT("env", "host_memory_set") int32_t host_memory_set(const char *k, int32_t kl, const char *v, int32_t vl);
CIS__IMPORT("env", "host_memory_delete") int32_t host_memory_delete(const char *k, int32_t kl);
CIS__IMPORT("env", "host_memory_increment")
int32_t host_memory_increment(const char *k, int32_t kl, int64_t delta, int64_t *out);
CIS__IMPORT("env", "host_memory_cas")
int32_t host_memory_cas(const char *k, int32_t kl, const char *e, int32_t el, const char *v, int32_t vl);
CIS__IMPORT("env", "host_ai_chat") int64_t host_ai_chat(const char *p, int32_t pl);
CIS__IMPORT("env", "host_log") void host_log(int32_t level, const char *m, int32_t ml);
CIS__IMPORT("env", "host_http_post") int64_t host_http_post(const char *u, int32_t ul, const char *b, int32_t bl);
CIS__IMPORT("env", "host_config_get") int64_t host_config_get(const char *k, int32_t kl);

/* Splits a seed 002 i64 result; returns the error code (< 0) or 0. */
static inline int32_t cis_unpack(int64_t r, uint32_t *ptr, uint32_t *len) {
  if (r < 0 && r >= -255) return (int32_t)r;
  *ptr = (uint32_t)((uint64_t)r >> 32);
  *len = (uint32_t)(r & 0xffffffff);
  return 0;
}
#endif

#ifdef __cplusplus
}
#endif
#endif /* CIS_SKILL_SDK_H */
