/*
 * This file implements the ABI probe skill of tests/sdk/test_sdk_c.c: a
 * cis_v1 skill written with the C SDK (sdk/c/cis_skill.h, seed ABIs
 * declared) that reaches every host binding of the three import modules
 * and answers what each returned, so the test can assert every result.
 *
 *   {"op":"v1"|"seed001"|"seed002","key":K,"prompt":P,"url":U}
 *       the whole KV, AI, HTTP and log surface of that module, in order;
 *       every step's code (or value) is a member of the answer, so the
 *       same input without permissions answers DENIED codes
 *   {"op":"oob","fn":NAME}
 *       calls binding NAME with a pointer outside memory (the call must
 *       end with CIS_TRAP_MEM_OOB)
 *   {"op":"allocfail"}
 *       env.host_memory_get while the exported allocator returns 0
 *   {"op":"config","key":K}
 *       setting K through each module's config_get:
 *       {"v1":V,"s1":V,"s2":V,"need":LEN,"missing":CODE}, V null when
 *       the module's call failed
 *   {"op":"json","doc":D}
 *       cis_json_get_string(D, "text") on the JSON document D (given as
 *       a string): {"n":RESULT,"hex":BYTES,"tiny":RESULT_WITH_4_BYTES}
 */
#define CIS_SKILL_SEED_ABIS
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cis_skill.h"

static int alloc_fails; /* the allocator returns 0 (op allocfail) */

__attribute__((export_name("alloc"))) void *alloc(int n) { return alloc_fails ? NULL : malloc((size_t)n); }

static char in[16384], key[128], prompt[256], url[256], out[16384];
static size_t o; /* bytes in out */

/* Appends printf-style text to the answer. */
#define PUT(...) (o += (size_t)snprintf(out + o, o < sizeof out ? sizeof out - o : 0, __VA_ARGS__))

/* Appends "name":"HEX" for n bytes. */
static void put_hex(const char *name, const void *p, size_t n) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *b = p;
  PUT("\"%s\":\"", name);
  for (size_t i = 0; i < n && o + 3 < sizeof out; i++) {
    out[o++] = hex[b[i] >> 4];
    out[o++] = hex[b[i] & 15];
  }
  PUT("\"");
}

static char kbuf[160], vbuf[8192];

static int str_key(const char *suffix) { return snprintf(kbuf, sizeof kbuf, "%s%s", key, suffix); }

/* ------------------------------------------------------------ cis_v1 */

static void probe_v1(void) {
  PUT("\"set\":%d", cis_kv_set(key, (int32_t)strlen(key), "val-v1", 6));
  char one[1] = {'#'};
  int64_t need = cis_kv_get(key, (int32_t)strlen(key), one, 1); /* too small: nothing written */
  PUT(",\"need\":%lld,\"untouched\":%s", (long long)need, one[0] == '#' ? "true" : "false");
  int64_t n = cis_kv_get(key, (int32_t)strlen(key), vbuf, sizeof vbuf);
  PUT(",\"get\":\"%.*s\"", n > 0 ? (int)n : 0, vbuf);
  int64_t v = 0;
  int kl = str_key(":n");
  int32_t rc = cis_kv_increment(kbuf, kl, 5, &v);
  PUT(",\"incr\":%d,\"incr_value\":%lld", rc, (long long)v);
  kl = str_key(":c");
  PUT(",\"cas_absent\":%d", cis_kv_cas(kbuf, kl, NULL, CIS_KV_CAS_ABSENT, "x", 1));
  PUT(",\"cas_wrong\":%d", cis_kv_cas(kbuf, kl, "y", 1, "z", 1));
  PUT(",\"cas_right\":%d", cis_kv_cas(kbuf, kl, "x", 1, "y", 1));
  PUT(",\"del\":%d", cis_kv_delete(key, (int32_t)strlen(key)));
  PUT(",\"del_again\":%d", cis_kv_delete(key, (int32_t)strlen(key)));
  char msg[256];
  int32_t ml = cis_error_message(msg, sizeof msg);
  PUT(",\"errmsg\":\"%.*s\"", ml > 0 && ml < (int32_t)sizeof msg ? (int)ml : 0, msg);
  PUT(",\"errmsg_len\":%d", cis_error_message(msg, 0)); /* too small: the length */
  /* AI: a 1-byte buffer first (the full length comes back and the answer
   * is kept), then the retry with the same prompt. */
  int64_t an = cis_ai_chat(prompt, (int32_t)strlen(prompt), vbuf, 1);
  PUT(",\"ai_need\":%lld", (long long)an);
  if (an > 1 && an <= (int64_t)sizeof vbuf) {
    int64_t an2 = cis_ai_chat(prompt, (int32_t)strlen(prompt), vbuf, (int32_t)an);
    PUT(",\"ai_len\":%lld,", (long long)an2);
    put_hex("ai", vbuf, an2 > 0 ? (size_t)an2 : 0);
  }
  int64_t hn = cis_http_request("POST", 4, url, (int32_t)strlen(url), "body-v1", 7, vbuf, sizeof vbuf);
  PUT(",\"http\":%lld,\"http_body\":\"%.*s\"", (long long)hn, hn > 0 && hn < 64 ? (int)hn : 0, vbuf);
  PUT(",\"http_bad_method\":%lld", (long long)cis_http_request("", 0, url, (int32_t)strlen(url), "", 0, vbuf, 1));
  PUT(",\"log\":%d", cis_log(CIS_LOG_WARN, "probe v1", 8));
  PUT(",\"input_bad_offset\":%d", cis_input_read(-1, vbuf, 1));
  PUT(",\"remaining\":%s", cis_remaining_ms() > 0 ? "true" : "false");
}

