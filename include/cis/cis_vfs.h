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
 *   "." and "" name the base itself. A path that ends with '/' must name a
 *   directory (ENOTDIR otherwise); for lookups (openat, statat,
 *   set_timesat, readlinkat) such a final symlink is followed, for
 *   changes (mkdir, rmdir, unlink, rename, symlink, link) it is not, so
 *   rmdirat("link/") is ENOTDIR as on Linux; the calls that make a name answer as Linux
 *   instead (mkdirat, symlinkat, linkat: EEXIST for a name that exists,
 *   symlinkat and linkat ENOENT for one that does not, openat with CREAT
 *   EISDIR). An intermediate component that is not a directory gives
 *   ENOTDIR.
 *
 * Errors
 *   Path and file operations return 0 or a positive error number: the
 *   POSIX errno values of <errno.h> (ENOENT, EEXIST, ENOTDIR, EISDIR,
 *   ENOTEMPTY, ELOOP, ENAMETOOLONG, EROFS, EDQUOT, ENOSPC, EXDEV, EIO,
 *   EINVAL, EBADF, EPERM, ...) plus the two below, which have no POSIX
 *   twin. WASI hands them to the guest as its errno; cis_vfs_result() turns
 *   them into a cis_result for hosts. The detail of the last failure is
 *   cis_vfs_errmsg(fs). A NULL file, or one detached by cis_vfs_unmount,
 *   gives EBADF; NULL output pointers give EINVAL.
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
/* Another writer changed the tree after this scope first read it: the
 * scope's changes were dropped (WASI: EIO; hosts: CIS_EVFSCONFLICT). */
#define CIS_VFS_ECONFLICT 10003

#define CIS_VFS_PATH_MAX 4096    /* longest path accepted, in bytes */
#define CIS_VFS_NAME_MAX 255     /* longest component, in bytes */
#define CIS_VFS_MAX_SYMLINKS 40  /* symlinks followed in one resolution */
#define CIS_VFS_DEFAULT_MAX_DEPTH 4096 /* directory levels below a mount's root */

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
 * listed twice).
 *
 * cis_vfs_readdir's cookies: 0 lists ".", 1 lists "..", and c >= 2 is the
 * backend's cookie c - 2 (the backend's `next` plus 2). A backend's cookies
 * therefore start at 0 like every listing, and its `next` values must be
 * at most UINT64_MAX - 2 (the wrappers fail with EIO otherwise). */
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
  CIS_VFS_TRUNC = 1u << 4,     /* truncate to 0 (needs WRITE: EINVAL without) */
  CIS_VFS_DIRECTORY = 1u << 5, /* ENOTDIR unless it is a directory (EINVAL with CREAT) */
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
  uint64_t deadline_ns;             /* set by the wrappers before each method: the
                                       CLOCK_MONOTONIC time (ns) the method must end
                                       by, UINT64_MAX for none (cis_vfs_set_timeout).
                                       A backend that waits (on a database, a lock)
                                       stops waiting then and fails the method */
  uint32_t max_depth;               /* set by the wrappers at mount: the mount's
                                       directory-depth limit. A backend that walks its
                                       own tree (the host backend's usage) fails with
                                       ENAMETOOLONG when the tree is deeper */
} cis_vfs_backend;

/* The base of every open node (file or directory) a backend hands out; the
 * backend's own node struct embeds it first. */
typedef struct cis_vfs_node {
  cis_vfs_backend *fs; /* the backend that opened it */
} cis_vfs_node;

/* Version 1: every method up to readdir. Version 2 adds
 * set_times_nofollow at the end of the table; a version-1 table is shorter
 * and is never read past readdir, so backends built against version 1 keep
 * working (their symlinks' own times cannot be set: ENOTSUP). Version 3
 * adds scope (NULL or absent: a backend whose changes apply as they are
 * made, for which a scope does nothing). Version 4 gives lookup its flags
 * (CIS_VFS_LOOKUP_*); the lookup of an older table is called as it was
 * declared then, without them. */
#define CIS_VFS_METHODS_VERSION 4

/* Flags of cis_vfs_methods.lookup. */
enum {
  /* The lookup is cis_vfs_openat's of its final name, with CREAT: whatever
   * it answers, the backend's open of dir/name (which creates it when
   * absent) follows in the same public call, unless the call fails first
   * without a new fact (a deadline, an injected fault). A backend may then
   * say ENOENT from caches it has not checked in this call, leaving the
   * check to that open. Not set at the node quota, where an absent name
   * is refused (EDQUOT) before any open. */
  CIS_VFS_LOOKUP_CREATES = 1u << 0,
};

