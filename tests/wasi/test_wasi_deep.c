/*
 * This file tests that no guest can crash the host by building a deep
 * directory tree: wasi_deep (progs/wasi_deep.c) walks directory
 * descriptors, making one level per step with one-letter paths, asking
 * for 300,000 levels. Freeing such a tree used to take one C stack frame
 * per level and killed cis with SIGSEGV at the end of a run that had
 * exited normally. Now the mount's max_depth (CIS_VFS_DEFAULT_MAX_DEPTH
 * when not set) stops the guest with ENAMETOOLONG, and the tree is freed
 * without recursion either way.
 *
 *   test_wasi_deep CIS_PROGRAM WASI_DEEP.wasm
 *
 * Cases: through the command line (`cis run --vfs mem`), which must exit
 * with the guest's status 0 and not on a signal; and through the library
 * on memory mounts without and with a quota, and with the limit lifted
 * (the 300,000 levels are made, then freed).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cis/cis.h"
#include "cis/cis_vfs.h"
#include "cis/cis_wasi.h"

#define LEVELS "300000"
/* What wasi_deep prints when the default limit stops it: WASI's
 * ENAMETOOLONG is 37. */
#define STOPPED "depth 4096 errno 37\n"

static const char *g_cis;  /* the cis program */
static const char *g_wasm; /* wasi_deep.wasm */

/* Runs argv with stdout into out (cap bytes, NUL-terminated); returns the
 * wait status. */
static int run_program(char *const argv[], char *out, size_t cap) {
  int p[2];
  assert_int_equal(pipe(p), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    dup2(p[1], 1);
    close(p[0]);
    close(p[1]);
    execv(argv[0], argv);
    _exit(127);
  }
  close(p[1]);
  size_t n = 0;
  for (;;) {
    ssize_t k = read(p[0], out + n, cap - 1 - n);
    if (k <= 0) break;
    n += (size_t)k;
    if (n == cap - 1) break;
  }
  out[n] = '\0';
  close(p[0]);
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  return status;
}

/* `cis run --vfs mem --dir X::/work wasi_deep.wasm 300000` ends as the
 * guest did: status 0, after the limit stopped it. */
static void test_cli_deep_tree_exits_cleanly(void **state) {
  (void)state;
  char out[4096];
  char *argv[] = {(char *)g_cis, "run", "--vfs", "mem", "--dir", "scratch::/work",
                  (char *)g_wasm, LEVELS, NULL};
  int status = run_program(argv, out, sizeof out);
  if (WIFSIGNALED(status)) fail_msg("cis died on signal %d; stdout: %s", WTERMSIG(status), out);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  assert_string_equal(out, STOPPED);
}

/* Runs wasi_deep with `levels` on a fresh memory mount under opts, and
 * returns its stdout in out; frees everything, the mount last. */
static void run_lib(const cis_vfs_options *opts, const char *levels, char *out, size_t cap) {
  FILE *f = fopen(g_wasm, "rb");
  assert_non_null(f);
  static uint8_t wasm[1 << 20];
  size_t len = fread(wasm, 1, sizeof wasm, f);
  fclose(f);
  assert_true(len > 0 && len < sizeof wasm);
  cis_engine *eng = NULL;
  cis_module *mod = NULL;
  assert_int_equal(cis_engine_new(NULL, &eng), CIS_OK);
  assert_int_equal(cis_module_new(eng, wasm, len, &mod), CIS_OK);
  cis_vfs_backend *b = NULL;
  cis_vfs *fs = NULL;
  assert_int_equal(cis_vfs_mem_new(&b), CIS_OK);
  assert_int_equal(cis_vfs_mount(b, opts, &fs), CIS_OK);
  const char *argv[] = {"wasi_deep", levels};
  cis_wasi_config cfg;
  cis_wasi_config_default(&cfg);
  cfg.caps = CIS_WASI_CAP_ARGS;
  cfg.argc = 2;
  cfg.argv = argv;
  cfg.stdio[1] = CIS_WASI_STDIO_BUFFER;
  cis_wasi *w = NULL;
  assert_int_equal(cis_wasi_new(&cfg, &w), CIS_OK);
  assert_int_equal(cis_wasi_preopen(w, fs, "/work"), CIS_OK);
  cis_imports *im = NULL;
  assert_int_equal(cis_imports_new(eng, &im), CIS_OK);
  assert_int_equal(cis_wasi_add_imports(w, im), CIS_OK);
  cis_instance *inst = NULL;
  assert_int_equal(cis_instance_new(mod, im, NULL, &inst), CIS_OK);
  int code = -1;
  assert_int_equal(cis_wasi_run(w, inst, &code), CIS_OK);
  assert_int_equal(code, 0);
  size_t n = 0;
  const uint8_t *p = cis_wasi_output(w, 1, &n);
  if (n >= cap) n = cap - 1;
  if (n) memcpy(out, p, n);
  out[n] = '\0';
  cis_instance_free(inst);
  cis_imports_free(im);
  cis_wasi_free(w);
  cis_vfs_unmount(fs); /* frees the whole tree */
  cis_module_free(mod);
  cis_engine_free(eng);
}

static void test_lib_deep_tree_default_limit(void **state) {
  (void)state;
  char out[256];
  run_lib(NULL, LEVELS, out, sizeof out);
  assert_string_equal(out, STOPPED);
}

/* A quota (as a skill's mem mount may have) changes nothing. */
static void test_lib_deep_tree_with_quota(void **state) {
  (void)state;
  char out[256];
  cis_vfs_options o = {.max_files = 1000000, .max_bytes = 1 << 20};
  run_lib(&o, LEVELS, out, sizeof out);
  assert_string_equal(out, STOPPED);
}

/* With the limit lifted, all 300,000 levels are made; the unmount frees
 * them without recursion. */
static void test_lib_deep_tree_unbounded_is_freed(void **state) {
  (void)state;
  char out[256];
  cis_vfs_options o = {.max_depth = UINT32_MAX};
  run_lib(&o, LEVELS, out, sizeof out);
  assert_string_equal(out, "depth 300000 errno 0\n");
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s CIS_PROGRAM WASI_DEEP.wasm\n", argv[0]);
    return 2;
  }
  g_cis = argv[1];
  g_wasm = argv[2];
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cli_deep_tree_exits_cleanly),
      cmocka_unit_test(test_lib_deep_tree_default_limit),
      cmocka_unit_test(test_lib_deep_tree_with_quota),
      cmocka_unit_test(test_lib_deep_tree_unbounded_is_freed),
  };
  return cmocka_run_group_tests_name("wasi_deep", tests, NULL, NULL);
}
