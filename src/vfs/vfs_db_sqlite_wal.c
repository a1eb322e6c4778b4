/*
 * This file implements "cis-walbuf", the SQLite VFS the database
 * filesystem's own connections open their file with (vfs_db_sqlite.c): the
 * default VFS, except that the writes of the write-ahead log are gathered
 * in memory and reach the file as one write per transaction.
 *
 * Why: SQLite writes every WAL frame as two writes (its 24-byte header,
 * then the page), so a commit that dirties 8 pages costs 16 write system
 * calls, and a 64 MiB file 32768. On virtual machines where a system call
 * costs ~10 us that is most of a small file's commit and most of a large
 * file's time. Gathered, a commit is one pwrite of all its frames.
 *
 * Why it is safe: other connections read a frame only once the WAL index
 * (shared memory, not this file) says it is committed, and SQLite updates
 * the index only after the commit frame has been written. The commit frame
 * is the one whose header carries the database size after the commit (the
 * documented WAL format: header bytes 4..7, zero in every other frame), so
 * the buffer is written out as soon as a commit frame is complete: before
 * SQLite's write of it returns, so before the index can point at it. A
 * process that dies with frames still in the buffer had not committed
 * them, which is what a crash in the middle of the frame writes gives
 * anyway (WAL recovery ignores frames after the last valid commit frame).
 * Every other access to the WAL (read, size, truncate, sync, close) and
 * every write that does not continue the buffer writes it out first, so
 * this connection never reads around its own buffer. Frames still
 * gathered when the log's write lock is released belong to a transaction
 * that rolled back after spilling pages: they are dropped then, before
 * another connection can write the log (wb_shm_lock).
 *
 * The checkpoint too: SQLite copies it page by page, a pread of the log
 * and a pwrite of the database file for each (32768 system calls for the
 * 64 MiB file at 4 KiB pages). Between the SQLITE_FCNTL_CKPT_START and
 * SQLITE_FCNTL_CKPT_DONE file controls SQLite issues on the database file
 * around that copy (wal.c, walCheckpoint, 3.31 and later), the log is
 * read ahead when its frames come in order and the database file's pages
 * are gathered into runs of contiguous pages. Why it is safe: the pages
 * copied are only published (nBackfill in the WAL index, which tells
 * readers to take them from the database file) after CKPT_DONE, and
 * CKPT_DONE writes every gathered page out first; a complete checkpoint
 * also truncates and syncs the database file in between, so under
 * synchronous=NORMAL/FULL what is published is on disk as before. The
 * frames read stay unchanged while the checkpoint runs (the log is only
 * restarted once all of it is backfilled, which this checkpoint has not
 * published yet), and the read-ahead is dropped at CKPT_DONE. SQLite
 * ignores CKPT_DONE's result, so a gathered write must not fail for want
 * of space: pages are gathered only below the size the file already has,
 * or has been grown to (zeros written past the database's end when SQLite
 * announces the size it needs, SQLITE_FCNTL_SIZE_HINT); pages beyond are
 * written straight through. A write that fails all the same (an I/O
 * error) is returned by the checkpoint's next call on the file (a
 * complete checkpoint's truncate or sync, so it publishes nothing), but a
 * partial checkpoint (one a reader holds back) has no such call before
 * it publishes: there an I/O error of the disk at that write is not
 * seen, where SQLite alone would have stopped. The rest passes straight
 * through.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vfs/vfs_db_internal.h"

#define WB_NAME "cis-walbuf"
/* Most bytes gathered before they are written anyway: the unix VFS writes
 * at most 0x1ffff bytes a call (it masks larger counts). */
#define WB_CAP 0x1ffffu
#define WB_ZERO 0x1f000u /* a write of zeros that grows the file: 124 KiB, whole pages */
#define WB_AHEAD (256u * 1024) /* the log read ahead of a checkpoint, per read */
#define WAL_HDR 32        /* the WAL file's header */
#define FRAME_HDR 24      /* a frame's header, before its page */
#define WIX_HDR 48        /* the WAL index header (WalIndexHdr), kept twice at the start of
                             the shared memory: copy 0 at 0, copy 1 at 48 */

