/*
 * cis_skill.h -- skills as a product: install, list, show, run, remove.
 *
 * A skill is an untrusted .wasm module plus a manifest (skill.json) that
 * names its entry ABI, the permissions it is granted and its limits. A
 * cis_skills host keeps the registry (content-addressed by sha256 under
 * CIS_HOME, metadata in SQLite), a cache of decoded modules keyed by
 * sha256, and the services calls may use: KV, AI, HTTP and log. The `cis
 * skill` command line is a thin user of this header.
 *
 * Services are pluggable through the same tables the built-in ones use:
 * pass your own cis_kv (built from a cis_kv_methods table), cis_ai (from a
 * cis_ai_provider table) or log sink in cis_skills_config.
 *
 * Tenants: the registry is split by tenant. A handle sees only its own
 * tenant's skills (cis_skills_config.tenant, "default" when unset): the
 * same name may be installed by two tenants, each its own, and another
 * tenant's skill is absent from the list and CIS_ENOTFOUND to show, remove
 * or run, as if it were not there. A server opens one handle per tenant.
 *
 * Thread safety: a cis_skills may be shared by threads; each invocation
 * runs in its own instance on the calling thread.
 */
#ifndef CIS_CIS_SKILL_H
#define CIS_CIS_SKILL_H

#include "cis/cis.h"
#include "cis/cis_ai.h"
#include "cis/cis_kv.h"
#include "cis/cis_log.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CIS_SKILL_DEFAULT_MAX_JSON (16u * 1024 * 1024) /* input and output */
/* The built-in ceilings on what a manifest's "limits" may ask for. */
#define CIS_SKILL_CEILING_TIMEOUT_MS 300000u             /* 5 minutes */
#define CIS_SKILL_CEILING_MEMORY (1ull << 30)            /* 1 GiB */
#define CIS_SKILL_CEILING_CALL_DEPTH 1000000u

typedef struct cis_skills cis_skills;

