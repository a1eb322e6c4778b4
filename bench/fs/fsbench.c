/*
 * This file implements the filesystem benchmark program of bench/fs.sh.
 * The same source is built natively (gcc -O2, run on a directory of the
 * host filesystem) and for wasm32-wasi (clang against wasi-libc, run by
 * bench/fs/fs_host on each cis filesystem backend), so it uses only plain
 * POSIX calls: mkdir, open, write, read, close, unlink, rmdir and
 * clock_gettime (and pwrite and fdatasync for -s).
 *
 *   fsbench DIR [CHUNK_KIB [PHASE]]
 *   fsbench -s DIR
 *
 * In DIR (which must exist) it runs five phases, each timed on its own:
 *
 *   small-write  mkdir DIR/small, then 1000 files of 4 KiB written in one
 *                write each (open O_CREAT|O_TRUNC, write, close)
 *   small-read   each of them opened and read to end of file
 *   big-write    DIR/big, 64 MiB written in CHUNK_KIB chunks (default 1024)
 *   big-read     DIR/big read back to end of file in the same chunks
 *   delete       the 1000 files, DIR/small and DIR/big removed
 *
 * Only the filesystem calls are inside the timed regions: the data and the
 * paths are made beforehand, every file is read into its own place in
 * memory, and the content is checked (word by word, with a checksum of
 * everything read) after the phase. Otherwise the wasm build would be
 * timed on generating and comparing 68 MiB in the interpreter, not on the
 * filesystem. Buffers are touched before the clock starts, so first-touch
 * page faults are not timed either. Nothing is fsync'd: natively this is
 * the page cache of the host.
 *
 * With PHASE (one of the five names) it runs that phase alone, on what the
 * phases before it left in DIR: bench/fs/fs_host runs the five so, each
 * as one call (-C call). The checksum is then printed by big-read alone,
 * folding in the small files as they were written (small-read has
 * checked every byte of them against that), so it equals the checksum of
 * a whole run that read back right.
 *
 * Output on stdout, one "key value" line each, which bench/fs.sh parses:
 *
 *   phase small-write 12.345      (milliseconds, CLOCK_MONOTONIC)
 *   ...
 *   checksum 0123456789abcdef      (of every byte read back)
 *
 * A failed call or a byte read back wrong prints a message on stderr and
 * exits with status 1.
 *
 * With -s it measures instead what the database backends wait for on
 * every commit: 200 times a 4 KiB write and fdatasync in DIR/sync-probe.
 * It prints "fdatasync-ms P50 P90", the median and 90th percentile.
 * bench/fs.sh runs it natively only, as it is the host's disk that is of
 * interest.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SMALL_FILES 1000
#define SMALL_SIZE 4096u
#define BIG_SIZE (64u * 1024 * 1024)
#define WORDS(bytes) ((bytes) / sizeof(uint64_t))

static const char *g_dir; /* the directory the program works in */

static _Noreturn void die(const char *what, const char *path) {
  fprintf(stderr, "fsbench: %s %s: %s\n", what, path, strerror(errno));
  exit(1);
}

static _Noreturn void wrong(const char *path, size_t word) {
  fprintf(stderr, "fsbench: %s: wrong content at byte %zu\n", path, word * sizeof(uint64_t));
  exit(1);
}

/* Formats a path into buf (PATH_CAP bytes); a DIR too long is a usage
 * error, found before anything is timed. */
#define PATH_CAP 512
static void path_of(char *buf, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, PATH_CAP, fmt, ap);
  va_end(ap);
  if (n < 0 || n >= PATH_CAP) {
    fprintf(stderr, "fsbench: DIR is too long\n");
    exit(2);
  }
}

static void *alloc(size_t n) {
  void *p = malloc(n);
  if (!p) {
    fprintf(stderr, "fsbench: out of memory (%zu bytes)\n", n);
    exit(1);
  }
  /* First touch here, not in a timed phase. Not with zeros: compilers
   * turn malloc + memset(0) into calloc, which leaves the pages untouched. */
  memset(p, 0xA5, n);
  return p;
}

static double now_ms(void) {
  struct timespec t;
  if (clock_gettime(CLOCK_MONOTONIC, &t) != 0) die("clock_gettime", "CLOCK_MONOTONIC");
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* xorshift64*: the same sequence on every platform. */
static uint64_t next_rand(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1Dull;
}

static void fill(uint64_t *w, size_t n, uint64_t seed) {
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < n; i++) w[i] = next_rand(&s);
}

