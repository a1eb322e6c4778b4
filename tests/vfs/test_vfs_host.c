/*
 * This file implements the host backend's own tests (src/vfs/vfs_host.c):
 * hostile trees on a real directory. Next to the mounted directory lies
 * `outside/`, which the guest must never reach; inside the mount are
 * symlinks to it (absolute, relative, chained, a loop), a hard link made
 * before mounting to a file of `outside2/`, a FIFO and an unreadable
 * directory. Every case ends by comparing a SHA-256 of the outside tree
 * (names, kinds, sizes, modes, contents, symlink targets; not link
 * counts, which a guest's unlink of a pre-made hard link changes) with the one
 * taken before it.
 *
 *   test_vfs_host WORKDIR
 *
 * The backend uses openat2 unless CIS_VFS_HOST_NO_OPENAT2=1 is set; CTest
 * runs this file both ways, and each run checks that the path it meant to
 * test is the one in use.
 *
 * What a hard link made before mounting means: it IS the outside file
 * under an inside name (one inode), so the guest can read and write it
 * through that name; the mount cannot tell it apart from any other file.
 * Whoever prepares the directory must not put such links there. The guest
 * itself can never make one: it cannot name anything outside to link to.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "support/failed_open.h"
#include "cis/cis_vfs.h"
#include "vfs/vfs_internal.h"
#include "vfs/vfs_test.h"
#include "vfs/vfs_testing.h"

#define NC CIS_VFS_ENOTCAPABLE

static struct {
  char base[1024];    /* WORKDIR/<run>: this run's tree */
  char mnt[1100];     /* base/mount: the mounted directory */
  char out[1100];     /* base/outside: must stay untouched */
  char out2[1100];    /* base/outside2: holds the file hard-linked inside */
  bool no_openat2;    /* CIS_VFS_HOST_NO_OPENAT2 is set for this run */
  uint8_t hash[32];   /* SHA-256 of outside/ when the case began */
} g;

/* --------------------------------------------------------------- tree */

static void mk(const char *dir, const char *rel, const char *content) {
  char p[2300];
  snprintf(p, sizeof p, "%s/%s", dir, rel);
  FILE *f = fopen(p, "w");
  if (!f) fail_msg("create %s: %s", p, strerror(errno));
  fputs(content, f);
  fclose(f);
}

static void mkd(const char *dir, const char *rel) {
  char p[2300];
  snprintf(p, sizeof p, "%s/%s", dir, rel);
  if (mkdir(p, 0755) != 0 && errno != EEXIST) fail_msg("mkdir %s: %s", p, strerror(errno));
}

static void mkl(const char *target, const char *dir, const char *rel) {
  char p[2300];
  snprintf(p, sizeof p, "%s/%s", dir, rel);
  if (symlink(target, p) != 0) fail_msg("symlink %s: %s", p, strerror(errno));
}

/* Adds dir (relative name rel) and what is below it to the hash, in name
 * order. */
static void hash_tree(EVP_MD_CTX *h, const char *path, const char *rel) {
  struct stat st;
  if (lstat(path, &st) != 0) fail_msg("lstat %s: %s", path, strerror(errno));
  char line[2400];
  int n = snprintf(line, sizeof line, "%s|%o|%lld\n", rel, (unsigned)st.st_mode,
                   (long long)st.st_size);
  EVP_DigestUpdate(h, line, (size_t)n);
  if (S_ISLNK(st.st_mode)) {
    char t[4096];
    ssize_t k = readlink(path, t, sizeof t);
    if (k > 0) EVP_DigestUpdate(h, t, (size_t)k);
  } else if (S_ISREG(st.st_mode)) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("open %s: %s", path, strerror(errno));
    char buf[4096];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0) EVP_DigestUpdate(h, buf, k);
    fclose(f);
  } else if (S_ISDIR(st.st_mode)) {
    struct dirent **names = NULL;
    int m = scandir(path, &names, NULL, alphasort);
    if (m < 0) fail_msg("scandir %s: %s", path, strerror(errno));
    for (int i = 0; i < m; i++) {
      if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, "..")) {
        char sub[2300], subrel[2300];
        snprintf(sub, sizeof sub, "%s/%s", path, names[i]->d_name);
        snprintf(subrel, sizeof subrel, "%s/%s", rel, names[i]->d_name);
        hash_tree(h, sub, subrel);
      }
      free(names[i]);
    }
    free(names);
  }
}

