/*
 * This file tests what the operator works with on the command line
 * (issue 11): one configuration (the file under $CIS_HOME, the
 * environment, flags, in that order) and `cis config show`; the skill log
 * on stderr (--log-level, --quiet, --log-format, a WASI skill's stderr,
 * the host's warn lines for a denied call and a missing AI key); the
 * operator's settings (`cis skill config`, `--config`); a call's --dir and
 * --env; messages for a module with no entry point and for a component.
 *
 *   test_cli_operate CIS_BINARY CLI_FIXTURE_DIR SKILL_TEST_DIR
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "cli_run.h"

extern char **environ;

static const char *cis_bin;  /* the program under test */
static const char *cli_fx;   /* tests/cli's compiled fixtures */
static const char *skill_fx; /* tests/skill's build folder (wat/ outputs; skills/) */
static char tmpdir[] = "/tmp/cis-cli-op-XXXXXX";
static char home[512];       /* CIS_HOME of the current test */

/* A fresh $CIS_HOME for the test, and no configuration from outside. */
static int fresh(void **st) {
  (void)st;
  static int k;
  snprintf(home, sizeof home, "%s/home%d", tmpdir, k++);
  mkdir(home, 0700);
  setenv("CIS_HOME", home, 1);
  const char *vars[] = {"CIS_CONFIG", "CIS_AI_BASE_URL", "CIS_AI_MODEL", "CIS_AI_KEY_ENV", "CIS_KV", "CIS_FS_DB",
                        "CIS_TIMEOUT", "CIS_MAX_MEMORY", "CIS_LOG_FORMAT", "CIS_LOG_LEVEL", "CIS_LOG_JSON"};
  for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) unsetenv(vars[i]);
  return 0;
}

/* The settings object of `cis config show --json`. */
static cJSON *show_json(run_out *r) {
  cJSON *d = cJSON_Parse(r->out);
  if (!d) fail_msg("not JSON:\n%s", r->out);
  return d;
}

static void setting_is(cJSON *d, const char *name, const char *value, const char *source) {
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(d, "settings"), name);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, "value");
  const cJSON *src = cJSON_GetObjectItemCaseSensitive(s, "source");
  if (!cJSON_IsString(src) || strcmp(src->valuestring, source) ||
      (value ? !cJSON_IsString(v) || strcmp(v->valuestring, value) : !cJSON_IsNull(v)))
    fail_msg("%s: wanted %s from %s in %s", name, value ? value : "null", source, cJSON_PrintUnformatted(d));
}

/* ------------------------------------------------------ configuration */

/* Each setting: the file, then the environment, then flags. */
static void config_precedence_file_env_flag(void **st) {
  (void)st;
  write_file(path_of(home, "config.json"),
             "{\"ai\": {\"model\": \"file-model\", \"base_url\": \"http://127.0.0.1:9\"},\n"
             " \"log\": {\"level\": \"warn\", \"format\": \"json\"}, \"limits\": {\"timeout\": \"2s\"}}\n");
  setenv("CIS_AI_MODEL", "env-model", 1);
  setenv("CIS_LOG_LEVEL", "error", 1);
  run_out *r = cis("config", "show", "--json", "--set", "ai.model=flag-model", NULL);
  expect(r, 0);
  cJSON *d = show_json(r);
  setting_is(d, "ai.model", "flag-model", "flag");
  setting_is(d, "log.level", "error", "env");
  setting_is(d, "log.format", "json", "file");
  setting_is(d, "ai.base_url", "http://127.0.0.1:9", "file");
  setting_is(d, "limits.timeout", "2s", "file");
  setting_is(d, "ai.key_env", NULL, "default");
  cJSON_Delete(d);
  free(r);
  /* The plain form says the same, with the variable's name. */
  r = cis("config", "show", "--log-level", "info", NULL);
  expect(r, 0);
  has(r->out, "env-model");
  has(r->out, "$CIS_AI_MODEL");
  has(r->out, "(--log-level)");
  free(r);
  /* And the settings are used: a skill's lines on stderr from the file's
   * level on (the environment's "error" removed). */
  unsetenv("CIS_LOG_LEVEL");
  unsetenv("CIS_AI_MODEL");
  r = cis("skill", "run", "--wasm", path_of(cli_fx, "skill_levels.wasm"), NULL);
  expect(r, 0);
  hasnt(r->err, "line-info");
  has(r->err, "\"msg\":\"line-warn\""); /* JSON lines, from the file */
  free(r);
}

