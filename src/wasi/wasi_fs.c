/*
 * This file implements the filesystem half of WASI preview1 over the
 * virtual filesystem (include/cis/cis_vfs.h): preopens, the fd_* calls
 * that act on files and directories (offsets, appends, stat, times, sizes,
 * sync, readdir with its cookies) and every path_* call, plus the one
 * mapping from VFS error numbers to WASI errno values.
 *
 * A file or directory descriptor holds a cis_vfs_file and nothing else of
 * the host; paths go to the VFS wrappers, which are the sandbox (no path
 * leaves its base directory, whatever symlinks say). This layer adds what
 * WASI asks of it and the VFS does not know: rights (checked on every call,
 * ENOTCAPABLE; a descriptor opened through a directory gets at most that
 * directory's inheriting rights), the offset of each descriptor, guest
 * memory (every range checked, EFAULT), and a few refusals made here so
 * that every backend answers alike: an empty path (ENOENT), a path that is
 * not UTF-8 (EILSEQ) and a path longer than CIS_VFS_PATH_MAX
 * (ENAMETOOLONG). The answers for the standard streams (character devices
 * that cannot seek, sync or hold paths) live here too, so every call
 * answers every kind of descriptor.
 *
 * A VFS failure reaches the guest as a WASI errno and is also kept on the
 * cis_wasi for the host (cis_wasi_last_vfs_error): a failure of the storage
 * itself (CIS_VFS_EDOWN, EIO) is only EIO to the guest.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "wasi/wasi_internal.h"


#define WASI_GATHER_MAX (64u * 1024) /* a writev up to this size is one VFS write */
#define WASI_OFF_MAX ((uint64_t)INT64_MAX) /* files end below 2^63, as off_t does */

/* Rights that need the VFS file opened for writing. */
#define WASI_R_WRITING (WASI_R_FD_WRITE | WASI_R_FD_ALLOCATE | WASI_R_FD_FILESTAT_SET_SIZE)

/* ------------------------------------------------------------- errors */

/* The WASI errno for a VFS error number (POSIX errno values plus the two
 * of cis_vfs.h). Unknown numbers are EIO: the guest cannot act on them. */
static int wasi_errno_of(int err) {
  switch (err) {
  case 0: return WASI_ESUCCESS;
  case CIS_VFS_ENOTCAPABLE: return WASI_ENOTCAPABLE;
  case CIS_VFS_EDOWN: return WASI_EIO;
#define WASI_ERRNO(name, value) \
  case E##name: return WASI_E##name;
#define WASI_ERRNO_OWN(name, value)
#include "wasi/wasi_errno.def"
#undef WASI_ERRNO_OWN
#undef WASI_ERRNO
  default: return WASI_EIO;
  }
}

/* Records a failed VFS call of `call` on a mount of fs for the host and
 * returns the guest's errno. A failure the guest sees as EIO is not
 * overwritten by later ordinary ones (see cis_wasi_last_vfs_error). */
static int vfs_fail(cis_wasi *w, const cis_vfs *fs, const char *call, int err) {
  int we = wasi_errno_of(err);
  bool storage = we == WASI_EIO;
  if (storage || !w->vfs_err_sticky) {
    w->vfs_err = cis_vfs_result(err);
    w->vfs_err_sticky = storage;
    snprintf(w->vfs_msg, sizeof w->vfs_msg, "%s: %s", call, fs ? cis_vfs_errmsg(fs) : "");
  }
  return we;
}

/* The same for a call on an open VFS file or directory. */
static int file_fail(cis_wasi *w, const cis_vfs_file *f, const char *call, int err) {
  return vfs_fail(w, cis_vfs_file_mount(f), call, err);
}

cis_result cis_wasi_last_vfs_error(const cis_wasi *w, const char **msg) {
  if (msg) *msg = w ? w->vfs_msg : "";
  return w ? w->vfs_err : CIS_EINVAL;
}

void cis_wasi_clear_vfs_error(cis_wasi *w) {
  if (!w) return;
  w->vfs_err = CIS_OK;
  w->vfs_err_sticky = false;
  w->vfs_msg[0] = 0;
}

/* ------------------------------------------------------------ preopens */

cis_result cis_wasi_preopen(cis_wasi *w, cis_vfs *fs, const char *guest_path) {
  if (!w || !fs || !guest_path || !*guest_path) return CIS_EINVAL;
  if (w->h.failed) return CIS_ESTATE; /* its creation failed: only its message and free */
  char *name = strdup(guest_path);
  if (!name) return CIS_ENOMEM;
  uint32_t fd;
  int e = cis__wasi_fd_alloc(w, &fd);
  if (e) {
    free(name);
    return e == WASI_EMFILE ? CIS_ESTATE : CIS_ENOMEM;
  }
  cis_vfs_file *root;
  int err = cis_vfs_open_root(fs, &root);
  if (err) {
    free(name);
    vfs_fail(w, fs, "preopen", err);
    return cis_vfs_result(err);
  }
  wasi_fd *f = &w->fds[fd];
  memset(f, 0, sizeof *f);
  f->kind = WASI_FD_DIR;
  f->rights = WASI_R_DIR_ALL;
  f->inheriting = WASI_R_DIR_ALL | WASI_R_FILE_ALL;
  f->file = root;
  f->preopen_name = name;
  return CIS_OK;
}

/* ------------------------------------------------------ readdir cookies */

