/*
 * This file implements `cis skill ...`: install, list, show, run and
 * remove skills, run a bare module with `cis skill run --wasm FILE` (the
 * seeds' form), and `init` (cmd_skill_init.c). It is a thin user of
 * include/cis/cis_skill.h.
 *
 * Every subcommand reads its flags from a cli_opt table with the shared
 * value parser (cli_values.c), takes --help (never as an argument), and
 * exits with cli_exit_code() of what failed; `run`, `list` and `show` also
 * take --json (cli_json.c).
 *
 * `install` fills in the manifest's wasm.sha256 when it is absent or
 * empty: it hashes the module and installs from a copy of skill.json,
 * written next to it (host mounts are relative to the skill's folder) and
 * removed afterwards. A present sha256 is checked by the library.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


#include "cis/cis_skill.h"
#include "cli.h"
#include "cmd_skill.h"

#define MAX_GRANTS 64 /* per grant flag; more is a usage error */

/* One `cis skill` subcommand. */
typedef struct skill_sub {
  const char *name;                  /* what the user types after `cis skill` */
  int (*run)(int argc, char **argv); /* argv[0] is name; returns the exit code */
  const char *synopsis;              /* the usage line(s) after "cis skill " */
  const char *summary;               /* one line for `cis skill help` */
} skill_sub;

static int sub_install(int argc, char **argv);
/* The progress line of a compile on a terminal (cmd_compile.c). */
typedef struct cli_progress cli_progress;
cli_progress *cli_progress_start(const char *label, const char *otherwise);
void cli_progress_stop(cli_progress *p);
static int sub_list(int argc, char **argv);
static int sub_show(int argc, char **argv);
static int sub_run(int argc, char **argv);
static int sub_remove(int argc, char **argv);
static int sub_config(int argc, char **argv);
static int sub_help(int argc, char **argv);

static const skill_sub subs[] = {
    {"install", sub_install, "install [GRANTS...] DIR|skill.json",
     "install (or replace) a skill from its folder"},
    {"list", sub_list, "list [--json]", "list installed skills"},
    {"show", sub_show, "show [--json] NAME", "print a skill's manifest, limits and grants"},
    {"run", sub_run,
     "run [OPTIONS] NAME\n"
     "       cis skill run [OPTIONS] --wasm FILE.wasm [--kv] [--ai] [--allow-host RULE]...",
     "run an installed skill, or a bare module"},
    {"remove", sub_remove, "remove [--purge] NAME", "uninstall a skill (--purge: and delete its data)"},
    {"config", sub_config,
     "config set NAME KEY VALUE | config unset NAME KEY | config show [--json] NAME",
     "the operator's settings of a skill, read by its config_get"},
    {"sign", cli_cmd_skill_sign, "sign DIR|skill.json --key NAME|FILE",
     "sign a skill folder (skill.sig) with an Ed25519 key of `cis key create`"},
    {"init", cis_cmd_skill_init, "init NAME --lang c|rust|as [--dir DIR] [--sdk DIR]",
     "write a new skill's folder: manifest, source and build script"},
    {"help", sub_help, "help [SUBCOMMAND]", "show this help, or a subcommand's"},
};
#define NSUBS (sizeof subs / sizeof subs[0])

static const skill_sub *find_sub(const char *name) {
  for (size_t i = 0; i < NSUBS; i++)
    if (!strcmp(subs[i].name, name)) return &subs[i];
  return NULL;
}

static void overview(FILE *f) {
  fprintf(f, "usage: cis skill SUBCOMMAND [OPTIONS] [ARGS...]\n\nSubcommands:\n");
  for (size_t i = 0; i < NSUBS; i++) fprintf(f, "  %-8s %s\n", subs[i].name, subs[i].summary);
  fprintf(f, "\nRun `cis skill SUBCOMMAND --help` for its options.\n"
             "Configuration: $CIS_HOME/config.json, the environment (CIS_HOME, CIS_KV,\n"
             "CIS_AI_BASE_URL, CIS_AI_MODEL, CIS_AI_KEY_ENV, CIS_LOG_FORMAT, ...) and flags,\n"
             "each over the one before: `cis config show` prints them. See docs/cli.md.\n");
}

/* Prints a subcommand's usage and options; on stdout for --help (exit 0),
 * on stderr after a usage error (exit 2). */
static int sub_usage(const char *name, const char *text, const cli_opt *opts, size_t nopts,
                     bool help) {
  FILE *f = help ? stdout : stderr;
  fprintf(f, "usage: cis skill %s\n%s", find_sub(name)->synopsis, text);
  fprintf(f, "Options:\n");
  cli_print_opts(f, opts, nopts);
  return help ? CLI_EXIT_OK : CLI_EXIT_USAGE;
}

