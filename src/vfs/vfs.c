/*
 * This file implements the mounts and files of the virtual filesystem
 * (include/cis/cis_vfs.h): the wrappers that are the only code between
 * callers and a backend's method table. Path resolution and the sandbox,
 * read-only mounts, quotas, fault injection and call counting live here
 * and nowhere else; backends only ever see one component relative to a
 * directory node the wrappers opened through them.
 *
 * Resolution walks a path component by component, keeping a stack of the
 * directory nodes it opened (the base at the bottom), so ".." pops and can
 * never go below the base. Symlinks met on the way are read with the
 * backend's readlink and spliced into the rest of the path. Nodes are held
 * through a small reference-counted vnode, so a path that names a
 * directory already on the stack ("." or "a/..") can become a file
 * without asking the backend to reopen it.
 *
 * Quotas: the mount reads the backend's usage once (at mount when it has
 * a quota, else when cis_vfs_usage first asks), then tracks every change
 * itself, and refuses a change that would pass a quota before the backend
 * sees it. A hard link counts nothing (it is no new node and no new
 * bytes). A regular file unlinked while it is open keeps its node and bytes
 * until the last file open on it closes, as the storage does.
 *
 * Depth: every file knows how many directory levels below the root its
 * node was when it was opened (the root 0), and a resolution counts from
 * its base's level, so mkdirat and renameat can refuse a directory below
 * max_depth however short the path that names it (a guest walking
 * directory descriptors). Nothing here recurses over a tree.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/callctx.h"
#include "common/internal.h"
#include "vfs/vfs_call.h"
#include "vfs/vfs_internal.h"
#include "vfs/vfs_testing.h"

/* A backend node shared by the files and resolution stacks that hold it. */
typedef struct vfs_vnode {
  cis_vfs_node *n; /* the backend's node; closed when refs drops to 0 */
  uint32_t refs;   /* holders: files plus walk stacks */
} vfs_vnode;

struct cis_vfs {
  cis__handle h;               /* h.errmsg: detail of the last failure, "" when none;
                                  h.failed: cis_vfs_mount failed (a shell, b NULL) */
  cis_vfs_backend *b;          /* the backend, owned */
  const cis_vfs_methods *m;    /* b->methods, checked at mount */
  const char *name;            /* the backend's name for messages ("backend" when it has none) */
  cis_vfs_options opts;        /* as given to cis_vfs_mount, max_depth defaulted */
  bool counted;                /* bytes and nodes hold the usage (read once: at mount
                                  with a quota, else on the first cis_vfs_usage) */
  uint64_t bytes;              /* bytes in regular files, as the quotas count them */
  uint64_t nodes;              /* nodes of every kind (root excluded) */
  uint64_t calls;              /* backend method calls so far */
  uint32_t fault_skip;         /* backend calls to let through before injecting */
  uint32_t fault_count;        /* backend calls still to fail */
  int fault_err;               /* what they fail with */
  size_t nfiles;               /* files open now */
  cis_vfs_file *files;         /* those files, a doubly linked list (for unmount) */
  uint64_t deadline_ns;        /* backend work must end by then (cis_vfs_set_timeout) */
  const cis__callctx *ctx;     /* the call it is bound to (cis__vfs_bind_call), whose
                                  deadline and cancel rule instead; NULL = none */
  bool in_scope;               /* between cis_vfs_scope_begin and _end */
  uint64_t quota_refused;      /* changes refused for a quota since the mount */
  char quota_first[256];       /* the first one's detail: which quota, use and limit */
};

struct cis_vfs_file {
  cis_vfs *fs;         /* the mount; NULL once it was unmounted under the file */
  vfs_vnode *v;        /* the node; NULL once detached */
  uint32_t flags;      /* CIS_VFS_READ/WRITE/... it was opened with */
  cis_vfs_type type;   /* kind of node, from the stat at open */
  uint64_t dev;        /* the node's dev, with ino: finds the files open on an inode */
  uint64_t ino;        /* the node's ino */
  uint64_t depth;      /* directory levels between the root and the node at open */
  bool orphan;         /* its last link went while it was open: the close frees it */
  cis_vfs_file *prev;  /* the previous file in fs->files */
  cis_vfs_file *next;  /* the next file in fs->files */
};

/* ---------------------------------------------------------------- errors */

/* A backend constructor's failure, until the public call hands it out in
 * a failed backend (cis__vfs_backend_failed) or as the thread's message
 * of a call without a handle (cis__vfs_no_handle). */
static _Thread_local char ctor_errmsg[CIS_ERRMSG_MAX];

void cis__vfs_set_ctor_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ctor_errmsg, sizeof ctor_errmsg, fmt, ap);
  va_end(ap);
}

/* A backend whose constructor failed: its message in base.errmsg, its
 * code for the mount that takes it. Only destroy is called on it. */
typedef struct failed_backend {
  cis_vfs_backend base;  /* methods: &failed_methods */
  cis_result code;       /* what the constructor returned */
} failed_backend;

static void failed_destroy(cis_vfs_backend *b) { free(b); }

static const cis_vfs_methods failed_methods = {.version = 1, .name = "failed", .destroy = failed_destroy};

cis_result cis__vfs_backend_failed(cis_result code, cis_vfs_backend **out) {
  failed_backend *f = calloc(1, sizeof *f);
  *out = f ? &f->base : NULL;
  if (!f) return CIS_ENOMEM;
  f->base.methods = &failed_methods;
  f->base.deadline_ns = UINT64_MAX;
  f->code = code;
  snprintf(f->base.errmsg, sizeof f->base.errmsg, "%.*s", CIS_VFS_ERRMSG_MAX - 1,
           ctor_errmsg[0] ? ctor_errmsg : cis_strerror(code));
  ctor_errmsg[0] = '\0';
  return code;
}

cis_result cis__vfs_no_handle(cis_result code) {
  if (code != CIS_OK) cis__fail(&cis__no_handle, code, "%s", ctor_errmsg[0] ? ctor_errmsg : cis_strerror(code));
  ctor_errmsg[0] = '\0';
  return code;
}

bool cis__vfs_failed(const cis_vfs *fs) { return fs && fs->h.failed; }

const char *cis_vfs_errmsg(const cis_vfs *fs) { return fs ? fs->h.errmsg : ""; }

cis_result cis_vfs_result(int err) {
  switch (err) {
  case 0: return CIS_OK;
  case CIS_VFS_ENOTCAPABLE: return CIS_EPATH;
  case CIS_VFS_EDOWN: return CIS_EVFSDOWN;
  case CIS_VFS_ECONFLICT: return CIS_EVFSCONFLICT;
  case EROFS: return CIS_EROFS;
  case EDQUOT:
  case ENOSPC: return CIS_EQUOTA;
  case ENOENT: return CIS_ENOTFOUND;
  case EEXIST: return CIS_EEXIST;
  case EINVAL:
  case ENAMETOOLONG: return CIS_EINVAL;
  case ENOMEM: return CIS_ENOMEM;
  case ECANCELED: return CIS_ECANCELED;
  default: return CIS_EVFS;
  }
}

/* strerror that also knows the two cis-only error numbers. */
static const char *err_text(int err) {
  if (err == CIS_VFS_ENOTCAPABLE) return "path leaves its base directory";
  if (err == CIS_VFS_ECONFLICT) return "changed by a concurrent writer";
  if (err == CIS_VFS_EDOWN) return "storage unreachable";
  return strerror(err);
}

static int vfs_fail(cis_vfs *fs, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Records the detail of a failure on fs (when there is one) and returns
 * err, so refusals read `return vfs_fail(fs, EROFS, "...")`. */
static int vfs_fail(cis_vfs *fs, int err, const char *fmt, ...) {
  if (fs && !fs->h.failed) { /* a failed mount keeps why it failed */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fs->h.errmsg, sizeof fs->h.errmsg, fmt, ap);
    va_end(ap);
  }
  return err;
}

/* At most this much of a guest path is quoted in a message. */
#define QUOTE_MAX 200

/* ---------------------------------------------------- backend call wrappers */

/* Counts one backend call and applies fault injection: returns 0 to go on,
 * or the injected error (with its message) to return without calling. */
/* The deadline of the mount's next backend step: its bound call's (read
 * now, so nothing re-arms it per call; 0 once cancelled), else the one
 * cis_vfs_set_timeout set. */
static uint64_t step_deadline(const cis_vfs *fs) {
  return fs->ctx ? cis__callctx_deadline(fs->ctx) : fs->deadline_ns;
}

static int enter(cis_vfs *fs, const char *what, const char *name) {
  /* A cancelled call's step does not reach the backend. */
  if (fs->ctx && atomic_load_explicit(&fs->ctx->cancel, memory_order_relaxed)) {
    if (name) return vfs_fail(fs, ECANCELED, "%s: %s '%s': the call was cancelled", fs->name, what, name);
    return vfs_fail(fs, ECANCELED, "%s: %s: the call was cancelled", fs->name, what);
  }
  fs->calls++;
  fs->b->errmsg[0] = '\0';
  fs->b->deadline_ns = step_deadline(fs);
  if (fs->fault_count) {
    if (fs->fault_skip) {
      fs->fault_skip--;
    } else {
      fs->fault_count--;
      if (name)
        return vfs_fail(fs, fs->fault_err, "%s: %s '%s': injected fault (%s)", fs->name, what,
                        name, err_text(fs->fault_err));
      return vfs_fail(fs, fs->fault_err, "%s: %s: injected fault (%s)", fs->name, what,
                      err_text(fs->fault_err));
    }
  }
  return 0;
}

