/*
 * This file implements the skill host (cis_skills) and one invocation:
 * validate the JSON input, pick the entry ABI, grant exactly what the
 * manifest permits (KV namespace, AI, HTTP rules, log), instantiate under
 * the skill's limits, call the entry, collect and validate the output, and
 * commit the call's KV writes only when it succeeded. It is the only place
 * that decides what a skill may do.
 */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cis/cis_wasi.h"
#include "common/internal.h"
#include "host/host.h"
#include "skill/skill_internal.h"

/* Failures with no registry to hold them (s == NULL). A registry is shared
 * between threads: its message is kept per thread and per registry. */
static cis__handle no_skills_msg = {.kind = CIS__H_SHARED, .id = CIS__ID_SKILLS_OPEN};

static cis__handle *skills_msg(const cis_skills *s) { return s ? (cis__handle *)&s->h : &no_skills_msg; }

cis_result cis__skills_fail(cis_skills *s, cis_result code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  cis__vfail(skills_msg(s), code, fmt, ap);
  va_end(ap);
  return code;
}

const char *cis_skills_errmsg(const cis_skills *s) { return cis_errmsg(skills_msg(s)); }

void cis_skills_config_default(cis_skills_config *c) {
  memset(c, 0, sizeof *c);
  c->log_format = CIS_LOG_TEXT;
}

/* The AI service: the built-in provider from the configuration, else the
 * environment (CIS_AI_BASE_URL, CIS_AI_MODEL, CIS_AI_KEY_ENV: the NAME of
 * the variable holding the key), set up at the first AI call so that a
 * missing key or libcurl fails only AI calls. Without a base URL there is
 * no provider, and AI calls fail with CIS_ENOPROVIDER. */
static const char *setting(const char *given, const char *var) {
  if (given) return *given ? given : NULL;
  const char *e = getenv(var);
  return e && *e ? e : NULL;
}

static cis_result ai_from_config(const cis_skills_config *c, cis_ai **out) {
  cis_ai_config cfg;
  cis_ai_config_default(&cfg);
  const char *url = setting(c->ai_base_url, "CIS_AI_BASE_URL");
  if (url) {
    cis_ai_openai_config oc;
    cis_ai_openai_config_default(&oc);
    oc.base_url = url;
    const char *model = setting(c->ai_model, "CIS_AI_MODEL");
    oc.model = model ? model : "default";
    oc.api_key_env = setting(c->ai_key_env, "CIS_AI_KEY_ENV");
    cis_result rc = cis_ai_provider_openai_lazy(&oc, &cfg.provider);
    if (rc != CIS_OK) return rc;
  }
  cis_result rc = cis_ai_new(&cfg, out);
  if (rc != CIS_OK && cfg.provider.destroy) cfg.provider.destroy(cfg.provider.state);
  return rc;
}

cis_result cis_skills_open(const cis_skills_config *cfg, cis_skills **out, char *err, size_t errcap) {
  cis_skills_config def;
  if (!cfg) {
    cis_skills_config_default(&def);
    cfg = &def;
  }
  if (!out) return CIS_EINVAL;
  *out = NULL;
  if (err && errcap) err[0] = 0;
  cis_skills *s = calloc(1, sizeof *s);
  if (!s) return CIS_ENOMEM;
  cis__handle_init(&s->h, CIS__H_SHARED);
  pthread_mutex_init(&s->cache_lock, NULL);
  pthread_mutex_init(&s->kv_lock, NULL);
  pthread_mutex_init(&s->kv_call_lock, NULL);
  for (unsigned k = 0; k < CIS__SKILL_STRIPES; k++) pthread_mutex_init(&s->stripes[k].lock, NULL);
  cis_result rc;
  if (cfg->home && *cfg->home) snprintf(s->home, sizeof s->home, "%s", cfg->home);
  else if (getenv("CIS_HOME") && *getenv("CIS_HOME")) snprintf(s->home, sizeof s->home, "%s", getenv("CIS_HOME"));
  else if (getenv("HOME")) snprintf(s->home, sizeof s->home, "%s/.local/share/cis", getenv("HOME"));
  else {
    rc = cis__skills_fail(s, CIS_EINVAL, "no CIS_HOME and no HOME");
    goto fail;
  }
  /* The registry's partition; a tenant is 1 to 255 bytes (the layered
   * filesystem's key room) without control characters. */
  s->tenant_fixed = cfg->tenant != NULL;
  s->require_signature = cfg->require_signature;
  {
    const char *t = cfg->tenant ? cfg->tenant : "default";
    size_t tl = strlen(t);
    bool ok = tl > 0 && tl < sizeof s->tenant;
    for (size_t k = 0; ok && k < tl; k++) ok = (unsigned char)t[k] >= 0x20 && t[k] != 0x7f;
    if (!ok) {
      rc = cis__skills_fail(s, CIS_EINVAL, "tenant: 1 to 255 bytes without control characters");
      goto fail;
    }
    memcpy(s->tenant, t, tl + 1);
  }
  cis_limits_default(&s->limits);
  if (cfg->limits.timeout_ms || cfg->limits.max_memory_bytes) s->limits = cfg->limits;
  s->ceiling = cfg->max_limits;
  if (!s->ceiling.timeout_ms) s->ceiling.timeout_ms = CIS_SKILL_CEILING_TIMEOUT_MS;
  if (!s->ceiling.max_memory_bytes) s->ceiling.max_memory_bytes = CIS_SKILL_CEILING_MEMORY;
  if (!s->ceiling.max_call_depth) s->ceiling.max_call_depth = CIS_SKILL_CEILING_CALL_DEPTH;
  s->max_input = cfg->max_input ? cfg->max_input : CIS_SKILL_DEFAULT_MAX_JSON;
  s->max_output = cfg->max_output ? cfg->max_output : CIS_SKILL_DEFAULT_MAX_JSON;
  s->log_format = cfg->log_format;
  if (cfg->log_sink) s->sink = *cfg->log_sink;
  else cis_log_sink_stderr(&s->sink);
  cis_engine_config ec;
  cis_engine_config_default(&ec);
  ec.limits = s->limits;
  if (cfg->engine) ec.engine = cfg->engine;
  snprintf(s->engine_name, sizeof s->engine_name, "%s", ec.engine);
  if ((rc = cis_engine_new(&ec, &s->engine)) != CIS_OK) {
    cis__skills_fail(s, rc, "engine: %s", cis_strerror(rc));
    goto fail;
  }
  if ((rc = cis__registry_open(s, cfg->registry)) != CIS_OK) goto fail;
  if ((rc = cis__warm_open(s)) != CIS_OK) goto fail;
  if (cfg->kv) s->kv = cfg->kv;
  else {
    /* Opened by the first call that uses KV (kv_ready): a skill without
     * KV then runs when the KV database is out of reach or on a full disk,
     * where opening SQLite's KV file cannot create its WAL index. */
    char spec[4200];
    if (cfg->kv_spec) snprintf(spec, sizeof spec, "%s", cfg->kv_spec);
    else snprintf(spec, sizeof spec, "sqlite:%s/kv.db", s->home);
    s->kv_serial = !strncmp(spec, "sqlite:", 7);
    if (!(s->kv_spec = strdup(spec))) {
      rc = cis__skills_fail(s, CIS_ENOMEM, "out of memory");
      goto fail;
    }
  }
  if (cfg->ai) s->ai = cfg->ai;
  else {
    if ((rc = ai_from_config(cfg, &s->ai)) != CIS_OK) {
      cis__skills_fail(s, rc, "ai: %s", cis_strerror(rc));
      goto fail;
    }
    s->own_ai = true;
  }
  if ((rc = cis_http_new(NULL, &s->http)) != CIS_OK) {
    cis__skills_fail(s, rc, "http client: %s", cis_strerror(rc));
    goto fail;
  }
  {
    char spec[4200];
    if (cfg->vfs_db_spec) snprintf(spec, sizeof spec, "%s", cfg->vfs_db_spec);
    else snprintf(spec, sizeof spec, "sqlite:%s/fs.db", s->home);
    if (!(s->vfs_db_spec = strdup(spec))) {
      rc = cis__skills_fail(s, CIS_ENOMEM, "out of memory");
      goto fail;
    }
  }
  *out = s;
  return CIS_OK;
fail:
  if (err && errcap) snprintf(err, errcap, "%s", cis_skills_errmsg(s));
  cis_skills_close(s);
  return rc;
}