/* A backend. Fill it with named initialisers; every method of its version
 * is required, except set_times_nofollow (NULL: ENOTSUP).
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
   * storage holds now, for the quotas. Called at mount only when the
   * mount has a quota, else on the first cis_vfs_usage, and again after
   * a rollback (of a scope, of the database's layers). A walk of the
   * storage's tree must hold no C stack frame or descriptor per level,
   * and fails with ENAMETOOLONG below b->max_depth levels. */
  int (*usage)(cis_vfs_backend *b, uint64_t *bytes, uint64_t *nodes);

  /* ---- names in a directory ---- */
  /* Stat of dir/name itself (a symlink is not followed); flags:
   * CIS_VFS_LOOKUP_*, which a backend may ignore. */
  int (*lookup)(cis_vfs_backend *b, cis_vfs_node *dir, const char *name, uint32_t flags,
                cis_vfs_stat *st);
  /* Opens dir/name: CIS_VFS_READ/WRITE/CREAT/EXCL/TRUNC/DIRECTORY. A
   * directory opens only without WRITE/CREAT/TRUNC (EISDIR). Flags may hold
   * neither READ nor WRITE: the wrappers open each directory of a path
   * with just DIRECTORY to walk through it, and a node with 0 to set its
   * times; such a node needs stat, set_times and use as `dir` to work.
   * dir/name a symlink: ELOOP (with DIRECTORY, ENOTDIR is accepted too);
   * with CREAT|EXCL: EEXIST. */
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
   * excluded (the wrappers add them). ENOENT at the end. ent->next must be
   * at most UINT64_MAX - 2 (see cis_vfs_dirent). */
  int (*readdir)(cis_vfs_backend *b, cis_vfs_node *dir, uint64_t cookie, cis_vfs_dirent *ent);

  /* ---- version 2 ---- */
  /* Sets the times of dir/name itself, as set_times does (same flags): a
   * symlink's own times, not its target's (utimensat AT_SYMLINK_NOFOLLOW).
   * The wrappers call it only for a symlink. NULL when the storage cannot
   * (cis_vfs_set_timesat is then ENOTSUP). */
  int (*set_times_nofollow)(cis_vfs_backend *b, cis_vfs_node *dir, const char *name,
                            uint64_t atim, uint64_t mtim, uint32_t flags);

  /* ---- version 3 ---- */
  /* Brackets a unit of change (see cis_vfs_scope_begin): op is
   * CIS_VFS_SCOPE_BEGIN, _COMMIT or _ROLLBACK. COMMIT returns
   * CIS_VFS_ECONFLICT when another writer changed the tree after the
   * scope first read it, or the error that rolled the scope back earlier;
   * then nothing of the scope applied. Destroying the backend inside a
   * scope rolls it back. */
  int (*scope)(cis_vfs_backend *b, int op);
};

#define CIS_VFS_SCOPE_BEGIN 1
#define CIS_VFS_SCOPE_COMMIT 2
#define CIS_VFS_SCOPE_ROLLBACK 3

/* ---- built-in backends ---- */

/* A host directory, confined: every component is opened relative to its
 * parent's descriptor with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS) where the kernel has it, and openat(O_NOFOLLOW)
 * where it does not. No host path or
 * descriptor leaves the backend. Errors of its methods are the host's
 * errno values. Special files (FIFOs, devices, sockets) list and stat as
 * CIS_VFS_UNKNOWN and cannot be opened (EACCES). A node opened without
 * READ/WRITE that the host will not let us read is an O_PATH descriptor:
 * it can be walked through and stat'ed, not read, listed or touched.
 * A hard link placed in the directory before mounting to a file outside
 * IS that file: whoever prepares the directory must not make one (the
 * guest cannot, as it cannot name anything outside).
 * Errors: CIS_EINVAL, CIS_ENOTFOUND (no such directory), CIS_EVFS,
 * CIS_ENOMEM. On failure *out is a failed backend (NULL only without
 * memory for it): the detail is (*out)->errmsg; cis_vfs_mount of it gives
 * a failed mount with the same code and detail, or free it with
 * (*out)->methods->destroy(*out). */
CIS_EXTERN cis_result cis_vfs_host_new(const char *host_dir, cis_vfs_backend **out);

/* Scratch space in memory, gone when the mount is freed. Files up to
 * 64 GiB (EFBIG above), and at most 2 GiB allocated for all files
 * together (ENOSPC above); set max_bytes to bound it further. Errors:
 * CIS_EINVAL (out NULL), CIS_ENOMEM (*out NULL). */
