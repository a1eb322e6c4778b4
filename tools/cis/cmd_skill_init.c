/*
 * This file implements `cis skill init NAME --lang c|rust|as`: it writes a
 * new skill's folder that builds and installs as it is:
 *
 *   skill.json   name, version, wasm.path (no sha256: `cis skill install`
 *                computes it from the built module), abi cis_v1, log
 *                permission, limits
 *   source       skill.c, src/main.rs + Cargo.toml, or skill.ts, using the
 *                SDK of its language: --sdk DIR, else $CIS_SDK_DIR, else
 *                the installed SDK beside the program (BIN/../share/cis/sdk),
 *                else sdk/ of the source tree it was built from
 *   build.sh     the build line of docs/sdk.md for that language, leaving
 *                NAME.wasm in the folder
 *   README.md    how to build, install and run it
 *
 * The skill answers {"name":"Ada"} with {"hello":"Ada"}. The folder must
 * not exist yet, or be empty: nothing is overwritten.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cmd_skill.h"

#ifndef CIS_SDK_DEFAULT
#define CIS_SDK_DEFAULT "sdk"
#endif
/* The installed SDK, relative to the folder of the installed program. */
#ifndef CIS_SDK_FROM_BIN
#define CIS_SDK_FROM_BIN "../share/cis/sdk"
#endif

/* One language's files. Templates use @NAME@, @SDK@ (absolute) and
 * @SDKREL@ (relative to the skill's folder, which asc needs). */
typedef struct init_file {
  const char *path;     /* inside the skill's folder */
  const char *text;     /* template */
  bool executable;      /* build.sh */
} init_file;

static const char c_source[] =
    "/* @NAME@: a cis skill in C (cis_v1 ABI, sdk/c/cis_skill.h).\n"
    " * {\"name\":\"Ada\"} answers {\"hello\":\"Ada\"}; without a name, \"world\". */\n"
    "#include \"cis_skill.h\"\n"
    "\n"
    "__attribute__((export_name(\"cis_main\"))) int cis_main(void) {\n"
    "  static char in[4096], name[64], quoted[400];\n"
    "  if (cis_input_all(in, sizeof in) < 0) return CIS_SKILL_ETOO_LARGE;\n"
    "  const char *who = name;\n"
    "  int32_t n = cis_json_get_string(in, \"name\", name, sizeof name);\n"
    "  if (n == -1) who = \"world\", n = 5; /* absent */\n"
    "  if (n < 0) return CIS_SKILL_EINVALID;\n"
    "  int32_t q = cis_json_escape(who, n, quoted, sizeof quoted);\n"
    "  if (q < 0) return CIS_SKILL_ETOO_LARGE;\n"
    "  cis_logs(CIS_LOG_INFO, \"@NAME@: greeting\");\n"
    "  if (cis_output(\"{\\\"hello\\\":\\\"\") < 0 || cis_output_write(quoted, q) < 0 ||\n"
    "      cis_output(\"\\\"}\") < 0)\n"
    "    return CIS_SKILL_EINTERNAL;\n"
    "  return 0;\n"
    "}\n";

static const char c_build[] =
    "#!/bin/sh\n"
    "# Builds @NAME@.wasm from skill.c with clang (docs/sdk.md, \"C\"). Without libc,\n"
    "# -fno-builtin keeps clang from calling a memcpy that is not there.\n"
    "set -e\n"
    "cd \"$(dirname \"$0\")\"\n"
    "SDK=\"${CIS_SDK_DIR:-@SDK@}\"\n"
    "${CC:-clang} --target=wasm32 -O2 -nostdlib -fno-builtin -Wl,--no-entry -I \"$SDK/c\" skill.c \\\n    -o @NAME@.wasm\n";

static const char rust_cargo[] =
    "[package]\n"
    "name = \"@NAME@\"\n"
    "version = \"0.1.0\"\n"
    "edition = \"2021\"\n"
    "publish = false\n"
    "\n"
    "[dependencies]\n"
    "cis-skill = { path = \"@SDK@/rust\" }\n"
    "\n"
    "# A #![no_main] binary: cargo names its module @NAME@.wasm.\n"
    "[[bin]]\n"
    "name = \"@NAME@\"\n"
    "path = \"src/main.rs\"\n"
    "\n"
    "[profile.release]\n"
    "opt-level = \"s\"\n"
    "lto = true\n"
    "panic = \"abort\"\n"
    "strip = true\n";