static void hash_outside(uint8_t out[32]) {
  EVP_MD_CTX *h = EVP_MD_CTX_new();
  unsigned len = 32;
  assert_non_null(h);
  assert_int_equal(EVP_DigestInit_ex(h, EVP_sha256(), NULL), 1);
  hash_tree(h, g.out, "outside");
  hash_tree(h, g.out2, "outside2");
  assert_int_equal(EVP_DigestFinal_ex(h, out, &len), 1);
  EVP_MD_CTX_free(h);
}

/* Builds the tree afresh for each case (cases may change the inside). */
static int setup(void **state) {
  (void)state;
  rm_rf(g.base);
  if (mkdir(g.base, 0777) != 0) fail_msg("mkdir %s: %s", g.base, strerror(errno));
  chmod(g.base, 0777);
  mkd(g.base, "outside");
  mkd(g.base, "outside2");
  mkd(g.base, "mount");
  chmod(g.mnt, 0777);
  mk(g.out, "secret.txt", "top secret");
  mkd(g.out, "sub");
  mk(g.out, "sub/deep.txt", "deeper secret");
  mk(g.out2, "linked.txt", "linked from inside");
  char abs[2300], p1[2300], p2[2300];
  snprintf(abs, sizeof abs, "%s/secret.txt", g.out);
  mkl(abs, g.mnt, "abs");
  mkl(g.out, g.mnt, "absdir");
  mkl("../outside/secret.txt", g.mnt, "rel");
  mkl("../outside", g.mnt, "reldir");
  mkl("c2", g.mnt, "c1");
  mkl("c3", g.mnt, "c2");
  mkl("../outside", g.mnt, "c3");
  mkl("loop", g.mnt, "loop");
  mkd(g.mnt, "d");
  mkl("../../outside", g.mnt, "d/up");
  mkl("/proc/self/root/etc", g.mnt, "magic");
  mk(g.mnt, "f", "inside");
  snprintf(p1, sizeof p1, "%s/linked.txt", g.out2);
  snprintf(p2, sizeof p2, "%s/hl", g.mnt);
  if (link(p1, p2) != 0) fail_msg("link: %s", strerror(errno));
  snprintf(p2, sizeof p2, "%s/fifo", g.mnt);
  if (mkfifo(p2, 0666) != 0) fail_msg("mkfifo: %s", strerror(errno));
  hash_outside(g.hash);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  uint8_t now[32];
  hash_outside(now);
  assert_memory_equal(now, g.hash, 32); /* nothing outside changed */
  return 0;
}

static void mount_host(T *t, const cis_vfs_options *o) {
  cis_vfs_backend *b = NULL;
  cis_result rc = cis_vfs_host_new(g.mnt, &b);
  if (rc != CIS_OK) fail_msg("host_new: %s", b ? b->errmsg : "");
  assert_int_equal(cis__vfs_host_uses_openat2(b), !g.no_openat2);
  assert_int_equal(cis_vfs_mount(b, o, &t->fs), CIS_OK);
  assert_int_equal(cis_vfs_open_root(t->fs, &t->root), 0);
}

/* --------------------------------------------------------------- cases */