/* `cis config show` with the spec value in variable var: refused (exit 3)
 * with a message naming var and holding want, and not quoting secret. */
static void env_spec_refused(const char *var, const char *value, const char *want, const char *secret) {
  setenv(var, value, 1);
  run_out *r = cis("config", "show", NULL);
  expect(r, 3);
  char named[64];
  snprintf(named, sizeof named, "$%s", var);
  has(r->err, named);
  has(r->err, want);
  if (secret) hasnt(r->err, secret);
  free(r);
}

/* Secrets never show: a password in a connection string, the API key. */
static void config_show_masks_secrets(void **st) {
  (void)st;
  setenv("CIS_KV", "postgres:host=db user=u password=hunter2", 1);
  setenv("CIS_FS_DB", "postgres:postgresql://u:sekrit@db/fs", 1);
  setenv("CIS_AI_KEY_ENV", "CIS_TEST_OP_KEY", 1);
  setenv("CIS_TEST_OP_KEY", "sk-verysecret", 1);
  run_out *r = cis("config", "show", NULL);
  expect(r, 0);
  hasnt(r->out, "hunter2");
  hasnt(r->out, "sekrit");
  hasnt(r->out, "sk-verysecret");
  has(r->out, "password=****");
  has(r->out, "u:****@db");
  has(r->out, "set (****)");
  free(r);
  /* A postgresql:// URI is a spec as the library reads it, for every
   * store (it was refused here for kv and fs_db); another scheme is not. */
  setenv("CIS_KV", "postgresql://u:hunter2@db/kv", 1);
  setenv("CIS_FS_DB", "postgresql://u:sekrit@db/fs", 1);
  r = cis("config", "show", NULL);
  expect(r, 0);
  hasnt(r->out, "hunter2");
  hasnt(r->out, "sekrit");
  free(r);
  env_spec_refused("CIS_FS_DB", "mysql://u@db/fs", "unknown", "u@db");
  /* The library's reading, not only the scheme's: KV has no default
   * file, and a control character is refused where the config is read. */
  setenv("CIS_FS_DB", "postgresql://u:sekrit@db/fs", 1);
  env_spec_refused("CIS_KV", "sqlite:", "only the registry and the token store have a default file", NULL);
  env_spec_refused("CIS_KV", "postgres:host=db\tpassword=hunter2", "control character", "hunter2");
  setenv("CIS_KV", "postgresql://u:hunter2@db/kv", 1);
  r = cis("config", "show", "--set", "fs_db=mysql://u:hunter2@db/fs", NULL);
  expect(r, 2);
  has(r->err, "--set fs_db");
  hasnt(r->err, "hunter2");
  free(r);
  setenv("CIS_REGISTRY", "sqlite", 1);
  r = cis("config", "show", NULL);
  expect(r, 0);
  free(r);
  unsetenv("CIS_REGISTRY");
  setenv("CIS_FS_DB", "postgres:postgresql://u:sekrit@db/fs", 1);
  r = cis("config", "show", "--json", NULL);
  expect(r, 0);
  hasnt(r->out, "hunter2");
  hasnt(r->out, "sk-verysecret");
  free(r);
  unsetenv("CIS_TEST_OP_KEY");
}

/* A file that is not JSON, an unknown setting, a bad value: each error
 * names the file or variable and the setting. */
static void config_errors_name_source_and_setting(void **st) {
  (void)st;
  write_file(path_of(home, "config.json"), "{\"ai\": {\"model\": \"m\"},}");
  run_out *r = cis("config", "show", NULL);
  expect(r, 3);
  has(r->err, "config.json: not JSON");
  free(r);
  /* A NUL after the object is no white space (strchr would match it). */
  static const char nul_after[] = "{\"ai\": {\"model\": \"m\"}}\n\0\n";
  FILE *f = fopen(path_of(home, "config.json"), "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(nul_after, 1, sizeof nul_after - 1, f), sizeof nul_after - 1);
  fclose(f);
  r = cis("config", "show", NULL);
  expect(r, 3);
  has(r->err, "config.json: not JSON");
  free(r);
  write_file(path_of(home, "config.json"), "{\"ai\": {\"modle\": \"m\"}}");
  r = cis("skill", "list", NULL);
  expect(r, 3);
  has(r->err, "unknown setting ai.modle");
  free(r);
  write_file(path_of(home, "config.json"), "{\"log\": {\"level\": \"loud\"}}");
  r = cis("config", "show", "--json", NULL);
  expect(r, 3);
  cJSON *d = show_json(r);
  has(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(d, "error"), "message")->valuestring,
      "log.level is debug, info, warn or error");
  cJSON_Delete(d);
  free(r);
  unlink(path_of(home, "config.json"));
  setenv("CIS_TIMEOUT", "soon", 1);
  r = cis("config", "show", NULL);
  expect(r, 3);
  has(r->err, "$CIS_TIMEOUT");
  free(r);
  unsetenv("CIS_TIMEOUT");
  /* A bad flag value is a usage error (2), as every other flag's is; the
   * same value from the environment or the file stays 3. */
  r = cis("config", "show", "--set", "nosuch=1", NULL);
  expect(r, 2);
  has(r->err, "--set \"nosuch=1\"");
  free(r);
  r = cis("config", "frobnicate", NULL);
  expect(r, 2);
  free(r);
}