void cis_skills_close(cis_skills *s) {
  if (!s) return;
  cis__warm_close(s); /* first: its entries hold modules of the cache */
  for (cache_entry *e = s->cache, *n; e; e = n) {
    n = e->next;
    cis_module_free(e->module);
    free(e);
  }
  if (s->own_kv) cis_kv_close(s->kv);
  if (s->own_ai) cis_ai_free(s->ai);
  cis_http_free(s->http);
  cis__registry_close(s);
  cis_engine_free(s->engine);
  pthread_mutex_destroy(&s->cache_lock);
  pthread_mutex_destroy(&s->kv_lock);
  pthread_mutex_destroy(&s->kv_call_lock);
  for (unsigned k = 0; k < CIS__SKILL_STRIPES; k++) pthread_mutex_destroy(&s->stripes[k].lock);
  free(s->kv_spec);
  free(s->vfs_db_spec);
  free(s);
}

/* Opens the host's own KV service once, for the first call that needs
 * it; later calls reuse it. On failure the message names the backend's
 * scheme only: a connection string may hold a password. */
static cis_result kv_ready(cis_skills *s, cis_invoke_result *res) {
  pthread_mutex_lock(&s->kv_lock);
  cis_result rc = CIS_OK;
  if (!s->kv) {
    cis_kv_config kc;
    cis_kv_config_default(&kc);
    kc.spec = s->kv_spec;
    if ((rc = cis_kv_open(&kc, &s->kv)) == CIS_OK) s->own_kv = true;
    else {
      s->kv = NULL;
      snprintf(res->error, sizeof res->error, "kv %.*s: %s", (int)strcspn(s->kv_spec, ":"), s->kv_spec,
               cis_kv_errmsg(NULL));
    }
  }
  pthread_mutex_unlock(&s->kv_lock);
  return rc;
}

/* ------------------------------------------------------------ logging */

/* A call's log goes both to its own capture and to the host's sink. */
typedef struct tee_sink {
  cis_log_sink capture; /* the call's buffer */
  cis_log_sink *global; /* the host's sink */
} tee_sink;

static void tee_write(void *u, const cis_log_record *rec, const char *line, size_t len) {
  tee_sink *t = u;
  t->capture.write(t->capture.user, rec, line, len);
  if (t->global && t->global->write) t->global->write(t->global->user, rec, line, len);
}

/* ------------------------------------------------------------ KV glue */

/* The call's transaction as its host functions see it. A dead KV database
 * reaches the guest only as an error code, and the guest may then give up
 * in its own words; what the backend said is kept here for the host. */
typedef struct kv_call {
  cis_kv_txn *txn;           /* the call's transaction */
  cis_kv *kv;                /* its store (for the message) */
  cis_result down;           /* CIS_EKVDOWN once an operation met a dead backend; else CIS_OK */
  char msg[CIS_ERRMSG_MAX];  /* the store's message then */
} kv_call;

static cis_result kv_note(kv_call *kc, cis_result rc) {
  if (rc == CIS_EKVDOWN && kc->down == CIS_OK) {
    kc->down = rc;
    snprintf(kc->msg, sizeof kc->msg, "%s", cis_kv_errmsg(kc->kv));
  }
  return rc;
}

static cis_result kv_get(void *call, const void *k, size_t kl, uint8_t **v, size_t *vl) {
  kv_call *kc = call;
  void *val = NULL;
  cis_result rc = kv_note(kc, cis_kv_get(kc->txn, k, kl, &val, vl));
  if (rc != CIS_OK) return rc;
  /* The host frees with free(); hand over a copy from the KV allocator. */
  uint8_t *copy = malloc(*vl ? *vl : 1);
  if (!copy) {
    cis_kv_free(val);
    return CIS_ENOMEM;
  }
  memcpy(copy, val, *vl);
  cis_kv_free(val);
  *v = copy;
  return CIS_OK;
}
static cis_result kv_set(void *call, const void *k, size_t kl, const void *v, size_t vl) {
  kv_call *kc = call;
  return kv_note(kc, cis_kv_set(kc->txn, k, kl, v, vl));
}
static cis_result kv_del(void *call, const void *k, size_t kl) {
  kv_call *kc = call;
  return kv_note(kc, cis_kv_delete(kc->txn, k, kl));
}
static cis_result kv_incr(void *call, const void *k, size_t kl, int64_t delta, int64_t *out) {
  kv_call *kc = call;
  return kv_note(kc, cis_kv_increment(kc->txn, k, kl, delta, out));
}
static cis_result kv_cas(void *call, const void *k, size_t kl, const void *e, size_t el,
                         const void *v, size_t vl, bool *swapped) {
  kv_call *kc = call;
  return kv_note(kc, cis_kv_cas(kc->txn, k, kl, e, el, v, vl, swapped));
}

/* Appends src to the string in dst (cap bytes), cutting what does not fit. */
static void append(char *dst, size_t cap, const char *src) {
  size_t n = strlen(dst), k = strlen(src);
  if (n + 1 >= cap) return;
  if (k > cap - 1 - n) k = cap - 1 - n;
  memcpy(dst + n, src, k);
  dst[n + k] = '\0';
}

/* When a call that met a dead backend (the KV or a filesystem database:
 * infrastructure the operator owns) ends in a guest error or a trap, the
 * host gets the typed cause, and res->error says what the backend said and
 * what the guest did. A deadline or a cancel that cut the backend's work
 * short stays what it is; AI and HTTP failures are the guest's to handle
 * and are not overridden. */
static cis_result backend_cause(cis_result rc, const kv_call *kc, cis_wasi *wasi, cis_invoke_result *res) {
  if (rc == CIS_OK || rc == CIS_ETIMEOUT || rc == CIS_ECANCELED) return rc;
  char guest[sizeof res->error];
  snprintf(guest, sizeof guest, "%s", res->error[0] ? res->error : cis_strerror(rc));
  const char *msg = "";
  cis_result cause = CIS_OK;
  if (kc->down != CIS_OK) {
    cause = kc->down;
    msg = kc->msg;
  } else if (wasi && cis_wasi_last_vfs_error(wasi, &msg) == CIS_EVFSDOWN) {
    cause = CIS_EVFSDOWN;
  }
  if (cause == CIS_OK) return rc;
  /* The backend's words first: a long guest message is what gets cut. */
  res->error[0] = '\0';
  append(res->error, sizeof res->error, msg);
  append(res->error, sizeof res->error, "; then the skill failed: ");
  append(res->error, sizeof res->error, guest);
  return cause;
}

/* ------------------------------------------------------------ entry ABIs */

static bool has_export(cis_module *m, const char *name, cis_extern_kind kind) {
  uint32_t n = cis_module_export_count(m);
  for (uint32_t i = 0; i < n; i++) {
    cis_extern_desc d;
    if (cis_module_export(m, i, &d) == CIS_OK && d.kind == kind && d.name_len == strlen(name) &&
        !memcmp(d.name, name, d.name_len))
      return true;
  }
  return false;
}

static cis_skill_abi detect_abi(cis_module *m) {
  if (has_export(m, "cis_main", CIS_EXTERN_FUNC)) return CIS_ABI_V1;
  if (has_export(m, "execute", CIS_EXTERN_FUNC)) return CIS_ABI_SEED001;
  if (has_export(m, "_start", CIS_EXTERN_FUNC)) return CIS_ABI_WASI;
  if (has_export(m, "main", CIS_EXTERN_FUNC)) return CIS_ABI_SEED000;
  return CIS_ABI_AUTO;
}