static void test_symlinks_out_are_refused(void **state) {
  (void)state;
  T t;
  mount_host(&t, NULL);
  const uint32_t R = CIS_VFS_READ, FOL = CIS_VFS_FOLLOW;
  const uint32_t WCT = CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_TRUNC;
  /* Followed: refused, whichever way they point. */
  assert_int_equal(open_err(t.root, "abs", R | FOL), NC);
  assert_int_equal(open_err(t.root, "absdir/secret.txt", R), NC);
  assert_int_equal(open_err(t.root, "rel", R | FOL), NC);
  assert_int_equal(open_err(t.root, "reldir/secret.txt", R), NC);
  assert_int_equal(open_err(t.root, "reldir/sub/deep.txt", R), NC);
  assert_int_equal(open_err(t.root, "c1", R | FOL), NC);
  assert_int_equal(open_err(t.root, "c1/secret.txt", R), NC);
  assert_int_equal(open_err(t.root, "d/up/secret.txt", R), NC);
  assert_int_equal(open_err(t.root, "magic/passwd", R), NC);
  assert_int_equal(open_err(t.root, "loop", R | FOL), ELOOP);
  assert_int_equal(open_err(t.root, "loop/x", R), ELOOP);
  assert_int_equal(open_err(t.root, "../outside/secret.txt", R), NC);
  assert_int_equal(open_err(t.root, "d/../../outside/secret.txt", R), NC);
  /* Writing through them, following or not, changes nothing outside. */
  assert_int_equal(open_err(t.root, "abs", WCT), ELOOP);
  assert_int_equal(open_err(t.root, "rel", WCT), ELOOP);
  assert_int_equal(open_err(t.root, "abs", WCT | FOL), NC);
  assert_int_equal(open_err(t.root, "rel", WCT | FOL), NC);
  assert_int_equal(open_err(t.root, "reldir/new.txt", WCT), NC);
  assert_int_equal(cis_vfs_mkdirat(t.root, P("c1/newdir")), NC);
  assert_int_equal(cis_vfs_unlinkat(t.root, P("reldir/secret.txt")), NC);
  assert_int_equal(cis_vfs_rmdirat(t.root, P("absdir/sub")), NC);
  assert_int_equal(cis_vfs_symlinkat(P("x"), t.root, P("reldir/planted")), NC);
  assert_int_equal(cis_vfs_set_timesat(t.root, P("rel"), CIS_VFS_FOLLOW | CIS_VFS_MTIM, 0, 1), NC);
  assert_int_equal(cis_vfs_set_timesat(t.root, P("reldir/secret.txt"), CIS_VFS_MTIM, 0, 1), NC);
  cis_vfs_stat st;
  assert_int_equal(cis_vfs_statat(t.root, P("rel"), 0, &st), 0); /* the link itself is inside */
  assert_int_equal(st.type, CIS_VFS_SYMLINK);
  /* Renames out of the mount, or through a link that leads out. */
  assert_int_equal(cis_vfs_renameat(t.root, P("f"), t.root, P("../outside/f")), NC);
  assert_int_equal(cis_vfs_renameat(t.root, P("f"), t.root, P("reldir/f")), NC);
  assert_int_equal(cis_vfs_renameat(t.root, P("f"), t.root, P("absdir/f")), NC);
  assert_int_equal(cis_vfs_renameat(t.root, P("reldir/secret.txt"), t.root, P("stolen")), NC);
  /* Renaming over a link that points out replaces the link, not its target. */
  assert_int_equal(cis_vfs_renameat(t.root, P("f"), t.root, P("rel")), 0);
  assert_int_equal(cis_vfs_statat(t.root, P("rel"), 0, &st), 0);
  assert_int_equal(st.type, CIS_VFS_REG);
  /* Links: nothing outside can be named, so none can be made to it. */
  assert_int_equal(cis_vfs_linkat(t.root, P("abs"), CIS_VFS_FOLLOW, t.root, P("h1")), NC);
  assert_int_equal(cis_vfs_linkat(t.root, P("reldir/secret.txt"), 0, t.root, P("h2")), NC);
  assert_int_equal(cis_vfs_linkat(t.root, P("../outside/secret.txt"), 0, t.root, P("h3")), NC);
  assert_int_equal(cis_vfs_linkat(t.root, P("abs"), 0, t.root, P("h4")), 0); /* the link itself */
  assert_int_equal(cis_vfs_statat(t.root, P("h4"), 0, &st), 0);
  assert_int_equal(st.type, CIS_VFS_SYMLINK);
  /* A link the guest makes to the outside is harmless until followed. */
  char abs[2300];
  snprintf(abs, sizeof abs, "%s/secret.txt", g.out);
  assert_int_equal(cis_vfs_symlinkat(P(abs), t.root, P("mine")), 0);
  assert_int_equal(open_err(t.root, "mine", R | FOL), NC);
  assert_int_equal(cis_vfs_symlinkat(P("../outside/secret.txt"), t.root, P("mine2")), 0);
  assert_int_equal(open_err(t.root, "mine2", WCT | FOL), NC);
  /* Their own times can be set (utimensat AT_SYMLINK_NOFOLLOW): the links
   * change, what they name outside does not. */
  char secret[2300], link[2300];
  snprintf(secret, sizeof secret, "%s/secret.txt", g.out);
  snprintf(link, sizeof link, "%s/abs", g.mnt);
  struct stat before, after, ls;
  assert_int_equal(stat(secret, &before), 0);
  assert_int_equal(cis_vfs_set_timesat(t.root, P("abs"), CIS_VFS_MTIM | CIS_VFS_ATIM,
                                       3000000000ull, 4000000000ull),
                   0);
  assert_int_equal(lstat(link, &ls), 0); /* before anything reads the link (and moves atim) */
  assert_int_equal(ls.st_mtim.tv_sec, 4);
  assert_int_equal(ls.st_atim.tv_sec, 3);
  assert_int_equal(cis_vfs_set_timesat(t.root, P("rel"), CIS_VFS_MTIM_NOW, 0, 0), 0);
  assert_int_equal(cis_vfs_set_timesat(t.root, P("reldir"), CIS_VFS_MTIM, 0, 5000000000ull), 0);
  assert_int_equal(cis_vfs_set_timesat(t.root, P("abs"), CIS_VFS_FOLLOW | CIS_VFS_MTIM, 0, 1), NC);
  assert_int_equal(cis_vfs_set_timesat(t.root, P("absdir/secret.txt"), CIS_VFS_MTIM, 0, 1), NC);
  assert_int_equal(lstat(link, &ls), 0);
  assert_int_equal(ls.st_mtim.tv_sec, 4);
  assert_int_equal(stat(secret, &after), 0);
  assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
  assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
  assert_int_equal(after.st_atim.tv_sec, before.st_atim.tv_sec);
  /* Removing the links removes only the links. */
  assert_int_equal(cis_vfs_unlinkat(t.root, P("abs")), 0);
  assert_int_equal(cis_vfs_unlinkat(t.root, P("reldir")), 0);
  assert_int_equal(cis_vfs_unlinkat(t.root, P("absdir")), 0);
  assert_int_equal(cis_vfs_rmdirat(t.root, P("c1/")), ENOTDIR);
  unmount(&t);
}