typedef struct cis_skills_config {
  const char *home;          /* registry folder; NULL = $CIS_HOME, else
                                ~/.local/share/cis */
  const char *kv_spec;       /* "sqlite:PATH" or "postgres:CONNSTR"; NULL =
                                sqlite:<home>/kv.db. Ignored when kv is set */
  cis_kv *kv;                /* an embedder's KV service (borrowed), or NULL */
  const char *vfs_db_spec;   /* database of the layered filesystem that "db"
                                mounts (permissions.fs.mounts) use, one tree
                                per tenant and skill (or granted volume):
                                "sqlite:PATH" or
                                "postgres:CONNSTR"; NULL = sqlite:<home>/fs.db */
  cis_ai *ai;                /* an embedder's AI service (borrowed); NULL =
                                the built-in OpenAI-compatible provider from
                                ai_base_url, ai_model and ai_key_env, built
                                when a call first needs it (a missing key
                                then fails only AI calls, CIS_ENOPROVIDER
                                saying why) */
  const char *ai_base_url;   /* NULL = $CIS_AI_BASE_URL; neither = no
                                provider. With or without "/v1": a URL
                                without a path gets "/v1" */
  const char *ai_model;      /* NULL = $CIS_AI_MODEL, else "default" */
  const char *ai_key_env;    /* NAME of the variable holding the API key;
                                NULL = $CIS_AI_KEY_ENV; neither = no key */
  const cis_log_sink *log_sink; /* where skill log lines go besides the
                                call's own capture; NULL = stderr */
  cis_log_format log_format; /* text or JSON lines */
  cis_limits limits;         /* defaults for skills whose manifest is silent;
                                all-zero = cis_limits_default */
  cis_limits max_limits;     /* the most a manifest may ask for (a manifest
                                is untrusted: it may lower the host's limits,
                                not raise them past these); a field left 0
                                takes its CIS_SKILL_CEILING_* value. A call's
                                own options (cis_invoke_options) are the
                                operator's and are not capped. */
  size_t max_input;          /* JSON input cap; 0 = 16 MiB */
  size_t max_output;         /* JSON output cap; 0 = 16 MiB */
  const char *tenant;        /* whose skills the handle installs, lists,
                                shows, removes and runs (copied; a name
                                cis_tenant_name_valid accepts). NULL = the
                                "default" tenant, whose calls may still run
                                for another tenant's KV and files
                                (cis_invoke_options.tenant); a handle given
                                a tenant runs calls for that tenant only
                                (CIS_EDENIED otherwise) */
  bool require_signature;    /* install and load only skills signed by a
                                key the tenant trusts (signed skills, below) */
  const char *registry;      /* where the registry (skills, module bytes,
                                trusted keys, settings) lives: NULL or
                                "sqlite" = <home>/registry.db with modules
                                under <home>/modules; "sqlite:PATH";
                                "postgres:CONNSTR" or a postgres:// URI =
                                one database several nodes share (see
                                docs/serve.md, "Several nodes"). A database
                                out of reach fails the calls that need it
                                with CIS_EREGISTRYDOWN */
  const char *engine;        /* "interp", "aot" or "auto" (docs/aot.md); NULL
                                = cis_engine_config_default's ($CIS_ENGINE,
                                else auto). With auto, install also
                                compiles the skill into the cache */
  uint32_t max_skills;       /* skills the tenant may have installed; 0 = no
                                limit. An install past it is CIS_EQUOTA,
                                checked inside the install's write (installs
                                at once cannot pass it together) */
  uint64_t max_module_bytes; /* bytes of the distinct modules the tenant's
                                skills refer to (a module shared by two of
                                its skills counts once); 0 = no limit. An
                                install past it is CIS_EQUOTA */
  uint64_t max_kv_keys;      /* keys of all the tenant's KV namespaces
                                together (beside each namespace's quota); 0 =
                                no limit. For the store opened from kv_spec: a
                                write past it is CIS_EKVLIMIT to the skill */
  uint64_t max_kv_bytes;     /* ... and their key + value bytes */
  uint64_t max_fs_bytes;     /* bytes in regular files of all the tenant's
                                db trees together (its skills' own trees and
                                its volumes; beside each mount's quota); 0 =
                                no limit. A call's db mount may grow by what
                                the tenant's other trees leave at the call's
                                start: a change past it is EDQUOT to the
                                guest, with a warn line. Exact at commit: a
                                call whose files would pass it, counting
                                the calls that committed meanwhile, fails
                                with CIS_EQUOTA, nothing of it applied */
  uint64_t max_fs_files;     /* ... and their nodes of every kind */
} cis_skills_config;

CIS_EXTERN void cis_skills_config_default(cis_skills_config *c);

/* The one rule for tenant names, wherever one is given (cis_skills_open,
 * cis_invoke_options.tenant, tokens, the CLI's --tenant): 1 to
 * CIS_TENANT_NAME_MAX bytes of A-Z a-z 0-9 . _ -, and not "." or "..". So
 * a name never holds the separators of the keys made from it (a skill's
 * tree is "TENANT/skill:NAME") nor a path's, and means one thing only. */
#define CIS_TENANT_NAME_MAX 64
CIS_EXTERN bool cis_tenant_name_valid(const char *name);
/* Opens (creating when needed) the registry and the services. The KV
 * service built from kv_spec is opened by the first call that uses KV (a
 * backend out of reach fails that call with CIS_EKVDOWN, not the others).
 * Opening writes nothing to an existing registry, so calls also run on a
 * full disk. Errors: CIS_EIO (home not writable), CIS_EINVAL, CIS_ENOMEM,
 * the registry's. On failure *out is a failed handle (cis.h, "Errors"):
 * cis_skills_errmsg(*out) says why; close it with cis_skills_close. */
CIS_EXTERN cis_result cis_skills_open(const cis_skills_config *cfg, cis_skills **out);
CIS_EXTERN void cis_skills_close(cis_skills *s);
/* Message of the calling thread's last failed call on s (per thread and
 * per registry: another registry's, a service's or another thread's
 * failure does not touch it), or of its failed open (on every thread);
 * cis_errmsg(s) reads the same. */
CIS_EXTERN const char *cis_skills_errmsg(const cis_skills *s);

