/*
 * This file implements the layers of the database filesystem as a user
 * feature (include/cis/cis_vfs.h): cis_vfs_db_snapshot (freeze the top
 * layer, open a new one above), _layers (list them), _rollback (drop every
 * layer above a frozen one), _diff (what changed between two views) and
 * _compact (drop the rows no kept view shows). The layering itself, and
 * the transactions and caches these run in, are vfs_db.c's
 * (vfs_db_fs.h); their statements are vfs_db_sql.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vfs/vfs_db_fs.h"
#include "vfs/vfs_internal.h"

/* ---- the layer operations' preamble and end ----
 *
 * Every public layer operation runs as a method does (its deadline, its
 * budget, a batch or a deferred creation settled first), and those that
 * change the layers in one write transaction of their own, after which
 * the caches start again. */

/* What a layer operation needs before it starts. */
enum {
  LAYER_SETTLE = 1u << 0, /* settle what is open first (a batch, unchecked directories) */
  LAYER_WRITE = 1u << 1,  /* then open the write transaction (implies LAYER_SETTLE) */
  LAYER_CLOSED = 1u << 2, /* every file of the mount closed: a node of a layer dropped
                             would name nothing */
};

typedef struct layer_op {
  const char *what;    /* the operation, for its refusals ("a rollback") */
  unsigned how;        /* LAYER_* */
  const char *invalid; /* a refusal of its arguments, found by the caller (EINVAL); NULL: none */
  uint64_t layer;      /* a layer id it names: refused when no layer can have it */
} layer_op;

/* The preamble of every layer operation: finds the mount's database
 * backend (CIS_EUNSUPPORTED: none), takes the mount's deadline, refuses
 * what op says to refuse (the detail on the backend), arms the method's
 * budget and, as op.how asks, settles and opens the write transaction.
 * CIS_OK with *out set, or the failure, with nothing left open. */
static cis_result layer_op_begin(cis_vfs *mount, layer_op op, vdb_fs **out) {
  *out = NULL;
  if (cis__vfs_failed(mount)) return CIS_ESTATE; /* its mount failed: the message stays */
  vdb_fs *fs = *out = cis__vdb_fs_of(mount);
  if (!fs) return CIS_EUNSUPPORTED;
  fs->base.deadline_ns = cis__vfs_deadline(mount);
  if (op.invalid) {
    cis__vdb_fs_fail(fs, EINVAL, "%s", op.invalid);
    return CIS_EINVAL;
  }
  if ((op.how & LAYER_CLOSED) && cis__vfs_open_files(mount) > 0) {
    cis__vdb_fs_fail(fs, EBUSY, "%s needs every file of the mount closed", op.what);
    return CIS_ESTATE;
  }
  if (op.layer > (uint64_t)INT64_MAX) {
    cis__vdb_fs_fail(fs, ENOENT, "no layer %llu", (unsigned long long)op.layer);
    return CIS_ENOTFOUND;
  }
  cis__vdb_arm(fs);
  int err = op.how & (LAYER_SETTLE | LAYER_WRITE) ? cis__vdb_settle(fs, NULL) : 0;
  if (!err && (op.how & LAYER_WRITE)) err = cis__vdb_tx_begin(fs);
  return err ? cis_vfs_result(cis__vdb_tx_end(fs, err, false)) : CIS_OK;
}

/* The end of a layer operation that changed the layers: commits (or, on
 * err, rolls back) its transaction, unless a call scope goes on, and the
 * next transaction reads the top and the counters again. Returns err, or
 * the commit's failure. */
static int layer_op_end(vdb_fs *fs, int err) {
  err = cis__vdb_tx_end(fs, err, false);
  cis__vdb_tx_forget(fs);
  return err;
}

/* Freezes the top layer under `name` and opens a new writable top above
 * it, in one transaction (another mount of the tenant may be writing: the
 * tenant's lock orders them). */
