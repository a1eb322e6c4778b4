/*
 * This file implements `cis validate FILE.wasm`: decode and validate a
 * module without instantiating it. Prints `valid` and exits 0, or prints
 * the engine's error (its code and the message with the byte offset) on
 * stderr and exits 1.
 */
#include <stdlib.h>

#include "cli.h"

static void usage(FILE *f) {
  fprintf(f, "usage: cis validate FILE.wasm\n"
             "Decodes and validates a WebAssembly binary. Prints \"valid\" (exit 0) or the\n"
             "error with its byte offset (exit 1).\n"
             "Options:\n");
  cli_print_opts(f, NULL, 0);
}

int cli_cmd_validate(int argc, char **argv) {
  int pos = 1;
  bool help;
  int code = cli_parse_opts("validate", NULL, 0, argc, argv, &pos, &help);
  if (code == CLI_EXIT_OK && help) {
    usage(stdout);
    return CLI_EXIT_OK;
  }
  if (code != CLI_EXIT_OK || argc - pos != 1) {
    usage(stderr);
    return CLI_EXIT_USAGE;
  }
  const char *path = argv[pos];
  size_t len;
  uint8_t *bytes = cli_read_file(path, &len);
  if (!bytes) return CLI_EXIT_FAIL;
  cis_engine *e = NULL;
  cis_module *m = NULL;
  cis_result rc = cis_engine_new(NULL, &e);
  if (rc != CIS_OK) {
    cli_error("engine", rc, NULL);
    free(bytes);
    return CLI_EXIT_FAIL;
  }
  rc = cis_module_new(e, bytes, len, &m);
  free(bytes);
  if (rc == CIS_OK) {
    printf("valid\n");
    cis_module_free(m);
  } else {
    cli_error(path, rc, cis_errmsg(e));
  }
  cis_engine_free(e);
  return rc == CIS_OK ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