static const char rust_main[] =
    "//! @NAME@: a cis skill in Rust (cis_v1 ABI, crate cis-skill).\n"
    "//! {\"name\":\"Ada\"} answers {\"hello\":\"Ada\"}; without a name, \"world\".\n"
    "#![no_main]\n"
    "use cis_skill::json::Value;\n"
    "\n"
    "fn run() -> cis_skill::Result<()> {\n"
    "    let input = cis_skill::input_json()?;\n"
    "    let name = input[\"name\"].as_str().unwrap_or(\"world\");\n"
    "    cis_skill::info!(\"@NAME@: greeting {}\", name)?;\n"
    "    cis_skill::output_json(&Value::object().with(\"hello\", name))\n"
    "}\n"
    "\n"
    "cis_skill::cis_main!(run);\n";

static const char rust_build[] =
    "#!/bin/sh\n"
    "# Builds @NAME@.wasm with cargo, offline (docs/sdk.md, \"Rust\"). CARGO and\n"
    "# RUSTC choose the toolchain (e.g. RUSTC=/usr/bin/rustc for Debian's).\n"
    "set -e\n"
    "cd \"$(dirname \"$0\")\"\n"
    "# The wasm32 target's standard library first: without it cargo fails later,\n"
    "# and after writing a Cargo.lock.\n"
    "rustc=\"${RUSTC:-rustc}\"\n"
    "libdir=$(\"$rustc\" --print target-libdir --target wasm32-unknown-unknown 2>/dev/null) || libdir=\n"
    "if ! ls \"$libdir\"/libcore-*.rlib >/dev/null 2>&1; then\n"
    "    echo \"build.sh: $rustc has no wasm32-unknown-unknown target (no libcore in ${libdir:-its sysroot}).\" >&2\n"
    "    echo \"Install it: on Debian, apt install libstd-rust-dev-wasm32 and build with RUSTC=/usr/bin/rustc;\" >&2\n"
    "    echo \"with rustup, rustup target add wasm32-unknown-unknown.\" >&2\n"
    "    exit 1\n"
    "fi\n"
    "${CARGO:-cargo} build --release --offline --target wasm32-unknown-unknown\n"
    "cp target/wasm32-unknown-unknown/release/@NAME@.wasm @NAME@.wasm\n";

static const char as_source[] =
    "// @NAME@: a cis skill in AssemblyScript (cis_v1 ABI, sdk/assemblyscript).\n"
    "// {\"name\":\"Ada\"} answers {\"hello\":\"Ada\"}; without a name, \"world\".\n"
    "import {\n"
    "  ErrorCode, JsonObject, failWith, inputString, jsonGetString, lastError, logInfo, output,\n"
    "} from \"@SDKREL@/assemblyscript/assembly/index\";\n"
    "\n"
    "export function cis_main(): i32 {\n"
    "  const input = inputString();\n"
    "  if (lastError() != ErrorCode.OK) return failWith(lastError());\n"
    "  const given = jsonGetString(input, \"name\");\n"
    "  const name = given !== null ? given : \"world\";\n"
    "  logInfo(\"@NAME@: greeting \" + name);\n"
    "  return output(new JsonObject().str(\"hello\", name).toString());\n"
    "}\n";

static const char as_build[] =
    "#!/bin/sh\n"
    "# Builds @NAME@.wasm with asc (docs/sdk.md, \"AssemblyScript\"). ASC is the\n"
    "# compiler pinned by sdk/assemblyscript (npm ci there, or the build tree's\n"
    "# sdk/assemblyscript/node_modules/.bin/asc). Both paths to the SDK are\n"
    "# relative to this folder, as asc wants them.\n"
    "set -e\n"
    "cd \"$(dirname \"$0\")\"\n"
    "${ASC:-asc} skill.ts --runtime stub -O3 --noAssert \\\n"
    "    --use abort=@SDKREL@/assemblyscript/assembly/index/cisAbort -o @NAME@.wasm\n";

static const char manifest[] =
    "{\n"
    "  \"name\": \"@NAME@\",\n"
    "  \"version\": \"0.1.0\",\n"
    "  \"description\": \"@NAME@: says hello\",\n"
    "  \"wasm\": { \"path\": \"@NAME@.wasm\" },\n"
    "  \"abi\": \"cis_v1\",\n"
    "  \"permissions\": { \"log\": true },\n"
    "  \"limits\": { \"timeout_ms\": 5000, \"memory\": \"16MiB\" }\n"
    "}\n";

