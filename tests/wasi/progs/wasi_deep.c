/*
 * This file implements a WASI command that builds a very deep tree the way
 * a hostile guest would: it walks directory descriptors, making "d" in the
 * directory it opened last and opening it, so that no path it names is
 * ever longer than one letter. `wasi_deep [LEVELS]` (default 300000) stops
 * at the first refusal, prints "depth N errno E" (E the WASI errno that
 * stopped it, 0 when all LEVELS were made) and exits 0, leaving the tree
 * for the host to free when it unmounts. The preopened directory is fd 3.
 */
#include <stdio.h>
#include <stdlib.h>
#include <wasi/api.h>

#define PRE 3

/* Rights a directory descriptor may hold and hand on. */
#define DIR_RIGHTS                                                                          \
  (__WASI_RIGHTS_PATH_CREATE_DIRECTORY | __WASI_RIGHTS_PATH_OPEN | __WASI_RIGHTS_FD_READDIR | \
   __WASI_RIGHTS_PATH_FILESTAT_GET | __WASI_RIGHTS_FD_FILESTAT_GET)

int main(int argc, char **argv) {
  long want = argc > 1 ? atol(argv[1]) : 300000;
  __wasi_fd_t dir = PRE;
  __wasi_errno_t err = 0;
  long depth = 0;
  while (depth < want) {
    __wasi_fd_t sub;
    if ((err = __wasi_path_create_directory(dir, "d"))) break;
    if ((err = __wasi_path_open(dir, 0, "d", __WASI_OFLAGS_DIRECTORY, DIR_RIGHTS, DIR_RIGHTS, 0,
                                &sub)))
      break;
    if (dir != PRE && __wasi_fd_close(dir)) {
      printf("close failed at depth %ld\n", depth);
      return 1;
    }
    dir = sub;
    depth++;
  }
  printf("depth %ld errno %d\n", depth, (int)err);
  return 0;
}