/* Prints "cis: CIS_NAME: message", the name said once. */
static void print_error(cis_result rc, const char *msg) {
  fprintf(stderr, "cis: %s: %s\n", cis_errname(rc), cli_error_detail(rc, msg));
}

/* Says what failed, as text or as the --json document; returns the exit
 * code. */
static int fail(bool json, cis_result rc, const char *msg) {
  if (json) return cli_json_fail(rc, msg);
  print_error(rc, msg);
  return cli_exit_code(rc);
}

/* Opens tenant's registry (NULL: the default tenant's) with the one
 * configuration (cli_config.c: the file under CIS_HOME, the environment,
 * then flags). */
static cis_result open_skills(const char *tenant, bool require_sig, cis_skills **s, char *err, size_t errcap) {
  const cli_host_flags f = {.tenant = tenant, .require_signature = require_sig};
  return cli_open_skills(&f, s, err, errcap);
}

/* The --require-signature row of the subcommands that open the registry
 * (docs/signing.md: every command that opens the skill host takes it). */
#define REQUIRE_SIG_OPT(var) \
  {"--require-signature", CLI_OPT_FLAG, &(var), NULL, NULL, "only skills signed by a key the tenant trusts"}

/* The --tenant row every subcommand that opens the registry has: the
 * handle is that tenant's, so NAME is that tenant's skill, never another
 * tenant's of the same name. */
#define TENANT_OPT(var) \
  {"--tenant", CLI_OPT_STR, &(var), NULL, "ID", "whose skills (default: default)"}

/* ------------------------------------------------------------- install */

/* True when path is a file that holds a WebAssembly module rather than a
 * manifest: its name ends in .wasm or it opens with "\0asm". */
static bool looks_like_wasm(const char *path) {
  size_t n = strlen(path);
  if (n >= 5 && !strcmp(path + n - 5, ".wasm")) return true;
  FILE *f = fopen(path, "rb");
  if (!f) return false;
  char magic[4] = {0};
  size_t got = fread(magic, 1, 4, f);
  fclose(f);
  return got == 4 && !memcmp(magic, "\0asm", 4);
}

/* When the manifest at `manifest` has no wasm.sha256 (absent or ""),
 * writes a copy beside it with the module's hash filled in and puts its
 * path in tmp (the caller installs from it and unlinks it). Leaves tmp
 * empty when there is nothing to fill or the manifest is not readable as
 * JSON (the library then says what is wrong with it). Returns CIS_OK or
 * the error, with msg set. */
static cis_result fill_sha256(const char *manifest, char *tmp, size_t tmpcap, char *msg,
                              size_t msgcap) {
  tmp[0] = '\0';
  size_t len;
  uint8_t *text = cli_read_file(manifest, &len);
  if (!text) {
    snprintf(msg, msgcap, "cannot read %.400s", manifest);
    return CIS_EIO;
  }
  cJSON *root = cJSON_ParseWithLength((const char *)text, len);
  free(text);
  cJSON *wasm = root ? cJSON_GetObjectItemCaseSensitive(root, "wasm") : NULL;
  cJSON *path = wasm ? cJSON_GetObjectItemCaseSensitive(wasm, "path") : NULL;
  cJSON *sha = wasm ? cJSON_GetObjectItemCaseSensitive(wasm, "sha256") : NULL;
  bool missing = !sha || (cJSON_IsString(sha) && !sha->valuestring[0]);
  /* Only a path the library would accept is read: relative, no "..". */
  if (!missing || !cJSON_IsString(path) || !path->valuestring[0] || path->valuestring[0] == '/' ||
      strstr(path->valuestring, "..")) {
    cJSON_Delete(root);
    return CIS_OK;
  }
  cis_result rc = CIS_OK;
  const char *slash = strrchr(manifest, '/');
  size_t dirlen = slash ? (size_t)(slash - manifest) + 1 : 0;
  char mod[4096];
  snprintf(mod, sizeof mod, "%.*s%s", (int)dirlen, manifest, path->valuestring);
  uint8_t *bytes = cli_read_file(mod, &len);
  char hex[65];
  if (!bytes) {
    snprintf(msg, msgcap, "wasm.path: cannot read the module %.400s (build it first)", mod);
    rc = CIS_ENOTFOUND;
  } else if ((rc = cis_sha256_hex(bytes, len, hex)) != CIS_OK) {
    snprintf(msg, msgcap, "wasm.sha256: cannot hash %.400s: %s", mod, cis_strerror(rc));
  }
  free(bytes);
  char *out = NULL;
  if (rc == CIS_OK) {
    cJSON *h = cJSON_CreateString(hex);
    if (sha) cJSON_ReplaceItemInObjectCaseSensitive(wasm, "sha256", h);
    else cJSON_AddItemToObject(wasm, "sha256", h);
    out = cJSON_PrintUnformatted(root);
    if (!out) rc = CIS_ENOMEM;
  }
  if (rc == CIS_OK) {
    snprintf(tmp, tmpcap, "%.*s.skill.json.XXXXXX", (int)dirlen, manifest);
    int fd = mkstemp(tmp);
    size_t n = strlen(out);
    if (fd < 0 || write(fd, out, n) != (ssize_t)n) {
      snprintf(msg, msgcap, "wasm.sha256 is empty and a filled-in copy of %.400s cannot be written: %s",
               manifest, strerror(errno));
      rc = CIS_EIO;
      if (fd >= 0) unlink(tmp);
      tmp[0] = '\0';
    } else {
      fprintf(stderr, "cis skill install: %s has no wasm.sha256; using the module's, %s\n",
              manifest, hex);
    }
    if (fd >= 0) close(fd);
  }
  free(out);
  cJSON_Delete(root);
  return rc;
}

