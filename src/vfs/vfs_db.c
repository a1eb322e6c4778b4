/*
 * This file implements the layered database filesystem ("Tarbox"), the
 * cis_vfs_methods backend of include/cis/cis_vfs.h whose files,
 * directories and symlinks live in an SQL database, and its calls on a
 * tenant by name (cis_vfs_db_tenant_exists, _tenant_delete,
 * _tenant_list, _group_usage). The SQL dialects behind it (vfs_db_internal.h) connect,
 * run statements and keep what is theirs alone; this file holds the
 * layering logic, once, and tells the dialects apart only by what they
 * offer ("what the dialect offers", below). The layers as a user feature
 * (snapshot, rollback, diff, compaction) are vfs_db_layers.c's, every
 * statement's text vfs_db_sql.c's; vfs_db_fs.h is what the three share.
 *
 * Schema (every table starts with tenant_id, and every statement below
 * names it as ?1, except the two that find a tenant by name):
 *   cis_vfs_tenants  (tenant_id, name, block_size, top_layer, next_layer,
 *                     next_ino, next_eid, used_nodes, used_bytes): one row
 *                     per tenant; the counters hand out layer ids, inode
 *                     numbers and directory entry ids, the row is the
 *                     tenant's write lock, and used_* say what its tree
 *                     holds (as Q_USAGE counts it), moved by every commit
 *                     and set by a rollback (NULL: not counted yet, read
 *                     from the tree instead; a mount's usage outside a
 *                     scope writes it then, db_usage).
 *   cis_vfs_layers   (tenant_id, layer_id, parent, name, created,
 *                     writable): the chain, base (1) at the bottom.
 *   cis_vfs_entries  (tenant_id, parent_ino, name, layer_id, eid, ino,
 *                     type): directory entries; type 0 is a whiteout.
 *   cis_vfs_inodes   (tenant_id, ino, layer_id, type, nlink, size, atim,
 *                     mtim, ctim, parent, target): node metadata;
 *                     `parent` is a directory's parent, `target` a
 *                     symlink's target; nlink 0 marks a removed node.
 *   cis_vfs_blocks   (tenant_id, ino, blk, layer_id, data): file data in
 *                     block_size blocks. data may be shorter than a block
 *                     (the rest reads as zeros) or NULL (a block
 *                     whiteout: all zeros, hiding lower layers' block).
 *
 * Layers form one chain: a tenant's layers are exactly the layers a
 * rollback has not deleted, each the parent of the next, and only the top
 * one is writable. So "resolve through the chain" is simply "the row with
 * the highest layer_id": the top wins, a whiteout entry hides a name of a
 * lower layer, a block whiteout hides a lower layer's block. Writes go to
 * the top layer only: a node whose metadata changes gets its row copied
 * up first, and a write copies up only the blocks it touches (a partial
 * block is read from whichever layer holds it, merged, and written to the
 * top). Lower layers' rows are never changed, only deleted by a rollback.
 *
 * Files are never read whole: read and write touch only the blocks they
 * cover, one block (or one batch of at most 1 MiB of blocks) at a time.
 * Invariant that keeps this cheap: bytes past a file's size read as
 * zeros in every visible block, because a shrinking truncate trims the
 * block at the new end and whites out every block past it.
 *
 * Transactions: every method that changes something runs in one database
 * transaction that starts by locking the tenant's row (or the database's
 * write lock, where the dialect has one), so it lands whole or not at
 * all, and writers of one tenant take turns while different tenants'
 * writers do not wait for each other (where the row is the lock). Two
 * kinds of transaction outlive their method:
 *   - a batch: opening a regular file to write with CREAT or TRUNC leaves
 *     its transaction open, so its first write (or a stat, truncate or
 *     set-times of it) joins it and a create + write + close is one
 *     commit. Any other method, close and sync commit it first.
 *   - a call scope (cis_vfs_scope_*): everything from the first change to
 *     the scope's end is one transaction, committed or rolled back there.
 * A database failure rolls back all that is open; a refusal found before
 * anything changed (ENOENT, EEXIST, ...) keeps what earlier methods did.
 *
 * Fast paths: inside a write transaction a node's metadata is read once
 * and kept in a small cache, changes to it written once before the
 * commit (or before a statement that reads inode rows). The cache, the
 * top layer and the counters also outlive the commit while the dialect's
 * version (read once the write lock is taken)
 * shows that no other connection committed since: then the next
 * transaction skips the tenant's row too. A read is one statement (the
 * size and the blocks together, Q_READ), in one snapshot without a
 * transaction, unless it spans more than one batch of blocks.
 *
 * Directory listings are ordered by entry id (eid), which a tenant hands
 * out in increasing order whenever a name is made or moved. A cookie is
 * the eid to resume at: a removed entry is skipped, a new one comes after
 * every older one, and no entry has two eids, so a listing resumed from
 * any cookie lists each remaining entry once.
 *
 * Removing an open file: the name goes at once, but the node's data stays
 * until the last handle of this backend closes (POSIX semantics within a
 * mount). Handles in other processes on the same tenant are not tracked:
 * after the name is removed they read whatever the lower layers hold.
 *
 * Hard links are not supported (a Tarbox design limitation: one entry per
 * node, so a node's parent is known and a rollback cannot orphan a link):
 * link() fails with EPERM.
 *
 * A directory's mtime and ctime move when a name in it is made, removed
 * or renamed (dir_touch); file times follow writes and truncates. atim is
 * not changed by reads.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/internal.h"
#include "db/db.h"
#include "vfs/vfs_db_fs.h"
#include "vfs/vfs_db_internal.h"
#include "vfs/vfs_internal.h"

#define DEFAULT_BLOCK 65536u
#define MIN_BLOCK 512u
#define MAX_BLOCK (16u * 1024 * 1024)
#define DEFAULT_TIMEOUT_MS 30000u
#define RANGE_BYTES (1u << 20) /* most block bytes one read statement fetches */
#define SMALL_KEEP (64u * 1024) /* largest file a handle keeps whole after a read */
#define STALE_TRIES 64          /* reads of a file that writers keep changing under it */
#define BASE_LAYER 1

static const cis_vfs_methods db_methods;
static int scope_check(vdb_fs *fs);
static void lease_confirmed(vdb_fs *fs);
static int tenant_lock(vdb_fs *fs, cis__vdb_rows *r, bool *have);
static uint64_t budget_ms(const vdb_fs *fs);
static bool can_peek(vdb_fs *fs);
static int dir_touch(vdb_fs *fs, uint64_t dir);
static int land(vdb_fs *fs, vdb_node *n, const uint8_t *buf, size_t len, uint64_t off);

/* ============================================================== helpers */

int cis__vdb_fail(char *errmsg, const char *dialect, int err, const char *fmt, ...) {
  int k = snprintf(errmsg, CIS_VFS_ERRMSG_MAX, "%s: ", dialect);
  if (k < 0 || k >= CIS_VFS_ERRMSG_MAX) return err;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errmsg + k, CIS_VFS_ERRMSG_MAX - (size_t)k, fmt, ap);
  va_end(ap);
  return err;
}

int cis__vdb_fs_fail(vdb_fs *fs, int err, const char *fmt, ...) {
  static const char prefix[] = "db: ";
  memcpy(fs->base.errmsg, prefix, sizeof prefix);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(fs->base.errmsg + sizeof prefix - 1, sizeof fs->base.errmsg - (sizeof prefix - 1),
            fmt, ap);
  va_end(ap);
  return err;
}


/* ---- what the dialect offers ----
 *
 * Two shapes of dialect, told apart by what they offer, never by name.
 * One has a version of its own (cis__vdb_dialect.version): a single write
 * lock orders every commit to the database, and the version, read without
 * a round trip, tells whether another connection committed. The other has
 * none: each tenant's row is its tree's lock, writers of different trees
 * commit at once, and the tenant's generation (next_eid, which every
 * commit moves) tells whether another writer committed; each statement
 * costs a round trip there, so the mount lets what it can ride with a
 * statement it sends anyway: the call's check with its lookup (peek), the
 * check with the first change (tx_begin_opt), a creation with its first
 * write (land). Those need a dialect that sends changes without waiting
 * (pipelined). */

/* Whether the caches are checked by the tenant's generation: a dialect
 * without a version. */
static bool by_generation(const vdb_fs *fs) { return !fs->d->version; }

/* Whether the dialect sends changes without waiting for them (exec) and
 * collects their outcome later (sync): a method's changes and its COMMIT
 * go in one round trip. */
static bool pipelined(const vdb_fs *fs) { return fs->d->exec && fs->d->sync; }

/* ---- rows a dialect holds for the commit ----
 *
 * A dialect may keep the values of a statement marked `holdable` (the
 * entry and the block a small file's creation writes) unsent, inside a
 * write transaction, so that the commit's statement carries them
 * (commit_counters): where every statement costs the server its own
 * start and end, a creation is then one statement between BEGIN and
 * COMMIT. Any other statement sends them first, in their own
 * (held_flush), so none reads the tables without them. */

/* Whether the dialect keeps statement id, with these values, for the
 * commit. */
static bool held_take(vdb_fs *fs, int id, const cis__vdb_val *a, int n) {
  return fs->in_tx && fs->d->hold && fs->d->hold(fs->c, id, &cis__vdb_stmts[id], a, n);
}

/* Sends what the dialect holds, each in its own statement. */
static int held_flush(vdb_fs *fs) {
  int sent = 0;
  int err = fs->d->send_held ? fs->d->send_held(fs->c, &sent) : 0;
  fs->nstmts += (uint64_t)sent;
  return err;
}

/* Waits for everything the open transaction sent, what is held first. */
static int tx_sync(vdb_fs *fs) {
  int err = held_flush(fs);
  return err ? err : fs->d->sync(fs->c);
}

int cis__vdb_query(vdb_fs *fs, int id, const cis__vdb_sql *q, const cis__vdb_val *a, int n,
                   cis__vdb_rows *r) {
  int err = held_flush(fs);
  if (err) return err;
  fs->nstmts++;
  return fs->d->query(fs->c, id, q, a, n, r);
}

int cis__vdb_run(vdb_fs *fs, int id, const cis__vdb_val *a, int n, cis__vdb_rows *r) {
  return cis__vdb_query(fs, id, &cis__vdb_stmts[id], a, n, r);
}

/* Runs statement id and ignores any rows (the changing statements). */
int cis__vdb_exec(vdb_fs *fs, int id, const cis__vdb_val *a, int n) {
  cis__vdb_rows r;
  fs->changed = true;
  if (fs->d->exec) {
    if (held_take(fs, id, a, n)) return 0;
    int err = held_flush(fs);
    if (err || held_take(fs, id, a, n)) return err;
    /* The dialect may pipeline it: cis__vdb_tx_end syncs before the method returns. */
    fs->nstmts++;
    return fs->d->exec(fs->c, id, &cis__vdb_stmts[id], a, n);
  }
  int err = cis__vdb_run(fs, id, a, n, &r);
  fs->d->done(&r);
  return err;
}

/* Runs statement id and moves to its first row: *have says whether there
 * is one. The caller reads it and calls done(), also when !*have. */
int cis__vdb_first(vdb_fs *fs, int id, const cis__vdb_val *a, int n, cis__vdb_rows *r,
                 bool *have) {
  *have = false;
  int err = cis__vdb_run(fs, id, a, n, r);
  if (!err) err = fs->d->step(r, have);
  if (err) fs->d->done(r);
  return err;
}


/* ---- the metadata cache ---- */

/* Forgets a whole directory's record (vdb_whole). */
static void whole_drop(vdb_whole *w) {
  free(w->h);
  *w = (vdb_whole){0};
}


/* Forgets the bytes handles of node ino hold (ino 0: of every node). */
static void drop_data(vdb_fs *fs, uint64_t ino) {
  for (vdb_node *n = fs->open; n; n = n->next) {
    if (ino && n->ino != ino) continue;
    free(n->data);
    n->data = NULL;
    n->dvalid = false;
  }
}

/* Forgets the small file a peek fetched for the call's open (stash). */
static void stash_drop(vdb_fs *fs) {
  free(fs->stash);
  fs->stash = NULL;
  fs->stash_n = fs->stash_ino = 0;
}

/* ---- a scope's small files (vdb_fdata) ---- */

/* Whether small files are kept whole (fdata): inside a scope, and on a
 * mount with a lease, whose caches outlive calls while it is held. */
static bool fdata_on(const vdb_fs *fs) { return fs->scoped || fs->lease; }

/* The bytes held of file ino, or NULL. */
static vdb_fdata *fdata_of(vdb_fs *fs, uint64_t ino) {
  vdb_fdata *f = &fs->fdata[ino % FDATA_SLOTS];
  return ino && f->ino == ino ? f : NULL;
}

static void fdata_free(vdb_fs *fs, vdb_fdata *f) {
  fs->fdata_bytes -= f->n;
  fs->fdata_used--;
  free(f->p);
  *f = (vdb_fdata){0};
}

/* Forgets what is held of ino (0: of every file). */
static void fdata_drop(vdb_fs *fs, uint64_t ino) {
  if (ino) {
    vdb_fdata *f = fdata_of(fs, ino);
    if (f) fdata_free(fs, f);
    return;
  }
  for (int i = 0; i < FDATA_SLOTS && fs->fdata_used; i++)
    if (fs->fdata[i].ino) fdata_free(fs, &fs->fdata[i]);
}

/* Inside a scope, file ino of `old` bytes becomes `size` bytes (zeros
 * past the old end), with len bytes of buf at off (off + len <= size):
 * what is held of it follows, and a file that was empty (old 0) starts
 * being held. Dropped instead when it grows past SMALL_KEEP or the
 * scope's FDATA_BYTES, or memory runs short. */
static void fdata_change(vdb_fs *fs, uint64_t ino, uint64_t old, uint64_t size,
                         const void *buf, size_t len, uint64_t off) {
  vdb_fdata *f = fdata_of(fs, ino);
  if (!fdata_on(fs) || (!f && old)) return;
  if (f && f->n != old) { /* cannot be: the node's size moved unseen */
    fdata_free(fs, f);
    return;
  }
  uint64_t held = f ? f->n : 0;
  uint8_t *p = f ? f->p : NULL;
  if (size > SMALL_KEEP || fs->fdata_bytes - held + size > FDATA_BYTES ||
      (size && !(p = realloc(p, (size_t)size)))) {
    if (f) fdata_free(fs, f);
    return;
  }
  if (!size) {
    free(p);
    p = NULL;
  }
  if (!f) {
    f = &fs->fdata[ino % FDATA_SLOTS];
    if (f->ino) fdata_free(fs, f);
    f->ino = ino;
    fs->fdata_used++;
  }
  if (size > held) memset(p + held, 0, (size_t)(size - held));
  if (len) memcpy(p + off, buf, len);
  f->p = p;
  f->n = size;
  fs->fdata_bytes += size - held;
}

/* Inside a scope, the whole file ino as a read fetched it. */
static void fdata_put(vdb_fs *fs, uint64_t ino, const void *data, uint64_t size) {
  fdata_drop(fs, ino);
  fdata_change(fs, ino, 0, size, data, (size_t)size, 0);
}

/* Frees every cached name. */
static void dent_free_all(vdb_fs *fs) {
  for (int i = 0; fs->dcache && i < DCACHE_SLOTS; i++) {
    free(fs->dcache[i].name);
    fs->dcache[i].name = NULL;
  }
}

void cis__vdb_cache_clear(vdb_fs *fs) {
  drop_data(fs, 0);
  stash_drop(fs);
  fdata_drop(fs, 0);
  for (int i = 0; i < WHOLE_DIRS; i++) whole_drop(&fs->whole[i]);
  memset(fs->cache, 0, sizeof fs->cache);
  fs->ndirty = 0;
  /* The names go with a new generation, not a walk of every slot; their
   * memory is reused by the next names of their slots. Once the counter
   * wraps, a slot of an old generation could look current: freed then. */
  if (++fs->dgen == 0) dent_free_all(fs);
  fs->checked = false;
}

/* ---- the call's check (by the tenant's generation) ----
 *
 * A directory the walk of a path opens, named in the caches, is opened
 * on them before the call has checked them (prov_open): the check rides
 * with the call's next statement (the lookup after it, as a peek), and
 * until then the node remembers what named it. Every successful open is
 * followed by another method of the same public call (the walk's next
 * step, or the stat that makes the caller's file), which settles it. */

#define PROV_MAX 16 /* most directories opened so before a check */

static int ent_get(vdb_fs *fs, uint64_t dir, const char *name, vdb_ent *e);

/* The directories opened on the caches hold: they stop being provisional. */
static void prov_clear(vdb_fs *fs) {
  for (vdb_node *n = fs->open; n && fs->nprov; n = n->next) {
    if (!n->prov) continue;
    n->prov = false;
    free(n->prov_name);
    n->prov_name = NULL;
    fs->nprov--;
  }
  fs->nprov = 0;
}

/* The tenant changed since the caches were last checked: every directory
 * opened on them is looked up again by the name that gave it, oldest
 * first (so a directory's own directory is settled before it), and takes
 * the number its name has now. One whose name is gone, or names no
 * directory any more, is broken: ENOENT or ENOTDIR for every method on
 * it, as the walk would have found. A failure of those lookups breaks
 * the rest with it and is returned. */
static int prov_fix(vdb_fs *fs) {
  vdb_node *tail = fs->open;
  while (tail && tail->next) tail = tail->next;
  int err = 0;
  for (vdb_node *n = tail; n; n = n->prev) {
    if (!n->prov) continue;
    uint64_t dir = n->prov_dir;
    int broke = err;
    for (vdb_node *p = tail; p != n; p = p->prev) /* opened before it, on the same walk */
      if (p->prov && p->prov_old == dir) dir = p->ino, broke = broke ? broke : p->broken;
    if (!broke) {
      vdb_ent e;
      int le = ent_get(fs, dir, n->prov_name, &e);
      if (!le && e.type != CIS_VFS_DIR) le = ENOTDIR;
      if (!le) n->ino = e.ino;
      else if (le == ENOENT || le == ENOTDIR) broke = le;
      else broke = err = le;
    }
    n->broken = broke;
  }
  prov_clear(fs);
  return err;
}

/* A call scope's reads are checked once: the first (a check of the
 * caches, or Q_GEN) fixes the tenant's generation, gen0, and from then on
 * the caches serve the scope without a check per call. What they hold is
 * of gen0 or newer; a commit of another writer after gen0 is found by the
 * scope's first change, which compares the generation under the tree's
 * lock (cis__vdb_tx_begin): a conflict, so nothing the scope read stale is written
 * back. A scope that only reads sees what a read of each call would have
 * seen at gen0 or later, as before. */
static bool scope_checked(const vdb_fs *fs) {
  return fs->scoped && fs->gen_known && fs->version;
}

/* A check just confirmed the caches (the counters with them): the first
 * of a scope before its first change fixes gen0 there. */
static void scope_seen(vdb_fs *fs) {
  if (!fs->scoped || fs->in_tx || fs->gen_known) return;
  fs->gen0 = fs->next_eid;
  fs->gen_known = true;
}

/* Whether this public call has checked the caches (or its scope has). */
static bool call_checked(const vdb_fs *fs) {
  return (fs->checked && fs->check_seq == cis__vfs_call_seq()) || scope_checked(fs);
}

