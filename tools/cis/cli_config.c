/*
 * This file implements the command line's one configuration: every
 * setting of the host (AI provider, KV store, filesystem database, default
 * limits, log format and level) read from the configuration file
 * ($CIS_HOME/config.json, or $CIS_CONFIG), then the environment, then the
 * flags, each later source taking precedence, and `cis config show`,
 * which prints the effective value of each and where it came from, with
 * secrets masked. The commands that open the skill host (cis skill ...,
 * cis mcp) open it through cli_open_skills, so they all read the same.
 *
 * The file is JSON (cJSON, the project's JSON library), one object whose
 * members mirror the setting names: {"ai": {"base_url": ...}, "kv": ...}.
 * A member the table below does not know is an error, so a typo is not
 * silently ignored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cis/cis_log.h"
#include "cis/cis_serve.h"
#include "cis/cis_skill.h"
#include "cli.h"

/* One setting: its name (the file's path and --set's NAME), the variable
 * that sets it, and what it is. */
typedef struct setting_def {
  const char *name; /* "ai.base_url" */
  const char *env;  /* "CIS_AI_BASE_URL" */
  const char *help; /* for `cis config show --help` */
} setting_def;

enum { S_AI_URL, S_AI_MODEL, S_AI_KEY_ENV, S_KV, S_FS_DB, S_TIMEOUT, S_MAX_MEMORY, S_LOG_FORMAT, S_LOG_LEVEL, S_REQUIRE_SIG, S_ENGINE, S_REGISTRY,
       /* cis serve's own (cli_config_serve): */
       S_SERVE_LISTEN, S_SERVE_WORKERS, S_SERVE_QUEUE, S_SERVE_MAX_BODY, S_SERVE_TENANT_CONC, S_SERVE_MAX_CONN,
       S_SERVE_PER_ADDRESS, S_SERVE_HEAD_TIMEOUT, S_SERVE_MIN_BODY_RATE, S_SERVE_INLINE_US, S_SERVE_MAX_TIMEOUT, S_SERVE_MAX_MEMORY, S_SERVE_MAX_FUEL, S_SERVE_DRAIN,
       S_SERVE_TENANT_SKILLS, S_SERVE_TENANT_MODULE_BYTES, S_SERVE_TENANT_KV_KEYS, S_SERVE_TENANT_KV_BYTES,
       S_SERVE_TENANT_FS_FILES, S_SERVE_TENANT_FS_BYTES, S_SERVE_LANE_WORKERS, S_SERVE_REGISTRY_RATE, S_SERVE_HTTP_THREADS,
       S_SERVE_TOKEN_LOOKUP_RATE, S_SERVE_PUBLIC_RATE, S_N };

