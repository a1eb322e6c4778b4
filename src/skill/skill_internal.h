/*
 * This file declares what the skill layer's files share: the cis_skills
 * host object, the module cache and the registry helpers.
 */
#ifndef CIS_SKILL_INTERNAL_H
#define CIS_SKILL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>

#include "cis/cis_http.h"
#include "common/callctx.h"
#include "common/internal.h"
#include "cis/cis_skill.h"
#include "skill/manifest.h"

#define CIS__MAX_MODULE_BYTES (256u * 1024 * 1024) /* refuse larger modules */

typedef struct cache_entry {
  char sha256[65];            /* key */
  cis_module *module;         /* decoded, validated; counted reference */
  struct cache_entry *next;   /* list (skills per host are few) */
} cache_entry;

struct cis__skill_entry;

/* Threads of one handle look skills up in stripes of the entry cache,
 * each with its own lock and its own copy of an entry (its own reference
 * count): one handle-wide lock and one count per skill, written by every
 * call, kept two threads' warm calls from running in parallel. */
#define CIS__SKILL_STRIPES 4

struct cis_skills {
  cis__handle h;              /* last error, per thread (cis_skills_errmsg) */
  char home[4096];            /* registry folder */
  cis_engine *engine;         /* one engine for every skill */
  struct cis__db_conn *sqconn; /* registry metadata (SQLite backend): the connection (db/db_conn.h) */
  sqlite3 *db;                /* its handle */
  const struct cis__registry_methods *reg; /* registry storage (registry_internal.h) */
  struct cis__db_pg *pgdb;    /* the PostgreSQL registry's connection, or NULL */
  struct cis__gen_watch *pg_watch; /* its tenants' generations, shared by the process's handles */
  _Atomic uint64_t reg_polled_ns; /* when a call last read the shared generation (0: never) */
  _Atomic uint64_t reg_seen_gen;  /* the shared generation it read */
  pthread_mutex_t cache_lock; /* guards cache */
  pthread_mutex_t write_lock; /* one registry write transaction at a time on db (SQLite backend) */
  uint32_t max_skills;        /* cis_skills_config's, 0 = none */
  uint64_t max_module_bytes;  /* cis_skills_config's, 0 = none */
  uint64_t max_kv_keys;       /* cis_skills_config's tenant totals, 0 = none */
  uint64_t max_kv_bytes;
  uint64_t max_fs_bytes;
  uint64_t max_fs_files;
  cache_entry *cache;         /* sha256 -> module */
  cis_kv *kv;                 /* KV service; NULL until a call needs it (kv_ready) */
  char *kv_spec;              /* how to open it when it is ours (malloc'd) */
  pthread_mutex_t kv_lock;    /* guards opening kv */
  pthread_mutex_t kv_call_lock; /* held by a KV call on an SQLite store of ours (kv_serial) */
  bool kv_serial;             /* our KV is SQLite: its calls in this process take turns */
  bool own_kv;                /* opened by us */
  cis_ai *ai;                 /* AI service */
  bool own_ai;                /* created by us */
  cis_http *http;             /* HTTP client */
  cis_log_sink sink;          /* where log lines go besides the capture */
  cis_log_format log_format;  /* text or JSON */
  cis_limits limits;          /* defaults */
  cis_limits ceiling;         /* most a manifest may ask for (fuel 0: none) */
  size_t max_input, max_output; /* JSON caps */
  char *vfs_db_spec;          /* database of "db" mounts (malloc'd) */
  _Atomic uint64_t *gen;      /* registry generation, mapped shared; NULL: no caching */
  cis_imports *host_imports;  /* every ABI's host functions, built once, read by all calls */
  bool require_signature;     /* only skills signed by a key the tenant trusts (sign.c) */
  char tenant[CIS_TENANT_NAME_MAX + 1]; /* whose skills these are (cis_skills_config.tenant) */
  bool tenant_fixed;          /* set by the config: calls may not name another tenant */
  pthread_mutex_t names_lock; /* guards names */
  struct cis__name_set *names; /* the tenant's skill names under one generation (warm.c), or NULL */
  atomic_bool names_loading;  /* a thread reads them */
  CIS__PAD(pad);              /* every call reads the above and locks below */
  struct cis__skill_stripe {  /* the entry cache, one copy per stripe of threads (warm.c) */
    pthread_mutex_t lock;     /* guards skills and gen */
    struct cis__skill_entry *skills; /* cached entries, all of generation gen */
    uint64_t gen;             /* generation the cached entries were read under */
    CIS__PAD(pad);            /* keeps the next stripe's lock off this one's line */
  } stripes[CIS__SKILL_STRIPES];
};