static void test_prelinked_hard_link(void **state) {
  (void)state;
  T t;
  mount_host(&t, NULL);
  char buf[64];
  /* The same inode as outside2/linked.txt: readable under its inside name. */
  get(t.root, "hl", 0, buf, sizeof buf - 1);
  assert_string_equal(buf, "linked from inside");
  cis_vfs_stat st;
  assert_int_equal(cis_vfs_statat(t.root, P("hl"), 0, &st), 0);
  assert_int_equal(st.nlink, 2);
  /* Unlinking the inside name leaves the outside file as it was. */
  assert_int_equal(cis_vfs_unlinkat(t.root, P("hl")), 0);
  assert_int_equal(stat_err(t.root, "hl", 0), ENOENT);
  unmount(&t);
  char p[2300];
  struct stat s;
  snprintf(p, sizeof p, "%s/linked.txt", g.out2);
  assert_int_equal(lstat(p, &s), 0);
  assert_int_equal(s.st_nlink, 1);
  /* ... and its content is untouched. */
  char buf2[64];
  FILE *f = fopen(p, "r");
  assert_non_null(f);
  assert_non_null(fgets(buf2, sizeof buf2, f));
  fclose(f);
  assert_string_equal(buf2, "linked from inside");
}

static void test_special_files(void **state) {
  (void)state;
  T t;
  mount_host(&t, NULL);
  cis_vfs_stat st;
  assert_int_equal(cis_vfs_statat(t.root, P("fifo"), 0, &st), 0);
  assert_int_equal(st.type, CIS_VFS_UNKNOWN);
  assert_int_equal(open_err(t.root, "fifo", CIS_VFS_READ), EACCES); /* and it did not block */
  assert_int_equal(open_err(t.root, "fifo", CIS_VFS_WRITE), ENXIO);  /* no reader: never blocks */
  /* Listed, as UNKNOWN. */
  cis_vfs_dirent ent;
  bool seen = false;
  for (uint64_t c = 0; cis_vfs_readdir(t.root, c, &ent) == 0; c = ent.next)
    if (strcmp(ent.name, "fifo") == 0) seen = ent.type == CIS_VFS_UNKNOWN;
  assert_true(seen);
  assert_int_equal(cis_vfs_unlinkat(t.root, P("fifo")), 0);
  unmount(&t);
}