static const setting_def defs[S_N] = {
    [S_AI_URL] = {"ai.base_url", "CIS_AI_BASE_URL",
                  "OpenAI-compatible provider's base URL, with or without /v1; none = no AI"},
    [S_AI_MODEL] = {"ai.model", "CIS_AI_MODEL", "the provider's model"},
    [S_AI_KEY_ENV] = {"ai.key_env", "CIS_AI_KEY_ENV", "NAME of the variable holding the API key"},
    [S_KV] = {"kv", "CIS_KV", "KV store: sqlite:PATH or postgres:CONNSTR"},
    [S_FS_DB] = {"fs_db", "CIS_FS_DB", "database of db mounts: sqlite:PATH or postgres:CONNSTR"},
    [S_TIMEOUT] = {"limits.timeout", "CIS_TIMEOUT", "default deadline of a skill call (500ms, 30s, 2m)"},
    [S_MAX_MEMORY] = {"limits.max_memory", "CIS_MAX_MEMORY", "default memory of a skill call (64MiB)"},
    [S_LOG_FORMAT] = {"log.format", "CIS_LOG_FORMAT", "skill log lines on stderr: text or json"},
    [S_LOG_LEVEL] = {"log.level", "CIS_LOG_LEVEL", "least level shown: debug, info, warn or error"},
    [S_REQUIRE_SIG] = {"skills.require_signature", "CIS_REQUIRE_SIGNATURE",
                       "install and run only skills signed by a key the tenant trusts: true or false"},
    [S_ENGINE] = {"engine", "CIS_ENGINE", "what runs skills: interp, aot (compiled) or auto (tiering; docs/aot.md)"},
    [S_REGISTRY] = {"registry", "CIS_REGISTRY",
                    "registry of skills, keys, settings and tokens: sqlite, sqlite:PATH or postgres:CONNSTR "
                    "(shared by several nodes)"},
    [S_SERVE_LISTEN] = {"serve.listen", "CIS_SERVE_LISTEN", "cis serve's addresses: HOST:PORT[,HOST:PORT...]"},
    [S_SERVE_WORKERS] = {"serve.workers", "CIS_SERVE_WORKERS", "cis serve: threads running calls"},
    [S_SERVE_QUEUE] = {"serve.queue", "CIS_SERVE_QUEUE", "cis serve: calls waiting for a worker"},
    [S_SERVE_MAX_BODY] = {"serve.max_body", "CIS_SERVE_MAX_BODY", "cis serve: request body cap (8MiB)"},
    [S_SERVE_TENANT_CONC] = {"serve.tenant_concurrency", "CIS_SERVE_TENANT_CONCURRENCY",
                             "cis serve: calls of one tenant at once (0 = workers)"},
    [S_SERVE_MAX_CONN] = {"serve.max_connections", "CIS_SERVE_MAX_CONNECTIONS", "cis serve: open connections"},
    [S_SERVE_PER_ADDRESS] = {"serve.max_connections_per_address", "CIS_SERVE_MAX_CONNECTIONS_PER_ADDRESS",
                             "cis serve: open connections from one client address"},
    [S_SERVE_HEAD_TIMEOUT] = {"serve.head_timeout", "CIS_SERVE_HEAD_TIMEOUT",
                              "cis serve: longest wait for a request's head (10s)"},
    [S_SERVE_INLINE_US] = {"serve.inline_us", "CIS_SERVE_INLINE_US",
                           "cis serve: microseconds a call may run on the thread that read it (200; 0 = none there)"},
    [S_SERVE_LANE_WORKERS] = {"serve.lane_workers", "CIS_SERVE_LANE_WORKERS",
                              "cis serve: threads at nice 19 for a tenant over its CPU share (2; 0 = none)"},
    [S_SERVE_REGISTRY_RATE] = {"serve.tenant_registry_rate", "CIS_SERVE_TENANT_REGISTRY_RATE",
                               "cis serve: installs and removals one tenant may start a second (20; 0 = no limit)"},
    [S_SERVE_HTTP_THREADS] = {"serve.http_threads", "CIS_SERVE_HTTP_THREADS",
                              "cis serve: polling threads per listen address (0 = 4 per CPU, 8 to 64)"},
    [S_SERVE_TOKEN_LOOKUP_RATE] = {"serve.token_lookup_rate", "CIS_SERVE_TOKEN_LOOKUP_RATE",
                                   "cis serve: lookups a second of bearer tokens not cached (1000; 0 = no limit)"},
    [S_SERVE_PUBLIC_RATE] = {"serve.public_rate", "CIS_SERVE_PUBLIC_RATE",
                             "cis serve: answers a second of the routes that need no token (1000; 0 = no limit)"},
    [S_SERVE_MIN_BODY_RATE] = {"serve.min_body_rate", "CIS_SERVE_MIN_BODY_RATE",
                               "cis serve: bytes a second a request body must average (1KiB)"},
    [S_SERVE_MAX_TIMEOUT] = {"serve.max_timeout", "CIS_SERVE_MAX_TIMEOUT", "cis serve: most a manifest's timeout may be"},
    [S_SERVE_MAX_MEMORY] = {"serve.max_memory", "CIS_SERVE_MAX_MEMORY", "cis serve: most a manifest's memory may be"},
    [S_SERVE_MAX_FUEL] = {"serve.max_fuel", "CIS_SERVE_MAX_FUEL", "cis serve: most a manifest's fuel may be (0 = no cap)"},
    [S_SERVE_DRAIN] = {"serve.drain_timeout", "CIS_SERVE_DRAIN_TIMEOUT",
                       "cis serve: longest wait for calls after SIGTERM (0 = max_timeout + 5s)"},
    [S_SERVE_TENANT_SKILLS] = {"serve.tenant_max_skills", "CIS_SERVE_TENANT_MAX_SKILLS",
                               "cis serve: skills one tenant may have (0 = no limit)"},
    [S_SERVE_TENANT_MODULE_BYTES] = {"serve.tenant_max_module_bytes", "CIS_SERVE_TENANT_MAX_MODULE_BYTES",
                                     "cis serve: bytes of one tenant's modules (0 = no limit)"},
    [S_SERVE_TENANT_KV_KEYS] = {"serve.tenant_max_kv_keys", "CIS_SERVE_TENANT_MAX_KV_KEYS",
                                "cis serve: KV keys of all one tenant's skills (0 = no limit)"},
    [S_SERVE_TENANT_KV_BYTES] = {"serve.tenant_max_kv_bytes", "CIS_SERVE_TENANT_MAX_KV_BYTES",
                                 "cis serve: KV bytes of all one tenant's skills (0 = no limit)"},
    [S_SERVE_TENANT_FS_FILES] = {"serve.tenant_max_fs_files", "CIS_SERVE_TENANT_MAX_FS_FILES",
                                 "cis serve: files and folders of one tenant's db trees (0 = no limit)"},
    [S_SERVE_TENANT_FS_BYTES] = {"serve.tenant_max_fs_bytes", "CIS_SERVE_TENANT_MAX_FS_BYTES",
                                 "cis serve: bytes in files of one tenant's db trees (0 = no limit)"},
};

