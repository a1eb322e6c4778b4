/*
 * This file implements the memory backend of the virtual filesystem
 * (cis_vfs_mem_new): scratch storage that lives as long as its mount.
 *
 * Inodes are files (a growable byte array), directories (an array of
 * entries) and symlinks (the target's bytes). An inode lives while it has
 * links or open nodes: unlinking an open file leaves it readable and
 * writable until its last node closes. Hard links are real (nlink counts
 * directory entries; a directory's nlink is 2 plus its subdirectories).
 *
 * Readdir cookies: every entry of a directory gets the next value of the
 * directory's sequence counter when it is made, and the entries stay in
 * that order. A cookie is "the first entry whose sequence number is at
 * least this"; an entry's `next` is its sequence number plus one. Removing
 * entries never shifts a cookie, so a listing that goes on while entries
 * come and go never lists one twice or skips one that stayed. Name lookup
 * scans the directory (the quotas bound its size).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/internal.h"
#include "vfs/vfs_internal.h"

/* Largest file the backend keeps: above it writes fail with EFBIG rather
 * than asking the allocator for absurd sizes. */
#define MEM_MAX_FILE ((uint64_t)1 << 36)
/* Most bytes all files of one backend may hold allocated together: above
 * it writes and truncates fail with ENOSPC. A guest's ftruncate to 60 GiB
 * would otherwise have the host zero 60 GiB of pages. */
#define MEM_MAX_TOTAL ((uint64_t)2 << 30)

typedef struct mem_inode mem_inode;

typedef struct mem_dirent {
  uint64_t seq;     /* the directory's sequence number when it was made: the cookie */
  char *name;       /* owned, NUL-terminated */
  size_t namelen;   /* bytes in name */
  mem_inode *ino;   /* the inode it links */
} mem_dirent;

struct mem_inode {
  uint64_t ino;         /* stable number within the backend */
  cis_vfs_type type;    /* REG, DIR or SYMLINK */
  uint64_t nlink;       /* directory entries linking it (dirs: 2 + subdirectories) */
  uint32_t opens;       /* open nodes on it; it is freed when this and nlink are 0 */
  uint64_t atim;        /* last access, ns since the Unix epoch */
  uint64_t mtim;        /* last data change, ns */
  uint64_t ctim;        /* last status change, ns */
  uint8_t *data;        /* REG: the bytes (size of them valid); SYMLINK: the target */
  uint64_t size;        /* bytes in data */
  uint64_t cap;         /* bytes allocated in data */
  mem_dirent *ents;     /* DIR: entries in sequence order */
  size_t nents;         /* entries in ents */
  size_t entcap;        /* slots in ents */
  uint64_t seq;         /* DIR: the sequence number the next entry gets */
  mem_inode *parent;    /* DIR: the directory holding it (root: itself) */
  struct mem_fs *fs;    /* the backend, whose allocation count holds cap */
  bool removed;         /* DIR: rmdir'ed while open; nothing can be made in it */
};

typedef struct mem_fs {
  cis_vfs_backend base; /* first, as cis_vfs_backend requires */
  mem_inode *root;      /* the root directory */
  uint64_t next_ino;    /* the ino the next inode gets */
  uint64_t dev;         /* this backend's dev in stats */
  uint64_t bytes;       /* bytes in linked regular files */
  uint64_t nodes;       /* linked inodes, root excluded */
  uint64_t allocated;   /* bytes allocated for file data, every inode's cap */
} mem_fs;

