/*
 * This file implements `cis skill ...`: install, list, show, run and
 * remove skills, and run a bare module with `cis skill run --wasm FILE`
 * (the seeds' form). It is a thin user of include/cis/cis_skill.h.
 *
 * Exit codes: 0 success, 1 the skill or the registry failed (typed error
 * on stderr), 2 bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cis/cis_skill.h"
#include "cmd_skill.h"

static int usage(void) {
  fprintf(stderr,
          "usage: cis skill install [--allow-volume NAME]... [--allow-namespace NS]...\n"
          "                         [--allow-host-path PATH]... DIR|skill.json\n"
          "       cis skill list\n"
          "       cis skill show NAME\n"
          "       cis skill run NAME [--input JSON|@FILE] [--tenant ID] [--timeout MS]\n"
          "       cis skill run --wasm FILE.wasm [--input JSON|@FILE] [--allow-host RULE]...\n"
          "                     [--kv] [--ai] [--abi auto|cis_v1|seed001|seed000|wasi]\n"
          "       cis skill remove NAME\n"
          "Install grants (each repeatable; without them a skill keeps to itself):\n"
          "  --allow-volume NAME     a db mount may name volume NAME, shared with other skills\n"
          "  --allow-namespace NS    the skill may share KV namespace NS with installed skills\n"
          "  --allow-host-path PATH  a host mount may reach PATH, outside the skill's folder\n"
          "Environment: CIS_HOME (registry), CIS_KV (sqlite:PATH | postgres:CONNSTR),\n"
          "             CIS_AI_BASE_URL, CIS_AI_MODEL, CIS_AI_KEY_ENV (AI provider).\n");
  return 2;
}

/* Prints "cis: CIS_NAME: message". Messages from below may already open
 * with the name (or be empty): the name is said once either way. */
static void print_error(cis_result rc, const char *msg) {
  const char *name = cis_errname(rc);
  size_t n = strlen(name);
  while (msg && !strncmp(msg, name, n) && (msg[n] == ':' || msg[n] == '\0')) {
    msg += n;
    while (*msg == ':' || *msg == ' ') msg++;
  }
  if (msg && *msg) fprintf(stderr, "cis: %s: %s\n", name, msg);
  else fprintf(stderr, "cis: %s: %s\n", name, cis_strerror(rc));
}

static cis_skills *open_skills(void) {
  cis_skills_config c;
  cis_skills_config_default(&c);
  c.kv_spec = getenv("CIS_KV");
  if (getenv("CIS_LOG_JSON")) c.log_format = CIS_LOG_JSON;
  cis_skills *s;
  char err[512];
  cis_result rc = cis_skills_open(&c, &s, err, sizeof err);
  if (rc != CIS_OK) {
    print_error(rc, err);
    return NULL;
  }
  return s;
}

static char *read_input(const char *arg, size_t *len) {
  if (arg[0] != '@') {
    *len = strlen(arg);
    return strdup(arg);
  }
  FILE *f = strcmp(arg + 1, "-") ? fopen(arg + 1, "rb") : stdin;
  if (!f) return NULL;
  size_t cap = 65536, n = 0;
  char *b = malloc(cap);
  for (;;) {
    if (n == cap) {
      if (cap > (64u << 20)) break; /* the skill layer caps it anyway */
      cap *= 2;
      char *nb = realloc(b, cap);
      if (!nb) break;
      b = nb;
    }
    size_t got = fread(b + n, 1, cap - n, f);
    if (!got) break;
    n += got;
  }
  if (f != stdin) fclose(f);
  *len = n;
  return b;
}

static int report(cis_result rc, cis_invoke_result *r) {
  /* Log lines already went to stderr through the host's sink. */
  if (rc == CIS_OK) {
    fwrite(r->output, 1, r->output_len, stdout);
    if (!r->output_len || r->output[r->output_len - 1] != '\n') fputc('\n', stdout);
    return 0;
  }
  print_error(rc, r->error);
  return 1;
}

