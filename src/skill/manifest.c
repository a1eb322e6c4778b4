/*
 * This file implements the skill manifest parser: skill.json text in, a
 * validated cis_manifest out. It is strict on purpose: a typo in a
 * permission must not silently grant or drop anything, so unknown fields
 * are errors, and every error names the field by its JSON path.
 */
#include "skill/manifest.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"

typedef struct parser {
  char *err;      /* caller's buffer */
  size_t errcap;  /* its size */
  cis_result rc;  /* first error */
} parser;

static bool fail(parser *p, const char *fmt, ...) {
  if (p->rc == CIS_OK) {
    p->rc = CIS_EMANIFEST;
    if (p->err && p->errcap) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(p->err, p->errcap, fmt, ap);
      va_end(ap);
    }
  }
  return false;
}

/* Rejects members of obj not listed in allowed (NULL-terminated). */
static bool only_fields(parser *p, const cJSON *obj, const char *path, const char *const *allowed) {
  for (const cJSON *it = obj->child; it; it = it->next) {
    bool ok = false;
    for (const char *const *a = allowed; *a; a++)
      if (it->string && strcmp(it->string, *a) == 0) ok = true;
    if (!ok) return fail(p, "%s%s%s: unknown field", path, *path ? "." : "", it->string ? it->string : "?");
  }
  /* Duplicate keys would let two readers disagree on the value. */
  for (const cJSON *it = obj->child; it; it = it->next)
    for (const cJSON *jt = it->next; jt; jt = jt->next)
      if (strcmp(it->string, jt->string) == 0)
        return fail(p, "%s%s%s: duplicate field", path, *path ? "." : "", it->string);
  return true;
}

static bool get_string(parser *p, const cJSON *obj, const char *path, const char *key, bool required,
                       size_t maxlen, char **out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v) {
    if (required) return fail(p, "%s%s%s: missing", path, *path ? "." : "", key);
    return true;
  }
  if (!cJSON_IsString(v) || !v->valuestring)
    return fail(p, "%s%s%s: not a string", path, *path ? "." : "", key);
  if (strlen(v->valuestring) > maxlen)
    return fail(p, "%s%s%s: longer than %zu bytes", path, *path ? "." : "", key, maxlen);
  *out = strdup(v->valuestring);
  if (!*out) return fail(p, "out of memory");
  return true;
}

static bool get_bool(parser *p, const cJSON *obj, const char *path, const char *key, bool *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v) return true;
  if (!cJSON_IsBool(v)) return fail(p, "%s.%s: not a boolean", path, key);
  *out = cJSON_IsTrue(v);
  return true;
}

/* A non-negative integer, or for sizes a string like "128MiB" or "1.5GiB". */
static bool get_u64(parser *p, const cJSON *obj, const char *path, const char *key, bool size,
                    uint64_t max, uint64_t *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v) return true;
  if (cJSON_IsNumber(v)) {
    double d = v->valuedouble;
    /* Range first: converting a double outside uint64_t's range is
     * undefined. 2^64 is exact as a double; !(d >= 0) also catches NaN. */
    if (!(d >= 0) || d >= 18446744073709551616.0 || d != (double)(uint64_t)d || (uint64_t)d > max)
      return fail(p, "%s.%s: must be an integer from 0 to %" PRIu64, path, key, max);
    *out = (uint64_t)d;
    return true;
  }
  if (size && cJSON_IsString(v)) { /* as the CLI's flags read sizes (cis_parse_size) */
    uint64_t n;
    if (!cis_parse_size(v->valuestring, &n)) goto fail;
    if (n > max) return fail(p, "%s.%s: larger than %" PRIu64 " bytes", path, key, max);
    *out = n;
    return true;
  }
fail:
  return fail(p, "%s.%s: must be a non-negative integer%s", path, key,
              size ? " or a size such as \"128MiB\"" : "");
}