static cis_result db_snapshot(cis_vfs *mount, const char *name, uint64_t *layer_id) {
  if (!name) name = "";
  vdb_fs *fs;
  cis_result rc = layer_op_begin(
      mount,
      (layer_op){.what = "a snapshot", .how = LAYER_WRITE,
                 .invalid = strlen(name) >= sizeof(((cis_vfs_layer *)0)->name)
                                ? "snapshot name longer than 63 bytes"
                                : NULL},
      &fs);
  if (rc != CIS_OK) return rc;
  int64_t frozen = fs->top, next = fs->next_layer;
  cis__vdb_val fr[] = {I(fs->tenant), I(frozen), S(name)};
  cis__vdb_val add[] = {I(fs->tenant), I(next), I(frozen), S(""), I((int64_t)wall_ns()), I(1)};
  cis__vdb_val top[] = {I(fs->tenant), I(next), I(next + 1)};
  int err = cis__vdb_exec(fs, Q_LAYER_FREEZE, fr, NARGS(fr));
  if (!err) err = cis__vdb_exec(fs, Q_LAYER_ADD, add, NARGS(add));
  if (!err) err = cis__vdb_exec(fs, Q_SET_TOP, top, NARGS(top));
  if (!err) err = cis__vdb_cache_flush(fs); /* the changes so far go to the layer frozen */
  err = layer_op_end(fs, err);
  if (err) return cis_vfs_result(err);
  if (layer_id) *layer_id = (uint64_t)frozen;
  return CIS_OK;
}

/* Lists the tenant's layers, bottom first, into a malloc'd array. */
static cis_result db_layers(cis_vfs *mount, cis_vfs_layer **out, size_t *n) {
  if (out) *out = NULL;
  if (n) *n = 0;
  vdb_fs *fs;
  cis_result rc = layer_op_begin(
      mount, (layer_op){.what = "a listing", .invalid = !out || !n ? "no place for the layers" : NULL},
      &fs);
  if (rc != CIS_OK) return rc;
  cis__vdb_val a[] = {I(fs->tenant)};
  cis__vdb_rows r;
  int err = cis__vdb_run(fs, Q_LAYERS, a, NARGS(a), &r);
  cis_vfs_layer *v = NULL;
  size_t count = 0, cap = 0;
  bool have = false;
  while (!err && !(err = fs->d->step(&r, &have)) && have) {
    if (count == cap) {
      cap = cap ? cap * 2 : 8;
      cis_vfs_layer *grown = realloc(v, cap * sizeof *v);
      if (!grown) {
        err = cis__vdb_fs_fail(fs, ENOMEM, "out of memory");
        break;
      }
      v = grown;
    }
    cis_vfs_layer *l = &v[count++];
    memset(l, 0, sizeof *l);
    l->id = (uint64_t)fs->d->col_int(&r, 0);
    l->parent = (uint64_t)fs->d->col_int(&r, 1);
    size_t nl;
    const void *p = fs->d->col_blob(&r, 2, &nl);
    if (p && nl < sizeof l->name) memcpy(l->name, p, nl);
    l->created = (uint64_t)fs->d->col_int(&r, 3);
    l->writable = fs->d->col_int(&r, 4) != 0;
  }
  fs->d->done(&r);
  if (err) {
    free(v);
    return cis_vfs_result(err);
  }
  *out = v;
  *n = count;
  return CIS_OK;
}

/* Whether the tree may become what a layer shows, `nodes` and `bytes`
 * (Q_USAGE_AT), as a commit growing it so would be held: the mount's
 * quotas, then its group's limits (under the group's lock, which the
 * transaction keeps to its end). EDQUOT with the detail on the backend,
 * before anything changed. */
static int rollback_fits(cis_vfs *mount, vdb_fs *fs, uint64_t layer_id, int64_t nodes,
                         int64_t bytes) {
  char what[64];
  snprintf(what, sizeof what, "a rollback to layer %llu", (unsigned long long)layer_id);
  if (cis__vfs_quota_check(mount, (uint64_t)bytes, (uint64_t)nodes, what))
    return cis__vdb_fs_fail(fs, EDQUOT, "%s; nothing of it applied", cis_vfs_errmsg(mount));
  if (!fs->group) return 0;
  /* Against what the group's total counts of this tree now: its row, or
   * its rows where the row is not counted yet. */
  int64_t n, b;
  int err = cis__vdb_usage_row(fs, &n, &b);
  if (!err && (n < 0 || b < 0)) err = cis__vdb_usage_scan(fs, &n, &b);
  return err ? err : cis__vdb_group_check(fs, nodes - n, bytes - b, false, "rollback");
}

/* Deletes every row of the layers above frozen layer `layer_id` and opens
 * a new writable top above it, in one transaction, after checking that
 * the tree the layer shows fits the quotas and the group's limits
 * (unless flags has CIS_VFS_DB_ROLLBACK_FORCE); its usage row becomes
 * that tree's, and the mount counts from it. Needs every file of the
 * mount closed: a node of a deleted layer would name nothing. */
