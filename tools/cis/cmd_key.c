/*
 * This file implements `cis key create|trust|untrust|list` and `cis skill
 * sign`: the Ed25519 keys of signed skills (cis_skill.h, "signed skills").
 * A key pair is two files; trust is per tenant, kept in the configured
 * registry (the setting `registry`: $CIS_HOME's by default); a signed
 * skill carries skill.sig beside its skill.json.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cis/cis_skill.h"
#include "cli.h"

int cli_cmd_key(int argc, char **argv);
int cli_cmd_skill_sign(int argc, char **argv);

static void usage(FILE *f) {
  fprintf(f, "usage: cis key create NAME [--dir DIR]\n"
             "       cis key trust NAME PUBLIC_KEY|FILE.pub [--tenant TENANT]\n"
             "       cis key untrust NAME [--tenant TENANT]\n"
             "       cis key list [--tenant TENANT] [--json]\n"
             "Ed25519 keys for signed skills (docs/signing.md).\n"
             "create writes DIR/NAME.key (secret, mode 0600) and DIR/NAME.pub (default\n"
             "DIR: $CIS_HOME/keys) and prints the public key; trust lets TENANT (default:\n"
             "default) install and run skills that key signed when a signature is\n"
             "required (--require-signature). NAME is 1 to 64 of A-Z a-z 0-9 . _ -.\n"
             "Sign a skill with `cis skill sign DIR --key NAME|FILE`.\n");
}

/* $CIS_HOME, else the skills API's default (~/.local/share/cis). */
static void home_dir(char *out, size_t cap) {
  const char *h = getenv("CIS_HOME");
  if (h && *h) {
    snprintf(out, cap, "%s", h);
    return;
  }
  const char *u = getenv("HOME");
  snprintf(out, cap, "%s/.local/share/cis", u && *u ? u : ".");
}

/* The tenant's registry as configured (cli_config.c: the setting
 * `registry`, the home's registry.db or a PostgreSQL database several
 * nodes share), where the servers read trust. */
static int open_tenant(const char *tenant, cis_skills **s) {
  const cli_host_flags f = {.tenant = tenant};
  char err[600] = "";
  cis_result rc = cli_open_skills(&f, s, err, sizeof err);
  if (rc != CIS_OK) {
    cli_error("key", rc, err);
    return cli_exit_code(rc);
  }
  return CLI_EXIT_OK;
}

static int key_create(int argc, char **argv) {
  const char *dir = NULL, *pos[1];
  int npos = 0;
  bool help = false;
  const cli_opt opts[] = {{"--dir", CLI_OPT_STR, &dir, NULL, "DIR", "where the two files go (default $CIS_HOME/keys)"}};
  int code = cli_parse_mixed("key create", opts, 1, argc, argv, pos, 1, &npos, &help);
  if (help) {
    usage(stdout);
    return CLI_EXIT_OK;
  }
  if (code != CLI_EXIT_OK) return code;
  if (npos != 1) {
    usage(stderr);
    return CLI_EXIT_USAGE;
  }
  char home[4096], keys[4200], pub[65];
  if (!dir) {
    home_dir(home, sizeof home);
    snprintf(keys, sizeof keys, "%s/keys", home);
    dir = keys;
  }
  cis_result rc = cis_key_create(dir, pos[0], pub);
  if (rc != CIS_OK) {
    cli_error("key create", rc, cis_errmsg(NULL));
    return cli_exit_code(rc);
  }
  printf("%s\n", pub);
  fprintf(stderr, "secret key: %s/%s.key (keep it private); public key: %s/%s.pub\n", dir, pos[0], dir, pos[0]);
  return CLI_EXIT_OK;
}

/* KEY as given, or the first line of the file it names. */
static bool public_key_arg(const char *arg, char out[65]) {
  size_t n = strlen(arg);
  if (n == 64 && strspn(arg, "0123456789abcdefABCDEF") == 64) {
    memcpy(out, arg, 65);
    return true;
  }
  size_t len;
  uint8_t *text = cli_read_file(arg, &len);
  if (!text) return false;
  size_t k = strcspn((const char *)text, "\r\n");
  bool ok = k == 64 && len >= 64;
  if (ok) {
    memcpy(out, text, 64);
    out[64] = 0;
  }
  free(text);
  return ok;
}

static int key_trust(int argc, char **argv, bool trust) {
  const char *tenant = NULL, *pos[2];
  int npos = 0;
  bool help = false;
  const cli_opt opts[] = {{"--tenant", CLI_OPT_STR, &tenant, NULL, "TENANT", "whose trust (default: default)"}};
  int code = cli_parse_mixed(trust ? "key trust" : "key untrust", opts, 1, argc, argv, pos, 2, &npos, &help);
  if (help) {
    usage(stdout);
    return CLI_EXIT_OK;
  }
  if (code != CLI_EXIT_OK) return code;
  if (npos != (trust ? 2 : 1)) {
    usage(stderr);
    return CLI_EXIT_USAGE;
  }
  char pk[65];
  if (trust && !public_key_arg(pos[1], pk)) {
    cli_error("key trust", CIS_EINVAL, "give the public key as 64 hex digits or a .pub file holding them");
    return CLI_EXIT_BAD_INPUT;
  }
  cis_skills *s;
  if ((code = open_tenant(tenant, &s)) != CLI_EXIT_OK) return code;
  cis_result rc = trust ? cis_skills_key_trust(s, pos[0], pk) : cis_skills_key_untrust(s, pos[0]);
  if (rc != CIS_OK) cli_error(trust ? "key trust" : "key untrust", rc, cis_skills_errmsg(s));
  cis_skills_close(s);
  return cli_exit_code(rc);
}