typedef struct mem_node {
  cis_vfs_node base; /* first, as cis_vfs_node requires */
  mem_inode *i;      /* the inode it holds open */
} mem_node;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int mem_err(cis_vfs_backend *b, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int mem_err(cis_vfs_backend *b, int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(b->errmsg, sizeof b->errmsg, fmt, ap);
  va_end(ap);
  return err;
}

static mem_inode *inode_new(mem_fs *m, cis_vfs_type type) {
  mem_inode *i = calloc(1, sizeof *i);
  if (!i) return NULL;
  i->ino = m->next_ino++;
  i->type = type;
  i->fs = m;
  i->atim = i->mtim = i->ctim = now_ns();
  return i;
}

static void inode_free(mem_inode *i) {
  for (size_t k = 0; k < i->nents; k++) free(i->ents[k].name);
  free(i->ents);
  free(i->data);
  i->fs->allocated -= i->cap;
  free(i);
}

/* Frees i when nothing holds it any more. */
static void inode_maybe_free(mem_inode *i) {
  bool linked = i->type == CIS_VFS_DIR ? !i->removed : i->nlink > 0;
  if (!linked && i->opens == 0) inode_free(i);
}

/* The entry called name in directory d, or NULL. */
static mem_dirent *find(mem_inode *d, const char *name) {
  size_t n = strlen(name);
  for (size_t k = 0; k < d->nents; k++)
    if (d->ents[k].namelen == n && memcmp(d->ents[k].name, name, n) == 0) return &d->ents[k];
  return NULL;
}

/* Adds name -> i at the end of d (the newest sequence number). */
static int add_entry(mem_inode *d, const char *name, mem_inode *i) {
  if (d->nents == d->entcap) {
    size_t cap = d->entcap ? d->entcap * 2 : 8;
    mem_dirent *e = realloc(d->ents, cap * sizeof *e);
    if (!e) return ENOMEM;
    d->ents = e;
    d->entcap = cap;
  }
  char *copy = strdup(name);
  if (!copy) return ENOMEM;
  d->ents[d->nents++] = (mem_dirent){.seq = d->seq++, .name = copy, .namelen = strlen(name), .ino = i};
  d->mtim = d->ctim = now_ns();
  return 0;
}

/* Removes entry e of d (the entries after it keep their order). */
static void remove_entry(mem_inode *d, mem_dirent *e) {
  size_t k = (size_t)(e - d->ents);
  free(e->name);
  memmove(&d->ents[k], &d->ents[k + 1], (d->nents - k - 1) * sizeof *e);
  d->nents--;
  d->mtim = d->ctim = now_ns();
}

/* Drops one link of a non-directory; the usage forgets it with its last. */
static void unlink_inode(mem_fs *m, mem_inode *i) {
  i->nlink--;
  i->ctim = now_ns();
  if (i->nlink == 0) {
    m->nodes--;
    if (i->type == CIS_VFS_REG) m->bytes -= i->size;
  }
  inode_maybe_free(i);
}

/* Marks an empty directory gone. */
static void remove_dir(mem_fs *m, mem_inode *parent, mem_inode *d) {
  d->removed = true;
  d->nlink = 0;
  parent->nlink--;
  m->nodes--;
  inode_maybe_free(d);
}

static mem_inode *dir_of(cis_vfs_node *n) { return ((mem_node *)n)->i; }

/* ENOENT for a directory removed while open (nothing lives in it). */
static int live_dir(cis_vfs_backend *b, mem_inode *d) {
  if (d->removed) return mem_err(b, ENOENT, "the directory was removed");
  return 0;
}

/* ------------------------------------------------------------- methods */

/* Frees the whole tree below and including root without recursion: a
 * guest decides the depth (a directory per level, walked through
 * descriptors), and one C stack frame per level overflowed the stack at a
 * few hundred thousand. The walk goes down through each directory's last
 * entry and comes back up through `parent`, emptying each directory as it
 * goes, so it needs no memory of its own. Every node is closed before
 * (cis_vfs_methods.destroy), so directories removed while open are gone
 * already and nothing else points into the tree. */
static void mem_destroy_tree(mem_inode *root) {
  mem_inode *d = root;
  while (d) {
    if (d->nents) {
      mem_dirent *e = &d->ents[--d->nents];
      mem_inode *i = e->ino;
      free(e->name);
      if (i->type == CIS_VFS_DIR) {
        i->parent = d; /* the way back up, whatever a rename left */
        d = i;
      } else if (--i->nlink == 0) {
        inode_free(i);
      }
      continue;
    }
    mem_inode *up = d == root ? NULL : d->parent;
    inode_free(d);
    d = up;
  }
}

static void mem_destroy(cis_vfs_backend *b) {
  mem_fs *m = (mem_fs *)b;
  if (m->root) mem_destroy_tree(m->root);
  free(m);
}

static int node_new(cis_vfs_backend *b, mem_inode *i, cis_vfs_node **out) {
  mem_node *n = malloc(sizeof *n);
  if (!n) return mem_err(b, ENOMEM, "out of memory");
  n->base.fs = b;
  n->i = i;
  i->opens++;
  *out = &n->base;
  return 0;
}

static int mem_root(cis_vfs_backend *b, cis_vfs_node **out) {
  return node_new(b, ((mem_fs *)b)->root, out);
}

static int mem_usage(cis_vfs_backend *b, uint64_t *bytes, uint64_t *nodes) {
  mem_fs *m = (mem_fs *)b;
  *bytes = m->bytes;
  *nodes = m->nodes;
  return 0;
}

static void fill_stat(mem_fs *m, const mem_inode *i, cis_vfs_stat *st) {
  st->dev = m->dev;
  st->ino = i->ino;
  st->type = i->type;
  st->nlink = i->nlink;
  st->size = i->type == CIS_VFS_DIR ? 0 : i->size;
  st->atim = i->atim;
  st->mtim = i->mtim;
  st->ctim = i->ctim;
}

static int mem_lookup(cis_vfs_backend *b, cis_vfs_node *dir, const char *name, uint32_t flags,
                      cis_vfs_stat *st) {
  (void)flags; /* nothing to check: the tree is in memory */
  mem_dirent *e = find(dir_of(dir), name);
  if (!e) return ENOENT;
  fill_stat((mem_fs *)b, e->ino, st);
  return 0;
}

static int mem_open(cis_vfs_backend *b, cis_vfs_node *dir, const char *name, uint32_t flags,
                    cis_vfs_node **out) {
  mem_fs *m = (mem_fs *)b;
  mem_inode *d = dir_of(dir);
  mem_dirent *e = find(d, name);
  mem_inode *i = NULL;
  int err = 0;
  if (!e) {
    if (!(flags & CIS_VFS_CREAT)) return ENOENT;
    if ((err = live_dir(b, d))) return err;
    if (!(i = inode_new(m, CIS_VFS_REG))) return mem_err(b, ENOMEM, "out of memory");
    if ((err = add_entry(d, name, i)) || (err = node_new(b, i, out))) {
      if (d->nents && d->ents[d->nents - 1].ino == i) remove_entry(d, &d->ents[d->nents - 1]);
      inode_free(i);
      return mem_err(b, err, "out of memory");
    }
    i->nlink = 1;
    m->nodes++;
    return 0;
  }
  i = e->ino;
  if ((flags & CIS_VFS_CREAT) && (flags & CIS_VFS_EXCL)) return EEXIST;
  if (i->type == CIS_VFS_SYMLINK) return ELOOP;
  if ((flags & CIS_VFS_DIRECTORY) && i->type != CIS_VFS_DIR) return ENOTDIR;
  if (i->type == CIS_VFS_DIR && (flags & (CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_TRUNC)))
    return EISDIR;
  if ((err = node_new(b, i, out))) return err;
  if ((flags & CIS_VFS_TRUNC) && i->type == CIS_VFS_REG && i->size) {
    m->bytes -= i->size;
    i->size = 0;
    i->mtim = i->ctim = now_ns();
  }
  return 0;
}

static int mem_mkdir(cis_vfs_backend *b, cis_vfs_node *dir, const char *name) {
  mem_fs *m = (mem_fs *)b;
  mem_inode *d = dir_of(dir);
  int err = 0;
  if (find(d, name)) return EEXIST;
  if ((err = live_dir(b, d))) return err;
  mem_inode *i = inode_new(m, CIS_VFS_DIR);
  if (!i) return mem_err(b, ENOMEM, "out of memory");
  i->nlink = 2;
  i->parent = d;
  if ((err = add_entry(d, name, i))) {
    inode_free(i);
    return mem_err(b, err, "out of memory");
  }
  d->nlink++;
  m->nodes++;
  return 0;
}

static int mem_rmdir(cis_vfs_backend *b, cis_vfs_node *dir, const char *name) {
  mem_inode *d = dir_of(dir);
  mem_dirent *e = find(d, name);
  if (!e) return ENOENT;
  mem_inode *i = e->ino;
  if (i->type != CIS_VFS_DIR) return ENOTDIR;
  if (i->nents) return ENOTEMPTY;
  remove_entry(d, e);
  remove_dir((mem_fs *)b, d, i);
  return 0;
}

static int mem_unlink(cis_vfs_backend *b, cis_vfs_node *dir, const char *name) {
  mem_inode *d = dir_of(dir);
  mem_dirent *e = find(d, name);
  if (!e) return ENOENT;
  mem_inode *i = e->ino;
  if (i->type == CIS_VFS_DIR) return EISDIR;
  remove_entry(d, e);
  unlink_inode((mem_fs *)b, i);
  return 0;
}

/* Whether directory d is a or lies somewhere below it. */
static bool inside(const mem_inode *d, const mem_inode *a) {
  for (;;) {
    if (d == a) return true;
    if (d->parent == d || !d->parent) return false;
    d = d->parent;
  }
}

static int mem_rename(cis_vfs_backend *b, cis_vfs_node *odir, const char *oname,
                      cis_vfs_node *ndir, const char *nname) {
  mem_fs *m = (mem_fs *)b;
  mem_inode *od = dir_of(odir), *nd = dir_of(ndir);
  mem_dirent *oe = find(od, oname);
  if (!oe) return ENOENT;
  mem_inode *i = oe->ino;
  mem_dirent *ne = find(nd, nname);
  if (ne && ne->ino == i) return 0; /* two links of one inode: POSIX does nothing */
  int err = live_dir(b, nd);
  if (err) return err;
  if (i->type == CIS_VFS_DIR && inside(nd, i))
    return mem_err(b, EINVAL, "cannot move a directory into itself");
  if (ne) {
    mem_inode *t = ne->ino;
    if (i->type == CIS_VFS_DIR && t->type != CIS_VFS_DIR) return ENOTDIR;
    if (i->type != CIS_VFS_DIR && t->type == CIS_VFS_DIR) return EISDIR;
    if (t->type == CIS_VFS_DIR && t->nents) return ENOTEMPTY;
  }
  /* The new entry first (the only step that can fail), then the rest. */
  mem_dirent *keep = ne;
  uint64_t keep_seq = ne ? ne->seq : 0;
  if ((err = add_entry(nd, nname, i))) return mem_err(b, err, "out of memory");
  if (keep) { /* find it again: add_entry may have moved the array */
    mem_inode *t = NULL;
    for (size_t k = 0; k < nd->nents; k++) {
      if (nd->ents[k].seq == keep_seq) {
        t = nd->ents[k].ino;
        remove_entry(nd, &nd->ents[k]);
        break;
      }
    }
    if (t->type == CIS_VFS_DIR) remove_dir(m, nd, t);
    else unlink_inode(m, t);
  }
  oe = find(od, oname); /* again, for the same reason */
  remove_entry(od, oe);
  if (i->type == CIS_VFS_DIR && od != nd) {
    od->nlink--;
    nd->nlink++;
    i->parent = nd;
  }
  i->ctim = now_ns();
  return 0;
}

static int mem_symlink(cis_vfs_backend *b, cis_vfs_node *dir, const char *name,
                       const char *target) {
  mem_fs *m = (mem_fs *)b;
  mem_inode *d = dir_of(dir);
  int err = 0;
  if (find(d, name)) return EEXIST;
  if ((err = live_dir(b, d))) return err;
  mem_inode *i = inode_new(m, CIS_VFS_SYMLINK);
  if (!i) return mem_err(b, ENOMEM, "out of memory");
  i->size = strlen(target);
  i->data = malloc(i->size ? i->size : 1);
  if (!i->data || (err = add_entry(d, name, i))) {
    inode_free(i);
    return mem_err(b, ENOMEM, "out of memory");
  }
  memcpy(i->data, target, i->size);
  i->cap = i->size;
  m->allocated += i->cap;
  i->nlink = 1;
  m->nodes++;
  return 0;
}

static int mem_readlink(cis_vfs_backend *b, cis_vfs_node *dir, const char *name, char *buf,
                        size_t cap, size_t *len) {
  (void)b;
  mem_dirent *e = find(dir_of(dir), name);
  if (!e) return ENOENT;
  mem_inode *i = e->ino;
  if (i->type != CIS_VFS_SYMLINK) return EINVAL;
  *len = i->size;
  if (i->size > cap) return ERANGE;
  memcpy(buf, i->data, i->size);
  return 0;
}

static int mem_link(cis_vfs_backend *b, cis_vfs_node *odir, const char *oname,
                    cis_vfs_node *ndir, const char *nname) {
  mem_inode *nd = dir_of(ndir);
  mem_dirent *oe = find(dir_of(odir), oname);
  int err = 0;
  if (!oe) return ENOENT;
  mem_inode *i = oe->ino;
  if (i->type == CIS_VFS_DIR) return EPERM;
  if (find(nd, nname)) return EEXIST;
  if ((err = live_dir(b, nd))) return err;
  if ((err = add_entry(nd, nname, i))) return mem_err(b, err, "out of memory");
  i->nlink++;
  i->ctim = now_ns();
  return 0;
}

static void mem_close(cis_vfs_backend *b, cis_vfs_node *n) {
  (void)b;
  mem_inode *i = ((mem_node *)n)->i;
  free(n);
  i->opens--;
  inode_maybe_free(i);
}

static int mem_stat(cis_vfs_backend *b, cis_vfs_node *n, cis_vfs_stat *st) {
  fill_stat((mem_fs *)b, ((mem_node *)n)->i, st);
  return 0;
}

static int mem_read(cis_vfs_backend *b, cis_vfs_node *n, void *buf, size_t len, uint64_t off,
                    size_t *got) {
  mem_inode *i = ((mem_node *)n)->i;
  if (i->type == CIS_VFS_DIR) return mem_err(b, EISDIR, "read of a directory");
  if (off >= i->size) {
    *got = 0;
    return 0;
  }
  uint64_t avail = i->size - off;
  size_t k = avail < len ? (size_t)avail : len;
  memcpy(buf, i->data + off, k);
  *got = k;
  return 0;
}

/* Makes room for `size` bytes, zeroing what is new; all or nothing. */
static int reserve(cis_vfs_backend *b, mem_inode *i, uint64_t size) {
  if (size > MEM_MAX_FILE)
    return mem_err(b, EFBIG, "a file of %llu bytes is above the memory backend's %llu",
                   (unsigned long long)size, (unsigned long long)MEM_MAX_FILE);
  if (size > i->cap) {
    uint64_t cap = i->cap ? i->cap : 64;
    while (cap < size) cap *= 2;
    if (cap > MEM_MAX_FILE) cap = MEM_MAX_FILE;
    mem_fs *m = i->fs;
    if (cap - i->cap > MEM_MAX_TOTAL - m->allocated) {
      cap = size; /* no slack when near the limit */
      if (cap - i->cap > MEM_MAX_TOTAL - m->allocated)
        return mem_err(b, ENOSPC, "the memory backend holds %llu bytes; %llu more would pass its %llu",
                       (unsigned long long)m->allocated, (unsigned long long)(cap - i->cap),
                       (unsigned long long)MEM_MAX_TOTAL);
    }
    uint8_t *d = realloc(i->data, (size_t)cap);
    if (!d) return mem_err(b, ENOSPC, "out of memory for %llu bytes", (unsigned long long)cap);
    i->data = d;
    m->allocated += cap - i->cap;
    i->cap = cap;
  }
  if (size > i->size) memset(i->data + i->size, 0, (size_t)(size - i->size));
  return 0;
}

/* Sets i's size, keeping the backend's byte count for linked files. */
static void set_size(mem_fs *m, mem_inode *i, uint64_t size) {
  if (i->nlink) m->bytes = m->bytes - i->size + size;
  i->size = size;
}

static int mem_write(cis_vfs_backend *b, cis_vfs_node *n, const void *buf, size_t len,
                     uint64_t off, size_t *put) {
  mem_inode *i = ((mem_node *)n)->i;
  if (i->type != CIS_VFS_REG) return mem_err(b, EISDIR, "write of a directory");
  if (off == CIS_VFS_APPEND) off = i->size;
  if (len > UINT64_MAX - off) return EFBIG;
  uint64_t end = off + len;
  int err = reserve(b, i, end > i->size ? end : i->size);
  if (err) return err;
  memcpy(i->data + off, buf, len);
  if (end > i->size) set_size((mem_fs *)b, i, end);
  i->mtim = i->ctim = now_ns();
  *put = len;
  return 0;
}

static int mem_truncate(cis_vfs_backend *b, cis_vfs_node *n, uint64_t size) {
  mem_inode *i = ((mem_node *)n)->i;
  if (i->type != CIS_VFS_REG) return mem_err(b, EISDIR, "truncate of a directory");
  int err = reserve(b, i, size);
  if (err) return err;
  set_size((mem_fs *)b, i, size);
  i->mtim = i->ctim = now_ns();
  return 0;
}

/* Sets the times of i as set_times' flags say. */
static void set_times_of(mem_inode *i, uint64_t atim, uint64_t mtim, uint32_t flags) {
  uint64_t now = now_ns();
  if (flags & CIS_VFS_ATIM) i->atim = atim;
  if (flags & CIS_VFS_ATIM_NOW) i->atim = now;
  if (flags & CIS_VFS_MTIM) i->mtim = mtim;
  if (flags & CIS_VFS_MTIM_NOW) i->mtim = now;
  i->ctim = now;
}

static int mem_set_times(cis_vfs_backend *b, cis_vfs_node *n, uint64_t atim, uint64_t mtim,
                         uint32_t flags) {
  (void)b;
  set_times_of(((mem_node *)n)->i, atim, mtim, flags);
  return 0;
}

static int mem_set_times_nofollow(cis_vfs_backend *b, cis_vfs_node *dir, const char *name,
                                  uint64_t atim, uint64_t mtim, uint32_t flags) {
  (void)b;
  mem_dirent *e = find(dir_of(dir), name);
  if (!e) return ENOENT;
  set_times_of(e->ino, atim, mtim, flags);
  return 0;
}

static int mem_sync(cis_vfs_backend *b, cis_vfs_node *n) {
  (void)b;
  (void)n;
  return 0; /* nothing is more durable than memory here */
}

static int mem_readdir(cis_vfs_backend *b, cis_vfs_node *dir, uint64_t cookie,
                       cis_vfs_dirent *ent) {
  mem_inode *d = dir_of(dir);
  if (d->type != CIS_VFS_DIR) return mem_err(b, ENOTDIR, "readdir of a non-directory");
  size_t lo = 0, hi = d->nents; /* the first entry with seq >= cookie */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (d->ents[mid].seq < cookie) lo = mid + 1;
    else hi = mid;
  }
  if (lo == d->nents) return ENOENT;
  const mem_dirent *e = &d->ents[lo];
  ent->next = e->seq + 1;
  ent->ino = e->ino->ino;
  ent->type = e->ino->type;
  ent->namelen = e->namelen;
  memcpy(ent->name, e->name, e->namelen + 1);
  return 0;
}