/* ----------------------------------------------------------- registry */

/* What the operator accepts at install beyond a skill's own ground. By
 * default each skill is alone: its "db" mounts are a tree of its own (per
 * tenant and skill), its KV namespace is its own, and its host mounts stay
 * inside the folder it is installed from. Each sharing or reaching out is
 * granted here by name, or the install fails with CIS_EDENIED naming the
 * manifest field. The grants a skill used are kept with it (`show`). */
typedef struct cis_install_options {
  const char *const *allow_volumes;    /* volume names a "db" mount may name
                                          ("volume": NAME), shared with every
                                          skill granted the same name */
  size_t nallow_volumes;
  const char *const *allow_namespaces; /* KV namespaces the skill may share
                                          with other installed skills (one
                                          another skill is named after or uses) */
  size_t nallow_namespaces;
  const char *const *allow_host_paths; /* host folders (and what is under
                                          them) a host mount's source may be
                                          outside the skill's folder */
  size_t nallow_host_paths;
  const char *signature;               /* the bundle's signature (the text of
                                          its skill.sig) for a skill registered
                                          from memory; NULL = unsigned. An
                                          install from a folder reads skill.sig
                                          there when this is NULL */
  size_t signature_len;
} cis_install_options;

/* Installs from a folder holding skill.json, or a skill.json path. The
 * module's sha256 must match the manifest (CIS_EHASH), and it is validated
 * once here. Reinstalling a name replaces it. name_out (may be NULL)
 * receives the skill name. Same as cis_skills_install_ex without grants. */
CIS_EXTERN cis_result cis_skills_install(cis_skills *s, const char *path, char *name_out,
                                         size_t name_cap);
/* Everything that can be checked without running the skill is checked
 * here, each error naming the manifest field: strict JSON (UTF-8, nothing
 * after the value, no \u0000), the fields (CIS_EMANIFEST), the HTTP
 * rules (CIS_EMANIFEST), the ABI's entry export and its signature
 * (CIS_EABI), host mount sources (a folder; after resolving ".." and
 * symlinks inside the skill's folder or an allowed host path), volumes and
 * shared KV namespaces (CIS_EDENIED without the grant). opt may be NULL. */
CIS_EXTERN cis_result cis_skills_install_ex(cis_skills *s, const char *path, const cis_install_options *opt,
                                            char *name_out, size_t name_cap);
/* Registers from memory: module bytes and manifest text (its wasm.path is
 * ignored, its sha256 must match the bytes). Without a folder, a host
 * mount's source must be absolute and allowed by opt->allow_host_paths. */
CIS_EXTERN cis_result cis_skills_register(cis_skills *s, const uint8_t *wasm, size_t wasm_len,
                                          const char *manifest, size_t manifest_len);
CIS_EXTERN cis_result cis_skills_register_ex(cis_skills *s, const uint8_t *wasm, size_t wasm_len,
                                             const char *manifest, size_t manifest_len,
                                             const cis_install_options *opt);
/* Uninstalls skill name of the handle's tenant. What it stored stays (a
 * reinstall of the name finds it): see cis_skills_remove_ex to delete it.
 * Errors: CIS_ENOTFOUND (not installed), the registry's. */
CIS_EXTERN cis_result cis_skills_remove(cis_skills *s, const char *name);

/* cis_skills_remove_ex's flags. */
#define CIS_SKILLS_REMOVE_PURGE 1u /* also delete what the skill stored */

