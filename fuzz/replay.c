/*
 * replay.c -- runs a fuzz target's LLVMFuzzerTestOneInput on saved inputs,
 * without libFuzzer.
 *
 * This file implements the main() that the ordinary builds (plain and
 * ASan+UBSan, any compiler) link with each fuzz target's source, so that
 * ctest replays every target's findings and seeds on every change:
 *
 *   replay_TARGET PATH...
 *
 * Each PATH is a file or a folder whose regular files (not recursing,
 * dot files skipped) are inputs; they run in name order. A folder that
 * does not exist counts as empty, so a target with no findings yet needs
 * no placeholder. A finding aborts inside the target (a sanitizer report
 * or the harness's own abort), so reaching the end means every input
 * passed. Exit status: 0, or 2 when an input cannot be read.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a target: libFuzzer calls it once before the first input. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Reads the whole file at path into a new buffer (*n bytes). */
static uint8_t *read_all(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, len = 0;
  uint8_t *b = malloc(cap);
  while (b) {
    len += fread(b + len, 1, cap - len, f);
    if (len < cap) break;
    uint8_t *nb = realloc(b, cap *= 2);
    if (!nb) free(b);
    b = nb;
  }
  if (b && ferror(f)) free(b), b = NULL;
  fclose(f);
  *n = len;
  return b;
}

static int run_file(const char *path) {
  size_t n = 0;
  uint8_t *b = read_all(path, &n);
  if (!b) {
    fprintf(stderr, "replay: %s: %s\n", path, strerror(errno ? errno : ENOMEM));
    return -1;
  }
  /* A copy of exactly n bytes, as libFuzzer gives: ASan sees a read past
   * the input's end. */
  uint8_t *exact = malloc(n ? n : 1);
  if (!exact) return free(b), -1;
  memcpy(exact, b, n);
  free(b);
  LLVMFuzzerTestOneInput(exact, n);
  free(exact);
  return 0;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs the regular files of folder dir in name order; returns how many
 * ran, or -1 when one could not be read. */
static long run_folder(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return errno == ENOENT ? 0 : -1;
  char **names = NULL;
  size_t count = 0, cap = 0;
  long ran = 0;
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    if (count == cap) {
      char **nn = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof *nn);
      if (!nn) goto fail;
      names = nn;
    }
    if (!(names[count] = malloc(strlen(dir) + strlen(e->d_name) + 2))) goto fail;
    sprintf(names[count++], "%s/%s", dir, e->d_name);
  }
  if (count) qsort(names, count, sizeof *names, by_name);
  for (size_t i = 0; i < count; i++) {
    struct stat st;
    if (stat(names[i], &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (run_file(names[i]) != 0) goto fail;
    ran++;
  }
  goto done;
fail:
  ran = -1;
done:
  for (size_t i = 0; i < count; i++) free(names[i]);
  free(names);
  closedir(d);
  return ran;
}

int main(int argc, char **argv) {
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  long total = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    long ran;
    if (stat(argv[i], &st) == 0 && S_ISREG(st.st_mode)) ran = run_file(argv[i]) == 0 ? 1 : -1;
    else ran = run_folder(argv[i]);
    if (ran < 0) {
      fprintf(stderr, "replay: cannot read %s\n", argv[i]);
      return 2;
    }
    total += ran;
  }
  printf("replay: %ld inputs, no finding\n", total);
  return 0;
}