/* Sets the calling thread's message for s and returns code. */
cis_result cis__skills_fail(cis_skills *s, cis_result code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* The grants a skill was installed with, as far as its manifest uses
 * them (cis_install_options); kept in the registry beside the manifest. */
typedef struct cis__grants {
  char **volumes;     /* volume names its db mounts share */
  size_t n_volumes;
  char **namespaces;  /* KV namespaces it shares with other skills */
  size_t n_namespaces;
  char **host_paths;  /* resolved host folders its host mounts reach, outside its own */
  size_t n_host_paths;
} cis__grants;

void cis__grants_free(cis__grants *g);

/* An installed skill as a call needs it, read from the registry once and
 * shared by the calls of every thread until the registry changes (warm.c).
 * Calls hold a reference while they run. */
typedef struct cis__skill_entry {
  struct cis__skill_entry *next;  /* cache list */
  uint64_t gen;                   /* registry generation it was read under */
  cis_manifest *m;                /* its manifest (m->name is the key) */
  char *dir;                      /* folder it was installed from, or NULL */
  cis__grants g;                  /* operator's grants */
  cis_module *mod;                /* decoded, validated module (counted) */
  CIS__PAD(pad);                  /* every call reads the above and writes refs */
  atomic_uint refs;               /* the cache's, and each running call's */
} cis__skill_entry;


/* The limits a call of a skill with manifest m (NULL: none) gets: what the
 * manifest asks for, capped by the host's ceiling, over the host's
 * defaults. The call's own options come on top (see invoke). */
void cis__skill_limits(const cis_skills *s, const cis_manifest *m, cis_limits *out);

cis_result cis__read_file(const char *path, size_t max, uint8_t **out, size_t *len);
/* Writes path through a temporary file, fsync and rename: a reader sees
 * the old content or the new, never a part. */
cis_result cis__write_atomic(const char *path, const uint8_t *data, size_t len);

/* Signed skills (sign.c). The check of a skill's manifest text against
 * its signature text (NULL: unsigned) under the handle's rule: a
 * signature there must verify; with require_signature one must be there,
 * by a key the tenant trusts (read from the registry by until: a call's
 * deadline or cis__registry_until()). CIS_ESIGNATURE (message on s) when
 * not; the registry's errors. */
cis_result cis__signature_check_by(cis_skills *s, uint64_t until, const char *skill, const char *manifest, size_t mlen,
                                   const char *sig, size_t siglen);
/* The same by cis__registry_until(), for a check no call waits on. */
cis_result cis__signature_check(cis_skills *s, const char *skill, const char *manifest, size_t mlen, const char *sig,
                                size_t siglen);
/* A signature file's public key and signature (CIS_ESIGNATURE, or
 * CIS_ETOOBIG, with err saying why). */
cis_result cis__signature_parse(const char *text, size_t len, uint8_t pk[32], uint8_t sig[64], char *err, size_t cap);
/* The signature file text (malloc'd) of manifest by the secret key file
 * key_path. */
cis_result cis__signature_make(const char *manifest, size_t len, const char *key_path, char **sig_json, char *err,
                               size_t cap);
/* Opens the registry storage spec names (registry_internal.h,
 * cis__registry_backend; NULL: SQLite in the home). CIS_EINVAL for a spec
 * that names no backend. */
cis_result cis__registry_open(cis_skills *s, const char *spec);
void cis__registry_close(cis_skills *s);
/* The manifest of an installed skill, (dir may be NULL) the folder it was
 * installed from (malloc'd; NULL when registered from memory) and (g may
 * be NULL) its grants, which the caller frees with cis__grants_free; read
 * from the registry by until (registry_internal.h). */
cis_result cis__registry_get(cis_skills *s, uint64_t until, const char *name, cis_manifest **m, char **dir,
                             cis__grants *g);
/* Where a host mount's source is: source itself when absolute (or dir is
 * NULL), else dir/source. */
void cis__mount_source_path(const char *dir, const char *source, char *out, size_t cap);
/* Resolves a host mount's source ("..", symlinks) into resolved and checks
 * it is a folder (CIS_EMANIFEST otherwise) inside dir (the skill's folder,
 * may be NULL) or inside one of the allowed host paths (CIS_EDENIED
 * otherwise). *which receives the index of the allowed path used, or -1
 * when the source is inside dir. The reason is written to why. */
cis_result cis__host_source_check(const char *dir, const char *source, const char *const *allowed,
                                  size_t nallowed, char *resolved, size_t cap, int *which, char *why,
                                  size_t whycap);
/* The tenant key of a db mount's tree in the layered filesystem: each
 * (tenant, skill) has its own, a granted volume is shared by the tenant's
 * skills that mount it. "TENANT/skill:NAME" or "TENANT/volume:NAME":
 * names hold no "/", so the last "/" splits any key one way only and two
 * (tenant, tree) pairs never meet. CIS_EINVAL when it does not fit in cap
 * or in the 255 bytes a tenant may have. */
cis_result cis__vfs_tree_key(const char *tenant, const char *skill, const char *volume, char *out, size_t cap);
/* Checks that mod has the entry the manifest's ABI calls, with the ABI's
 * signature (docs/abi.md). CIS_EABI with the field ("abi" or "entry") and
 * the reason in err. */
cis_result cis__check_entry(const cis_manifest *m, cis_module *mod, char *err, size_t errcap);
/* Checks at install that every import of mod is one a call of the skill
 * will be given, with its type (nothing is instantiated). Errors:
 * CIS_EUNKNOWNIMPORT, CIS_EIMPORTTYPE, CIS_EMEMLIMIT (an imported memory
 * larger than the skill's limit), with the detail in err. */
cis_result cis__check_imports(cis_skills *s, const cis_manifest *m, cis_module *mod, char *err,
                              size_t errcap);
/* Every install-time check of a parsed manifest against its decoded module
 * that needs no network (the sha256 aside): HTTP rules, the entry, host
 * mount sources, volumes and KV namespace sharing against the installed
 * skills. dir is the skill's folder (NULL from memory), opt the operator's
 * grants (may be NULL). used (may be NULL) receives the grants the
 * manifest needs. The message is the thread's (cis_skills_errmsg). */
cis_result cis__install_check(cis_skills *s, const cis_manifest *m, cis_module *mod, const char *dir,
                              const cis_install_options *opt, cis__grants *used);
/* A decoded module by sha256 (bytes NULL: read from the store), loaded
 * by deadline (a cis__now_ns() time; 0 or UINT64_MAX none: see
 * cis_module_new_until) when not loaded before. The caller frees its
 * reference. */
cis_result cis__module_cached(cis_skills *s, const char *sha, const uint8_t *bytes, size_t len,
                              uint64_t deadline, cis_module **out);
/* The time a call of manifest m (may be NULL) gets, in ms (0: none): the
 * options' (may be NULL), else the manifest's within the host's ceiling. */
uint64_t cis__call_timeout_ms(const cis_skills *s, const cis_manifest *m, const cis_invoke_options *opt);

/* Maps the registry generation and builds the shared host import set
 * (warm.c). Only an out-of-memory fails it: without the generation file,
 * calls read the registry every time. */
cis_result cis__warm_open(cis_skills *s);
/* Frees the cached entries, the import set and the mapping. */
void cis__warm_close(cis_skills *s);
/* The handle's KV service, opened at its first use (calls' and purges');
 * on failure why says what failed, naming the spec's scheme only. */
cis_result cis__skills_kv_ready(cis_skills *s, char *why, size_t whycap);
/* Tells every handle of every process that the registry changed: called
 * after an install, update or removal committed. */
void cis__registry_changed(cis_skills *s);
/* The entry of installed skill name, cached or read now; the caller
 * releases it. Errors as cis__registry_get and cis__module_cached. */
/* cis_tenant_name_valid's rule, in messages. */
#define CIS__TENANT_RULE "1 to 64 of A-Z a-z 0-9 . _ - (not . or ..)"

cis_result cis__skill_lookup(cis_skills *s, const char *name, struct cis__skill_entry **out);
/* The same for a call of name begun at t0 (a cis__now_ns() time) with
 * options opt (may be NULL): opt's on_wait is told first when the lookup
 * may wait (a read of the registry or of the shared generation, a
 * module's load); the registry's reads end by the call's deadline when
 * opt has one (opt->timeout_ms), and a module's load by the call's
 * deadline. */
cis_result cis__skill_lookup_call(cis_skills *s, const char *name, const cis_invoke_options *opt, uint64_t t0,
                                  struct cis__skill_entry **out);
void cis__skill_entry_release(struct cis__skill_entry *e);

/* The operator's stored setting key[0..klen) of skill name (settings.c)
 * for the call x (NULL: none), read from the registry by the call's
 * deadline (cis__registry_until() when it has none): the value (malloc'd,
 * NUL-terminated) or CIS_ENOTFOUND; CIS_ECANCELED (the call was
 * cancelled: the registry is not asked), the registry's errors
 * (CIS_ETIMEOUT past the deadline); the message on s. */
cis_result cis__setting_get(cis_skills *s, const cis__callctx *x, const char *name, const char *key, size_t klen,
                            char **val, size_t *vlen);

#endif /* CIS_SKILL_INTERNAL_H */