static int sub_install(int argc, char **argv) {
  cli_strlist vols = {0}, nss = {0}, paths = {0};
  cli_host_flags hf = {0};
  const cli_opt opts[] = {
      TENANT_OPT(hf.tenant),
      {"--require-signature", CLI_OPT_FLAG, &hf.require_signature, NULL, NULL,
       "refuse the skill unless signed by a key the tenant trusts (cis key trust)"},
      {"--allow-volume", CLI_OPT_LIST, &vols, NULL, "NAME",
       "a db mount may name volume NAME, shared with other skills"},
      {"--allow-namespace", CLI_OPT_LIST, &nss, NULL, "NS",
       "the skill may share KV namespace NS with installed skills"},
      {"--allow-host-path", CLI_OPT_LIST, &paths, NULL, "PATH",
       "a host mount may reach PATH, outside the skill's folder"},
  };
  const size_t nopts = sizeof opts / sizeof opts[0];
  const char *pos[1];
  int npos;
  bool help;
  char tmp[4200] = "";
  int code = cli_parse_mixed("skill install", opts, nopts, argc, argv, pos, 1, &npos, &help);
  if (code == CLI_EXIT_OK && !help && npos != 1) {
    fprintf(stderr, "cis skill install: no skill folder given\n");
    code = CLI_EXIT_USAGE;
  }
  if (code == CLI_EXIT_USAGE || help) {
    code = sub_usage("install",
                     "Installs the skill in DIR (a folder holding skill.json) or at skill.json,\n"
                     "replacing an installed skill of the same name. When the manifest's\n"
                     "wasm.sha256 is absent or empty it is computed from the module; otherwise\n"
                     "it must match. Grants (each repeatable) allow what a skill may not do\n"
                     "alone:\n",
                     opts, nopts, help);
    goto out;
  }
  if (code != CLI_EXIT_OK) goto out;
  const char *target = pos[0];
  struct stat st;
  if (stat(target, &st) == 0 && S_ISREG(st.st_mode) && looks_like_wasm(target)) {
    fprintf(stderr,
            "cis skill install: %s is a WebAssembly module; install expects a skill's folder\n"
            "(holding skill.json and the module) or the path of its skill.json. To run a bare\n"
            "module without a manifest: cis skill run --wasm %s\n",
            target, target);
    code = CLI_EXIT_USAGE;
    goto out;
  }
  char manifest[4096], msg[600];
  if (stat(target, &st) == 0 && S_ISDIR(st.st_mode))
    snprintf(manifest, sizeof manifest, "%s/skill.json", target);
  else
    snprintf(manifest, sizeof manifest, "%s", target);
  cis_result rc = CIS_OK;
  if (access(manifest, R_OK) == 0) rc = fill_sha256(manifest, tmp, sizeof tmp, msg, sizeof msg);
  if (rc != CIS_OK) {
    code = fail(false, rc, msg);
    goto out;
  }
  cis_skills *s;
  if ((rc = cli_open_skills(&hf, &s, msg, sizeof msg)) != CIS_OK) {
    code = fail(false, rc, msg);
    goto out;
  }
  cis_install_options io = {
      .allow_volumes = vols.items, .nallow_volumes = vols.n,
      .allow_namespaces = nss.items, .nallow_namespaces = nss.n,
      .allow_host_paths = paths.items, .nallow_host_paths = paths.n,
  };
  char name[128];
  /* Under engine aot the install compiles the module: on a terminal its
   * progress shows as `cis compile`'s does. */
  cli_progress *prog = cli_progress_start(target, NULL);
  rc = cis_skills_install_ex(s, tmp[0] ? tmp : target, &io, name, sizeof name);
  cli_progress_stop(prog);
  if (rc == CIS_OK) printf("installed %s\n", name);
  else code = fail(false, rc, cis_skills_errmsg(s));
  cis_skills_close(s);
out:
  if (tmp[0]) unlink(tmp);
  cli_strlist_free(&vols);
  cli_strlist_free(&nss);
  cli_strlist_free(&paths);
  return code;
}