/* What this call's check of the caches read (err: it failed;
 * else v, the tenant's generation, 0: the tenant is gone). The same as
 * `version`: the caches hold, and so does every directory opened on
 * them. Else they are emptied and start again at v (what is read from
 * now on is at least as new as v, and the next check that finds v moved
 * empties them again), and the directories opened on them are looked up
 * again (prov_fix). A failed check leaves them off and breaks those
 * directories with its error. */
static int gen_seen(vdb_fs *fs, const int64_t row[4], int err) {
  uint64_t v = err ? 0 : (uint64_t)row[0];
  if (!err && !v) err = cis__vdb_fs_fail(fs, EIO, "tenant %lld vanished from the database",
                                (long long)fs->tenant);
  if (!err && v == fs->version) {
    prov_clear(fs);
  } else {
    cis__vdb_cache_clear(fs);
    fs->version = err ? 0 : v;
    if (!err) { /* the top layer and the counters as the same row has them */
      fs->next_eid = row[0];
      fs->top = row[1];
      fs->next_layer = row[2];
      fs->next_ino = row[3];
    }
  }
  if (err) {
    for (vdb_node *n = fs->open; n && fs->nprov; n = n->next)
      if (n->prov) n->broken = err;
    prov_clear(fs);
    return err;
  }
  fs->checked = true;
  fs->check_seq = cis__vfs_call_seq();
  scope_seen(fs);
  lease_confirmed(fs);
  return prov_fix(fs);
}

/* The call's check on its own (Q_GEN), one statement. */
static int gen_check(vdb_fs *fs) {
  cis__vdb_val a[] = {I(fs->tenant)};
  cis__vdb_rows r;
  bool have;
  int64_t row[4] = {0};
  int err = cis__vdb_first(fs, Q_GEN, a, NARGS(a), &r, &have);
  if (!err) {
    for (int i = 0; have && i < 4; i++) row[i] = fs->d->col_int(&r, i);
    fs->d->done(&r);
  }
  return gen_seen(fs, row, err);
}

/* Whether the caches (node metadata and names) may be used now. Inside a
 * write transaction always: it holds the tree, and cis__vdb_tx_begin emptied them
 * when another connection had committed. Outside one, with a dialect
 * that has a version once this public call (cis__vfs_call_seq)
 * has seen that the version is still the one our last commit left: one
 * statement (Q_DVER) per call, instead of one per name and node looked
 * up. A version that moved empties them until our next commit
 * (by_generation: they start again at the new generation, gen_seen). Inside
 * a call scope, once its first read checked (scope_checked). */
static bool cache_ok(vdb_fs *fs) {
  if (fs->in_tx) return true;
  if (!fs->version && !by_generation(fs)) return false;
  if (call_checked(fs)) return true;
  uint64_t seq = cis__vfs_call_seq();
  /* The dialect may tell that nobody wrote since our last commit without
   * a statement or a lock (unchanged); else the statement below tells. */
  bool same = fs->d->unchanged && fs->d->unchanged(fs->c);
  if (same) {
    fs->checked = true;
    fs->check_seq = seq;
    scope_seen(fs);
    return true;
  }
  cis__vdb_rows r;
  bool have;
  uint64_t v = 0;
  if (by_generation(fs)) {
    /* The tenant's generation (see gen_of), one statement; a generation
     * that moved empties the caches and they start again. */
    return gen_check(fs) == 0;
  }
  int err = cis__vdb_first(fs, Q_DVER, NULL, 0, &r, &have);
  if (!err) fs->d->done(&r), v = fs->d->version(fs->c);
  if (!v || v != fs->version) {
    fs->version = 0;
    cis__vdb_cache_clear(fs);
    fs->base.errmsg[0] = '\0'; /* a failure shows again in the statement that follows */
    return false;
  }
  fs->checked = true;
  fs->check_seq = seq;
  scope_seen(fs);
  return true;
}

/* The DCACHE_WAYS slots (a set) where dir/name may be cached, the one
 * used last first: a name used on every call (a directory on the walk to
 * many files) is not pushed out by a few other names of its set. */
static vdb_dent *dent_slot(vdb_fs *fs, uint64_t dir, const char *name) {
  uint64_t h = 1469598103934665603u ^ dir; /* FNV-1a */
  for (const unsigned char *p = (const unsigned char *)name; *p; p++)
    h = (h ^ *p) * 1099511628211u;
  return &fs->dcache[h % (DCACHE_SLOTS / DCACHE_WAYS) * DCACHE_WAYS];
}

/* Moves slot i of set d to its front, the others down one. */
static void dent_front(vdb_dent *d, int i) {
  vdb_dent t = d[i];
  memmove(d + 1, d, (size_t)i * sizeof *d);
  d[0] = t;
}

/* Whether slot d holds dir/name. */
static bool dent_is(const vdb_fs *fs, const vdb_dent *d, uint64_t dir, const char *name) {
  return d->name && d->gen == fs->dgen && d->dir == dir && !strcmp(d->name, name);
}

/* ---- directories known whole ---- */

static uint64_t name_hash(const char *name) {
  uint64_t h = 1469598103934665603u; /* FNV-1a; never 0 below */
  for (const unsigned char *p = (const unsigned char *)name; *p; p++)
    h = (h ^ *p) * 1099511628211u;
  return h ? h : 1;
}

/* The record of directory dir when it is whole, or NULL. */
static vdb_whole *whole_of(vdb_fs *fs, uint64_t dir) {
  for (int i = 0; i < WHOLE_DIRS; i++)
    if (fs->whole[i].dir == dir && dir) return &fs->whole[i];
  return NULL;
}

/* Whether a name hashing to h may be in w (set of hashes, open
 * addressing): false means it is not. */
static bool whole_may_have(const vdb_whole *w, uint64_t h) {
  for (size_t i = h & (w->cap - 1);; i = (i + 1) & (w->cap - 1)) {
    if (w->h[i] == h) return true;
    if (!w->h[i]) return false;
  }
}

/* Notes a name of w (present in it); when that cannot be (out of memory,
 * too many), the directory stops being whole. */
static void whole_add(vdb_whole *w, const char *name) {
  uint64_t h = name_hash(name);
  if (whole_may_have(w, h)) return;
  if ((w->n + 1) * 2 > w->cap) {
    size_t cap = w->cap * 2;
    uint64_t *grown = cap <= WHOLE_NAMES_MAX * 2 ? calloc(cap, sizeof *grown) : NULL;
    if (!grown) {
      whole_drop(w);
      return;
    }
    for (size_t k = 0; k < w->cap; k++) {
      if (!w->h[k]) continue;
      size_t i = w->h[k] & (cap - 1);
      while (grown[i]) i = (i + 1) & (cap - 1);
      grown[i] = w->h[k];
    }
    free(w->h);
    w->h = grown;
    w->cap = cap;
  }
  size_t i = h & (w->cap - 1);
  while (w->h[i]) i = (i + 1) & (w->cap - 1);
  w->h[i] = h;
  w->n++;
}

/* Directory dir was made by this mount: empty, so from now on every name
 * it gains goes through dent_put. Out of memory it is not recorded. */
static void whole_start(vdb_fs *fs, uint64_t dir) {
  vdb_whole *w = &fs->whole[fs->whole_at];
  fs->whole_at = (fs->whole_at + 1) % WHOLE_DIRS;
  whole_drop(w);
  if (!(w->h = calloc(16, sizeof *w->h))) return;
  w->cap = 16;
  w->dir = dir;
}

/* The cached entry dir/name, or NULL. A name a whole directory never
 * gained is absent (an empty entry). */
static const vdb_dent *dent_find(vdb_fs *fs, uint64_t dir, const char *name) {
  static const vdb_dent absent = {0};
  vdb_dent *d = fs->dcache ? dent_slot(fs, dir, name) : NULL;
  for (int i = 0; d && i < DCACHE_WAYS; i++)
    if (dent_is(fs, d + i, dir, name)) {
      dent_front(d, i); /* the one used last goes first */
      return d;
    }
  const vdb_whole *w = whole_of(fs, dir);
  return w && !whole_may_have(w, name_hash(name)) ? &absent : NULL;
}

/* Caches dir/name -> ino (0: absent). Out of memory it caches nothing. */
static void dent_put(vdb_fs *fs, uint64_t dir, const char *name, uint64_t ino, int type) {
  vdb_whole *w = ino ? whole_of(fs, dir) : NULL;
  if (w) whole_add(w, name);
  if (!fs->dcache && !(fs->dcache = calloc(DCACHE_SLOTS, sizeof *fs->dcache))) return;
  vdb_dent *d = dent_slot(fs, dir, name);
  /* This name's slot, else an empty one (or of an old generation), else
   * the one used least lately; moved to the front. */
  int i = 0;
  while (i < DCACHE_WAYS && !dent_is(fs, d + i, dir, name)) i++;
  for (int k = 0; i == DCACHE_WAYS && k < DCACHE_WAYS; k++)
    if (!d[k].name || d[k].gen != fs->dgen) i = k;
  dent_front(d, i < DCACHE_WAYS ? i : DCACHE_WAYS - 1);
  if (!d->name || strcmp(d->name, name)) {
    free(d->name);
    d->name = strdup(name);
  }
  d->dir = dir;
  d->ino = ino;
  d->type = type;
  d->gen = fs->dgen;
}

/* Writes one changed node's metadata to the top layer. */
static int slot_flush(vdb_fs *fs, vdb_slot *sl) {
  const vdb_inode *in = &sl->in;
  if (sl->fresh) {
    cis__vdb_val n[] = {I(fs->tenant),        I((int64_t)in->ino),   I(fs->top),
                        I(in->type),          I((int64_t)in->nlink), I((int64_t)in->size),
                        I((int64_t)in->atim), I((int64_t)in->mtim),  I((int64_t)in->ctim),
                        I((int64_t)in->parent)};
    int err = cis__vdb_exec(fs, Q_INO_ADD, n, NARGS(n));
    if (!err) sl->dirty = sl->fresh = false, sl->from = fs->top;
    return err;
  }
  int err;
  if (sl->from == fs->top) {
    cis__vdb_val u[] = {I(fs->tenant),        I((int64_t)in->ino),  I(fs->top),
                        I((int64_t)in->nlink), I((int64_t)in->size), I((int64_t)in->atim),
                        I((int64_t)in->mtim),  I((int64_t)in->ctim), I((int64_t)in->parent)};
    err = cis__vdb_exec(fs, Q_INO_SET, u, NARGS(u));
  } else {
    cis__vdb_val a[] = {I(fs->tenant),         I((int64_t)in->ino),  I(fs->top),
                        I(sl->from),           I((int64_t)in->nlink), I((int64_t)in->size),
                        I((int64_t)in->atim),  I((int64_t)in->mtim),  I((int64_t)in->ctim),
                        I((int64_t)in->parent)};
    err = cis__vdb_exec(fs, Q_INO_PUT, a, NARGS(a));
  }
  if (!err) {
    sl->dirty = false;
    sl->from = fs->top;
  }
  return err;
}

/* Notes that sl has just become dirty. */
static void dirty_note(vdb_fs *fs, const vdb_slot *sl) {
  if (fs->ndirty < DIRTY_LIST) fs->dirty_at[fs->ndirty] = (uint16_t)(sl - fs->cache);
  if (fs->ndirty <= DIRTY_LIST) fs->ndirty++;
}

/* How many slots may be dirty, and the i-th of them (dirty or not). */
static int dirty_slots(const vdb_fs *fs) {
  return fs->ndirty > DIRTY_LIST ? CACHE_SLOTS : fs->ndirty;
}
static vdb_slot *dirty_slot(vdb_fs *fs, int i) {
  return &fs->cache[fs->ndirty > DIRTY_LIST ? i : fs->dirty_at[i]];
}

/* Writes every changed node's metadata: before a commit, and before a
 * statement that reads inode rows itself. */
int cis__vdb_cache_flush(vdb_fs *fs) {
  for (int i = 0; i < dirty_slots(fs); i++) {
    vdb_slot *sl = dirty_slot(fs, i);
    if (!sl->dirty) continue;
    int err = slot_flush(fs, sl);
    if (err) return err;
  }
  fs->ndirty = 0;
  return 0;
}

/* The slot of ino, emptied for it (its former node written first when
 * changed). */
static int slot_take(vdb_fs *fs, uint64_t ino, vdb_slot **out) {
  vdb_slot *sl = &fs->cache[ino % CACHE_SLOTS];
  if (sl->used && sl->in.ino != ino) {
    if (sl->dirty) {
      int err = slot_flush(fs, sl);
      if (err) return err;
    }
    sl->used = false;
  }
  *out = sl;
  return 0;
}

/* ---- transactions ---- */

/* The database errors after which the open transaction cannot go on (or
 * may hold half a method): everything else is a refusal found before
 * anything changed (ENOENT, EEXIST, EISDIR, ...). */
bool cis__vdb_fatal(int err) {
  return err == CIS_VFS_EDOWN || err == CIS_VFS_ECONFLICT || err == EIO || err == ENOSPC ||
         err == ENOMEM;
}

/* What `version` is after our own commit: the dialect's version, or,
 * without one, the tenant's generation, next_eid, which
 * every commit of the tenant moves (tx_commit) under the tenant's row
 * lock, so no other writer can have moved it in between. 0: none. */
static uint64_t gen_of(vdb_fs *fs) {
  if (fs->d->version) return fs->d->version(fs->c);
  return fs->scoped ? 0 : (uint64_t)fs->next_eid;
}

/* ---- the lease (a dialect's, cis__vdb_lease_methods) ----
 *
 * While the mount holds the lease no other mount commits to the tenant:
 * a method that begins while it is held, on caches a check confirmed
 * since it was granted, needs no check (cis__vdb_arm), and a write transaction
 * begun on them checks nothing either: its commit compares the
 * generation it began from (Q_COUNTERS, Q_CTR_NODES), and it keeps the
 * lease until it ends (lease_hold). Not while joined: the owner's COMMIT,
 * after the scope's end, would come after the lease was given back. */

/* Whether the method running may trust the caches without a check. */
static bool lease_trusted(const vdb_fs *fs) {
  return fs->lease && !fs->own && fs->version && fs->d->lease->trusted(fs->lease);
}

/* A check just confirmed the caches. */
static void lease_confirmed(vdb_fs *fs) {
  if (fs->lease) fs->d->lease->confirmed(fs->lease);
}

/* The open write transaction relies on the lease, held in the epoch the
 * method began in (`same_epoch`) or any, rather than taking its lock
 * shared: false when the lease is not held so. */
static bool lease_hold(vdb_fs *fs, bool same_epoch) {
  return fs->lease && !fs->own && fs->d->lease->hold(fs->lease, same_epoch);
}

/* The write transaction ended (after its COMMIT or rollback). */
static void lease_unhold(vdb_fs *fs) {
  if (fs->lease) fs->d->lease->unhold(fs->lease);
}

/* Rolls back whatever is open and forgets what the cache knew. */
static void tx_abort(vdb_fs *fs) {
  if (fs->in_tx) fs->d->rollback(fs->c); /* what the dialect held with it */
  lease_unhold(fs);
  fs->in_tx = false;
  fs->opt = false;
  fs->rng_next = fs->rng_end = 0; /* reserved by what rolled back: not ours */
  fs->batch = NULL;
  fs->version = 0;
  cis__vdb_cache_clear(fs);
}

/* The open write transaction changed what the tree holds by `nodes` and
 * `bytes` (in regular files): counted as Q_USAGE counts, a node with a
 * name (nlink > 0, the root excluded), so a file removed while open
 * counts no more and its later writes nothing. The commit adds it to the
 * tree's usage columns (commit_counters). */
static void usage_note(vdb_fs *fs, int64_t nodes, int64_t bytes) {
  fs->dnodes += nodes;
  fs->dbytes += bytes;
}

/* When a change grows this tree by `nodes` and `bytes` (either may be
 * negative), EDQUOT if that takes its group's nodes or bytes past a limit
 * (cis_vfs_db_config.group) it grows; `in_rows`: the tree's usage columns
 * hold the change already (a commit's, after its counters), else it is
 * added to their total (a rollback's, before it drops anything). `what`
 * names the change in the refusal; the caller rolls back, or changes
 * nothing. The group's changes take turns here (by_generation: the
 * group's lock, Q_GROUP_LOCK, held to the transaction's end; else the
 * database's write lock, held since the first change), so the total read
 * is exact: of two commits that fit alone but not together, the second
 * fails. A change that grows nothing is never refused, even above a limit
 * lowered since. */
int cis__vdb_group_check(vdb_fs *fs, int64_t nodes, int64_t bytes, bool in_rows, const char *what) {
  bool grow_n = nodes > 0 && fs->group_max_nodes, grow_b = bytes > 0 && fs->group_max_bytes;
  if (!fs->group || (!grow_n && !grow_b)) return 0;
  cis__vdb_val a[] = {S(fs->group), S(fs->group_end)};
  int err = by_generation(fs) ? cis__vdb_exec(fs, Q_GROUP_LOCK, a, 1) : 0;
  cis__vdb_rows r;
  bool have;
  if (!err) err = cis__vdb_first(fs, Q_GROUP_SUM, a, NARGS(a), &r, &have);
  if (err) return err;
  int64_t n = have ? fs->d->col_int(&r, 0) : 0, b = have ? fs->d->col_int(&r, 1) : 0;
  fs->d->done(&r);
  if (!in_rows) n += nodes, b += bytes;
  const char *why = in_rows ? " (other writers of them committed first)" : "";
  if (grow_n && n > 0 && (uint64_t)n > fs->group_max_nodes)
    return cis__vdb_fs_fail(fs, EDQUOT, "the trees named %s... would hold %lld nodes, above their limit of %llu"
                   "%s; nothing of this %s applied",
                   fs->group, (long long)n, (unsigned long long)fs->group_max_nodes, why, what);
  if (grow_b && b > 0 && (uint64_t)b > fs->group_max_bytes)
    return cis__vdb_fs_fail(fs, EDQUOT, "the trees named %s... would hold %lld bytes in files, above their limit "
                   "of %llu%s; nothing of this %s applied",
                   fs->group, (long long)b, (unsigned long long)fs->group_max_bytes, why, what);
  return 0;
}

/* Inside the commit, after the tree's usage columns took the
 * transaction's change: the group's limits (cis__vdb_group_check). */
static int group_check(vdb_fs *fs) {
  return cis__vdb_group_check(fs, fs->dnodes, fs->dbytes, true, "commit");
}

/* Writes the changed nodes and the counters before a commit. Every
 * commit moves the tenant's generation (next_eid: entry ids need only
 * increase), which is how a scope learns that someone wrote. A dialect
 * without a version gets the counters with one node made in the
 * transaction, one changed
 * in place, and the entry and block held (Q_CTR_NODES): a small file's
 * creation, its entry, block and node and its directory's times, is one
 * statement there, not five. */
