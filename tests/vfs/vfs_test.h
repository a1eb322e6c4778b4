/*
 * This file implements what the VFS test programs share
 * (test_vfs_conformance.c, test_vfs_host.c): a case's mount, whole-file
 * and error-only helpers over the cis_vfs path API, and the host-side
 * chores (removing a tree, counting the process's descriptors).
 */
#ifndef CIS_TEST_VFS_TEST_H
#define CIS_TEST_VFS_TEST_H

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cis/cis_vfs.h"

/* A path argument: the bytes and their length. */
#define P(s) (s), strlen(s)

/* A case's mount and its root directory. */
typedef struct T {
  cis_vfs *fs;        /* the mount */
  cis_vfs_file *root; /* its root, open */
} T;

static inline void unmount(T *t) {
  cis_vfs_close(t->root);
  cis_vfs_unmount(t->fs);
  t->root = NULL;
  t->fs = NULL;
}

/* Reads a whole file (up to cap bytes) into buf, opened with READ plus
 * extra; returns its length (buf NUL-terminated when it fits). */
static inline size_t get(cis_vfs_file *base, const char *path, uint32_t extra, char *buf, size_t cap) {
  cis_vfs_file *f = NULL;
  size_t k = 0;
  int e = cis_vfs_openat(base, P(path), CIS_VFS_READ | extra, &f);
  if (e) fail_msg("get %s: %s (%s)", path, strerror(e), cis_vfs_errmsg(cis_vfs_file_mount(base)));
  assert_int_equal(cis_vfs_pread(f, buf, cap, 0, &k), 0);
  cis_vfs_close(f);
  if (k < cap) buf[k] = '\0';
  return k;
}

/* The error of a stat, of an open (which hands out no file on failure). */
static inline int stat_err(cis_vfs_file *base, const char *path, uint32_t flags) {
  cis_vfs_stat st;
  return cis_vfs_statat(base, P(path), flags, &st);
}

static inline int open_err(cis_vfs_file *base, const char *path, uint32_t flags) {
  cis_vfs_file *f = NULL;
  int e = cis_vfs_openat(base, P(path), flags, &f);
  if (e == 0) cis_vfs_close(f);
  else assert_null(f);
  return e;
}

/* Descriptors this process holds: a backend that leaks one shows here. */
static inline int count_fds(void) {
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  while (readdir(d)) n++;
  closedir(d);
  return n;
}

static inline int vfs_test_chmod_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)ftw;
  if (flag == FTW_D || flag == FTW_DNR || S_ISDIR(st->st_mode)) chmod(path, 0755);
  return 0;
}

static inline int vfs_test_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

/* Removes a host tree, unreadable directories included. */
static inline void rm_rf(const char *path) {
  nftw(path, vfs_test_chmod_one, 16, FTW_PHYS);
  nftw(path, vfs_test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif /* CIS_TEST_VFS_TEST_H */
