/*
 * fuzz_wasi_fs.c -- libFuzzer target: WASI filesystem calls on the memory
 * backend.
 *
 * This file implements the fuzz_wasi_fs target and its harness,
 * cis_fuzz_wasi_fs, which the regression replay in tests/wasi/ calls too.
 * One input is a mount's options followed by at most CIS_FUZZ_WASI_OPS
 * operations. Each operation calls a real wasi_snapshot_preview1 function
 * (path_create_directory, path_open, path_rename, path_unlink_file,
 * path_remove_directory, path_symlink, path_link, path_readlink,
 * path_filestat_get/set_times, fd_readdir, fd_read, fd_write, fd_pread,
 * fd_pwrite, fd_seek, fd_tell, fd_close, fd_renumber,
 * fd_filestat_get/set_size, fd_fdstat_get/set_flags/set_rights,
 * fd_allocate, fd_advise, fd_sync, fd_datasync, fd_prestat_get/dir_name,
 * poll_oneoff)
 * the way a guest does: through an instance of a small module, built here
 * byte by byte, that imports those functions and exports them again with
 * its memory, so paths, buffers and results go through guest memory and
 * the WASI layer checks them as it would a guest's. Paths are made from a
 * few names, ".", "..", slashes, long names and raw bytes; descriptors
 * are the preopen, those opened so far and arbitrary numbers; "chain"
 * walks down a new directory per step, as a guest building a deep tree
 * does. Then every descriptor is closed and the mount freed.
 *
 * Checks beyond the sanitizers: after the guest's descriptors are closed,
 * no VFS file may stay open, and the usage the mount counted for its
 * quotas must equal what the memory backend holds.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include "cis/cis.h"
#include "cis/cis_vfs.h"
#include "cis/cis_wasi.h"

/* Each WASI call's deadline. */
#define CALL_TIMEOUT_MS 2000

/* Operations one input runs at most. */
#define CIS_FUZZ_WASI_OPS 64
/* Levels one "chain" operation walks down at most. */
#define CHAIN_MAX 32
/* Guest descriptors the harness keeps track of. */
#define MAX_FDS 16

/* The mount's internals the checks read (src/vfs/vfs_internal.h; the fuzz
 * targets are built with include/ only). */
cis_vfs_backend *cis__vfs_backend(cis_vfs *fs);
size_t cis__vfs_open_files(const cis_vfs *fs);

/* Runs one input; returns the number of WASI calls that returned 0 (the
 * replay test uses it to see that an input reaches the filesystem). */
