/*
 * This file implements what the database filesystem's focused test suites
 * (test_vfs_db_sqlite_fast, test_vfs_db_sqlite_ckpt, test_vfs_db_pgfast)
 * share once a tenant's tree is mounted: the mount and its root, its end,
 * a file written whole and a file's contents checked, each failing the
 * test with the VFS's message. How a suite mounts stays its own (backend,
 * tenant, options, a counting SQLite VFS). Include it after cmocka.h.
 */
#ifndef CIS_TEST_VFSDB_MNT_H
#define CIS_TEST_VFSDB_MNT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cis/cis_vfs.h"

typedef struct mnt {
  cis_vfs *fs;        /* the mount */
  cis_vfs_file *root; /* its root directory */
  char tenant[160];   /* the tenant's full name, where the suite's mount keeps it */
  char why[512];      /* why the last mnt_mount failed (its failed mount's message) */
} mnt;

/* Closes the root and unmounts; m is empty after. */
static inline void mnt_unmount(mnt *m) {
  if (m->root) cis_vfs_close(m->root);
  if (m->fs) cis_vfs_unmount(m->fs);
  memset(m, 0, sizeof *m);
}

/* Makes the backend cfg describes (the suite's own backend, tenant and
 * options), mounts it (opts may be NULL) and opens its root. CIS_OK, or
 * the failure with nothing left mounted; m->tenant is left as it was. */
static inline cis_result mnt_mount(mnt *m, const cis_vfs_db_config *cfg, const cis_vfs_options *opts) {
  m->fs = NULL;
  m->root = NULL;
  m->why[0] = '\0';
  cis_vfs_backend *b = NULL;
  cis_result rc = cis_vfs_db_new(cfg, &b);
  if (b) { /* a failed backend fails the mount, with its code and message */
    cis_result mr = cis_vfs_mount(b, opts, &m->fs);
    if (rc == CIS_OK) rc = mr;
  }
  if (rc != CIS_OK) {
    snprintf(m->why, sizeof m->why, "%s", m->fs ? cis_vfs_errmsg(m->fs) : cis_strerror(rc));
    cis_vfs_unmount(m->fs);
    m->fs = NULL;
    return rc;
  }
  int e = cis_vfs_open_root(m->fs, &m->root);
  if (e) {
    snprintf(m->why, sizeof m->why, "%s", cis_vfs_errmsg(m->fs));
    cis_vfs_unmount(m->fs);
    m->fs = NULL;
    return cis_vfs_result(e);
  }
  return CIS_OK;
}

/* Mounts tenant `tenant` of the database `spec` with the default options
 * and opens its root, or fails the test with the VFS's message. */
static inline void mnt_tenant(mnt *m, const char *spec, const char *tenant) {
  cis_vfs_db_config cfg;
  cis_vfs_db_config_default(&cfg);
  cfg.spec = spec;
  cfg.tenant = tenant;
  cis_result rc = mnt_mount(m, &cfg, NULL);
  if (rc != CIS_OK) fail_msg("mount: %s: %s", cis_errname(rc), m->why);
}

/* Removes the SQLite database file at path and the files beside it (its
 * log, shared memory and extent file): a case starts from none. */
static inline void sqlite_files_remove(const char *path) {
  static const char *const sfx[] = {"", "-wal", "-shm", "-ext"};
  for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
    char p[1200];
    snprintf(p, sizeof p, "%s%s", path, sfx[i]);
    unlink(p);
  }
}

static inline int stat_of(mnt *m, const char *path, cis_vfs_stat *st) {
  return cis_vfs_statat(m->root, path, strlen(path), CIS_VFS_FOLLOW, st);
}

/* stat_of of a symlink itself, not of what it names. */
static inline int lstat_of(mnt *m, const char *path, cis_vfs_stat *st) {
  return cis_vfs_statat(m->root, path, strlen(path), 0, st);
}

/* put for a case that expects a refusal: the open's or the write's error
 * (0 when both worked), nothing checked. */
static inline int put_try(mnt *m, const char *path, const void *data, size_t len) {
  cis_vfs_file *f = NULL;
  int e = cis_vfs_openat(m->root, path, strlen(path), CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_TRUNC, &f);
  if (e) return e;
  size_t n = 0;
  e = cis_vfs_pwrite(f, data, len, 0, &n);
  cis_vfs_close(f);
  return e;
}

/* The file at path made (or truncated) to hold exactly data[0..len). */
static inline void put(mnt *m, const char *path, const void *data, size_t len) {
  cis_vfs_file *f = NULL;
  int e = cis_vfs_openat(m->root, path, strlen(path), CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_TRUNC, &f);
  if (e) fail_msg("open %s: %d (%s)", path, e, cis_vfs_errmsg(m->fs));
  size_t n = 0;
  e = cis_vfs_pwrite(f, data, len, 0, &n);
  if (e) fail_msg("write %s: %d (%s)", path, e, cis_vfs_errmsg(m->fs));
  cis_vfs_close(f);
  assert_int_equal(n, len);
}

static inline void put_str(mnt *m, const char *path, const char *s) { put(m, path, s, strlen(s)); }

/* The file at path holds exactly want[0..len). */
static inline void expect(mnt *m, const char *path, const void *want, size_t len) {
  cis_vfs_file *f = NULL;
  int e = cis_vfs_openat(m->root, path, strlen(path), CIS_VFS_READ, &f);
  if (e) fail_msg("open %s: %d (%s)", path, e, cis_vfs_errmsg(m->fs));
  uint8_t *back = malloc(len + 1);
  assert_non_null(back);
  size_t n = 0;
  e = cis_vfs_pread(f, back, len + 1, 0, &n);
  cis_vfs_close(f);
  if (e) fail_msg("read %s: %d (%s)", path, e, cis_vfs_errmsg(m->fs));
  if (n != len || memcmp(back, want, len) != 0)
    fail_msg("%s holds \"%.*s\" (%zu bytes), want %zu bytes", path, (int)(n < 64 ? n : 64), (const char *)back,
             n, len);
  free(back);
}

static inline void expect_str(mnt *m, const char *path, const char *want) {
  expect(m, path, want, strlen(want));
}

/* Forks a writer that runs run(fd, arg) (it must not return: it exits or
 * execs) and writes one byte to fd once its first write is done; returns
 * its pid when that byte came, or fails the test when the writer ended
 * first. For the tests that kill a writer in the middle of its writes. */
static inline pid_t vfsdb_spawn_writer(void (*run)(int fd, void *arg), void *arg) {
  int p[2];
  assert_int_equal(pipe(p), 0);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(p[0]);
    run(p[1], arg);
    _exit(127);
  }
  close(p[1]);
  char c;
  ssize_t r = read(p[0], &c, 1);
  close(p[0]);
  if (r != 1) {
    int st = 0;
    waitpid(pid, &st, 0);
    fail_msg("the writer died before its first write (status %d)", st);
  }
  return pid;
}

#endif
