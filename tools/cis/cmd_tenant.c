/*
 * This file implements `cis tenant remove NAME --yes`: the deletion of a
 * whole tenant (cis_skills_tenant_remove, include/cis/cis_skill.h) from
 * the configured registry, KV store and database filesystem, as `cis
 * skill remove --purge` reaches them (cli_open_skills). Without --yes it
 * says what it would delete and does nothing; the "default" tenant also
 * needs --allow-default.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cis/cis_skill.h"
#include "cli.h"

int cli_cmd_tenant(int argc, char **argv);

static void usage(FILE *f) {
  fprintf(f, "usage: cis tenant remove NAME --yes [--allow-default] [--json]\n"
             "Deletes everything tenant NAME has, for good: its bearer tokens, its skills\n"
             "(and their modules no other tenant uses), every KV namespace of the tenant,\n"
             "its trees of the database filesystem (its skills', its volumes and the tree\n"
             "named NAME), its skills' settings and the keys it trusts. Other tenants,\n"
             "whatever their names, keep all they have. A removal cut short (a database\n"
             "out of reach) is finished by running it again; a tenant with nothing left\n"
             "is no error. NAME is 1 to %d of A-Z a-z 0-9 . _ - (not . or ..).\n"
             "Configuration as for `cis skill` (CIS_HOME, CIS_REGISTRY, CIS_KV, CIS_FS_DB,\n"
             "...: `cis config show`).\n",
          CIS_TENANT_NAME_MAX);
}

/* Prints what went, as "3 skills, 2 KV namespaces (17 keys), ...", or
 * "nothing". */
static void print_removed(FILE *f, const cis_tenant_removed *r) {
  struct {
    uint64_t n;
    const char *one, *many;
  } parts[] = {{r->tokens, "token", "tokens"},
               {r->skills, "skill", "skills"},
               {r->kv_namespaces, "KV namespace", "KV namespaces"},
               {r->kv_keys, "KV key", "KV keys"},
               {r->fs_trees, "file tree", "file trees"},
               {r->settings, "setting", "settings"},
               {r->keys, "trusted key", "trusted keys"}};
  int said = 0;
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    if (!parts[i].n) continue;
    fprintf(f, "%s%" PRIu64 " %s", said++ ? ", " : "", parts[i].n, parts[i].n == 1 ? parts[i].one : parts[i].many);
  }
  if (!said) fprintf(f, "nothing");
}

static cJSON *removed_json(const cis_tenant_removed *r) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "tokens", (double)r->tokens);
  cJSON_AddNumberToObject(o, "skills", (double)r->skills);
  cJSON_AddNumberToObject(o, "kv_namespaces", (double)r->kv_namespaces);
  cJSON_AddNumberToObject(o, "kv_keys", (double)r->kv_keys);
  cJSON_AddNumberToObject(o, "fs_trees", (double)r->fs_trees);
  cJSON_AddNumberToObject(o, "settings", (double)r->settings);
  cJSON_AddNumberToObject(o, "trusted_keys", (double)r->keys);
  return o;
}

static int tenant_remove(int argc, char **argv) {
  bool help = false, yes = false, allow_default = false, json = false;
  const cli_opt opts[] = {
      {"--yes", CLI_OPT_FLAG, &yes, NULL, NULL, "yes, delete it all (required)"},
      {"--allow-default", CLI_OPT_FLAG, &allow_default, NULL, NULL, "NAME may be the default tenant"},
      {"--json", CLI_OPT_FLAG, &json, NULL, NULL, "one JSON document on stdout"},
  };
  const char *pos[1];
  int npos = 0;
  int code = cli_parse_mixed("tenant remove", opts, 3, argc, argv, pos, 1, &npos, &help);
  if (code == CLI_EXIT_OK && !help && npos != 1) {
    fprintf(stderr, "cis tenant remove: give one tenant NAME\n");
    code = CLI_EXIT_USAGE;
  }
  if (help || code != CLI_EXIT_OK) {
    usage(help ? stdout : stderr);
    fprintf(help ? stdout : stderr, "Options:\n");
    cli_print_opts(help ? stdout : stderr, opts, 3);
    return help ? CLI_EXIT_OK : code;
  }
  const char *name = pos[0];
  if (!cis_tenant_name_valid(name)) {
    fprintf(stderr, "cis tenant remove: \"%s\" is not a tenant's name: 1 to %d of A-Z a-z 0-9 . _ - (not . or ..)\n",
            name, CIS_TENANT_NAME_MAX);
    return CLI_EXIT_USAGE;
  }
  if (!strcmp(name, "default") && !allow_default) {
    fprintf(stderr, "cis tenant remove: \"default\" is the tenant of every command run without --tenant; "
                    "add --allow-default to remove it\n");
    return CLI_EXIT_USAGE;
  }
  if (!yes) {
    fprintf(stderr, "cis tenant remove: deletes every token, skill, KV namespace, file tree, setting and "
                    "trusted key of tenant \"%s\" for good; add --yes to do it\n", name);
    return CLI_EXIT_USAGE;
  }
  const cli_host_flags f = {.tenant = name};
  cis_skills *s = NULL;
  char err[600] = "";
  cis_result rc = cli_open_skills(&f, &s, err, sizeof err);
  if (rc != CIS_OK) {
    if (json) return cli_json_fail(rc, err);
    cli_error("tenant remove", rc, err);
    return cli_exit_code(rc);
  }
  cis_tenant_removed r;
  rc = cis_skills_tenant_remove(s, allow_default ? CIS_SKILLS_TENANT_REMOVE_DEFAULT : 0, &r);
  if (json) {
    cJSON *doc = cli_json_doc(rc, rc == CIS_OK ? NULL : cis_skills_errmsg(s));
    cJSON_AddStringToObject(doc, "tenant", name);
    cJSON_AddItemToObject(doc, "removed", removed_json(&r));
    code = cli_json_print(doc);
    if (code == CLI_EXIT_OK) code = cli_exit_code(rc);
  } else if (rc == CIS_OK) {
    printf("removed tenant %s: ", name);
    print_removed(stdout, &r);
    printf("\n");
    code = CLI_EXIT_OK;
  } else {
    cli_error("tenant remove", rc, cis_skills_errmsg(s));
    fprintf(stderr, "cis tenant remove: removed so far: ");
    print_removed(stderr, &r);
    fprintf(stderr, "\n");
    code = cli_exit_code(rc);
  }
  cis_skills_close(s);
  return code;
}

int cli_cmd_tenant(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
  }
  if (!strcmp(argv[1], "remove")) return tenant_remove(argc - 1, argv + 1);
  fprintf(stderr, "cis tenant: unknown subcommand \"%s\"\n", argv[1]);
  usage(stderr);
  return CLI_EXIT_USAGE;
}
