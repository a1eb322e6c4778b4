/*
 * This file implements `cis run`: instantiate a module under the limits the
 * flags give, with WASI preview1 linked, and run it as a WASI command or
 * call one export with arguments from the command line.
 *
 *   cis run [--invoke NAME] [--timeout DURATION] [--max-memory SIZE] [--fuel N]
 *           [--engine interp|aot|auto]
 *           [--dir HOST[::GUEST][:ro]]... [--dir-ro HOST[::GUEST]]...
 *           [--env NAME[=VALUE]]... [--vfs mem|host|db:SPEC] [--tenant ID]
 *           [--vfs-commit call|sync]
 *           [--skill-host [--kv] [--ai] [--allow-host RULE]... [--config KEY=VALUE]...]
 *           FILE.wasm [ARGS...]
 *
 * Without --invoke the module's `_start` runs as a WASI command: ARGS are
 * its argv after argv[0] = FILE, stdio is the process's own, and the
 * guest's exit code (proc_exit, or 0 when _start returns) is the process's.
 * With --invoke, ARGS are read by the parameter types of the export
 * (cli_parse_val) and each result is printed on its own line
 * (cli_format_val); WASI is linked all the same, with argv = FILE.
 *
 * Directories: each --dir preopens a virtual filesystem mount at GUEST
 * (default: HOST as written, as wasmtime does). What the mount is made of
 * is --vfs: `host` (the default) confines the guest to the host directory
 * HOST; `mem` is an empty scratch filesystem per --dir, gone at exit;
 * `db:sqlite:PATH` / `db:postgres:CONNSTR` is the tenant's (--tenant)
 * layered database filesystem. `:ro` at the end, or --dir-ro, mounts it
 * read-only (writes fail with EROFS). --vfs-commit says when a db mount's
 * changes commit (docs/dbfs.md, "cis run"): `sync` (the default) as they
 * are made, so at the latest at fsync, at the close of a written file and
 * at exit; `call` makes the whole run one transaction (a call scope),
 * committed when the run ends with exit code 0 and dropped otherwise, or
 * when the process dies.
 *
 * --skill-host: the module runs as a skill without a manifest does
 * (cis_skills_invoke_wasm with cis_invoke_options.export_name), so it may
 * import the skill host API (cis, env, cis_v1; docs/abi.md) besides WASI,
 * under the same permissions model as `cis skill run --wasm`: it may log;
 * KV (--kv, the module's own namespace), AI (--ai) and HTTP (--allow-host,
 * nothing else reachable) only when granted; config_get reads --config.
 * The host is the configured one (cli_open_skills: KV store, AI provider,
 * log flags). A WASI module's stdout is printed before the results.
 *
 * Exit codes: the guest's when _start ran; otherwise 0 the call returned,
 * or cli_exit_code() of what failed (bad input, trap, timeout, limit ...;
 * the code's name, its text and the engine's message on stderr), 2 bad
 * flags or arguments. A limit flag given as 0 is as if not given.
 *
 * Extending: options are rows of run_opts[]; imports a module may link
 * against are added in run_link().
 */
#include <stdlib.h>
#include <string.h>

#include "cis/cis_skill.h"
#include "cis/cis_vfs.h"
#include "cis/cis_wasi.h"
#include "cli.h"
#include "cli_wat.h"

/* One --dir or --dir-ro, parsed. */
typedef struct run_dir {
  char *host;     /* HOST (malloc'd copy of the spec, cut at "::" and ":ro") */
  char *guest;    /* GUEST, pointing into host's allocation or host itself */
  bool read_only; /* ":ro" or --dir-ro */
} run_dir;