/* Turns a backend method's result into the caller's: 0 or a positive error
 * number. A negative result (a backend that returned a cis_result by
 * mistake) becomes EIO. Copies the backend's detail into fs->h.errmsg. */
static int leave(cis_vfs *fs, const char *what, const char *name, int err) {
  if (err == 0) return 0;
  if (err < 0)
    return vfs_fail(fs, EIO, "%s: %s: backend returned %d, not an error number", fs->name, what,
                    err);
  const char *detail = fs->b->errmsg[0] ? fs->b->errmsg : err_text(err);
  if (name) return vfs_fail(fs, err, "%s: %s '%s': %s", fs->name, what, name, detail);
  return vfs_fail(fs, err, "%s: %s: %s", fs->name, what, detail);
}

static int bk_usage(cis_vfs *fs, uint64_t *bytes, uint64_t *nodes) {
  int e = enter(fs, "usage", NULL);
  return e ? e : leave(fs, "usage", NULL, fs->m->usage(fs->b, bytes, nodes));
}

static int bk_root(cis_vfs *fs, cis_vfs_node **out) {
  *out = NULL;
  int e = enter(fs, "root", NULL);
  if (e) return e;
  e = leave(fs, "root", NULL, fs->m->root(fs->b, out));
  if (e == 0 && !*out) e = vfs_fail(fs, EIO, "%s: root returned no node", fs->name);
  return e;
}

/* lookup as tables before version 4 declare it (no flags). */
typedef int (*lookup_v3_fn)(cis_vfs_backend *b, cis_vfs_node *dir, const char *name,
                            cis_vfs_stat *st);

static int bk_lookup(cis_vfs *fs, vfs_vnode *dir, const char *name, uint32_t flags,
                     cis_vfs_stat *st) {
  memset(st, 0, sizeof *st);
  int e = enter(fs, "lookup", name);
  if (e) return e;
  /* An older table's pointer is called through the type it was made with
   * (converted through void (*)(void), which C allows between any two). */
  e = fs->m->version >= 4
          ? fs->m->lookup(fs->b, dir->n, name, flags, st)
          : ((lookup_v3_fn)(void (*)(void))fs->m->lookup)(fs->b, dir->n, name, st);
  return leave(fs, "lookup", name, e);
}

static int bk_open(cis_vfs *fs, vfs_vnode *dir, const char *name, uint32_t flags,
                   cis_vfs_node **out) {
  *out = NULL;
  int e = enter(fs, "open", name);
  if (e) return e;
  e = leave(fs, "open", name, fs->m->open(fs->b, dir->n, name, flags, out));
  if (e == 0 && !*out) e = vfs_fail(fs, EIO, "%s: open '%s' returned no node", fs->name, name);
  if (e && *out) { /* a backend that failed but handed a node anyway */
    fs->m->close(fs->b, *out);
    *out = NULL;
  }
  return e;
}

static int bk_mkdir(cis_vfs *fs, vfs_vnode *dir, const char *name) {
  int e = enter(fs, "mkdir", name);
  return e ? e : leave(fs, "mkdir", name, fs->m->mkdir(fs->b, dir->n, name));
}

static int bk_rmdir(cis_vfs *fs, vfs_vnode *dir, const char *name) {
  int e = enter(fs, "rmdir", name);
  return e ? e : leave(fs, "rmdir", name, fs->m->rmdir(fs->b, dir->n, name));
}

static int bk_unlink(cis_vfs *fs, vfs_vnode *dir, const char *name) {
  int e = enter(fs, "unlink", name);
  return e ? e : leave(fs, "unlink", name, fs->m->unlink(fs->b, dir->n, name));
}

static int bk_rename(cis_vfs *fs, vfs_vnode *od, const char *on, vfs_vnode *nd, const char *nn) {
  int e = enter(fs, "rename", on);
  return e ? e : leave(fs, "rename", on, fs->m->rename(fs->b, od->n, on, nd->n, nn));
}

static int bk_symlink(cis_vfs *fs, vfs_vnode *dir, const char *name, const char *target) {
  int e = enter(fs, "symlink", name);
  return e ? e : leave(fs, "symlink", name, fs->m->symlink(fs->b, dir->n, name, target));
}

static int bk_readlink(cis_vfs *fs, vfs_vnode *dir, const char *name, char *buf, size_t cap,
                       size_t *len) {
  *len = 0;
  int e = enter(fs, "readlink", name);
  if (e) return e;
  e = fs->m->readlink(fs->b, dir->n, name, buf, cap, len);
  if (e == ERANGE) return ERANGE; /* expected: the caller says what it needs */
  e = leave(fs, "readlink", name, e);
  if (e == 0 && *len > cap)
    e = vfs_fail(fs, EIO, "%s: readlink '%s' overran its buffer", fs->name, name);
  return e;
}

static int bk_link(cis_vfs *fs, vfs_vnode *od, const char *on, vfs_vnode *nd, const char *nn) {
  int e = enter(fs, "link", on);
  return e ? e : leave(fs, "link", on, fs->m->link(fs->b, od->n, on, nd->n, nn));
}

/* close cannot fail, so it is counted but never has a fault injected. */
static void bk_close(cis_vfs *fs, cis_vfs_node *n) {
  fs->calls++;
  fs->m->close(fs->b, n);
}

static int bk_stat(cis_vfs *fs, vfs_vnode *v, cis_vfs_stat *st) {
  memset(st, 0, sizeof *st);
  int e = enter(fs, "stat", NULL);
  return e ? e : leave(fs, "stat", NULL, fs->m->stat(fs->b, v->n, st));
}

static int bk_read(cis_vfs *fs, vfs_vnode *v, void *buf, size_t len, uint64_t off, size_t *got) {
  *got = 0;
  int e = enter(fs, "read", NULL);
  if (e) return e;
  e = leave(fs, "read", NULL, fs->m->read(fs->b, v->n, buf, len, off, got));
  if (e == 0 && *got > len) e = vfs_fail(fs, EIO, "%s: read overran its buffer", fs->name);
  return e;
}

static int bk_write(cis_vfs *fs, vfs_vnode *v, const void *buf, size_t len, uint64_t off,
                    size_t *put) {
  *put = 0;
  int e = enter(fs, "write", NULL);
  return e ? e : leave(fs, "write", NULL, fs->m->write(fs->b, v->n, buf, len, off, put));
}

static int bk_truncate(cis_vfs *fs, vfs_vnode *v, uint64_t size) {
  int e = enter(fs, "truncate", NULL);
  return e ? e : leave(fs, "truncate", NULL, fs->m->truncate(fs->b, v->n, size));
}

static int bk_set_times(cis_vfs *fs, vfs_vnode *v, uint64_t atim, uint64_t mtim, uint32_t fl) {
  int e = enter(fs, "set_times", NULL);
  return e ? e : leave(fs, "set_times", NULL, fs->m->set_times(fs->b, v->n, atim, mtim, fl));
}

/* ENOTSUP when the backend has no set_times_nofollow (a version-1 table
 * ends before it, so it is read only from version 2 on). */
static int bk_set_times_nofollow(cis_vfs *fs, vfs_vnode *dir, const char *name, uint64_t atim,
                                 uint64_t mtim, uint32_t fl) {
  if (fs->m->version < 2 || !fs->m->set_times_nofollow)
    return vfs_fail(fs, ENOTSUP, "%s: the times of symlink '%s' itself cannot be set", fs->name,
                    name);
  int e = enter(fs, "set_times_nofollow", name);
  return e ? e
           : leave(fs, "set_times_nofollow", name,
                   fs->m->set_times_nofollow(fs->b, dir->n, name, atim, mtim, fl));
}

static int bk_sync(cis_vfs *fs, vfs_vnode *v) {
  int e = enter(fs, "sync", NULL);
  return e ? e : leave(fs, "sync", NULL, fs->m->sync(fs->b, v->n));
}

static int bk_readdir(cis_vfs *fs, vfs_vnode *v, uint64_t cookie, cis_vfs_dirent *ent) {
  int e = enter(fs, "readdir", NULL);
  if (e) return e;
  e = fs->m->readdir(fs->b, v->n, cookie, ent);
  if (e == ENOENT) return ENOENT; /* the end of the listing, not a failure */
  return leave(fs, "readdir", NULL, e);
}

/* ---------------------------------------------------------------- vnodes */

/* Wraps a node the backend just opened; closes it when out of memory. */
static int vnode_new(cis_vfs *fs, cis_vfs_node *n, vfs_vnode **out) {
  vfs_vnode *v = malloc(sizeof *v);
  if (!v) {
    bk_close(fs, n);
    return vfs_fail(fs, ENOMEM, "out of memory");
  }
  v->n = n;
  v->refs = 1;
  *out = v;
  return 0;
}

static vfs_vnode *vnode_ref(vfs_vnode *v) {
  v->refs++;
  return v;
}

static void vnode_put(cis_vfs *fs, vfs_vnode *v) {
  if (v && --v->refs == 0) {
    bk_close(fs, v->n);
    free(v);
  }
}

