/*
 * This file declares what the WASI preview1 files share: the cis_wasi
 * object, its descriptor table, guest-memory helpers and the witx
 * constants. Layout offsets follow typenames.witx (wasm32, little-endian).
 */
#ifndef CIS_WASI_INTERNAL_H
#define CIS_WASI_INTERNAL_H

#include <string.h>

#include "cis/cis_vfs.h"
#include "cis/cis_wasi.h"
#include "common/internal.h"

enum {
#define WASI_ERRNO(name, value) WASI_E##name = value,
#include "wasi/wasi_errno.def"
#undef WASI_ERRNO
};

/* filetype */
enum {
  WASI_FT_UNKNOWN = 0,
  WASI_FT_BLOCK_DEVICE = 1,
  WASI_FT_CHARACTER_DEVICE = 2,
  WASI_FT_DIRECTORY = 3,
  WASI_FT_REGULAR_FILE = 4,
  WASI_FT_SOCKET_DGRAM = 5,
  WASI_FT_SOCKET_STREAM = 6,
  WASI_FT_SYMBOLIC_LINK = 7,
};

/* rights */
#define WASI_R_FD_DATASYNC (1ull << 0)
#define WASI_R_FD_READ (1ull << 1)
#define WASI_R_FD_SEEK (1ull << 2)
#define WASI_R_FD_FDSTAT_SET_FLAGS (1ull << 3)
#define WASI_R_FD_SYNC (1ull << 4)
#define WASI_R_FD_TELL (1ull << 5)
#define WASI_R_FD_WRITE (1ull << 6)
#define WASI_R_FD_ADVISE (1ull << 7)
#define WASI_R_FD_ALLOCATE (1ull << 8)
#define WASI_R_PATH_CREATE_DIRECTORY (1ull << 9)
#define WASI_R_PATH_CREATE_FILE (1ull << 10)
#define WASI_R_PATH_LINK_SOURCE (1ull << 11)
#define WASI_R_PATH_LINK_TARGET (1ull << 12)
#define WASI_R_PATH_OPEN (1ull << 13)
#define WASI_R_FD_READDIR (1ull << 14)
#define WASI_R_PATH_READLINK (1ull << 15)
#define WASI_R_PATH_RENAME_SOURCE (1ull << 16)
#define WASI_R_PATH_RENAME_TARGET (1ull << 17)
#define WASI_R_PATH_FILESTAT_GET (1ull << 18)
#define WASI_R_PATH_FILESTAT_SET_SIZE (1ull << 19)
#define WASI_R_PATH_FILESTAT_SET_TIMES (1ull << 20)
#define WASI_R_FD_FILESTAT_GET (1ull << 21)
#define WASI_R_FD_FILESTAT_SET_SIZE (1ull << 22)
#define WASI_R_FD_FILESTAT_SET_TIMES (1ull << 23)
#define WASI_R_PATH_SYMLINK (1ull << 24)
#define WASI_R_PATH_REMOVE_DIRECTORY (1ull << 25)
#define WASI_R_PATH_UNLINK_FILE (1ull << 26)
#define WASI_R_POLL_FD_READWRITE (1ull << 27)
#define WASI_R_SOCK_SHUTDOWN (1ull << 28)
#define WASI_R_SOCK_ACCEPT (1ull << 29)
#define WASI_R_ALL ((1ull << 30) - 1)

/* Rights a regular file and a directory can carry at most. */
#define WASI_R_FILE_ALL                                                                        \
  (WASI_R_FD_DATASYNC | WASI_R_FD_READ | WASI_R_FD_SEEK | WASI_R_FD_FDSTAT_SET_FLAGS |          \
   WASI_R_FD_SYNC | WASI_R_FD_TELL | WASI_R_FD_WRITE | WASI_R_FD_ADVISE | WASI_R_FD_ALLOCATE |  \
   WASI_R_FD_FILESTAT_GET | WASI_R_FD_FILESTAT_SET_SIZE | WASI_R_FD_FILESTAT_SET_TIMES |        \
   WASI_R_POLL_FD_READWRITE)
