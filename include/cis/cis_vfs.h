/*
 * cis_vfs.h -- the virtual filesystem: what a guest's files are made of.
 *
 * A guest never sees a host path or a host file descriptor. Its WASI file
 * descriptors hold handles of a cis_vfs, and a cis_vfs reaches its storage
 * only through a backend's method table, in the style of sqlite3_vfs.
 *
 * Concepts
 *   backend        a cis_vfs_backend: the storage (a host directory, memory,
 *                  a layered database) behind a versioned method table,
 *                  cis_vfs_methods. Backends only ever see ONE path
 *                  component at a time, relative to a directory node they
 *                  opened themselves: never "", ".", "..", a '/' or a NUL.
 *   mount          a cis_vfs: one backend plus the wrappers (src/vfs/) that
 *                  are the only place for path resolution and sandboxing,
 *                  read-only enforcement, quotas and fault injection. The
 *                  mount owns its backend.
 *   file           a cis_vfs_file: an open file or directory of a mount.
 *
 * Path resolution (the sandbox)
 *   Paths are resolved by the wrappers, one component at a time, relative
 *   to an open directory of the mount (the "base"). A path can never leave
 *   its base: an absolute path, a ".." above the base, or a symlink whose
 *   target is absolute or climbs above the base fails with
 *   CIS_VFS_ENOTCAPABLE, whatever exists on the other side. Symlinks inside
 *   the base are followed by the wrappers (at most CIS_VFS_MAX_SYMLINKS in
 *   one resolution, then ELOOP); the final component is followed only with
 *   CIS_VFS_FOLLOW. Paths longer than CIS_VFS_PATH_MAX bytes, components
 *   longer than CIS_VFS_NAME_MAX bytes and paths holding a NUL byte are
 *   refused (ENAMETOOLONG, EINVAL) before any backend call.
 *
 * Errors
 *   Path and file operations return 0 or a positive error number: the
 *   POSIX errno values of <errno.h> (ENOENT, EEXIST, ENOTDIR, EISDIR,
 *   ENOTEMPTY, ELOOP, ENAMETOOLONG, EROFS, EDQUOT, ENOSPC, EXDEV, EIO,
 *   EINVAL, EBADF, EPERM, ...) plus the two below, which have no POSIX
 *   twin. WASI hands them to the guest as its errno; cis_vfs_result() turns
 *   them into a cis_result for hosts. The detail of the last failure is
 *   cis_vfs_errmsg(fs).
 *
 * Threads: a mount and its files are used by one thread at a time (the
 *   thread running the instance they are preopened in). Different mounts
 *   may be used from different threads at once, over the same database.
 */
#ifndef CIS_CIS_VFS_H
#define CIS_CIS_VFS_H

#include "cis/cis.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The path leaves its base directory (WASI: ENOTCAPABLE). */
#define CIS_VFS_ENOTCAPABLE 10001
/* The backend's storage is unreachable: a database down, a lost
 * connection (WASI: EIO; hosts: CIS_EVFSDOWN). */
#define CIS_VFS_EDOWN 10002

#define CIS_VFS_PATH_MAX 4096    /* longest path accepted, in bytes */
#define CIS_VFS_NAME_MAX 255     /* longest component, in bytes */
#define CIS_VFS_MAX_SYMLINKS 40  /* symlinks followed in one resolution */

/* ================================================================ types */

typedef struct cis_vfs cis_vfs;           /* a mount (opaque) */
typedef struct cis_vfs_file cis_vfs_file; /* an open file or directory of a mount (opaque) */

typedef enum cis_vfs_type {
  CIS_VFS_UNKNOWN = 0,
  CIS_VFS_REG = 1,     /* regular file */
  CIS_VFS_DIR = 2,     /* directory */
  CIS_VFS_SYMLINK = 3, /* symbolic link */
} cis_vfs_type;

typedef struct cis_vfs_stat {
  uint64_t dev;      /* identifies the mount's storage */
  uint64_t ino;      /* identifies the node within it (stable while it exists) */
  cis_vfs_type type; /* kind of node */
  uint64_t nlink;    /* hard links to the node */
  uint64_t size;     /* bytes (symlink: length of its target) */
  uint64_t atim;     /* last access, ns since the Unix epoch */
  uint64_t mtim;     /* last data change, ns */
  uint64_t ctim;     /* last status change, ns */
} cis_vfs_stat;

