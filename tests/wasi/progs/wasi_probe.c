/*
 * This file implements a WASI command that exercises every
 * wasi_snapshot_preview1 function from inside the sandbox. It is built with
 * clang --target=wasm32-wasi against wasi-libc and run by test_wasi.c on
 * each filesystem backend. `wasi_probe SCENARIO [ARGS]` prints one line per
 * check ("ok NAME" or "FAIL NAME: ...") and exits 0 when all passed; the
 * host test compares the output too.
 *
 * The preopened directory is "/work" (fd 3).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <wasi/api.h>

static int failures;

#define CHECK(name, cond)                                      \
  do {                                                         \
    if (cond) printf("ok %s\n", name);                         \
    else {                                                     \
      printf("FAIL %s (errno %d) at line %d\n", name, errno, __LINE__); \
      failures++;                                              \
    }                                                          \
  } while (0)

/* Raw calls return a WASI errno; compare with the expected one. */
#define EXPECT_ERRNO(name, call, want)                                       \
  do {                                                                       \
    __wasi_errno_t got_ = (call);                                            \
    if (got_ == (want)) printf("ok %s\n", name);                             \
    else {                                                                   \
      printf("FAIL %s: errno %u, want %u\n", name, (unsigned)got_, (unsigned)(want)); \
      failures++;                                                            \
    }                                                                        \
  } while (0)

#define PRE 3 /* the preopen */

/* proc_raise is not declared by every wasi-libc; import it directly. */
__attribute__((import_module("wasi_snapshot_preview1"), import_name("proc_raise")))
int32_t raw_proc_raise(int32_t sig);

static int write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  fputs(text, f);
  return fclose(f);
}

static char *read_file(const char *path) {
  static char buf[65536];
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = 0;
  fclose(f);
  return buf;
}

