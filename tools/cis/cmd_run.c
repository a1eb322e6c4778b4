/*
 * This file implements `cis run`: instantiate a module under the limits the
 * flags give and call one export with arguments from the command line.
 *
 *   cis run [--invoke NAME] [--timeout MS] [--max-memory BYTES] [--fuel N]
 *           FILE.wasm [ARGS...]
 *
 * ARGS are read by the parameter types of the export (cli_parse_val) and
 * each result is printed on its own line (cli_format_val). Without
 * --invoke the module's `_start` is called, with no arguments.
 *
 * Exit codes: 0 the call returned; 1 the module failed to load, link or
 * instantiate, or the call trapped or hit a limit (the code's name, its
 * text and the engine's message on stderr); 2 bad flags or arguments. When
 * a host function ends the call with CIS_EEXIT (WASI proc_exit), the exit
 * code is the guest's.
 *
 * Extending: options are rows of run_opts[]; imports a module may link
 * against are added in run_link().
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Everything one `cis run` works with. */
typedef struct run_ctx {
  const char *invoke;     /* --invoke: export to call; NULL = _start */
  uint64_t timeout_ms;    /* --timeout */
  uint64_t max_memory;    /* --max-memory */
  uint64_t fuel;          /* --fuel */
  bool has_timeout;       /* --timeout was given */
  bool has_max_memory;    /* --max-memory was given */
  bool has_fuel;          /* --fuel was given */
  const char *path;       /* FILE.wasm */
  char **args;            /* ARGS, borrowed from argv */
  int nargs;              /* number of ARGS */
  cis_limits limits;      /* engine defaults with the flags applied */
  cis_engine *engine;     /* owned */
  cis_module *module;     /* owned */
  cis_imports *imports;   /* owned; what the module may import */
  cis_instance *inst;     /* owned */
} run_ctx;

static void usage(FILE *f, const cli_opt *opts, size_t nopts) {
  fprintf(f, "usage: cis run [OPTIONS] FILE.wasm [ARGS...]\n"
             "Instantiates FILE.wasm and calls an export with ARGS, read by the export's\n"
             "parameter types: i32/i64 as decimal or 0x hex (negative allowed), f32/f64 as\n"
             "decimal floats, nan or inf, references only as null. Prints each result on\n"
             "its own line. Without --invoke, calls _start.\n"
             "Options:\n");
  cli_print_opts(f, opts, nopts);
}

/* Adds the externals FILE may import. No host module is linked yet, so a
 * module with imports fails in cis_instance_new with the import's name. */
static cis_result run_link(run_ctx *c) { return cis_imports_new(c->engine, &c->imports); }

/* Loads, links and instantiates c->path under c->limits. Returns an exit
 * code, having printed any failure. */
static int run_setup(run_ctx *c) {
  size_t len;
  uint8_t *bytes = cli_read_file(c->path, &len);
  if (!bytes) return CLI_EXIT_FAIL;
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.limits = c->limits;
  cis_result rc = cis_engine_new(&cfg, &c->engine);
  if (rc != CIS_OK) {
    free(bytes);
    cli_error("engine", rc, NULL);
    return CLI_EXIT_FAIL;
  }
  rc = cis_module_new(c->engine, bytes, len, &c->module);
  free(bytes);
  if (rc != CIS_OK) {
    cli_error(c->path, rc, cis_errmsg(c->engine));
    return CLI_EXIT_FAIL;
  }
  rc = run_link(c);
  if (rc != CIS_OK) {
    cli_error("imports", rc, cis_errmsg(c->engine));
    return CLI_EXIT_FAIL;
  }
  rc = cis_instance_new(c->module, c->imports, &c->limits, &c->inst);
  if (rc != CIS_OK) {
    cli_error(c->path, rc, cis_errmsg(c->engine));
    return CLI_EXIT_FAIL;
  }
  return CLI_EXIT_OK;
}

/* Prints "(i32, f64)" for a parameter list into stderr. */
static void print_sig(uint32_t n, const cis_valtype *t) {
  fputc('(', stderr);
  for (uint32_t i = 0; i < n; i++) fprintf(stderr, "%s%s", i ? ", " : "", cli_type_name(t[i]));
  fputc(')', stderr);
}

/* Calls the export with the parsed ARGS and prints its results. Returns an
 * exit code. */