static cis_result db_rollback(cis_vfs *mount, uint64_t layer_id, uint32_t flags) {
  vdb_fs *fs;
  cis_result rc = layer_op_begin(
      mount, (layer_op){.what = "a rollback", .how = LAYER_WRITE | LAYER_CLOSED, .layer = layer_id,
                        .invalid = flags & ~CIS_VFS_DB_ROLLBACK_FORCE ? "unknown rollback flags" : NULL},
      &fs);
  if (rc != CIS_OK) return rc;
  cis__vdb_val get[] = {I(fs->tenant), I((int64_t)layer_id)};
  cis__vdb_rows r;
  bool have;
  int err = cis__vdb_first(fs, Q_LAYER_GET, get, NARGS(get), &r, &have);
  if (!err) {
    bool writable = have && fs->d->col_int(&r, 0) != 0;
    fs->d->done(&r);
    if (!have) {
      rc = CIS_ENOTFOUND;
      cis__vdb_fs_fail(fs, ENOENT, "no layer %llu", (unsigned long long)layer_id);
    } else if (writable) {
      rc = CIS_EINVAL;
      cis__vdb_fs_fail(fs, EINVAL, "layer %llu is the writable top; roll back to a frozen layer",
              (unsigned long long)layer_id);
    }
  }
  /* The tree the layer shows, counted before anything is dropped, so a
   * refusal has nothing to undo; it is what the usage row becomes. */
  int64_t nodes = 0, bytes = 0;
  if (!err && rc == CIS_OK) {
    err = cis__vdb_first(fs, Q_USAGE_AT, get, NARGS(get), &r, &have);
    if (!err) {
      nodes = have ? fs->d->col_int(&r, 0) : 0;
      bytes = have ? fs->d->col_int(&r, 1) : 0;
      fs->d->done(&r);
      fs->nscans++;
    }
  }
  if (!err && rc == CIS_OK && !(flags & CIS_VFS_DB_ROLLBACK_FORCE))
    err = rollback_fits(mount, fs, layer_id, nodes, bytes);
  if (err || rc != CIS_OK) {
    cis__vdb_tx_end(fs, err ? err : ENOENT, false); /* a refusal: nothing changed */
    return err ? cis_vfs_result(err) : rc;
  }
  static const int drops[] = {Q_DROP_BLOCKS, Q_DROP_INODES, Q_DROP_ENTRIES, Q_DROP_LAYERS};
  for (size_t i = 0; i < CIS_ARRAY_LEN(drops) && !err; i++)
    err = cis__vdb_exec(fs, drops[i], get, NARGS(get));
  int64_t next = fs->next_layer;
  cis__vdb_val add[] = {I(fs->tenant), I(next), I((int64_t)layer_id), S(""),
                        I((int64_t)wall_ns()), I(1)};
  cis__vdb_val top[] = {I(fs->tenant), I(next), I(next + 1)};
  cis__vdb_val usage[] = {I(fs->tenant), I(nodes), I(bytes)};
  if (!err) err = cis__vdb_exec(fs, Q_LAYER_ADD, add, NARGS(add));
  if (!err) err = cis__vdb_exec(fs, Q_SET_TOP, top, NARGS(top));
  if (!err) err = cis__vdb_exec(fs, Q_USAGE_PUT, usage, NARGS(usage));
  /* What the transaction changed so far (a scope's) was in the top layer,
   * dropped: the row just set is the whole usage. */
  fs->dnodes = fs->dbytes = 0;
  cis__vdb_cache_clear(fs); /* nothing it knew may be written over the layers dropped */
  err = layer_op_end(fs, err);
  if (err) return cis_vfs_result(err);
  /* The rollback has committed. Should the database go away right now,
   * the mount keeps its old usage and this returns the failure: the
   * layers are as asked, the quotas not yet; the next mount reads them. */
  err = cis__vfs_refresh_usage(mount);
  if (err) cis__vdb_fs_fail(fs, err, "rolled back to layer %llu, but reading the usage failed",
                   (unsigned long long)layer_id);
  return err ? cis_vfs_result(err) : CIS_OK;
}

/* The public layer calls: each failure's detail, kept by the backend, is
 * handed to the mount so cis_vfs_errmsg(mount) tells it. */
static cis_result layer_result(cis_vfs *mount, cis_result rc) {
  if (rc != CIS_OK && rc != CIS_EUNSUPPORTED && mount) cis__vfs_take_backend_error(mount);
  return rc;
}

cis_result cis_vfs_db_snapshot(cis_vfs *mount, const char *name, uint64_t *layer_id) {
  return layer_result(mount, db_snapshot(mount, name, layer_id));
}