static void files(void) {
  CHECK("create", write_file("/work/a.txt", "hello\n") == 0);
  char *s = read_file("/work/a.txt");
  CHECK("read", s && strcmp(s, "hello\n") == 0);
  FILE *f = fopen("/work/a.txt", "a");
  CHECK("append-open", f != NULL);
  if (f) {
    fprintf(f, "world %d\n", 42);
    fclose(f);
  }
  s = read_file("/work/a.txt");
  CHECK("append", s && strcmp(s, "hello\nworld 42\n") == 0);

  int fd = open("/work/b.bin", O_RDWR | O_CREAT | O_TRUNC, 0644);
  CHECK("open-rdwr", fd >= 0);
  CHECK("write", write(fd, "0123456789", 10) == 10);
  CHECK("tell", lseek(fd, 0, SEEK_CUR) == 10);
  CHECK("seek-set", lseek(fd, 2, SEEK_SET) == 2);
  char b[16] = {0};
  CHECK("read-after-seek", read(fd, b, 3) == 3 && memcmp(b, "234", 3) == 0);
  CHECK("seek-end", lseek(fd, -1, SEEK_END) == 9);
  CHECK("pwrite", pwrite(fd, "AB", 2, 4) == 2);
  memset(b, 0, sizeof b);
  CHECK("pread", pread(fd, b, 4, 3) == 4 && memcmp(b, "3AB6", 4) == 0);
  CHECK("pread-keeps-offset", lseek(fd, 0, SEEK_CUR) == 9);
  CHECK("ftruncate", ftruncate(fd, 5) == 0);
  struct stat st;
  CHECK("fstat-size", fstat(fd, &st) == 0 && st.st_size == 5 && S_ISREG(st.st_mode));
  CHECK("ftruncate-grow", ftruncate(fd, 8) == 0);
  memset(b, 'x', sizeof b);
  CHECK("grow-zeroes", pread(fd, b, 8, 0) == 8 && b[5] == 0 && b[7] == 0);
  CHECK("fsync", fsync(fd) == 0);
  CHECK("fdatasync", fdatasync(fd) == 0);
  CHECK("posix_fallocate", posix_fallocate(fd, 0, 16) == 0);
  CHECK("fallocate-size", fstat(fd, &st) == 0 && st.st_size == 16);
  CHECK("fadvise", posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL) == 0);
  close(fd);

  CHECK("stat", stat("/work/b.bin", &st) == 0 && st.st_size == 16);
  struct timespec ts[2] = {{1000000, 5}, {2000000, 7}};
  CHECK("utimensat", utimensat(AT_FDCWD, "/work/b.bin", ts, 0) == 0);
  CHECK("mtime", stat("/work/b.bin", &st) == 0 && st.st_mtim.tv_sec == 2000000);
  CHECK("atime", st.st_atim.tv_sec == 1000000);
  fd = open("/work/b.bin", O_RDONLY);
  struct timespec ts2[2] = {{UTIME_OMIT, 0}, {3000000, 0}};
  CHECK("futimens", futimens(fd, ts2) == 0);
  CHECK("fstat-mtime", fstat(fd, &st) == 0 && st.st_mtim.tv_sec == 3000000 &&
                           st.st_atim.tv_sec == 1000000);
  CHECK("write-on-rdonly", write(fd, "x", 1) < 0);
  close(fd);

  CHECK("rename", rename("/work/b.bin", "/work/c.bin") == 0);
  CHECK("rename-old-gone", stat("/work/b.bin", &st) != 0 && errno == ENOENT);
  CHECK("rename-new", stat("/work/c.bin", &st) == 0 && st.st_size == 16);
  CHECK("unlink", unlink("/work/c.bin") == 0);
  CHECK("unlink-gone", stat("/work/c.bin", &st) != 0 && errno == ENOENT);
  CHECK("open-missing", open("/work/nope", O_RDONLY) < 0 && errno == ENOENT);
  CHECK("excl", open("/work/a.txt", O_WRONLY | O_CREAT | O_EXCL, 0644) < 0 && errno == EEXIST);
  CHECK("link", link("/work/a.txt", "/work/a2.txt") == 0);
  /* fd_fdstat_set_rights can drop rights, never add them back. */
  int wfd = open("/work/r.txt", O_RDWR | O_CREAT, 0644);
  __wasi_fdstat_t fst;
  CHECK("fdstat", __wasi_fd_fdstat_get(wfd, &fst) == 0 && fst.fs_filetype == __WASI_FILETYPE_REGULAR_FILE);
  EXPECT_ERRNO("drop-write", __wasi_fd_fdstat_set_rights(wfd, fst.fs_rights_base & ~__WASI_RIGHTS_FD_WRITE, 0), 0);
  CHECK("write-dropped", write(wfd, "x", 1) < 0 && errno == ENOTCAPABLE);
  EXPECT_ERRNO("regain-write", __wasi_fd_fdstat_set_rights(wfd, fst.fs_rights_base, 0), __WASI_ERRNO_NOTCAPABLE);
  /* fd_renumber moves a descriptor onto another one, closing the target. */
  int ofd = open("/work/a.txt", O_RDONLY);
  EXPECT_ERRNO("renumber", __wasi_fd_renumber(ofd, wfd), 0);
  char rb[5] = {0};
  CHECK("renumbered-reads", read(wfd, rb, 5) == 5 && memcmp(rb, "hello", 5) == 0);
  EXPECT_ERRNO("renumber-old-closed", __wasi_fd_close(ofd), __WASI_ERRNO_BADF);
  close(wfd);
  CHECK("link-content", (s = read_file("/work/a2.txt")) && strcmp(s, "hello\nworld 42\n") == 0);
}

static void dirs(int count) {
  CHECK("mkdir", mkdir("/work/d", 0755) == 0);
  CHECK("mkdir-exists", mkdir("/work/d", 0755) < 0 && errno == EEXIST);
  char path[64];
  int made = 0;
  for (int i = 0; i < count; i++) {
    snprintf(path, sizeof path, "/work/d/f%04d", i);
    if (write_file(path, "x") == 0) made++;
  }
  CHECK("create-many", made == count);
  DIR *d = opendir("/work/d");
  CHECK("opendir", d != NULL);
  int seen = 0, dots = 0;
  static unsigned char mark[100000];
  struct dirent *e;
  while (d && (e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) {
      dots++;
      continue;
    }
    int k = atoi(e->d_name + 1);
    if (k >= 0 && k < count && !mark[k]) {
      mark[k] = 1;
      seen++;
    }
  }
  if (d) closedir(d);
  CHECK("readdir-all", seen == count);
  /* telldir/seekdir resume from a cookie in the middle. */
  d = opendir("/work/d");
  long mid = -1;
  int before = 0;
  while (d && (e = readdir(d))) {
    if (++before == count / 2) {
      mid = telldir(d);
      break;
    }
  }
  int after = 0;
  if (d && mid >= 0) {
    seekdir(d, mid);
    while ((e = readdir(d))) after++;
  }
  if (d) closedir(d);
  CHECK("readdir-cookie", mid >= 0 && before + after == count + dots);
  CHECK("rmdir-notempty", rmdir("/work/d") < 0 && errno == ENOTEMPTY);
  for (int i = 0; i < count; i++) {
    snprintf(path, sizeof path, "/work/d/f%04d", i);
    unlink(path);
  }
  CHECK("rmdir", rmdir("/work/d") == 0);
  CHECK("rmdir-gone", access("/work/d", F_OK) != 0);
  CHECK("unlink-dir", mkdir("/work/e", 0755) == 0 && unlink("/work/e") < 0 &&
                          (errno == EISDIR || errno == EPERM));
  CHECK("rmdir-file", write_file("/work/g", "1") == 0 && rmdir("/work/g") < 0 && errno == ENOTDIR);
}

