/*
 * This file declares what the database filesystem's own files share:
 * vfs_db.c (the backend's methods, its transactions and caches, the
 * tenants by name), vfs_db_layers.c (the layers as a user feature:
 * snapshot, list, rollback, diff, compaction) and vfs_db_sql.c (every
 * statement's text). It holds the numbers of the statements, the
 * backend's state (vdb_fs) and the few functions of vfs_db.c the layer
 * operations run on. The dialects see none of it: a statement is a number
 * and a text to them (vfs_db_internal.h).
 *
 * The types keep the short vdb_ names of the file they came from: the
 * header is private to these three files. Functions that cross from one
 * file to another are cis__vdb_, so a call that leaves its file says so.
 */
#ifndef CIS_VFS_DB_FS_H
#define CIS_VFS_DB_FS_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "cis/cis_vfs.h"
#include "common/internal.h"
#include "db/db_txn.h"
#include "vfs/vfs_db_internal.h"

#define ROOT_INO 1   /* the root directory's node */
#define T_WHITEOUT 0 /* entries.type of a whiteout */

#define CIS__VDB_STR(x) #x
#define CIS__VDB_XSTR(x) CIS__VDB_STR(x) /* a macro's value as a string literal */

/* The statements of the files and the tree (vfs_db_sql.c says what each
 * does). */
enum {
  Q_TENANT_GET,
  Q_TENANT_ADD,
  Q_LAYER_ADD,
  Q_LOCK,
  Q_COUNTERS,
  Q_SET_TOP,
  Q_GEN,
  Q_ENT_GET,
  Q_ENT_LOWER,
  Q_ENT_PUT,
  Q_ENT_DEL,
  Q_ENT_LIST,
  Q_LOOKUP,
  Q_DVER,
  Q_INO_GET,
  Q_INO_NEW,
  Q_INO_ADD,
  Q_INO_TARGET,
  Q_INO_PUT,
  Q_INO_SET,
  Q_READ,
  Q_BLK_GET,
  Q_BLK_RANGE,
  Q_BLK_PUT,
  Q_BLK_CUT,
  Q_BLK_WHITEOUT,
  Q_BLK_DROP,
  Q_USAGE,
  Q_LAYERS,
  Q_LAYER_GET,
  Q_LAYER_FREEZE,
  Q_DROP_ENTRIES,
  Q_DROP_INODES,
  Q_DROP_BLOCKS,
  Q_DROP_LAYERS,
  Q_LOCK_CHECK,
  Q_PEEK,
  Q_CTR_NODES,
  Q_ENT_REMOVE,
  Q_LOCK_OWN,
  Q_LEASE_WAIT,
  Q_RECALL,
  Q_USAGE_FILL,
  Q_GROUP_LOCK,
  Q_GROUP_SUM,
  Q_USAGE_ROW,
  Q_USAGE_AT,
  Q_USAGE_PUT,
  Q_COUNT
};

_Static_assert(Q_COUNT <= CIS__VDB_MAX_STMTS, "the dialects' statement caches are too small");

extern const cis__vdb_sql cis__vdb_stmts[Q_COUNT];

/* Statements of diff, compaction and tenant deletion. They take the top of
 * the dialects' statement caches (ids CIS__VDB_MAX_STMTS - L_COUNT up), so
 * the main table (Q_*) can grow without renumbering them. */
enum {
  L_TOP,
  L_DIFF_ENTS,
  L_DIFF_NODES,
  L_INO_AT,
  L_BLK_CHANGED,
  L_ENT_NAME,
  L_ENT_BY_INO,
  L_C_ENTRIES,
  L_C_INODES,
  L_C_BLOCKS,
  L_C_ENT_WHITEOUTS,
  L_C_BLK_WHITEOUTS,
  L_C_DEAD_BLOCKS,
  L_C_DEAD_INODES,
  L_C_LAYERS,
  L_C_BOTTOM,
  L_LOWEST,
  L_DEL_BLOCKS,
  L_DEL_INODES,
  L_DEL_ENTRIES,
  L_DEL_LAYERS,
  L_DEL_TENANT,
  L_TENANT_LIST,
  L_COUNT
};
/* The dialects' number of layer statement x. */
#define L_ID(x) (CIS__VDB_MAX_STMTS - L_COUNT + (x))
/* Rows of one page of a diff's candidates (the statements' LIMIT). */
#define CIS__VDB_DIFF_PAGE 1024
_Static_assert(Q_COUNT <= CIS__VDB_MAX_STMTS - L_COUNT,
               "the layer statements overlap the main table: raise CIS__VDB_MAX_STMTS");