/* One directory entry. Cookies are opaque to everyone but the backend:
 * 0 starts a listing, `next` continues after this entry. A cookie stays
 * valid while the directory is open, even after entries are added or
 * removed (an entry added meanwhile may or may not be listed; none is
 * listed twice). */
typedef struct cis_vfs_dirent {
  uint64_t next;                      /* cookie of the entry after this one */
  uint64_t ino;                       /* as in cis_vfs_stat */
  cis_vfs_type type;                  /* kind of node */
  size_t namelen;                     /* bytes in name */
  char name[CIS_VFS_NAME_MAX + 1];    /* NUL-terminated */
} cis_vfs_dirent;

/* Open flags (backend open and cis_vfs_openat). */
enum {
  CIS_VFS_READ = 1u << 0,      /* open for reading */
  CIS_VFS_WRITE = 1u << 1,     /* open for writing */
  CIS_VFS_CREAT = 1u << 2,     /* create a regular file when missing */
  CIS_VFS_EXCL = 1u << 3,      /* with CREAT: EEXIST when it exists */
  CIS_VFS_TRUNC = 1u << 4,     /* truncate to 0 (needs WRITE) */
  CIS_VFS_DIRECTORY = 1u << 5, /* ENOTDIR unless it is a directory */
  CIS_VFS_FOLLOW = 1u << 6,    /* path calls: follow a symlink in the last
                                  component (backends never see it) */
};

/* set_times flags: which times to set, and whether to "now" them. */
enum {
  CIS_VFS_ATIM = 1u << 0,     /* set atim to the given value */
  CIS_VFS_ATIM_NOW = 1u << 1, /* set atim to now */
  CIS_VFS_MTIM = 1u << 2,     /* set mtim to the given value */
  CIS_VFS_MTIM_NOW = 1u << 3, /* set mtim to now */
};

/* Offset for cis_vfs_pwrite / the backend's write: append at the end. */
#define CIS_VFS_APPEND UINT64_MAX

/* ============================================================= backends */

typedef struct cis_vfs_methods cis_vfs_methods;

#define CIS_VFS_ERRMSG_MAX 256

/* The base of every backend. A backend's own struct embeds it as its
 * FIRST member:
 *
 *   typedef struct mem_fs { cis_vfs_backend base; struct mem_inode *root; } mem_fs;
 */
typedef struct cis_vfs_backend {
  const cis_vfs_methods *methods;   /* the backend's table */
  char errmsg[CIS_VFS_ERRMSG_MAX];  /* detail of the last failure, written by the
                                       backend; the wrappers copy it out */
} cis_vfs_backend;

/* The base of every open node (file or directory) a backend hands out; the
 * backend's own node struct embeds it first. */
typedef struct cis_vfs_node {
  cis_vfs_backend *fs; /* the backend that opened it */
} cis_vfs_node;

#define CIS_VFS_METHODS_VERSION 1

/* A backend. Fill it with named initialisers; every method is required.
 * Each returns 0 or an error number (see "Errors"), with a detail in
 * b->errmsg for anything surprising. `dir` is always a node of this
 * backend opened as a directory; `name` is one component (see above),
 * NUL-terminated. No method follows a symlink: a symlink is an entry like
 * any other (open of a symlink: ELOOP, as O_NOFOLLOW). Times are ns since
 * the Unix epoch.
 *
 * Quotas and read-only mode are the wrappers' job: a backend only has to
 * make each write/truncate all-or-nothing, so a failed call leaves the
 * file's previous content. */
struct cis_vfs_methods {
  int version;      /* CIS_VFS_METHODS_VERSION */
  const char *name; /* short name for messages: "host", "mem", "db" */

  /* Frees the backend; every node is closed before. */
  void (*destroy)(cis_vfs_backend *b);
  /* Opens the root directory of the storage. */
  int (*root)(cis_vfs_backend *b, cis_vfs_node **out);
  /* Bytes in regular files and nodes of every kind (root excluded) the
   * storage holds now, for the quotas. */
  int (*usage)(cis_vfs_backend *b, uint64_t *bytes, uint64_t *nodes);

