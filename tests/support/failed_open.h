/*
 * This file implements, for the suites that open services, the check of a
 * constructor's failure under the one rule of cis.h ("Errors"): the code,
 * a handle in the failed state (not NULL), its message naming why (read
 * on this thread and on another), a call on it refused with CIS_ESTATE
 * leaving the message, and its free function. The message is copied to
 * msg (cap bytes) for further checks. Include it after cmocka.h.
 */
#ifndef CIS_TEST_FAILED_OPEN_H
#define CIS_TEST_FAILED_OPEN_H

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "cis/cis_serve.h"
#include "cis/cis_skill.h"
#include "cis/cis_vfs.h"

static inline void *cis_test_errmsg_on_thread(void *h) { return (void *)cis_errmsg(h); }

/* The common part: h's message holds want (may be NULL: any non-empty),
 * also on another thread; copied to msg. */
static inline void cis_test_failed_message(const void *h, const char *want, char *msg, size_t cap) {
  if (!h) fail_msg("a failed constructor handed back NULL");
  const char *m = cis_errmsg(h);
  if (!m[0] || (want && !strstr(m, want))) fail_msg("message \"%s\" lacks \"%s\"", m, want ? want : "(anything)");
  pthread_t th;
  void *other = NULL;
  if (pthread_create(&th, NULL, cis_test_errmsg_on_thread, (void *)h) != 0 || pthread_join(th, &other) != 0)
    fail_msg("cannot start a thread");
  if (strcmp(other, m)) fail_msg("another thread reads \"%s\", not \"%s\"", (const char *)other, m);
  if (msg && cap) snprintf(msg, cap, "%s", m);
}

/* cis_skills_open(cfg) fails with code, its message holding want. */
static inline void cis_test_skills_open_fails(const cis_skills_config *cfg, cis_result code, const char *want,
                                              char *msg, size_t cap) {
  cis_skills *s = NULL;
  cis_result rc = cis_skills_open(cfg, &s);
  if (rc != code) fail_msg("cis_skills_open: %s, expected %s (%s)", cis_errname(rc), cis_errname(code), cis_skills_errmsg(s));
  cis_test_failed_message(s, want, msg, cap);
  char before[512];
  snprintf(before, sizeof before, "%s", cis_skills_errmsg(s));
  if (strcmp(before, cis_errmsg(s))) fail_msg("cis_skills_errmsg and cis_errmsg disagree");
  cis_skill_info *list = NULL;
  size_t n = 0;
  assert_int_equal(cis_skills_list(s, &list, &n), CIS_ESTATE);
  cis_invoke_result r;
  assert_int_equal(cis_skills_invoke(s, "x", "{}", 2, NULL, &r), CIS_ESTATE);
  cis_invoke_result_free(&r);
  assert_string_equal(cis_skills_errmsg(s), before);
  cis_skills_close(s);
}

/* cis_tokens_open_registry(home, registry) fails with code, its message
 * holding want. */
static inline void cis_test_tokens_open_fails(const char *home, const char *registry, cis_result code,
                                              const char *want, char *msg, size_t cap) {
  cis_tokens *t = NULL;
  cis_result rc = cis_tokens_open_registry(home, registry, &t);
  if (rc != code) fail_msg("cis_tokens_open: %s, expected %s (%s)", cis_errname(rc), cis_errname(code), cis_tokens_errmsg(t));
  cis_test_failed_message(t, want, msg, cap);
  char before[512], tenant[CIS_TOKEN_NAME_MAX + 1];
  snprintf(before, sizeof before, "%s", cis_tokens_errmsg(t));
  assert_int_equal(cis_tokens_check(t, "cis_x", 5, tenant, sizeof tenant), CIS_ESTATE);
  assert_int_equal(cis_tokens_revoke(t, "x"), CIS_ESTATE);
  assert_string_equal(cis_tokens_errmsg(t), before);
  cis_tokens_close(t);
}

/* cis_server_start(c) fails with code, its message holding want. */
static inline void cis_test_server_start_fails(const cis_server_config *c, cis_result code, const char *want,
                                               char *msg, size_t cap) {
  cis_server *s = NULL;
  cis_result rc = cis_server_start(c, &s);
  if (rc != code) fail_msg("cis_server_start: %s, expected %s (%s)", cis_errname(rc), cis_errname(code), cis_errmsg(s));
  cis_test_failed_message(s, want, msg, cap);
  assert_int_equal(cis_server_port(s, 0), -1);
  assert_int_equal(cis_server_wait_idle(s, 10), CIS_ESTATE);
  cis_server_drain(s);
  cis_server_free(s);
}

/* cis_vfs_mount(b) fails with code, its message holding want; the failed
 * mount refuses what is asked of it (EBADF, CIS_ESTATE) and keeps it. */
static inline void cis_test_vfs_mount_fails(cis_vfs_backend *b, const cis_vfs_options *o, cis_result code,
                                            const char *want, char *msg, size_t cap) {
  cis_vfs *fs = NULL;
  cis_result rc = cis_vfs_mount(b, o, &fs);
  if (rc != code) fail_msg("cis_vfs_mount: %s, expected %s (%s)", cis_errname(rc), cis_errname(code), cis_vfs_errmsg(fs));
  cis_test_failed_message(fs, want, msg, cap);
  char before[512];
  snprintf(before, sizeof before, "%s", cis_vfs_errmsg(fs));
  cis_vfs_file *root = (cis_vfs_file *)1;
  assert_int_equal(cis_vfs_open_root(fs, &root), EBADF);
  assert_null(root);
  uint64_t bytes = 1, nodes = 1;
  assert_int_equal(cis_vfs_usage(fs, &bytes, &nodes), EBADF);
  assert_int_equal(cis_vfs_scope_begin(fs), CIS_ESTATE);
  assert_int_equal(cis_vfs_db_snapshot(fs, "x", NULL), CIS_ESTATE);
  cis_vfs_set_timeout(fs, 10);
  assert_string_equal(cis_vfs_errmsg(fs), before);
  cis_vfs_unmount(fs);
}

/* A backend constructor returned rc and set *bp (passed by address: read
 * after the constructor ran): code, and a failed backend whose errmsg
 * holds want, which a mount passes on with the code. */
static inline void cis_test_vfs_backend_fails(cis_result rc, cis_vfs_backend **bp, cis_result code, const char *want,
                                              char *msg, size_t cap) {
  cis_vfs_backend *b = *bp;
  *bp = NULL;
  if (rc != code) fail_msg("backend: %s, expected %s (%s)", cis_errname(rc), cis_errname(code), b ? b->errmsg : "");
  if (!b) fail_msg("a failed backend constructor handed back NULL");
  if (!b->errmsg[0] || (want && !strstr(b->errmsg, want)))
    fail_msg("message \"%s\" lacks \"%s\"", b->errmsg, want ? want : "(anything)");
  if (msg && cap) snprintf(msg, cap, "%s", b->errmsg);
  char copy[CIS_VFS_ERRMSG_MAX];
  snprintf(copy, sizeof copy, "%s", b->errmsg);
  cis_test_vfs_mount_fails(b, NULL, code, copy, NULL, 0);
}

#endif /* CIS_TEST_FAILED_OPEN_H */