/* Everything one `cis run` works with. */
typedef struct run_ctx {
  const char *invoke;     /* --invoke: export to call; NULL = _start */
  uint64_t timeout_ms;    /* --timeout */
  uint64_t max_memory;    /* --max-memory */
  uint64_t fuel;          /* --fuel */
  const char *engine_name; /* --engine: interp, aot or auto (NULL: the default) */
  bool has_timeout;       /* --timeout was given */
  bool has_max_memory;    /* --max-memory was given */
  bool has_fuel;          /* --fuel was given */
  cli_strlist dir_specs;  /* --dir, in order */
  cli_strlist ro_specs;   /* --dir-ro, in order */
  cli_strlist env_specs;  /* --env NAME=VALUE or NAME */
  const char *vfs;        /* --vfs: "mem", "host" or "db:SPEC"; NULL = host */
  const char *vfs_commit; /* --vfs-commit: "call" or "sync"; NULL = sync */
  bool scoped;            /* --vfs-commit call: the db mounts' scopes are open */
  const char *tenant;     /* --tenant: the database filesystem's tenant */
  const char *path;       /* FILE.wasm */
  char **args;            /* ARGS, borrowed from argv */
  int nargs;              /* number of ARGS */
  run_dir *dirs;          /* the parsed --dir and --dir-ro, --dir first */
  size_t ndirs;           /* entries in dirs */
  char **env;             /* "NAME=VALUE" for the guest, malloc'd strings */
  size_t nenv;            /* entries in env */
  cis_wasi *wasi;         /* owned; freed before the mounts */
  cis_vfs **mounts;       /* owned, one per dir (NULL until made) */
  cis_limits limits;      /* engine defaults with the flags applied */
  cis_engine *engine;     /* owned */
  cis_module *module;     /* owned */
  cis_imports *imports;   /* owned; what the module may import */
  cis_instance *inst;     /* owned */
  /* --skill-host and what it grants: */
  bool skill_host;        /* --skill-host: link the skill host API */
  bool allow_kv;          /* --kv */
  bool allow_ai;          /* --ai */
  cli_strlist allow_hosts; /* --allow-host RULE */
  cli_strlist configs;    /* --config KEY=VALUE */
  cli_host_flags hf;      /* --log-level, --log-format, --quiet, --set */
} run_ctx;

static void usage(FILE *f, const cli_opt *opts, size_t nopts) {
  fprintf(f, "usage: cis run [OPTIONS] FILE.wasm [ARGS...]\n"
             "Instantiates FILE.wasm with WASI preview1 linked. Without --invoke, runs\n"
             "_start as a WASI command: ARGS are its arguments, stdio is this process's,\n"
             "and the exit code is the program's. With --invoke, calls that export with\n"
             "ARGS read by its parameter types: i32/i64 as decimal or 0x hex (negative\n"
             "allowed), f32/f64 as decimal floats, nan or inf, references only as null,\n"
             "and prints each result on its own line.\n"
             "Directories: --dir HOST[::GUEST][:ro] makes a mount visible to the program\n"
             "at GUEST (default HOST); --vfs says what it is: host (the directory HOST),\n"
             "mem (empty, in memory) or db:sqlite:PATH / db:postgres:CONNSTR (the\n"
             "--tenant's database filesystem).\n"
             "--skill-host links the skill host API too (docs/abi.md), under the\n"
             "permissions of `cis skill run --wasm`: logging only, unless --kv, --ai\n"
             "or --allow-host grant more.\n"
             "Options:\n");
  cli_print_opts(f, opts, nopts);
}

/* Parses one --dir spec HOST[::GUEST][:ro] into d. Returns false (having
 * said why) when a part is empty. */
static bool parse_dir(const char *spec, bool read_only, run_dir *d) {
  size_t len = strlen(spec);
  d->read_only = read_only;
  d->host = strdup(spec);
  if (!d->host) {
    fprintf(stderr, "cis run: out of memory\n");
    return false;
  }
  if (len >= 3 && !strcmp(d->host + len - 3, ":ro")) {
    d->host[len - 3] = '\0';
    d->read_only = true;
  }
  char *sep = strstr(d->host, "::");
  d->guest = d->host;
  if (sep) {
    *sep = '\0';
    d->guest = sep + 2;
  }
  if (!*d->host || !*d->guest) {
    fprintf(stderr, "cis run: --dir \"%s\": HOST and GUEST must not be empty\n", spec);
    return false;
  }
  return true;
}

/* Makes the guest's environment from --env: NAME=VALUE as given, a bare
 * NAME takes the value this process has (and is left out when unset). */
