/*
 * This file implements the filesystem half of WASI preview1: the fd_* calls
 * that act on files and directories and every path_* call. Descriptors of
 * files and directories hold virtual-filesystem handles only; the answers
 * for the standard streams (character devices that cannot seek, sync or
 * hold paths) live here too, so every call answers every kind of
 * descriptor.
 */
#include <stdlib.h>

#include "wasi/wasi_internal.h"

#define WASI_FN(name) static cis_result wasi_##name(cis_call *c, const cis_slot *a, cis_slot *r)
#define WASI_SELF ((cis_wasi *)cis_call_user(c))
#define WASI_RET(e)   \
  do {                \
    r[0].i32 = (e);   \
    return CIS_OK;    \
  } while (0)

/* The filesystem side of a descriptor. Filled by preopens (none can exist
 * before a virtual filesystem is attached). */
struct wasi_fs_node {
  int unused; /* placeholder until mounts are attached */
};

void cis__wasi_fs_close(wasi_fd *f) {
  free(f->node);
  f->node = NULL;
}

int cis__wasi_fs_read(cis_wasi *w, wasi_fd *f, uint8_t *dst, size_t len, int64_t at, size_t *got) {
  (void)w;
  (void)f;
  (void)dst;
  (void)len;
  (void)at;
  *got = 0;
  return WASI_EBADF;
}

int cis__wasi_fs_write(cis_wasi *w, wasi_fd *f, const uint8_t *src, size_t len, int64_t at,
                       size_t *put) {
  (void)w;
  (void)f;
  (void)src;
  (void)len;
  (void)at;
  *put = 0;
  return WASI_EBADF;
}

/* The descriptor for an fd_* call, or the errno to answer. Standard
 * streams answer `stdio_errno` (0 = go on). */
static int fd_for(cis_call *c, uint32_t fd, uint64_t right, int stdio_errno, wasi_fd **out) {
  wasi_fd *f = wasi_fd_get(WASI_SELF, fd);
  if (!f) return WASI_EBADF;
  if (right && !(f->rights & right)) return WASI_ENOTCAPABLE;
  if (f->kind == WASI_FD_STDIO && stdio_errno) return stdio_errno;
  *out = f;
  return WASI_ESUCCESS;
}

/* The directory descriptor for a path_* call. */
static int dir_for(cis_call *c, uint32_t fd, uint64_t right, wasi_fd **out) {
  wasi_fd *f = wasi_fd_get(WASI_SELF, fd);
  if (!f) return WASI_EBADF;
  if (f->kind != WASI_FD_DIR) return WASI_ENOTDIR;
  if (right && !(f->rights & right)) return WASI_ENOTCAPABLE;
  *out = f;
  return WASI_ESUCCESS;
}

/* ------------------------------------------------------------- fd_* */

WASI_FN(fd_advise) {
  wasi_fd *f;
  int e = fd_for(c, a[0].u32, WASI_R_FD_ADVISE, WASI_ESPIPE, &f);
  if (e) WASI_RET(e);
  if (a[3].u32 > 5) WASI_RET(WASI_EINVAL);
  WASI_RET(WASI_EBADF);
}

WASI_FN(fd_allocate) {
  wasi_fd *f;
  int e = fd_for(c, a[0].u32, WASI_R_FD_ALLOCATE, WASI_ESPIPE, &f);
  if (e) WASI_RET(e);
  WASI_RET(WASI_EBADF);
}

WASI_FN(fd_datasync) {
  wasi_fd *f;
  int e = fd_for(c, a[0].u32, WASI_R_FD_DATASYNC, WASI_EINVAL, &f);
  if (e) WASI_RET(e);
  WASI_RET(WASI_EBADF);
}

WASI_FN(fd_sync) {
  wasi_fd *f;
  int e = fd_for(c, a[0].u32, WASI_R_FD_SYNC, WASI_EINVAL, &f);
  if (e) WASI_RET(e);
  WASI_RET(WASI_EBADF);
}