/* ------------------------------------------------------------------ usage */

static void usage_sub(cis_vfs *fs, uint64_t bytes, uint64_t nodes) {
  fs->bytes = fs->bytes > bytes ? fs->bytes - bytes : 0;
  fs->nodes = fs->nodes > nodes ? fs->nodes - nodes : 0;
}

/* Counts a change refused for a quota, keeping the first one's detail
 * (already in errmsg) for the host's log (cis_vfs_quota_refusals): the
 * guest sees only EDQUOT, and a guest retrying in a loop must not make
 * one log line per try. Returns EDQUOT. */
static int quota_refused(cis_vfs *fs) {
  if (fs->quota_refused++ == 0) snprintf(fs->quota_first, sizeof fs->quota_first, "%.255s", fs->h.errmsg);
  return EDQUOT;
}

/* EDQUOT unless `more` new nodes fit in max_files; not counted as a
 * refusal (the caller may still find the change is no new node). */
static int over_nodes(cis_vfs *fs, uint64_t more, const char *what) {
  if ((fs->opts.max_files || fs->opts.zero_means_full) && fs->nodes + more > fs->opts.max_files)
    return vfs_fail(fs, EDQUOT, "%s: the mount holds %llu of max_files %llu nodes", what,
                    (unsigned long long)fs->nodes, (unsigned long long)fs->opts.max_files);
  return 0;
}

/* EDQUOT, counted as a refusal, unless `more` new nodes fit in max_files. */
static int quota_nodes(cis_vfs *fs, uint64_t more, const char *what) {
  return over_nodes(fs, more, what) ? quota_refused(fs) : 0;
}

/* EDQUOT unless `more` bytes fit in max_bytes; not counted as a refusal. */
static int over_bytes(cis_vfs *fs, uint64_t more, const char *what) {
  if (more == 0) return 0; /* never refuse what does not grow, even above a lowered quota */
  if ((fs->opts.max_bytes || fs->opts.zero_means_full) && (more > fs->opts.max_bytes || fs->bytes > fs->opts.max_bytes - more))
    return vfs_fail(fs, EDQUOT, "%s: %llu more bytes would pass max_bytes %llu (%llu in use)",
                    what, (unsigned long long)more, (unsigned long long)fs->opts.max_bytes,
                    (unsigned long long)fs->bytes);
  return 0;
}

/* EDQUOT, counted as a refusal, unless `more` bytes fit in max_bytes. */
static int quota_bytes(cis_vfs *fs, uint64_t more, const char *what) {
  return over_bytes(fs, more, what) ? quota_refused(fs) : 0;
}

int cis__vfs_quota_check(cis_vfs *fs, uint64_t bytes, uint64_t nodes, const char *what) {
  if (!fs->counted) return 0; /* no quota: the usage was never needed */
  int e = nodes > fs->nodes ? over_nodes(fs, nodes - fs->nodes, what) : 0;
  return e ? e : bytes > fs->bytes ? over_bytes(fs, bytes - fs->bytes, what) : 0;
}

uint64_t cis_vfs_quota_refusals(const cis_vfs *fs, char *first, size_t cap) {
  if (first && cap) snprintf(first, cap, "%s", fs && fs->quota_refused ? fs->quota_first : "");
  return fs ? fs->quota_refused : 0;
}

/* The last link of the node described by st went away (unlink, rename
 * over it). A regular file still open somewhere keeps its node and bytes:
 * those files are marked, and the last of them to close frees them. */
static void node_gone(cis_vfs *fs, const cis_vfs_stat *st) {
  if (st->type == CIS_VFS_REG) {
    bool open = false;
    for (cis_vfs_file *f = fs->files; f; f = f->next) {
      if (f->dev == st->dev && f->ino == st->ino) {
        f->orphan = true;
        open = true;
      }
    }
    if (open) return;
  }
  usage_sub(fs, st->type == CIS_VFS_REG ? st->size : 0, 1);
}

/* ---------------------------------------------------------------- mounts */

cis_result cis_vfs_mount(cis_vfs_backend *b, const cis_vfs_options *opts, cis_vfs **out) {
  const cis_vfs_methods *m = b ? b->methods : NULL;
  if (!out) {
    if (m && m->destroy) m->destroy(b);
    return CIS_EINVAL;
  }
  cis_vfs *fs = *out = calloc(1, sizeof *fs);
  if (!fs) {
    if (m && m->destroy) m->destroy(b);
    return CIS_ENOMEM;
  }
  cis__handle_init(&fs->h, CIS__H_OTHER);
  cis_result rc = CIS_OK;
  if (!b) {
    rc = CIS_EINVAL;
    vfs_fail(fs, EINVAL, "vfs: mount of a NULL backend");
    goto fail;
  }
  if (m == &failed_methods) { /* a constructor's failure, passed on */
    rc = ((failed_backend *)b)->code;
    vfs_fail(fs, EINVAL, "%s", b->errmsg);
    goto fail;
  }
  if (!m || m->version < 1 || !m->destroy || !m->root || !m->usage || !m->lookup || !m->open || !m->mkdir ||
      !m->rmdir || !m->unlink || !m->rename || !m->symlink || !m->readlink || !m->link || !m->close ||
      !m->stat || !m->read || !m->write || !m->truncate || !m->set_times || !m->sync || !m->readdir) {
    rc = CIS_EINVAL;
    vfs_fail(fs, EINVAL, "vfs: %s", !m || m->version < 1 ? "backend method table has no version"
                                                          : "backend method table lacks a method");
    goto fail;
  }
  fs->b = b;
  fs->deadline_ns = UINT64_MAX;
  b->deadline_ns = UINT64_MAX;
  fs->m = m;
  fs->name = m->name ? m->name : "backend";
  if (opts) fs->opts = *opts;
  if (!fs->opts.max_depth) fs->opts.max_depth = CIS_VFS_DEFAULT_MAX_DEPTH;
  b->max_depth = fs->opts.max_depth;
  /* Only a quota needs the usage now; reading it can mean walking a whole
   * host tree. */
  if (fs->opts.max_bytes || fs->opts.max_files || fs->opts.zero_means_full) {
    int e = bk_usage(fs, &fs->bytes, &fs->nodes);
    if (e) {
      char why[CIS_ERRMSG_MAX];
      snprintf(why, sizeof why, "%s", fs->h.errmsg);
      rc = cis_vfs_result(e);
      vfs_fail(fs, e, "vfs: mount: %s", why);
      goto fail;
    }
    fs->counted = true;
  }
  return CIS_OK;
fail:
  /* The mount owns the backend, also on failure. */
  if (m && m->destroy) m->destroy(b);
  fs->b = NULL;
  fs->m = NULL;
  return cis__handle_failed(&fs->h, rc);
}

void cis_vfs_unmount(cis_vfs *fs) {
  if (!fs) return;
  if (fs->h.failed) { /* a shell: its backend went at the mount */
    free(fs);
    return;
  }
  /* Files still open are detached, not freed: their owner still holds the
   * pointers, and every later call on them fails with EBADF until
   * cis_vfs_close frees them. Their nodes close now, as the backend's
   * destroy requires. */
  cis_vfs_file *f = fs->files;
  while (f) {
    cis_vfs_file *next = f->next;
    vnode_put(fs, f->v);
    f->v = NULL;
    f->fs = NULL;
    f->prev = f->next = NULL;
    f = next;
  }
  fs->m->destroy(fs->b);
  free(fs);
}

/* Reads the backend's usage for a mount that has not counted yet, and
 * adds what the storage no longer holds but the mount still counts: the
 * regular files unlinked while open (each inode once). */
static int count_usage(cis_vfs *fs) {
  uint64_t bytes = 0, nodes = 0;
  int e = bk_usage(fs, &bytes, &nodes);
  if (e) return e;
  for (cis_vfs_file *f = fs->files; f; f = f->next) {
    if (!f->orphan) continue;
    bool seen = false;
    for (cis_vfs_file *o = fs->files; o != f; o = o->next)
      if (o->orphan && o->dev == f->dev && o->ino == f->ino) seen = true;
    cis_vfs_stat st;
    if (seen || bk_stat(fs, f->v, &st)) continue;
    bytes += st.size;
    nodes++;
  }
  fs->bytes = bytes;
  fs->nodes = nodes;
  fs->counted = true;
  return 0;
}

int cis_vfs_usage(cis_vfs *fs, uint64_t *bytes, uint64_t *nodes) {
  int e = !fs ? EINVAL : fs->h.failed ? EBADF : 0;
  if (!e && !fs->counted) e = count_usage(fs);
  if (bytes) *bytes = fs && !e ? fs->bytes : 0;
  if (nodes) *nodes = fs && !e ? fs->nodes : 0;
  return e;
}

void cis__vfs_inject_fault(cis_vfs *fs, uint32_t skip, uint32_t count, int err) {
  if (!fs) return;
  fs->fault_skip = skip;
  fs->fault_count = count;
  fs->fault_err = err ? err : EIO;
}

uint64_t cis__vfs_backend_calls(const cis_vfs *fs) { return fs ? fs->calls : 0; }