/* Whether the module exports a function called name; d receives it. */
static bool func_export(cis_module *m, const char *name, cis_extern_desc *d) {
  uint32_t n = cis_module_export_count(m);
  for (uint32_t i = 0; i < n; i++)
    if (cis_module_export(m, i, d) == CIS_OK && d->kind == CIS_EXTERN_FUNC && d->name_len == strlen(name) &&
        !memcmp(d->name, name, d->name_len))
      return true;
  return false;
}

/* Whether d's signature is params -> results, each a string of i (i32) and
 * I (i64); results may list alternatives separated by "|". */
static bool sig_is(const cis_extern_desc *d, const char *params, const char *results) {
  if (d->nparams != strlen(params)) return false;
  for (uint32_t i = 0; i < d->nparams; i++)
    if (d->params[i] != (params[i] == 'I' ? CIS_I64 : CIS_I32)) return false;
  for (const char *r = results;;) {
    size_t len = strcspn(r, "|");
    bool ok = d->nresults == len;
    for (uint32_t i = 0; ok && i < d->nresults; i++) ok = d->results[i] == (r[i] == 'I' ? CIS_I64 : CIS_I32);
    if (ok) return true;
    if (!r[len]) return false;
    r += len + 1;
  }
}

/* "(i32, i64) -> (i32)": a signature as the messages show it. */
static void sig_text(uint32_t np, const cis_valtype *pt, uint32_t nr, const cis_valtype *rt, char *out, size_t cap) {
  size_t used = 0;
  for (int side = 0; side < 2; side++) {
    uint32_t n = side ? nr : np;
    const cis_valtype *t = side ? rt : pt;
    int k = snprintf(out + used, cap - used, "%s(", side ? " -> " : "");
    for (uint32_t i = 0; k >= 0 && i < n && used + (size_t)k < cap; i++) {
      used += (size_t)k;
      const char *nm = t[i] == CIS_I32   ? "i32"
                       : t[i] == CIS_I64 ? "i64"
                       : t[i] == CIS_F32 ? "f32"
                       : t[i] == CIS_F64 ? "f64"
                       : t[i] == CIS_V128 ? "v128"
                       : t[i] == CIS_FUNCREF ? "funcref"
                                            : "externref";
      k = snprintf(out + used, cap - used, "%s%s", i ? ", " : "", nm);
    }
    if (k < 0 || used + (size_t)k >= cap) return;
    used += (size_t)k;
    k = snprintf(out + used, cap - used, ")");
    if (k < 0 || used + (size_t)k >= cap) return;
    used += (size_t)k;
  }
}

cis_result cis__check_entry(const cis_manifest *m, cis_module *mod, char *err, size_t errcap) {
  cis_skill_abi abi = m->abi == CIS_ABI_AUTO ? detect_abi(mod) : m->abi;
  if (abi == CIS_ABI_AUTO) {
    snprintf(err, errcap, "abi: auto, and the module exports none of cis_main, execute, _start, main");
    return CIS_EABI;
  }
  /* What each ABI calls (docs/abi.md); seed001 and WASI have fixed names. */
  const char *entry, *params = "", *results, *shape;
  switch (abi) {
  case CIS_ABI_V1: entry = "cis_main", results = "i", shape = "() -> i32"; break;
  case CIS_ABI_SEED000: entry = "main", results = "i", shape = "() -> i32"; break;
  case CIS_ABI_SEED001: entry = "execute", params = "i", results = "i|I", shape = "(i32) -> i32 or i64"; break;
  default: entry = "_start", results = "", shape = "() -> ()"; break;
  }
  bool fixed = abi == CIS_ABI_SEED001 || abi == CIS_ABI_WASI;
  if (m->entry && fixed && strcmp(m->entry, entry)) {
    snprintf(err, errcap, "entry: the %s ABI always enters at %s, not %s", cis__abi_name(abi), entry, m->entry);
    return CIS_EABI;
  }
  if (m->entry) entry = m->entry;
  const char *field = m->entry ? "entry" : "abi";
  cis_extern_desc d;
  if (!func_export(mod, entry, &d)) {
    snprintf(err, errcap, "%s: the module exports no function %s (the %s ABI's entry)", field, entry,
             cis__abi_name(abi));
    return CIS_EABI;
  }
  if (!sig_is(&d, params, results)) {
    char actual[160];
    sig_text(d.nparams, d.params, d.nresults, d.results, actual, sizeof actual);
    snprintf(err, errcap, "%s: %s is %s; the %s ABI calls it as %s", field, entry, actual, cis__abi_name(abi),
             shape);
    return CIS_EABI;
  }
  if (abi == CIS_ABI_SEED001 && (!func_export(mod, "alloc", &d) || !sig_is(&d, "i", "i"))) {
    snprintf(err, errcap, "abi: seed001 needs an export alloc (i32) -> i32 to pass the input");
    return CIS_EABI;
  }
  return CIS_OK;
}

static bool imports_module(cis_module *m, const char *mod) {
  uint32_t n = cis_module_import_count(m);
  for (uint32_t i = 0; i < n; i++) {
    cis_extern_desc d;
    if (cis_module_import(m, i, &d) == CIS_OK && d.module_len == strlen(mod) &&
        !memcmp(d.module, mod, d.module_len))
      return true;
  }
  return false;
}

static bool imports_memory(cis_module *m) {
  uint32_t n = cis_module_import_count(m);
  for (uint32_t i = 0; i < n; i++) {
    cis_extern_desc d;
    if (cis_module_import(m, i, &d) == CIS_OK && d.kind == CIS_EXTERN_MEMORY) return true;
  }
  return false;
}

/* A module that imports env.memory (seed 001) gets one sized by the limit. */
static cis_result provide_memory(cis_skills *s, cis_module *m, uint64_t cap_bytes, cis_imports *im,
                                 cis_memory **mem, cis_invoke_result *res) {
  uint32_t n = cis_module_import_count(m);
  for (uint32_t i = 0; i < n; i++) {
    cis_extern_desc d;
    if (cis_module_import(m, i, &d) != CIS_OK || d.kind != CIS_EXTERN_MEMORY) continue;
    uint64_t cap_pages = cap_bytes / 65536;
    uint64_t max = d.has_max && d.max < cap_pages ? d.max : cap_pages;
    if (d.min > max) {
      snprintf(res->error, sizeof res->error, "imported memory needs %" PRIu64 " pages, the limit allows %" PRIu64,
               d.min, max);
      return CIS_EMEMLIMIT;
    }
    cis_result rc = cis_memory_new(s->engine, (uint32_t)d.min, (uint32_t)max, true, mem);
    if (rc != CIS_OK) return rc;
    return cis_imports_add_memory(im, d.module, d.module_len, d.name, d.name_len, *mem);
  }
  return CIS_OK;
}

cis_result cis__check_imports(cis_skills *s, const cis_manifest *m, cis_module *mod, char *err,
                              size_t errcap) {
  cis_limits lim;
  cis__skill_limits(s, m, &lim);
  cis_imports *im = NULL;
  cis_memory *mem = NULL;
  cis_wasi *wasi = NULL;
  cis_invoke_result tmp;
  memset(&tmp, 0, sizeof tmp);
  /* The same import set a call gets (see invoke), less the mounts. */
  cis_result rc = cis_imports_new(s->engine, &im);
  if (rc == CIS_OK) rc = cis__host_add_imports(im, CIS__ABI_MOD_ALL);
  if (rc == CIS_OK) rc = provide_memory(s, mod, lim.max_memory_bytes, im, &mem, &tmp);
  if (rc == CIS_OK && imports_module(mod, "wasi_snapshot_preview1")) {
    cis_wasi_config wc;
    cis_wasi_config_default(&wc);
    rc = cis_wasi_new(&wc, &wasi);
    if (rc == CIS_OK) rc = cis_wasi_add_imports(wasi, im);
  }
  if (rc == CIS_OK) {
    rc = cis_imports_check(im, mod);
    if (rc != CIS_OK)
      snprintf(err, errcap, "%s (docs/abi.md lists what this host provides)", cis_errmsg(s->engine));
  } else {
    snprintf(err, errcap, "imports: %s", *tmp.error ? tmp.error : cis_strerror(rc));
  }
  cis_imports_free(im);
  if (wasi) cis_wasi_free(wasi);
  if (mem) cis_memory_free(mem);
  return rc;
}