extern const cis__vdb_sql cis__vdb_layer_stmts[L_COUNT];

/* ================================================================ types */

/* A directory on the walk to a deferred creation, opened on caches the
 * call had not checked (prov_open): looked up again if the creation's
 * check fails (relink). */
typedef struct vdb_link {
  uint64_t dir;          /* the directory its name is in, as the caches had it */
  uint64_t old;          /* its number as the caches had it */
  uint64_t now;          /* its number as relink found it */
  char *name;            /* its name (malloc'd) */
} vdb_link;

typedef struct vdb_node {
  cis_vfs_node base;     /* must stay first: the wrappers see only this */
  uint64_t ino;          /* the node */
  cis_vfs_type type;     /* CIS_VFS_REG or CIS_VFS_DIR */
  bool orphan;           /* its name was removed while open: its top-layer blocks
                            go when the last handle closes */
  /* A creation that waits (db_open's deferred batch, can_defer): no row
   * exists yet; its first write, or any other method, makes it (land). */
  bool pending;          /* the creation waits */
  uint64_t pdir;         /* pending: the directory the name goes in */
  char *pname;           /* pending: the name (malloc'd) */
  uint64_t ptime;        /* pending: its times (ns), those of the open */
  bool pblind;           /* pending: the name was said absent unchecked (blind_absent) */
  bool ptrunc;           /* pending: opened with TRUNC */
  vdb_link *plinks;      /* pending: the unchecked directories on its walk, oldest
                            first (malloc'd), or NULL */
  int nplinks;           /* entries at plinks */
  /* A small file's bytes as this handle's first read fetched them whole,
   * so later reads (the one that finds the end) cost no statement;
   * dropped by this mount's changes to the node and whenever the caches
   * are emptied (drop_data). */
  uint8_t *data;         /* the file's bytes (malloc'd), or NULL */
  uint64_t dsize;        /* bytes at data (the file's size) */
  bool dvalid;           /* data holds the file */
  /* A directory opened from the caches before the call
   * checked them (prov_open): what named it, so that a check finding the
   * tenant changed looks it up again (prov_fix). */
  bool prov;             /* opened on caches this call has not checked yet */
  int broken;            /* such a check found its name gone: ENOENT (ENOTDIR, or the
                            check's failure) from now on; 0: not */
  uint64_t prov_dir;     /* prov: the directory its name is in (as the caches had it) */
  uint64_t prov_old;     /* prov: its number as the caches had it */
  char *prov_name;       /* prov: its name (malloc'd) */
  uint64_t named_seq;    /* a directory: cis__vfs_call_seq() of the call that opened it
                            by its name (alive in that call once it checked) */
  struct vdb_node *next; /* the backend's open nodes */
  struct vdb_node *prev; /* same, backwards */
} vdb_node;

/* A node's visible metadata (its highest-layer row). */
typedef struct vdb_inode {
  uint64_t ino;    /* the node */
  int type;        /* cis_vfs_type */
  uint64_t nlink;  /* 1, or 0 once removed */
  uint64_t size;   /* bytes (symlink: target length) */
  uint64_t atim;   /* ns since the epoch */
  uint64_t mtim;   /* ns */
  uint64_t ctim;   /* ns */
  uint64_t parent; /* a directory's parent directory */
  int64_t layer;   /* the layer the row is in */
} vdb_inode;

/* A node's metadata as the open write transaction sees it. */
typedef struct vdb_slot {
  vdb_inode in;  /* the metadata (in.layer: the top once changed here) */
  int64_t from;  /* dirty: the layer the row is copied up from when written */
  bool used;     /* holds a node */
  bool dirty;    /* changed here and not yet written (written before commit and
                    before any statement that reads inode rows) */
  bool fresh;    /* dirty: made here, so it has no row yet (inserted whole) */
} vdb_slot;