/* The backend refuses anything but one component, whoever calls it. */
static void test_backend_refuses_bad_names(void **state) {
  (void)state;
  cis_vfs_backend *b = NULL;
  cis_vfs_node *root = NULL, *n = NULL;
  cis_vfs_stat st;
  char buf[16];
  size_t len;
  assert_int_equal(cis_vfs_host_new(g.mnt, &b), CIS_OK);
  const cis_vfs_methods *m = b->methods;
  assert_int_equal(m->root(b, &root), 0);
  const char *bad[] = {"..", ".", "", "../outside", "d/up", "/etc"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    assert_int_equal(m->lookup(b, root, bad[i], 0, &st), EINVAL);
    assert_int_equal(m->open(b, root, bad[i], CIS_VFS_READ, &n), EINVAL);
    assert_int_equal(m->mkdir(b, root, bad[i]), EINVAL);
    assert_int_equal(m->rmdir(b, root, bad[i]), EINVAL);
    assert_int_equal(m->unlink(b, root, bad[i]), EINVAL);
    assert_int_equal(m->rename(b, root, "f", root, bad[i]), EINVAL);
    assert_int_equal(m->rename(b, root, bad[i], root, "x"), EINVAL);
    assert_int_equal(m->symlink(b, root, bad[i], "x"), EINVAL);
    assert_int_equal(m->readlink(b, root, bad[i], buf, sizeof buf, &len), EINVAL);
    assert_int_equal(m->link(b, root, bad[i], root, "x"), EINVAL);
    assert_int_equal(m->link(b, root, "f", root, bad[i]), EINVAL);
    assert_int_equal(m->set_times_nofollow(b, root, bad[i], 0, 1, CIS_VFS_MTIM), EINVAL);
  }
  assert_int_equal(m->set_times_nofollow(b, root, "missing", 0, 1, CIS_VFS_MTIM), ENOENT);
  /* A symlink is never opened, not even as O_PATH. */
  assert_int_equal(m->open(b, root, "abs", 0, &n), ELOOP);
  assert_int_equal(m->open(b, root, "abs", CIS_VFS_DIRECTORY, &n) != 0, 1);
  /* A readdir cookie no lseek can take. */
  cis_vfs_dirent ent;
  assert_int_equal(m->readdir(b, root, (uint64_t)INT64_MAX + 1, &ent), EINVAL);
  m->close(b, root);
  m->destroy(b);
}

static void test_constructor_errors(void **state) {
  (void)state;
  cis_vfs_backend *b = (cis_vfs_backend *)&b;
  char p[2300];
  cis_test_vfs_backend_fails(cis_vfs_host_new(NULL, &b), &b, CIS_EINVAL, "no host directory", NULL, 0);
  cis_test_vfs_backend_fails(cis_vfs_host_new("", &b), &b, CIS_EINVAL, "no host directory", NULL, 0);
  assert_int_equal(cis_vfs_host_new(g.mnt, NULL), CIS_EINVAL);
  snprintf(p, sizeof p, "%s/missing", g.base);
  cis_test_vfs_backend_fails(cis_vfs_host_new(p, &b), &b, CIS_ENOTFOUND, "missing", NULL, 0);
  snprintf(p, sizeof p, "%s/f", g.mnt);
  cis_test_vfs_backend_fails(cis_vfs_host_new(p, &b), &b, CIS_ENOTFOUND, "Not a directory", NULL, 0); /* a file */
  /* The usage of a tree counts a file with two links inside once. */
  char a[2300], c[2300];
  snprintf(a, sizeof a, "%s/d/twice", g.mnt);
  snprintf(c, sizeof c, "%s/d/twice2", g.mnt);
  mk(g.mnt, "d/twice", "12345");
  assert_int_equal(link(a, c), 0);
  T t;
  mount_host(&t, NULL);
  uint64_t bytes, nodes;
  cis_vfs_usage(t.fs, &bytes, &nodes);
  /* f(6) + hl(18) + twice(5); abs absdir rel reldir c1 c2 c3 loop d d/up
   * magic f hl fifo twice = 15 nodes */
  assert_int_equal(bytes, 6 + 18 + 5);
  assert_int_equal(nodes, 15);
  unmount(&t);
}

/* A write the host stops half-way (here: RLIMIT_FSIZE) is cut back to the
 * file's old size. */