/* ------------------------------------------------- seed 001: module cis */

static void probe_seed001(void) {
  cis_seed_memory_set(key, (int32_t)strlen(key), "val-s1", 6);
  PUT("\"set\":%d", cis_seed_last_error());
  char one[1] = {'#'};
  int32_t need = cis_seed_memory_get(key, (int32_t)strlen(key), one, 1);
  PUT(",\"need\":%d,\"untouched\":%s", need, one[0] == '#' ? "true" : "false");
  int32_t n = cis_seed_memory_get(key, (int32_t)strlen(key), vbuf, sizeof vbuf);
  PUT(",\"get\":\"%.*s\"", n > 0 ? (int)n : 0, vbuf);
  int64_t v = 0;
  int kl = str_key(":n");
  int32_t rc = cis_seed_memory_increment(kbuf, kl, 5, &v);
  PUT(",\"incr\":%d,\"incr_value\":%lld", rc, (long long)v);
  kl = str_key(":c");
  PUT(",\"cas_absent\":%d", cis_seed_memory_cas(kbuf, kl, NULL, CIS_KV_CAS_ABSENT, "x", 1));
  PUT(",\"cas_wrong\":%d", cis_seed_memory_cas(kbuf, kl, "y", 1, "z", 1));
  PUT(",\"cas_right\":%d", cis_seed_memory_cas(kbuf, kl, "x", 1, "y", 1));
  PUT(",\"del\":%d", cis_seed_memory_delete(key, (int32_t)strlen(key)));
  PUT(",\"del_again\":%d", cis_seed_memory_delete(key, (int32_t)strlen(key)));
  cis_seed_memory_set("", 0, "x", 1); /* an empty key: the error through last_error */
  PUT(",\"set_empty\":%d", cis_seed_last_error());
  int32_t an = cis_seed_ai_prompt(prompt, (int32_t)strlen(prompt), vbuf, 1);
  PUT(",\"ai_need\":%d", an);
  if (an > 1 && an <= (int32_t)sizeof vbuf) {
    int32_t an2 = cis_seed_ai_prompt(prompt, (int32_t)strlen(prompt), vbuf, an);
    PUT(",\"ai_len\":%d,", an2);
    put_hex("ai", vbuf, an2 > 0 ? (size_t)an2 : 0);
  }
  int32_t hn = cis_seed_http_request(url, (int32_t)strlen(url), "body-s1", 7, vbuf, sizeof vbuf);
  PUT(",\"http\":%d,\"http_body\":\"%.*s\"", hn, hn > 0 && hn < 64 ? (int)hn : 0, vbuf);
  int32_t gn = cis_seed_http_request(url, (int32_t)strlen(url), "", 0, vbuf, sizeof vbuf); /* a GET */
  PUT(",\"http_get\":%d", gn);
  cis_seed_log(CIS_LOG_INFO, "probe seed001", 13);
  PUT(",\"log\":%d", cis_seed_last_error());
}

/* ------------------------------------------------ seed 002: module env */

/* The bytes of a packed (ptr << 32 | len) answer, or its error code. */
static int32_t unpacked(int64_t r, const char **p, uint32_t *len) {
  uint32_t ptr = 0;
  *len = 0;
  int32_t e = cis_unpack(r, &ptr, len);
  *p = (const char *)(uintptr_t)ptr;
  return e;
}

