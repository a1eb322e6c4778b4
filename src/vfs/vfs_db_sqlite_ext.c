/*
 * This file implements the SQLite backend's extent file: where the blocks
 * of files of CIS__VDB_EXT_MIN (16 KiB) and more live, in a file beside the database (PATH-ext), with
 * only a reference to each in its row of cis_vfs_blocks.
 *
 * Why: a block kept in its row is written three times (into the log, by
 * the checkpoint into the database file, and the log's frames carry a
 * checksum each) and read back page by page. Writing and reading a 64 MiB
 * file that way cost 3.3-3.8x the native write + read however the log was
 * tuned; an extent is one pwrite and one pread, as a native file's data is.
 *
 * How a block is told apart: the row's data column holds the bytes (a
 * BLOB), a whiteout (NULL), or the reference to an extent (TEXT, which no
 * other value of that column ever is):
 *
 *   "OOOOOOOOOOOOOOOOOOO SSSSSSSSSS LLLLLLLLLL HHHHHHHHHHHHHHHH"
 *
 * the extent's offset and its size in the file (decimal, zero-padded),
 * the bytes it holds (at most its size), and the XXH3 hash of those bytes
 * (hex). Every field has a fixed place, so SQL reads the bytes with
 * substr (vfs_db_sql.c's DATA_BYTES) and references sort by offset.
 *
 * Safety rests on three rules:
 *   - An extent is written once, before the row that names it commits,
 *     and never changed while a committed row names it: a write of a
 *     block makes a new extent and frees the row's old one.
 *   - Freeing follows SQLite's changes, not our statements: SQLite's
 *     pre-update hook shows every row of cis_vfs_blocks a statement
 *     deletes or whose data it replaces, whatever statement it is (a
 *     write, a truncate, a rollback to a snapshot, a compaction, a
 *     tenant's deletion), and once the statement has finished well the
 *     references it dropped go into cis_vfs_ext_free, in the same
 *     transaction: a statement or transaction rolled back frees nothing.
 *     (Triggers did this first; their sub-program ran for every block
 *     row deleted or upserted, small or not, and cost a small file's
 *     create + read + unlink 13% more instructions.) Extents are handed
 *     out under the database's write lock, so by one writer at a time:
 *     from the free list, except those freed by the transaction asking
 *     (its rows come back if it rolls back), or past the file's end. The
 *     disk space of freed extents is given back (a hole punched) by the
 *     connection's next write transaction, which holds the lock, so no
 *     other writer can have reused them since (right after the commit
 *     one could), or as the connection closes; what a rolled-back
 *     transaction appended, after its rollback. A tool that changes the rows without
 *     cis (the sqlite3 shell) frees nothing: what it drops is never
 *     reused.
 *   - A reader that still sees an old row may find its extent reused or
 *     punched by then: the hash tells, and the read is made again on a
 *     fresh snapshot (CIS__VDB_STALE). Inside a write transaction nothing
 *     else can have moved the extent, so a wrong hash there is damage
 *     (EIO), as it is when fresh snapshots keep finding it.
 *
 * Durability: under synchronous=FULL the extent file is synced before
 * every commit that wrote to it, so a commit on disk has its data on disk.
 * Under NORMAL it is synced by flush() and before every checkpoint
 * (vfs_db_sqlite_ckpt.c), so a power loss can leave the blocks of the
 * last commits unreadable (EIO, never wrong bytes), where rows kept in the
 * log would have undone those commits whole. A crash of the process loses
 * nothing: the data is in the page cache. A process killed inside a
 * transaction leaves what it appended as dead space in the file (not on
 * the free list, never reused) until a compaction punches it
 * (cis__vdb_ext_reclaim).
 *
 * A borrowed connection (the KV store's, db/db_txn.h) keeps its blocks
 * in the rows: its transaction ends in code that does not know of
 * extents. It still frees (the hook is set while it is borrowed); the
 * space it freed is reused by later transactions, not punched.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* fallocate */
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
/* Debian's SQLite is built with the pre-update hook; its header declares
 * the hook's functions only when told so. */
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define XXH_INLINE_ALL /* the hash compiled in: nothing more to load at start-up */
#include <xxhash.h>

#include "vfs/vfs_db_internal.h"