/* cis_skills_remove, and with CIS_SKILLS_REMOVE_PURGE the deletion of
 * what the skill stored for the handle's tenant, so that it no longer
 * counts against the tenant's totals (cis_skills_config.max_kv_*,
 * max_fs_*):
 *   - its KV namespace (its name's, and its manifest's
 *     permissions.kv.namespace), unless another installed skill of the
 *     tenant uses that namespace;
 *   - its own tree of the database filesystem (its "db" mounts without a
 *     volume; volumes, shared by name, stay);
 *   - its settings (cis_skills_setting_set).
 * The skill is removed first, then its data, each part in transactions of
 * its store. Calls that were already running when it went (on this node,
 * or within about a second on another node of a shared registry) may still
 * commit after the purge: purging a name that is no longer installed
 * deletes what is stored under it (the namespace and tree of its name,
 * its settings), so running it again cleans up after them.
 * Errors: CIS_EINVAL (unknown flags; with PURGE a name that is not a
 * skill's, [a-z0-9][a-z0-9._-]{0,63}), CIS_ENOTFOUND (not installed, and
 * with PURGE nothing stored under the name either), the registry's; with
 * PURGE also those of the KV store (CIS_EKVDOWN, CIS_EKV, CIS_ETIMEOUT) and
 * of the filesystem's database (CIS_EVFSDOWN, CIS_EVFS): the skill is
 * removed then, and the message says what was not deleted. */
CIS_EXTERN cis_result cis_skills_remove_ex(cis_skills *s, const char *name, unsigned flags);

/* cis_skills_tenant_remove's flags. */
#define CIS_SKILLS_TENANT_REMOVE_DEFAULT 1u /* the handle's tenant may be "default" */

/* What cis_skills_tenant_remove deleted. */
typedef struct cis_tenant_removed {
  uint64_t tokens;        /* bearer tokens of cis serve (cis_serve.h) */
  uint64_t skills;        /* installed skills */
  uint64_t kv_namespaces; /* KV namespaces, emptied and gone */
  uint64_t kv_keys;       /* their keys */
  uint64_t fs_trees;      /* trees of the database filesystem */
  uint64_t settings;      /* skill settings */
  uint64_t keys;          /* trusted keys */
} cis_tenant_removed;

/* Deletes everything the handle's tenant has in the registry, the KV
 * store and the database filesystem the handle was opened on, in this
 * order, so that no one gets in or starts a call while the rest goes:
 *   - its bearer tokens (the token store's rows in the registry's
 *     database: servers' caches of them empty as for a revocation);
 *   - its skills (their modules too, unless a skill of another tenant
 *     refers to the same bytes);
 *   - every KV namespace of the tenant, whether or not an installed skill
 *     names it (a skill's own, a shared one, one of a module run without
 *     a manifest), its usage rows with it;
 *   - its trees of the database filesystem: its skills' own and its
 *     volumes ("TENANT/..."), and the tree named after the tenant itself
 *     (cis run --tenant, cis fs --tenant without --skill);
 *   - its skills' settings and the keys it trusts.
 * Rows are matched by the tenant's name exactly, never as a pattern: a
 * tenant whose name starts with this one's ("alice2" for "alice") keeps
 * all it has. Large tenants go in bounded transactions (at most a
 * thousand rows or keys, or one tree, each; each with a deadline of its
 * own). Every part is found by listing what is left, so when one fails
 * (a database out of reach), running it again finishes the job, and
 * running it on a tenant with nothing left is CIS_OK with every count 0.
 * Calls of the tenant already running when it starts may still commit
 * KV or files after their part went: running it again deletes them. The
 * tenant's registry generation stays (its registry-TENANT.gen file under
 * CIS_HOME, or its row in a PostgreSQL registry), since other handles and
 * nodes learn through it that the skills went. The handle stays open on
 * the tenant, which now has nothing. removed (may be NULL) receives what
 * went, also when it fails.
 * The "default" tenant (a handle opened without cis_skills_config.tenant)
 * is refused with CIS_EDENIED unless flags hold
 * CIS_SKILLS_TENANT_REMOVE_DEFAULT.
 * Errors: CIS_EINVAL (unknown flags, a tenant name cis_tenant_name_valid
 * refuses), CIS_EDENIED, CIS_ESTATE (a failed handle), those of the
 * registry (CIS_EREGISTRYDOWN, CIS_EIO, CIS_ETIMEOUT), of the KV store
 * (CIS_EKVDOWN, CIS_EKV, CIS_ETIMEOUT; CIS_EUNSUPPORTED for an embedder's
 * store whose method table predates version 5) and of the filesystem's
 * database (CIS_EVFSDOWN, CIS_EVFS); the message names the part not
 * deleted. A store or filesystem database out of reach is found before
 * anything is deleted. */