#define WASI_R_DIR_ALL                                                                         \
  (WASI_R_FD_FDSTAT_SET_FLAGS | WASI_R_FD_SYNC | WASI_R_FD_ADVISE | WASI_R_PATH_CREATE_DIRECTORY | \
   WASI_R_PATH_CREATE_FILE | WASI_R_PATH_LINK_SOURCE | WASI_R_PATH_LINK_TARGET |               \
   WASI_R_PATH_OPEN | WASI_R_FD_READDIR | WASI_R_PATH_READLINK | WASI_R_PATH_RENAME_SOURCE |    \
   WASI_R_PATH_RENAME_TARGET | WASI_R_PATH_FILESTAT_GET | WASI_R_PATH_FILESTAT_SET_SIZE |      \
   WASI_R_PATH_FILESTAT_SET_TIMES | WASI_R_FD_FILESTAT_GET | WASI_R_FD_FILESTAT_SET_TIMES |    \
   WASI_R_PATH_SYMLINK | WASI_R_PATH_REMOVE_DIRECTORY | WASI_R_PATH_UNLINK_FILE |             \
   WASI_R_POLL_FD_READWRITE)
#define WASI_R_STDIO                                                                           \
  (WASI_R_FD_READ | WASI_R_FD_WRITE | WASI_R_FD_FDSTAT_SET_FLAGS | WASI_R_FD_FILESTAT_GET |     \
   WASI_R_POLL_FD_READWRITE)

/* fdflags, oflags, lookupflags, fstflags, whence */
enum { WASI_FDF_APPEND = 1, WASI_FDF_DSYNC = 2, WASI_FDF_NONBLOCK = 4, WASI_FDF_RSYNC = 8,
       WASI_FDF_SYNC = 16 };
enum { WASI_O_CREAT = 1, WASI_O_DIRECTORY = 2, WASI_O_EXCL = 4, WASI_O_TRUNC = 8 };
enum { WASI_LOOKUP_SYMLINK_FOLLOW = 1 };
enum { WASI_FST_ATIM = 1, WASI_FST_ATIM_NOW = 2, WASI_FST_MTIM = 4, WASI_FST_MTIM_NOW = 8 };
enum { WASI_WHENCE_SET = 0, WASI_WHENCE_CUR = 1, WASI_WHENCE_END = 2 };

/* A growable byte buffer for captured output. */
typedef struct wasi_buf {
  uint8_t *data; /* bytes */
  size_t len;    /* used */
  size_t cap;    /* allocated */
} wasi_buf;

typedef enum wasi_fd_kind {
  WASI_FD_FREE = 0,  /* slot unused */
  WASI_FD_STDIO = 1, /* fd 0..2, connected per cis_wasi_stdio */
  WASI_FD_FILE = 2,  /* an open VFS file */
  WASI_FD_DIR = 3,   /* an open VFS directory (preopens included) */
} wasi_fd_kind;

typedef struct wasi_fd {
  wasi_fd_kind kind;           /* what the slot holds */
  uint64_t rights;             /* fs_rights_base */
  uint64_t inheriting;         /* fs_rights_inheriting */
  uint16_t fdflags;            /* WASI_FDF_* */
  int stdio;                   /* WASI_FD_STDIO: 0, 1 or 2 */
  cis_vfs_file *file;          /* WASI_FD_FILE / WASI_FD_DIR: the open VFS node (owned) */
  uint64_t pos;                /* WASI_FD_FILE: offset of fd_read/fd_write/fd_seek */
  bool pos_at_end;             /* WASI_FD_FILE: an append left the offset at the end of
                                  file, whose size is read only when the offset is next
                                  needed (appends need no stat) */
  struct wasi_cookies *cookies; /* WASI_FD_DIR: readdir cookies too large for a guest's
                                   telldir, mapped to small ones (wasi_fs.c); NULL until needed */
  char *preopen_name;          /* guest path of a preopen, else NULL */
} wasi_fd;

#define WASI_VFS_MSG_MAX 320 /* room for "call: " + a VFS message */

struct cis_wasi {
  cis__handle h;               /* why cis_wasi_new failed (cis_errmsg) */
  cis_wasi_config cfg;         /* copy; argv/envp/stdin point into the copies below */
  char **argv;                 /* owned copies */
  char **envp;                 /* owned copies */
  uint8_t *stdin_data;         /* owned copy */
  size_t stdin_pos;            /* bytes of stdin consumed */
  wasi_buf out[3];             /* captured stdout (1) and stderr (2) */
  wasi_fd *fds;                /* descriptor table */
  uint32_t nfds;               /* slots in fds */
  cis_result vfs_err;          /* last VFS failure (cis_wasi_last_vfs_error), CIS_OK: none */
  bool vfs_err_sticky;         /* vfs_err was seen by the guest as EIO: keep it */
  char vfs_msg[WASI_VFS_MSG_MAX]; /* its detail */
  cis_vfs **armed;             /* mounts whose timeout a guest's call set (cis__wasi_arm) */
  size_t narmed;               /* entries in armed */
  size_t armedcap;             /* slots in armed */
};

