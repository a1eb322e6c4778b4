/*
 * This file implements the tests of `cis skill init` and of the documented
 * build lines. For each language (c, rust, as) it scaffolds a skill, builds
 * it with the build.sh it was given, installs it with `cis skill install`
 * (no sha256 in the manifest: install fills it in) and runs it with
 * --json. Then it runs each build command that docs/sdk.md marks with
 * `<!-- build-test: LANG -->` in a fresh scaffold, and the one in
 * sdk/c/cis_skill.h's opening comment, and runs what they built; and it
 * installs the example manifests of docs/manifest.md.
 *
 *   test_skill_init CIS_BINARY SOURCE_DIR CLANG CARGO RUSTC ASC
 *
 * A tool given as "-" is missing: its language is skipped, or fails when
 * CI=true. The tools reach the build lines through a bin/ folder put first
 * on PATH, so the lines run as the docs write them (clang, cargo, asc).
 */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

static const char *cis_bin, *src_dir, *tools[4]; /* clang, cargo, rustc, asc */
static char tmpdir[] = "/tmp/cis-init-XXXXXX";

/* Runs a shell command line with stdout and stderr in tmpdir/out; returns
 * its exit status, and prints the output when it is not 0. */
static int sh(const char *fmt, ...) {
  char cmd[8192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  char full[8400];
  snprintf(full, sizeof full, "(%s) >'%s/out' 2>&1", cmd, tmpdir);
  int st = system(full);
  int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
  if (code) {
    char path[300], buf[8192];
    snprintf(path, sizeof path, "%s/out", tmpdir);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[n] = '\0';
    if (f) fclose(f);
    print_message("command failed (%d): %s\n%s\n", code, cmd, buf);
  }
  return code;
}

/* Reads tmpdir/out, as sh() left it. */
static char *last_out(void) {
  static char buf[65536];
  char path[300];
  snprintf(path, sizeof path, "%s/out", tmpdir);
  FILE *f = fopen(path, "r");
  size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
  buf[n] = '\0';
  if (f) fclose(f);
  return buf;
}

/* Skips (or, under CI=true, fails) when a tool of the language is missing. */
static bool have(const char *lang) {
  bool ok = !strcmp(lang, "c")      ? strcmp(tools[0], "-")
            : !strcmp(lang, "rust") ? strcmp(tools[1], "-") && strcmp(tools[2], "-")
                                    : strcmp(tools[3], "-");
  if (ok) return true;
  const char *ci = getenv("CI");
  if (ci && !strcmp(ci, "true")) fail_msg("the %s toolchain is missing (scripts/install-deps.sh)", lang);
  print_message("skipped: no %s toolchain (scripts/install-deps.sh)\n", lang);
  return false;
}

/* Runs skill NAME (installed in the registry at CIS_HOME) with input
 * {"name":"Ada"} and checks the --json document says {"hello":"Ada"}. */
static void run_says_hello(const char *name) {
  assert_int_equal(sh("'%s' skill run %s --json --input '{\"name\":\"Ada\"}' 2>/dev/null", cis_bin, name), 0);
  cJSON *d = cJSON_Parse(last_out());
  if (!d) fail_msg("not JSON:\n%s", last_out());
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(d, "status")->valuestring, "ok");
  cJSON *hello = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(d, "output"), "hello");
  assert_true(cJSON_IsString(hello));
  assert_string_equal(hello->valuestring, "Ada");
  cJSON_Delete(d);
}

/* init, build.sh, install, run. */
static void scaffold_builds_and_installs(const char *lang) {
  if (!have(lang)) {
    skip();
    return;
  }
  char name[32], dir[300];
  snprintf(name, sizeof name, "hello-%s", lang);
  snprintf(dir, sizeof dir, "%s/%s", tmpdir, name);
  assert_int_equal(sh("cd '%s' && '%s' skill init %s --lang %s", tmpdir, cis_bin, name, lang), 0);
  /* The folder holds what the docs promise, and no sha256 yet. */
  assert_int_equal(sh("cd '%s' && test -x build.sh && test -f README.md && test -f skill.json && "
                      "! grep -q sha256 skill.json", dir), 0);
  assert_int_equal(sh("'%s/build.sh'", dir), 0);
  assert_int_equal(sh("'%s' skill install '%s'", cis_bin, dir), 0);
  assert_non_null(strstr(last_out(), "installed "));
  run_says_hello(name);
  /* A second init over it writes nothing. */
  assert_int_equal(sh("cd '%s' && '%s' skill init %s --lang %s", tmpdir, cis_bin, name, lang), 1);
  assert_non_null(strstr(last_out(), "is not an empty folder"));
}