CIS_EXTERN cis_result cis_skills_tenant_remove(cis_skills *s, unsigned flags, cis_tenant_removed *removed);

/* ------------------------------------------------------- signed skills */

/* A skill folder may carry skill.sig beside skill.json: an Ed25519
 * signature of the manifest's exact bytes (which pin the module by its
 * sha256), made by cis_skill_sign (`cis skill sign`):
 *   {"alg":"ed25519","public_key":"<64 hex>","signature":"<128 hex>"}
 * Install checks a signature that is there (one that does not verify is
 * refused: the bundle changed after signing) and keeps it with the skill.
 * With cis_skills_config.require_signature, install and every load also
 * refuse a skill without one, or signed by a key the handle's tenant does
 * not trust (cis_skills_key_trust). Errors: CIS_ESIGNATURE, saying which. */
#define CIS_SIGNATURE_FILE "skill.sig"

/* Makes an Ed25519 key pair: dir/NAME.key (the secret, mode 0600, never
 * over an existing one) and dir/NAME.pub (the public key in hex),
 * creating dir (mode 0700) when missing. pub_hex (65 bytes, may be NULL)
 * receives the public key. Errors: CIS_EINVAL (a name other than 1 to 64
 * of A-Z a-z 0-9 . _ -), CIS_EEXIST, CIS_EIO, CIS_EUNSUPPORTED (libsodium
 * missing: the message names its package); cis_errmsg(NULL) says why (the
 * calling thread's message of a call without a handle). */
CIS_EXTERN cis_result cis_key_create(const char *dir, const char *name, char *pub_hex);
/* Signs the skill at path (a folder holding skill.json, or a skill.json
 * path) with the secret key file key_path: writes skill.sig beside the
 * manifest, atomically. The manifest must parse. Errors: as
 * cis_key_create, CIS_ENOTFOUND, CIS_EMANIFEST, CIS_EJSON; cis_errmsg(NULL)
 * says why. */
CIS_EXTERN cis_result cis_skill_sign(const char *path, const char *key_path);

typedef struct cis_key_info {
  char name[65];             /* the operator's name for the key */
  char public_key[65];       /* hex */
  int64_t added_at;          /* Unix seconds */
} cis_key_info;

/* The handle's tenant trusts public_key (64 hex digits) under name,
 * replacing a key of that name. */
CIS_EXTERN cis_result cis_skills_key_trust(cis_skills *s, const char *name, const char *public_key);
/* Withdraws the tenant's trust in the key called name (CIS_ENOTFOUND). */
CIS_EXTERN cis_result cis_skills_key_untrust(cis_skills *s, const char *name);
/* The keys the handle's tenant trusts, by name; free(*out). */
CIS_EXTERN cis_result cis_skills_keys(cis_skills *s, cis_key_info **out, size_t *n);

typedef struct cis_skill_info {
  char name[65];           /* skill name */
  char version[65];        /* version */
  char sha256[65];         /* module hash */
  char description[256];   /* first 255 bytes */
  int64_t installed_at;    /* unix seconds */
} cis_skill_info;

/* Lists installed skills, sorted by name. Free *out with free(). */
CIS_EXTERN cis_result cis_skills_list(cis_skills *s, cis_skill_info **out, size_t *n);
/* The manifest of NAME with its effective limits and permissions, as JSON
 * (caller frees with free()), plus "grants" (what the operator allowed at
 * install) and "sharing" (the KV namespace and volumes it shares, each
 * with the other skills that use it). The manifest's optional
 * "input_schema" (a JSON Schema object of the skill's input, shown to MCP
 * clients) is there when it has one. CIS_ENOTFOUND when not installed. */
CIS_EXTERN cis_result cis_skills_show(cis_skills *s, const char *name, char **json);