/* A list of strings, each checked by ok (may be NULL). */
static bool get_strings(parser *p, const cJSON *obj, const char *path, const char *key,
                        char ***out, size_t *n, bool (*ok)(const char *)) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!v) return true;
  if (!cJSON_IsArray(v)) return fail(p, "%s.%s: not a list", path, key);
  int count = cJSON_GetArraySize(v);
  if (count < 0 || (unsigned)count > CIS_MANIFEST_MAX_LIST)
    return fail(p, "%s.%s: more than %u entries", path, key, CIS_MANIFEST_MAX_LIST);
  char **list = calloc((size_t)count + 1, sizeof *list);
  if (!list) return fail(p, "out of memory");
  *out = list;
  int i = 0;
  for (const cJSON *it = v->child; it; it = it->next, i++) {
    if (!cJSON_IsString(it) || !it->valuestring || !it->valuestring[0])
      return fail(p, "%s.%s[%d]: not a non-empty string", path, key, i);
    if (strlen(it->valuestring) > 4096) return fail(p, "%s.%s[%d]: too long", path, key, i);
    if (ok && !ok(it->valuestring)) return fail(p, "%s.%s[%d]: invalid value \"%s\"", path, key, i, it->valuestring);
    list[i] = strdup(it->valuestring);
    if (!list[i]) return fail(p, "out of memory");
    *n = (size_t)i + 1;
  }
  return true;
}

bool cis__manifest_name_valid(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 64) return false;
  if (!(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0]))) return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (!(islower(ch) || isdigit(ch) || ch == '-' || ch == '_' || ch == '.')) return false;
  }
  return true;
}

static bool valid_env(const char *s) {
  const char *eq = strchr(s, '=');
  if (!eq || eq == s) return false;
  for (const char *c = s; c < eq; c++)
    if (!(isalnum((unsigned char)*c) || *c == '_')) return false;
  return true;
}

/* A mount's guest path: absolute, no "." or ".." components, no "//". */
static bool valid_guest_path(const char *s) {
  if (s[0] != '/' || strlen(s) > 1024) return false;
  const char *c = s;
  while (*c) {
    while (*c == '/') c++;
    const char *e = c;
    while (*e && *e != '/') e++;
    size_t l = (size_t)(e - c);
    if ((l == 1 && c[0] == '.') || (l == 2 && c[0] == '.' && c[1] == '.')) return false;
    c = e;
  }
  return true;
}