static void test_init_c(void **state) {
  (void)state;
  scaffold_builds_and_installs("c");
}
static void test_init_rust(void **state) {
  (void)state;
  scaffold_builds_and_installs("rust");
}
static void test_init_as(void **state) {
  (void)state;
  scaffold_builds_and_installs("as");
}

/* A Rust scaffold whose rustc lacks the wasm32 target: build.sh says what
 * to install and stops before cargo, which would leave a Cargo.lock. The
 * rustc and cargo on PATH are fakes: rustc names a libdir with no libcore,
 * cargo records that it ran. */
static void test_init_rust_without_target(void **state) {
  (void)state;
  char dir[300];
  snprintf(dir, sizeof dir, "%s/notarget", tmpdir);
  assert_int_equal(sh("cd '%s' && '%s' skill init notarget --lang rust", tmpdir, cis_bin), 0);
  assert_int_equal(sh("mkdir -p '%s/fake' '%s/fake/lib' && cd '%s/fake' && "
                      "printf '#!/bin/sh\\necho %s/fake/lib\\n' >rustc && "
                      "printf '#!/bin/sh\\ntouch %s/fake/cargo-ran\\n' >cargo && chmod +x rustc cargo",
                      dir, dir, dir, dir, dir),
                   0);
  assert_int_equal(sh("PATH='%s/fake':\"$PATH\" '%s/build.sh'", dir, dir), 1);
  const char *out = last_out();
  assert_non_null(strstr(out, "no wasm32-unknown-unknown target"));
  assert_non_null(strstr(out, "libstd-rust-dev-wasm32"));
  assert_non_null(strstr(out, "rustup target add wasm32-unknown-unknown"));
  assert_int_equal(sh("test ! -e '%s/fake/cargo-ran' && test ! -e '%s/Cargo.lock'", dir, dir), 0);
  /* RUSTC names the toolchain the check asks, as cargo would use it. */
  assert_int_equal(sh("RUSTC='%s/fake/rustc' '%s/build.sh'", dir, dir), 1);
  assert_non_null(strstr(last_out(), "fake/rustc has no wasm32-unknown-unknown target"));
  /* A rustc that cannot answer at all is the same. */
  assert_int_equal(sh("RUSTC=/nonexistent/rustc '%s/build.sh'", dir), 1);
  assert_non_null(strstr(last_out(), "libstd-rust-dev-wasm32"));
}

/* The shell block after `<!-- build-test: LANG -->` in docs/sdk.md, into
 * buf. */
static void doc_block(const char *lang, char *buf, size_t cap) {
  char path[1024], mark[64];
  snprintf(path, sizeof path, "%s/docs/sdk.md", src_dir);
  snprintf(mark, sizeof mark, "<!-- build-test: %s -->", lang);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  static char text[200000];
  size_t n = fread(text, 1, sizeof text - 1, f);
  text[n] = '\0';
  fclose(f);
  const char *m = strstr(text, mark);
  if (!m) fail_msg("docs/sdk.md has no %s", mark);
  const char *open = strstr(m, "```sh\n");
  assert_non_null(open);
  open += 6;
  const char *close = strstr(open, "```");
  assert_non_null(close);
  assert_true((size_t)(close - open) < cap);
  memcpy(buf, open, (size_t)(close - open));
  buf[close - open] = '\0';
}

/* Runs docs/sdk.md's build block for LANG in a fresh scaffold of my-skill
 * (SDK set as the docs say: absolute, or relative to the folder for asc),
 * then installs and runs what it built. */
/* The SDK folder as skill.ts in dir imports it: the text before
 * "/assemblyscript/assembly/index" in its `from "..."`. */
static void as_sdk_path(const char *dir, char *out, size_t cap) {
  char path[400], l[2048];
  snprintf(path, sizeof path, "%s/skill.ts", dir);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  out[0] = '\0';
  while (!out[0] && fgets(l, sizeof l, f)) {
    char *from = strstr(l, "from \""), *end = strstr(l, "/assemblyscript/assembly/index\"");
    if (from && end && end > from + 6) snprintf(out, cap, "%.*s", (int)(end - (from + 6)), from + 6);
  }
  fclose(f);
  if (!out[0]) fail_msg("%s imports no SDK", path);
}