cis_result cis_vfs_db_layers(cis_vfs *mount, cis_vfs_layer **out, size_t *n) {
  return layer_result(mount, db_layers(mount, out, n));
}

cis_result cis_vfs_db_rollback(cis_vfs *mount, uint64_t layer_id, uint32_t flags) {
  return layer_result(mount, db_rollback(mount, layer_id, flags));
}

/* ---- the layer statements ---- */

/* Runs layer statement id (L_*; see cis__vdb_run). */
static int lrun(vdb_fs *fs, int id, const cis__vdb_val *a, int n, cis__vdb_rows *r) {
  return cis__vdb_query(fs, L_ID(id), &cis__vdb_layer_stmts[id], a, n, r);
}

/* Runs a layer statement and moves to its first row (see cis__vdb_first()). */
static int lfirst(vdb_fs *fs, int id, const cis__vdb_val *a, int n, cis__vdb_rows *r,
                  bool *have) {
  *have = false;
  int err = lrun(fs, id, a, n, r);
  if (!err) err = fs->d->step(r, have);
  if (err) fs->d->done(r);
  return err;
}

/* Runs a changing layer statement whose rows each return one integer
 * (RETURNING): their count into *rows, their sum into *sum (may be NULL). */
static int lexec_count(vdb_fs *fs, int id, const cis__vdb_val *a, int n, uint64_t *rows,
                       uint64_t *sum) {
  cis__vdb_rows r;
  bool have = false;
  fs->changed = true;
  int err = lrun(fs, id, a, n, &r);
  while (!err && !(err = fs->d->step(&r, &have)) && have) {
    (*rows)++;
    if (sum) *sum += (uint64_t)fs->d->col_int(&r, 0);
  }
  fs->d->done(&r);
  return err;
}

/* ---- diff ---- */

#define DIFF_DEFAULT_MAX 100000u

/* One name with a row between the two views. */
typedef struct diff_cand {
  uint64_t dir;                  /* parent directory */
  uint64_t ino_a, ino_b;         /* node in the older / newer view (0: none) */
  int type_a, type_b;            /* its kind there (0: none) */
  size_t namelen;                /* bytes in name */
  char name[CIS_VFS_NAME_MAX + 1]; /* the name */
} diff_cand;

/* The state of one diff. */
typedef struct diff_ctx {
  vdb_fs *fs;               /* the backend */
  int64_t a, b;             /* the older and newer views (layer ids) */
  size_t max, count;        /* most changes reported, reported so far */
  bool truncated;           /* a change was left out */
  bool canceled;            /* the callback stopped it */
  cis_vfs_diff_fn fn;       /* the caller's callback */
  void *user;               /* its argument */
  char path[CIS_VFS_PATH_MAX + 1]; /* scratch for a path, filled from its end */
  uint64_t cache_dir;       /* the directory whose path is cached (0: none) */
  int64_t cache_view;       /* the view it was named in */
  size_t cache_len;         /* its path's bytes, at cache[] */
  char cache[CIS_VFS_PATH_MAX + 1]; /* that path */
} diff_ctx;

/* Metadata of ino as view v shows it: *alive false when no row says it
 * exists there. */
static int ino_at(vdb_fs *fs, uint64_t ino, int64_t v, bool *alive, vdb_inode *in) {
  cis__vdb_val a[] = {I(fs->tenant), I((int64_t)ino), I(v)};
  cis__vdb_rows r;
  bool have;
  *alive = false;
  memset(in, 0, sizeof *in);
  int err = lfirst(fs, L_INO_AT, a, NARGS(a), &r, &have);
  if (err) return err;
  if (have) {
    in->ino = ino;
    in->type = (int)fs->d->col_int(&r, 0);
    in->nlink = (uint64_t)fs->d->col_int(&r, 1);
    in->size = (uint64_t)fs->d->col_int(&r, 2);
    in->mtim = (uint64_t)fs->d->col_int(&r, 3);
    in->parent = (uint64_t)fs->d->col_int(&r, 4);
    *alive = in->nlink > 0;
  }
  fs->d->done(&r);
  return 0;
}

/* Prepends "name/" (or "name" when last) to the path being built at
 * x->path + *at. EIO when the path outgrows CIS_VFS_PATH_MAX. */
static int path_push(diff_ctx *x, size_t *at, const void *name, size_t n, bool slash) {
  size_t need = n + (slash ? 1 : 0);
  if (need > *at) return cis__vdb_fs_fail(x->fs, EIO, "a path in the tree is longer than %u bytes",
                                  CIS_VFS_PATH_MAX);
  *at -= need;
  memcpy(x->path + *at, name, n);
  if (slash) x->path[*at + n] = '/';
  return 0;
}