/* ---------------------------------------------------------- the log */

static void log_level_quiet_and_format(void **st) {
  (void)st;
  const char *m = path_of(cli_fx, "skill_levels.wasm");
  run_out *r = cis("skill", "run", "--wasm", m, NULL);
  expect(r, 0);
  has(r->err, "line-debug");
  has(r->err, "line-error");
  free(r);
  r = cis("skill", "run", "--wasm", m, "--log-level", "warn", NULL);
  expect(r, 0);
  hasnt(r->err, "line-debug");
  hasnt(r->err, "line-info");
  has(r->err, "line-warn");
  has(r->err, "line-error");
  free(r);
  r = cis("skill", "run", "--wasm", m, "--quiet", NULL);
  expect(r, 0);
  assert_string_equal(r->err, "");
  assert_string_equal(r->out, "{}\n");
  free(r);
  r = cis("skill", "run", "--wasm", m, "--log-format", "json", "--log-level", "error", NULL);
  expect(r, 0);
  cJSON *line = cJSON_Parse(r->err);
  assert_non_null(line);
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(line, "msg")->valuestring, "line-error");
  cJSON_Delete(line);
  free(r);
  /* --json still carries every line of the call, whatever is shown. */
  r = cis("skill", "run", "--wasm", m, "--quiet", "--json", NULL);
  expect(r, 0);
  has(r->out, "line-debug");
  free(r);
  r = cis("skill", "run", "--wasm", m, "--log-level", "loud", NULL);
  expect(r, 2);
  has(r->err, "--log-level is debug, info, warn or error");
  free(r);
  const char *bad[][4] = {{"mcp", "--log-level", "loud", NULL},
                          {"serve", "--log-format", "xml", NULL},
                          {"config", "show", "--engine", "fast"},
                          {"skill", "run", "--set", "log.level=loud"}};
  for (int i = 0; i < 4; i++) {
    r = cis(bad[i][0], bad[i][1], bad[i][2], bad[i][3], NULL);
    expect(r, 2);
    has(r->err, "not \"");
    free(r);
  }
  setenv("CIS_LOG_LEVEL", "loud", 1);
  r = cis("skill", "run", "--wasm", m, NULL);
  expect(r, 3);
  has(r->err, "$CIS_LOG_LEVEL");
  free(r);
  unsetenv("CIS_LOG_LEVEL");
}

/* A failing WASI skill's stderr is shown as log lines of the call. */
static void failing_wasi_skill_stderr_shown(void **st) {
  (void)st;
  const char *m = path_of(skill_fx, "skills/op_wasi.wasm");
  run_out *r = cis("skill", "run", "--wasm", m, "--abi", "wasi", "--input", "{\"op\":\"fail\"}", NULL);
  expect(r, 4);
  has(r->err, "op_wasi: bad input");
  has(r->err, "second line of stderr");
  has(r->err, "the skill exited with code 3");
  free(r);
}

/* A request the allow-list refuses is a warn line: scheme, host, port. */
static void denied_http_call_shown_in_log(void **st) {
  (void)st;
  run_out *r = cis("skill", "run", "--wasm", path_of(skill_fx, "op_http.wasm"), "--allow-host",
                   "https://api.example.com", NULL);
  expect(r, 0);
  has(r->err, "WARN");
  has(r->err, "host: http GET: CIS_EDENIED");
  has(r->err, "http://denied.example:8089");
  hasnt(r->err, "s3cr3t");
  free(r);
}

/* A provider whose key variable is unset: other skills run; the AI call
 * fails, its log line naming the variable. */
