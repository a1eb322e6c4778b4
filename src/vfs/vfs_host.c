/*
 * This file implements the host-directory backend of the virtual
 * filesystem (cis_vfs_host_new): a directory of the host, confined so that
 * nothing above it can be reached through it.
 *
 * A node is a host descriptor: O_RDONLY / O_WRONLY / O_RDWR, or O_PATH for
 * a node opened without READ or WRITE that its permissions would not let
 * us read. Every method works on exactly ONE component relative to its
 * parent directory's descriptor; the wrappers (vfs.c) never hand over "",
 * ".", ".." or a '/', and this file refuses them again (EINVAL) so that a
 * broken caller still cannot climb. Opening uses openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS) when the kernel has it (a
 * probe at creation decides), else openat(O_NOFOLLOW); the other methods
 * are *at calls that never follow a final symlink (mkdirat, unlinkat,
 * renameat, symlinkat, readlinkat, linkat without AT_SYMLINK_FOLLOW,
 * fstatat with AT_SYMLINK_NOFOLLOW). Special files (FIFOs, devices,
 * sockets) are listed and stat'ed as CIS_VFS_UNKNOWN but cannot be
 * opened (EACCES); opens use O_NONBLOCK so a FIFO never blocks.
 *
 * Setting CIS_VFS_HOST_NO_OPENAT2=1 in the environment before creating a
 * backend makes it use the openat(O_NOFOLLOW) path even where openat2
 * exists, so the tests cover both.
 *
 * Readdir: a directory node keeps a buffer of getdents64 records and the
 * cookie it stands at; a cookie is the kernel's d_off (the position after
 * an entry, as lseek takes it), so any cookie handed out can be resumed
 * with one lseek, and a listing that goes on from where it stopped costs
 * no extra system call. On the usual filesystems (ext4 and xfs hash
 * positions, tmpfs offsets) these positions survive other entries being
 * added or removed.
 *
 * Errors are the host's errno values, passed through. Messages name only
 * the component, never a host path. A write that fails half-way (disk
 * full) is cut back to the file's old size; bytes it overwrote inside the
 * old size stay overwritten (the host filesystem has no transactions).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/internal.h"
#include "vfs/vfs_internal.h"

#define DIRBUF_SIZE 32768

typedef struct host_fs {
  cis_vfs_backend base; /* first, as cis_vfs_backend requires */
  int rootfd;           /* the host directory */
  bool openat2;         /* open with openat2 (probed at creation), else openat(O_NOFOLLOW) */
  uint64_t usage_entries; /* entries the usage walks stat'ed (cis__vfs_host_usage_entries) */
} host_fs;

/* A directory listing in progress. */
typedef struct host_dirbuf {
  uint64_t at;            /* the cookie of the entry at buf[pos] (where the fd stands when pos == len) */
  size_t len;             /* bytes of records in buf */
  size_t pos;             /* the next record */
  bool valid;             /* at/len/pos describe the fd's position */
  _Alignas(8) char buf[DIRBUF_SIZE]; /* getdents64 records (8-aligned, as the kernel lays them) */
} host_dirbuf;

typedef struct host_node {
  cis_vfs_node base; /* first, as cis_vfs_node requires */
  int fd;            /* the host descriptor */
  bool opath;        /* fd is O_PATH: only stat and *at calls work on it */
  host_dirbuf *db;   /* directories: the listing buffer, made on first readdir */
} host_node;

static int host_err(cis_vfs_backend *b, int err, const char *what, const char *name) {
  if (name && name[0])
    snprintf(b->errmsg, sizeof b->errmsg, "%s '%.200s': %s", what, name, strerror(err));
  else snprintf(b->errmsg, sizeof b->errmsg, "%s: %s", what, strerror(err));
  return err;
}

/* The errno of the last failed call, with a message. */
static int sys_err(cis_vfs_backend *b, const char *what, const char *name) {
  int err = errno ? errno : EIO;
  return host_err(b, err, what, name);
}

static int fd_of(cis_vfs_node *n) { return ((host_node *)n)->fd; }

