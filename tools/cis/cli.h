/*
 * This file declares what the `cis` subcommands share: the table-driven
 * option parser, value parsing and printing, error reporting and file
 * loading. The CLI uses only the public headers under include/cis/.
 *
 * Exit codes of every subcommand: CLI_EXIT_OK (0) success, CLI_EXIT_FAIL
 * (1) the module or the call failed (message on stderr), CLI_EXIT_USAGE
 * (2) bad flags or arguments (usage on stderr).
 */
#ifndef CIS_TOOLS_CLI_H
#define CIS_TOOLS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cis/cis.h"

enum { CLI_EXIT_OK = 0, CLI_EXIT_FAIL = 1, CLI_EXIT_USAGE = 2 };

/* ------------------------------------------------------------ options */

/* How an option takes its value. */
typedef enum cli_opt_kind {
  CLI_OPT_FLAG, /* no value; sets a bool */
  CLI_OPT_U64,  /* unsigned decimal or 0x hex, into a uint64_t */
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
/* Prints the option table as help lines. */
void cli_print_opts(FILE *f, const cli_opt *opts, size_t nopts);
void cli_strlist_free(cli_strlist *l);

/* ------------------------------------------------------------- values */

/* Parses an unsigned decimal or 0x-hex number that fills all of s (no sign,
 * no spaces). Returns false when s is not one or does not fit 64 bits. */
bool cli_parse_u64(const char *s, uint64_t *out);

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
/* Prints "cis: CONTEXT: CIS_NAME: text[: detail]" on stderr; when detail
 * already opens with the code's text, "cis: CONTEXT: CIS_NAME: detail".
 * A detail that opens with "CIS_NAME:" loses it: the name is said once. */
void cli_error(const char *context, cis_result rc, const char *detail);

/* ------------------------------------------------------------ commands */

/* Each subcommand gets argv[0] = its own name. Returns the exit code. */
int cli_cmd_validate(int argc, char **argv);
int cli_cmd_inspect(int argc, char **argv);
int cli_cmd_run(int argc, char **argv);

#endif