static int commit_counters(vdb_fs *fs) {
  vdb_slot *made = NULL, *changed = NULL;
  int err = 0;
  for (int i = 0; i < dirty_slots(fs) && !err; i++) {
    vdb_slot *sl = dirty_slot(fs, i);
    if (!sl->dirty || sl == made || sl == changed) continue;
    vdb_slot **with = !by_generation(fs)  ? NULL
                      : sl->fresh           ? &made
                      : sl->from == fs->top ? &changed
                                            : NULL; /* a copy-up: Q_INO_PUT of its own */
    if (with && !*with) *with = sl;
    else err = slot_flush(fs, sl);
  }
  fs->next_eid++;
  fs->counters_dirty = true;
  if (err) return err;
  fs->ndirty = 0; /* all written, or about to be with the counters */
  /* The entry and the block the dialect held, taken back to go with it. */
  const cis__vdb_val *e = fs->d->take_held ? fs->d->take_held(fs->c, Q_ENT_PUT) : NULL;
  const cis__vdb_val *k = fs->d->take_held ? fs->d->take_held(fs->c, Q_BLK_PUT) : NULL;
  if (!made && !changed && !e && !k) {
    cis__vdb_val a[] = {I(fs->tenant), I(fs->next_ino), I(fs->next_eid), I(fs->tx_gen),
                        I(fs->dnodes), I(fs->dbytes)};
    err = cis__vdb_exec(fs, Q_COUNTERS, a, NARGS(a));
    return err ? err : group_check(fs);
  }
  /* None held: flags 0, SQL NULLs. */
  static const cis__vdb_val no_name = {.kind = CIS__VDB_BLOB}, no_data = {.kind = CIS__VDB_DATA};
  vdb_inode none = {0};
  const vdb_inode *m = made ? &made->in : &none, *c = changed ? &changed->in : &none;
  cis__vdb_val a[] = {I(fs->tenant),        I(fs->next_ino),       I(fs->next_eid),
                      I((int64_t)m->ino),   I(fs->top),            I(m->type),
                      I((int64_t)m->nlink), I((int64_t)m->size),   I((int64_t)m->atim),
                      I((int64_t)m->mtim),  I((int64_t)m->ctim),   I((int64_t)m->parent),
                      I((int64_t)c->ino),   I(changed ? changed->from : 0),
                      I((int64_t)c->nlink), I((int64_t)c->size),   I((int64_t)c->atim),
                      I((int64_t)c->mtim),  I((int64_t)c->ctim),   I((int64_t)c->parent),
                      I(fs->tx_gen),
                      I(e != NULL),         I(e ? e[1].i : 0),     e ? e[2] : no_name,
                      I(e ? e[3].i : 0),    I(e ? e[4].i : 0),     I(e ? e[5].i : 0),
                      I(e ? e[6].i : 0),
                      I(k != NULL),         I(k ? k[1].i : 0),     I(k ? k[2].i : 0),
                      I(k ? k[3].i : 0),    k ? k[4] : no_data,
                      I(fs->dnodes),        I(fs->dbytes)};
  err = cis__vdb_exec(fs, Q_CTR_NODES, a, NARGS(a));
  if (err) return err;
  if (made) made->dirty = made->fresh = false, made->from = fs->top;
  if (changed) changed->dirty = false, changed->from = fs->top;
  return group_check(fs);
}

/* Commits the open write transaction (its changed metadata and counters
 * written first). Whatever it returns, no transaction is open after. */
static int tx_commit(vdb_fs *fs) {
  if (!fs->in_tx) return 0;
  bool dirty = false;
  for (int i = 0; i < dirty_slots(fs) && !dirty; i++) dirty = dirty_slot(fs, i)->dirty;
  if (!fs->changed && !dirty && fs->opt) {
    /* Nothing written, but what the method read from the caches was
     * trusted on the optimistic check still in flight: it must hold. */
    int s = tx_sync(fs);
    if (s) {
      tx_abort(fs);
      return s;
    }
  }
  if (!fs->changed && !dirty) {
    /* Nothing written (a refusal, a creation of what existed): no commit
     * and no new generation. What the cache holds is still true. */
    fs->d->rollback(fs->c);
    lease_unhold(fs);
    fs->in_tx = false;
    fs->opt = false;
    fs->rng_next = fs->rng_end = 0;
    fs->batch = NULL;
    fs->counters_dirty = false;
    return 0;
  }
  int err = commit_counters(fs);
  if (err) {
    tx_abort(fs);
    return err;
  }
  fs->in_tx = false;
  fs->batch = NULL;
  fs->counters_dirty = false;
  fs->opt = false;
  err = fs->d->commit(fs->c);
  lease_unhold(fs);
  if (err) {
    fs->version = 0;
    fs->rng_next = fs->rng_end = 0;
    cis__vdb_cache_clear(fs);
    return err;
  }
  if (fs->rng_end) { /* the range it reserved is this mount's now */
    fs->ino_next = fs->rng_next;
    fs->ino_end = fs->rng_end;
    fs->rng_next = fs->rng_end = 0;
  }
  fs->ncommits++;
  fs->unsynced = !fs->full_sync;
  /* Our own commit moved the version: what we know is what it holds. */
  fs->version = gen_of(fs);
  return 0;
}

/* Locks the tenant's row inside the write transaction just begun and
 * reads it (Q_LOCK; *have false: the tenant is gone). By the tenant's
 * generation, the mount holding the dialect's lease relies on it for the
 * transaction; any other takes the lease's lock shared, which Q_LOCK
 * refuses (no row) while another mount holds the lease: then it recalls
 * the lease (Q_RECALL, sent outside a transaction: on the mount's own
 * connection while joined, else after rolling back what was just begun)
 * and waits for it (Q_LEASE_WAIT). */
static int tenant_lock(vdb_fs *fs, cis__vdb_rows *r, bool *have) {
  cis__vdb_val a[] = {I(fs->tenant)};
  if (!by_generation(fs)) return cis__vdb_first(fs, Q_LOCK, a, NARGS(a), r, have);
  if (lease_hold(fs, false)) return cis__vdb_first(fs, Q_LOCK_OWN, a, NARGS(a), r, have);
  int err = cis__vdb_first(fs, Q_LOCK, a, NARGS(a), r, have);
  if (err || *have) return err;
  fs->d->done(r);
  err = cis__vdb_first(fs, Q_GEN, a, NARGS(a), r, have); /* no row: gone, or leased */
  if (err || !*have) return err;
  fs->d->done(r);
  cis__vdb_conn *c = fs->own ? fs->own : fs->c;
  if (fs->own) fs->d->arm(c, budget_ms(fs)); /* set aside since the join: unarmed */
  else fs->d->rollback(c);
  fs->nstmts++;
  err = fs->d->query(c, Q_RECALL, &cis__vdb_stmts[Q_RECALL], a, NARGS(a), r);
  if (!err) fs->d->done(r);
  if (!fs->own && !err) err = fs->d->begin(fs->c, true);
  if (!err) err = cis__vdb_exec(fs, Q_LEASE_WAIT, a, NARGS(a));
  if (!err) err = cis__vdb_first(fs, Q_LOCK, a, NARGS(a), r, have);
  fs->nrecalls++;
  return err;
}

/* Opens the write transaction of a method, or joins the one open: locks
 * the tenant's row (or takes the database's write lock) and reads
 * the top layer and the counters, unless the dialect's version shows that
 * nobody committed since our last commit (then they, and the cache, hold).
 * A call scope's first change keeps the caches the same way (what its
 * reads left in them is of gen0, checked below), and fails with a
 * conflict when another writer committed since the scope's first read. */
int cis__vdb_tx_begin(vdb_fs *fs) {
  if (fs->in_tx) return 0;
  if (fs->scoped && fs->scope_err)
    return cis__vdb_fs_fail(fs, fs->scope_err, "an earlier failure rolled this scope's changes back");
  int err = fs->d->begin(fs->c, true);
  if (err) return err;
  fs->in_tx = true;
  fs->counters_dirty = false;
  fs->changed = false;
  fs->dnodes = fs->dbytes = 0;
  uint64_t v = fs->d->version ? fs->d->version(fs->c) : 0;
  if (v && v == fs->version) return scope_check(fs);
  /* Without a version the row is locked all the same (it is the lock),
   * and its generation tells whether the caches still hold. */
  bool gen = by_generation(fs) && fs->version;
  if (!gen) cis__vdb_cache_clear(fs);
  cis__vdb_rows r;
  bool have;
  err = tenant_lock(fs, &r, &have);
  if (err) goto fail;
  if (!have) {
    fs->d->done(&r);
    err = cis__vdb_fs_fail(fs, EIO, "tenant %lld vanished from the database", (long long)fs->tenant);
    goto fail;
  }
  fs->top = fs->d->col_int(&r, 0);
  fs->next_layer = fs->d->col_int(&r, 1);
  fs->next_ino = fs->d->col_int(&r, 2);
  fs->next_eid = fs->d->col_int(&r, 3);
  fs->d->done(&r);
  if (gen && (uint64_t)fs->next_eid != fs->version) cis__vdb_cache_clear(fs);
  if (by_generation(fs)) v = (uint64_t)fs->next_eid; /* held: it cannot move */
  if (v) fs->version = v; /* what was read is the state of this version */
  fs->tx_gen = fs->next_eid;
  if (by_generation(fs)) lease_confirmed(fs);
  return scope_check(fs);
fail:
  tx_abort(fs);
  return err;
}

/* cis__vdb_tx_begin's end in a call scope that read the tree: a conflict when its
 * generation (next_eid, as the tree's lock holds it) is no longer gen0. */
static int scope_check(vdb_fs *fs) {
  if (!fs->scoped || !fs->gen_known || fs->next_eid == fs->gen0) return 0;
  /* What the scope read may be stale: its writes could undo another's. */
  tx_abort(fs);
  fs->scope_err = CIS_VFS_ECONFLICT;
  return cis__vdb_fs_fail(fs, CIS_VFS_ECONFLICT,
                 "the tree was changed by another writer after this scope first read it");
}

/* By the tenant's generation and pipelined, outside a scope, when the
 * caches hold a generation: opens
 * the write transaction without waiting for the tenant's row. BEGIN and
 * Q_LOCK_CHECK (the row locked, the transaction failed unless the
 * generation is still `version`) go in the pipeline with the method's
 * changes and the COMMIT, one round trip in all, and the method runs on
 * the caches, the top layer and the counters as they are. When another
 * writer committed in between, the check fails the transaction and the
 * caller's next collect returns CIS_VFS_ECONFLICT with `opt` set: the
 * caller rolls back and runs the method again on cis__vdb_tx_begin (redo). Else
 * cis__vdb_tx_begin. */
static int tx_begin_opt(vdb_fs *fs) {
  if (fs->in_tx) return 0;
  /* A scope begins once (its first change), and that begin must see the
   * row to compare gen0 or, before any read, take the latest state. */
  if (fs->scoped || !by_generation(fs) || !pipelined(fs) || !fs->version) return cis__vdb_tx_begin(fs);
  /* On the lease, in the epoch the caches were confirmed in: nothing to
   * check until the commit. Held but not yet confirmed: the plain begin,
   * which reads the row (and confirms them). */
  bool leased = lease_trusted(fs) && lease_hold(fs, true);
  if (!leased && fs->lease && !fs->own && fs->d->lease->held(fs->lease, cis__vfs_call_seq()))
    return cis__vdb_tx_begin(fs);
  int err = fs->d->begin(fs->c, true);
  if (err) {
    lease_unhold(fs);
    return err;
  }
  fs->in_tx = true;
  fs->counters_dirty = false;
  fs->changed = false;
  fs->dnodes = fs->dbytes = 0;
  fs->opt = true;
  fs->tx_gen = (int64_t)fs->version;
  if (leased) return 0;
  cis__vdb_val a[] = {I(fs->tenant), I((int64_t)fs->version)};
  fs->nstmts++;
  err = fs->d->exec(fs->c, Q_LOCK_CHECK, &cis__vdb_stmts[Q_LOCK_CHECK], a, NARGS(a));
  if (err) tx_abort(fs);
  return err;
}

/* Whether a method that failed with err on an optimistic transaction
 * (`was_opt`) is to be run again on cis__vdb_tx_begin: its check failed (another
 * writer committed; everything was rolled back and the caches emptied). */
static bool redo(vdb_fs *fs, bool was_opt, int err) {
  if (!was_opt || err != CIS_VFS_ECONFLICT || fs->scoped) return false;
  fs->nretries++;
  fs->version = 0;
  cis__vdb_cache_clear(fs);
  fs->base.errmsg[0] = '\0';
  return true;
}

/* After a change of layers: the next transaction reads the top and the
 * counters again, and the cache starts empty (unless a scope goes on). */
void cis__vdb_tx_forget(vdb_fs *fs) {
  if (fs->in_tx) return;
  fs->version = 0;
  cis__vdb_cache_clear(fs);
}

/* Ends a changing method. Success commits, unless the transaction goes on:
 * inside a call scope, or when `keep` (a file just created waits for its
 * first write). A database failure rolls back everything open (a scope
 * then fails as a whole at its end); a refusal leaves what earlier
 * methods did and, outside a scope, commits it. Returns the method's
 * error, or the commit's. */
int cis__vdb_tx_end(vdb_fs *fs, int err, bool keep) {
  if (!fs->in_tx) return err;
  /* A batch stays open: what the dialect sent without waiting (exec) must
   * have succeeded before the method says it did, since its creation
   * commits alone if nothing joins it. Inside a scope it waits in the
   * pipeline for the next statement that needs an answer, or the scope's
   * end: a failure there fails the scope as a whole (the method that
   * collects it reports it, and so does the end), and nothing of the
   * scope applies, so no method's success is taken back half-way. */
  if (fs->d->sync && !fs->scoped && keep && !err) {
    int s = tx_sync(fs);
    if (s) err = s;
  }
  if (err && cis__vdb_fatal(err)) {
    tx_abort(fs);
    if (fs->scoped && !fs->scope_err) fs->scope_err = err;
    return err;
  }
  if (fs->scoped || (keep && !err)) return err;
  int c = tx_commit(fs);
  return c ? c : err;
}

/* Called first by every method: a transaction left open for a batch is
 * committed unless this method joins it (one on the batch's own file,
 * `n`). Inside a scope nothing commits. */
int cis__vdb_settle(vdb_fs *fs, const vdb_node *n) {
  if (fs->scoped) return fs->in_tx || !fs->scope_err ? 0 : cis__vdb_fs_fail(fs, fs->scope_err,
                         "an earlier failure rolled this scope's changes back");
  /* A deferred creation is made (and committed) before anything else may
   * observe the tree; only its own file's write, stat and read join it. */
  if (fs->batch && fs->batch->pending && fs->batch != n) {
    int err = land(fs, fs->batch, NULL, 0, 0);
    if (err) return err;
  }
  /* Directories opened on unchecked caches are settled before anything
   * else uses them (can_peek), unless the method checks itself. */
  if (fs->nprov && !fs->merging && !fs->in_tx) {
    int err = gen_check(fs);
    if (err) return err;
  }
  if (!fs->in_tx || (n && n == fs->batch)) return 0;
  return tx_commit(fs);
}

/* Called by the methods that only read: the first read of a scope before
 * its first change records the tenant's generation, which its first
 * change checks (a conflict when another writer committed in between). */
static int settle_read(vdb_fs *fs, const vdb_node *n) {
  int err = cis__vdb_settle(fs, n);
  if (err || !fs->scoped || fs->in_tx || fs->gen_known) return err;
  /* The caches' own check fixes it (scope_seen): with a version it often
   * costs no statement, by the generation it rides with the lookup that
   * follows (peek). */
  if (fs->merging && can_peek(fs)) return 0;
  if (cache_ok(fs) && fs->gen_known) return 0;
  cis__vdb_val a[] = {I(fs->tenant)};
  cis__vdb_rows r;
  bool have;
  err = cis__vdb_first(fs, Q_GEN, a, NARGS(a), &r, &have);
  if (err) return err;
  if (have) {
    fs->gen0 = fs->d->col_int(&r, 0);
    fs->gen_known = true;
  }
  fs->d->done(&r);
  return have ? 0 : cis__vdb_fs_fail(fs, EIO, "tenant %lld vanished from the database",
                            (long long)fs->tenant);
}

/* ---- entries ---- */

/* The visible entry dir/name. ENOENT when there is none (or a whiteout). */
static int ent_get(vdb_fs *fs, uint64_t dir, const char *name, vdb_ent *e) {
  bool ok = cache_ok(fs);
  const vdb_dent *d = ok ? dent_find(fs, dir, name) : NULL;
  if (d) {
    if (!d->ino) return ENOENT;
    *e = (vdb_ent){.ino = d->ino, .type = d->type, .layer = -1};
    return 0;
  }
  cis__vdb_val a[] = {I(fs->tenant), I((int64_t)dir), S(name)};
  cis__vdb_rows r;
  bool have;
  int err = cis__vdb_first(fs, Q_ENT_GET, a, NARGS(a), &r, &have);
  if (err) return err;
  if (have) {
    e->ino = (uint64_t)fs->d->col_int(&r, 0);
    e->type = (int)fs->d->col_int(&r, 1);
    e->layer = fs->d->col_int(&r, 2);
  }
  fs->d->done(&r);
  bool there = have && e->type != T_WHITEOUT;
  if (ok) dent_put(fs, dir, name, there ? e->ino : 0, there ? e->type : 0);
  return there ? 0 : ENOENT;
}

/* Makes dir/name name ino in the top layer, with a new entry id. */
static int ent_put(vdb_fs *fs, uint64_t dir, const char *name, uint64_t ino, int type) {
  cis__vdb_val a[] = {I(fs->tenant), I((int64_t)dir), S(name), I(fs->top),
                      I(fs->next_eid++), I((int64_t)ino), I(type)};
  fs->counters_dirty = true;
  int err = cis__vdb_exec(fs, Q_ENT_PUT, a, NARGS(a));
  if (!err) dent_put(fs, dir, name, ino, type);
  return err;
}

/* Removes the name dir/name from the view of the top layer: a whiteout
 * when a lower layer has the name, else just the top layer's row.
 * A dialect without a version decides on the server (Q_ENT_REMOVE), in
 * the pipeline, where asking first cost a round trip. */
static int ent_remove(vdb_fs *fs, uint64_t dir, const char *name) {
  cis__vdb_val a[] = {I(fs->tenant), I((int64_t)dir), S(name), I(fs->top)};
  if (by_generation(fs) && fs->d->exec) {
    int err = cis__vdb_exec(fs, Q_ENT_REMOVE, a, NARGS(a));
    if (!err) dent_put(fs, dir, name, 0, 0);
    return err;
  }
  cis__vdb_rows r;
  bool lower;
  int err = cis__vdb_first(fs, Q_ENT_LOWER, a, NARGS(a), &r, &lower);
  if (err) return err;
  fs->d->done(&r);
  cis__vdb_val w[] = {I(fs->tenant), I((int64_t)dir), S(name), I(fs->top),
                      I(0),          I(0),            I(T_WHITEOUT)};
  err = lower ? cis__vdb_exec(fs, Q_ENT_PUT, w, NARGS(w)) : cis__vdb_exec(fs, Q_ENT_DEL, a, NARGS(a));
  if (!err) dent_put(fs, dir, name, 0, 0);
  return err;
}

/* The first visible entry of dir with an id at or after `from`. ENOENT
 * when there is none. */
static int ent_next(vdb_fs *fs, uint64_t dir, uint64_t from, cis_vfs_dirent *ent) {
  cis__vdb_val a[] = {I(fs->tenant), I((int64_t)dir),
                      I(from > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)from)};
  cis__vdb_rows r;
  bool have;
  int err = cis__vdb_first(fs, Q_ENT_LIST, a, NARGS(a), &r, &have);
  if (err) return err;
  if (!have) {
    fs->d->done(&r);
    return ENOENT;
  }
  if (ent) {
    size_t n;
    const void *p = fs->d->col_blob(&r, 1, &n);
    if (!p || n > CIS_VFS_NAME_MAX) {
      fs->d->done(&r);
      return cis__vdb_fs_fail(fs, EIO, "directory %llu holds a malformed name", (unsigned long long)dir);
    }
    ent->next = (uint64_t)fs->d->col_int(&r, 0) + 1;
    ent->ino = (uint64_t)fs->d->col_int(&r, 2);
    ent->type = (cis_vfs_type)fs->d->col_int(&r, 3);
    ent->namelen = n;
    memcpy(ent->name, p, n);
    ent->name[n] = '\0';
  }
  fs->d->done(&r);
  return 0;
}

