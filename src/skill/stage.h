/*
 * This file declares the stages of one invocation (stage.c): grant → link
 * → run → collect, and the struct that carries a call between them.
 * cis_skills_invoke, cis_skills_invoke_wasm (cis run --skill-host, cis
 * skill run --wasm) and through them the server's HTTP and MCP calls all
 * go through these four functions (cis__invoke), in this order:
 *
 *   grant    input checked; limits (the manifest's, capped by the host's
 *            ceiling, then the call's options); the ABI; the tenant; what
 *            the host functions may reach (AI, HTTP rules, settings, log)
 *   link     the KV transaction begun; imports (the host's shared set,
 *            WASI, an imported memory); the manifest's and the call's
 *            mounts preopened, their scopes begun; the instance made
 *   run      _initialize, then the entry per ABI (or the export the call
 *            names) under the instance's deadline and fuel; a dead
 *            backend's cause put over the guest's words
 *   collect  output validated; the mounts' scopes ended, then the KV
 *            transaction committed (only when all went well; dropped
 *            otherwise); stats, logs and the error text into the result;
 *            everything the call held released
 *
 * A stage that fails leaves the rest undone but collect, which is always
 * called and always frees what the earlier stages made.
 */
#ifndef CIS_SKILL_STAGE_H
#define CIS_SKILL_STAGE_H

#include "cis/cis_log.h"
#include "cis/cis_wasi.h"
#include "common/callctx.h"
#include "host/host.h"
#include "skill/skill_internal.h"

/* The call's transaction as its host functions see it. A dead KV database
 * reaches the guest only as an error code, and the guest may then give up
 * in its own words; what the backend said is kept here for the host. */
typedef struct cis__kv_call {
  cis_kv_txn *txn;           /* the call's transaction */
  cis_kv *kv;                /* its store (for the message) */
  cis_result down;           /* CIS_EKVDOWN once an operation met a dead backend; else CIS_OK */
  char msg[CIS_ERRMSG_MAX];  /* the store's message then */
} cis__kv_call;

/* A call's log goes both to its own capture and to the host's sink. */
typedef struct cis__tee_sink {
  cis_log_sink capture;      /* the call's buffer */
  cis_log_sink *global;      /* the host's sink */
} cis__tee_sink;

/* The settings config_get reads: the call's own (cis_invoke_options.config,
 * the last of a key winning), then the skill's stored ones (settings.c). */
typedef struct cis__call_settings {
  cis_skills *s;                  /* registry of the stored ones */
  const char *skill;              /* NULL: a module run without a manifest */
  const cis_invoke_options *opt;  /* the call's own, or NULL */
  const cis__callctx *call;       /* the call: its deadline bounds the read of a stored
                                     one, its cancel ends it */
} cis__call_settings;

/* One call on its way through the stages. cis__call_init and
 * cis__call_target fill the first group; each stage fills its own and
 * reads the earlier ones. The struct
 * holds pointers into itself (h.kv, h.config_user, the log's sink): it
 * stays where it was initialised until collect returns. */
typedef struct cis__call {
  /* What is called (cis__call_init, cis__call_target): */
  cis_skills *s;                  /* the host */
  const cis_manifest *m;          /* the skill's manifest; NULL: a module without one */
  const char *dir;                /* folder it was installed from, or NULL */
  const cis__grants *g;           /* the operator's grants, or NULL */
  cis_module *mod;                /* the module (borrowed; outlives the call) */
  const char *skill_name;         /* the skill's name, or wasm-SHA for a module */
  const char *kv_ns;              /* its KV namespace */
  const char *input;              /* JSON input (input_len bytes) */
  size_t input_len;
  const cis_invoke_options *opt;  /* the call's options, or NULL */
  cis_invoke_result *res;         /* where it ends up (zeroed by the caller) */
  uint64_t t0;                    /* when the call began (stats.wall_ns) */
  /* grant: */
  cis_limits lim;                 /* the call's limits */
  cis_skill_abi abi;              /* the entry's ABI (never AUTO unless direct) */
  bool direct;                    /* opt->export_name: that export, not the entry */
  bool wants_kv;                  /* KV granted (manifest or options) */
  const char *tenant;             /* whose KV and files */
  uint64_t budget_ms;             /* the call's time (UINT64_MAX: none) */
  uint64_t deadline_ns;           /* for the set-up's own waits */
  cis__callctx ctx;               /* what the services see of the call: its deadline
                                     (UINT64_MAX without a budget), cancel, principal
                                     and error */
  bool opened;                    /* got past the checks: collect has work to do */
  cis__host_ctx h;                /* what the host functions see */
  cis_http_policy *policy;        /* HTTP rules, or NULL */
  cis__call_settings cs;          /* config_get's sources */
  cis__tee_sink tee;              /* the log's sink (lives as long as log) */
  cis_log *log;                   /* the call's logger */
  cis_log_buffer *logbuf;         /* its capture */
  cis_log_call *lc;               /* the call's log context */
  /* link: */
  cis__kv_call kvc;               /* the KV transaction as the host sees it */
  cis__host_kv hkv;               /* h.kv's table */
  cis_kv_txn *txn;                /* open until collect commits or drops it */
  bool kv_locked;                 /* holds s->kv_call_lock */
  cis_imports *im;                /* the call's own import set, or NULL */
  const cis_imports *link;        /* what the instance links against */
  cis_memory *mem;                /* an imported memory made for it, or NULL */
  cis_wasi *wasi;                 /* WASI, when the module wants it */
  const char **envs;              /* the manifest's environment, then the call's */
  cis_vfs **fss;                  /* mounts: the manifest's, then the call's */
  size_t nfss;                    /* entries in fss */
  bool *fs_tenant_bound;          /* per mount of fss: the tenant's file limits made its
                                     quota tighter than the manifest's (tenant_fs_share) */
  cis_instance *inst;             /* the instance */
  /* run: */
  bool ran;                       /* the entry was called (fuel_left is read) */
  char *out;                      /* the output (malloc'd) */
  size_t out_len;
} cis__call;