/* ------------------------------------------------------ list, show, remove */

/* Why skill name cannot be loaded by s (its error, the message into why),
 * or CIS_OK: under the signature rule an unsigned or untrusted one, or a
 * stored manifest that no longer parses. */
static cis_result load_check(cis_skills *s, const char *name, char *why, size_t cap) {
  char *text = NULL;
  cis_result rc = cis_skills_show(s, name, &text);
  free(text);
  if (rc != CIS_OK) snprintf(why, cap, "%s", cis_skills_errmsg(s));
  return rc;
}

static int sub_list(int argc, char **argv) {
  bool json = false, help, require_sig = false;
  const char *tenant = NULL;
  const cli_opt opts[] = {{"--json", CLI_OPT_FLAG, &json, NULL, NULL, "print one JSON document"},
                          TENANT_OPT(tenant), REQUIRE_SIG_OPT(require_sig)};
  const char *pos[1];
  int npos;
  int code = cli_parse_mixed("skill list", opts, 3, argc, argv, pos, 0, &npos, &help);
  if (code == CLI_EXIT_USAGE || help)
    return sub_usage("list",
                     "Lists the installed skills: name, version, sha256 and description. A skill\n"
                     "that cannot be loaded (unsigned or untrusted under the signature rule)\n"
                     "is listed all the same, and why is said on stderr (\"refused\" in --json).\n",
                     opts, 3, help);
  if (code != CLI_EXIT_OK) return code;
  cis_skills *s;
  char msg[512];
  cis_result rc = open_skills(tenant, require_sig, &s, msg, sizeof msg);
  if (rc != CIS_OK) return fail(json, rc, msg);
  cis_skill_info *l = NULL;
  size_t n = 0;
  rc = cis_skills_list(s, &l, &n);
  if (rc != CIS_OK) {
    code = fail(json, rc, cis_skills_errmsg(s));
  } else if (json) {
    cJSON *d = cli_json_doc(CIS_OK, NULL);
    cJSON *a = cJSON_AddArrayToObject(d, "skills");
    for (size_t i = 0; i < n; i++) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "name", l[i].name);
      cJSON_AddStringToObject(o, "version", l[i].version);
      cJSON_AddStringToObject(o, "sha256", l[i].sha256);
      cJSON_AddStringToObject(o, "description", l[i].description);
      cJSON_AddNumberToObject(o, "installed_at", (double)l[i].installed_at);
      char why[512];
      cis_result lrc = load_check(s, l[i].name, why, sizeof why);
      if (lrc != CIS_OK && lrc != CIS_ENOTFOUND) {
        cJSON *r = cJSON_AddObjectToObject(o, "refused");
        cJSON_AddStringToObject(r, "error", cis_errname(lrc));
        cJSON_AddStringToObject(r, "message", why);
      }
      cJSON_AddItemToArray(a, o);
    }
    code = cli_json_print(d);
  } else {
    for (size_t i = 0; i < n; i++) {
      printf("%-24s %-10s %.12s  %s\n", l[i].name, l[i].version, l[i].sha256, l[i].description);
      char why[512];
      cis_result lrc = load_check(s, l[i].name, why, sizeof why);
      if (lrc != CIS_OK && lrc != CIS_ENOTFOUND)
        fprintf(stderr, "cis skill list: warn: %s cannot be loaded: %s: %s\n", l[i].name, cis_errname(lrc), why);
    }
  }
  free(l);
  cis_skills_close(s);
  return code;
}

static int sub_show(int argc, char **argv) {
  bool json = false, help, require_sig = false;
  const char *tenant = NULL;
  const cli_opt opts[] = {{"--json", CLI_OPT_FLAG, &json, NULL, NULL,
                           "print one JSON document (the manifest under \"skill\")"},
                          TENANT_OPT(tenant), REQUIRE_SIG_OPT(require_sig)};
  const char *pos[1];
  int npos;
  int code = cli_parse_mixed("skill show", opts, 3, argc, argv, pos, 1, &npos, &help);
  if (code == CLI_EXIT_OK && !help && npos != 1) {
    fprintf(stderr, "cis skill show: no skill name given\n");
    code = CLI_EXIT_USAGE;
  }
  if (code == CLI_EXIT_USAGE || help)
    return sub_usage("show",
                     "Prints the manifest of skill NAME with its effective limits and\n"
                     "permissions, the grants it was installed with and what it shares.\n",
                     opts, 3, help);
  if (code != CLI_EXIT_OK) return code;
  cis_skills *s;
  char msg[512];
  cis_result rc = open_skills(tenant, require_sig, &s, msg, sizeof msg);
  if (rc != CIS_OK) return fail(json, rc, msg);
  char *text = NULL;
  rc = cis_skills_show(s, pos[0], &text);
  if (rc != CIS_OK) {
    code = fail(json, rc, cis_skills_errmsg(s));
  } else if (json) {
    cJSON *d = cli_json_doc(CIS_OK, NULL);
    cJSON *m = cJSON_Parse(text);
    cJSON_AddItemToObject(d, "skill", m ? m : cJSON_CreateString(text));
    code = cli_json_print(d);
  } else {
    printf("%s\n", text);
  }
  free(text);
  cis_skills_close(s);
  return code;
}