/* Operator settings of an installed skill (as Extism's plug-in config):
 * key/value strings a skill reads with config_get (docs/abi.md), kept in
 * the registry until changed or the skill is removed and installed again
 * under another name. A call's own settings (cis_invoke_options.config)
 * take precedence. value NULL removes the key. Keys are 1..255 bytes of
 * printable ASCII without '='; values up to 64 KiB of UTF-8. Errors:
 * CIS_ENOTFOUND (not installed), CIS_EINVAL (key or value), CIS_EIO. */
CIS_EXTERN cis_result cis_skills_setting_set(cis_skills *s, const char *name, const char *key,
                                             const char *value);
/* The settings of skill NAME as a JSON object of strings (caller frees
 * with free()). CIS_ENOTFOUND when not installed. */
CIS_EXTERN cis_result cis_skills_settings(cis_skills *s, const char *name, char **json);

/* ----------------------------------------------------------- invocation */

/* A host folder given to one call of a WASI skill (cis skill run --dir),
 * besides its manifest's mounts: the operator's, so not confined to the
 * skill's folder. */
typedef struct cis_invoke_mount {
  const char *host;          /* host folder; must exist */
  const char *guest;         /* path the skill sees; NULL = host */
  bool read_only;            /* refuse every change (EROFS) */
} cis_invoke_mount;

typedef struct cis_invoke_options {
  const char *tenant;        /* whose KV and files the call uses; NULL =
                                the handle's tenant */
  uint64_t timeout_ms;       /* 0 = the skill's limit */
  const char *call_id;       /* NULL = generated */
  /* Extra grants for a skill run without a manifest (cis skill run --wasm): */
  const char *const *allow_hosts; /* HTTP allow rules */
  size_t nallow_hosts;
  bool allow_kv;             /* grant KV under the module's sha256 namespace */
  bool allow_ai;             /* grant AI */
  const char *abi;           /* "auto" (default), "cis_v1", "seed001", "seed000", "wasi" */
  uint64_t max_memory;       /* 0 = the skill's limit */
  /* The operator's additions for this call only: */
  const char *const *config; /* "KEY=VALUE" settings for config_get, over
                                the skill's stored ones (a later one of the
                                same key wins) */
  size_t nconfig;
  const char *const *env;    /* "NAME=VALUE" added to a WASI skill's
                                environment (after permissions.env) */
  size_t nenv;
  const cis_invoke_mount *mounts; /* host folders preopened for a WASI
                                     skill, after its manifest's mounts */
  size_t nmounts;
  /* Call this export with args instead of the ABI's entry (cis run
   * --skill-host): same grants, links and limits, but input is not read
   * and the results go to cis_invoke_result.results, not output (which
   * holds what a WASI module wrote to stdout, unchecked). NULL = the
   * entry. A missing export is CIS_ENOTFOUND, a wrong argument count or
   * type CIS_EINVAL; a proc_exit(0) is success without results. */
  const char *export_name;
  const cis_val *args;
  size_t nargs;
  /* Told of the call's instance once it is made, before the guest runs
   * (inst), and before its changes are committed and it is freed (NULL),
   * on the calling thread: in between, another thread may stop the call
   * with cis_instance_cancel (cis mcp's notifications/cancelled): the
   * guest stops, the call's KV waits and its KV and file steps end, and
   * nothing of it is committed (CIS_ECANCELED; docs/embedding.md, "One
   * call in four stages").
   * Returning false ends the call before the guest starts, with
   * CIS_ECANCELED. NULL = nobody. */
  bool (*on_instance)(void *user, cis_instance *inst);
  void *on_instance_user;
  /* Told, on the calling thread, before the call may wait: to load a
   * skill not yet in memory, to begin its KV transaction or mount its
   * files, when a host function asks for the time left (the network, a
   * sleep, a database filesystem), or once its guest has run
   * wait_after_us microseconds of wall time; at most once per step, and
   * while the caller may still move the call: cis keeps no per-thread
   * state of the call across it, so an event loop that runs short calls
   * on its own thread can switch the call's stack (cis_stack_switched)
   * to another thread from here (cis serve does). NULL = nobody;
   * wait_after_us 0 = only before waits. */
  void (*on_wait)(void *user, cis_wait why);
  void *on_wait_user;
  uint64_t wait_after_us;
  /* The caller's cancel flag, read by the call from its start until its
   * instance is taken back before the commit (on_instance told NULL): once
   * another thread sets *cancel to non-zero (an atomic store:
   * __atomic_store_n, or C11 atomic_store on an int), the call stops at
   * its next step, whatever stage it is in: its skill's load, the KV
   * transaction's begin and its waits for a lock or a connection, its
   * mounts, a guest running (seen within its next clock check, as a
   * deadline is); it ends with CIS_ECANCELED in the stage it was in, and
   * nothing of it is committed. A flag set later does not reach the
   * commit, which is whole (as for cis_instance_cancel). Unlike
   * cis_instance_cancel (on_instance), it reaches the call before its
   * instance exists. NULL = none; *cancel must outlive the call. */
  const int *cancel;
} cis_invoke_options;

