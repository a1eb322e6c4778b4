/*
 * This file implements `cis serve`: the HTTP API and /mcp over the
 * registry of $CIS_HOME (include/cis/cis_serve.h, docs/serve.md). It
 * prints one "listening HOST:PORT" line per address on stdout once bound,
 * then serves until SIGTERM or SIGINT, which drain it: new requests get
 * 503, calls in flight finish within their deadlines, and it exits 0.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cis/cis_serve.h"
#include "cli.h"

int cli_cmd_serve(int argc, char **argv);

/* Each of serve's flags is one setting (serve.*), so it can also come
 * from the configuration file or the environment; a flag wins. */
enum { F_LISTEN, F_WORKERS, F_QUEUE, F_MAX_BODY, F_TENANT_CONC, F_MAX_CONN, F_PER_ADDRESS, F_HEAD_TIMEOUT,
       F_MIN_BODY_RATE, F_MAX_TIMEOUT, F_MAX_MEMORY, F_MAX_FUEL, F_DRAIN, F_INLINE_US, F_TENANT_SKILLS,
       F_TENANT_MODULE_BYTES, F_TENANT_KV_KEYS, F_TENANT_KV_BYTES, F_TENANT_FS_FILES, F_TENANT_FS_BYTES, F_LANE_WORKERS, F_REGISTRY_RATE, F_HTTP_THREADS,
       F_TOKEN_LOOKUP_RATE, F_PUBLIC_RATE, F_N };
static const char *const serve_setting[F_N] = {
    "serve.listen",      "serve.workers",    "serve.queue",      "serve.max_body", "serve.tenant_concurrency",
    "serve.max_connections", "serve.max_connections_per_address", "serve.head_timeout", "serve.min_body_rate",
    "serve.max_timeout", "serve.max_memory", "serve.max_fuel", "serve.drain_timeout", "serve.inline_us",
    "serve.tenant_max_skills", "serve.tenant_max_module_bytes", "serve.tenant_max_kv_keys",
    "serve.tenant_max_kv_bytes", "serve.tenant_max_fs_files", "serve.tenant_max_fs_bytes", "serve.lane_workers",
    "serve.tenant_registry_rate", "serve.http_threads", "serve.token_lookup_rate", "serve.public_rate"};

/* How a flag's value is written. */
typedef enum flag_kind_t { KIND_NUMBER, KIND_SIZE, KIND_DURATION } flag_kind_t;

static flag_kind_t flag_kind(int i) {
  switch (i) {
  case F_MAX_BODY:
  case F_MAX_MEMORY:
  case F_MIN_BODY_RATE:
  case F_TENANT_MODULE_BYTES:
  case F_TENANT_KV_BYTES:
  case F_TENANT_FS_BYTES: return KIND_SIZE;
  case F_MAX_TIMEOUT:
  case F_DRAIN:
  case F_HEAD_TIMEOUT: return KIND_DURATION;
  default: return KIND_NUMBER;
  }
}

/* Parses flag i's value text into *n (bytes, milliseconds or a count). */
static bool parse_value(int i, const char *text, uint64_t *n) {
  switch (flag_kind(i)) {
  case KIND_SIZE: return cis_parse_size(text, n);
  case KIND_DURATION: return cis_parse_duration_ms(text, n);
  default: return cis_parse_u64(text, n);
  }
}

/* Splits "A,B" (serve.listen) into list, whose items point into text. */
static bool split_listen(char *text, cli_strlist *list) {
  for (char *p = text, *e; p; p = e) {
    e = strchr(p, ',');
    if (e) *e++ = '\0';
    if (list->n == list->cap) {
      size_t cap = list->cap ? list->cap * 2 : 4;
      const char **items = realloc(list->items, cap * sizeof *items);
      if (!items) return false;
      list->items = items;
      list->cap = cap;
    }
    list->items[list->n++] = p;
  }
  return true;
}

