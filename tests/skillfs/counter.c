/*
 * This file implements the test skill of test_skill_fs, a WASI command: it
 * reads {"file": PATH} on stdin, reads a decimal count from PATH (0 when
 * the file is missing), writes count + 1 back and prints {"count": N}.
 * It exits 3 when the file cannot be written, 4 when it cannot be read.
 * With {"pad": N} it first writes N bytes to PATH.pad (exit 5 when that
 * fails), to fill a mount.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  static char in[4096], path[1024];
  size_t n = fread(in, 1, sizeof in - 1, stdin);
  in[n] = 0;
  const char *k = strstr(in, "\"file\"");
  if (!k || !(k = strchr(k + 6, '"'))) return 2;
  const char *e = strchr(k + 1, '"');
  if (!e || (size_t)(e - k - 1) >= sizeof path) return 2;
  memcpy(path, k + 1, (size_t)(e - k - 1));
  path[e - k - 1] = 0;
  const char *pad = strstr(in, "\"pad\":");
  if (pad) {
    long want = strtol(pad + 6, NULL, 10);
    static char block[65536];
    char padpath[1100];
    snprintf(padpath, sizeof padpath, "%s.pad", path);
    FILE *p = fopen(padpath, "w");
    if (!p) return 5;
    for (long done = 0; done < want; done += (long)sizeof block)
      if (fwrite(block, 1, sizeof block, p) != sizeof block) {
        fclose(p);
        return 5;
      }
    if (fclose(p) != 0) return 5;
  }
  long count = 0;
  FILE *f = fopen(path, "r");
  if (f) {
    if (fscanf(f, "%ld", &count) != 1) count = 0;
    fclose(f);
  } else if (errno != ENOENT) {
    return 4;
  }
  f = fopen(path, "w");
  if (!f) return 3;
  fprintf(f, "%ld\n", count + 1);
  if (fclose(f) != 0) return 3;
  printf("{\"count\":%ld}\n", count + 1);
  return 0;
}