static void probe_seed002(void) {
  PUT("\"set\":%d", host_memory_set(key, (int32_t)strlen(key), "val-s2", 6));
  const char *p;
  uint32_t len;
  int32_t e = unpacked(host_memory_get(key, (int32_t)strlen(key)), &p, &len);
  PUT(",\"need\":%d,\"get\":\"%.*s\"", e < 0 ? e : (int32_t)len, e < 0 ? 0 : (int)len, e < 0 ? "" : p);
  int64_t v = 0;
  int kl = str_key(":n");
  int32_t rc = host_memory_increment(kbuf, kl, 5, &v);
  PUT(",\"incr\":%d,\"incr_value\":%lld", rc, (long long)v);
  kl = str_key(":c");
  PUT(",\"cas_absent\":%d", host_memory_cas(kbuf, kl, NULL, CIS_KV_CAS_ABSENT, "x", 1));
  PUT(",\"cas_wrong\":%d", host_memory_cas(kbuf, kl, "y", 1, "z", 1));
  PUT(",\"cas_right\":%d", host_memory_cas(kbuf, kl, "x", 1, "y", 1));
  PUT(",\"del\":%d", host_memory_delete(key, (int32_t)strlen(key)));
  PUT(",\"del_again\":%d", host_memory_delete(key, (int32_t)strlen(key)));
  e = unpacked(host_ai_chat(prompt, (int32_t)strlen(prompt)), &p, &len);
  PUT(",\"ai_need\":%d", e < 0 ? e : (int32_t)len);
  if (e == 0) {
    PUT(",\"ai_len\":%u,", len);
    put_hex("ai", p, len);
  }
  e = unpacked(host_http_post(url, (int32_t)strlen(url), "body-s2", 7), &p, &len);
  PUT(",\"http\":%d,\"http_body\":\"%.*s\"", e < 0 ? e : (int32_t)len, e == 0 && len < 64 ? (int)len : 0,
      e == 0 ? p : "");
  host_log(CIS_LOG_ERROR, "probe seed002", 13);
  PUT(",\"log\":0");
}

/* --------------------------------------------------------- out of bounds */

#define BAD ((void *)(uintptr_t)0xfffffff0u)

static int probe_oob(const char *fn) {
  int64_t v;
  if (!strcmp(fn, "input_read")) return cis_input_read(0, BAD, 64);
  if (!strcmp(fn, "output_write")) return cis_output_write(BAD, 64);
  if (!strcmp(fn, "kv_get")) return (int)cis_kv_get(BAD, 64, vbuf, 1);
  if (!strcmp(fn, "kv_get_dst")) return (int)cis_kv_get("k", 1, BAD, 64);
  if (!strcmp(fn, "kv_set")) return cis_kv_set("k", 1, BAD, 64);
  if (!strcmp(fn, "kv_delete")) return cis_kv_delete(BAD, 64);
  if (!strcmp(fn, "kv_increment")) return cis_kv_increment("k", 1, 1, BAD);
  if (!strcmp(fn, "kv_cas")) return cis_kv_cas("k", 1, BAD, 64, "v", 1);
  if (!strcmp(fn, "ai_chat")) return (int)cis_ai_chat(BAD, 64, vbuf, 1);
  if (!strcmp(fn, "http_request")) return (int)cis_http_request("GET", 3, BAD, 64, "", 0, vbuf, 1);
  if (!strcmp(fn, "log")) return cis_log(1, BAD, 64);
  if (!strcmp(fn, "error_message")) {
    cis_kv_delete("no such key", 11); /* a message to copy */
    return cis_error_message(BAD, 1 << 20);
  }
  if (!strcmp(fn, "cis.ai_prompt")) return cis_seed_ai_prompt(BAD, 64, vbuf, 1);
  if (!strcmp(fn, "cis.memory_get")) return cis_seed_memory_get(BAD, 64, vbuf, 1);
  if (!strcmp(fn, "cis.memory_set")) return cis_seed_memory_set("k", 1, BAD, 64), 0;
  if (!strcmp(fn, "cis.memory_delete")) return cis_seed_memory_delete(BAD, 64);
  if (!strcmp(fn, "cis.memory_increment")) return cis_seed_memory_increment(BAD, 64, 1, &v);
  if (!strcmp(fn, "cis.memory_cas")) return cis_seed_memory_cas("k", 1, "v", 1, BAD, 64);
  if (!strcmp(fn, "cis.http_request")) return cis_seed_http_request(BAD, 64, "", 0, vbuf, 1);
  if (!strcmp(fn, "cis.log")) return cis_seed_log(1, BAD, 64), 0;
  if (!strcmp(fn, "env.host_memory_get")) return (int)host_memory_get(BAD, 64);
  if (!strcmp(fn, "env.host_memory_set")) return host_memory_set(BAD, 64, "v", 1);
  if (!strcmp(fn, "env.host_memory_delete")) return host_memory_delete(BAD, 64);
  if (!strcmp(fn, "env.host_memory_increment")) return host_memory_increment(BAD, 64, 1, &v);
  if (!strcmp(fn, "env.host_memory_cas")) return host_memory_cas(BAD, 64, "v", 1, "v", 1);
  if (!strcmp(fn, "env.host_ai_chat")) return (int)host_ai_chat(BAD, 64);
  if (!strcmp(fn, "env.host_log")) return host_log(1, BAD, 64), 0;
  if (!strcmp(fn, "env.host_http_post")) return (int)host_http_post(BAD, 64, "", 0);
  return -100;
}