void cis_vfs_set_timeout(cis_vfs *fs, uint64_t timeout_ms) {
  /* A mount bound to a call follows the call's deadline instead. */
  if (fs && !fs->h.failed && !fs->ctx) fs->deadline_ns = cis__deadline_after(timeout_ms, 0);
}

uint64_t cis__vfs_deadline(const cis_vfs *fs) { return fs ? step_deadline(fs) : UINT64_MAX; }

cis_result cis__vfs_bind_call(cis_vfs *fs, const cis__callctx *ctx) {
  if (!fs) return CIS_OK;
  fs->ctx = ctx;
  if (!fs->h.failed) cis__vfs_db_serve(fs, ctx); /* the waits inside its database too */
  /* A read-only mount changes nothing: it never joins. */
  if (!ctx || !ctx->txn || fs->h.failed || fs->opts.read_only) return CIS_OK;
  cis_result rc = cis__vfs_db_join_same(fs, ctx->txn);
  if (rc != CIS_OK) {
    char why[400];
    snprintf(why, sizeof why, "%.399s", fs->h.errmsg[0] ? fs->h.errmsg : cis_strerror(rc));
    snprintf(fs->h.errmsg, sizeof fs->h.errmsg, "cannot join the call's transaction: %s", why);
  }
  return rc;
}

cis_vfs_backend *cis__vfs_backend(cis_vfs *fs) { return fs ? fs->b : NULL; }

void cis__vfs_take_backend_error(cis_vfs *fs) {
  if (fs && fs->b) snprintf(fs->h.errmsg, sizeof fs->h.errmsg, "%s", fs->b->errmsg);
}

size_t cis__vfs_open_files(const cis_vfs *fs) { return fs ? fs->nfiles : 0; }

int cis__vfs_refresh_usage(cis_vfs *fs) {
  uint64_t bytes = 0, nodes = 0;
  int e = bk_usage(fs, &bytes, &nodes);
  if (e) return e;
  fs->bytes = bytes;
  fs->nodes = nodes;
  fs->counted = true;
  return 0;
}

/* ----------------------------------------------------------------- files */

/* Makes a file of v (whose reference the file takes over on success; on
 * failure the caller still holds it). Stats the node for its kind and
 * identity. */
static int file_new(cis_vfs *fs, vfs_vnode *v, uint32_t flags, uint64_t depth,
                    cis_vfs_file **out) {
  cis_vfs_stat st;
  int e = bk_stat(fs, v, &st);
  if (e) return e;
  cis_vfs_file *f = calloc(1, sizeof *f);
  if (!f) return vfs_fail(fs, ENOMEM, "out of memory");
  f->fs = fs;
  f->v = v;
  f->flags = flags & ~(uint32_t)CIS_VFS_FOLLOW;
  f->type = st.type;
  f->dev = st.dev;
  f->ino = st.ino;
  f->depth = depth;
  f->next = fs->files;
  if (fs->files) fs->files->prev = f;
  fs->files = f;
  fs->nfiles++;
  *out = f;
  return 0;
}

/* Public calls made on this thread: every call on a file or a path
 * starts with file_fs, which counts it. A backend that caches what it
 * read checks once per call that nobody changed it (the database
 * backend's data version): two of its methods within one call may trust
 * the same check. */
static _Thread_local uint64_t call_seq;

uint64_t cis__vfs_call_seq(void) { return call_seq; }

/* The mount of a file that is still attached, else NULL. */
static cis_vfs *file_fs(const cis_vfs_file *f) {
  call_seq++;
  return f && f->fs && f->v ? f->fs : NULL;
}

cis_vfs *cis_vfs_file_mount(const cis_vfs_file *f) { return file_fs(f); }

cis_vfs_type cis_vfs_file_type(const cis_vfs_file *f) { return file_fs(f) ? f->type : CIS_VFS_UNKNOWN; }

void cis_vfs_close(cis_vfs_file *f) {
  if (!f) return;
  cis_vfs *fs = f->fs;
  if (fs) {
    if (f->prev) f->prev->next = f->next;
    else fs->files = f->next;
    if (f->next) f->next->prev = f->prev;
    fs->nfiles--;
    if (f->orphan) {
      bool others = false;
      for (cis_vfs_file *o = fs->files; o; o = o->next)
        if (o->orphan && o->dev == f->dev && o->ino == f->ino) others = true;
      if (!others) {
        /* The last file on an unlinked inode: the storage frees it now. If
         * the size cannot be read, only the node is given back. */
        cis_vfs_stat st;
        uint64_t size = bk_stat(fs, f->v, &st) == 0 ? st.size : 0;
        usage_sub(fs, size, 1);
      }
    }
    vnode_put(fs, f->v);
  }
  free(f);
}

int cis_vfs_open_root(cis_vfs *fs, cis_vfs_file **out) {
  if (!out) return vfs_fail(fs, EINVAL, "open_root: NULL out");
  *out = NULL;
  if (!fs) return EINVAL;
  if (fs->h.failed) return EBADF; /* as a detached file: its message stays */
  cis_vfs_node *n = NULL;
  vfs_vnode *v = NULL;
  int e = bk_root(fs, &n);
  if (e) return e;
  if ((e = vnode_new(fs, n, &v))) return e;
  e = file_new(fs, v, CIS_VFS_READ | CIS_VFS_DIRECTORY, 0, out);
  if (e) vnode_put(fs, v);
  return e;
}

/* ------------------------------------------------------- path resolution */

enum {
  LAST_BASE = 0,   /* the path named its base ("" or only slashes) */
  LAST_DOT = 1,    /* it ended with "." */
  LAST_DOTDOT = 2, /* it ended with ".." */
  LAST_NAME = 3,   /* it ended with a name: w->name */
};

enum {
  W_FOLLOW = 1u << 0,       /* follow a symlink in the final component */
  W_SLASH_FOLLOW = 1u << 1, /* ... also when the path ends with a '/' */
  W_MAKE = 1u << 2,         /* the call makes the final name: a trailing '/' on a name
                               that is not a directory is the caller's to answer
                               (EEXIST, ENOENT), not ENOTDIR */
  W_CREAT = 1u << 3,        /* openat creating the final name follows its lookup */
};

/* The state of one resolution. */
typedef struct vfs_walk {
  cis_vfs *fs;                      /* the mount */
  uint64_t base_depth;              /* levels between the root and the base */
  vfs_vnode **stack;                /* opened directories; stack[0] is the base */
  size_t depth;                     /* entries in stack */
  size_t cap;                       /* slots in stack */
  int last;                         /* LAST_*: what the final component was */
  char name[CIS_VFS_NAME_MAX + 1];  /* the final component when last == LAST_NAME */
  bool trailing;                    /* the path ended with '/': it must name a directory */
  bool have_st;                     /* st holds the lookup of the final component */
  bool missing;                     /* that lookup said ENOENT */
  bool creat;                       /* W_CREAT: an open creating the final name follows */
  cis_vfs_stat st;                  /* that lookup */
  unsigned links;                   /* symlinks followed so far */
  size_t n;                         /* bytes in path */
  char path[CIS_VFS_PATH_MAX + 1];  /* what is left to resolve (symlinks spliced in) */
  char target[CIS_VFS_PATH_MAX];    /* a symlink's target being read */
} vfs_walk;

static vfs_vnode *top(const vfs_walk *w) { return w->stack[w->depth - 1]; }

/* The lookup of the final component top(w)/w->name. */
static int final_lookup(vfs_walk *w, cis_vfs_stat *st) {
  uint32_t flags = w->creat && !w->trailing ? CIS_VFS_LOOKUP_CREATES : 0;
  return bk_lookup(w->fs, top(w), w->name, flags, st);
}

/* Levels between the root and top(w). */
static uint64_t top_depth(const vfs_walk *w) { return w->base_depth + w->depth - 1; }

/* ENAMETOOLONG unless a directory made or moved into top(w) stays within
 * the mount's max_depth. */
static int check_depth(vfs_walk *w, const char *what) {
  if (top_depth(w) + 1 <= w->fs->opts.max_depth) return 0;
  return vfs_fail(w->fs, ENAMETOOLONG,
                  "%s: '%s' would be %llu directory levels below the root, more than max_depth %u",
                  what, w->name, (unsigned long long)(top_depth(w) + 1),
                  (unsigned)w->fs->opts.max_depth);
}

static int push(vfs_walk *w, vfs_vnode *v) {
  if (w->depth == w->cap) {
    size_t cap = w->cap ? w->cap * 2 : 8;
    vfs_vnode **s = realloc(w->stack, cap * sizeof *s);
    if (!s) {
      vnode_put(w->fs, v);
      return vfs_fail(w->fs, ENOMEM, "out of memory");
    }
    w->stack = s;
    w->cap = cap;
  }
  w->stack[w->depth++] = v;
  return 0;
}

static void walk_free(vfs_walk *w) {
  while (w->depth) vnode_put(w->fs, w->stack[--w->depth]);
  free(w->stack);
  w->stack = NULL;
}

/* Checks a path before anything reaches the backend: NUL (EINVAL), too
 * long a path or component (ENAMETOOLONG), absolute (ENOTCAPABLE). */