static void links(void) {
  CHECK("target", write_file("/work/t.txt", "target\n") == 0);
  CHECK("symlink", symlink("t.txt", "/work/l.txt") == 0);
  char buf[256];
  ssize_t n = readlink("/work/l.txt", buf, sizeof buf);
  CHECK("readlink", n == 5 && memcmp(buf, "t.txt", 5) == 0);
  char *s = read_file("/work/l.txt");
  CHECK("follow", s && strcmp(s, "target\n") == 0);
  struct stat st;
  CHECK("lstat", lstat("/work/l.txt", &st) == 0 && S_ISLNK(st.st_mode));
  CHECK("symlink-in-dir", mkdir("/work/sd", 0755) == 0 && symlink("../t.txt", "/work/sd/up") == 0);
  s = read_file("/work/sd/up");
  CHECK("follow-dotdot-inside", s && strcmp(s, "target\n") == 0);
  CHECK("unlink-link", unlink("/work/l.txt") == 0 && access("/work/t.txt", F_OK) == 0);
}

static void stdio(void) {
  char buf[4096];
  size_t n = fread(buf, 1, sizeof buf, stdin);
  fwrite(buf, 1, n, stdout);
  fprintf(stderr, "stderr line\n");
}

static void args(int argc, char **argv) {
  for (int i = 0; i < argc; i++) printf("arg %d %s\n", i, argv[i]);
}

static void env(void) {
  extern char **environ;
  for (char **e = environ; *e; e++) printf("env %s\n", *e);
}

static void clocks(void) {
  struct timespec a, b, r;
  CHECK("monotonic", clock_gettime(CLOCK_MONOTONIC, &a) == 0);
  CHECK("realtime", clock_gettime(CLOCK_REALTIME, &b) == 0 && b.tv_sec > 1600000000);
  CHECK("res", clock_getres(CLOCK_MONOTONIC, &r) == 0);
  struct timespec d = {0, 20 * 1000000};
  CHECK("nanosleep", nanosleep(&d, NULL) == 0);
  clock_gettime(CLOCK_MONOTONIC, &b);
  long long ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
  CHECK("slept", ns >= 20000000);
  __wasi_timestamp_t t;
  EXPECT_ERRNO("bad-clock", __wasi_clock_time_get(99, 1, &t), __WASI_ERRNO_INVAL);
  CHECK("yield", __wasi_sched_yield() == 0);
  EXPECT_ERRNO("raise", raw_proc_raise(15), __WASI_ERRNO_NOSYS);
}

static void denied(void) {
  __wasi_timestamp_t t;
  EXPECT_ERRNO("clock-denied", __wasi_clock_time_get(__WASI_CLOCKID_MONOTONIC, 1, &t),
               __WASI_ERRNO_NOTCAPABLE);
  EXPECT_ERRNO("res-denied", __wasi_clock_res_get(__WASI_CLOCKID_MONOTONIC, &t),
               __WASI_ERRNO_NOTCAPABLE);
  uint8_t b[8];
  EXPECT_ERRNO("random-denied", __wasi_random_get(b, sizeof b), __WASI_ERRNO_NOTCAPABLE);
  __wasi_size_t argc = 9, sz = 9;
  CHECK("args-empty", __wasi_args_sizes_get(&argc, &sz) == 0 && argc == 0 && sz == 0);
  CHECK("env-empty", __wasi_environ_sizes_get(&argc, &sz) == 0 && argc == 0);
  __wasi_fd_t nfd;
  EXPECT_ERRNO("sock-accept-denied", __wasi_sock_accept(1, 0, &nfd), __WASI_ERRNO_NOTCAPABLE);
  EXPECT_ERRNO("sock-shutdown-denied", __wasi_sock_shutdown(1, __WASI_SDFLAGS_WR),
               __WASI_ERRNO_NOTCAPABLE);
}

