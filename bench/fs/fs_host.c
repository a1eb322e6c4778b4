/*
 * This file implements fs_host, the embedder bench/fs.sh runs the wasm
 * build of bench/fs/fsbench.c with, one backend at a time. It uses the
 * public API only (cis.h, cis_vfs.h, cis_wasi.h).
 *
 *   fs_host [-t TENANT] [-c CHUNK_KIB] [-s normal|full] [-C sync|call] PROGRAM.wasm BACKEND
 *
 *   BACKEND   mem                   memory (cis_vfs_mem_new)
 *             host DIR              a host directory (cis_vfs_host_new)
 *             db:sqlite:PATH        the layered database filesystem
 *             db:postgres:CONNSTR   (cis_vfs_db_new; CONNSTR in one argument)
 *   -t        tenant of a db backend (default "fsbench")
 *   -c        chunk size passed on to the program (default: its own)
 *   -s        durability of a db backend's commits (cis_vfs_db_config.sync:
 *             normal, the default, or full: each commit waits for the disk)
 *   -C        when the changes commit: sync (the default: a db backend
 *             commits each VFS call's changes, a file's create + write +
 *             close as one), or call: the program runs five times, one
 *             phase each (fsbench's PHASE argument), each run one call
 *             scope as a skill call is (cis_vfs_scope_begin before it,
 *             cis_vfs_scope_end after), the end's time printed as
 *             "phase commit-PHASE MS" after the phase's own line. With
 *             sync a db backend holds a lease (cis_vfs_db_config.lease),
 *             as `cis run` does
 *
 * The mount is preopened as /bench and the program runs as
 * `fsbench /bench [CHUNK_KIB]` with the args and clock capabilities, its
 * stdout and stderr inherited, no timeout and the default memory limit.
 * The program times its phases itself, so the engine's start-up is not in
 * its figures; fs_host prints its own (load, instantiate, run) on stderr
 * for information.
 *
 * Exit status: the program's, or 1 when the engine or a backend failed
 * (with cis's message and, for a storage failure, the VFS's detail), 2 on
 * a usage error.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cis/cis.h"
#include "cis/cis_vfs.h"
#include "cis/cis_wasi.h"

#define GUEST_DIR "/bench"

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int usage(void) {
  fprintf(stderr,
          "usage: fs_host [-t TENANT] [-c CHUNK_KIB] [-s normal|full] [-C sync|call] PROGRAM.wasm "
          "mem | host DIR | db:sqlite:PATH | db:postgres:CONNSTR\n");
  return 2;
}

/* Reads a whole file into *out (malloc'd). */
static int read_file(const char *path, uint8_t **out, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  uint8_t *buf = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (n == cap) {
      cap = cap ? cap * 2 : 1 << 20;
      uint8_t *p = realloc(buf, cap);
      if (!p) break;
      buf = p;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) break;
  }
  int bad = ferror(f) || n == cap;
  fclose(f);
  if (bad) {
    free(buf);
    return -1;
  }
  *out = buf;
  *len = n;
  return 0;
}

/* Makes the backend named on the command line. */
static cis_result make_backend(const char *kind, const char *dir, const char *tenant, bool full,
                               bool lease, cis_vfs_backend **b) {
  if (strcmp(kind, "mem") == 0) return cis_vfs_mem_new(b);
  if (strcmp(kind, "host") == 0) return cis_vfs_host_new(dir, b);
  cis_vfs_db_config cfg;
  cis_vfs_db_config_default(&cfg);
  cfg.spec = kind + 3; /* past "db:" */
  cfg.tenant = tenant;
  cfg.sync = full ? CIS_VFS_DB_SYNC_FULL : CIS_VFS_DB_SYNC_NORMAL;
  cfg.lease = lease;
  return cis_vfs_db_new(&cfg, b);
}

/* Runs the program once on the mount fs with args (argc of them): its
 * status, or 1 when the engine or a backend failed. With call, the run is
 * one call scope (cis_vfs_scope_begin before, cis_vfs_scope_end after,
 * committing when it succeeded), and the end's time is printed as
 * "phase commit-PHASE MS", PHASE being args[3]. */
