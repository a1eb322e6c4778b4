/*
 * This file implements a small WASI command for the tests of `cis run`
 * (tests/cli/test_cli.c): each subcommand does one thing through
 * wasi-libc and prints what it saw, so the test can check arguments,
 * environment, stdio, exit codes and preopened directories from outside.
 *
 *   cli_wasi args | env NAME... | exit N | cat | stderr TEXT | trap
 *   cli_wasi write PATH TEXT | read PATH | ls DIR | mv FROM TO
 *
 * A failing file operation prints "errno N" (the WASI errno) and exits 3.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(void) {
  printf("errno %d\n", errno);
  return 3;
}

static int cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
  const char *cmd = argc > 1 ? argv[1] : "args";
  if (!strcmp(cmd, "args")) {
    for (int i = 0; i < argc; i++) printf("argv[%d]=%s\n", i, argv[i]);
  } else if (!strcmp(cmd, "env")) {
    for (int i = 2; i < argc; i++) {
      const char *v = getenv(argv[i]);
      printf("%s=%s\n", argv[i], v ? v : "(unset)");
    }
  } else if (!strcmp(cmd, "exit") && argc > 2) {
    return atoi(argv[2]);
  } else if (!strcmp(cmd, "cat")) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) fwrite(buf, 1, n, stdout);
  } else if (!strcmp(cmd, "stderr") && argc > 2) {
    fprintf(stderr, "%s\n", argv[2]);
  } else if (!strcmp(cmd, "trap")) {
    fflush(stdout);
    __builtin_trap();
  } else if (!strcmp(cmd, "write") && argc > 3) {
    FILE *f = fopen(argv[2], "w");
    if (!f) return fail();
    fputs(argv[3], f);
    if (fclose(f) != 0) return fail();
  } else if (!strcmp(cmd, "read") && argc > 2) {
    FILE *f = fopen(argv[2], "r");
    if (!f) return fail();
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    fwrite(buf, 1, n, stdout);
  } else if (!strcmp(cmd, "ls") && argc > 2) {
    DIR *d = opendir(argv[2]);
    if (!d) return fail();
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256)
      if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmp);
    for (int i = 0; i < n; i++) {
      printf("%s\n", names[i]);
      free(names[i]);
    }
  } else if (!strcmp(cmd, "mv") && argc > 3) {
    if (rename(argv[2], argv[3]) != 0) return fail();
  } else {
    fprintf(stderr, "cli_wasi: unknown command %s\n", cmd);
    return 2;
  }
  return 0;
}
