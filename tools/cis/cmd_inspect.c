/*
 * This file implements `cis inspect FILE.wasm`: list the WebAssembly
 * features a module uses beyond 1.0, then its imports (module.name, kind,
 * signature or limits) and exports, one per line:
 *
 *   features: multi-value, simd
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
 * error on stderr), with exit 3; one that does not decode is only an error.
 * With --json the same comes as one document: "features", an array of
 * names, and "imports" and "exports", arrays of {module, name, kind, ...}
 * (cli_json.c has the common members).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_wat.h"

static void usage(FILE *f, const cli_opt *opts, size_t nopts) {
  fprintf(f, "usage: cis inspect [--json] FILE.wasm\n"
             "Lists the WebAssembly features a module uses beyond 1.0, and its imports and\n"
             "exports with their types and limits.\n"
             "Options:\n");
  cli_print_opts(f, opts, nopts);
}

static cJSON *json_types(uint32_t n, const cis_valtype *t) {
  cJSON *a = cJSON_CreateArray();
  for (uint32_t i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(cli_type_name(t[i])));
  return a;
}

/* One import or export as a JSON object: what print_desc prints. Names
 * are taken as their bytes (cJSON escapes what JSON needs; bytes that are
 * not UTF-8 pass through as they are). */
static cJSON *json_desc(const cis_extern_desc *d, bool import) {
  static const char *kinds[] = {"func", "table", "memory", "global", "tag"};
  cJSON *o = cJSON_CreateObject();
  char *s;
  if (import && (s = strndup(d->module, d->module_len))) {
    cJSON_AddStringToObject(o, "module", s);
    free(s);
  }
  if ((s = strndup(d->name, d->name_len))) {
    cJSON_AddStringToObject(o, "name", s);
    free(s);
  }
  cJSON_AddStringToObject(o, "kind", (unsigned)d->kind < 5 ? kinds[d->kind] : "?");
  switch (d->kind) {
  case CIS_EXTERN_FUNC:
    cJSON_AddItemToObject(o, "params", json_types(d->nparams, d->params));
    cJSON_AddItemToObject(o, "results", json_types(d->nresults, d->results));
    break;
  case CIS_EXTERN_TAG: /* an exception tag: the values it carries */
    cJSON_AddItemToObject(o, "params", json_types(d->nparams, d->params));
    break;
  case CIS_EXTERN_TABLE:
  case CIS_EXTERN_MEMORY:
    if (d->kind == CIS_EXTERN_TABLE) cJSON_AddStringToObject(o, "type", cli_type_name(d->type));
    cJSON_AddNumberToObject(o, "min", (double)d->min);
    if (d->has_max) cJSON_AddNumberToObject(o, "max", (double)d->max);
    else cJSON_AddNullToObject(o, "max");
    break;
  case CIS_EXTERN_GLOBAL:
    cJSON_AddBoolToObject(o, "mutable", d->mutable_);
    cJSON_AddStringToObject(o, "type", cli_type_name(d->type));
    break;
  }
  return o;
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
  static const char *kinds[] = {"func", "table", "memory", "global", "tag"};
  const char *kind = (unsigned)d->kind < 5 ? kinds[d->kind] : "?";
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
  case CIS_EXTERN_TAG:
    putchar(' ');
    print_types(d->nparams, d->params);
    break;
  }
  putchar('\n');
}

/* Lists imports and exports, as text or into doc's "imports" and
 * "exports" when doc is not NULL; returns CIS_OK, or the engine's error
 * when the module would not describe one of them (printed). */
static cis_result list_module(const cis_module *m, cJSON *doc) {
  cis_result ret = CIS_OK;
  uint32_t ni = cis_module_import_count(m), ne = cis_module_export_count(m);
  uint32_t features = cis_module_features(m);
  cJSON *jf = doc ? cJSON_AddArrayToObject(doc, "features") : NULL;
  if (!doc) printf("features:%s", features ? "" : " none beyond WebAssembly 1.0");
  for (uint32_t bit = 1, n = 0; bit; bit <<= 1) {
    const char *name = features & bit ? cis_feature_name((cis_feature)bit) : NULL;
    if (name && doc) cJSON_AddItemToArray(jf, cJSON_CreateString(name));
    else if (name) printf("%s %s", n++ ? "," : "", name);
  }
  if (!doc) putchar('\n');
  cJSON *ji = doc ? cJSON_AddArrayToObject(doc, "imports") : NULL;
  if (!doc) printf("imports (%" PRIu32 "):\n", ni);
  for (uint32_t i = 0; i < ni; i++) {
    cis_extern_desc d;
    cis_result rc = cis_module_import(m, i, &d);
    if (rc != CIS_OK) {
      cli_error("import", rc, NULL);
      ret = rc;
      continue;
    }
    if (doc) cJSON_AddItemToArray(ji, json_desc(&d, true));
    else print_desc(&d, true);
  }
  cJSON *je = doc ? cJSON_AddArrayToObject(doc, "exports") : NULL;
  if (!doc) printf("exports (%" PRIu32 "):\n", ne);
  for (uint32_t i = 0; i < ne; i++) {
    cis_extern_desc d;
    cis_result rc = cis_module_export(m, i, &d);
    if (rc != CIS_OK) {
      cli_error("export", rc, NULL);
      ret = rc;
      continue;
    }
    if (doc) cJSON_AddItemToArray(je, json_desc(&d, false));
    else print_desc(&d, false);
  }
  return ret;
}

int cli_cmd_inspect(int argc, char **argv) {
  bool json = false, help;
  const cli_opt opts[] = {{"--json", CLI_OPT_FLAG, &json, NULL, NULL,
                           "print one JSON document: status, error, features, imports and exports"}};
  const size_t nopts = 1;
  int pos = 1;
  int code = cli_parse_opts("inspect", opts, nopts, argc, argv, &pos, &help);
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
  cJSON *doc = json ? cli_json_doc(rc, rc == CIS_OK ? NULL : cis_errmsg(e)) : NULL;
  if (rc != CIS_OK) {
    if (!json) cli_error(path, rc, cis_errmsg(e));
    /* An invalid module still has imports and exports worth seeing. */
    if (rc <= CIS_EINVALID && rc > CIS_EINVALID - 100 && !cli_is_wat(bytes, len) &&
        cis_module_decode_only(e, bytes, len, &m) != CIS_OK)
      m = NULL;
  }
  free(bytes);
  if (m) {
    cis_result lr = list_module(m, doc);
    if (rc == CIS_OK) rc = lr;
    cis_module_free(m);
  }
  cis_engine_free(e);
  if (json && cli_json_print(doc) != CLI_EXIT_OK) return CLI_EXIT_FAIL;
  return cli_exit_code(rc);
}