typedef enum src { SRC_DEFAULT, SRC_FILE, SRC_ENV, SRC_FLAG } src;
static const char *const src_names[] = {"default", "file", "env", "flag"};

/* The effective configuration. */
typedef struct cli_config {
  char home[4096];       /* $CIS_HOME or its default */
  char path[4200];       /* the configuration file */
  bool file_present;     /* it exists */
  char *value[S_N];      /* effective values (malloc'd); NULL = none */
  src source[S_N];       /* where each came from */
  const char *from[S_N]; /* the variable or flag that set it */
} cli_config;

static void config_free(cli_config *c) {
  for (int i = 0; i < S_N; i++) free(c->value[i]);
  memset(c, 0, sizeof *c);
}

static bool set_value(cli_config *c, int i, const char *v, src s, const char *from) {
  char *d = v ? strdup(v) : NULL;
  if (v && !d) return false;
  free(c->value[i]);
  c->value[i] = d;
  c->source[i] = s;
  c->from[i] = from;
  return true;
}

static int find_def(const char *name, size_t len) {
  for (int i = 0; i < S_N; i++)
    if (strlen(defs[i].name) == len && !memcmp(defs[i].name, name, len)) return i;
  return -1;
}

/* Checks one value of setting i; false with the reason in why. */
static bool check_value(int i, const char *v, char *why, size_t cap) {
  uint64_t n;
  switch (i) {
  case S_TIMEOUT:
    if (!cis_parse_duration_ms(v, &n)) return snprintf(why, cap, "needs a duration such as 500ms, 30s or 2m"), false;
    return true;
  case S_MAX_MEMORY:
    if (!cis_parse_size(v, &n)) return snprintf(why, cap, "needs a size such as 64MiB or 1GiB"), false;
    return true;
  case S_LOG_FORMAT:
    if (strcmp(v, "text") && strcmp(v, "json")) return snprintf(why, cap, "is text or json"), false;
    return true;
  case S_LOG_LEVEL:
    if (strcmp(v, "debug") && strcmp(v, "info") && strcmp(v, "warn") && strcmp(v, "error"))
      return snprintf(why, cap, "is debug, info, warn or error"), false;
    return true;
  case S_REQUIRE_SIG:
    if (strcmp(v, "true") && strcmp(v, "false")) return snprintf(why, cap, "is true or false"), false;
    return true;
  case S_ENGINE:
    if (strcmp(v, "interp") && strcmp(v, "aot") && strcmp(v, "auto"))
      return snprintf(why, cap, "is interp, aot or auto"), false;
    return true;
  case S_SERVE_WORKERS:
  case S_SERVE_QUEUE:
  case S_SERVE_TENANT_CONC:
  case S_SERVE_MAX_CONN:
  case S_SERVE_PER_ADDRESS:
  case S_SERVE_MAX_FUEL:
  case S_SERVE_INLINE_US:
  case S_SERVE_LANE_WORKERS:
  case S_SERVE_REGISTRY_RATE:
  case S_SERVE_HTTP_THREADS:
  case S_SERVE_TOKEN_LOOKUP_RATE:
  case S_SERVE_PUBLIC_RATE:
  case S_SERVE_TENANT_SKILLS:
  case S_SERVE_TENANT_KV_KEYS:
  case S_SERVE_TENANT_FS_FILES:
    if (!cis_parse_u64(v, &n)) return snprintf(why, cap, "needs a whole number"), false;
    return true;
  case S_SERVE_MAX_TIMEOUT:
  case S_SERVE_HEAD_TIMEOUT:
  case S_SERVE_DRAIN:
    if (!cis_parse_duration_ms(v, &n)) return snprintf(why, cap, "needs a duration such as 500ms, 30s or 2m"), false;
    return true;
  case S_SERVE_MAX_BODY:
  case S_SERVE_MAX_MEMORY:
  case S_SERVE_MIN_BODY_RATE:
  case S_SERVE_TENANT_MODULE_BYTES:
  case S_SERVE_TENANT_KV_BYTES:
  case S_SERVE_TENANT_FS_BYTES:
    if (!cis_parse_size(v, &n)) return snprintf(why, cap, "needs a size such as 64MiB or 1GiB"), false;
    return true;
  case S_SERVE_LISTEN:
    if (!*v || strstr(v, ",,") || v[strlen(v) - 1] == ',') return snprintf(why, cap, "is HOST:PORT[,HOST:PORT...]"), false;
    return true;
  /* The library's own reading (src/db), as each service will read it. */
  case S_REGISTRY:
  case S_KV:
  case S_FS_DB:
    if (cis_db_spec_check(v, i == S_REGISTRY) != CIS_OK) return snprintf(why, cap, "%s", cis_errmsg(NULL)), false;
    return true;
  default: return true;
  }
}