static int check_path(cis_vfs *fs, const char *path, size_t len) {
  if (!path && len) return vfs_fail(fs, EINVAL, "NULL path");
  if (len > CIS_VFS_PATH_MAX)
    return vfs_fail(fs, ENAMETOOLONG, "a path of %zu bytes is longer than %d", len,
                    CIS_VFS_PATH_MAX);
  if (len && memchr(path, '\0', len))
    return vfs_fail(fs, EINVAL, "'%.*s' holds a NUL byte", (int)strnlen(path, QUOTE_MAX), path);
  if (len && path[0] == '/')
    return vfs_fail(fs, CIS_VFS_ENOTCAPABLE, "'%.*s' is absolute: paths are relative to their base",
                    (int)(len < QUOTE_MAX ? len : QUOTE_MAX), path);
  size_t run = 0;
  for (size_t i = 0; i < len; i++) {
    run = path[i] == '/' ? 0 : run + 1;
    if (run > CIS_VFS_NAME_MAX)
      return vfs_fail(fs, ENAMETOOLONG, "'%.*s...' has a component longer than %d bytes",
                      QUOTE_MAX < (int)len ? QUOTE_MAX : (int)len, path, CIS_VFS_NAME_MAX);
  }
  return 0;
}

/* Reads the symlink top/name and splices its target in front of what is
 * left of the path after position `rest`. */
static int follow(vfs_walk *w, const char *name, size_t rest) {
  cis_vfs *fs = w->fs;
  size_t tlen = 0;
  if (++w->links > CIS_VFS_MAX_SYMLINKS)
    return vfs_fail(fs, ELOOP, "more than %d symlinks in one path (at '%s')", CIS_VFS_MAX_SYMLINKS,
                    name);
  int e = bk_readlink(fs, top(w), name, w->target, sizeof w->target, &tlen);
  if (e == ERANGE) return vfs_fail(fs, ENAMETOOLONG, "symlink '%s' has too long a target", name);
  if (e) return e;
  if (tlen == 0) return vfs_fail(fs, ENOENT, "symlink '%s' has an empty target", name);
  if (memchr(w->target, '\0', tlen))
    return vfs_fail(fs, EIO, "%s: symlink '%s' has a target holding a NUL byte", fs->name, name);
  if (w->target[0] == '/')
    return vfs_fail(fs, CIS_VFS_ENOTCAPABLE, "symlink '%s' -> '%.*s' is absolute", name,
                    (int)(tlen < QUOTE_MAX ? tlen : QUOTE_MAX), w->target);
  size_t restlen = w->n - rest;
  if (tlen + restlen > CIS_VFS_PATH_MAX)
    return vfs_fail(fs, ENAMETOOLONG, "symlink '%s' makes the path longer than %d bytes", name,
                    CIS_VFS_PATH_MAX);
  memmove(w->path + tlen, w->path + rest, restlen);
  memcpy(w->path, w->target, tlen);
  w->n = tlen + restlen;
  return 0;
}

/* Confirms the directory in hand when the walk opened it (not the base):
 * for a call that decides from the walk alone, with no other backend
 * call that would (a database opens a directory its caches name before
 * it checks them, and may find it gone: then ENOENT, as a walk through
 * it would have given). */
static int walk_confirm(vfs_walk *w) {
  cis_vfs_stat st;
  return w->depth > 1 ? bk_stat(w->fs, top(w), &st) : 0;
}

/* Resolves path against base: see "Path resolution" in cis_vfs.h. On
 * success w holds the stack of directories opened (the caller frees it
 * with walk_free, also on failure) and either names the final component
 * (last == LAST_NAME: top(w)/w->name, not yet looked up unless have_st)
 * or the directory top(w) itself. A final symlink is followed with
 * W_FOLLOW, or with W_SLASH_FOLLOW when the path ends with a slash; a
 * final component that must be a directory (trailing slash) and exists as
 * anything else gives ENOTDIR. */
static int walk(cis_vfs_file *base, const char *path, size_t len, unsigned wflags, vfs_walk *w) {
  cis_vfs *fs = file_fs(base);
  int e = 0;
  memset(w, 0, offsetof(vfs_walk, path));
  w->fs = fs;
  w->creat = wflags & W_CREAT;
  if (!fs) return EBADF;
  if ((e = check_path(fs, path, len))) return e;
  if (base->type != CIS_VFS_DIR)
    return vfs_fail(fs, ENOTDIR, "the base of '%.*s' is not a directory",
                    (int)(len < QUOTE_MAX ? len : QUOTE_MAX), path);
  w->base_depth = base->depth;
  if ((e = push(w, vnode_ref(base->v)))) return e;
  if (len) memcpy(w->path, path, len);
  w->n = len;
  w->last = LAST_BASE;

  size_t pos = 0;
  for (;;) {
    while (pos < w->n && w->path[pos] == '/') pos++;
    if (pos == w->n) return walk_confirm(w); /* names top(w) itself */
    size_t start = pos;
    while (pos < w->n && w->path[pos] != '/') pos++;
    size_t clen = pos - start;
    size_t q = pos;
    while (q < w->n && w->path[q] == '/') q++;
    bool is_last = q == w->n;
    bool slash = pos < w->n;
    if (clen > CIS_VFS_NAME_MAX) /* only a symlink's target can get here */
      return vfs_fail(fs, ENAMETOOLONG, "a symlink target has a component longer than %d bytes",
                      CIS_VFS_NAME_MAX);
    if (clen == 1 && w->path[start] == '.') {
      w->last = LAST_DOT;
      continue;
    }
    if (clen == 2 && w->path[start] == '.' && w->path[start + 1] == '.') {
      if (w->depth == 1)
        return vfs_fail(fs, CIS_VFS_ENOTCAPABLE, "'%.*s' leaves its base directory",
                        (int)(len < QUOTE_MAX ? len : QUOTE_MAX), path);
      /* The directory ".." leaves was opened by this walk, and nothing
       * else asks the backend about it. */
      if ((e = walk_confirm(w))) return e;
      vnode_put(fs, w->stack[--w->depth]);
      w->last = LAST_DOTDOT;
      continue;
    }
    memcpy(w->name, w->path + start, clen);
    w->name[clen] = '\0';

    if (!is_last) {
      cis_vfs_node *n = NULL;
      e = bk_open(fs, top(w), w->name, CIS_VFS_DIRECTORY, &n);
      if (e == 0) {
        vfs_vnode *v = NULL;
        if ((e = vnode_new(fs, n, &v)) || (e = push(w, v))) return e;
        continue;
      }
      if (e != ELOOP && e != ENOTDIR) return e;
      cis_vfs_stat st;
      int le = bk_lookup(fs, top(w), w->name, 0, &st);
      if (le) return le;
      if (st.type != CIS_VFS_SYMLINK) {
        if (st.type != CIS_VFS_DIR)
          return vfs_fail(fs, ENOTDIR, "'%s' in '%.*s' is not a directory", w->name,
                          (int)(len < QUOTE_MAX ? len : QUOTE_MAX), path);
        return e;
      }
      if ((e = follow(w, w->name, pos))) return e;
      pos = 0;
      continue;
    }

    /* The final component. */
    w->last = LAST_NAME;
    w->trailing = slash;
    bool fol = (wflags & W_FOLLOW) || (slash && (wflags & W_SLASH_FOLLOW));
    if (!fol && !slash) return 0;
    e = final_lookup(w, &w->st);
    if (e == ENOENT) { /* the operation decides what a missing name means */
      w->missing = true;
      return 0;
    }
    if (e) return e;
    if (w->st.type == CIS_VFS_SYMLINK && fol) {
      if ((e = follow(w, w->name, pos))) return e;
      pos = 0;
      w->last = LAST_BASE;
      w->trailing = false;
      continue;
    }
    w->have_st = true;
    if (slash && w->st.type != CIS_VFS_DIR && !(wflags & W_MAKE))
      return vfs_fail(fs, ENOTDIR, "'%.*s' ends with '/' but '%s' is not a directory",
                      (int)(len < QUOTE_MAX ? len : QUOTE_MAX), path, w->name);
    return 0;
  }
}

/* The lookup of the final component (w->st), done now if walk did not. */
static int final_stat(vfs_walk *w) {
  if (w->have_st) return 0;
  if (w->missing) return ENOENT;
  int e = final_lookup(w, &w->st);
  if (e == 0) w->have_st = true;
  return e;
}

/* EROFS for a changing call on a read-only mount. */
static int check_rw(cis_vfs *fs, const char *what) {
  if (fs->opts.read_only) return vfs_fail(fs, EROFS, "%s: the mount is read-only", what);
  return 0;
}

/* A quota check for one new node named by w: at the quota, a name that
 * exists already gets EEXIST, as it would without one. */
static int quota_new_node(vfs_walk *w, const char *what) {
  if (over_nodes(w->fs, 1, what) == 0) return 0;
  int e = final_stat(w);
  if (e == 0) return vfs_fail(w->fs, EEXIST, "%s: '%s' exists", what, w->name);
  if (e != ENOENT) return e;
  return quota_nodes(w->fs, 1, what); /* again, for its message */
}

/* ------------------------------------------------------------ path calls */

