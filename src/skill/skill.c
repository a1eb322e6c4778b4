/*
 * This file implements the skill host (cis_skills: open, close, limits)
 * and the install-time checks of a module against its manifest (entry,
 * imports), and the public calls cis_skills_invoke and
 * cis_skills_invoke_wasm, which look the module up and hand the call to
 * the four stages of stage.c (grant, link, run, collect). Between them
 * they are the only place that decides what a skill may do.
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
#include "db/db.h"
#include "host/host.h"
#include "skill/registry_internal.h"
#include "skill/skill_internal.h"
#include "skill/stage.h"

/* A registry is shared between threads: its message is kept per thread
 * and per registry (s NULL: none). */
cis_result cis__skills_fail(cis_skills *s, cis_result code, const char *fmt, ...) {
  if (!s) return code;
  va_list ap;
  va_start(ap, fmt);
  cis__vfail(&s->h, code, fmt, ap);
  va_end(ap);
  return code;
}

const char *cis_skills_errmsg(const cis_skills *s) { return s ? cis_errmsg(&s->h) : ""; }

bool cis_tenant_name_valid(const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > CIS_TENANT_NAME_MAX || !strcmp(name, ".") || !strcmp(name, "..")) return false;
  return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* Opens the host's own KV service once, for the first call (or purge)
 * that needs it; later ones reuse it. On failure the message names the
 * backend's scheme only: a connection string may hold a password. */
cis_result cis__skills_kv_ready(cis_skills *s, char *why, size_t whycap) {
  pthread_mutex_lock(&s->kv_lock);
  cis_result rc = CIS_OK;
  if (!s->kv) {
    cis_kv_config kc;
    cis_kv_config_default(&kc);
    kc.spec = s->kv_spec;
    kc.limits.tenant_max_keys = s->max_kv_keys;
    kc.limits.tenant_max_bytes = s->max_kv_bytes;
    if ((rc = cis_kv_open(&kc, &s->kv)) == CIS_OK) s->own_kv = true;
    else {
      snprintf(why, whycap, "kv %.*s: %s", (int)strcspn(s->kv_spec, ":"), s->kv_spec, cis_kv_errmsg(s->kv));
      cis_kv_close(s->kv);
      s->kv = NULL;
    }
  }
  pthread_mutex_unlock(&s->kv_lock);
  return rc;
}

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

static void skills_release(cis_skills *s);

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
  if (rc != CIS_OK) {
    if (cfg.provider.destroy) cfg.provider.destroy(cfg.provider.state);
    cis_ai_free(*out); /* a failed one: it never took the provider */
    *out = NULL;
  }
  return rc;
}

cis_result cis_skills_open(const cis_skills_config *cfg, cis_skills **out) {
  cis_skills_config def;
  if (!cfg) {
    cis_skills_config_default(&def);
    cfg = &def;
  }
  if (!out) return CIS_EINVAL;
  cis_skills *s = *out = calloc(1, sizeof *s);
  if (!s) return CIS_ENOMEM;
  cis__handle_init(&s->h, CIS__H_SHARED);
  pthread_mutex_init(&s->cache_lock, NULL);
  pthread_mutex_init(&s->write_lock, NULL);
  pthread_mutex_init(&s->kv_lock, NULL);
  pthread_mutex_init(&s->kv_call_lock, NULL);
  pthread_mutex_init(&s->names_lock, NULL);
  for (unsigned k = 0; k < CIS__SKILL_STRIPES; k++) pthread_mutex_init(&s->stripes[k].lock, NULL);
  cis_result rc;
  if (cfg->home && *cfg->home) snprintf(s->home, sizeof s->home, "%s", cfg->home);
  else if (getenv("CIS_HOME") && *getenv("CIS_HOME")) snprintf(s->home, sizeof s->home, "%s", getenv("CIS_HOME"));
  else if (getenv("HOME")) snprintf(s->home, sizeof s->home, "%s/.local/share/cis", getenv("HOME"));
  else {
    rc = cis__skills_fail(s, CIS_EINVAL, "no CIS_HOME and no HOME");
    goto fail;
  }
  /* The registry's partition. */
  s->tenant_fixed = cfg->tenant != NULL;
  s->require_signature = cfg->require_signature;
  {
    const char *t = cfg->tenant ? cfg->tenant : "default";
    if (!cis_tenant_name_valid(t)) {
      rc = cis__skills_fail(s, CIS_EINVAL, "tenant: " CIS__TENANT_RULE);
      goto fail;
    }
    snprintf(s->tenant, sizeof s->tenant, "%s", t);
  }
  cis_limits_default(&s->limits);
  if (cfg->limits.timeout_ms || cfg->limits.max_memory_bytes) s->limits = cfg->limits;
  s->ceiling = cfg->max_limits;
  if (!s->ceiling.timeout_ms) s->ceiling.timeout_ms = CIS_SKILL_CEILING_TIMEOUT_MS;
  if (!s->ceiling.max_memory_bytes) s->ceiling.max_memory_bytes = CIS_SKILL_CEILING_MEMORY;
  if (!s->ceiling.max_call_depth) s->ceiling.max_call_depth = CIS_SKILL_CEILING_CALL_DEPTH;
  s->max_skills = cfg->max_skills;
  s->max_module_bytes = cfg->max_module_bytes;
  s->max_kv_keys = cfg->max_kv_keys;
  s->max_kv_bytes = cfg->max_kv_bytes;
  s->max_fs_bytes = cfg->max_fs_bytes;
  s->max_fs_files = cfg->max_fs_files;
  s->max_input = cfg->max_input ? cfg->max_input : CIS_SKILL_DEFAULT_MAX_JSON;
  s->max_output = cfg->max_output ? cfg->max_output : CIS_SKILL_DEFAULT_MAX_JSON;
  s->log_format = cfg->log_format;
  if (cfg->log_sink) s->sink = *cfg->log_sink;
  else cis_log_sink_stderr(&s->sink);
  cis_engine_config ec;
  cis_engine_config_default(&ec);
  ec.limits = s->limits;
  if (cfg->engine) ec.engine = cfg->engine;
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
    cis__db_spec db;
    s->kv_serial =
        cis__db_spec_parse(spec, CIS__DB_NO_DEFAULT, &db, NULL, 0) == CIS_OK && db.dialect == CIS__DB_SQLITE;
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
    cis__skills_fail(s, rc, "http client: %s", s->http ? cis_errmsg(s->http) : cis_strerror(rc));
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
  return CIS_OK;
fail:
  skills_release(s);
  return cis__handle_failed(&s->h, rc);
}