/* Compares n words read back with the expected ones and folds them into
 * the checksum *h (FNV-1a style, over words so that the wasm build checks
 * 68 MiB in reasonable time). */
static void check(const uint64_t *got, const uint64_t *want, size_t n, uint64_t *h,
                  const char *path) {
  uint64_t acc = *h;
  for (size_t i = 0; i < n; i++) {
    if (got[i] != want[i]) wrong(path, i);
    acc = (acc ^ got[i]) * 0x100000001B3ull;
  }
  *h = acc;
}

static void write_all(int fd, const void *buf, size_t len, const char *path) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("write", path);
    }
    if (n == 0) {
      errno = EIO;
      die("write (no progress)", path);
    }
    p += n;
    len -= (size_t)n;
  }
}

/* Reads fd to end of file into buf in reads of at most chunk bytes;
 * returns the bytes read, failing when the file holds more than cap. */
static size_t read_to_end(int fd, void *buf, size_t cap, size_t chunk, const char *path) {
  char *p = buf;
  size_t got = 0;
  for (;;) {
    size_t want = cap - got < chunk ? cap - got : chunk;
    char extra;
    ssize_t n = want > 0 ? read(fd, p + got, want) : read(fd, &extra, 1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("read", path);
    }
    if (n == 0) return got;
    if (want == 0) {
      errno = EFBIG;
      die("read (file longer than written)", path);
    }
    got += (size_t)n;
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* fsbench -s DIR: the latency of a small synchronous write. */
static int sync_probe(const char *dir) {
  enum { N = 200 };
  static char path[PATH_CAP], block[4096];
  static double ms[N];
  path_of(path, "%s/sync-probe", dir);
  memset(block, 0x5A, sizeof block);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) die("open", path);
  for (int i = 0; i < N; i++) {
    double t0 = now_ms();
    if (pwrite(fd, block, sizeof block, (off_t)i * (off_t)sizeof block) != (ssize_t)sizeof block)
      die("pwrite", path);
    if (fdatasync(fd) != 0) die("fdatasync", path);
    ms[i] = now_ms() - t0;
  }
  if (close(fd) != 0) die("close", path);
  if (unlink(path) != 0) die("unlink", path);
  qsort(ms, N, sizeof ms[0], cmp_double);
  printf("fdatasync-ms %.3f %.3f\n", ms[N / 2], ms[N * 9 / 10]);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "-s") == 0) return sync_probe(argv[2]);
  if (argc < 2 || argc > 4) {
    fprintf(stderr, "usage: fsbench DIR [CHUNK_KIB [PHASE]] | fsbench -s DIR\n");
    return 2;
  }
  static const char *const names[5] = {"small-write", "small-read", "big-write", "big-read",
                                       "delete"};
  int only = -1; /* the one phase to run, or -1: all */
  if (argc == 4) {
    for (int i = 0; i < 5; i++)
      if (strcmp(argv[3], names[i]) == 0) only = i;
    if (only < 0) {
      fprintf(stderr, "fsbench: PHASE is one of small-write, small-read, big-write, big-read, delete\n");
      return 2;
    }
  }