/* ---- inodes ---- */

/* The visible metadata of ino. ENOENT when no layer has it. Inside a
 * write transaction it comes from the cache when there, and goes in. */
static int ino_get(vdb_fs *fs, uint64_t ino, vdb_inode *in) {
  vdb_slot *sl = NULL;
  if (cache_ok(fs)) {
    sl = &fs->cache[ino % CACHE_SLOTS];
    if (sl->used && sl->in.ino == ino) {
      *in = sl->in;
      return 0;
    }
  }
  cis__vdb_val a[] = {I(fs->tenant), I((int64_t)ino)};
  cis__vdb_rows r;
  bool have;
  int err = cis__vdb_first(fs, Q_INO_GET, a, NARGS(a), &r, &have);
  if (err) return err;
  if (have) {
    in->ino = ino;
    in->type = (int)fs->d->col_int(&r, 0);
    in->nlink = (uint64_t)fs->d->col_int(&r, 1);
    in->size = (uint64_t)fs->d->col_int(&r, 2);
    in->atim = (uint64_t)fs->d->col_int(&r, 3);
    in->mtim = (uint64_t)fs->d->col_int(&r, 4);
    in->ctim = (uint64_t)fs->d->col_int(&r, 5);
    in->parent = (uint64_t)fs->d->col_int(&r, 6);
    in->layer = fs->d->col_int(&r, 7);
  }
  fs->d->done(&r);
  if (!have) return ENOENT;
  if (sl) {
    err = slot_take(fs, ino, &sl);
    if (err) return err;
    *sl = (vdb_slot){.in = *in, .from = in->layer, .used = true};
  }
  return 0;
}

/* Sets in's metadata in the top layer (open write transaction): kept in
 * the cache and written before the commit, copied up from the layer it
 * was read from when that is a lower one (the lower row stays as it was).
 * in->layer becomes the top. */
static int ino_put(vdb_fs *fs, vdb_inode *in) {
  vdb_slot *sl;
  int err = slot_take(fs, in->ino, &sl);
  if (err) return err;
  bool was = sl->used && sl->dirty;
  int64_t from = was ? sl->from : in->layer;
  bool fresh = sl->used && sl->fresh;
  in->layer = fs->top;
  *sl = (vdb_slot){.in = *in, .from = from, .used = true, .dirty = true, .fresh = fresh};
  if (!was) dirty_note(fs, sl);
  return 0;
}

/* Inode numbers a mount reserves at a time (by_generation): a creation the
 * mount defers (db_open) takes its number from the range without the
 * tenant's lock, so no other mount can hand the same one out. */
#define INO_RANGE 64

/* Hands out a new inode number inside the open write transaction: from
 * this mount's range when it has one left, else from the tenant's
 * counter (by_generation: reserving a range above it, this mount's once
 * the transaction commits). */
static uint64_t ino_alloc(vdb_fs *fs) {
  fs->counters_dirty = true;
  if (!by_generation(fs) || !fs->in_tx) return (uint64_t)fs->next_ino++; /* !in_tx: the root */
  if (fs->ino_next < fs->ino_end) return (uint64_t)fs->ino_next++;
  /* The range this transaction reserved already (a scope makes many):
   * its numbers follow each other, so their cache slots do too. */
  if (fs->rng_next < fs->rng_end) return (uint64_t)fs->rng_next++;
  int64_t ino = fs->next_ino;
  fs->next_ino += INO_RANGE;
  fs->rng_next = ino + 1;
  fs->rng_end = ino + INO_RANGE;
  return (uint64_t)ino;
}

/* Creates a node in the top layer and returns its new number (*ino set
 * beforehand and `given`: that number, a deferred creation's). */
static int ino_make(vdb_fs *fs, int type, uint64_t parent, const char *target, uint64_t *ino,
                    bool given, uint64_t now) {
  if (!given) *ino = ino_alloc(fs);
  size_t tlen = target ? strlen(target) : 0;
  cis__vdb_val a[] = {I(fs->tenant),   I((int64_t)*ino),       I(fs->top),
                      I(type),         I((int64_t)tlen),       I((int64_t)now),
                      I((int64_t)parent), target ? B(target, tlen) : B(NULL, 0)};
  /* In a transaction a file or directory is inserted by the commit, with
   * its first write's size and times: one statement instead of two. */
  bool later = fs->in_tx && !target;
  int err = later ? 0 : cis__vdb_exec(fs, Q_INO_NEW, a, NARGS(a));
  vdb_slot *sl;
  if (!err && fs->in_tx && !(err = slot_take(fs, *ino, &sl)))
    *sl = (vdb_slot){.in = {.ino = *ino, .type = type, .nlink = 1, .size = tlen, .atim = now,
                            .mtim = now, .ctim = now, .parent = parent, .layer = fs->top},
                     .from = fs->top, .used = true, .dirty = later, .fresh = later};
  if (!err && later) dirty_note(fs, sl);
  if (later) fs->changed = true;
  if (!err && *ino != ROOT_INO) usage_note(fs, 1, type == CIS_VFS_REG ? (int64_t)tlen : 0);
  return err;
}

static int ino_new(vdb_fs *fs, int type, uint64_t parent, const char *target, uint64_t *ino) {
  return ino_make(fs, type, parent, target, ino, false, wall_ns());
}

/* ENOENT unless directory ino still exists (it may have been removed while
 * a handle of it stayed open). */
static int dir_alive(vdb_fs *fs, uint64_t ino) {
  vdb_inode in;
  int err = ino_get(fs, ino, &in);
  if (err) return err;
  return in.nlink > 0 && in.type == CIS_VFS_DIR ? 0 : ENOENT;
}

static bool is_open(vdb_fs *fs, uint64_t ino, const vdb_node *except) {
  for (vdb_node *n = fs->open; n; n = n->next)
    if (n != except && n->ino == ino) return true;
  return false;
}

/* Removes node ino (its name is going): marks it removed in the top layer
 * and drops its top-layer blocks, unless a handle of this backend still
 * has it open (then the last close does). */
static int node_kill(vdb_fs *fs, uint64_t ino) {
  vdb_inode in;
  int err = ino_get(fs, ino, &in);
  if (err) return err == ENOENT ? cis__vdb_fs_fail(fs, EIO, "node %llu has no metadata",
                                          (unsigned long long)ino)
                                : err;
  if (in.nlink > 0) usage_note(fs, -1, in.type == CIS_VFS_REG ? -(int64_t)in.size : 0);
  in.nlink = 0;
  in.ctim = wall_ns();
  fdata_drop(fs, ino);
  err = ino_put(fs, &in);
  if (err || in.type != CIS_VFS_REG) return err;
  if (is_open(fs, ino, NULL)) {
    /* Set even if the transaction then fails: close checks nlink again. */
    for (vdb_node *n = fs->open; n; n = n->next)
      if (n->ino == ino) n->orphan = true;
    return 0;
  }
  cis__vdb_val a[] = {I(fs->tenant), I((int64_t)ino), I(fs->top)};
  return cis__vdb_exec(fs, Q_BLK_DROP, a, NARGS(a));
}

/* ---- blocks ---- */

/* Column i of rows as a block, through the dialect's col_data when it
 * has one. */
static int col_data(vdb_fs *fs, cis__vdb_rows *r, int i, const void **p, size_t *n) {
  if (fs->d->col_data) return fs->d->col_data(r, i, p, n);
  *p = fs->d->col_blob(r, i, n);
  return 0;
}

/* A block that failed its check where nobody else can have changed it
 * (inside the mount's own transaction): damaged, or lost (col_data's
 * CIS__VDB_STALE). */
static int stale(vdb_fs *fs, uint64_t ino) {
  return cis__vdb_fs_fail(fs, EIO, "a block of node %llu fails its check: its data is damaged or was lost "
                 "(a power loss under the default durability)", (unsigned long long)ino);
}

/* Loads the visible block blk of ino into fs->blk (zero-filled past the
 * stored bytes) and sets *len to the stored bytes. */
static int blk_load(vdb_fs *fs, uint64_t ino, uint64_t blk, size_t *len) {
  cis__vdb_val a[] = {I(fs->tenant), I((int64_t)ino), I((int64_t)blk)};
  cis__vdb_rows r;
  bool have;
  *len = 0;
  memset(fs->blk, 0, fs->bs);
  int err = cis__vdb_first(fs, Q_BLK_GET, a, NARGS(a), &r, &have);
  if (err) return err;
  if (have) {
    size_t n;
    const void *p;
    err = col_data(fs, &r, 0, &p, &n);
    if (err) {
      fs->d->done(&r);
      return err == CIS__VDB_STALE ? stale(fs, ino) : err;
    }
    if (p && n > fs->bs) {
      fs->d->done(&r);
      return cis__vdb_fs_fail(fs, EIO, "block %llu of node %llu holds %zu bytes, more than a block",
                     (unsigned long long)blk, (unsigned long long)ino, n);
    }
    if (p) {
      memcpy(fs->blk, p, n);
      *len = n;
    }
  }
  fs->d->done(&r);
  return 0;
}

/* Writes n bytes as block blk of ino in the top layer. */
static int blk_store(vdb_fs *fs, uint64_t ino, uint64_t blk, const void *p, size_t n) {
  cis__vdb_val a[] = {I(fs->tenant), I((int64_t)ino), I((int64_t)blk), I(fs->top),
                      D(n ? p : "", n)};
  return cis__vdb_exec(fs, Q_BLK_PUT, a, NARGS(a));
}

/* Sets the size of ino (open transaction). Shrinking deletes the top
 * layer's blocks past the end, whites out lower layers' blocks there and
 * trims the block the new end falls in, so growing later reads zeros. */
static int do_truncate(vdb_fs *fs, vdb_inode *in, uint64_t size) {
  if (size > (uint64_t)INT64_MAX) return cis__vdb_fs_fail(fs, EFBIG, "size %llu too large",
                                                 (unsigned long long)size);
  if (size == in->size) return 0;
  drop_data(fs, in->ino);
  fdata_change(fs, in->ino, in->size, size, NULL, 0, 0);
  if (size < in->size) {
    uint64_t cut = size / fs->bs + (size % fs->bs ? 1 : 0);
    cis__vdb_val a[] = {I(fs->tenant), I((int64_t)in->ino), I(fs->top), I((int64_t)cut)};
    int err = cis__vdb_exec(fs, Q_BLK_CUT, a, NARGS(a));
    if (!err) err = cis__vdb_exec(fs, Q_BLK_WHITEOUT, a, NARGS(a));
    if (err) return err;
    if (size % fs->bs) {
      size_t len, keep = (size_t)(size % fs->bs);
      err = blk_load(fs, in->ino, size / fs->bs, &len);
      if (!err && len > keep) err = blk_store(fs, in->ino, size / fs->bs, fs->blk, keep);
      if (err) return err;
    }
  }
  if (in->nlink > 0 && in->type == CIS_VFS_REG) usage_note(fs, 0, (int64_t)size - (int64_t)in->size);
  in->size = size;
  in->mtim = in->ctim = wall_ns();
  return ino_put(fs, in);
}

/* ============================================================== methods */

static vdb_fs *FS(cis_vfs_backend *b) { return (vdb_fs *)b; }
static vdb_node *N(cis_vfs_node *n) { return (vdb_node *)n; }

/* Starts a method's time budget. */
/* Bounds the next database work by the backend's own op_timeout_ms and
 * by the deadline the wrappers passed down (the guest's call), whichever
 * comes first. A deadline already gone leaves 1 ms: the work fails at
 * once rather than not being bounded at all. */
/* The budget of the method running: the backend's cap, or what is left
 * of the mount's deadline. */
static uint64_t budget_ms(const vdb_fs *fs) {
  uint64_t ms = fs->timeout_ms;
  if (fs->base.deadline_ns != UINT64_MAX) {
    uint64_t left = cis__ms_left(fs->base.deadline_ns);
    if (left < ms) ms = left ? left : 1;
  }
  return ms;
}

void cis__vdb_arm(vdb_fs *fs) {
  fs->base.errmsg[0] = '\0';
  uint64_t ms = budget_ms(fs);
  fs->d->arm(fs->c, ms);
  if (!fs->lease) return;
  /* The lease is asked for outside transactions only (the mount's own
   * take its lock shared while it is not held). On it the caches hold
   * for the whole call, as a check would have found (unless directories
   * opened before it wait for theirs). */
  fs->d->lease->arm(fs->lease, !fs->in_tx && !fs->own, ms, cis__vfs_call_seq());
  if (lease_trusted(fs) && !fs->nprov && !call_checked(fs)) {
    fs->checked = true;
    fs->check_seq = cis__vfs_call_seq();
    scope_seen(fs);
  }
}

static void fill_stat(const vdb_fs *fs, const vdb_inode *in, cis_vfs_stat *st) {
  memset(st, 0, sizeof *st);
  st->dev = (uint64_t)fs->tenant;
  st->ino = in->ino;
  st->type = (cis_vfs_type)in->type;
  st->nlink = in->nlink;
  st->size = in->type == CIS_VFS_DIR ? 0 : in->size;
  st->atim = in->atim;
  st->mtim = in->mtim;
  st->ctim = in->ctim;
}

static int new_node(vdb_fs *fs, uint64_t ino, cis_vfs_type type, cis_vfs_node **out) {
  vdb_node *n = calloc(1, sizeof *n);
  if (!n) return cis__vdb_fs_fail(fs, ENOMEM, "out of memory");
  n->base.fs = &fs->base;
  n->ino = ino;
  n->type = type;
  n->next = fs->open;
  if (fs->open) fs->open->prev = n;
  fs->open = n;
  *out = &n->base;
  return 0;
}

static void unjoin(vdb_fs *fs);

static void db_destroy(cis_vfs_backend *b) {
  vdb_fs *fs = FS(b);
  if (!fs) return;
  unjoin(fs); /* inside a scope: rolled back below, with the owner's transaction */
  /* A batch is committed (its file was made); a scope that was not
   * committed is rolled back, like the call that did not succeed. */
  if (fs->c && fs->batch && fs->batch->pending) land(fs, fs->batch, NULL, 0, 0);
  if (fs->c && fs->in_tx) {
    if (fs->scoped) tx_abort(fs);
    else tx_commit(fs);
  }
  if (fs->lease) fs->d->lease->stop(fs->lease); /* gives the lease back */
  if (fs->c) fs->d->close(fs->c);
  cis__vdb_cache_clear(fs);
  dent_free_all(fs);
  free(fs->dcache);
  free(fs->blk);
  free(fs->group);
  free(fs->group_end);
  free(fs->spec_text);
  free(fs);
}

static int db_root(cis_vfs_backend *b, cis_vfs_node **out) {
  return new_node(FS(b), ROOT_INO, CIS_VFS_DIR, out);
}

int cis__vdb_usage_row(vdb_fs *fs, int64_t *nodes, int64_t *bytes) {
  cis__vdb_val a[] = {I(fs->tenant)};
  cis__vdb_rows r;
  bool have;
  *nodes = *bytes = -1;
  int err = cis__vdb_first(fs, Q_USAGE_ROW, a, NARGS(a), &r, &have);
  if (err) return err;
  if (have) {
    *nodes = fs->d->col_int(&r, 0);
    *bytes = fs->d->col_int(&r, 1);
  }
  fs->d->done(&r);
  return have ? 0 : cis__vdb_fs_fail(fs, EIO, "tenant %lld vanished from the database",
                                     (long long)fs->tenant);
}

int cis__vdb_usage_scan(vdb_fs *fs, int64_t *nodes, int64_t *bytes) {
  cis__vdb_val a[] = {I(fs->tenant)};
  cis__vdb_rows r;
  bool have;
  *nodes = *bytes = 0;
  int err = fs->in_tx ? cis__vdb_cache_flush(fs) : 0;
  if (!err) err = cis__vdb_first(fs, Q_USAGE, a, NARGS(a), &r, &have);
  if (err) return err;
  fs->nscans++;
  if (have) {
    *nodes = fs->d->col_int(&r, 0);
    *bytes = fs->d->col_int(&r, 1);
  }
  fs->d->done(&r);
  return 0;
}

/* What the tree holds, for a mount's quotas: its usage row, which every
 * commit moves, plus what the open write transaction changed; no scan.
 * A tree whose row is NULL (an older cis made it) is counted from its
 * rows: outside a scope its row is written so, once, in a write
 * transaction of its own (under the tenant's lock, so no commit of the
 * tree falls between the count and the write); inside a scope, whose
 * transaction is the call's, it is only counted. */
static int db_usage(cis_vfs_backend *b, uint64_t *bytes, uint64_t *nodes) {
  vdb_fs *fs = FS(b);
  cis__vdb_arm(fs);
  *bytes = *nodes = 0;
  int64_t n = -1, s = -1;
  int err = settle_read(fs, NULL);
  if (!err) err = cis__vdb_usage_row(fs, &n, &s);
  if (err) return err;
  if (n >= 0 && s >= 0) {
    if (fs->in_tx) n += fs->dnodes, s += fs->dbytes;
  } else if (fs->scoped) {
    err = cis__vdb_usage_scan(fs, &n, &s);
  } else {
    cis__vdb_val a[] = {I(fs->tenant)};
    err = cis__vdb_tx_begin(fs);
    if (!err) err = cis__vdb_exec(fs, Q_USAGE_FILL, a, NARGS(a));
    if (!err) err = cis__vdb_usage_row(fs, &n, &s);
    err = cis__vdb_tx_end(fs, err, false);
    fs->nscans++;
  }
  if (err) return err;
  *nodes = n > 0 ? (uint64_t)n : 0;
  *bytes = s > 0 ? (uint64_t)s : 0;
  return 0;
}

#define PEEK_KEEP (16u * 1024) /* largest file a peek fetches whole */

static int read_rows(vdb_fs *fs, vdb_node *n, cis__vdb_rows *r, uint8_t *buf, uint64_t off,
                     uint64_t end, uint64_t lo, uint64_t hi);

/* Whether the call's check may ride with a lookup (peek): by the
 * tenant's generation, outside a transaction, before the call (or its
 * scope) checked. */
static bool can_peek(vdb_fs *fs) {
  return by_generation(fs) && fs->d->exec && !fs->in_tx && !call_checked(fs);
}

/* ENOENT / ENOTDIR (or the failure that broke it) for a directory a check
 * found its name no longer gives (prov_fix). */
static int node_ok(vdb_fs *fs, const vdb_node *n) {
  if (!n->broken) return 0;
  return cis__vdb_fs_fail(fs, n->broken, "directory %llu was moved or removed by another writer",
                 (unsigned long long)n->ino);
}

/* The call's check and the lookup of dir/name in one statement (Q_PEEK),
 * so in one round trip: the caches are confirmed (or emptied and started
 * again, gen_seen) and dir/name goes into them; *have says whether the
 * name names a node, *in is its metadata. A regular file of at most
 * `keep` bytes comes whole and is kept for an open of it later in the
 * same call (stash), so open + read + close is this one round trip.
 * *again: the check found dir's own name moved (prov_fix gave dir another
 * number, or broke it): the lookup is to be made again. */