/* Reads a NUL-terminated string at ptr, at most cap bytes. */
static cis_result read_cstr(cis_instance *inst, uint32_t ptr, size_t cap, char **out, size_t *len) {
  cis_memory *mem = cis_instance_memory(inst);
  if (!mem) return CIS_EABI;
  uint64_t size = cis_memory_size(mem);
  if (ptr >= size) return CIS_EABI;
  const uint8_t *base = cis_memory_data(mem) + ptr;
  size_t lim = size - ptr < cap ? (size_t)(size - ptr) : cap;
  const uint8_t *nul = memchr(base, 0, lim);
  if (!nul) return lim == cap ? CIS_ETOOBIG : CIS_EABI;
  *len = (size_t)(nul - base);
  *out = malloc(*len + 1);
  if (!*out) return CIS_ENOMEM;
  memcpy(*out, base, *len + 1);
  return CIS_OK;
}

static cis_result read_packed(cis_instance *inst, uint64_t packed, size_t cap, char **out, size_t *len) {
  uint32_t ptr = (uint32_t)(packed >> 32), l = (uint32_t)packed;
  if (l > cap) return CIS_ETOOBIG;
  const void *p = cis_instance_mem(inst, ptr, l);
  if (!p) return CIS_EABI;
  *out = malloc((size_t)l + 1);
  if (!*out) return CIS_ENOMEM;
  memcpy(*out, p, l);
  (*out)[l] = 0;
  *len = l;
  return CIS_OK;
}

/* Calls export name; fills res->error on failure. */
static cis_result call_export(cis_instance *inst, const char *name, const cis_val *args, size_t nargs,
                              cis_val *results, size_t nres, cis_invoke_result *res) {
  cis_func *f = cis_instance_func(inst, name);
  if (!f) {
    snprintf(res->error, sizeof res->error, "the module exports no function %s", name);
    return CIS_EABI;
  }
  uint32_t np, nr;
  const cis_valtype *pt, *rt;
  cis_func_type(f, &np, &pt, &nr, &rt);
  if (np != nargs || nr != nres) {
    char actual[160], expected[160];
    cis_valtype want[2] = {CIS_I32, CIS_I32};
    sig_text(np, pt, nr, rt, actual, sizeof actual);
    sig_text((uint32_t)nargs, want, (uint32_t)nres, want, expected, sizeof expected);
    snprintf(res->error, sizeof res->error, "%s is %s; the ABI calls it as %s", name, actual, expected);
    return CIS_EABI;
  }
  cis_result rc = cis_func_call(inst, f, args, nargs, results, nres);
  /* The error's name travels in res->status: the text alone goes here,
   * or callers that print "NAME: error" would say the name twice. */
  if (rc != CIS_OK) snprintf(res->error, sizeof res->error, "%s", cis_errmsg(inst));
  return rc;
}

static cis_result run_seed001(cis_instance *inst, cis__host_ctx *h, size_t cap, char **out, size_t *len,
                              cis_invoke_result *res) {
  cis_val a = {.type = CIS_I32, .of.i32 = (int32_t)(h->input_len + 1)}, p;
  cis_result rc = call_export(inst, "alloc", &a, 1, &p, 1, res);
  if (rc != CIS_OK) return rc;
  uint32_t in = p.of.u32;
  uint8_t *dst = cis_instance_mem(inst, in, h->input_len + 1);
  if (!in || !dst) {
    snprintf(res->error, sizeof res->error, "alloc returned an unusable pointer 0x%x", in);
    return CIS_EABI;
  }
  memcpy(dst, h->input, h->input_len);
  dst[h->input_len] = 0;
  cis_func *ex = cis_instance_func(inst, "execute");
  uint32_t np, nr;
  const cis_valtype *pt, *rt;
  if (!ex) return CIS_EABI;
  cis_func_type(ex, &np, &pt, &nr, &rt);
  cis_val arg = {.type = CIS_I32, .of.u32 = in}, r;
  rc = call_export(inst, "execute", &arg, 1, &r, 1, res);
  if (rc != CIS_OK) return rc;
  if (rt[0] == CIS_I64) rc = read_packed(inst, r.of.u64, cap, out, len);
  else rc = read_cstr(inst, r.of.u32, cap, out, len);
  if (rc != CIS_OK) {
    snprintf(res->error, sizeof res->error, "execute returned an output pointer that is not a %s within %zu bytes",
             rt[0] == CIS_I64 ? "packed range" : "NUL-terminated string", cap);
    return rc;
  }
  cis_func *dealloc = cis_instance_func(inst, "dealloc");
  if (dealloc) {
    cis_val da[2] = {{.type = CIS_I32, .of.u32 = in}, {.type = CIS_I32, .of.i32 = (int32_t)(h->input_len + 1)}};
    cis_func_call(inst, dealloc, da, 2, NULL, 0);
  }
  return CIS_OK;
}

/* cis_invoke_options.export_name: that export with the caller's values,
 * its results into res->results. */
static cis_result call_direct(cis_instance *inst, const cis_invoke_options *opt, cis_invoke_result *res) {
  cis_func *f = cis_instance_func(inst, opt->export_name);
  if (!f) {
    snprintf(res->error, sizeof res->error, "the module exports no function %.200s", opt->export_name);
    return CIS_ENOTFOUND;
  }
  uint32_t np, nr;
  const cis_valtype *pt, *rt;
  cis_func_type(f, &np, &pt, &nr, &rt);
  bool typed = np == opt->nargs;
  for (uint32_t i = 0; typed && i < np; i++) typed = opt->args[i].type == pt[i];
  if (!typed) {
    char sig[160];
    sig_text(np, pt, nr, rt, sig, sizeof sig);
    snprintf(res->error, sizeof res->error, "%.200s is %s: %zu argument%s given%s", opt->export_name, sig, opt->nargs,
             opt->nargs == 1 ? "" : "s", np == opt->nargs ? " of other types" : "");
    return CIS_EINVAL;
  }
  if (!(res->results = calloc(nr ? nr : 1, sizeof *res->results))) return CIS_ENOMEM;
  cis_result rc = cis_func_call(inst, f, opt->args, np, res->results, nr);
  if (rc == CIS_EEXIT) res->exit_code = cis_instance_exit_code(inst);
  if (rc == CIS_EEXIT && res->exit_code == 0) rc = CIS_OK; /* proc_exit(0): done, no results */
  else if (rc == CIS_OK) res->nresults = nr;
  if (rc != CIS_OK) snprintf(res->error, sizeof res->error, "%s", cis_errmsg(inst));
  if (!res->nresults) {
    free(res->results);
    res->results = NULL;
  }
  return rc;
}

/* --------------------------------------------------------------- invoke */

/* The input and output of a call are held to RFC 8259 (see
 * cis__json_parse_strict); what names which, e.g. "input". */
static cis_result validate_json(const char *text, size_t len, const char *what, cis_invoke_result *res) {
  int k = snprintf(res->error, sizeof res->error, "%s: ", what);
  if (k < 0 || (size_t)k >= sizeof res->error) k = 0;
  cis_result rc = cis__json_parse_strict(text, len, false, NULL, res->error + k, sizeof res->error - (size_t)k);
  if (rc == CIS_OK) res->error[0] = '\0';
  return rc;
}

/* The process id for call ids, read once per process rather than by a
 * system call per call; a forked child reads its own. */
static atomic_int pid_cache;
static pthread_once_t pid_once = PTHREAD_ONCE_INIT;
static void pid_forget(void) { atomic_store(&pid_cache, 0); }
static void pid_hook(void) { pthread_atfork(NULL, NULL, pid_forget); }
static unsigned own_pid(void) {
  pthread_once(&pid_once, pid_hook);
  int p = atomic_load(&pid_cache);
  if (!p) atomic_store(&pid_cache, p = (int)getpid());
  return (unsigned)p;
}