#define CACHE_SLOTS 1024 /* direct-mapped by inode number */
#define DIRTY_LIST 32    /* dirty slots a transaction lists before a commit looks at all */
#define DCACHE_SLOTS 4096 /* sets of DCACHE_WAYS by a hash of directory and name */
#define DCACHE_WAYS 4     /* 1000 names lose some 4 to a full set, not 18 as in twos */
#define WHOLE_DIRS 8      /* directories whose names are all known (vdb_fs.whole) */
#define WHOLE_NAMES_MAX 65536 /* most names one of them records */

/* A small file's bytes as the call scope open now wrote or read them
 * whole, so that reading it again inside the scope costs no statement
 * (read-your-writes from what the mount holds). Kept inside a scope: its
 * reads are of one generation (see scope_checked) and its writes are this
 * mount's alone until it ends, when they are dropped. Kept too on a mount
 * with a lease (fdata_on), valid as the caches are: emptied with them
 * when a check finds the tenant changed. */
typedef struct vdb_fdata {
  uint64_t ino; /* the file; 0: the slot is empty */
  uint8_t *p;   /* its bytes (malloc'd; NULL when empty) */
  uint64_t n;   /* bytes at p: the file's size */
} vdb_fdata;

#define FDATA_SLOTS 1024            /* direct-mapped by inode number */
#define FDATA_BYTES (16u << 20)     /* most bytes a scope keeps so */

/* A directory made by this mount and the names it gained since (their
 * hashes): a name whose hash is not there is not in it. */
typedef struct vdb_whole {
  uint64_t dir;  /* the directory, 0: none */
  uint64_t *h;   /* open-addressed set of name hashes (0: a free slot) */
  size_t n, cap; /* hashes held, slots (a power of two) */
} vdb_whole;

/* A directory entry as the caches know it (see cache_ok). */
typedef struct vdb_dent {
  char *name;   /* the name (malloc'd); NULL: the slot is empty */
  uint64_t dir; /* the directory holding it */
  uint64_t ino; /* the node it names; 0: no such name (or a whiteout) */
  int type;     /* cis_vfs_type of the node */
  uint32_t gen; /* vdb_fs.dgen when cached: any other, the slot is empty */
} vdb_dent;