static int parse_env(run_ctx *c) {
  c->env = calloc(c->env_specs.n + 1, sizeof *c->env);
  if (!c->env) return CLI_EXIT_FAIL;
  for (size_t i = 0; i < c->env_specs.n; i++) {
    const char *e = c->env_specs.items[i];
    const char *eq = strchr(e, '=');
    if (e[0] == '\0' || e[0] == '=') {
      fprintf(stderr, "cis run: --env \"%s\": needs NAME=VALUE or NAME\n", e);
      return CLI_EXIT_USAGE;
    }
    char *s;
    if (eq) {
      s = strdup(e);
    } else {
      const char *v = getenv(e);
      if (!v) continue;
      s = malloc(strlen(e) + strlen(v) + 2);
      if (s) sprintf(s, "%s=%s", e, v);
    }
    if (!s) return CLI_EXIT_FAIL;
    c->env[c->nenv++] = s;
  }
  return CLI_EXIT_OK;
}

/* Checks --vfs, --tenant and the --dir specs. Returns an exit code. */
static int parse_fs(run_ctx *c) {
  const char *v = c->vfs ? c->vfs : "host";
  if (strcmp(v, "host") && strcmp(v, "mem") && strncmp(v, "db:", 3)) {
    fprintf(stderr, "cis run: --vfs must be mem, host or db:SPEC, not \"%s\"\n", v);
    return CLI_EXIT_USAGE;
  }
  bool db = !strncmp(v, "db:", 3);
  if (db && (!v[3] || !c->tenant || !*c->tenant)) {
    fprintf(stderr, "cis run: --vfs db:SPEC needs a SPEC (sqlite:PATH or postgres:CONNSTR) "
                    "and --tenant ID\n");
    return CLI_EXIT_USAGE;
  }
  if (c->vfs_commit && (!db || (strcmp(c->vfs_commit, "call") && strcmp(c->vfs_commit, "sync")))) {
    fprintf(stderr, "cis run: --vfs-commit is call or sync, with --vfs db:SPEC\n");
    return CLI_EXIT_USAGE;
  }
  if (c->tenant && !cis_tenant_name_valid(c->tenant)) {
    fprintf(stderr, "cis run: --tenant: 1 to %d of A-Z a-z 0-9 . _ - (not . or ..)\n", CIS_TENANT_NAME_MAX);
    return CLI_EXIT_USAGE;
  }
  if (!db && c->tenant && !c->skill_host) { /* with --skill-host it names whose KV and files */
    fprintf(stderr, "cis run: --tenant is for --vfs db:SPEC\n");
    return CLI_EXIT_USAGE;
  }
  size_t n = c->dir_specs.n + c->ro_specs.n;
  c->dirs = calloc(n ? n : 1, sizeof *c->dirs);
  c->mounts = calloc(n ? n : 1, sizeof *c->mounts);
  if (!c->dirs || !c->mounts) return CLI_EXIT_FAIL;
  for (size_t i = 0; i < n; i++) {
    bool ro = i >= c->dir_specs.n;
    const char *spec = ro ? c->ro_specs.items[i - c->dir_specs.n] : c->dir_specs.items[i];
    if (!parse_dir(spec, ro, &c->dirs[c->ndirs++])) return CLI_EXIT_USAGE;
  }
  return CLI_EXIT_OK;
}

/* Makes the backend of one --dir under --vfs. */
static cis_result make_backend(const run_ctx *c, const run_dir *d, cis_vfs_backend **b) {
  const char *v = c->vfs ? c->vfs : "host";
  if (!strcmp(v, "mem")) return cis_vfs_mem_new(b);
  if (!strcmp(v, "host")) return cis_vfs_host_new(d->host, b);
  cis_vfs_db_config cfg;
  cis_vfs_db_config_default(&cfg);
  cfg.spec = v + 3;
  cfg.tenant = c->tenant;
  /* Committing as changes are made, the mount lives for many of them:
   * on PostgreSQL a lease spares their checks (docs/dbfs.md). */
  cfg.lease = !c->vfs_commit || !strcmp(c->vfs_commit, "sync");
  return cis_vfs_db_new(&cfg, b);
}

/* Creates the cis_wasi (argv, env, inherited stdio, clocks and random)
 * and preopens every --dir. Returns an exit code, having printed any
 * failure. */
