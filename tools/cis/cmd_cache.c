/*
 * This file implements `cis cache list|clear|prune`: the compiled
 * engine's cache of machine code ($CIS_HOME/cache), through cis_aot.h.
 *
 *   cis cache list [--json]   one line per entry: key, module sha256, size,
 *                             age, and "corrupt" for an entry that fails its
 *                             checks (it would be compiled again, never run);
 *                             then one per compile running or queued (by
 *                             any process: its state, process, time so far,
 *                             and the unit of the C it compiles), per refusal
 *                             remembered, and per state file that cannot be
 *                             read (what is wrong with it)
 *   cis cache clear           removes every entry
 *   cis cache prune [--older-than DURATION]
 *                             removes corrupt entries, those of other cis
 *                             versions, leftovers of unfinished compiles, and
 *                             entries not written for DURATION
 */
#include <string.h>
#include <time.h>

#include "cis/cis_aot.h"
#include "cli.h"

static void usage(FILE *f) {
  fprintf(f, "usage: cis cache list [--json] | clear | prune [--older-than DURATION]\n"
             "The compiled engine's cache of machine code ($CIS_HOME/cache).\n"
             "  list    one line per entry: key, module sha256, bytes, age, state; then\n"
             "          the compiles running or queued (unit k/N of their C), those refused\n"
             "          by the bounds, and state files that cannot be read\n"
             "  clear   remove every entry\n"
             "  prune   remove corrupt entries, those of other cis versions, leftovers of\n"
             "          unfinished compiles, and (with --older-than) old entries\n");
}

typedef struct lister {
  cJSON *arr;   /* --json: the entries (then the compiles), else NULL */
  size_t n;     /* entries (then compiles) seen */
  time_t now;
} lister;

static bool list_compile(const cis_cache_compile *c, void *user) {
  lister *l = user;
  l->n++;
  long age = (long)(l->now - (time_t)c->since);
  if (l->arr) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "key", c->key);
    cJSON_AddStringToObject(o, "state", c->state);
    cJSON_AddNumberToObject(o, "pid", (double)c->pid);
    cJSON_AddNumberToObject(o, "since", (double)c->since);
    cJSON_AddStringToObject(o, "why", c->why);
    cJSON_AddNumberToObject(o, "units_done", (double)c->units_done);
    cJSON_AddNumberToObject(o, "units", (double)c->units);
    cJSON_AddItemToArray(l->arr, o);
  } else if (c->pid) {
    char units[48] = "";
    if (c->units && !strcmp(c->state, "compiling"))
      snprintf(units, sizeof units, ", unit %u/%u", c->units_done + 1, c->units);
    else if (c->units && !strcmp(c->state, "linking"))
      snprintf(units, sizeof units, ", %u units", c->units);
    printf("%.16s  %-10s  process %lld, for %ld s%s\n", c->key, c->state, (long long)c->pid, age,
           units);
  } else if (!strcmp(c->state, "refused")) {
    printf("%.16s  %-10s  %ld s ago, on the interpreter: %s\n", c->key, c->state, age, c->why);
  } else { /* a state file that cannot be read: what is wrong with it */
    printf("%.16s  %-10s  %s\n", c->key, c->state, c->why);
  }
  return true;
}

static bool list_one(const cis_cache_entry *e, void *user) {
  lister *l = user;
  l->n++;
  if (l->arr) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "key", e->key);
    cJSON_AddStringToObject(o, "module_sha256", e->module_sha256);
    cJSON_AddStringToObject(o, "cis_version", e->cis_version);
    cJSON_AddNumberToObject(o, "bytes", (double)e->bytes);
    cJSON_AddNumberToObject(o, "mtime", (double)e->mtime);
    cJSON_AddBoolToObject(o, "sound", e->sound);
    cJSON_AddItemToArray(l->arr, o);
    return true;
  }
  long age = (long)(l->now - (time_t)e->mtime);
  printf("%.16s  module %.16s  %10llu bytes  %6ld s old  %s%s\n", e->key,
         e->module_sha256[0] ? e->module_sha256 : "?", (unsigned long long)e->bytes, age,
         e->sound ? "ok" : "corrupt", e->sound ? "" : " (compiled again when used)");
  return true;
}

int cli_cmd_cache(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
  }
  const char *sub = argv[1];
  bool json = false, help = false, has_age = false;
  uint64_t age_ms = 0;
  const cli_opt opts[] = {
      {"--json", CLI_OPT_FLAG, &json, NULL, NULL, "list: one JSON document"},
      {"--older-than", CLI_OPT_MS, &age_ms, &has_age, "DURATION",
       "prune: also entries not written for this long (e.g. 720h)"},
  };
  int pos = 2;
  int code = cli_parse_opts("cache", opts, 2, argc, argv, &pos, &help);
  if (code != CLI_EXIT_OK || pos != argc || help) {
    usage(help ? stdout : stderr);
    return help ? CLI_EXIT_OK : CLI_EXIT_USAGE;
  }
  char dir[4096];
  cis_result rc = cis_cache_dir(dir, sizeof dir);
  if (rc != CIS_OK) {
    cli_error("cache", rc, "no CIS_HOME and no HOME");
    return cli_exit_code(rc);
  }
  uint64_t removed = 0;
  if (!strcmp(sub, "list")) {
    lister l = {json ? cJSON_CreateArray() : NULL, 0, time(NULL)};
    rc = cis_cache_list(list_one, &l);
    size_t entries = l.n;
    lister c = {json ? cJSON_CreateArray() : NULL, 0, l.now};
    if (rc == CIS_OK) rc = cis_cache_compiles(list_compile, &c);
    if (json) {
      cJSON *d = cli_json_doc(rc, rc == CIS_OK ? NULL : "cannot read the cache");
      cJSON_AddStringToObject(d, "dir", dir);
      cJSON_AddItemToObject(d, "entries", l.arr);
      cJSON_AddItemToObject(d, "compiles", c.arr);
      return cli_json_print(d) == CLI_EXIT_OK ? cli_exit_code(rc) : CLI_EXIT_FAIL;
    }
    if (rc == CIS_OK) printf("%zu entries in %s\n", entries, dir);
  } else if (!strcmp(sub, "clear")) {
    rc = cis_cache_clear(&removed);
    if (rc == CIS_OK) printf("removed %llu entries from %s\n", (unsigned long long)removed, dir);
  } else if (!strcmp(sub, "prune")) {
    rc = cis_cache_prune(has_age ? (age_ms + 999) / 1000 : 0, &removed);
    if (rc == CIS_OK) printf("removed %llu entries from %s\n", (unsigned long long)removed, dir);
  } else {
    usage(stderr);
    return CLI_EXIT_USAGE;
  }
  if (rc != CIS_OK) cli_error("cache", rc, dir);
  return cli_exit_code(rc);
}