typedef struct vdb_fs {
  cis_vfs_backend base;           /* must stay first: the wrappers see only this */
  const cis__vdb_dialect *d;      /* the dialect (vfs_db_internal.h) */
  cis__vdb_conn *c;               /* this backend's own connection, or while joined
                                     (db/db_txn.h) one over the call's transaction's */
  cis__vdb_conn *own;             /* while joined: our own connection, set aside; else NULL */
  char *spec_text;                /* the spec it was opened with (owned) */
  cis__db_spec spec;              /* its database, read from spec_text: what a join compares */
  cis__db_txn_member member;      /* in the call's transaction while joined */
  int64_t tenant;                 /* tenant_id: bound as ?1 in every statement */
  uint32_t bs;                    /* block size of the tenant (fixed at its creation) */
  uint64_t timeout_ms;            /* budget of one method */
  uint8_t *blk;                   /* one block of scratch for partial-block merges */
  vdb_node *open;                 /* open nodes, for unlink-while-open */
  /* The write transaction now open (valid between cis__vdb_tx_begin and cis__vdb_tx_end). */
  int64_t top;                    /* the writable top layer */
  int64_t next_layer;             /* next layer id to hand out */
  int64_t next_ino;               /* next inode number */
  int64_t next_eid;               /* next directory entry id */
  bool counters_dirty;            /* next_ino / next_eid moved: write them back */
  bool changed;                   /* the open write transaction wrote something */
  int64_t dnodes;                 /* what the open write transaction changed the tree's
                                     usage by: nodes (usage_note) ... */
  int64_t dbytes;                 /* ... and bytes in regular files */
  /* A limit shared with other trees (cis_vfs_db_config.group): checked
   * by every commit that grows this tree. */
  char *group;                    /* the group's name prefix (malloc'd), or NULL: none */
  char *group_end;                /* its successor: the prefix with its last byte raised */
  uint64_t group_max_bytes;       /* bytes the group's trees may hold; 0 = no limit */
  uint64_t group_max_nodes;       /* nodes the same; 0 = no limit */
  /* Transactions that stay open across methods (see "Transactions"). */
  bool in_tx;                     /* a write transaction is open */
  vdb_node *batch;                /* the file whose creation waits in it for its first
                                     write, or NULL */
  bool scoped;                    /* a call scope is open: commit only at its end */
  bool scope_sync;                /* an fsync inside the scope: its commit is flushed */
  int scope_err;                  /* the failure that rolled the scope's changes back */
  bool gen_known;                 /* the scope read the tree: gen0 holds its generation */
  int64_t gen0;                   /* the tenant's next_eid at the scope's first read */
  vdb_fdata fdata[FDATA_SLOTS];   /* inside a scope: small files it wrote or read whole,
                                     valid as `cache` is */
  uint64_t fdata_bytes;           /* bytes held at fdata (at most FDATA_BYTES) */
  int fdata_used;                 /* slots of fdata holding a file */
  bool full_sync;                 /* CIS_VFS_DB_SYNC_FULL */
  bool unsynced;                  /* commits since the last flush (NORMAL) */
  uint64_t version;               /* the dialect's version the counters and the cache
                                     match after our last commit; 0: none */
  vdb_slot cache[CACHE_SLOTS];    /* metadata of nodes, valid inside the write
                                     transaction (and, while `version` holds, from one
                                     to the next) */
  uint16_t dirty_at[DIRTY_LIST];  /* the slots of `cache` made dirty since the list was
                                     emptied (some clean again, some listed twice), so a
                                     commit need not look at every slot */
  int ndirty;                     /* entries in dirty_at; above DIRTY_LIST: look at all */
  uint32_t dgen;                  /* the names' generation: emptying the caches moves
                                     it instead of freeing every name */
  vdb_dent *dcache;               /* DCACHE_SLOTS names, valid as `cache` is (made on
                                     first use; NULL: none) */
  vdb_whole whole[WHOLE_DIRS];    /* directories made by this mount, with
                                     every name they gained since, so a name not among
                                     them is absent; valid as `cache` is */
  int whole_at;                   /* the next slot of `whole` to take */
  bool checked;                   /* check_seq holds: this public call saw `version` */
  uint64_t check_seq;             /* cis__vfs_call_seq() of that check */
  /* Inode numbers handed out without the tenant's lock (by_generation). */
  int64_t ino_next, ino_end;      /* a range of inode numbers committed as this mount's
                                     (the tenant's next_ino moved past it): a deferred
                                     creation takes its number here */
  int64_t rng_next, rng_end;      /* the range the open transaction reserves; this
                                     mount's once it commits */
  bool opt;                       /* the open transaction began optimistically
                                     (tx_begin_opt): its check is in flight */
  uint64_t nretries;              /* optimistic transactions redone (for the tests) */
  /* The call's check rides with its lookup (peek, by_generation). */
  int nprov;                      /* open nodes with `prov` set: facts not yet checked */
  bool merging;                   /* the method running does the check itself (peek) */
  uint8_t *stash;                 /* a small file the call's peek fetched whole (malloc'd),
                                     for the open that follows it in the same call */
  uint64_t stash_n;               /* bytes at stash (the file's size) */
  uint64_t stash_ino;             /* its node; 0: no stash */
  uint64_t stash_seq;             /* cis__vfs_call_seq() of the peek */
  uint64_t blind_seq;             /* cis__vfs_call_seq() of the lookup blind_absent
                                     answered (0: none) ... */
  uint64_t blind_dir;             /* ... in this directory ... */
  char blind_name[CIS_VFS_NAME_MAX + 1]; /* ... of this name */
  cis__vdb_lease *lease;          /* the dialect's lease on the tenant's tree
                                     (cis_vfs_db_config.lease), or NULL: none */
  int64_t tx_gen;                 /* the generation the open write transaction began from,
                                     checked by its commit (Q_COUNTERS, Q_CTR_NODES) */
  uint64_t nrecalls;              /* other mounts' leases recalled (for the tests) */
  uint64_t nstmts;                /* statements run (for the tests) */
  uint64_t ncommits;              /* write transactions committed (same) */
  uint64_t nscans;                /* counts of the tree's usage from its rows (same) */
} vdb_fs;