static int run_wasi(run_ctx *c) {
  cis_wasi_config wc;
  cis_wasi_config_default(&wc);
  wc.caps = CIS_WASI_CAP_ARGS | CIS_WASI_CAP_ENV | CIS_WASI_CAP_CLOCK | CIS_WASI_CAP_RANDOM;
  int nargv = c->invoke ? 1 : 1 + c->nargs;
  const char **argv = calloc((size_t)nargv, sizeof *argv);
  if (!argv) {
    cli_error("run", CIS_ENOMEM, NULL);
    return CLI_EXIT_FAIL;
  }
  argv[0] = c->path;
  for (int i = 1; i < nargv; i++) argv[i] = c->args[i - 1];
  wc.argc = (size_t)nargv;
  wc.argv = argv;
  wc.envc = c->nenv;
  wc.envp = (const char *const *)c->env;
  for (int i = 0; i < 3; i++) wc.stdio[i] = CIS_WASI_STDIO_INHERIT;
  cis_result rc = cis_wasi_new(&wc, &c->wasi);
  free(argv);
  if (rc != CIS_OK) {
    cli_error("wasi", rc, c->wasi ? cis_errmsg(c->wasi) : NULL);
    return CLI_EXIT_FAIL;
  }
  for (size_t i = 0; i < c->ndirs; i++) {
    const run_dir *d = &c->dirs[i];
    char ctx[600];
    snprintf(ctx, sizeof ctx, "--dir %.280s::%.280s", d->host, d->guest);
    cis_vfs_backend *b = NULL;
    make_backend(c, d, &b); /* a failure is the mount's: a failed backend passes it on */
    cis_vfs_options o = {.read_only = d->read_only};
    rc = cis_vfs_mount(b, &o, &c->mounts[i]);
    if (rc != CIS_OK) {
      cli_error(ctx, rc, c->mounts[i] ? cis_vfs_errmsg(c->mounts[i]) : cis_strerror(rc));
      cis_vfs_unmount(c->mounts[i]);
      c->mounts[i] = NULL;
      return cli_exit_code(rc);
    }
    /* --vfs-commit call: one transaction per mount from here to the end. */
    if (c->vfs_commit && !strcmp(c->vfs_commit, "call")) {
      rc = cis_vfs_scope_begin(c->mounts[i]);
      if (rc != CIS_OK) {
        cli_error(ctx, rc, cis_vfs_errmsg(c->mounts[i]));
        return cli_exit_code(rc);
      }
      c->scoped = true;
    }
    rc = cis_wasi_preopen(c->wasi, c->mounts[i], d->guest);
    if (rc != CIS_OK) {
      const char *msg = "";
      cis_wasi_last_vfs_error(c->wasi, &msg);
      cli_error(ctx, rc, msg);
      return cli_exit_code(rc);
    }
  }
  return CLI_EXIT_OK;
}

/* Adds the externals FILE may import: WASI preview1. Any other import
 * fails in cis_instance_new with the import's name. */
static cis_result run_link(run_ctx *c) {
  cis_result rc = cis_imports_new(c->engine, &c->imports);
  if (rc == CIS_OK) rc = cis_wasi_add_imports(c->wasi, c->imports);
  return rc;
}

/* Loads, links and instantiates c->path under c->limits. Returns an exit
 * code, having printed any failure. */
static int run_setup(run_ctx *c) {
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.limits = c->limits;
  cfg.engine = c->engine_name ? c->engine_name : cfg.engine;
  /* Fuel counts wasm instructions on the interpreter; the compiled engine
   * counts coarser units (docs/aot.md), so auto keeps budgets exact. */
  if (cfg.engine && !strcmp(cfg.engine, "auto") && c->limits.fuel) cfg.engine = "interp";
  cis_result rc = cis_engine_new(&cfg, &c->engine);
  if (rc != CIS_OK) {
    cli_error("engine", rc, NULL);
    return CLI_EXIT_FAIL;
  }
  /* From the file, not its bytes: the compiled engine knows a file it has
   * seen unchanged by its identity, and then does not read it. .wasm or
   * .wat; a component is explained by the library's decoder. */
  rc = cis_module_new_file(c->engine, c->path, 0, &c->module);
  if (rc != CIS_OK) {
    const char *why = cis_errmsg(c->engine); /* "PATH: what" when the file failed: PATH is the context */
    size_t n = strlen(c->path);
    cli_error(c->path, rc, !strncmp(why, c->path, n) && why[n] == ':' ? why + n + 2 : why);
    return cli_exit_code(rc);
  }
  int code = run_wasi(c);
  if (code != CLI_EXIT_OK) return code;
  rc = run_link(c);
  if (rc != CIS_OK) {
    cli_error("imports", rc, cis_errmsg(c->engine));
    return cli_exit_code(rc);
  }
  rc = cis_instance_new(c->module, c->imports, &c->limits, &c->inst);
  if (rc != CIS_OK) {
    cli_error(c->path, rc, cis_errmsg(c->engine));
    return cli_exit_code(rc);
  }
  return CLI_EXIT_OK;
}

