/*
 * This file tests WASI preview1 from the host side: it runs the
 * wasi_probe command (tests/wasi/progs/wasi_probe.c, built for
 * wasm32-wasi) under chosen capabilities, stdio and preopened mounts, and
 * checks its output, exit code and timing. Each scenario of the probe
 * checks its own errno values and prints "0 failures" when all of them
 * held.
 *
 * The filesystem scenarios run once per backend (memory, host directory,
 * layered database on SQLite), each on a fresh mount, as test cases named
 * SCENARIO-BACKEND. Given a PostgreSQL connection string, the run is the
 * database backend on PostgreSQL instead: the filesystem scenarios on it
 * (SCENARIO-postgres, each on a tenant of its own) and the "tree"
 * comparison across all four backends.
 *
 * On the host-directory backend the mount is a directory inside a scratch
 * tree that also holds files the guest must never reach; after every
 * scenario a SHA-256 over everything outside the mount (names, types,
 * sizes, times, contents, link targets) must be what it was before. The "tree" scenario runs the same C program on every
 * backend and requires the same stdout and the same resulting tree, read
 * back through the cis_vfs API as a canonical listing with content hashes.
 *
 * Usage: test_wasi PROBE.wasm [@CONNSTR_FILE]
 *   @CONNSTR_FILE  the layered database on PostgreSQL, with the libpq
 *                  connection string in FILE (the shared test server of
 *                  tests/support: test_wasi_postgres); a missing FILE
 *                  skips (77) unless CI=true
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "support/pg_connstr.h"
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cis/cis.h"
#include "cis/cis_vfs.h"
#include "cis/cis_wasi.h"
#include "vfs/vfs_internal.h"
#include "vfs/vfs_testing.h"

static uint8_t *g_wasm;
static size_t g_len;
static cis_engine *g_engine;
static cis_module *g_module;

typedef struct run_out {
  cis_result rc;      /* what cis_wasi_run returned */
  int exit_code;      /* the guest's exit code */
  char out[262144];   /* captured stdout */
  char err[4096];     /* captured stderr */
  double ms;          /* wall time */
  double cpu_ms;      /* the running thread's CPU time */
} run_out;

/* Runs the probe under an existing cis_wasi (which the caller frees). */
static void run_with(cis_wasi *w, uint64_t timeout_ms, run_out *o) {
  memset(o, 0, sizeof *o);
  cis_imports *im;
  assert_int_equal(cis_imports_new(g_engine, &im), CIS_OK);
  assert_int_equal(cis_wasi_add_imports(w, im), CIS_OK);
  cis_limits lim;
  cis_limits_default(&lim);
  lim.timeout_ms = timeout_ms;
  cis_instance *inst;
  cis_result rc = cis_instance_new(g_module, im, &lim, &inst);
  if (rc != CIS_OK) fprintf(stderr, "instantiate: %s\n", cis_errmsg(g_engine));
  assert_int_equal(rc, CIS_OK);
  struct timespec a, b, ca, cb;
  clock_gettime(CLOCK_MONOTONIC, &a);
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ca);
  o->rc = cis_wasi_run(w, inst, &o->exit_code);
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cb);
  clock_gettime(CLOCK_MONOTONIC, &b);
  o->ms = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
  o->cpu_ms = (cb.tv_sec - ca.tv_sec) * 1e3 + (cb.tv_nsec - ca.tv_nsec) / 1e6;
  if (o->rc != CIS_OK) fprintf(stderr, "run: %s\n", cis_errmsg(inst));
  size_t n;
  const uint8_t *p = cis_wasi_output(w, 1, &n);
  if (n >= sizeof o->out) n = sizeof o->out - 1;
  if (p) memcpy(o->out, p, n);
  p = cis_wasi_output(w, 2, &n);
  if (n >= sizeof o->err) n = sizeof o->err - 1;
  if (p) memcpy(o->err, p, n);
  if (!strstr(o->out, "0 failures")) {
    /* Only the failed checks, so that a long scenario stays readable. */
    for (const char *l = o->out; *l;) {
      const char *e = strchr(l, '\n');
      size_t len = e ? (size_t)(e - l) : strlen(l);
      if (strncmp(l, "ok ", 3) != 0) fprintf(stderr, "probe: %.*s\n", (int)len, l);
      l += len + (e != NULL);
    }
  }
  cis_instance_free(inst);
  cis_imports_free(im);
}

/* Runs the probe with argv (argv[0] is the program name) under cfg. */
static void run_probe(cis_wasi_config *cfg, uint64_t timeout_ms, run_out *o) {
  cis_wasi *w;
  assert_int_equal(cis_wasi_new(cfg, &w), CIS_OK);
  run_with(w, timeout_ms, o);
  cis_wasi_free(w);
}

static void config(cis_wasi_config *c, uint32_t caps, size_t argc, const char **argv) {
  cis_wasi_config_default(c);
  c->caps = caps;
  c->argc = argc;
  c->argv = argv;
  c->stdio[0] = c->stdio[1] = c->stdio[2] = CIS_WASI_STDIO_BUFFER;
}

/* ============================================================ backends */

/* BK_DB is the layered database on SQLite, BK_PG the same on PostgreSQL
 * (only with a connection string: see main). */
typedef enum backend_kind {
  BK_MEM = 0,
  BK_HOST = 1,
  BK_DB = 2,
  BK_PG = 3,
  BK_COUNT = 4
} backend_kind;
static const char *const bk_names[BK_COUNT] = {"mem", "host", "db", "postgres"};

/* "postgres:CONNSTR" when the run has a PostgreSQL server, else "". */
static char g_pg_spec[2048];
/* Makes tenant names unique per run: the shared server outlives runs and
 * serves other tests at the same time. */
static char g_run[64];
static unsigned g_tenants;

/* Whether a backend has hard links (the database's link() is EPERM by
 * design). */
static bool bk_hardlinks(backend_kind k) { return k != BK_DB && k != BK_PG; }

/* One backend instance for one test: its scratch place on the host and,
 * once mounted, the mount. */
typedef struct fixture {
  backend_kind kind;      /* which backend */
  char scratch[256];      /* host/db: the scratch directory (removed at the end) */
  char mountdir[300];     /* host: scratch/mount, the directory mounted */
  char dbpath[300];       /* db: scratch/fs.db */
  cis_vfs *fs;            /* the mount */
  uint8_t outside[32];    /* host: hash of the scratch tree outside the mount */
} fixture;

static void write_host_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
}

/* Makes the backend of fx->kind; on the host, the scratch tree holds
 * outside.txt and secret/key next to the mount, which no guest may
 * touch. */
