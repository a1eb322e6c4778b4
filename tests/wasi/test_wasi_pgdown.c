/*
 * This file implements the end-to-end test of a database that dies under
 * a running WASI guest. The guest, wasi_rewrite (progs/wasi_rewrite.c),
 * rewrites /work/f over and over with whole 2 MiB versions (each written
 * to f.tmp in 256 KiB writes, then renamed over f; the program says why)
 * on a mount of the layered database filesystem over PostgreSQL, while a
 * thread of this test stops the server under it: `pg.sh stop` (a fast
 * shutdown) in one case, `pg.sh kill` (a crash) in the other. Each case
 * checks that
 *   - the guest's failing call set errno to EIO exactly (it prints it),
 *     and the guest went on to exit with its own code: cis_wasi_run
 *     returned CIS_OK, no trap, no crash;
 *   - the host tells why: cis_wasi_last_vfs_error is CIS_EVFSDOWN, its
 *     detail names the failed WASI call and PostgreSQL;
 *   - after `pg.sh restart`, a fresh mount of the same tenant finds f
 *     holding exactly one whole version, the last one the guest renamed
 *     into place (or, had the rename itself failed, possibly the one it
 *     was renaming), never a mix; and f.tmp, when the failure was a
 *     write, holds what the writes before it put there, plus the failed
 *     write only if its COMMIT reached the server (each write is one
 *     transaction: all of it or none of it).
 * Timing decides where the stop lands, so a case tries again (a little
 * later each time, at most TRIES times) until it lands inside a write
 * that is not the version's first: the failed write's own transaction was
 * cut (the host's detail says the query or the COMMIT failed, not a
 * reconnect between two calls) while f.tmp held part of the new version.
 * The tries it took are printed. About half the tries land there: each
 * fd_write is a stat and a write, two transactions, and a fast shutdown
 * does not cut a COMMIT that is running (PostgreSQL holds interrupts off
 * while it commits), so a stop that comes during the COMMIT's WAL flush is
 * seen at the next call. Writes of 256 KiB (four blocks) keep the server
 * in the write's statements for most of the time; with 64 KiB writes
 * fewer than a third of the stops landed inside one.
 *
 * The server is a private one of this test (the wasi_pgdown fixture,
 * started and stopped by tests/support/pg.sh), never the shared one.
 *
 * Usage: test_wasi_pgdown REWRITE.wasm PGDIR PG_SH
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/pg_connstr.h"

#include "cis/cis.h"
#include "cis/cis_vfs.h"
#include "cis/cis_wasi.h"

#define VERSION_SIZE (2u << 20) /* bytes of one version of f */
#define CHUNK (256u << 10)       /* bytes of one guest write */
#define RECORD 16               /* bytes of one "version %07u\n" record */
#define MAX_VERSIONS 100000     /* the guest gives up (exit 4) after this many */
#define TRIES 12                /* attempts for the stop to land inside a write */
#define GUEST_FAILED 3          /* wasi_rewrite's exit code after a failed call */
#define WASI_EIO 29             /* EIO as the guest sees it */

static struct {
  uint8_t *wasm;      /* wasi_rewrite.wasm */
  size_t len;         /* its size */
  cis_engine *engine; /* the engine running it */
  cis_module *module; /* it, compiled once */
  char pgdir[1024];   /* the private server's directory */
  char pgsh[1024];    /* tests/support/pg.sh */
  char spec[2048];    /* "postgres:CONNSTR" */
  char run[48];       /* makes tenant names unique per run */
} g;

/* --------------------------------------------------------------- server */

/* Runs `pg.sh WHAT PGDIR`; returns its exit status (0 = done). */
static int pg_sh(const char *what) {
  char cmd[2200];
  snprintf(cmd, sizeof cmd, "%s %s %s >/dev/null", g.pgsh, what, g.pgdir);
  return system(cmd);
}

