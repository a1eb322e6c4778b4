/*
 * This file implements, for the suites that check what still works on a
 * full disk (KV, the filesystem database, skills), one way to make one: a
 * 1 MiB tmpfs mounted at a folder of the test's, filled up with a file.
 * Mounting needs privileges; where it is refused the test skips with a
 * message saying why.
 */
#ifndef CIS_TEST_FULL_DISK_H
#define CIS_TEST_FULL_DISK_H

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

/* Mounts a fresh 1 MiB tmpfs at dir (made when missing). Returns 0, or -1
 * after printing why, for the caller to skip(). */
static inline int cis_test_small_disk(const char *test, const char *dir) {
  umount2(dir, MNT_DETACH);
  mkdir(dir, 0755);
  if (mount("tmpfs", dir, "tmpfs", 0, "size=1m") != 0) {
    fprintf(stderr, "%s: cannot mount a tmpfs (%s): skipped\n", test, strerror(errno));
    return -1;
  }
  return 0;
}

/* Fills the disk at dir with dir/fill until it refuses (bounded by its
 * size). Returns 0 when the disk is really full. */
static inline int cis_test_fill_disk(const char *dir) {
  char path[4200];
  snprintf(path, sizeof path, "%s/fill", dir);
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  static char block[4096];
  for (int i = 0; i < 1024 && fwrite(block, 1, sizeof block, f) == sizeof block; i++) {
  }
  fclose(f);
  f = fopen(path, "ab");
  if (!f) return -1;
  int full = fwrite(block, 1, sizeof block, f) < sizeof block || fflush(f) != 0;
  fclose(f);
  return full ? 0 : -1;
}

/* Unmounts the disk at dir and removes the folder. */
static inline void cis_test_small_disk_gone(const char *dir) {
  umount2(dir, MNT_DETACH);
  rmdir(dir);
}

#endif /* CIS_TEST_FULL_DISK_H */
