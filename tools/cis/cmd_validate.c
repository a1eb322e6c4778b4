/*
 * This file implements `cis validate [--json] FILE.wasm`: decode and
 * validate a module without instantiating it. Prints `valid` and exits 0,
 * or prints the engine's error (its code and the message with the byte
 * offset) on stderr and exits 3 (bad input); with --json, one document
 * with "valid" says either on stdout.
 */
#include <stdlib.h>

#include "cli.h"
#include "cli_wat.h"

static void usage(FILE *f, const cli_opt *opts, size_t nopts) {
  fprintf(f, "usage: cis validate [--json] FILE.wasm\n"
             "Decodes and validates a WebAssembly binary. Prints \"valid\" (exit 0) or the\n"
             "error with its byte offset (exit 3).\n"
             "Options:\n");
  cli_print_opts(f, opts, nopts);
}

int cli_cmd_validate(int argc, char **argv) {
  bool json = false, help;
  const cli_opt opts[] = {{"--json", CLI_OPT_FLAG, &json, NULL, NULL,
                           "print one JSON document: status, error and \"valid\""}};
  const size_t nopts = 1;
  int pos = 1;
  int code = cli_parse_opts("validate", opts, nopts, argc, argv, &pos, &help);
  if (code == CLI_EXIT_OK && help) {
    usage(stdout, opts, nopts);
    return CLI_EXIT_OK;
  }
  if (code != CLI_EXIT_OK || argc - pos != 1) {
    usage(stderr, opts, nopts);
    return CLI_EXIT_USAGE;
  }
  const char *path = argv[pos];
  size_t len;
  uint8_t *bytes = cli_read_file(path, &len);
  if (!bytes) return json ? cli_json_fail(CIS_EIO, "cannot read the module") : CLI_EXIT_FAIL;
  char why[512];
  cis_result crc = cli_check_component(bytes, len, why, sizeof why);
  if (crc != CIS_OK) {
    free(bytes);
    if (json) return cli_json_fail(crc, why);
    cli_error(path, crc, why);
    return cli_exit_code(crc);
  }
  cis_engine *e = NULL;
  cis_module *m = NULL;
  cis_result rc = cli_engine_for_reading(&e);
  if (rc != CIS_OK) {
    cli_error("engine", rc, NULL);
    free(bytes);
    return CLI_EXIT_FAIL;
  }
  rc = cli_module_new(e, bytes, len, &m); /* .wasm or .wat */
  free(bytes);
  if (json) {
    cJSON *d = cli_json_doc(rc, rc == CIS_OK ? NULL : cis_errmsg(e));
    cJSON_AddBoolToObject(d, "valid", rc == CIS_OK);
    if (cli_json_print(d) != CLI_EXIT_OK) rc = CIS_ENOMEM;
  } else if (rc == CIS_OK) {
    printf("valid\n");
  } else {
    cli_error(path, rc, cis_errmsg(e));
  }
  if (m) cis_module_free(m);
  cis_engine_free(e);
  return cli_exit_code(rc);
}