unsigned cis_fuzz_wasi_fs(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ------------------------------------------------------------- the module */

/* The imported (and re-exported) functions: name and parameter types
 * ('i' i32, 'I' i64); every one returns an i32 errno. */
enum {
  F_MKDIR, F_OPEN, F_RENAME, F_UNLINK, F_RMDIR, F_SYMLINK, F_LINK, F_READLINK, F_STAT,
  F_READDIR, F_WRITE, F_READ, F_CLOSE, F_SEEK, F_SETSIZE, F_RENUMBER, F_SETTIMES, F_FSTAT,
  F_POLL, F_TELL, F_PREAD, F_PWRITE, F_FDSTAT, F_SETFLAGS, F_SETRIGHTS, F_ALLOCATE, F_SYNC,
  F_DATASYNC, F_PRESTAT, F_PRESTAT_NAME, F_ADVISE, F_COUNT
};
static const struct {
  const char *name;
  const char *sig;
} funcs[F_COUNT] = {
    [F_MKDIR] = {"path_create_directory", "iii"},
    [F_OPEN] = {"path_open", "iiiiiIIii"},
    [F_RENAME] = {"path_rename", "iiiiii"},
    [F_UNLINK] = {"path_unlink_file", "iii"},
    [F_RMDIR] = {"path_remove_directory", "iii"},
    [F_SYMLINK] = {"path_symlink", "iiiii"},
    [F_LINK] = {"path_link", "iiiiiii"},
    [F_READLINK] = {"path_readlink", "iiiiii"},
    [F_STAT] = {"path_filestat_get", "iiiii"},
    [F_READDIR] = {"fd_readdir", "iiiIi"},
    [F_WRITE] = {"fd_write", "iiii"},
    [F_READ] = {"fd_read", "iiii"},
    [F_CLOSE] = {"fd_close", "i"},
    [F_SEEK] = {"fd_seek", "iIii"},
    [F_SETSIZE] = {"fd_filestat_set_size", "iI"},
    [F_RENUMBER] = {"fd_renumber", "ii"},
    [F_SETTIMES] = {"path_filestat_set_times", "iiiiIIi"},
    [F_FSTAT] = {"fd_filestat_get", "ii"},
    [F_POLL] = {"poll_oneoff", "iiii"},
    [F_TELL] = {"fd_tell", "ii"},
    [F_PREAD] = {"fd_pread", "iiiIi"},
    [F_PWRITE] = {"fd_pwrite", "iiiIi"},
    [F_FDSTAT] = {"fd_fdstat_get", "ii"},
    [F_SETFLAGS] = {"fd_fdstat_set_flags", "ii"},
    [F_SETRIGHTS] = {"fd_fdstat_set_rights", "iII"},
    [F_ALLOCATE] = {"fd_allocate", "iII"},
    [F_SYNC] = {"fd_sync", "i"},
    [F_DATASYNC] = {"fd_datasync", "i"},
    [F_PRESTAT] = {"fd_prestat_get", "ii"},
    [F_PRESTAT_NAME] = {"fd_prestat_dir_name", "iii"},
    [F_ADVISE] = {"fd_advise", "iIIi"},
};

/* Guest memory layout (one 64 KiB page). */
enum {
  M_PATH1 = 0,      /* first path, up to 8 KiB */
  M_PATH2 = 8192,   /* second path */
  M_BUF = 16384,    /* data for read, write, readdir, readlink: 4 KiB */
  M_BUFLEN = 4096,
  M_IOV = 24576,    /* one iovec */
  M_OUT = 24600,    /* a call's u32/u64 result */
  M_STAT = 24640,   /* a filestat */
  M_SUBS = 28672,   /* poll subscriptions (48 bytes each) */
  M_EVENTS = 32768, /* poll events (32 bytes each) */
};

typedef struct bytes {
  uint8_t b[4096]; /* the module (about 1.7 KiB) */
  size_t n;        /* bytes in b */
} bytes;

static void put(bytes *m, uint8_t v) {
  if (m->n == sizeof m->b) abort(); /* the table above outgrew the buffer */
  m->b[m->n++] = v;
}
static void put_uleb(bytes *m, size_t v) {
  do {
    uint8_t c = v & 0x7f;
    v >>= 7;
    put(m, (uint8_t)(c | (v ? 0x80 : 0)));
  } while (v);
}
static void put_name(bytes *m, const char *s) {
  put_uleb(m, strlen(s));
  for (; *s; s++) put(m, (uint8_t)*s);
}
static void put_section(bytes *m, uint8_t id, const bytes *body) {
  put(m, id);
  put_uleb(m, body->n);
  for (size_t i = 0; i < body->n; i++) put(m, body->b[i]);
}

/* The module: one type per function, the imports, one memory, and the
 * exports of every import and the memory. */
static void build_module(bytes *m) {
  static const uint8_t head[] = {0, 'a', 's', 'm', 1, 0, 0, 0};
  static bytes s;
  m->n = 0;
  for (size_t i = 0; i < sizeof head; i++) put(m, head[i]);
  s.n = 0;
  put_uleb(&s, F_COUNT);
  for (int f = 0; f < F_COUNT; f++) {
    put(&s, 0x60);
    put_uleb(&s, strlen(funcs[f].sig));
    for (const char *p = funcs[f].sig; *p; p++) put(&s, *p == 'I' ? 0x7e : 0x7f);
    put(&s, 1);
    put(&s, 0x7f);
  }
  put_section(m, 1, &s);
  s.n = 0;
  put_uleb(&s, F_COUNT);
  for (int f = 0; f < F_COUNT; f++) {
    put_name(&s, "wasi_snapshot_preview1");
    put_name(&s, funcs[f].name);
    put(&s, 0x00);
    put_uleb(&s, (size_t)f);
  }
  put_section(m, 2, &s);
  s.n = 0;
  put(&s, 1);    /* one memory */
  put(&s, 0x01); /* min and max */
  put(&s, 1);
  put(&s, 1);
  put_section(m, 5, &s);
  s.n = 0;
  put_uleb(&s, F_COUNT + 1);
  put_name(&s, "memory");
  put(&s, 0x02);
  put(&s, 0);
  for (int f = 0; f < F_COUNT; f++) {
    put_name(&s, funcs[f].name);
    put(&s, 0x00);
    put_uleb(&s, (size_t)f);
  }
  put_section(m, 7, &s);
}

static cis_engine *g_engine;
static cis_module *g_module;

/* The engine and module, made once: neither keeps anything of an input. */
static int setup(void) {
  if (g_module) return 0;
  static bytes m;
  build_module(&m);
  cis_engine_config cfg;
  cis_engine_config_default(&cfg);
  cfg.engine = "interp"; /* no compile forked per run: the module has no code */
  cfg.limits.timeout_ms = CALL_TIMEOUT_MS;
  /* The module has no code: a small value stack, so that each input does
   * not allocate (and the sanitizer fill) megabytes it never uses. */
  cfg.limits.max_stack_bytes = 64 * 1024;
  cfg.limits.max_call_depth = 16;
  if (cis_engine_new(&cfg, &g_engine) != CIS_OK) return -1;
  if (cis_module_new(g_engine, m.b, m.n, &g_module) != CIS_OK) {
    fprintf(stderr, "fuzz_wasi_fs: module: %s\n", cis_errmsg(g_engine));
    abort();
  }
  return 0;
}

/* ----------------------------------------------------------------- input */

typedef struct input {
  const uint8_t *p; /* next byte */
  const uint8_t *end;
} input;

static uint8_t u8(input *in) { return in->p < in->end ? *in->p++ : 0; }
/* Each byte in its own statement: the order of the reads is the input's. */
static uint16_t u16(input *in) {
  uint16_t lo = u8(in);
  return (uint16_t)(lo | (u8(in) << 8));
}
static uint64_t u64(input *in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)u8(in) << (8 * i);
  return v;
}