#define RUNS(i) (only < 0 || only == (i))
  g_dir = argv[1];
  size_t chunk = 1024u * 1024;
  if (argc >= 3) {
    char *end;
    unsigned long kib = strtoul(argv[2], &end, 10);
    if (*end || kib == 0 || kib > BIG_SIZE / 1024 || (BIG_SIZE / 1024) % kib) {
      fprintf(stderr, "fsbench: CHUNK_KIB must divide 65536\n");
      return 2;
    }
    chunk = kib * 1024;
  }

  /* Everything the timed phases need, made and touched beforehand. */
  static char small_dir[PATH_CAP], big_path[PATH_CAP];
  char(*paths)[PATH_CAP] = alloc(SMALL_FILES * sizeof *paths);
  path_of(small_dir, "%s/small", g_dir);
  path_of(big_path, "%s/big", g_dir);
  for (int i = 0; i < SMALL_FILES; i++) path_of(paths[i], "%s/f%04d", small_dir, i);
  uint64_t *small = alloc((size_t)SMALL_FILES * SMALL_SIZE);
  uint64_t *small_back = alloc((size_t)SMALL_FILES * SMALL_SIZE);
  size_t small_len[SMALL_FILES];
  for (int i = 0; i < SMALL_FILES; i++) fill(small + (size_t)i * WORDS(SMALL_SIZE), WORDS(SMALL_SIZE), (uint64_t)i + 1);
  uint64_t *big = alloc(BIG_SIZE);
  uint64_t *big_back = alloc(BIG_SIZE);
  fill(big, WORDS(BIG_SIZE), 4242);
  uint64_t h = 0xCBF29CE484222325ull;
  double t[5];
  double t0;
  int fd;

  if (RUNS(0)) { /* small-write */
    t0 = now_ms();
    if (mkdir(small_dir, 0755) != 0) die("mkdir", small_dir);
    for (int i = 0; i < SMALL_FILES; i++) {
      fd = open(paths[i], O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0) die("open", paths[i]);
      write_all(fd, small + (size_t)i * WORDS(SMALL_SIZE), SMALL_SIZE, paths[i]);
      if (close(fd) != 0) die("close", paths[i]);
    }
    t[0] = now_ms() - t0;
  }

  /* small-read: each file into its own slot; one byte of room more than
   * written would not tell a longer file, so read_to_end probes for it. */
  if (RUNS(1)) {
    t0 = now_ms();
    for (int i = 0; i < SMALL_FILES; i++) {
      fd = open(paths[i], O_RDONLY);
      if (fd < 0) die("open", paths[i]);
      small_len[i] = read_to_end(fd, small_back + (size_t)i * WORDS(SMALL_SIZE), SMALL_SIZE,
                                 SMALL_SIZE, paths[i]);
      if (close(fd) != 0) die("close", paths[i]);
    }
    t[1] = now_ms() - t0;
    for (int i = 0; i < SMALL_FILES; i++) {
      if (small_len[i] != SMALL_SIZE) {
        fprintf(stderr, "fsbench: %s: read %zu bytes, wrote %u\n", paths[i], small_len[i], SMALL_SIZE);
        return 1;
      }
      check(small_back + (size_t)i * WORDS(SMALL_SIZE), small + (size_t)i * WORDS(SMALL_SIZE),
            WORDS(SMALL_SIZE), &h, paths[i]);
    }
  } else if (only == 3) { /* the small files as written: small-read's run checked them */
    for (int i = 0; i < SMALL_FILES; i++)
      check(small + (size_t)i * WORDS(SMALL_SIZE), small + (size_t)i * WORDS(SMALL_SIZE),
            WORDS(SMALL_SIZE), &h, paths[i]);
  }

  if (RUNS(2)) { /* big-write */
    t0 = now_ms();
    fd = open(big_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die("open", big_path);
    for (size_t off = 0; off < BIG_SIZE; off += chunk) write_all(fd, (char *)big + off, chunk, big_path);
    if (close(fd) != 0) die("close", big_path);
    t[2] = now_ms() - t0;
  }

  if (RUNS(3)) { /* big-read */
    t0 = now_ms();
    fd = open(big_path, O_RDONLY);
    if (fd < 0) die("open", big_path);
    size_t big_len = read_to_end(fd, big_back, BIG_SIZE, chunk, big_path);
    if (close(fd) != 0) die("close", big_path);
    t[3] = now_ms() - t0;
    if (big_len != BIG_SIZE) {
      fprintf(stderr, "fsbench: %s: read %zu bytes, wrote %u\n", big_path, big_len, BIG_SIZE);
      return 1;
    }
    check(big_back, big, WORDS(BIG_SIZE), &h, big_path);
  }

  if (RUNS(4)) { /* delete */
    t0 = now_ms();
    for (int i = 0; i < SMALL_FILES; i++)
      if (unlink(paths[i]) != 0) die("unlink", paths[i]);
    if (rmdir(small_dir) != 0) die("rmdir", small_dir);
    if (unlink(big_path) != 0) die("unlink", big_path);
    t[4] = now_ms() - t0;
  }

  for (int i = 0; i < 5; i++)
    if (RUNS(i)) printf("phase %s %.3f\n", names[i], t[i]);
  if (only < 0 || only == 3) printf("checksum %016llx\n", (unsigned long long)h);
  free(big_back);
  free(big);
  free(small_back);
  free(small);
  free(paths);
  return 0;
}