static void randomness(void) {
  uint8_t a[32] = {0}, b[32] = {0};
  CHECK("random", __wasi_random_get(a, sizeof a) == 0 && __wasi_random_get(b, sizeof b) == 0 &&
                      memcmp(a, b, sizeof a) != 0);
}

static void sockets(void) {
  __wasi_fd_t nfd;
  EXPECT_ERRNO("sock-accept-notsock", __wasi_sock_accept(1, 0, &nfd), __WASI_ERRNO_NOTSOCK);
  EXPECT_ERRNO("sock-accept-badf", __wasi_sock_accept(77, 0, &nfd), __WASI_ERRNO_BADF);
  __wasi_size_t n;
  __wasi_roflags_t rf;
  __wasi_iovec_t iv = {0, 0};
  EXPECT_ERRNO("sock-recv", __wasi_sock_recv(1, &iv, 1, 0, &n, &rf), __WASI_ERRNO_NOTSOCK);
  __wasi_ciovec_t civ = {0, 0};
  EXPECT_ERRNO("sock-send", __wasi_sock_send(1, &civ, 1, 0, &n), __WASI_ERRNO_NOTSOCK);
}

/* Hostile calls made with raw WASI functions, each with its errno. */
static void hostile(void) {
  __wasi_fd_t fd;
  const char *p;
#define OPEN(path) __wasi_path_open(PRE, 0, path, 0, __WASI_RIGHTS_FD_READ, 0, 0, &fd)
  EXPECT_ERRNO("dotdot", OPEN("../outside.txt"), __WASI_ERRNO_PERM);
  EXPECT_ERRNO("dotdot-chain", OPEN("a/../../../../etc/passwd"), __WASI_ERRNO_PERM);
  EXPECT_ERRNO("absolute", OPEN("/etc/passwd"), __WASI_ERRNO_PERM);
  EXPECT_ERRNO("abs-link", __wasi_path_open(PRE, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "abs_link", 0,
                                           __WASI_RIGHTS_FD_READ, 0, 0, &fd),
               __WASI_ERRNO_PERM);
  EXPECT_ERRNO("rel-link", __wasi_path_open(PRE, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "rel_link", 0,
                                           __WASI_RIGHTS_FD_READ, 0, 0, &fd),
               __WASI_ERRNO_PERM);
  EXPECT_ERRNO("chain-link", __wasi_path_open(PRE, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "chain1", 0,
                                             __WASI_RIGHTS_FD_READ, 0, 0, &fd),
               __WASI_ERRNO_PERM);
  EXPECT_ERRNO("loop-link", __wasi_path_open(PRE, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "loop1", 0,
                                            __WASI_RIGHTS_FD_READ, 0, 0, &fd),
               __WASI_ERRNO_LOOP);
  EXPECT_ERRNO("make-abs-link-then-use", __wasi_path_symlink("/etc/passwd", PRE, "evil"), 0);
  EXPECT_ERRNO("use-abs-link", __wasi_path_open(PRE, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "evil", 0,
                                               __WASI_RIGHTS_FD_READ, 0, 0, &fd),
               __WASI_ERRNO_PERM);
  EXPECT_ERRNO("link-out", __wasi_path_link(PRE, 0, "../outside.txt", PRE, "stolen"),
               __WASI_ERRNO_PERM);
  EXPECT_ERRNO("rename-out", __wasi_path_rename(PRE, "victim.txt", PRE, "../victim.txt"),
               __WASI_ERRNO_PERM);
  static char longname[300];
  memset(longname, 'n', 299);
  EXPECT_ERRNO("long-component", OPEN(longname), __WASI_ERRNO_NAMETOOLONG);
  static char longpath[5000];
  for (int i = 0; i < 4998; i += 2) memcpy(longpath + i, "a/", 2);
  EXPECT_ERRNO("long-path", OPEN(longpath), __WASI_ERRNO_NAMETOOLONG);
  /* A path with a NUL inside: the length says 10, the NUL is at 3. */
  p = "abc\0def.txt";
  EXPECT_ERRNO("nul-inside", __wasi_path_open(PRE, 0, p, 0, 0, 0, 0, &fd) , __WASI_ERRNO_ILSEQ);
  EXPECT_ERRNO("forged-fd", __wasi_fd_close(1234), __WASI_ERRNO_BADF);
  EXPECT_ERRNO("forged-fd-neg", __wasi_fd_close((__wasi_fd_t)-1), __WASI_ERRNO_BADF);
  __wasi_size_t nw;
  __wasi_ciovec_t bad = {(const uint8_t *)(uintptr_t)0xfffffff0u, 64};
  EXPECT_ERRNO("iovec-outside", __wasi_fd_write(1, &bad, 1, &nw), __WASI_ERRNO_FAULT);
  EXPECT_ERRNO("iovec-array-outside",
               __wasi_fd_write(1, (const __wasi_ciovec_t *)(uintptr_t)0xfffffff8u, 4, &nw),
               __WASI_ERRNO_FAULT);
  __wasi_ciovec_t one = {(const uint8_t *)"x", 1};
  EXPECT_ERRNO("huge-iovec-count", __wasi_fd_write(1, &one, 0x7fffffff, &nw), __WASI_ERRNO_FAULT);
  EXPECT_ERRNO("result-outside",
               __wasi_fd_write(1, &one, 1, (__wasi_size_t *)(uintptr_t)0xfffffffeu),
               __WASI_ERRNO_FAULT);
#undef OPEN
}