/* One guest run's state. */
typedef struct run {
  cis_instance *inst;
  cis_func *f[F_COUNT];
  uint32_t fds[MAX_FDS]; /* descriptors the guest holds (3 is the preopen) */
  size_t nfds;
  uint64_t cookie;       /* the last readdir's next cookie */
  unsigned ok;           /* calls that returned 0 */
  bool trace;            /* CIS_FUZZ_TRACE is set: print each call */
} run;

static const char *const names[] = {
    "a", "b", "c", "d", ".", "..", "", "a/b", "../a", "sub", "x.txt",
    /* 255 bytes: the longest name */
    "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
    "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
    "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn",
};
#define NNAMES (sizeof names / sizeof names[0])

/* Writes a path decoded from the input at guest offset at; returns its
 * length. Mostly a few names joined by '/', sometimes absolute, one name
 * too long, raw bytes, or longer than any path may be. */
static uint32_t make_path(run *r, input *in, uint32_t at) {
  char *p = cis_instance_mem(r->inst, at, 8192);
  if (!p) abort();
  uint8_t kind = u8(in);
  size_t n = 0;
  if (kind % 32 == 31) { /* raw bytes: NUL, non-UTF-8, anything */
    n = u8(in) % 64;
    for (size_t i = 0; i < n; i++) p[i] = (char)u8(in);
    return (uint32_t)n;
  }
  if (kind % 32 == 30) { /* longer than CIS_VFS_PATH_MAX, or just at it */
    n = CIS_VFS_PATH_MAX + (u8(in) % 2);
    for (size_t i = 0; i < n; i++) p[i] = (i % 2) ? '/' : 'a';
    return (uint32_t)n;
  }
  if (kind % 32 == 29) p[n++] = '/';
  size_t parts = 1 + kind % 4;
  for (size_t k = 0; k < parts; k++) {
    uint8_t c = u8(in);
    const char *name = c % 64 == 63 ? NULL : names[c % NNAMES];
    if (k) p[n++] = '/';
    if (!name) { /* 256 bytes: one too many */
      memset(p + n, 'm', 256);
      n += 256;
    } else {
      memcpy(p + n, name, strlen(name));
      n += strlen(name);
    }
  }
  if (kind & 0x80) p[n++] = '/';
  return (uint32_t)n;
}

/* A descriptor: mostly one the guest holds, sometimes any number. */
static uint32_t pick_fd(run *r, input *in) {
  uint8_t b = u8(in);
  if (b % 8 == 7 || r->nfds == 0) return b >> 3;
  return r->fds[b % r->nfds];
}

static void forget_fd(run *r, uint32_t fd) {
  for (size_t i = 0; i < r->nfds; i++)
    if (r->fds[i] == fd) r->fds[i] = r->fds[--r->nfds];
}