static void missing_ai_key_fails_only_ai_calls(void **st) {
  (void)st;
  setenv("CIS_AI_BASE_URL", "http://127.0.0.1:9", 1);
  setenv("CIS_AI_KEY_ENV", "CIS_TEST_OP_ABSENT_KEY", 1);
  unsetenv("CIS_TEST_OP_ABSENT_KEY");
  run_out *r = cis("skill", "run", "--wasm", path_of(cli_fx, "skill_echo.wasm"), NULL);
  expect(r, 0);
  free(r);
  r = cis("skill", "run", "--wasm", path_of(skill_fx, "op_ai.wasm"), "--ai", NULL);
  expect(r, 4);
  has(r->err, "CIS_ENOPROVIDER");
  has(r->err, "CIS_TEST_OP_ABSENT_KEY");
  has(r->err, "is not set");
  free(r);
  r = cis("config", "show", NULL);
  has(r->out, "NOT SET");
  free(r);
}

/* ------------------------------------------------------- settings */

static void skill_config_set_show_unset_and_per_run(void **st) {
  (void)st;
  char dir[700];
  snprintf(dir, sizeof dir, "%s/greeter", home);
  mkdir(dir, 0700);
  char cmd[2400];
  snprintf(cmd, sizeof cmd, "cp '%s' '%s/greeter.wasm'", path_of(cli_fx, "skill_config.wasm"), dir);
  assert_int_equal(system(cmd), 0);
  write_file(path_of(dir, "skill.json"),
             "{\"name\":\"greeter\",\"version\":\"1.0.0\",\"wasm\":{\"path\":\"greeter.wasm\"},\"abi\":\"cis_v1\"}");
  run_out *r = cis("skill", "install", dir, NULL);
  expect(r, 0);
  free(r);
  r = cis("skill", "run", "greeter", NULL);
  expect(r, 0);
  assert_string_equal(r->out, "{\"greeting\":null}\n");
  free(r);
  r = cis("skill", "config", "set", "greeter", "greeting", "hello there", NULL);
  expect(r, 0);
  free(r);
  r = cis("skill", "run", "greeter", NULL);
  expect(r, 0);
  assert_string_equal(r->out, "{\"greeting\":\"hello there\"}\n");
  free(r);
  r = cis("skill", "run", "greeter", "--config", "greeting=for this run", NULL);
  expect(r, 0);
  assert_string_equal(r->out, "{\"greeting\":\"for this run\"}\n");
  free(r);
  r = cis("skill", "config", "show", "--json", "greeter", NULL);
  expect(r, 0);
  has(r->out, "\"greeting\":\t\"hello there\"");
  free(r);
  r = cis("skill", "config", "show", "greeter", NULL);
  expect(r, 0);
  assert_string_equal(r->out, "greeting=hello there\n");
  free(r);
  r = cis("skill", "config", "unset", "greeter", "greeting", NULL);
  expect(r, 0);
  free(r);
  r = cis("skill", "run", "greeter", NULL);
  assert_string_equal(r->out, "{\"greeting\":null}\n");
  free(r);
  /* Errors: a skill not installed (1), a bad key (3), usage (2). */
  r = cis("skill", "config", "set", "nobody", "k", "v", NULL);
  expect(r, 1);
  has(r->err, "CIS_ENOTFOUND");
  free(r);
  r = cis("skill", "config", "set", "greeter", "a=b", "v", NULL);
  expect(r, 3);
  free(r);
  r = cis("skill", "config", "set", "greeter", "k", NULL);
  expect(r, 2);
  free(r);
  r = cis("skill", "run", "greeter", "--config", "novalue", NULL);
  expect(r, 2);
  has(r->err, "needs KEY=VALUE");
  free(r);
}

/* --env and --dir reach a WASI skill run by cis skill run. */
static void skill_run_dir_and_env(void **st) {
  (void)st;
  const char *m = path_of(skill_fx, "skills/op_wasi.wasm");
  run_out *r = cis("skill", "run", "--wasm", m, "--abi", "wasi", "--input", "{\"op\":\"env\"}", "--env",
                   "OP_VAR=from the flag", NULL);
  expect(r, 0);
  assert_string_equal(r->out, "{\"v\":\"from the flag\"}\n");
  free(r);
  char dir[700], spec[800];
  snprintf(dir, sizeof dir, "%s/data", home);
  mkdir(dir, 0700);
  write_file(path_of(dir, "in.txt"), "line from the host\n");
  snprintf(spec, sizeof spec, "%s::/extra:ro", dir);
  r = cis("skill", "run", "--wasm", m, "--abi", "wasi", "--input", "{\"op\":\"read\"}", "--dir", spec, NULL);
  expect(r, 0);
  assert_string_equal(r->out, "{\"v\":\"line from the host\"}\n");
  free(r);
  r = cis("skill", "run", "--wasm", m, "--dir", "::/x", NULL);
  expect(r, 2);
  free(r);
}