CIS_EXTERN cis_result cis_vfs_mem_new(cis_vfs_backend **out);

/* The layered database filesystem ("Tarbox"). Files, directories and
 * symlinks live in SQLite or PostgreSQL; file data in blocks, so no file
 * is ever read whole into memory. Every row carries the tenant, and every
 * query names it: a tenant can see only its own layers.
 *
 * Layers: the base layer (id 1) is read-only. Writes go to the top layer,
 * copying on write whatever they change from the layers below.
 * cis_vfs_db_snapshot freezes the top layer and opens a new one above it;
 * cis_vfs_db_rollback drops every layer above a frozen one.
 *
 * Each method that changes something is one database transaction: it
 * lands whole or not at all. Two exceptions keep it fast: a file's
 * creation (or truncation at open) is committed with its first write, in
 * one transaction, when nothing else happens on the backend in between
 * (a stat, write, truncate or set-times of the same file joins; close,
 * sync or any other call commits first); and inside a call scope
 * (docs/dbfs.md) everything commits together at the scope's end. A write
 * is durable at once with CIS_VFS_DB_SYNC_FULL, else after cis_vfs_fsync
 * (or a checkpoint); a process crash loses no committed write either way
 * (docs/dbfs.md, "Durability"). An unreachable database, a lost connection,
 * an SQLite file that cannot be opened or written (or stays locked), and
 * any operation that outlasts op_timeout_ms fail with CIS_VFS_EDOWN; the
 * next call reconnects. A full disk gives ENOSPC, corrupt data EIO. Hard
 * links are not supported (EPERM): one name per node is a Tarbox design
 * limitation. */
typedef struct cis_vfs_db_config {
  const char *spec;       /* "sqlite:PATH", "postgres:CONNSTR", "postgres://..." */
  const char *tenant;     /* 1..255 bytes; required */
  uint32_t block_size;    /* bytes per data block, 512..16 MiB; 0 = 64 KiB; set when
                             the tenant is created, later opens keep the tenant's */
  uint64_t op_timeout_ms; /* cap on one database operation; 0 = 30 000 */
  uint32_t sync;          /* CIS_VFS_DB_SYNC_NORMAL (0) or CIS_VFS_DB_SYNC_FULL */
  /* PostgreSQL: hold a lease on the tenant's tree while no other mount
   * writes it (docs/dbfs.md, "PostgreSQL: the lease"): the mount then
   * reads what it knows without asking the server, at the cost of a
   * second connection and a thread. For mounts that outlive many calls
   * (cis run's); a mount made for one call scope gains nothing. Other
   * mounts' writers recall it and wait for it, whatever they set here.
   * Ignored on SQLite. */
  bool lease;
  /* A limit shared by every tree whose name starts with `group` (which
   * `tenant` must start with too; the skills host's per-tenant file
   * limits over "TENANT/"). Each tree keeps what it holds in a row the
   * commits move, and every commit that grows this tree's nodes or bytes
   * reads the group's rows under a lock that orders the group's commits
   * (PostgreSQL: an advisory lock; SQLite: the database's write lock):
   * past group_max_nodes or group_max_bytes the commit fails with EDQUOT
   * (CIS_EQUOTA from cis_vfs_scope_end) and nothing of it applies, so
   * writers at once cannot pass the limit together. Counted as the
   * backend's usage counts: nodes of every kind with a name (the root
   * excluded), bytes of regular files with a name. NULL, or both limits
   * 0: no group. */
  const char *group;
  uint64_t group_max_bytes; /* the group's bytes in regular files; 0 = no limit */
  uint64_t group_max_nodes; /* the group's nodes; 0 = no limit */
} cis_vfs_db_config;

/* Durability of a commit. NORMAL: survives a crash of the process; a power
 * loss (PostgreSQL: a crash of the server) may undo the commits since the
 * last cis_vfs_fsync, whole. FULL: on disk before the call returns. */
#define CIS_VFS_DB_SYNC_NORMAL 0u
#define CIS_VFS_DB_SYNC_FULL 1u

