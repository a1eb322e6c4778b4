/*
 * fuzz_vfs_ext.c -- libFuzzer entry point of the fuzz_vfs_ext target.
 *
 * This file implements LLVMFuzzerTestOneInput for fuzz_vfs_ext: the SQLite
 * backend's references to its extent file (src/vfs/vfs_db_sqlite_ext.c),
 * which it reads from a database file that may be damaged or hostile.
 * Each input is a reference (up to the first newline) and the extent
 * file's bytes (the rest, in a memory file); the reference is parsed,
 * bounded, read (into a buffer of one 64 KiB block, or 1 MiB when the
 * input's last byte is odd) and hashed as a read of its block would be
 * (cis__vdb_ext_read_fd). A result other than 0, an error number or
 * CIS__VDB_STALE, or a read reported longer than its buffer, aborts.
 * Seeds: fuzz/vfs_ext/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cis/cis_vfs.h"
#include "vfs/vfs_db_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nl = memchr(data, '\n', size);
  size_t reflen = nl ? (size_t)(nl - data) : size;
  const uint8_t *file = nl ? nl + 1 : data + size;
  size_t flen = size - (size_t)(file - data);
  int fd = memfd_create("fuzz-ext", MFD_CLOEXEC);
  if (fd < 0) return 0;
  size_t done = 0;
  while (done < flen) {
    ssize_t w = write(fd, file + done, flen - done);
    if (w <= 0) break;
    done += (size_t)w;
  }
  size_t cap = size && (data[size - 1] & 1) ? 1u << 20 : 1u << 16;
  uint8_t *buf = malloc(cap);
  char errmsg[CIS_VFS_ERRMSG_MAX];
  if (buf && done == flen) {
    size_t got = 0;
    int err = cis__vdb_ext_read_fd(fd, (const char *)data, reflen, buf, cap, &got, errmsg);
    if (got > cap || (err && err != CIS__VDB_STALE && err < 0) || (err && got)) abort();
  }
  free(buf);
  close(fd);
  return 0;
}