static void test_half_write_is_undone(void **state) {
  (void)state;
  T t;
  mount_host(&t, NULL);
  cis_vfs_file *f = NULL;
  size_t k;
  static char data[20000];
  memset(data, 'z', sizeof data);
  assert_int_equal(cis_vfs_openat(t.root, P("grow"), CIS_VFS_WRITE | CIS_VFS_CREAT, &f), 0);
  assert_int_equal(cis_vfs_pwrite(f, "abc", 3, 0, &k), 0);
  struct rlimit old, lim;
  getrlimit(RLIMIT_FSIZE, &old);
  lim = old;
  lim.rlim_cur = 10000;
  void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
  int e = cis_vfs_pwrite(f, data, sizeof data, 0, &k);
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, prev);
  assert_int_equal(e, EFBIG);
  cis_vfs_stat st;
  assert_int_equal(cis_vfs_fstat(f, &st), 0);
  assert_int_equal(st.size, 3);
  uint64_t bytes;
  cis_vfs_usage(t.fs, &bytes, NULL);
  assert_int_equal(bytes, 6 + 18 + 3);
  cis_vfs_close(f);
  unmount(&t);
}

/* A directory the process may search but not list: walked through with
 * an O_PATH descriptor. Runs as an unprivileged user (a forked child that
 * drops root) so the permission bits count. */
static int unreadable_child(void) {
  T t;
  cis_vfs_backend *b = NULL;
  if (cis_vfs_host_new(g.mnt, &b) != CIS_OK || cis_vfs_mount(b, NULL, &t.fs) != CIS_OK) return 10;
  if (cis_vfs_open_root(t.fs, &t.root) != 0) return 11;
  char buf[32];
  cis_vfs_file *f = NULL;
  size_t k = 0;
  if (cis_vfs_openat(t.root, P("noread/inner.txt"), CIS_VFS_READ, &f) != 0) return 12;
  if (cis_vfs_pread(f, buf, sizeof buf, 0, &k) != 0 || k != 5) return 13;
  cis_vfs_close(f);
  cis_vfs_file *d = NULL;
  if (cis_vfs_openat(t.root, P("noread"), CIS_VFS_READ, &d) != EACCES) return 14;
  cis_vfs_stat st;
  if (cis_vfs_statat(t.root, P("noread"), 0, &st) != 0 || st.type != CIS_VFS_DIR) return 15;
  if (cis_vfs_set_timesat(t.root, P("noread/inner.txt"), CIS_VFS_ATIM_NOW | CIS_VFS_MTIM_NOW, 0,
                          0) != 0)
    return 16;
  /* Only looking at it: an O_PATH node, which stats but cannot list. */
  if (cis_vfs_openat(t.root, P("noread"), 0, &d) != 0) return 17;
  if (cis_vfs_fstat(d, &st) != 0 || st.type != CIS_VFS_DIR) return 18;
  cis_vfs_dirent ent;
  if (cis_vfs_readdir(d, 2, &ent) != EBADF) return 19;
  cis_vfs_close(d);
  cis_vfs_close(t.root);
  cis_vfs_unmount(t.fs);
  return 0;
}

static void test_unreadable_directory(void **state) {
  (void)state;
  mkd(g.mnt, "noread");
  mk(g.mnt, "noread/inner.txt", "hello");
  char p[2300];
  snprintf(p, sizeof p, "%s/noread/inner.txt", g.mnt);
  chmod(p, 0666);
  snprintf(p, sizeof p, "%s/noread", g.mnt);
  chmod(p, 0311);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(9);
    _exit(unreadable_child());
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  chmod(p, 0755);
}