/* Mounts the manifest's filesystem mounts and preopens each at its guest
 * path. A "mem" mount is scratch space of this call only; a "host" mount
 * is its source folder (relative to the folder the skill was installed
 * from, dir, and inside it unless granted, g); a "db" mount is the
 * skill's own tree of the tenant's layered filesystem in the host's
 * database, or a volume the operator granted it. fss (m->n_mounts slots) receives the mounts, which the
 * caller unmounts after freeing w. */
static cis_result mount_fs(cis_skills *s, const cis_manifest *m, const char *dir, const cis__grants *g,
                           const char *tenant, uint64_t deadline_ns, uint64_t mem_cap, cis_wasi *w,
                           cis_vfs **fss, cis_invoke_result *res) {
  for (size_t i = 0; i < m->n_mounts; i++) {
    const cis_manifest_mount *mt = &m->mounts[i];
    cis_vfs_backend *b = NULL;
    cis_result rc;
    if (!strcmp(mt->type, "mem")) {
      rc = cis_vfs_mem_new(&b);
    } else if (!strcmp(mt->type, "host")) {
      /* Checked again now: a symlink in the skill's folder may have been
       * pointed elsewhere since install. */
      char path[PATH_MAX], why[PATH_MAX + 200];
      int which;
      rc = cis__host_source_check(dir, mt->source, g ? (const char *const *)g->host_paths : NULL,
                                  g ? g->n_host_paths : 0, path, sizeof path, &which, why, sizeof why);
      if (rc != CIS_OK) {
        int k = snprintf(res->error, sizeof res->error, "permissions.fs.mounts[%zu].source: ", i);
        if (k > 0 && (size_t)k < sizeof res->error)
          memcpy(res->error + k, why, strnlen(why, sizeof res->error - (size_t)k - 1) + 1);
        res->error[sizeof res->error - 1] = '\0';
        return rc;
      }
      rc = cis_vfs_host_new(path, &b);
    } else {
      /* The skill's own tree of the tenant, or a volume it was granted. */
      char key[256];
      if (cis__vfs_tree_key(tenant, m->name, mt->volume, key, sizeof key) != CIS_OK) {
        snprintf(res->error, sizeof res->error, "permissions.fs.mounts[%zu]: the tenant's name is too long for a db mount", i);
        return CIS_EINVAL;
      }
      cis_vfs_db_config dc;
      cis_vfs_db_config_default(&dc);
      dc.spec = s->vfs_db_spec;
      dc.tenant = key;
      /* Opening the tenant's tree is part of the call: its deadline bounds
       * it (a database locked by another writer, a server not answering). */
      uint64_t left = cis__ms_left(deadline_ns);
      if (left < 30000) dc.op_timeout_ms = left ? left : 1;
      rc = cis_vfs_db_new(&dc, &b);
      if (rc == CIS_EVFSDOWN && cis__ms_left(deadline_ns) == 0) rc = CIS_ETIMEOUT;
    }
    if (rc != CIS_OK) {
      snprintf(res->error, sizeof res->error, "permissions.fs.mounts[%zu] (%s): %s", i, mt->type, cis_vfs_errmsg(NULL));
      return rc;
    }
    cis_vfs_options o = {.read_only = mt->read_only, .max_bytes = mt->max_bytes, .max_files = mt->max_files};
    /* A memory mount's files are host memory the guest makes us allocate:
     * never more than the skill's memory limit, quota or not. */
    if (!strcmp(mt->type, "mem") && mem_cap && (!o.max_bytes || o.max_bytes > mem_cap)) o.max_bytes = mem_cap;
    if ((rc = cis_vfs_mount(b, &o, &fss[i])) != CIS_OK) {
      snprintf(res->error, sizeof res->error, "permissions.fs.mounts[%zu]: %s", i, cis_vfs_errmsg(NULL));
      return rc;
    }
    /* The call's changes on a db mount are one unit with its KV writes:
     * committed when the call succeeds, dropped otherwise (docs/dbfs.md). */
    if ((rc = cis_vfs_scope_begin(fss[i])) != CIS_OK) {
      snprintf(res->error, sizeof res->error, "permissions.fs.mounts[%zu]: %s", i, cis_vfs_errmsg(fss[i]));
      return rc;
    }
    if ((rc = cis_wasi_preopen(w, fss[i], mt->guest)) != CIS_OK) {
      const char *msg = "";
      cis_wasi_last_vfs_error(w, &msg);
      snprintf(res->error, sizeof res->error, "permissions.fs.mounts[%zu]: %s", i, *msg ? msg : cis_strerror(rc));
      return rc;
    }
  }
  return CIS_OK;
}

static uint64_t capped(uint64_t asked, uint64_t ceiling) {
  return ceiling && asked > ceiling ? ceiling : asked;
}

void cis__skill_limits(const cis_skills *s, const cis_manifest *m, cis_limits *out) {
  *out = s->limits;
  if (!m) return;
  /* A manifest may ask for less than the defaults, or more up to the
   * ceiling; never past it, whatever the defaults are. */
  if (m->timeout_ms) out->timeout_ms = capped(m->timeout_ms, s->ceiling.timeout_ms);
  if (m->memory_bytes) out->max_memory_bytes = capped(m->memory_bytes, s->ceiling.max_memory_bytes);
  if (m->call_depth) out->max_call_depth = capped(m->call_depth, s->ceiling.max_call_depth);
  if (m->fuel) out->fuel = capped(m->fuel, s->ceiling.fuel);
}

/* The settings config_get reads: the call's own (cis_invoke_options.config,
 * the last of a key winning), then the skill's stored ones (settings.c). */
typedef struct call_settings {
  cis_skills *s;                  /* registry of the stored ones */
  const char *skill;              /* NULL: a module run without a manifest */
  const cis_invoke_options *opt;  /* the call's own, or NULL */
} call_settings;

static cis_result settings_get(void *user, const char *key, size_t klen, char **val, size_t *vlen) {
  call_settings *cs = user;
  for (size_t i = cs->opt ? cs->opt->nconfig : 0; i-- > 0;) {
    const char *kv = cs->opt->config[i];
    const char *eq = strchr(kv, '=');
    if (!eq || (size_t)(eq - kv) != klen || memcmp(kv, key, klen)) continue;
    *vlen = strlen(eq + 1);
    return (*val = strdup(eq + 1)) ? CIS_OK : CIS_ENOMEM;
  }
  if (!cs->skill || memchr(key, 0, klen)) return CIS_ENOTFOUND;
  return cis__setting_get(cs->s, cs->skill, key, klen, val, vlen);
}

/* The call's own additions (config, env, mounts) are well formed. */
static cis_result check_call_options(const cis_invoke_options *opt, cis_invoke_result *res) {
  for (size_t i = 0; opt && i < opt->nconfig; i++) {
    const char *eq = opt->config[i] ? strchr(opt->config[i], '=') : NULL;
    if (!eq || eq == opt->config[i]) {
      snprintf(res->error, sizeof res->error, "config: \"%.100s\" is not KEY=VALUE",
               opt->config[i] ? opt->config[i] : "(null)");
      return CIS_EINVAL;
    }
  }
  for (size_t i = 0; opt && i < opt->nenv; i++) {
    const char *eq = opt->env[i] ? strchr(opt->env[i], '=') : NULL;
    if (!eq || eq == opt->env[i]) {
      snprintf(res->error, sizeof res->error, "env: \"%.100s\" is not NAME=VALUE", opt->env[i] ? opt->env[i] : "(null)");
      return CIS_EINVAL;
    }
  }
  for (size_t i = 0; opt && i < opt->nmounts; i++)
    if (!opt->mounts[i].host || !*opt->mounts[i].host) {
      snprintf(res->error, sizeof res->error, "mounts[%zu]: no host folder", i);
      return CIS_EINVAL;
    }
  return CIS_OK;
}

/* Mounts the call's own host folders (cis_invoke_options.mounts) into
 * fss[0..opt->nmounts) and preopens them after the manifest's. */