static void sleep_ms(unsigned ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* A thread that stops the server while the guest runs. */
typedef struct stopper {
  unsigned delay_ms; /* wait this long after the guest starts, then */
  const char *what;  /* run pg.sh this (stop, kill) */
  int rc;            /* and keep its exit status here */
} stopper;

static void *stop_later(void *p) {
  stopper *s = p;
  sleep_ms(s->delay_ms);
  s->rc = pg_sh(s->what);
  return NULL;
}

/* Each case starts from a running server, whatever a failed case left. */
static int server_up(void **state) {
  (void)state;
  if (pg_sh("restart") != 0) {
    fprintf(stderr, "pg.sh restart failed\n");
    return -1;
  }
  return 0;
}

/* ----------------------------------------------------------------- files */

/* Mounts tenant's tree on the test server. */
static cis_vfs *mount_tenant(const char *tenant) {
  cis_vfs_db_config cfg;
  cis_vfs_db_config_default(&cfg);
  cfg.spec = g.spec;
  cfg.tenant = tenant;
  cfg.op_timeout_ms = 10000;
  /* The scenarios expect a write that returned to survive a crash of the
   * server: each commit must wait for the server's flush. */
  cfg.sync = CIS_VFS_DB_SYNC_FULL;
  cis_vfs_backend *b = NULL;
  cis_result rc = cis_vfs_db_new(&cfg, &b);
  if (rc != CIS_OK) fail_msg("cis_vfs_db_new: %s", b ? b->errmsg : "");
  cis_vfs *fs = NULL;
  rc = cis_vfs_mount(b, NULL, &fs);
  if (rc != CIS_OK) fail_msg("cis_vfs_mount: %s", cis_vfs_errmsg(fs));
  return fs;
}

static void record_of(unsigned v, char rec[RECORD + 1]) {
  snprintf(rec, RECORD + 1, "version %07u\n", v);
}

/* Writes version v of the guest's file at path (one write: one
 * transaction). */
static void put_version(cis_vfs *fs, const char *path, unsigned v) {
  cis_vfs_file *root, *f;
  assert_int_equal(cis_vfs_open_root(fs, &root), 0);
  assert_int_equal(cis_vfs_openat(root, path, strlen(path),
                                  CIS_VFS_WRITE | CIS_VFS_CREAT | CIS_VFS_TRUNC, &f),
                   0);
  char *buf = malloc(VERSION_SIZE);
  assert_non_null(buf);
  char rec[RECORD + 1];
  record_of(v, rec);
  for (size_t off = 0; off < VERSION_SIZE; off += RECORD) memcpy(buf + off, rec, RECORD);
  size_t put = 0;
  assert_int_equal(cis_vfs_pwrite(f, buf, VERSION_SIZE, 0, &put), 0);
  assert_int_equal(put, VERSION_SIZE);
  free(buf);
  cis_vfs_close(f);
  cis_vfs_close(root);
}

/* What a file holds, read back through the VFS. */
typedef struct content {
  bool exists;      /* the file is there */
  uint64_t size;    /* its size */
  bool uniform;     /* every 16-byte record is the first one (true when empty) */
  long version;     /* the first record's version; -1 when empty or not a record */
} content;

static void read_content(cis_vfs *fs, const char *path, content *c) {
  memset(c, 0, sizeof *c);
  c->version = -1;
  cis_vfs_file *root, *f;
  assert_int_equal(cis_vfs_open_root(fs, &root), 0);
  int e = cis_vfs_openat(root, path, strlen(path), CIS_VFS_READ, &f);
  cis_vfs_close(root);
  if (e == ENOENT) return;
  if (e) fail_msg("open %s: %d (%s)", path, e, cis_vfs_errmsg(fs));
  c->exists = true;
  c->uniform = true;
  static char buf[CHUNK];
  char first[RECORD] = {0};
  for (;;) {
    size_t got = 0;
    e = cis_vfs_pread(f, buf, sizeof buf, c->size, &got);
    if (e) fail_msg("read %s: %d (%s)", path, e, cis_vfs_errmsg(fs));
    if (!got) break;
    for (size_t off = 0; off < got; off += RECORD) {
      size_t n = got - off < RECORD ? got - off : RECORD;
      if (c->size == 0 && off == 0) memcpy(first, buf, n);
      if (n != RECORD || memcmp(buf + off, first, RECORD) != 0) c->uniform = false;
    }
    c->size += got;
  }
  cis_vfs_close(f);
  unsigned v;
  char rec[RECORD + 1];
  if (c->size >= RECORD && sscanf(first, "version %7u", &v) == 1) {
    record_of(v, rec);
    if (memcmp(rec, first, RECORD) == 0) c->version = (long)v;
  }
}

/* Says what c holds, for the log. */
static const char *describe(const content *c, char *out, size_t cap) {
  if (!c->exists) snprintf(out, cap, "absent");
  else if (!c->uniform || (c->size && c->version < 0))
    snprintf(out, cap, "%llu bytes, NOT one version", (unsigned long long)c->size);
  else if (c->size == 0) snprintf(out, cap, "empty");
  else
    snprintf(out, cap, "%llu bytes of version %ld%s", (unsigned long long)c->size, c->version,
             c->size == VERSION_SIZE ? " (whole)" : "");
  return out;
}

/* ----------------------------------------------------------------- guest */

/* What the guest reported and the host saw of one run. */
typedef struct outcome {
  cis_result rc;         /* what cis_wasi_run returned */
  int exit_code;         /* the guest's exit code */
  char out[512];         /* its stdout */
  char call[16];         /* the failed call: open, write, close, rename */
  unsigned version;      /* the version being written */
  size_t off;            /* the failed write's offset */
  int err;               /* the errno the guest saw */
  unsigned renamed;      /* the last version renamed into place */
  cis_result vfs_err;    /* cis_wasi_last_vfs_error */
  char vfs_msg[512];     /* its detail */
} outcome;

/* Runs the guest on fs (preopened as /work) while a thread runs
 * `pg.sh what` after delay_ms. */
static void run_guest(cis_vfs *fs, const char *what, unsigned delay_ms, outcome *o) {
  memset(o, 0, sizeof *o);
  char size[32], chunk[32], max[32];
  snprintf(size, sizeof size, "%u", VERSION_SIZE);
  snprintf(chunk, sizeof chunk, "%u", CHUNK);
  snprintf(max, sizeof max, "%u", MAX_VERSIONS);
  const char *argv[] = {"wasi_rewrite", "/work/f", size, chunk, max};
  cis_wasi_config c;
  cis_wasi_config_default(&c);
  c.caps = CIS_WASI_CAP_ARGS;
  c.argc = 5;
  c.argv = argv;
  c.stdio[1] = c.stdio[2] = CIS_WASI_STDIO_BUFFER;
  cis_wasi *w;
  assert_int_equal(cis_wasi_new(&c, &w), CIS_OK);
  assert_int_equal(cis_wasi_preopen(w, fs, "/work"), CIS_OK);
  cis_imports *im;
  assert_int_equal(cis_imports_new(g.engine, &im), CIS_OK);
  assert_int_equal(cis_wasi_add_imports(w, im), CIS_OK);
  cis_limits lim;
  cis_limits_default(&lim);
  lim.timeout_ms = 240000;
  cis_instance *inst;
  assert_int_equal(cis_instance_new(g.module, im, &lim, &inst), CIS_OK);

  stopper s = {.delay_ms = delay_ms, .what = what, .rc = -1};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, stop_later, &s), 0);
  o->rc = cis_wasi_run(w, inst, &o->exit_code);
  if (o->rc != CIS_OK) fprintf(stderr, "run: %s\n", cis_errmsg(inst));
  assert_int_equal(pthread_join(th, NULL), 0);
  if (s.rc != 0) fail_msg("pg.sh %s failed (%d)", what, s.rc);

  size_t n;
  const uint8_t *p = cis_wasi_output(w, 1, &n);
  if (n >= sizeof o->out) n = sizeof o->out - 1;
  if (p) memcpy(o->out, p, n);
  p = cis_wasi_output(w, 2, &n);
  if (p && n) fprintf(stderr, "guest stderr: %.*s\n", (int)n, (const char *)p);
  const char *msg;
  o->vfs_err = cis_wasi_last_vfs_error(w, &msg);
  snprintf(o->vfs_msg, sizeof o->vfs_msg, "%s", msg);
  const char *line = strstr(o->out, "fail ");
  if (!line || sscanf(line, "fail %15s version=%u off=%zu errno=%d renamed=%u", o->call,
                      &o->version, &o->off, &o->err, &o->renamed) != 5)
    o->call[0] = '\0';
  cis_instance_free(inst);
  cis_imports_free(im);
  cis_wasi_free(w);
}