/* A listing of a large directory on the host, resumed at every cookie. */
static void test_large_directory_cookies(void **state) {
  (void)state;
  T t;
  mount_host(&t, NULL);
  cis_vfs_file *d = NULL;
  assert_int_equal(cis_vfs_mkdirat(t.root, P("many")), 0);
  assert_int_equal(cis_vfs_openat(t.root, P("many"), CIS_VFS_READ, &d), 0);
  enum { N = 3000 };
  char name[48];
  for (int i = 0; i < N; i++) {
    cis_vfs_file *f = NULL;
    snprintf(name, sizeof name, "entry-with-a-longer-name-%05d", i);
    assert_int_equal(cis_vfs_openat(d, P(name), CIS_VFS_WRITE | CIS_VFS_CREAT, &f), 0);
    cis_vfs_close(f);
  }
  static uint64_t cookies[N + 3];
  static char names[N + 2][40];
  int n = 0;
  cis_vfs_dirent ent;
  for (uint64_t c = 0; cis_vfs_readdir(d, c, &ent) == 0; c = ent.next) {
    assert_true(n < N + 2);
    cookies[n] = c;
    snprintf(names[n], sizeof names[0], "%.39s", ent.name);
    n++;
  }
  assert_int_equal(n, N + 2);
  /* Any cookie, in any order, gives the same entry again. */
  for (int i = n - 1; i >= 0; i -= 7) {
    assert_int_equal(cis_vfs_readdir(d, cookies[i], &ent), 0);
    assert_string_equal(ent.name, names[i]);
  }
  /* A second open directory lists independently of the first. */
  cis_vfs_file *d2 = NULL;
  assert_int_equal(cis_vfs_openat(t.root, P("many"), CIS_VFS_READ, &d2), 0);
  assert_int_equal(cis_vfs_readdir(d2, cookies[100], &ent), 0);
  assert_string_equal(ent.name, names[100]);
  assert_int_equal(cis_vfs_readdir(d, cookies[2000], &ent), 0);
  assert_string_equal(ent.name, names[2000]);
  assert_int_equal(cis_vfs_readdir(d2, ent.next, &ent), 0); /* d2 seeks, not d's position */
  assert_string_equal(ent.name, names[2001]);
  cis_vfs_close(d2);
  cis_vfs_close(d);
  unmount(&t);
}

/* ------------------------------------------------------ mount-time walks */

/* Makes dir/d/d/... n levels deep with two descriptors at most, as a guest
 * walking directory descriptors would. */
static void host_chain(const char *dir, unsigned n) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail_msg("open %s: %s", dir, strerror(errno));
  for (unsigned k = 0; k < n; k++) {
    if (mkdirat(fd, "d", 0755) != 0) fail_msg("mkdir level %u: %s", k, strerror(errno));
    int sub = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sub < 0) fail_msg("open level %u: %s", k, strerror(errno));
    close(fd);
    fd = sub;
  }
  close(fd);
}

/* Removes dir/d/d/... with a constant number of calls per level (d/d
 * moves up, d goes); returns the levels removed. nftw could not: the
 * paths are longer than PATH_MAX. */
static unsigned host_unchain(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  unsigned k = 0;
  if (fd < 0) return 0;
  for (; k < 1000000 && renameat(fd, "d/d", fd, "t") == 0; k++) {
    if (unlinkat(fd, "d", AT_REMOVEDIR) != 0 || renameat(fd, "t", fd, "d") != 0) break;
  }
  if (unlinkat(fd, "d", AT_REMOVEDIR) == 0) k++;
  close(fd);
  return k;
}

/* Mounts host_dir under o: the cis_result, and the mount in *fs on success. */
static cis_result try_mount(const char *host_dir, const cis_vfs_options *o, cis_vfs **fs) {
  cis_vfs_backend *b = NULL;
  *fs = NULL;
  cis_vfs_host_new(host_dir, &b); /* a failed backend fails the mount, with its message */
  return cis_vfs_mount(b, o, fs);
}

/* A mount without a quota has nothing to count, so it does not walk the
 * host tree: mounting /usr asks the backend nothing and stats nothing. */
static void test_mount_without_quota_does_not_walk(void **state) {
  (void)state;
  cis_vfs *fs = NULL;
  assert_int_equal(try_mount("/usr", NULL, &fs), CIS_OK);
  assert_int_equal(cis__vfs_backend_calls(fs), 0);
  assert_int_equal(cis__vfs_host_usage_entries(cis__vfs_backend(fs)), 0);
  cis_vfs_unmount(fs);
  /* With a quota, the same kind of mount counts what is there. */
  cis_vfs_options o = {.max_files = 1000};
  assert_int_equal(try_mount(g.mnt, &o, &fs), CIS_OK);
  /* abs absdir rel reldir c1 c2 c3 loop d d/up magic f hl fifo */
  assert_int_equal(cis__vfs_host_usage_entries(cis__vfs_backend(fs)), 14);
  uint64_t nodes = 0;
  assert_int_equal(cis_vfs_usage(fs, NULL, &nodes), 0);
  assert_int_equal(nodes, 14);
  cis_vfs_unmount(fs);
}

