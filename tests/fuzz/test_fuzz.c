/*
 * test_fuzz.c -- replays saved fuzzing inputs as regression tests.
 *
 * This file implements the runner behind every test in tests/fuzz/: it
 * reads one input file and feeds it to the harness that found it
 * (fuzz/harness.c), exactly as the libFuzzer target would. The test passes
 * when the harness returns; a crash, a sanitizer report or a hang (ctest's
 * timeout) fails it.
 *
 *   test_fuzz decode|run FILE
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "support/test_file.h"

static const char *harness_name;
static const char *input_path;

static void replay(void **state) {
  (void)state;
  size_t len = 0;
  uint8_t *bytes = cis_test_file_read(input_path, &len);
  if (!bytes) fail_msg("cannot read %s", input_path);
  /* fuzz_run decodes first, so its inputs are replayed through both. */
  cis_fuzz_decode(bytes, len);
  if (strcmp(harness_name, "run") == 0) cis_fuzz_run(bytes, len);
  free(bytes);
}

int main(int argc, char **argv) {
  if (argc != 3 || (strcmp(argv[1], "decode") && strcmp(argv[1], "run"))) {
    fprintf(stderr, "usage: %s decode|run FILE\n", argv[0]);
    return 2;
  }
  harness_name = argv[1];
  input_path = argv[2];
  const struct CMUnitTest tests[] = {cmocka_unit_test(replay)};
  return cmocka_run_group_tests_name(input_path, tests, NULL, NULL);
}