WASI_FN(fd_filestat_get) {
  wasi_fd *f;
  int e = fd_for(c, a[0].u32, WASI_R_FD_FILESTAT_GET, 0, &f);
  if (e) WASI_RET(e);
  uint8_t *p = wasi_mem(c, a[1].u32, 64);
  if (!p) WASI_RET(WASI_EFAULT);
  if (f->kind == WASI_FD_STDIO) {
    memset(p, 0, 64);
    p[16] = WASI_FT_CHARACTER_DEVICE;
    wasi_put_u64(p + 24, 1);
    WASI_RET(WASI_ESUCCESS);
  }
  WASI_RET(WASI_EBADF);
}

WASI_FN(fd_filestat_set_size) {
  wasi_fd *f;
  int e = fd_for(c, a[0].u32, WASI_R_FD_FILESTAT_SET_SIZE, WASI_EINVAL, &f);
  if (e) WASI_RET(e);
  WASI_RET(WASI_EBADF);
}

WASI_FN(fd_filestat_set_times) {
  wasi_fd *f;
  int e = fd_for(c, a[0].u32, WASI_R_FD_FILESTAT_SET_TIMES, 0, &f);
  if (e) WASI_RET(e);
  uint32_t fl = a[3].u32;
  if (fl & ~0xfu || ((fl & WASI_FST_ATIM) && (fl & WASI_FST_ATIM_NOW)) ||
      ((fl & WASI_FST_MTIM) && (fl & WASI_FST_MTIM_NOW)))
    WASI_RET(WASI_EINVAL);
  if (f->kind == WASI_FD_STDIO) WASI_RET(WASI_ESUCCESS); /* devices keep no times here */
  WASI_RET(WASI_EBADF);
}

WASI_FN(fd_readdir) {
  wasi_fd *f;
  int e = fd_for(c, a[0].u32, WASI_R_FD_READDIR, WASI_ENOTDIR, &f);
  if (e) WASI_RET(e);
  if (f->kind != WASI_FD_DIR) WASI_RET(WASI_ENOTDIR);
  WASI_RET(WASI_EBADF);
}

WASI_FN(fd_seek) {
  wasi_fd *f;
  int e = fd_for(c, a[0].u32, 0, WASI_ESPIPE, &f);
  if (e) WASI_RET(e);
  if (a[2].u32 > WASI_WHENCE_END) WASI_RET(WASI_EINVAL);
  WASI_RET(WASI_EBADF);
}

WASI_FN(fd_tell) {
  wasi_fd *f;
  int e = fd_for(c, a[0].u32, WASI_R_FD_TELL, WASI_ESPIPE, &f);
  if (e) WASI_RET(e);
  WASI_RET(WASI_EBADF);
}

/* ----------------------------------------------------------- path_* */

/* Every path_* call first resolves its directory descriptor; the path
 * itself is checked by the virtual filesystem's sandbox. */
#define PATH_FN(name, fdarg, right)                 \
  WASI_FN(name) {                                   \
    wasi_fd *d;                                     \
    int e = dir_for(c, a[fdarg].u32, right, &d);    \
    if (e) WASI_RET(e);                             \
    WASI_RET(WASI_EBADF);                           \
  }

PATH_FN(path_create_directory, 0, WASI_R_PATH_CREATE_DIRECTORY)
PATH_FN(path_filestat_get, 0, WASI_R_PATH_FILESTAT_GET)
PATH_FN(path_filestat_set_times, 0, WASI_R_PATH_FILESTAT_SET_TIMES)
PATH_FN(path_link, 0, WASI_R_PATH_LINK_SOURCE)
PATH_FN(path_open, 0, WASI_R_PATH_OPEN)
PATH_FN(path_readlink, 0, WASI_R_PATH_READLINK)
PATH_FN(path_remove_directory, 0, WASI_R_PATH_REMOVE_DIRECTORY)
PATH_FN(path_rename, 0, WASI_R_PATH_RENAME_SOURCE)
PATH_FN(path_symlink, 2, WASI_R_PATH_SYMLINK)
PATH_FN(path_unlink_file, 0, WASI_R_PATH_UNLINK_FILE)

#define DEF(name, sig) {"wasi_snapshot_preview1", #name, sig, wasi_##name, NULL}
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
