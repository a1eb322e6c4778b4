/*
 * This file implements, for the tests of the SQLite filesystem backend, a
 * pass-through SQLite VFS: installed as the default, it forwards every
 * call to the VFS that was the default before, except the file methods a
 * test gives its own (to count what reaches the disk, or to make the disk
 * fail). The backend's next open goes through it.
 */
#ifndef CIS_TEST_SQLITE_SHIM_H
#define CIS_TEST_SQLITE_SHIM_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sqlite3.h>

/* One open file: ours, then the real VFS's right after it. */
typedef struct cis_test_shim_file {
  sqlite3_file base;  /* our methods */
  sqlite3_file *real; /* the real VFS's file */
  int flags;          /* the open's SQLITE_OPEN_* flags (WAL, MAIN_DB, ...) */
} cis_test_shim_file;

/* The real file under f, for a test's own method to forward to. */
#define CIS_SHIM_REAL(f) (((cis_test_shim_file *)(f))->real)
/* The flags f was opened with. */
#define CIS_SHIM_FLAGS(f) (((cis_test_shim_file *)(f))->flags)

static struct {
  sqlite3_vfs *real;     /* the default VFS before the shim */
  sqlite3_vfs vfs;       /* the shim */
  sqlite3_io_methods io; /* its file methods */
} cis_test_shim;

#define SHIM_F(f) CIS_SHIM_REAL(f)->pMethods
static int shim_close(sqlite3_file *f) { return SHIM_F(f)->xClose(CIS_SHIM_REAL(f)); }
static int shim_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o) {
  return SHIM_F(f)->xRead(CIS_SHIM_REAL(f), b, n, o);
}
static int shim_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o) {
  return SHIM_F(f)->xWrite(CIS_SHIM_REAL(f), b, n, o);
}
static int shim_truncate(sqlite3_file *f, sqlite3_int64 n) {
  return SHIM_F(f)->xTruncate(CIS_SHIM_REAL(f), n);
}
static int shim_sync(sqlite3_file *f, int fl) { return SHIM_F(f)->xSync(CIS_SHIM_REAL(f), fl); }
static int shim_size(sqlite3_file *f, sqlite3_int64 *n) {
  return SHIM_F(f)->xFileSize(CIS_SHIM_REAL(f), n);
}
static int shim_lock(sqlite3_file *f, int l) { return SHIM_F(f)->xLock(CIS_SHIM_REAL(f), l); }
static int shim_unlock(sqlite3_file *f, int l) { return SHIM_F(f)->xUnlock(CIS_SHIM_REAL(f), l); }
static int shim_check(sqlite3_file *f, int *o) {
  return SHIM_F(f)->xCheckReservedLock(CIS_SHIM_REAL(f), o);
}
static int shim_fcntl(sqlite3_file *f, int op, void *a) {
  return SHIM_F(f)->xFileControl(CIS_SHIM_REAL(f), op, a);
}
static int shim_sector(sqlite3_file *f) { return SHIM_F(f)->xSectorSize(CIS_SHIM_REAL(f)); }
static int shim_dev(sqlite3_file *f) { return SHIM_F(f)->xDeviceCharacteristics(CIS_SHIM_REAL(f)); }
static int shim_shmmap(sqlite3_file *f, int i, int sz, int ext, void volatile **pp) {
  return SHIM_F(f)->xShmMap(CIS_SHIM_REAL(f), i, sz, ext, pp);
}
static int shim_shmlock(sqlite3_file *f, int o, int n, int fl) {
  return SHIM_F(f)->xShmLock(CIS_SHIM_REAL(f), o, n, fl);
}
static void shim_shmbarrier(sqlite3_file *f) { SHIM_F(f)->xShmBarrier(CIS_SHIM_REAL(f)); }
static int shim_shmunmap(sqlite3_file *f, int del) { return SHIM_F(f)->xShmUnmap(CIS_SHIM_REAL(f), del); }
#undef SHIM_F