static void doc_line_builds(const char *lang) {
  if (!have(lang)) {
    skip();
    return;
  }
  char block[4096], dir[300];
  doc_block(lang, block, sizeof block);
  snprintf(dir, sizeof dir, "%s/doc-%s/my-skill", tmpdir, lang);
  /* This tree's SDK, whatever SDK the cis binary was built to default to
   * (a copy of the tree keeps the original's). */
  assert_int_equal(sh("mkdir -p '%s/doc-%s' && '%s' skill init my-skill --lang %s --dir '%s' --sdk '%s/sdk'", tmpdir,
                      lang, cis_bin, lang, dir, src_dir),
                   0);
  /* asc takes the SDK relative to the skill's folder, and only the very
   * path skill.ts imports it by names the same file for --use abort=: take
   * it from the import init wrote (made from real paths, so a symlink in
   * the tree's or the temporary folder's path cannot make them differ). */
  char sdk[1100];
  if (!strcmp(lang, "as")) as_sdk_path(dir, sdk, sizeof sdk);
  else snprintf(sdk, sizeof sdk, "%s/sdk", src_dir);
  char script[300];
  snprintf(script, sizeof script, "%s/doc-%s.sh", tmpdir, lang);
  FILE *f = fopen(script, "w");
  assert_non_null(f);
  fprintf(f, "set -e\n%s", block);
  fclose(f);
  print_message("docs/sdk.md (%s):\n%s", lang, block);
  assert_int_equal(sh("cd '%s' && SDK='%s' sh '%s'", dir, sdk, script), 0);
  assert_int_equal(sh("'%s' skill install '%s'", cis_bin, dir), 0);
  run_says_hello("my-skill");
}

static void test_docs_build_c(void **state) {
  (void)state;
  doc_line_builds("c");
}
static void test_docs_build_rust(void **state) {
  (void)state;
  doc_line_builds("rust");
}
static void test_docs_build_as(void **state) {
  (void)state;
  doc_line_builds("as");
}

/* The build line in sdk/c/cis_skill.h's opening comment (it once passed
 * -Wl,--export=memory, which wasm-ld refuses), run from a folder where
 * sdk/c is the SDK's, on a scaffolded skill.c. */
static void test_header_build_line(void **state) {
  (void)state;
  if (!have("c")) {
    skip();
    return;
  }
  char path[1024], line[4096] = "";
  snprintf(path, sizeof path, "%s/sdk/c/cis_skill.h", src_dir);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  char l[512];
  bool in = false;
  while (fgets(l, sizeof l, f)) {
    if (strstr(l, "Build a skill with clang:")) {
      in = true;
      continue;
    }
    if (!in) continue;
    char *s = l;
    while (*s == ' ' || *s == '*') s++; /* the comment's " *   " */
    size_t n = strcspn(s, "\n");
    s[n] = '\0';
    bool more = n && s[n - 1] == '\\';
    if (more) s[n - 1] = ' ';
    strncat(line, s, sizeof line - strlen(line) - 1);
    if (!more) break;
  }
  fclose(f);
  if (strncmp(line, "clang ", 6)) fail_msg("no build line in cis_skill.h, got \"%s\"", line);
  print_message("cis_skill.h: %s\n", line);
  char dir[300];
  snprintf(dir, sizeof dir, "%s/hdr", tmpdir);
  assert_int_equal(sh("mkdir -p '%s' && cd '%s' && '%s' skill init x --lang c --dir gen && "
                      "cp gen/skill.c . && ln -s '%s/sdk' sdk", dir, dir, cis_bin, src_dir),
                   0);
  assert_int_equal(sh("cd '%s' && %s", dir, line), 0);
  assert_int_equal(sh("cd '%s' && '%s' skill run --wasm skill.wasm --input '{\"name\":\"Ada\"}' 2>/dev/null",
                      dir, cis_bin),
                   0);
  assert_string_equal(last_out(), "{\"hello\":\"Ada\"}\n");
}

/* The n-th ```json block of docs/manifest.md, into buf. */
static void manifest_block(int n, char *buf, size_t cap) {
  char path[1024];
  snprintf(path, sizeof path, "%s/docs/manifest.md", src_dir);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  static char text[200000];
  size_t len = fread(text, 1, sizeof text - 1, f);
  text[len] = '\0';
  fclose(f);
  const char *p = text;
  for (int i = 0; i <= n; i++) {
    p = strstr(p, "```json\n");
    if (!p) fail_msg("docs/manifest.md has fewer than %d json blocks", n + 1);
    p += 8;
  }
  const char *end = strstr(p, "```");
  assert_non_null(end);
  assert_true((size_t)(end - p) < cap);
  memcpy(buf, p, (size_t)(end - p));
  buf[end - p] = '\0';
}

/* docs/manifest.md's complete example and its smallest manifest install
 * as they are written (with the complete one's sha256 left for install to
 * fill in, its host folder made and its volume granted), on a module built
 * from a C scaffold. */