static int key_list(int argc, char **argv) {
  const char *tenant = NULL;
  bool json = false, help = false;
  const cli_opt opts[] = {{"--tenant", CLI_OPT_STR, &tenant, NULL, "TENANT", "whose keys (default: default)"},
                          {"--json", CLI_OPT_FLAG, &json, NULL, NULL, "one JSON document"}};
  int npos = 0;
  const char *pos[1];
  int code = cli_parse_mixed("key list", opts, 2, argc, argv, pos, 0, &npos, &help);
  if (help) {
    usage(stdout);
    return CLI_EXIT_OK;
  }
  if (code != CLI_EXIT_OK) return code;
  cis_skills *s;
  if ((code = open_tenant(tenant, &s)) != CLI_EXIT_OK) return code;
  cis_key_info *keys = NULL;
  size_t n = 0;
  cis_result rc = cis_skills_keys(s, &keys, &n);
  if (rc != CIS_OK) {
    if (json) code = cli_json_fail(rc, cis_skills_errmsg(s));
    else cli_error("key list", rc, cis_skills_errmsg(s)), code = cli_exit_code(rc);
    cis_skills_close(s);
    return code;
  }
  if (json) {
    cJSON *doc = cli_json_doc(CIS_OK, NULL), *arr = cJSON_AddArrayToObject(doc, "keys");
    for (size_t i = 0; i < n; i++) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "name", keys[i].name);
      cJSON_AddStringToObject(o, "public_key", keys[i].public_key);
      cJSON_AddNumberToObject(o, "added_at", (double)keys[i].added_at);
      cJSON_AddItemToArray(arr, o);
    }
    code = cli_json_print(doc);
  } else {
    for (size_t i = 0; i < n; i++) printf("%-24s %s\n", keys[i].name, keys[i].public_key);
  }
  free(keys);
  cis_skills_close(s);
  return code;
}

int cli_cmd_key(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
  }
  const char *sub = argv[1];
  if (!strcmp(sub, "create")) return key_create(argc - 1, argv + 1);
  if (!strcmp(sub, "trust")) return key_trust(argc - 1, argv + 1, true);
  if (!strcmp(sub, "untrust")) return key_trust(argc - 1, argv + 1, false);
  if (!strcmp(sub, "list")) return key_list(argc - 1, argv + 1);
  fprintf(stderr, "cis key: unknown subcommand '%s'\n", sub);
  usage(stderr);
  return CLI_EXIT_USAGE;
}

/* `cis skill sign DIR|skill.json --key NAME|FILE`: NAME is a key of
 * $CIS_HOME/keys, anything with a slash or ending in .key a file. */
int cli_cmd_skill_sign(int argc, char **argv) {
  const char *key = NULL, *pos[1];
  int npos = 0;
  bool help = false;
  const cli_opt opts[] = {{"--key", CLI_OPT_STR, &key, NULL, "NAME|FILE", "the secret key (a name in $CIS_HOME/keys, or a file)"}};
  int code = cli_parse_mixed("skill sign", opts, 1, argc, argv, pos, 1, &npos, &help);
  if (help || code != CLI_EXIT_OK || npos != 1 || !key) {
    FILE *f = help ? stdout : stderr;
    fprintf(f, "usage: cis skill sign DIR|skill.json --key NAME|FILE\n"
               "Writes skill.sig beside skill.json: the Ed25519 signature of the manifest as\n"
               "it is (which pins the module by its sha256). Install checks it; with\n"
               "--require-signature, only skills signed by a key the tenant trusts\n"
               "(`cis key trust`) install and run.\n");
    cli_print_opts(f, opts, 1);
    return help ? CLI_EXIT_OK : code != CLI_EXIT_OK ? code : CLI_EXIT_USAGE;
  }
  char path[4300];
  if (strchr(key, '/') || (strlen(key) > 4 && !strcmp(key + strlen(key) - 4, ".key"))) {
    snprintf(path, sizeof path, "%s", key);
  } else {
    char home[4096];
    home_dir(home, sizeof home);
    snprintf(path, sizeof path, "%s/keys/%s.key", home, key);
  }
  cis_result rc = cis_skill_sign(pos[0], path);
  if (rc != CIS_OK) {
    cli_error("skill sign", rc, cis_errmsg(NULL));
    return cli_exit_code(rc);
  }
  fprintf(stderr, "signed %s with %s\n", pos[0], path);
  return CLI_EXIT_OK;
}