int cis_vfs_openat(cis_vfs_file *base, const char *path, size_t len, uint32_t flags,
                   cis_vfs_file **out) {
  cis_vfs *fs = file_fs(base);
  vfs_walk w;
  int e = 0;
  if (!out) return vfs_fail(fs, EINVAL, "openat: NULL out");
  *out = NULL;
  if (!fs) return EBADF;
  const uint32_t known = CIS_VFS_READ | CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_EXCL |
                         CIS_VFS_TRUNC | CIS_VFS_DIRECTORY | CIS_VFS_FOLLOW;
  if (flags & ~known) return vfs_fail(fs, EINVAL, "openat: unknown flags 0x%x", flags & ~known);
  if ((flags & CIS_VFS_TRUNC) && !(flags & CIS_VFS_WRITE))
    return vfs_fail(fs, EINVAL, "openat: TRUNC needs WRITE");
  if ((flags & CIS_VFS_CREAT) && (flags & CIS_VFS_DIRECTORY))
    return vfs_fail(fs, EINVAL, "openat: CREAT with DIRECTORY");
  if ((e = check_path(fs, path, len))) return e;
  if (flags & (CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_TRUNC) && (e = check_rw(fs, "openat")))
    return e;

  unsigned wf = W_SLASH_FOLLOW | ((flags & CIS_VFS_FOLLOW) ? W_FOLLOW : 0);
  /* CREAT|EXCL never follows a final symlink (POSIX): a dangling one is
   * EEXIST, not a way to create its target. */
  if ((flags & CIS_VFS_CREAT) && (flags & CIS_VFS_EXCL)) wf &= ~(unsigned)W_FOLLOW;
  /* An absent final name reaches the backend's open whatever else holds,
   * unless the node quota refuses it in between: only then is it said. */
  if ((flags & CIS_VFS_CREAT) && ((!fs->opts.max_files && !fs->opts.zero_means_full) || fs->nodes < fs->opts.max_files))
    wf |= W_CREAT;
  if ((e = walk(base, path, len, wf, &w))) goto done;
  if (w.last != LAST_NAME) { /* a directory already in hand */
    if ((flags & CIS_VFS_CREAT) && (flags & CIS_VFS_EXCL)) {
      e = vfs_fail(fs, EEXIST, "openat: '%.*s' exists", (int)(len < QUOTE_MAX ? len : QUOTE_MAX),
                   path);
    } else if (flags & (CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_TRUNC)) {
      e = vfs_fail(fs, EISDIR, "openat: '%.*s' is a directory",
                   (int)(len < QUOTE_MAX ? len : QUOTE_MAX), path);
    } else {
      vfs_vnode *v = vnode_ref(top(&w));
      if ((e = file_new(fs, v, flags, top_depth(&w), out))) vnode_put(fs, v);
    }
    goto done;
  }
  if (w.trailing && (flags & CIS_VFS_CREAT)) {
    e = vfs_fail(fs, EISDIR, "openat: cannot create '%s/' as a file", w.name);
    goto done;
  }

  /* Creating or truncating changes the usage: learn what is there first. */
  bool exists = w.have_st, created = false;
  uint64_t freed = 0;
  if ((flags & (CIS_VFS_CREAT | CIS_VFS_TRUNC)) && !exists) {
    e = final_stat(&w);
    if (e && e != ENOENT) goto done;
    exists = e == 0;
    e = 0;
  }
  if ((flags & CIS_VFS_CREAT) && !exists) {
    if ((e = quota_nodes(fs, 1, "openat"))) goto done;
    created = true;
  }
  if ((flags & CIS_VFS_TRUNC) && exists && w.st.type == CIS_VFS_REG) freed = w.st.size;

  uint32_t bflags = flags & ~(uint32_t)CIS_VFS_FOLLOW;
  if (w.trailing) bflags |= CIS_VFS_DIRECTORY;
  cis_vfs_node *n = NULL;
  e = bk_open(fs, top(&w), w.name, bflags, &n);
  /* A final symlink not followed is ELOOP on every backend: a host
   * directory's kernel says ENOTDIR when DIRECTORY is asked too. */
  if ((e == ELOOP || (e == ENOTDIR && (bflags & CIS_VFS_DIRECTORY))) && final_stat(&w) == 0 &&
      w.st.type == CIS_VFS_SYMLINK)
    e = vfs_fail(fs, ELOOP, "openat: '%s' is a symlink (not followed)", w.name);
  if (e) goto done;
  if (created) fs->nodes++;
  usage_sub(fs, freed, 0);
  vfs_vnode *v = NULL;
  if ((e = vnode_new(fs, n, &v))) goto done;
  if ((e = file_new(fs, v, flags, top_depth(&w) + 1, out))) vnode_put(fs, v);
done:
  walk_free(&w);
  return e;
}

int cis_vfs_statat(cis_vfs_file *base, const char *path, size_t len, uint32_t flags,
                   cis_vfs_stat *st) {
  cis_vfs *fs = file_fs(base);
  vfs_walk w;
  if (!st) return vfs_fail(fs, EINVAL, "statat: NULL stat");
  int e = walk(base, path, len, W_SLASH_FOLLOW | ((flags & CIS_VFS_FOLLOW) ? W_FOLLOW : 0), &w);
  if (e) goto done;
  if (w.last != LAST_NAME) e = bk_stat(fs, top(&w), st);
  else if ((e = final_stat(&w)) == 0) *st = w.st;
done:
  walk_free(&w);
  return e;
}

int cis_vfs_mkdirat(cis_vfs_file *base, const char *path, size_t len) {
  cis_vfs *fs = file_fs(base);
  vfs_walk w;
  int e = 0;
  if (!fs) return EBADF;
  if ((e = check_path(fs, path, len)) || (e = check_rw(fs, "mkdirat"))) return e;
  if ((e = walk(base, path, len, W_MAKE, &w))) goto done;
  /* "name/" that exists as anything (a file, a symlink) is EEXIST, as Linux. */
  if (w.last != LAST_NAME || w.have_st) {
    e = vfs_fail(fs, EEXIST, "mkdirat: '%.*s' exists", (int)(len < QUOTE_MAX ? len : QUOTE_MAX),
                 path);
    goto done;
  }
  if (top_depth(&w) >= fs->opts.max_depth) { /* too deep, unless the name is taken */
    if ((e = final_stat(&w)) == 0) e = vfs_fail(fs, EEXIST, "mkdirat: '%s' exists", w.name);
    else if (e == ENOENT) e = check_depth(&w, "mkdirat");
    goto done;
  }
  if ((e = quota_new_node(&w, "mkdirat"))) goto done;
  if ((e = bk_mkdir(fs, top(&w), w.name)) == 0) fs->nodes++;
done:
  walk_free(&w);
  return e;
}

int cis_vfs_rmdirat(cis_vfs_file *base, const char *path, size_t len) {
  cis_vfs *fs = file_fs(base);
  vfs_walk w;
  int e = 0;
  if (!fs) return EBADF;
  if ((e = check_path(fs, path, len)) || (e = check_rw(fs, "rmdirat"))) return e;
  if ((e = walk(base, path, len, 0, &w))) goto done;
  if (w.last == LAST_DOT) e = vfs_fail(fs, EINVAL, "rmdirat: cannot remove '.'");
  else if (w.last == LAST_DOTDOT) e = vfs_fail(fs, ENOTEMPTY, "rmdirat: cannot remove '..'");
  else if (w.last == LAST_BASE) e = vfs_fail(fs, EBUSY, "rmdirat: cannot remove the base");
  else if ((e = bk_rmdir(fs, top(&w), w.name)) == 0) usage_sub(fs, 0, 1);
done:
  walk_free(&w);
  return e;
}

int cis_vfs_unlinkat(cis_vfs_file *base, const char *path, size_t len) {
  cis_vfs *fs = file_fs(base);
  vfs_walk w;
  int e = 0;
  if (!fs) return EBADF;
  if ((e = check_path(fs, path, len)) || (e = check_rw(fs, "unlinkat"))) return e;
  if ((e = walk(base, path, len, 0, &w))) goto done;
  if (w.last != LAST_NAME) {
    e = vfs_fail(fs, EISDIR, "unlinkat: '%.*s' is a directory",
                 (int)(len < QUOTE_MAX ? len : QUOTE_MAX), path);
    goto done;
  }
  if ((e = final_stat(&w))) goto done;
  if ((e = bk_unlink(fs, top(&w), w.name))) goto done;
  if (w.st.nlink <= 1) node_gone(fs, &w.st);
done:
  walk_free(&w);
  return e;
}

