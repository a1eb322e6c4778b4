/*
 * This file implements bench/aot.sh's process meter: it runs a command
 * RUNS times, one after the other, and prints what each run cost on
 * average, from the kernel's accounting of the child (wait4's rusage):
 *
 *   rusage RUNS CMD [ARGS...]
 *   -> "user_ms sys_ms minor_faults major_faults" (means per run)
 *
 * user + sys is the child's CPU time from exec to exit (the kernel splits
 * it between the two by sampling, so their sum is the figure to compare);
 * the faults are exact. The child's output goes to /dev/null. posix_spawn
 * (a vfork) keeps the meter's own share out of the child's figures.
 * Exit status: 0, 1 on a usage error, 2 when a run fails.
 */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv) {
  if (argc < 3 || atoi(argv[1]) <= 0) {
    fprintf(stderr, "usage: rusage RUNS CMD [ARGS...]\n");
    return 1;
  }
  int runs = atoi(argv[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  double user = 0, sys = 0, minflt = 0, majflt = 0;
  for (int i = 0; i < runs; i++) {
    pid_t pid;
    if (posix_spawnp(&pid, argv[2], &fa, NULL, argv + 2, environ) != 0) return 2;
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      return 2;
    user += ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3;
    sys += ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3;
    minflt += (double)ru.ru_minflt;
    majflt += (double)ru.ru_majflt;
  }
  printf("%.4f %.4f %.2f %.2f\n", user / runs, sys / runs, minflt / runs, majflt / runs);
  return 0;
}