/* Prepends the path of directory `dir` in view v (with a trailing '/',
 * nothing for the root). Climbs the directories' parents, at most
 * CIS_VFS_PATH_MAX / 2 levels (each takes two bytes at least); the last
 * directory named is cached, as changes come grouped by directory. ENOENT
 * when a directory on the way is not in view v. */
static int path_of_dir(diff_ctx *x, uint64_t dir, int64_t v, size_t *at) {
  vdb_fs *fs = x->fs;
  if (dir == ROOT_INO) return 0;
  if (x->cache_dir == dir && x->cache_view == v)
    return path_push(x, at, x->cache, x->cache_len, false);
  size_t end = *at;
  uint64_t d = dir;
  for (unsigned depth = 0; d != ROOT_INO; depth++) {
    if (depth > CIS_VFS_PATH_MAX / 2)
      return cis__vdb_fs_fail(fs, EIO, "directory parents form a cycle or are too deep");
    bool alive;
    vdb_inode in;
    int err = ino_at(fs, d, v, &alive, &in);
    if (err) return err;
    if (!alive || in.type != CIS_VFS_DIR) return ENOENT;
    cis__vdb_val a[] = {I(fs->tenant), I(v), I((int64_t)d), I((int64_t)in.parent)};
    cis__vdb_rows r;
    bool have;
    err = lfirst(fs, L_ENT_NAME, a, NARGS(a), &r, &have);
    if (err) return err;
    size_t n = 0;
    const void *p = have ? fs->d->col_blob(&r, 0, &n) : NULL;
    if (p) err = path_push(x, at, p, n, true);
    fs->d->done(&r);
    if (err) return err;
    if (!p) return ENOENT;
    d = in.parent;
  }
  x->cache_dir = dir;
  x->cache_view = v;
  x->cache_len = end - *at;
  memcpy(x->cache, x->path + *at, x->cache_len);
  return 0;
}

/* Reports one change at dir/name as view v names it. A path no longer
 * reachable in that view (a directory on the way is not in it) is not a
 * change of its own: the directory is reported. */
static int diff_emit(diff_ctx *x, uint64_t dir, const char *name, size_t n, int64_t v,
                     cis_vfs_change ch, int ta, int tb, uint64_t sa, uint64_t sb) {
  if (x->count >= x->max) {
    x->truncated = true;
    return 0;
  }
  size_t at = sizeof x->path - 1;
  x->path[at] = '\0';
  int err = path_push(x, &at, name, n, false);
  if (!err) err = path_of_dir(x, dir, v, &at);
  if (err == ENOENT) return 0;
  if (err) return err;
  cis_vfs_diff_entry e = {.path = x->path + at,
                          .pathlen = sizeof x->path - 1 - at,
                          .change = ch,
                          .old_type = (cis_vfs_type)ta,
                          .new_type = (cis_vfs_type)tb,
                          .old_size = ta == CIS_VFS_DIR ? 0 : sa,
                          .new_size = tb == CIS_VFS_DIR ? 0 : sb};
  x->count++;
  if (x->fn(x->user, &e) != 0) x->canceled = true;
  return 0;
}

/* The size of node ino in view v (0 when absent or a directory). */
static int size_at(vdb_fs *fs, uint64_t ino, int64_t v, uint64_t *size) {
  bool alive;
  vdb_inode in;
  *size = 0;
  if (!ino) return 0;
  int err = ino_at(fs, ino, v, &alive, &in);
  if (!err && alive) *size = in.size;
  return err;
}

/* One changed name: added, removed, replaced or of another kind. The same
 * node under the same name in both views is left to diff_nodes. */
static int diff_name(diff_ctx *x, const diff_cand *c) {
  bool in_a = c->type_a != T_WHITEOUT && c->ino_a, in_b = c->type_b != T_WHITEOUT && c->ino_b;
  if (!in_a && !in_b) return 0;
  if (in_a && in_b && c->ino_a == c->ino_b) return 0;
  uint64_t sa = 0, sb = 0;
  int err = in_a ? size_at(x->fs, c->ino_a, x->a, &sa) : 0;
  if (!err && in_b) err = size_at(x->fs, c->ino_b, x->b, &sb);
  if (err) return err;
  cis_vfs_change ch = !in_a ? CIS_VFS_ADDED
                      : !in_b ? CIS_VFS_REMOVED
                      : c->type_a != c->type_b ? CIS_VFS_TYPE_CHANGED
                                               : CIS_VFS_MODIFIED;
  return diff_emit(x, c->dir, c->name, c->namelen, in_b ? x->b : x->a, ch,
                   in_a ? c->type_a : 0, in_b ? c->type_b : 0, sa, sb);
}