/* How an error shows a refused value: ", not \"VALUE\"", or nothing for a
 * database spec, which may hold a password (the library's message quotes
 * it no further than its scheme). */
static const char *refused(int i, const char *v, char *buf, size_t cap) {
  if (i == S_KV || i == S_FS_DB || i == S_REGISTRY) return "";
  snprintf(buf, cap, ", not \"%.100s\"", v);
  return buf;
}

/* Reads the file's members into c: each a string (or, for a limit, a
 * number: milliseconds or bytes). */
static cis_result read_file_members(cli_config *c, const cJSON *obj, const char *prefix, char *err, size_t cap) {
  for (const cJSON *m = obj->child; m; m = m->next) {
    char name[128];
    snprintf(name, sizeof name, "%s%s", prefix, m->string);
    if (cJSON_IsObject(m)) {
      bool group = false;
      size_t nl = strlen(name);
      for (int i = 0; i < S_N; i++) group |= !strncmp(defs[i].name, name, nl) && defs[i].name[nl] == '.';
      if (!group) return snprintf(err, cap, "%s: unknown setting %s", c->path, name), CIS_EINVAL;
      char sub[130];
      snprintf(sub, sizeof sub, "%s.", name);
      cis_result rc = read_file_members(c, m, sub, err, cap);
      if (rc != CIS_OK) return rc;
      continue;
    }
    int i = find_def(name, strlen(name));
    if (i < 0) return snprintf(err, cap, "%s: unknown setting %s (cis config show lists them)", c->path, name), CIS_EINVAL;
    char num[32], why[256], shown[120];
    const char *v;
    if (cJSON_IsString(m)) v = m->valuestring;
    else if (cJSON_IsNumber(m) && (i == S_TIMEOUT || i == S_MAX_MEMORY || (i > S_SERVE_LISTEN && i < S_N)) &&
             m->valuedouble >= 0 &&
             m->valuedouble < 1.8e19 && m->valuedouble == (double)(uint64_t)m->valuedouble) {
      snprintf(num, sizeof num, "%llu", (unsigned long long)m->valuedouble);
      v = num;
    } else if (cJSON_IsBool(m) && i == S_REQUIRE_SIG) {
      v = cJSON_IsTrue(m) ? "true" : "false";
    } else if (cJSON_IsNull(m)) {
      v = NULL;
    } else {
      return snprintf(err, cap, "%s: %s: needs a string", c->path, name), CIS_EINVAL;
    }
    if (v && !check_value(i, v, why, sizeof why))
      return snprintf(err, cap, "%s: %s %s%s", c->path, name, why, refused(i, v, shown, sizeof shown)), CIS_EINVAL;
    if (!set_value(c, i, v, SRC_FILE, c->path)) return CIS_ENOMEM;
  }
  return CIS_OK;
}

static cis_result read_config_file(cli_config *c, char *err, size_t cap) {
  FILE *f = fopen(c->path, "rb");
  if (!f) return CIS_OK; /* no file: nothing to read */
  fclose(f);
  c->file_present = true;
  size_t len;
  uint8_t *text = cli_read_file(c->path, &len);
  if (!text) return snprintf(err, cap, "%s: cannot read it", c->path), CIS_EIO;
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts((const char *)text, len, &end, false);
  cis_result rc = CIS_OK;
  /* Nothing but white space may follow the object. */
  while (root && end && end < (const char *)text + len && *end && strchr(" \t\r\n", *end)) end++;
  if (!root || (end && end != (const char *)text + len)) {
    snprintf(err, cap, "%s: not JSON (at byte %ld)", c->path,
             (long)((end ? end : cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : (const char *)text) - (const char *)text));
    rc = CIS_EJSON;
  } else if (!cJSON_IsObject(root)) {
    snprintf(err, cap, "%s: needs a JSON object", c->path);
    rc = CIS_EJSON;
  } else {
    rc = read_file_members(c, root, "", err, cap);
  }
  cJSON_Delete(root);
  free(text);
  return rc;
}

/* The effective configuration: defaults, the file, the environment, the
 * flags. A bad value is CIS_EINVAL (CIS_EJSON for a file that is not
 * JSON) with err saying which setting of which source. */