CIS_EXTERN void cis_vfs_db_config_default(cis_vfs_db_config *c);
/* Errors: CIS_EINVAL (spec, tenant), CIS_ETOOBIG (a spec longer than 4096
 * bytes), CIS_EVFSDOWN (database unreachable),
 * CIS_EUNSUPPORTED (PostgreSQL: libpq, loaded at the first connect, is
 * not installed; the detail names its package), CIS_EVFS, CIS_ENOMEM. On
 * failure *out is a failed backend, as cis_vfs_host_new's: the detail is
 * (*out)->errmsg, and cis_vfs_mount passes it on. */
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
 * (CIS_ESTATE). A database down: CIS_EVFSDOWN. */
/* name: at most 63 bytes (CIS_EINVAL), NULL = "". *layer_id (may be NULL)
 * receives the id of the layer just frozen: the one to roll back to. */
CIS_EXTERN cis_result cis_vfs_db_snapshot(cis_vfs *fs, const char *name, uint64_t *layer_id);
/* *out is malloc'd (free with free()), bottom layer first. */
CIS_EXTERN cis_result cis_vfs_db_layers(cis_vfs *fs, cis_vfs_layer **out, size_t *n);
/* cis_vfs_db_rollback's flags. FORCE: roll back even past the quotas
 * and the group's limits (the operator's override). */
#define CIS_VFS_DB_ROLLBACK_FORCE 1u
/* Deletes every layer above the frozen layer layer_id and opens a new
 * writable top above it (ids are never reused); the tree's usage becomes
 * what the layer shows, and the mount's quotas count from it. Unless
 * flags holds CIS_VFS_DB_ROLLBACK_FORCE, a rollback that would grow the
 * tree's nodes or bytes past the mount's quota (cis_vfs_options) or its
 * group's (cis_vfs_db_config.group_max_*, checked under the group's lock
 * as a commit's is) fails with CIS_EQUOTA and changes nothing; one that
 * grows neither passes, even above a limit lowered since. CIS_ENOTFOUND:
 * no such layer; CIS_EINVAL: it is the writable top, or flags holds
 * another bit. */
CIS_EXTERN cis_result cis_vfs_db_rollback(cis_vfs *fs, uint64_t layer_id, uint32_t flags);

/* ---- layers as a user feature (docs/dbfs.md, "Layers") ---- */

/* What happened to one path between two views of the tree. */
typedef enum cis_vfs_change {
  CIS_VFS_ADDED = 1,        /* absent in the older view */
  CIS_VFS_REMOVED = 2,      /* absent in the newer view */
  CIS_VFS_MODIFIED = 3,     /* same kind: content, size or mtime changed, or replaced */
  CIS_VFS_TYPE_CHANGED = 4, /* a file became a directory, a symlink a file, ... */
} cis_vfs_change;

typedef struct cis_vfs_diff_entry {
  const char *path;       /* from the root, no leading '/', NUL-terminated; valid
                             only during the callback */
  size_t pathlen;         /* bytes in path */
  cis_vfs_change change;  /* what happened */
  cis_vfs_type old_type;  /* kind in the older view; CIS_VFS_UNKNOWN when absent */
  cis_vfs_type new_type;  /* kind in the newer view; CIS_VFS_UNKNOWN when absent */
  uint64_t old_size;      /* size in the older view (0 for directories, absent) */
  uint64_t new_size;      /* size in the newer view (same) */
} cis_vfs_diff_entry;

/* Called once per change; a non-zero return stops the diff (which then
 * returns CIS_ECANCELED). */
typedef int (*cis_vfs_diff_fn)(void *user, const cis_vfs_diff_entry *e);

/* The changes between the tree as layer `from` shows it and as layer `to`
 * shows it (to 0: the writable top, the live tree), from < to. A layer
 * shows its own rows over every layer below it, so from = a snapshot's id
 * gives what changed since that snapshot. Reported per path: a name made,
 * removed, replaced or whose kind changed (also inside a directory made or
 * removed between the views), and a file or symlink present in both whose
 * size, data or mtime changed (directories are not reported for their
 * times). A node moved is removed at its old path and added at its new
 * one; a directory moved so, without what it holds. Paths of removed
 * nodes are as the older view names them, others as the newer one. Order:
 * names by directory, then the changed files; one call sees one
 * consistent state. At most `max` changes are
 * reported (0 = 100 000); *truncated (may be NULL) says whether more
 * were left out; *count (may be NULL) receives the number reported.
 * Errors: CIS_EUNSUPPORTED (not a database mount), CIS_EINVAL (from >=
 * to, NULL fn), CIS_ENOTFOUND (no such layer), CIS_ECANCELED (fn
 * stopped it), CIS_EVFSDOWN, CIS_EVFS (corrupt rows); the detail is
 * cis_vfs_errmsg(fs). */