static cis_result mount_call_dirs(const cis_invoke_options *opt, cis_wasi *w, cis_vfs **fss, cis_invoke_result *res) {
  for (size_t i = 0; i < opt->nmounts; i++) {
    const cis_invoke_mount *mt = &opt->mounts[i];
    const char *guest = mt->guest && *mt->guest ? mt->guest : mt->host;
    cis_vfs_backend *b = NULL;
    cis_result rc = cis_vfs_host_new(mt->host, &b);
    if (rc != CIS_OK) {
      snprintf(res->error, sizeof res->error, "--dir %.200s: %s", mt->host, cis_vfs_errmsg(NULL));
      return rc;
    }
    cis_vfs_options o = {.read_only = mt->read_only};
    if ((rc = cis_vfs_mount(b, &o, &fss[i])) != CIS_OK) {
      snprintf(res->error, sizeof res->error, "--dir %.200s: %s", mt->host, cis_vfs_errmsg(NULL));
      return rc;
    }
    if ((rc = cis_wasi_preopen(w, fss[i], guest)) != CIS_OK) {
      const char *msg = "";
      cis_wasi_last_vfs_error(w, &msg);
      snprintf(res->error, sizeof res->error, "--dir %.200s: %s", mt->host, *msg ? msg : cis_strerror(rc));
      return rc;
    }
  }
  return CIS_OK;
}

/* What a WASI skill wrote to stderr becomes log lines of the call, one per
 * line, so the operator sees why a skill failed (the guest's own words,
 * written whether or not it may call log itself). */
static void log_stderr(cis_wasi *w, cis_log_call *lc, bool failed) {
  size_t n = 0;
  const uint8_t *p = cis_wasi_output(w, 2, &n);
  for (size_t i = 0; p && i < n;) {
    const uint8_t *nl = memchr(p + i, '\n', n - i);
    size_t end = nl ? (size_t)(nl - p) : n;
    if (end > i || nl) cis_log_write(lc, failed ? CIS_LOG_ERROR : CIS_LOG_INFO, (const char *)p + i, end - i);
    i = end + 1;
  }
}

/* A change a mount refused for its quota is the operator's business: one
 * warn line per mount and call (the guest saw only EDQUOT, maybe in a loop
 * of retries), naming the mount, the count and the first refusal's quota,
 * use and limit. Mounts 0 .. n_mounts-1 are the manifest's, then the call's. */
static void log_quota_hits(cis__host_ctx *h, cis_vfs **fss, size_t nfss, const cis_manifest *m,
                           const cis_invoke_options *opt) {
  size_t nown = m ? m->n_mounts : 0;
  for (size_t i = 0; i < nfss; i++) {
    char first[256];
    uint64_t n = cis_vfs_quota_refusals(fss[i], first, sizeof first);
    if (!n) continue;
    const cis_invoke_mount *cm = i >= nown && opt ? &opt->mounts[i - nown] : NULL;
    const char *guest = i < nown ? m->mounts[i].guest : cm && cm->guest && *cm->guest ? cm->guest : cm ? cm->host : "?";
    cis__host_note(h, CIS_LOG_WARN, "fs quota: mount %.200s: %llu change%s refused (EDQUOT); the first: %s", guest,
                   (unsigned long long)n, n == 1 ? "" : "s", first);
  }
}

/* "no entry point" says what the module does export, so a wrong name or a
 * missing export flag shows at once. */
static void no_entry_message(cis_module *mod, char *out, size_t cap) {
  int k = snprintf(out, cap, "no entry point: the module exports none of cis_main, execute, _start, main "
                   "(docs/abi.md); its functions:");
  size_t used = k > 0 ? (size_t)k : 0, listed = 0;
  uint32_t n = cis_module_export_count(mod);
  for (uint32_t i = 0; i < n && used < cap; i++) {
    cis_extern_desc d;
    if (cis_module_export(mod, i, &d) != CIS_OK || d.kind != CIS_EXTERN_FUNC) continue;
    k = snprintf(out + used, cap - used, "%s %.*s", listed ? "," : "", (int)(d.name_len > 64 ? 64 : d.name_len),
                 d.name);
    if (k < 0) break;
    used += (size_t)k;
    listed++;
  }
  if (!listed && used < cap) snprintf(out + used, cap - used, " none");
}