static int peek(vdb_fs *fs, vdb_node *dir, const char *name, uint64_t keep, vdb_inode *in,
                bool *have, bool *again) {
  uint64_t dino = dir->ino, maxblk = (keep + fs->bs - 1) / fs->bs;
  cis__vdb_val a[] = {I(fs->tenant), I((int64_t)dino), S(name), I((int64_t)keep),
                      I((int64_t)maxblk), I(CIS_VFS_REG)};
  cis__vdb_rows r;
  bool row = false;
  int64_t gen[4] = {0};
  uint8_t *data = NULL;
  vdb_inode din = {0}; /* the directory's own node (din.ino 0: none) */
  *have = *again = false;
  stash_drop(fs);
  int err = cis__vdb_run(fs, Q_PEEK, a, NARGS(a), &r);
  while (!err && !(err = fs->d->step(&r, &row)) && row) {
    int64_t k = fs->d->col_int(&r, 0);
    if (k == -2) {
      for (int i = 0; i < 4; i++) gen[i] = fs->d->col_int(&r, 2 + i);
      continue;
    }
    if (k != -1 && k != -3) break; /* no node row: no blocks either */
    vdb_inode *to = k == -1 ? in : &din;
    *to = (vdb_inode){.ino = (uint64_t)fs->d->col_int(&r, 2),
                      .type = (int)fs->d->col_int(&r, 3),
                      .nlink = (uint64_t)fs->d->col_int(&r, 4),
                      .size = (uint64_t)fs->d->col_int(&r, 5),
                      .atim = (uint64_t)fs->d->col_int(&r, 6),
                      .mtim = (uint64_t)fs->d->col_int(&r, 7),
                      .ctim = (uint64_t)fs->d->col_int(&r, 8),
                      .parent = (uint64_t)fs->d->col_int(&r, 9),
                      .layer = fs->d->col_int(&r, 10)};
    if (k == -3) continue;
    *have = true;
    if (in->type == CIS_VFS_REG && in->nlink > 0 && in->size <= keep &&
        (data = calloc(1, in->size ? (size_t)in->size : 1))) {
      vdb_node tmp = {.ino = in->ino};
      if (read_rows(fs, &tmp, &r, data, 0, in->size, 0, in->size)) {
        /* Malformed blocks: not kept; the read that needs them says so. */
        free(data);
        data = NULL;
        fs->base.errmsg[0] = '\0';
      }
    }
    break;
  }
  fs->d->done(&r);
  if (!err) err = gen_seen(fs, gen, 0);
  else gen_seen(fs, gen, err);
  if (!err && (dir->broken || dir->ino != dino)) *again = true;
  if (err || *again) {
    free(data);
    return err;
  }
  dent_put(fs, dino, name, *have ? in->ino : 0, *have ? in->type : 0);
  vdb_slot *sl;
  if (din.ino == dino && !slot_take(fs, dino, &sl))
    *sl = (vdb_slot){.in = din, .from = din.layer, .used = true};
  if (*have && !slot_take(fs, in->ino, &sl))
    *sl = (vdb_slot){.in = *in, .from = in->layer, .used = true};
  if (data) {
    fs->stash = data;
    fs->stash_n = in->size;
    fs->stash_ino = in->ino;
    fs->stash_seq = cis__vfs_call_seq();
  }
  return 0;
}

/* A directory opened on caches this call has not checked yet (see "the
 * call's check"): nothing is sent. Only a directory the name cache
 * knows, opened to be walked or read, outside transactions and scopes:
 * in a scope cis__vdb_settle does not check what such a directory stands on (the
 * peek of the scope's first read does, after which none is needed). */
static bool prov_open(vdb_fs *fs, vdb_node *dir, const char *name, uint32_t flags,
                      cis_vfs_node **out) {
  if (!can_peek(fs) || fs->scoped || fs->batch || !fs->version || fs->nprov >= PROV_MAX || dir->broken ||
      !(flags & CIS_VFS_DIRECTORY) || (flags & (CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_TRUNC)))
    return false;
  const vdb_dent *d = fs->dcache ? dent_find(fs, dir->ino, name) : NULL;
  if (!d || !d->ino || d->type != CIS_VFS_DIR) return false;
  char *pname = strdup(name); /* an entry there: its node is alive */
  if (!pname || new_node(fs, d->ino, CIS_VFS_DIR, out)) {
    free(pname);
    *out = NULL;
    return false;
  }
  vdb_node *n = N(*out);
  n->prov = true;
  n->prov_dir = dir->ino;
  n->prov_old = d->ino;
  n->prov_name = pname;
  n->named_seq = cis__vfs_call_seq();
  fs->nprov++;
  return true;
}

/* Whether dir/name may be said absent before the call's check: openat
 * looks it up to create it (CIS_VFS_LOOKUP_CREATES), the name cache says
 * it is absent, and the open that follows can defer the creation, whose
 * commit (land, at the first write or at close) checks the generation
 * as every optimistic begin does. A name found there after all is then
 * opened as the check would have found it (materialize). The open that
 * follows sees it remembered (blind_for). */
static bool blind_absent(vdb_fs *fs, const vdb_node *dir, const char *name, uint32_t flags) {
  if (!(flags & CIS_VFS_LOOKUP_CREATES) || fs->batch || !fs->version || !pipelined(fs) ||
      fs->ino_next >= fs->ino_end || strlen(name) >= sizeof fs->blind_name)
    return false;
  const vdb_dent *d = dent_find(fs, dir->ino, name);
  if (!d || d->ino) return false;
  fs->blind_seq = cis__vfs_call_seq();
  fs->blind_dir = dir->ino;
  strcpy(fs->blind_name, name);
  return true;
}

static void links_free(vdb_node *n) {
  for (int i = 0; i < n->nplinks; i++) free(n->plinks[i].name);
  free(n->plinks);
  n->plinks = NULL;
  n->nplinks = 0;
}

/* Copies the directories opened on unchecked caches (the walk to n's
 * directory) into n's links, oldest first. */
static int links_take(vdb_fs *fs, vdb_node *n) {
  vdb_node *tail = fs->open;
  while (tail && tail->next) tail = tail->next;
  n->plinks = calloc((size_t)fs->nprov, sizeof *n->plinks);
  if (!n->plinks) return cis__vdb_fs_fail(fs, ENOMEM, "out of memory");
  for (vdb_node *p = tail; p && n->nplinks < fs->nprov; p = p->prev) {
    if (!p->prov) continue;
    vdb_link *l = &n->plinks[n->nplinks++];
    *l = (vdb_link){.dir = p->prov_dir, .old = p->prov_old, .now = p->prov_old,
                    .name = strdup(p->prov_name)};
    if (!l->name) return cis__vdb_fs_fail(fs, ENOMEM, "out of memory");
  }
  return 0;
}

/* Whether this call's lookup of dir/name was answered by blind_absent. */
static bool blind_for(const vdb_fs *fs, uint64_t dir, const char *name) {
  return fs->blind_seq && fs->blind_seq == cis__vfs_call_seq() && fs->blind_dir == dir &&
         !strcmp(fs->blind_name, name);
}

static int db_lookup(cis_vfs_backend *b, cis_vfs_node *dir, const char *name, uint32_t flags,
                     cis_vfs_stat *st) {
  vdb_fs *fs = FS(b);
  cis__vdb_arm(fs);
  fs->merging = true;
  int err = settle_read(fs, NULL);
  fs->merging = false;
  if (!err) err = node_ok(fs, N(dir));
  if (!err && can_peek(fs) && blind_absent(fs, N(dir), name, flags)) return ENOENT;
  if (!err && can_peek(fs)) {
    /* The call's check, with this lookup. */
    vdb_inode in;
    bool got, again;
    err = peek(fs, N(dir), name, PEEK_KEEP, &in, &got, &again);
    if (!err && again) return db_lookup(b, dir, name, flags, st); /* checked now: no peek */
    if (!err && got) fill_stat(fs, &in, st);
    return err ? err : got ? 0 : ENOENT;
  }
  if (!err && fs->nprov) err = gen_check(fs);
  if (!err) err = node_ok(fs, N(dir));
  if (err) return err;
  uint64_t dino = N(dir)->ino;
  cis__vdb_val a[] = {I(fs->tenant), I((int64_t)dino), S(name)};
  cis__vdb_rows r;
  bool have;
  /* The name and its node's metadata from the caches, when both are. */
  bool ok = cache_ok(fs);
  const vdb_dent *d = ok ? dent_find(fs, dino, name) : NULL;
  if (d && !d->ino) return ENOENT;
  if (d) {
    const vdb_slot *sl = &fs->cache[d->ino % CACHE_SLOTS];
    if (sl->used && sl->in.ino == d->ino) {
      fill_stat(fs, &sl->in, st);
      return 0;
    }
  }
  if (fs->in_tx) {
    /* The name, then its node: from the cache, where every node changed
     * in the transaction is, or its row. Q_LOOKUP reads inode rows, so
     * the changed nodes would be written first: in a scope that makes
     * files, two statements more per name looked up. */
    vdb_ent e;
    vdb_inode in;
    err = ent_get(fs, dino, name, &e);
    if (!err) err = ino_get(fs, e.ino, &in);
    if (!err) fill_stat(fs, &in, st);
    return err;
  }
  err = cis__vdb_first(fs, Q_LOOKUP, a, NARGS(a), &r, &have);
  if (err) return err;
  vdb_inode in = {0};
  if (have) {
    in = (vdb_inode){
        .ino = (uint64_t)fs->d->col_int(&r, 0),
        .type = (int)fs->d->col_int(&r, 1),
        .nlink = (uint64_t)fs->d->col_int(&r, 2),
        .size = (uint64_t)fs->d->col_int(&r, 3),
        .atim = (uint64_t)fs->d->col_int(&r, 4),
        .mtim = (uint64_t)fs->d->col_int(&r, 5),
        .ctim = (uint64_t)fs->d->col_int(&r, 6),
        .parent = (uint64_t)fs->d->col_int(&r, 7),
        .layer = fs->d->col_int(&r, 8),
    };
    fill_stat(fs, &in, st);
  }
  fs->d->done(&r);
  if (ok) {
    dent_put(fs, dino, name, have ? in.ino : 0, in.type);
    vdb_slot *sl;
    if (have && !slot_take(fs, in.ino, &sl))
      *sl = (vdb_slot){.in = in, .from = in.layer, .used = true};
  }
  return have ? 0 : ENOENT;
}

/* The body of open inside its transaction (or none, when nothing can
 * change). */
static int open_in(vdb_fs *fs, uint64_t dir, const char *name, uint32_t flags, uint64_t *ino,
                   cis_vfs_type *type) {
  vdb_ent e;
  int err = ent_get(fs, dir, name, &e);
  if (err == ENOENT) {
    if (!(flags & CIS_VFS_CREAT)) return ENOENT;
    if (flags & CIS_VFS_DIRECTORY) return EINVAL; /* creates only regular files */
    err = dir_alive(fs, dir);
    if (!err) err = ino_new(fs, CIS_VFS_REG, dir, NULL, ino);
    if (!err) err = ent_put(fs, dir, name, *ino, CIS_VFS_REG);
    if (!err) err = dir_touch(fs, dir);
    *type = CIS_VFS_REG;
    return err;
  }
  if (err) return err;
  if ((flags & CIS_VFS_CREAT) && (flags & CIS_VFS_EXCL)) return EEXIST;
  if (e.type == CIS_VFS_SYMLINK) return ELOOP;
  if (e.type == CIS_VFS_DIR) {
    if (flags & (CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_TRUNC)) return EISDIR;
  } else if (flags & CIS_VFS_DIRECTORY) {
    return ENOTDIR;
  }
  *ino = e.ino;
  *type = (cis_vfs_type)e.type;
  if ((flags & CIS_VFS_TRUNC) && e.type == CIS_VFS_REG) {
    vdb_inode in;
    err = ino_get(fs, e.ino, &in);
    if (!err) err = do_truncate(fs, &in, 0);
  }
  return err;
}

/* Whether opening dir/name with flags may defer the creation (land):
 * by the tenant's generation and pipelined, outside a scope and a
 * transaction, a regular file created to
 * be written (not EXCL), a name the caches confirmed this call to be
 * absent from a directory they know alive, and an inode number of this
 * mount's range to give it. */
static bool can_defer(vdb_fs *fs, const vdb_node *dn, const char *name, uint32_t flags) {
  uint64_t dir = dn->ino;
  /* A scope needs none: it is one transaction from its first change on,
   * whose statements wait in the pipeline without a round trip each. */
  if (fs->scoped || fs->in_tx || !by_generation(fs) || !pipelined(fs)) return false;
  if ((flags & (CIS_VFS_CREAT | CIS_VFS_WRITE)) != (CIS_VFS_CREAT | CIS_VFS_WRITE) ||
      (flags & (CIS_VFS_EXCL | CIS_VFS_DIRECTORY)))
    return false;
  if (fs->ino_next >= fs->ino_end || !fs->version ||
      !(blind_for(fs, dir, name) || cache_ok(fs)))
    return false;
  const vdb_dent *d = dent_find(fs, dir, name);
  if (!d || d->ino) return false;
  const vdb_slot *sl = &fs->cache[dir % CACHE_SLOTS];
  if (sl->used && sl->in.ino == dir)
    return sl->in.nlink > 0 && sl->in.type == CIS_VFS_DIR;
  /* Opened by its name in this call, which checked the caches: alive. */
  return dn->named_seq == cis__vfs_call_seq();
}

static int db_open(cis_vfs_backend *b, cis_vfs_node *dir, const char *name, uint32_t flags,
                   cis_vfs_node **out) {
  vdb_fs *fs = FS(b);
  uint64_t ino = 0;
  cis_vfs_type type = CIS_VFS_UNKNOWN;
  *out = NULL;
  cis__vdb_arm(fs);
  if ((flags & CIS_VFS_TRUNC) && !(flags & CIS_VFS_WRITE)) return EINVAL;
  bool writes = flags & (CIS_VFS_CREAT | CIS_VFS_TRUNC);
  /* The name was said absent unchecked: its deferred creation checks. */
  bool blind = writes && blind_for(fs, N(dir)->ino, name);
  fs->merging = !writes || blind; /* an open that only reads checks the call itself */
  int err = writes ? cis__vdb_settle(fs, NULL) : settle_read(fs, NULL);
  fs->merging = false;
  if (!err) err = node_ok(fs, N(dir));
  if (!err && !writes && prov_open(fs, N(dir), name, flags, out)) return 0;
  if (!err && !writes && can_peek(fs)) {
    /* The call's check, with the lookup of the name (and a small file's
     * bytes): what follows runs on the caches it filled. */
    vdb_inode in;
    bool got, again;
    err = peek(fs, N(dir), name, flags & CIS_VFS_WRITE ? 0 : PEEK_KEEP, &in, &got, &again);
    if (!err && again) return db_open(b, dir, name, flags, out); /* checked now: no peek */
  }
  if (!err && fs->nprov && !(blind && can_defer(fs, N(dir), name, flags)))
    err = gen_check(fs);
  if (!err) err = node_ok(fs, N(dir));
  if (!err && writes && can_defer(fs, N(dir), name, flags)) {
    /* Nothing is sent: the first write (or whatever else comes first)
     * makes the file, with its data, in one round trip (land). */
    vdb_node links = {0}; /* holds the walk's unchecked directories until n does */
    char *pname = strdup(name);
    if (!pname) return cis__vdb_fs_fail(fs, ENOMEM, "out of memory");
    if (fs->nprov) err = links_take(fs, &links);
    if (!err) err = new_node(fs, (uint64_t)fs->ino_next, CIS_VFS_REG, out);
    if (err) {
      free(pname);
      links_free(&links);
      return err;
    }
    fs->ino_next++;
    vdb_node *n = N(*out);
    n->pending = true;
    n->pdir = N(dir)->ino;
    n->pname = pname;
    n->ptime = wall_ns();
    n->pblind = blind_for(fs, n->pdir, name);
    n->ptrunc = flags & CIS_VFS_TRUNC;
    fs->blind_seq = 0;
    n->plinks = links.plinks;
    n->nplinks = links.nplinks;
    fs->batch = n;
    return 0;
  }
  if (!err && writes) err = cis__vdb_tx_begin(fs);
  if (!err) err = open_in(fs, N(dir)->ino, name, flags, &ino, &type);
  /* A regular file opened to be written leaves its transaction open for
   * its first write: create + write + close become one commit. */
  bool keep = writes && type == CIS_VFS_REG && (flags & CIS_VFS_WRITE);
  if (writes) err = cis__vdb_tx_end(fs, err, keep);
  if (err) return err;
  err = new_node(fs, ino, type, out);
  if (err) return cis__vdb_tx_end(fs, err, false);
  if (keep && fs->in_tx && !fs->scoped) fs->batch = N(*out); /* a scope commits at its end */
  if (type == CIS_VFS_DIR) N(*out)->named_seq = cis__vfs_call_seq();
  if (fs->stash && fs->stash_ino == ino && fs->stash_seq == cis__vfs_call_seq() &&
      type == CIS_VFS_REG && !(flags & CIS_VFS_WRITE)) {
    /* The file as this call's peek fetched it: its reads cost nothing. */
    vdb_node *n = N(*out);
    n->data = fs->stash;
    n->dsize = fs->stash_n;
    n->dvalid = true;
    fdata_put(fs, ino, n->data, n->dsize); /* inside a scope, for its next opens too */
    fs->stash = NULL;
    stash_drop(fs);
  }
  return 0;
}

/* Creates dir/name as a node of `type` (a directory or a symlink). */
static int make_node(vdb_fs *fs, vdb_node *dn, const char *name, int type, const char *target) {
  cis__vdb_arm(fs);
  int err = cis__vdb_settle(fs, NULL); /* may renumber dn (opened on unchecked caches) */
  uint64_t dir = dn->ino;
  if (!err) err = node_ok(fs, dn);
  if (!err) err = cis__vdb_tx_begin(fs);
  if (err) return err;
  vdb_ent e;
  uint64_t ino;
  err = ent_get(fs, dir, name, &e);
  if (err == 0) err = EEXIST;
  else if (err == ENOENT) err = dir_alive(fs, dir);
  if (!err) err = ino_new(fs, type, dir, target, &ino);
  if (!err) err = ent_put(fs, dir, name, ino, type);
  if (!err) err = dir_touch(fs, dir);
  if (!err && type == CIS_VFS_DIR) {
    /* Made here, so empty: every name it will hold goes through this
     * mount's cache until the caches are emptied, and a name looked up
     * there costs no statement when absent. */
    whole_start(fs, ino);
  }
  return cis__vdb_tx_end(fs, err, false);
}

static int db_mkdir(cis_vfs_backend *b, cis_vfs_node *dir, const char *name) {
  return make_node(FS(b), N(dir), name, CIS_VFS_DIR, NULL);
}

static int db_symlink(cis_vfs_backend *b, cis_vfs_node *dir, const char *name,
                      const char *target) {
  return make_node(FS(b), N(dir), name, CIS_VFS_SYMLINK, target);
}

/* Removes dir/name: a directory when `want_dir` (empty, else ENOTEMPTY),
 * else a non-directory (EISDIR for a directory). */