#define DIALECT "sqlite"
#define GRAIN 4096u                    /* extents start and end on pages: holes punch whole */
#define REF_LEN 58                     /* see the format above */
#define MAX_EXTENT (16u * 1024 * 1024) /* the largest block a tenant may have */
#define NONE_MAX 8                     /* sizes a transaction found no free extent of */

_Static_assert(REF_LEN < CIS__VDB_EXT_REF_MAX, "a reference and its NUL fit ref[]");

const char cis__vdb_ext_schema[] =
    "CREATE TABLE IF NOT EXISTS cis_vfs_ext_free ("
    " ref TEXT PRIMARY KEY, size INTEGER NOT NULL, gen INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS cis_vfs_ext_free_size ON cis_vfs_ext_free (size);"
    "CREATE INDEX IF NOT EXISTS cis_vfs_ext_free_gen ON cis_vfs_ext_free (gen);";

/* An extent a statement dropped. */
typedef struct ext_ref {
  uint32_t size;
  char ref[REF_LEN + 1];
} ext_ref;

typedef struct ext_list {
  ext_ref *v;
  size_t n, cap;
} ext_list;

struct cis__vdb_ext {
  sqlite3 *db;             /* the connection whose transactions these are */
  char *errmsg;            /* its detail buffer (not owned) */
  int fd;                  /* the extent file; -1: none (references read as EIO) */
  bool writable;           /* blocks may go to the file (own connection, file opened RW) */
  bool full_sync;          /* synchronous=FULL: sync the file before a commit that wrote it */
  bool dir_synced;         /* FULL: the directory's entry of the file synced once */
  char *dir;               /* the directory holding the file (FULL), or NULL */
  uint64_t token;          /* this write transaction's mark in cis_vfs_ext_free.gen */
  uint64_t tokens;         /* the last token handed out */
  bool in_tx;              /* a write transaction of this connection is open */
  int64_t end;             /* where the next appended extent goes; -1: not known yet */
  int64_t first_append;    /* the first byte this transaction appended; -1: none */
  bool wrote;              /* this transaction wrote an extent */
  ext_list stmt;           /* what the running statement dropped */
  size_t freed;            /* extents this transaction put on the free list */
  uint64_t pending;        /* the token of the last commit that freed extents, whose holes
                              the next write transaction punches; 0: none */
  uint32_t none[NONE_MAX]; /* sizes of which no free extent is usable in it */
  int nnone;
  sqlite3_stmt *q_take;  /* a usable free extent of a size */
  sqlite3_stmt *q_claim; /* its row taken off the free list */
  sqlite3_stmt *q_free;  /* an extent put on the free list */
  sqlite3_stmt *q_mine;  /* what a transaction put there and is still there */
  uint8_t *buf;          /* the last extent read by _get */
  size_t cap;
  char stale[REF_LEN];   /* the last reference that failed its hash outside a write
                            transaction in this method; failing again, it is damaged */
};

#define FAIL(x, err, ...) cis__vdb_fail((x)->errmsg, DIALECT, (err), __VA_ARGS__)

/* Parses a reference: 0, or -1 when it is not one. */
static int ref_parse(const char *s, size_t n, int64_t *off, uint32_t *size, uint32_t *len,
                     uint64_t *sum) {
  if (!s || n != REF_LEN || s[19] != ' ' || s[30] != ' ' || s[41] != ' ') return -1;
  uint64_t v[3] = {0, 0, 0};
  const int at[3] = {0, 20, 31}, width[3] = {19, 10, 10};
  for (int f = 0; f < 3; f++)
    for (int i = 0; i < width[f]; i++) {
      char ch = s[at[f] + i];
      if (ch < '0' || ch > '9') return -1;
      v[f] = v[f] * 10 + (uint64_t)(ch - '0');
    }
  uint64_t h = 0;
  for (int i = 42; i < REF_LEN; i++) {
    char ch = s[i];
    int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
    if (d < 0) return -1;
    h = h << 4 | (uint64_t)d;
  }
  if (v[0] > (uint64_t)INT64_MAX - MAX_EXTENT || v[0] % GRAIN || v[1] > MAX_EXTENT ||
      v[1] % GRAIN || v[2] > v[1] || v[2] == 0)
    return -1;
  *off = (int64_t)v[0];
  *size = (uint32_t)v[1];
  *len = (uint32_t)v[2];
  *sum = h;
  return 0;
}