  /* ---- names in a directory ---- */
  /* Stat of dir/name itself (a symlink is not followed). */
  int (*lookup)(cis_vfs_backend *b, cis_vfs_node *dir, const char *name, cis_vfs_stat *st);
  /* Opens dir/name: CIS_VFS_READ/WRITE/CREAT/EXCL/TRUNC/DIRECTORY. A
   * directory opens only without WRITE/CREAT/TRUNC (EISDIR). */
  int (*open)(cis_vfs_backend *b, cis_vfs_node *dir, const char *name, uint32_t flags,
              cis_vfs_node **out);
  int (*mkdir)(cis_vfs_backend *b, cis_vfs_node *dir, const char *name);
  /* Removes an empty directory (ENOTEMPTY, ENOTDIR). */
  int (*rmdir)(cis_vfs_backend *b, cis_vfs_node *dir, const char *name);
  /* Removes a non-directory (EISDIR for a directory). */
  int (*unlink)(cis_vfs_backend *b, cis_vfs_node *dir, const char *name);
  /* POSIX rename(2) semantics within this backend: replaces a target of a
   * compatible kind (a directory only when empty), EINVAL when moving a
   * directory into itself. */
  int (*rename)(cis_vfs_backend *b, cis_vfs_node *odir, const char *oname, cis_vfs_node *ndir,
                const char *nname);
  /* Creates dir/name as a symlink holding `target` (stored as is). */
  int (*symlink)(cis_vfs_backend *b, cis_vfs_node *dir, const char *name, const char *target);
  /* Reads a symlink's target into buf (cap bytes, not NUL-terminated);
   * *len is the full length (ERANGE when cap is too small). EINVAL when
   * dir/name is not a symlink. */
  int (*readlink)(cis_vfs_backend *b, cis_vfs_node *dir, const char *name, char *buf,
                  size_t cap, size_t *len);
  /* A hard link ndir/nname to the non-directory odir/oname (EPERM when the
   * backend has none). */
  int (*link)(cis_vfs_backend *b, cis_vfs_node *odir, const char *oname, cis_vfs_node *ndir,
              const char *nname);

  /* ---- open nodes ---- */
  void (*close)(cis_vfs_backend *b, cis_vfs_node *n);
  int (*stat)(cis_vfs_backend *b, cis_vfs_node *n, cis_vfs_stat *st);
  /* Reads up to len bytes at off; *got < len only at the end of file. */
  int (*read)(cis_vfs_backend *b, cis_vfs_node *n, void *buf, size_t len, uint64_t off,
              size_t *got);
  /* Writes all len bytes at off (CIS_VFS_APPEND: at the end), or none. */
  int (*write)(cis_vfs_backend *b, cis_vfs_node *n, const void *buf, size_t len, uint64_t off,
               size_t *put);
  /* Sets the size (grows with zeros). */
  int (*truncate)(cis_vfs_backend *b, cis_vfs_node *n, uint64_t size);
  /* CIS_VFS_ATIM / _NOW / MTIM / _NOW in flags. */
  int (*set_times)(cis_vfs_backend *b, cis_vfs_node *n, uint64_t atim, uint64_t mtim,
                   uint32_t flags);
  /* Makes written data durable. */
  int (*sync)(cis_vfs_backend *b, cis_vfs_node *n);
  /* The first entry at or after `cookie` (0 = the first), "." and ".."
   * excluded (the wrappers add them). ENOENT at the end. */
  int (*readdir)(cis_vfs_backend *b, cis_vfs_node *dir, uint64_t cookie, cis_vfs_dirent *ent);
};

/* ---- built-in backends ---- */

/* A host directory, confined: every component is opened relative to its
 * parent's descriptor with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS) where the kernel has it, and openat(O_NOFOLLOW)
 * where it does not. No host path or descriptor leaves the backend.
 * Errors: CIS_EINVAL, CIS_ENOTFOUND (no such directory), CIS_EVFS,
 * CIS_ENOMEM; the detail is cis_vfs_errmsg(NULL). */
CIS_EXTERN cis_result cis_vfs_host_new(const char *host_dir, cis_vfs_backend **out);

/* Scratch space in memory, gone when the mount is freed. */
CIS_EXTERN cis_result cis_vfs_mem_new(cis_vfs_backend **out);