void cis_skills_close(cis_skills *s) {
  if (!s) return;
  if (!s->h.failed) skills_release(s); /* a failed one is a shell */
  free(s);
}

/* Frees what s holds, all but s itself. */
static void skills_release(cis_skills *s) {
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
  pthread_mutex_destroy(&s->write_lock);
  pthread_mutex_destroy(&s->kv_lock);
  pthread_mutex_destroy(&s->kv_call_lock);
  pthread_mutex_destroy(&s->names_lock);
  for (unsigned k = 0; k < CIS__SKILL_STRIPES; k++) pthread_mutex_destroy(&s->stripes[k].lock);
  free(s->kv_spec);
  free(s->vfs_db_spec);
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

cis_skill_abi cis__detect_abi(cis_module *m) {
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
void cis__sig_text(uint32_t np, const cis_valtype *pt, uint32_t nr, const cis_valtype *rt, char *out, size_t cap) {
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
  cis_skill_abi abi = m->abi == CIS_ABI_AUTO ? cis__detect_abi(mod) : m->abi;
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
    cis__sig_text(d.nparams, d.params, d.nresults, d.results, actual, sizeof actual);
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

bool cis__imports_module(cis_module *m, const char *mod) {
  uint32_t n = cis_module_import_count(m);
  for (uint32_t i = 0; i < n; i++) {
    cis_extern_desc d;
    if (cis_module_import(m, i, &d) == CIS_OK && d.module_len == strlen(mod) &&
        !memcmp(d.module, mod, d.module_len))
      return true;
  }
  return false;
}

bool cis__imports_memory(cis_module *m) {
  uint32_t n = cis_module_import_count(m);
  for (uint32_t i = 0; i < n; i++) {
    cis_extern_desc d;
    if (cis_module_import(m, i, &d) == CIS_OK && d.kind == CIS_EXTERN_MEMORY) return true;
  }
  return false;
}

/* A module that imports env.memory (seed 001) gets one sized by the limit. */
cis_result cis__provide_memory(cis_skills *s, cis_module *m, uint64_t cap_bytes, cis_imports *im,
                               cis_memory **mem, cis__callctx *x) {
  uint32_t n = cis_module_import_count(m);
  for (uint32_t i = 0; i < n; i++) {
    cis_extern_desc d;
    if (cis_module_import(m, i, &d) != CIS_OK || d.kind != CIS_EXTERN_MEMORY) continue;
    uint64_t cap_pages = cap_bytes / 65536;
    uint64_t max = d.has_max && d.max < cap_pages ? d.max : cap_pages;
    if (d.min > max) {
      return cis__callctx_fail(x, CIS_EMEMLIMIT, "imported memory needs %" PRIu64 " pages, the limit allows %" PRIu64,
                               d.min, max);
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
  cis__callctx tmp;
  cis__callctx_init(&tmp, UINT64_MAX, NULL);
  /* The same import set a call gets (see invoke), less the mounts. */
  cis_result rc = cis_imports_new(s->engine, &im);
  if (rc == CIS_OK) rc = cis__host_add_imports(im, CIS__ABI_MOD_ALL);
  if (rc == CIS_OK) rc = cis__provide_memory(s, mod, lim.max_memory_bytes, im, &mem, &tmp);
  if (rc == CIS_OK && cis__imports_module(mod, "wasi_snapshot_preview1")) {
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
    snprintf(err, errcap, "imports: %s", *tmp.msg ? tmp.msg : cis_strerror(rc));
  }
  cis_imports_free(im);
  if (wasi) cis_wasi_free(wasi);
  if (mem) cis_memory_free(mem);
  return rc;
}


static uint64_t capped(uint64_t asked, uint64_t ceiling) {
  return ceiling && asked > ceiling ? ceiling : asked;
}

uint64_t cis__call_timeout_ms(const cis_skills *s, const cis_manifest *m, const cis_invoke_options *opt) {
  if (opt && opt->timeout_ms) return opt->timeout_ms;
  cis_limits l;
  cis__skill_limits(s, m, &l);
  return l.timeout_ms;
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


/* The checks of both invoke calls' arguments, in the call's load stage:
 * CIS_EINVAL (given false: a NULL argument), CIS_ESTATE (a handle that
 * did not open), the message in c's context. */
static cis_result load_args(cis__call *c, cis_skills *s, bool given) {
  if (!s || !given) return cis__callctx_fail(&c->ctx, CIS_EINVAL, "the handle, the skill and the input are required");
  if (s->h.failed) return cis__callctx_fail(&c->ctx, CIS_ESTATE, "the handle did not open: %s", cis_skills_errmsg(s));
  return CIS_OK;
}

cis_result cis_skills_invoke(cis_skills *s, const char *name, const char *input, size_t input_len,
                             const cis_invoke_options *opt, cis_invoke_result *res) {
  if (!res) return CIS_EINVAL;
  memset(res, 0, sizeof *res);
  cis__call c;
  cis__call_init(&c, s, input, input_len, opt, res); /* its time runs from here: its lookup and load count */
  cis__skill_entry *e = NULL;
  cis_result rc = load_args(&c, s, name && input);
  /* The lookup's waits on the registry end on the call's cancel too. */
  if (rc == CIS_OK) cis__registry_serve(s, &c.ctx);
  if (rc == CIS_OK && (rc = cis__skill_lookup_call(s, name, opt, c.t0, &e)) != CIS_OK)
    cis__callctx_fail(&c.ctx, rc, "%s", cis_skills_errmsg(s));
  if (s && !s->h.failed) cis__registry_serve(s, NULL);
  if (rc != CIS_OK) return cis__call_collect(&c, rc);
  const cis_manifest *m = e->m;
  cis__call_target(&c, m, e->dir, &e->g, e->mod, m->name, m->kv_namespace ? m->kv_namespace : m->name);
  rc = cis__invoke(&c);
  cis__skill_entry_release(e);
  return rc;
}

cis_result cis_skills_invoke_wasm(cis_skills *s, const uint8_t *wasm, size_t wasm_len, const char *input,
                                  size_t input_len, const cis_invoke_options *opt, cis_invoke_result *res) {
  if (!res) return CIS_EINVAL;
  memset(res, 0, sizeof *res);
  cis__call c;
  cis__call_init(&c, s, input, input_len, opt, res);
  char sha[65];
  cis_module *mod = NULL;
  cis_result rc = load_args(&c, s, wasm && input);
  if (rc == CIS_OK && (rc = cis_sha256_hex(wasm, wasm_len, sha)) != CIS_OK)
    cis__callctx_fail(&c.ctx, rc, "cannot hash the module: %s", cis_strerror(rc));
  uint64_t ms = rc == CIS_OK ? cis__call_timeout_ms(s, NULL, opt) : 0;
  if (rc == CIS_OK && (rc = cis__module_cached(s, sha, wasm, wasm_len, ms ? cis__deadline_from(c.t0, ms) : 0,
                                               &mod)) != CIS_OK)
    cis__callctx_fail(&c.ctx, rc, "%s", cis_skills_errmsg(s));
  if (rc != CIS_OK) return cis__call_collect(&c, rc);
  /* Without a manifest the module's hash names it and its KV namespace. */
  char name[24];
  snprintf(name, sizeof name, "wasm-%.12s", sha);
  cis__call_target(&c, NULL, NULL, NULL, mod, name, name);
  rc = cis__invoke(&c);
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
