/*
 * This file implements the `cis` command line's entry point: a small
 * dispatcher from the first argument to one function per subcommand
 * (commands[] below), plus `help` and `--version`. Subcommands live in
 * cmd_*.c and share cli.h; they see argv[0] = their own name and return
 * the process exit code (cli.h: 0 ok, 2 usage, 1 and 3..8 by what failed).
 *
 * The CLI is a user of the public API only (the headers in include/cis).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#ifndef CIS_CLI_SKILL
#define CIS_CLI_SKILL 0
#endif
#if CIS_CLI_SKILL
#include "cmd_skill.h"
int cli_cmd_fs(int argc, char **argv); /* cmd_fs.c */
int cli_cmd_tenant(int argc, char **argv); /* cmd_tenant.c */
#endif
#ifndef CIS_CLI_MCP
#define CIS_CLI_MCP 0
#endif
#if CIS_CLI_MCP
int cli_cmd_mcp(int argc, char **argv); /* cmd_mcp.c */
#endif
#ifndef CIS_CLI_SERVE
#define CIS_CLI_SERVE 0
#endif
#if CIS_CLI_SERVE
int cli_cmd_serve(int argc, char **argv); /* cmd_serve.c */
int cli_cmd_token(int argc, char **argv); /* cmd_token.c */
#endif

int cli_cmd_compile(int argc, char **argv); /* cmd_compile.c */
int cli_cmd_cache(int argc, char **argv);   /* cmd_cache.c */

/* One subcommand. */
typedef struct cli_command {
  const char *name;                 /* what the user types */
  int (*run)(int argc, char **argv); /* argv[0] is name; returns the exit code */
  const char *summary;              /* one line for `cis help` */
} cli_command;

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

#if CIS_CLI_SKILL
/* `cis skill SUB ...`: cis_cmd_skill takes argv[0] = SUB. */
static int cmd_skill(int argc, char **argv) { return cis_cmd_skill(argc - 1, argv + 1); }
#endif

static const cli_command commands[] = {
    {"run", cli_cmd_run, "run a WASI command, or call an export of a module with arguments"},
    {"validate", cli_cmd_validate, "decode and validate a module"},
    {"inspect", cli_cmd_inspect, "list a module's imports and exports"},
    {"compile", cli_cmd_compile, "compile modules to machine code for --engine aot (cached)"},
    {"cache", cli_cmd_cache, "list, clear or prune the cache of compiled modules"},
#if CIS_CLI_SKILL
    {"skill", cmd_skill, "install, list, show, run, remove, config, sign and init skills"},
    {"key", cli_cmd_key, "create signing keys, and trust them per tenant (signed skills)"},
    {"config", cli_cmd_config, "show the effective configuration and where each setting comes from"},
    {"fs", cli_cmd_fs, "inspect, seed, snapshot, diff and roll back a tenant's database filesystem"},
    {"tenant", cli_cmd_tenant, "remove a tenant: its tokens, skills, KV, files, settings and keys"},
#endif
#if CIS_CLI_MCP
    {"mcp", cli_cmd_mcp, "serve the installed skills as MCP tools over stdio"},
#endif
#if CIS_CLI_SERVE
    {"serve", cli_cmd_serve, "serve the skills over HTTP (/v1 API, /metrics, /mcp)"},
    {"token", cli_cmd_token, "create, list and revoke the bearer tokens of cis serve"},
#endif
    {"help", cmd_help, "show help for cis or a subcommand"},
    {"version", cmd_version, "print the version"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const cli_command *find_command(const char *name) {
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (!strcmp(commands[i].name, name)) return &commands[i];
  return NULL;
}

static void usage(FILE *f) {
  fprintf(f, "cis %s: a sandboxed WebAssembly runtime for skills\n\n"
             "usage: cis COMMAND [OPTIONS] [ARGS...]\n\n"
             "Commands:\n",
          cis_version());
  for (size_t i = 0; i < NCOMMANDS; i++)
    fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(f, "\nOptions:\n"
             "  -V, --version  print the version\n"
             "  -h, --help     show this help\n\n"
             "Run `cis help COMMAND` or `cis COMMAND --help` for a command's options.\n");
}

/* `cis help [COMMAND]`: the overview, or the command's own --help. */
static int cmd_help(int argc, char **argv) {
  if (argc < 2) {
    usage(stdout);
    return CLI_EXIT_OK;
  }
  const cli_command *c = find_command(argv[1]);
  if (!c || c->run == cmd_help || c->run == cmd_version) {
    if (!c) fprintf(stderr, "cis help: unknown command \"%s\"\n", argv[1]);
    usage(c ? stdout : stderr);
    return c ? CLI_EXIT_OK : CLI_EXIT_USAGE;
  }
  char *sub[] = {argv[1], "--help", NULL};
  return c->run(2, sub);
}

static int cmd_version(int argc, char **argv) {
  (void)argc, (void)argv;
  printf("cis %s\n", cis_version());
  return CLI_EXIT_OK;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return CLI_EXIT_USAGE;
  }
  const char *name = argv[1];
  if (!strcmp(name, "--version") || !strcmp(name, "-V")) return cmd_version(argc - 1, argv + 1);
  if (!strcmp(name, "--help") || !strcmp(name, "-h")) return cmd_help(1, argv + 1);
  const cli_command *c = find_command(name);
  if (!c) {
    fprintf(stderr, "cis: unknown command \"%s\"\n\n", name);
    usage(stderr);
    return CLI_EXIT_USAGE;
  }
  return c->run(argc - 1, argv + 1);
}
