/*
 * This file declares the registry's storage backends: a versioned method
 * table (as the KV store's) behind which the registry keeps what matters
 * of installed skills, the tenants' trusted keys and the skills' settings,
 * either in SQLite under $CIS_HOME (registry_sqlite.c, the module bytes as
 * files) or in PostgreSQL (registry_postgres.c, the module bytes too), so
 * that several `cis serve` nodes can share one registry.
 */
#ifndef CIS_SKILL_REGISTRY_INTERNAL_H
#define CIS_SKILL_REGISTRY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cis/cis.h"

struct cis_skills;

#define CIS__REGISTRY_METHODS_VERSION 4
/* Whether v is a module's name: 64 lowercase hex digits (a row of a
 * shared database may hold anything; it must never name a file). */
static inline bool cis__sha256_hex_valid(const char *v) {
  return v && strlen(v) == 64 && strspn(v, "0123456789abcdef") == 64;
}

/* How long a node may run a skill after another node removed or changed
 * it (docs/serve.md, "Several nodes"): a handle reads its tenant's
 * generation from the process's watch every half of it, and the watch
 * reads the database every quarter of it, what it knows being half of it
 * old at most (a poll on its way included: registry_postgres.c). */
#define CIS__REGISTRY_POLL_MS 1000u
#define CIS__REGISTRY_HANDLE_POLL_NS ((uint64_t)CIS__REGISTRY_POLL_MS * 1000000u / 2)
/* Sets the PostgreSQL watch's times (registry_postgres.c): how old what
 * it knows gets before a call polls, and how old it may get while
 * another call's poll is on its way (ms; 0 and 0: a quarter and a half
 * of CIS__REGISTRY_POLL_MS, as when never set). For tests. */
void cis__registry_watch_times_set(unsigned due_ms, unsigned bound_ms);

/* Longest wait for the registry database within one method that no
 * call's deadline bounds (cis__registry_until). */
#define CIS__REGISTRY_TIMEOUT_MS 5000u
/* Most a stored signature may be (a skill.sig is far smaller). */
#define CIS__REGISTRY_MAX_SIGNATURE 4096u

/* One installed skill's row. Every pointer is malloc'd by the backend that
 * filled it (cis__reg_row_free), or borrowed when the row is passed in. */
typedef struct cis__reg_row {
  char *name;           /* the key, with the handle's tenant */
  char *version;        /* manifest's version */
  char *sha256;         /* the module's, 64 hex digits */
  char *description;    /* manifest's description */
  char *manifest;       /* skill.json as installed (NUL-terminated) */
  size_t manifest_len;  /* its bytes */
  int64_t installed_at; /* unix seconds */
  char *dir;            /* folder it was installed from, or NULL */
  char *grants;         /* operator's grants (JSON), or NULL */
  char *signature;      /* skill.sig text, or NULL (NUL-terminated) */
  size_t signature_len; /* its bytes */
} cis__reg_row;

void cis__reg_row_free(cis__reg_row *r);

/* Callbacks of the listing methods: a non-zero return stops the listing. */
typedef int (*cis__reg_row_fn)(void *ctx, const cis__reg_row *row);
typedef int (*cis__reg_name_fn)(void *ctx, const char *name);
typedef int (*cis__reg_key_fn)(void *ctx, const char *name, const char *public_key, int64_t added_at);
typedef int (*cis__reg_setting_fn)(void *ctx, const char *key, const char *value);

/* The parts of a tenant's rows that its deletion takes from the registry
 * (cis__registry_methods.tenant_drop), in the order it takes them: first
 * what lets anyone in (its bearer tokens), then what calls run (its
 * skills), then the rest. */
typedef enum cis__reg_part {
  CIS__REG_TOKENS,   /* the token store's rows of the tenant (src/serve/http_token.c) */
  CIS__REG_SKILLS,   /* its skills' rows, and the modules no other row refers to */
  CIS__REG_SETTINGS, /* its skills' settings, whatever skill they name */
  CIS__REG_KEYS,     /* the keys it trusts */
} cis__reg_part;

/* A registry backend. Every method works on the handle's tenant
 * (s->tenant), waits for the database no later than `until` (an absolute
 * cis__now_ns() time: the deadline of the call it serves, or
 * cis__registry_until()), and writes its message on s (cis__skills_fail).
 * Errors: CIS_EIO (a statement failed), CIS_EREGISTRYDOWN (the database is
 * out of reach: the call may succeed later), CIS_ETIMEOUT (until passed
 * while waiting for the database, its locks or the handle's connection),
 * CIS_ENOMEM, and CIS_ENOTFOUND where said. */