/* Prints "(i32, f64)" for a parameter list into stderr. */
static void print_sig(uint32_t n, const cis_valtype *t) {
  fputc('(', stderr);
  for (uint32_t i = 0; i < n; i++) fprintf(stderr, "%s%s", i ? ", " : "", cli_type_name(t[i]));
  fputc(')', stderr);
}

/* Says that the module has no function export `name` and what it has
 * instead. Returns the exit code. */
static int no_export(const run_ctx *c, const char *name) {
  if (c->invoke)
    fprintf(stderr, "cis: %s: no exported function \"%s\"", c->path, name);
  else
    fprintf(stderr, "cis: %s: no entry point: exports no _start function; name one with --invoke "
                    "(docs/abi.md has the entries skills use)", c->path);
  /* What there is to call instead. */
  uint32_t n = cis_module_export_count(c->module), listed = 0;
  for (uint32_t i = 0; i < n; i++) {
    cis_extern_desc d;
    if (cis_module_export(c->module, i, &d) != CIS_OK || d.kind != CIS_EXTERN_FUNC) continue;
    fputs(listed++ ? ", " : "; its functions: ", stderr);
    cli_print_name(stderr, d.name, d.name_len);
  }
  fputs(listed ? "\n" : "; it exports no functions\n", stderr);
  return CLI_EXIT_FAIL;
}

/* Reads ARGS by the parameter types pt into a malloc'd array (*out), or
 * says what does not fit. Returns an exit code. */
static int parse_args(const run_ctx *c, const char *name, uint32_t np, const cis_valtype *pt, cis_val **out) {
  *out = NULL;
  if ((uint32_t)c->nargs != np) {
    fprintf(stderr, "cis run: %s takes %u argument%s ", name, (unsigned)np, np == 1 ? "" : "s");
    print_sig(np, pt);
    fprintf(stderr, ", %d given\n", c->nargs);
    return CLI_EXIT_USAGE;
  }
  cis_val *args = calloc(np ? np : 1, sizeof *args);
  if (!args) {
    cli_error("run", CIS_ENOMEM, NULL);
    return CLI_EXIT_FAIL;
  }
  for (uint32_t i = 0; i < np; i++) {
    if (!cli_parse_val(pt[i], c->args[i], &args[i])) {
      fprintf(stderr, "cis run: argument %u (\"%s\") is not a valid %s\n", (unsigned)i + 1, c->args[i],
              cli_type_name(pt[i]));
      free(args);
      return CLI_EXIT_USAGE;
    }
  }
  *out = args;
  return CLI_EXIT_OK;
}

/* Prints each result on its own line. */
static void print_results(const cis_val *res, size_t nr) {
  for (size_t i = 0; i < nr; i++) {
    char buf[64];
    cli_format_val(&res[i], buf, sizeof buf);
    printf("%s\n", buf);
  }
}

/* --skill-host: finds the export by the module's own types (decoded
 * here: the invocation validates), reads ARGS, and calls it through the
 * skill host with the grants of the flags. Returns an exit code. */