static void test_manifest_doc_examples(void **state) {
  (void)state;
  if (!have("c")) {
    skip();
    return;
  }
  char json[8192];
  manifest_block(0, json, sizeof json);
  char *sha = strstr(json, "\"sha256\": \"");
  assert_non_null(sha);
  sha += 11;
  char *q = strchr(sha, '"');
  memmove(sha, q, strlen(q) + 1); /* "sha256": "" */
  char dir[300], path[400];
  snprintf(dir, sizeof dir, "%s/docnotes", tmpdir);
  assert_int_equal(sh("cd '%s' && '%s' skill init notes --lang c --dir docnotes && ./docnotes/build.sh && "
                      "mkdir docnotes/data", tmpdir, cis_bin),
                   0);
  snprintf(path, sizeof path, "%s/skill.json", dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(json, f);
  fclose(f);
  assert_int_equal(sh("'%s' skill install --allow-volume team-notes '%s'", cis_bin, dir), 0);
  assert_non_null(strstr(last_out(), "installed notes"));
  assert_int_equal(sh("'%s' skill show --json notes", cis_bin), 0);
  assert_non_null(strstr(last_out(), "team-notes"));
  assert_non_null(strstr(last_out(), "LANG=C.UTF-8"));

  manifest_block(1, json, sizeof json);
  snprintf(dir, sizeof dir, "%s/dochello", tmpdir);
  assert_int_equal(sh("cd '%s' && '%s' skill init hello --lang c --dir dochello && ./dochello/build.sh",
                      tmpdir, cis_bin),
                   0);
  snprintf(path, sizeof path, "%s/skill.json", dir);
  f = fopen(path, "w");
  assert_non_null(f);
  fputs(json, f);
  fclose(f);
  assert_int_equal(sh("'%s' skill install '%s'", cis_bin, dir), 0);
  run_says_hello("hello");
}

/* Usage errors and refusals of init. */
static void test_init_refuses(void **state) {
  (void)state;
  assert_int_equal(sh("cd '%s' && '%s' skill init", tmpdir, cis_bin), 2);
  assert_int_equal(sh("cd '%s' && '%s' skill init abc", tmpdir, cis_bin), 2); /* no --lang */
  assert_non_null(strstr(last_out(), "--lang must be c, rust or as"));
  assert_int_equal(sh("cd '%s' && '%s' skill init abc --lang go", tmpdir, cis_bin), 2);
  assert_int_equal(sh("cd '%s' && '%s' skill init Bad.Name --lang c", tmpdir, cis_bin), 2);
  assert_non_null(strstr(last_out(), "a name is [a-z][a-z0-9_-]{0,63}"));
  assert_int_equal(sh("cd '%s' && '%s' skill init abc --lang c --sdk /nonexistent", tmpdir, cis_bin), 1);
  assert_non_null(strstr(last_out(), "no SDK at /nonexistent"));
  assert_int_equal(sh("cd '%s' && mkdir -p full && touch full/x && '%s' skill init abc --lang c --dir full",
                      tmpdir, cis_bin),
                   1);
  assert_int_equal(sh("test ! -e '%s/full/skill.json'", tmpdir), 0);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(p);
}

static int setup(void **state) {
  (void)state;
  if (!mkdtemp(tmpdir)) return -1;
  char buf[1200];
  snprintf(buf, sizeof buf, "%s/home", tmpdir);
  setenv("CIS_HOME", buf, 1);
  snprintf(buf, sizeof buf, "%s/cargo-home", tmpdir);
  setenv("CARGO_HOME", buf, 1);
  unsetenv("CIS_SDK_DIR");
  unsetenv("RUSTC_WRAPPER");
  unsetenv("RUSTFLAGS");
  unsetenv("RUSTC");
  unsetenv("CARGO_BUILD_TARGET");
  unsetenv("CARGO_TARGET_DIR");
  /* bin/ first on PATH: the tools by the names the docs use. */
  static const char *const names[] = {"clang", "cargo", "rustc", "asc"};
  snprintf(buf, sizeof buf, "mkdir -p '%s/bin'", tmpdir);
  if (system(buf)) return -1;
  for (int i = 0; i < 4; i++) {
    if (!strcmp(tools[i], "-")) continue;
    char link[400];
    snprintf(link, sizeof link, "%s/bin/%s", tmpdir, names[i]);
    if (symlink(tools[i], link)) return -1;
  }
  char path[8192];
  snprintf(path, sizeof path, "%s/bin:%s", tmpdir, getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
  setenv("PATH", path, 1);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: test_skill_init CIS_BINARY SOURCE_DIR CLANG CARGO RUSTC ASC\n");
    return 2;
  }
  cis_bin = argv[1];
  src_dir = argv[2];
  for (int i = 0; i < 4; i++) tools[i] = argv[3 + i];
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_init_refuses),
      cmocka_unit_test(test_init_c),
      cmocka_unit_test(test_init_rust),
      cmocka_unit_test(test_init_as),
      cmocka_unit_test(test_init_rust_without_target),
      cmocka_unit_test(test_header_build_line),
      cmocka_unit_test(test_docs_build_c),
      cmocka_unit_test(test_docs_build_rust),
      cmocka_unit_test(test_docs_build_as),
      cmocka_unit_test(test_manifest_doc_examples),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
