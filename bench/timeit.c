/*
 * timeit.c -- times one process for bench/run.sh.
 *
 * This file implements a tiny process timer: it runs a command with its
 * standard output and error sent to files, waits for it, and prints the
 * wall time measured on the monotonic clock, how the process ended, and
 * the CPU time it used. Shell builtins such as `date` read the realtime
 * clock, which can jump; a helper in C also keeps its own start-up out of
 * the measurement.
 *
 *   timeit TIMEOUT_S OUT_FILE ERR_FILE COMMAND [ARG...]
 *
 * prints "SECONDS STATUS USER SYS": wall seconds; the exit code, or 128+N
 * when the process died of signal N (the timeout shows as 142, SIGALRM);
 * then the user and system CPU seconds of the process, from wait4(), which
 * include all its threads and the children it waited for (a compiler that
 * `cis compile` runs, say). Exits 0 unless the command could not be
 * started at all. Callers that read two fields ignore the last two.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double seconds(struct timeval tv) {
  return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static int redirect(const char *path, int fd) {
  int f = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (f < 0 || dup2(f, fd) < 0) return -1;
  close(f);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: timeit TIMEOUT_S OUT_FILE ERR_FILE COMMAND [ARG...]\n");
    return 2;
  }
  unsigned timeout = (unsigned)strtoul(argv[1], NULL, 10);
  double t0 = now();
  pid_t pid = fork();
  if (pid < 0) {
    perror("timeit: fork");
    return 2;
  }
  if (pid == 0) {
    if (redirect(argv[2], 1) || redirect(argv[3], 2)) _exit(126);
    /* An alarm survives exec and its default action kills the process,
     * which bounds a runaway engine without a watchdog process. */
    if (timeout) alarm(timeout);
    execvp(argv[4], argv + 4);
    _exit(127);
  }
  int st;
  struct rusage ru;
  while (wait4(pid, &st, 0, &ru) < 0) {
    if (errno != EINTR) {
      perror("timeit: wait4");
      return 2;
    }
  }
  double t = now() - t0;
  int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  printf("%.6f %d %.6f %.6f\n", t, code, seconds(ru.ru_utime), seconds(ru.ru_stime));
  return 0;
}