static void keep_fd(run *r, uint32_t fd) {
  forget_fd(r, fd);
  if (r->nfds < MAX_FDS) r->fds[r->nfds++] = fd;
}

/* Rights: all, read-only file, a directory's, or raw bits. */
static uint64_t pick_rights(input *in) {
  switch (u8(in) % 4) {
  case 0: return (1ull << 30) - 1;
  case 1: return (1ull << 1) | (1ull << 2) | (1ull << 5) | (1ull << 21) | (1ull << 27);
  case 2: return (1ull << 9) | (1ull << 10) | (1ull << 13) | (1ull << 14) | (1ull << 18);
  default: return u64(in);
  }
}

/* The CPU time the calling thread has used, in ms. */
static double thread_cpu_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Calls function f with the arguments as slots; returns its errno. */
static int32_t call(run *r, int f, const cis_slot *args) {
  cis_slot res[12];
  memset(res, 0, sizeof res);
  double cpu0 = thread_cpu_ms();
  cis_result rc = cis_func_call_slots(r->inst, r->f[f], args, res);
  /* The deadline is wall time: a fuzzer at low priority on a busy
   * machine can wait past it without the call doing any work (a call
   * that spins shows as CPU time, and is a finding). */
  if (rc == CIS_ETIMEOUT && thread_cpu_ms() - cpu0 < CALL_TIMEOUT_MS / 2) return -1;
  if (rc != CIS_OK) {
    /* A WASI function never traps on a guest's arguments. */
    fprintf(stderr, "fuzz_wasi_fs: %s trapped: %s: %s\n", funcs[f].name, cis_errname(rc),
            cis_errmsg(r->inst));
    abort();
  }
  if (res[0].i32 == 0) r->ok++;
  if (r->trace) fprintf(stderr, "%s(%u...) = %d\n", funcs[f].name, args[0].u32, res[0].i32);
  return res[0].i32;
}

#define A(x) ((cis_slot){.u64 = (uint64_t)(x)})
#define AI32(x) ((cis_slot){.u32 = (uint32_t)(x)})

static uint32_t out_u32(run *r) {
  uint32_t v = 0;
  cis_instance_mem_read(r->inst, M_OUT, &v, 4);
  return v;
}

/* Walks down `levels` new directories from fd, as a guest building a deep
 * tree through descriptors: mkdir "d", open it, close the one above (not
 * a descriptor it started from). */
static void chain(run *r, uint32_t fd, unsigned levels) {
  char *p = cis_instance_mem(r->inst, M_PATH1, 1);
  if (!p) abort();
  *p = 'd';
  uint32_t cur = fd;
  for (unsigned k = 0; k < levels; k++) {
    cis_slot mk[] = {AI32(cur), AI32(M_PATH1), AI32(1)};
    if (call(r, F_MKDIR, mk) != 0) break;
    /* Every right but those that write (FD_WRITE, FD_ALLOCATE,
     * FD_FILESTAT_SET_SIZE), which make O_DIRECTORY EISDIR. */
    const uint64_t dir_rights = ((1ull << 30) - 1) & ~((1ull << 6) | (1ull << 8) | (1ull << 22));
    cis_slot op[] = {AI32(cur), AI32(0), AI32(M_PATH1), AI32(1), AI32(2),
                     A(dir_rights), A((1ull << 30) - 1), AI32(0), AI32(M_OUT)};
    if (call(r, F_OPEN, op) != 0) break;
    uint32_t sub = out_u32(r);
    if (cur != fd) {
      cis_slot cl[] = {AI32(cur)};
      call(r, F_CLOSE, cl);
    }
    cur = sub;
  }
  if (cur != fd) keep_fd(r, cur);
}

