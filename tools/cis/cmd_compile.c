/*
 * This file implements `cis compile FILE.wasm...`: compile modules for the
 * compiled engine ("aot") into the cache ($CIS_HOME/cache), so that later
 * runs start from machine code. A module already in the cache is only
 * checked and loaded. Prints one line per module (whether it was cached,
 * and the time taken) and exits 0, or the first failure's exit code:
 * CIS_EUNSUPPORTED when no C compiler is installed (the message names the
 * package), CIS_EIO when the compiler fails, 3 for a bad module.
 */
#include <stdlib.h>
#include <time.h>

#include "cis/cis_aot.h"
#include "cli.h"

static void usage(FILE *f, const cli_opt *opts, size_t nopts) {
  fprintf(f, "usage: cis compile FILE.wasm...\n"
             "Compiles modules to machine code for --engine aot, into the cache\n"
             "($CIS_HOME/cache; `cis cache list` shows it). CIS_CC names the C compiler\n"
             "(default: cc on PATH).\n"
             "Options:\n");
  cli_print_opts(f, opts, nopts);
}

/* Counts the cache's entries. */
static bool count_one(const cis_cache_entry *e, void *user) {
  (void)e;
  ++*(size_t *)user;
  return true;
}

static size_t cache_count(void) {
  size_t n = 0;
  cis_cache_list(count_one, &n);
  return n;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int cli_cmd_compile(int argc, char **argv) {
  bool help;
  const cli_opt opts[] = {{"--help", CLI_OPT_FLAG, &help, NULL, NULL, "show this help"}};
  const size_t nopts = 1;
  int pos = 1;
  int code = cli_parse_opts("compile", opts, nopts, argc, argv, &pos, &help);
  if (code == CLI_EXIT_OK && help) {
    usage(stdout, opts, nopts);
    return CLI_EXIT_OK;
  }
  if (code != CLI_EXIT_OK || argc - pos < 1) {
    usage(stderr, opts, nopts);
    return CLI_EXIT_USAGE;
  }
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = "aot";
  cis_engine *e = NULL;
  cis_result rc = cis_engine_new(&cfg, &e);
  if (rc != CIS_OK) {
    cli_error("engine", rc, NULL);
    return CLI_EXIT_FAIL;
  }
  int exit_code = CLI_EXIT_OK;
  for (; pos < argc && exit_code == CLI_EXIT_OK; pos++) {
    const char *path = argv[pos];
    size_t len;
    uint8_t *bytes = cli_read_file(path, &len);
    if (!bytes) {
      exit_code = CLI_EXIT_FAIL;
      break;
    }
    size_t before = cache_count();
    double t0 = now_s();
    cis_module *m = NULL;
    rc = cis_module_new(e, bytes, len, &m);
    double dt = now_s() - t0;
    free(bytes);
    if (rc != CIS_OK) {
      cli_error(path, rc, cis_errmsg(e));
      exit_code = cli_exit_code(rc);
      break;
    }
    cis_module_free(m);
    printf("%s: %s in %.3f s (%zu bytes of wasm)\n", path,
           cache_count() > before ? "compiled" : "cached, loaded", dt, len);
  }
  cis_engine_free(e);
  return exit_code;
}