/* Phase 1: every name with a row between the views, a page at a time
 * (one statement's rows are read whole before the next statement). */
static int diff_names(diff_ctx *x) {
  vdb_fs *fs = x->fs;
  diff_cand *page = malloc(CIS__VDB_DIFF_PAGE * sizeof *page);
  if (!page) return cis__vdb_fs_fail(fs, ENOMEM, "out of memory");
  uint64_t after_dir = 0;
  char after[CIS_VFS_NAME_MAX + 1] = "";
  size_t after_len = 0;
  int err = 0;
  for (;;) {
    cis__vdb_val a[] = {I(fs->tenant), I(x->a), I(x->b), I((int64_t)after_dir),
                        B(after, after_len)};
    cis__vdb_rows r;
    bool have = false;
    size_t n = 0;
    err = lrun(fs, L_DIFF_ENTS, a, NARGS(a), &r);
    while (!err && !(err = fs->d->step(&r, &have)) && have && n < CIS__VDB_DIFF_PAGE) {
      diff_cand *c = &page[n];
      size_t nl;
      const void *p = fs->d->col_blob(&r, 1, &nl);
      if (!p || nl > CIS_VFS_NAME_MAX) {
        err = cis__vdb_fs_fail(fs, EIO, "directory %lld holds a malformed name",
                      (long long)fs->d->col_int(&r, 0));
        break;
      }
      c->dir = (uint64_t)fs->d->col_int(&r, 0);
      memcpy(c->name, p, nl);
      c->name[nl] = '\0';
      c->namelen = nl;
      c->ino_a = (uint64_t)fs->d->col_int(&r, 2);
      c->type_a = (int)fs->d->col_int(&r, 3);
      c->ino_b = (uint64_t)fs->d->col_int(&r, 4);
      c->type_b = (int)fs->d->col_int(&r, 5);
      n++;
    }
    fs->d->done(&r);
    for (size_t i = 0; !err && i < n && !x->canceled && !x->truncated; i++)
      err = diff_name(x, &page[i]);
    if (err || n < CIS__VDB_DIFF_PAGE || x->canceled || x->truncated) break;
    after_dir = page[n - 1].dir;
    after_len = page[n - 1].namelen;
    memcpy(after, page[n - 1].name, after_len);
  }
  free(page);
  return err;
}

/* The name of node ino in view v: its directory and name into c. ENOENT
 * when no visible entry names it. */
static int name_of(diff_ctx *x, uint64_t ino, uint64_t hint_dir, int64_t v, diff_cand *c) {
  vdb_fs *fs = x->fs;
  cis__vdb_val a[] = {I(fs->tenant), I(v), I((int64_t)ino), I((int64_t)hint_dir)};
  cis__vdb_rows r;
  bool have;
  /* Where it was made first (its recorded parent), then anywhere. */
  int err = lfirst(fs, L_ENT_NAME, a, NARGS(a), &r, &have);
  if (err) return err;
  int col = 0;
  if (!have) {
    fs->d->done(&r);
    err = lfirst(fs, L_ENT_BY_INO, a, NARGS(a) - 1, &r, &have);
    if (err) return err;
    col = 1;
  }
  size_t n = 0;
  const void *p = have ? fs->d->col_blob(&r, col, &n) : NULL;
  if (p && n <= CIS_VFS_NAME_MAX) {
    c->dir = col ? (uint64_t)fs->d->col_int(&r, 0) : hint_dir;
    memcpy(c->name, p, n);
    c->name[n] = '\0';
    c->namelen = n;
  }
  fs->d->done(&r);
  return p && n <= CIS_VFS_NAME_MAX ? 0 : ENOENT;
}

/* Phase 2: files and symlinks in both views, under any name, whose size,
 * mtime or blocks changed. */
