/*
 * This file implements the CLI tests' shared runner (cli_run.h).
 */
#include "cli_run.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

extern char **environ;

static const char *run_bin;     /* the program under test */
static const char *run_scratch; /* where its stdout and stderr files go */
static const char *run_stdin;   /* what it reads on stdin; NULL: /dev/null */
static double run_started;      /* now() at the last spawn */

void cli_run_setup(const char *bin, const char *scratch) {
  run_bin = bin;
  run_scratch = scratch;
}

void cli_run_stdin(const char *path) { run_stdin = path; }

double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void slurp(const char *path, char *buf, size_t len) {
  FILE *f = fopen(path, "rb");
  size_t n = f ? fread(buf, 1, len - 1, f) : 0;
  buf[n] = '\0';
  if (f) fclose(f);
}

pid_t spawn(const char *const *argv) {
  char out_path[600], err_path[600];
  snprintf(out_path, sizeof out_path, "%s/stdout", run_scratch);
  snprintf(err_path, sizeof err_path, "%s/stderr", run_scratch);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, run_stdin ? run_stdin : "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid;
  run_started = now();
  assert_int_equal(posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

run_out *reap(pid_t pid) {
  run_out *r = calloc(1, sizeof *r);
  assert_non_null(r);
  double t0 = now();
  int st = 0;
  struct rusage ru;
  memset(&ru, 0, sizeof ru);
  for (;;) {
    pid_t w = wait4(pid, &st, WNOHANG, &ru);
    if (w == pid) break;
    assert_true(w == 0 || errno == EINTR);
    if (now() - t0 > 60) {
      kill(pid, SIGKILL);
      wait4(pid, &st, 0, &ru);
      break;
    }
    usleep(2000);
  }
  r->secs = now() - run_started;
  r->cpu_secs = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  char path[600];
  snprintf(path, sizeof path, "%s/stdout", run_scratch);
  slurp(path, r->out, sizeof r->out);
  snprintf(path, sizeof path, "%s/stderr", run_scratch);
  slurp(path, r->err, sizeof r->err);
  return r;
}

run_out *cis(const char *first, ...) {
  const char *argv[40];
  int n = 0;
  argv[n++] = run_bin;
  va_list ap;
  va_start(ap, first);
  for (const char *a = first; a && n < 39; a = va_arg(ap, const char *)) argv[n++] = a;
  va_end(ap);
  argv[n] = NULL;
  return reap(spawn(argv));
}

void has(const char *hay, const char *needle) {
  if (!strstr(hay, needle)) fail_msg("\"%s\" not in:\n%s", needle, hay);
}

void hasnt(const char *hay, const char *needle) {
  if (strstr(hay, needle)) fail_msg("\"%s\" should not be in:\n%s", needle, hay);
}

void expect(run_out *r, int status) {
  if (r->status != status) fail_msg("exit %d, expected %d\nstdout:\n%s\nstderr:\n%s", r->status, status, r->out, r->err);
}

void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

const char *path_of(const char *dir, const char *name) {
  static char buf[4][1024];
  static int slot;
  char *b = buf[slot++ & 3];
  snprintf(b, sizeof buf[0], "%s/%s", dir, name);
  return b;
}