/* The WASI call behind each of the guest's libc calls. */
static const char *wasi_call_of(const char *call) {
  if (strcmp(call, "open") == 0) return "path_open: ";
  if (strcmp(call, "write") == 0) return "fd_write: ";
  if (strcmp(call, "rename") == 0) return "path_rename: ";
  return "?";
}

/* One try: a fresh tenant whose f holds version 0, the guest rewriting it
 * and the server stopped after delay_ms; then the checks. Returns whether
 * the stop landed inside a write (see the top of the file). */
static bool one_try(const char *how, int attempt, unsigned delay_ms) {
  char tenant[160];
  snprintf(tenant, sizeof tenant, "wasi-pgdown-%s-%s-%d", g.run, how, attempt);
  cis_vfs *fs = mount_tenant(tenant);
  put_version(fs, "f", 0);
  static outcome oc; /* static: nothing leaks when a check fails */
  outcome *o = &oc;
  run_guest(fs, how, delay_ms, o);
  /* The mount goes while the server is down: nothing hangs or leaks. */
  cis_vfs_unmount(fs);
  fprintf(stderr, "pg.sh %s, try %d (after %u ms): guest: %s", how, attempt + 1, delay_ms,
          o->out[0] ? o->out : "(nothing)\n");
  fprintf(stderr, "  host: %s\n", o->vfs_msg);

  /* The guest met EIO, said so and ended by itself. */
  assert_int_equal(o->rc, CIS_OK);
  if (o->exit_code != GUEST_FAILED)
    fail_msg("guest exit code %d, want %d", o->exit_code, GUEST_FAILED);
  if (!o->call[0]) fail_msg("the guest printed no failure line");
  if (o->err != WASI_EIO)
    fail_msg("the guest's %s failed with errno %d, want EIO (29)", o->call, o->err);
  /* The host knows it was the database. */
  assert_int_equal(o->vfs_err, CIS_EVFSDOWN);
  const char *prefix = wasi_call_of(o->call);
  if (strncmp(o->vfs_msg, prefix, strlen(prefix)) != 0)
    fail_msg("host detail \"%s\" is not about the guest's %s", o->vfs_msg, o->call);
  assert_non_null(strstr(o->vfs_msg, "postgres"));
  assert_true(o->version >= 1 && o->renamed == o->version - 1);

  /* Back up: f is one whole version, the last that was renamed into
   * place, or the one being renamed when the rename was cut. */
  if (pg_sh("restart") != 0) fail_msg("pg.sh restart failed");
  fs = mount_tenant(tenant);
  content f, t;
  read_content(fs, "f", &f);
  read_content(fs, "f.tmp", &t);
  cis_vfs_unmount(fs);
  char fdesc[96], tdesc[96];
  fprintf(stderr, "  after restart: f: %s; f.tmp: %s\n", describe(&f, fdesc, sizeof fdesc),
          describe(&t, tdesc, sizeof tdesc));
  assert_true(f.exists);
  if (!f.uniform || f.size != VERSION_SIZE || f.version < 0)
    fail_msg("f is not one whole version: %llu bytes, uniform %d, first record version %ld",
             (unsigned long long)f.size, f.uniform, f.version);
  bool rename_cut = strcmp(o->call, "rename") == 0;
  if (!(f.version == (long)o->renamed || (rename_cut && f.version == (long)o->version)))
    fail_msg("f holds version %ld; the guest had renamed %u and was at %u", f.version,
             o->renamed, o->version);
  /* A failed write leaves f.tmp with the writes before it, plus itself
   * only if its COMMIT reached the server: never part of a write. */
  if (strcmp(o->call, "write") == 0) {
    /* A file's create rides in one commit with its first write (the
     * backend batches them), so a first write that failed may take the
     * create with it. */
    if (!t.exists && o->off == 0) t = (content){.exists = true, .uniform = true};
    assert_true(t.exists && t.uniform);
    if (t.size) assert_int_equal(t.version, (long)o->version);
    uint64_t with = o->off + (VERSION_SIZE - o->off < CHUNK ? VERSION_SIZE - o->off : CHUNK);
    if (t.size != o->off && t.size != with)
      fail_msg("f.tmp holds %llu bytes after a write at %zu failed (want %zu or %llu)",
               (unsigned long long)t.size, o->off, o->off, (unsigned long long)with);
  }
  /* "db: write:" is the backend's write method (fd_write also makes a
   * stat first, in a transaction of its own); "query" or "commit" says
   * the transaction had begun: the connection was not found dead at BEGIN
   * or reconnecting. */
  bool inside = strcmp(o->call, "write") == 0 && o->off > 0 &&
                (strstr(o->vfs_msg, "db: write: postgres: query") ||
                 strstr(o->vfs_msg, "db: write: postgres: commit"));
  return inside;
}