static cis_result load_config(const cli_host_flags *fl, cli_config *c, char *err, size_t cap) {
  memset(c, 0, sizeof *c);
  err[0] = '\0';
  const char *h = getenv("CIS_HOME");
  if (h && *h) snprintf(c->home, sizeof c->home, "%s", h);
  else if (getenv("HOME")) snprintf(c->home, sizeof c->home, "%s/.local/share/cis", getenv("HOME"));
  const char *cp = getenv("CIS_CONFIG");
  if (cp && *cp) snprintf(c->path, sizeof c->path, "%s", cp);
  else snprintf(c->path, sizeof c->path, "%s/config.json", c->home);
  /* Defaults: what the library does when told nothing. */
  char kv[4200], fs[4200];
  snprintf(kv, sizeof kv, "sqlite:%s/kv.db", c->home);
  snprintf(fs, sizeof fs, "sqlite:%s/fs.db", c->home);
  cis_limits lim;
  cis_limits_default(&lim);
  char t[32], mem[32];
  snprintf(t, sizeof t, "%llums", (unsigned long long)lim.timeout_ms);
  snprintf(mem, sizeof mem, "%llu", (unsigned long long)lim.max_memory_bytes);
  const char *dv[S_N] = {[S_AI_MODEL] = "default", [S_KV] = kv, [S_FS_DB] = fs, [S_TIMEOUT] = t,
                         [S_MAX_MEMORY] = mem, [S_LOG_FORMAT] = "text", [S_LOG_LEVEL] = "debug",
                         [S_REQUIRE_SIG] = "false", [S_ENGINE] = "auto", [S_REGISTRY] = "sqlite",
                         /* cis serve's, as cis_server_config_default and the ceilings have them */
                         [S_SERVE_LISTEN] = CIS_SERVE_DEFAULT_LISTEN, [S_SERVE_WORKERS] = "4",
                         [S_SERVE_QUEUE] = "64", [S_SERVE_MAX_BODY] = "8MiB", [S_SERVE_TENANT_CONC] = "0",
                         [S_SERVE_MAX_CONN] = "256",
                         [S_SERVE_PER_ADDRESS] = "64", [S_SERVE_HEAD_TIMEOUT] = "10s", [S_SERVE_INLINE_US] = "200",
                         [S_SERVE_MIN_BODY_RATE] = "1KiB", [S_SERVE_MAX_TIMEOUT] = "5m", [S_SERVE_MAX_MEMORY] = "1GiB",
                         [S_SERVE_MAX_FUEL] = "0", [S_SERVE_DRAIN] = "0", [S_SERVE_TENANT_SKILLS] = "0",
                         [S_SERVE_TENANT_MODULE_BYTES] = "0", [S_SERVE_TENANT_KV_KEYS] = "0",
                         [S_SERVE_TENANT_KV_BYTES] = "0", [S_SERVE_TENANT_FS_FILES] = "0",
                         [S_SERVE_TENANT_FS_BYTES] = "0", [S_SERVE_LANE_WORKERS] = "2",
                         [S_SERVE_REGISTRY_RATE] = "20", [S_SERVE_HTTP_THREADS] = "0",
                         [S_SERVE_TOKEN_LOOKUP_RATE] = "1000", [S_SERVE_PUBLIC_RATE] = "1000"};
  for (int i = 0; i < S_N; i++)
    if (!set_value(c, i, dv[i], SRC_DEFAULT, NULL)) return CIS_ENOMEM;
  cis_result rc = read_config_file(c, err, cap);
  if (rc != CIS_OK) return rc;
  char why[256], shown[120];
  /* The older switch for JSON lines, under the newer variable. */
  if (getenv("CIS_LOG_JSON") && !set_value(c, S_LOG_FORMAT, "json", SRC_ENV, "CIS_LOG_JSON")) return CIS_ENOMEM;
  for (int i = 0; i < S_N; i++) {
    const char *v = getenv(defs[i].env);
    if (!v || !*v) continue;
    if (!check_value(i, v, why, sizeof why))
      return snprintf(err, cap, "$%s: %s %s%s", defs[i].env, defs[i].name, why, refused(i, v, shown, sizeof shown)),
             CIS_EINVAL;
    if (!set_value(c, i, v, SRC_ENV, defs[i].env)) return CIS_ENOMEM;
  }
  for (size_t k = 0; fl && k < fl->sets.n; k++) {
    const char *s = fl->sets.items[k], *eq = strchr(s, '=');
    int i = eq ? find_def(s, (size_t)(eq - s)) : -1;
    if (i < 0)
      return snprintf(err, cap, "--set \"%.100s\": needs NAME=VALUE with a setting NAME (cis config show lists them)", s),
             CIS_EINVAL;
    if (eq[1] && !check_value(i, eq + 1, why, sizeof why))
      return snprintf(err, cap, "--set %s %s%s", defs[i].name, why, refused(i, eq + 1, shown, sizeof shown)),
             CIS_EINVAL;
    if (!set_value(c, i, eq[1] ? eq + 1 : NULL, SRC_FLAG, "--set")) return CIS_ENOMEM;
  }
  const struct {
    const char *v;
    int i;
    const char *flag;
  } direct[] = {{fl ? fl->log_level : NULL, S_LOG_LEVEL, "--log-level"},
                {fl ? fl->log_format : NULL, S_LOG_FORMAT, "--log-format"},
                {fl ? fl->engine : NULL, S_ENGINE, "--engine"}};
  if (fl && fl->require_signature && !set_value(c, S_REQUIRE_SIG, "true", SRC_FLAG, "--require-signature"))
    return CIS_ENOMEM;
  for (size_t k = 0; k < sizeof direct / sizeof direct[0]; k++) {
    if (!direct[k].v) continue;
    if (!check_value(direct[k].i, direct[k].v, why, sizeof why))
      return snprintf(err, cap, "%s %s, not \"%.100s\"", direct[k].flag, why, direct[k].v), CIS_EINVAL;
    if (!set_value(c, direct[k].i, direct[k].v, SRC_FLAG, direct[k].flag)) return CIS_ENOMEM;
  }
  return CIS_OK;
}