static int run_skill_host(run_ctx *c) {
  const char *name = c->invoke ? c->invoke : "_start";
  cis_skills *s = NULL;
  cis_val *args = NULL;
  cis_invoke_mount *mounts = NULL;
  int code = CLI_EXIT_OK;
  size_t len;
  uint8_t *bytes = cli_read_file(c->path, &len);
  if (!bytes) return CLI_EXIT_FAIL;
  char why[512];
  cis_result rc = cli_check_component(bytes, len, why, sizeof why);
  if (rc != CIS_OK) {
    cli_error(c->path, rc, why);
    code = cli_exit_code(rc);
    goto out;
  }
  if (cli_is_wat(bytes, len)) {
    fprintf(stderr, "cis run: --skill-host runs binary modules; build %s with wat2wasm first\n", c->path);
    code = CLI_EXIT_USAGE;
    goto out;
  }
  cis_engine_config ec;
  cis_engine_config_default(&ec);
  if ((rc = cis_engine_new(&ec, &c->engine)) != CIS_OK ||
      (rc = cis_module_decode_only(c->engine, bytes, len, &c->module)) != CIS_OK) {
    cli_error(c->path, rc, c->engine ? cis_errmsg(c->engine) : NULL);
    code = cli_exit_code(rc);
    goto out;
  }
  cis_extern_desc d;
  uint32_t n = cis_module_export_count(c->module), i;
  for (i = 0; i < n; i++)
    if (cis_module_export(c->module, i, &d) == CIS_OK && d.kind == CIS_EXTERN_FUNC && d.name_len == strlen(name) &&
        !memcmp(d.name, name, d.name_len))
      break;
  if (i == n) {
    code = no_export(c, name);
    goto out;
  }
  if ((code = parse_args(c, name, d.nparams, d.params, &args)) != CLI_EXIT_OK) goto out;
  if (c->ndirs && !(mounts = calloc(c->ndirs, sizeof *mounts))) {
    cli_error("run", CIS_ENOMEM, NULL);
    code = CLI_EXIT_FAIL;
    goto out;
  }
  for (size_t k = 0; k < c->ndirs; k++)
    mounts[k] = (cis_invoke_mount){c->dirs[k].host, c->dirs[k].guest, c->dirs[k].read_only};
  char err[600] = "";
  if ((rc = cli_open_skills(&c->hf, &s, err, sizeof err)) != CIS_OK) {
    cli_error("run", rc, err);
    code = cli_exit_code(rc);
    goto out;
  }
  cis_invoke_options o;
  memset(&o, 0, sizeof o);
  o.export_name = name;
  o.args = args;
  o.nargs = d.nparams;
  o.tenant = c->tenant;
  /* 0: the host's defaults for skills (limits.* of the configuration). */
  o.timeout_ms = c->has_timeout ? c->timeout_ms : 0;
  o.max_memory = c->has_max_memory ? c->max_memory : 0;
  o.allow_kv = c->allow_kv;
  o.allow_ai = c->allow_ai;
  o.allow_hosts = c->allow_hosts.items;
  o.nallow_hosts = c->allow_hosts.n;
  o.config = c->configs.items;
  o.nconfig = c->configs.n;
  o.env = (const char *const *)c->env;
  o.nenv = c->nenv;
  o.mounts = mounts;
  o.nmounts = c->ndirs;
  cis_invoke_result res;
  rc = cis_skills_invoke_wasm(s, bytes, len, "{}", 2, &o, &res);
  if (res.output_len) fwrite(res.output, 1, res.output_len, stdout); /* a WASI module's stdout */
  if (rc == CIS_OK) {
    print_results(res.results, res.nresults);
  } else if (rc == CIS_EEXIT) {
    code = res.exit_code;
  } else {
    cli_error(name, rc, res.error);
    code = cli_exit_code(rc);
  }
  cis_invoke_result_free(&res);
out:
  if (s) cis_skills_close(s);
  free(mounts);
  free(args);
  free(bytes);
  return code;
}

/* Calls the export with the parsed ARGS and prints its results. Returns an
 * exit code. */
static int run_call(run_ctx *c) {
  const char *name = c->invoke ? c->invoke : "_start";
  cis_extern ext;
  cis_result rc = cis_instance_export(c->inst, name, strlen(name), &ext);
  if (rc != CIS_OK || ext.kind != CIS_EXTERN_FUNC) return no_export(c, name);
  if (!c->invoke) {
    /* A WASI command: its exit code is ours; a trap or limit has its own. */
    int exit_code = 0;
    fflush(stdout);
    rc = cis_wasi_run(c->wasi, c->inst, &exit_code);
    if (rc != CIS_OK) {
      cli_error(name, rc, cis_errmsg(c->inst));
      return cli_exit_code(rc);
    }
    return exit_code;
  }
  uint32_t np, nr;
  const cis_valtype *pt, *rt;
  cis_func_type(ext.of.func, &np, &pt, &nr, &rt);
  cis_val *args = NULL;
  int code = parse_args(c, name, np, pt, &args);
  if (code != CLI_EXIT_OK) return code;
  cis_val *res = calloc(nr ? nr : 1, sizeof *res);
  if (!res) {
    cli_error("run", CIS_ENOMEM, NULL);
    code = CLI_EXIT_FAIL;
    goto out;
  }
  rc = cis_func_call(c->inst, ext.of.func, args, np, res, nr);
  if (rc == CIS_EEXIT) {
    code = cis_instance_exit_code(c->inst);
  } else if (rc != CIS_OK) {
    cli_error(name, rc, cis_errmsg(c->inst));
    code = cli_exit_code(rc);
  } else {
    print_results(res, nr);
  }
out:
  free(args);
  free(res);
  return code;
}