static int run_once(cis_engine *engine, cis_module *module, cis_vfs *fs, const char *label,
                    const char **args, int argc, bool call, double t_load, double t_mount) {
  int status = 1;
  cis_wasi *wasi = NULL;
  cis_imports *imports = NULL;
  cis_instance *inst = NULL;
  cis_result rc;
  cis_wasi_config wc;
  cis_wasi_config_default(&wc);
  wc.caps = CIS_WASI_CAP_ARGS | CIS_WASI_CAP_CLOCK;
  wc.argc = argc;
  wc.argv = args;
  wc.stdio[1] = wc.stdio[2] = CIS_WASI_STDIO_INHERIT;
  if ((rc = cis_wasi_new(&wc, &wasi)) != CIS_OK) {
    fprintf(stderr, "fs_host: wasi: %s: %s\n", cis_errname(rc), cis_errmsg(wasi));
    goto done;
  }
  if ((rc = cis_wasi_preopen(wasi, fs, GUEST_DIR)) != CIS_OK) {
    const char *msg;
    cis_wasi_last_vfs_error(wasi, &msg);
    fprintf(stderr, "fs_host: preopen: %s: %s\n", cis_errname(rc), msg);
    goto done;
  }
  if ((rc = cis_imports_new(engine, &imports)) != CIS_OK ||
      (rc = cis_wasi_add_imports(wasi, imports)) != CIS_OK) {
    fprintf(stderr, "fs_host: imports: %s: %s\n", cis_errname(rc), cis_errmsg(engine));
    goto done;
  }
  cis_limits lim;
  cis_limits_default(&lim);
  lim.timeout_ms = 0; /* a slow backend is a result, not an error */
  double t0 = now_ms();
  if ((rc = cis_instance_new(module, imports, &lim, &inst)) != CIS_OK) {
    fprintf(stderr, "fs_host: instantiate: %s: %s\n", cis_errname(rc), cis_errmsg(engine));
    goto done;
  }
  double t_inst = now_ms() - t0;
  if (call && (rc = cis_vfs_scope_begin(fs)) != CIS_OK) {
    fprintf(stderr, "fs_host: scope: %s: %s\n", cis_errname(rc), cis_vfs_errmsg(fs));
    goto done;
  }
  fflush(stdout); /* the guest writes to fd 1 directly */
  int exit_code = 0;
  t0 = now_ms();
  rc = cis_wasi_run(wasi, inst, &exit_code);
  double t_run = now_ms() - t0;
  bool ok = rc == CIS_OK && exit_code == 0;
  if (call) { /* the call's changes commit now, or vanish after a failure */
    double tc = now_ms();
    cis_result src = cis_vfs_scope_end(fs, ok);
    if (src != CIS_OK && ok) {
      fprintf(stderr, "fs_host: the call's commit: %s: %s\n", cis_errname(src), cis_vfs_errmsg(fs));
      exit_code = 1;
    } else if (ok) {
      printf("phase commit-%s %.3f\n", args[3], now_ms() - tc);
      fflush(stdout);
    }
  }
  const char *vmsg;
  cis_result vrc = cis_wasi_last_vfs_error(wasi, &vmsg);
  if (rc != CIS_OK) {
    fprintf(stderr, "fs_host: run: %s: %s\n", cis_errname(rc), cis_errmsg(inst));
    if (vrc != CIS_OK) fprintf(stderr, "fs_host: last VFS error: %s: %s\n", cis_errname(vrc), vmsg);
    goto done;
  }
  if (exit_code != 0 && vrc != CIS_OK)
    fprintf(stderr, "fs_host: last VFS error: %s: %s\n", cis_errname(vrc), vmsg);
  fprintf(stderr, "fs_host: %s: load %.1f ms, mount %.1f ms, instantiate %.1f ms, run %.1f ms\n",
          label, t_load, t_mount, t_inst, t_run);
  status = exit_code;

done:
  if (inst) cis_instance_free(inst);
  if (imports) cis_imports_free(imports);
  if (wasi) cis_wasi_free(wasi); /* before the mount it preopens */
  return status;
}

