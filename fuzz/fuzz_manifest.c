/*
 * fuzz_manifest.c -- libFuzzer entry point of the fuzz_manifest target.
 *
 * This file implements LLVMFuzzerTestOneInput for fuzz_manifest: each input
 * is a skill.json text. It goes through the manifest parser (strict JSON,
 * every field) and, when it parses, through every install-time check that
 * needs no network (cis__install_check: HTTP rules, the entry and its
 * signature, host mount sources, volumes, KV namespace sharing against
 * installed skills), as cis_skills_install would run them; the sha256 is
 * left out, since no input could match it. The module is a fixed small one
 * that exports an entry of every ABI (and one of the wrong shape), so
 * that the entry checks pass or fail by what the manifest says.
 *
 * The host is made once: a registry in a temporary folder with three
 * skills installed (one using KV, one claiming namespace "shared", one
 * mounting volume "v"), a skill folder with data/, a symlink out of it and
 * an allowed folder beside it. Inputs only read it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "skill/skill_internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* (module (memory (export "memory") 1)
 *   cis_main () -> i32, main () -> i32, execute (i32) -> i32,
 *   alloc (i32) -> i32, _start () -> (), wide (i64 i32) -> i64) */
static const uint8_t module_bytes[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x13, 0x04, 0x60,
    0x00, 0x01, 0x7f, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x00, 0x60,
    0x02, 0x7e, 0x7f, 0x01, 0x7e, 0x03, 0x07, 0x06, 0x00, 0x00, 0x01, 0x01,
    0x02, 0x03, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x3e, 0x07, 0x06, 0x6d,
    0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, 0x08, 0x63, 0x69, 0x73, 0x5f,
    0x6d, 0x61, 0x69, 0x6e, 0x00, 0x00, 0x04, 0x6d, 0x61, 0x69, 0x6e, 0x00,
    0x01, 0x07, 0x65, 0x78, 0x65, 0x63, 0x75, 0x74, 0x65, 0x00, 0x02, 0x05,
    0x61, 0x6c, 0x6c, 0x6f, 0x63, 0x00, 0x03, 0x06, 0x5f, 0x73, 0x74, 0x61,
    0x72, 0x74, 0x00, 0x04, 0x04, 0x77, 0x69, 0x64, 0x65, 0x00, 0x05, 0x0a,
    0x1d, 0x06, 0x04, 0x00, 0x41, 0x00, 0x0b, 0x04, 0x00, 0x41, 0x00, 0x0b,
    0x04, 0x00, 0x41, 0x00, 0x0b, 0x04, 0x00, 0x41, 0x10, 0x0b, 0x02, 0x00,
    0x0b, 0x04, 0x00, 0x42, 0x00, 0x0b
};

static char root[64] = "/tmp/cis-fuzz-manifest-XXXXXX"; /* everything the target makes */
static char skill_dir[128];    /* the folder installs come from */
static char allowed[128];      /* a folder outside it that the operator allows */
static cis_skills *host;       /* registry with a few skills */
static cis_module *module;     /* module_bytes, decoded once */
static const char *volumes[] = {"v", "shared-notes"};
static const char *namespaces[] = {"shared"};
static const char *host_paths[1];
static cis_install_options grants;

static void cleanup(void) {
  cis_module_free(module);
  cis_skills_close(host);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  if (system(cmd) != 0) fprintf(stderr, "fuzz_manifest: could not remove %s\n", root);
}

static void die(const char *what) {
  fprintf(stderr, "fuzz_manifest: set-up failed: %s: %s\n", what, host ? cis_skills_errmsg(host) : "");
  exit(1);
}

static void install(const char *name, const char *perms, const cis_install_options *o) {
  char sha[65], man[1024];
  cis_sha256_hex(module_bytes, sizeof module_bytes, sha);
  snprintf(man, sizeof man, "{\"name\":\"%s\",\"version\":\"1\",\"wasm\":{\"path\":\"m.wasm\",\"sha256\":\"%s\"},"
                            "\"permissions\":%s}", name, sha, perms);
  if (cis_skills_register_ex(host, module_bytes, sizeof module_bytes, man, strlen(man), o) != CIS_OK) die(name);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  if (!mkdtemp(root)) die("mkdtemp");
  atexit(cleanup);
  char path[256];
  snprintf(skill_dir, sizeof skill_dir, "%s/skill", root);
  snprintf(allowed, sizeof allowed, "%s/allowed", root);
  snprintf(path, sizeof path, "%s/data", skill_dir);
  if (mkdir(skill_dir, 0755) || mkdir(path, 0755) || mkdir(allowed, 0755)) die("mkdir");
  snprintf(path, sizeof path, "%s/out", skill_dir);
  if (symlink(root, path)) die("symlink");
  snprintf(path, sizeof path, "%s/home", root);
  cis_skills_config c;
  cis_skills_config_default(&c);
  c.home = path;
  c.engine = "interp"; /* no compile forked for the skills an input installs */
  if (cis_skills_open(&c, &host) != CIS_OK) {
    fprintf(stderr, "fuzz_manifest: %s\n", cis_skills_errmsg(host));
    exit(1);
  }
  host_paths[0] = allowed;
  grants = (cis_install_options){.allow_volumes = volumes, .nallow_volumes = 2, .allow_namespaces = namespaces,
                                 .nallow_namespaces = 1, .allow_host_paths = host_paths, .nallow_host_paths = 1};
  install("owner", "{\"kv\":true}", NULL);
  install("claimer", "{\"kv\":{\"namespace\":\"shared\"}}", NULL);
  install("mounter", "{\"fs\":{\"mounts\":[{\"guest\":\"/v\",\"type\":\"db\",\"volume\":\"v\"}]}}", &grants);
  char sha[65];
  cis_sha256_hex(module_bytes, sizeof module_bytes, sha);
  if (cis__module_cached(host, sha, module_bytes, sizeof module_bytes, 0, &module) != CIS_OK) die("module");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cis_manifest *m;
  char err[512];
  if (cis__manifest_parse((const char *)data, size, &m, err, sizeof err) != CIS_OK) return 0;
  char *json = cis__manifest_to_json(m, NULL);
  free(json);
  /* Without grants, with them, and as if registered from memory (no
   * folder), as the three ways an install can come. */
  cis__grants used;
  const cis_install_options *opts[] = {NULL, &grants, &grants};
  for (int i = 0; i < 3; i++) {
    if (cis__install_check(host, m, module, i < 2 ? skill_dir : NULL, opts[i], &used) == CIS_OK)
      cis__grants_free(&used);
  }
  char key[256];
  for (size_t i = 0; i < m->n_mounts; i++) cis__vfs_tree_key("tenant", m->name, m->mounts[i].volume, key, sizeof key);
  cis__manifest_free(m);
  return 0;
}
