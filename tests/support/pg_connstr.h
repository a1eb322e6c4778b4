/*
 * This file implements, for every test suite that runs on the shared
 * PostgreSQL fixture (tests/support/CMakeLists.txt), the reading of the
 * connection string the harness wrote, with the one rule on skipping: a
 * missing file skips the suite (77) on a developer machine and fails it
 * under CI=true, where the database must be there.
 */
#ifndef CIS_TEST_PG_CONNSTR_H
#define CIS_TEST_PG_CONNSTR_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads the first line of file into out (cap bytes). Returns 0; 77 when
 * the file is missing (unless CI=true); 1 when it is missing under CI=true,
 * empty, or does not fit. */
static inline int cis_test_read_connstr(const char *file, char *out, size_t cap) {
  FILE *f = fopen(file, "r");
  if (!f) {
    const char *ci = getenv("CI");
    if (ci && strcmp(ci, "true") == 0) {
      fprintf(stderr, "no PostgreSQL connection string at %s (CI=true: failing)\n", file);
      return 1;
    }
    fprintf(stderr, "SKIPPED: no PostgreSQL connection string at %s (is postgresql installed?)\n", file);
    return 77;
  }
  if (!fgets(out, (int)cap, f)) out[0] = '\0';
  fclose(f);
  size_t n = strcspn(out, "\r\n");
  if (n + 1 >= cap && out[n] == '\0') {
    fprintf(stderr, "connection string in %s is longer than %zu bytes\n", file, cap - 2);
    return 1;
  }
  out[n] = '\0';
  if (!out[0]) {
    fprintf(stderr, "empty connection string in %s\n", file);
    return 1;
  }
  return 0;
}

#endif /* CIS_TEST_PG_CONNSTR_H */