static int sub_remove(int argc, char **argv) {
  bool help, require_sig = false, purge = false;
  const char *tenant = NULL;
  /* The rule does not hold back a removal, which needs no trust; taken so
   * that one command line fits every subcommand. */
  const cli_opt opts[] = {
      TENANT_OPT(tenant),
      REQUIRE_SIG_OPT(require_sig),
      {"--purge", CLI_OPT_FLAG, &purge, NULL, NULL,
       "also delete its KV namespace (unless another skill uses it), its own db tree and its settings"},
  };
  const char *pos[1];
  int npos;
  int code = cli_parse_mixed("skill remove", opts, 3, argc, argv, pos, 1, &npos, &help);
  if (code == CLI_EXIT_OK && !help && npos != 1) {
    fprintf(stderr, "cis skill remove: no skill name given\n");
    code = CLI_EXIT_USAGE;
  }
  if (code == CLI_EXIT_USAGE || help)
    return sub_usage("remove",
                     "Uninstalls skill NAME. Its KV data, files and settings stay unless --purge is given;\n"
                     "--purge on a name no longer installed deletes what is still stored under it.\n",
                     opts, 3, help);
  if (code != CLI_EXIT_OK) return code;
  cis_skills *s;
  char msg[512];
  cis_result rc = open_skills(tenant, require_sig, &s, msg, sizeof msg);
  if (rc != CIS_OK) return fail(false, rc, msg);
  rc = cis_skills_remove_ex(s, pos[0], purge ? CIS_SKILLS_REMOVE_PURGE : 0);
  if (rc == CIS_OK) printf(purge ? "purged %s\n" : "removed %s\n", pos[0]);
  else code = fail(false, rc, cis_skills_errmsg(s));
  cis_skills_close(s);
  return code;
}

/* ----------------------------------------------------------------- run */

/* The call's input: the text itself, or @FILE, or @- for stdin. */
static char *read_input(const char *arg, size_t *len) {
  if (arg[0] != '@') {
    *len = strlen(arg);
    return strdup(arg);
  }
  if (strcmp(arg + 1, "-")) return (char *)cli_read_file(arg + 1, len);
  size_t cap = 65536, n = 0;
  char *b = malloc(cap);
  while (b) {
    if (n == cap) {
      if (cap > (64u << 20)) break; /* the skill layer caps it anyway */
      char *nb = realloc(b, cap * 2);
      if (!nb) break;
      b = nb;
      cap *= 2;
    }
    size_t got = fread(b + n, 1, cap - n, stdin);
    if (!got) break;
    n += got;
  }
  *len = n;
  return b;
}

/* The --json document of a call: the common members, then output (the
 * skill's JSON, null on failure), logs (one string per line), the WASI
 * exit code and the call's figures (cis_invoke_stats). */
static int print_run_json(cis_result rc, const cis_invoke_result *r) {
  cJSON *d = cli_json_doc(rc, r->error);
  cJSON *out = r->output ? cJSON_ParseWithLength(r->output, r->output_len) : NULL;
  cJSON_AddItemToObject(d, "output", out ? out : cJSON_CreateNull());
  cJSON *logs = cJSON_AddArrayToObject(d, "logs");
  for (size_t i = 0; r->logs && i < r->logs_len;) {
    const char *nl = memchr(r->logs + i, '\n', r->logs_len - i);
    size_t end = nl ? (size_t)(nl - r->logs) : r->logs_len;
    char *line = strndup(r->logs + i, end - i);
    cJSON_AddItemToArray(logs, cJSON_CreateString(line ? line : ""));
    free(line);
    i = end + 1;
  }
  cJSON_AddNumberToObject(d, "guest_exit_code", r->exit_code);
  cJSON *st = cJSON_AddObjectToObject(d, "stats");
  const cis_invoke_stats *s = &r->stats;
  cJSON_AddNumberToObject(st, "wall_ns", (double)s->wall_ns);
  cJSON_AddNumberToObject(st, "instantiate_ns", (double)s->instantiate_ns);
  cJSON_AddNumberToObject(st, "kv_gets", s->kv_gets);
  cJSON_AddNumberToObject(st, "kv_sets", s->kv_sets);
  cJSON_AddNumberToObject(st, "kv_deletes", s->kv_deletes);
  cJSON_AddNumberToObject(st, "ai_calls", s->ai_calls);
  cJSON_AddNumberToObject(st, "ai_tokens", (double)s->ai_tokens);
  cJSON_AddNumberToObject(st, "http_calls", s->http_calls);
  cJSON_AddNumberToObject(st, "log_lines", s->log_lines);
  cJSON_AddNumberToObject(st, "fuel_left", (double)s->fuel_left);
  if (cli_json_print(d) != CLI_EXIT_OK) return CLI_EXIT_FAIL;
  return cli_exit_code(rc);
}