static const char readme[] =
    "# @NAME@\n"
    "\n"
    "A cis skill. Build, install and run it:\n"
    "\n"
    "    ./build.sh\n"
    "    cis skill install .\n"
    "    cis skill run @NAME@ --input '{\"name\":\"Ada\"}'\n"
    "\n"
    "skill.json has no `wasm.sha256`: `cis skill install` computes it from\n"
    "@NAME@.wasm. Write it in (`sha256sum @NAME@.wasm`) to pin the module.\n"
    "The manifest's fields are in docs/manifest.md.\n";

static const init_file c_files[] = {{"skill.c", c_source, false}, {"build.sh", c_build, true}};
static const init_file rust_files[] = {
    {"Cargo.toml", rust_cargo, false}, {"src/main.rs", rust_main, false}, {"build.sh", rust_build, true}};
static const init_file as_files[] = {{"skill.ts", as_source, false}, {"build.sh", as_build, true}};

/* A name every language accepts as a file, crate and skill name. */
static bool valid_init_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 64 || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
      return false;
  return true;
}

/* Writes `tmpl` with its @...@ fields filled to dir/path. */
static bool write_file(const char *dir, const init_file *f, const char *name, const char *sdk,
                       const char *sdkrel) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", dir, f->path);
  char *slash = strrchr(path, '/');
  if (slash && slash > path + strlen(dir)) { /* src/main.rs */
    *slash = '\0';
    if (mkdir(path, 0777) && errno != EEXIST) goto fail;
    *slash = '/';
  }
  FILE *out = fopen(path, "w");
  if (!out) goto fail;
  for (const char *p = f->text; *p;) {
    const char *val = NULL;
    size_t skip = 0;
    if (!strncmp(p, "@NAME@", 6)) val = name, skip = 6;
    else if (!strncmp(p, "@SDK@", 5)) val = sdk, skip = 5;
    else if (!strncmp(p, "@SDKREL@", 8)) val = sdkrel, skip = 8;
    if (val) {
      fputs(val, out);
      p += skip;
    } else {
      fputc(*p++, out);
    }
  }
  if (fclose(out)) goto fail;
  if (f->executable && chmod(path, 0755)) goto fail;
  return true;
fail:
  fprintf(stderr, "cis skill init: cannot write %s: %s\n", path, strerror(errno));
  return false;
}

/* The path of `to` relative to the folder `from` (both absolute and
 * resolved), e.g. "../../work/sdk". Returns false when it does not fit. */
static bool relative_path(const char *from, const char *to, char *out, size_t cap) {
  size_t common = 0, i = 0;
  for (; from[i] && to[i] && from[i] == to[i]; i++)
    if (from[i] == '/') common = i;
  if (!from[i] && (to[i] == '/' || !to[i])) common = i; /* `to` is under `from` */
  else if (!to[i] && from[i] == '/') common = i;
  size_t n = 0;
  out[0] = '\0';
  for (const char *p = from + common; *p; p++) {
    if (*p != '/') continue;
    int w = snprintf(out + n, cap - n, "%s..", n ? "/" : "");
    if (w < 0 || (size_t)w >= cap - n) return false;
    n += (size_t)w;
  }
  const char *rest = to + common;
  if (*rest == '/') rest++;
  int w = snprintf(out + n, cap - n, "%s%s", n && *rest ? "/" : "", rest);
  if (w < 0 || (size_t)w >= cap - n) return false;
  if (!out[0]) snprintf(out, cap, ".");
  return true;
}

/* The SDK beside the running program, <dir of /proc/self/exe>/CIS_SDK_FROM_BIN,
 * written to out when it holds c/cis_skill.h. */
static bool installed_sdk(char *out, size_t cap) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return false;
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (!slash) return false;
  *slash = '\0';
  char probe[PATH_MAX + 64];
  int w = snprintf(out, cap, "%s/%s", exe, CIS_SDK_FROM_BIN);
  if (w < 0 || (size_t)w >= cap) return false;
  snprintf(probe, sizeof probe, "%s/c/cis_skill.h", out);
  return access(probe, R_OK) == 0;
}

/* Makes dir, or accepts it when it exists and is empty. */
static bool make_folder(const char *dir) {
  if (mkdir(dir, 0777) == 0) return true;
  if (errno == EEXIST) {
    DIR *d = opendir(dir);
    struct dirent *e;
    bool empty = d != NULL;
    while (d && (e = readdir(d)))
      if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) empty = false;
    if (d) closedir(d);
    if (empty) return true;
    fprintf(stderr, "cis skill init: %s exists and is not an empty folder; nothing written\n", dir);
    return false;
  }
  fprintf(stderr, "cis skill init: cannot make %s: %s\n", dir, strerror(errno));
  return false;
}