/* The layered database filesystem ("Tarbox"). Files, directories and
 * symlinks live in SQLite or PostgreSQL; file data in blocks, so no file
 * is ever read whole into memory. Every row carries the tenant, and every
 * query names it: a tenant can see only its own layers.
 *
 * Layers: the base layer (id 1) is read-only. Writes go to the top layer,
 * copying on write whatever they change from the layers below.
 * cis_vfs_db_snapshot freezes the top layer and opens a new one above it;
 * cis_vfs_db_rollback drops every layer above a frozen one. */
typedef struct cis_vfs_db_config {
  const char *spec;       /* "sqlite:PATH", "postgres:CONNSTR", "postgres://..." */
  const char *tenant;     /* 1..255 bytes; required */
  uint32_t block_size;    /* bytes per data block; 0 = 64 KiB */
  uint64_t op_timeout_ms; /* cap on one database operation; 0 = 30 000 */
} cis_vfs_db_config;

CIS_EXTERN void cis_vfs_db_config_default(cis_vfs_db_config *c);
/* Errors: CIS_EINVAL (spec, tenant), CIS_EVFSDOWN (database unreachable),
 * CIS_EVFS, CIS_ENOMEM; the detail is cis_vfs_errmsg(NULL). */
CIS_EXTERN cis_result cis_vfs_db_new(const cis_vfs_db_config *cfg, cis_vfs_backend **out);

typedef struct cis_vfs_layer {
  uint64_t id;       /* layer id, increasing */
  uint64_t parent;   /* the layer below; 0 for the base */
  char name[64];     /* the snapshot's name ("" for the open top layer) */
  uint64_t created;  /* ns since the Unix epoch */
  bool writable;     /* true only for the top layer */
} cis_vfs_layer;

/* Layer operations on a mount whose backend is the database (else
 * CIS_EUNSUPPORTED). No file of the mount may be open during a rollback
 * (CIS_ESTATE). */
CIS_EXTERN cis_result cis_vfs_db_snapshot(cis_vfs *fs, const char *name, uint64_t *layer_id);
/* *out is malloc'd (free with free()), bottom layer first. */
CIS_EXTERN cis_result cis_vfs_db_layers(cis_vfs *fs, cis_vfs_layer **out, size_t *n);
CIS_EXTERN cis_result cis_vfs_db_rollback(cis_vfs *fs, uint64_t layer_id);

/* =============================================================== mounts */

typedef struct cis_vfs_options {
  bool read_only;     /* every change fails with EROFS */
  uint64_t max_bytes; /* bytes in regular files; 0 = no limit */
  uint64_t max_files; /* nodes of every kind; 0 = no limit */
} cis_vfs_options;

/* Mounts a backend, which the mount then owns (also on failure). Reads the
 * backend's usage for the quotas. Errors: CIS_EINVAL, CIS_ENOMEM, or the
 * backend's error as a cis_result. */
CIS_EXTERN cis_result cis_vfs_mount(cis_vfs_backend *b, const cis_vfs_options *opts,
                                    cis_vfs **out);
/* Frees the mount and its backend. Every file must be closed. */
CIS_EXTERN void cis_vfs_unmount(cis_vfs *fs);

/* Detail of the last failure on fs (NULL: of the last backend
 * constructor on this thread). Never NULL. */
CIS_EXTERN const char *cis_vfs_errmsg(const cis_vfs *fs);
/* The cis_result for an error number: ENOTCAPABLE -> CIS_EPATH, EROFS ->
 * CIS_EROFS, EDQUOT/ENOSPC -> CIS_EQUOTA, EDOWN -> CIS_EVFSDOWN, ENOENT ->
 * CIS_ENOTFOUND, EEXIST -> CIS_EEXIST, EINVAL/ENAMETOOLONG -> CIS_EINVAL,
 * ENOMEM -> CIS_ENOMEM, others -> CIS_EVFS. */
CIS_EXTERN cis_result cis_vfs_result(int err);

/* Bytes and nodes the mount holds now, as the quotas count them. */
CIS_EXTERN void cis_vfs_usage(const cis_vfs *fs, uint64_t *bytes, uint64_t *nodes);

/* ---- paths (all relative to an open directory, the base) ---- */