static cis_result new_backend(fixture *fx, cis_vfs_backend **b) {
  if (fx->kind == BK_MEM) return cis_vfs_mem_new(b);
  if (fx->kind == BK_PG) {
    assert_true(g_pg_spec[0] != '\0');
    char tenant[128];
    snprintf(tenant, sizeof tenant, "wasi-%s-%u", g_run, ++g_tenants);
    cis_vfs_db_config cfg;
    cis_vfs_db_config_default(&cfg);
    cfg.spec = g_pg_spec;
    cfg.tenant = tenant;
    return cis_vfs_db_new(&cfg, b);
  }
  strcpy(fx->scratch, "/tmp/cis-wasi-XXXXXX");
  assert_non_null(mkdtemp(fx->scratch));
  if (fx->kind == BK_HOST) {
    char p[400];
    snprintf(fx->mountdir, sizeof fx->mountdir, "%s/mount", fx->scratch);
    assert_int_equal(mkdir(fx->mountdir, 0755), 0);
    snprintf(p, sizeof p, "%s/outside.txt", fx->scratch);
    write_host_file(p, "outside\n");
    snprintf(p, sizeof p, "%s/secret", fx->scratch);
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(p, sizeof p, "%s/secret/key", fx->scratch);
    write_host_file(p, "do not read\n");
    return cis_vfs_host_new(fx->mountdir, b);
  }
  snprintf(fx->dbpath, sizeof fx->dbpath, "%s/fs.db", fx->scratch);
  char spec[320];
  snprintf(spec, sizeof spec, "sqlite:%s", fx->dbpath);
  cis_vfs_db_config cfg;
  cis_vfs_db_config_default(&cfg);
  cfg.spec = spec;
  cfg.tenant = "wasi-test";
  return cis_vfs_db_new(&cfg, b);
}

/* Creates dir/name holding text through a backend's own methods (before
 * it is mounted, so that a read-only mount can hold something). */
static void seed_file(cis_vfs_backend *b, cis_vfs_node *dir, const char *name, const char *text) {
  cis_vfs_node *n;
  assert_int_equal(b->methods->open(b, dir, name, CIS_VFS_READ | CIS_VFS_WRITE | CIS_VFS_CREAT, &n),
                   0);
  size_t put = 0;
  assert_int_equal(b->methods->write(b, n, text, strlen(text), 0, &put), 0);
  assert_int_equal(put, strlen(text));
  b->methods->close(b, n);
}

/* existing.txt = "seed\n", sub/inner.txt = "inner\n". */
static void seed_backend(cis_vfs_backend *b) {
  const cis_vfs_methods *m = b->methods;
  cis_vfs_node *root, *sub;
  assert_int_equal(m->root(b, &root), 0);
  seed_file(b, root, "existing.txt", "seed\n");
  assert_int_equal(m->mkdir(b, root, "sub"), 0);
  assert_int_equal(m->open(b, root, "sub", CIS_VFS_READ | CIS_VFS_DIRECTORY, &sub), 0);
  seed_file(b, sub, "inner.txt", "inner\n");
  m->close(b, sub);
  m->close(b, root);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Hashes a host tree: each entry (sorted by name) with its type, mode,
 * size and mtime, a file's content and a symlink's target; `skip` (the
 * mount) is left out. */
static void hash_host_tree(EVP_MD_CTX *md, const char *dir, const char *skip) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  char *names[256];
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    assert_true(n < 256);
    names[n++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof names[0], cmp_str);
  for (size_t i = 0; i < n; i++) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, names[i]);
    free(names[i]);
    if (!strcmp(p, skip)) continue;
    struct stat st;
    assert_int_equal(lstat(p, &st), 0);
    char meta[1200];
    int ml = snprintf(meta, sizeof meta, "%s %o %lld %lld.%09ld\n", p, (unsigned)st.st_mode,
                      (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    EVP_DigestUpdate(md, meta, (size_t)ml);
    if (S_ISDIR(st.st_mode)) {
      hash_host_tree(md, p, skip);
    } else if (S_ISLNK(st.st_mode)) {
      char t[4096];
      ssize_t l = readlink(p, t, sizeof t);
      assert_true(l >= 0);
      EVP_DigestUpdate(md, t, (size_t)l);
    } else if (S_ISREG(st.st_mode)) {
      FILE *f = fopen(p, "rb");
      assert_non_null(f);
      char buf[4096];
      size_t r;
      while ((r = fread(buf, 1, sizeof buf, f)) > 0) EVP_DigestUpdate(md, buf, r);
      fclose(f);
    }
  }
}