/* The extent file's path for the database file at db: db + "-ext"
 * (malloc'd), NULL when out of memory. */
static char *path_of(const char *db) {
  size_t n = strlen(db);
  char *p = malloc(n + 5);
  if (p) {
    memcpy(p, db, n);
    memcpy(p + n, "-ext", 5);
  }
  return p;
}

/* Appends; false when out of memory (the extent is then never freed:
 * space lost, no data). */
static bool list_add(ext_list *l, const ext_ref *e) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    ext_ref *v = realloc(l->v, cap * sizeof *v);
    if (!v) return false;
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = *e;
  return true;
}

/* The pre-update hook: a block row deleted, or its data replaced, that
 * named an extent. Column 4 is cis_vfs_blocks.data. */
static void on_change(void *arg, sqlite3 *db, int op, const char *schema, const char *table,
                      sqlite3_int64 k1, sqlite3_int64 k2) {
  (void)k1;
  (void)k2;
  cis__vdb_ext *x = arg;
  if (op == SQLITE_INSERT || strcmp(table, "cis_vfs_blocks") != 0 || strcmp(schema, "main") != 0)
    return;
  sqlite3_value *old = NULL, *now = NULL;
  if (sqlite3_preupdate_old(db, 4, &old) != SQLITE_OK || sqlite3_value_type(old) != SQLITE_TEXT)
    return;
  const char *ref = (const char *)sqlite3_value_text(old);
  size_t n = (size_t)sqlite3_value_bytes(old);
  if (op == SQLITE_UPDATE && sqlite3_preupdate_new(db, 4, &now) == SQLITE_OK &&
      sqlite3_value_type(now) == SQLITE_TEXT && (size_t)sqlite3_value_bytes(now) == n && ref) {
    const unsigned char *nt = sqlite3_value_text(now);
    /* No text (out of memory): keep the old extent; dead space is lost,
     * never a block a row still names. */
    if (!nt || memcmp(nt, ref, n) == 0) return; /* the same extent still */
  }
  ext_ref e;
  int64_t off;
  uint32_t len;
  uint64_t sum;
  if (ref_parse(ref, n, &off, &e.size, &len, &sum)) return; /* not ours to free */
  memcpy(e.ref, ref, REF_LEN);
  e.ref[REF_LEN] = '\0';
  list_add(&x->stmt, &e);
}

int cis__vdb_ext_open(sqlite3 *db, bool borrowed, bool full_sync, char *errmsg,
                      cis__vdb_ext **out) {
  *out = NULL;
  cis__vdb_ext *x = calloc(1, sizeof *x);
  if (!x) return cis__vdb_fail(errmsg, DIALECT, ENOMEM, "out of memory");
  x->db = db;
  x->errmsg = errmsg;
  x->fd = -1;
  x->full_sync = full_sync;
  x->end = x->first_append = -1;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  /* Marks of different connections (and processes) differ by their start. */
  x->tokens = ((uint64_t)ts.tv_nsec << 20) ^ ((uint64_t)ts.tv_sec << 40) ^ (uint64_t)getpid();
  x->token = x->tokens;
  const char *main = sqlite3_db_filename(db, "main");
  if (main && *main) { /* none for ":memory:" or a temporary database */
    char *path = path_of(main);
    if (!path) {
      free(x);
      return cis__vdb_fail(errmsg, DIALECT, ENOMEM, "out of memory");
    }
    /* The database file's permissions, as SQLite gives its -wal. */
    struct stat st;
    mode_t mode = stat(main, &st) == 0 ? (st.st_mode & 0777) : 0600;
    x->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode);
    x->writable = x->fd >= 0 && !borrowed;
    if (x->fd < 0) x->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    /* Under FULL the file's name must survive a power loss too. */
    char *slash = strrchr(path, '/');
    if (full_sync && x->writable) {
      if (slash) *(slash == path ? slash + 1 : slash) = '\0';
      else strcpy(path, ".");
      x->dir = path;
      path = NULL;
    }
    free(path);
  }
  /* A borrowed connection is cis's KV store's, which sets no hook of its
   * own: ours while it is borrowed, none after (_close). */
  sqlite3_preupdate_hook(db, on_change, x);
  *out = x;
  return 0;
}