/* Opens the mount's root directory. */
CIS_EXTERN int cis_vfs_open_root(cis_vfs *fs, cis_vfs_file **out);
/* Opens base/path with CIS_VFS_* flags. "." and "" name the base itself. */
CIS_EXTERN int cis_vfs_openat(cis_vfs_file *base, const char *path, size_t len, uint32_t flags,
                              cis_vfs_file **out);
/* Stat; flags may hold CIS_VFS_FOLLOW. */
CIS_EXTERN int cis_vfs_statat(cis_vfs_file *base, const char *path, size_t len, uint32_t flags,
                              cis_vfs_stat *st);
CIS_EXTERN int cis_vfs_mkdirat(cis_vfs_file *base, const char *path, size_t len);
CIS_EXTERN int cis_vfs_rmdirat(cis_vfs_file *base, const char *path, size_t len);
CIS_EXTERN int cis_vfs_unlinkat(cis_vfs_file *base, const char *path, size_t len);
/* EXDEV when the two bases are on different mounts. */
CIS_EXTERN int cis_vfs_renameat(cis_vfs_file *obase, const char *opath, size_t olen,
                                cis_vfs_file *nbase, const char *npath, size_t nlen);
/* Creates base/path as a symlink to target (which may point anywhere: it
 * is checked when it is followed, not when it is made). */
CIS_EXTERN int cis_vfs_symlinkat(const char *target, size_t tlen, cis_vfs_file *base,
                                 const char *path, size_t len);
CIS_EXTERN int cis_vfs_readlinkat(cis_vfs_file *base, const char *path, size_t len, char *buf,
                                  size_t cap, size_t *outlen);
/* flags may hold CIS_VFS_FOLLOW (for the source). EXDEV across mounts. */
CIS_EXTERN int cis_vfs_linkat(cis_vfs_file *obase, const char *opath, size_t olen,
                              uint32_t flags, cis_vfs_file *nbase, const char *npath,
                              size_t nlen);
/* flags: CIS_VFS_FOLLOW plus the CIS_VFS_ATIM.. set_times flags. */
CIS_EXTERN int cis_vfs_set_timesat(cis_vfs_file *base, const char *path, size_t len,
                                   uint32_t flags, uint64_t atim, uint64_t mtim);

/* ---- open files ---- */

CIS_EXTERN int cis_vfs_pread(cis_vfs_file *f, void *buf, size_t len, uint64_t off, size_t *got);
/* off CIS_VFS_APPEND appends. All or nothing: a write that would pass a
 * quota fails with EDQUOT and changes nothing. */
CIS_EXTERN int cis_vfs_pwrite(cis_vfs_file *f, const void *buf, size_t len, uint64_t off,
                              size_t *put);
CIS_EXTERN int cis_vfs_fstat(cis_vfs_file *f, cis_vfs_stat *st);
CIS_EXTERN int cis_vfs_ftruncate(cis_vfs_file *f, uint64_t size);
CIS_EXTERN int cis_vfs_fset_times(cis_vfs_file *f, uint32_t flags, uint64_t atim, uint64_t mtim);
CIS_EXTERN int cis_vfs_fsync(cis_vfs_file *f);
/* The entry at cookie, "." (cookie 0) and ".." (cookie 1) first; ENOENT at
 * the end. */
CIS_EXTERN int cis_vfs_readdir(cis_vfs_file *dir, uint64_t cookie, cis_vfs_dirent *ent);
/* The mount a file belongs to. */
CIS_EXTERN cis_vfs *cis_vfs_file_mount(const cis_vfs_file *f);
CIS_EXTERN void cis_vfs_close(cis_vfs_file *f);

/* ---- testing ---- */

/* Fault injection: after `skip` more backend calls succeed, the next
 * `count` fail with `err` (an error number, e.g. EIO or CIS_VFS_EDOWN)
 * without reaching the backend. count 0 turns it off. */
CIS_EXTERN void cis_vfs_inject_fault(cis_vfs *fs, uint32_t skip, uint32_t count, int err);
/* Backend calls made so far. */
CIS_EXTERN uint64_t cis_vfs_backend_calls(const cis_vfs *fs);

#ifdef __cplusplus
}
#endif
#endif /* CIS_CIS_VFS_H */