/* A host folder holding a tree 2,000 levels deep (as a guest can leave
 * one), under a descriptor limit far below 2,000: it mounts without a
 * quota (no walk), and with one the walk holds a few descriptors and
 * counts it all; a tree deeper than the mount's max_depth fails the walk
 * with a typed error, never EMFILE. */
static void test_mount_deep_host_tree_few_descriptors(void **state) {
  (void)state;
  enum { LEVELS = 2000 };
  char dir[1200];
  snprintf(dir, sizeof dir, "%s/deep", g.base);
  mkd(g.base, "deep");
  host_chain(dir, LEVELS);
  struct rlimit old, low;
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
  low = old;
  low.rlim_cur = (rlim_t)count_fds() + 16;
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
  cis_vfs *plain = NULL, *quota = NULL, *shallow = NULL;
  cis_vfs_options oq = {.max_files = 1000000};
  cis_vfs_options os = {.max_files = 1000000, .max_depth = 100};
  cis_result rp = try_mount(dir, NULL, &plain);
  char msgp[512];
  snprintf(msgp, sizeof msgp, "%s", cis_vfs_errmsg(plain));
  cis_result rq = try_mount(dir, &oq, &quota);
  char msgq[512];
  snprintf(msgq, sizeof msgq, "%s", cis_vfs_errmsg(quota));
  cis_result rs = try_mount(dir, &os, &shallow);
  char msgs[512];
  snprintf(msgs, sizeof msgs, "%s", cis_vfs_errmsg(shallow));
  setrlimit(RLIMIT_NOFILE, &old);
  uint64_t bytes = 1, nodes = 0;
  if (quota) cis_vfs_usage(quota, &bytes, &nodes);
  cis_vfs_unmount(plain);
  cis_vfs_unmount(quota);
  cis_vfs_unmount(shallow);
  assert_int_equal(host_unchain(dir), LEVELS); /* before the checks: rm_rf cannot */
  if (rp != CIS_OK) fail_msg("mount without a quota: %s: %s", cis_errname(rp), msgp);
  if (rq != CIS_OK) fail_msg("mount with a quota: %s: %s", cis_errname(rq), msgq);
  assert_int_equal(nodes, LEVELS);
  assert_int_equal(bytes, 0);
  assert_int_equal(rs, CIS_EINVAL);
  assert_non_null(strstr(msgs, "max_depth"));
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s WORKDIR\n", argv[0]);
    return 2;
  }
  const char *no2 = getenv("CIS_VFS_HOST_NO_OPENAT2");
  g.no_openat2 = no2 && no2[0] && strcmp(no2, "0") != 0;
  mkdir(argv[1], 0755);
  snprintf(g.base, sizeof g.base, "%s/host%s-%ld", argv[1], g.no_openat2 ? "-noopenat2" : "",
           (long)getpid());
  snprintf(g.mnt, sizeof g.mnt, "%s/mount", g.base);
  snprintf(g.out, sizeof g.out, "%s/outside", g.base);
  snprintf(g.out2, sizeof g.out2, "%s/outside2", g.base);
  const struct CMUnitTest cases[] = {
      cmocka_unit_test_setup_teardown(test_symlinks_out_are_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_prelinked_hard_link, setup, teardown),
      cmocka_unit_test_setup_teardown(test_special_files, setup, teardown),
      cmocka_unit_test_setup_teardown(test_backend_refuses_bad_names, setup, teardown),
      cmocka_unit_test_setup_teardown(test_constructor_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_half_write_is_undone, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unreadable_directory, setup, teardown),
      cmocka_unit_test_setup_teardown(test_large_directory_cookies, setup, teardown),
      cmocka_unit_test_setup_teardown(test_mount_without_quota_does_not_walk, setup, teardown),
      cmocka_unit_test_setup_teardown(test_mount_deep_host_tree_few_descriptors, setup, teardown),
  };
  int fds = count_fds();
  int failed = cmocka_run_group_tests_name(g.no_openat2 ? "host (openat O_NOFOLLOW)" : "host (openat2)",
                                           cases, NULL, NULL);
  if (count_fds() != fds) {
    fprintf(stderr, "descriptors leaked: %d before the cases, %d after\n", fds, count_fds());
    failed++;
  }
  if (!failed) rm_rf(g.base);
  return failed ? 1 : 0;
}