/* ----------------------------------------------------------- the host */

/* Skill log lines on stderr from the least level up; none when quiet. */
typedef struct level_sink {
  int min_level; /* lines below are dropped; 4 = none (--quiet) */
} level_sink;

static void level_write(void *u, const cis_log_record *rec, const char *line, size_t len) {
  const level_sink *ls = u;
  if ((int)rec->level < ls->min_level) return;
  fwrite(line, 1, len, stderr);
}

static int level_of(const char *name) {
  static const char *const names[] = {"debug", "info", "warn", "error"};
  for (int i = 0; i < 4; i++)
    if (name && !strcmp(name, names[i])) return i;
  return 0;
}

size_t cli_host_opts(cli_host_flags *f, cli_opt *opts) {
  const cli_opt rows[CLI_HOST_NOPTS] = {
      {"--log-level", CLI_OPT_STR, &f->log_level, NULL, "LEVEL",
       "skill log lines shown on stderr from LEVEL up: debug, info, warn, error"},
      {"--log-format", CLI_OPT_STR, &f->log_format, NULL, "FORMAT", "skill log lines as text or json"},
      {"--quiet", CLI_OPT_FLAG, &f->quiet, NULL, NULL, "no skill log lines on stderr"},
      {"--set", CLI_OPT_LIST, &f->sets, NULL, "NAME=VALUE",
       "a setting of this run over the configuration file and environment (cis config show)"},
      {"--require-signature", CLI_OPT_FLAG, &f->require_signature, NULL, NULL,
       "only skills signed by a key the tenant trusts (cis key trust)"},
      {"--engine", CLI_OPT_STR, &f->engine, NULL, "NAME",
       "what runs skills: interp, aot (compiled) or auto (tiering); the setting engine"},
  };
  memcpy(opts, rows, sizeof rows);
  return CLI_HOST_NOPTS;
}

int cli_host_flags_check(const char *cmd, const cli_host_flags *f) {
  char why[256], shown[120];
  const struct {
    const char *v;
    int i;
    const char *flag;
  } direct[] = {{f->log_level, S_LOG_LEVEL, "--log-level"},
                {f->log_format, S_LOG_FORMAT, "--log-format"},
                {f->engine, S_ENGINE, "--engine"}};
  for (size_t k = 0; k < sizeof direct / sizeof direct[0]; k++)
    if (direct[k].v && !check_value(direct[k].i, direct[k].v, why, sizeof why)) {
      fprintf(stderr, "cis %s: %s %s, not \"%.100s\"\n", cmd, direct[k].flag, why, direct[k].v);
      return CLI_EXIT_USAGE;
    }
  for (size_t k = 0; k < f->sets.n; k++) {
    const char *s = f->sets.items[k], *eq = strchr(s, '=');
    int i = eq ? find_def(s, (size_t)(eq - s)) : -1;
    if (i < 0) {
      fprintf(stderr, "cis %s: --set \"%.100s\": needs NAME=VALUE with a setting NAME (cis config show lists them)\n",
              cmd, s);
      return CLI_EXIT_USAGE;
    }
    if (eq[1] && !check_value(i, eq + 1, why, sizeof why)) {
      fprintf(stderr, "cis %s: --set %s %s%s\n", cmd, defs[i].name, why, refused(i, eq + 1, shown, sizeof shown));
      return CLI_EXIT_USAGE;
    }
  }
  return CLI_EXIT_OK;
}

