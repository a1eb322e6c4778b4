/*
 * fuzz_vfs_db.c -- libFuzzer target: the database filesystem against the
 * memory backend, call for call.
 *
 * This file implements the fuzz_vfs_db target and its harness,
 * cis_fuzz_vfs_db, which tests/vfsdb/test_vfs_db_diff.c runs too on
 * sequences of its own. One input is a byte of mount options (quotas on
 * both sides, or mostly none) and a sequence of at most
 * CIS_FUZZ_VFS_DB_OPS filesystem calls through the public VFS API
 * (cis_vfs.h): opens with any flags, writes and reads at offsets around
 * the block size and past the end, truncations, closes, fstat, fsync,
 * mkdir, rmdir, unlink, rename, symlink, readlink, stat, times set (read
 * back at once when given), listings, a listing resumed across changes
 * to its directory (held to the cookie contract on both sides), call
 * scopes committed or rolled back, snapshots, rollbacks to them,
 * compactions, the database mount unmounted and mounted again, and whole
 * changes by a second mount of the same tenant (a file put, a name
 * removed, a directory made or removed, a rename). Paths are made of a
 * few names, ".", ".." and trailing slashes. Each call runs on a memory
 * mount and on the database mount, and their results must agree: the
 * error number, the bytes read, a node's type, size and links, a
 * listing's names and kinds. At the end the database is mounted afresh
 * and its whole tree compared with the memory mount's. The memory
 * backend is the oracle: both follow the same contract (cis_vfs.h), and
 * the memory backend is the simple one. For what it has not (a scope
 * rolled back, layers), the oracle keeps copies of its tree, made
 * through the same API, and a rollback puts one back; a compaction must
 * change nothing. Hard links are made only against a host directory:
 * the database refuses them (EPERM, docs/dbfs.md).
 *
 * A disagreement is a finding: the target prints it and aborts.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cis/cis.h"
#include "cis/cis_vfs.h"

/* Calls one input makes at most. */
#define CIS_FUZZ_VFS_DB_OPS 200
#define SLOTS 4          /* files held open at once, on each side */
#define IO_MAX 140000    /* most bytes one write or read moves */
#define LIST_MAX 64      /* entries a listing compares */
#define TREE_DEPTH 8     /* levels the final comparison walks */
#define SNAPS 2          /* snapshots the memory side keeps copies of */

/* Runs one input on a memory mount and on a database mount of tenant in
 * the database db_spec (cis_vfs_db_config.spec; "lease:SPEC": both
 * database mounts hold leases, cis_vfs_db_config.lease), or on a host
 * directory when db_spec is "host:DIR" (then scopes are only committed, as
 * they do nothing there, and there are no layers); returns 0 when they
 * agreed, 1 when they did not (why holds the first disagreement), -1 when
 * a mount could not be made (why says so). */
int cis_fuzz_vfs_db(const uint8_t *data, size_t size, const char *db_spec, const char *tenant,
                    char *why, size_t cap);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct side {
  cis_vfs *fs;
  cis_vfs_file *root;
  cis_vfs_file *slot[SLOTS];
} side;

typedef struct run {
  const uint8_t *p, *end; /* what is left of the input */
  side m, d;              /* the memory mount, the database mount */
  cis_vfs *d2;            /* the second database mount, made on first use */
  cis_vfs_file *d2root;
  bool scoped;            /* a scope is open on d */
  bool host;              /* d is a host directory ("host:DIR"): no scopes' rollback,
                             no layers */
  bool defers;            /* d is on PostgreSQL, whose creations may be deferred */
  bool lease;             /* the database mounts hold leases ("lease:SPEC") */
  cis_vfs_options opts;   /* both sides' mount options (quotas) */
  side scope_copy;        /* the memory tree as the open scope found it */
  struct {
    uint64_t layer;       /* a snapshot of d, a rollback target */
    side copy;            /* the memory tree at that snapshot */
  } snap[SNAPS];
  int nsnap;
  const char *spec, *tenant;
  char *why;
  size_t cap;
  int op;                 /* the call being made, for the message */
  uint8_t *wbuf, *mbuf, *dbuf;
} run;

/* ---------------------------------------------------------------- input */

static unsigned u8(run *r) { return r->p < r->end ? *r->p++ : 0; }
/* Two bytes, high first (two statements: the order of a single
 * expression's calls is unspecified, and an input must decode the same
 * under every compiler). */
static unsigned u16(run *r) {
  unsigned hi = u8(r);
  return hi << 8 | u8(r);
}

static const char *const names[] = {"a", "b", "f", "g", "a", "f", "g", "h"};

/* A path of one to three names (mostly one), now and then "." or "..",
 * now and then ending with '/'. */
static size_t make_path(run *r, char *out, size_t cap) {
  unsigned b = u8(r);
  int n = (b & 7) < 5 ? 1 : (b & 7) < 7 ? 2 : 3;
  size_t len = 0;
  for (int i = 0; i < n; i++) {
    unsigned c = u8(r);
    const char *nm = c >= 240 ? (c & 1 ? "." : "..") : names[c % 8];
    len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? "/" : "", nm);
  }
  if ((b & 0xf0) == 0xf0 && len + 1 < cap) out[len++] = '/', out[len] = '\0';
  return len;
}

static uint64_t make_off(run *r) {
  static const uint64_t at[] = {0, 1, 4095, 4096, 16383, 16384, 65535, 65536, 65537, 131072,
                                200000, CIS_VFS_APPEND};
  unsigned b = u8(r);
  return b < 192 ? at[b % 12] : (uint64_t)u16(r) * 3;
}

static size_t make_len(run *r) {
  static const size_t at[] = {0, 1, 100, 4096, 16384, 20000, 65536, 70000, 131072, IO_MAX};
  unsigned b = u8(r);
  return b < 160 ? at[b % 10] : (size_t)u16(r) % IO_MAX;
}