/* The call's --dir HOST[::GUEST][:ro] / --dir-ro mounts and --env
 * NAME[=VALUE] variables, as `cis run` reads them. */
typedef struct run_extras {
  cis_invoke_mount *mounts; /* malloc'd; host points into a malloc'd copy */
  size_t nmounts;
  const char **env;         /* "NAME=VALUE" (malloc'd when taken from ours) */
  bool *env_owned;          /* which env entries are malloc'd */
  size_t nenv;
} run_extras;

static void extras_free(run_extras *x) {
  for (size_t i = 0; i < x->nmounts; i++) free((char *)x->mounts[i].host);
  for (size_t i = 0; i < x->nenv; i++)
    if (x->env_owned[i]) free((char *)x->env[i]);
  free(x->mounts);
  free(x->env);
  free(x->env_owned);
}

static bool add_dir(run_extras *x, const char *spec, bool ro) {
  char *host = strdup(spec);
  if (!host) return false;
  size_t len = strlen(host);
  cis_invoke_mount *mt = &x->mounts[x->nmounts];
  mt->read_only = ro;
  if (len >= 3 && !strcmp(host + len - 3, ":ro")) {
    host[len - 3] = '\0';
    mt->read_only = true;
  }
  char *sep = strstr(host, "::");
  mt->guest = host;
  if (sep) {
    *sep = '\0';
    mt->guest = sep + 2;
  }
  mt->host = host;
  x->nmounts++;
  if (!*host || !*mt->guest) {
    fprintf(stderr, "cis skill run: --dir \"%s\": HOST and GUEST must not be empty\n", spec);
    return false;
  }
  return true;
}

static int parse_extras(const cli_strlist *dirs, const cli_strlist *ros, const cli_strlist *envs, run_extras *x) {
  x->mounts = calloc(dirs->n + ros->n + 1, sizeof *x->mounts);
  x->env = calloc(envs->n + 1, sizeof *x->env);
  x->env_owned = calloc(envs->n + 1, sizeof *x->env_owned);
  if (!x->mounts || !x->env || !x->env_owned) return CLI_EXIT_FAIL;
  for (size_t i = 0; i < dirs->n; i++)
    if (!add_dir(x, dirs->items[i], false)) return CLI_EXIT_USAGE;
  for (size_t i = 0; i < ros->n; i++)
    if (!add_dir(x, ros->items[i], true)) return CLI_EXIT_USAGE;
  for (size_t i = 0; i < envs->n; i++) {
    const char *e = envs->items[i];
    if (!e[0] || e[0] == '=') {
      fprintf(stderr, "cis skill run: --env \"%s\": needs NAME=VALUE or NAME\n", e);
      return CLI_EXIT_USAGE;
    }
    if (strchr(e, '=')) {
      x->env[x->nenv++] = e;
      continue;
    }
    const char *v = getenv(e); /* a bare NAME passes ours on, when set */
    if (!v) continue;
    char *kv = malloc(strlen(e) + strlen(v) + 2);
    if (!kv) return CLI_EXIT_FAIL;
    sprintf(kv, "%s=%s", e, v);
    x->env_owned[x->nenv] = true;
    x->env[x->nenv++] = kv;
  }
  return CLI_EXIT_OK;
}