typedef struct cis_invoke_stats {
  uint64_t wall_ns;          /* from start of instantiation to output */
  uint64_t instantiate_ns;   /* instantiation alone */
  uint32_t kv_gets, kv_sets, kv_deletes;
  uint32_t ai_calls;
  uint64_t ai_tokens;
  uint32_t http_calls;
  uint32_t log_lines;
  uint64_t fuel_left;        /* when a fuel limit applies */
  uint64_t memory_peak;      /* most bytes the instance's memory account held (cis_instance_memory_peak) */
} cis_invoke_stats;

/* Where a call failed (cis_invoke_result.stage), in the order a call goes
 * through them (docs/embedding.md, "One call in four stages"). */
typedef enum cis_stage {
  CIS_STAGE_NONE = 0,    /* it did not fail */
  CIS_STAGE_LOAD = 1,    /* its arguments, finding and loading the skill */
  CIS_STAGE_GRANT = 2,   /* its input, limits, ABI, tenant, permissions */
  CIS_STAGE_LINK = 3,    /* its KV transaction, imports, mounts, instance */
  CIS_STAGE_RUN = 4,     /* the guest: traps, limits, its own errors */
  CIS_STAGE_COLLECT = 5, /* its output, the commit of its KV and files */
} cis_stage;

typedef struct cis_invoke_result {
  cis_result status;         /* same as the return value */
  char *output;              /* validated JSON output (malloc'd), or NULL */
  size_t output_len;
  char *logs;                /* the call's log lines (malloc'd), or NULL */
  size_t logs_len;
  int exit_code;             /* WASI skills: the exit code */
  char error[512];           /* what went wrong, when status != CIS_OK */
  cis_invoke_stats stats;
  cis_val *results;          /* cis_invoke_options.export_name: its results
                                (malloc'd), or NULL */
  size_t nresults;
  cis_stage stage;           /* where it failed, when status != CIS_OK: a
                                malformed input is CIS_EJSON in GRANT, an
                                output the guest got wrong CIS_EJSON in
                                COLLECT */
} cis_invoke_result;

/* Runs installed skill NAME with JSON input. The input is validated before
 * the guest starts (CIS_EJSON, CIS_ETOOBIG); the output after it returns.
 * The call's KV writes commit only when it succeeds. A call that ends in
 * a guest error or a trap after its KV store or a filesystem database was
 * found out of reach returns that typed cause (CIS_EKVDOWN, CIS_EVFSDOWN),
 * and error says what the backend said, then what the skill did (see
 * docs/kv.md); AI and HTTP failures are left to the skill. */
CIS_EXTERN cis_result cis_skills_invoke(cis_skills *s, const char *name, const char *input,
                                        size_t input_len, const cis_invoke_options *opt,
                                        cis_invoke_result *res);
/* Runs a module without a manifest (default limits, permissions only from
 * opt). */
CIS_EXTERN cis_result cis_skills_invoke_wasm(cis_skills *s, const uint8_t *wasm, size_t wasm_len,
                                             const char *input, size_t input_len,
                                             const cis_invoke_options *opt, cis_invoke_result *res);
CIS_EXTERN void cis_invoke_result_free(cis_invoke_result *res);

#ifdef __cplusplus
}
#endif
#endif /* CIS_CIS_SKILL_H */