static bool parse_mounts(parser *p, const cJSON *fs, cis_manifest *m) {
  static const char *const fs_fields[] = {"mounts", NULL};
  static const char *const mount_fields[] = {"guest", "type", "source", "volume", "mode", "max_bytes",
                                             "max_files", NULL};
  if (!cJSON_IsObject(fs)) return fail(p, "permissions.fs: not an object");
  if (!only_fields(p, fs, "permissions.fs", fs_fields)) return false;
  const cJSON *ms = cJSON_GetObjectItemCaseSensitive(fs, "mounts");
  if (!ms) return true;
  if (!cJSON_IsArray(ms)) return fail(p, "permissions.fs.mounts: not a list");
  int count = cJSON_GetArraySize(ms);
  if ((unsigned)count > CIS_MANIFEST_MAX_LIST) return fail(p, "permissions.fs.mounts: too many entries");
  m->mounts = calloc((size_t)count + 1, sizeof *m->mounts);
  if (!m->mounts) return fail(p, "out of memory");
  int i = 0;
  for (const cJSON *it = ms->child; it; it = it->next, i++) {
    char path[64];
    snprintf(path, sizeof path, "permissions.fs.mounts[%d]", i);
    if (!cJSON_IsObject(it)) return fail(p, "%s: not an object", path);
    if (!only_fields(p, it, path, mount_fields)) return false;
    cis_manifest_mount *mt = &m->mounts[i];
    m->n_mounts = (size_t)i + 1;
    char *mode = NULL;
    bool ok = get_string(p, it, path, "guest", true, 1024, &mt->guest) &&
              get_string(p, it, path, "type", true, 16, &mt->type) &&
              get_string(p, it, path, "source", false, 4096, &mt->source) &&
              get_string(p, it, path, "volume", false, 64, &mt->volume) &&
              get_string(p, it, path, "mode", false, 8, &mode) &&
              get_u64(p, it, path, "max_bytes", true, UINT64_MAX / 2, &mt->max_bytes) &&
              get_u64(p, it, path, "max_files", false, UINT32_MAX, &mt->max_files);
    if (ok && !valid_guest_path(mt->guest)) ok = fail(p, "%s.guest: must be an absolute path without . or ..", path);
    if (ok && strcmp(mt->type, "mem") && strcmp(mt->type, "host") && strcmp(mt->type, "db"))
      ok = fail(p, "%s.type: must be \"mem\", \"host\" or \"db\"", path);
    if (ok && !strcmp(mt->type, "host") && !mt->source) ok = fail(p, "%s.source: missing (needed by a host mount)", path);
    if (ok && strcmp(mt->type, "host") && mt->source) ok = fail(p, "%s.source: only a host mount has a source", path);
    if (ok && mt->volume && strcmp(mt->type, "db")) ok = fail(p, "%s.volume: only a db mount has a volume", path);
    if (ok && mt->volume && !cis__manifest_name_valid(mt->volume))
      ok = fail(p, "%s.volume: must match [a-z0-9][a-z0-9._-]{0,63}", path);
    if (ok && mode && strcmp(mode, "ro") && strcmp(mode, "rw")) ok = fail(p, "%s.mode: must be \"ro\" or \"rw\"", path);
    if (ok && mode) mt->read_only = !strcmp(mode, "ro");
    free(mode);
    if (!ok) return false;
  }
  return true;
}

static bool parse_permissions(parser *p, const cJSON *perm, cis_manifest *m) {
  static const char *const fields[] = {"kv", "ai", "http", "fs", "env", "log", NULL};
  static const char *const kv_fields[] = {"namespace", "max_keys", "max_bytes", NULL};
  static const char *const ai_fields[] = {"models", NULL};
  static const char *const http_fields[] = {"allow", NULL};
  if (!cJSON_IsObject(perm)) return fail(p, "permissions: not an object");
  if (!only_fields(p, perm, "permissions", fields)) return false;

  const cJSON *kv = cJSON_GetObjectItemCaseSensitive(perm, "kv");
  if (kv) {
    if (cJSON_IsBool(kv)) m->kv = cJSON_IsTrue(kv);
    else if (cJSON_IsObject(kv)) {
      m->kv = true;
      if (!only_fields(p, kv, "permissions.kv", kv_fields) ||
          !get_string(p, kv, "permissions.kv", "namespace", false, 64, &m->kv_namespace) ||
          !get_u64(p, kv, "permissions.kv", "max_keys", false, UINT32_MAX, &m->kv_max_keys) ||
          !get_u64(p, kv, "permissions.kv", "max_bytes", true, UINT64_MAX / 2, &m->kv_max_bytes))
        return false;
      if (m->kv_namespace && !cis__manifest_name_valid(m->kv_namespace))
        return fail(p, "permissions.kv.namespace: must match [a-z0-9][a-z0-9._-]{0,63}");
    } else return fail(p, "permissions.kv: must be true, false or an object");
  }
  const cJSON *ai = cJSON_GetObjectItemCaseSensitive(perm, "ai");
  if (ai) {
    if (cJSON_IsBool(ai)) m->ai = cJSON_IsTrue(ai);
    else if (cJSON_IsObject(ai)) {
      m->ai = true;
      /* "models" was to restrict the models a skill asks for, but no host
       * call takes a model: the operator's ai.model answers every call.
       * The field is read (older manifests and registries hold it) and has
       * no effect; `show` leaves it out. */
      if (!only_fields(p, ai, "permissions.ai", ai_fields) ||
          !get_strings(p, ai, "permissions.ai", "models", &m->ai_models, &m->n_ai_models, NULL))
        return false;
    } else return fail(p, "permissions.ai: must be true, false or an object");
  }
  const cJSON *http = cJSON_GetObjectItemCaseSensitive(perm, "http");
  if (http) {
    if (!cJSON_IsObject(http)) return fail(p, "permissions.http: not an object");
    if (!only_fields(p, http, "permissions.http", http_fields) ||
        !get_strings(p, http, "permissions.http", "allow", &m->http_allow, &m->n_http_allow, NULL))
      return false;
  }
  const cJSON *fs = cJSON_GetObjectItemCaseSensitive(perm, "fs");
  if (fs && !parse_mounts(p, fs, m)) return false;
  if (!get_strings(p, perm, "permissions", "env", &m->env, &m->n_env, valid_env)) return false;
  if (!get_bool(p, perm, "permissions", "log", &m->log)) return false;
  return true;
}

