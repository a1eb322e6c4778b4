/*
 * This file implements generation files (genfile.h).
 */
#include "common/genfile.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

_Atomic uint64_t *cis__genfile_map(const char *path) {
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return NULL;
  struct stat st;
  /* Written, not ftruncated: a sparse file's block would be allocated on
   * the first store through the mapping, which raises SIGBUS on a full
   * disk instead of failing here. Two openers racing write the same
   * zeros, and never over a counter already there. */
  static const uint64_t zero = 0;
  if (fstat(fd, &st) != 0 ||
      (st.st_size < (off_t)sizeof zero && pwrite(fd, &zero, sizeof zero, 0) != (ssize_t)sizeof zero)) {
    close(fd);
    return NULL;
  }
  void *p = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd); /* the mapping keeps the file */
  return p == MAP_FAILED ? NULL : (_Atomic uint64_t *)p;
}

void cis__genfile_unmap(_Atomic uint64_t *gen) {
  if (gen) munmap((void *)gen, sizeof(uint64_t));
}