/* ------------------------------------------------------- messages */

static void no_entry_point_and_component_explained(void **st) {
  (void)st;
  run_out *r = cis("skill", "run", "--wasm", path_of(skill_fx, "op_noentry.wasm"), NULL);
  expect(r, 3);
  has(r->err, "no entry point");
  has(r->err, "handle, helper_two");
  has(r->err, "docs/abi.md");
  free(r);
  r = cis("run", path_of(skill_fx, "op_noentry.wasm"), NULL);
  expect(r, 1);
  has(r->err, "its functions: handle, helper_two");
  free(r);
  const char *comp = path_of(home, "component.wasm");
  FILE *f = fopen(comp, "wb");
  assert_non_null(f);
  static const unsigned char bytes[] = {0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00};
  fwrite(bytes, 1, sizeof bytes, f);
  fclose(f);
  const char *cmds[][2] = {{"validate", NULL}, {"inspect", NULL}, {"run", NULL}};
  for (int i = 0; i < 3; i++) {
    r = cis(cmds[i][0], comp, NULL);
    expect(r, 3);
    has(r->err, "WebAssembly component");
    has(r->err, "wasm32-wasip1");
    free(r);
  }
  r = cis("skill", "run", "--wasm", comp, NULL);
  expect(r, 3);
  has(r->err, "WebAssembly component");
  has(r->err, "wasm32-wasip1");
  free(r);
  /* Installed as a skill: the same words, where it used to say only
   * "unknown binary version". */
  char dir[600];
  snprintf(dir, sizeof dir, "%s", path_of(home, "compskill"));
  mkdir(dir, 0700);
  f = fopen(path_of(dir, "c.wasm"), "wb");
  assert_non_null(f);
  fwrite(bytes, 1, sizeof bytes, f);
  fclose(f);
  write_file(path_of(dir, "skill.json"), "{\"name\":\"comp\",\"version\":\"1\",\"wasm\":{\"path\":\"c.wasm\"}}");
  r = cis("skill", "install", dir, NULL);
  expect(r, 3);
  has(r->err, "unknown binary version: this is a WebAssembly component");
  has(r->err, "wasm32-wasip1");
  free(r);
}

/* A trap names its function from the name section and prints the wasm
 * call stack, innermost first. */
static void trap_backtrace_with_names(void **st) {
  (void)st;
  run_out *r = cis("run", "--invoke", "run", path_of(cli_fx, "trap_names.wasm"), "0", NULL);
  expect(r, 5);
  has(r->err, "CIS_TRAP_DIV_ZERO: integer divide by zero in function 0 (\"inner\")");
  /* Each frame also says its code offset (test_cli_host checks them). */
  has(r->err, "wasm backtrace:\n  0: function 0 (\"inner\") (0x");
  has(r->err, "\n  1: function 1 (\"middle\") (0x");
  has(r->err, "\n  2: function 2 (\"outer\") (0x");
  free(r);
  r = cis("run", "--invoke", "run", path_of(cli_fx, "trap_names.wasm"), "2", NULL);
  expect(r, 0);
  assert_string_equal(r->out, "1\n");
  free(r);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: test_cli_operate CIS_BINARY CLI_FIXTURE_DIR SKILL_TEST_DIR\n");
    return 2;
  }
  cis_bin = argv[1];
  cli_fx = argv[2];
  skill_fx = argv[3];
  if (!mkdtemp(tmpdir)) return 2;
  cli_run_setup(cis_bin, tmpdir);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(config_precedence_file_env_flag, fresh),
      cmocka_unit_test_setup(config_show_masks_secrets, fresh),
      cmocka_unit_test_setup(config_errors_name_source_and_setting, fresh),
      cmocka_unit_test_setup(log_level_quiet_and_format, fresh),
      cmocka_unit_test_setup(failing_wasi_skill_stderr_shown, fresh),
      cmocka_unit_test_setup(denied_http_call_shown_in_log, fresh),
      cmocka_unit_test_setup(missing_ai_key_fails_only_ai_calls, fresh),
      cmocka_unit_test_setup(skill_config_set_show_unset_and_per_run, fresh),
      cmocka_unit_test_setup(skill_run_dir_and_env, fresh),
      cmocka_unit_test_setup(no_entry_point_and_component_explained, fresh),
      cmocka_unit_test_setup(trap_backtrace_with_names, fresh),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
  return rc;
}
