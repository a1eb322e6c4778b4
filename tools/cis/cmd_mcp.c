/*
 * This file implements `cis mcp`: the installed skills of $CIS_HOME served
 * as MCP tools over stdio (include/cis/cis_mcp.h), for an MCP client that
 * starts cis as its server process (docs/mcp.md). stdout carries only
 * protocol messages; everything else (skill logs, errors) goes to stderr.
 * End of input ends the server with exit code 0.
 *
 * --tenant T opens the registry as T's: the tools are T's skills, run
 * with T's KV and files, never the default tenant's skills.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cis/cis_mcp.h"
#include "cis/cis_skill.h"
#include "cli.h"

int cli_cmd_mcp(int argc, char **argv);

/* A failed call's own words on stderr, the operator's: the tool result
 * carries only the generic text of a store's or the host's failure (its
 * detail may name hosts or files). */
static void call_failed(void *user, const char *tool, const cis_invoke_result *res) {
  (void)user;
  if (res->status != CIS_OK && res->error[0])
    fprintf(stderr, "cis mcp: %s: %s: %s\n", tool, cis_errname(res->status), res->error);
}

/* A skill tools/list left out, and why, on stderr: the client sees only a
 * shorter list. */
static void skill_skipped(void *user, const char *tool, cis_result rc, const char *why) {
  (void)user;
  fprintf(stderr, "cis mcp: warn: tools/list leaves out %s: %s: %s\n", tool, cis_errname(rc), why);
}

int cli_cmd_mcp(int argc, char **argv) {
  const char *tenant = NULL;
  uint64_t max_message = CIS_MCP_MAX_MESSAGE;
  bool help = false;
  cli_host_flags hf = {0};
  cli_opt opts[2 + CLI_HOST_NOPTS] = {
      {"--tenant", CLI_OPT_STR, &tenant, NULL, "ID",
       "the tenant whose skills are served, with its KV and files (default: default)"},
      {"--max-message", CLI_OPT_SIZE, &max_message, NULL, "SIZE",
       "longest message (line) read; a longer one is a parse error (default 4MiB)"},
  };
  const size_t nopts = 2 + cli_host_opts(&hf, opts + 2);
  int pos = 1;
  int code = cli_parse_opts("mcp", opts, nopts, argc, argv, &pos, &help);
  if (code == CLI_EXIT_OK && !help) code = cli_host_flags_check("mcp", &hf);
  if (code == CLI_EXIT_OK && !help && pos < argc) {
    fprintf(stderr, "cis mcp: unexpected argument \"%s\"\n", argv[pos]);
    code = CLI_EXIT_USAGE;
  }
  if (code == CLI_EXIT_OK && !help && max_message == 0) {
    fprintf(stderr, "cis mcp: --max-message must be at least 1 byte\n");
    code = CLI_EXIT_USAGE;
  }
  if (help || code != CLI_EXIT_OK) {
    FILE *f = help ? stdout : stderr;
    fprintf(f, "usage: cis mcp [--tenant ID] [--max-message SIZE]\n"
               "Serves the installed skills as MCP tools over stdio (newline-delimited\n"
               "JSON-RPC 2.0) until end of input. See docs/mcp.md.\n"
               "Configuration: $CIS_HOME/config.json, the environment, flags (cis config show).\n"
               "Options:\n");
    cli_print_opts(f, opts, nopts);
    cli_strlist_free(&hf.sets);
    return help ? CLI_EXIT_OK : code;
  }
  /* A client that goes away is a write error (CIS_EIO), not a signal. */
  signal(SIGPIPE, SIG_IGN);

  char err[512] = "";
  cis_skills *s = NULL;
  cli_config *cc = NULL;
  cis_result rc = cli_config_load(&hf, NULL, 0, &cc, err, sizeof err);
  if (rc == CIS_OK) {
    cis_skills_config sc;
    hf.tenant = tenant; /* the tenant's own registry, not the default's */
    cli_config_skills(cc, &hf, &sc);
    if ((rc = cis_skills_open(&sc, &s)) != CIS_OK) {
      snprintf(err, sizeof err, "%s", s ? cis_skills_errmsg(s) : cis_strerror(rc));
      cis_skills_close(s);
    }
  }
  cli_config_free(cc);
  cli_strlist_free(&hf.sets);
  if (rc != CIS_OK) {
    cli_error("mcp", rc, err);
    return cli_exit_code(rc);
  }
  cis_mcp_config mc = {.skills = s,
                       .tenant = tenant,
                       .max_message = (size_t)max_message,
                       .on_call = call_failed,
                       .on_skip = skill_skipped};
  cis_mcp *m = NULL;
  rc = cis_mcp_new(&mc, &m);
  if (rc == CIS_OK) rc = cis_mcp_serve_fd(m, STDIN_FILENO, STDOUT_FILENO);
  if (rc != CIS_OK) cli_error("mcp", rc, rc == CIS_EIO ? "reading stdin or writing stdout failed" : NULL);
  cis_mcp_free(m);
  cis_skills_close(s);
  return rc == CIS_OK ? CLI_EXIT_OK : cli_exit_code(rc);
}
