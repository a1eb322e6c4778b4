/*
 * This file declares what the `cis` subcommands share: the table-driven
 * option parser, value parsing and printing, error reporting and file
 * loading. The CLI uses only the public headers under include/cis/.
 *
 * Exit codes of every subcommand (docs/cli.md, "Exit codes"): the enum
 * below, chosen from a cis_result by cli_exit_code() alone. `cis run` of a
 * WASI command exits with the program's own status instead.
 */
#ifndef CIS_TOOLS_CLI_H
#define CIS_TOOLS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "cis/cis.h"

enum {
  CLI_EXIT_OK = 0,        /* success */
  CLI_EXIT_FAIL = 1,      /* any other failure: I/O, registry, backend, network */
  CLI_EXIT_USAGE = 2,     /* bad flags or arguments */
  CLI_EXIT_BAD_INPUT = 3, /* malformed/invalid module, bad manifest or JSON, link error */
  CLI_EXIT_SKILL = 4,     /* the skill reported failure (CIS_ESKILL, CIS_EEXIT) */
  CLI_EXIT_TRAP = 5,      /* the guest trapped */
  CLI_EXIT_TIMEOUT = 6,   /* deadline passed or call cancelled */
  CLI_EXIT_LIMIT = 7,     /* memory, fuel, stack, quota or size limit */
  CLI_EXIT_DENIED = 8,    /* permission denied */
};

/* The exit code for a failed call's cis_result (CLI_EXIT_OK for CIS_OK):
 * the one place the error classes of include/cis/errors.def meet the
 * exit codes. */
int cli_exit_code(cis_result rc);

/* ------------------------------------------------------------ options */

/* How an option takes its value. */
typedef enum cli_opt_kind {
  CLI_OPT_FLAG, /* no value; sets a bool */
  CLI_OPT_U64,  /* unsigned decimal or 0x hex, into a uint64_t */
  CLI_OPT_SIZE, /* a size in bytes (cis_parse_size), into a uint64_t */
  CLI_OPT_MS,   /* a duration in ms (cis_parse_duration_ms), into a uint64_t */
  CLI_OPT_STR,  /* a string, into a const char * (the last one wins) */
  CLI_OPT_LIST, /* a repeatable string, appended to a cli_strlist */
} cli_opt_kind;

/* Values of a repeatable option, in command-line order. */
typedef struct cli_strlist {
  const char **items; /* malloc'd array of borrowed argv strings */
  size_t n, cap;      /* used / allocated entries */
} cli_strlist;

/* One option of a subcommand. Subcommands declare a table of these, so
 * adding an option is adding a row. */
typedef struct cli_opt {
  const char *name;    /* long form with dashes, e.g. "--timeout" */
  cli_opt_kind kind;   /* how the value is taken */
  void *dest;          /* bool *, uint64_t *, const char ** or cli_strlist * */
  bool *seen;          /* set when the option was given; may be NULL */
  const char *metavar; /* value name in the help, e.g. "MS"; NULL for flags */
  const char *help;    /* one line of help */
} cli_opt;

/* Parses the options of `cmd` from argv[*pos] on, as `--name VALUE` or
 * `--name=VALUE`, and stops at the first argument that is not an option
 * (so arguments after FILE, such as "-5", belong to the program) or just
 * after "--". On return *pos indexes the first positional argument.
 * `--help`/`-h` sets *help. Returns CLI_EXIT_OK, or CLI_EXIT_USAGE after
 * printing what was wrong to stderr. */
int cli_parse_opts(const char *cmd, const cli_opt *opts, size_t nopts, int argc, char **argv,
                   int *pos, bool *help);
/* Like cli_parse_opts, but options may come before, between and after the
 * positional arguments (for `cis skill ...`, whose arguments are names, not
 * a program's argv); "--" still ends the options. The positional arguments
 * go to pos[] (at most maxpos; more is a usage error) and their count to
 * *npos. */
int cli_parse_mixed(const char *cmd, const cli_opt *opts, size_t nopts, int argc, char **argv,
                    const char **pos, int maxpos, int *npos, bool *help);
/* Prints the option table as help lines. */
void cli_print_opts(FILE *f, const cli_opt *opts, size_t nopts);
void cli_strlist_free(cli_strlist *l);

/* ------------------------------------------------------------- values */

/* Numbers, sizes and durations: cis_parse_u64, cis_parse_size and
 * cis_parse_duration_ms (include/cis/cis.h), as manifests read them. */

/* Parses text as a value of type t into *out: i32/i64 as decimal or 0x hex,
 * optionally negative (the unsigned spelling of the bit pattern is also
 * accepted); f32/f64 as decimal or hex floats, `nan`, `inf`, `-inf`;
 * funcref/externref only as `null`. Returns false when text does not fit. */
bool cli_parse_val(cis_valtype t, const char *text, cis_val *out);
/* Writes v as the CLI prints results: integers signed decimal, floats with
 * the fewest digits that read back to the same bits, refs `null`/`ref`. */
void cli_format_val(const cis_val *v, char *buf, size_t len);
const char *cli_type_name(cis_valtype t);
/* Prints a length-counted name with bytes outside printable ASCII escaped
 * as \xx, so names with NUL or control bytes stay readable and unambiguous. */
void cli_print_name(FILE *f, const char *s, size_t len);

