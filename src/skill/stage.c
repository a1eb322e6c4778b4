/*
 * This file implements the stages of one invocation (stage.h): grant →
 * link → run → collect, and cis__invoke, which runs them in order for
 * cis_skills_invoke and cis_skills_invoke_wasm. Grant validates the JSON
 * input and decides what the call may reach (limits within the host's
 * ceiling, the entry ABI, the tenant, AI, HTTP rules, settings, log); link
 * begins the KV transaction, links the imports, WASI and mounts and makes
 * the instance; run calls the entry under the instance's deadline and
 * fuel; collect validates the output, commits the call's file and KV
 * changes only when it succeeded, and fills the result. The glue the
 * stages hand to the host functions (KV transaction, log tee, settings)
 * lives here too.
 */
#include <stdarg.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/internal.h"
#include "common/json.h"
#include "db/db_txn.h"
#include "kv/kv_call.h"
#include "skill/stage.h"
#include "vfs/vfs_call.h"

/* The host's KV service for a call (cis__skills_kv_ready), the failure
 * the call's. */
static cis_result kv_ready(cis_skills *s, cis__callctx *x) {
  char why[512];
  cis_result rc = cis__skills_kv_ready(s, why, sizeof why);
  if (rc != CIS_OK) cis__callctx_fail(x, rc, "%s", why);
  return rc;
}

/* ------------------------------------------------------------ logging */


static void tee_write(void *u, const cis_log_record *rec, const char *line, size_t len) {
  cis__tee_sink *t = u;
  t->capture.write(t->capture.user, rec, line, len);
  if (t->global && t->global->write) t->global->write(t->global->user, rec, line, len);
}

/* ------------------------------------------------------------ KV glue */


static cis_result kv_note(cis__kv_call *kc, cis_result rc) {
  if (rc == CIS_EKVDOWN && kc->down == CIS_OK) {
    kc->down = rc;
    snprintf(kc->msg, sizeof kc->msg, "%s", cis_kv_errmsg(kc->kv));
  }
  return rc;
}