/* One operation decoded from the input. */
static void one_op(run *r, input *in) {
  uint8_t op = u8(in) % 30;
  uint32_t fd = pick_fd(r, in);
  switch (op) {
  case 0: {
    uint32_t n = make_path(r, in, M_PATH1);
    cis_slot a[] = {AI32(fd), AI32(M_PATH1), AI32(n)};
    call(r, F_MKDIR, a);
    break;
  }
  case 1: {
    uint8_t dirflags = u8(in) & 1;
    uint8_t oflags = u8(in) & 15;
    uint8_t fdflags = u8(in) & 31;
    uint32_t n = make_path(r, in, M_PATH1);
    uint64_t base = pick_rights(in);
    uint64_t inh = pick_rights(in);
    cis_slot a[] = {AI32(fd), AI32(dirflags), AI32(M_PATH1), AI32(n), AI32(oflags),
                    A(base), A(inh), AI32(fdflags), AI32(M_OUT)};
    if (call(r, F_OPEN, a) == 0) {
      uint32_t nfd = out_u32(r);
      if (r->nfds < MAX_FDS) keep_fd(r, nfd);
      else {
        cis_slot c[] = {AI32(nfd)};
        call(r, F_CLOSE, c);
      }
    }
    break;
  }
  case 2: {
    uint32_t nfd = pick_fd(r, in);
    uint32_t n1 = make_path(r, in, M_PATH1);
    uint32_t n2 = make_path(r, in, M_PATH2);
    cis_slot a[] = {AI32(fd), AI32(M_PATH1), AI32(n1), AI32(nfd), AI32(M_PATH2), AI32(n2)};
    call(r, F_RENAME, a);
    break;
  }
  case 3:
  case 4: {
    uint32_t n = make_path(r, in, M_PATH1);
    cis_slot a[] = {AI32(fd), AI32(M_PATH1), AI32(n)};
    call(r, op == 3 ? F_UNLINK : F_RMDIR, a);
    break;
  }
  case 5: {
    uint32_t nt = make_path(r, in, M_PATH2);
    uint32_t n = make_path(r, in, M_PATH1);
    cis_slot a[] = {AI32(M_PATH2), AI32(nt), AI32(fd), AI32(M_PATH1), AI32(n)};
    call(r, F_SYMLINK, a);
    break;
  }
  case 6: {
    uint32_t nfd = pick_fd(r, in);
    uint8_t flags = u8(in) & 1;
    uint32_t n1 = make_path(r, in, M_PATH1);
    uint32_t n2 = make_path(r, in, M_PATH2);
    cis_slot a[] = {AI32(fd), AI32(flags), AI32(M_PATH1), AI32(n1), AI32(nfd), AI32(M_PATH2),
                    AI32(n2)};
    call(r, F_LINK, a);
    break;
  }
  case 7: {
    uint32_t cap = u16(in) % (M_BUFLEN + 1);
    uint32_t n = make_path(r, in, M_PATH1);
    cis_slot a[] = {AI32(fd), AI32(M_PATH1), AI32(n), AI32(M_BUF), AI32(cap), AI32(M_OUT)};
    call(r, F_READLINK, a);
    break;
  }
  case 8: {
    uint8_t flags = u8(in) & 1;
    uint32_t n = make_path(r, in, M_PATH1);
    cis_slot a[] = {AI32(fd), AI32(flags), AI32(M_PATH1), AI32(n), AI32(M_STAT)};
    call(r, F_STAT, a);
    break;
  }
  case 9: {
    uint32_t len = u16(in) % (M_BUFLEN + 1);
    uint8_t how = u8(in);
    uint64_t cookie = how % 4 == 0 ? 0 : how % 4 == 1 ? r->cookie : how % 4 == 2 ? u8(in) : u64(in);
    cis_slot a[] = {AI32(fd), AI32(M_BUF), AI32(len), A(cookie), AI32(M_OUT)};
    if (call(r, F_READDIR, a) == 0 && out_u32(r) >= 24) {
      /* Resume after the first entry next time (its d_next). */
      uint64_t next = 0;
      cis_instance_mem_read(r->inst, M_BUF, &next, 8);
      r->cookie = next;
    }
    break;
  }
  case 10:
  case 11: {
    uint32_t len;
    if (op == 10) {
      len = u8(in);
      uint8_t *b = cis_instance_mem(r->inst, M_BUF, len ? len : 1);
      for (uint32_t i = 0; b && i < len; i++) b[i] = u8(in);
    } else {
      len = u16(in) % (M_BUFLEN + 1);
    }
    uint32_t iov[2] = {M_BUF, len};
    cis_instance_mem_write(r->inst, M_IOV, iov, sizeof iov);
    cis_slot a[] = {AI32(fd), AI32(M_IOV), AI32(1), AI32(M_OUT)};
    call(r, op == 10 ? F_WRITE : F_READ, a);
    break;
  }
  case 12: {
    cis_slot a[] = {AI32(fd)};
    if (call(r, F_CLOSE, a) == 0) forget_fd(r, fd);
    break;
  }
  case 13: {
    int64_t off = (int8_t)u8(in);
    off *= 1 + (int64_t)u8(in) * 4096;
    uint32_t whence = u8(in) % 4;
    cis_slot a[] = {AI32(fd), A(off), AI32(whence), AI32(M_OUT)};
    call(r, F_SEEK, a);
    break;
  }
  case 14: {
    uint8_t b = u8(in);
    uint64_t size = b == 255 ? u64(in) : (uint64_t)b;
    if (b != 255) size *= 1 + (uint64_t)u8(in);
    cis_slot a[] = {AI32(fd), A(size)};
    call(r, F_SETSIZE, a);
    break;
  }
  case 15: {
    uint32_t to = pick_fd(r, in);
    cis_slot a[] = {AI32(fd), AI32(to)};
    if (call(r, F_RENUMBER, a) == 0) {
      forget_fd(r, fd);
      keep_fd(r, to);
    }
    break;
  }
  case 16: {
    uint8_t flags = u8(in) & 1;
    uint8_t fst = u8(in) & 15;
    uint32_t n = make_path(r, in, M_PATH1);
    uint64_t atim = u64(in);
    uint64_t mtim = u64(in);
    cis_slot a[] = {AI32(fd), AI32(flags), AI32(M_PATH1), AI32(n), A(atim), A(mtim), AI32(fst)};
    call(r, F_SETTIMES, a);
    break;
  }
  case 17: {
    cis_slot a[] = {AI32(fd), AI32(M_STAT)};
    call(r, F_FSTAT, a);
    break;
  }
  case 18: {
    /* Up to four subscriptions: descriptors and clocks (the clock
     * capability is not granted, so no clock ever sleeps). */
    uint32_t n = u8(in) % 5;
    uint8_t *s = cis_instance_mem(r->inst, M_SUBS, 48 * 4);
    if (!s) abort();
    memset(s, 0, 48 * 4);
    for (uint32_t i = 0; i < n; i++) {
      uint8_t *sub = s + 48 * i;
      sub[0] = (uint8_t)i;
      sub[8] = u8(in) % 4; /* clock, fd_read, fd_write, or no such type */
      uint32_t x = sub[8] == 0 ? u8(in) % 5 : pick_fd(r, in);
      memcpy(sub + 16, &x, 4);
    }
    cis_slot a[] = {AI32(M_SUBS), AI32(M_EVENTS), AI32(n), AI32(M_OUT)};
    call(r, F_POLL, a);
    break;
  }
  case 19: {
    cis_slot a[] = {AI32(fd), AI32(M_OUT)};
    call(r, F_TELL, a);
    break;
  }
  case 20:
    chain(r, fd, 1 + u8(in) % CHAIN_MAX);
    break;
  case 21:
  case 22: { /* fd_pread, fd_pwrite: one iovec, an offset near 0 or anywhere */
    uint32_t len = u16(in) % (M_BUFLEN + 1);
    uint8_t how = u8(in);
    uint64_t off = how & 1 ? u64(in) : (uint64_t)how * 512;
    uint32_t iov[2] = {M_BUF, len};
    cis_instance_mem_write(r->inst, M_IOV, iov, sizeof iov);
    cis_slot a[] = {AI32(fd), AI32(M_IOV), AI32(1), A(off), AI32(M_OUT)};
    call(r, op == 21 ? F_PREAD : F_PWRITE, a);
    break;
  }
  case 23: {
    cis_slot a[] = {AI32(fd), AI32(M_STAT)};
    call(r, F_FDSTAT, a);
    break;
  }
  case 24: {
    cis_slot a[] = {AI32(fd), AI32(u8(in) & 31)};
    call(r, F_SETFLAGS, a);
    break;
  }
  case 25: {
    uint64_t base = pick_rights(in);
    uint64_t inh = pick_rights(in);
    cis_slot a[] = {AI32(fd), A(base), A(inh)};
    call(r, F_SETRIGHTS, a);
    break;
  }
  case 26: {
    uint8_t how = u8(in);
    uint64_t off = how & 1 ? u64(in) : (uint64_t)u8(in) * 1024;
    uint64_t len = how & 2 ? u64(in) : (uint64_t)u8(in) * 1024;
    cis_slot a[] = {AI32(fd), A(off), A(len)};
    call(r, F_ALLOCATE, a);
    break;
  }
  case 27: {
    cis_slot a[] = {AI32(fd)};
    call(r, u8(in) & 1 ? F_SYNC : F_DATASYNC, a);
    break;
  }
  case 28: {
    uint32_t cap = u8(in);
    cis_slot a[] = {AI32(fd), AI32(M_STAT)};
    call(r, F_PRESTAT, a);
    cis_slot b[] = {AI32(fd), AI32(M_BUF), AI32(cap)};
    call(r, F_PRESTAT_NAME, b);
    break;
  }
  default: {
    uint64_t off = u64(in);
    uint64_t len = u64(in);
    uint32_t advice = u8(in) % 8;
    cis_slot a[] = {AI32(fd), A(off), A(len), AI32(advice)};
    call(r, F_ADVISE, a);
    break;
  }
  }
}