static bool parse_limits(parser *p, const cJSON *lim, cis_manifest *m) {
  static const char *const fields[] = {"timeout_ms", "memory", "call_depth", "fuel", NULL};
  if (!cJSON_IsObject(lim)) return fail(p, "limits: not an object");
  if (!only_fields(p, lim, "limits", fields)) return false;
  uint64_t depth = 0;
  bool ok = get_u64(p, lim, "limits", "timeout_ms", false, 24ull * 3600 * 1000, &m->timeout_ms) &&
            get_u64(p, lim, "limits", "memory", true, 4ull << 30, &m->memory_bytes) &&
            get_u64(p, lim, "limits", "call_depth", false, 1000000, &depth) &&
            get_u64(p, lim, "limits", "fuel", false, UINT64_MAX / 2, &m->fuel);
  m->call_depth = (uint32_t)depth;
  if (ok && m->memory_bytes && m->memory_bytes < 65536)
    ok = fail(p, "limits.memory: at least one page (65536 bytes)");
  return ok;
}

/* "input_schema": kept as compact text. It must be what MCP's Tool.inputSchema
 * accepts, an object whose "type" is "object"; its other keywords are the
 * client's to read (cis does not validate inputs against it). */
static bool parse_input_schema(parser *p, const cJSON *schema, cis_manifest *m) {
  if (!cJSON_IsObject(schema)) return fail(p, "input_schema: not an object");
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(schema, "type");
  if (!cJSON_IsString(t) || strcmp(t->valuestring, "object") != 0)
    return fail(p, "input_schema.type: must be \"object\"");
  if (!(m->input_schema = cJSON_PrintUnformatted(schema))) {
    p->rc = CIS_ENOMEM;
    return false;
  }
  return true;
}

static const char *const abi_names[] = {"auto", "cis_v1", "seed001", "seed000", "wasi"};

const char *cis__abi_name(cis_skill_abi abi) {
  return (unsigned)abi < sizeof abi_names / sizeof abi_names[0] ? abi_names[abi] : "?";
}