/* Appends the rows of --skill-host and its grants to opts (room for
 * 5 + CLI_HOST_NOPTS); returns how many. The host's --require-signature
 * is left out: a module run here has no manifest to sign. */
static size_t skill_host_opts(run_ctx *c, cli_opt *opts) {
  const cli_opt rows[] = {
      {"--skill-host", CLI_OPT_FLAG, &c->skill_host, NULL, NULL,
       "link the skill host API (cis, env, cis_v1) as for a skill without a manifest"},
      {"--kv", CLI_OPT_FLAG, &c->allow_kv, NULL, NULL, "with --skill-host: grant KV (the module's namespace)"},
      {"--ai", CLI_OPT_FLAG, &c->allow_ai, NULL, NULL, "with --skill-host: grant AI"},
      {"--allow-host", CLI_OPT_LIST, &c->allow_hosts, NULL, "RULE", "with --skill-host: an HTTP allow rule"},
      {"--config", CLI_OPT_LIST, &c->configs, NULL, "KEY=VALUE", "with --skill-host: a setting for config_get"},
  };
  size_t n = sizeof rows / sizeof rows[0];
  memcpy(opts, rows, sizeof rows);
  cli_opt host[CLI_HOST_NOPTS];
  size_t nh = cli_host_opts(&c->hf, host);
  for (size_t i = 0; i < nh; i++)
    if (strcmp(host[i].name, "--require-signature") && strcmp(host[i].name, "--engine")) opts[n++] = host[i];
  return n;
}

/* Flags that mean something only with --skill-host, and those that mean
 * nothing with it. Returns an exit code. */
static int check_skill_host(const run_ctx *c) {
  bool grants = c->allow_kv || c->allow_ai || c->allow_hosts.n || c->configs.n || c->hf.log_level ||
                c->hf.log_format || c->hf.quiet || c->hf.sets.n;
  if (!c->skill_host && grants) {
    fprintf(stderr, "cis run: --kv, --ai, --allow-host, --config and the log flags need --skill-host\n");
    return CLI_EXIT_USAGE;
  }
  if (c->skill_host && (c->has_fuel || c->engine_name || c->vfs)) {
    fprintf(stderr, "cis run: --fuel, --engine and --vfs are not for --skill-host (its host's settings are; "
                    "--dir mounts host folders, --tenant names whose KV and files)\n");
    return CLI_EXIT_USAGE;
  }
  return CLI_EXIT_OK;
}

/* --vfs-commit call: commits each db mount's scope when the run ended with
 * code 0; otherwise the unmount drops it. Returns the exit code. */
static int end_scopes(run_ctx *c, int code) {
  for (size_t i = 0; c->scoped && code == CLI_EXIT_OK && i < c->ndirs; i++) {
    cis_result rc = cis_vfs_scope_end(c->mounts[i], true);
    if (rc != CIS_OK) {
      cli_error("--vfs-commit call", rc, cis_vfs_errmsg(c->mounts[i]));
      code = cli_exit_code(rc);
    }
  }
  return code;
}

