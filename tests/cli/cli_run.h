/*
 * This file declares the runner the CLI tests share (test_cli_operate,
 * test_cli_host): the cis program started with its standard output and
 * error in files of a scratch folder, waited for with a bound, and checks
 * on what it wrote. Failures are cmocka failures of the calling test.
 */
#ifndef CIS_TESTS_CLI_RUN_H
#define CIS_TESTS_CLI_RUN_H

#include <stddef.h>
#include <sys/types.h>

typedef struct run_out {
  int status;      /* exit code, or 128 + signal */
  char out[16384]; /* stdout, NUL-terminated (truncated if longer) */
  char err[16384]; /* stderr, likewise */
  double secs;     /* wall-clock time from spawn to exit */
  double cpu_secs; /* the process's CPU time (user + system) */
} run_out;

/* The program under test and the folder its output files go to; both
 * strings must outlive the test. */
void cli_run_setup(const char *bin, const char *scratch);
/* What the next runs read on stdin (NULL: /dev/null); the string must
 * outlive them. */
void cli_run_stdin(const char *path);
/* Seconds on a monotonic clock. */
double now(void);
/* Reads up to len - 1 bytes of path into buf, NUL-terminated ("" when it
 * cannot be read). */
void slurp(const char *path, char *buf, size_t len);
/* Starts argv (argv[0] is the program) in the current environment, stdin
 * from /dev/null, stdout and stderr to the scratch folder's files. */
pid_t spawn(const char *const *argv);
/* Waits for pid (killed after 60 s, so a broken limit fails the test
 * instead of hanging it) and reads what it wrote; the caller frees the
 * result. */
run_out *reap(pid_t pid);
/* Runs `cis ARGS...` (NULL-terminated) to its end. */
run_out *cis(const char *first, ...);
/* Fails the test unless needle is (is not) in hay. */
void has(const char *hay, const char *needle);
void hasnt(const char *hay, const char *needle);
/* Fails the test, showing both outputs, unless r exited with status. */
void expect(run_out *r, int status);
void write_file(const char *path, const char *text);
/* dir/name in one of four rotating buffers. */
const char *path_of(const char *dir, const char *name);

#endif /* CIS_TESTS_CLI_RUN_H */
