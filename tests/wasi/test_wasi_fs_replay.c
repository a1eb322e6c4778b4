/*
 * This file implements the regression replay of the fuzz_wasi_fs target
 * (fuzz/fuzz_wasi_fs.c): it runs the target's harness, cis_fuzz_wasi_fs,
 * on every input given on the command line (each one a finding kept in
 * fuzz/findings/wasi_fs/, named after what it guards), and on a smoke
 * input built here that takes every operation of the harness at least
 * once, so that the replay is known to reach the filesystem. The harness
 * aborts on any broken check; the sanitizers of the test build do the
 * rest.
 *
 *   test_wasi_fs_replay [INPUT...]
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

unsigned cis_fuzz_wasi_fs(const uint8_t *data, size_t size);

static int g_argc;
static char **g_argv;

/* Every operation of the harness (0..29), each with bytes that make it
 * succeed on an empty memory mount where it can: mkdir a, open a/x.txt
 * (create), write, seek, read, readdir, symlink, readlink, stat, link,
 * rename, set_times, fstat, set_size, poll, tell, renumber, close,
 * unlink, an open that fails, chain, an rmdir that fails, then on a new
 * file pwrite, pread, fdstat, set_flags, allocate, sync, advise,
 * set_rights, and prestat on the preopen. */
static void test_smoke_reaches_every_operation(void **state) {
  (void)state;
  static const uint8_t in[] = {
      0x00,                         /* mount: no quota, not read-only, default depth */
      0, 0, 0, 0,                   /* mkdir (fd 3) "a" */
      1, 0, 1, 1, 0, 1, 0, 10, 0, 0, /* open 3 "a/x.txt" creat, all rights */
      10, 1, 5, 'h', 'e', 'l', 'l', 'o', /* write 5 bytes to fd 4 */
      13, 1, 0, 0, 0,               /* seek fd 4 to 0 */
      11, 1, 16, 0,                 /* read 16 bytes from fd 4 */
      9, 0, 0, 16, 0,               /* readdir fd 3, 4096 bytes, cookie 0 */
      5, 0, 0, 10, 0, 2,            /* symlink "x.txt" -> "c" in fd 3 */
      7, 0, 0, 16, 0, 2,            /* readlink fd 3 "c" */
      8, 0, 0, 0, 0,                /* stat fd 3 "a" */
      6, 0, 0, 0, 1, 0, 10, 0, 1,   /* link "a/x.txt" -> "b" */
      2, 0, 0, 0, 1, 0, 3,          /* rename "b" -> "d" */
      16, 0, 0, 2, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* times "d" now */
      17, 1,                        /* fstat fd 4 */
      14, 1, 7, 2,                  /* set_size fd 4 to 14 */
      18, 0, 2, 1, 1, 2, 1,         /* poll: fd_read fd 4, fd_write fd 4 */
      19, 1,                        /* tell fd 4 */
      15, 1, 1,                     /* renumber fd 4 to itself */
      12, 1,                        /* close it */
      3, 0, 0, 3,                   /* unlink "d" */
      1, 0, 0, 2, 0, 0, 1, 0, 2,    /* open 3 "b" as a directory: fails (renamed) */
      20, 0, 5,                     /* chain 6 levels below fd 3 */
      4, 0, 1, 0, 10,               /* rmdir "a/x.txt": ENOTDIR */
      1, 0, 0, 1, 0, 0, 10, 0, 0,   /* open 3 "x.txt" creat, all rights: fds[2] */
      22, 2, 5, 0, 0,               /* pwrite 5 bytes at 0 */
      21, 2, 5, 0, 0,               /* pread them */
      23, 2,                        /* fdstat */
      24, 2, 1,                     /* set flags: append */
      26, 2, 0, 0, 4,               /* allocate 4 KiB at 0 */
      27, 2, 1,                     /* sync */
      29, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* advise normal */
      25, 2, 1, 1,                  /* set rights: read only */
      28, 0, 64,                    /* prestat and its name, fd 3 */
  };
  unsigned ok = cis_fuzz_wasi_fs(in, sizeof in);
  /* 19 of the first 21 operations, the chain's 17 calls (6 mkdir, 6 open,
   * 5 close) and the last ten operations' 11 calls succeed. */
  if (ok != 47) fail_msg("%u calls succeeded, not 47", ok);
}

/* Each saved input runs to its end. */
static void test_saved_inputs(void **state) {
  (void)state;
  for (int i = 1; i < g_argc; i++) {
    FILE *f = fopen(g_argv[i], "rb");
    if (!f) fail_msg("cannot open %s", g_argv[i]);
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    fprintf(stderr, "replay %s (%zu bytes)\n", g_argv[i], n);
    cis_fuzz_wasi_fs(buf, n);
  }
}

int main(int argc, char **argv) {
  g_argc = argc;
  g_argv = argv;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_smoke_reaches_every_operation),
      cmocka_unit_test(test_saved_inputs),
  };
  return cmocka_run_group_tests_name("wasi_fs_replay", tests, NULL, NULL);
}