static int run_call(run_ctx *c) {
  const char *name = c->invoke ? c->invoke : "_start";
  cis_extern ext;
  cis_result rc = cis_instance_export(c->inst, name, strlen(name), &ext);
  if (rc != CIS_OK || ext.kind != CIS_EXTERN_FUNC) {
    if (c->invoke)
      fprintf(stderr, "cis: %s: no exported function \"%s\"\n", c->path, name);
    else
      fprintf(stderr, "cis: %s: exports no _start function; name one with --invoke\n", c->path);
    return CLI_EXIT_FAIL;
  }
  uint32_t np, nr;
  const cis_valtype *pt, *rt;
  cis_func_type(ext.of.func, &np, &pt, &nr, &rt);
  if ((uint32_t)c->nargs != np) {
    fprintf(stderr, "cis run: %s takes %u argument%s ", name, (unsigned)np, np == 1 ? "" : "s");
    print_sig(np, pt);
    fprintf(stderr, ", %d given\n", c->nargs);
    return CLI_EXIT_USAGE;
  }
  cis_val *args = calloc(np ? np : 1, sizeof *args);
  cis_val *res = calloc(nr ? nr : 1, sizeof *res);
  int code = CLI_EXIT_OK;
  if (!args || !res) {
    cli_error("run", CIS_ENOMEM, NULL);
    code = CLI_EXIT_FAIL;
    goto out;
  }
  for (uint32_t i = 0; i < np; i++) {
    if (!cli_parse_val(pt[i], c->args[i], &args[i])) {
      fprintf(stderr, "cis run: argument %u (\"%s\") is not a valid %s\n", (unsigned)i + 1,
              c->args[i], cli_type_name(pt[i]));
      code = CLI_EXIT_USAGE;
      goto out;
    }
  }
  rc = cis_func_call(c->inst, ext.of.func, args, np, res, nr);
  if (rc == CIS_EEXIT) {
    code = cis_instance_exit_code(c->inst);
  } else if (rc != CIS_OK) {
    cli_error(name, rc, cis_errmsg(c->inst));
    code = CLI_EXIT_FAIL;
  } else {
    for (uint32_t i = 0; i < nr; i++) {
      char buf[64];
      cli_format_val(&res[i], buf, sizeof buf);
      printf("%s\n", buf);
    }
  }
out:
  free(args);
  free(res);
  return code;
}

int cli_cmd_run(int argc, char **argv) {
  run_ctx c;
  memset(&c, 0, sizeof c);
  const cli_opt run_opts[] = {
      {"--invoke", CLI_OPT_STR, &c.invoke, NULL, "NAME", "export to call (default: _start)"},
      {"--timeout", CLI_OPT_U64, &c.timeout_ms, &c.has_timeout, "MS",
       "wall-clock deadline of the call in ms; 0 = none"},
      {"--max-memory", CLI_OPT_U64, &c.max_memory, &c.has_max_memory, "BYTES",
       "cap on each linear memory"},
      {"--fuel", CLI_OPT_U64, &c.fuel, &c.has_fuel, "N",
       "instruction budget of the call; 0 = unlimited"},
  };
  const size_t nopts = sizeof run_opts / sizeof run_opts[0];
  int pos = 1;
  bool help;
  int code = cli_parse_opts("run", run_opts, nopts, argc, argv, &pos, &help);
  if (code == CLI_EXIT_OK && help) {
    usage(stdout, run_opts, nopts);
    return CLI_EXIT_OK;
  }
  if (code != CLI_EXIT_OK || pos >= argc) {
    if (code == CLI_EXIT_OK) fprintf(stderr, "cis run: no module file given\n");
    usage(stderr, run_opts, nopts);
    return code == CLI_EXIT_FAIL ? code : CLI_EXIT_USAGE;
  }
  if (c.invoke && !*c.invoke) {
    fprintf(stderr, "cis run: --invoke needs a name\n");
    return CLI_EXIT_USAGE;
  }
  c.path = argv[pos];
  c.args = argv + pos + 1;
  c.nargs = argc - pos - 1;
  if (!c.invoke && c.nargs) {
    fprintf(stderr, "cis run: arguments need --invoke NAME\n");
    usage(stderr, run_opts, nopts);
    return CLI_EXIT_USAGE;
  }

  cis_limits_default(&c.limits);
  if (c.has_timeout) c.limits.timeout_ms = c.timeout_ms;
  if (c.has_max_memory) c.limits.max_memory_bytes = c.max_memory;
  if (c.has_fuel) c.limits.fuel = c.fuel;

  code = run_setup(&c);
  if (code == CLI_EXIT_OK) code = run_call(&c);
  fflush(stdout);
  if (c.inst) cis_instance_free(c.inst);
  if (c.imports) cis_imports_free(c.imports);
  if (c.module) cis_module_free(c.module);
  if (c.engine) cis_engine_free(c.engine);
  return code;
}