static void hash_outside(const fixture *fx, uint8_t out[32]) {
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  assert_non_null(md);
  assert_int_equal(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
  hash_host_tree(md, fx->scratch, fx->mountdir);
  unsigned len = 32;
  assert_int_equal(EVP_DigestFinal_ex(md, out, &len), 1);
  EVP_MD_CTX_free(md);
}

/* Makes and mounts the backend; with `seed`, existing.txt and sub/ are
 * there before the mount (read-only mounts need that). On the host,
 * remembers the hash of what lies outside the mount. */
static void fixture_open(fixture *fx, backend_kind kind, const cis_vfs_options *opts, bool seed) {
  memset(fx, 0, sizeof *fx);
  fx->kind = kind;
  cis_vfs_backend *b = NULL;
  cis_result rc = new_backend(fx, &b);
  if (rc != CIS_OK) fprintf(stderr, "%s backend: %s\n", bk_names[kind], b ? b->errmsg : "");
  assert_int_equal(rc, CIS_OK);
  if (seed) seed_backend(b);
  rc = cis_vfs_mount(b, opts, &fx->fs);
  if (rc != CIS_OK) fprintf(stderr, "mount: %s\n", cis_vfs_errmsg(fx->fs));
  assert_int_equal(rc, CIS_OK);
  if (kind == BK_HOST) hash_outside(fx, fx->outside);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(p);
}

/* Unmounts, checks on the host that nothing outside the mount changed,
 * and removes the scratch tree. */
static void fixture_close(fixture *fx) {
  cis_vfs_unmount(fx->fs);
  fx->fs = NULL;
  if (fx->kind == BK_HOST) {
    uint8_t now[32];
    hash_outside(fx, now);
    assert_memory_equal(now, fx->outside, 32);
  }
  if (fx->scratch[0]) nftw(fx->scratch, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ================================================ a big-cookie backend */

/* The memory backend seen through a wrapper whose readdir cookies are
 * huge, as the kernel's d_off hashes of a host filesystem are, so that
 * the mapping of large cookies to ones a wasm32 guest's telldir can hold
 * is tested whatever filesystem /tmp is on. With `synthetic` set, every
 * directory lists that many made-up entries instead. */
#define BIG_COOKIE (1ull << 40)

typedef struct big_fs {
  cis_vfs_backend base;   /* first, as the VFS requires */
  cis_vfs_backend *inner; /* the memory backend doing the work */
  uint64_t synthetic;     /* 0: the inner listing; else entries per directory */
} big_fs;

#define INNER(b) (((big_fs *)(b))->inner)
#define FWD(call) INNER(b)->methods->call

static void big_destroy(cis_vfs_backend *b) {
  FWD(destroy)(INNER(b));
  free(b);
}
static int big_root(cis_vfs_backend *b, cis_vfs_node **out) { return FWD(root)(INNER(b), out); }
static int big_usage(cis_vfs_backend *b, uint64_t *bytes, uint64_t *nodes) {
  return FWD(usage)(INNER(b), bytes, nodes);
}
static int big_lookup(cis_vfs_backend *b, cis_vfs_node *d, const char *n, uint32_t flags,
                      cis_vfs_stat *st) {
  return FWD(lookup)(INNER(b), d, n, flags, st);
}
static int big_open(cis_vfs_backend *b, cis_vfs_node *d, const char *n, uint32_t fl,
                    cis_vfs_node **out) {
  return FWD(open)(INNER(b), d, n, fl, out);
}
static int big_mkdir(cis_vfs_backend *b, cis_vfs_node *d, const char *n) {
  return FWD(mkdir)(INNER(b), d, n);
}
static int big_rmdir(cis_vfs_backend *b, cis_vfs_node *d, const char *n) {
  return FWD(rmdir)(INNER(b), d, n);
}
static int big_unlink(cis_vfs_backend *b, cis_vfs_node *d, const char *n) {
  return FWD(unlink)(INNER(b), d, n);
}
static int big_rename(cis_vfs_backend *b, cis_vfs_node *od, const char *on, cis_vfs_node *nd,
                      const char *nn) {
  return FWD(rename)(INNER(b), od, on, nd, nn);
}
static int big_symlink(cis_vfs_backend *b, cis_vfs_node *d, const char *n, const char *t) {
  return FWD(symlink)(INNER(b), d, n, t);
}
static int big_readlink(cis_vfs_backend *b, cis_vfs_node *d, const char *n, char *buf,
                        size_t cap, size_t *len) {
  return FWD(readlink)(INNER(b), d, n, buf, cap, len);
}
static int big_link(cis_vfs_backend *b, cis_vfs_node *od, const char *on, cis_vfs_node *nd,
                    const char *nn) {
  return FWD(link)(INNER(b), od, on, nd, nn);
}
static void big_close(cis_vfs_backend *b, cis_vfs_node *n) { FWD(close)(INNER(b), n); }
static int big_stat(cis_vfs_backend *b, cis_vfs_node *n, cis_vfs_stat *st) {
  return FWD(stat)(INNER(b), n, st);
}
static int big_read(cis_vfs_backend *b, cis_vfs_node *n, void *buf, size_t len, uint64_t off,
                    size_t *got) {
  return FWD(read)(INNER(b), n, buf, len, off, got);
}
static int big_write(cis_vfs_backend *b, cis_vfs_node *n, const void *buf, size_t len,
                     uint64_t off, size_t *put) {
  return FWD(write)(INNER(b), n, buf, len, off, put);
}
static int big_truncate(cis_vfs_backend *b, cis_vfs_node *n, uint64_t size) {
  return FWD(truncate)(INNER(b), n, size);
}
static int big_set_times(cis_vfs_backend *b, cis_vfs_node *n, uint64_t at, uint64_t mt,
                         uint32_t fl) {
  return FWD(set_times)(INNER(b), n, at, mt, fl);
}
static int big_sync(cis_vfs_backend *b, cis_vfs_node *n) { return FWD(sync)(INNER(b), n); }
static int big_readdir(cis_vfs_backend *b, cis_vfs_node *d, uint64_t cookie, cis_vfs_dirent *e) {
  big_fs *bf = (big_fs *)b;
  if (cookie && cookie < BIG_COOKIE) return EINVAL;
  uint64_t c = cookie ? cookie - BIG_COOKIE : 0;
  if (bf->synthetic) {
    if (c >= bf->synthetic) return ENOENT;
    memset(e, 0, sizeof *e);
    e->namelen = (size_t)snprintf(e->name, sizeof e->name, "e%llu", (unsigned long long)c);
    e->ino = c + 1000;
    e->type = CIS_VFS_REG;
    e->next = BIG_COOKIE + c + 1;
    return 0;
  }
  int err = FWD(readdir)(INNER(b), d, c, e);
  if (!err) e->next += BIG_COOKIE;
  return err;
}

static const cis_vfs_methods big_methods = {
    .version = CIS_VFS_METHODS_VERSION,
    .name = "big",
    .destroy = big_destroy,
    .root = big_root,
    .usage = big_usage,
    .lookup = big_lookup,
    .open = big_open,
    .mkdir = big_mkdir,
    .rmdir = big_rmdir,
    .unlink = big_unlink,
    .rename = big_rename,
    .symlink = big_symlink,
    .readlink = big_readlink,
    .link = big_link,
    .close = big_close,
    .stat = big_stat,
    .read = big_read,
    .write = big_write,
    .truncate = big_truncate,
    .set_times = big_set_times,
    .sync = big_sync,
    .readdir = big_readdir,
};

static cis_vfs *big_mount(uint64_t synthetic) {
  big_fs *bf = calloc(1, sizeof *bf);
  assert_non_null(bf);
  assert_int_equal(cis_vfs_mem_new(&bf->inner), CIS_OK);
  bf->base.methods = &big_methods;
  bf->synthetic = synthetic;
  cis_vfs *fs;
  assert_int_equal(cis_vfs_mount(&bf->base, NULL, &fs), CIS_OK);
  return fs;
}

/* A cis_vfs_file helper: the root of the mount. */
static cis_vfs_file *root_of(cis_vfs *fs) {
  cis_vfs_file *r;
  assert_int_equal(cis_vfs_open_root(fs, &r), 0);
  return r;
}

static void vfs_write(cis_vfs_file *dir, const char *path, const char *text) {
  cis_vfs_file *f;
  assert_int_equal(cis_vfs_openat(dir, path, strlen(path),
                                  CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_TRUNC, &f),
                   0);
  size_t put;
  assert_int_equal(cis_vfs_pwrite(f, text, strlen(text), 0, &put), 0);
  cis_vfs_close(f);
}

static void vfs_symlink(cis_vfs_file *dir, const char *target, const char *path) {
  assert_int_equal(cis_vfs_symlinkat(target, strlen(target), dir, path, strlen(path)), 0);
}

/* ======================================================= the listing */

typedef struct strbuf {
  char *s;    /* text, NUL-terminated */
  size_t len; /* bytes used */
  size_t cap; /* bytes allocated */
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char tmp[8192];
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  assert_true(n >= 0 && (size_t)n < sizeof tmp);
  if (b->len + (size_t)n + 1 > b->cap) {
    b->cap = (b->len + (size_t)n + 1) * 2;
    b->s = realloc(b->s, b->cap);
    assert_non_null(b->s);
  }
  memcpy(b->s + b->len, tmp, (size_t)n + 1);
  b->len += (size_t)n;
}

/* Appends a canonical listing of dir (path `at`) read through the cis_vfs
 * API: entries sorted by name, a directory's entries after it, a file's
 * size, link count and SHA-256, a symlink's target. */
static void list_vfs(cis_vfs_file *dir, const char *at, strbuf *out) {
  char *names[256];
  size_t n = 0;
  cis_vfs_dirent ent;
  for (uint64_t c = 0; cis_vfs_readdir(dir, c, &ent) == 0; c = ent.next) {
    if (!strcmp(ent.name, ".") || !strcmp(ent.name, "..")) continue;
    assert_true(n < 256);
    names[n++] = strdup(ent.name);
  }
  qsort(names, n, sizeof names[0], cmp_str);
  for (size_t i = 0; i < n; i++) {
    const char *name = names[i];
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", at, name);
    cis_vfs_stat st;
    assert_int_equal(cis_vfs_statat(dir, name, strlen(name), 0, &st), 0);
    if (st.type == CIS_VFS_DIR) {
      sb_printf(out, "d %s\n", path);
      cis_vfs_file *sub;
      assert_int_equal(cis_vfs_openat(dir, name, strlen(name), CIS_VFS_READ | CIS_VFS_DIRECTORY,
                                      &sub),
                       0);
      list_vfs(sub, path, out);
      cis_vfs_close(sub);
    } else if (st.type == CIS_VFS_SYMLINK) {
      char t[CIS_VFS_PATH_MAX];
      size_t tl = 0;
      assert_int_equal(cis_vfs_readlinkat(dir, name, strlen(name), t, sizeof t, &tl), 0);
      sb_printf(out, "l %s -> %.*s\n", path, (int)tl, t);
    } else {
      cis_vfs_file *f;
      assert_int_equal(cis_vfs_openat(dir, name, strlen(name), CIS_VFS_READ, &f), 0);
      EVP_MD_CTX *md = EVP_MD_CTX_new();
      EVP_DigestInit_ex(md, EVP_sha256(), NULL);
      uint8_t buf[4096];
      uint64_t off = 0;
      for (;;) {
        size_t got = 0;
        assert_int_equal(cis_vfs_pread(f, buf, sizeof buf, off, &got), 0);
        if (!got) break;
        EVP_DigestUpdate(md, buf, got);
        off += got;
      }
      uint8_t h[32];
      unsigned hl = 32;
      EVP_DigestFinal_ex(md, h, &hl);
      EVP_MD_CTX_free(md);
      cis_vfs_close(f);
      sb_printf(out, "f %s %llu %llu ", path, (unsigned long long)st.size,
                (unsigned long long)st.nlink);
      for (int k = 0; k < 32; k++) sb_printf(out, "%02x", h[k]);
      sb_printf(out, "\n");
      assert_int_equal(off, st.size);
    }
    free(names[i]);
  }
}

/* ================================================== scenario runner */

#define FS_CAPS (CIS_WASI_CAP_ARGS | CIS_WASI_CAP_ENV | CIS_WASI_CAP_CLOCK) /* fs scenarios */

/* Runs `probe SCENARIO [ARG]` with fx's mount preopened at /work. */
static void run_fs(fixture *fx, const char *scenario, const char *arg, run_out *o,
                   cis_wasi **keep) {
  const char *argv[] = {"probe", scenario, arg};
  /* The database backend has no hard links (link is EPERM by design). */
  const char *envp[] = {bk_hardlinks(fx->kind) ? "HARDLINKS=1" : "HARDLINKS=0"};
  cis_wasi_config c;
  config(&c, FS_CAPS, arg ? 3 : 2, argv);
  c.envc = 1;
  c.envp = envp;
  cis_wasi *w;
  assert_int_equal(cis_wasi_new(&c, &w), CIS_OK);
  assert_int_equal(cis_wasi_preopen(w, fx->fs, "/work"), CIS_OK);
  run_with(w, 60000, o);
  if (keep) *keep = w;
  else cis_wasi_free(w);
}

static void expect_pass(const run_out *o) {
  assert_int_equal(o->rc, CIS_OK);
  assert_non_null(strstr(o->out, "\n0 failures\n"));
  assert_null(strstr(o->out, "FAIL"));
  assert_int_equal(o->exit_code, 0);
}

typedef struct fs_case {
  char name[48];          /* SCENARIO-BACKEND, the cmocka test name */
  const char *scenario;   /* the probe's argv[1] */
  const char *arg;        /* its argv[2], or NULL */
  backend_kind kind;      /* which backend */
  void (*prepare)(fixture *fx); /* seeds the mount before the run, or NULL */
  cis_vfs_options opts;   /* mount options */
  bool seed;              /* seed through the backend before mounting */
  void (*after)(fixture *fx, const run_out *o); /* extra checks, or NULL */
} fs_case;

/* Seeds the hostile scenario's traps inside the mount. */
static void prepare_hostile(fixture *fx) {
  cis_vfs_file *r = root_of(fx->fs);
  vfs_write(r, "victim.txt", "victim\n");
  assert_int_equal(cis_vfs_mkdirat(r, "sub", 3), 0);
  vfs_symlink(r, "/etc/passwd", "abs_link");
  vfs_symlink(r, "../outside.txt", "rel_link");
  vfs_symlink(r, "sub/chain2", "chain1");
  vfs_symlink(r, "../../outside.txt", "sub/chain2");
  vfs_symlink(r, "loop2", "loop1");
  vfs_symlink(r, "loop1", "loop2");
  vfs_symlink(r, "..", "dirup");
  cis_vfs_close(r);
}

/* The quota scenario leaves q.txt (12 bytes), after.bin (5), n01..n13 and
 * dd/: the usage the quotas count must say so. */
static void after_quota(fixture *fx, const run_out *o) {
  (void)o;
  uint64_t bytes, nodes;
  cis_vfs_usage(fx->fs, &bytes, &nodes);
  assert_int_equal(bytes, 17);
  assert_int_equal(nodes, 16);
}

/* After the files scenario: what the guest left, seen by the host. */
static void after_files(fixture *fx, const run_out *o) {
  (void)o;
  cis_vfs_file *r = root_of(fx->fs);
  cis_vfs_stat st;
  assert_int_equal(cis_vfs_statat(r, "a.txt", 5, 0, &st), 0);
  assert_int_equal(st.size, 15);
  assert_int_equal(cis_vfs_statat(r, "r.txt", 5, 0, &st), ENOENT);
  cis_vfs_close(r);
}

static void run_fs_case(void **state) {
  const fs_case *k = *state;
  fixture fx;
  fixture_open(&fx, k->kind, &k->opts, k->seed);
  if (k->prepare) k->prepare(&fx);
  run_out *o = malloc(sizeof *o);
  assert_non_null(o);
  run_fs(&fx, k->scenario, k->arg, o, NULL);
  expect_pass(o);
  if (k->after) k->after(&fx, o);
  free(o);
  fixture_close(&fx);
}

/* ================================================= non-fs scenarios */

static void args_and_env(void **st) {
  (void)st;
  const char *argv[] = {"probe", "args", "two words", "\xc3\xa9"};
  const char *envp[] = {"A=1", "B=x=y"};
  cis_wasi_config c;
  config(&c, CIS_WASI_CAP_ALL, 4, argv);
  c.envc = 2;
  c.envp = envp;
  static run_out o;
  run_probe(&c, 5000, &o);
  assert_int_equal(o.rc, CIS_OK);
  assert_int_equal(o.exit_code, 0);
  assert_non_null(strstr(o.out, "arg 2 two words\n"));
  assert_non_null(strstr(o.out, "arg 3 \xc3\xa9\n"));
  const char *envargv[] = {"probe", "env"};
  c.argc = 2;
  c.argv = envargv;
  run_probe(&c, 5000, &o);
  assert_non_null(strstr(o.out, "env A=1\n"));
  assert_non_null(strstr(o.out, "env B=x=y\n"));
}

static void stdio_capture(void **st) {
  (void)st;
  const char *argv[] = {"probe", "stdio"};
  cis_wasi_config c;
  config(&c, CIS_WASI_CAP_ALL, 2, argv);
  c.stdin_data = (const uint8_t *)"{\"in\":1}";
  c.stdin_len = 8;
  static run_out o;
  run_probe(&c, 5000, &o);
  assert_int_equal(o.rc, CIS_OK);
  assert_non_null(strstr(o.out, "{\"in\":1}"));
  assert_string_equal(o.err, "stderr line\n");
  /* A null stdout swallows everything; the program still succeeds. */
  c.stdio[1] = CIS_WASI_STDIO_NULL;
  run_probe(&c, 5000, &o);
  assert_int_equal(o.rc, CIS_OK);
  assert_string_equal(o.out, "");
}

static void clocks_random_sockets(void **st) {
  (void)st;
  const char *scen[] = {"clocks", "random", "sockets"};
  for (int i = 0; i < 3; i++) {
    const char *argv[] = {"probe", scen[i]};
    cis_wasi_config c;
    config(&c, CIS_WASI_CAP_ALL, 2, argv);
    static run_out o;
    run_probe(&c, 5000, &o);
    assert_int_equal(o.rc, CIS_OK);
    assert_int_equal(o.exit_code, 0);
    assert_non_null(strstr(o.out, "0 failures"));
  }
}

static void denied_capabilities(void **st) {
  (void)st;
  /* No capability at all: the probe sees argc == 0 and runs its "denied"
   * scenario, checking each denied call's errno from inside. */
  const char *argv[] = {"probe", "ignored"};
  cis_wasi_config c;
  config(&c, 0, 2, argv);
  static run_out o;
  run_probe(&c, 5000, &o);
  assert_int_equal(o.rc, CIS_OK);
  assert_non_null(strstr(o.out, "ok args-empty"));
  assert_non_null(strstr(o.out, "ok clock-denied"));
  assert_non_null(strstr(o.out, "ok random-denied"));
  assert_non_null(strstr(o.out, "ok sock-accept-nocap-notsock"));
  assert_non_null(strstr(o.out, "ok sock-shutdown-nocap-badf"));
  assert_non_null(strstr(o.out, "0 failures"));
}

static void exit_codes(void **st) {
  (void)st;
  const char *argv[] = {"probe", "exit", "7"};
  cis_wasi_config c;
  config(&c, CIS_WASI_CAP_ARGS, 3, argv);
  static run_out o;
  run_probe(&c, 5000, &o);
  assert_int_equal(o.rc, CIS_OK); /* proc_exit ends the call, it is no trap */
  assert_int_equal(o.exit_code, 7);
}

/* poll_oneoff with descriptor subscriptions (stdin, stdout, a file, a
 * descriptor without the poll right, bad descriptors) and bad clock ids:
 * the probe checks every event field against the witx semantics, on each
 * backend. stdin holds "hello". */
static void poll_descriptors(void **st) {
  (void)st;
  const backend_kind kinds[] = {BK_MEM, BK_HOST, BK_DB};
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    fixture fx;
    fixture_open(&fx, kinds[i], NULL, false);
    const char *argv[] = {"probe", "poll"};
    cis_wasi_config c;
    config(&c, FS_CAPS, 2, argv);
    c.stdin_data = (const uint8_t *)"hello";
    c.stdin_len = 5;
    cis_wasi *w;
    assert_int_equal(cis_wasi_new(&c, &w), CIS_OK);
    assert_int_equal(cis_wasi_preopen(w, fx.fs, "/work"), CIS_OK);
    static run_out o;
    run_with(w, 20000, &o);
    cis_wasi_free(w);
    fixture_close(&fx);
    assert_int_equal(o.rc, CIS_OK);
    assert_non_null(strstr(o.out, "ok poll-mixed-events\n"));
    assert_non_null(strstr(o.out, "\n0 failures\n"));
    assert_int_equal(o.exit_code, 0);
  }
}

/* poll_oneoff honours the call's deadline: a 60 s sleep under a 1 s
 * deadline ends with CIS_ETIMEOUT, never before the deadline (it starts
 * inside the run, so the exact bound holds) and long before the 60 s. The
 * wait sleeps, so a loaded machine can only make it late in wall time:
 * the upper bound is ten times the deadline, which a deadline that poll
 * ignores (60 s) or that fires several times late still fails. */
static void sleep_deadline(void **st) {
  (void)st;
  const char *argv[] = {"probe", "sleep", "60"};
  cis_wasi_config c;
  config(&c, CIS_WASI_CAP_ALL, 3, argv);
  static run_out o;
  run_probe(&c, 1000, &o);
  print_message("deadline 1000 ms: the sleep ended after %.1f ms wall, %.1f ms CPU\n", o.ms,
                o.cpu_ms);
  assert_int_equal(o.rc, CIS_ETIMEOUT);
  if (o.ms < 1000.0) fail_msg("the sleep ended early, after %.1f ms", o.ms);
  if (o.ms > 1000.0 * 10) fail_msg("the sleep ended after %.1f ms for a 1000 ms deadline", o.ms);
  assert_null(strstr(o.out, "woke"));
}

/* Bad configuration is refused with a typed error. */
/* cis_wasi_new(c) fails with CIS_EINVAL: a failed context holding want,
 * which refuses what is asked of it and frees alone. */
static void wasi_new_fails(const cis_wasi_config *c, const char *want) {
  cis_wasi *w = NULL;
  assert_int_equal(cis_wasi_new(c, &w), CIS_EINVAL);
  assert_non_null(w);
  if (!strstr(cis_errmsg(w), want)) fail_msg("message \"%s\" lacks \"%s\"", cis_errmsg(w), want);
  cis_engine *e = NULL;
  cis_imports *im = NULL;
  assert_int_equal(cis_engine_new(NULL, &e), CIS_OK);
  assert_int_equal(cis_imports_new(e, &im), CIS_OK);
  assert_int_equal(cis_wasi_add_imports(w, im), CIS_ESTATE);
  size_t len = 1;
  assert_null(cis_wasi_output(w, 1, &len));
  assert_int_equal(len, 0);
  assert_non_null(strstr(cis_errmsg(w), want));
  cis_imports_free(im);
  cis_engine_free(e);
  cis_wasi_free(w);
}

static void bad_config(void **st) {
  (void)st;
  cis_wasi_config c;
  cis_wasi_config_default(&c);
  c.argc = 2;
  c.argv = NULL;
  wasi_new_fails(&c, "argc without argv");
  cis_wasi_config_default(&c);
  c.stdio[1] = (cis_wasi_stdio)9;
  wasi_new_fails(&c, "stdio[1]");
  cis_wasi_config_default(&c);
  c.stdin_len = 4;
  wasi_new_fails(&c, "stdin_len without stdin_data");
  wasi_new_fails(NULL, "NULL config");
  assert_int_equal(cis_wasi_new(&c, NULL), CIS_EINVAL);
  assert_int_equal(cis_wasi_add_imports(NULL, NULL), CIS_EINVAL);
}

/* ============================================== preopens and errors */

/* cis_wasi_preopen refuses bad arguments and a full table, reports a
 * storage failure at open as a typed error, and numbers preopens 3, 4,
 * ... in order, which the guest sees through fd_prestat_*. */
static void preopen_api(void **st) {
  (void)st;
  fixture fx;
  fixture_open(&fx, BK_MEM, NULL, false);
  cis_wasi_config c;
  const char *argv[] = {"probe", "preopens"};
  config(&c, FS_CAPS, 2, argv);
  cis_wasi *w;
  assert_int_equal(cis_wasi_new(&c, &w), CIS_OK);
  assert_int_equal(cis_wasi_preopen(NULL, fx.fs, "/a"), CIS_EINVAL);
  assert_int_equal(cis_wasi_preopen(w, NULL, "/a"), CIS_EINVAL);
  assert_int_equal(cis_wasi_preopen(w, fx.fs, NULL), CIS_EINVAL);
  assert_int_equal(cis_wasi_preopen(w, fx.fs, ""), CIS_EINVAL);
  /* The storage is down when the root is opened. */
  cis__vfs_inject_fault(fx.fs, 0, 1, CIS_VFS_EDOWN);
  assert_int_equal(cis_wasi_preopen(w, fx.fs, "/a"), CIS_EVFSDOWN);
  const char *msg;
  assert_int_equal(cis_wasi_last_vfs_error(w, &msg), CIS_EVFSDOWN);
  assert_true(strncmp(msg, "preopen: ", 9) == 0 && strlen(msg) > 9);
  cis_wasi_clear_vfs_error(w);
  assert_int_equal(cis_wasi_last_vfs_error(w, &msg), CIS_OK);
  assert_string_equal(msg, "");
  assert_int_equal(cis__vfs_open_files(fx.fs), 0);
  /* Several preopens, on one mount too. */
  assert_int_equal(cis_wasi_preopen(w, fx.fs, "/a"), CIS_OK);
  assert_int_equal(cis_wasi_preopen(w, fx.fs, "/b"), CIS_OK);
  assert_int_equal(cis_wasi_preopen(w, fx.fs, "."), CIS_OK);
  assert_int_equal(cis__vfs_open_files(fx.fs), 3);
  static run_out o;
  run_with(w, 10000, &o);
  assert_int_equal(o.rc, CIS_OK);
  assert_string_equal(o.out, "preopen 3 /a\npreopen 4 /b\npreopen 5 .\n0 failures\n");
  cis_wasi_free(w);
  assert_int_equal(cis__vfs_open_files(fx.fs), 0);

  /* A table of max_fds slots has room for max_fds - 3 preopens. */
  c.max_fds = 4;
  assert_int_equal(cis_wasi_new(&c, &w), CIS_OK);
  assert_int_equal(cis_wasi_preopen(w, fx.fs, "/a"), CIS_OK);
  assert_int_equal(cis_wasi_preopen(w, fx.fs, "/b"), CIS_ESTATE);
  assert_int_equal(cis__vfs_open_files(fx.fs), 1);
  cis_wasi_free(w);
  assert_int_equal(cis_wasi_last_vfs_error(NULL, &msg), CIS_EINVAL);
  assert_string_equal(msg, "");
  cis_wasi_clear_vfs_error(NULL);
  fixture_close(&fx);
}

/* Files a guest leaves open are closed by cis_wasi_free, and a guest that
 * runs out of descriptors gets EMFILE. */
static void leftover_files(void **st) {
  (void)st;
  fixture fx;
  fixture_open(&fx, BK_MEM, NULL, true);
  cis_wasi *w;
  static run_out o;
  run_fs(&fx, "leave", NULL, &o, &w);
  expect_pass(&o);
  assert_true(cis__vfs_open_files(fx.fs) > 1);
  cis_wasi_free(w);
  assert_int_equal(cis__vfs_open_files(fx.fs), 0);
  fixture_close(&fx);
}

/* The storage fails under the guest: it sees EIO, the host sees the typed
 * error, which later ordinary failures do not hide. */
static void storage_down(void **st) {
  (void)st;
  for (int k = BK_MEM; k <= BK_HOST; k++) {
    fixture fx;
    fixture_open(&fx, (backend_kind)k, NULL, true);
    cis_wasi *w;
    static run_out o;
    /* Every call fails. */
    const char *argv[] = {"probe", "down", "all"};
    cis_wasi_config c;
    config(&c, FS_CAPS, 3, argv);
    assert_int_equal(cis_wasi_new(&c, &w), CIS_OK);
    assert_int_equal(cis_wasi_preopen(w, fx.fs, "/work"), CIS_OK);
    const char *msg;
    assert_int_equal(cis_wasi_last_vfs_error(w, &msg), CIS_OK);
    cis__vfs_inject_fault(fx.fs, 0, 1000000, CIS_VFS_EDOWN);
    run_with(w, 10000, &o);
    expect_pass(&o);
    assert_int_equal(cis_wasi_last_vfs_error(w, &msg), CIS_EVFSDOWN);
    assert_non_null(strchr(msg, ':'));
    cis_wasi_free(w);

    /* Only the first call fails; the ENOENT after it does not hide it. */
    cis__vfs_inject_fault(fx.fs, 0, 0, 0);
    argv[2] = "once";
    assert_int_equal(cis_wasi_new(&c, &w), CIS_OK);
    assert_int_equal(cis_wasi_preopen(w, fx.fs, "/work"), CIS_OK);
    cis__vfs_inject_fault(fx.fs, 0, 1, CIS_VFS_EDOWN);
    run_with(w, 10000, &o);
    expect_pass(&o);
    assert_int_equal(cis_wasi_last_vfs_error(w, &msg), CIS_EVFSDOWN);
    assert_true(strncmp(msg, "path_open: ", 11) == 0);
    cis_wasi_clear_vfs_error(w);
    assert_int_equal(cis_wasi_last_vfs_error(w, &msg), CIS_OK);
    cis_wasi_free(w);

    /* A plain I/O error is EIO too, and CIS_EVFS for the host. */
    cis__vfs_inject_fault(fx.fs, 0, 0, 0);
    argv[2] = "all";
    assert_int_equal(cis_wasi_new(&c, &w), CIS_OK);
    assert_int_equal(cis_wasi_preopen(w, fx.fs, "/work"), CIS_OK);
    cis__vfs_inject_fault(fx.fs, 0, 1000000, EIO);
    run_with(w, 10000, &o);
    expect_pass(&o);
    assert_int_equal(cis_wasi_last_vfs_error(w, &msg), CIS_EVFS);
    cis_wasi_free(w);
    cis__vfs_inject_fault(fx.fs, 0, 0, 0);
    fixture_close(&fx);
  }
}

/* Two mounts: copies between them work, rename and link across are
 * EXDEV; the last failure the host sees is the ordinary last one. */
static void two_mounts(void **st) {
  (void)st;
  fixture a, b;
  fixture_open(&a, BK_MEM, NULL, false);
  fixture_open(&b, BK_HOST, NULL, false);
  const char *argv[] = {"probe", "twomounts"};
  cis_wasi_config c;
  config(&c, FS_CAPS, 2, argv);
  cis_wasi *w;
  assert_int_equal(cis_wasi_new(&c, &w), CIS_OK);
  assert_int_equal(cis_wasi_preopen(w, a.fs, "/a"), CIS_OK);
  assert_int_equal(cis_wasi_preopen(w, b.fs, "/b"), CIS_OK);
  static run_out o;
  run_with(w, 10000, &o);
  expect_pass(&o);
  const char *msg;
  assert_int_equal(cis_wasi_last_vfs_error(w, &msg), CIS_ENOTFOUND);
  assert_true(strncmp(msg, "path_filestat_get: ", 19) == 0);
  cis_wasi_free(w);
  char p[400];
  snprintf(p, sizeof p, "%s/x.txt", b.mountdir);
  FILE *f = fopen(p, "r");
  assert_non_null(f);
  char line[64] = "";
  assert_non_null(fgets(line, sizeof line, f));
  fclose(f);
  assert_string_equal(line, "from a\n");
  fixture_close(&a);
  fixture_close(&b);
}

/* The same program leaves the same tree and prints the same on every
 * backend (PostgreSQL included when the run has a server). */
static void same_tree_everywhere(void **st) {
  (void)st;
  int nkinds = g_pg_spec[0] ? BK_COUNT : BK_PG;
  char *outs[BK_COUNT] = {0}, *trees[BK_COUNT] = {0};
  for (int k = 0; k < nkinds; k++) {
    fixture fx;
    fixture_open(&fx, (backend_kind)k, NULL, false);
    run_out *o = malloc(sizeof *o);
    assert_non_null(o);
    run_fs(&fx, "tree", NULL, o, NULL);
    expect_pass(o);
    outs[k] = strdup(o->out);
    free(o);
    strbuf sb = {0};
    cis_vfs_file *r = root_of(fx.fs);
    list_vfs(r, "", &sb);
    cis_vfs_close(r);
    trees[k] = sb.s;
    fixture_close(&fx);
    if (k > 0) {
      if (strcmp(outs[k], outs[0])) fprintf(stderr, "%s stdout:\n%s\n", bk_names[k], outs[k]);
      assert_string_equal(outs[k], outs[0]);
      if (strcmp(trees[k], trees[0]))
        fprintf(stderr, "mem tree:\n%s\n%s tree:\n%s\n", trees[0], bk_names[k], trees[k]);
      assert_string_equal(trees[k], trees[0]);
    }
  }
  /* What the program made, as the host reads it. */
  assert_non_null(strstr(trees[0], "l /proj/main.c -> src/f0.c\n"));
  assert_non_null(strstr(trees[0], "d /proj/empty\n"));
  assert_non_null(strstr(trees[0], "f /proj/copy.c 28 1 "));
  assert_null(strstr(trees[0], "f5.c"));
  assert_non_null(strstr(outs[0], "file /work/proj/README 14 nlink=1 first=\"# proj 1\"\n"));
  for (int k = 0; k < nkinds; k++) {
    free(outs[k]);
    free(trees[k]);
  }
}

/* Large VFS cookies reach the guest as small ones: telldir/seekdir work
 * on a backend whose cookies are 2^40 and more, and a guest cannot grow
 * the table that maps them without bound (EOVERFLOW past 2^20 cookies;
 * a cookie never handed out is EINVAL). */
static void big_cookies(void **st) {
  (void)st;
  fixture fx;
  memset(&fx, 0, sizeof fx);
  fx.kind = BK_MEM;
  fx.fs = big_mount(0);
  static run_out o;
  run_fs(&fx, "dirs", "300", &o, NULL);
  expect_pass(&o);
  cis_vfs_unmount(fx.fs);

  fx.fs = big_mount((1u << 20) + 100);
  run_fs(&fx, "count", NULL, &o, NULL);
  assert_int_equal(o.rc, CIS_OK);
  unsigned long n = 0;
  int err = -1;
  const char *p = strstr(o.out, "count ");
  assert_non_null(p);
  assert_int_equal(sscanf(p, "count %lu errno %d", &n, &err), 2);
  assert_int_equal(err, 61 /* EOVERFLOW */);
  assert_true(n > (1ul << 20) - 1000 && n <= (1ul << 20) + 2);
  assert_non_null(strstr(o.out, "\n0 failures\n"));
  cis_vfs_unmount(fx.fs);
}

/* One storage failure at each backend call of the sweep scenario in turn:
 * every one reaches the guest as EIO (29) and the host as CIS_EVFSDOWN,
 * the guest goes on, and nothing stays open or leaks. Without a fault the
 * sweep succeeds throughout; the loop ends at the first skip past its
 * last backend call. */
static void fault_sweep(void **st) {
  (void)st;
  static run_out o;
  int runs = 0;
  for (uint32_t skip = 0;; skip++) {
    assert_true(skip < 400);
    fixture fx;
    fixture_open(&fx, BK_MEM, NULL, false);
    cis_wasi *w;
    const char *argv[] = {"probe", "sweep"};
    cis_wasi_config c;
    config(&c, FS_CAPS, 2, argv);
    assert_int_equal(cis_wasi_new(&c, &w), CIS_OK);
    assert_int_equal(cis_wasi_preopen(w, fx.fs, "/work"), CIS_OK);
    cis__vfs_inject_fault(fx.fs, skip, 1, CIS_VFS_EDOWN);
    run_with(w, 10000, &o);
    assert_int_equal(o.rc, CIS_OK);
    assert_non_null(strstr(o.out, "\n0 failures\n"));
    const char *msg;
    cis_result last = cis_wasi_last_vfs_error(w, &msg);
    bool eio = strstr(o.out, " 29\n") != NULL;
    cis_wasi_free(w);
    assert_int_equal(cis__vfs_open_files(fx.fs), 0);
    fixture_close(&fx);
    if (last != CIS_EVFSDOWN) {
      /* The fault came after the last call: everything worked. */
      assert_false(eio);
      for (const char *l = strstr(o.out, "r "); l; l = strstr(l + 1, "\nr ")) {
        const char *sp = strchr(l + (l[0] == '\n') + 2, ' ');
        assert_non_null(sp);
        if (strncmp(sp, " 0\n", 3)) fprintf(stderr, "without a fault: %.40s\n", l);
        assert_memory_equal(sp, " 0\n", 3);
      }
      break;
    }
    if (!eio) fprintf(stderr, "skip %u: no EIO in\n%s\n", skip, o.out);
    assert_true(eio);
    runs++;
  }
  assert_true(runs > 40); /* the sweep makes that many backend calls at least */
}

/* ================================================================ main */

static fs_case g_cases[64];
static size_t g_ncases;
/* The backends the filesystem scenarios run on: mem, host and db, or
 * postgres alone. */
static backend_kind g_case_kinds[BK_COUNT];
static size_t g_ncase_kinds;

static void add_case(const char *scenario, const char *arg, void (*prepare)(fixture *),
                     const cis_vfs_options *opts, bool seed,
                     void (*after)(fixture *, const run_out *)) {
  for (size_t i = 0; i < g_ncase_kinds; i++) {
    backend_kind k = g_case_kinds[i];
    assert_true(g_ncases < sizeof g_cases / sizeof g_cases[0]);
    fs_case *c = &g_cases[g_ncases++];
    snprintf(c->name, sizeof c->name, "%s-%s", scenario, bk_names[k]);
    c->scenario = scenario;
    c->arg = arg;
    c->kind = k;
    c->prepare = prepare;
    if (opts) c->opts = *opts;
    c->seed = seed;
    c->after = after;
  }
}

/* Sets g_pg_spec from the connection string pg.sh wrote. */
static int read_connstr(const char *file) {
  char line[1900];
  int rc = cis_test_read_connstr(file, line, sizeof line);
  if (rc == 0) snprintf(g_pg_spec, sizeof g_pg_spec, "postgres:%s", line);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3 || (argc == 3 && argv[2][0] != '@')) {
    fprintf(stderr, "usage: test_wasi PROBE.wasm [@CONNSTR_FILE]\n");
    return 2;
  }
  if (argc == 3) {
    int rc = read_connstr(argv[2] + 1);
    if (rc) return rc;
    g_case_kinds[g_ncase_kinds++] = BK_PG;
  } else {
    g_case_kinds[g_ncase_kinds++] = BK_MEM;
    g_case_kinds[g_ncase_kinds++] = BK_HOST;
    g_case_kinds[g_ncase_kinds++] = BK_DB;
  }
  snprintf(g_run, sizeof g_run, "%ld-%ld", (long)getpid(), (long)time(NULL));
  FILE *f = fopen(argv[1], "rb");
  if (!f) return 2;
  fseek(f, 0, SEEK_END);
  g_len = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  g_wasm = malloc(g_len);
  if (fread(g_wasm, 1, g_len, f) != g_len) return 2;
  fclose(f);
  if (cis_engine_new(NULL, &g_engine) != CIS_OK) return 2;
  if (cis_module_new(g_engine, g_wasm, g_len, &g_module) != CIS_OK) {
    fprintf(stderr, "probe: %s\n", cis_errmsg(g_engine));
    return 1;
  }
  const cis_vfs_options ro = {.read_only = true};
  const cis_vfs_options quota = {.max_bytes = 65536, .max_files = 16};
  add_case("files", NULL, NULL, NULL, false, after_files);
  add_case("dirs", "1000", NULL, NULL, false, NULL);
  add_case("links", NULL, NULL, NULL, false, NULL);
  add_case("hostile", NULL, prepare_hostile, NULL, false, NULL);
  add_case("readonly", "seeded", NULL, &ro, true, NULL);
  add_case("quota", NULL, NULL, &quota, false, after_quota);
  add_case("errors", NULL, NULL, NULL, false, NULL);
  add_case("edges", NULL, NULL, NULL, false, NULL);

  const struct CMUnitTest fixed[] = {
      cmocka_unit_test(args_and_env),        cmocka_unit_test(stdio_capture),
      cmocka_unit_test(clocks_random_sockets), cmocka_unit_test(denied_capabilities),
      cmocka_unit_test(exit_codes),          cmocka_unit_test(sleep_deadline),
      cmocka_unit_test(bad_config),          cmocka_unit_test(preopen_api),
      cmocka_unit_test(leftover_files),      cmocka_unit_test(storage_down),
      cmocka_unit_test(two_mounts),          cmocka_unit_test(same_tree_everywhere),
      cmocka_unit_test(big_cookies),         cmocka_unit_test(fault_sweep),
      cmocka_unit_test(poll_descriptors),
  };
  /* On PostgreSQL: the filesystem scenarios and the comparison only. */
  const struct CMUnitTest on_postgres[] = {cmocka_unit_test(same_tree_everywhere)};
  const struct CMUnitTest *first = g_pg_spec[0] ? on_postgres : fixed;
  size_t nfixed = g_pg_spec[0] ? sizeof on_postgres / sizeof on_postgres[0]
                               : sizeof fixed / sizeof fixed[0];
  struct CMUnitTest *tests = calloc(nfixed + g_ncases, sizeof *tests);
  memcpy(tests, first, nfixed * sizeof *first);
  for (size_t i = 0; i < g_ncases; i++) {
    tests[nfixed + i].name = g_cases[i].name;
    tests[nfixed + i].test_func = run_fs_case;
    tests[nfixed + i].initial_state = &g_cases[i];
  }
  /* CIS_TEST_FILTER (a cmocka pattern such as "files-mem") runs only the matching tests. */
  if (getenv("CIS_TEST_FILTER")) cmocka_set_test_filter(getenv("CIS_TEST_FILTER"));
  int rc = _cmocka_run_group_tests(g_pg_spec[0] ? "test_wasi_postgres" : "test_wasi", tests,
                                   nfixed + g_ncases, NULL, NULL);
  free(tests);
  cis_module_free(g_module);
  cis_engine_free(g_engine);
  free(g_wasm);
  return rc;
}