/* A guest keeps a directory position as a `long` (wasi-libc's telldir and
 * seekdir), which is 32 bits on wasm32 and sign-extended, while a VFS
 * cookie is any u64 (the host backend hands out the kernel's d_off, often
 * a 63-bit hash). So a VFS cookie below WASI_COOKIE_DIRECT reaches the
 * guest as it is, and a larger one as WASI_COOKIE_DIRECT + a slot of a
 * per-descriptor table that remembers it. The same VFS cookie always gets
 * the same slot; the table holds at most WASI_COOKIE_SLOTS cookies (a
 * directory read with that many distinct large cookies makes fd_readdir
 * EOVERFLOW), so a guest cannot grow it without bound. */
#define WASI_COOKIE_DIRECT (1ull << 30)
#define WASI_COOKIE_SLOTS (1u << 20)

struct wasi_cookies {
  uint64_t *vfs;  /* slot -> VFS cookie */
  uint32_t n;     /* slots used */
  uint32_t cap;   /* slots allocated in vfs */
  uint32_t *hash; /* open addressing over VFS cookies: slot + 1, 0 = empty */
  uint32_t hcap;  /* buckets in hash, a power of two, at least 2 * cap */
};

static void cookies_free(struct wasi_cookies *k) {
  if (!k) return;
  free(k->vfs);
  free(k->hash);
  free(k);
}

static uint32_t cookie_bucket(uint64_t c, uint32_t hcap) {
  return (uint32_t)((c * 0x9e3779b97f4a7c15ull) >> 32) & (hcap - 1);
}

/* The guest's cookie for VFS cookie c: WASI_ESUCCESS or ENOMEM/EOVERFLOW. */
static int cookie_to_guest(wasi_fd *f, uint64_t c, uint64_t *out) {
  if (c < WASI_COOKIE_DIRECT) {
    *out = c;
    return WASI_ESUCCESS;
  }
  struct wasi_cookies *k = f->cookies;
  if (!k && !(k = f->cookies = calloc(1, sizeof *k))) return WASI_ENOMEM;
  if (k->hcap) {
    for (uint32_t i = cookie_bucket(c, k->hcap);; i = (i + 1) & (k->hcap - 1)) {
      if (!k->hash[i]) break;
      if (k->vfs[k->hash[i] - 1] == c) {
        *out = WASI_COOKIE_DIRECT + k->hash[i] - 1;
        return WASI_ESUCCESS;
      }
    }
  }
  if (k->n == WASI_COOKIE_SLOTS) return WASI_EOVERFLOW;
  if (k->n == k->cap) {
    uint32_t cap = k->cap ? k->cap * 2 : 64, hcap = cap * 2;
    uint64_t *v = realloc(k->vfs, cap * sizeof *v);
    if (!v) return WASI_ENOMEM;
    k->vfs = v;
    uint32_t *h = calloc(hcap, sizeof *h);
    if (!h) return WASI_ENOMEM;
    for (uint32_t s = 0; s < k->n; s++) {
      uint32_t i = cookie_bucket(k->vfs[s], hcap);
      while (h[i]) i = (i + 1) & (hcap - 1);
      h[i] = s + 1;
    }
    free(k->hash);
    k->hash = h;
    k->hcap = hcap;
    k->cap = cap;
  }
  uint32_t i = cookie_bucket(c, k->hcap);
  while (k->hash[i]) i = (i + 1) & (k->hcap - 1);
  k->vfs[k->n] = c;
  k->hash[i] = ++k->n;
  *out = WASI_COOKIE_DIRECT + k->n - 1;
  return WASI_ESUCCESS;
}

/* The VFS cookie for a guest's cookie; EINVAL for one never handed out. */
static int cookie_from_guest(const wasi_fd *f, uint64_t g, uint64_t *out) {
  if (g < WASI_COOKIE_DIRECT) {
    *out = g;
    return WASI_ESUCCESS;
  }
  uint64_t slot = g - WASI_COOKIE_DIRECT;
  if (!f->cookies || slot >= f->cookies->n) return WASI_EINVAL;
  *out = f->cookies->vfs[slot];
  return WASI_ESUCCESS;
}

void cis__wasi_arm(cis_call *c, wasi_fd *f) {
  cis_vfs *fs = f->file ? cis_vfs_file_mount(f->file) : NULL;
  if (!fs) return;
  cis_wasi *w = WASI_SELF;
  size_t i = 0;
  while (i < w->narmed && w->armed[i] != fs) i++;
  if (i == w->narmed) {
    if (w->narmed == w->armedcap) {
      size_t cap = w->armedcap ? w->armedcap * 2 : 4;
      cis_vfs **a = realloc(w->armed, cap * sizeof *a);
      if (!a) return; /* unbounded by the call, still by the backend's own timeout */
      w->armed = a;
      w->armedcap = cap;
    }
    w->armed[w->narmed++] = fs;
  }
  cis_vfs_set_timeout(fs, cis_call_remaining_ms(c));
}

void cis__wasi_disarm(cis_wasi *w) {
  for (size_t i = 0; i < w->narmed; i++) cis_vfs_set_timeout(w->armed[i], UINT64_MAX);
  w->narmed = 0;
}

void cis__wasi_fs_close(wasi_fd *f) {
  if (f->file) cis_vfs_close(f->file);
  f->file = NULL;
  cookies_free(f->cookies);
  f->cookies = NULL;
}

/* ------------------------------------------------------------- helpers */