/* A name the backend refuses whoever asks: anything but one component. */
static int check_name(cis_vfs_backend *b, const char *name) {
  if (!name[0] || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
    snprintf(b->errmsg, sizeof b->errmsg, "'%s' is not one path component", name);
    return EINVAL;
  }
  return 0;
}

static cis_vfs_type type_of(mode_t mode) {
  if (S_ISREG(mode)) return CIS_VFS_REG;
  if (S_ISDIR(mode)) return CIS_VFS_DIR;
  if (S_ISLNK(mode)) return CIS_VFS_SYMLINK;
  return CIS_VFS_UNKNOWN;
}

static uint64_t ts_ns(struct timespec t) {
  if (t.tv_sec < 0) return 0;
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void fill_stat(const struct stat *s, cis_vfs_stat *st) {
  st->dev = (uint64_t)s->st_dev;
  st->ino = (uint64_t)s->st_ino;
  st->type = type_of(s->st_mode);
  st->nlink = (uint64_t)s->st_nlink;
  st->size = S_ISDIR(s->st_mode) ? 0 : (uint64_t)s->st_size;
  st->atim = ts_ns(s->st_atim);
  st->mtim = ts_ns(s->st_mtim);
  st->ctim = ts_ns(s->st_ctim);
}

/* Opens the single component `name` below dirfd without following any
 * symlink: openat2 confined beneath dirfd, or openat(O_NOFOLLOW). Returns
 * the descriptor or -1 with errno. */
static int open_one(host_fs *h, int dirfd, const char *name, int oflags, mode_t mode) {
  int fd;
  if (h->openat2) {
    struct open_how how = {
        .flags = (uint64_t)(oflags | O_NOFOLLOW | O_CLOEXEC),
        .mode = (oflags & O_CREAT) ? mode : 0,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    do fd = (int)syscall(SYS_openat2, dirfd, name, &how, sizeof how);
    while (fd < 0 && errno == EINTR);
    return fd;
  }
  do fd = openat(dirfd, name, oflags | O_NOFOLLOW | O_CLOEXEC, mode);
  while (fd < 0 && errno == EINTR);
  return fd;
}

/* ------------------------------------------------------------- usage */

/* The usage walk (only a mount with a quota asks for it) visits the tree
 * depth first without recursion and with at most three descriptors open
 * whatever the depth: the directory it is in, and while it lists that one
 * a second descriptor of it (closedir closes it). Going down opens the
 * child relative to the current directory (O_NOFOLLOW: a symlink is never
 * followed) and closes the parent; coming back up opens ".." and checks
 * that it is the directory it came from (dev and ino), so a tree moved
 * under the walk cannot lead it elsewhere. Each level keeps only the
 * names of its subdirectories still to visit. A tree deeper than the
 * mount's max_depth stops the walk with ENAMETOOLONG. */

typedef struct usage_link {
  uint64_t dev;  /* a regular file with more than one link: its dev */
  uint64_t ino;  /* ... and ino, to count it once */
  uint64_t size; /* its bytes, counted once */
} usage_link;

/* One directory on the way down. */
typedef struct usage_level {
  uint64_t dev;  /* the directory, to recognise it when coming back up */
  uint64_t ino;
  char *names;   /* its subdirectories not yet visited, each NUL-terminated */
  size_t len;    /* bytes in names */
  size_t pos;    /* the next name */
} usage_level;

typedef struct usage_ctx {
  cis_vfs_backend *b; /* for messages */
  uint64_t bytes;     /* bytes of regular files with one link */
  uint64_t nodes;     /* nodes other than multi-link files */
  uint64_t entries;   /* entries stat'ed */
  usage_link *links;  /* multi-link files, counted after de-duplication */
  size_t nlinks;      /* entries in links */
  size_t cap;         /* slots in links */
} usage_ctx;

static int grow(cis_vfs_backend *b, void **p, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) return 0;
  size_t n = *cap ? *cap * 2 : 16;
  while (n < need) n *= 2;
  void *q = realloc(*p, n * size);
  if (!q) return host_err(b, ENOMEM, "usage", "");
  *p = q;
  *cap = n;
  return 0;
}

/* Counts the entries of the directory fd (not taken over) into c, and
 * collects the names of its subdirectories into lv. */
static int usage_list(usage_ctx *c, int fd, usage_level *lv) {
  int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return errno == EACCES ? 0 : sys_err(c->b, "usage: list", ""); /* unlistable: empty */
  DIR *d = fdopendir(dfd);
  if (!d) {
    int err = sys_err(c->b, "usage: list", "");
    close(dfd);
    return err;
  }
  size_t namecap = 0;
  int err = 0;
  for (;;) {
    errno = 0;
    struct dirent *de = readdir(d);
    if (!de) {
      if (errno) err = sys_err(c->b, "usage: list", "");
      break;
    }
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    struct stat s;
    c->entries++;
    if (fstatat(fd, de->d_name, &s, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue; /* went away meanwhile */
      err = sys_err(c->b, "usage: stat", de->d_name);
      break;
    }
    if (S_ISREG(s.st_mode) && s.st_nlink > 1) {
      if ((err = grow(c->b, (void **)&c->links, &c->cap, c->nlinks + 1, sizeof *c->links))) break;
      c->links[c->nlinks++] =
          (usage_link){.dev = (uint64_t)s.st_dev, .ino = (uint64_t)s.st_ino, .size = (uint64_t)s.st_size};
      continue;
    }
    c->nodes++;
    if (S_ISREG(s.st_mode)) c->bytes += (uint64_t)s.st_size;
    if (S_ISDIR(s.st_mode)) {
      size_t n = strlen(de->d_name) + 1;
      if ((err = grow(c->b, (void **)&lv->names, &namecap, lv->len + n, 1))) break;
      memcpy(lv->names + lv->len, de->d_name, n);
      lv->len += n;
    }
  }
  closedir(d);
  return err;
}

/* Walks the tree below the root directory rootfd into c. */
static int usage_walk(usage_ctx *c, int rootfd) {
  usage_level *lv = NULL;
  size_t depth = 0, cap = 0;
  struct stat s;
  int err = 0;
  int fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return sys_err(c->b, "usage: open", "");
  if (fstat(fd, &s) != 0) {
    err = sys_err(c->b, "usage: stat", "");
    goto done;
  }
  if ((err = grow(c->b, (void **)&lv, &cap, 1, sizeof *lv))) goto done;
  lv[depth++] = (usage_level){.dev = (uint64_t)s.st_dev, .ino = (uint64_t)s.st_ino};
  if ((err = usage_list(c, fd, &lv[0]))) goto done;
  while (depth) {
    usage_level *cur = &lv[depth - 1];
    if (cur->pos < cur->len) { /* down into the next subdirectory */
      const char *name = cur->names + cur->pos;
      cur->pos += strlen(name) + 1;
      if (depth > (c->b->max_depth ? c->b->max_depth : CIS_VFS_DEFAULT_MAX_DEPTH)) {
        err = host_err(c->b, ENAMETOOLONG, "usage: the tree is deeper than max_depth at", name);
        goto done;
      }
      int sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0) {
        /* Unlistable (counted as empty), gone, or no longer a directory. */
        if (errno == EACCES || errno == ENOENT || errno == ENOTDIR || errno == ELOOP) continue;
        err = sys_err(c->b, "usage: open", name);
        goto done;
      }
      if (fstat(sub, &s) != 0) {
        err = sys_err(c->b, "usage: stat", name);
        close(sub);
        goto done;
      }
      close(fd);
      fd = sub;
      if ((err = grow(c->b, (void **)&lv, &cap, depth + 1, sizeof *lv))) goto done;
      lv[depth++] = (usage_level){.dev = (uint64_t)s.st_dev, .ino = (uint64_t)s.st_ino};
      if ((err = usage_list(c, fd, &lv[depth - 1]))) goto done;
      continue;
    }
    free(cur->names);
    cur->names = NULL;
    if (--depth == 0) break;
    int up = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (up < 0) {
      err = sys_err(c->b, "usage: open", "..");
      goto done;
    }
    close(fd);
    fd = up;
    if (fstat(fd, &s) != 0 || (uint64_t)s.st_dev != lv[depth - 1].dev ||
        (uint64_t)s.st_ino != lv[depth - 1].ino) {
      err = host_err(c->b, EAGAIN, "usage: the tree moved during the walk", "");
      goto done;
    }
  }
done:
  for (size_t k = 0; k < depth; k++) free(lv[k].names);
  free(lv);
  close(fd);
  return err;
}

static int link_cmp(const void *a, const void *b) {
  const usage_link *x = a, *y = b;
  if (x->dev != y->dev) return x->dev < y->dev ? -1 : 1;
  if (x->ino != y->ino) return x->ino < y->ino ? -1 : 1;
  return 0;
}

static int host_usage(cis_vfs_backend *b, uint64_t *bytes, uint64_t *nodes) {
  host_fs *h = (host_fs *)b;
  usage_ctx c = {.b = b};
  int err = usage_walk(&c, h->rootfd);
  h->usage_entries += c.entries;
  if (err == 0) {
    if (c.nlinks) qsort(c.links, c.nlinks, sizeof *c.links, link_cmp);
    for (size_t k = 0; k < c.nlinks; k++) {
      if (k && link_cmp(&c.links[k - 1], &c.links[k]) == 0) continue;
      c.nodes++;
      c.bytes += c.links[k].size;
    }
    *bytes = c.bytes;
    *nodes = c.nodes;
  }
  free(c.links);
  return err;
}

/* ------------------------------------------------------------ methods */

static void host_destroy(cis_vfs_backend *b) {
  host_fs *h = (host_fs *)b;
  close(h->rootfd);
  free(h);
}

static int node_new(cis_vfs_backend *b, int fd, bool opath, cis_vfs_node **out) {
  host_node *n = calloc(1, sizeof *n);
  if (!n) {
    close(fd);
    return host_err(b, ENOMEM, "open", "");
  }
  n->base.fs = b;
  n->fd = fd;
  n->opath = opath;
  *out = &n->base;
  return 0;
}

static int host_root(cis_vfs_backend *b, cis_vfs_node **out) {
  int fd = openat(((host_fs *)b)->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return sys_err(b, "open root", "");
  return node_new(b, fd, false, out);
}

static int host_lookup(cis_vfs_backend *b, cis_vfs_node *dir, const char *name, uint32_t flags,
                       cis_vfs_stat *st) {
  (void)flags; /* every lookup asks the host's filesystem */
  struct stat s;
  int err = check_name(b, name);
  if (err) return err;
  if (fstatat(fd_of(dir), name, &s, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return ENOENT; /* common and unsurprising */
    return sys_err(b, "lookup", name);
  }
  fill_stat(&s, st);
  return 0;
}

static int host_open(cis_vfs_backend *b, cis_vfs_node *dir, const char *name, uint32_t flags,
                     cis_vfs_node **out) {
  host_fs *h = (host_fs *)b;
  int err = check_name(b, name);
  if (err) return err;
  bool rd = flags & CIS_VFS_READ, wr = flags & CIS_VFS_WRITE;
  int of = (rd && wr) ? O_RDWR : wr ? O_WRONLY : O_RDONLY;
  of |= O_NONBLOCK | O_NOCTTY;
  if (flags & CIS_VFS_CREAT) of |= O_CREAT;
  if (flags & CIS_VFS_EXCL) of |= O_EXCL;
  if (flags & CIS_VFS_TRUNC) of |= O_TRUNC;
  if (flags & CIS_VFS_DIRECTORY) of |= O_DIRECTORY;
  bool opath = false;
  int fd = open_one(h, fd_of(dir), name, of, 0644);
  if (fd < 0 && errno == EACCES &&
      !(flags & (CIS_VFS_READ | CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_TRUNC))) {
    /* Only looking (a directory to walk through, a node to stat): a
     * descriptor that cannot read will do. */
    fd = open_one(h, fd_of(dir), name, O_PATH | (of & O_DIRECTORY), 0);
    opath = true;
  }
  if (fd < 0) {
    if (errno == ENOENT) return ENOENT;
    return sys_err(b, "open", name);
  }
  struct stat s;
  if (fstat(fd, &s) != 0) {
    err = sys_err(b, "open: stat", name);
    close(fd);
    return err;
  }
  if (!S_ISREG(s.st_mode) && !S_ISDIR(s.st_mode)) {
    close(fd);
    return host_err(b, S_ISLNK(s.st_mode) ? ELOOP : EACCES, "open",
                    name); /* a symlink (O_PATH opens one) or a special file */
  }
  return node_new(b, fd, opath, out);
}

static int host_mkdir(cis_vfs_backend *b, cis_vfs_node *dir, const char *name) {
  int err = check_name(b, name);
  if (err) return err;
  if (mkdirat(fd_of(dir), name, 0755) != 0) return sys_err(b, "mkdir", name);
  return 0;
}

static int host_rmdir(cis_vfs_backend *b, cis_vfs_node *dir, const char *name) {
  int err = check_name(b, name);
  if (err) return err;
  if (unlinkat(fd_of(dir), name, AT_REMOVEDIR) != 0) {
    if (errno == EEXIST) errno = ENOTEMPTY; /* POSIX allows either; callers expect one */
    return sys_err(b, "rmdir", name);
  }
  return 0;
}

static int host_unlink(cis_vfs_backend *b, cis_vfs_node *dir, const char *name) {
  int err = check_name(b, name);
  if (err) return err;
  if (unlinkat(fd_of(dir), name, 0) != 0) return sys_err(b, "unlink", name);
  return 0;
}

static int host_rename(cis_vfs_backend *b, cis_vfs_node *odir, const char *oname,
                       cis_vfs_node *ndir, const char *nname) {
  int err = check_name(b, oname);
  if (err || (err = check_name(b, nname))) return err;
  if (renameat(fd_of(odir), oname, fd_of(ndir), nname) != 0) {
    if (errno == EEXIST) errno = ENOTEMPTY;
    return sys_err(b, "rename", oname);
  }
  return 0;
}

static int host_symlink(cis_vfs_backend *b, cis_vfs_node *dir, const char *name,
                        const char *target) {
  int err = check_name(b, name);
  if (err) return err;
  if (symlinkat(target, fd_of(dir), name) != 0) return sys_err(b, "symlink", name);
  return 0;
}

static int host_readlink(cis_vfs_backend *b, cis_vfs_node *dir, const char *name, char *buf,
                         size_t cap, size_t *len) {
  char tmp[CIS_VFS_PATH_MAX + 1];
  int err = check_name(b, name);
  if (err) return err;
  ssize_t n = readlinkat(fd_of(dir), name, tmp, sizeof tmp);
  if (n < 0) return sys_err(b, "readlink", name);
  if ((size_t)n > CIS_VFS_PATH_MAX) return host_err(b, ENAMETOOLONG, "readlink", name);
  *len = (size_t)n;
  if ((size_t)n > cap) return ERANGE;
  memcpy(buf, tmp, (size_t)n);
  return 0;
}

static int host_link(cis_vfs_backend *b, cis_vfs_node *odir, const char *oname,
                     cis_vfs_node *ndir, const char *nname) {
  int err = check_name(b, oname);
  if (err || (err = check_name(b, nname))) return err;
  if (linkat(fd_of(odir), oname, fd_of(ndir), nname, 0) != 0) return sys_err(b, "link", oname);
  return 0;
}

static void host_close(cis_vfs_backend *b, cis_vfs_node *n) {
  (void)b;
  host_node *hn = (host_node *)n;
  close(hn->fd);
  free(hn->db);
  free(hn);
}

static int host_stat(cis_vfs_backend *b, cis_vfs_node *n, cis_vfs_stat *st) {
  struct stat s;
  if (fstat(fd_of(n), &s) != 0) return sys_err(b, "stat", "");
  fill_stat(&s, st);
  return 0;
}

static int host_read(cis_vfs_backend *b, cis_vfs_node *n, void *buf, size_t len, uint64_t off,
                     size_t *got) {
  size_t done = 0;
  while (done < len && off + done <= (uint64_t)INT64_MAX) {
    ssize_t k = pread(fd_of(n), (char *)buf + done, len - done, (off_t)(off + done));
    if (k < 0) {
      if (errno == EINTR) continue;
      return sys_err(b, "read", "");
    }
    if (k == 0) break;
    done += (size_t)k;
  }
  *got = done;
  return 0;
}

static int host_write(cis_vfs_backend *b, cis_vfs_node *n, const void *buf, size_t len,
                      uint64_t off, size_t *put) {
  int fd = fd_of(n);
  struct stat s;
  if (fstat(fd, &s) != 0) return sys_err(b, "write: stat", "");
  if (off == CIS_VFS_APPEND) off = (uint64_t)s.st_size;
  if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - off)
    return host_err(b, EFBIG, "write", "");
  size_t done = 0;
  while (done < len) {
    ssize_t k = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      int err = k < 0 ? errno : ENOSPC;
      /* All or nothing, as far as the host allows: give back what grew
       * (if even that fails, the error below is still the one to report). */
      int cut = done ? ftruncate(fd, s.st_size) : 0;
      (void)cut;
      return host_err(b, err, "write", "");
    }
    done += (size_t)k;
  }
  *put = done;
  return 0;
}

static int host_truncate(cis_vfs_backend *b, cis_vfs_node *n, uint64_t size) {
  if (size > (uint64_t)INT64_MAX) return host_err(b, EFBIG, "truncate", "");
  if (ftruncate(fd_of(n), (off_t)size) != 0) return sys_err(b, "truncate", "");
  return 0;
}

static struct timespec to_ts(uint64_t ns, bool given, bool now) {
  struct timespec t = {.tv_sec = 0, .tv_nsec = UTIME_OMIT};
  if (now) t.tv_nsec = UTIME_NOW;
  else if (given) t = (struct timespec){.tv_sec = (time_t)(ns / 1000000000ull), .tv_nsec = (long)(ns % 1000000000ull)};
  return t;
}

static int host_set_times(cis_vfs_backend *b, cis_vfs_node *n, uint64_t atim, uint64_t mtim,
                          uint32_t flags) {
  struct timespec ts[2] = {
      to_ts(atim, flags & CIS_VFS_ATIM, flags & CIS_VFS_ATIM_NOW),
      to_ts(mtim, flags & CIS_VFS_MTIM, flags & CIS_VFS_MTIM_NOW),
  };
  if (futimens(fd_of(n), ts) != 0) return sys_err(b, "set_times", "");
  return 0;
}

/* dir/name is one component, not followed (AT_SYMLINK_NOFOLLOW), so
 * nothing outside the directory is reached. */
static int host_set_times_nofollow(cis_vfs_backend *b, cis_vfs_node *dir, const char *name,
                                   uint64_t atim, uint64_t mtim, uint32_t flags) {
  int err = check_name(b, name);
  if (err) return err;
  struct timespec ts[2] = {
      to_ts(atim, flags & CIS_VFS_ATIM, flags & CIS_VFS_ATIM_NOW),
      to_ts(mtim, flags & CIS_VFS_MTIM, flags & CIS_VFS_MTIM_NOW),
  };
  if (utimensat(fd_of(dir), name, ts, AT_SYMLINK_NOFOLLOW) != 0)
    return sys_err(b, "set_times_nofollow", name);
  return 0;
}

static int host_sync(cis_vfs_backend *b, cis_vfs_node *n) {
  if (fsync(fd_of(n)) != 0) return sys_err(b, "sync", "");
  return 0;
}

static int host_readdir(cis_vfs_backend *b, cis_vfs_node *dir, uint64_t cookie,
                        cis_vfs_dirent *ent) {
  host_node *hn = (host_node *)dir;
  if (cookie > (uint64_t)INT64_MAX) return host_err(b, EINVAL, "readdir: cookie", "");
  if (!hn->db && !(hn->db = calloc(1, sizeof *hn->db))) return host_err(b, ENOMEM, "readdir", "");
  host_dirbuf *db = hn->db;
  if (!db->valid || db->at != cookie) {
    if (lseek(hn->fd, (off_t)cookie, SEEK_SET) < 0) {
      db->valid = false;
      return sys_err(b, "readdir: seek", "");
    }
    db->at = cookie;
    db->len = db->pos = 0;
    db->valid = true;
  }
  for (;;) {
    if (db->pos >= db->len) {
      ssize_t k = getdents64(hn->fd, db->buf, sizeof db->buf);
      if (k < 0) {
        db->valid = false;
        return sys_err(b, "readdir", "");
      }
      if (k == 0) return ENOENT; /* the end; the fd stays at db->at */
      db->len = (size_t)k;
      db->pos = 0;
    }
    struct dirent64 *de = (struct dirent64 *)(db->buf + db->pos);
    db->pos += de->d_reclen;
    db->at = (uint64_t)de->d_off;
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    size_t nl = strnlen(de->d_name, CIS_VFS_NAME_MAX); /* Linux names fit NAME_MAX (255) */
    ent->next = (uint64_t)de->d_off;
    ent->ino = (uint64_t)de->d_ino;
    ent->namelen = nl;
    memcpy(ent->name, de->d_name, nl);
    ent->name[nl] = '\0';
    switch (de->d_type) {
    case DT_REG: ent->type = CIS_VFS_REG; break;
    case DT_DIR: ent->type = CIS_VFS_DIR; break;
    case DT_LNK: ent->type = CIS_VFS_SYMLINK; break;
    case DT_UNKNOWN: {
      struct stat s;
      ent->type = fstatat(hn->fd, de->d_name, &s, AT_SYMLINK_NOFOLLOW) == 0 ? type_of(s.st_mode)
                                                                          : CIS_VFS_UNKNOWN;
      break;
    }
    default: ent->type = CIS_VFS_UNKNOWN; break;
    }
    return 0;
  }
}

static const cis_vfs_methods host_methods = {
    .version = CIS_VFS_METHODS_VERSION,
    .name = "host",
    .destroy = host_destroy,
    .root = host_root,
    .usage = host_usage,
    .lookup = host_lookup,
    .open = host_open,
    .mkdir = host_mkdir,
    .rmdir = host_rmdir,
    .unlink = host_unlink,
    .rename = host_rename,
    .symlink = host_symlink,
    .readlink = host_readlink,
    .link = host_link,
    .close = host_close,
    .stat = host_stat,
    .read = host_read,
    .write = host_write,
    .truncate = host_truncate,
    .set_times = host_set_times,
    .sync = host_sync,
    .readdir = host_readdir,
    .set_times_nofollow = host_set_times_nofollow,
};

/* Whether openat2 works here (kernel 5.6+, not filtered by seccomp). */
static bool probe_openat2(int dirfd) {
  struct open_how how = {
      .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
      .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
  };
  int fd = (int)syscall(SYS_openat2, dirfd, ".", &how, sizeof how);
  if (fd < 0) return false;
  close(fd);
  return true;
}

cis_result cis_vfs_host_new(const char *host_dir, cis_vfs_backend **out) {
  if (!out) return CIS_EINVAL;
  *out = NULL;
  if (!host_dir || !host_dir[0]) {
    cis__vfs_set_ctor_error("vfs host: no host directory");
    return cis__vfs_backend_failed(CIS_EINVAL, out);
  }
  int fd = open(host_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    cis__vfs_set_ctor_error("vfs host: '%s': %s", host_dir, strerror(err));
    return cis__vfs_backend_failed(err == ENOENT || err == ENOTDIR ? CIS_ENOTFOUND : CIS_EVFS, out);
  }
  host_fs *h = calloc(1, sizeof *h);
  if (!h) {
    close(fd);
    return CIS_ENOMEM;
  }
  h->base.methods = &host_methods;
  h->rootfd = fd;
  const char *no2 = getenv("CIS_VFS_HOST_NO_OPENAT2");
  h->openat2 = !(no2 && no2[0] && strcmp(no2, "0") != 0) && probe_openat2(fd);
  *out = &h->base;
  return CIS_OK;
}

uint64_t cis__vfs_host_usage_entries(const cis_vfs_backend *b) {
  return b && b->methods == &host_methods ? ((const host_fs *)b)->usage_entries : 0;
}

bool cis__vfs_host_uses_openat2(const cis_vfs_backend *b) {
  return b && b->methods == &host_methods && ((const host_fs *)b)->openat2;
}