static void fill(uint8_t *p, size_t n, unsigned seed) {
  uint32_t x = seed * 2654435761u + 7;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    p[i] = (uint8_t)x;
  }
}

/* ---------------------------------------------------------------- checks */

static int differ(run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int differ(run *r, const char *fmt, ...) {
  int n = snprintf(r->why, r->cap, "call %d: ", r->op);
  va_list ap;
  va_start(ap, fmt);
  if (n >= 0 && (size_t)n < r->cap) vsnprintf(r->why + n, r->cap - (size_t)n, fmt, ap);
  va_end(ap);
  return 1;
}

#define SAME_ERR(what, em, ed)                                                               \
  do {                                                                                       \
    if ((em) != (ed))                                                                        \
      return differ(r, "%s: memory %d, database %d (%s)", what, em, ed,                      \
                    cis_vfs_errmsg(r->d.fs));                                                \
  } while (0)

static int same_stat(run *r, const char *what, const cis_vfs_stat *a, const cis_vfs_stat *b) {
  if (a->type != b->type) return differ(r, "%s: type %d against %d", what, a->type, b->type);
  if (a->type != CIS_VFS_DIR && a->size != b->size)
    return differ(r, "%s: size %llu against %llu", what, (unsigned long long)a->size,
                  (unsigned long long)b->size);
  if (a->type == CIS_VFS_REG && a->nlink != b->nlink)
    return differ(r, "%s: %llu links against %llu", what, (unsigned long long)a->nlink,
                  (unsigned long long)b->nlink);
  return 0;
}

/* ---------------------------------------------------------------- mounts */

static int mount_db(run *r, cis_vfs **fs, cis_vfs_file **root) {
  cis_vfs_db_config cfg;
  cis_vfs_db_config_default(&cfg);
  cfg.spec = r->spec;
  cfg.tenant = r->tenant;
  cfg.op_timeout_ms = 20000;
  cfg.lease = r->lease;
  cis_vfs_backend *b = NULL;
  if (r->host) cis_vfs_host_new(r->spec + 5, &b); /* a failed backend fails the mount */
  else cis_vfs_db_new(&cfg, &b);
  cis_result rc = cis_vfs_mount(b, &r->opts, fs);
  if (rc != CIS_OK) {
    snprintf(r->why, r->cap, "database mount: %s: %s", cis_errname(rc), cis_vfs_errmsg(*fs));
    cis_vfs_unmount(*fs);
    *fs = NULL;
    return -1;
  }
  if (cis_vfs_open_root(*fs, root) != 0) {
    snprintf(r->why, r->cap, "database root: %s", cis_vfs_errmsg(*fs));
    return -1;
  }
  return 0;
}

static void slots_close(run *r) {
  for (int i = 0; i < SLOTS; i++) {
    if (r->m.slot[i]) cis_vfs_close(r->m.slot[i]);
    if (r->d.slot[i]) cis_vfs_close(r->d.slot[i]);
    r->m.slot[i] = r->d.slot[i] = NULL;
  }
}

static bool slots_open(const run *r) {
  for (int i = 0; i < SLOTS; i++)
    if (r->m.slot[i]) return true;
  return false;
}

static void side_free(side *sd);

static int scope_end(run *r) {
  if (!r->scoped) return 0;
  r->scoped = false;
  side_free(&r->scope_copy);
  cis_result rc = cis_vfs_scope_end(r->d.fs, true);
  if (rc != CIS_OK) return differ(r, "scope end: %s (%s)", cis_errname(rc), cis_vfs_errmsg(r->d.fs));
  return 0;
}

/* The database mount unmounted and mounted again (its scope committed,
 * every file closed on both sides first). */
static int remount(run *r) {
  slots_close(r);
  int e = scope_end(r);
  if (e) return e;
  cis_vfs_close(r->d.root);
  cis_vfs_unmount(r->d.fs);
  r->d.root = NULL;
  r->d.fs = NULL;
  return mount_db(r, &r->d.fs, &r->d.root) ? 1 : 0;
}

/* ---------------------------------------------------------------- calls */

static int do_open(run *r) {
  char p[64];
  size_t n = make_path(r, p, sizeof p);
  static const uint32_t common[] = {
      CIS_VFS_READ,
      CIS_VFS_READ | CIS_VFS_WRITE,
      CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_TRUNC,
      CIS_VFS_READ | CIS_VFS_WRITE | CIS_VFS_CREAT,
      CIS_VFS_READ | CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_TRUNC,
      CIS_VFS_READ | CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_EXCL,
      CIS_VFS_READ | CIS_VFS_DIRECTORY,
  };
  unsigned b = u8(r), s = u8(r) % SLOTS;
  /* Mostly what programs ask for, following a final symlink; else any bits. */
  uint32_t flags = b < 224 ? common[b % 7] | ((b & 8) ? CIS_VFS_FOLLOW : 0)
                           : b & (CIS_VFS_READ | CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_EXCL |
                                  CIS_VFS_TRUNC | CIS_VFS_DIRECTORY | CIS_VFS_FOLLOW);
  if (r->m.slot[s]) cis_vfs_close(r->m.slot[s]), r->m.slot[s] = NULL;
  if (r->d.slot[s]) cis_vfs_close(r->d.slot[s]), r->d.slot[s] = NULL;
  cis_vfs_file *fm = NULL, *fd = NULL;
  int em = cis_vfs_openat(r->m.root, p, n, flags, &fm);
  int ed = cis_vfs_openat(r->d.root, p, n, flags, &fd);
  if (r->defers && !ed && (em == EISDIR || em == ELOOP) && (flags & CIS_VFS_CREAT) &&
      (flags & CIS_VFS_WRITE) && !(flags & CIS_VFS_EXCL)) {
    /* PostgreSQL's deferred creation of a name its caches said absent,
     * unchecked: a directory or symlink another mount made there since is
     * the open's error, given by the first write (docs/dbfs.md). */
    size_t put = 0;
    ed = cis_vfs_pwrite(fd, "x", 1, 0, &put);
    cis_vfs_close(fd);
    fd = NULL;
    if (ed == em) return 0;
    return differ(r, "%s: memory %d at the open, database %d at the deferred write", p, em, ed);
  }
  if (em != ed) {
    if (fm) cis_vfs_close(fm);
    if (fd) cis_vfs_close(fd);
  }
  SAME_ERR(p, em, ed);
  r->m.slot[s] = fm;
  r->d.slot[s] = fd;
  return 0;
}

/* The slot a call on an open file uses; -1 when it holds none. */
static int pick(run *r) {
  int s = (int)(u8(r) % SLOTS);
  return r->m.slot[s] ? s : -1;
}

static int do_write(run *r) {
  int s = pick(r);
  uint64_t off = make_off(r);
  size_t len = make_len(r);
  unsigned seed = u8(r);
  if (s < 0) return 0;
  fill(r->wbuf, len, seed);
  size_t pm = 0, pd = 0;
  int em = cis_vfs_pwrite(r->m.slot[s], r->wbuf, len, off, &pm);
  int ed = cis_vfs_pwrite(r->d.slot[s], r->wbuf, len, off, &pd);
  SAME_ERR("pwrite", em, ed);
  if (pm != pd) return differ(r, "pwrite: %zu bytes against %zu", pm, pd);
  return 0;
}

static int do_read(run *r) {
  int s = pick(r);
  uint64_t off = make_off(r);
  size_t len = make_len(r);
  if (s < 0 || off == CIS_VFS_APPEND) return 0;
  size_t gm = 0, gd = 0;
  int em = cis_vfs_pread(r->m.slot[s], r->mbuf, len, off, &gm);
  int ed = cis_vfs_pread(r->d.slot[s], r->dbuf, len, off, &gd);
  SAME_ERR("pread", em, ed);
  if (gm != gd) return differ(r, "pread at %llu: %zu bytes against %zu", (unsigned long long)off, gm, gd);
  if (gm && memcmp(r->mbuf, r->dbuf, gm) != 0)
    return differ(r, "pread at %llu: the %zu bytes differ", (unsigned long long)off, gm);
  return 0;
}

static int do_truncate(run *r) {
  int s = pick(r);
  uint64_t size = make_off(r);
  if (s < 0) return 0;
  if (size == CIS_VFS_APPEND) size = 1u << 20;
  SAME_ERR("ftruncate", cis_vfs_ftruncate(r->m.slot[s], size), cis_vfs_ftruncate(r->d.slot[s], size));
  return 0;
}

static int do_close(run *r) {
  int s = pick(r);
  if (s < 0) return 0;
  cis_vfs_close(r->m.slot[s]);
  cis_vfs_close(r->d.slot[s]);
  r->m.slot[s] = r->d.slot[s] = NULL;
  return 0;
}

static int do_fstat(run *r) {
  int s = pick(r);
  if (s < 0) return 0;
  cis_vfs_stat a, b;
  int em = cis_vfs_fstat(r->m.slot[s], &a), ed = cis_vfs_fstat(r->d.slot[s], &b);
  SAME_ERR("fstat", em, ed);
  return em ? 0 : same_stat(r, "fstat", &a, &b);
}

static int do_fsync(run *r) {
  int s = pick(r);
  if (s < 0) return 0;
  SAME_ERR("fsync", cis_vfs_fsync(r->m.slot[s]), cis_vfs_fsync(r->d.slot[s]));
  return 0;
}

/* mkdir, rmdir, unlink of one path. */
static int do_path(run *r, int kind) {
  char p[64];
  size_t n = make_path(r, p, sizeof p);
  int (*fn)(cis_vfs_file *, const char *, size_t) =
      kind == 0 ? cis_vfs_mkdirat : kind == 1 ? cis_vfs_rmdirat : cis_vfs_unlinkat;
  static const char *const what[] = {"mkdir", "rmdir", "unlink"};
  int em = fn(r->m.root, p, n), ed = fn(r->d.root, p, n);
  if (em != ed) return differ(r, "%s %s: memory %d, database %d (%s)", what[kind], p, em, ed,
                              cis_vfs_errmsg(r->d.fs));
  return 0;
}

/* A rename, or on a host directory now and then a hard link (the
 * database refuses those: EPERM). */
static int do_rename(run *r) {
  char a[64], b[64];
  size_t na = make_path(r, a, sizeof a), nb = make_path(r, b, sizeof b);
  unsigned how = u8(r);
  bool link = r->host && (how & 3) == 0;
  uint32_t follow = (how & 4) ? CIS_VFS_FOLLOW : 0;
  int em, ed;
  if (link) {
    em = cis_vfs_linkat(r->m.root, a, na, follow, r->m.root, b, nb);
    ed = cis_vfs_linkat(r->d.root, a, na, follow, r->d.root, b, nb);
  } else {
    em = cis_vfs_renameat(r->m.root, a, na, r->m.root, b, nb);
    ed = cis_vfs_renameat(r->d.root, a, na, r->d.root, b, nb);
  }
  if (em != ed)
    return differ(r, "%s %s %s: memory %d, database %d (%s)", link ? "link" : "rename", a, b, em,
                  ed, cis_vfs_errmsg(r->d.fs));
  return 0;
}

static int do_symlink(run *r) {
  char t[64], p[64];
  size_t nt = make_path(r, t, sizeof t), np = make_path(r, p, sizeof p);
  int em = cis_vfs_symlinkat(t, nt, r->m.root, p, np);
  int ed = cis_vfs_symlinkat(t, nt, r->d.root, p, np);
  if (em != ed) return differ(r, "symlink %s -> %s: memory %d, database %d (%s)", p, t, em, ed,
                              cis_vfs_errmsg(r->d.fs));
  return 0;
}

static int do_readlink(run *r) {
  char p[64], bm[80], bd[80];
  size_t n = make_path(r, p, sizeof p), lm = 0, ld = 0;
  int em = cis_vfs_readlinkat(r->m.root, p, n, bm, sizeof bm, &lm);
  int ed = cis_vfs_readlinkat(r->d.root, p, n, bd, sizeof bd, &ld);
  SAME_ERR("readlink", em, ed);
  if (!em && (lm != ld || memcmp(bm, bd, lm) != 0)) return differ(r, "readlink %s: targets differ", p);
  return 0;
}

/* Times set through a path: the same result, and when given, the same
 * times read back at once on both sides. */
static int do_times(run *r) {
  char p[64];
  size_t n = make_path(r, p, sizeof p);
  unsigned b = u8(r);
  uint32_t flags = (b & 1 ? CIS_VFS_ATIM : 0) | (b & 2 ? CIS_VFS_MTIM : 0) |
                   (b & 4 ? CIS_VFS_ATIM_NOW : 0) | (b & 8 ? CIS_VFS_MTIM_NOW : 0) |
                   (b & 16 ? CIS_VFS_FOLLOW : 0);
  /* 2001 to 2033, to the nanosecond: every backend holds these. */
  uint64_t at = 1000000000000000000ull + (uint64_t)u16(r) * 15258789062500ull;
  at += u16(r);
  uint64_t mt = 1000000000000000000ull + (uint64_t)u16(r) * 15258789062500ull;
  mt += u16(r);
  int em = cis_vfs_set_timesat(r->m.root, p, n, flags, at, mt);
  int ed = cis_vfs_set_timesat(r->d.root, p, n, flags, at, mt);
  if (em != ed) return differ(r, "set times %s: memory %d, database %d (%s)", p, em, ed,
                              cis_vfs_errmsg(r->d.fs));
  if (em || !(flags & (CIS_VFS_ATIM | CIS_VFS_MTIM))) return 0;
  cis_vfs_stat a, c;
  uint32_t sf = flags & CIS_VFS_FOLLOW;
  if (cis_vfs_statat(r->m.root, p, n, sf, &a) || cis_vfs_statat(r->d.root, p, n, sf, &c))
    return differ(r, "stat after set times %s", p);
  if ((flags & CIS_VFS_ATIM) && !(flags & CIS_VFS_ATIM_NOW) && (a.atim != at || c.atim != at))
    return differ(r, "set times %s: atim %llu and %llu, set %llu", p, (unsigned long long)a.atim,
                  (unsigned long long)c.atim, (unsigned long long)at);
  if ((flags & CIS_VFS_MTIM) && !(flags & CIS_VFS_MTIM_NOW) && (a.mtim != mt || c.mtim != mt))
    return differ(r, "set times %s: mtim %llu and %llu, set %llu", p, (unsigned long long)a.mtim,
                  (unsigned long long)c.mtim, (unsigned long long)mt);
  return 0;
}

static int do_stat(run *r) {
  char p[64];
  size_t n = make_path(r, p, sizeof p);
  uint32_t flags = (u8(r) & 1) ? CIS_VFS_FOLLOW : 0;
  cis_vfs_stat a, b;
  int em = cis_vfs_statat(r->m.root, p, n, flags, &a);
  int ed = cis_vfs_statat(r->d.root, p, n, flags, &b);
  if (em != ed) return differ(r, "stat %s: memory %d, database %d (%s)", p, em, ed,
                              cis_vfs_errmsg(r->d.fs));
  return em ? 0 : same_stat(r, p, &a, &b);
}

typedef struct entry {
  char name[CIS_VFS_NAME_MAX + 1];
  cis_vfs_type type;
} entry;

static int by_name(const void *a, const void *b) {
  return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

/* The entries of open directory dir but "." and "..", sorted by name;
 * the error, *n how many. */
static int list(cis_vfs_file *dir, entry *out, int *n) {
  *n = 0;
  uint64_t cookie = 0;
  for (int guard = 0; guard < 4 * LIST_MAX; guard++) {
    cis_vfs_dirent e;
    int err = cis_vfs_readdir(dir, cookie, &e);
    if (err == ENOENT) break;
    if (err) return err;
    cookie = e.next;
    if (!strcmp(e.name, ".") || !strcmp(e.name, "..")) continue;
    if (*n == LIST_MAX) return E2BIG;
    snprintf(out[*n].name, sizeof out[*n].name, "%s", e.name);
    out[(*n)++].type = e.type;
  }
  qsort(out, (size_t)*n, sizeof *out, by_name);
  return 0;
}

static int same_list(run *r, const char *p, cis_vfs_file *dm, cis_vfs_file *dd) {
  static entry em_[LIST_MAX], ed_[LIST_MAX];
  int nm = 0, nd = 0;
  int em = list(dm, em_, &nm), ed = list(dd, ed_, &nd);
  if (em != ed) return differ(r, "listing %s: memory %d, database %d", p, em, ed);
  if (nm != nd) return differ(r, "listing %s: %d entries against %d", p, nm, nd);
  for (int i = 0; i < nm; i++)
    if (strcmp(em_[i].name, ed_[i].name) || em_[i].type != ed_[i].type)
      return differ(r, "listing %s: %s (%d) against %s (%d)", p, em_[i].name, em_[i].type,
                    ed_[i].name, ed_[i].type);
  return 0;
}

static int do_list(run *r) {
  char p[64];
  size_t n = make_path(r, p, sizeof p);
  cis_vfs_file *dm = NULL, *dd = NULL;
  uint32_t flags = CIS_VFS_READ | CIS_VFS_DIRECTORY | CIS_VFS_FOLLOW;
  int em = cis_vfs_openat(r->m.root, p, n, flags, &dm);
  int ed = cis_vfs_openat(r->d.root, p, n, flags, &dd);
  int rc = em != ed ? differ(r, "open directory %s: memory %d, database %d", p, em, ed)
           : em     ? 0
                    : same_list(r, p, dm, dd);
  if (dm) cis_vfs_close(dm);
  if (dd) cis_vfs_close(dd);
  return rc;
}

/* A listing resumed across changes to its directory holds the cookie
 * contract on both sides (cis_vfs.h): no name twice, and every name there
 * from start to end listed. The changes (a file made, a name removed or
 * renamed within the directory) go to both sides between the steps, and
 * their results are compared as any call's. */
static int do_list_changing(run *r) {
  char p[64];
  size_t n = make_path(r, p, sizeof p);
  while (n > 1 && p[n - 1] == '/') p[--n] = '\0';
  cis_vfs_file *dir[2] = {NULL, NULL};
  uint32_t fl = CIS_VFS_READ | CIS_VFS_DIRECTORY | CIS_VFS_FOLLOW;
  int em = cis_vfs_openat(r->m.root, p, n, fl, &dir[0]);
  int ed = cis_vfs_openat(r->d.root, p, n, fl, &dir[1]);
  int rc = em != ed ? differ(r, "open directory %s: memory %d, database %d", p, em, ed) : 0;
  entry *start = calloc(LIST_MAX, sizeof *start), *seen = calloc(2 * 4 * LIST_MAX, sizeof *seen);
  char touched[24][CIS_VFS_NAME_MAX + 1];
  int ns = 0, nt = 0, nseen[2] = {0, 0};
  bool done[2] = {false, false};
  uint64_t cookie[2] = {0, 0};
  if (!rc && !em && start && seen) rc = list(dir[0], start, &ns) ? differ(r, "listing %s", p) : 0;
  for (int step = 0; !rc && !em && start && seen && step < 4 * LIST_MAX && !(done[0] && done[1]);
       step++) {
    for (int side = 0; side < 2 && !rc; side++) {
      if (done[side]) continue;
      cis_vfs_dirent e;
      int err = cis_vfs_readdir(dir[side], cookie[side], &e);
      if (err == ENOENT) {
        done[side] = true;
        continue;
      }
      if (err) rc = differ(r, "resumed listing of %s (%s side): %d", p, side ? "database" : "memory", err);
      else if (nseen[side] == 4 * LIST_MAX) rc = differ(r, "resumed listing of %s never ends", p);
      else {
        cookie[side] = e.next;
        snprintf(seen[side * 4 * LIST_MAX + nseen[side]++].name, CIS_VFS_NAME_MAX + 1, "%s", e.name);
      }
    }
    unsigned k = u8(r);
    if (rc || step >= 8 || nt + 2 > 24 || (k & 3) == 3) continue; /* a few changes, early */
    char a[400], b[400], an[CIS_VFS_NAME_MAX + 1], bn[16];
    snprintf(an, sizeof an, "%s", ns ? start[k % (unsigned)ns].name : "x");
    snprintf(bn, sizeof bn, "n%u", k);
    snprintf(a, sizeof a, "%s/%s", p, (k & 3) == 0 ? bn : an);
    snprintf(b, sizeof b, "%s/%s", p, bn);
    int xm, xd;
    if ((k & 3) == 0) { /* a new file */
      uint32_t cf = CIS_VFS_WRITE | CIS_VFS_CREAT;
      cis_vfs_file *fm = NULL, *fd = NULL;
      xm = cis_vfs_openat(r->m.root, a, strlen(a), cf, &fm);
      xd = cis_vfs_openat(r->d.root, a, strlen(a), cf, &fd);
      if (fm) cis_vfs_close(fm);
      if (fd) cis_vfs_close(fd);
    } else if ((k & 3) == 1) {
      xm = cis_vfs_unlinkat(r->m.root, a, strlen(a));
      xd = cis_vfs_unlinkat(r->d.root, a, strlen(a));
    } else {
      xm = cis_vfs_renameat(r->m.root, a, strlen(a), r->m.root, b, strlen(b));
      xd = cis_vfs_renameat(r->d.root, a, strlen(a), r->d.root, b, strlen(b));
    }
    if (xm != xd) rc = differ(r, "change %s during a listing: memory %d, database %d", a, xm, xd);
    snprintf(touched[nt++], sizeof touched[0], "%s", an);
    snprintf(touched[nt++], sizeof touched[0], "%s", bn);
  }
  /* Each side: no entry twice (a name removed and made again during the
   * listing is a new entry, which may be listed too); every name there
   * throughout listed. */
  for (int side = 0; !rc && !em && start && seen && side < 2; side++) {
    entry *v = seen + side * 4 * LIST_MAX;
    for (int i = 0; !rc && i < nseen[side]; i++) {
      bool moved = false;
      for (int t = 0; t < nt; t++) moved = moved || !strcmp(touched[t], v[i].name);
      for (int j = i + 1; !rc && !moved && j < nseen[side]; j++)
        if (!strcmp(v[i].name, v[j].name))
          rc = differ(r, "resumed listing of %s (%s side) gave %s twice", p,
                      side ? "database" : "memory", v[i].name);
    }
    for (int i = 0; !rc && i < ns; i++) {
      bool moved = false, listed = false;
      for (int t = 0; t < nt; t++) moved = moved || !strcmp(touched[t], start[i].name);
      for (int j = 0; j < nseen[side]; j++) listed = listed || !strcmp(v[j].name, start[i].name);
      if (!moved && !listed)
        rc = differ(r, "resumed listing of %s (%s side) left out %s", p, side ? "database" : "memory",
                    start[i].name);
    }
  }
  free(start);
  free(seen);
  if (dir[0]) cis_vfs_close(dir[0]);
  if (dir[1]) cis_vfs_close(dir[1]);
  return rc;
}

/* A whole change by the second database mount (the memory side makes it
 * too), only while nothing is open and no scope is: a file put, a name
 * removed, a directory made or removed, a rename. */
static int do_other(run *r) {
  unsigned kind = u8(r) % 5, seed = u8(r);
  char p[64], q[64];
  size_t n = make_path(r, p, sizeof p), len = make_len(r), nq = make_path(r, q, sizeof q);
  /* A quota counts one mount's changes: the second one's are not the
   * first one's to count, as they are the memory mount's. */
  if (slots_open(r) || r->scoped || r->opts.max_bytes || r->opts.max_files) return 0;
  if (!r->d2 && mount_db(r, &r->d2, &r->d2root)) return 1;
  int em, ed;
  if (kind == 0) {
    fill(r->wbuf, len, seed);
    uint32_t flags = CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_TRUNC | CIS_VFS_FOLLOW;
    cis_vfs_file *fm = NULL, *fd = NULL;
    size_t pm = 0, pd = 0;
    em = cis_vfs_openat(r->m.root, p, n, flags, &fm);
    ed = cis_vfs_openat(r->d2root, p, n, flags, &fd);
    if (!em) em = cis_vfs_pwrite(fm, r->wbuf, len, 0, &pm);
    if (!ed) ed = cis_vfs_pwrite(fd, r->wbuf, len, 0, &pd);
    if (fm) cis_vfs_close(fm);
    if (fd) cis_vfs_close(fd);
  } else if (kind == 1) {
    em = cis_vfs_unlinkat(r->m.root, p, n);
    ed = cis_vfs_unlinkat(r->d2root, p, n);
  } else if (kind == 2) {
    em = cis_vfs_mkdirat(r->m.root, p, n);
    ed = cis_vfs_mkdirat(r->d2root, p, n);
  } else if (kind == 3) { /* directories move under the first mount's caches */
    em = cis_vfs_renameat(r->m.root, p, n, r->m.root, q, nq);
    ed = cis_vfs_renameat(r->d2root, p, n, r->d2root, q, nq);
  } else {
    em = cis_vfs_rmdirat(r->m.root, p, n);
    ed = cis_vfs_rmdirat(r->d2root, p, n);
  }
  static const char *const what[] = {"put", "unlink", "mkdir", "rename", "rmdir"};
  if (em != ed) return differ(r, "the other mount's %s %s: memory %d, database %d (%s)", what[kind],
                              p, em, ed, cis_vfs_errmsg(r->d2));
  return 0;
}

/* ---------------------------------------------------------------- the tree */

/* dir (open on both sides, path p) and everything below it the same. */
static int same_tree(run *r, const char *p, cis_vfs_file *dm, cis_vfs_file *dd, int depth) {
  entry *em_ = calloc(LIST_MAX, sizeof *em_), *ed_ = calloc(LIST_MAX, sizeof *ed_);
  if (!em_ || !ed_) {
    free(em_);
    free(ed_);
    return 0;
  }
  int nm = 0, nd = 0, rc = 0;
  int em = list(dm, em_, &nm), ed = list(dd, ed_, &nd);
  if (em != ed || nm != nd) rc = differ(r, "tree %s: %d entries (%d) against %d (%d)", p, nm, em, nd, ed);
  for (int i = 0; !rc && !em && i < nm; i++) {
    if (strcmp(em_[i].name, ed_[i].name) || em_[i].type != ed_[i].type) {
      rc = differ(r, "tree %s: %s against %s", p, em_[i].name, ed_[i].name);
      break;
    }
    char sub[512];
    snprintf(sub, sizeof sub, "%s/%s", p, em_[i].name);
    const char *nm_ = em_[i].name;
    size_t nl = strlen(nm_);
    cis_vfs_stat a, b;
    int sm = cis_vfs_statat(dm, nm_, nl, 0, &a), sd = cis_vfs_statat(dd, nm_, nl, 0, &b);
    if (sm != sd) rc = differ(r, "tree stat %s: %d against %d", sub, sm, sd);
    if (!rc && !sm) rc = same_stat(r, sub, &a, &b);
    if (rc || sm) continue;
    cis_vfs_file *fm = NULL, *fd = NULL;
    if (a.type == CIS_VFS_REG) {
      sm = cis_vfs_openat(dm, nm_, nl, CIS_VFS_READ, &fm);
      sd = cis_vfs_openat(dd, nm_, nl, CIS_VFS_READ, &fd);
      /* Chunk by chunk to the end: files grow past one buffer. */
      for (uint64_t off = 0; !rc;) {
        size_t gm = 0, gd = 0;
        if (!sm) sm = cis_vfs_pread(fm, r->mbuf, IO_MAX, off, &gm);
        if (!sd) sd = cis_vfs_pread(fd, r->dbuf, IO_MAX, off, &gd);
        if (sm != sd || gm != gd || (gm && memcmp(r->mbuf, r->dbuf, gm)))
          rc = differ(r, "tree %s: the data at %llu differs (%d/%zu against %d/%zu)", sub,
                      (unsigned long long)off, sm, gm, sd, gd);
        if (sm || gm == 0) break;
        off += gm;
      }
    } else if (a.type == CIS_VFS_DIR && depth < TREE_DEPTH) {
      uint32_t fl = CIS_VFS_READ | CIS_VFS_DIRECTORY;
      sm = cis_vfs_openat(dm, nm_, nl, fl, &fm);
      sd = cis_vfs_openat(dd, nm_, nl, fl, &fd);
      if (sm != sd) rc = differ(r, "tree open %s: %d against %d", sub, sm, sd);
      else if (!sm) rc = same_tree(r, sub, fm, fd, depth + 1);
    }
    if (fm) cis_vfs_close(fm);
    if (fd) cis_vfs_close(fd);
  }
  free(em_);
  free(ed_);
  return rc;
}

/* ---------------------------------------------------------------- layers */

/* The oracle of scopes rolled back and of layers: copies of the memory
 * tree, taken when the scope began or the snapshot was made. */

static int mem_side(run *r, side *sd) {
  cis_vfs_backend *b = NULL;
  memset(sd, 0, sizeof *sd);
  if (cis_vfs_mem_new(&b) != CIS_OK || cis_vfs_mount(b, &r->opts, &sd->fs) != CIS_OK ||
      cis_vfs_open_root(sd->fs, &sd->root)) {
    snprintf(r->why, r->cap, "a memory mount for a copy");
    return -1;
  }
  return 0;
}

static void side_free(side *sd) {
  for (int i = 0; i < SLOTS; i++)
    if (sd->slot[i]) cis_vfs_close(sd->slot[i]);
  if (sd->root) cis_vfs_close(sd->root);
  if (sd->fs) cis_vfs_unmount(sd->fs);
  memset(sd, 0, sizeof *sd);
}

/* Everything below directory `from` made again below `to`. */
static int copy_tree(run *r, cis_vfs_file *from, cis_vfs_file *to, int depth) {
  entry *e = calloc(LIST_MAX, sizeof *e);
  int n = 0, err = e ? list(from, e, &n) : ENOMEM;
  for (int i = 0; !err && i < n; i++) {
    const char *nm = e[i].name;
    size_t nl = strlen(nm);
    cis_vfs_file *a = NULL, *b = NULL;
    if (e[i].type == CIS_VFS_REG) {
      err = cis_vfs_openat(from, nm, nl, CIS_VFS_READ, &a);
      if (!err) err = cis_vfs_openat(to, nm, nl, CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_TRUNC, &b);
      for (uint64_t off = 0; !err;) {
        size_t got = 0, put = 0;
        err = cis_vfs_pread(a, r->mbuf, IO_MAX, off, &got);
        if (err || got == 0) break;
        err = cis_vfs_pwrite(b, r->mbuf, got, off, &put);
        off += got;
      }
    } else if (e[i].type == CIS_VFS_DIR && depth < 64) {
      uint32_t fl = CIS_VFS_READ | CIS_VFS_DIRECTORY;
      err = cis_vfs_mkdirat(to, nm, nl);
      if (!err) err = cis_vfs_openat(from, nm, nl, fl, &a);
      if (!err) err = cis_vfs_openat(to, nm, nl, fl, &b);
      if (!err) err = copy_tree(r, a, b, depth + 1);
    } else if (e[i].type == CIS_VFS_SYMLINK) {
      char t[CIS_VFS_PATH_MAX];
      size_t tl = 0;
      err = cis_vfs_readlinkat(from, nm, nl, t, sizeof t, &tl);
      if (!err) err = cis_vfs_symlinkat(t, tl, to, nm, nl);
    }
    if (a) cis_vfs_close(a);
    if (b) cis_vfs_close(b);
  }
  free(e);
  if (err) snprintf(r->why, r->cap, "copying the memory tree: %d", err);
  return err ? -1 : 0;
}

/* A fresh memory mount holding what `from` holds. */
static int mem_copy(run *r, const side *from, side *to) {
  if (mem_side(r, to)) return -1;
  if (copy_tree(r, from->root, to->root, 0)) {
    side_free(to);
    return -1;
  }
  return 0;
}

/* The memory side becomes a copy of `from` (its files closed first, as
 * the database side's are). */
static int mem_restore(run *r, const side *from) {
  side fresh;
  if (mem_copy(r, from, &fresh)) return -1;
  slots_close(r);
  side_free(&r->m);
  r->m = fresh;
  return 0;
}

static int do_scope(run *r) {
  if (r->scoped) {
    if (u8(r) % 4 || r->host) { /* mostly committed */
      side_free(&r->scope_copy);
      return scope_end(r);
    }
    /* Rolled back: nothing of the scope applies, on either side. */
    slots_close(r);
    r->scoped = false;
    cis_result rc = cis_vfs_scope_end(r->d.fs, false);
    if (rc != CIS_OK) return differ(r, "scope rollback: %s", cis_errname(rc));
    int e = mem_restore(r, &r->scope_copy);
    side_free(&r->scope_copy);
    return e ? -1 : same_tree(r, "(after a scope rolled back)", r->m.root, r->d.root, 0);
  }
  /* A copy only where a scope can roll back (not a host directory, whose
   * hard links a copy would not keep). */
  if (!r->host && mem_copy(r, &r->m, &r->scope_copy)) return -1;
  cis_result rc = cis_vfs_scope_begin(r->d.fs);
  if (rc != CIS_OK) return differ(r, "scope begin: %s", cis_errname(rc));
  r->scoped = true;
  return 0;
}

static void snap_drop(run *r, int i) {
  side_free(&r->snap[i].copy);
  for (; i + 1 < r->nsnap && i + 1 < SNAPS; i++) r->snap[i] = r->snap[i + 1];
  r->nsnap--;
  memset(&r->snap[r->nsnap], 0, sizeof r->snap[r->nsnap]);
}

/* A snapshot, a rollback to one, or a compaction, with nothing open and
 * no scope (a rollback and a compaction want no file open). */
static int do_layers(run *r) {
  unsigned kind = u8(r) % 3, which = u8(r);
  if (r->scoped || r->host) return 0;
  slots_close(r);
  if (kind == 0) {
    if (r->nsnap == SNAPS) snap_drop(r, 0);
    uint64_t id = 0;
    cis_result rc = cis_vfs_db_snapshot(r->d.fs, NULL, &id);
    if (rc != CIS_OK) return differ(r, "snapshot: %s (%s)", cis_errname(rc), cis_vfs_errmsg(r->d.fs));
    if (mem_copy(r, &r->m, &r->snap[r->nsnap].copy)) return -1;
    r->snap[r->nsnap++].layer = id;
    return 0;
  }
  if (kind == 1 && !r->nsnap) return 0;
  /* Not even the root may stay open for these two. */
  cis_vfs_close(r->d.root);
  r->d.root = NULL;
  cis_result rc;
  if (kind == 1) {
    int i = (int)(which % (unsigned)r->nsnap);
    rc = cis_vfs_db_rollback(r->d.fs, r->snap[i].layer, 0);
    if (cis_vfs_open_root(r->d.fs, &r->d.root)) return differ(r, "root after a rollback");
    if (rc != CIS_OK) return differ(r, "rollback: %s (%s)", cis_errname(rc), cis_vfs_errmsg(r->d.fs));
    if (mem_restore(r, &r->snap[i].copy)) return -1;
    /* The snapshots above it are gone with the layers they froze. */
    while (r->nsnap > i + 1) snap_drop(r, r->nsnap - 1);
    return same_tree(r, "(after a rollback)", r->m.root, r->d.root, 0);
  }
  /* A compaction keeping every layer, or those from a snapshot up. */
  uint64_t keep = r->nsnap && (which & 1) ? r->snap[which % (unsigned)r->nsnap].layer : 0;
  rc = cis_vfs_db_compact(r->d.fs, keep, NULL);
  if (cis_vfs_open_root(r->d.fs, &r->d.root)) return differ(r, "root after a compaction");
  if (rc != CIS_OK) return differ(r, "compaction: %s (%s)", cis_errname(rc), cis_vfs_errmsg(r->d.fs));
  for (int i = r->nsnap - 1; i >= 0; i--)
    if (r->snap[i].layer < keep) snap_drop(r, i);
  return same_tree(r, "(after a compaction)", r->m.root, r->d.root, 0);
}

/* ---------------------------------------------------------------- driver */

int cis_fuzz_vfs_db(const uint8_t *data, size_t size, const char *db_spec, const char *tenant,
                    char *why, size_t cap) {
  bool lease = strncmp(db_spec, "lease:", 6) == 0;
  if (lease) db_spec += 6;
  run r = {.p = data, .end = data + size, .spec = db_spec, .tenant = tenant, .why = why, .cap = cap,
           .host = strncmp(db_spec, "host:", 5) == 0,
           .defers = strncmp(db_spec, "postgres", 8) == 0, .lease = lease};
  why[0] = '\0';
  r.wbuf = malloc(IO_MAX);
  r.mbuf = malloc(IO_MAX);
  r.dbuf = malloc(IO_MAX);
  int rc = -1;
  /* The first byte: quotas on both sides, or (mostly) none. */
  unsigned q = u8(&r);
  if (q >= 200) {
    r.opts.max_files = 3 + q % 12;
    r.opts.max_bytes = (q & 1) ? 0 : 50000 + (uint64_t)(q % 7) * 40000;
  }
  cis_vfs_backend *mb = NULL;
  if (!r.wbuf || !r.mbuf || !r.dbuf || cis_vfs_mem_new(&mb) != CIS_OK ||
      cis_vfs_mount(mb, &r.opts, &r.m.fs) != CIS_OK || cis_vfs_open_root(r.m.fs, &r.m.root) ||
      mount_db(&r, &r.d.fs, &r.d.root)) {
    if (!why[0]) snprintf(why, cap, "memory mount or buffers");
    goto out;
  }
  rc = 0;
  for (r.op = 0; !rc && r.op < CIS_FUZZ_VFS_DB_OPS && r.p < r.end; r.op++) {
    switch (u8(&r) % 27) {
    case 0: case 1: case 2: case 3: rc = do_open(&r); break;
    case 4: case 5: case 6: rc = do_write(&r); break;
    case 7: case 8: rc = do_read(&r); break;
    case 9: rc = do_truncate(&r); break;
    case 10: rc = do_close(&r); break;
    case 11: rc = do_fstat(&r); break;
    case 12: case 13: rc = do_path(&r, 0); break;
    case 14: rc = do_path(&r, 1); break;
    case 15: rc = do_path(&r, 2); break;
    case 16: rc = do_rename(&r); break;
    case 17: rc = do_symlink(&r); break;
    case 18: rc = do_readlink(&r); break;
    case 19: rc = do_stat(&r); break;
    case 20: rc = do_list(&r); break;
    case 21: rc = (u8(&r) & 1) ? do_fsync(&r) : remount(&r); break;
    case 22: rc = do_other(&r); break;
    case 23: rc = do_scope(&r); break;
    case 24: rc = do_list_changing(&r); break;
    case 25: rc = do_times(&r); break;
    default: rc = do_layers(&r); break;
    }
  }
  /* What the database holds once mounted afresh is the memory mount's tree. */
  if (!rc) rc = remount(&r);
  if (!rc) rc = same_tree(&r, "", r.m.root, r.d.root, 0);
out:
  slots_close(&r);
  if (r.scoped) cis_vfs_scope_end(r.d.fs, false);
  side_free(&r.scope_copy);
  while (r.nsnap) snap_drop(&r, 0);
  if (r.d2root) cis_vfs_close(r.d2root);
  if (r.d2) cis_vfs_unmount(r.d2);
  if (r.d.root) cis_vfs_close(r.d.root);
  if (r.d.fs) cis_vfs_unmount(r.d.fs);
  if (r.m.root) cis_vfs_close(r.m.root);
  if (r.m.fs) cis_vfs_unmount(r.m.fs);
  free(r.wbuf);
  free(r.mbuf);
  free(r.dbuf);
  return rc;
}

/* One SQLite file for the whole run, a tenant per input, deleted after. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char spec[600];
  static unsigned long n;
  if (!spec[0]) {
    const char *tmp = getenv("TMPDIR");
    snprintf(spec, sizeof spec, "sqlite:%s/cis-fuzz-vfs-db-%ld.db", tmp && *tmp ? tmp : "/tmp",
             (long)getpid());
  }
  char tenant[32], why[1024];
  snprintf(tenant, sizeof tenant, "t%lu", n++);
  int rc = cis_fuzz_vfs_db(data, size, spec, tenant, why, sizeof why);
  cis_vfs_db_config cfg;
  cis_vfs_db_config_default(&cfg);
  cfg.spec = spec;
  cfg.tenant = tenant;
  cis_vfs_db_tenant_delete(&cfg);
  if (rc) {
    fprintf(stderr, "fuzz_vfs_db: %s\n", why);
    abort();
  }
  return 0;
}
