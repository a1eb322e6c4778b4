/*
 * This file implements `cis inspect FILE.wasm`: list a module's imports
 * (module.name, kind, signature or limits) and exports, one per line:
 *
 *   imports (2):
 *     func    env.log (i32, i32) -> ()
 *     memory  env.memory min 1 max 2 pages
 *   exports (1):
 *     func    run () -> (i32)
 *
 * Tables and memories show their limits (tables in elements, memories in
 * 64 KiB pages), globals their mutability and type. Only what the public
 * API describes is shown: memories and tables that a module neither
 * imports nor exports are internal to it.
 *
 * A module that decodes but does not validate is still listed (after the
 * error on stderr), with exit 1; one that does not decode is only an error.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "cli.h"

static void usage(FILE *f) {
  fprintf(f, "usage: cis inspect FILE.wasm\n"
             "Lists the imports and exports of a WebAssembly binary with their types and\n"
             "limits.\n"
             "Options:\n");
  cli_print_opts(f, NULL, 0);
}

static void print_types(uint32_t n, const cis_valtype *t) {
  putchar('(');
  for (uint32_t i = 0; i < n; i++) printf("%s%s", i ? ", " : "", cli_type_name(t[i]));
  putchar(')');
}

static void print_limits(const cis_extern_desc *d, const char *unit) {
  printf(" min %" PRIu64, d->min);
  if (d->has_max)
    printf(" max %" PRIu64, d->max);
  else
    printf(" max none");
  if (unit) printf(" %s", unit);
}

/* Prints one import or export line. */
static void print_desc(const cis_extern_desc *d, bool import) {
  static const char *kinds[] = {"func", "table", "memory", "global"};
  const char *kind = (unsigned)d->kind < 4 ? kinds[d->kind] : "?";
  printf("  %-7s ", kind);
  if (import) {
    cli_print_name(stdout, d->module, d->module_len);
    putchar('.');
  }
  cli_print_name(stdout, d->name, d->name_len);
  switch (d->kind) {
  case CIS_EXTERN_FUNC:
    putchar(' ');
    print_types(d->nparams, d->params);
    printf(" -> ");
    print_types(d->nresults, d->results);
    break;
  case CIS_EXTERN_TABLE:
    printf(" %s", cli_type_name(d->type));
    print_limits(d, NULL);
    break;
  case CIS_EXTERN_MEMORY:
    print_limits(d, "pages");
    break;
  case CIS_EXTERN_GLOBAL:
    printf(" %s %s", d->mutable_ ? "mut" : "const", cli_type_name(d->type));
    break;
  }
  putchar('\n');
}

/* Lists imports and exports; returns false when the module would not
 * describe one of them (an engine error, printed). */
static bool list_module(const cis_module *m) {
  bool ok = true;
  uint32_t ni = cis_module_import_count(m), ne = cis_module_export_count(m);
  printf("imports (%" PRIu32 "):\n", ni);
  for (uint32_t i = 0; i < ni; i++) {
    cis_extern_desc d;
    cis_result rc = cis_module_import(m, i, &d);
    if (rc != CIS_OK) {
      cli_error("import", rc, NULL);
      ok = false;
      continue;
    }
    print_desc(&d, true);
  }
  printf("exports (%" PRIu32 "):\n", ne);
  for (uint32_t i = 0; i < ne; i++) {
    cis_extern_desc d;
    cis_result rc = cis_module_export(m, i, &d);
    if (rc != CIS_OK) {
      cli_error("export", rc, NULL);
      ok = false;
      continue;
    }
    print_desc(&d, false);
  }
  return ok;
}

int cli_cmd_inspect(int argc, char **argv) {
  int pos = 1;
  bool help;
  int code = cli_parse_opts("inspect", NULL, 0, argc, argv, &pos, &help);
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
  code = CLI_EXIT_OK;
  rc = cis_module_new(e, bytes, len, &m);
  if (rc != CIS_OK) {
    cli_error(path, rc, cis_errmsg(e));
    code = CLI_EXIT_FAIL;
    /* An invalid module still has imports and exports worth seeing. */
    if (rc <= CIS_EINVALID && rc > CIS_EINVALID - 100 &&
        cis_module_decode_only(e, bytes, len, &m) != CIS_OK)
      m = NULL;
  }
  free(bytes);
  if (m) {
    if (!list_module(m)) code = CLI_EXIT_FAIL;
    cis_module_free(m);
  }
  cis_engine_free(e);
  return code;
}
