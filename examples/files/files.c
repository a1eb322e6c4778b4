/*
 * This file implements the file-processing example skill, a WASI command:
 * it reads {"name": N, "text": T} on stdin, writes T upper-cased to
 * /data/N, lists /data and prints {"written": N, "files": [...]} on stdout.
 */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include "cis_skill.h"

int main(void) {
  static char in[65536], name[256], text[60000], path[512];
  size_t n = fread(in, 1, sizeof in - 1, stdin);
  in[n] = 0;
  if (cis_json_get_string(in, "name", name, sizeof name) <= 0 || strchr(name, '/')) return 2;
  if (cis_json_get_string(in, "text", text, sizeof text) < 0) return 2;
  for (char *p = text; *p; p++) *p = (char)toupper((unsigned char)*p);
  snprintf(path, sizeof path, "/data/%s", name);
  FILE *f = fopen(path, "w");
  if (!f) return 3;
  fputs(text, f);
  if (fclose(f) != 0) return 3;
  printf("{\"written\":\"%s\",\"files\":[", name);
  DIR *d = opendir("/data");
  struct dirent *e;
  int first = 1;
  while (d && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    printf("%s\"%s\"", first ? "" : ",", e->d_name);
    first = 0;
  }
  if (d) closedir(d);
  printf("]}\n");
  return 0;
}