static int remove_node(vdb_fs *fs, vdb_node *dn, const char *name, bool want_dir) {
  cis__vdb_arm(fs);
  int err = cis__vdb_settle(fs, NULL); /* may renumber dn (opened on unchecked caches) */
  uint64_t dir = dn->ino;
  if (!err) err = node_ok(fs, dn);
  if (!err) err = cis__vdb_tx_begin(fs);
  if (err) return err;
  vdb_ent e;
  err = ent_get(fs, dir, name, &e);
  if (!err) {
    if (want_dir && e.type != CIS_VFS_DIR) err = ENOTDIR;
    else if (!want_dir && e.type == CIS_VFS_DIR) err = EISDIR;
  }
  if (!err && want_dir) {
    err = ent_next(fs, e.ino, 0, NULL);
    err = err == ENOENT ? 0 : err ? err : ENOTEMPTY;
  }
  if (!err) err = node_kill(fs, e.ino);
  if (!err) err = ent_remove(fs, dir, name);
  if (!err) err = dir_touch(fs, dir);
  return cis__vdb_tx_end(fs, err, false);
}

static int db_rmdir(cis_vfs_backend *b, cis_vfs_node *dir, const char *name) {
  return remove_node(FS(b), N(dir), name, true);
}

static int db_unlink(cis_vfs_backend *b, cis_vfs_node *dir, const char *name) {
  return remove_node(FS(b), N(dir), name, false);
}

/* Most levels check_not_below climbs. The mounts' max_depth keeps trees
 * far shallower, but a rename can stack one subtree below another. */
#define CLIMB_MAX (1u << 20)

/* EINVAL when directory `dir` is `moved` or lies below it. Parents that
 * form a cycle (corrupt data) are EIO, found within about twice the
 * cycle's length and distance by Brent's method (each step is a query, so
 * the walk must not go round a cycle up to CLIMB_MAX times). */
static int check_not_below(vdb_fs *fs, uint64_t dir, uint64_t moved) {
  uint64_t saved = dir; /* Brent's tortoise: where the last power of two began */
  uint32_t power = 1, steps = 0;
  for (uint32_t depth = 0; depth <= CLIMB_MAX; depth++) {
    if (dir == moved)
      return cis__vdb_fs_fail(fs, EINVAL, "cannot move a directory into itself");
    if (dir == ROOT_INO) return 0;
    vdb_inode in;
    int err = ino_get(fs, dir, &in);
    if (err) return err;
    dir = in.parent;
    if (dir == saved) break;
    if (++steps == power) {
      saved = dir;
      power *= 2;
      steps = 0;
    }
  }
  return cis__vdb_fs_fail(fs, EIO, "directory parents form a cycle (or are more than %u deep)",
                 CLIMB_MAX);
}

static int rename_in(vdb_fs *fs, uint64_t odir, const char *oname, uint64_t ndir,
                     const char *nname) {
  vdb_ent src, dst;
  int err = ent_get(fs, odir, oname, &src);
  if (err) return err;
  err = dir_alive(fs, ndir);
  if (err) return err;
  err = ent_get(fs, ndir, nname, &dst);
  bool have_dst = err == 0;
  if (err && err != ENOENT) return err;
  if (have_dst && dst.ino == src.ino) return 0; /* the same node: nothing to do */
  if (src.type == CIS_VFS_DIR) {
    err = check_not_below(fs, ndir, src.ino);
    if (err) return err;
  }
  if (have_dst) {
    if (src.type == CIS_VFS_DIR && dst.type != CIS_VFS_DIR) return ENOTDIR;
    if (src.type != CIS_VFS_DIR && dst.type == CIS_VFS_DIR) return EISDIR;
    if (dst.type == CIS_VFS_DIR) {
      err = ent_next(fs, dst.ino, 0, NULL);
      if (err != ENOENT) return err ? err : ENOTEMPTY;
    }
    err = node_kill(fs, dst.ino);
    if (err) return err;
  }
  err = ent_put(fs, ndir, nname, src.ino, src.type);
  if (!err) err = ent_remove(fs, odir, oname);
  if (!err) err = dir_touch(fs, odir);
  if (!err && ndir != odir) err = dir_touch(fs, ndir);
  if (err) return err;
  vdb_inode in;
  err = ino_get(fs, src.ino, &in);
  if (err) return err;
  in.parent = src.type == CIS_VFS_DIR ? ndir : in.parent;
  in.ctim = wall_ns();
  return ino_put(fs, &in);
}

static int db_rename(cis_vfs_backend *b, cis_vfs_node *odir, const char *oname,
                     cis_vfs_node *ndir, const char *nname) {
  vdb_fs *fs = FS(b);
  cis__vdb_arm(fs);
  int err = cis__vdb_settle(fs, NULL);
  if (!err) err = node_ok(fs, N(odir));
  if (!err) err = node_ok(fs, N(ndir));
  if (!err) err = cis__vdb_tx_begin(fs);
  if (!err) err = rename_in(fs, N(odir)->ino, oname, N(ndir)->ino, nname);
  return cis__vdb_tx_end(fs, err, false);
}

static int db_readlink(cis_vfs_backend *b, cis_vfs_node *dir, const char *name, char *buf,
                       size_t cap, size_t *len) {
  vdb_fs *fs = FS(b);
  vdb_ent e;
  *len = 0;
  cis__vdb_arm(fs);
  int err = settle_read(fs, NULL);
  if (!err) err = ent_get(fs, N(dir)->ino, name, &e);
  if (err) return err;
  if (e.type != CIS_VFS_SYMLINK) return EINVAL;
  cis__vdb_val a[] = {I(fs->tenant), I((int64_t)e.ino)};
  cis__vdb_rows r;
  bool have;
  err = cis__vdb_first(fs, Q_INO_TARGET, a, NARGS(a), &r, &have);
  if (err) return err;
  size_t n = 0;
  const void *p = have ? fs->d->col_blob(&r, 0, &n) : NULL;
  if (!p) {
    err = cis__vdb_fs_fail(fs, EIO, "symlink %s has no target", name);
  } else {
    *len = n;
    if (n > cap) err = ERANGE;
    else if (n) memcpy(buf, p, n);
  }
  fs->d->done(&r);
  return err;
}

static int db_link(cis_vfs_backend *b, cis_vfs_node *odir, const char *oname, cis_vfs_node *ndir,
                   const char *nname) {
  (void)odir, (void)oname, (void)ndir, (void)nname;
  return cis__vdb_fs_fail(FS(b), EPERM, "hard links are not supported (Tarbox design limitation)");
}

static void db_close(cis_vfs_backend *b, cis_vfs_node *node) {
  vdb_fs *fs = FS(b);
  vdb_node *n = N(node);
  if (n->prev) n->prev->next = n->next;
  else fs->open = n->next;
  if (n->next) n->next->prev = n->prev;
  cis__vdb_arm(fs);
  free(n->data);
  if (n->prov) { /* a directory opened on unchecked caches: nothing to settle any more */
    n->prov = false;
    fs->nprov--;
  }
  free(n->prov_name);
  if (n->pending) {
    /* A deferred creation never written: made now (an empty file). As
     * below, a failure stays in the backend's message. */
    land(fs, n, NULL, 0, 0);
  } else if (fs->batch == n) {
    /* Its creation, never written: committed now. close cannot report a
     * failure; the detail stays in the backend's message. */
    fs->batch = NULL;
    tx_commit(fs);
  }
  if (n->orphan && !is_open(fs, n->ino, NULL)) {
    /* The last handle of a removed file: its data may go now, unless the
     * removal did not commit after all. A failure leaves the blocks as
     * garbage no name reaches. */
    vdb_inode in;
    int err = cis__vdb_settle(fs, NULL);
    if (!err) err = cis__vdb_tx_begin(fs);
    if (!err) err = ino_get(fs, n->ino, &in);
    if (!err && in.nlink == 0) {
      cis__vdb_val a[] = {I(fs->tenant), I((int64_t)n->ino), I(fs->top)};
      err = cis__vdb_exec(fs, Q_BLK_DROP, a, NARGS(a));
    }
    cis__vdb_tx_end(fs, err, false);
  }
  free(n->pname);
  links_free(n);
  free(n);
}

/* A node opened earlier whose metadata is gone (another mount of the
 * tenant rolled its layer back): EBADF, as for a descriptor of nothing. */
static int gone(vdb_fs *fs, const vdb_node *n) {
  return cis__vdb_fs_fail(fs, EBADF, "node %llu no longer exists", (unsigned long long)n->ino);
}

static int db_stat(cis_vfs_backend *b, cis_vfs_node *node, cis_vfs_stat *st) {
  vdb_fs *fs = FS(b);
  vdb_node *n = N(node);
  vdb_inode in;
  cis__vdb_arm(fs);
  if (n->pending) {
    /* A deferred creation (never in a scope): an empty file, as it will be made. */
    in = (vdb_inode){.ino = n->ino, .type = CIS_VFS_REG, .nlink = 1, .atim = n->ptime,
                     .mtim = n->ptime, .ctim = n->ptime};
    fill_stat(fs, &in, st);
    return 0;
  }
  int err = settle_read(fs, N(node));
  if (!err) err = node_ok(fs, n);
  if (!err) err = ino_get(fs, N(node)->ino, &in);
  if (err == ENOENT && !n->broken) return gone(fs, N(node));
  if (!err) fill_stat(fs, &in, st);
  return err;
}

/* Copies the visible blocks of one statement's rows into buf, which
 * holds the file's bytes [off, end), and zero-fills the rest of what the
 * statement covers there (its blocks' bytes [lo, hi)): holes, whiteouts
 * and the bytes past a short block. Not the whole buffer first: that was
 * a pass over every byte of a large read. A block whose place lies whole
 * in buf is read straight into it (col_data_to). */
static int read_rows(vdb_fs *fs, vdb_node *n, cis__vdb_rows *r, uint8_t *buf, uint64_t off,
                     uint64_t end, uint64_t lo, uint64_t hi) {
  uint64_t bs = fs->bs, filled = lo > off ? lo : off;
  if (hi > end) hi = end;
  bool have = false;
  int err;
  while (!(err = fs->d->step(r, &have)) && have) {
    int64_t k = fs->d->col_int(r, 0);
    if (k < 0) continue; /* the size row of Q_READ */
    uint64_t s = (uint64_t)k * bs;
    if (s >= off && s + bs <= end && fs->d->col_data_to) {
      if (filled < s) memset(buf + (filled - off), 0, s - filled);
      size_t dl;
      if ((err = fs->d->col_data_to(r, 1, buf + (s - off), bs, &dl))) return err;
      if (s + dl > filled) filled = s + dl;
      continue;
    }
    size_t dl;
    const void *v;
    if ((err = col_data(fs, r, 1, &v, &dl))) return err; /* CIS__VDB_STALE: the caller's */
    const uint8_t *p = v;
    if (!p || !dl) continue; /* a hole or a whiteout: zeros */
    if (dl > bs)
      return cis__vdb_fs_fail(fs, EIO, "block %lld of node %llu holds more than a block", (long long)k,
                     (unsigned long long)n->ino);
    uint64_t e = s + dl; /* the bytes this block holds */
    uint64_t from = s > off ? s : off, until = e < end ? e : end;
    if (from >= until) continue;
    if (filled < from) memset(buf + (filled - off), 0, from - filled);
    memcpy(buf + (from - off), p + (from - s), until - from);
    if (until > filled) filled = until;
  }
  if (!err && filled < hi) memset(buf + (filled - off), 0, hi - filled);
  return err;
}

static int read_at(vdb_fs *fs, vdb_node *n, void *buf, size_t len, uint64_t off, size_t *got);

/* The first byte past blocks below `to`, saturated (a read's last block
 * may be the one at the end of the offsets). */
static uint64_t blk_end(uint64_t bs, uint64_t to) {
  return to > UINT64_MAX / bs ? UINT64_MAX : to * bs;
}

/* Reads in one statement (Q_READ: the size, then the blocks) when the
 * range fits one batch; a longer read runs in one read transaction, so it
 * sees one state throughout. Inside a write transaction, changed metadata
 * is written first so the statement sees it. */
static int db_read(cis_vfs_backend *b, cis_vfs_node *node, void *buf, size_t len, uint64_t off,
                   size_t *got) {
  vdb_fs *fs = FS(b);
  vdb_node *n = N(node);
  *got = 0;
  cis__vdb_arm(fs);
  if (n->type == CIS_VFS_DIR) return EISDIR;
  if (n->pending) return 0; /* a deferred creation (never in a scope): empty */
  /* With a version, first that nobody committed since the bytes were kept
   * (often without a statement, cache_ok); a commit of another empties
   * the caches and drops them (cis__vdb_cache_clear). */
  if (n->dvalid && (by_generation(fs) || cache_ok(fs))) {
    /* The whole file, as this handle's first read fetched it. */
    uint64_t want = off >= n->dsize ? 0 : (n->dsize - off < len ? n->dsize - off : len);
    if (want) memcpy(buf, n->data + off, (size_t)want);
    *got = (size_t)want;
    return 0;
  }
  /* Looked up after the check: by the generation, a check that finds the
   * generation moved empties the caches (fdata with them) and still
   * says yes, for what it starts again from. */
  const vdb_fdata *f = fdata_on(fs) && fdata_of(fs, n->ino) && cache_ok(fs)
                           ? fdata_of(fs, n->ino) : NULL;
  if (f) {
    /* A small file this scope (or this mount, on its lease) wrote or read
     * whole. */
    uint64_t want = off >= f->n ? 0 : (f->n - off < len ? f->n - off : len);
    if (want) memcpy(buf, f->p + off, (size_t)want);
    *got = (size_t)want;
    return 0;
  }
  int err = settle_read(fs, n);
  if (!err && fs->in_tx) err = cis__vdb_cache_flush(fs);
  if (err || len == 0) return err;
  if (off > (uint64_t)INT64_MAX) return 0; /* past any file's end */
  /* A block found replaced under the statement's snapshot (col_data):
   * the read again, on a fresh one. Each time another writer committed
   * meanwhile (a block found damaged twice is EIO from the dialect), so
   * the bound only stops a reader that writers keep overtaking. */
  for (int attempt = 0;; attempt++) {
    err = read_at(fs, n, buf, len, off, got);
    if (err != CIS__VDB_STALE) return err;
    if (attempt == STALE_TRIES - 1)
      return cis__vdb_fs_fail(fs, EAGAIN, "node %llu kept being rewritten during its read (%d tries)",
                     (unsigned long long)n->ino, STALE_TRIES);
  }
}

/* db_read's statements, once: 0, an error, or CIS__VDB_STALE outside a
 * transaction of the mount's. */
static int read_at(vdb_fs *fs, vdb_node *n, void *buf, size_t len, uint64_t off, size_t *got) {
  int err;
  uint64_t bs = fs->bs, reqend = off + len < off ? UINT64_MAX : off + len;
  uint64_t batch = RANGE_BYTES / bs ? RANGE_BYTES / bs : 1;
  uint64_t firstblk = off / bs, last = (reqend - 1) / bs;
  bool own = !fs->in_tx && last - firstblk >= batch;
  if (own && (err = fs->d->begin(fs->c, false))) return err;
  /* The first statement learns the size: the bytes wanted are known after
   * it, and the buffer past them is never touched. */
  uint64_t to = last - firstblk >= batch ? firstblk + batch : last + 1;
  cis__vdb_val a[] = {I(fs->tenant), I((int64_t)n->ino), I((int64_t)firstblk), I((int64_t)to)};
  cis__vdb_rows r;
  bool have = false;
  uint64_t want = 0, end = off;
  err = cis__vdb_first(fs, Q_READ, a, NARGS(a), &r, &have);
  if (!err) {
    if (!have || fs->d->col_int(&r, 0) != -1) {
      fs->d->done(&r);
      err = gone(fs, n);
    } else {
      uint64_t size = (uint64_t)fs->d->col_int(&r, 2);
      want = off >= size ? 0 : (size - off < len ? size - off : len);
      end = off + want;
      /* A file that fits in the blocks this statement fetched is kept
       * whole for the handle's next reads (the one that finds the end is
       * the usual one), and inside a scope for its next opens (fdata).
       * With a version: only while the caches hold one, which every later
       * use checks; the bytes are of that version or newer, and newer
       * moved it. Inside a write transaction only this mount changes
       * the file, and its changes drop what is kept. */
      bool keep = (by_generation(fs) || fs->version) && firstblk == 0 && size <= to * bs &&
                  size <= SMALL_KEEP;
      if (keep && (n->data = calloc(1, size ? (size_t)size : 1))) {
        err = read_rows(fs, n, &r, n->data, 0, size, 0, size);
        if (!err) {
          n->dsize = size;
          n->dvalid = true;
          fdata_put(fs, n->ino, n->data, size);
          if (want) memcpy(buf, n->data + off, (size_t)want);
        } else {
          free(n->data);
          n->data = NULL;
        }
      } else {
        if (want) err = read_rows(fs, n, &r, buf, off, end, firstblk * bs, blk_end(bs, to));
      }
      fs->d->done(&r);
    }
  }
  uint64_t lastw = want ? (end - 1) / bs : 0;
  for (uint64_t blk = to; !err && want && blk <= lastw; blk += batch) {
    uint64_t upto = blk + batch <= lastw + 1 ? blk + batch : lastw + 1;
    cis__vdb_val q[] = {I(fs->tenant), I((int64_t)n->ino), I((int64_t)blk), I((int64_t)upto)};
    err = cis__vdb_run(fs, Q_BLK_RANGE, q, NARGS(q), &r);
    if (!err) err = read_rows(fs, n, &r, buf, off, end, blk * bs, blk_end(bs, upto));
    fs->d->done(&r);
  }
  /* Inside the mount's transaction nobody else moves its blocks: damage. */
  if (err == CIS__VDB_STALE && fs->in_tx) err = stale(fs, n->ino);
  if (own) {
    if (err) fs->d->rollback(fs->c);
    else err = fs->d->commit(fs->c);
  } else if (err && fs->in_tx && cis__vdb_fatal(err)) {
    cis__vdb_tx_end(fs, err, false);
  }
  if (!err) *got = (size_t)want;
  return err;
}

/* The body of write inside its transaction. */
static int write_in(vdb_fs *fs, vdb_node *n, const uint8_t *buf, size_t len, uint64_t off) {
  vdb_inode in;
  drop_data(fs, n->ino);
  int err = ino_get(fs, n->ino, &in);
  if (err == ENOENT) return gone(fs, n);
  if (err) return err;
  if (off == CIS_VFS_APPEND) off = in.size;
  if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - off)
    return cis__vdb_fs_fail(fs, EFBIG, "write past the largest file size");
  uint64_t bs = fs->bs, end = off + len;
  for (uint64_t blk = off / bs; blk * bs < end; blk++) {
    uint64_t s = blk * bs;
    size_t from = (size_t)((off > s ? off : s) - s);
    size_t until = (size_t)((end < s + bs ? end : s + bs) - s);
    const uint8_t *src = buf + (s + from - off);
    if (from == 0 && until == bs) {
      err = blk_store(fs, n->ino, blk, src, until);
    } else {
      /* A partial block: merge into what it holds now, from whichever
       * layer. Past the old end it holds zeros (the invariant). */
      size_t held = 0;
      if (s < in.size) err = blk_load(fs, n->ino, blk, &held);
      else memset(fs->blk, 0, from); /* only [0, until) is stored */
      if (err) return err;
      memcpy(fs->blk + from, src, until - from);
      err = blk_store(fs, n->ino, blk, fs->blk, held > until ? held : until);
    }
    if (err) return err;
  }
  fdata_change(fs, n->ino, in.size, end > in.size ? end : in.size, buf, len, off);
  if (end > in.size && in.nlink > 0) usage_note(fs, 0, (int64_t)(end - in.size));
  if (end > in.size) in.size = end;
  in.mtim = in.ctim = wall_ns();
  return ino_put(fs, &in);
}