static const cis_vfs_methods mem_methods = {
    .version = CIS_VFS_METHODS_VERSION,
    .name = "mem",
    .destroy = mem_destroy,
    .root = mem_root,
    .usage = mem_usage,
    .lookup = mem_lookup,
    .open = mem_open,
    .mkdir = mem_mkdir,
    .rmdir = mem_rmdir,
    .unlink = mem_unlink,
    .rename = mem_rename,
    .symlink = mem_symlink,
    .readlink = mem_readlink,
    .link = mem_link,
    .close = mem_close,
    .stat = mem_stat,
    .read = mem_read,
    .write = mem_write,
    .truncate = mem_truncate,
    .set_times = mem_set_times,
    .sync = mem_sync,
    .readdir = mem_readdir,
    .set_times_nofollow = mem_set_times_nofollow,
};

/* Each memory backend gets its own dev, so two of them never look alike. */
static uint64_t mem_next_dev = 1;

cis_result cis_vfs_mem_new(cis_vfs_backend **out) {
  if (!out) return CIS_EINVAL;
  *out = NULL;
  mem_fs *m = calloc(1, sizeof *m);
  if (!m) goto fail;
  m->base.methods = &mem_methods;
  m->next_ino = 1;
  m->dev = __atomic_fetch_add(&mem_next_dev, 1, __ATOMIC_RELAXED) | ((uint64_t)0x6d656d << 40);
  m->root = inode_new(m, CIS_VFS_DIR);
  if (!m->root) goto fail;
  m->root->nlink = 2;
  m->root->parent = m->root;
  *out = &m->base;
  return CIS_OK;
fail:
  free(m);
  return CIS_ENOMEM; /* the one failure: no handle to hold it (cis.h, "Errors") */
}