CIS_EXTERN cis_result cis_vfs_db_diff(cis_vfs *fs, uint64_t from, uint64_t to, size_t max,
                                      cis_vfs_diff_fn fn, void *user, size_t *count,
                                      bool *truncated);

/* What a compaction freed. */
typedef struct cis_vfs_compact_stats {
  uint64_t rows;        /* rows deleted, all tables */
  uint64_t data_bytes;  /* bytes of file data among them (block payloads) */
  uint64_t layers;      /* layers dropped from the chain (no longer rollback targets) */
} cis_vfs_compact_stats;

/* Deletes the rows no kept view of the tree can reach, in one
 * transaction. The kept views are the layers from `keep_from` up to the
 * top (0 = the lowest layer there is: every layer stays a rollback
 * target); the layers below keep_from stop being rollback targets and
 * merge into it (it becomes the bottom, parent 0). Reclaimable, with K =
 * keep_from:
 *   1. a row of a layer below K hidden at view K: another row of the same
 *      name (entries), node (inodes) or block (blocks) lies in a layer
 *      above it and at or below K;
 *   2. a whiteout (of a name or a block) with no row of its key below it:
 *      it hides nothing, in any layer;
 *   3. every row of a node no kept view sees alive (removed in all of
 *      them, or made and removed in the same layer).
 * No kept view changes: reads, listings, diffs among kept layers and
 * rollbacks to them give what they gave before. No file of the mount may
 * be open (CIS_ESTATE); another process's handle of a removed file reads
 * EBADF afterwards. st (may be NULL) receives what was freed. Errors:
 * CIS_EUNSUPPORTED, CIS_ESTATE, CIS_ENOTFOUND (no layer keep_from),
 * CIS_EVFSDOWN, CIS_EVFS; the detail is cis_vfs_errmsg(fs). */
CIS_EXTERN cis_result cis_vfs_db_compact(cis_vfs *fs, uint64_t keep_from,
                                         cis_vfs_compact_stats *st);

/* Whether the tenant cfg->tenant has a tree in cfg->spec's database
 * (created by a first cis_vfs_db_new), without creating it. Connects on
 * its own (cfg->op_timeout_ms bounds it). Errors as cis_vfs_db_new's; the
 * detail is cis_errmsg(NULL) (the thread's, as for every call without a
 * handle). */
CIS_EXTERN cis_result cis_vfs_db_tenant_exists(const cis_vfs_db_config *cfg, bool *exists);
/* What all the trees of b's database whose names start with prefix hold
 * together (bytes in regular files and nodes, counted as the backend's
 * usage counts them), read on b's own connection before b is mounted: for
 * a limit shared by several trees (the skills host's per-tenant file limit
 * over "TENANT/...", whose exact check is cis_vfs_db_config.group's at
 * commit). Reads each tree's usage row (a tree whose row a database made
 * by an older cis lacks: a scan of its entries). Errors:
 * CIS_EINVAL (b not a database backend, NULL or empty prefix, a prefix
 * ending in byte 0xff), CIS_EVFSDOWN (the database down, or its time up:
 * cfg->op_timeout_ms), CIS_EVFS; the detail is b->errmsg. */
CIS_EXTERN cis_result cis_vfs_db_group_usage(cis_vfs_backend *b, const char *prefix, uint64_t *bytes,
                                             uint64_t *nodes);

/* Deletes every row of tenant cfg->tenant (its tree, every layer, the
 * tenant itself) in one transaction, after waiting for the tenant's
 * writers (its lock); other tenants are untouched. Mounts of it still
 * open fail their next call with EIO ("tenant vanished"); a later
 * cis_vfs_db_new starts it afresh. Errors: CIS_ENOTFOUND (no such
 * tenant), the rest as cis_vfs_db_new's; the detail is cis_errmsg(NULL). */
CIS_EXTERN cis_result cis_vfs_db_tenant_delete(const cis_vfs_db_config *cfg);
/* The names of the trees (tenants, in this section's words) of
 * cfg->spec's database that start with prefix (cfg->tenant is not read):
 * the skills host's trees of one of its tenants are those starting with
 * "TENANT/" (its skills' own and its volumes). At most max names (0 =
 * 1000) in byte order, from the first when after is NULL, else those
 * sorting after `after`; the match is exact, byte for byte (no pattern:
 * "alice/" never lists "alice2/..."). *names is one allocation holding the
 * array and the NUL-terminated names (free(*names); NULL when none), *n
 * their count, *more (may be NULL) whether more follow. Read in one
 * transaction on a connection of its own (cfg->op_timeout_ms bounds it).
 * Errors: CIS_EINVAL (no prefix, one longer than 255 bytes or ending in
 * byte 0xff, NULL outputs), the rest as cis_vfs_db_new's; the detail is
 * cis_errmsg(NULL). */