cis_result cis__manifest_parse(const char *json, size_t len, cis_manifest **out, char *err,
                               size_t errcap) {
  static const char *const fields[] = {"name", "version", "description", "wasm", "abi", "entry",
                                       "permissions", "limits", "input_schema", NULL};
  static const char *const wasm_fields[] = {"path", "sha256", NULL};
  parser p = {err, errcap, CIS_OK};
  if (err && errcap) err[0] = '\0';
  *out = NULL;
  if (!json) return fail(&p, "no manifest"), CIS_EINVAL;
  if (len > CIS_MANIFEST_MAX_BYTES) {
    fail(&p, "manifest: larger than %u bytes", CIS_MANIFEST_MAX_BYTES);
    return CIS_ETOOBIG;
  }
  cJSON *root = NULL;
  char jerr[160];
  if (cis__json_parse_strict(json, len, true, &root, jerr, sizeof jerr) != CIS_OK) {
    fail(&p, "manifest: %s", jerr);
    return CIS_EJSON;
  }
  cis_manifest *m = calloc(1, sizeof *m);
  if (!m) {
    cJSON_Delete(root);
    return CIS_ENOMEM;
  }
  m->log = true;
  char *abi = NULL, *sha = NULL;
  const cJSON *wasm, *perm, *lim, *schema;
  if (!cJSON_IsObject(root)) {
    fail(&p, "manifest: not a JSON object");
    goto done;
  }
  if (!only_fields(&p, root, "", fields)) goto done;
  if (!get_string(&p, root, "", "name", true, 64, &m->name) ||
      !get_string(&p, root, "", "version", true, 64, &m->version) ||
      !get_string(&p, root, "", "description", false, 4096, &m->description) ||
      !get_string(&p, root, "", "abi", false, 16, &abi) ||
      !get_string(&p, root, "", "entry", false, 256, &m->entry))
    goto done;
  if (!cis__manifest_name_valid(m->name)) {
    fail(&p, "name: must match [a-z0-9][a-z0-9._-]{0,63}");
    goto done;
  }
  if (!m->version[0]) {
    fail(&p, "version: empty");
    goto done;
  }
  if (!m->description && !(m->description = strdup(""))) goto done;
  if (abi) {
    bool found = false;
    for (size_t i = 0; i < sizeof abi_names / sizeof abi_names[0]; i++)
      if (!strcmp(abi, abi_names[i])) {
        m->abi = (cis_skill_abi)i;
        found = true;
      }
    if (!found) {
      fail(&p, "abi: must be one of auto, cis_v1, seed001, seed000, wasi");
      goto done;
    }
  }
  wasm = cJSON_GetObjectItemCaseSensitive(root, "wasm");
  if (!wasm) {
    fail(&p, "wasm: missing");
    goto done;
  }
  if (!cJSON_IsObject(wasm)) {
    fail(&p, "wasm: not an object");
    goto done;
  }
  if (!only_fields(&p, wasm, "wasm", wasm_fields) ||
      !get_string(&p, wasm, "wasm", "path", true, 4096, &m->wasm_path) ||
      !get_string(&p, wasm, "wasm", "sha256", true, 64, &sha))
    goto done;
  if (!m->wasm_path[0] || m->wasm_path[0] == '/' || strstr(m->wasm_path, "..")) {
    fail(&p, "wasm.path: must be a relative path inside the skill folder");
    goto done;
  }
  if (strlen(sha) != 64 || strspn(sha, "0123456789abcdef") != 64) {
    fail(&p, "wasm.sha256: must be 64 lowercase hex digits");
    goto done;
  }
  memcpy(m->sha256, sha, 65);
  perm = cJSON_GetObjectItemCaseSensitive(root, "permissions");
  if (perm && !parse_permissions(&p, perm, m)) goto done;
  lim = cJSON_GetObjectItemCaseSensitive(root, "limits");
  if (lim && !parse_limits(&p, lim, m)) goto done;
  schema = cJSON_GetObjectItemCaseSensitive(root, "input_schema");
  if (schema && !parse_input_schema(&p, schema, m)) goto done;
done:
  free(abi);
  free(sha);
  cJSON_Delete(root);
  if (p.rc != CIS_OK) {
    cis__manifest_free(m);
    return p.rc;
  }
  *out = m;
  return CIS_OK;
}

static void free_strs(char **v) {
  if (!v) return;
  for (char **s = v; *s; s++) free(*s);
  free(v);
}

void cis__manifest_free(cis_manifest *m) {
  if (!m) return;
  free(m->name);
  free(m->version);
  free(m->description);
  free(m->wasm_path);
  free(m->entry);
  free(m->input_schema);
  free(m->kv_namespace);
  free_strs(m->ai_models);
  free_strs(m->http_allow);
  free_strs(m->env);
  for (size_t i = 0; m->mounts && i < m->n_mounts; i++) {
    free(m->mounts[i].guest);
    free(m->mounts[i].type);
    free(m->mounts[i].source);
    free(m->mounts[i].volume);
  }
  free(m->mounts);
  free(m);
}