/* Fills sc from c (its strings stay c's) and f's --quiet. */
static void skills_config_of(const cli_config *cc, const cli_host_flags *f, cis_skills_config *sc_out) {
  /* The sink outlives the handle: one per process is enough. */
  static level_sink ls;
  static cis_log_sink sink;
  ls.min_level = f && f->quiet ? 4 : level_of(cc->value[S_LOG_LEVEL]);
  sink = (cis_log_sink){.version = CIS_LOG_SINK_VERSION, .user = &ls, .write = level_write};
  cis_skills_config sc;
  cis_skills_config_default(&sc);
  const cli_config c = *cc;
  sc.kv_spec = c.value[S_KV];
  sc.vfs_db_spec = c.value[S_FS_DB];
  sc.registry = c.value[S_REGISTRY];
  /* "" rather than NULL: the library would read the variable again. */
  sc.ai_base_url = c.value[S_AI_URL] ? c.value[S_AI_URL] : "";
  sc.ai_model = c.value[S_AI_MODEL] ? c.value[S_AI_MODEL] : "";
  sc.ai_key_env = c.value[S_AI_KEY_ENV] ? c.value[S_AI_KEY_ENV] : "";
  sc.log_sink = &sink;
  sc.require_signature = !strcmp(c.value[S_REQUIRE_SIG], "true");
  sc.engine = c.value[S_ENGINE];
  sc.tenant = f ? f->tenant : NULL;
  sc.log_format = !strcmp(c.value[S_LOG_FORMAT], "json") ? CIS_LOG_JSON : CIS_LOG_TEXT;
  cis_limits_default(&sc.limits);
  cis_parse_duration_ms(c.value[S_TIMEOUT], &sc.limits.timeout_ms);
  cis_parse_size(c.value[S_MAX_MEMORY], &sc.limits.max_memory_bytes);
  if (!sc.limits.timeout_ms || !sc.limits.max_memory_bytes) {
    cis_limits d;
    cis_limits_default(&d);
    if (!sc.limits.timeout_ms) sc.limits.timeout_ms = d.timeout_ms;
    if (!sc.limits.max_memory_bytes) sc.limits.max_memory_bytes = d.max_memory_bytes;
  }
  *sc_out = sc;
}

cis_result cli_open_skills(const cli_host_flags *f, cis_skills **s, char *err, size_t errcap) {
  cli_config c;
  *s = NULL;
  cis_result rc = load_config(f, &c, err, errcap);
  if (rc == CIS_OK) {
    cis_skills_config sc;
    skills_config_of(&c, f, &sc);
    if ((rc = cis_skills_open(&sc, s)) != CIS_OK) {
      snprintf(err, errcap, "%s", *s ? cis_skills_errmsg(*s) : cis_strerror(rc));
      cis_skills_close(*s);
      *s = NULL;
    }
  }
  config_free(&c);
  return rc;
}

cis_result cli_config_load(const cli_host_flags *f, const cli_flag_set *extra, size_t nextra, cli_config **out,
                           char *err, size_t errcap) {
  *out = NULL;
  cli_config *c = malloc(sizeof *c);
  if (!c) return CIS_ENOMEM;
  cis_result rc = load_config(f, c, err, errcap);
  /* A command's own flags come last: over the file, the environment and --set. */
  for (size_t k = 0; rc == CIS_OK && k < nextra; k++) {
    int i = find_def(extra[k].setting, strlen(extra[k].setting));
    char why[256], shown[120];
    if (i < 0 || !extra[k].value) continue;
    if (!check_value(i, extra[k].value, why, sizeof why))
      rc = (snprintf(err, errcap, "%s %s%s", extra[k].flag, why, refused(i, extra[k].value, shown, sizeof shown)),
            CIS_EINVAL);
    else if (!set_value(c, i, extra[k].value, SRC_FLAG, extra[k].flag))
      rc = CIS_ENOMEM;
  }
  if (rc != CIS_OK) {
    config_free(c);
    free(c);
    return rc;
  }
  *out = c;
  return CIS_OK;
}

const char *cli_config_value(const cli_config *c, const char *setting) {
  int i = find_def(setting, strlen(setting));
  return i < 0 ? NULL : c->value[i];
}

void cli_config_skills(const cli_config *c, const cli_host_flags *f, cis_skills_config *sc) {
  skills_config_of(c, f, sc);
}

void cli_config_free(cli_config *c) {
  if (!c) return;
  config_free(c);
  free(c);
}

/* --------------------------------------------------------- config show */

/* A value as it may be shown: a password in a connection string masked
 * (key=value "password=..." and URI "user:pass@"). */
static void masked(int i, const char *v, char *out, size_t cap) {
  snprintf(out, cap, "%s", v);
  if (i != S_KV && i != S_FS_DB && i != S_REGISTRY) return;
  char *p = strstr(out, "password=");
  if (p) {
    char *e = p + 9;
    size_t n = strcspn(e, " ");
    if (n) {
      memmove(e + 4, e + n, strlen(e + n) + 1);
      memcpy(e, "****", 4);
    }
  }
  char *scheme = strstr(out, "://");
  if (scheme) {
    char *at = strchr(scheme + 3, '@'), *colon = strchr(scheme + 3, ':');
    if (at && colon && colon < at) {
      memmove(colon + 5, at, strlen(at) + 1);
      memcpy(colon + 1, "****", 4);
    }
  }
}