/* A visible directory entry. */
typedef struct vdb_ent {
  uint64_t ino;  /* the node it names */
  int type;      /* cis_vfs_type */
  int64_t layer; /* the layer the row is in */
} vdb_ent;

/* ====================================== what the layer operations use */

/* The statements' values: an integer, a byte string (p NULL: an SQL
 * NULL), a byte string that is never an SQL NULL, even when empty, and a
 * block of a file (bytes the dialect may keep outside the row). Short:
 * every statement's arguments are built of them. */
static inline cis__vdb_val I(int64_t v) { return (cis__vdb_val){.kind = CIS__VDB_INT, .i = v}; }
static inline cis__vdb_val B(const void *p, size_t n) {
  return (cis__vdb_val){.kind = CIS__VDB_BLOB, .p = p, .n = n};
}
static inline cis__vdb_val S(const char *s) { return B(s, strlen(s)); }
static inline cis__vdb_val D(const void *p, size_t n) {
  return (cis__vdb_val){.kind = CIS__VDB_DATA, .p = p, .n = n};
}
#define NARGS(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* The wall clock in ns since the epoch (the nodes' and layers' times). */
static inline uint64_t wall_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The database backend of a mount, or NULL. */
vdb_fs *cis__vdb_fs_of(cis_vfs *mount);
/* Writes "db: " and the formatted detail into the backend's message and
 * returns err. */
int cis__vdb_fs_fail(vdb_fs *fs, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Statements (vfs_db.c says more of each): _query runs statement id of
 * text q, _run one of the main table; the caller steps through its rows
 * and calls done(). _first runs one and moves to its first row (*have),
 * the caller calling done() also when !*have. _exec runs a changing one
 * and ignores its rows (the dialect may pipeline it). */
int cis__vdb_query(vdb_fs *fs, int id, const cis__vdb_sql *q, const cis__vdb_val *a, int n,
                   cis__vdb_rows *r);
int cis__vdb_run(vdb_fs *fs, int id, const cis__vdb_val *a, int n, cis__vdb_rows *r);
int cis__vdb_first(vdb_fs *fs, int id, const cis__vdb_val *a, int n, cis__vdb_rows *r,
                   bool *have);
int cis__vdb_exec(vdb_fs *fs, int id, const cis__vdb_val *a, int n);

/* A method's frame: _arm starts its time budget (and the lease's view);
 * _settle, called first, commits a batch left open unless the method
 * joins it (n: the batch's own file) and settles what waits for the
 * call's check; _tx_begin opens (or joins) the write transaction, locking
 * the tenant's row; _tx_end ends a changing method (commit unless a scope
 * goes on or `keep`; a database failure rolls everything back);
 * _tx_forget makes the next transaction read the top and the counters
 * again with the caches empty; _fatal says whether an error leaves the
 * transaction unable to go on. */
void cis__vdb_arm(vdb_fs *fs);
int cis__vdb_settle(vdb_fs *fs, const vdb_node *n);
int cis__vdb_tx_begin(vdb_fs *fs);
int cis__vdb_tx_end(vdb_fs *fs, int err, bool keep);
void cis__vdb_tx_forget(vdb_fs *fs);
bool cis__vdb_fatal(int err);

/* The tree's usage, as the quotas count it: _row reads its usage row
 * (-1 where it is NULL: a tree an older cis made, not counted yet; EIO
 * when the tenant is gone), which holds every commit but not the open
 * write transaction's changes (fs->dnodes, fs->dbytes); _scan counts its
 * rows, those changes included. _group_check: the group's limits for a
 * change growing the tree by nodes and bytes (vfs_db.c says more). */
int cis__vdb_usage_row(vdb_fs *fs, int64_t *nodes, int64_t *bytes);
int cis__vdb_usage_scan(vdb_fs *fs, int64_t *nodes, int64_t *bytes);
int cis__vdb_group_check(vdb_fs *fs, int64_t nodes, int64_t bytes, bool in_rows, const char *what);

/* The caches: _flush writes every changed node's metadata (before a
 * statement that reads inode rows itself), _clear forgets all they hold. */
int cis__vdb_cache_flush(vdb_fs *fs);
void cis__vdb_cache_clear(vdb_fs *fs);

#endif /* CIS_VFS_DB_FS_H */
