/*
 * cis_skill.h -- header-only C SDK for writing cis skills.
 *
 * Build a skill with clang:
 *   clang --target=wasm32 -O2 -nostdlib -Wl,--no-entry \
 *         -Wl,--export=cis_main -Wl,--export=memory -I sdk/c skill.c -o skill.wasm
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
CIS__IMPORT("cis_v1", "ai_chat") int64_t cis_ai_chat(const void *prompt, int32_t prompt_len,
                                                     void *out, int32_t out_cap);
CIS__IMPORT("cis_v1", "http_request")
int64_t cis_http_request(const char *method, int32_t method_len, const char *url, int32_t url_len,
                         const void *body, int32_t body_len, void *out, int32_t out_cap);
CIS__IMPORT("cis_v1", "log") int32_t cis_log(int32_t level, const char *msg, int32_t len);
CIS__IMPORT("cis_v1", "error_message") int32_t cis_error_message(char *dst, int32_t cap);
CIS__IMPORT("cis_v1", "remaining_ms") int64_t cis_remaining_ms(void);

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

/* Finds the string value of "key" in a flat JSON object text and copies
 * it (unescaped, NUL-terminated) to dst. Returns its length, or -1 when
 * absent or not a string, or CIS_SKILL_ETOO_LARGE when it does not fit. */
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
      char ch = *q++;
      if (ch == '\\' && *q) {
        ch = *q++;
        if (ch == 'n') ch = '\n';
        else if (ch == 't') ch = '\t';
        else if (ch == 'r') ch = '\r';
      }
      if (n + 1 >= cap) return CIS_SKILL_ETOO_LARGE;
      dst[n++] = ch;
    }
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
CIS__IMPORT("cis", "http_request")
int32_t cis_seed_http_request(const char *u, int32_t ul, const char *b, int32_t bl, char *r, int32_t rc);
CIS__IMPORT("cis", "log") void cis_seed_log(int32_t level, const char *m, int32_t ml);
CIS__IMPORT("cis", "last_error") int32_t cis_seed_last_error(void);

/* ----------------------------------------- seed 002: module `env` */
CIS__IMPORT("env", "host_memory_get") int64_t host_memory_get(const char *k, int32_t kl);
CIS__IMPORT("env", "host_memory_set") int32_t host_memory_set(const char *k, int32_t kl, const char *v, int32_t vl);
CIS__IMPORT("env", "host_memory_delete") int32_t host_memory_delete(const char *k, int32_t kl);
CIS__IMPORT("env", "host_ai_chat") int64_t host_ai_chat(const char *p, int32_t pl);
CIS__IMPORT("env", "host_log") void host_log(int32_t level, const char *m, int32_t ml);
CIS__IMPORT("env", "host_http_post") int64_t host_http_post(const char *u, int32_t ul, const char *b, int32_t bl);

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