int cis_vfs_renameat(cis_vfs_file *obase, const char *opath, size_t olen, cis_vfs_file *nbase,
                     const char *npath, size_t nlen) {
  cis_vfs *fs = file_fs(obase);
  vfs_walk *ow = NULL, *nw = NULL;
  int e = 0;
  if (!fs || !file_fs(nbase)) return EBADF;
  if (file_fs(nbase) != fs)
    return vfs_fail(fs, EXDEV, "renameat: the two paths are on different mounts");
  if ((e = check_path(fs, opath, olen)) || (e = check_path(fs, npath, nlen)) ||
      (e = check_rw(fs, "renameat")))
    return e;
  ow = malloc(sizeof *ow);
  nw = malloc(sizeof *nw);
  if (!ow || !nw) {
    free(ow);
    free(nw);
    return vfs_fail(fs, ENOMEM, "out of memory");
  }
  nw->depth = 0;
  nw->stack = NULL;
  nw->fs = fs;
  if ((e = walk(obase, opath, olen, 0, ow)) || (e = walk(nbase, npath, nlen, 0, nw))) goto done;
  if (ow->last != LAST_NAME || nw->last != LAST_NAME) {
    if (!(e = walk_confirm(ow)) && !(e = walk_confirm(nw)))
      e = vfs_fail(fs, EBUSY, "renameat: '.', '..' or a base cannot be renamed or replaced");
    goto done;
  }
  if ((e = final_stat(ow))) goto done;
  e = final_stat(nw);
  if (e && e != ENOENT) goto done;
  bool replaces = e == 0;
  if ((ow->trailing || nw->trailing) && ow->st.type != CIS_VFS_DIR) {
    e = vfs_fail(fs, ENOTDIR, "renameat: '%s' is not a directory", ow->name);
    goto done;
  }
  /* A file over a directory is EISDIR on every backend: a host
   * directory's kernel says ENOTEMPTY when the directory holds the file. */
  if (replaces && nw->st.type == CIS_VFS_DIR && ow->st.type != CIS_VFS_DIR) {
    e = vfs_fail(fs, EISDIR, "renameat: '%s' is a directory and '%s' is not", nw->name, ow->name);
    goto done;
  }
  if (ow->st.type == CIS_VFS_DIR && (e = check_depth(nw, "renameat"))) goto done;
  if ((e = bk_rename(fs, top(ow), ow->name, top(nw), nw->name))) goto done;
  bool same = replaces && nw->st.dev == ow->st.dev && nw->st.ino == ow->st.ino;
  if (replaces && !same) {
    if (nw->st.type == CIS_VFS_DIR) usage_sub(fs, 0, 1);
    else if (nw->st.nlink <= 1) node_gone(fs, &nw->st);
  }
done:
  walk_free(ow);
  walk_free(nw);
  free(ow);
  free(nw);
  return e;
}

int cis_vfs_symlinkat(const char *target, size_t tlen, cis_vfs_file *base, const char *path,
                      size_t len) {
  cis_vfs *fs = file_fs(base);
  vfs_walk w;
  int e = 0;
  char *t = NULL;
  if (!fs) return EBADF;
  if ((e = check_path(fs, path, len)) || (e = check_rw(fs, "symlinkat"))) return e;
  if (!target && tlen) return vfs_fail(fs, EINVAL, "symlinkat: NULL target");
  if (tlen == 0) return vfs_fail(fs, ENOENT, "symlinkat: empty target");
  if (tlen > CIS_VFS_PATH_MAX)
    return vfs_fail(fs, ENAMETOOLONG, "symlinkat: a target of %zu bytes is longer than %d", tlen,
                    CIS_VFS_PATH_MAX);
  if (memchr(target, '\0', tlen)) return vfs_fail(fs, EINVAL, "symlinkat: NUL in the target");
  if ((e = walk(base, path, len, W_MAKE, &w))) goto done;
  if (w.last != LAST_NAME || w.have_st) {
    e = vfs_fail(fs, EEXIST, "symlinkat: '%.*s' exists", (int)(len < QUOTE_MAX ? len : QUOTE_MAX),
                 path);
    goto done;
  }
  /* "name/" asks for a directory, which a new symlink is not (Linux: ENOENT). */
  if (w.trailing) {
    e = vfs_fail(fs, ENOENT, "symlinkat: '%s/' ends with '/' and does not exist", w.name);
    goto done;
  }
  if ((e = quota_new_node(&w, "symlinkat"))) goto done;
  t = malloc(tlen + 1);
  if (!t) {
    e = vfs_fail(fs, ENOMEM, "out of memory");
    goto done;
  }
  memcpy(t, target, tlen);
  t[tlen] = '\0';
  if ((e = bk_symlink(fs, top(&w), w.name, t)) == 0) fs->nodes++;
done:
  free(t);
  walk_free(&w);
  return e;
}

int cis_vfs_readlinkat(cis_vfs_file *base, const char *path, size_t len, char *buf, size_t cap,
                       size_t *outlen) {
  cis_vfs *fs = file_fs(base);
  vfs_walk w;
  size_t n = 0;
  if (outlen) *outlen = 0;
  if (!outlen || (!buf && cap)) return vfs_fail(fs, EINVAL, "readlinkat: NULL buffer");
  /* "link/" follows link, as on Linux: EINVAL when it leads to a
   * directory, ENOTDIR to a file, ENOENT when it dangles. */
  int e = walk(base, path, len, W_SLASH_FOLLOW, &w);
  if (e) goto done;
  if (w.last != LAST_NAME) {
    e = vfs_fail(fs, EINVAL, "readlinkat: a directory is not a symlink");
    goto done;
  }
  e = bk_readlink(fs, top(&w), w.name, buf, cap, &n);
  *outlen = n;
  if (e == ERANGE)
    vfs_fail(fs, ERANGE, "readlinkat: the target of '%s' needs %zu bytes, the buffer has %zu",
             w.name, n, cap);
done:
  walk_free(&w);
  return e;
}

int cis_vfs_linkat(cis_vfs_file *obase, const char *opath, size_t olen, uint32_t flags,
                   cis_vfs_file *nbase, const char *npath, size_t nlen) {
  cis_vfs *fs = file_fs(obase);
  vfs_walk *ow = NULL, *nw = NULL;
  int e = 0;
  if (!fs || !file_fs(nbase)) return EBADF;
  if (file_fs(nbase) != fs)
    return vfs_fail(fs, EXDEV, "linkat: the two paths are on different mounts");
  if (flags & ~(uint32_t)CIS_VFS_FOLLOW) return vfs_fail(fs, EINVAL, "linkat: unknown flags");
  if ((e = check_path(fs, opath, olen)) || (e = check_path(fs, npath, nlen)) ||
      (e = check_rw(fs, "linkat")))
    return e;
  ow = malloc(sizeof *ow);
  nw = malloc(sizeof *nw);
  if (!ow || !nw) {
    free(ow);
    free(nw);
    return vfs_fail(fs, ENOMEM, "out of memory");
  }
  nw->depth = 0;
  nw->stack = NULL;
  nw->fs = fs;
  unsigned wf = (flags & CIS_VFS_FOLLOW) ? W_FOLLOW : 0;
  if ((e = walk(obase, opath, olen, wf, ow)) || (e = walk(nbase, npath, nlen, W_MAKE, nw)))
    goto done;
  /* Decided from the walks' shapes: once they stand. */
  if ((ow->last != LAST_NAME || nw->last != LAST_NAME) &&
      ((e = walk_confirm(ow)) || (e = walk_confirm(nw))))
    goto done;
  if (ow->last != LAST_NAME) e = vfs_fail(fs, EPERM, "linkat: cannot link a directory");
  else if (nw->last != LAST_NAME) e = vfs_fail(fs, EEXIST, "linkat: the new name exists");
  /* POSIX's order of errors, also for backends that have no hard links
   * (EPERM): a missing source is ENOENT and a taken name EEXIST first,
   * "new/" included; a missing "new/" is ENOENT (a link is no directory). */
  else if ((e = final_stat(ow))) {
    if (e == ENOENT) vfs_fail(fs, ENOENT, "linkat: '%s' does not exist", ow->name);
  } else if (ow->st.type == CIS_VFS_DIR) e = vfs_fail(fs, EPERM, "linkat: cannot link a directory");
  else if ((e = final_stat(nw)) == 0) e = vfs_fail(fs, EEXIST, "linkat: '%s' exists", nw->name);
  else if (e == ENOENT && nw->trailing)
    e = vfs_fail(fs, ENOENT, "linkat: the new name '%s/' ends with '/'", nw->name);
  else if (e == ENOENT) e = bk_link(fs, top(ow), ow->name, top(nw), nw->name);
done:
  walk_free(ow);
  walk_free(nw);
  free(ow);
  free(nw);
  return e;
}

/* Checks set_times flags: a time is either given or "now", not both. */
static int check_times(cis_vfs *fs, uint32_t flags) {
  if (((flags & CIS_VFS_ATIM) && (flags & CIS_VFS_ATIM_NOW)) ||
      ((flags & CIS_VFS_MTIM) && (flags & CIS_VFS_MTIM_NOW)))
    return vfs_fail(fs, EINVAL, "set_times: a time is both given and 'now'");
  return 0;
}

int cis_vfs_set_timesat(cis_vfs_file *base, const char *path, size_t len, uint32_t flags,
                        uint64_t atim, uint64_t mtim) {
  cis_vfs *fs = file_fs(base);
  vfs_walk w;
  int e = 0;
  if (!fs) return EBADF;
  const uint32_t known = CIS_VFS_FOLLOW | CIS_VFS_ATIM | CIS_VFS_ATIM_NOW | CIS_VFS_MTIM |
                         CIS_VFS_MTIM_NOW;
  if (flags & ~known) return vfs_fail(fs, EINVAL, "set_timesat: unknown flags");
  if ((e = check_times(fs, flags)) || (e = check_path(fs, path, len)) ||
      (e = check_rw(fs, "set_timesat")))
    return e;
  uint32_t tf = flags & ~(uint32_t)CIS_VFS_FOLLOW;
  if ((e = walk(base, path, len, W_SLASH_FOLLOW | ((flags & CIS_VFS_FOLLOW) ? W_FOLLOW : 0), &w)))
    goto done;
  if (w.last != LAST_NAME) {
    e = bk_set_times(fs, top(&w), atim, mtim, tf);
    goto done;
  }
  cis_vfs_node *n = NULL;
  e = bk_open(fs, top(&w), w.name, w.trailing ? CIS_VFS_DIRECTORY : 0, &n);
  if (e == ELOOP && final_stat(&w) == 0 && w.st.type == CIS_VFS_SYMLINK) {
    /* Not followed: the symlink's own times, which no open node can carry. */
    e = bk_set_times_nofollow(fs, top(&w), w.name, atim, mtim, tf);
    goto done;
  }
  if (e) goto done;
  vfs_vnode *v = NULL;
  if ((e = vnode_new(fs, n, &v))) goto done;
  e = bk_set_times(fs, v, atim, mtim, tf);
  vnode_put(fs, v);
done:
  walk_free(&w);
  return e;
}