/* Guest memory of the calling instance: [ptr, ptr+len) or NULL. */
static inline uint8_t *wasi_mem(cis_call *c, uint32_t ptr, uint64_t len) {
  return (uint8_t *)cis_instance_mem(cis_call_instance(c), ptr, len);
}
static inline void wasi_put_u16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static inline void wasi_put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void wasi_put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static inline uint32_t wasi_get_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t wasi_get_u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* Writes a u32/u64 result to guest memory; WASI_EFAULT when outside. */
int cis__wasi_store_u32(cis_call *c, uint32_t ptr, uint32_t v);
int cis__wasi_store_u64(cis_call *c, uint32_t ptr, uint64_t v);

/* The descriptor fd of w, or NULL when it is not open. */
wasi_fd *cis__wasi_fd_get(cis_wasi *w, uint32_t fd);
/* Allocates the lowest free descriptor; WASI_EMFILE when the table is full. */
int cis__wasi_fd_alloc(cis_wasi *w, uint32_t *fd);

/* A WASI function's definition: guest arguments a, results r; the
 * cis_wasi is the call's user pointer (WASI_SELF). WASI_RET returns an
 * errno to the guest: errors are results, never traps. */
#define WASI_FN(name) static cis_result wasi_##name(cis_call *c, const cis_slot *a, cis_slot *r)
#define WASI_SELF ((cis_wasi *)cis_call_user(c))
#define WASI_RET(e)   \
  do {                \
    r[0].i32 = (e);   \
    return CIS_OK;    \
  } while (0)

/* Host-function table entries of each part. */
extern const cis_host_func_def cis__wasi_core_funcs[];
extern const size_t cis__wasi_core_nfuncs;
extern const cis_host_func_def cis__wasi_fs_funcs[];
extern const size_t cis__wasi_fs_nfuncs;

/* Bounds the backend work of f's mount by the time left in the guest's
 * call (cis_vfs_set_timeout), before a filesystem call. */
void cis__wasi_arm(cis_call *c, wasi_fd *f);
/* Lifts the bound from every mount cis__wasi_arm set it on: the run is
 * over, and the embedder's own calls on the mounts are not the guest's. */
void cis__wasi_disarm(cis_wasi *w);

/* Closes the VFS node of a file or directory descriptor and frees what
 * the filesystem side keeps for it (wasi_fs.c). */
void cis__wasi_fs_close(wasi_fd *f);
/* Reads into one guest buffer of a file descriptor: at `off` when
 * `positioned` (fd_pread), else at the descriptor's offset, which it
 * advances (fd_read). *got < len only at the end of file. Returns a WASI
 * errno. */
int cis__wasi_fs_read(cis_wasi *w, wasi_fd *f, uint8_t *dst, size_t len, bool positioned,
                      uint64_t off, size_t *got);
/* The bytes a poll_oneoff fd_read event reports for a descriptor: for a
 * regular file those from its offset to the end of file (0 at or past
 * it), else 0. Returns a WASI errno (a failed fstat). */
int cis__wasi_fs_readable(cis_wasi *w, wasi_fd *f, uint64_t *nbytes);
/* Writes the guest's iovec array `arr` (n entries, every buffer already
 * checked to lie in memory) to a file descriptor: at `off` when
 * `positioned` (fd_pwrite), else at the descriptor's offset or, with
 * FDF_APPEND, at the end (fd_write). Small arrays are gathered into one
 * VFS write, so a writev of up to 64 KiB is all or nothing. *put is the
 * number of bytes written. Returns a WASI errno (0 when *put > 0 and a
 * later iovec failed: the error shows on the next call). */
int cis__wasi_fs_writev(cis_call *c, wasi_fd *f, const uint8_t *arr, uint32_t n,
                        bool positioned, uint64_t off, uint64_t *put);

#endif /* CIS_WASI_INTERNAL_H */