static cJSON *str_array(char **v, size_t n) {
  cJSON *a = cJSON_CreateArray();
  for (size_t i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
  return a;
}

char *cis__manifest_to_json(const cis_manifest *m, const cis_limits *eff) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  cJSON_AddStringToObject(o, "name", m->name);
  cJSON_AddStringToObject(o, "version", m->version);
  cJSON_AddStringToObject(o, "description", m->description ? m->description : "");
  cJSON *w = cJSON_AddObjectToObject(o, "wasm");
  cJSON_AddStringToObject(w, "path", m->wasm_path);
  cJSON_AddStringToObject(w, "sha256", m->sha256);
  cJSON_AddStringToObject(o, "abi", cis__abi_name(m->abi));
  if (m->entry) cJSON_AddStringToObject(o, "entry", m->entry);
  if (m->input_schema) cJSON_AddItemToObject(o, "input_schema", cJSON_Parse(m->input_schema));
  cJSON *p = cJSON_AddObjectToObject(o, "permissions");
  if (m->kv) {
    cJSON *kv = cJSON_AddObjectToObject(p, "kv");
    cJSON_AddStringToObject(kv, "namespace", m->kv_namespace ? m->kv_namespace : m->name);
    if (m->kv_max_keys) cJSON_AddNumberToObject(kv, "max_keys", (double)m->kv_max_keys);
    if (m->kv_max_bytes) cJSON_AddNumberToObject(kv, "max_bytes", (double)m->kv_max_bytes);
  } else cJSON_AddFalseToObject(p, "kv");
  cJSON_AddBoolToObject(p, "ai", m->ai);
  cJSON *http = cJSON_AddObjectToObject(p, "http");
  cJSON_AddItemToObject(http, "allow", str_array(m->http_allow, m->n_http_allow));
  cJSON *fs = cJSON_AddObjectToObject(p, "fs");
  cJSON *ms = cJSON_AddArrayToObject(fs, "mounts");
  for (size_t i = 0; i < m->n_mounts; i++) {
    const cis_manifest_mount *mt = &m->mounts[i];
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "guest", mt->guest);
    cJSON_AddStringToObject(j, "type", mt->type);
    if (mt->source) cJSON_AddStringToObject(j, "source", mt->source);
    if (mt->volume) cJSON_AddStringToObject(j, "volume", mt->volume);
    cJSON_AddStringToObject(j, "mode", mt->read_only ? "ro" : "rw");
    if (mt->max_bytes) cJSON_AddNumberToObject(j, "max_bytes", (double)mt->max_bytes);
    if (mt->max_files) cJSON_AddNumberToObject(j, "max_files", (double)mt->max_files);
    cJSON_AddItemToArray(ms, j);
  }
  cJSON_AddItemToObject(p, "env", str_array(m->env, m->n_env));
  cJSON_AddBoolToObject(p, "log", m->log);
  cJSON *l = cJSON_AddObjectToObject(o, "limits");
  /* The limits a call gets (the host's say, see cis__skill_limits) when
   * known, else what the manifest asks for. */
  cis_limits d = {.timeout_ms = m->timeout_ms, .max_memory_bytes = m->memory_bytes,
                  .max_call_depth = m->call_depth, .fuel = m->fuel};
  if (eff) d = *eff;
  cJSON_AddNumberToObject(l, "timeout_ms", (double)d.timeout_ms);
  cJSON_AddNumberToObject(l, "memory", (double)d.max_memory_bytes);
  cJSON_AddNumberToObject(l, "call_depth", (double)d.max_call_depth);
  cJSON_AddNumberToObject(l, "fuel", (double)d.fuel);
  char *s = cJSON_Print(o);
  cJSON_Delete(o);
  return s;
}
