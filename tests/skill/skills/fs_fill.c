/*
 * This file implements a WASI command skill for tests/skill/test_fs_quota.c:
 * it writes /data/fill in 1 KiB pieces until its mount's quota refuses
 * one, then tries ten more writes and a new file each (a guest that keeps
 * retrying), and answers {"written":BYTES,"refused":N} with exit code 0.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  static char piece[1024];
  memset(piece, 'x', sizeof piece);
  FILE *f = fopen("/data/fill", "wb");
  if (!f) {
    fprintf(stderr, "cannot create /data/fill: %s\n", strerror(errno));
    return 2;
  }
  setvbuf(f, NULL, _IONBF, 0); /* each fwrite one fd_write */
  long written = 0, refused = 0;
  for (int i = 0; i < 64 && refused == 0; i++) {
    if (fwrite(piece, 1, sizeof piece, f) == sizeof piece) written += (long)sizeof piece;
    else refused++;
  }
  for (int i = 0; i < 10; i++) {
    clearerr(f);
    if (fwrite(piece, 1, sizeof piece, f) != sizeof piece) refused++;
    char name[32];
    snprintf(name, sizeof name, "/data/more%d", i);
    FILE *g = fopen(name, "wb");
    if (!g) refused++;
    else fclose(g);
  }
  fclose(f);
  printf("{\"written\":%ld,\"refused\":%ld}\n", written, refused);
  return 0;
}