static void readonly(void) {
  __wasi_fd_t fd;
  EXPECT_ERRNO("ro-create", __wasi_path_open(PRE, 0, "new.txt", __WASI_OFLAGS_CREAT, __WASI_RIGHTS_FD_WRITE, 0, 0, &fd),
               __WASI_ERRNO_ROFS);
  EXPECT_ERRNO("ro-mkdir", __wasi_path_create_directory(PRE, "dir"), __WASI_ERRNO_ROFS);
  EXPECT_ERRNO("ro-unlink", __wasi_path_unlink_file(PRE, "existing.txt"), __WASI_ERRNO_ROFS);
  EXPECT_ERRNO("ro-rename", __wasi_path_rename(PRE, "existing.txt", PRE, "x.txt"), __WASI_ERRNO_ROFS);
  EXPECT_ERRNO("ro-symlink", __wasi_path_symlink("existing.txt", PRE, "l"), __WASI_ERRNO_ROFS);
  CHECK("ro-read", read_file("/work/existing.txt") != NULL);
  int rfd = open("/work/existing.txt", O_WRONLY);
  CHECK("ro-open-write", rfd < 0 && (errno == EROFS || errno == ENOTCAPABLE || errno == EACCES));
}

static void quota(void) {
  CHECK("small", write_file("/work/q.txt", "good content") == 0);
  FILE *f = fopen("/work/q.txt", "r+");
  static char big[1 << 20];
  memset(big, 'B', sizeof big);
  int fd = open("/work/q.txt", O_WRONLY);
  ssize_t n = write(fd, big, sizeof big);
  CHECK("over-quota", n < 0 && (errno == ENOSPC || errno == EDQUOT));
  close(fd);
  if (f) fclose(f);
  char *s = read_file("/work/q.txt");
  CHECK("last-good", s && strcmp(s, "good content") == 0);
}

int main(int argc, char **argv) {
  /* Without the args capability argc is 0: that is the "denied" run. */
  const char *what = argc > 1 ? argv[1] : argc == 0 ? "denied" : "files";
  if (!strcmp(what, "files")) files();
  else if (!strcmp(what, "dirs")) dirs(argc > 2 ? atoi(argv[2]) : 1000);
  else if (!strcmp(what, "links")) links();
  else if (!strcmp(what, "stdio")) stdio();
  else if (!strcmp(what, "args")) args(argc, argv);
  else if (!strcmp(what, "env")) env();
  else if (!strcmp(what, "clocks")) clocks();
  else if (!strcmp(what, "denied")) denied();
  else if (!strcmp(what, "random")) randomness();
  else if (!strcmp(what, "sockets")) sockets();
  else if (!strcmp(what, "hostile")) hostile();
  else if (!strcmp(what, "readonly")) readonly();
  else if (!strcmp(what, "quota")) quota();
  else if (!strcmp(what, "exit")) return argc > 2 ? atoi(argv[2]) : 0;
  else if (!strcmp(what, "sleep")) {
    struct timespec d = {argc > 2 ? atoi(argv[2]) : 60, 0};
    nanosleep(&d, NULL);
    printf("woke\n");
  } else {
    printf("unknown scenario %s\n", what);
    return 2;
  }
  printf("%d failures\n", failures);
  return failures ? 1 : 0;
}
