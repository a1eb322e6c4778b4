/*
 * This file implements `cis compile FILE.wasm...`: compile modules for the
 * compiled engine ("aot") into the cache ($CIS_HOME/cache), so that later
 * runs start from machine code. A module already in the cache is only
 * checked and loaded. Prints one line per module (whether it was cached,
 * and the time taken) and exits 0, or the first failure's exit code:
 * CIS_EUNSUPPORTED when no C compiler is installed (the message names the
 * package), CIS_EIO when the compiler fails, 3 for a bad module. On a
 * terminal, a compile that takes more than a second shows its state
 * (queued for a compile slot, generating, compiling unit k of N, linking)
 * and the time so far on stderr, from the cache's own record of the
 * compile (cis_cache_compiles). A compile waits up to 10 minutes for a
 * compile slot other processes hold.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cis/cis_aot.h"
#include "cli.h"

static void usage(FILE *f, const cli_opt *opts, size_t nopts) {
  fprintf(f, "usage: cis compile FILE.wasm...\n"
             "Compiles modules to machine code for --engine aot, into the cache\n"
             "($CIS_HOME/cache; `cis cache list` shows it). CIS_CC names the C compiler\n"
             "(default: cc on PATH).\n"
             "Options:\n");
  cli_print_opts(f, opts, nopts);
}

/* Counts the cache's entries. */
static bool count_one(const cis_cache_entry *e, void *user) {
  (void)e;
  ++*(size_t *)user;
  return true;
}

static size_t cache_count(void) {
  size_t n = 0;
  cis_cache_list(count_one, &n);
  return n;
}

/* The progress line of a compile on a terminal: a thread that shows on
 * stderr, once a second, the state this process's compile has in the
 * cache (cis_cache_compiles: queued, generating, compiling unit k of N,
 * linking N units) and the time so far. Also used by `cis skill install`
 * (cmd_skill.c), which compiles under engine aot. */
typedef struct cli_progress {
  pthread_mutex_t mu;
  pthread_cond_t cond;
  pthread_t thread;
  bool done;
  const char *label;       /* what is compiled (the file) */
  const char *otherwise;   /* shown while the cache has no compile of this process, or NULL */
  char state[16];
  uint32_t units_done, units;
} cli_progress;

static bool own_compile(const cis_cache_compile *c, void *user) {
  cli_progress *p = user;
  if (c->pid != (int64_t)getpid()) return true;
  snprintf(p->state, sizeof p->state, "%s", c->state);
  p->units_done = c->units_done;
  p->units = c->units;
  return false;
}

static double mono_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *progress_main(void *arg) {
  cli_progress *p = arg;
  double t0 = mono_s();
  bool shown = false;
  pthread_mutex_lock(&p->mu);
  while (!p->done) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 1;
    pthread_cond_timedwait(&p->cond, &p->mu, &until);
    if (p->done) break;
    snprintf(p->state, sizeof p->state, "%s", p->otherwise ? p->otherwise : "");
    p->units = 0;
    cis_cache_compiles(own_compile, p);
    if (!p->state[0]) continue;
    char units[48] = "";
    if (p->units && !strcmp(p->state, "compiling"))
      snprintf(units, sizeof units, " unit %u/%u", p->units_done + 1, p->units);
    else if (p->units && !strcmp(p->state, "linking"))
      snprintf(units, sizeof units, " %u units", p->units);
    fprintf(stderr, "\r%s: %s%s, %.1f s\033[K", p->label, p->state, units, mono_s() - t0);
    shown = true;
  }
  pthread_mutex_unlock(&p->mu);
  if (shown) fprintf(stderr, "\r\033[K");
  return NULL;
}

cli_progress *cli_progress_start(const char *label, const char *otherwise);
void cli_progress_stop(cli_progress *p);

/* Starts the progress line of label's compile when stderr is a terminal
 * (otherwise: the state shown while this process has no compile in the
 * cache, or NULL to show nothing then); NULL when there is none to stop. */
cli_progress *cli_progress_start(const char *label, const char *otherwise) {
  if (!isatty(2)) return NULL;
  cli_progress *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cond, NULL);
  p->label = label;
  p->otherwise = otherwise;
  if (pthread_create(&p->thread, NULL, progress_main, p) != 0) {
    free(p);
    return NULL;
  }
  return p;
}

/* Stops the line started by cli_progress_start, clearing it (p may be
 * NULL). */
void cli_progress_stop(cli_progress *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->done = true;
  pthread_cond_signal(&p->cond);
  pthread_mutex_unlock(&p->mu);
  pthread_join(p->thread, NULL);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cond);
  free(p);
}

int cli_cmd_compile(int argc, char **argv) {
  bool help;
  const cli_opt opts[] = {{"--help", CLI_OPT_FLAG, &help, NULL, NULL, "show this help"}};
  const size_t nopts = 1;
  int pos = 1;
  int code = cli_parse_opts("compile", opts, nopts, argc, argv, &pos, &help);
  if (code == CLI_EXIT_OK && help) {
    usage(stdout, opts, nopts);
    return CLI_EXIT_OK;
  }
  if (code != CLI_EXIT_OK || argc - pos < 1) {
    usage(stderr, opts, nopts);
    return CLI_EXIT_USAGE;
  }
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = "aot";
  cfg.limits.timeout_ms = 10u * 60u * 1000u; /* the longest wait for a compile slot */
  cis_engine *e = NULL;
  cis_result rc = cis_engine_new(&cfg, &e);
  if (rc != CIS_OK) {
    cli_error("engine", rc, NULL);
    return CLI_EXIT_FAIL;
  }
  int exit_code = CLI_EXIT_OK;
  for (; pos < argc && exit_code == CLI_EXIT_OK; pos++) {
    const char *path = argv[pos];
    size_t len;
    uint8_t *bytes = cli_read_file(path, &len);
    if (!bytes) {
      exit_code = CLI_EXIT_FAIL;
      break;
    }
    size_t before = cache_count();
    double t0 = mono_s();
    cis_module *m = NULL;
    cli_progress *p = cli_progress_start(path, "generating");
    rc = cis_module_new(e, bytes, len, &m);
    cli_progress_stop(p);
    double dt = mono_s() - t0;
    free(bytes);
    if (rc != CIS_OK) {
      cli_error(path, rc, cis_errmsg(e));
      exit_code = cli_exit_code(rc);
      break;
    }
    cis_module_free(m);
    printf("%s: %s in %.3f s (%zu bytes of wasm)\n", path,
           cache_count() > before ? "compiled" : "cached, loaded", dt, len);
  }
  cis_engine_free(e);
  return exit_code;
}