/* A deferred creation whose directory the walk opened on unchecked caches
 * (plinks), in a transaction that did not check them optimistically (a
 * redo, or a plain begin): each of those directories is looked up again,
 * oldest first, as prov_fix does, and pdir takes the number its path
 * gives now, so the file lands where its path leads. ENOENT or ENOTDIR
 * when a directory on it is gone, as the walk would have found. */
static int relink(vdb_fs *fs, vdb_node *n) {
  uint64_t pdir = n->pdir;
  for (int i = 0; i < n->nplinks; i++) {
    vdb_link *l = &n->plinks[i];
    uint64_t dir = l->dir;
    for (int j = 0; j < i; j++)
      if (n->plinks[j].old == dir) dir = n->plinks[j].now;
    vdb_ent e;
    int err = ent_get(fs, dir, l->name, &e);
    if (!err && e.type != CIS_VFS_DIR) err = ENOTDIR;
    if (err == ENOENT || err == ENOTDIR)
      return cis__vdb_fs_fail(fs, err, "directory '%s' on the path of '%s' was moved or removed before "
                     "its creation landed", l->name, n->pname);
    if (err) return err;
    l->now = e.ino;
    if (l->old == n->pdir) pdir = e.ino;
  }
  n->pdir = pdir;
  return 0;
}

/* Makes the deferred creation of n inside the open write transaction:
 * its node (with the number it was given), its entry and its
 * directory's times. Another mount may have made the name meanwhile
 * (only seen on a redo): the creation replaces what it named, as a
 * rename over it would; a directory there is EISDIR. Its directory gone
 * meanwhile is ENOENT. */
static int materialize(vdb_fs *fs, vdb_node *n) {
  vdb_inode din;
  int err = ino_get(fs, n->pdir, &din);
  if (!err && (din.nlink == 0 || din.type != CIS_VFS_DIR)) err = ENOENT;
  if (err == ENOENT)
    return cis__vdb_fs_fail(fs, ENOENT, "the directory of '%s' was removed before its creation landed",
                   n->pname);
  if (err) return err;
  vdb_ent e;
  err = ent_get(fs, n->pdir, n->pname, &e);
  if (!err && e.ino == n->ino) return 0; /* made already (cannot be: no commit reports it) */
  if (!err && n->pblind && e.type == CIS_VFS_REG) {
    /* Said absent before the call's check (blind_absent), it was there:
     * the open the check would have made, of that file. */
    n->ino = e.ino;
    vdb_inode in;
    if (n->ptrunc && !(err = ino_get(fs, e.ino, &in))) err = do_truncate(fs, &in, 0);
    return err;
  }
  if (!err && n->pblind && e.type == CIS_VFS_SYMLINK)
    return cis__vdb_fs_fail(fs, ELOOP, "'%s' became a symlink before its creation landed", n->pname);
  if (!err && e.type == CIS_VFS_DIR)
    return cis__vdb_fs_fail(fs, EISDIR, "'%s' became a directory before its creation landed", n->pname);
  if (!err) err = node_kill(fs, e.ino);
  else if (err == ENOENT) err = 0;
  uint64_t ino = n->ino;
  if (!err) err = ino_make(fs, CIS_VFS_REG, n->pdir, NULL, &ino, true, n->ptime);
  if (!err) err = ent_put(fs, n->pdir, n->pname, ino, CIS_VFS_REG);
  if (!err) err = dir_touch(fs, n->pdir);
  return err;
}

/* Writes len bytes of buf at off to n (buf NULL: none), making n's
 * deferred creation first, and commits: one write transaction, begun
 * optimistically (tx_begin_opt), so with a pipelined dialect BEGIN, the lock, the
 * creation, the blocks, the metadata and COMMIT are one round trip.
 * When another writer committed since the caches were confirmed, all of
 * it runs once more on the tenant's row read afresh (redo). Whatever it
 * returns, n's creation no longer waits: made, or dropped with the
 * failure (n then reads as gone). */
static int land(vdb_fs *fs, vdb_node *n, const uint8_t *buf, size_t len, uint64_t off) {
  int err = 0;
  for (int attempt = 0; attempt < 2; attempt++) {
    err = attempt == 0 ? tx_begin_opt(fs) : cis__vdb_tx_begin(fs);
    bool was_opt = fs->opt;
    if (!err && n->pending && n->nplinks && !was_opt) err = relink(fs, n);
    if (!err && n->pending) err = materialize(fs, n);
    if (!err && buf) err = write_in(fs, n, buf, len, off);
    err = cis__vdb_tx_end(fs, err, false);
    if (!redo(fs, was_opt, err)) break;
  }
  if (n->pending) {
    n->pending = false;
    free(n->pname);
    n->pname = NULL;
    links_free(n);
    if (fs->batch == n) fs->batch = NULL;
  }
  return err;
}

static int db_write(cis_vfs_backend *b, cis_vfs_node *node, const void *buf, size_t len,
                    uint64_t off, size_t *put) {
  vdb_fs *fs = FS(b);
  *put = 0;
  cis__vdb_arm(fs);
  if (N(node)->type == CIS_VFS_DIR) return EISDIR;
  if (len == 0) return 0;
  int err = cis__vdb_settle(fs, N(node));
  if (!err && fs->in_tx) {
    /* Joins the open transaction (a batch, a scope). */
    err = write_in(fs, N(node), buf, len, off);
    err = cis__vdb_tx_end(fs, err, false);
  } else if (!err) {
    err = land(fs, N(node), buf, len, off);
  }
  if (!err) *put = len;
  return err;
}

static int db_truncate(cis_vfs_backend *b, cis_vfs_node *node, uint64_t size) {
  vdb_fs *fs = FS(b);
  vdb_inode in;
  cis__vdb_arm(fs);
  if (N(node)->type == CIS_VFS_DIR) return EISDIR;
  int err = cis__vdb_settle(fs, N(node)->pending ? NULL : N(node)); /* a deferred creation lands */
  if (!err) err = cis__vdb_tx_begin(fs);
  if (!err && (err = ino_get(fs, N(node)->ino, &in)) == ENOENT) err = gone(fs, N(node));
  if (!err) err = do_truncate(fs, &in, size);
  return cis__vdb_tx_end(fs, err, false);
}

/* Sets in's times as the flags say (now, or the given value), its ctim to
 * now, and writes it back. */
static int put_times(vdb_fs *fs, vdb_inode *in, uint64_t atim, uint64_t mtim, uint32_t flags) {
  uint64_t now = wall_ns();
  if (flags & CIS_VFS_ATIM_NOW) in->atim = now;
  else if (flags & CIS_VFS_ATIM) in->atim = atim;
  if (flags & CIS_VFS_MTIM_NOW) in->mtim = now;
  else if (flags & CIS_VFS_MTIM) in->mtim = mtim;
  in->ctim = now;
  return ino_put(fs, in);
}

static int db_set_times(cis_vfs_backend *b, cis_vfs_node *node, uint64_t atim, uint64_t mtim,
                        uint32_t flags) {
  vdb_fs *fs = FS(b);
  vdb_inode in;
  cis__vdb_arm(fs);
  int err = cis__vdb_settle(fs, N(node)->pending ? NULL : N(node)); /* a deferred creation lands */
  if (!err) err = cis__vdb_tx_begin(fs);
  if (!err && (err = ino_get(fs, N(node)->ino, &in)) == ENOENT) err = gone(fs, N(node));
  if (!err) err = put_times(fs, &in, atim, mtim, flags);
  return cis__vdb_tx_end(fs, err, false);
}

/* The times of dir/name itself (a symlink's own), copied up to the top
 * layer like any change of an inode. */
static int db_set_times_nofollow(cis_vfs_backend *b, cis_vfs_node *dir, const char *name,
                                 uint64_t atim, uint64_t mtim, uint32_t flags) {
  vdb_fs *fs = FS(b);
  vdb_ent e;
  vdb_inode in;
  cis__vdb_arm(fs);
  int err = cis__vdb_settle(fs, NULL);
  if (!err) err = cis__vdb_tx_begin(fs);
  if (!err) err = ent_get(fs, N(dir)->ino, name, &e);
  if (!err) err = ino_get(fs, e.ino, &in);
  if (!err) err = put_times(fs, &in, atim, mtim, flags);
  return cis__vdb_tx_end(fs, err, false);
}

/* Commits a batch left open, then makes every commit so far durable
 * (with CIS_VFS_DB_SYNC_FULL each already was). Inside a scope the
 * scope's own changes wait for its end; what committed before is
 * flushed. */
static int db_sync(cis_vfs_backend *b, cis_vfs_node *node) {
  vdb_fs *fs = FS(b);
  (void)node;
  cis__vdb_arm(fs);
  int err = cis__vdb_settle(fs, NULL);
  if (err) return err;
  /* Inside a scope what the file holds now commits at the scope's end:
   * that commit is flushed then. What committed before is flushed now,
   * unless the scope's transaction is open (its end flushes both). */
  if (fs->scoped) fs->scope_sync = true;
  if (!fs->unsynced || (fs->scoped && fs->in_tx)) return 0;
  err = fs->d->flush(fs->c);
  if (!err) fs->unsynced = false;
  return err;
}

static int db_readdir(cis_vfs_backend *b, cis_vfs_node *dir, uint64_t cookie,
                      cis_vfs_dirent *ent) {
  vdb_fs *fs = FS(b);
  cis__vdb_arm(fs);
  int err = settle_read(fs, NULL);
  if (err) return err;
  /* Entry ids start at 1, so cookie 0 ("the first") needs no mapping. */
  return ent_next(fs, N(dir)->ino, cookie, ent);
}

/* Call scopes (cis_vfs_scope_begin): the transaction begins at the
 * scope's first change and ends at its end; see "Transactions". */
static int db_scope(cis_vfs_backend *b, int op) {
  vdb_fs *fs = FS(b);
  cis__vdb_arm(fs);
  int err = 0;
  switch (op) {
  case CIS_VFS_SCOPE_BEGIN:
    if (fs->scoped) return cis__vdb_fs_fail(fs, EINVAL, "a scope is already open");
    err = cis__vdb_settle(fs, NULL); /* a batch commits first: it is not the scope's */
    if (err) return err;
    fs->scoped = true;
    fs->scope_err = 0;
    fs->scope_sync = false;
    fs->gen_known = false;
    return 0;
  case CIS_VFS_SCOPE_COMMIT:
    if (!fs->scoped) return cis__vdb_fs_fail(fs, EINVAL, "no scope is open");
    fs->scoped = false;
    if (fs->scope_err) {
      err = fs->scope_err;
      fs->scope_err = 0;
      tx_abort(fs);
      unjoin(fs);
      return cis__vdb_fs_fail(fs, err, "%s", err == CIS_VFS_ECONFLICT
                                        ? "the tree was changed by another writer after this "
                                          "scope first read it; nothing of the scope applied"
                                        : "a failure rolled the scope's changes back");
    }
    fdata_drop(fs, 0); /* kept for the scope's reads only */
    err = tx_commit(fs);
    if (!err && fs->scope_sync && fs->unsynced && (err = fs->d->flush(fs->c)) == 0)
      fs->unsynced = false;
    fs->scope_sync = false;
    unjoin(fs); /* joined: the owner's COMMIT applies what tx_commit wrote */
    return err;
  case CIS_VFS_SCOPE_ROLLBACK:
    fs->scoped = false;
    fs->scope_err = 0;
    fs->scope_sync = false;
    tx_abort(fs);
    unjoin(fs);
    return 0;
  default: return cis__vdb_fs_fail(fs, EINVAL, "unknown scope operation %d", op);
  }
}

static const cis_vfs_methods db_methods = {
    .version = CIS_VFS_METHODS_VERSION,
    .name = "db",
    .destroy = db_destroy,
    .root = db_root,
    .usage = db_usage,
    .lookup = db_lookup,
    .open = db_open,
    .mkdir = db_mkdir,
    .rmdir = db_rmdir,
    .unlink = db_unlink,
    .rename = db_rename,
    .symlink = db_symlink,
    .readlink = db_readlink,
    .link = db_link,
    .close = db_close,
    .stat = db_stat,
    .read = db_read,
    .write = db_write,
    .truncate = db_truncate,
    .set_times = db_set_times,
    .sync = db_sync,
    .readdir = db_readdir,
    .set_times_nofollow = db_set_times_nofollow,
    .scope = db_scope,
};

/* ============================================================ public API */

void cis_vfs_db_config_default(cis_vfs_db_config *c) {
  if (!c) return;
  memset(c, 0, sizeof *c);
  c->block_size = DEFAULT_BLOCK;
  c->op_timeout_ms = DEFAULT_TIMEOUT_MS;
}

/* The cis_result of a dialect's error number at construction. */
static cis_result ctor_result(int err) {
  switch (err) {
  case EINVAL: return CIS_EINVAL;
  case ENOMEM: return CIS_ENOMEM;
  case CIS_VFS_EDOWN: return CIS_EVFSDOWN;
  case ENOTSUP: return CIS_EUNSUPPORTED; /* the driver's library is missing; a newer schema */
  default: return CIS_EVFS;
  }
}

int cis__vdb_schema_fail(char *errmsg, const char *dialect, cis_result rc, const char *why) {
  int err = rc == CIS_EVFSDOWN || rc == CIS_ETIMEOUT ? CIS_VFS_EDOWN
            : rc == CIS_EUNSUPPORTED                  ? ENOTSUP
            : rc == CIS_ENOMEM                        ? ENOMEM
            : rc == CIS_EINVAL                        ? EINVAL
                                                      : EIO;
  return cis__vdb_fail(errmsg, dialect, err, "%s", why);
}

/* Finds the tenant's row, creating it with its base layer (holding the
 * root directory) and a writable top layer above when it is new. */
static int tenant_setup(vdb_fs *fs, const char *tenant, uint32_t block_size) {
  int err = fs->d->begin(fs->c, true);
  if (err) return err;
  cis__vdb_rows r;
  bool have;
  cis__vdb_val get[] = {S(tenant)};
  err = cis__vdb_first(fs, Q_TENANT_GET, get, NARGS(get), &r, &have);
  if (err) goto fail;
  if (!have) {
    fs->d->done(&r);
    cis__vdb_val add[] = {S(tenant), I(block_size)};
    err = cis__vdb_first(fs, Q_TENANT_ADD, add, NARGS(add), &r, &have);
    if (err) goto fail;
    if (have) { /* ours: lay out the base */
      fs->tenant = fs->d->col_int(&r, 0);
      fs->bs = block_size;
      fs->d->done(&r);
      uint64_t now = wall_ns();
      cis__vdb_val base[] = {I(fs->tenant), I(BASE_LAYER), I(0), S("base"), I((int64_t)now),
                             I(0)};
      cis__vdb_val top[] = {I(fs->tenant), I(BASE_LAYER + 1), I(BASE_LAYER), S(""),
                            I((int64_t)now), I(1)};
      err = cis__vdb_exec(fs, Q_LAYER_ADD, base, NARGS(base));
      if (!err) err = cis__vdb_exec(fs, Q_LAYER_ADD, top, NARGS(top));
      fs->top = BASE_LAYER;
      fs->next_ino = ROOT_INO;
      uint64_t root;
      if (!err) err = ino_new(fs, CIS_VFS_DIR, ROOT_INO, NULL, &root);
      if (err) goto fail;
      return fs->d->commit(fs->c);
    }
    /* Another connection created it meanwhile. */
    fs->d->done(&r);
    err = cis__vdb_first(fs, Q_TENANT_GET, get, NARGS(get), &r, &have);
    if (err) goto fail;
    if (!have) {
      fs->d->done(&r);
      err = cis__vdb_fs_fail(fs, EIO, "tenant row neither created nor found");
      goto fail;
    }
  }
  fs->tenant = fs->d->col_int(&r, 0);
  int64_t bs = fs->d->col_int(&r, 1);
  fs->d->done(&r);
  if (bs < (int64_t)MIN_BLOCK || bs > (int64_t)MAX_BLOCK) {
    err = cis__vdb_fs_fail(fs, EIO, "tenant has a block size of %lld", (long long)bs);
    goto fail;
  }
  fs->bs = (uint32_t)bs;
  return fs->d->commit(fs->c);
fail:
  fs->d->rollback(fs->c);
  return err;
}

/* The dialect and what it opens (a path, a connection string) for a
 * spec, as db/db.h reads specs: the target must be there. Errors:
 * CIS_EINVAL, CIS_ETOOBIG, the detail set with cis__vfs_set_ctor_error. */
static cis_result pick_dialect(const char *spec, const cis__vdb_dialect **d, const char **arg) {
  cis__db_spec db;
  char why[160];
  cis_result rc = cis__db_spec_parse(spec, CIS__DB_NO_DEFAULT, &db, why, sizeof why);
  if (rc != CIS_OK) {
    cis__vfs_set_ctor_error("db: %s", why);
    return rc;
  }
  *d = cis__vdb_dialect_of(db.dialect);
  *arg = db.target;
  return CIS_OK;
}

/* Checks the configuration, connects (the dialect migrates the schema:
 * src/db) and finds or makes the tenant. The backend owns its connection
 * and a one-block scratch buffer; the mount that takes it frees both
 * through destroy. Errors as in cis_vfs.h, the detail set with
 * cis__vfs_set_ctor_error (cis_vfs_db_new hands it out). */
