/*
 * This file implements, for the test suites, counting this process's
 * threads by the name each gave itself (/proc/self/task/TID/comm): how the
 * server's and the pool's tests see which threads run, as the kernel does.
 */
#ifndef CIS_TEST_THREADS_H
#define CIS_TEST_THREADS_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>

/* The threads of this process named name; -1 when /proc cannot be read. */
static inline int cis_test_threads_named(const char *name) {
  DIR *d = opendir("/proc/self/task");
  if (!d) return -1;
  int n = 0;
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    char path[300], comm[32] = "";
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue; /* it ended meanwhile */
    if (fgets(comm, sizeof comm, f)) comm[strcspn(comm, "\n")] = 0;
    fclose(f);
    n += strcmp(comm, name) == 0;
  }
  closedir(d);
  return n;
}

#endif
