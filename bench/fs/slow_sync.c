/*
 * This file implements slow_sync.so, the LD_PRELOAD shim of
 * bench/fs.sh -D MS: fsync and fdatasync sleep FSBENCH_SYNC_DELAY_MS
 * milliseconds (0 to 10000) before doing their work, so the benchmark
 * shows how each backend follows a slow disk flush on any machine.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>

static void delay(void) {
  const char *v = getenv("FSBENCH_SYNC_DELAY_MS");
  long ms = v ? strtol(v, NULL, 10) : 0;
  if (ms <= 0) return;
  if (ms > 10000) ms = 10000;
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  for (int i = 0; i < 100 && nanosleep(&ts, &ts) != 0; i++) { /* EINTR: the rest */
  }
}

int fsync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  delay();
  return real(fd);
}

int fdatasync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  delay();
  return real(fd);
}