int cli_cmd_config(int argc, char **argv) {
  cli_host_flags fl = {0};
  bool json = false, help = false;
  cli_opt opts[CLI_HOST_NOPTS + 1];
  size_t nopts = cli_host_opts(&fl, opts);
  opts[nopts++] = (cli_opt){"--json", CLI_OPT_FLAG, &json, NULL, NULL, "print one JSON document"};
  const char *pos[2];
  int npos = 0;
  int code = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
                 ? (help = true, CLI_EXIT_OK)
                 : cli_parse_mixed("config", opts, nopts, argc, argv, pos, 1, &npos, &help);
  if (code == CLI_EXIT_OK && !help) code = cli_host_flags_check("config", &fl);
  if (code == CLI_EXIT_OK && !help && (npos != 1 || strcmp(pos[0], "show"))) {
    fprintf(stderr, npos ? "cis config: unknown subcommand \"%s\"\n" : "cis config: no subcommand given%s\n",
            npos ? pos[0] : "");
    code = CLI_EXIT_USAGE;
  }
  if (help || code != CLI_EXIT_OK) {
    FILE *f = help ? stdout : stderr;
    fprintf(f, "usage: cis config show [--json] [--set NAME=VALUE]... [--log-level L] [--log-format F]\n"
               "Prints the effective value of every setting and where it came from: the\n"
               "configuration file ($CIS_HOME/config.json, or $CIS_CONFIG), then the\n"
               "environment, then flags, each over the one before. Secrets are masked.\n"
               "Settings (file member / variable):\n");
    for (int i = 0; i < S_N; i++) fprintf(f, "  %-18s %-16s %s\n", defs[i].name, defs[i].env, defs[i].help);
    fprintf(f, "Options:\n");
    cli_print_opts(f, opts, nopts);
    cli_strlist_free(&fl.sets);
    return help ? CLI_EXIT_OK : code;
  }
  cli_config c;
  char err[600];
  cis_result rc = load_config(&fl, &c, err, sizeof err);
  cli_strlist_free(&fl.sets);
  if (rc != CIS_OK) {
    config_free(&c);
    if (json) return cli_json_fail(rc, err);
    cli_error("config", rc, err);
    return cli_exit_code(rc);
  }
  const char *key_env = c.value[S_AI_KEY_ENV];
  const char *key = key_env ? getenv(key_env) : NULL;
  cJSON *d = json ? cli_json_doc(CIS_OK, NULL) : NULL;
  cJSON *set = NULL;
  if (json) {
    cJSON_AddStringToObject(d, "file", c.path);
    cJSON_AddBoolToObject(d, "file_present", c.file_present);
    set = cJSON_AddObjectToObject(d, "settings");
  } else {
    printf("configuration file: %s%s\n", c.path, c.file_present ? "" : " (absent)");
  }
  for (int i = 0; i < S_N; i++) {
    char shown[4200];
    masked(i, c.value[i] ? c.value[i] : "", shown, sizeof shown);
    if (json) {
      cJSON *o = cJSON_AddObjectToObject(set, defs[i].name);
      if (c.value[i]) cJSON_AddStringToObject(o, "value", shown);
      else cJSON_AddNullToObject(o, "value");
      cJSON_AddStringToObject(o, "source", src_names[c.source[i]]);
      if (c.from[i]) cJSON_AddStringToObject(o, "from", c.from[i]);
    } else {
      char from[300] = "";
      if (c.source[i] == SRC_ENV) snprintf(from, sizeof from, " ($%s)", c.from[i]);
      else if (c.source[i] == SRC_FLAG) snprintf(from, sizeof from, " (%s)", c.from[i]);
      printf("%-18s %-40s %s%s\n", defs[i].name, c.value[i] ? shown : "(none)", src_names[c.source[i]], from);
    }
  }
  /* The key itself: whether it is there, never what it is. */
  const char *key_state = !key_env ? "none (no ai.key_env)" : key && *key ? "set (****)" : "NOT SET";
  if (json) {
    cJSON *o = cJSON_AddObjectToObject(set, "ai.key");
    cJSON_AddStringToObject(o, "value", key_env && key && *key ? "****" : "");
    cJSON_AddBoolToObject(o, "set", key_env && key && *key);
    if (key_env) cJSON_AddStringToObject(o, "from", key_env);
  } else {
    char from[300] = "";
    if (key_env) snprintf(from, sizeof from, " ($%s)", key_env);
    printf("%-18s %-40s %s\n", "ai.key", key_state, key_env ? from + 1 : "");
  }
  if (!c.value[S_AI_URL] && !json) printf("(no ai.base_url: AI calls fail with CIS_ENOPROVIDER)\n");
  else if (key_env && !(key && *key) && !json)
    printf("(ai.key_env names an unset variable: AI calls fail with CIS_ENOPROVIDER, other calls run)\n");
  config_free(&c);
  return json ? cli_json_print(d) : CLI_EXIT_OK;
}