int cis_cmd_skill_init(int argc, char **argv) {
  const char *lang = NULL, *dir = NULL, *sdk = getenv("CIS_SDK_DIR");
  bool help;
  const cli_opt opts[] = {
      {"--lang", CLI_OPT_STR, &lang, NULL, "c|rust|as", "the skill's language (required)"},
      {"--dir", CLI_OPT_STR, &dir, NULL, "DIR", "the folder to write (default: ./NAME)"},
      {"--sdk", CLI_OPT_STR, &sdk, NULL, "DIR",
       "the SDK folder (default: $CIS_SDK_DIR, else the installed one, BIN/" CIS_SDK_FROM_BIN
       ", else " CIS_SDK_DEFAULT ")"},
  };
  const size_t nopts = sizeof opts / sizeof opts[0];
  const char *pos[1];
  int npos;
  int code = cli_parse_mixed("skill init", opts, nopts, argc, argv, pos, 1, &npos, &help);
  if (code == CLI_EXIT_OK && !help) {
    if (npos != 1) {
      fprintf(stderr, "cis skill init: no skill name given\n");
      code = CLI_EXIT_USAGE;
    } else if (!valid_init_name(pos[0])) {
      fprintf(stderr, "cis skill init: \"%s\": a name is [a-z][a-z0-9_-]{0,63}\n", pos[0]);
      code = CLI_EXIT_USAGE;
    } else if (!lang || (strcmp(lang, "c") && strcmp(lang, "rust") && strcmp(lang, "as"))) {
      fprintf(stderr, "cis skill init: --lang must be c, rust or as\n");
      code = CLI_EXIT_USAGE;
    }
  }
  if (code == CLI_EXIT_USAGE || help) {
    FILE *f = help ? stdout : stderr;
    fprintf(f, "usage: cis skill init NAME --lang c|rust|as [--dir DIR] [--sdk DIR]\n"
               "Writes a new skill's folder: skill.json, the source using the SDK of the\n"
               "language, build.sh (the build line of docs/sdk.md) and README.md. Then:\n"
               "  ./build.sh && cis skill install . && cis skill run NAME\n"
               "Options:\n");
    cli_print_opts(f, opts, nopts);
    return help ? CLI_EXIT_OK : CLI_EXIT_USAGE;
  }
  if (code != CLI_EXIT_OK) return code;
  const char *name = pos[0];
  char installed[PATH_MAX];
  if (!sdk) sdk = installed_sdk(installed, sizeof installed) ? installed : CIS_SDK_DEFAULT;
  char sdkabs[PATH_MAX], probe[PATH_MAX + 32];
  snprintf(probe, sizeof probe, "%s/c/cis_skill.h", sdk);
  if (!realpath(sdk, sdkabs) || access(probe, R_OK)) {
    fprintf(stderr, "cis skill init: no SDK at %s (it holds c/cis_skill.h); give --sdk DIR or "
                    "set CIS_SDK_DIR\n", sdk);
    return CLI_EXIT_FAIL;
  }
  if (!dir) dir = name;
  if (!make_folder(dir)) return CLI_EXIT_FAIL;
  char dirabs[PATH_MAX], sdkrel[PATH_MAX];
  if (!realpath(dir, dirabs)) {
    fprintf(stderr, "cis skill init: %s: %s\n", dir, strerror(errno));
    return CLI_EXIT_FAIL;
  }
  if (!relative_path(dirabs, sdkabs, sdkrel, sizeof sdkrel)) {
    fprintf(stderr, "cis skill init: the path from %s to %s is too long\n", dirabs, sdkabs);
    return CLI_EXIT_FAIL;
  }
  const init_file *files = c_files;
  size_t nfiles = sizeof c_files / sizeof c_files[0];
  if (!strcmp(lang, "rust")) files = rust_files, nfiles = sizeof rust_files / sizeof rust_files[0];
  if (!strcmp(lang, "as")) files = as_files, nfiles = sizeof as_files / sizeof as_files[0];
  const init_file common[] = {{"skill.json", manifest, false}, {"README.md", readme, false}};
  for (size_t i = 0; i < 2; i++)
    if (!write_file(dir, &common[i], name, sdkabs, sdkrel)) return CLI_EXIT_FAIL;
  for (size_t i = 0; i < nfiles; i++)
    if (!write_file(dir, &files[i], name, sdkabs, sdkrel)) return CLI_EXIT_FAIL;
  printf("wrote %s (%s): build it with %s/build.sh, then cis skill install %s\n", dir, lang, dir,
         dir);
  return CLI_EXIT_OK;
}