/* The descriptor for an fd_* call, or the errno to answer. A descriptor
 * of a kind the call does not take answers that kind's errno (0 = the
 * call takes it): `stdio_errno` for the standard streams, `dir_errno` for
 * a directory, `file_errno` for a regular file. The order is the
 * reference runtimes': no such descriptor (EBADF), then the wrong kind,
 * then a missing right (ENOTCAPABLE). */
static int fd_for(cis_call *c, uint32_t fd, uint64_t right, int stdio_errno, int dir_errno,
                  int file_errno, wasi_fd **out) {
  wasi_fd *f = cis__wasi_fd_get(WASI_SELF, fd);
  if (!f) return WASI_EBADF;
  if (f->kind == WASI_FD_STDIO && stdio_errno) return stdio_errno;
  if (f->kind == WASI_FD_DIR && dir_errno) return dir_errno;
  if (f->kind == WASI_FD_FILE && file_errno) return file_errno;
  if (right && !(f->rights & right)) return WASI_ENOTCAPABLE;
  cis__wasi_arm(c, f);
  *out = f;
  return WASI_ESUCCESS;
}

/* A directory descriptor, without its rights: EBADF, ENOTDIR. */
static int dir_get(cis_call *c, uint32_t fd, wasi_fd **out) {
  (void)c;
  wasi_fd *f = cis__wasi_fd_get(WASI_SELF, fd);
  if (!f) return WASI_EBADF;
  if (f->kind != WASI_FD_DIR) return WASI_ENOTDIR;
  *out = f;
  return WASI_ESUCCESS;
}

/* The directory descriptor for a path_* call. */
static int dir_for(cis_call *c, uint32_t fd, uint64_t rights, wasi_fd **out) {
  wasi_fd *f;
  int e = dir_get(c, fd, &f);
  if (e) return e;
  if ((f->rights & rights) != rights) return WASI_ENOTCAPABLE;
  cis__wasi_arm(c, f);
  *out = f;
  return WASI_ESUCCESS;
}

/* True when [p, p+n) is well-formed UTF-8 (no overlong forms, surrogates
 * or code points above U+10FFFF). */