/* ------------------------------------------------------------- modules */

/* Reads a whole file (at most 1 GiB). Returns a malloc'd buffer or NULL
 * after printing the reason. */
uint8_t *cli_read_file(const char *path, size_t *len);
/* An engine for commands that only look at a module (validate, inspect):
 * the interpreter, whatever the default engine, since auto (or aot) would
 * compile, or queue a compile of, a module nothing runs. */
cis_result cli_engine_for_reading(cis_engine **e);
/* CIS_EVERSION, with msg saying what it is and how to build a module cis
 * runs, when bytes are a WebAssembly component; CIS_OK otherwise. */
cis_result cli_check_component(const uint8_t *bytes, size_t len, char *msg, size_t cap);
/* Prints "cis: CONTEXT: CIS_NAME: text[: detail]" on stderr; when detail
 * already opens with the code's text, "cis: CONTEXT: CIS_NAME: detail".
 * A detail that opens with "CIS_NAME:" loses it: the name is said once. */
void cli_error(const char *context, cis_result rc, const char *detail);

/* --------------------------------------------------------------- JSON */

/* msg without a leading "CIS_NAME:" (the name is said elsewhere), or the
 * code's text when msg is NULL or empty. */
const char *cli_error_detail(cis_result rc, const char *msg);
/* A new `--json` document: status, exit_code and error (null, or name,
 * code and message) for rc; the command adds its own members. NULL when
 * out of memory (the cJSON adders take NULL). */
cJSON *cli_json_doc(cis_result rc, const char *msg);
/* Prints doc on stdout and frees it. Returns CLI_EXIT_OK, or CLI_EXIT_FAIL
 * (said on stderr) when doc is NULL or cannot be printed. */
int cli_json_print(cJSON *doc);
/* Prints the document of a failure with nothing more and returns its exit
 * code. */
int cli_json_fail(cis_result rc, const char *msg);

/* ------------------------------------------------------ configuration */

/* The flags of every command that opens the skill host (cli_config.c):
 * they come last in the order file < environment < flags. */
typedef struct cli_host_flags {
  const char *log_level;  /* --log-level: debug, info, warn, error */
  const char *log_format; /* --log-format: text, json */
  bool quiet;             /* --quiet: no skill log lines on stderr */
  cli_strlist sets;       /* --set NAME=VALUE, any setting */
  bool require_signature; /* --require-signature: skills.require_signature=true */
  const char *engine;     /* --engine: interp, aot or auto (the setting engine) */
  const char *tenant;     /* whose registry the handle opens (a command's own
                             --tenant; NULL = the default tenant) */
} cli_host_flags;
#define CLI_HOST_NOPTS 6
/* Writes the CLI_HOST_NOPTS option rows of f into opts; returns their count. */
size_t cli_host_opts(cli_host_flags *f, cli_opt *opts);
/* Checks the values of f's flags (--log-level, --log-format, --engine,
 * --set NAME=VALUE) as the configuration will read them: a bad one is a
 * usage error, said on stderr as "cis CMD: ...", CLI_EXIT_USAGE; else
 * CLI_EXIT_OK. Bad values from the file or the environment stay
 * CIS_EINVAL when the configuration is loaded (exit 3). */
int cli_host_flags_check(const char *cmd, const cli_host_flags *f);
struct cis_skills;
/* Opens the skill host with the effective configuration ($CIS_HOME's
 * config.json or $CIS_CONFIG, then the environment, then f; f may be
 * NULL). A bad setting is CIS_EINVAL (CIS_EJSON: a file that is not JSON)
 * with err naming it and its source. */
cis_result cli_open_skills(const cli_host_flags *f, struct cis_skills **s, char *err, size_t errcap);

/* The effective configuration, for a command that needs more than the
 * skill host (cis serve): load it, read settings by name, free it. */
typedef struct cli_config cli_config;
/* A setting given by a command's own flag (e.g. cis serve --workers for
 * serve.workers): over the file, the environment and --set. value NULL =
 * the flag was not given. */
typedef struct cli_flag_set {
  const char *setting; /* "serve.workers" */
  const char *value;   /* as typed, checked like the setting's other sources */
  const char *flag;    /* "--workers", for messages and `config show` */
} cli_flag_set;
/* Loads defaults < file < environment < f < extra. Errors as
 * cli_open_skills. */
cis_result cli_config_load(const cli_host_flags *f, const cli_flag_set *extra, size_t nextra, cli_config **out,
                           char *err, size_t errcap);
/* The effective value of a setting ("serve.workers"), or NULL (none, or
 * no such setting). Owned by c. */
const char *cli_config_value(const cli_config *c, const char *setting);
struct cis_skills_config;
/* The skill host's configuration from c, as cli_open_skills opens it (its
 * strings are c's: keep c until sc is no longer used). */
void cli_config_skills(const cli_config *c, const cli_host_flags *f, struct cis_skills_config *sc);
void cli_config_free(cli_config *c);

/* ------------------------------------------------------------ commands */

/* Each subcommand gets argv[0] = its own name. Returns the exit code. */
int cli_cmd_validate(int argc, char **argv);
int cli_cmd_inspect(int argc, char **argv);
int cli_cmd_run(int argc, char **argv);
int cli_cmd_config(int argc, char **argv); /* `cis config show` (cli_config.c) */

#endif