typedef struct wb_file {
  sqlite3_file base;         /* must stay first: pMethods is one of wb_io */
  sqlite3_file *real;        /* the default VFS's file (malloc'd: the default's size) */
  bool wal;                  /* a WAL file: its writes are gathered */
  uint32_t frame;            /* bytes of a frame (24 + page size) from the WAL header;
                                0: not known yet, writes pass straight through */
  unsigned char *buf;        /* gathered bytes (malloc'd on first use) */
  size_t len;                /* bytes in buf */
  sqlite3_int64 off;         /* file offset of buf[0] */
  sqlite3_int64 commit_end;  /* end of a commit frame begun in buf; 0: none */
  struct wb_file *peer;      /* WAL: its database file; database: its open WAL; or NULL */
  bool ckpt;                 /* database: between CKPT_START and CKPT_DONE (writes gathered) */
  sqlite3_int64 room;        /* database, in a checkpoint: bytes of the file that exist,
                                so a gathered write there cannot fail for space */
  int err;                   /* database: the last checkpoint's failed write, returned by the
                                next truncate or sync */
  unsigned char *ahead;      /* WAL: bytes read ahead for a checkpoint (malloc'd on first use) */
  size_t ahead_len;          /* bytes in ahead; 0: none */
  sqlite3_int64 ahead_off;   /* file offset of ahead[0] */
  sqlite3_int64 next_read;   /* offset where a read that continues the last one starts */
  sqlite3_int64 end;         /* the log's size, read once per checkpoint; 0: not yet */
  const volatile unsigned char *shm0; /* database: the WAL index's first region, as mapped
                                         (its header); NULL: not mapped */
  unsigned char stamp[WIX_HDR]; /* database: the index header when this connection last
                                   released the log's write lock */
  bool stamped;              /* stamp holds one */
} wb_file;

static sqlite3_vfs wb_vfs;    /* this one (registered once, never the default) */
static pthread_once_t wb_once = PTHREAD_ONCE_INIT;
static int wb_rc = SQLITE_ERROR; /* the registration's result */

/* The VFS that does the work: whichever is the default when it is asked
 * (so a VFS an embedder or a test installs as the default still serves). */
static sqlite3_vfs *wb_root(void) { return sqlite3_vfs_find(NULL); }

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Learns the frame size from the WAL header (written or read at offset 0):
 * the magic, then the format version, then the page size. */
static void wb_learn(wb_file *f, const void *p, int n, sqlite3_int64 off) {
  const unsigned char *h = p;
  if (off != 0 || n < WAL_HDR || (be32(h) & ~1u) != 0x377f0682u) return;
  uint32_t ps = be32(h + 8);
  if (ps == 1) ps = 65536; /* the format's spelling of 64 KiB */
  f->frame = ps >= 512 && ps <= 65536 && !(ps & (ps - 1)) ? FRAME_HDR + ps : 0;
}

/* Learns the frame size of a log another connection began: this one
 * never wrote or read its header (SQLite reads it only to recover), so
 * it is read once. */
static void wb_learn_from_file(wb_file *f) {
  unsigned char h[WAL_HDR];
  if (f->real->pMethods->xRead(f->real, h, WAL_HDR, 0) == SQLITE_OK) wb_learn(f, h, WAL_HDR, 0);
}

/* Writes the gathered bytes out. On failure they are dropped: they were
 * frames of a transaction, or pages of a checkpoint, that then fails. */
static int wb_flush(wb_file *f) {
  if (!f->len) return SQLITE_OK;
  int rc = f->real->pMethods->xWrite(f->real, f->buf, (int)f->len, f->off);
  /* A commit frame whose page is still to come keeps its mark. */
  if (f->commit_end && f->off + (sqlite3_int64)f->len >= f->commit_end) f->commit_end = 0;
  f->len = 0;
  return rc;
}