static cis_result invoke(cis_skills *s, const cis_manifest *m, const char *dir, const cis__grants *g, cis_module *mod,
                         const char *skill_name, const char *kv_ns, const char *input, size_t input_len, const cis_invoke_options *opt,
                         cis_invoke_result *res) {
  cis_result rc = CIS_OK;
  uint64_t t0 = cis__now_ns();
  cis_imports *im = NULL;
  cis_instance *inst = NULL;
  cis_memory *mem = NULL;
  cis_wasi *wasi = NULL;
  cis_vfs **fss = NULL; /* the manifest's mounts, m->n_mounts of them */
  cis_kv_txn *txn = NULL;
  cis_http_policy *policy = NULL;
  cis_log *log = NULL;
  cis_log_buffer *logbuf = NULL;
  cis_log_call *lc = NULL;
  char *out = NULL;
  size_t out_len = 0;
  cis__host_ctx h;
  cis__host_kv hkv;
  kv_call kvc = {.down = CIS_OK};
  bool kv_locked = false; /* holds s->kv_call_lock */
  tee_sink tee; /* lives as long as the call's logger */
  call_settings cs; /* config_get's sources */
  const char **envs = NULL; /* the manifest's environment, then the call's */
  size_t nfss = 0; /* mounts in fss: the manifest's, then the call's */
  memset(&h, 0, sizeof h);

  if (input_len > s->max_input) {
    snprintf(res->error, sizeof res->error, "input: %zu bytes, above the %zu-byte cap", input_len, s->max_input);
    return res->status = CIS_ETOOBIG;
  }
  if ((rc = validate_json(input, input_len, "input", res)) != CIS_OK) return res->status = rc;

  /* Limits: the manifest within the host's ceiling, then the options. */
  cis_limits lim;
  cis__skill_limits(s, m, &lim);
  if (opt && opt->timeout_ms) lim.timeout_ms = opt->timeout_ms;
  if (opt && opt->max_memory) lim.max_memory_bytes = opt->max_memory;

  cis_skill_abi abi = m ? m->abi : CIS_ABI_AUTO;
  if (opt && opt->abi && strcmp(opt->abi, "auto")) {
    const char *names[] = {"auto", "cis_v1", "seed001", "seed000", "wasi"};
    abi = CIS_ABI_AUTO;
    for (int i = 1; i < 5; i++)
      if (!strcmp(opt->abi, names[i])) abi = (cis_skill_abi)i;
    if (abi == CIS_ABI_AUTO) {
      snprintf(res->error, sizeof res->error, "unknown ABI %s", opt->abi);
      return res->status = CIS_EINVAL;
    }
  }
  bool direct = opt && opt->export_name; /* an export with values, not the entry */
  if (abi == CIS_ABI_AUTO) abi = detect_abi(mod);
  if (abi == CIS_ABI_AUTO && !direct) {
    no_entry_message(mod, res->error, sizeof res->error);
    return res->status = CIS_EABI;
  }

  if ((rc = check_call_options(opt, res)) != CIS_OK) return res->status = rc;
  if (((m && m->kv) || (opt && opt->allow_kv)) && (rc = kv_ready(s, res)) != CIS_OK) return res->status = rc;

  /* Grants. */
  /* A handle made for one tenant runs calls for that tenant alone; the
   * default handle's calls may name any (the operator's KV and files). */
  const char *tenant = opt && opt->tenant && *opt->tenant ? opt->tenant : s->tenant;
  if (s->tenant_fixed && strcmp(tenant, s->tenant)) {
    snprintf(res->error, sizeof res->error, "the handle is tenant %s's: a call may not run for another tenant",
             s->tenant);
    return res->status = CIS_EDENIED;
  }
  h.who.tenant = tenant;
  h.who.skill = skill_name;
  h.input = (const uint8_t *)input;
  h.input_len = input_len;
  h.max_output = s->max_output;
  h.max_result = s->max_output;
  uint64_t budget = lim.timeout_ms ? lim.timeout_ms : UINT64_MAX;
  uint64_t call_deadline = cis__deadline_after(budget, 0); /* for the set-up's own waits */
  if ((m && m->kv) || (opt && opt->allow_kv)) {
    /* SQLite lets one writer in at a time and makes the others poll with
     * growing sleeps: warm calls of a few microseconds on several threads
     * then starve some pollers past their deadline. This process's KV calls
     * on our SQLite store take turns on a mutex instead (woken in turn,
     * bounded by the call's deadline); other processes still meet SQLite's
     * own lock. */
    if (s->kv_serial) {
      struct timespec until;
      cis__timespec_after(CLOCK_REALTIME, cis__ms_left(call_deadline), &until);
      if (pthread_mutex_timedlock(&s->kv_call_lock, &until) != 0) {
        snprintf(res->error, sizeof res->error, "kv: the store stayed busy until the deadline");
        rc = CIS_ETIMEOUT;
        goto done;
      }
      kv_locked = true;
    }
    cis_principal ns = {tenant, kv_ns};
    if ((rc = cis_kv_begin(s->kv, &ns, budget, &txn)) != CIS_OK) {
      snprintf(res->error, sizeof res->error, "kv: %s", cis_kv_errmsg(s->kv));
      goto done;
    }
    /* The manifest's quota holds per namespace, the tighter of it and the
     * store's own. */
    if (m) cis_kv_txn_set_quota(txn, m->kv_max_keys, m->kv_max_bytes);
    kvc.txn = txn;
    kvc.kv = s->kv;
    hkv = (cis__host_kv){&kvc, kv_get, kv_set, kv_del, kv_incr, kv_cas};
    h.kv = &hkv;
  }
  if ((m && m->ai) || (opt && opt->allow_ai)) h.ai = s->ai;
  size_t nrules = (m ? m->n_http_allow : 0) + (opt ? opt->nallow_hosts : 0);
  if (nrules) {
    if ((rc = cis_http_policy_new(&policy)) != CIS_OK) goto done;
    for (size_t i = 0; m && i < m->n_http_allow; i++)
      if ((rc = cis_http_policy_add(policy, m->http_allow[i])) != CIS_OK) {
        snprintf(res->error, sizeof res->error, "permissions.http.allow[%zu]: %s", i, cis_errmsg(policy));
        goto done;
      }
    for (size_t i = 0; opt && i < opt->nallow_hosts; i++)
      if ((rc = cis_http_policy_add(policy, opt->allow_hosts[i])) != CIS_OK) {
        snprintf(res->error, sizeof res->error, "allow-host %s: %s", opt->allow_hosts[i], cis_errmsg(policy));
        goto done;
      }
    h.http = s->http;
    h.http_policy = policy;
  }
  /* The call's log exists whether or not the skill may write to it: the
   * host's own lines (denials, provider errors, quota hits) and a WASI
   * skill's stderr go there for the operator. */
  cs = (call_settings){s, m ? skill_name : NULL, opt};
  h.config_get = settings_get;
  h.config_user = &cs;
  h.guest_log = !m || m->log;
  {
    if ((rc = cis_log_buffer_new(0, &logbuf)) != CIS_OK) goto done;
    cis_log_config lcfg;
    cis_log_config_default(&lcfg);
    lcfg.format = s->log_format;
    lcfg.min_level = CIS_LOG_DEBUG;
    cis_log_sink_buffer(logbuf, &tee.capture);
    tee.global = &s->sink;
    lcfg.sink = (cis_log_sink){.version = CIS_LOG_SINK_VERSION, .user = &tee, .write = tee_write};
    if ((rc = cis_log_new(&lcfg, &log)) != CIS_OK) goto done;
    char call_id[40];
    if (opt && opt->call_id) snprintf(call_id, sizeof call_id, "%s", opt->call_id);
    /* Seconds, process and a per-process unique number: unique across the
     * processes of one host, also when they start in the same second. */
    else snprintf(call_id, sizeof call_id, "%llx-%x-%llx", (unsigned long long)time(NULL), (unsigned)own_pid(),
                  (unsigned long long)cis__unique_id());
    if ((rc = cis_log_call_begin(log, &h.who, call_id, &lc)) != CIS_OK) goto done;
    h.log = lc;
  }

  /* Imports: every host module (the host's shared set, built once; unused
   * ones cost nothing), and on top of it, in a set of this call's own,
   * WASI when the module wants it and env.memory when it imports one. */
  bool wants_wasi = abi == CIS_ABI_WASI || imports_module(mod, "wasi_snapshot_preview1");
  const cis_imports *link = s->host_imports;
  if (wants_wasi || imports_memory(mod)) {
    if ((rc = cis_imports_new(s->engine, &im)) != CIS_OK) goto done;
    if ((rc = cis_imports_set_base(im, s->host_imports)) != CIS_OK) goto done;
    link = im;
  }
  if (im && (rc = provide_memory(s, mod, lim.max_memory_bytes, im, &mem, res)) != CIS_OK) goto done;
  if (wants_wasi) {
    cis_wasi_config wc;
    cis_wasi_config_default(&wc);
    wc.caps = CIS_WASI_CAP_CLOCK | CIS_WASI_CAP_RANDOM | CIS_WASI_CAP_ARGS | CIS_WASI_CAP_ENV;
    const char *argv0 = skill_name;
    wc.argc = 1;
    wc.argv = &argv0;
    wc.envc = m ? m->n_env : 0;
    wc.envp = m ? (const char *const *)m->env : NULL;
    if (opt && opt->nenv) {
      if (!(envs = malloc((wc.envc + opt->nenv) * sizeof *envs))) {
        rc = CIS_ENOMEM;
        goto done;
      }
      for (size_t i = 0; i < wc.envc; i++) envs[i] = m->env[i];
      for (size_t i = 0; i < opt->nenv; i++) envs[wc.envc + i] = opt->env[i];
      wc.envc += opt->nenv;
      wc.envp = envs;
    }
    wc.stdio[0] = CIS_WASI_STDIO_BUFFER;
    wc.stdio[1] = CIS_WASI_STDIO_BUFFER;
    wc.stdio[2] = CIS_WASI_STDIO_BUFFER;
    wc.stdin_data = (const uint8_t *)input;
    wc.stdin_len = input_len;
    wc.capture_cap = s->max_output;
    if ((rc = cis_wasi_new(&wc, &wasi)) != CIS_OK) goto done;
    size_t nown = m ? m->n_mounts : 0, ncall = opt ? opt->nmounts : 0;
    if (nown + ncall) {
      if (!(fss = calloc(nown + ncall, sizeof *fss))) {
        rc = CIS_ENOMEM;
        goto done;
      }
      nfss = nown + ncall;
      if (nown && (rc = mount_fs(s, m, dir, g, tenant, call_deadline, lim.max_memory_bytes, wasi, fss, res)) != CIS_OK)
        goto done;
      if (ncall && (rc = mount_call_dirs(opt, wasi, fss + nown, res)) != CIS_OK) goto done;
    }
    if ((rc = cis_wasi_add_imports(wasi, im)) != CIS_OK) goto done;
  }
  uint64_t ti = cis__now_ns();
  /* mod (the skill entry's or the caller's reference) and link outlive inst,
   * which is freed below before either. */
  rc = cis_instance_new_borrowing(mod, link, &lim, &inst);
  res->stats.instantiate_ns = cis__now_ns() - ti;
  if (rc != CIS_OK) {
    snprintf(res->error, sizeof res->error, "instantiate: %s", cis_errmsg(s->engine));
    goto done;
  }
  cis_instance_set_user(inst, &h);
  /* A WASI reactor initialises its libc in _initialize, before any entry. */
  if (cis_instance_func(inst, "_initialize") &&
      (rc = call_export(inst, "_initialize", NULL, 0, NULL, 0, res)) != CIS_OK)
    goto done;

  if (direct) {
    rc = call_direct(inst, opt, res);
    size_t n = 0;
    const uint8_t *o = wasi ? cis_wasi_output(wasi, 1, &n) : NULL;
    if (rc == CIS_OK && n) {
      if (!(out = malloc(n + 1))) rc = CIS_ENOMEM;
      else {
        memcpy(out, o, n);
        out[n] = 0;
        out_len = n;
      }
    }
  } else
  switch (abi) {
  case CIS_ABI_V1: {
    cis_val r;
    rc = call_export(inst, m && m->entry ? m->entry : "cis_main", NULL, 0, &r, 1, res);
    if (rc == CIS_OK && r.of.i32 != 0) {
      rc = CIS_ESKILL;
      snprintf(res->error, sizeof res->error, "the skill returned error %d%s%s", r.of.i32, h.errmsg[0] ? ": " : "",
               h.errmsg);
    }
    if (rc == CIS_OK) {
      out = malloc(h.output_len + 1);
      if (!out) rc = CIS_ENOMEM;
      else {
        memcpy(out, h.output, h.output_len);
        out[h.output_len] = 0;
        out_len = h.output_len;
      }
    }
    break;
  }
  case CIS_ABI_SEED001: rc = run_seed001(inst, &h, s->max_output, &out, &out_len, res); break;
  case CIS_ABI_SEED000: {
    cis_val r;
    rc = call_export(inst, m && m->entry ? m->entry : "main", NULL, 0, &r, 1, res);
    if (rc == CIS_OK && (rc = read_cstr(inst, r.of.u32, s->max_output, &out, &out_len)) != CIS_OK)
      snprintf(res->error, sizeof res->error, "main returned a pointer that is not a NUL-terminated string");
    break;
  }
  case CIS_ABI_WASI: {
    int code = 0;
    rc = cis_wasi_run(wasi, inst, &code);
    res->exit_code = code;
    if (rc != CIS_OK) snprintf(res->error, sizeof res->error, "%s", cis_errmsg(inst));
    else if (code != 0) {
      rc = CIS_ESKILL;
      snprintf(res->error, sizeof res->error, "the skill exited with code %d", code);
    } else {
      size_t n;
      const uint8_t *o = cis_wasi_output(wasi, 1, &n);
      out = malloc(n + 1);
      if (!out) rc = CIS_ENOMEM;
      else {
        if (n) memcpy(out, o, n);
        out[n] = 0;
        out_len = n;
      }
    }
    break;
  }
  default: rc = CIS_EABI; break;
  }
  /* A guest sees a dead KV or filesystem backend only as an error code
   * (or EIO), and may then fail in its own words. */
  rc = backend_cause(rc, &kvc, wasi, res);
  if (rc == CIS_OK && !direct) rc = validate_json(out, out_len, "output", res);
  /* Files first, then KV: a file commit that fails (another call's
   * conflicting write) still drops the KV writes (docs/dbfs.md, "One
   * unit"). */
  for (size_t i = 0; rc == CIS_OK && m && fss && i < m->n_mounts && i < nfss; i++)
    if (fss[i] && (rc = cis_vfs_scope_end(fss[i], true)) != CIS_OK)
      snprintf(res->error, sizeof res->error, "permissions.fs.mounts[%zu]: %s", i, cis_vfs_errmsg(fss[i]));
  if (rc == CIS_OK && txn) {
    rc = cis_kv_commit(txn);
    txn = NULL;
    if (rc != CIS_OK) snprintf(res->error, sizeof res->error, "kv commit: %s", cis_kv_errmsg(s->kv));
  }
  if (inst) res->stats.fuel_left = cis_instance_fuel_left(inst);

done:
  if (wasi && lc) log_stderr(wasi, lc, rc != CIS_OK);
  if (lc) log_quota_hits(&h, fss, nfss, m, opt);
  if (txn) cis_kv_rollback(txn); /* trap, timeout, cancel or error: nothing persists */
  if (kv_locked) pthread_mutex_unlock(&s->kv_call_lock);
  if (rc == CIS_OK) {
    res->output = out;
    res->output_len = out_len;
    out = NULL;
  }
  free(out);
  res->stats.kv_gets = h.stats.kv_gets;
  res->stats.kv_sets = h.stats.kv_sets;
  res->stats.kv_deletes = h.stats.kv_deletes;
  res->stats.ai_calls = h.stats.ai_calls;
  res->stats.ai_tokens = h.stats.ai_tokens;
  res->stats.http_calls = h.stats.http_calls;
  res->stats.log_lines = h.stats.log_lines;
  cis__host_ctx_release(&h);
  if (inst) res->stats.memory_peak = cis_instance_memory_peak(inst); /* a trap's too */
  cis_instance_free(inst);
  cis_imports_free(im);
  cis_memory_free(mem);
  cis_wasi_free(wasi);
  for (size_t i = 0; i < nfss; i++) cis_vfs_unmount(fss[i]);
  free(fss);
  free(envs);
  cis_http_policy_free(policy);
  cis_log_call_end(lc);
  cis_log_free(log);
  if (logbuf) {
    size_t n = cis_log_buffer_read(logbuf, NULL, 0);
    res->logs = malloc(n + 1);
    if (res->logs) {
      cis_log_buffer_read(logbuf, res->logs, n + 1);
      res->logs[n] = 0;
      res->logs_len = n;
    }
    cis_log_buffer_free(logbuf);
  }
  res->stats.wall_ns = cis__now_ns() - t0;
  if (rc != CIS_OK && !res->error[0]) snprintf(res->error, sizeof res->error, "%s", cis_strerror(rc));
  return res->status = rc;
}