/* Mount options from the first byte: a quota, read-only, a small depth
 * limit. Without the quota bit there is still a max_bytes of 16 MiB: the
 * memory backend holds up to 2 GiB by design (MEM_MAX_TOTAL), which one
 * fd_filestat_set_size reaches, and libFuzzer's RSS limit is 2 GiB. */
static void mount_options(input *in, cis_vfs_options *o) {
  uint8_t b = u8(in);
  memset(o, 0, sizeof *o);
  o->max_bytes = 16u << 20;
  if (b & 1) {
    o->max_files = 1 + (uint64_t)u8(in);
    o->max_bytes = 1 + (uint64_t)u16(in) * 16;
  }
  o->read_only = (b & 6) == 6;
  if (b & 8) o->max_depth = 1 + u8(in) % 16;
}

unsigned cis_fuzz_wasi_fs(const uint8_t *data, size_t size) {
  if (setup() != 0) return 0;
  input in = {data, data + size};
  cis_vfs_options o;
  mount_options(&in, &o);
  cis_vfs_backend *b = NULL;
  cis_vfs *fs = NULL;
  if (cis_vfs_mem_new(&b) != CIS_OK || cis_vfs_mount(b, &o, &fs) != CIS_OK) abort();
  /* Count from the start, so the check below also holds without a quota. */
  if (cis_vfs_usage(fs, NULL, NULL) != 0) abort();
  cis_wasi_config cfg;
  cis_wasi_config_default(&cfg);
  cfg.max_fds = 32;
  cis_wasi *w = NULL;
  cis_imports *im = NULL;
  run r;
  memset(&r, 0, sizeof r);
  if (cis_wasi_new(&cfg, &w) != CIS_OK || cis_wasi_preopen(w, fs, "/") != CIS_OK ||
      cis_imports_new(g_engine, &im) != CIS_OK || cis_wasi_add_imports(w, im) != CIS_OK ||
      cis_instance_new(g_module, im, NULL, &r.inst) != CIS_OK)
    abort();
  for (int f = 0; f < F_COUNT; f++)
    if (!(r.f[f] = cis_instance_func(r.inst, funcs[f].name))) abort();
  r.fds[r.nfds++] = 3;
  r.trace = getenv("CIS_FUZZ_TRACE") != NULL;
  for (int k = 0; k < CIS_FUZZ_WASI_OPS && in.p < in.end; k++) one_op(&r, &in);
  cis_instance_free(r.inst);
  cis_imports_free(im);
  cis_wasi_free(w);

  /* Every descriptor is closed, and so is every VFS file; the mount's
   * count of bytes and nodes must be what the storage holds (the memory
   * backend's own count, through its method table). */
  if (cis__vfs_open_files(fs) != 0) {
    fprintf(stderr, "fuzz_wasi_fs: %zu VFS files open after cis_wasi_free\n",
            cis__vfs_open_files(fs));
    abort();
  }
  uint64_t bytes = 0, nodes = 0, sbytes = 0, snodes = 0;
  cis_vfs_usage(fs, &bytes, &nodes);
  b = cis__vfs_backend(fs);
  if (b->methods->usage(b, &sbytes, &snodes) != 0) abort();
  if (bytes != sbytes || nodes != snodes) {
    fprintf(stderr, "fuzz_wasi_fs: the mount counts %llu bytes and %llu nodes, the storage "
                    "holds %llu and %llu\n",
            (unsigned long long)bytes, (unsigned long long)nodes, (unsigned long long)sbytes,
            (unsigned long long)snodes);
    abort();
  }
  cis_vfs_unmount(fs);
  return r.ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cis_fuzz_wasi_fs(data, size);
  return 0;
}