static bool utf8_ok(const uint8_t *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t b = p[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    size_t len;
    uint32_t cp, min;
    if ((b & 0xe0) == 0xc0) len = 2, cp = b & 0x1f, min = 0x80;
    else if ((b & 0xf0) == 0xe0) len = 3, cp = b & 0x0f, min = 0x800;
    else if ((b & 0xf8) == 0xf0) len = 4, cp = b & 0x07, min = 0x10000;
    else return false;
    if (n - i < len) return false;
    for (size_t k = 1; k < len; k++) {
      if ((p[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

/* A path (or symlink target) argument: [ptr, ptr+len) of guest memory.
 * EFAULT outside memory, ENOENT when empty (as POSIX), ENAMETOOLONG over
 * CIS_VFS_PATH_MAX, EILSEQ when it is not UTF-8, EINVAL when it holds a
 * NUL (which no backend could store; checked here for symlink targets,
 * which the VFS stores as given). */
static int path_arg(cis_call *c, uint32_t ptr, uint32_t len, const char **out) {
  const uint8_t *p = wasi_mem(c, ptr, len);
  if (!p) return WASI_EFAULT;
  if (len == 0) return WASI_ENOENT;
  if (len > CIS_VFS_PATH_MAX) return WASI_ENAMETOOLONG;
  if (!utf8_ok(p, len)) return WASI_EILSEQ;
  if (memchr(p, 0, len)) return WASI_EINVAL;
  *out = (const char *)p;
  return WASI_ESUCCESS;
}

static uint8_t filetype_of(cis_vfs_type t) {
  switch (t) {
  case CIS_VFS_REG: return WASI_FT_REGULAR_FILE;
  case CIS_VFS_DIR: return WASI_FT_DIRECTORY;
  case CIS_VFS_SYMLINK: return WASI_FT_SYMBOLIC_LINK;
  default: return WASI_FT_UNKNOWN;
  }
}

/* Writes a witx filestat (64 bytes) at p. */
static void put_filestat(uint8_t *p, const cis_vfs_stat *st) {
  memset(p, 0, 64);
  wasi_put_u64(p, st->dev);
  wasi_put_u64(p + 8, st->ino);
  p[16] = filetype_of(st->type);
  wasi_put_u64(p + 24, st->nlink);
  wasi_put_u64(p + 32, st->size);
  wasi_put_u64(p + 40, st->atim);
  wasi_put_u64(p + 48, st->mtim);
  wasi_put_u64(p + 56, st->ctim);
}

/* The CIS_VFS_ATIM.. flags for WASI fstflags, or -1 when they are invalid
 * (unknown bits, or a time both given and "now"). */
static int64_t times_flags(uint32_t fl) {
  if ((fl & ~0xfu) || ((fl & WASI_FST_ATIM) && (fl & WASI_FST_ATIM_NOW)) ||
      ((fl & WASI_FST_MTIM) && (fl & WASI_FST_MTIM_NOW)))
    return -1;
  uint32_t out = 0;
  if (fl & WASI_FST_ATIM) out |= CIS_VFS_ATIM;
  if (fl & WASI_FST_ATIM_NOW) out |= CIS_VFS_ATIM_NOW;
  if (fl & WASI_FST_MTIM) out |= CIS_VFS_MTIM;
  if (fl & WASI_FST_MTIM_NOW) out |= CIS_VFS_MTIM_NOW;
  return out;
}

/* Brings the offset of a file descriptor up to date after appends. */
static int resolve_pos(cis_wasi *w, wasi_fd *f, const char *call) {
  if (!f->pos_at_end) return WASI_ESUCCESS;
  cis_vfs_stat st;
  int err = cis_vfs_fstat(f->file, &st);
  if (err) return file_fail(w, f->file, call, err);
  f->pos = st.size;
  f->pos_at_end = false;
  return WASI_ESUCCESS;
}

/* ------------------------------------------------------- read and write */

int cis__wasi_fs_read(cis_wasi *w, wasi_fd *f, uint8_t *dst, size_t len, bool positioned,
                      uint64_t off, size_t *got) {
  *got = 0;
  if (!positioned) {
    int e = resolve_pos(w, f, "fd_read");
    if (e) return e;
    off = f->pos;
  }
  int err = cis_vfs_pread(f->file, dst, len, off, got);
  if (err) return file_fail(w, f->file, positioned ? "fd_pread" : "fd_read", err);
  if (!positioned) f->pos += *got;
  return WASI_ESUCCESS;
}

int cis__wasi_fs_readable(cis_wasi *w, wasi_fd *f, uint64_t *nbytes) {
  *nbytes = 0;
  if (f->kind != WASI_FD_FILE || cis_vfs_file_type(f->file) != CIS_VFS_REG) return WASI_ESUCCESS;
  cis_vfs_stat st;
  int err = cis_vfs_fstat(f->file, &st);
  if (err) return file_fail(w, f->file, "poll_oneoff", err);
  uint64_t pos = f->pos_at_end ? st.size : f->pos;
  *nbytes = st.size > pos ? st.size - pos : 0;
  return WASI_ESUCCESS;
}

/* One VFS write of len bytes at off (or appended). */
static int write_once(cis_wasi *w, wasi_fd *f, const uint8_t *src, size_t len, bool append,
                      uint64_t off, const char *call) {
  size_t put = 0;
  int err = cis_vfs_pwrite(f->file, src, len, append ? CIS_VFS_APPEND : off, &put);
  if (err) return file_fail(w, f->file, call, err);
  if (put != len) return WASI_EIO; /* the VFS writes all or nothing */
  return WASI_ESUCCESS;
}

int cis__wasi_fs_writev(cis_call *c, wasi_fd *f, const uint8_t *arr, uint32_t n,
                        bool positioned, uint64_t off, uint64_t *put) {
  cis_wasi *w = WASI_SELF;
  const char *call = positioned ? "fd_pwrite" : "fd_write";
  *put = 0;
  uint64_t total = 0;
  uint32_t nonempty = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t l = wasi_get_u32(arr + 8 * i + 4);
    total += l;
    nonempty += l != 0;
  }
  bool append = !positioned && (f->fdflags & WASI_FDF_APPEND);
  if (!positioned && !append) {
    int e = resolve_pos(w, f, call);
    if (e) return e;
    off = f->pos;
  }
  if (total == 0) return WASI_ESUCCESS;
  if (!append && (off > WASI_OFF_MAX || total > WASI_OFF_MAX - off)) return WASI_EFBIG;

  int e = WASI_ESUCCESS;
  uint64_t done = 0;
  if (nonempty > 1 && total <= WASI_GATHER_MAX) {
    /* One VFS write: the whole writev lands or none of it does. */
    uint8_t *buf = malloc((size_t)total);
    if (!buf) return WASI_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
      uint32_t p = wasi_get_u32(arr + 8 * i), l = wasi_get_u32(arr + 8 * i + 4);
      if (l) memcpy(buf + done, wasi_mem(c, p, l), l);
      done += l;
    }
    e = write_once(w, f, buf, (size_t)total, append, off, call);
    free(buf);
    if (e) return e;
  } else {
    for (uint32_t i = 0; i < n; i++) {
      uint32_t p = wasi_get_u32(arr + 8 * i), l = wasi_get_u32(arr + 8 * i + 4);
      if (!l) continue;
      e = write_once(w, f, wasi_mem(c, p, l), l, append, off + done, call);
      if (e) break;
      done += l;
    }
    if (e && !done) return e;
  }
  /* The sync fdflags make every write durable before it returns. */
  if (f->fdflags & (WASI_FDF_DSYNC | WASI_FDF_SYNC | WASI_FDF_RSYNC)) {
    int err = cis_vfs_fsync(f->file);
    if (err) return file_fail(w, f->file, call, err);
  }
  if (!positioned) {
    if (append) f->pos_at_end = true;
    else f->pos = off + done;
  }
  *put = done;
  return WASI_ESUCCESS;
}

/* ------------------------------------------------------------- fd_* */

WASI_FN(fd_advise) {
  wasi_fd *f;
  int e = fd_for(c, a[0].u32, WASI_R_FD_ADVISE, WASI_ESPIPE, 0, 0, &f);
  if (e) WASI_RET(e);
  if (a[3].u32 > 5) WASI_RET(WASI_EINVAL);
  /* Advice is a hint, and no backend caches in a way it could steer. */
  WASI_RET(WASI_ESUCCESS);
}

WASI_FN(fd_allocate) {
  cis_wasi *w = WASI_SELF;
  wasi_fd *f;
  int e = fd_for(c, a[0].u32, WASI_R_FD_ALLOCATE, WASI_ESPIPE, WASI_EISDIR, 0, &f);
  if (e) WASI_RET(e);
  uint64_t off = a[1].u64, len = a[2].u64;
  if (len == 0 || off > WASI_OFF_MAX) WASI_RET(WASI_EINVAL); /* as posix_fallocate */
  if (len > WASI_OFF_MAX - off) WASI_RET(WASI_EFBIG);
  cis_vfs_stat st;
  int err = cis_vfs_fstat(f->file, &st);
  if (err) WASI_RET(file_fail(w, f->file, "fd_allocate", err));
  /* Space is not reserved ahead (no backend has that); the file grows to
   * the end of the range, which the quotas count like any other byte. */
  if (off + len > st.size) {
    err = cis_vfs_ftruncate(f->file, off + len);
    if (err) WASI_RET(file_fail(w, f->file, "fd_allocate", err));
  }
  WASI_RET(WASI_ESUCCESS);
}

static int do_sync(cis_call *c, uint32_t fd, uint64_t right, const char *call) {
  wasi_fd *f;
  int e = fd_for(c, fd, right, WASI_EINVAL, 0, 0, &f);
  if (e) return e;
  int err = cis_vfs_fsync(f->file);
  return err ? file_fail(WASI_SELF, f->file, call, err) : WASI_ESUCCESS;
}

WASI_FN(fd_datasync) { WASI_RET(do_sync(c, a[0].u32, WASI_R_FD_DATASYNC, "fd_datasync")); }
WASI_FN(fd_sync) { WASI_RET(do_sync(c, a[0].u32, WASI_R_FD_SYNC, "fd_sync")); }

WASI_FN(fd_filestat_get) {
  wasi_fd *f;
  int e = fd_for(c, a[0].u32, WASI_R_FD_FILESTAT_GET, 0, 0, 0, &f);
  if (e) WASI_RET(e);
  uint8_t *p = wasi_mem(c, a[1].u32, 64);
  if (!p) WASI_RET(WASI_EFAULT);
  if (f->kind == WASI_FD_STDIO) {
    memset(p, 0, 64);
    p[16] = WASI_FT_CHARACTER_DEVICE;
    wasi_put_u64(p + 24, 1);
    WASI_RET(WASI_ESUCCESS);
  }
  cis_vfs_stat st;
  int err = cis_vfs_fstat(f->file, &st);
  if (err) WASI_RET(file_fail(WASI_SELF, f->file, "fd_filestat_get", err));
  put_filestat(p, &st);
  WASI_RET(WASI_ESUCCESS);
}

WASI_FN(fd_filestat_set_size) {
  wasi_fd *f;
  int e = fd_for(c, a[0].u32, WASI_R_FD_FILESTAT_SET_SIZE, WASI_EINVAL, WASI_EISDIR, 0, &f);
  if (e) WASI_RET(e);
  if (a[1].u64 > WASI_OFF_MAX) WASI_RET(WASI_EINVAL);
  int err = cis_vfs_ftruncate(f->file, a[1].u64);
  if (err) WASI_RET(file_fail(WASI_SELF, f->file, "fd_filestat_set_size", err));
  WASI_RET(WASI_ESUCCESS);
}

WASI_FN(fd_filestat_set_times) {
  wasi_fd *f;
  int e = fd_for(c, a[0].u32, WASI_R_FD_FILESTAT_SET_TIMES, 0, 0, 0, &f);
  if (e) WASI_RET(e);
  int64_t fl = times_flags(a[3].u32);
  if (fl < 0) WASI_RET(WASI_EINVAL);
  if (f->kind == WASI_FD_STDIO) WASI_RET(WASI_ESUCCESS); /* devices keep no times here */
  int err = cis_vfs_fset_times(f->file, (uint32_t)fl, a[1].u64, a[2].u64);
  if (err) WASI_RET(file_fail(WASI_SELF, f->file, "fd_filestat_set_times", err));
  WASI_RET(WASI_ESUCCESS);
}

/* Fills the guest's buffer with dirents from `cookie` on: each a 24-byte
 * header (d_next, d_ino, d_namlen, d_type) and the name. The entry that
 * does not fit is cut at the end of the buffer, which comes back full:
 * that tells wasi-libc to read again from the last whole entry's d_next
 * with a larger buffer. A short result means the end of the directory. */
WASI_FN(fd_readdir) {
  cis_wasi *w = WASI_SELF;
  wasi_fd *f;
  int e = fd_for(c, a[0].u32, WASI_R_FD_READDIR, WASI_ENOTDIR, 0, WASI_ENOTDIR, &f);
  if (e) WASI_RET(e);
  uint32_t len = a[2].u32;
  uint8_t *buf = wasi_mem(c, a[1].u32, len);
  if (!buf || !wasi_mem(c, a[4].u32, 4)) WASI_RET(WASI_EFAULT);
  uint64_t cookie;
  e = cookie_from_guest(f, a[3].u64, &cookie);
  if (e) WASI_RET(e);
  uint32_t used = 0;
  cis_vfs_dirent ent;
  while (used < len) {
    int err = cis_vfs_readdir(f->file, cookie, &ent);
    if (err == ENOENT) break;
    if (err) WASI_RET(file_fail(w, f->file, "fd_readdir", err));
    uint64_t next;
    e = cookie_to_guest(f, ent.next, &next);
    if (e) WASI_RET(e);
    uint8_t hdr[24] = {0};
    wasi_put_u64(hdr, next);
    wasi_put_u64(hdr + 8, ent.ino);
    wasi_put_u32(hdr + 16, (uint32_t)ent.namelen);
    hdr[20] = filetype_of(ent.type);
    uint32_t take = len - used < sizeof hdr ? len - used : (uint32_t)sizeof hdr;
    memcpy(buf + used, hdr, take);
    used += take;
    take = len - used < ent.namelen ? len - used : (uint32_t)ent.namelen;
    memcpy(buf + used, ent.name, take);
    used += take;
    cookie = ent.next;
  }
  WASI_RET(cis__wasi_store_u32(c, a[4].u32, used));
}

/* fd_seek needs the seek right, except the pure "where am I" (offset 0
 * from the current position), for which the tell right is enough. */
WASI_FN(fd_seek) {
  cis_wasi *w = WASI_SELF;
  wasi_fd *f;
  int e = fd_for(c, a[0].u32, 0, WASI_ESPIPE, WASI_EBADF, 0, &f);
  if (e) WASI_RET(e);
  int64_t delta = a[1].i64;
  uint32_t whence = a[2].u32;
  bool tell = whence == WASI_WHENCE_CUR && delta == 0;
  if (!(f->rights & (tell ? WASI_R_FD_SEEK | WASI_R_FD_TELL : WASI_R_FD_SEEK)))
    WASI_RET(WASI_ENOTCAPABLE);
  if (whence > WASI_WHENCE_END) WASI_RET(WASI_EINVAL);
  if (!wasi_mem(c, a[3].u32, 8)) WASI_RET(WASI_EFAULT);
  uint64_t from = 0;
  if (whence == WASI_WHENCE_CUR) {
    e = resolve_pos(w, f, "fd_seek");
    if (e) WASI_RET(e);
    from = f->pos;
  } else if (whence == WASI_WHENCE_END) {
    cis_vfs_stat st;
    int err = cis_vfs_fstat(f->file, &st);
    if (err) WASI_RET(file_fail(w, f->file, "fd_seek", err));
    from = st.size;
  }
  uint64_t to;
  if (delta < 0) {
    uint64_t back = (uint64_t)0 - (uint64_t)delta;
    if (back > from) WASI_RET(WASI_EINVAL);
    to = from - back;
  } else {
    if ((uint64_t)delta > WASI_OFF_MAX - from) WASI_RET(WASI_EOVERFLOW);
    to = from + (uint64_t)delta;
  }
  if (to > WASI_OFF_MAX) WASI_RET(WASI_EOVERFLOW);
  f->pos = to;
  f->pos_at_end = false;
  WASI_RET(cis__wasi_store_u64(c, a[3].u32, to));
}

WASI_FN(fd_tell) {
  wasi_fd *f;
  int e = fd_for(c, a[0].u32, WASI_R_FD_TELL, WASI_ESPIPE, WASI_EBADF, 0, &f);
  if (e) WASI_RET(e);
  if (!wasi_mem(c, a[1].u32, 8)) WASI_RET(WASI_EFAULT);
  e = resolve_pos(WASI_SELF, f, "fd_tell");
  if (e) WASI_RET(e);
  WASI_RET(cis__wasi_store_u64(c, a[1].u32, f->pos));
}

/* ----------------------------------------------------------- path_* */

/* Resolves the directory (with `rights`) and the path of a path_* call. */
static int dir_path(cis_call *c, uint32_t fd, uint64_t rights, uint32_t ptr, uint32_t len,
                    wasi_fd **d, const char **path) {
  int e = dir_for(c, fd, rights, d);
  if (e) return e;
  return path_arg(c, ptr, len, path);
}

static int lookup_flags(uint32_t lf, uint32_t *out) {
  if (lf & ~(uint32_t)WASI_LOOKUP_SYMLINK_FOLLOW) return WASI_EINVAL;
  *out = (lf & WASI_LOOKUP_SYMLINK_FOLLOW) ? CIS_VFS_FOLLOW : 0;
  return WASI_ESUCCESS;
}

WASI_FN(path_create_directory) {
  wasi_fd *d;
  const char *p;
  int e = dir_path(c, a[0].u32, WASI_R_PATH_CREATE_DIRECTORY, a[1].u32, a[2].u32, &d, &p);
  if (e) WASI_RET(e);
  int err = cis_vfs_mkdirat(d->file, p, a[2].u32);
  WASI_RET(err ? file_fail(WASI_SELF, d->file, "path_create_directory", err) : 0);
}

WASI_FN(path_remove_directory) {
  wasi_fd *d;
  const char *p;
  int e = dir_path(c, a[0].u32, WASI_R_PATH_REMOVE_DIRECTORY, a[1].u32, a[2].u32, &d, &p);
  if (e) WASI_RET(e);
  int err = cis_vfs_rmdirat(d->file, p, a[2].u32);
  WASI_RET(err ? file_fail(WASI_SELF, d->file, "path_remove_directory", err) : 0);
}

WASI_FN(path_unlink_file) {
  wasi_fd *d;
  const char *p;
  int e = dir_path(c, a[0].u32, WASI_R_PATH_UNLINK_FILE, a[1].u32, a[2].u32, &d, &p);
  if (e) WASI_RET(e);
  int err = cis_vfs_unlinkat(d->file, p, a[2].u32);
  WASI_RET(err ? file_fail(WASI_SELF, d->file, "path_unlink_file", err) : 0);
}

WASI_FN(path_filestat_get) {
  wasi_fd *d;
  const char *p;
  uint32_t follow;
  int e = dir_path(c, a[0].u32, WASI_R_PATH_FILESTAT_GET, a[2].u32, a[3].u32, &d, &p);
  if (!e) e = lookup_flags(a[1].u32, &follow);
  if (e) WASI_RET(e);
  uint8_t *out = wasi_mem(c, a[4].u32, 64);
  if (!out) WASI_RET(WASI_EFAULT);
  cis_vfs_stat st;
  int err = cis_vfs_statat(d->file, p, a[3].u32, follow, &st);
  if (err) WASI_RET(file_fail(WASI_SELF, d->file, "path_filestat_get", err));
  put_filestat(out, &st);
  WASI_RET(WASI_ESUCCESS);
}

WASI_FN(path_filestat_set_times) {
  wasi_fd *d;
  const char *p;
  uint32_t follow;
  int e = dir_path(c, a[0].u32, WASI_R_PATH_FILESTAT_SET_TIMES, a[2].u32, a[3].u32, &d, &p);
  if (!e) e = lookup_flags(a[1].u32, &follow);
  if (e) WASI_RET(e);
  int64_t fl = times_flags(a[6].u32);
  if (fl < 0) WASI_RET(WASI_EINVAL);
  int err = cis_vfs_set_timesat(d->file, p, a[3].u32, follow | (uint32_t)fl, a[4].u64, a[5].u64);
  WASI_RET(err ? file_fail(WASI_SELF, d->file, "path_filestat_set_times", err) : 0);
}

WASI_FN(path_link) {
  wasi_fd *od, *nd;
  const char *op, *np;
  uint32_t follow;
  int e = dir_get(c, a[0].u32, &od);
  if (!e) e = dir_get(c, a[4].u32, &nd); /* both descriptors exist before any right counts */
  if (!e) e = dir_path(c, a[0].u32, WASI_R_PATH_LINK_SOURCE, a[2].u32, a[3].u32, &od, &op);
  if (!e) e = dir_path(c, a[4].u32, WASI_R_PATH_LINK_TARGET, a[5].u32, a[6].u32, &nd, &np);
  if (!e) e = lookup_flags(a[1].u32, &follow);
  if (e) WASI_RET(e);
  int err = cis_vfs_linkat(od->file, op, a[3].u32, follow, nd->file, np, a[6].u32);
  WASI_RET(err ? file_fail(WASI_SELF, od->file, "path_link", err) : 0);
}

WASI_FN(path_rename) {
  wasi_fd *od, *nd;
  const char *op, *np;
  int e = dir_get(c, a[0].u32, &od);
  if (!e) e = dir_get(c, a[3].u32, &nd); /* both descriptors exist before any right counts */
  if (!e) e = dir_path(c, a[0].u32, WASI_R_PATH_RENAME_SOURCE, a[1].u32, a[2].u32, &od, &op);
  if (!e) e = dir_path(c, a[3].u32, WASI_R_PATH_RENAME_TARGET, a[4].u32, a[5].u32, &nd, &np);
  if (e) WASI_RET(e);
  int err = cis_vfs_renameat(od->file, op, a[2].u32, nd->file, np, a[5].u32);
  WASI_RET(err ? file_fail(WASI_SELF, od->file, "path_rename", err) : 0);
}

/* path_symlink(old_path = the target, fd, new_path = the link). A
 * relative target may name anything: it is checked when followed. An
 * absolute one could never be followed inside the sandbox (and might
 * mislead a program outside it that reads the host directory), so it is
 * refused with EPERM, as wasmtime (cap-std) and uvwasi do. One already in
 * the storage (a host directory) stays refused when followed. */
WASI_FN(path_symlink) {
  wasi_fd *d;
  const char *target, *p;
  int e = dir_path(c, a[2].u32, WASI_R_PATH_SYMLINK, a[3].u32, a[4].u32, &d, &p);
  if (!e) e = path_arg(c, a[0].u32, a[1].u32, &target);
  if (e) WASI_RET(e);
  if (target[0] == '/') WASI_RET(WASI_EPERM);
  int err = cis_vfs_symlinkat(target, a[1].u32, d->file, p, a[4].u32);
  WASI_RET(err ? file_fail(WASI_SELF, d->file, "path_symlink", err) : 0);
}

/* A target longer than the guest's buffer is cut to it (bufused ==
 * buf_len), as the witx says. */
WASI_FN(path_readlink) {
  wasi_fd *d;
  const char *p;
  int e = dir_path(c, a[0].u32, WASI_R_PATH_READLINK, a[1].u32, a[2].u32, &d, &p);
  if (e) WASI_RET(e);
  uint32_t cap = a[4].u32;
  uint8_t *out = wasi_mem(c, a[3].u32, cap);
  if (!out || !wasi_mem(c, a[5].u32, 4)) WASI_RET(WASI_EFAULT);
  char target[CIS_VFS_PATH_MAX];
  size_t len = 0;
  int err = cis_vfs_readlinkat(d->file, p, a[2].u32, target, sizeof target, &len);
  if (err) WASI_RET(file_fail(WASI_SELF, d->file, "path_readlink", err));
  if (len > sizeof target) len = sizeof target;
  uint32_t n = len < cap ? (uint32_t)len : cap;
  memcpy(out, target, n);
  WASI_RET(cis__wasi_store_u32(c, a[5].u32, n));
}

/* path_open(fd, dirflags, path, oflags, rights_base, rights_inheriting,
 * fdflags) -> fd. The directory needs PATH_OPEN, plus PATH_CREATE_FILE for
 * O_CREAT and PATH_FILESTAT_SET_SIZE for O_TRUNC. The new descriptor gets
 * the rights asked for that the directory may hand on (its inheriting
 * rights) and that apply to what was opened; the VFS opens it for writing
 * when those rights write (or with O_TRUNC), so the mount's refusals
 * (EROFS, EISDIR for a directory, with O_DIRECTORY too) come at open as in
 * POSIX. */
WASI_FN(path_open) {
  cis_wasi *w = WASI_SELF;
  uint32_t oflags = a[4].u32, fdflags = a[7].u32;
  uint64_t need = WASI_R_PATH_OPEN;
  if (oflags & WASI_O_CREAT) need |= WASI_R_PATH_CREATE_FILE;
  if (oflags & WASI_O_TRUNC) need |= WASI_R_PATH_FILESTAT_SET_SIZE;
  wasi_fd *d;
  const char *p;
  uint32_t vf;
  int e = dir_path(c, a[0].u32, need, a[2].u32, a[3].u32, &d, &p);
  if (!e) e = lookup_flags(a[1].u32, &vf);
  if (e) WASI_RET(e);
  if ((oflags & ~0xfu) || (fdflags & ~0x1fu)) WASI_RET(WASI_EINVAL);
  /* O_DIRECTORY names a directory that exists: with O_CREAT, O_EXCL or
   * O_TRUNC it is EINVAL (as wasmtime), whatever is there. */
  if ((oflags & WASI_O_DIRECTORY) && (oflags & (WASI_O_CREAT | WASI_O_EXCL | WASI_O_TRUNC)))
    WASI_RET(WASI_EINVAL);
  if (!wasi_mem(c, a[8].u32, 4)) WASI_RET(WASI_EFAULT);

  uint64_t base = a[5].u64 & d->inheriting, inh = a[6].u64 & d->inheriting;
  /* With O_DIRECTORY, rights that write still open the VFS file for
   * writing, so a directory is EISDIR (and a file ENOTDIR) as without it:
   * the reference runtimes refuse, they do not drop the rights. */
  if (oflags & WASI_O_DIRECTORY) vf |= CIS_VFS_DIRECTORY;
  if (base & (WASI_R_FD_READ | WASI_R_FD_READDIR)) vf |= CIS_VFS_READ;
  if ((base & WASI_R_WRITING) || (oflags & WASI_O_TRUNC)) vf |= CIS_VFS_WRITE;
  if (oflags & WASI_O_CREAT) vf |= CIS_VFS_CREAT;
  if (oflags & WASI_O_EXCL) vf |= CIS_VFS_EXCL;
  if (oflags & WASI_O_TRUNC) vf |= CIS_VFS_TRUNC;

  cis_vfs_file *nf;
  int err = cis_vfs_openat(d->file, p, a[3].u32, vf, &nf);
  if (err) WASI_RET(file_fail(w, d->file, "path_open", err));
  bool is_dir = (oflags & WASI_O_DIRECTORY) || cis_vfs_file_type(nf) == CIS_VFS_DIR;
  uint32_t fd;
  e = cis__wasi_fd_alloc(w, &fd); /* may move the table: d is stale from here */
  if (e) {
    cis_vfs_close(nf);
    WASI_RET(e);
  }
  wasi_fd *n = &w->fds[fd];
  memset(n, 0, sizeof *n);
  n->kind = is_dir ? WASI_FD_DIR : WASI_FD_FILE;
  n->rights = base & (is_dir ? WASI_R_DIR_ALL : WASI_R_FILE_ALL);
  n->inheriting = is_dir ? inh : inh & WASI_R_FILE_ALL;
  n->fdflags = (uint16_t)fdflags;
  n->file = nf;
  WASI_RET(cis__wasi_store_u32(c, a[8].u32, fd));
}

#define DEF(name, sig) {"wasi_snapshot_preview1", #name, sig, wasi_##name, NULL, CIS_HOST_MEMORY32}
const cis_host_func_def cis__wasi_fs_funcs[] = {
    DEF(fd_advise, "(iIIi)i"),
    DEF(fd_allocate, "(iII)i"),
    DEF(fd_datasync, "(i)i"),
    DEF(fd_filestat_get, "(ii)i"),
    DEF(fd_filestat_set_size, "(iI)i"),
    DEF(fd_filestat_set_times, "(iIIi)i"),
    DEF(fd_readdir, "(iiiIi)i"),
    DEF(fd_seek, "(iIii)i"),
    DEF(fd_sync, "(i)i"),
    DEF(fd_tell, "(ii)i"),
    DEF(path_create_directory, "(iii)i"),
    DEF(path_filestat_get, "(iiiii)i"),
    DEF(path_filestat_set_times, "(iiiiIIi)i"),
    DEF(path_link, "(iiiiiii)i"),
    DEF(path_open, "(iiiiiIIii)i"),
    DEF(path_readlink, "(iiiiii)i"),
    DEF(path_remove_directory, "(iii)i"),
    DEF(path_rename, "(iiiiii)i"),
    DEF(path_symlink, "(iiiii)i"),
    DEF(path_unlink_file, "(iii)i"),
};
const size_t cis__wasi_fs_nfuncs = CIS_ARRAY_LEN(cis__wasi_fs_funcs);
#undef DEF