/* ------------------------------------------------------------ file calls */

int cis_vfs_pread(cis_vfs_file *f, void *buf, size_t len, uint64_t off, size_t *got) {
  cis_vfs *fs = file_fs(f);
  if (got) *got = 0;
  if (!fs) return EBADF;
  if (!got || (!buf && len)) return vfs_fail(fs, EINVAL, "pread: NULL buffer");
  if (f->type == CIS_VFS_DIR) return vfs_fail(fs, EISDIR, "pread: a directory");
  if (!(f->flags & CIS_VFS_READ)) return vfs_fail(fs, EBADF, "pread: not open for reading");
  if (len == 0) return 0;
  return bk_read(fs, f->v, buf, len, off, got);
}

int cis_vfs_pwrite(cis_vfs_file *f, const void *buf, size_t len, uint64_t off, size_t *put) {
  cis_vfs *fs = file_fs(f);
  cis_vfs_stat st;
  int e = 0;
  if (put) *put = 0;
  if (!fs) return EBADF;
  if (!put || (!buf && len)) return vfs_fail(fs, EINVAL, "pwrite: NULL buffer");
  if (f->type == CIS_VFS_DIR) return vfs_fail(fs, EISDIR, "pwrite: a directory");
  if (!(f->flags & CIS_VFS_WRITE)) return vfs_fail(fs, EBADF, "pwrite: not open for writing");
  if ((e = check_rw(fs, "pwrite"))) return e;
  if (off != CIS_VFS_APPEND && (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - off))
    return vfs_fail(fs, EFBIG, "pwrite: offset %llu + %zu passes the largest file",
                    (unsigned long long)off, len);
  if (len == 0) return 0;
  if ((e = bk_stat(fs, f->v, &st))) return e;
  if (off == CIS_VFS_APPEND && len > (uint64_t)INT64_MAX - st.size)
    return vfs_fail(fs, EFBIG, "pwrite: appending %zu bytes passes the largest file", len);
  uint64_t end = (off == CIS_VFS_APPEND ? st.size : off) + len;
  uint64_t growth = end > st.size ? end - st.size : 0;
  if ((e = quota_bytes(fs, growth, "pwrite"))) return e;
  if ((e = bk_write(fs, f->v, buf, len, off, put))) return e;
  if (*put != len) { /* the contract is all or nothing */
    size_t n = *put;
    *put = 0;
    return vfs_fail(fs, EIO, "%s: write stored %zu of %zu bytes", fs->name, n, len);
  }
  fs->bytes += growth;
  return 0;
}

int cis_vfs_fstat(cis_vfs_file *f, cis_vfs_stat *st) {
  cis_vfs *fs = file_fs(f);
  if (!fs) return EBADF;
  if (!st) return vfs_fail(fs, EINVAL, "fstat: NULL stat");
  return bk_stat(fs, f->v, st);
}

int cis_vfs_ftruncate(cis_vfs_file *f, uint64_t size) {
  cis_vfs *fs = file_fs(f);
  cis_vfs_stat st;
  int e = 0;
  if (!fs) return EBADF;
  if (f->type == CIS_VFS_DIR) return vfs_fail(fs, EISDIR, "ftruncate: a directory");
  if (!(f->flags & CIS_VFS_WRITE)) return vfs_fail(fs, EBADF, "ftruncate: not open for writing");
  if ((e = check_rw(fs, "ftruncate"))) return e;
  if (size > (uint64_t)INT64_MAX)
    return vfs_fail(fs, EFBIG, "ftruncate: %llu passes the largest file", (unsigned long long)size);
  if ((e = bk_stat(fs, f->v, &st))) return e;
  if (size > st.size && (e = quota_bytes(fs, size - st.size, "ftruncate"))) return e;
  if ((e = bk_truncate(fs, f->v, size))) return e;
  if (size > st.size) fs->bytes += size - st.size;
  else usage_sub(fs, st.size - size, 0);
  return 0;
}

int cis_vfs_fset_times(cis_vfs_file *f, uint32_t flags, uint64_t atim, uint64_t mtim) {
  cis_vfs *fs = file_fs(f);
  int e = 0;
  if (!fs) return EBADF;
  const uint32_t known = CIS_VFS_ATIM | CIS_VFS_ATIM_NOW | CIS_VFS_MTIM | CIS_VFS_MTIM_NOW;
  if (flags & ~known) return vfs_fail(fs, EINVAL, "fset_times: unknown flags");
  if ((e = check_times(fs, flags)) || (e = check_rw(fs, "fset_times"))) return e;
  return bk_set_times(fs, f->v, atim, mtim, flags);
}

/* The backend's scope method, or NULL (a version-2 table ends before it). */
static int (*scope_of(const cis_vfs *fs))(cis_vfs_backend *, int) {
  return fs->m->version >= 3 ? fs->m->scope : NULL;
}

cis_result cis_vfs_scope_begin(cis_vfs *fs) {
  if (!fs) return CIS_EINVAL;
  if (fs->h.failed) return CIS_ESTATE;
  if (fs->in_scope) {
    vfs_fail(fs, EINVAL, "scope_begin: a scope is already open");
    return CIS_ESTATE;
  }
  int e = 0;
  if (scope_of(fs) && !(e = enter(fs, "scope_begin", NULL)))
    e = leave(fs, "scope_begin", NULL, scope_of(fs)(fs->b, CIS_VFS_SCOPE_BEGIN));
  if (e) return cis_vfs_result(e);
  fs->in_scope = true;
  return CIS_OK;
}

/* Ends the scope either way. A rollback changes the storage's usage, so
 * the quotas read it again (when they had read it at all). */
cis_result cis_vfs_scope_end(cis_vfs *fs, bool commit) {
  if (!fs) return CIS_EINVAL;
  if (fs->h.failed) return CIS_ESTATE;
  if (!fs->in_scope) {
    vfs_fail(fs, EINVAL, "scope_end: no scope is open");
    return CIS_ESTATE;
  }
  fs->in_scope = false;
  if (!scope_of(fs)) return CIS_OK;
  int op = commit ? CIS_VFS_SCOPE_COMMIT : CIS_VFS_SCOPE_ROLLBACK;
  /* No fault is injected here: a rollback cannot be refused. */
  fs->calls++;
  fs->b->errmsg[0] = '\0';
  fs->b->deadline_ns = step_deadline(fs);
  int e = leave(fs, "scope_end", NULL, scope_of(fs)(fs->b, op));
  if ((e || !commit) && fs->counted) {
    int u = cis__vfs_refresh_usage(fs);
    if (u && !e) e = u;
  }
  return cis_vfs_result(e);
}

int cis_vfs_fsync(cis_vfs_file *f) {
  cis_vfs *fs = file_fs(f);
  if (!fs) return EBADF;
  return bk_sync(fs, f->v);
}

/* Cookies: 0 lists ".", 1 lists "..", and a cookie c >= 2 is the backend's
 * cookie c - 2 (so the backend's 0 is the wrappers' 2). A backend's `next`
 * is at most UINT64_MAX - 2, which the mapping keeps apart from the two. */
int cis_vfs_readdir(cis_vfs_file *dir, uint64_t cookie, cis_vfs_dirent *ent) {
  cis_vfs *fs = file_fs(dir);
  if (!fs) return EBADF;
  if (!ent) return vfs_fail(fs, EINVAL, "readdir: NULL entry");
  if (dir->type != CIS_VFS_DIR) return vfs_fail(fs, ENOTDIR, "readdir: not a directory");
  memset(ent, 0, sizeof *ent);
  if (cookie < 2) {
    /* The parent is not reachable from an open directory, so ".." carries
     * the directory's own ino (as other WASI runtimes do). */
    ent->next = cookie + 1;
    ent->ino = dir->ino;
    ent->type = CIS_VFS_DIR;
    ent->namelen = cookie + 1;
    memcpy(ent->name, "..", ent->namelen);
    return 0;
  }
  int e = bk_readdir(fs, dir->v, cookie - 2, ent);
  if (e) return e;
  if (ent->next > UINT64_MAX - 2)
    return vfs_fail(fs, EIO, "%s: readdir returned cookie %llu, above the allowed range",
                    fs->name, (unsigned long long)ent->next);
  ent->name[CIS_VFS_NAME_MAX] = '\0';
  ent->namelen = strlen(ent->name);
  ent->next += 2;
  return 0;
}