static int diff_nodes(diff_ctx *x) {
  vdb_fs *fs = x->fs;
  uint64_t after = 0, page[CIS__VDB_DIFF_PAGE];
  int err = 0;
  for (;;) {
    cis__vdb_val a[] = {I(fs->tenant), I(x->a), I(x->b), I((int64_t)after)};
    cis__vdb_rows r;
    bool have = false;
    size_t n = 0;
    err = lrun(fs, L_DIFF_NODES, a, NARGS(a), &r);
    while (!err && !(err = fs->d->step(&r, &have)) && have && n < CIS__VDB_DIFF_PAGE)
      page[n++] = (uint64_t)fs->d->col_int(&r, 0);
    fs->d->done(&r);
    for (size_t i = 0; !err && i < n && !x->canceled && !x->truncated; i++) {
      bool alive_a, alive_b;
      vdb_inode ia, ib;
      err = ino_at(fs, page[i], x->a, &alive_a, &ia);
      if (!err) err = ino_at(fs, page[i], x->b, &alive_b, &ib);
      if (err || !alive_a || !alive_b || ib.type == CIS_VFS_DIR || ia.type != ib.type) continue;
      bool changed = ia.size != ib.size || ia.mtim != ib.mtim;
      if (!changed) {
        cis__vdb_val q[] = {I(fs->tenant), I((int64_t)page[i]), I(x->a), I(x->b)};
        err = lfirst(fs, L_BLK_CHANGED, q, NARGS(q), &r, &changed);
        if (err) break;
        fs->d->done(&r);
      }
      if (!changed) continue;
      diff_cand c;
      err = name_of(x, page[i], ib.parent, x->b, &c);
      if (err == ENOENT) {
        err = 0; /* no name reaches it (open after its removal) */
        continue;
      }
      if (!err)
        err = diff_emit(x, c.dir, c.name, c.namelen, x->b, CIS_VFS_MODIFIED, ia.type, ib.type,
                        ia.size, ib.size);
    }
    if (err || n < CIS__VDB_DIFF_PAGE || x->canceled || x->truncated) break;
    after = page[n - 1];
  }
  return err;
}

/* Whether layer id exists: *writable says whether it is the top. */
static int layer_exists(vdb_fs *fs, int64_t id, bool *have, bool *writable) {
  cis__vdb_val a[] = {I(fs->tenant), I(id)};
  cis__vdb_rows r;
  int err = cis__vdb_first(fs, Q_LAYER_GET, a, NARGS(a), &r, have);
  if (err) return err;
  *writable = *have && fs->d->col_int(&r, 0) != 0;
  fs->d->done(&r);
  return 0;
}

/* The body of a diff, inside one transaction (a read transaction of its
 * own, or the scope's). */
static int diff_in(diff_ctx *x, uint64_t from, uint64_t to) {
  vdb_fs *fs = x->fs;
  int err = 0;
  if (to == 0) {
    cis__vdb_val a[] = {I(fs->tenant)};
    cis__vdb_rows r;
    bool have;
    err = lfirst(fs, L_TOP, a, NARGS(a), &r, &have);
    if (err) return err;
    to = have ? (uint64_t)fs->d->col_int(&r, 0) : 0;
    fs->d->done(&r);
    if (!have) return cis__vdb_fs_fail(fs, EIO, "tenant %lld vanished from the database",
                              (long long)fs->tenant);
  }
  uint64_t ids[2] = {from, to};
  for (int i = 0; i < 2; i++) {
    bool have = false, writable;
    err = ids[i] <= (uint64_t)INT64_MAX ? layer_exists(fs, (int64_t)ids[i], &have, &writable) : 0;
    if (err) return err;
    if (!have) return cis__vdb_fs_fail(fs, ENOENT, "no layer %llu", (unsigned long long)ids[i]);
  }
  if (from >= to)
    return cis__vdb_fs_fail(fs, EINVAL, "diff from layer %llu to %llu: the first must be below the second",
                   (unsigned long long)from, (unsigned long long)to);
  x->a = (int64_t)from;
  x->b = (int64_t)to;
  err = diff_names(x);
  if (!err && !x->canceled && !x->truncated) err = diff_nodes(x);
  return err;
}

static cis_result db_diff(cis_vfs *mount, uint64_t from, uint64_t to, size_t max,
                          cis_vfs_diff_fn fn, void *user, size_t *count, bool *truncated) {
  if (count) *count = 0;
  if (truncated) *truncated = false;
  vdb_fs *fs;
  cis_result rc = layer_op_begin(
      mount, (layer_op){.what = "a diff", .how = LAYER_SETTLE, .invalid = fn ? NULL : "diff needs a callback"},
      &fs);
  if (rc != CIS_OK) return rc;
  diff_ctx *x = calloc(1, sizeof *x);
  if (!x) {
    cis__vdb_fs_fail(fs, ENOMEM, "out of memory");
    return CIS_ENOMEM;
  }
  *x = (diff_ctx){.fs = fs, .max = max ? max : DIFF_DEFAULT_MAX, .fn = fn, .user = user};
  /* Inside the scope's transaction when one is open, else a read
   * transaction of its own. */
  bool own = !fs->in_tx;
  int err = own ? fs->d->begin(fs->c, false) : cis__vdb_cache_flush(fs);
  if (!err) err = diff_in(x, from, to);
  if (own) fs->d->rollback(fs->c); /* it only read */
  else if (err && cis__vdb_fatal(err)) cis__vdb_tx_end(fs, err, false);
  rc = err == ENOENT ? CIS_ENOTFOUND : err ? cis_vfs_result(err) : CIS_OK;
  if (!err && x->canceled) {
    cis__vdb_fs_fail(fs, ECANCELED, "the callback stopped the diff");
    rc = CIS_ECANCELED;
  }
  if (count) *count = x->count;
  if (truncated) *truncated = x->truncated;
  free(x);
  return rc;
}