CIS_EXTERN cis_result cis_vfs_db_tenant_list(const cis_vfs_db_config *cfg, const char *prefix, const char *after,
                                             size_t max, char ***names, size_t *n, bool *more);

/* =============================================================== mounts */

/* Quotas: a mount with a quota (max_bytes or max_files) reads the
 * backend's usage once when it is made, then counts every change itself;
 * a mount without one reads it only when cis_vfs_usage first asks (so
 * mounting a large host directory walks nothing). A write, truncate or create that would pass a quota fails
 * with EDQUOT before the backend is called, so nothing changes. Counted:
 * the bytes of regular files (each inode once, not per link; not symlinks
 * or directories) and nodes of every kind (files, directories, symlinks;
 * the root excluded). A hard link counts nothing: it is no new node and no
 * new bytes, and only the removal of an inode's last link frees it. A
 * regular file unlinked (or renamed over) while open keeps its node and
 * bytes, and may grow, until the last file open on it closes. Writes that
 * do not grow anything are never refused, even above a lowered quota. */
typedef struct cis_vfs_options {
  bool read_only;     /* every change fails with EROFS */
  uint64_t max_bytes; /* bytes in regular files; 0 = no limit */
  uint64_t max_files; /* nodes of every kind; 0 = no limit */
  bool zero_means_full; /* max_bytes and max_files of 0 allow nothing more
                           (a mount's share of a limit other mounts used
                           up) instead of meaning no limit; UINT64_MAX is
                           then no limit */
  uint32_t max_depth; /* directory levels below the root; 0 = CIS_VFS_DEFAULT_MAX_DEPTH */
} cis_vfs_options;

/* The depth limit: a directory max_depth + 1 levels below the mount's root
 * cannot be made (mkdirat) or moved there (renameat of a directory):
 * ENAMETOOLONG, as its path from the root would be too long (WASI: the
 * same errno). Levels are counted from the root whatever base the path
 * is resolved against, so a guest walking directory descriptors one short
 * path at a time is stopped at the same depth as one naming long paths.
 * Only the moved directory's own level is checked, so a rename can stack a
 * subtree deeper than max_depth below it; nothing new can be made down
 * there, and nothing in cis recurses over a tree, so such a tree is as
 * harmless as any other. The default, CIS_VFS_DEFAULT_MAX_DEPTH (4096), is
 * more levels than a path of CIS_VFS_PATH_MAX bytes can name (2048 at most,
 * "a/" each), so no tree built with paths is refused. */

/* Mounts a backend, which the mount then owns (also on failure). Reads the
 * backend's usage for the quotas. Errors: CIS_EINVAL (NULL arguments, a
 * method table with version < 1 or a method missing), CIS_ENOMEM, the
 * backend's usage error as a cis_result, or a failed backend's own code
 * (a constructor's failure passed on, its detail with it). On failure
 * *out is a failed mount (cis.h, "Errors"; NULL only without memory for
 * it): the detail is cis_vfs_errmsg(*out) or cis_errmsg(*out); calls on it
 * fail without touching it (CIS_ESTATE, or EBADF for those that return an
 * error number); free it with cis_vfs_unmount. So a caller may check only
 * the mount:
 *
 *   cis_vfs_db_new(&cfg, &b);
 *   if (cis_vfs_mount(b, NULL, &fs) != CIS_OK) report(cis_vfs_errmsg(fs));
 */
CIS_EXTERN cis_result cis_vfs_mount(cis_vfs_backend *b, const cis_vfs_options *opts,
                                    cis_vfs **out);
/* Frees the mount and its backend. Files still open are detached, not
 * freed: their backend nodes close now, every later call on them fails
 * with EBADF (cis_vfs_file_mount gives NULL), and cis_vfs_close still
 * frees them. */
CIS_EXTERN void cis_vfs_unmount(cis_vfs *fs);

/* Detail of the last failure on fs, or of its failed mount; the same as
 * cis_errmsg(fs). Never NULL ("" for NULL). */