static int sub_run(int argc, char **argv) {
  const char *wasm = NULL, *input = "{}";
  bool json = false, help;
  cli_strlist rules = {0}, configs = {0}, dirs = {0}, ros = {0}, envs = {0};
  cli_host_flags hf = {0};
  run_extras x = {0};
  cis_invoke_options o;
  memset(&o, 0, sizeof o);
  cli_opt opts[24] = {
      {"--input", CLI_OPT_STR, &input, NULL, "JSON|@FILE", "the call's input (@- = stdin); default {}"},
      {"--tenant", CLI_OPT_STR, &o.tenant, NULL, "ID",
       "whose skill NAME runs, with that tenant's KV and files (default: default)"},
      {"--timeout", CLI_OPT_MS, &o.timeout_ms, NULL, "DURATION",
       "deadline of the call (500ms, 1.5s, 2m; plain = ms); 0 = the skill's limit"},
      {"--max-memory", CLI_OPT_SIZE, &o.max_memory, NULL, "SIZE",
       "memory cap of the call (64KiB, 128MiB, 1GiB); 0 = the skill's limit"},
      {"--config", CLI_OPT_LIST, &configs, NULL, "KEY=VALUE",
       "a setting the skill reads with config_get, over its stored ones (repeatable)"},
      {"--dir", CLI_OPT_LIST, &dirs, NULL, "HOST[::GUEST][:ro]",
       "a WASI skill also sees host folder HOST at GUEST (repeatable)"},
      {"--dir-ro", CLI_OPT_LIST, &ros, NULL, "HOST[::GUEST]", "the same, read-only"},
      {"--env", CLI_OPT_LIST, &envs, NULL, "NAME[=VALUE]",
       "a variable for a WASI skill, after its manifest's (NAME alone: ours)"},
      {"--json", CLI_OPT_FLAG, &json, NULL, NULL,
       "print one JSON document: status, error, output, logs and the call's figures"},
      {"--wasm", CLI_OPT_STR, &wasm, NULL, "FILE.wasm", "run a module without a manifest"},
      {"--abi", CLI_OPT_STR, &o.abi, NULL, "ABI",
       "with --wasm: auto (default), cis_v1, seed001, seed000 or wasi"},
      {"--kv", CLI_OPT_FLAG, &o.allow_kv, NULL, NULL, "with --wasm: grant KV"},
      {"--ai", CLI_OPT_FLAG, &o.allow_ai, NULL, NULL, "with --wasm: grant AI"},
      {"--allow-host", CLI_OPT_LIST, &rules, NULL, "RULE", "with --wasm: an HTTP allow rule"},
  };
  size_t nopts = 14;
  nopts += cli_host_opts(&hf, opts + nopts);
  const char *pos[1];
  int npos;
  int code = cli_parse_mixed("skill run", opts, nopts, argc, argv, pos, 1, &npos, &help);
  if (code == CLI_EXIT_OK && !help) code = cli_host_flags_check("skill run", &hf);
  if (code == CLI_EXIT_OK && !help && (npos == 1) == (wasm != NULL)) {
    fprintf(stderr, "cis skill run: give either a skill NAME or --wasm FILE.wasm\n");
    code = CLI_EXIT_USAGE;
  }
  if (code == CLI_EXIT_OK && !help) {
    for (size_t i = 0; i < configs.n && code == CLI_EXIT_OK; i++) {
      const char *eq = strchr(configs.items[i], '=');
      if (!eq || eq == configs.items[i]) {
        fprintf(stderr, "cis skill run: --config \"%s\": needs KEY=VALUE\n", configs.items[i]);
        code = CLI_EXIT_USAGE;
      }
    }
    if (code == CLI_EXIT_OK) code = parse_extras(&dirs, &ros, &envs, &x);
  }
  if (code == CLI_EXIT_USAGE || help) {
    code = sub_usage("run",
                     "Runs installed skill NAME, or the module FILE.wasm without a manifest\n"
                     "(default limits; grants only from --kv, --ai and --allow-host), with a\n"
                     "JSON input, and prints its JSON output. The skill's log lines, what a\n"
                     "WASI skill writes to stderr and the host's warnings (a denied call, an\n"
                     "AI provider's error, a quota) go to stderr.\n",
                     opts, nopts, help);
    goto out;
  }
  if (code != CLI_EXIT_OK) goto out;
  hf.tenant = o.tenant; /* NAME is the tenant's own skill, never the default's */
  o.allow_hosts = rules.items;
  o.nallow_hosts = rules.n;
  o.config = configs.items;
  o.nconfig = configs.n;
  o.mounts = x.mounts;
  o.nmounts = x.nmounts;
  o.env = x.env;
  o.nenv = x.nenv;
  cis_skills *s = NULL;
  char msg[600];
  size_t len = 0, wlen = 0;
  uint8_t *bytes = NULL;
  char *in = read_input(input, &len);
  cis_result rc = CIS_OK;
  if (!in) {
    snprintf(msg, sizeof msg, "cannot read input %s", input);
    rc = CIS_EIO;
  } else if (wasm && !(bytes = cli_read_file(wasm, &wlen))) {
    snprintf(msg, sizeof msg, "cannot read %s", wasm);
    rc = CIS_EIO;
  } else if (wasm && (rc = cli_check_component(bytes, wlen, msg, sizeof msg)) != CIS_OK) {
    /* said in msg */
  } else {
    rc = cli_open_skills(&hf, &s, msg, sizeof msg);
  }
  if (rc != CIS_OK) {
    code = fail(json, rc, msg);
  } else {
    cis_invoke_result r;
    if (wasm) rc = cis_skills_invoke_wasm(s, bytes, wlen, in, len, &o, &r);
    else rc = cis_skills_invoke(s, pos[0], in, len, &o, &r);
    /* Log lines already went to stderr through the host's sink. */
    if (json) {
      code = print_run_json(rc, &r);
    } else if (rc == CIS_OK) {
      fwrite(r.output, 1, r.output_len, stdout);
      if (!r.output_len || r.output[r.output_len - 1] != '\n') fputc('\n', stdout);
    } else {
      code = fail(false, rc, r.error);
    }
    cis_invoke_result_free(&r);
    cis_skills_close(s);
  }
  free(bytes);
  free(in);
out:
  extras_free(&x);
  cli_strlist_free(&rules);
  cli_strlist_free(&configs);
  cli_strlist_free(&dirs);
  cli_strlist_free(&ros);
  cli_strlist_free(&envs);
  cli_strlist_free(&hf.sets);
  return code;
}