int cli_cmd_run(int argc, char **argv) {
  run_ctx c;
  memset(&c, 0, sizeof c);
  cli_opt run_opts[32] = {
      {"--invoke", CLI_OPT_STR, &c.invoke, NULL, "NAME", "export to call (default: _start)"},
      {"--dir", CLI_OPT_LIST, &c.dir_specs, NULL, "HOST[::GUEST][:ro]",
       "preopen a directory at GUEST (default HOST); :ro = read-only"},
      {"--dir-ro", CLI_OPT_LIST, &c.ro_specs, NULL, "HOST[::GUEST]",
       "preopen a directory read-only"},
      {"--env", CLI_OPT_LIST, &c.env_specs, NULL, "NAME[=VALUE]",
       "set a variable for the program (NAME alone: this process's value)"},
      {"--vfs", CLI_OPT_STR, &c.vfs, NULL, "KIND",
       "what --dir mounts are: host (default), mem, db:sqlite:PATH, db:postgres:CONNSTR"},
      {"--tenant", CLI_OPT_STR, &c.tenant, NULL, "ID", "tenant of the --vfs db filesystem"},
      {"--vfs-commit", CLI_OPT_STR, &c.vfs_commit, NULL, "MODE",
       "with --vfs db: sync (default: changes commit as made) or call (the run is one "
       "transaction, kept only when it exits 0)"},
      {"--timeout", CLI_OPT_MS, &c.timeout_ms, &c.has_timeout, "DURATION",
       "deadline of the call (500ms, 1.5s, 2m; plain = ms); 0 = the default, 30s"},
      {"--max-memory", CLI_OPT_SIZE, &c.max_memory, &c.has_max_memory, "SIZE",
       "the instance's memory cap (65536, 64KiB, 128MiB, 1GiB); 0 = the default"},
      {"--fuel", CLI_OPT_U64, &c.fuel, &c.has_fuel, "N",
       "instruction budget of the call; 0 = unlimited"},
      {"--engine", CLI_OPT_STR, &c.engine_name, NULL, "NAME",
       "interp, aot (compiled, cached in $CIS_HOME/cache) or auto; --fuel makes auto interp"},
  };
  size_t nopts = 0;
  while (run_opts[nopts].name) nopts++;
  nopts += skill_host_opts(&c, run_opts + nopts);
  int pos = 1;
  bool help;
  int code = cli_parse_opts("run", run_opts, nopts, argc, argv, &pos, &help);
  if (code == CLI_EXIT_OK && help) {
    usage(stdout, run_opts, nopts);
    goto done;
  }
  if (code != CLI_EXIT_OK || pos >= argc) {
    if (code == CLI_EXIT_OK) fprintf(stderr, "cis run: no module file given\n");
    usage(stderr, run_opts, nopts);
    code = code == CLI_EXIT_FAIL ? code : CLI_EXIT_USAGE;
    goto done;
  }
  if (c.invoke && !*c.invoke) {
    fprintf(stderr, "cis run: --invoke needs a name\n");
    code = CLI_EXIT_USAGE;
    goto done;
  }
  c.path = argv[pos];
  c.args = argv + pos + 1;
  c.nargs = argc - pos - 1;
  if ((code = check_skill_host(&c)) != CLI_EXIT_OK) goto done;
  if ((code = cli_host_flags_check("run", &c.hf)) != CLI_EXIT_OK) goto done;
  if ((code = parse_fs(&c)) != CLI_EXIT_OK || (code = parse_env(&c)) != CLI_EXIT_OK) {
    if (code == CLI_EXIT_FAIL) cli_error("run", CIS_ENOMEM, NULL);
    goto done;
  }

  cis_limits_default(&c.limits);
  /* 0 leaves the default, as it leaves the skill's limit in `cis skill run`. */
  if (c.has_timeout && c.timeout_ms) c.limits.timeout_ms = c.timeout_ms;
  if (c.has_max_memory && c.max_memory) c.limits.max_memory_bytes = c.max_memory;
  if (c.has_fuel) c.limits.fuel = c.fuel;

  if (c.skill_host) {
    code = run_skill_host(&c);
  } else {
    code = run_setup(&c);
    if (code == CLI_EXIT_OK) code = run_call(&c);
  }
  fflush(stdout);
done:
  if (c.inst) cis_instance_free(c.inst);
  if (c.imports) cis_imports_free(c.imports);
  cis_wasi_free(c.wasi); /* closes the guest's files before the mounts go */
  code = end_scopes(&c, code);
  for (size_t i = 0; i < c.ndirs; i++) {
    cis_vfs_unmount(c.mounts[i]);
    free(c.dirs[i].host);
  }
  for (size_t i = 0; i < c.nenv; i++) free(c.env[i]);
  free(c.env);
  free(c.dirs);
  free(c.mounts);
  cli_strlist_free(&c.dir_specs);
  cli_strlist_free(&c.ro_specs);
  cli_strlist_free(&c.env_specs);
  cli_strlist_free(&c.allow_hosts);
  cli_strlist_free(&c.configs);
  cli_strlist_free(&c.hf.sets);
  if (c.module) cis_module_free(c.module);
  if (c.engine) cis_engine_free(c.engine);
  return code;
}