static int shim_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out) {
  (void)v;
  cis_test_shim_file *sf = (cis_test_shim_file *)f;
  sf->real = (sqlite3_file *)(sf + 1);
  sf->flags = flags;
  int rc = cis_test_shim.real->xOpen(cis_test_shim.real, name, sf->real, flags, out);
  sf->base.pMethods = rc == SQLITE_OK ? &cis_test_shim.io : NULL;
  return rc;
}
static int shim_delete(sqlite3_vfs *v, const char *n, int s) {
  (void)v;
  return cis_test_shim.real->xDelete(cis_test_shim.real, n, s);
}
static int shim_access(sqlite3_vfs *v, const char *n, int fl, int *o) {
  (void)v;
  return cis_test_shim.real->xAccess(cis_test_shim.real, n, fl, o);
}
static int shim_full(sqlite3_vfs *v, const char *n, int c, char *o) {
  (void)v;
  return cis_test_shim.real->xFullPathname(cis_test_shim.real, n, c, o);
}
static int shim_random(sqlite3_vfs *v, int n, char *o) {
  (void)v;
  return cis_test_shim.real->xRandomness(cis_test_shim.real, n, o);
}
static int shim_sleep(sqlite3_vfs *v, int us) {
  (void)v;
  return cis_test_shim.real->xSleep(cis_test_shim.real, us);
}
static int shim_time(sqlite3_vfs *v, double *t) {
  (void)v;
  return cis_test_shim.real->xCurrentTime(cis_test_shim.real, t);
}
static int shim_lasterr(sqlite3_vfs *v, int n, char *o) {
  (void)v;
  return cis_test_shim.real->xGetLastError ? cis_test_shim.real->xGetLastError(cis_test_shim.real, n, o) : 0;
}

/* Makes the shim, called name, the default VFS: the file methods set in
 * own (NULL: none) replace the forwarding ones. */
static inline void cis_test_shim_install(const char *name, const sqlite3_io_methods *own) {
  cis_test_shim.real = sqlite3_vfs_find(NULL);
  assert_non_null(cis_test_shim.real);
  cis_test_shim.vfs = (sqlite3_vfs){
      .iVersion = 1,
      .szOsFile = (int)sizeof(cis_test_shim_file) + cis_test_shim.real->szOsFile,
      .mxPathname = cis_test_shim.real->mxPathname,
      .zName = name,
      .xOpen = shim_open,
      .xDelete = shim_delete,
      .xAccess = shim_access,
      .xFullPathname = shim_full,
      .xRandomness = shim_random,
      .xSleep = shim_sleep,
      .xCurrentTime = shim_time,
      .xGetLastError = shim_lasterr,
  };
  sqlite3_io_methods io = {
      .iVersion = 2,
      .xClose = shim_close,
      .xRead = shim_read,
      .xWrite = shim_write,
      .xTruncate = shim_truncate,
      .xSync = shim_sync,
      .xFileSize = shim_size,
      .xLock = shim_lock,
      .xUnlock = shim_unlock,
      .xCheckReservedLock = shim_check,
      .xFileControl = shim_fcntl,
      .xSectorSize = shim_sector,
      .xDeviceCharacteristics = shim_dev,
      .xShmMap = shim_shmmap,
      .xShmLock = shim_shmlock,
      .xShmBarrier = shim_shmbarrier,
      .xShmUnmap = shim_shmunmap,
  };
  if (own) {
#define OWN(m) \
  if (own->m) io.m = own->m
    OWN(xClose);
    OWN(xRead);
    OWN(xWrite);
    OWN(xTruncate);
    OWN(xSync);
    OWN(xFileSize);
    OWN(xLock);
    OWN(xUnlock);
    OWN(xCheckReservedLock);
    OWN(xFileControl);
    OWN(xSectorSize);
    OWN(xDeviceCharacteristics);
    OWN(xShmMap);
    OWN(xShmLock);
    OWN(xShmBarrier);
    OWN(xShmUnmap);
#undef OWN
  }
  cis_test_shim.io = io;
  assert_int_equal(sqlite3_vfs_register(&cis_test_shim.vfs, 1), SQLITE_OK);
}

/* Makes the VFS the default again that was before the shim (connections
 * opened through the shim keep it). */
static inline void cis_test_shim_remove(void) {
  sqlite3_vfs_unregister(&cis_test_shim.vfs);
  sqlite3_vfs_register(cis_test_shim.real, 1);
}

#endif