/* ------------------------------------------------------------------ main */

__attribute__((export_name("cis_main"))) int cis_main(void) {
  if (cis_input_all(in, sizeof in) < 0) return CIS_SKILL_ETOO_LARGE;
  char op[32] = "";
  cis_json_get_string(in, "op", op, sizeof op);
  cis_json_get_string(in, "key", key, sizeof key);
  cis_json_get_string(in, "prompt", prompt, sizeof prompt);
  cis_json_get_string(in, "url", url, sizeof url);
  o = 0;
  PUT("{");
  if (!strcmp(op, "v1")) probe_v1();
  else if (!strcmp(op, "seed001")) probe_seed001();
  else if (!strcmp(op, "seed002")) probe_seed002();
  else if (!strcmp(op, "oob")) {
    char fn[64] = "";
    cis_json_get_string(in, "fn", fn, sizeof fn);
    PUT("\"returned\":%d", probe_oob(fn)); /* only reached when the call did not trap */
  } else if (!strcmp(op, "allocfail")) {
    cis_kv_set("a", 1, "v", 1);
    alloc_fails = 1;
    PUT("\"get\":%lld", (long long)host_memory_get("a", 1));
    PUT(",\"ai\":%lld", (long long)host_ai_chat("hi", 2));
    alloc_fails = 0;
  } else if (!strcmp(op, "config")) {
    int64_t n = cis_config(key, vbuf, sizeof vbuf);
    if (n >= 0) PUT("\"v1\":\"%.*s\"", (int)n, vbuf);
    else PUT("\"v1\":null");
    int32_t n1 = cis_seed_config_get(key, (int32_t)strlen(key), vbuf, sizeof vbuf);
    if (n1 >= 0) PUT(",\"s1\":\"%.*s\"", (int)n1, vbuf);
    else PUT(",\"s1\":null");
    uint32_t p2 = 0, l2 = 0;
    int64_t r2 = host_config_get(key, (int32_t)strlen(key));
    if (r2 >= 0 && cis_unpack(r2, &p2, &l2) == 0) PUT(",\"s2\":\"%.*s\"", (int)l2, (const char *)(uintptr_t)p2);
    else PUT(",\"s2\":null");
    char one[1];
    PUT(",\"need\":%lld", (long long)cis_config_get(key, (int32_t)strlen(key), one, 0));
    PUT(",\"missing\":%lld", (long long)cis_config_get("no-such-setting", 15, vbuf, sizeof vbuf));
  } else if (!strcmp(op, "json")) {
    /* The document under test travels as a string (the host refuses an
     * input holding a lone surrogate or \u0000 before the guest runs). */
    static char doc[1024];
    char text[256];
    if (cis_json_get_string(in, "doc", doc, sizeof doc) < 0) return CIS_SKILL_EINVALID;
    int32_t n = cis_json_get_string(doc, "text", text, sizeof text);
    PUT("\"n\":%d,", n);
    put_hex("hex", text, n > 0 ? (size_t)n : 0);
    char tiny[4];
    PUT(",\"tiny\":%d", cis_json_get_string(doc, "text", tiny, sizeof tiny));
  } else {
    return CIS_SKILL_EINVALID;
  }
  PUT("}");
  if (o >= sizeof out) return CIS_SKILL_ETOO_LARGE;
  return cis_output_write(out, (int32_t)o);
}