/* ---- compaction ---- */

static cis_result db_compact(cis_vfs *mount, uint64_t keep_from, cis_vfs_compact_stats *st) {
  if (st) memset(st, 0, sizeof *st);
  vdb_fs *fs;
  cis_result rc = layer_op_begin(
      mount, (layer_op){.what = "a compaction", .how = LAYER_WRITE | LAYER_CLOSED, .layer = keep_from},
      &fs);
  if (rc != CIS_OK) return rc;
  int err = cis__vdb_cache_flush(fs); /* the statements below read inode rows */
  if (err) return cis_vfs_result(cis__vdb_tx_end(fs, err, false));
  cis_vfs_compact_stats s = {0};
  int64_t k = (int64_t)keep_from;
  if (k == 0) {
    cis__vdb_val a[] = {I(fs->tenant)};
    cis__vdb_rows r;
    bool have;
    err = lfirst(fs, L_LOWEST, a, NARGS(a), &r, &have);
    if (!err) {
      k = have ? fs->d->col_int(&r, 0) : 0;
      fs->d->done(&r);
    }
  } else {
    bool have, writable;
    err = layer_exists(fs, k, &have, &writable);
    if (!err && !have) err = cis__vdb_fs_fail(fs, ENOENT, "no layer %lld", (long long)k);
  }
  if (err == ENOENT) {
    cis__vdb_tx_end(fs, err, false); /* a refusal: nothing changed */
    return CIS_ENOTFOUND;
  }
  cis__vdb_val a[] = {I(fs->tenant), I(k)};
  static const int hidden[] = {L_C_ENTRIES, L_C_INODES, L_C_BLOCKS, L_C_ENT_WHITEOUTS,
                               L_C_BLK_WHITEOUTS, L_C_DEAD_BLOCKS, L_C_DEAD_INODES};
  for (size_t i = 0; i < CIS_ARRAY_LEN(hidden) && !err; i++) {
    bool data = hidden[i] == L_C_BLOCKS || hidden[i] == L_C_DEAD_BLOCKS;
    /* Rules 2 and 3 take only the tenant. */
    int n = hidden[i] == L_C_ENTRIES || hidden[i] == L_C_INODES || hidden[i] == L_C_BLOCKS ? 2 : 1;
    err = lexec_count(fs, hidden[i], a, n, &s.rows, data ? &s.data_bytes : NULL);
  }
  uint64_t layer_rows = 0;
  if (!err) err = lexec_count(fs, L_C_LAYERS, a, NARGS(a), &layer_rows, NULL);
  if (!err && layer_rows) {
    cis__vdb_rows r;
    fs->changed = true;
    err = lrun(fs, L_C_BOTTOM, a, NARGS(a), &r);
    fs->d->done(&r);
  }
  s.layers = layer_rows;
  s.rows += layer_rows;
  /* The dialect's own dead space too (SQLite: what killed writers left
   * in the extent file), under the same write lock. */
  if (!err && fs->d->reclaim) err = fs->d->reclaim(fs->c);
  cis__vdb_cache_clear(fs); /* rows it knew may be gone */
  err = layer_op_end(fs, err);
  if (err) return cis_vfs_result(err);
  if (st) *st = s;
  return CIS_OK;
}

cis_result cis_vfs_db_diff(cis_vfs *mount, uint64_t from, uint64_t to, size_t max,
                           cis_vfs_diff_fn fn, void *user, size_t *count, bool *truncated) {
  return layer_result(mount, db_diff(mount, from, to, max, fn, user, count, truncated));
}

cis_result cis_vfs_db_compact(cis_vfs *mount, uint64_t keep_from, cis_vfs_compact_stats *st) {
  return layer_result(mount, db_compact(mount, keep_from, st));
}