static cis_result kv_get(void *call, const void *k, size_t kl, uint8_t **v, size_t *vl) {
  cis__kv_call *kc = call;
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
  cis__kv_call *kc = call;
  return kv_note(kc, cis_kv_set(kc->txn, k, kl, v, vl));
}
static cis_result kv_del(void *call, const void *k, size_t kl) {
  cis__kv_call *kc = call;
  return kv_note(kc, cis_kv_delete(kc->txn, k, kl));
}
static cis_result kv_incr(void *call, const void *k, size_t kl, int64_t delta, int64_t *out) {
  cis__kv_call *kc = call;
  return kv_note(kc, cis_kv_increment(kc->txn, k, kl, delta, out));
}
static cis_result kv_cas(void *call, const void *k, size_t kl, const void *e, size_t el,
                         const void *v, size_t vl, bool *swapped) {
  cis__kv_call *kc = call;
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
 * host gets the typed cause, and the call's error says what the backend said and
 * what the guest did. So does a call cancelled while a host function
 * waited (the guest saw the cut-short KV wait or file step only as an
 * error code). A deadline that cut the backend's work short stays what it
 * is; AI and HTTP failures are the guest's to handle and are not
 * overridden. */
static cis_result backend_cause(cis_result rc, const cis__kv_call *kc, cis_wasi *wasi, cis__callctx *x) {
  if (rc == CIS_OK || rc == CIS_ETIMEOUT || rc == CIS_ECANCELED) return rc;
  char guest[sizeof x->msg];
  snprintf(guest, sizeof guest, "%s", x->msg[0] ? x->msg : cis_strerror(rc));
  const char *msg = "";
  cis_result cause = CIS_OK;
  if (cis__callctx_cancelled(x)) {
    cause = CIS_ECANCELED;
    msg = "call cancelled";
  } else if (kc->down != CIS_OK) {
    cause = kc->down;
    msg = kc->msg;
  } else if (wasi && cis_wasi_last_vfs_error(wasi, &msg) == CIS_EVFSDOWN) {
    cause = CIS_EVFSDOWN;
  }
  if (cause == CIS_OK) return rc;
  /* The backend's words first: a long guest message is what gets cut. */
  cis__callctx_fail(x, cause, "%s", msg);
  append(x->msg, sizeof x->msg, "; then the skill failed: ");
  append(x->msg, sizeof x->msg, guest);
  return cause;
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

/* Calls export name; the call's error says why it failed. */
static cis_result call_export(cis_instance *inst, const char *name, const cis_val *args, size_t nargs,
                              cis_val *results, size_t nres, cis__callctx *x) {
  cis_func *f = cis_instance_func(inst, name);
  if (!f) {
    cis__callctx_fail(x, CIS_EABI, "the module exports no function %s", name);
    return CIS_EABI;
  }
  uint32_t np, nr;
  const cis_valtype *pt, *rt;
  cis_func_type(f, &np, &pt, &nr, &rt);
  if (np != nargs || nr != nres) {
    char actual[160], expected[160];
    cis_valtype want[2] = {CIS_I32, CIS_I32};
    cis__sig_text(np, pt, nr, rt, actual, sizeof actual);
    cis__sig_text((uint32_t)nargs, want, (uint32_t)nres, want, expected, sizeof expected);
    cis__callctx_fail(x, CIS_EABI, "%s is %s; the ABI calls it as %s", name, actual, expected);
    return CIS_EABI;
  }
  cis_result rc = cis_func_call(inst, f, args, nargs, results, nres);
  /* The error's name travels in res->status: the text alone goes here,
   * or callers that print "NAME: error" would say the name twice. */
  if (rc != CIS_OK) cis__callctx_fail(x, rc, "%s", cis_errmsg(inst));
  return rc;
}

static cis_result run_seed001(cis_instance *inst, cis__host_ctx *h, size_t cap, char **out, size_t *len,
                              cis__callctx *x) {
  cis_val a = {.type = CIS_I32, .of.i32 = (int32_t)(h->input_len + 1)}, p;
  cis_result rc = call_export(inst, "alloc", &a, 1, &p, 1, x);
  if (rc != CIS_OK) return rc;
  uint32_t in = p.of.u32;
  uint8_t *dst = cis_instance_mem(inst, in, h->input_len + 1);
  if (!in || !dst) {
    cis__callctx_fail(x, CIS_EABI, "alloc returned an unusable pointer 0x%x", in);
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
  rc = call_export(inst, "execute", &arg, 1, &r, 1, x);
  if (rc != CIS_OK) return rc;
  if (rt[0] == CIS_I64) rc = read_packed(inst, r.of.u64, cap, out, len);
  else rc = read_cstr(inst, r.of.u32, cap, out, len);
  if (rc != CIS_OK) {
    cis__callctx_fail(x, rc, "execute returned an output pointer that is not a %s within %zu bytes",
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
static cis_result call_direct(cis_instance *inst, const cis_invoke_options *opt, cis_invoke_result *res,
                              cis__callctx *x) {
  cis_func *f = cis_instance_func(inst, opt->export_name);
  if (!f) {
    cis__callctx_fail(x, CIS_ENOTFOUND, "the module exports no function %.200s", opt->export_name);
    return CIS_ENOTFOUND;
  }
  uint32_t np, nr;
  const cis_valtype *pt, *rt;
  cis_func_type(f, &np, &pt, &nr, &rt);
  bool typed = np == opt->nargs;
  for (uint32_t i = 0; typed && i < np; i++) typed = opt->args[i].type == pt[i];
  if (!typed) {
    char sig[160];
    cis__sig_text(np, pt, nr, rt, sig, sizeof sig);
    cis__callctx_fail(x, CIS_EINVAL, "%.200s is %s: %zu argument%s given%s", opt->export_name, sig, opt->nargs,
             opt->nargs == 1 ? "" : "s", np == opt->nargs ? " of other types" : "");
    return CIS_EINVAL;
  }
  if (!(res->results = calloc(nr ? nr : 1, sizeof *res->results))) return CIS_ENOMEM;
  cis_result rc = cis_func_call(inst, f, opt->args, np, res->results, nr);
  if (rc == CIS_EEXIT) res->exit_code = cis_instance_exit_code(inst);
  if (rc == CIS_EEXIT && res->exit_code == 0) rc = CIS_OK; /* proc_exit(0): done, no results */
  else if (rc == CIS_OK) res->nresults = nr;
  if (rc != CIS_OK) cis__callctx_fail(x, rc, "%s", cis_errmsg(inst));
  if (!res->nresults) {
    free(res->results);
    res->results = NULL;
  }
  return rc;
}

/* --------------------------------------------------------------- invoke */

/* The input and output of a call are held to RFC 8259 (see
 * cis__json_parse_strict); what names which, e.g. "input". */
static cis_result validate_json(const char *text, size_t len, const char *what, cis__callctx *x) {
  char why[sizeof x->msg];
  cis_result rc = cis__json_parse_strict(text, len, false, NULL, why, sizeof why);
  if (rc != CIS_OK) cis__callctx_fail(x, rc, "%s: %s", what, why);
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

/* Narrows o's quota (the manifest's, per mount) to what the tenant's file
 * limits leave this tree: the limit less what the tenant's other trees
 * hold (read now, on b's connection). *bound says whether the tenant's
 * limit is now the tighter, for the log line of a refusal. A fast early
 * refusal only: calls of the tenant's skills that run at once each see
 * the others' trees as of their start, and the exact check is the
 * commit's (cis_vfs_db_config.group, set by mount_fs). */
static cis_result tenant_fs_share(cis_skills *s, cis_vfs_backend *b, const char *tenant, cis_vfs_options *o,
                                  bool *bound) {
  char prefix[CIS_TENANT_NAME_MAX + 2];
  snprintf(prefix, sizeof prefix, "%s/", tenant);
  uint64_t all_bytes, all_nodes, own_bytes, own_nodes;
  cis_result rc = cis_vfs_db_group_usage(b, prefix, &all_bytes, &all_nodes);
  if (rc != CIS_OK) return rc;
  int e = b->methods->usage(b, &own_bytes, &own_nodes);
  if (e) return cis_vfs_result(e);
  const uint64_t lim[2] = {s->max_fs_bytes, s->max_fs_files}, all[2] = {all_bytes, all_nodes},
                 own[2] = {own_bytes, own_nodes};
  uint64_t *q[2] = {&o->max_bytes, &o->max_files};
  *bound = false;
  for (int k = 0; k < 2; k++) {
    uint64_t mine = *q[k] ? *q[k] : UINT64_MAX; /* with zero_means_full, 0 is none left */
    if (lim[k]) {
      uint64_t others = all[k] > own[k] ? all[k] - own[k] : 0;
      uint64_t share = lim[k] > others ? lim[k] - others : 0;
      if (share < mine) {
        mine = share;
        *bound = true;
      }
    }
    *q[k] = mine;
  }
  o->zero_means_full = true;
  return CIS_OK;
}

/* Mounts the manifest's filesystem mounts and preopens each at its guest
 * path. A "mem" mount is scratch space of this call only; a "host" mount
 * is its source folder (relative to the folder the skill was installed
 * from, dir, and inside it unless granted, g); a "db" mount is the
 * skill's own tree of the tenant's layered filesystem in the host's
 * database, or a volume the operator granted it. fss (m->n_mounts slots) receives the mounts, which the
 * caller unmounts after freeing w. */
/* Mounts b into *fs; on failure the call's error is what (a format with
 * one argument) and the mount's message, and *fs is NULL. */
static cis_result mount_or_say(cis_vfs_backend *b, const cis_vfs_options *o, cis_vfs **fs, cis__callctx *x,
                               const char *what, ...) __attribute__((format(printf, 5, 6)));
static cis_result mount_or_say(cis_vfs_backend *b, const cis_vfs_options *o, cis_vfs **fs, cis__callctx *x,
                               const char *what, ...) {
  cis_result rc = cis_vfs_mount(b, o, fs);
  if (rc == CIS_OK) return rc;
  char head[256];
  va_list ap;
  va_start(ap, what);
  vsnprintf(head, sizeof head, what, ap);
  va_end(ap);
  cis__callctx_fail(x, rc, "%s: %s", head, *fs ? cis_vfs_errmsg(*fs) : cis_strerror(rc));
  cis_vfs_unmount(*fs);
  *fs = NULL;
  return rc;
}

static cis_result mount_fs(cis_skills *s, const cis_manifest *m, const char *dir, const cis__grants *g,
                           const char *tenant, uint64_t deadline_ns, uint64_t mem_cap, cis_wasi *w,
                           cis_vfs **fss, bool *bound, cis__callctx *x) {
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
        /* Not why: it names host folders, which a server's clients must
         * not learn (cis skill show NAME gives the source to the operator). */
        cis__callctx_fail(x, rc,
                 "permissions.fs.mounts[%zu].source (%.200s): the host folder is missing, not a folder, or outside "
                 "the skill's folder and its grants",
                 i, mt->guest);
        return rc;
      }
      rc = cis_vfs_host_new(path, &b);
    } else {
      /* The skill's own tree of the tenant, or a volume it was granted. */
      char key[256];
      if (cis__vfs_tree_key(tenant, m->name, mt->volume, key, sizeof key) != CIS_OK) {
        cis__callctx_fail(x, CIS_EINVAL, "permissions.fs.mounts[%zu]: the tenant's name is too long for a db mount", i);
        return CIS_EINVAL;
      }
      cis_vfs_db_config dc;
      cis_vfs_db_config_default(&dc);
      dc.spec = s->vfs_db_spec;
      dc.tenant = key;
      /* The tenant's trees share its file limits: each commit that grows
       * this one checks their total under the tenant's lock. */
      char group[CIS_TENANT_NAME_MAX + 2];
      snprintf(group, sizeof group, "%s/", tenant);
      dc.group = group;
      dc.group_max_bytes = s->max_fs_bytes;
      dc.group_max_nodes = s->max_fs_files;
      /* Opening the tenant's tree is part of the call: its deadline bounds
       * it (a database locked by another writer, a server not answering). */
      uint64_t left = cis__ms_left(deadline_ns);
      if (left < 30000) dc.op_timeout_ms = left ? left : 1;
      rc = cis_vfs_db_new(&dc, &b);
      if (rc == CIS_EVFSDOWN && cis__ms_left(deadline_ns) == 0) rc = CIS_ETIMEOUT;
    }
    if (rc != CIS_OK) {
      cis__callctx_fail(x, rc, "permissions.fs.mounts[%zu] (%s): %s", i, mt->type,
               b ? b->errmsg : cis_strerror(rc));
      if (b) b->methods->destroy(b);
      return rc;
    }
    cis_vfs_options o = {.read_only = mt->read_only, .max_bytes = mt->max_bytes, .max_files = mt->max_files};
    if (!strcmp(mt->type, "db") && (s->max_fs_bytes || s->max_fs_files) &&
        (rc = tenant_fs_share(s, b, tenant, &o, &bound[i])) != CIS_OK) {
      cis__callctx_fail(x, rc, "permissions.fs.mounts[%zu]: the tenant's file usage: %s", i, b->errmsg);
      b->methods->destroy(b);
      return rc;
    }
    /* A memory mount's files are host memory the guest makes us allocate:
     * never more than the skill's memory limit, quota or not. */
    if (!strcmp(mt->type, "mem") && mem_cap && (!o.max_bytes || o.max_bytes > mem_cap)) o.max_bytes = mem_cap;
    if ((rc = mount_or_say(b, &o, &fss[i], x, "permissions.fs.mounts[%zu]", i)) != CIS_OK) return rc;
    /* The call's changes on a db mount are one unit with its KV writes:
     * committed when the call succeeds, dropped otherwise (docs/dbfs.md). */
    if ((rc = cis_vfs_scope_begin(fss[i])) != CIS_OK) {
      cis__callctx_fail(x, rc, "permissions.fs.mounts[%zu]: %s", i, cis_vfs_errmsg(fss[i]));
      return rc;
    }
    if ((rc = cis_wasi_preopen(w, fss[i], mt->guest)) != CIS_OK) {
      const char *msg = "";
      cis_wasi_last_vfs_error(w, &msg);
      cis__callctx_fail(x, rc, "permissions.fs.mounts[%zu]: %s", i, *msg ? msg : cis_strerror(rc));
      return rc;
    }
  }
  return CIS_OK;
}


static cis_result settings_get(void *user, const char *key, size_t klen, char **val, size_t *vlen) {
  cis__call_settings *cs = user;
  for (size_t i = cs->opt ? cs->opt->nconfig : 0; i-- > 0;) {
    const char *kv = cs->opt->config[i];
    const char *eq = strchr(kv, '=');
    if (!eq || (size_t)(eq - kv) != klen || memcmp(kv, key, klen)) continue;
    *vlen = strlen(eq + 1);
    return (*val = strdup(eq + 1)) ? CIS_OK : CIS_ENOMEM;
  }
  if (!cs->skill || memchr(key, 0, klen)) return CIS_ENOTFOUND;
  return cis__setting_get(cs->s, cs->call, cs->skill, key, klen, val, vlen);
}

/* The call's own additions (config, env, mounts) are well formed. */
static cis_result check_call_options(const cis_invoke_options *opt, cis__callctx *x) {
  for (size_t i = 0; opt && i < opt->nconfig; i++) {
    const char *eq = opt->config[i] ? strchr(opt->config[i], '=') : NULL;
    if (!eq || eq == opt->config[i]) {
      cis__callctx_fail(x, CIS_EINVAL, "config: \"%.100s\" is not KEY=VALUE",
               opt->config[i] ? opt->config[i] : "(null)");
      return CIS_EINVAL;
    }
  }
  for (size_t i = 0; opt && i < opt->nenv; i++) {
    const char *eq = opt->env[i] ? strchr(opt->env[i], '=') : NULL;
    if (!eq || eq == opt->env[i]) {
      cis__callctx_fail(x, CIS_EINVAL, "env: \"%.100s\" is not NAME=VALUE", opt->env[i] ? opt->env[i] : "(null)");
      return CIS_EINVAL;
    }
  }
  for (size_t i = 0; opt && i < opt->nmounts; i++)
    if (!opt->mounts[i].host || !*opt->mounts[i].host) {
      cis__callctx_fail(x, CIS_EINVAL, "mounts[%zu]: no host folder", i);
      return CIS_EINVAL;
    }
  return CIS_OK;
}

/* Mounts the call's own host folders (cis_invoke_options.mounts) into
 * fss[0..opt->nmounts) and preopens them after the manifest's. */
static cis_result mount_call_dirs(const cis_invoke_options *opt, cis_wasi *w, cis_vfs **fss, cis__callctx *x) {
  for (size_t i = 0; i < opt->nmounts; i++) {
    const cis_invoke_mount *mt = &opt->mounts[i];
    const char *guest = mt->guest && *mt->guest ? mt->guest : mt->host;
    cis_vfs_backend *b = NULL;
    cis_vfs_host_new(mt->host, &b); /* a failure is the mount's: a failed backend passes it on */
    cis_vfs_options o = {.read_only = mt->read_only};
    cis_result rc = mount_or_say(b, &o, &fss[i], x, "--dir %.200s", mt->host);
    if (rc != CIS_OK) return rc;
    if ((rc = cis_wasi_preopen(w, fss[i], guest)) != CIS_OK) {
      const char *msg = "";
      cis_wasi_last_vfs_error(w, &msg);
      cis__callctx_fail(x, rc, "--dir %.200s: %s", mt->host, *msg ? msg : cis_strerror(rc));
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
static void log_quota_hits(cis__host_ctx *h, cis_vfs **fss, const bool *bound, size_t nfss,
                           const cis_manifest *m, const cis_invoke_options *opt) {
  size_t nown = m ? m->n_mounts : 0;
  for (size_t i = 0; i < nfss; i++) {
    char first[256];
    uint64_t n = cis_vfs_quota_refusals(fss[i], first, sizeof first);
    if (!n) continue;
    const cis_invoke_mount *cm = i >= nown && opt ? &opt->mounts[i - nown] : NULL;
    const char *guest = i < nown ? m->mounts[i].guest : cm && cm->guest && *cm->guest ? cm->guest : cm ? cm->host : "?";
    cis__host_note(h, CIS_LOG_WARN, "fs quota: mount %.200s: %llu change%s refused (EDQUOT); the first: %s%s", guest,
                   (unsigned long long)n, n == 1 ? "" : "s", first,
                   bound && bound[i] ? " (the limit is what the tenant's file limits left this tree: its skills' "
                                       "other trees hold the rest)"
                                     : "");
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
/* ------------------------------------------------------------ the stages */

void cis__call_init(cis__call *c, cis_skills *s, const char *input, size_t input_len, const cis_invoke_options *opt,
                    cis_invoke_result *res) {
  memset(c, 0, sizeof *c);
  c->t0 = cis__now_ns();
  c->s = s;
  c->input = input;
  c->input_len = input_len;
  c->opt = opt;
  c->res = res;
  c->kvc.down = CIS_OK;
  cis__callctx_init(&c->ctx, UINT64_MAX, NULL);
  c->ctx.cancel_ext = opt ? opt->cancel : NULL;
  c->ctx.stage = CIS_STAGE_LOAD;
  c->h.call = &c->ctx; /* the host functions count into the call's context */
}

void cis__call_target(cis__call *c, const cis_manifest *m, const char *dir, const cis__grants *g, cis_module *mod,
                      const char *skill_name, const char *kv_ns) {
  c->m = m;
  c->dir = dir;
  c->g = g;
  c->mod = mod;
  c->skill_name = skill_name;
  c->kv_ns = kv_ns;
}

/* The ABI the call enters by: the options', the manifest's, or the one the
 * module's exports name. */
static cis_result grant_abi(cis__call *c) {
  const cis_invoke_options *opt = c->opt;
  cis__callctx *x = &c->ctx;
  c->abi = c->m ? c->m->abi : CIS_ABI_AUTO;
  if (opt && opt->abi && strcmp(opt->abi, "auto")) {
    const char *names[] = {"auto", "cis_v1", "seed001", "seed000", "wasi"};
    c->abi = CIS_ABI_AUTO;
    for (int i = 1; i < 5; i++)
      if (!strcmp(opt->abi, names[i])) c->abi = (cis_skill_abi)i;
    if (c->abi == CIS_ABI_AUTO) {
      cis__callctx_fail(x, CIS_EINVAL, "unknown ABI %s", opt->abi);
      return CIS_EINVAL;
    }
  }
  c->direct = opt && opt->export_name; /* an export with values, not the entry */
  if (c->abi == CIS_ABI_AUTO) c->abi = cis__detect_abi(c->mod);
  if (c->abi == CIS_ABI_AUTO && !c->direct) {
    no_entry_message(c->mod, x->msg, sizeof x->msg);
    x->code = CIS_EABI;
    return CIS_EABI;
  }
  return CIS_OK;
}

/* The call's log exists whether or not the skill may write to it: the
 * host's own lines (denials, provider errors, quota hits) and a WASI
 * skill's stderr go there for the operator. */
static cis_result grant_log(cis__call *c) {
  cis_skills *s = c->s;
  cis_result rc;
  if ((rc = cis_log_buffer_new(0, &c->logbuf)) != CIS_OK) {
    cis_log_buffer_free(c->logbuf); /* a failed one */
    c->logbuf = NULL;
    return rc;
  }
  cis_log_config lcfg;
  cis_log_config_default(&lcfg);
  lcfg.format = s->log_format;
  lcfg.min_level = CIS_LOG_DEBUG;
  cis_log_sink_buffer(c->logbuf, &c->tee.capture);
  c->tee.global = &s->sink;
  lcfg.sink = (cis_log_sink){.version = CIS_LOG_SINK_VERSION, .user = &c->tee, .write = tee_write};
  if ((rc = cis_log_new(&lcfg, &c->log)) != CIS_OK) {
    cis_log_free(c->log); /* a failed one */
    c->log = NULL;
    return rc;
  }
  char call_id[40];
  if (c->opt && c->opt->call_id) snprintf(call_id, sizeof call_id, "%s", c->opt->call_id);
  /* Seconds, process and a per-process unique number: unique across the
   * processes of one host, also when they start in the same second. */
  else snprintf(call_id, sizeof call_id, "%llx-%x-%llx", (unsigned long long)time(NULL), (unsigned)own_pid(),
                (unsigned long long)cis__unique_id());
  if ((rc = cis_log_call_begin(c->log, &c->h.who, call_id, &c->lc)) != CIS_OK) return rc;
  c->h.log = c->lc;
  return CIS_OK;
}

/* Tells the caller that the call may wait now (cis_invoke_options.on_wait). */
static void call_may_wait(const cis__call *c) {
  if (c->opt && c->opt->on_wait) c->opt->on_wait(c->opt->on_wait_user, CIS_WAIT_STORE);
}

cis_result cis__call_grant(cis__call *c) {
  cis_skills *s = c->s;
  const cis_manifest *m = c->m;
  const cis_invoke_options *opt = c->opt;
  cis__callctx *x = &c->ctx;
  cis_result rc;
  if (c->input_len > s->max_input) {
    cis__callctx_fail(x, CIS_ETOOBIG, "input: %zu bytes, above the %zu-byte cap", c->input_len, s->max_input);
    return CIS_ETOOBIG;
  }
  if ((rc = validate_json(c->input, c->input_len, "input", x)) != CIS_OK) return rc;

  /* Limits: the manifest within the host's ceiling, then the options. */
  cis__skill_limits(s, m, &c->lim);
  c->lim.timeout_ms = cis__call_timeout_ms(s, m, opt);
  if (opt && opt->max_memory) c->lim.max_memory_bytes = opt->max_memory;

  if ((rc = grant_abi(c)) != CIS_OK) return rc;
  if ((rc = check_call_options(opt, x)) != CIS_OK) return rc;
  c->wants_kv = (m && m->kv) || (opt && opt->allow_kv);
  if (c->wants_kv) call_may_wait(c); /* the store's first open, then its lock and transaction */
  if (c->wants_kv && (rc = kv_ready(s, x)) != CIS_OK) return rc;

  /* A handle made for one tenant runs calls for that tenant alone; the
   * default handle's calls may name any (the operator's KV and files). */
  c->tenant = opt && opt->tenant && *opt->tenant ? opt->tenant : s->tenant;
  if (!cis_tenant_name_valid(c->tenant)) {
    cis__callctx_fail(x, CIS_EINVAL, "tenant: %s", CIS__TENANT_RULE);
    return CIS_EINVAL;
  }
  if (s->tenant_fixed && strcmp(c->tenant, s->tenant)) {
    cis__callctx_fail(x, CIS_EDENIED, "the handle is tenant %s's: a call may not run for another tenant",
             s->tenant);
    return CIS_EDENIED;
  }
  /* From here on collect has results to fill and resources to free. */
  c->opened = true;
  cis__host_ctx *h = &c->h;
  h->who.tenant = c->tenant;
  h->who.skill = c->skill_name;
  h->input = (const uint8_t *)c->input;
  h->input_len = c->input_len;
  h->max_output = s->max_output;
  h->max_result = s->max_output;
  c->budget_ms = c->lim.timeout_ms ? c->lim.timeout_ms : UINT64_MAX;
  c->deadline_ns = cis__deadline_from(c->t0, c->budget_ms); /* for the set-up's own waits */
  x->deadline_ns = c->deadline_ns;
  x->who = h->who;
  if (cis__ms_left(c->deadline_ns) == 0) {
    cis__callctx_fail(x, CIS_ETIMEOUT, "the call's %llu ms passed before it could start (its skill's load)",
             (unsigned long long)c->budget_ms);
    return CIS_ETIMEOUT;
  }
  if ((m && m->ai) || (opt && opt->allow_ai)) h->ai = s->ai;
  size_t nrules = (m ? m->n_http_allow : 0) + (opt ? opt->nallow_hosts : 0);
  if (nrules) {
    if ((rc = cis_http_policy_new(&c->policy)) != CIS_OK) return rc;
    for (size_t i = 0; m && i < m->n_http_allow; i++)
      if ((rc = cis_http_policy_add(c->policy, m->http_allow[i])) != CIS_OK) {
        cis__callctx_fail(x, rc, "permissions.http.allow[%zu]: %s", i, cis_errmsg(c->policy));
        return rc;
      }
    for (size_t i = 0; opt && i < opt->nallow_hosts; i++)
      if ((rc = cis_http_policy_add(c->policy, opt->allow_hosts[i])) != CIS_OK) {
        cis__callctx_fail(x, rc, "allow-host %s: %s", opt->allow_hosts[i], cis_errmsg(c->policy));
        return rc;
      }
    h->http = s->http;
    h->http_policy = c->policy;
  }
  c->cs = (cis__call_settings){s, m ? c->skill_name : NULL, opt, x};
  h->config_get = settings_get;
  h->config_user = &c->cs;
  h->guest_log = !m || m->log;
  return grant_log(c);
}

/* Begins the call's KV transaction in the granted namespace. */
static cis_result link_kv(cis__call *c) {
  cis_skills *s = c->s;
  cis__callctx *x = &c->ctx;
  /* SQLite lets one writer in at a time and makes the others poll with
   * growing sleeps: warm calls of a few microseconds on several threads
   * then starve some pollers past their deadline. This process's KV calls
   * on our SQLite store take turns on a mutex instead (woken in turn,
   * bounded by the call's deadline); other processes still meet SQLite's
   * own lock. */
  if (s->kv_serial) {
    struct timespec until;
    cis__timespec_after(CLOCK_REALTIME, cis__ms_left(c->deadline_ns), &until);
    if (pthread_mutex_timedlock(&s->kv_call_lock, &until) != 0) {
      cis__callctx_fail(x, CIS_ETIMEOUT, "kv: the store stayed busy until the deadline");
      return CIS_ETIMEOUT;
    }
    c->kv_locked = true;
  }
  /* The call's namespace is its KV one; every step of the transaction
   * (the commit too) runs under the call's deadline, from its start. */
  cis_principal ns = {c->tenant, c->kv_ns};
  /* The call's transaction: the KV store offers it its database, and the
   * db mounts on that database join it (docs/dbfs.md, "One unit"). */
  cis_result rc = cis__db_txn_new(&x->txn);
  if (rc != CIS_OK) return cis__callctx_fail(x, rc, "kv: out of memory");
  rc = cis__kv_begin_in(s->kv, &ns, &c->ctx, &c->txn);
  if (rc != CIS_OK) {
    cis__callctx_fail(x, rc, "kv: %s", cis_kv_errmsg(s->kv));
    return rc;
  }
  /* The manifest's quota holds per namespace, the tighter of it and the
   * store's own. */
  if (c->m) cis_kv_txn_set_quota(c->txn, c->m->kv_max_keys, c->m->kv_max_bytes);
  c->kvc.txn = c->txn;
  c->kvc.kv = s->kv;
  c->hkv = (cis__host_kv){&c->kvc, kv_get, kv_set, kv_del, kv_incr, kv_cas};
  c->h.kv = &c->hkv;
  return CIS_OK;
}

/* WASI for the call: argv = the skill's name, the manifest's environment
 * and the call's, stdin = the input, stdout and stderr captured; then the
 * manifest's mounts and the call's folders. */
static cis_result link_wasi(cis__call *c) {
  cis_skills *s = c->s;
  const cis_manifest *m = c->m;
  const cis_invoke_options *opt = c->opt;
  cis_result rc;
  cis_wasi_config wc;
  cis_wasi_config_default(&wc);
  wc.caps = CIS_WASI_CAP_CLOCK | CIS_WASI_CAP_RANDOM | CIS_WASI_CAP_ARGS | CIS_WASI_CAP_ENV;
  const char *argv0 = c->skill_name;
  wc.argc = 1;
  wc.argv = &argv0;
  wc.envc = m ? m->n_env : 0;
  wc.envp = m ? (const char *const *)m->env : NULL;
  if (opt && opt->nenv) {
    if (!(c->envs = malloc((wc.envc + opt->nenv) * sizeof *c->envs))) return CIS_ENOMEM;
    for (size_t i = 0; i < wc.envc; i++) c->envs[i] = m->env[i];
    for (size_t i = 0; i < opt->nenv; i++) c->envs[wc.envc + i] = opt->env[i];
    wc.envc += opt->nenv;
    wc.envp = c->envs;
  }
  wc.stdio[0] = CIS_WASI_STDIO_BUFFER;
  wc.stdio[1] = CIS_WASI_STDIO_BUFFER;
  wc.stdio[2] = CIS_WASI_STDIO_BUFFER;
  wc.stdin_data = (const uint8_t *)c->input;
  wc.stdin_len = c->input_len;
  wc.capture_cap = s->max_output;
  if ((rc = cis_wasi_new(&wc, &c->wasi)) != CIS_OK) return rc;
  size_t nown = m ? m->n_mounts : 0, ncall = opt ? opt->nmounts : 0;
  if (nown + ncall) {
    if (!(c->fss = calloc(nown + ncall, sizeof *c->fss)) ||
        !(c->fs_tenant_bound = calloc(nown + ncall, sizeof *c->fs_tenant_bound)))
      return CIS_ENOMEM;
    c->nfss = nown + ncall;
    if (nown && (rc = mount_fs(s, m, c->dir, c->g, c->tenant, c->deadline_ns, c->lim.max_memory_bytes, c->wasi,
                               c->fss, c->fs_tenant_bound, &c->ctx)) != CIS_OK)
      return rc;
    if (ncall && (rc = mount_call_dirs(opt, c->wasi, c->fss + nown, &c->ctx)) != CIS_OK) return rc;
    /* Bound to the call; a writable db mount on KV's database joins the
     * call's transaction: one COMMIT for both (docs/dbfs.md, "One unit"). */
    for (size_t i = 0; i < c->nfss; i++)
      if ((rc = cis__vfs_bind_call(c->fss[i], &c->ctx)) != CIS_OK)
        return cis__callctx_fail(&c->ctx, rc, "permissions.fs.mounts[%zu]: %s", i, cis_vfs_errmsg(c->fss[i]));
  }
  return cis_wasi_add_imports(c->wasi, c->im);
}

cis_result cis__call_link(cis__call *c) {
  cis_skills *s = c->s;
  cis_module *mod = c->mod;
  cis_result rc;
  /* A filesystem's mount (a database's connection, a host folder). */
  if ((c->m && c->m->n_mounts) || (c->opt && c->opt->nmounts)) call_may_wait(c);
  if (c->wants_kv && (rc = link_kv(c)) != CIS_OK) return rc;
  /* Imports: every host module (the host's shared set, built once; unused
   * ones cost nothing), and on top of it, in a set of this call's own,
   * WASI when the module wants it and env.memory when it imports one. */
  bool wants_wasi = c->abi == CIS_ABI_WASI || cis__imports_module(mod, "wasi_snapshot_preview1");
  c->link = s->host_imports;
  if (wants_wasi || cis__imports_memory(mod)) {
    if ((rc = cis_imports_new(s->engine, &c->im)) != CIS_OK) return rc;
    if ((rc = cis_imports_set_base(c->im, s->host_imports)) != CIS_OK) return rc;
    c->link = c->im;
  }
  if (c->im && (rc = cis__provide_memory(s, mod, c->lim.max_memory_bytes, c->im, &c->mem, &c->ctx)) != CIS_OK)
    return rc;
  if (wants_wasi && (rc = link_wasi(c)) != CIS_OK) return rc;
  uint64_t ti = cis__now_ns();
  /* mod (the skill entry's or the caller's reference) and link outlive inst,
   * which collect frees before either. */
  rc = cis_instance_new_borrowing(mod, c->link, &c->lim, &c->inst);
  c->res->stats.instantiate_ns = cis__now_ns() - ti;
  if (rc != CIS_OK) {
    cis__callctx_fail(&c->ctx, rc, "instantiate: %s", cis_errmsg(s->engine));
    return rc;
  }
  cis_instance_set_user(c->inst, &c->h);
  /* A cancel of the guest is the call's: its KV waits and file steps end too. */
  cis__callctx_link_instance(&c->ctx, c->inst);
  /* The guest's deadline is the call's, from its start: what the set-up
   * waited for (a lock, a connection, a mount) is not given back. */
  cis_instance_set_deadline(c->inst, c->budget_ms == UINT64_MAX ? 0 : c->deadline_ns);
  /* Always set: an instance may be a borrowed one an earlier call told. */
  const cis_invoke_options *o = c->opt;
  cis_instance_on_wait(c->inst, o ? o->on_wait : NULL, o ? o->on_wait_user : NULL,
                       o && o->wait_after_us ? o->wait_after_us : UINT64_MAX);
  /* The caller may keep inst to cancel the call from another thread. */
  if (c->opt && c->opt->on_instance && !c->opt->on_instance(c->opt->on_instance_user, c->inst)) {
    cis__callctx_fail(&c->ctx, CIS_ECANCELED, "call cancelled");
    return CIS_ECANCELED;
  }
  return CIS_OK;
}

/* Copies n bytes at p into c->out as a string. */
static cis_result keep_output(cis__call *c, const void *p, size_t n) {
  if (!(c->out = malloc(n + 1))) return CIS_ENOMEM;
  if (n) memcpy(c->out, p, n);
  c->out[n] = 0;
  c->out_len = n;
  return CIS_OK;
}

/* The entry of the call's ABI. */
static cis_result run_entry(cis__call *c) {
  cis_instance *inst = c->inst;
  cis_invoke_result *res = c->res;
  cis__callctx *x = &c->ctx;
  const cis_manifest *m = c->m;
  cis_result rc;
  switch (c->abi) {
  case CIS_ABI_V1: {
    cis_val r;
    rc = call_export(inst, m && m->entry ? m->entry : "cis_main", NULL, 0, &r, 1, x);
    if (rc == CIS_OK && r.of.i32 != 0) {
      cis__callctx_fail(x, CIS_ESKILL, "the skill returned error %d%s%s", r.of.i32, c->h.errmsg[0] ? ": " : "",
               c->h.errmsg);
      return CIS_ESKILL;
    }
    return rc == CIS_OK ? keep_output(c, c->h.output, c->h.output_len) : rc;
  }
  case CIS_ABI_SEED001: return run_seed001(inst, &c->h, c->s->max_output, &c->out, &c->out_len, x);
  case CIS_ABI_SEED000: {
    cis_val r;
    rc = call_export(inst, m && m->entry ? m->entry : "main", NULL, 0, &r, 1, x);
    if (rc == CIS_OK && (rc = read_cstr(inst, r.of.u32, c->s->max_output, &c->out, &c->out_len)) != CIS_OK)
      cis__callctx_fail(x, rc, "main returned a pointer that is not a NUL-terminated string");
    return rc;
  }
  case CIS_ABI_WASI: {
    int code = 0;
    rc = cis_wasi_run(c->wasi, inst, &code);
    res->exit_code = code;
    if (rc != CIS_OK) {
      cis__callctx_fail(x, rc, "%s", cis_errmsg(inst));
      return rc;
    }
    if (code != 0) {
      cis__callctx_fail(x, CIS_ESKILL, "the skill exited with code %d", code);
      return CIS_ESKILL;
    }
    size_t n;
    const uint8_t *o = cis_wasi_output(c->wasi, 1, &n);
    return keep_output(c, o, n);
  }
  default: return CIS_EABI;
  }
}

cis_result cis__call_run(cis__call *c) {
  cis_result rc;
  /* A WASI reactor initialises its libc in _initialize, before any entry. */
  if (cis_instance_func(c->inst, "_initialize") &&
      (rc = call_export(c->inst, "_initialize", NULL, 0, NULL, 0, &c->ctx)) != CIS_OK)
    return rc;
  c->ran = true;
  if (c->direct) {
    rc = call_direct(c->inst, c->opt, c->res, &c->ctx);
    size_t n = 0;
    const uint8_t *o = c->wasi ? cis_wasi_output(c->wasi, 1, &n) : NULL;
    if (rc == CIS_OK && n) rc = keep_output(c, o, n);
  } else {
    rc = run_entry(c);
  }
  /* A guest sees a dead KV or filesystem backend only as an error code
   * (or EIO), and may then fail in its own words. */
  return backend_cause(rc, &c->kvc, c->wasi, &c->ctx);
}

/* Makes the call's changes last: files first, then KV, and only when the
 * call succeeded. A file commit that fails (another call's conflicting
 * write) still drops the KV writes (docs/dbfs.md, "One unit"). A call
 * cancelled before its instance was taken back commits nothing. */
static cis_result collect_commit(cis__call *c) {
  cis__callctx *x = &c->ctx;
  cis_result rc = CIS_OK;
  if (cis__callctx_cancelled(x)) return cis__callctx_fail(x, CIS_ECANCELED, "call cancelled before its commit");
  for (size_t i = 0; rc == CIS_OK && c->m && c->fss && i < c->m->n_mounts && i < c->nfss; i++)
    if (c->fss[i] && (rc = cis_vfs_scope_end(c->fss[i], true)) != CIS_OK)
      cis__callctx_fail(x, rc, "permissions.fs.mounts[%zu]: %s", i, cis_vfs_errmsg(c->fss[i]));
  if (rc == CIS_OK && c->txn) {
    rc = cis_kv_commit(c->txn);
    c->txn = NULL;
    if (rc != CIS_OK) cis__callctx_fail(x, rc, "kv commit: %s", cis_kv_errmsg(c->s->kv));
  }
  return rc;
}

/* The result's status, stage and error, from the call's context: written
 * once, here, whatever stage failed. */
static cis_result call_end(cis__call *c, cis_result rc) {
  cis_invoke_result *res = c->res;
  res->stage = rc == CIS_OK ? CIS_STAGE_NONE : (cis_stage)c->ctx.stage;
  if (rc != CIS_OK) snprintf(res->error, sizeof res->error, "%s", c->ctx.msg[0] ? c->ctx.msg : cis_strerror(rc));
  return res->status = rc;
}

cis_result cis__call_collect(cis__call *c, cis_result rc) {
  cis_invoke_result *res = c->res;
  cis__callctx *x = &c->ctx;
  if (rc == CIS_OK) x->stage = CIS_STAGE_COLLECT; /* what fails from here on fails here */
  if (!c->opened) return call_end(c, rc); /* refused by the checks: nothing was made */
  /* The instance is taken back before the commit: a cancel no longer
   * reaches the call, which commits whole (on two databases a cancel in
   * between would end the KV commit after the files'). Unlinked first, so
   * that a cancel the embedder finishes before on_instance returns is
   * either seen by the commit's check or not at all; so is the caller's
   * flag, read no more from here. */
  cis__callctx_link_instance(NULL, c->inst);
  cis__callctx_stop_ext(x);
  if (c->inst && c->opt && c->opt->on_instance) c->opt->on_instance(c->opt->on_instance_user, NULL);
  if (c->ran) {
    if (rc == CIS_OK && !c->direct) rc = validate_json(c->out, c->out_len, "output", x);
    if (rc == CIS_OK) rc = collect_commit(c);
    res->stats.fuel_left = cis_instance_fuel_left(c->inst);
  }
  if (c->wasi && c->lc) log_stderr(c->wasi, c->lc, rc != CIS_OK);
  if (c->lc) log_quota_hits(&c->h, c->fss, c->fs_tenant_bound, c->nfss, c->m, c->opt);
  if (c->txn) cis_kv_rollback(c->txn); /* trap, timeout, cancel or error: nothing persists;
                                          the joined mounts leave first */
  if (c->kv_locked) pthread_mutex_unlock(&c->s->kv_call_lock);
  if (rc == CIS_OK) {
    res->output = c->out;
    res->output_len = c->out_len;
    c->out = NULL;
  }
  free(c->out);
  res->stats.kv_gets = c->ctx.stats.kv_gets;
  res->stats.kv_sets = c->ctx.stats.kv_sets;
  res->stats.kv_deletes = c->ctx.stats.kv_deletes;
  res->stats.ai_calls = c->ctx.stats.ai_calls;
  res->stats.ai_tokens = c->ctx.stats.ai_tokens;
  res->stats.http_calls = c->ctx.stats.http_calls;
  res->stats.log_lines = c->ctx.stats.log_lines;
  cis__host_ctx_release(&c->h);
  if (c->inst) res->stats.memory_peak = cis_instance_memory_peak(c->inst); /* a trap's too */
  cis_instance_free(c->inst);
  cis_imports_free(c->im);
  cis_memory_free(c->mem);
  cis_wasi_free(c->wasi);
  for (size_t i = 0; i < c->nfss; i++) cis_vfs_unmount(c->fss[i]);
  cis__db_txn_free(c->ctx.txn); /* ended by the KV commit or rollback */
  c->ctx.txn = NULL;
  free(c->fss);
  free(c->fs_tenant_bound);
  free(c->envs);
  cis_http_policy_free(c->policy);
  cis_log_call_end(c->lc);
  cis_log_free(c->log);
  if (c->logbuf) {
    size_t n = cis_log_buffer_read(c->logbuf, NULL, 0);
    res->logs = malloc(n + 1);
    if (res->logs) {
      cis_log_buffer_read(c->logbuf, res->logs, n + 1);
      res->logs[n] = 0;
      res->logs_len = n;
    }
    cis_log_buffer_free(c->logbuf);
  }
  res->stats.wall_ns = cis__now_ns() - c->t0;
  return call_end(c, rc);
}

/* Whether the caller cancelled the call (cis_invoke_options.cancel)
 * before the stage it is in now went on: then that stage ends it. */
static cis_result cancelled_in_stage(cis__call *c) {
  return cis__callctx_cancelled(&c->ctx) ? cis__callctx_fail(&c->ctx, CIS_ECANCELED, "call cancelled") : CIS_OK;
}

cis_result cis__invoke(cis__call *c) {
  cis_result rc = cancelled_in_stage(c); /* while its skill loaded */
  if (rc == CIS_OK) {
    c->ctx.stage = CIS_STAGE_GRANT;
    rc = cis__call_grant(c);
  }
  if (rc == CIS_OK) {
    c->ctx.stage = CIS_STAGE_LINK;
    if ((rc = cancelled_in_stage(c)) == CIS_OK) rc = cis__call_link(c);
  }
  if (rc == CIS_OK) {
    c->ctx.stage = CIS_STAGE_RUN;
    if ((rc = cancelled_in_stage(c)) == CIS_OK) rc = cis__call_run(c);
  }
  return cis__call_collect(c, rc);
}