cis_result cis_skills_invoke(cis_skills *s, const char *name, const char *input, size_t input_len,
                             const cis_invoke_options *opt, cis_invoke_result *res) {
  if (!res) return CIS_EINVAL;
  memset(res, 0, sizeof *res);
  if (!s || !name || !input) return res->status = CIS_EINVAL;
  cis__skill_entry *e;
  cis_result rc = cis__skill_lookup(s, name, &e);
  if (rc != CIS_OK) {
    snprintf(res->error, sizeof res->error, "%s", cis_skills_errmsg(s));
    return res->status = rc;
  }
  const cis_manifest *m = e->m;
  rc = invoke(s, m, e->dir, &e->g, e->mod, m->name, m->kv_namespace ? m->kv_namespace : m->name, input, input_len, opt,
              res);
  cis__skill_entry_release(e);
  return res->status = rc;
}

cis_result cis_skills_invoke_wasm(cis_skills *s, const uint8_t *wasm, size_t wasm_len, const char *input,
                                  size_t input_len, const cis_invoke_options *opt, cis_invoke_result *res) {
  if (!res) return CIS_EINVAL;
  memset(res, 0, sizeof *res);
  if (!s || !wasm || !input) return res->status = CIS_EINVAL;
  /* A component (the component model's binary: version 0x0d, layer 1)
   * decodes as an unknown version; say what it is and what to build. */
  static const uint8_t component[8] = {0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00};
  if (wasm_len >= 8 && !memcmp(wasm, component, 8)) {
    snprintf(res->error, sizeof res->error,
             "this is a WebAssembly component (WASI preview 2), and cis runs only core modules with WASI "
             "preview 1: build for wasm32-wasip1 or wasm32-unknown-unknown (docs/sdk.md)");
    return res->status = CIS_EVERSION;
  }
  char sha[65];
  cis_result rc = cis_sha256_hex(wasm, wasm_len, sha);
  if (rc != CIS_OK) {
    snprintf(res->error, sizeof res->error, "cannot hash the module: %s", cis_strerror(rc));
    return res->status = rc;
  }
  cis_module *mod;
  rc = cis__module_cached(s, sha, wasm, wasm_len, &mod);
  if (rc != CIS_OK) {
    snprintf(res->error, sizeof res->error, "%s", cis_skills_errmsg(s));
    return res->status = rc;
  }
  /* Without a manifest the module's hash names it and its KV namespace. */
  char name[24];
  snprintf(name, sizeof name, "wasm-%.12s", sha);
  rc = invoke(s, NULL, NULL, NULL, mod, name, name, input, input_len, opt, res);
  cis_module_free(mod);
  return rc;
}

void cis_invoke_result_free(cis_invoke_result *res) {
  if (!res) return;
  free(res->output);
  free(res->logs);
  free(res->results);
  res->output = res->logs = NULL;
  res->results = NULL;
  res->nresults = 0;
}