/* The server goes away (`how`) while the guest writes; tries until that
 * happens inside a write (at most TRIES times). */
static void dies_mid_rewrite(const char *how) {
  for (int attempt = 0; attempt < TRIES; attempt++) {
    if (one_try(how, attempt, 300 + 170u * (unsigned)attempt)) {
      fprintf(stderr, "pg.sh %s landed inside a write on try %d of %d\n", how, attempt + 1,
              TRIES);
      return;
    }
  }
  fail_msg("pg.sh %s never landed inside a write in %d tries", how, TRIES);
}

static void server_stopped_mid_rewrite(void **state) {
  (void)state;
  dies_mid_rewrite("stop");
}

static void server_crashed_mid_rewrite(void **state) {
  (void)state;
  dies_mid_rewrite("kill");
}

/* ------------------------------------------------------------------ main */

/* Sets g.spec from the connection string pg.sh wrote. */
static int read_connstr(const char *file) {
  char line[1900];
  int rc = cis_test_read_connstr(file, line, sizeof line);
  if (rc == 0) snprintf(g.spec, sizeof g.spec, "postgres:%s", line);
  return rc;
}

static int load_module(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "cannot open %s\n", path);
    return 2;
  }
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  g.wasm = len > 0 ? malloc((size_t)len) : NULL;
  g.len = (size_t)(len > 0 ? len : 0);
  bool ok = g.wasm && fread(g.wasm, 1, g.len, f) == g.len;
  fclose(f);
  if (!ok || cis_engine_new(NULL, &g.engine) != CIS_OK) return 2;
  if (cis_module_new(g.engine, g.wasm, g.len, &g.module) != CIS_OK) {
    fprintf(stderr, "%s: %s\n", path, cis_errmsg(g.engine));
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: test_wasi_pgdown REWRITE.wasm PGDIR PG_SH\n");
    return 2;
  }
  snprintf(g.pgdir, sizeof g.pgdir, "%s", argv[2]);
  snprintf(g.pgsh, sizeof g.pgsh, "%s", argv[3]);
  char file[1100];
  snprintf(file, sizeof file, "%s/connstr", g.pgdir);
  int rc = read_connstr(file);
  if (rc) return rc;
  snprintf(g.run, sizeof g.run, "%ld-%ld", (long)getpid(), (long)time(NULL));
  rc = load_module(argv[1]);
  if (rc == 0) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(server_stopped_mid_rewrite, server_up),
        cmocka_unit_test_setup(server_crashed_mid_rewrite, server_up),
    };
    rc = cmocka_run_group_tests_name("test_wasi_pgdown", tests, NULL, NULL) ? 1 : 0;
  }
  cis_module_free(g.module);
  cis_engine_free(g.engine);
  free(g.wasm);
  return rc;
}
