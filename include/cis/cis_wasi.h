/*
 * cis_wasi.h -- WASI preview1 (`wasi_snapshot_preview1`) for cis instances.
 *
 * A cis_wasi holds everything one instance may see of the outside world
 * through WASI: its arguments and environment, its stdio, its preopened
 * directories (virtual filesystem mounts, see cis_vfs.h) and the
 * capabilities the embedder grants (clocks, random, args, env, sockets).
 * Nothing else is reachable: there is no host path or host descriptor
 * behind a guest file descriptor, only VFS handles.
 *
 * Use: create it, add preopens (cis_wasi_preopen), add its 46 functions to
 * a cis_imports with cis_wasi_add_imports, instantiate, then run `_start`
 * with cis_wasi_run. Free it with cis_wasi_free BEFORE unmounting the
 * mounts it preopens.
 * One cis_wasi serves ONE instance (the fd table is per instance) and, like
 * the instance, belongs to one thread at a time.
 *
 * Denied capabilities never crash: clocks and random return ENOTCAPABLE,
 * args and env look empty. Descriptors are checked before capabilities
 * and rights (EBADF for one not open, then the kind: ENOTSOCK, ENOTDIR,
 * EISDIR, ESPIPE, then ENOTCAPABLE), so sock_* on a descriptor that is
 * not open is EBADF and on any other ENOTSOCK, granted or not (no socket
 * can be preopened yet).
 */
#ifndef CIS_CIS_WASI_H
#define CIS_CIS_WASI_H

#include "cis/cis.h"
#include "cis/cis_vfs.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Capabilities (bit flags). */
enum {
  CIS_WASI_CAP_ARGS = 1u << 0,    /* args_get / args_sizes_get see argv */
  CIS_WASI_CAP_ENV = 1u << 1,     /* environ_get / environ_sizes_get see env */
  CIS_WASI_CAP_CLOCK = 1u << 2,   /* clock_time_get / clock_res_get / poll clocks */
  CIS_WASI_CAP_RANDOM = 1u << 3,  /* random_get */
  CIS_WASI_CAP_SOCKETS = 1u << 4, /* sock_* on preopened sockets (none exist yet) */
  CIS_WASI_CAP_ALL = 0x1f,
};

/* What a standard stream is connected to. */
typedef enum cis_wasi_stdio {
  CIS_WASI_STDIO_NULL = 0,    /* reads see end of file, writes are discarded */
  CIS_WASI_STDIO_INHERIT = 1, /* the host process's own fd 0/1/2 */
  CIS_WASI_STDIO_BUFFER = 2,  /* stdin: a byte buffer given by the embedder;
                                 stdout/stderr: captured, read back with
                                 cis_wasi_output() */
} cis_wasi_stdio;

typedef struct cis_wasi_config {
  uint32_t caps;              /* CIS_WASI_CAP_* granted */
  size_t argc;                /* number of arguments (argv[0] is the program name) */
  const char *const *argv;    /* copied */
  size_t envc;                /* number of environment entries */
  const char *const *envp;    /* "KEY=VALUE" strings, copied */
  cis_wasi_stdio stdio[3];    /* stdin, stdout, stderr */
  const uint8_t *stdin_data;  /* with CIS_WASI_STDIO_BUFFER on stdin; copied */
  size_t stdin_len;           /* its length */
  size_t capture_cap;         /* per captured stream; 0 = 16 MiB; beyond it
                                 writes fail with ENOSPC */
  uint32_t max_fds;           /* open descriptors; 0 = 1024 */
} cis_wasi_config;

typedef struct cis_wasi cis_wasi;

/* Defaults: no capabilities, no args/env, all stdio NULL. */
CIS_EXTERN void cis_wasi_config_default(cis_wasi_config *c);
/* Copies cfg's strings and stdin. Errors: CIS_EINVAL (NULL, argc without
 * argv, envc without envp, an unknown stdio mode, stdin_len without
 * stdin_data), CIS_ENOMEM. On failure *out is a failed context (cis.h,
 * "Errors"): cis_errmsg(*out) says why, calls on it are CIS_ESTATE; free
 * it with cis_wasi_free. */
CIS_EXTERN cis_result cis_wasi_new(const cis_wasi_config *cfg, cis_wasi **out);
/* Closes every descriptor and frees. The mounts of preopens stay the
 * embedder's. */
CIS_EXTERN void cis_wasi_free(cis_wasi *w);

/* ------------------------------------------------------------- preopens */

/* Preopens the root of the mount fs as a directory the guest sees as
 * guest_path (such as "/work" or "."; wasi-libc resolves the guest's paths
 * against the preopens by prefix). Preopens take the lowest free
 * descriptors, so calls made before the instance runs give 3, 4, ... in
 * order. The descriptor holds every directory right and may hand every
 * file and directory right on to what is opened through it; what the
 * mount itself refuses it refuses with the VFS's answer (a read-only mount:
 * EROFS; a quota: EDQUOT). The mount stays the embedder's: it must outlive
 * w (unmount it after cis_wasi_free); several preopens may share a mount.
 * Errors: CIS_EINVAL (NULL argument, empty guest_path), CIS_ESTATE (the
 * descriptor table is full: max_fds), CIS_ENOMEM, or the VFS's failure to
 * open the root as a cis_result (CIS_EVFSDOWN, ...; the detail in
 * cis_wasi_last_vfs_error). */
CIS_EXTERN cis_result cis_wasi_preopen(cis_wasi *w, cis_vfs *fs, const char *guest_path);

/* The last failure of a VFS call made for w's guest (or by
 * cis_wasi_preopen), as a cis_result (see cis_vfs_result: CIS_ENOTFOUND,
 * CIS_EPATH, CIS_EQUOTA, CIS_EROFS, CIS_EVFSDOWN, ...), and its detail in
 * *msg ("fd_write: <the mount's message>"; "" when none), valid until the
 * next call on w. CIS_OK when no VFS call has failed.
 *
 * The guest saw the failure as a WASI errno; for a failure of the storage
 * itself it saw only EIO, and this is how the host tells "database down"
 * (CIS_EVFSDOWN) from the rest. Such a failure (every one the guest saw as
 * EIO) is kept until cis_wasi_clear_vfs_error, so the ordinary failures a
 * program meets afterwards (ENOENT on a probe, ...) do not hide it. */
CIS_EXTERN cis_result cis_wasi_last_vfs_error(const cis_wasi *w, const char **msg);
/* Forgets the last VFS failure. */
CIS_EXTERN void cis_wasi_clear_vfs_error(cis_wasi *w);

/* Adds the wasi_snapshot_preview1 functions, bound to w, to im. */
CIS_EXTERN cis_result cis_wasi_add_imports(cis_wasi *w, cis_imports *im);

/* Runs the command's `_start` export. Returns CIS_OK with *exit_code set
 * (0 when _start returned, the proc_exit value otherwise), or the trap /
 * limit code that ended it (*exit_code is then 128 + a signal-like number:
 * see docs/wasi.md). CIS_ENOTFOUND when there is no `_start`. */
CIS_EXTERN cis_result cis_wasi_run(cis_wasi *w, cis_instance *inst, int *exit_code);

/* Bytes captured so far on fd 1 or 2 (CIS_WASI_STDIO_BUFFER); NULL/0
 * otherwise. Valid until the next call on w. */
CIS_EXTERN const uint8_t *cis_wasi_output(const cis_wasi *w, int fd, size_t *len);

#ifdef __cplusplus
}
#endif
#endif /* CIS_CIS_WASI_H */