/* A checkpoint's write of database pages: gathered while they continue
 * the buffer and stay inside the file's room, written out at CKPT_DONE. */
static int wb_db_write(wb_file *f, const void *p, int n, sqlite3_int64 off) {
  bool gather = f->ckpt && n > 0 && (size_t)n <= WB_CAP && off + n <= f->room;
  if (f->len && (!gather || off != f->off + (sqlite3_int64)f->len || f->len + (size_t)n > WB_CAP)) {
    int rc = wb_flush(f);
    if (rc != SQLITE_OK) return rc;
  }
  if (gather && !f->buf && !(f->buf = malloc(WB_CAP))) gather = false;
  if (!gather) return f->real->pMethods->xWrite(f->real, p, n, off);
  if (!f->len) f->off = off;
  memcpy(f->buf + f->len, p, (size_t)n);
  f->len += (size_t)n;
  return SQLITE_OK;
}

static void wb_ahead_drop(wb_file *wal) {
  wal->ahead_len = 0;
  wal->next_read = -1;
  wal->end = 0;
}

static int wb_write(sqlite3_file *file, const void *p, int n, sqlite3_int64 off) {
  wb_file *f = (wb_file *)file;
  if (!f->wal) return wb_db_write(f, p, n, off);
  if (f->ahead_len) wb_ahead_drop(f);
  if (off == 0) wb_learn(f, p, n, off);
  if (!f->frame && off >= WAL_HDR) wb_learn_from_file(f);
  bool gather = f->frame && off >= WAL_HDR && n > 0 && (size_t)n <= WB_CAP;
  if (f->len && (!gather || off != f->off + (sqlite3_int64)f->len || f->len + (size_t)n > WB_CAP)) {
    int rc = wb_flush(f);
    if (rc != SQLITE_OK) return rc;
  }
  if (gather && !f->buf && !(f->buf = malloc(WB_CAP))) gather = false;
  if (!gather) return f->real->pMethods->xWrite(f->real, p, n, off);
  /* A frame's header at a frame boundary: a commit frame when its
   * "database size after commit" is not zero. */
  if ((off - WAL_HDR) % f->frame == 0 && n >= 8 && be32((const unsigned char *)p + 4))
    f->commit_end = off + f->frame;
  if (!f->len) f->off = off;
  memcpy(f->buf + f->len, p, (size_t)n);
  f->len += (size_t)n;
  if (f->commit_end && f->off + (sqlite3_int64)f->len >= f->commit_end) return wb_flush(f);
  return SQLITE_OK;
}

/* A checkpoint's read of a frame's page from the log: served from the
 * bytes read ahead, or, when it continues the last read (frames copied in
 * order), read ahead by WB_AHEAD. 1 when it served the read. */
static int wb_wal_ahead(wb_file *f, void *p, int n, sqlite3_int64 off, int *rc) {
  if (!f->peer || !f->peer->ckpt) return 0;
  if (!f->frame) wb_learn_from_file(f); /* a checkpointer that never wrote the log */
  if (!f->frame || n != (int)(f->frame - FRAME_HDR)) return 0;
  sqlite3_int64 next = f->next_read;
  f->next_read = off + f->frame;
  if (f->ahead_len && off >= f->ahead_off &&
      off + n <= f->ahead_off + (sqlite3_int64)f->ahead_len) {
    memcpy(p, f->ahead + (off - f->ahead_off), (size_t)n);
    *rc = SQLITE_OK;
    return 1;
  }
  if (off != next) return 0;
  if (!f->end && f->real->pMethods->xFileSize(f->real, &f->end) != SQLITE_OK) f->end = 0;
  sqlite3_int64 want = f->end - off;
  if (want > (sqlite3_int64)WB_AHEAD) want = WB_AHEAD;
  if (want < n || (!f->ahead && !(f->ahead = malloc(WB_AHEAD)))) return 0;
  f->ahead_len = 0;
  if (f->real->pMethods->xRead(f->real, f->ahead, (int)want, off) != SQLITE_OK) return 0;
  f->ahead_off = off;
  f->ahead_len = (size_t)want;
  memcpy(p, f->ahead, (size_t)n);
  *rc = SQLITE_OK;
  return 1;
}