/* -------------------------------------------------------------- config */

/* `cis skill config set NAME KEY VALUE`, `unset NAME KEY`, `show NAME`:
 * the operator's settings a skill reads with config_get, kept in the
 * registry (cis_skills_setting_set). */
static int sub_config(int argc, char **argv) {
  bool json = false, help = false, require_sig = false;
  const char *tenant = NULL;
  const cli_opt opts[] = {{"--json", CLI_OPT_FLAG, &json, NULL, NULL, "show: print one JSON document"},
                          TENANT_OPT(tenant), REQUIRE_SIG_OPT(require_sig)};
  const char *pos[4];
  int npos = 0;
  int code = cli_parse_mixed("skill config", opts, 3, argc, argv, pos, 4, &npos, &help);
  const char *verb = npos ? pos[0] : "";
  int want = !strcmp(verb, "set") ? 4 : !strcmp(verb, "unset") ? 3 : !strcmp(verb, "show") ? 2 : -1;
  if (code == CLI_EXIT_OK && !help && npos != want) {
    if (want < 0) fprintf(stderr, "cis skill config: give set, unset or show\n");
    else fprintf(stderr, "cis skill config %s: %s\n", verb,
                 want == 4 ? "needs NAME KEY VALUE" : want == 3 ? "needs NAME KEY" : "needs NAME");
    code = CLI_EXIT_USAGE;
  }
  if (code == CLI_EXIT_USAGE || help)
    return sub_usage("config",
                     "Sets, removes or shows the operator's settings of installed skill NAME:\n"
                     "strings the skill reads with config_get (docs/abi.md). A call's own\n"
                     "--config KEY=VALUE (cis skill run) takes precedence.\n",
                     opts, 3, help);
  if (code != CLI_EXIT_OK) return code;
  cis_skills *s;
  char msg[512];
  cis_result rc = open_skills(tenant, require_sig, &s, msg, sizeof msg);
  if (rc != CIS_OK) return fail(json, rc, msg);
  if (want == 2) {
    char *text = NULL;
    rc = cis_skills_settings(s, pos[1], &text);
    if (rc != CIS_OK) {
      code = fail(json, rc, cis_skills_errmsg(s));
    } else if (json) {
      cJSON *d = cli_json_doc(CIS_OK, NULL);
      cJSON *m = cJSON_Parse(text);
      cJSON_AddItemToObject(d, "settings", m ? m : cJSON_CreateObject());
      code = cli_json_print(d);
    } else {
      cJSON *m = cJSON_Parse(text);
      for (const cJSON *e = m ? m->child : NULL; e; e = e->next) printf("%s=%s\n", e->string, e->valuestring);
      cJSON_Delete(m);
    }
    free(text);
  } else {
    rc = cis_skills_setting_set(s, pos[1], pos[2], want == 4 ? pos[3] : NULL);
    if (rc != CIS_OK) code = fail(false, rc, cis_skills_errmsg(s));
    else if (want == 4) printf("%s: %s set\n", pos[1], pos[2]);
    else printf("%s: %s unset\n", pos[1], pos[2]);
  }
  cis_skills_close(s);
  return code;
}

/* ---------------------------------------------------------------- help */

static int sub_help(int argc, char **argv) {
  if (argc < 2) {
    overview(stdout);
    return CLI_EXIT_OK;
  }
  const skill_sub *sub = find_sub(argv[1]);
  if (!sub || sub->run == sub_help) {
    if (!sub) fprintf(stderr, "cis skill help: unknown subcommand \"%s\"\n", argv[1]);
    overview(sub ? stdout : stderr);
    return sub ? CLI_EXIT_OK : CLI_EXIT_USAGE;
  }
  char *args[] = {argv[1], "--help", NULL};
  return sub->run(2, args);
}

int cis_cmd_skill(int argc, char **argv) {
  if (argc < 1) {
    overview(stderr);
    return CLI_EXIT_USAGE;
  }
  if (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) return sub_help(1, argv);
  const skill_sub *sub = find_sub(argv[0]);
  if (!sub) {
    fprintf(stderr, "cis skill: unknown subcommand \"%s\"\n\n", argv[0]);
    overview(stderr);
    return CLI_EXIT_USAGE;
  }
  return sub->run(argc, argv);
}