CIS_EXTERN const char *cis_vfs_errmsg(const cis_vfs *fs);
/* The cis_result for an error number: ENOTCAPABLE -> CIS_EPATH, EROFS ->
 * CIS_EROFS, EDQUOT/ENOSPC -> CIS_EQUOTA, EDOWN -> CIS_EVFSDOWN, ENOENT ->
 * CIS_ENOTFOUND, EEXIST -> CIS_EEXIST, EINVAL/ENAMETOOLONG -> CIS_EINVAL,
 * ENOMEM -> CIS_ENOMEM, ECANCELED (a step of a mount bound to a call
 * that was cancelled) -> CIS_ECANCELED, others -> CIS_EVFS. */
CIS_EXTERN cis_result cis_vfs_result(int err);

/* Bounds the backend work of the calls made on fs from now on, until the
 * next cis_vfs_set_timeout, to end within timeout_ms from now (UINT64_MAX:
 * no bound besides the backend's own, the default). For running a mount
 * under a call's deadline: WASI sets it to the time left in the guest's
 * call before each filesystem call it makes, and lifts it when the run
 * ends. A backend that runs out of it fails the method (the database:
 * CIS_VFS_EDOWN, "deadline exceeded"). A skill call's mounts follow the
 * call's own deadline instead, read at each backend step, and ignore this
 * (docs/embedding.md, "One call in four stages"). */
CIS_EXTERN void cis_vfs_set_timeout(cis_vfs *fs, uint64_t timeout_ms);

/* Bytes and nodes the mount holds now, as the quotas count them. On a
 * mount without a quota the first call reads the backend's usage (a host
 * directory: a walk of its tree); it returns that call's error number
 * (both counts then 0), and 0 otherwise. NULL fs: both 0, EINVAL. */
CIS_EXTERN int cis_vfs_usage(cis_vfs *fs, uint64_t *bytes, uint64_t *nodes);
/* Changes the mount refused for a quota (max_bytes, max_files: EDQUOT)
 * since it was mounted, and into first (cap bytes; may be NULL) the
 * detail of the first of them: the call, the quota, what the mount held
 * and the limit; never a file's contents. For the host's log, one line
 * per mount however many times a guest retried. NULL fs: 0. */
CIS_EXTERN uint64_t cis_vfs_quota_refusals(const cis_vfs *fs, char *first, size_t cap);

/* ---- paths (all relative to an open directory, the base) ---- */

/* Opens the mount's root directory. */
CIS_EXTERN int cis_vfs_open_root(cis_vfs *fs, cis_vfs_file **out);
/* Opens base/path with CIS_VFS_* flags. "." and "" name the base itself
 * (a new file of the same node; EISDIR with WRITE/CREAT/TRUNC, EEXIST with
 * CREAT|EXCL). A final symlink: ELOOP unless FOLLOW (CREAT|FOLLOW on a
 * dangling one creates its target; CREAT|EXCL never follows it: EEXIST).
 * Unknown flags: EINVAL. Files of a read-only mount cannot be opened with
 * WRITE/CREAT/TRUNC (EROFS). */
CIS_EXTERN int cis_vfs_openat(cis_vfs_file *base, const char *path, size_t len, uint32_t flags,
                              cis_vfs_file **out);
/* Stat; flags may hold CIS_VFS_FOLLOW. */
CIS_EXTERN int cis_vfs_statat(cis_vfs_file *base, const char *path, size_t len, uint32_t flags,
                              cis_vfs_stat *st);
/* "." or the base: EEXIST. A trailing '/' is allowed; on an existing
 * name of any kind it is EEXIST, not ENOTDIR (as Linux). */
CIS_EXTERN int cis_vfs_mkdirat(cis_vfs_file *base, const char *path, size_t len);
/* A final "." gives EINVAL, ".." ENOTEMPTY, the base itself EBUSY. */
CIS_EXTERN int cis_vfs_rmdirat(cis_vfs_file *base, const char *path, size_t len);
/* A directory (also ".", ".." or the base): EISDIR. */
CIS_EXTERN int cis_vfs_unlinkat(cis_vfs_file *base, const char *path, size_t len);
/* EXDEV when the two bases are on different mounts. ".", ".." or a base
 * on either side: EBUSY. */
CIS_EXTERN int cis_vfs_renameat(cis_vfs_file *obase, const char *opath, size_t olen,
                                cis_vfs_file *nbase, const char *npath, size_t nlen);
/* Creates base/path as a symlink to target (which may point anywhere: it
 * is checked when it is followed, not when it is made; WASI refuses an
 * absolute one itself). A path ending with '/' names a directory, which a
 * new symlink cannot be: ENOENT when nothing is there, EEXIST otherwise
 * (as Linux). */
