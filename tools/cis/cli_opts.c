/*
 * This file implements the `cis` option parser: each subcommand lists its
 * options in a table (cli.h), and one loop here reads them. Options come
 * before the positional arguments, as in wasmtime, so that everything
 * after the module file reaches the program untouched.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static bool strlist_push(cli_strlist *l, const char *s) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 4;
    const char **n = realloc(l->items, cap * sizeof *n);
    if (!n) return false;
    l->items = n;
    l->cap = cap;
  }
  l->items[l->n++] = s;
  return true;
}

void cli_strlist_free(cli_strlist *l) {
  free(l->items);
  l->items = NULL;
  l->n = l->cap = 0;
}

int cli_parse_opts(const char *cmd, const cli_opt *opts, size_t nopts, int argc, char **argv,
                   int *pos, bool *help) {
  int i = *pos;
  *help = false;
  while (i < argc) {
    const char *a = argv[i];
    if (!strcmp(a, "--")) {
      i++;
      break;
    }
    if (a[0] != '-' || a[1] == '\0') break; /* FILE, or "-" */
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      *help = true;
      i++;
      continue;
    }
    const char *eq = strchr(a, '=');
    size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
    const cli_opt *o = NULL;
    for (size_t k = 0; k < nopts; k++)
      if (strlen(opts[k].name) == nlen && !strncmp(opts[k].name, a, nlen)) o = &opts[k];
    if (!o) {
      fprintf(stderr, "cis %s: unknown option %.*s\n", cmd, (int)nlen, a);
      return CLI_EXIT_USAGE;
    }
    i++;
    const char *val = NULL;
    if (o->kind == CLI_OPT_FLAG) {
      if (eq) {
        fprintf(stderr, "cis %s: %s takes no value\n", cmd, o->name);
        return CLI_EXIT_USAGE;
      }
      *(bool *)o->dest = true;
    } else {
      if (eq) {
        val = eq + 1;
      } else if (i < argc) {
        val = argv[i++];
      } else {
        fprintf(stderr, "cis %s: %s needs a value (%s)\n", cmd, o->name, o->metavar);
        return CLI_EXIT_USAGE;
      }
      switch (o->kind) {
      case CLI_OPT_U64:
        if (!cis_parse_u64(val, (uint64_t *)o->dest)) {
          fprintf(stderr, "cis %s: %s needs an unsigned integer (decimal or 0x hex), not \"%s\"\n",
                  cmd, o->name, val);
          return CLI_EXIT_USAGE;
        }
        break;
      case CLI_OPT_SIZE:
        if (!cis_parse_size(val, (uint64_t *)o->dest)) {
          fprintf(stderr,
                  "cis %s: %s needs a size in bytes such as 65536, 64KiB, 128MiB or 1GiB, "
                  "not \"%s\"\n",
                  cmd, o->name, val);
          return CLI_EXIT_USAGE;
        }
        break;
      case CLI_OPT_MS:
        if (!cis_parse_duration_ms(val, (uint64_t *)o->dest)) {
          fprintf(stderr,
                  "cis %s: %s needs a duration such as 500ms, 1.5s or 2m (a plain number is "
                  "milliseconds), not \"%s\"\n",
                  cmd, o->name, val);
          return CLI_EXIT_USAGE;
        }
        break;
      case CLI_OPT_STR:
        *(const char **)o->dest = val;
        break;
      case CLI_OPT_LIST:
        if (!strlist_push((cli_strlist *)o->dest, val)) {
          fprintf(stderr, "cis %s: out of memory\n", cmd);
          return CLI_EXIT_FAIL;
        }
        break;
      case CLI_OPT_FLAG:
        break;
      }
    }
    if (o->seen) *o->seen = true;
  }
  *pos = i;
  return CLI_EXIT_OK;
}

int cli_parse_mixed(const char *cmd, const cli_opt *opts, size_t nopts, int argc, char **argv,
                    const char **pos, int maxpos, int *npos, bool *help) {
  int i = 1;
  bool any_help = false;
  *npos = 0;
  *help = false;
  for (int guard = 0; guard <= argc; guard++) { /* each round takes one argument at least */
    bool h;
    int start = i;
    int code = cli_parse_opts(cmd, opts, nopts, argc, argv, &i, &h);
    if (code != CLI_EXIT_OK) return code;
    any_help |= h;
    bool ended = i > start && !strcmp(argv[i - 1], "--");
    while (i < argc && (ended || argv[i][0] != '-' || argv[i][1] == '\0')) {
      if (*npos == maxpos) {
        fprintf(stderr, "cis %s: unexpected argument \"%s\"\n", cmd, argv[i]);
        return CLI_EXIT_USAGE;
      }
      pos[(*npos)++] = argv[i++];
      if (!ended) break;
    }
    if (i >= argc) break;
  }
  *help = any_help;
  return CLI_EXIT_OK;
}

void cli_print_opts(FILE *f, const cli_opt *opts, size_t nopts) {
  for (size_t k = 0; k < nopts; k++) {
    char left[64];
    if (opts[k].metavar)
      snprintf(left, sizeof left, "%s %s", opts[k].name, opts[k].metavar);
    else
      snprintf(left, sizeof left, "%s", opts[k].name);
    fprintf(f, "  %-22s %s\n", left, opts[k].help);
  }
  fprintf(f, "  %-22s %s\n", "-h, --help", "show this help");
}