static int wb_read(sqlite3_file *file, void *p, int n, sqlite3_int64 off) {
  wb_file *f = (wb_file *)file;
  int rc = wb_flush(f);
  if (rc == SQLITE_OK && f->wal && wb_wal_ahead(f, p, n, off, &rc)) return rc;
  if (rc == SQLITE_OK) rc = f->real->pMethods->xRead(f->real, p, n, off);
  if (f->wal && rc == SQLITE_OK) wb_learn(f, p, n, off);
  return rc;
}

static int wb_close(sqlite3_file *file) {
  wb_file *f = (wb_file *)file;
  int rc = wb_flush(f);
  if (f->peer) f->peer->peer = NULL;
  int rc2 = f->real->pMethods->xClose(f->real);
  free(f->buf);
  free(f->ahead);
  f->ahead = NULL;
  free(f->real);
  f->buf = NULL;
  f->real = NULL;
  return rc != SQLITE_OK ? rc : rc2;
}

/* The error of a checkpoint's gathered write that failed at CKPT_DONE
 * (which cannot report it), for the checkpoint's next call on the file. */
static int wb_take_err(wb_file *f) {
  int rc = f->err;
  f->err = SQLITE_OK;
  return rc;
}

static int wb_truncate(sqlite3_file *file, sqlite3_int64 size) {
  wb_file *f = (wb_file *)file;
  if (f->ahead_len) wb_ahead_drop(f);
  int rc = wb_flush(f);
  if (rc == SQLITE_OK) rc = wb_take_err(f);
  return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int wb_sync(sqlite3_file *file, int flags) {
  wb_file *f = (wb_file *)file;
  int rc = wb_flush(f);
  if (rc == SQLITE_OK) rc = wb_take_err(f);
  return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int wb_size(sqlite3_file *file, sqlite3_int64 *size) {
  wb_file *f = (wb_file *)file;
  int rc = wb_flush(f);
  return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

/* Makes the database file at least `want` bytes, written (zeros), so
 * the checkpoint's gathered writes below that size cannot fail for space:
 * a size hint through the default VFS would do it one byte per block
 * (Debian's SQLite has no posix_fallocate), so it is written here in
 * large writes, into space no reader looks at (past the database's end).
 * The room grows with each write that succeeded. */
static void wb_reserve(wb_file *f, sqlite3_int64 want) {
  if (want <= f->room || f->len) return;
  if (!f->buf && !(f->buf = malloc(WB_CAP))) return;
  memset(f->buf, 0, WB_CAP);
  while (f->room < want) {
    sqlite3_int64 n = want - f->room;
    if (n > (sqlite3_int64)WB_ZERO) n = WB_ZERO;
    if (f->real->pMethods->xWrite(f->real, f->buf, (int)n, f->room) != SQLITE_OK) return;
    f->room += n;
  }
}

/* The checkpoint's file controls on the database file (module comment). */
static int wb_fcntl(sqlite3_file *file, int op, void *arg) {
  wb_file *f = (wb_file *)file;
  sqlite3_file *r = f->real;
  if (!f->wal && op == SQLITE_FCNTL_CKPT_START) {
    int rc = wb_flush(f);
    f->err = rc;
    f->ckpt = true;
    if (r->pMethods->xFileSize(r, &f->room) != SQLITE_OK) f->room = 0;
    if (f->peer) wb_ahead_drop(f->peer);
  } else if (!f->wal && op == SQLITE_FCNTL_CKPT_DONE) {
    int rc = wb_flush(f);
    if (rc != SQLITE_OK) f->err = rc;
    f->ckpt = false;
    if (f->peer) wb_ahead_drop(f->peer);
  } else if (!f->wal && op == SQLITE_FCNTL_SIZE_HINT && f->ckpt) {
    wb_reserve(f, *(sqlite3_int64 *)arg);
    return SQLITE_OK;
  } else {
    int rc = wb_flush(f);
    if (rc != SQLITE_OK) return rc;
  }
  return r->pMethods->xFileControl(r, op, arg);
}

/* The rest passes straight through (the database file's gathered pages,
 * if any, written out first). */
#define REAL(file) (((wb_file *)(file))->real)
static int wb_lock(sqlite3_file *file, int l) {
  int rc = wb_flush((wb_file *)file);
  return rc != SQLITE_OK ? rc : REAL(file)->pMethods->xLock(REAL(file), l);
}
static int wb_unlock(sqlite3_file *file, int l) {
  int rc = wb_flush((wb_file *)file); /* the lock goes all the same */
  int rc2 = REAL(file)->pMethods->xUnlock(REAL(file), l);
  return rc != SQLITE_OK ? rc : rc2;
}
static int wb_reserved(sqlite3_file *file, int *out) {
  return REAL(file)->pMethods->xCheckReservedLock(REAL(file), out);
}
static int wb_sector(sqlite3_file *file) { return REAL(file)->pMethods->xSectorSize(REAL(file)); }
static int wb_caps(sqlite3_file *file) {
  return REAL(file)->pMethods->xDeviceCharacteristics(REAL(file));
}
static int wb_shm_map(sqlite3_file *file, int pg, int pgsz, int extend, void volatile **pp) {
  int rc = REAL(file)->pMethods->xShmMap(REAL(file), pg, pgsz, extend, pp);
  if (rc == SQLITE_OK && pg == 0 && *pp && pgsz >= 2 * WIX_HDR)
    ((wb_file *)file)->shm0 = (const volatile unsigned char *)*pp;
  return rc;
}

/* Copies the WAL index header as SQLite reads it without a lock: copy 0,
 * a barrier, copy 1 (a writer writes copy 1, then copy 0). False when the
 * two differ (a commit being published) or nothing is mapped. */
static bool wb_hdr(wb_file *f, unsigned char *out) {
  const volatile unsigned char *h = f->shm0;
  if (!h) return false;
  for (int i = 0; i < WIX_HDR; i++) out[i] = h[i];
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  for (int i = 0; i < WIX_HDR; i++)
    if (h[WIX_HDR + i] != out[i]) return false;
  return out[12] != 0; /* isInit */
}
/* The WAL's write lock (shared-memory lock 0) released: every frame of a
 * commit went out with its commit frame, so what is still gathered
 * belongs to a transaction that rolled back (spilled frames). It is
 * dropped before another connection may write the log: written out
 * later, it would overwrite that connection's frames. */
static int wb_shm_lock(sqlite3_file *file, int ofst, int n, int flags) {
  wb_file *f = (wb_file *)file;
  bool write_unlock = ofst == 0 && flags == (SQLITE_SHM_UNLOCK | SQLITE_SHM_EXCLUSIVE);
  if (f->peer && write_unlock) {
    f->peer->len = 0;
    f->peer->commit_end = 0;
  }
  /* The header changes only under the write lock (a commit, a restart of
   * the log, a recovery): as this connection lets it go, the header is
   * the state its last write transaction saw or made. */
  if (write_unlock) f->stamped = wb_hdr(f, f->stamp);
  return REAL(file)->pMethods->xShmLock(REAL(file), ofst, n, flags);
}
static void wb_shm_barrier(sqlite3_file *file) { REAL(file)->pMethods->xShmBarrier(REAL(file)); }
static int wb_shm_unmap(sqlite3_file *file, int del) {
  wb_file *f = (wb_file *)file;
  f->shm0 = NULL;
  f->stamped = false;
  return REAL(file)->pMethods->xShmUnmap(REAL(file), del);
}
static int wb_fetch(sqlite3_file *file, sqlite3_int64 off, int n, void **pp) {
  int rc = wb_flush((wb_file *)file);
  if (rc != SQLITE_OK) {
    *pp = NULL;
    return rc;
  }
  return REAL(file)->pMethods->xFetch(REAL(file), off, n, pp);
}
static int wb_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p) {
  return REAL(file)->pMethods->xUnfetch(REAL(file), off, p);
}

/* Our methods in the version of the file under them (a version 1 file has
 * no shared memory, so SQLite will not put it in WAL mode; version 2 has
 * no memory mapping): index 0 for version 1, 1 for 2, 2 for 3 and later. */
#define WB_IO(v, shm, fetch)                                                       \
  {                                                                                \
    .iVersion = v, .xClose = wb_close, .xRead = wb_read, .xWrite = wb_write,       \
    .xTruncate = wb_truncate, .xSync = wb_sync, .xFileSize = wb_size,              \
    .xLock = wb_lock, .xUnlock = wb_unlock, .xCheckReservedLock = wb_reserved,     \
    .xFileControl = wb_fcntl, .xSectorSize = wb_sector,                            \
    .xDeviceCharacteristics = wb_caps, .xShmMap = shm ? wb_shm_map : NULL,         \
    .xShmLock = shm ? wb_shm_lock : NULL, .xShmBarrier = shm ? wb_shm_barrier : NULL, \
    .xShmUnmap = shm ? wb_shm_unmap : NULL, .xFetch = fetch ? wb_fetch : NULL,     \
    .xUnfetch = fetch ? wb_unfetch : NULL                                          \
  }
static const sqlite3_io_methods wb_io[3] = {WB_IO(1, 0, 0), WB_IO(2, 1, 0), WB_IO(3, 1, 1)};


static int wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                   int *out_flags) {
  (void)vfs;
  wb_file *f = (wb_file *)file;
  memset(f, 0, sizeof *f);
  sqlite3_vfs *root = wb_root();
  if (!root || root == &wb_vfs) return SQLITE_CANTOPEN;
  if (!(f->real = calloc(1, (size_t)root->szOsFile))) return SQLITE_NOMEM;
  int rc = root->xOpen(root, name, f->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    if (f->real->pMethods) f->real->pMethods->xClose(f->real);
    free(f->real);
    f->real = NULL;
    f->base.pMethods = NULL; /* SQLite then does not close it */
    return rc;
  }
  int v = f->real->pMethods->iVersion;
  f->wal = (flags & SQLITE_OPEN_WAL) != 0;
  f->base.pMethods = &wb_io[v >= 3 ? 2 : v == 2 ? 1 : 0];
  if (f->wal) {
    /* Its database file (opened through this VFS too), whose lock calls
     * say when the log's write lock is released. */
    sqlite3_file *db = sqlite3_database_file_object(name);
    if (db && db->pMethods >= &wb_io[0] && db->pMethods <= &wb_io[2]) {
      f->peer = (wb_file *)db;
      f->peer->peer = f;
    }
  }
  return SQLITE_OK;
}

#define ROOT sqlite3_vfs *r = wb_root()
static int wb_delete(sqlite3_vfs *v, const char *name, int sync) {
  ROOT;
  (void)v;
  return r->xDelete(r, name, sync);
}
static int wb_access(sqlite3_vfs *v, const char *name, int flags, int *out) {
  ROOT;
  (void)v;
  return r->xAccess(r, name, flags, out);
}
static int wb_fullpath(sqlite3_vfs *v, const char *name, int n, char *out) {
  ROOT;
  (void)v;
  return r->xFullPathname(r, name, n, out);
}
static void *wb_dlopen(sqlite3_vfs *v, const char *name) {
  ROOT;
  (void)v;
  return r->xDlOpen ? r->xDlOpen(r, name) : NULL;
}
static void wb_dlerror(sqlite3_vfs *v, int n, char *out) {
  ROOT;
  (void)v;
  if (r->xDlError) r->xDlError(r, n, out);
}
static void (*wb_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void) {
  ROOT;
  (void)v;
  return r->xDlSym ? r->xDlSym(r, h, sym) : NULL;
}
static void wb_dlclose(sqlite3_vfs *v, void *h) {
  ROOT;
  (void)v;
  if (r->xDlClose) r->xDlClose(r, h);
}
static int wb_random(sqlite3_vfs *v, int n, char *out) {
  ROOT;
  (void)v;
  return r->xRandomness(r, n, out);
}
static int wb_sleep(sqlite3_vfs *v, int us) {
  ROOT;
  (void)v;
  return r->xSleep(r, us);
}
static int wb_time(sqlite3_vfs *v, double *out) {
  ROOT;
  (void)v;
  return r->xCurrentTime(r, out);
}
static int wb_lasterr(sqlite3_vfs *v, int n, char *out) {
  ROOT;
  (void)v;
  return r->xGetLastError ? r->xGetLastError(r, n, out) : 0;
}
static int wb_time64(sqlite3_vfs *v, sqlite3_int64 *out) {
  ROOT;
  (void)v;
  if (r->iVersion >= 2 && r->xCurrentTimeInt64) return r->xCurrentTimeInt64(r, out);
  double d = 0;
  int rc = r->xCurrentTime(r, &d);
  *out = (sqlite3_int64)(d * 86400000.0);
  return rc;
}
#undef ROOT

static void wb_register(void) {
  sqlite3_vfs *root = wb_root();
  if (!root) return;
  wb_vfs = (sqlite3_vfs){
      .iVersion = 2,
      .szOsFile = (int)sizeof(wb_file),
      .mxPathname = root->mxPathname,
      .zName = WB_NAME,
      .xOpen = wb_open,
      .xDelete = wb_delete,
      .xAccess = wb_access,
      .xFullPathname = wb_fullpath,
      .xDlOpen = wb_dlopen,
      .xDlError = wb_dlerror,
      .xDlSym = wb_dlsym,
      .xDlClose = wb_dlclose,
      .xRandomness = wb_random,
      .xSleep = wb_sleep,
      .xCurrentTime = wb_time,
      .xGetLastError = wb_lasterr,
      .xCurrentTimeInt64 = wb_time64,
  };
  wb_rc = sqlite3_vfs_register(&wb_vfs, 0);
}

bool cis__vdb_sqlite_walbuf_unchanged(sqlite3_file *file) {
  if (!file || file->pMethods < &wb_io[0] || file->pMethods > &wb_io[2]) return false;
  wb_file *f = (wb_file *)file;
  unsigned char now[WIX_HDR];
  return f->stamped && wb_hdr(f, now) && !memcmp(now, f->stamp, WIX_HDR);
}

int cis__vdb_sqlite_walbuf_backlog(sqlite3_file *file, int frames) {
  if (!file || file->pMethods < &wb_io[0] || file->pMethods > &wb_io[2]) return frames;
  const volatile unsigned char *h = ((wb_file *)file)->shm0;
  if (!h) return frames;
  /* nBackfill: the first field of the checkpoint information that
   * follows the header's two copies (WalCkptInfo), in native order. */
  uint32_t backfilled = __atomic_load_n((const volatile uint32_t *)(h + 2 * WIX_HDR),
                                        __ATOMIC_ACQUIRE);
  return backfilled <= (uint32_t)frames ? frames - (int)backfilled : frames;
}

const char *cis__vdb_sqlite_walbuf(void) {
  pthread_once(&wb_once, wb_register);
  return wb_rc == SQLITE_OK ? WB_NAME : NULL;
}