void cis__vdb_ext_close(cis__vdb_ext *x) {
  if (!x) return;
  sqlite3_preupdate_hook(x->db, NULL, NULL); /* it points at x */
  sqlite3_finalize(x->q_take);
  sqlite3_finalize(x->q_claim);
  sqlite3_finalize(x->q_free);
  sqlite3_finalize(x->q_mine);
  if (x->fd >= 0) close(x->fd);
  free(x->stmt.v);
  free(x->buf);
  free(x->dir);
  free(x);
}

void cis__vdb_ext_arm(cis__vdb_ext *x) {
  if (x) x->stale[0] = '\0';
}

static void tx_reset(cis__vdb_ext *x) {
  x->in_tx = x->wrote = false;
  x->end = x->first_append = -1;
  x->nnone = 0;
  x->stmt.n = 0;
  x->freed = 0;
}

static void punch_gen(cis__vdb_ext *x, uint64_t gen);

void cis__vdb_ext_begin(cis__vdb_ext *x) {
  if (!x) return;
  tx_reset(x);
  /* The write lock is held: what the last commit freed and is still free
   * nobody can reuse meanwhile, so its disk space comes back now. */
  if (x->pending) punch_gen(x, x->pending);
  x->pending = 0;
  x->in_tx = true;
  x->token = ++x->tokens;
}

static int prep(cis__vdb_ext *x, sqlite3_stmt **s, const char *sql) {
  if (*s) {
    sqlite3_reset(*s);
    sqlite3_clear_bindings(*s);
    return SQLITE_OK;
  }
  return sqlite3_prepare_v3(x->db, sql, -1, SQLITE_PREPARE_PERSISTENT, s, NULL);
}

