/*
 * This file tests the host's warn line for a filesystem quota hit (issue
 * 11): a WASI skill that fills its mount's quota and keeps retrying gets
 * EDQUOT each time, and the call's log says so once per mount (which
 * mount, how many changes were refused, the first one's quota, use and
 * limit), never per refused write and never with file contents.
 *
 *   test_fs_quota SKILL_DIR
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cis/cis_skill.h"
#include "cis/cis_vfs.h"
#include "support/skill_host.h"

static const char *g_skills; /* built modules */
static char g_tmp[256];      /* the registry */

/* How many times needle occurs in hay. */
static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; p && (p = strstr(p, needle)); p += strlen(needle)) n++;
  return n;
}

static void contains(const char *hay, const char *needle) {
  if (!hay || !strstr(hay, needle)) fail_msg("\"%s\" not in:\n%s", needle, hay ? hay : "(null)");
}

/* The skill fills a 4 KiB, 3-file mem mount, then retries 10 writes and 10
 * new files: 19 refusals, one warn line. */
static void fs_quota_hit_logged_once_per_call(void **st) {
  (void)st;
  char home[512];
  cis_test_home(home, sizeof home, g_tmp, "home", 1);
  cis_skills *s = cis_test_skills_open(home, NULL, NULL);
  cis_test_install(s, g_skills, "fs_fill.wasm", "filler",
                   "\"abi\":\"wasi\",\"permissions\":{\"fs\":{\"mounts\":[{\"guest\":\"/data\",\"type\":\"mem\","
                   "\"max_bytes\":4096,\"max_files\":3}]}}");
  for (int call = 0; call < 2; call++) { /* each call says it again, once */
    cis_invoke_result r;
    cis_result rc = cis_skills_invoke(s, "filler", "{}", 2, NULL, &r);
    if (rc != CIS_OK) fail_msg("%s: %s\n%s", cis_errname(rc), r.error, r.logs ? r.logs : "");
    assert_string_equal(r.output, "{\"written\":4096,\"refused\":19}\n");
    contains(r.logs, "WARN");
    assert_int_equal(count(r.logs, "fs quota"), 1);
    contains(r.logs, "fs quota: mount /data: 19 changes refused (EDQUOT)");
    contains(r.logs, "1024 more bytes would pass max_bytes 4096 (4096 in use)");
    assert_int_equal(count(r.logs, "xxxx"), 0); /* no contents */
    cis_invoke_result_free(&r);
  }
  cis_skills_close(s);
}

/* The count and the first refusal, straight from the mount: the second
 * and later refusals keep the first's detail; a change that fits, or a
 * name that exists already at the node quota, is no refusal. */
static void vfs_counts_quota_refusals(void **st) {
  (void)st;
  cis_vfs_backend *b = NULL;
  assert_int_equal(cis_vfs_mem_new(&b), CIS_OK);
  cis_vfs_options o = {.max_bytes = 10, .max_files = 1};
  cis_vfs *fs = NULL;
  assert_int_equal(cis_vfs_mount(b, &o, &fs), CIS_OK);
  char first[256];
  assert_int_equal(cis_vfs_quota_refusals(fs, first, sizeof first), 0);
  assert_string_equal(first, "");
  cis_vfs_file *root = NULL, *f = NULL, *g = NULL;
  assert_int_equal(cis_vfs_open_root(fs, &root), 0);
  assert_int_equal(cis_vfs_openat(root, "a", 1, CIS_VFS_WRITE | CIS_VFS_CREAT, &f), 0);
  size_t n = 0;
  assert_int_equal(cis_vfs_pwrite(f, "0123456789", 10, 0, &n), 0);
  assert_int_equal(cis_vfs_quota_refusals(fs, NULL, 0), 0);
  assert_int_not_equal(cis_vfs_pwrite(f, "x", 1, 10, &n), 0);
  assert_int_not_equal(cis_vfs_pwrite(f, "yy", 2, 10, &n), 0);
  assert_int_equal(cis_vfs_quota_refusals(fs, first, sizeof first), 2);
  contains(first, "1 more bytes would pass max_bytes 10 (10 in use)");
  /* "a" exists: EEXIST, as without a quota, and no refusal. */
  assert_int_not_equal(cis_vfs_openat(root, "a", 1, CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_EXCL, &g), 0);
  assert_int_equal(cis_vfs_quota_refusals(fs, NULL, 0), 2);
  assert_int_not_equal(cis_vfs_openat(root, "b", 1, CIS_VFS_WRITE | CIS_VFS_CREAT, &g), 0);
  assert_int_equal(cis_vfs_quota_refusals(fs, first, sizeof first), 3);
  contains(first, "max_bytes 10"); /* still the first */
  assert_int_equal(cis_vfs_quota_refusals(NULL, first, sizeof first), 0);
  cis_vfs_close(f);
  cis_vfs_close(root);
  cis_vfs_unmount(fs);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_fs_quota SKILL_DIR\n");
    return 2;
  }
  g_skills = argv[1];
  if (cis_test_root_make(g_tmp, sizeof g_tmp, "fs-quota") != 0) return 2;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(vfs_counts_quota_refusals),
      cmocka_unit_test(fs_quota_hit_logged_once_per_call),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
  cis_test_root_remove(g_tmp);
  return rc;
}