typedef struct cis__registry_methods {
  int version;      /* CIS__REGISTRY_METHODS_VERSION */
  const char *name; /* "sqlite", "postgres" */
  /* Opens the backend on spec's database; writes nothing to an existing
   * one (calls must work on a full disk). A database out of reach is not
   * an error here: the first method that needs it says so. */
  cis_result (*open)(struct cis_skills *s, const char *spec);
  void (*close)(struct cis_skills *s);
  /* Stores the module (when not there) and inserts or replaces the row;
   * the change is visible to every node when it returns. With a tenant
   * limit (s->max_skills, s->max_module_bytes) it first reads the
   * tenant's usage inside its write, after the tenant's other installs
   * (its lock), and refuses with cis__registry_room's CIS_EQUOTA, writing
   * nothing: installs at the very same moment cannot pass it together. */
  cis_result (*skill_put)(struct cis_skills *s, uint64_t until, const cis__reg_row *row, const uint8_t *wasm, size_t len);
  /* The row of name (CIS_ENOTFOUND when none). */
  cis_result (*skill_get)(struct cis_skills *s, uint64_t until, const char *name, cis__reg_row *out);
  /* Removes the row of name (CIS_ENOTFOUND when none), and its module
   * when no skill of any tenant refers to it any more. */
  cis_result (*skill_del)(struct cis_skills *s, uint64_t until, const char *name);
  /* Every row of the tenant by name (manifest included). */
  cis_result (*skill_each)(struct cis_skills *s, uint64_t until, cis__reg_row_fn fn, void *ctx);
  /* The name of every row of the tenant, and nothing else of it. */
  cis_result (*name_each)(struct cis_skills *s, uint64_t until, cis__reg_name_fn fn, void *ctx);
  /* The bytes of module sha (malloc'd); CIS_ENOTFOUND when not stored.
   * The caller checks them against sha (bytes fetched from a shared
   * database are checked here too, before a local copy is kept). */
  cis_result (*module_get)(struct cis_skills *s, uint64_t until, const char *sha, uint8_t **bytes, size_t *len);
  /* Trusted keys: put replaces; del says CIS_ENOTFOUND; find gives the
   * name (65 bytes) under which public_key (hex) is trusted, or
   * CIS_ENOTFOUND. */
  cis_result (*key_put)(struct cis_skills *s, uint64_t until, const char *name, const char *public_key, int64_t added_at);
  cis_result (*key_del)(struct cis_skills *s, uint64_t until, const char *name);
  cis_result (*key_each)(struct cis_skills *s, uint64_t until, cis__reg_key_fn fn, void *ctx);
  cis_result (*key_find)(struct cis_skills *s, uint64_t until, const char *public_key, char name[65]);
  /* Skill settings: value NULL deletes; get gives CIS_ENOTFOUND. */
  cis_result (*setting_put)(struct cis_skills *s, uint64_t until, const char *skill, const char *key, const char *value);
  cis_result (*setting_each)(struct cis_skills *s, uint64_t until, const char *skill, cis__reg_setting_fn fn, void *ctx);
  cis_result (*setting_get)(struct cis_skills *s, uint64_t until, const char *skill, const char *key, size_t klen, char **val,
                            size_t *vlen);
  /* What the tenant's skills other than name hold: how many, the bytes of
   * the distinct modules they refer to, and whether one of them is sha. */
  cis_result (*usage)(struct cis_skills *s, uint64_t until, const char *name, const char *sha, uint64_t *skills, uint64_t *bytes,
                      bool *has_sha);
  /* The shared generation, bumped by every change any node makes (in the
   * statement making it); NULL when the backend's changes are announced by
   * $CIS_HOME/registry.gen alone (warm.c). */
  cis_result (*generation)(struct cis_skills *s, uint64_t until, uint64_t *gen);
  /* Deletes at most `limit` of the tenant's rows of `part` in one
   * transaction (cis_skills_tenant_remove), matched by the tenant exactly
   * (no pattern: "alice" never takes a row of "alice2"); *n receives how
   * many went, fewer than limit once none is left. Skills go as skill_del
   * takes them (their modules too when no other row refers to them, and
   * the shared generation moved where there is one; the caller then calls
   * cis__registry_changed, as after skill_del); tokens as a revocation
   * takes them, so that the servers' caches of them empty; a table not
   * made yet (the token store never opened on this database) holds none. */
  cis_result (*tenant_drop)(struct cis_skills *s, uint64_t until, cis__reg_part part, unsigned limit, uint64_t *n);
} cis__registry_methods;

/* Whether the tenant has room for one more skill whose module (len bytes)
 * is among its others' (has) or not, when its other skills are `skills`
 * referring to modules of `bytes` bytes: CIS_EQUOTA past
 * cis_skills_config's max_skills or max_module_bytes (a skill replaced
 * does not count; a module its other skills refer to counts once), the
 * message on s. */
cis_result cis__registry_room(struct cis_skills *s, uint64_t skills, uint64_t bytes, bool has, size_t len);

/* The deadline of a registry wait that no call bounds:
 * CIS__REGISTRY_TIMEOUT_MS from now. */
uint64_t cis__registry_until(void);

/* The deadline of a call's registry waits: its own (call_until, a
 * cis__now_ns() time) when it has one (not 0 nor UINT64_MAX), else
 * cis__registry_until(). */
uint64_t cis__registry_call_until(uint64_t call_until);

struct cis__callctx;

/* The call (NULL: none) whose cancel ends the calling thread's waits on
 * s's registry (another process's lock on its SQLite file, a PostgreSQL
 * statement: db/db_conn.h), as its deadline does, with CIS_ECANCELED. Per
 * thread: the handle's threads each serve a call of their own. */
void cis__registry_serve(struct cis_skills *s, const struct cis__callctx *call);

extern const cis__registry_methods cis__registry_sqlite;
extern const cis__registry_methods cis__registry_postgres;

/* The backend a registry spec names (db/db.h, CIS__DB_HAS_DEFAULT):
 * NULL, "", "sqlite" or "sqlite:" (the home's registry.db),
 * "sqlite:PATH", "postgres:CONNSTR" or a postgres:// or postgresql:// URI.
 * *arg receives what the backend opens (a path, a connection string; NULL
 * for the home's). NULL for anything else, with the reason in why (if
 * whycap; it never quotes the spec past its scheme). */
const cis__registry_methods *cis__registry_backend(const char *spec, const char **arg, char *why,
                                                   size_t whycap);

#endif /* CIS_SKILL_REGISTRY_INTERNAL_H */
