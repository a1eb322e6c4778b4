/*
 * This file implements a WASI command that rewrites one file over and
 * over, each time with a whole new version, until a call fails; it is the
 * guest of test_wasi_pgdown.c, which stops (then crashes) the PostgreSQL
 * server under the database filesystem while this program writes.
 *
 *   wasi_rewrite PATH SIZE CHUNK MAX
 *
 * PATH is a file under a preopen, such as /work/f. Version v (1, 2, ...
 * MAX) of it is SIZE bytes of the 16-byte record "version %07u\n" for v,
 * so a reader can tell a whole version from a mix of two (SIZE and CHUNK
 * must be multiples of 16). Each version is written to PATH.tmp (open
 * with O_TRUNC, a loop of writes of CHUNK bytes, close) and then renamed
 * over PATH. Every chunk of a version is the same bytes, so the program
 * fills one chunk per version: its time goes into the writes, which is
 * where the host wants the database to die.
 *
 * Why a temporary name and a rename: the database backend makes each VFS
 * call one transaction, and one fd_write of one buffer is one VFS write,
 * so each chunk lands whole or not at all, but a version is many calls.
 * Rewriting PATH in place (open with O_TRUNC, then the writes) would
 * commit the truncation and every chunk on its own: a server that dies in
 * between leaves an empty file, or the first chunks of the new version
 * (after a restart, neither the old content nor the new). A rename is one
 * call, so one transaction: PATH names the old inode or the new one,
 * each of them whole, whenever the server goes away. The temporary file
 * may be left half written; nobody reads it as the file.
 *
 * When a call fails the program prints one line and exits with 3:
 *
 *   fail CALL version=V off=O errno=E renamed=R
 *
 * CALL is open, write, close or rename; V the version being written; O
 * the offset of the failed write (0 for the other calls); E the errno the
 * call set (WASI's values: EIO is 29); R the last version whose rename
 * succeeded (0: none), which PATH held when the call failed. It exits
 * with 4 when all MAX versions were written without a failure, and with 2
 * on bad arguments or memory.
 *
 * The calls go through wasi-libc, which hands the WASI errno on as errno
 * unchanged for these (its write() only turns ENOTCAPABLE into EBADF), so
 * E is what fd_write, path_open or path_rename returned.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RECORD 16 /* bytes of one version record */

static const char *path; /* PATH */
static char tmp[256];     /* PATH.tmp */
static unsigned renamed; /* the last version that replaced PATH */

/* Reports the first failure (errno as the failed call left it) and ends
 * the program with 3. */
static void fail(const char *call, unsigned version, size_t off, int fd) {
  int e = errno;
  printf("fail %s version=%u off=%zu errno=%d renamed=%u\n", call, version, off, e, renamed);
  if (fd >= 0) close(fd); /* fd_close of a VFS file cannot fail */
  exit(3);
}

/* Fills buf with size bytes of version v's record. */
static void fill(char *buf, size_t size, unsigned v) {
  char rec[RECORD + 1];
  snprintf(rec, sizeof rec, "version %07u\n", v);
  for (size_t off = 0; off < size; off += RECORD) memcpy(buf + off, rec, RECORD);
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: wasi_rewrite PATH SIZE CHUNK MAX\n");
    return 2;
  }
  path = argv[1];
  size_t size = strtoul(argv[2], NULL, 10), chunk = strtoul(argv[3], NULL, 10);
  unsigned max = (unsigned)strtoul(argv[4], NULL, 10);
  if (!size || size % RECORD || !chunk || chunk % RECORD || max > 9999999) return 2;
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  char *buf = malloc(chunk);
  if (!buf) return 2;
  for (unsigned v = 1; v <= max; v++) {
    fill(buf, chunk, v);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) fail("open", v, 0, -1);
    for (size_t off = 0; off < size; off += chunk) {
      size_t len = size - off < chunk ? size - off : chunk;
      errno = 0;
      ssize_t n = write(fd, buf, len);
      /* The VFS writes all or nothing: a short write is a failure too
       * (errno 0 then, which the host refuses). */
      if (n != (ssize_t)len) fail("write", v, off, fd);
    }
    if (close(fd) != 0) fail("close", v, 0, -1);
    if (rename(tmp, path) != 0) fail("rename", v, 0, -1);
    renamed = v;
  }
  printf("no failure in %u versions\n", max);
  free(buf);
  return 4;
}