int main(int argc, char **argv) {
  const char *tenant = "fsbench", *chunk = NULL;
  bool full = false, call = false;
  int i = 1;
  for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
    if (strcmp(argv[i], "-t") == 0) tenant = argv[i + 1];
    else if (strcmp(argv[i], "-c") == 0) chunk = argv[i + 1];
    else if (strcmp(argv[i], "-s") == 0 && strcmp(argv[i + 1], "full") == 0) full = true;
    else if (strcmp(argv[i], "-s") == 0 && strcmp(argv[i + 1], "normal") == 0) full = false;
    else if (strcmp(argv[i], "-C") == 0 && strcmp(argv[i + 1], "call") == 0) call = true;
    else if (strcmp(argv[i], "-C") == 0 && strcmp(argv[i + 1], "sync") == 0) call = false;
    else return usage();
  }
  if (argc - i < 2) return usage();
  const char *wasm_path = argv[i], *kind = argv[i + 1], *dir = NULL;
  if (strcmp(kind, "host") == 0) {
    if (argc - i != 3) return usage();
    dir = argv[i + 2];
  } else if (argc - i != 2 || (strcmp(kind, "mem") != 0 && strncmp(kind, "db:", 3) != 0)) {
    return usage();
  }

  /* Never print a connection string: it holds a password. */
  const char *label = strncmp(kind, "db:sqlite:", 10) == 0     ? "db:sqlite"
                      : strncmp(kind, "db:", 3) == 0           ? "db:postgres"
                                                               : kind;
  int status = 1;
  uint8_t *bytes = NULL;
  size_t len = 0;
  cis_engine *engine = NULL;
  cis_module *module = NULL;
  cis_vfs *fs = NULL;
  cis_result rc;

  if (read_file(wasm_path, &bytes, &len) != 0) {
    fprintf(stderr, "fs_host: cannot read %s\n", wasm_path);
    return 1;
  }
  double t0 = now_ms();
  if ((rc = cis_engine_new(NULL, &engine)) != CIS_OK) {
    fprintf(stderr, "fs_host: engine: %s\n", cis_strerror(rc));
    goto done;
  }
  if ((rc = cis_module_new(engine, bytes, len, &module)) != CIS_OK) {
    fprintf(stderr, "fs_host: %s: %s: %s\n", wasm_path, cis_errname(rc), cis_errmsg(engine));
    goto done;
  }
  double t_load = now_ms() - t0;

  cis_vfs_backend *b = NULL;
  t0 = now_ms();
  make_backend(kind, dir, tenant, full, !call, &b); /* a failed backend fails the mount */
  if ((rc = cis_vfs_mount(b, NULL, &fs)) != CIS_OK) {
    fprintf(stderr, "fs_host: mount %s: %s: %s\n", label, cis_errname(rc), cis_vfs_errmsg(fs));
    goto done;
  }
  double t_mount = now_ms() - t0;

  if (!call) {
    const char *args[3] = {"fsbench", GUEST_DIR, chunk};
    status = run_once(engine, module, fs, label, args, chunk ? 3 : 2, false, t_load, t_mount);
  } else {
    /* Each phase one call: run alone (fsbench's PHASE) inside a call
     * scope of its own, as a skill call runs, its commit timed after it. */
    static const char *const phases[5] = {"small-write", "small-read", "big-write", "big-read",
                                          "delete"};
    status = 0;
    for (int k = 0; k < 5 && status == 0; k++) {
      const char *args[4] = {"fsbench", GUEST_DIR, chunk ? chunk : "1024", phases[k]};
      status = run_once(engine, module, fs, label, args, 4, true, t_load, t_mount);
    }
  }

done:
  if (fs) cis_vfs_unmount(fs);
  if (module) cis_module_free(module);
  if (engine) cis_engine_free(engine);
  free(bytes);
  return status;
}