/* Sets c up for a call of s begun now, in its load stage (no resources
 * taken): its time runs from here, so finding and loading what it calls
 * counts. input, opt (may be NULL) and res are borrowed until collect
 * returns. A failure to load is written into c->ctx (cis__callctx_fail)
 * and ended by collect, like a later stage's. */
void cis__call_init(cis__call *c, cis_skills *s, const char *input, size_t input_len, const cis_invoke_options *opt,
                    cis_invoke_result *res);
/* What c calls, once loaded: m, dir and g may be NULL (a module without a
 * manifest); mod, skill_name and kv_ns are borrowed until collect
 * returns. */
void cis__call_target(cis__call *c, const cis_manifest *m, const char *dir, const cis__grants *g, cis_module *mod,
                      const char *skill_name, const char *kv_ns);
/* Checks the input and decides what the call gets: limits, ABI, tenant,
 * AI, HTTP rules, settings and its log. Errors: CIS_ETOOBIG, CIS_EJSON,
 * CIS_EINVAL, CIS_EABI, CIS_EDENIED, a KV store that cannot be opened,
 * CIS_ENOMEM; the text in c->res->error. */
cis_result cis__call_grant(cis__call *c);
/* Begins the KV transaction, links imports, WASI and mounts and makes the
 * instance. Errors: CIS_ETIMEOUT (the store busy until the deadline), KV,
 * VFS and instantiation errors with the text in c->res->error. */
cis_result cis__call_link(cis__call *c);
/* Runs _initialize and the entry (or the export the options name).
 * Returns the guest's outcome: CIS_OK, a trap, a limit, CIS_ESKILL, or a
 * dead backend's CIS_EKVDOWN / CIS_EVFSDOWN. */
cis_result cis__call_run(cis__call *c);
/* Ends the call whose stages returned rc: when rc is CIS_OK, validates the
 * output and commits the mounts' scopes, then the KV transaction (the one
 * place a call's changes persist); otherwise drops them. Fills the result
 * (output, logs, stats, error text), frees everything, and returns the
 * call's status (also in c->res->status). */
cis_result cis__call_collect(cis__call *c, cis_result rc);
/* The four stages in order on c, its target set: what cis_skills_invoke
 * and cis_skills_invoke_wasm run once they loaded what they call. */
cis_result cis__invoke(cis__call *c);

/* Shared with the install checks of skill.c: */
/* The ABI a module's exports name (CIS_ABI_AUTO: none). */
cis_skill_abi cis__detect_abi(cis_module *m);
/* "(i32, i32) -> i32" into out. */
void cis__sig_text(uint32_t np, const cis_valtype *pt, uint32_t nr, const cis_valtype *rt, char *out, size_t cap);
/* True when m imports anything from module name mod. */
bool cis__imports_module(cis_module *m, const char *mod);
/* True when m imports a memory. */
bool cis__imports_memory(cis_module *m);
/* Makes the memory m imports (env.memory), at most cap_bytes, and adds it
 * to im; *out receives it (the caller frees it after the instance). */
cis_result cis__provide_memory(cis_skills *s, cis_module *m, uint64_t cap_bytes, cis_imports *im, cis_memory **out,
                               cis__callctx *x);

#endif /* CIS_SKILL_STAGE_H */
