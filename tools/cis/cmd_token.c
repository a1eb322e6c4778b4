/*
 * This file implements `cis token create|list|revoke`: the bearer tokens
 * tenants present to `cis serve` (include/cis/cis_serve.h). A token is
 * printed once, when made; only its hash is kept, in $CIS_HOME's registry
 * database, so `list` shows names, tenants and dates, never tokens.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cis/cis_serve.h"
#include "cli.h"

int cli_cmd_token(int argc, char **argv);

static void usage(FILE *f) {
  fprintf(f, "usage: cis token create --tenant TENANT [--name NAME]\n"
             "       cis token list [--json]\n"
             "       cis token revoke NAME|ID\n"
             "Bearer tokens of `cis serve` (docs/serve.md). create prints the new\n"
             "token once on stdout; only its SHA-256 is stored. TENANT and NAME are\n"
             "1 to 64 of A-Z a-z 0-9 . _ -. Environment: CIS_HOME, CIS_REGISTRY.\n");
}

/* The store of the configured registry (the setting `registry`: the
 * home's registry.db, or a PostgreSQL database several nodes share). */
static int open_store(cis_tokens **t) {
  char err[512] = "";
  cli_config *cfg = NULL;
  cis_result rc = cli_config_load(NULL, NULL, 0, &cfg, err, sizeof err);
  if (rc == CIS_OK && (rc = cis_tokens_open_registry(NULL, cli_config_value(cfg, "registry"), t)) != CIS_OK) {
    snprintf(err, sizeof err, "%s", *t ? cis_tokens_errmsg(*t) : cis_strerror(rc));
    cis_tokens_close(*t);
    *t = NULL;
  }
  cli_config_free(cfg);
  if (rc != CIS_OK) {
    cli_error("token", rc, err);
    return cli_exit_code(rc);
  }
  return CLI_EXIT_OK;
}

static int token_create(int argc, char **argv) {
  const char *tenant = NULL, *name = NULL;
  bool help = false;
  const cli_opt opts[] = {
      {"--tenant", CLI_OPT_STR, &tenant, NULL, "TENANT", "whose token (required)"},
      {"--name", CLI_OPT_STR, &name, NULL, "NAME", "a unique label (default token-ID)"},
  };
  int pos = 1;
  int code = cli_parse_opts("token create", opts, 2, argc, argv, &pos, &help);
  if (code == CLI_EXIT_OK && !help && (pos < argc || !tenant)) {
    fprintf(stderr, pos < argc ? "cis token create: unexpected argument \"%s\"\n"
                               : "cis token create: --tenant is required%s\n",
            pos < argc ? argv[pos] : "");
    code = CLI_EXIT_USAGE;
  }
  if (help || code != CLI_EXIT_OK) {
    usage(help ? stdout : stderr);
    cli_print_opts(help ? stdout : stderr, opts, 2);
    return help ? CLI_EXIT_OK : code;
  }
  cis_tokens *t;
  if ((code = open_store(&t)) != CLI_EXIT_OK) return code;
  char token[CIS_TOKEN_MAX];
  cis_token_info info;
  cis_result rc = cis_tokens_create(t, tenant, name, token, sizeof token, &info);
  if (rc != CIS_OK) {
    cli_error("token create", rc, cis_tokens_errmsg(t));
    cis_tokens_close(t);
    return rc == CIS_EINVAL ? CLI_EXIT_USAGE : cli_exit_code(rc);
  }
  printf("%s\n", token);
  fprintf(stderr, "cis token: made token %s (id %lld) for tenant %s; it is shown only now\n", info.name,
          (long long)info.id, info.tenant);
  memset(token, 0, sizeof token);
  cis_tokens_close(t);
  return CLI_EXIT_OK;
}

static int token_list(int argc, char **argv) {
  bool json = false, help = false;
  const cli_opt opts[] = {{"--json", CLI_OPT_FLAG, &json, NULL, NULL, "one JSON document on stdout"}};
  int pos = 1;
  int code = cli_parse_opts("token list", opts, 1, argc, argv, &pos, &help);
  if (code == CLI_EXIT_OK && !help && pos < argc) {
    fprintf(stderr, "cis token list: unexpected argument \"%s\"\n", argv[pos]);
    code = CLI_EXIT_USAGE;
  }
  if (help || code != CLI_EXIT_OK) {
    usage(help ? stdout : stderr);
    return help ? CLI_EXIT_OK : code;
  }
  cis_tokens *t;
  if ((code = open_store(&t)) != CLI_EXIT_OK) return code;
  cis_token_info *list = NULL;
  size_t n = 0;
  cis_result rc = cis_tokens_list(t, &list, &n);
  if (rc != CIS_OK) {
    cli_error("token list", rc, cis_tokens_errmsg(t));
    cis_tokens_close(t);
    return cli_exit_code(rc);
  }
  if (json) {
    cJSON *doc = cli_json_doc(CIS_OK, NULL), *a = cJSON_AddArrayToObject(doc, "tokens");
    for (size_t i = 0; i < n; i++) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddNumberToObject(o, "id", (double)list[i].id);
      cJSON_AddStringToObject(o, "name", list[i].name);
      cJSON_AddStringToObject(o, "tenant", list[i].tenant);
      cJSON_AddNumberToObject(o, "created_at", (double)list[i].created_at);
      cJSON_AddItemToArray(a, o);
    }
    code = cli_json_print(doc);
  } else {
    printf("%-6s %-24s %-24s %s\n", "ID", "NAME", "TENANT", "CREATED (UTC)");
    for (size_t i = 0; i < n; i++) {
      char when[32];
      time_t tt = (time_t)list[i].created_at;
      struct tm tm;
      strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", gmtime_r(&tt, &tm));
      printf("%-6lld %-24s %-24s %s\n", (long long)list[i].id, list[i].name, list[i].tenant, when);
    }
  }
  free(list);
  cis_tokens_close(t);
  return code;
}

static int token_revoke(int argc, char **argv) {
  bool help = false;
  const char *pos[1];
  int npos = 0;
  int code = cli_parse_mixed("token revoke", NULL, 0, argc, argv, pos, 1, &npos, &help);
  if (code == CLI_EXIT_OK && !help && npos != 1) {
    fprintf(stderr, "cis token revoke: give one NAME or ID\n");
    code = CLI_EXIT_USAGE;
  }
  if (help || code != CLI_EXIT_OK) {
    usage(help ? stdout : stderr);
    return help ? CLI_EXIT_OK : code;
  }
  cis_tokens *t;
  if ((code = open_store(&t)) != CLI_EXIT_OK) return code;
  cis_result rc = cis_tokens_revoke(t, pos[0]);
  if (rc != CIS_OK) cli_error("token revoke", rc, cis_tokens_errmsg(t));
  else fprintf(stderr, "cis token: revoked %s\n", pos[0]);
  cis_tokens_close(t);
  return cli_exit_code(rc);
}

int cli_cmd_token(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
  }
  if (!strcmp(argv[1], "create")) return token_create(argc - 1, argv + 1);
  if (!strcmp(argv[1], "list")) return token_list(argc - 1, argv + 1);
  if (!strcmp(argv[1], "revoke")) return token_revoke(argc - 1, argv + 1);
  fprintf(stderr, "cis token: unknown subcommand \"%s\"\n", argv[1]);
  usage(stderr);
  return CLI_EXIT_USAGE;
}