CIS_EXTERN int cis_vfs_symlinkat(const char *target, size_t tlen, cis_vfs_file *base,
                                 const char *path, size_t len);
/* The target in buf (not NUL-terminated), its length in *outlen. ERANGE
 * when cap is too small (*outlen says how much is needed); EINVAL when
 * the path is not a symlink ("link/" follows link, as Linux: EINVAL when
 * it leads to a directory). */
CIS_EXTERN int cis_vfs_readlinkat(cis_vfs_file *base, const char *path, size_t len, char *buf,
                                  size_t cap, size_t *outlen);
/* flags may hold CIS_VFS_FOLLOW (for the source). EXDEV across mounts. A
 * new path ending with '/': ENOENT when nothing is there, EEXIST
 * otherwise (as Linux). */
CIS_EXTERN int cis_vfs_linkat(cis_vfs_file *obase, const char *opath, size_t olen,
                              uint32_t flags, cis_vfs_file *nbase, const char *npath,
                              size_t nlen);
/* flags: CIS_VFS_FOLLOW plus the CIS_VFS_ATIM.. set_times flags (a time
 * both given and _NOW: EINVAL). Without FOLLOW a final symlink's own times
 * are set (the backend's set_times_nofollow; ENOTSUP for a backend without
 * one). */
CIS_EXTERN int cis_vfs_set_timesat(cis_vfs_file *base, const char *path, size_t len,
                                   uint32_t flags, uint64_t atim, uint64_t mtim);

/* ---- open files ---- */

/* A file not opened with READ: EBADF; a directory: EISDIR. */
CIS_EXTERN int cis_vfs_pread(cis_vfs_file *f, void *buf, size_t len, uint64_t off, size_t *got);
/* off CIS_VFS_APPEND appends. All or nothing: a write that would pass a
 * quota fails with EDQUOT and changes nothing. Not opened with WRITE:
 * EBADF; past offset INT64_MAX: EFBIG. */
CIS_EXTERN int cis_vfs_pwrite(cis_vfs_file *f, const void *buf, size_t len, uint64_t off,
                              size_t *put);
CIS_EXTERN int cis_vfs_fstat(cis_vfs_file *f, cis_vfs_stat *st);
CIS_EXTERN int cis_vfs_ftruncate(cis_vfs_file *f, uint64_t size);
CIS_EXTERN int cis_vfs_fset_times(cis_vfs_file *f, uint32_t flags, uint64_t atim, uint64_t mtim);
CIS_EXTERN int cis_vfs_fsync(cis_vfs_file *f);

/* A unit of change, such as one skill call. After cis_vfs_scope_begin the
 * mount's changes are seen at once by its own calls (read your writes) and
 * by no other mount until cis_vfs_scope_end(fs, true) makes them visible
 * and durable together; cis_vfs_scope_end(fs, false), unmounting inside
 * the scope, or the process dying drops them all. A scope that read the
 * tree and then finds it changed by another writer before its own first
 * change fails there and at its end with CIS_EVFSCONFLICT (never a write
 * lost silently); writers of one tree take turns, each holding the tree
 * from its first change to its end. Only database mounts are
 * transactional: on the others both calls succeed and do nothing.
 * docs/dbfs.md tells the details. Errors: CIS_ESTATE (begin inside a
 * scope, end outside one), CIS_EVFSCONFLICT, CIS_EVFSDOWN, CIS_EVFS; the
 * detail is cis_vfs_errmsg(fs). */
CIS_EXTERN cis_result cis_vfs_scope_begin(cis_vfs *fs);
CIS_EXTERN cis_result cis_vfs_scope_end(cis_vfs *fs, bool commit);
/* The entry at cookie, "." (cookie 0) and ".." (cookie 1) first; ENOENT at
 * the end. The parent of an open directory is not known, so ".." carries
 * the directory's own ino. */
CIS_EXTERN int cis_vfs_readdir(cis_vfs_file *dir, uint64_t cookie, cis_vfs_dirent *ent);
/* The kind of node a file is (known from its open: no backend call);
 * CIS_VFS_UNKNOWN for NULL or a file detached by an unmount. */
CIS_EXTERN cis_vfs_type cis_vfs_file_type(const cis_vfs_file *f);
/* The mount a file belongs to. */
CIS_EXTERN cis_vfs *cis_vfs_file_mount(const cis_vfs_file *f);
CIS_EXTERN void cis_vfs_close(cis_vfs_file *f);

#ifdef __cplusplus
}
#endif
#endif /* CIS_CIS_VFS_H */