void cis__vdb_ext_stmt_end(cis__vdb_ext *x, bool ok) {
  if (!x || !x->stmt.n) return;
  size_t n = x->stmt.n;
  x->stmt.n = 0;
  if (!ok) return; /* rolled back with its statement: nothing was dropped */
  if (prep(x, &x->q_free,
           "INSERT OR IGNORE INTO cis_vfs_ext_free(ref, size, gen) VALUES(?1, ?2, ?3)") !=
      SQLITE_OK)
    return;
  for (size_t i = 0; i < n; i++) {
    const ext_ref *e = &x->stmt.v[i];
    sqlite3_bind_text(x->q_free, 1, e->ref, REF_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(x->q_free, 2, e->size);
    sqlite3_bind_int64(x->q_free, 3, (int64_t)x->token);
    int r = sqlite3_step(x->q_free);
    sqlite3_reset(x->q_free);
    /* Not on the list (a failure here): never reused, space lost. On it:
     * a hole after the commit, when this transaction is ours to end. */
    if (r == SQLITE_DONE && x->in_tx) x->freed++;
  }
}

/* Takes a free extent of `size` that this transaction did not free off
 * the free list: *off its offset, or -1 when there is none. */
static int take_free(cis__vdb_ext *x, uint32_t size, int64_t *off) {
  *off = -1;
  for (int i = 0; i < x->nnone; i++)
    if (x->none[i] == size) return 0;
  int r = prep(x, &x->q_take, "SELECT ref FROM cis_vfs_ext_free WHERE size=?1 AND gen<>?2 LIMIT 1");
  if (r != SQLITE_OK) return FAIL(x, EIO, "free extents: %s", sqlite3_errmsg(x->db));
  sqlite3_bind_int64(x->q_take, 1, size);
  sqlite3_bind_int64(x->q_take, 2, (int64_t)x->token);
  r = sqlite3_step(x->q_take);
  if (r == SQLITE_DONE) {
    sqlite3_reset(x->q_take);
    if (x->nnone < NONE_MAX) x->none[x->nnone++] = size;
    return 0;
  }
  if (r != SQLITE_ROW) {
    int err = FAIL(x, CIS_VFS_EDOWN, "free extents: %s", sqlite3_errmsg(x->db));
    sqlite3_reset(x->q_take);
    return err;
  }
  int64_t at;
  uint32_t sz, len;
  uint64_t sum;
  char key[REF_LEN + 1];
  const char *ref = (const char *)sqlite3_column_text(x->q_take, 0);
  if (!ref) {
    sqlite3_reset(x->q_take);
    return FAIL(x, ENOMEM, "out of memory");
  }
  bool ok = !ref_parse(ref, (size_t)sqlite3_column_bytes(x->q_take, 0), &at, &sz, &len, &sum) &&
            sz == size;
  if (ok) memcpy(key, ref, REF_LEN);
  sqlite3_reset(x->q_take);
  if (!ok) return FAIL(x, EIO, "free extents: a malformed entry");
  r = prep(x, &x->q_claim, "DELETE FROM cis_vfs_ext_free WHERE ref=?1");
  if (r == SQLITE_OK) {
    sqlite3_bind_text(x->q_claim, 1, key, REF_LEN, SQLITE_STATIC);
    r = sqlite3_step(x->q_claim);
    sqlite3_reset(x->q_claim);
  }
  if (r != SQLITE_DONE) return FAIL(x, CIS_VFS_EDOWN, "free extents: %s", sqlite3_errmsg(x->db));
  *off = at;
  return 0;
}

bool cis__vdb_ext_wanted(const cis__vdb_ext *x, size_t n) {
  return x && x->writable && x->in_tx && n >= CIS__VDB_EXT_MIN && n <= MAX_EXTENT &&
         !sqlite3_get_autocommit(x->db);
}

int cis__vdb_ext_put(cis__vdb_ext *x, const void *p, size_t n, char ref[CIS__VDB_EXT_REF_MAX]) {
  uint32_t size = (uint32_t)((n + GRAIN - 1) / GRAIN * GRAIN);
  int64_t off;
  int err = take_free(x, size, &off);
  if (err) return err;
  if (off == -1) {
    if (x->end < 0) {
      /* The file's end under the write lock: whatever lies past the last
       * commit's extents there (a killed writer's) is no row's. */
      struct stat st;
      if (fstat(x->fd, &st) != 0)
        return FAIL(x, CIS_VFS_EDOWN, "extent file: %s", strerror(errno));
      x->end = (st.st_size + (int64_t)GRAIN - 1) / GRAIN * GRAIN;
    }
    if (x->end > INT64_MAX - (int64_t)MAX_EXTENT - (int64_t)GRAIN)
      return FAIL(x, ENOSPC, "extent file: no offsets left");
    off = x->end;
    if (x->first_append < 0) x->first_append = off;
    x->end += size;
  }
  size_t done = 0;
  while (done < n) {
    ssize_t w = pwrite(x->fd, (const uint8_t *)p + done, n - done, off + (off_t)done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0)
      return FAIL(x, w < 0 && (errno == ENOSPC || errno == EDQUOT) ? ENOSPC : CIS_VFS_EDOWN,
                  "extent file: %s", w < 0 ? strerror(errno) : "short write");
    done += (size_t)w;
  }
  x->wrote = true;
  snprintf(ref, CIS__VDB_EXT_REF_MAX, "%019" PRId64 " %010" PRIu32 " %010zu %016" PRIx64, off,
           size, n, (uint64_t)XXH3_64bits(p, n));
  return 0;
}

/* Reads the extent ref names from fd into dst and checks its hash: 0,
 * CIS__VDB_STALE (the hash failed, *bad set), or an error with the detail
 * in errmsg. */
static int read_ref(int fd, const char *ref, size_t reflen, void *dst, size_t cap, size_t *n,
                    bool *bad, char *errmsg) {
  int64_t off;
  uint32_t size, len;
  uint64_t sum;
  *n = 0;
  *bad = false;
  if (ref_parse(ref, reflen, &off, &size, &len, &sum))
    return cis__vdb_fail(errmsg, DIALECT, EIO, "a block's reference to the extent file is malformed");
  if (len > cap)
    return cis__vdb_fail(errmsg, DIALECT, EIO, "a block's extent holds %" PRIu32
                         " bytes, more than a block", len);
  if (fd < 0)
    return cis__vdb_fail(errmsg, DIALECT, EIO,
                         "a block lives in the extent file, which cannot be opened");
  size_t done = 0;
  while (done < len) {
    ssize_t r = pread(fd, (uint8_t *)dst + done, len - done, off + (off_t)done);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return cis__vdb_fail(errmsg, DIALECT, CIS_VFS_EDOWN, "extent file: %s", strerror(errno));
    if (r == 0)
      return cis__vdb_fail(errmsg, DIALECT, EIO, "a block's extent lies past the extent file's end");
    done += (size_t)r;
  }
  if ((uint64_t)XXH3_64bits(dst, len) != sum) {
    *bad = true;
    return CIS__VDB_STALE;
  }
  *n = len;
  return 0;
}

int cis__vdb_ext_read_fd(int fd, const char *ref, size_t reflen, void *dst, size_t cap,
                         size_t *n, char *errmsg) {
  bool bad;
  return read_ref(fd, ref, reflen, dst, cap, n, &bad, errmsg);
}

int cis__vdb_ext_read(cis__vdb_ext *x, const char *ref, size_t reflen, void *dst, size_t cap,
                      size_t *n) {
  bool bad;
  int err = read_ref(x->fd, ref, reflen, dst, cap, n, &bad, x->errmsg);
  if (!bad) return err;
  /* Moved under an old snapshot, or damaged. Inside a write transaction
   * (the latest rows, which nobody else can change) it is damage; so it
   * is when a fresh snapshot names the same extent again (a rewrite names
   * another, or the same with data that passes). */
  if (x->in_tx || memcmp(x->stale, ref, REF_LEN) == 0)
    return FAIL(x, EIO, "a block's data in the extent file is damaged");
  memcpy(x->stale, ref, REF_LEN);
  return CIS__VDB_STALE;
}

int cis__vdb_ext_get(cis__vdb_ext *x, const char *ref, size_t reflen, const void **p, size_t *n) {
  int64_t off;
  uint32_t size, len;
  uint64_t sum;
  *p = NULL;
  *n = 0;
  if (ref_parse(ref, reflen, &off, &size, &len, &sum))
    return FAIL(x, EIO, "a block's reference to the extent file is malformed");
  if (x->cap < len) { /* grown to the largest block read so far */
    uint8_t *b = realloc(x->buf, len);
    if (!b) return FAIL(x, ENOMEM, "out of memory");
    x->buf = b;
    x->cap = len;
  }
  int err = cis__vdb_ext_read(x, ref, reflen, x->buf, x->cap, n);
  if (!err) *p = x->buf;
  return err;
}

int cis__vdb_ext_precommit(cis__vdb_ext *x) {
  if (!x || !x->wrote || !x->full_sync) return 0;
  if (fdatasync(x->fd) != 0)
    return FAIL(x, CIS_VFS_EDOWN, "extent file: sync: %s", strerror(errno));
  if (!x->dir_synced && x->dir) {
    /* Once per connection: the file may have been made by its open. */
    int d = open(x->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0 || fsync(d) != 0) {
      int e = errno;
      if (d >= 0) close(d);
      return FAIL(x, CIS_VFS_EDOWN, "extent file's directory: sync: %s", strerror(e));
    }
    close(d);
    x->dir_synced = true;
  }
  return 0;
}

static void punch(cis__vdb_ext *x, int64_t off, int64_t len) {
  if (x->fd >= 0 && x->writable && len > 0)
    (void)fallocate(x->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
}

/* Punches the extents still on the free list that the transaction
 * marked gen freed, in the order of their offsets (a reference begins
 * with it, at a fixed width), neighbours in one hole: a 64 MiB file's are
 * one call, not 1024. Under the write lock only. */
static void punch_gen(cis__vdb_ext *x, uint64_t gen) {
  if (!x->writable ||
      prep(x, &x->q_mine, "SELECT ref FROM cis_vfs_ext_free WHERE gen=?1 ORDER BY ref") !=
          SQLITE_OK)
    return;
  sqlite3_bind_int64(x->q_mine, 1, (int64_t)gen);
  int64_t from = 0, to = 0;
  while (sqlite3_step(x->q_mine) == SQLITE_ROW) {
    int64_t off;
    uint32_t size, len;
    uint64_t sum;
    const char *ref = (const char *)sqlite3_column_text(x->q_mine, 0);
    if (ref_parse(ref, (size_t)sqlite3_column_bytes(x->q_mine, 0), &off, &size, &len, &sum))
      continue;
    if (off != to) {
      punch(x, from, to - from);
      from = off;
    }
    to = off + size;
  }
  punch(x, from, to - from);
  sqlite3_reset(x->q_mine);
}

bool cis__vdb_ext_pending(const cis__vdb_ext *x) { return x && x->writable && x->pending; }

void cis__vdb_ext_punch_pending(cis__vdb_ext *x) {
  if (!cis__vdb_ext_pending(x)) return;
  punch_gen(x, x->pending);
  x->pending = 0;
}

static int by_off(const void *a, const void *b) {
  int64_t x = ((const int64_t *)a)[0], y = ((const int64_t *)b)[0];
  return (x > y) - (x < y);
}

int cis__vdb_ext_reclaim(cis__vdb_ext *x) {
  if (!x || !x->writable || !x->in_tx) return 0;
  sqlite3_stmt *q = NULL;
  int r = sqlite3_prepare_v2(x->db,
                             "SELECT data FROM cis_vfs_blocks WHERE typeof(data)='text' "
                             "UNION ALL SELECT ref FROM cis_vfs_ext_free",
                             -1, &q, NULL);
  if (r != SQLITE_OK) return FAIL(x, EIO, "extents in use: %s", sqlite3_errmsg(x->db));
  int64_t *v = NULL; /* pairs: offset, end */
  size_t n = 0, cap = 0;
  int err = 0;
  while ((r = sqlite3_step(q)) == SQLITE_ROW) {
    int64_t off;
    uint32_t size, len;
    uint64_t sum;
    const char *ref = (const char *)sqlite3_column_text(q, 0);
    if (!ref) { /* out of memory: skipping it would punch an extent in use */
      err = FAIL(x, ENOMEM, "out of memory");
      break;
    }
    /* A reference that is not one names no extent we could keep. */
    if (ref_parse(ref, (size_t)sqlite3_column_bytes(q, 0), &off, &size, &len, &sum)) continue;
    if (n == cap) {
      size_t c2 = cap ? cap * 2 : 256;
      int64_t *w = realloc(v, c2 * 2 * sizeof *w);
      if (!w) {
        err = FAIL(x, ENOMEM, "out of memory");
        break;
      }
      v = w;
      cap = c2;
    }
    v[2 * n] = off;
    v[2 * n + 1] = off + size;
    n++;
  }
  if (!err && r != SQLITE_DONE) err = FAIL(x, CIS_VFS_EDOWN, "extents in use: %s", sqlite3_errmsg(x->db));
  sqlite3_finalize(q);
  struct stat st;
  if (!err && fstat(x->fd, &st) != 0)
    err = FAIL(x, CIS_VFS_EDOWN, "extent file: %s", strerror(errno));
  if (!err) {
    /* Every byte no row and no free-list entry names is dead (what killed
     * writers appended, what a tool's deletions left): a hole. */
    if (n > 1) qsort(v, n, 2 * sizeof *v, by_off);
    int64_t at = 0;
    for (size_t i = 0; i < n; i++) {
      if (v[2 * i] > at) punch(x, at, v[2 * i] - at);
      if (v[2 * i + 1] > at) at = v[2 * i + 1];
    }
    if (st.st_size > at) punch(x, at, st.st_size - at);
  }
  free(v);
  return err;
}

void cis__vdb_ext_committed(cis__vdb_ext *x) {
  if (!x) return;
  if (x->freed && x->writable) x->pending = x->token;
  tx_reset(x);
}

void cis__vdb_ext_rolledback(cis__vdb_ext *x, bool sure) {
  if (!x) return;
  if (sure && x->first_append >= 0) punch(x, x->first_append, x->end - x->first_append);
  tx_reset(x);
}

int cis__vdb_ext_sync(cis__vdb_ext *x) {
  if (!x || x->fd < 0 || !x->writable) return 0;
  if (fdatasync(x->fd) != 0)
    return FAIL(x, CIS_VFS_EDOWN, "extent file: sync: %s", strerror(errno));
  return 0;
}

bool cis__vdb_ext_sync_path(const char *db_path) {
  if (!db_path || !*db_path) return true;
  char *p = path_of(db_path);
  if (!p) return false;
  int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  free(p);
  if (fd < 0) return errno == ENOENT; /* no extent file: nothing to sync */
  bool ok = fdatasync(fd) == 0;
  close(fd);
  return ok;
}
