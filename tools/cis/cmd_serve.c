/*
 * This file implements `cis serve`: the HTTP API and /mcp over the
 * registry of $CIS_HOME (include/cis/cis_serve.h, docs/serve.md). It
 * prints one "listening HOST:PORT" line per address on stdout once bound,
 * then serves until SIGTERM or SIGINT, which drain it: new requests get
 * 503, calls in flight finish within their deadlines, and it exits 0.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cis/cis_serve.h"
#include "cli.h"

int cli_cmd_serve(int argc, char **argv);

int cli_cmd_serve(int argc, char **argv) {
  cli_strlist listen = {0};
  uint64_t max_body = CIS_SERVE_DEFAULT_MAX_BODY, workers = CIS_SERVE_DEFAULT_WORKERS,
           queue = CIS_SERVE_DEFAULT_QUEUE, tenant_conc = 0, max_conn = 256, max_timeout = 0, max_memory = 0,
           max_fuel = 0, drain = 0;
  bool help = false, require_sig = false;
  const cli_opt opts[] = {
      {"--listen", CLI_OPT_LIST, &listen, NULL, "HOST:PORT",
       "address to serve on, repeatable (default " CIS_SERVE_DEFAULT_LISTEN "; port 0: any free)"},
      {"--max-body", CLI_OPT_SIZE, &max_body, NULL, "SIZE", "request body cap, 413 above (default 8MiB)"},
      {"--workers", CLI_OPT_U64, &workers, NULL, "N", "threads running calls (default 4)"},
      {"--queue", CLI_OPT_U64, &queue, NULL, "N", "calls waiting for a worker, 429 above (default 64)"},
      {"--tenant-concurrency", CLI_OPT_U64, &tenant_conc, NULL, "N",
       "calls of one tenant running or waiting, 429 above (default: --workers)"},
      {"--max-connections", CLI_OPT_U64, &max_conn, NULL, "N", "open connections (default 256)"},
      {"--max-timeout", CLI_OPT_MS, &max_timeout, NULL, "MS", "most a manifest's timeout may be (default 5m)"},
      {"--max-memory", CLI_OPT_SIZE, &max_memory, NULL, "SIZE", "most a manifest's memory may be (default 1GiB)"},
      {"--max-fuel", CLI_OPT_U64, &max_fuel, NULL, "N", "most a manifest's fuel may be (default: no cap)"},
      {"--drain-timeout", CLI_OPT_MS, &drain, NULL, "MS",
       "longest wait for calls in flight after SIGTERM (default: --max-timeout + 5s)"},
      {"--require-signature", CLI_OPT_FLAG, &require_sig, NULL, NULL,
       "install and run only skills signed by a key the tenant trusts (docs/signing.md)"},
  };
  const size_t nopts = sizeof opts / sizeof opts[0];
  int pos = 1;
  int code = cli_parse_opts("serve", opts, nopts, argc, argv, &pos, &help);
  if (code == CLI_EXIT_OK && !help && pos < argc) {
    fprintf(stderr, "cis serve: unexpected argument \"%s\"\n", argv[pos]);
    code = CLI_EXIT_USAGE;
  }
  if (code == CLI_EXIT_OK && !help &&
      (!workers || workers > 1024 || !queue || queue > 1000000 || max_conn == 0 || max_conn > 65536 ||
       tenant_conc > 1000000 || max_body == 0)) {
    fprintf(stderr, "cis serve: --workers 1..1024, --queue 1..1000000, --max-connections 1..65536 and "
                    "--max-body above 0\n");
    code = CLI_EXIT_USAGE;
  }
  if (help || code != CLI_EXIT_OK) {
    FILE *f = help ? stdout : stderr;
    fprintf(f, "usage: cis serve [--listen HOST:PORT]... [OPTIONS]\n"
               "Serves the HTTP API (/v1), /metrics and /mcp; tenants authenticate with\n"
               "tokens from `cis token create`. SIGTERM or SIGINT drains and exits 0.\n"
               "See docs/serve.md. Environment: CIS_HOME (registry), CIS_KV, CIS_AI_*.\nOptions:\n");
    cli_print_opts(f, opts, nopts);
    cli_strlist_free(&listen);
    return help ? CLI_EXIT_OK : code;
  }
  cis_server_config c;
  cis_server_config_default(&c);
  c.listen = listen.items;
  c.nlisten = listen.n;
  c.skills.kv_spec = getenv("CIS_KV");
  c.skills.max_limits.timeout_ms = max_timeout;
  c.skills.max_limits.max_memory_bytes = max_memory;
  c.skills.max_limits.fuel = max_fuel;
  c.skills.require_signature = require_sig || (getenv("CIS_REQUIRE_SIGNATURE") &&
                                               !strcmp(getenv("CIS_REQUIRE_SIGNATURE"), "true"));
  c.max_body = (size_t)max_body;
  c.workers = (unsigned)workers;
  c.queue = (unsigned)queue;
  c.tenant_concurrency = (unsigned)tenant_conc;
  c.max_connections = (unsigned)max_conn;

  /* The signals are taken by sigwait below: blocked first, so that every
   * thread the server starts inherits the mask. A client that goes away
   * is a failed write, not a signal. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  char err[512] = "";
  cis_server *s = NULL;
  cis_result rc = cis_server_start(&c, &s, err, sizeof err);
  if (rc != CIS_OK) {
    cli_error("serve", rc, err);
    cli_strlist_free(&listen);
    return rc == CIS_EINVAL ? CLI_EXIT_USAGE : cli_exit_code(rc); /* a bad --listen is a usage error */
  }
  for (size_t i = 0; i < (listen.n ? listen.n : 1); i++) {
    const char *spec = listen.n ? listen.items[i] : CIS_SERVE_DEFAULT_LISTEN;
    const char *colon = strrchr(spec, ':');
    printf("listening %.*s:%d\n", (int)(colon - spec), spec, cis_server_port(s, i));
  }
  fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  fprintf(stderr, "cis serve: %s: draining\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  cis_server_drain(s);
  uint64_t grace = drain ? drain : (max_timeout ? max_timeout : CIS_SKILL_CEILING_TIMEOUT_MS) + 5000;
  if (cis_server_wait_idle(s, grace) != CIS_OK)
    fprintf(stderr, "cis serve: calls still running after %llu ms; closing once they end\n",
            (unsigned long long)grace);
  cis_server_free(s);
  cli_strlist_free(&listen);
  fprintf(stderr, "cis serve: stopped\n");
  return CLI_EXIT_OK;
}