static int skill_run(cis_skills *s, int argc, char **argv) {
  const char *name = NULL, *wasm = NULL, *input = "{}";
  cis_invoke_options o;
  memset(&o, 0, sizeof o);
  const char *rules[64];
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--wasm") && v) wasm = argv[++i];
    else if (!strcmp(a, "--input") && v) input = argv[++i];
    else if (!strcmp(a, "--tenant") && v) o.tenant = argv[++i];
    else if (!strcmp(a, "--timeout") && v) o.timeout_ms = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(a, "--max-memory") && v) o.max_memory = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(a, "--abi") && v) o.abi = argv[++i];
    else if (!strcmp(a, "--allow-host") && v) {
      if (o.nallow_hosts == 64) return usage();
      rules[o.nallow_hosts++] = argv[++i];
    } else if (!strcmp(a, "--kv")) o.allow_kv = true;
    else if (!strcmp(a, "--ai")) o.allow_ai = true;
    else if (a[0] != '-' && !name) name = a;
    else return usage();
  }
  o.allow_hosts = rules;
  if (!!name == !!wasm) return usage();
  size_t len;
  char *in = read_input(input, &len);
  if (!in) {
    fprintf(stderr, "cis: cannot read input %s\n", input);
    return 1;
  }
  cis_invoke_result r;
  cis_result rc;
  if (wasm) {
    FILE *f = fopen(wasm, "rb");
    if (!f) {
      fprintf(stderr, "cis: cannot open %s\n", wasm);
      free(in);
      return 1;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *bytes = malloc(n > 0 ? (size_t)n : 1);
    size_t got = n > 0 ? fread(bytes, 1, (size_t)n, f) : 0;
    fclose(f);
    rc = cis_skills_invoke_wasm(s, bytes, got, in, len, &o, &r);
    free(bytes);
  } else {
    rc = cis_skills_invoke(s, name, in, len, &o, &r);
  }
  free(in);
  int code = report(rc, &r);
  cis_invoke_result_free(&r);
  return code;
}

int cis_cmd_skill(int argc, char **argv) {
  if (argc < 1) return usage();
  const char *sub = argv[0];
  if (!strcmp(sub, "help") || !strcmp(sub, "--help")) {
    usage();
    return 0;
  }
  if (strcmp(sub, "install") && strcmp(sub, "list") && strcmp(sub, "show") && strcmp(sub, "run") &&
      strcmp(sub, "remove"))
    return usage();
  if ((!strcmp(sub, "show") || !strcmp(sub, "remove")) && argc != 2) return usage();
  /* install: grants, then the folder (or grants after it). */
  const char *target = NULL;
  const char *vols[64], *nss[64], *paths[64];
  cis_install_options io;
  memset(&io, 0, sizeof io);
  io.allow_volumes = vols;
  io.allow_namespaces = nss;
  io.allow_host_paths = paths;
  if (!strcmp(sub, "install")) {
    for (int i = 1; i < argc; i++) {
      const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
      const char **list = NULL;
      size_t *n = NULL;
      if (!strcmp(a, "--allow-volume")) list = vols, n = &io.nallow_volumes;
      else if (!strcmp(a, "--allow-namespace")) list = nss, n = &io.nallow_namespaces;
      else if (!strcmp(a, "--allow-host-path")) list = paths, n = &io.nallow_host_paths;
      if (list) {
        if (!v || *n == 64) return usage();
        list[(*n)++] = v;
        i++;
      } else if (a[0] != '-' && !target) target = a;
      else return usage();
    }
    if (!target) return usage();
  }
  cis_skills *s = open_skills();
  if (!s) return 1;
  int code = 0;
  cis_result rc = CIS_OK;
  if (!strcmp(sub, "install")) {
    char name[128];
    rc = cis_skills_install_ex(s, target, &io, name, sizeof name);
    if (rc == CIS_OK) printf("installed %s\n", name);
  } else if (!strcmp(sub, "list")) {
    cis_skill_info *l;
    size_t n;
    rc = cis_skills_list(s, &l, &n);
    for (size_t i = 0; rc == CIS_OK && i < n; i++)
      printf("%-24s %-10s %.12s  %s\n", l[i].name, l[i].version, l[i].sha256, l[i].description);
    if (rc == CIS_OK) free(l);
  } else if (!strcmp(sub, "show")) {
    char *json;
    rc = cis_skills_show(s, argv[1], &json);
    if (rc == CIS_OK) {
      printf("%s\n", json);
      free(json);
    }
  } else if (!strcmp(sub, "remove")) {
    rc = cis_skills_remove(s, argv[1]);
    if (rc == CIS_OK) printf("removed %s\n", argv[1]);
  } else {
    code = skill_run(s, argc - 1, argv + 1);
  }
  if (rc != CIS_OK) {
    print_error(rc, cis_skills_errmsg(s));
    code = 1;
  }
  cis_skills_close(s);
  return code;
}