static cis_result db_new(const cis_vfs_db_config *cfg, cis_vfs_backend **out) {
  if (out) *out = NULL;
  if (!cfg || !out || !cfg->spec) {
    cis__vfs_set_ctor_error("db: a configuration with a spec is required");
    return CIS_EINVAL;
  }
  const cis__vdb_dialect *d;
  const char *arg;
  cis_result rc = pick_dialect(cfg->spec, &d, &arg);
  if (rc != CIS_OK) return rc;
  size_t tlen = cfg->tenant ? strlen(cfg->tenant) : 0;
  if (tlen == 0 || tlen > 255) {
    cis__vfs_set_ctor_error("db: a tenant of 1..255 bytes is required");
    return CIS_EINVAL;
  }
  if (cfg->sync != CIS_VFS_DB_SYNC_NORMAL && cfg->sync != CIS_VFS_DB_SYNC_FULL) {
    cis__vfs_set_ctor_error("db: sync %u is neither CIS_VFS_DB_SYNC_NORMAL nor _FULL", cfg->sync);
    return CIS_EINVAL;
  }
  uint32_t bs = cfg->block_size ? cfg->block_size : DEFAULT_BLOCK;
  if (bs < MIN_BLOCK || bs > MAX_BLOCK) {
    cis__vfs_set_ctor_error("db: block_size %u outside %u..%u", bs, MIN_BLOCK, MAX_BLOCK);
    return CIS_EINVAL;
  }
  size_t glen = cfg->group ? strlen(cfg->group) : 0;
  if (cfg->group && (glen == 0 || glen > 255 || (unsigned char)cfg->group[glen - 1] == 0xff ||
                     strncmp(cfg->tenant, cfg->group, glen) != 0)) {
    cis__vfs_set_ctor_error("db: group must be 1..255 bytes, not end in byte 0xff, and begin the "
                            "tenant's name");
    return CIS_EINVAL;
  }

  vdb_fs *fs = calloc(1, sizeof *fs);
  if (!fs) {
    cis__vfs_set_ctor_error("db: out of memory");
    return CIS_ENOMEM;
  }
  fs->base.methods = &db_methods;
  fs->base.deadline_ns = UINT64_MAX; /* until a mount's wrappers pass one down */
  fs->d = d;
  /* Its database, kept for a join to ask "is this my database?". */
  if (!(fs->spec_text = strdup(cfg->spec))) {
    cis__vfs_set_ctor_error("db: out of memory");
    db_destroy(&fs->base);
    return CIS_ENOMEM;
  }
  (void)cis__db_spec_parse(fs->spec_text, CIS__DB_NO_DEFAULT, &fs->spec, NULL, 0); /* read once already */
  fs->timeout_ms = cfg->op_timeout_ms ? cfg->op_timeout_ms : DEFAULT_TIMEOUT_MS;
  fs->full_sync = cfg->sync == CIS_VFS_DB_SYNC_FULL;
  if (cfg->group && (cfg->group_max_bytes || cfg->group_max_nodes)) {
    fs->group = strdup(cfg->group);
    fs->group_end = strdup(cfg->group);
    if (!fs->group || !fs->group_end) {
      cis__vfs_set_ctor_error("db: out of memory");
      db_destroy(&fs->base);
      return CIS_ENOMEM;
    }
    fs->group_end[glen - 1]++;
    fs->group_max_bytes = cfg->group_max_bytes;
    fs->group_max_nodes = cfg->group_max_nodes;
  }
  int err = d->open(arg, fs->timeout_ms, fs->full_sync, fs->base.errmsg, &fs->c);
  if (!err) {
    d->arm(fs->c, fs->timeout_ms);
    err = tenant_setup(fs, cfg->tenant, bs);
  }
  if (!err && !(fs->blk = malloc(fs->bs))) err = cis__vdb_fs_fail(fs, ENOMEM, "out of memory");
  /* No keeper (no thread, no memory): the mount works without a lease. */
  if (!err && cfg->lease && d->lease) fs->lease = d->lease->start(fs->c, fs->tenant);
  if (err) {
    cis__vfs_set_ctor_error("db: %s", fs->base.errmsg);
    db_destroy(&fs->base);
    return ctor_result(err);
  }
  fs->base.errmsg[0] = '\0';
  *out = &fs->base;
  return CIS_OK;
}

/* The database backend of a mount, or NULL. */
vdb_fs *cis__vdb_fs_of(cis_vfs *mount) {
  cis_vfs_backend *b = mount ? cis__vfs_backend(mount) : NULL;
  return b && b->methods == &db_methods ? FS(b) : NULL;
}

/* Goes back to our own connection, out of the call's transaction. What
 * was cached came from the owner's transaction, which may yet roll back:
 * forgotten. */
static void unjoin(vdb_fs *fs) {
  cis__db_txn_leave(&fs->member);
  if (!fs->own) return;
  fs->d->close(fs->c);
  fs->c = fs->own;
  fs->own = NULL;
  fs->in_tx = false;
  fs->batch = NULL;
  fs->version = 0;
  cis__vdb_cache_clear(fs);
}

/* Made to leave by the owner's end, before its rollback (or a commit that
 * came before the scope's end): the scope's changes go with it, so its
 * end fails. */
static void member_leave(cis__db_txn_member *m) {
  vdb_fs *fs = (vdb_fs *)((char *)m - offsetof(vdb_fs, member));
  if (fs->scoped && !fs->scope_err) fs->scope_err = EIO;
  unjoin(fs);
}

static cis_result join(vdb_fs *fs, cis__db_txn *t) {
  if (fs->own || fs->member.txn) return cis__vdb_fs_fail(fs, CIS_EINVAL, "joined a transaction already");
  if (!fs->scoped || fs->scope_err || fs->in_tx)
    return cis__vdb_fs_fail(fs, CIS_EINVAL, "a join needs a scope open with no change made yet");
  cis__db_conn *conn;
  fs->member.leave = member_leave;
  cis_result rc = cis__db_txn_join(t, &fs->spec, &fs->member, &conn);
  if (rc != CIS_OK) {
    snprintf(fs->base.errmsg, sizeof fs->base.errmsg, "%s", cis__db_txn_errmsg(t)); /* its service's words */
    return rc;
  }
  cis__vdb_conn *b = NULL;
  int err = fs->d->borrow(conn, fs->base.errmsg, &b);
  if (err) {
    cis__db_txn_leave(&fs->member);
    return err == EINVAL ? CIS_EINVAL : CIS_ENOMEM;
  }
  fs->own = fs->c;
  fs->c = b;
  fs->version = 0; /* the owner's snapshot, not what our connection saw */
  cis__vdb_cache_clear(fs);
  /* The tree is held from here to the owner's end (the tenant's row, or
   * the database's write lock the owner's BEGIN took already): what the
   * scope reads cannot go stale, so a joined scope waits its turn instead
   * of failing with a conflict. */
  fs->gen_known = false;
  cis__vdb_arm(fs);
  err = cis__vdb_tx_begin(fs);
  if (err) {
    unjoin(fs);
    return cis_vfs_result(err);
  }
  return CIS_OK;
}

cis_result cis__vfs_db_join(cis_vfs *mount, cis__db_txn *t) {
  vdb_fs *fs = cis__vdb_fs_of(mount);
  if (!fs || !t) return CIS_EINVAL;
  fs->base.errmsg[0] = '\0';
  cis_result rc = join(fs, t);
  if (rc != CIS_OK) cis__vfs_take_backend_error(mount);
  return rc;
}

void cis__vfs_db_serve(cis_vfs *mount, const struct cis__callctx *ctx) {
  vdb_fs *fs = cis__vdb_fs_of(mount);
  cis__vdb_conn *own = fs ? (fs->own ? fs->own : fs->c) : NULL;
  if (own) cis__db_conn_set_call(fs->d->session(own), ctx);
}

cis_result cis__vfs_db_join_same(cis_vfs *mount, cis__db_txn *t) {
  vdb_fs *fs = cis__vdb_fs_of(mount);
  return fs && cis__db_txn_same(t, &fs->spec) ? cis__vfs_db_join(mount, t) : CIS_OK;
}

bool cis__vfs_db_joined(cis_vfs *mount) {
  vdb_fs *fs = cis__vdb_fs_of(mount);
  return fs && fs->own;
}

uint64_t cis__vfs_db_round_trips(cis_vfs *mount) {
  vdb_fs *fs = cis__vdb_fs_of(mount);
  return fs && fs->c && fs->d->trips ? fs->d->trips(fs->c) : 0;
}

bool cis__vfs_db_lease_counts(cis_vfs *mount, uint64_t *grants, uint64_t *given_back,
                              uint64_t *recalled) {
  vdb_fs *fs = cis__vdb_fs_of(mount);
  if (!fs) return false;
  *grants = *given_back = 0;
  if (fs->lease) fs->d->lease->counts(fs->lease, grants, given_back);
  *recalled = fs->nrecalls;
  return true;
}

uint64_t cis__vfs_db_usage_scans(cis_vfs *mount) {
  vdb_fs *fs = cis__vdb_fs_of(mount);
  return fs ? fs->nscans : 0;
}

bool cis__vfs_db_counts(cis_vfs *mount, uint64_t *statements, uint64_t *commits) {
  vdb_fs *fs = cis__vdb_fs_of(mount);
  if (!fs) return false;
  *statements = fs->nstmts;
  *commits = fs->ncommits;
  return true;
}

/* ---- directory times ---- */

/* A directory whose entries changed: its mtime and ctime move to now, as
 * POSIX says of a directory in which a name is made, removed or renamed.
 * The change rides on the node's cached metadata, written with the rest
 * before the commit. */
static int dir_touch(vdb_fs *fs, uint64_t dir) {
  vdb_inode in;
  int err = ino_get(fs, dir, &in);
  if (err) return err;
  in.mtim = in.ctim = wall_ns();
  return ino_put(fs, &in);
}

/* ---- tenants ---- */

/* A backend connected to cfg->spec without a tenant yet, for the calls on
 * a tenant by name. Errors as cis_vfs_db_new's, the detail set with
 * cis__vfs_set_ctor_error. */
static cis_result connect_only(const cis_vfs_db_config *cfg, vdb_fs **out) {
  *out = NULL;
  if (!cfg || !cfg->spec || !cfg->tenant || !*cfg->tenant || strlen(cfg->tenant) > 255) {
    cis__vfs_set_ctor_error("db: a spec and a tenant of 1..255 bytes are required");
    return CIS_EINVAL;
  }
  const cis__vdb_dialect *d;
  const char *arg;
  cis_result rc = pick_dialect(cfg->spec, &d, &arg);
  if (rc != CIS_OK) return rc;
  vdb_fs *fs = calloc(1, sizeof *fs);
  if (!fs) {
    cis__vfs_set_ctor_error("db: out of memory");
    return CIS_ENOMEM;
  }
  fs->base.methods = &db_methods;
  fs->base.deadline_ns = UINT64_MAX;
  fs->d = d;
  fs->timeout_ms = cfg->op_timeout_ms ? cfg->op_timeout_ms : DEFAULT_TIMEOUT_MS;
  int err = d->open(arg, fs->timeout_ms, cfg->sync == CIS_VFS_DB_SYNC_FULL, fs->base.errmsg,
                    &fs->c);
  if (err) {
    cis__vfs_set_ctor_error("db: %s", fs->base.errmsg);
    db_destroy(&fs->base);
    return ctor_result(err);
  }
  d->arm(fs->c, fs->timeout_ms);
  *out = fs;
  return CIS_OK;
}

/* Finds tenant `name` (open transaction): *have, and fs->tenant. */
static int tenant_find(vdb_fs *fs, const char *name, bool *have) {
  cis__vdb_val get[] = {S(name)};
  cis__vdb_rows r;
  int err = cis__vdb_first(fs, Q_TENANT_GET, get, NARGS(get), &r, have);
  if (err) return err;
  if (*have) fs->tenant = fs->d->col_int(&r, 0);
  fs->d->done(&r);
  return 0;
}

static cis_result tenant_fail(vdb_fs *fs, int err) {
  cis__vfs_set_ctor_error("db: %s", fs->base.errmsg);
  fs->d->rollback(fs->c);
  db_destroy(&fs->base);
  return ctor_result(err);
}

cis_result cis_vfs_db_group_usage(cis_vfs_backend *b, const char *prefix, uint64_t *bytes, uint64_t *nodes) {
  if (bytes) *bytes = 0;
  if (nodes) *nodes = 0;
  if (!b || b->methods != &db_methods || !prefix || !*prefix || !bytes || !nodes) {
    if (b) snprintf(b->errmsg, sizeof b->errmsg, "db: group usage: not a database backend, or no prefix");
    return CIS_EINVAL;
  }
  vdb_fs *fs = FS(b);
  /* The names in [prefix, its successor): the prefix with its last byte
   * raised (a byte 0xff has none: such a prefix is refused). */
  size_t n = strlen(prefix);
  char *upto = strdup(prefix);
  if (!upto) return CIS_ENOMEM;
  if ((unsigned char)upto[n - 1] == 0xff) {
    free(upto);
    snprintf(b->errmsg, sizeof b->errmsg, "db: group usage: a prefix may not end in byte 0xff");
    return CIS_EINVAL;
  }
  upto[n - 1]++;
  cis__vdb_arm(fs);
  cis__vdb_val a[] = {S(prefix), S(upto)};
  cis__vdb_rows r;
  bool have = false;
  int err = settle_read(fs, NULL);
  if (!err && fs->in_tx) err = cis__vdb_cache_flush(fs);
  if (!err) err = cis__vdb_first(fs, Q_GROUP_SUM, a, NARGS(a), &r, &have);
  free(upto);
  if (err) return cis_vfs_result(err);
  if (have) {
    int64_t k = fs->d->col_int(&r, 0), sz = fs->d->col_int(&r, 1);
    *nodes = k > 0 ? (uint64_t)k : 0;
    *bytes = sz > 0 ? (uint64_t)sz : 0;
  }
  fs->d->done(&r);
  return CIS_OK;
}

static cis_result tenant_exists(const cis_vfs_db_config *cfg, bool *exists) {
  if (exists) *exists = false;
  vdb_fs *fs;
  cis_result rc = connect_only(cfg, &fs);
  if (rc != CIS_OK) return rc;
  bool have = false;
  int err = fs->d->begin(fs->c, false);
  if (!err) err = tenant_find(fs, cfg->tenant, &have);
  if (err) return tenant_fail(fs, err);
  fs->d->rollback(fs->c);
  db_destroy(&fs->base);
  if (exists) *exists = have;
  return CIS_OK;
}

static cis_result tenant_delete(const cis_vfs_db_config *cfg) {
  vdb_fs *fs;
  cis_result rc = connect_only(cfg, &fs);
  if (rc != CIS_OK) return rc;
  bool have = false;
  int err = fs->d->begin(fs->c, true);
  if (!err) err = tenant_find(fs, cfg->tenant, &have);
  if (!err && !have) {
    fs->d->rollback(fs->c);
    cis__vfs_set_ctor_error("db: no tenant \"%.255s\" in the database", cfg->tenant);
    db_destroy(&fs->base);
    return CIS_ENOTFOUND;
  }
  cis__vdb_val a[] = {I(fs->tenant)};
  if (!err) { /* waits for the tenant's writers (its row lock, and a lease recalled) */
    cis__vdb_rows r;
    bool locked;
    err = tenant_lock(fs, &r, &locked);
    if (!err) fs->d->done(&r);
  }
  static const int drops[] = {L_DEL_BLOCKS, L_DEL_INODES, L_DEL_ENTRIES, L_DEL_LAYERS,
                              L_DEL_TENANT};
  for (size_t i = 0; i < CIS_ARRAY_LEN(drops) && !err; i++) {
    cis__vdb_rows r;
    err = cis__vdb_query(fs, L_ID(drops[i]), &cis__vdb_layer_stmts[drops[i]], a, NARGS(a), &r);
    fs->d->done(&r);
  }
  if (!err) err = fs->d->commit(fs->c);
  if (err) return tenant_fail(fs, err);
  db_destroy(&fs->base);
  return CIS_OK;
}

/* A name of tenant_list's, copied (malloc'd) until they are packed. */
typedef struct name_list {
  char **v;      /* the names */
  size_t n, cap; /* used, slots */
} name_list;

static void name_list_free(name_list *l) {
  for (size_t i = 0; i < l->n; i++) free(l->v[i]);
  free(l->v);
}

/* The names of the trees in [prefix, its successor) after `after`, one
 * page of max + 1 (the last only says whether more follow), packed into
 * one allocation. */
static cis_result tenant_list(const cis_vfs_db_config *cfg, const char *prefix, const char *after, size_t max,
                              char ***names, size_t *n, bool *more) {
  if (names) *names = NULL;
  if (n) *n = 0;
  if (more) *more = false;
  size_t plen = prefix ? strlen(prefix) : 0;
  if (!cfg || !names || !n || !plen || plen > 255 || (unsigned char)prefix[plen - 1] == 0xff) {
    cis__vfs_set_ctor_error("db: tenant list: a prefix of 1..255 bytes, not ending in byte 0xff, and outputs "
                            "are required");
    return CIS_EINVAL;
  }
  if (max == 0) max = 1000;
  if (max > 1000000) max = 1000000;
  cis_vfs_db_config c = *cfg;
  c.tenant = prefix; /* connect_only's check; no tenant is looked up */
  vdb_fs *fs;
  cis_result rc = connect_only(&c, &fs);
  if (rc != CIS_OK) return rc;
  char upto[256];
  memcpy(upto, prefix, plen + 1);
  upto[plen - 1]++;
  cis__vdb_val a[] = {S(prefix), S(upto), after ? S(after) : B("", 0), I((int64_t)max + 1)};
  name_list got = {0};
  cis__vdb_rows r;
  memset(&r, 0, sizeof r);
  int err = fs->d->begin(fs->c, false);
  if (!err) err = cis__vdb_query(fs, L_ID(L_TENANT_LIST), &cis__vdb_layer_stmts[L_TENANT_LIST], a, NARGS(a), &r);
  bool have = false;
  while (!err && !(err = fs->d->step(&r, &have)) && have) {
    size_t len = 0;
    const char *v = fs->d->col_blob(&r, 0, &len);
    if (!v || memchr(v, 0, len)) continue; /* not a name cis_vfs_db_new takes */
    if (got.n == got.cap) {
      size_t cap = got.cap ? 2 * got.cap : 16;
      char **grown = realloc(got.v, cap * sizeof *grown);
      if (!grown) err = ENOMEM;
      else got.v = grown, got.cap = cap;
    }
    char *copy = err ? NULL : malloc(len + 1);
    if (!copy) {
      err = ENOMEM;
      snprintf(fs->base.errmsg, sizeof fs->base.errmsg, "out of memory");
      break;
    }
    memcpy(copy, v, len);
    copy[len] = '\0';
    got.v[got.n++] = copy;
  }
  fs->d->done(&r);
  if (err) {
    name_list_free(&got);
    return tenant_fail(fs, err);
  }
  fs->d->rollback(fs->c);
  db_destroy(&fs->base);
  if (got.n > max) {
    free(got.v[--got.n]);
    if (more) *more = true;
  }
  size_t bytes = (got.n + 1) * sizeof(char *);
  for (size_t i = 0; i < got.n; i++) bytes += strlen(got.v[i]) + 1;
  char **out = got.n ? malloc(bytes) : NULL;
  if (got.n && !out) {
    name_list_free(&got);
    cis__vfs_set_ctor_error("db: out of memory");
    return CIS_ENOMEM;
  }
  char *text = out ? (char *)(out + got.n + 1) : NULL;
  for (size_t i = 0; i < got.n; i++) {
    size_t len = strlen(got.v[i]) + 1;
    memcpy(text, got.v[i], len);
    out[i] = text;
    text += len;
  }
  if (out) out[got.n] = NULL;
  *names = out;
  *n = got.n;
  name_list_free(&got);
  return CIS_OK;
}

/* The public calls: a failure's detail goes to a failed backend, or to the
 * thread's message of a call without a handle (cis.h, "Errors"). */
cis_result cis_vfs_db_new(const cis_vfs_db_config *cfg, cis_vfs_backend **out) {
  if (!out) return CIS_EINVAL;
  cis_result rc = db_new(cfg, out);
  return rc == CIS_OK ? rc : cis__vfs_backend_failed(rc, out);
}

cis_result cis_vfs_db_tenant_exists(const cis_vfs_db_config *cfg, bool *exists) {
  return cis__vfs_no_handle(tenant_exists(cfg, exists));
}

cis_result cis_vfs_db_tenant_delete(const cis_vfs_db_config *cfg) {
  return cis__vfs_no_handle(tenant_delete(cfg));
}

cis_result cis_vfs_db_tenant_list(const cis_vfs_db_config *cfg, const char *prefix, const char *after, size_t max,
                                  char ***names, size_t *n, bool *more) {
  return cis__vfs_no_handle(tenant_list(cfg, prefix, after, max, names, n, more));
}