int cli_cmd_serve(int argc, char **argv) {
  cli_strlist listen = {0};
  const char *flag[F_N] = {0};
  bool help = false;
  cli_host_flags hf = {0};
  cli_opt opts[F_N + CLI_HOST_NOPTS] = {
      {"--listen", CLI_OPT_LIST, &listen, NULL, "HOST:PORT",
       "address to serve on, repeatable (default " CIS_SERVE_DEFAULT_LISTEN "; port 0: any free)"},
      {"--workers", CLI_OPT_STR, &flag[F_WORKERS], NULL, "N", "threads running calls (default 4)"},
      {"--queue", CLI_OPT_STR, &flag[F_QUEUE], NULL, "N", "calls of one tenant waiting for a worker, 429 above (default 64)"},
      {"--max-body", CLI_OPT_STR, &flag[F_MAX_BODY], NULL, "SIZE", "request body cap, 413 above (default 8MiB)"},
      {"--tenant-concurrency", CLI_OPT_STR, &flag[F_TENANT_CONC], NULL, "N",
       "a hard cap on calls of one tenant running or waiting, 429 above (default: none)"},
      {"--max-connections", CLI_OPT_STR, &flag[F_MAX_CONN], NULL, "N", "open connections (default 256)"},
      {"--max-connections-per-address", CLI_OPT_STR, &flag[F_PER_ADDRESS], NULL, "N",
       "open connections from one client address (default 64)"},
      {"--head-timeout", CLI_OPT_STR, &flag[F_HEAD_TIMEOUT], NULL, "DURATION",
       "longest wait for a request's head (default 10s)"},
      {"--min-body-rate", CLI_OPT_STR, &flag[F_MIN_BODY_RATE], NULL, "SIZE",
       "bytes a second a request body must average (default 1KiB)"},
      {"--max-timeout", CLI_OPT_STR, &flag[F_MAX_TIMEOUT], NULL, "DURATION",
       "most a manifest's timeout may be (default 5m)"},
      {"--max-memory", CLI_OPT_STR, &flag[F_MAX_MEMORY], NULL, "SIZE", "most a manifest's memory may be (default 1GiB)"},
      {"--max-fuel", CLI_OPT_STR, &flag[F_MAX_FUEL], NULL, "N", "most a manifest's fuel may be (default: no cap)"},
      {"--drain-timeout", CLI_OPT_STR, &flag[F_DRAIN], NULL, "DURATION",
       "longest wait for calls in flight after SIGTERM (default: --max-timeout + 5s)"},
      {"--inline-us", CLI_OPT_STR, &flag[F_INLINE_US], NULL, "N",
       "microseconds a short call may run on the thread that read it before it moves to a worker "
       "(default 200; 0: every call on a worker)"},
      {"--tenant-max-skills", CLI_OPT_STR, &flag[F_TENANT_SKILLS], NULL, "N",
       "skills one tenant may have installed, 413 above (default: no limit)"},
      {"--tenant-max-module-bytes", CLI_OPT_STR, &flag[F_TENANT_MODULE_BYTES], NULL, "SIZE",
       "bytes of the modules one tenant's skills refer to, 413 above (default: no limit)"},
      {"--tenant-max-kv-keys", CLI_OPT_STR, &flag[F_TENANT_KV_KEYS], NULL, "N",
       "KV keys of all one tenant's skills together; a write beyond fails in the skill (default: no limit)"},
      {"--tenant-max-kv-bytes", CLI_OPT_STR, &flag[F_TENANT_KV_BYTES], NULL, "SIZE",
       "KV key + value bytes of all one tenant's skills together (default: no limit)"},
      {"--tenant-max-fs-files", CLI_OPT_STR, &flag[F_TENANT_FS_FILES], NULL, "N",
       "files and folders of all one tenant's db trees together; beyond: EDQUOT (default: no limit)"},
      {"--tenant-max-fs-bytes", CLI_OPT_STR, &flag[F_TENANT_FS_BYTES], NULL, "SIZE",
       "bytes in files of all one tenant's db trees together (default: no limit)"},
      {"--lane-workers", CLI_OPT_STR, &flag[F_LANE_WORKERS], NULL, "N",
       "threads at nice 19 running the calls of a tenant over its share of the CPU while others call "
       "(default 2; 0: none, every tenant alike)"},
      {"--tenant-registry-rate", CLI_OPT_STR, &flag[F_REGISTRY_RATE], NULL, "N",
       "installs and removals one tenant may start a second, with a burst of as many; the others wait "
       "their turn (default 20; 0: no limit)"},
      {"--http-threads", CLI_OPT_STR, &flag[F_HTTP_THREADS], NULL, "N",
       "polling threads per listen address, each an event loop over its share of the connections "
       "(default 0: 4 per CPU, 8 to 64)"},
      {"--token-lookup-rate", CLI_OPT_STR, &flag[F_TOKEN_LOOKUP_RATE], NULL, "N",
       "lookups a second of bearer tokens the server has not cached, with a burst of as many; a request "
       "past it waits its turn, and after 1 s is answered 429 (default 1000; 0: no limit); so do the "
       "refusals of requests with no token it knows (401, and 403, 404, 405 given before a token is read)"},
      {"--public-rate", CLI_OPT_STR, &flag[F_PUBLIC_RATE], NULL, "N",
       "answers a second of the routes that need no token (/v1/health, /metrics, the operator page) to "
       "requests with no token the server knows, with a burst of as many; a request past it waits its "
       "turn, and after 1 s is answered 429 (default 1000; 0: no limit)"},
  };
  /* The host's flags: --log-level, --log-format, --quiet, --set, --require-signature. */
  const size_t nopts = F_N + cli_host_opts(&hf, opts + F_N);
  int pos = 1;
  int code = cli_parse_opts("serve", opts, nopts, argc, argv, &pos, &help);
  if (code == CLI_EXIT_OK && !help) code = cli_host_flags_check("serve", &hf);
  if (code == CLI_EXIT_OK && !help && pos < argc) {
    fprintf(stderr, "cis serve: unexpected argument \"%s\"\n", argv[pos]);
    code = CLI_EXIT_USAGE;
  }
  if (help || code != CLI_EXIT_OK) {
    FILE *f = help ? stdout : stderr;
    fprintf(f, "usage: cis serve [--listen HOST:PORT]... [OPTIONS]\n"
               "Serves the HTTP API (/v1), /metrics and /mcp; tenants authenticate with\n"
               "tokens from `cis token create`. SIGTERM or SIGINT drains and exits 0.\n"
               "See docs/serve.md. Every option is also a setting serve.* of the\n"
               "configuration file or the environment (cis config show); flags win.\nOptions:\n");
    cli_print_opts(f, opts, nopts);
    cli_strlist_free(&listen);
    cli_strlist_free(&hf.sets);
    return help ? CLI_EXIT_OK : code;
  }
  /* A flag's value is checked here, so a bad one is a usage error (2);
   * the configuration checks the file's and the environment's (3). */
  for (int i = F_WORKERS; code == CLI_EXIT_OK && i < F_N; i++) {
    uint64_t n;
    if (!flag[i] || parse_value(i, flag[i], &n)) continue;
    fprintf(stderr, "cis serve: %s needs a %s, not \"%s\"\n", opts[i].name,
            flag_kind(i) == KIND_SIZE ? "size such as 64MiB" : flag_kind(i) == KIND_DURATION ? "duration such as 30s" : "whole number",
            flag[i]);
    code = CLI_EXIT_USAGE;
  }
  if (code != CLI_EXIT_OK) {
    cli_strlist_free(&listen);
    cli_strlist_free(&hf.sets);
    return code;
  }
  /* Several --listen flags are one value of serve.listen. */
  char *listen_flag = NULL;
  if (listen.n) {
    size_t len = 1;
    for (size_t i = 0; i < listen.n; i++) len += strlen(listen.items[i]) + 1;
    if ((listen_flag = malloc(len))) {
      listen_flag[0] = '\0';
      for (size_t i = 0; i < listen.n; i++) {
        if (i) strcat(listen_flag, ",");
        strcat(listen_flag, listen.items[i]);
      }
    }
    flag[F_LISTEN] = listen_flag;
  }
  bool listen_oom = listen.n && !listen_flag;
  cli_strlist_free(&listen);
  cli_flag_set extra[F_N];
  for (int i = 0; i < F_N; i++) extra[i] = (cli_flag_set){serve_setting[i], flag[i], opts[i].name};
  char err[600] = "";
  cli_config *cfg = NULL;
  cis_result rc = listen_oom ? CIS_ENOMEM : cli_config_load(&hf, extra, F_N, &cfg, err, sizeof err);
  free(listen_flag);
  if (rc != CIS_OK) {
    cli_strlist_free(&hf.sets);
    cli_error("serve", rc, err);
    return cli_exit_code(rc); /* as every command that reads the configuration */
  }
  /* The effective values, each checked by the configuration already. */
  uint64_t v[F_N] = {0};
  for (int i = F_WORKERS; i < F_N; i++) {
    const char *t = cli_config_value(cfg, serve_setting[i]);
    if (!t) continue;
    parse_value(i, t, &v[i]);
  }
  if (!v[F_WORKERS] || v[F_WORKERS] > 1024 || !v[F_QUEUE] || v[F_QUEUE] > 1000000 || !v[F_MAX_CONN] ||
      v[F_MAX_CONN] > 65536 || v[F_TENANT_CONC] > 1000000 || !v[F_MAX_BODY] || v[F_MAX_BODY] > SIZE_MAX ||
      !v[F_PER_ADDRESS] || v[F_PER_ADDRESS] > 65536 || !v[F_HEAD_TIMEOUT] || v[F_HEAD_TIMEOUT] > 3600000 ||
      !v[F_MIN_BODY_RATE] || v[F_INLINE_US] > 10000000 || v[F_TENANT_SKILLS] > UINT32_MAX ||
      v[F_LANE_WORKERS] > 1024 || v[F_REGISTRY_RATE] > 1000000 || v[F_HTTP_THREADS] > 1024 ||
      v[F_TOKEN_LOOKUP_RATE] > 1000000 || v[F_PUBLIC_RATE] > 1000000) {
    fprintf(stderr, "cis serve: workers 1..1024, queue 1..1000000, max_connections and "
                    "max_connections_per_address 1..65536, head_timeout 1ms..1h, max_body and min_body_rate "
                    "above 0, inline_us 0..10000000, tenant_max_skills 0..4294967295, lane_workers 0..1024, "
                    "tenant_registry_rate 0..1000000, http_threads 0..1024, token_lookup_rate 0..1000000, public_rate 0..1000000 (from "
                    "flags, the environment or %s)\n",
            "the configuration file");
    cli_config_free(cfg);
    cli_strlist_free(&hf.sets);
    return CLI_EXIT_USAGE;
  }
  const char *lv = cli_config_value(cfg, "serve.listen");
  char *listen_text = strdup(lv ? lv : CIS_SERVE_DEFAULT_LISTEN);
  if (!listen_text || !split_listen(listen_text, &listen)) {
    cli_error("serve", CIS_ENOMEM, NULL);
    free(listen_text);
    cli_config_free(cfg);
    cli_strlist_free(&hf.sets);
    return CLI_EXIT_FAIL;
  }
  uint64_t max_timeout = v[F_MAX_TIMEOUT], drain = v[F_DRAIN];
  cis_server_config c;
  cis_server_config_default(&c);
  /* KV, filesystem database, AI, default limits, log lines and signatures,
   * as every other command reads them. */
  cli_config_skills(cfg, &hf, &c.skills);
  c.listen = listen.items;
  c.nlisten = listen.n;
  c.skills.max_limits.timeout_ms = max_timeout;
  c.skills.max_limits.max_memory_bytes = v[F_MAX_MEMORY];
  c.skills.max_limits.fuel = v[F_MAX_FUEL];
  c.max_body = (size_t)v[F_MAX_BODY];
  c.workers = (unsigned)v[F_WORKERS];
  c.queue = (unsigned)v[F_QUEUE];
  c.tenant_concurrency = (unsigned)v[F_TENANT_CONC];
  c.max_connections = (unsigned)v[F_MAX_CONN];
  c.max_connections_per_address = (unsigned)v[F_PER_ADDRESS];
  c.head_timeout_ms = v[F_HEAD_TIMEOUT];
  c.min_body_rate = v[F_MIN_BODY_RATE];
  c.inline_us = v[F_INLINE_US] ? v[F_INLINE_US] : CIS_SERVE_INLINE_OFF;
  c.lane_workers = v[F_LANE_WORKERS] ? (unsigned)v[F_LANE_WORKERS] : CIS_SERVE_LANE_OFF;
  c.tenant_registry_rate = v[F_REGISTRY_RATE] ? (unsigned)v[F_REGISTRY_RATE] : CIS_SERVE_REGISTRY_RATE_OFF;
  c.http_threads = (unsigned)v[F_HTTP_THREADS]; /* 0: the library's default */
  c.token_lookup_rate = v[F_TOKEN_LOOKUP_RATE] ? (unsigned)v[F_TOKEN_LOOKUP_RATE] : CIS_SERVE_TOKEN_LOOKUP_RATE_OFF;
  c.public_rate = v[F_PUBLIC_RATE] ? (unsigned)v[F_PUBLIC_RATE] : CIS_SERVE_PUBLIC_RATE_OFF;
  c.skills.max_skills = (uint32_t)v[F_TENANT_SKILLS];
  c.skills.max_module_bytes = v[F_TENANT_MODULE_BYTES];
  c.skills.max_kv_keys = v[F_TENANT_KV_KEYS];
  c.skills.max_kv_bytes = v[F_TENANT_KV_BYTES];
  c.skills.max_fs_files = v[F_TENANT_FS_FILES];
  c.skills.max_fs_bytes = v[F_TENANT_FS_BYTES];

  /* The signals are taken by sigwait below: blocked first, so that every
   * thread the server starts inherits the mask. A client that goes away
   * is a failed write, not a signal. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  cis_server *s = NULL;
  rc = cis_server_start(&c, &s);
  if (rc != CIS_OK) {
    cli_error("serve", rc, s ? cis_errmsg(s) : cis_strerror(rc));
    cis_server_free(s);
    cli_strlist_free(&listen);
    free(listen_text);
    cli_config_free(cfg);
    cli_strlist_free(&hf.sets);
    return rc == CIS_EINVAL ? CLI_EXIT_USAGE : cli_exit_code(rc); /* a bad --listen is a usage error */
  }
  for (size_t i = 0; i < listen.n; i++) {
    const char *spec = listen.items[i];
    const char *colon = strrchr(spec, ':');
    printf("listening %.*s:%d\n", (int)(colon - spec), spec, cis_server_port(s, i));
  }
  fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  fprintf(stderr, "cis serve: %s: draining\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  cis_server_drain(s);
  uint64_t grace = drain ? drain : (max_timeout ? max_timeout : CIS_SKILL_CEILING_TIMEOUT_MS) + 5000;
  if (cis_server_wait_idle(s, grace) != CIS_OK)
    fprintf(stderr, "cis serve: calls still running after %llu ms; closing once they end\n",
            (unsigned long long)grace);
  cis_server_free(s);
  cli_strlist_free(&listen);
  free(listen_text);
  cli_config_free(cfg); /* after the server: its handles were opened with these strings */
  cli_strlist_free(&hf.sets);
  fprintf(stderr, "cis serve: stopped\n");
  return CLI_EXIT_OK;
}
