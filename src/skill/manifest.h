/*
 * This file declares the parsed form of a skill manifest (`skill.json`)
 * and the parser that validates it. The manifest says what a skill is
 * (name, version, module and its sha256), how it is entered (ABI, entry
 * export), what it may do (permissions) and within which limits.
 *
 * Every field is checked; an unknown or missing field, or a value of the
 * wrong type or range, is CIS_EMANIFEST with a message naming the field by
 * its JSON path ("permissions.http.allow[2]: not a string").
 */
#ifndef CIS_SKILL_MANIFEST_H
#define CIS_SKILL_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cis/cis.h"

#define CIS_MANIFEST_MAX_BYTES (1u << 20) /* a manifest larger than 1 MiB is refused */
#define CIS_MANIFEST_MAX_LIST 256u        /* entries in any list (rules, mounts, env) */

typedef enum cis_skill_abi {
  CIS_ABI_AUTO = 0,    /* chosen from the module's exports at run time */
  CIS_ABI_V1 = 1,      /* cis_v1 imports, entry cis_main */
  CIS_ABI_SEED001 = 2, /* execute(input_ptr) -> output_ptr, cis.* imports */
  CIS_ABI_SEED000 = 3, /* main() -> result pointer */
  CIS_ABI_WASI = 4,    /* _start: JSON on stdin, JSON on stdout */
} cis_skill_abi;

typedef struct cis_manifest_mount {
  char *guest;     /* path inside the sandbox, e.g. "/data" */
  char *type;      /* "mem", "host" or "db" */
  char *source;    /* host dir (relative to the skill dir) for "host"; NULL otherwise */
  char *volume;    /* "db" only: a named tree shared by the skills the operator
                      let mount it; NULL = the skill's own tree */
  bool read_only;  /* "mode": "ro" */
  uint64_t max_bytes; /* quota; 0 = none */
  uint64_t max_files; /* quota; 0 = none */
} cis_manifest_mount;

typedef struct cis_manifest {
  char *name;               /* [a-z0-9][a-z0-9._-]{0,63} */
  char *version;            /* free text up to 64 bytes, e.g. "1.2.0" */
  char *description;        /* optional; "" when absent */
  char *wasm_path;          /* module path, relative to the manifest's folder */
  char sha256[65];          /* lowercase hex of the module's SHA-256 */
  cis_skill_abi abi;        /* entry convention */
  char *entry;              /* entry export; NULL = the ABI's default */
  char *input_schema;       /* optional JSON Schema of the input (an object
                               with "type": "object"), compact JSON text;
                               NULL when absent. MCP's tools/list shows it */

  /* permissions */
  bool kv;                  /* may use the key-value store */
  char *kv_namespace;       /* NULL = the skill's name */
  uint64_t kv_max_keys;     /* 0 = service default */
  uint64_t kv_max_bytes;    /* 0 = service default */
  bool ai;                  /* may call the AI provider */
  char **ai_models;         /* allowed model names (NULL-terminated); NULL/empty = provider default only */
  size_t n_ai_models;
  char **http_allow;        /* allow-list rules (NULL-terminated) */
  size_t n_http_allow;
  cis_manifest_mount *mounts; /* WASI filesystem mounts */
  size_t n_mounts;
  char **env;               /* "KEY=VALUE" for WASI (NULL-terminated) */
  size_t n_env;
  bool log;                 /* may log (default true) */

  /* limits (0 = engine default) */
  uint64_t timeout_ms;
  uint64_t memory_bytes;
  uint32_t call_depth;
  uint64_t fuel;
} cis_manifest;

/* Parses and validates a manifest. On failure returns CIS_EMANIFEST (or
 * CIS_EJSON for text that is not strict JSON (cis__json_parse_strict, NUL
 * escapes refused), CIS_ETOOBIG above
 * CIS_MANIFEST_MAX_BYTES) and writes a message naming the field to err. */
cis_result cis__manifest_parse(const char *json, size_t len, cis_manifest **out, char *err,
                               size_t errcap);
void cis__manifest_free(cis_manifest *m);
/* Whether s is a skill's name (also a volume's and a KV namespace's):
 * [a-z0-9][a-z0-9._-]{0,63}. */
bool cis__manifest_name_valid(const char *s);
/* The manifest as JSON (caller frees), with limits filled from defaults
 * when `effective` is given. */
char *cis__manifest_to_json(const cis_manifest *m, const cis_limits *effective);
/* Name of an ABI ("auto", "cis_v1", "seed001", "seed000", "wasi"). */
const char *cis__abi_name(cis_skill_abi abi);

#endif /* CIS_SKILL_MANIFEST_H */
