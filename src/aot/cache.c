/*
 * This file implements the compiled tier's compiler driver and on-disk
 * cache: finding the C compiler, the cache key, compiling generated C into
 * a shared object, storing it atomically, and loading it back only after
 * checking it.
 *
 * The key is the SHA-256 of: the module's SHA-256, the cis version, the
 * code generator's version and contract (CIS__AOT_CODEGEN_VERSION,
 * CIS_AOT_ABI, the SHA-256 of the prelude every generated file starts
 * with), the layout of the runtime structs compiled code reads,
 * the compiler driver's identity (its path, device, inode, size and
 * mtime: an upgrade of the compiler replaces the file), the flags, and
 * the machine name (the flags select no CPU feature beyond the base ABI,
 * so the architecture is all they depend on).
 *
 * An entry, KEY.cso, is one file: a header (magic, the key, the BLAKE2b
 * checksum of the payload, the module's SHA-256, the payload length) then the
 * shared object. Loading reads the whole file, checks the magic, the key
 * (a file of another module swapped in fails here), the length (a
 * truncated file) and the payload's hash (any other corruption), then
 * copies the payload into an anonymous memory file and dlopens that: the
 * bytes checked are the bytes loaded, with no window for the file to
 * change between the check and dlopen. An entry that fails a check is
 * compiled again and replaced, never run.
 *
 * Writers use a temporary file then rename(2), so a reader sees a whole
 * entry or none. Compiling takes an exclusive flock on KEY.lock: a second
 * process (or thread) wanting the same module waits for the first and
 * then finds the entry, rather than compiling it twice. The wait is
 * bounded (LOCK_WAIT_MS); past it the waiter compiles on its own, which
 * the rename still makes safe.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "aot/aot.h"
#include "cis/cis_aot.h"
#include "common/dynlib.h"

extern char **environ;

/* The header of an entry: fields at these offsets, then the object. */
#define MAGIC "CISAOT02" /* 02: the object's checksum is BLAKE2b-256 */
#define H_KEY 8        /* cache key, 32 bytes */
#define H_SUM 40       /* BLAKE2b-256 of the object */
#define H_MOD 72       /* SHA-256 of the module */
#define H_LEN 104      /* object length, u64 little-endian */
#define H_VER 112      /* cis version that wrote it, NUL-padded, 16 bytes */
#define HDR_SIZE 128
/* How long a process waits for another compiling the same module. */
#define LOCK_WAIT_MS (10u * 60u * 1000u)
/* How long one compile may run before it is killed. */
#define CC_TIMEOUT_MS (10u * 60u * 1000u)
/* Largest object accepted from the cache or the compiler. */
#define MAX_OBJECT (1u << 30)

/* The flags: -O2 (docs/aot.md has the measurements); -fno-math-errno
 * lets sqrt and rounding inline; -fsignaling-nans and -ffp-contract=off
 * keep float semantics exact (GCC otherwise folds -0 - x into -x and
 * x * 1 into x, which do not quiet a signalling NaN, and may fuse a
 * multiply and an add); -w because generated code has unused labels and
 * variables by design. */
static const char CFLAGS[] =
    "-O2 -fPIC -shared -fno-math-errno -fsignaling-nans -ffp-contract=off -fno-plt -w";

/* CIS_AOT_CFLAGS replaces them (for measuring other flags; they are part
 * of the key, so objects built with other flags never mix). */
const char *cis__aot_cflags(void) {
  const char *f = getenv("CIS_AOT_CFLAGS");
  return f && *f ? f : CFLAGS;
}

static void setmsg(char *msg, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void setmsg(char *msg, size_t cap, const char *fmt, ...) {
  if (!msg || !cap) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, cap, fmt, ap);
  va_end(ap);
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms) {
  struct timespec ts = {ms / 1000u, (long)(ms % 1000u) * 1000000L};
  nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------ hashing */

/* The cache hashes with libsodium, loaded on first use: binding libcrypto
 * took about 9 ms of a cached start whose whole budget is the
 * interpreter's start (about 6 ms), libsodium well under one. Keys are
 * SHA-256 (small inputs); the object's checksum is BLAKE2b-256
 * (crypto_generichash), several times faster than libsodium's portable
 * SHA-256 over the object's bytes. Without libsodium the compiled engine
 * is CIS_EUNSUPPORTED, the message naming its package. */
#if !defined(CIS_SODIUM_SONAME) || !defined(CIS_SODIUM_PACKAGE)
#error "CIS_SODIUM_SONAME and CIS_SODIUM_PACKAGE come from the build"
#endif

#define CACHE_SODIUM_FUNCS(X) \
  X(sodium_init, init)        \
  X(crypto_hash_sha256, sha256) \
  X(crypto_generichash, blake2b)

static struct {
  CACHE_SODIUM_FUNCS(CIS__DYNLIB_MEMBER)
} sod;

static const char *const sod_names[] = {CACHE_SODIUM_FUNCS(CIS__DYNLIB_NAME)};

static void sod_bind(void *const *fn) {
  size_t i = 0;
#define BIND(f, member) sod.member = (__typeof__(f) *)fn[i++];
  CACHE_SODIUM_FUNCS(BIND)
#undef BIND
}

static cis__dynlib sod_lib = {.soname = CIS_SODIUM_SONAME, .package = CIS_SODIUM_PACKAGE,
                              .names = sod_names, .count = CIS_ARRAY_LEN(sod_names),
                              .bind = sod_bind};
static pthread_once_t sod_once = PTHREAD_ONCE_INIT;
static bool sod_ok;         /* libsodium loaded and initialised */
static char sod_err[256];  /* why not */

static void sod_load(void) {
  sod_ok = cis__dynlib_load(&sod_lib, sod_err, sizeof sod_err) == CIS_OK;
  if (sod_ok && sod.init() < 0) {
    sod_ok = false;
    snprintf(sod_err, sizeof sod_err, "libsodium could not initialise");
  }
}

static cis_result sod_ready(char *msg, size_t cap) {
  pthread_once(&sod_once, sod_load);
  if (sod_ok) return CIS_OK;
  setmsg(msg, cap, "the compiled engine's cache needs libsodium: %s", sod_err);
  return CIS_EUNSUPPORTED;
}

/* SHA-256 of n bytes at p into md. Errors: CIS_EUNSUPPORTED (no libsodium). */
static cis_result sha256(const void *p, size_t n, uint8_t md[32], char *msg, size_t cap) {
  cis_result rc = sod_ready(msg, cap);
  if (rc == CIS_OK) sod.sha256(md, p, (unsigned long long)n);
  return rc;
}

/* The checksum of an entry's object: BLAKE2b-256. Errors: as sha256. */
static cis_result checksum(const void *p, size_t n, uint8_t md[32], char *msg, size_t cap) {
  cis_result rc = sod_ready(msg, cap);
  if (rc == CIS_OK && sod.blake2b(md, 32, p, (unsigned long long)n, NULL, 0) != 0) rc = CIS_EIO;
  return rc;
}

/* ---------------------------------------------------------- compiler */

cis_result cis__aot_find_cc(cis__aot_cc *cc, char *msg, size_t cap) {
  const char *name = getenv("CIS_CC");
  if (!name || !*name) name = "cc";
  memset(cc, 0, sizeof *cc);
  char cand[4096];
  bool found = false;
  if (strchr(name, '/')) {
    snprintf(cand, sizeof cand, "%s", name);
    found = access(cand, X_OK) == 0;
  } else {
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
    while (*path && !found) {
      const char *colon = strchr(path, ':');
      size_t n = colon ? (size_t)(colon - path) : strlen(path);
      if (n && n < sizeof cand - strlen(name) - 2) {
        snprintf(cand, sizeof cand, "%.*s/%s", (int)n, path, name);
        found = access(cand, X_OK) == 0;
      }
      path += n + (colon ? 1 : 0);
    }
  }
  struct stat st;
  if (!found || stat(cand, &st) != 0 || !S_ISREG(st.st_mode)) {
    setmsg(msg, cap,
           "no C compiler \"%s\" found: the compiled engine needs one (install the Debian "
           "package gcc, or set CIS_CC to a compiler)",
           name);
    return CIS_EUNSUPPORTED;
  }
  snprintf(cc->path, sizeof cc->path, "%s", cand);
  snprintf(cc->ident, sizeof cc->ident, "%llx:%llx:%llx:%lld.%09ld",
           (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
           (unsigned long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
  return CIS_OK;
}

/* Runs the compiler on src into so, its output into errf. Errors:
 * CIS_EUNSUPPORTED (it could not be started), CIS_EIO (it failed, was
 * killed or ran too long; the message carries the start of its output). */
static cis_result run_cc(const cis__aot_cc *cc, const char *src, const char *so,
                         const char *errf, char *msg, size_t cap) {
  char flags[1024];
  snprintf(flags, sizeof flags, "%s", cis__aot_cflags());
  char *argv[32];
  int argc = 0;
  argv[argc++] = (char *)cc->path;
  for (char *save = NULL, *t = strtok_r(flags, " ", &save); t && argc < 24;
       t = strtok_r(NULL, " ", &save))
    argv[argc++] = t;
  argv[argc++] = "-o";
  argv[argc++] = (char *)so;
  argv[argc++] = (char *)src;
  argv[argc] = NULL;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, errf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid;
  int err = posix_spawn(&pid, cc->path, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (err) {
    setmsg(msg, cap, "cannot start the C compiler %s: %s (install the Debian package gcc, or "
           "set CIS_CC)", cc->path, strerror(err));
    return CIS_EUNSUPPORTED;
  }
  int status = 0;
  uint64_t t0 = now_ms();
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) {
      setmsg(msg, cap, "waiting for the C compiler: %s", strerror(errno));
      return CIS_EIO;
    }
    if (now_ms() - t0 > CC_TIMEOUT_MS) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      setmsg(msg, cap, "the C compiler ran longer than %u s and was stopped",
             CC_TIMEOUT_MS / 1000u);
      return CIS_EIO;
    }
    sleep_ms(2);
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return CIS_OK;
  char out[200] = "";
  FILE *f = fopen(errf, "r");
  if (f) {
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    fclose(f);
    for (char *p = out; *p; p++)
      if (*p == '\n') *p = ' ';
  }
  if (WIFEXITED(status))
    setmsg(msg, cap, "the C compiler %s failed (exit %d): %s", cc->path, WEXITSTATUS(status),
           out[0] ? out : "no output");
  else
    setmsg(msg, cap, "the C compiler %s was killed by signal %d", cc->path,
           WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  return CIS_EIO;
}

/* ---------------------------------------------------------- the cache */

static cis_result mkdirs(const char *dir) {
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s", dir);
  for (char *s = p + 1; *s; s++)
    if (*s == '/') {
      *s = 0;
      if (mkdir(p, 0700) != 0 && errno != EEXIST) return CIS_EIO;
      *s = '/';
    }
  if (mkdir(p, 0700) != 0 && errno != EEXIST) return CIS_EIO;
  return CIS_OK;
}

cis_result cis__aot_cache_dir(char *out, size_t cap) {
  /* CIS_AOT_CACHE names the folder itself: the test suite's compiled pass
   * shares one cache among tests that each make a private CIS_HOME. */
  const char *own = getenv("CIS_AOT_CACHE");
  const char *home = getenv("CIS_HOME");
  int n;
  if (own && *own) n = snprintf(out, cap, "%s", own);
  else if (home && *home) n = snprintf(out, cap, "%s/cache", home);
  else if (getenv("HOME") && *getenv("HOME"))
    n = snprintf(out, cap, "%s/.local/share/cis/cache", getenv("HOME"));
  else return CIS_EINVAL;
  return n > 0 && (size_t)n < cap ? CIS_OK : CIS_ETOOBIG;
}

static void hex(const uint8_t *md, size_t n, char *out) {
  static const char d[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = d[md[i] >> 4];
    out[2 * i + 1] = d[md[i] & 15];
  }
  out[2 * n] = 0;
}

typedef struct key {
  uint8_t mod[32];   /* module SHA-256 */
  uint8_t key[32];   /* the cache key */
  char name[65];     /* key in hex: the entry's file name stem */
} key;

static cis_result make_key(const cis__module *m, const cis__aot_cc *cc, key *k, char *msg,
                           size_t cap) {
  cis_result rc = sha256(m->bytes, m->nbytes, k->mod, msg, cap);
  if (rc != CIS_OK) return rc;
  char modhex[65];
  hex(k->mod, 32, modhex);
  struct utsname u;
  if (uname(&u) != 0) snprintf(u.machine, sizeof u.machine, "unknown");
  /* The prelude pasted into every generated file, so that a change to it
   * can never be served from an entry compiled before: its SHA-256,
   * computed at build time (embed.cmake; hashing its few hundred KB here
   * cost most of a cached start). */
  extern const char cis__aot_prelude_sha256[];
  const char *prehex = cis__aot_prelude_sha256;
  char text[8192];
  int n = snprintf(text, sizeof text,
                   "module %s\ncis %s\ncodegen %d abi %d prelude %s\nlayout %s\ncc %s %s\n"
                   "flags %s\nmachine %s\n",
                   modhex, CIS_VERSION_STRING, CIS__AOT_CODEGEN_VERSION, CIS_AOT_ABI, prehex,
                   cis__aot_layout(), cc->path, cc->ident, cis__aot_cflags(), u.machine);
  if (n < 0 || (size_t)n >= sizeof text) {
    setmsg(msg, cap, "cache key too long");
    return CIS_ETOOBIG;
  }
  rc = sha256(text, (size_t)n, k->key, msg, cap);
  if (rc != CIS_OK) return rc;
  hex(k->key, 32, k->name);
  return CIS_OK;
}

static cis_result read_file(const char *path, uint8_t **out, size_t *len) {
  *out = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? CIS_ENOTFOUND : CIS_EIO;
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size < 0 || (uint64_t)st.st_size > MAX_OBJECT + HDR_SIZE) {
    close(fd);
    return CIS_EIO;
  }
  size_t n = (size_t)st.st_size, got = 0;
  uint8_t *b = malloc(n ? n : 1);
  if (!b) {
    close(fd);
    return CIS_ENOMEM;
  }
  while (got < n) {
    ssize_t r = read(fd, b + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  close(fd);
  *out = b;
  *len = got;
  return CIS_OK;
}

/* Loads a shared object from memory: an anonymous file, then dlopen. */
static cis_result load_object(const uint8_t *so, size_t len, const char *keyhex, void **handle,
                              int *fdp, const cis_aot_object **obj, char *msg, size_t cap) {
  int fd = memfd_create("cis-aot", MFD_CLOEXEC);
  if (fd < 0) {
    setmsg(msg, cap, "memfd_create: %s", strerror(errno));
    return CIS_EIO;
  }
  size_t put = 0;
  while (put < len) {
    ssize_t w = write(fd, so + put, len - put);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      close(fd);
      setmsg(msg, cap, "writing the compiled object to memory: %s", strerror(errno));
      return CIS_EIO;
    }
    put += (size_t)w;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    close(fd);
    const char *e = dlerror();
    setmsg(msg, cap, "cannot load the compiled object: %s", e ? e : "dlopen failed");
    return CIS_EIO;
  }
  const cis_aot_object *o = dlsym(h, CIS_AOT_OBJECT_SYMBOL);
  if (!o || o->abi != CIS_AOT_ABI || !o->key || strcmp(o->key, keyhex) != 0) {
    dlclose(h);
    close(fd);
    setmsg(msg, cap, "the compiled object is not the one asked for (no %s of ABI %d and key %s)",
           CIS_AOT_OBJECT_SYMBOL, CIS_AOT_ABI, keyhex);
    return CIS_EIO;
  }
  *handle = h;
  *fdp = fd;
  *obj = o;
  return CIS_OK;
}

/* Reads and checks entry path of key k; loads it when sound. Returns
 * CIS_ENOTFOUND when absent, CIS_EHASH when present but unsound. */
static cis_result load_entry(const char *path, const key *k, void **handle, int *fd,
                             const cis_aot_object **obj, char *msg, size_t cap) {
  uint8_t *b;
  size_t n;
  cis_result rc = read_file(path, &b, &n);
  if (rc != CIS_OK) return rc;
  uint64_t plen = 0;
  uint8_t md[32];
  if (n >= HDR_SIZE) memcpy(&plen, b + H_LEN, 8);
  if (n < HDR_SIZE || memcmp(b, MAGIC, 8) != 0 || memcmp(b + H_KEY, k->key, 32) != 0 ||
      plen != n - HDR_SIZE) {
    free(b);
    return CIS_EHASH;
  }
  rc = checksum(b + HDR_SIZE, (size_t)plen, md, msg, cap);
  if (rc == CIS_OK && memcmp(md, b + H_SUM, 32) != 0) rc = CIS_EHASH;
  if (rc == CIS_OK)
    rc = load_object(b + HDR_SIZE, (size_t)plen, k->name, handle, fd, obj, msg, cap);
  free(b);
  return rc;
}

/* Writes the entry for object so (len bytes) as path, atomically. */
static cis_result store_entry(const char *path, const key *k, const uint8_t *so, size_t len,
                              char *msg, size_t cap) {
  uint8_t hdr[HDR_SIZE];
  memset(hdr, 0, sizeof hdr);
  memcpy(hdr, MAGIC, 8);
  memcpy(hdr + H_KEY, k->key, 32);
  cis_result rc = checksum(so, len, hdr + H_SUM, msg, cap);
  if (rc != CIS_OK) return rc;
  memcpy(hdr + H_MOD, k->mod, 32);
  uint64_t plen = len;
  memcpy(hdr + H_LEN, &plen, 8);
  snprintf((char *)hdr + H_VER, 16, "%s", CIS_VERSION_STRING);
  static atomic_uint seq;
  char tmp[PATH_MAX + 256];
  snprintf(tmp, sizeof tmp, "%s.%ld.%u.tmp", path, (long)getpid(), atomic_fetch_add(&seq, 1));
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    setmsg(msg, cap, "cannot write the cache entry %s: %s", tmp, strerror(errno));
    return CIS_EIO;
  }
  bool ok = write(fd, hdr, sizeof hdr) == (ssize_t)sizeof hdr;
  for (size_t put = 0; ok && put < len;) {
    ssize_t w = write(fd, so + put, len - put);
    if (w < 0 && errno == EINTR) continue;
    ok = w > 0;
    if (ok) put += (size_t)w;
  }
  ok = ok && fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(tmp, path) != 0) {
    setmsg(msg, cap, "cannot write the cache entry %s: %s", path, strerror(errno));
    unlink(tmp);
    return CIS_EIO;
  }
  return CIS_OK;
}

/* Generates and compiles m in dir, leaving the object in *so. */
static cis_result compile(const cis__module *m, const cis__aot_cc *cc, const char *dir,
                          const char *stem, uint8_t **so, size_t *solen, char *msg,
                          size_t cap) {
  cis__aot_buf src = {0};
  cis_result rc = cis__aot_codegen(m, stem, &src, msg, cap);
  if (rc != CIS_OK) {
    cis__aot_buf_free(&src);
    return rc;
  }
  /* Names no other process or thread uses (pid, sequence number). */
  static atomic_uint seq;
  unsigned n = atomic_fetch_add(&seq, 1);
  char cpath[PATH_MAX + 128], opath[PATH_MAX + 128], epath[PATH_MAX + 128];
  snprintf(cpath, sizeof cpath, "%s/%s.%ld.%u.c", dir, stem, (long)getpid(), n);
  snprintf(opath, sizeof opath, "%s/%s.%ld.%u.so", dir, stem, (long)getpid(), n);
  snprintf(epath, sizeof epath, "%s/%s.%ld.%u.err", dir, stem, (long)getpid(), n);
  FILE *f = fopen(cpath, "w");
  bool ok = f && fwrite(src.p, 1, src.len, f) == src.len;
  if (f) ok = fclose(f) == 0 && ok;
  cis__aot_buf_free(&src);
  if (!ok) {
    setmsg(msg, cap, "cannot write %s: %s", cpath, strerror(errno));
    unlink(cpath);
    return CIS_EIO;
  }
  rc = run_cc(cc, cpath, opath, epath, msg, cap);
  if (rc == CIS_OK) {
    rc = read_file(opath, so, solen);
    if (rc != CIS_OK) setmsg(msg, cap, "cannot read the compiled object %s", opath);
  }
  if (!getenv("CIS_AOT_KEEP_C")) unlink(cpath);
  unlink(opath);
  unlink(epath);
  return rc;
}

/* Takes the exclusive lock on path, waiting at most LOCK_WAIT_MS. Returns
 * the descriptor, or -1 (then the caller goes on without it). */
static int lock_key(const char *path) {
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  uint64_t t0 = now_ms();
  while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if ((errno != EWOULDBLOCK && errno != EINTR) || now_ms() - t0 > LOCK_WAIT_MS) {
      close(fd);
      return -1;
    }
    sleep_ms(5);
  }
  return fd;
}

bool cis__aot_compiler_present(char *msg, size_t cap) {
  cis__aot_cc cc;
  return cis__aot_find_cc(&cc, msg, cap) == CIS_OK;
}

bool cis__aot_cached(const cis__module *m) {
  cis__aot_cc cc;
  key k;
  char dir[PATH_MAX], path[PATH_MAX + 80];
  if (cis__aot_find_cc(&cc, NULL, 0) != CIS_OK || make_key(m, &cc, &k, NULL, 0) != CIS_OK ||
      cis__aot_cache_dir(dir, sizeof dir) != CIS_OK)
    return false;
  snprintf(path, sizeof path, "%s/%s.cso", dir, k.name);
  return access(path, R_OK) == 0;
}

cis_result cis__aot_obtain(const cis__module *m, bool do_compile, void **handle, int *fd,
                           const cis_aot_object **obj, bool *compiled, char *msg, size_t cap) {
  cis__aot_cc cc;
  key k;
  char dir[PATH_MAX], path[PATH_MAX + 80], lpath[PATH_MAX + 80];
  *compiled = false;
  cis_result rc = cis__aot_find_cc(&cc, msg, cap);
  if (rc != CIS_OK) return rc;
  rc = make_key(m, &cc, &k, msg, cap);
  if (rc != CIS_OK) return rc;
  bool cache = cis__aot_cache_dir(dir, sizeof dir) == CIS_OK && mkdirs(dir) == CIS_OK &&
               access(dir, W_OK) == 0;
  if (!cache) {
    /* No usable cache: compile in a private temporary folder. */
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/cis-aot-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) {
      setmsg(msg, cap, "no cache folder and no temporary folder: %s", strerror(errno));
      return CIS_EIO;
    }
  }
  snprintf(path, sizeof path, "%s/%s.cso", dir, k.name);
  snprintf(lpath, sizeof lpath, "%s/%s.lock", dir, k.name);
  if (cache) {
    rc = load_entry(path, &k, handle, fd, obj, msg, cap);
    if (rc == CIS_OK || (rc != CIS_ENOTFOUND && rc != CIS_EHASH)) return rc;
  }
  if (!do_compile) {
    if (!cache) rmdir(dir);
    return CIS_ENOTFOUND;
  }
  int lfd = cache ? lock_key(lpath) : -1;
  if (lfd >= 0) {
    /* Whoever held the lock may have stored it meanwhile. */
    rc = load_entry(path, &k, handle, fd, obj, msg, cap);
    if (rc == CIS_OK || (rc != CIS_ENOTFOUND && rc != CIS_EHASH)) {
      close(lfd);
      return rc;
    }
  }
  uint8_t *so = NULL;
  size_t solen = 0;
  rc = compile(m, &cc, dir, k.name, &so, &solen, msg, cap);
  if (rc == CIS_OK && cache) rc = store_entry(path, &k, so, solen, msg, cap);
  if (lfd >= 0) close(lfd);
  if (!cache) rmdir(dir);
  if (rc == CIS_OK) {
    *compiled = true;
    rc = load_object(so, solen, k.name, handle, fd, obj, msg, cap);
  }
  free(so);
  return rc;
}

/* ------------------------------------------------------ housekeeping */

cis_result cis_cache_dir(char *buf, size_t cap) {
  if (!buf || !cap) return CIS_EINVAL;
  return cis__aot_cache_dir(buf, cap);
}

/* Reads entry file path into *e (checking its object's hash). */
static void read_entry(const char *path, const char *name, cis_cache_entry *e) {
  memset(e, 0, sizeof *e);
  e->path = path;
  snprintf(e->key, sizeof e->key, "%.*s", (int)(strlen(name) - 4), name);
  struct stat st;
  if (stat(path, &st) == 0) {
    e->bytes = (uint64_t)st.st_size;
    e->mtime = (int64_t)st.st_mtim.tv_sec;
  }
  uint8_t *b;
  size_t n;
  if (read_file(path, &b, &n) != CIS_OK) return;
  uint64_t plen = 0;
  if (n >= HDR_SIZE && memcmp(b, MAGIC, 8) == 0) {
    memcpy(&plen, b + H_LEN, 8);
    hex(b + H_MOD, 32, e->module_sha256);
    memcpy(e->cis_version, b + H_VER, 15);
    char keyhex[65];
    hex(b + H_KEY, 32, keyhex);
    uint8_t md[32];
    e->sound = plen == n - HDR_SIZE && strcmp(keyhex, e->key) == 0 &&
               checksum(b + HDR_SIZE, (size_t)plen, md, NULL, 0) == CIS_OK &&
               memcmp(md, b + H_SUM, 32) == 0;
  }
  free(b);
}

/* What a file of the cache folder is. */
enum { FK_OTHER, FK_ENTRY, FK_LOCK, FK_TEMP };

static int file_kind(const char *name) {
  size_t l = strlen(name);
  if (l == 64 + 4 && !strcmp(name + 64, ".cso")) return FK_ENTRY;
  if (l == 64 + 5 && !strcmp(name + 64, ".lock")) return FK_LOCK;
  if (l > 65 && name[64] == '.' &&
      (strstr(name + 64, ".tmp") || strstr(name + 64, ".c") || strstr(name + 64, ".so") ||
       strstr(name + 64, ".err")))
    return FK_TEMP;
  return FK_OTHER;
}

/* Calls fn on each file of the cache folder with its kind. */
static cis_result each_file(bool (*fn)(const char *path, const char *name, int kind, void *u),
                            void *u) {
  char dir[PATH_MAX];
  cis_result rc = cis__aot_cache_dir(dir, sizeof dir);
  if (rc != CIS_OK) return rc;
  DIR *d = opendir(dir);
  if (!d) return errno == ENOENT ? CIS_OK : CIS_EIO;
  for (struct dirent *de; (de = readdir(d));) {
    int kind = file_kind(de->d_name);
    if (kind == FK_OTHER) continue;
    char path[PATH_MAX + 256];
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    if (!fn(path, de->d_name, kind, u)) break;
  }
  closedir(d);
  return CIS_OK;
}

typedef struct visit {
  cis_cache_visit fn;
  void *user;
  uint64_t max_age, now, removed;
  bool failed;
} visit;

static bool list_one(const char *path, const char *name, int kind, void *u) {
  visit *v = u;
  if (kind != FK_ENTRY) return true;
  cis_cache_entry e;
  read_entry(path, name, &e);
  return v->fn(&e, v->user);
}

cis_result cis_cache_list(cis_cache_visit fn, void *user) {
  if (!fn) return CIS_EINVAL;
  visit v = {fn, user, 0, 0, 0, false};
  return each_file(list_one, &v);
}

static void remove_file(visit *v, const char *path, bool entry) {
  if (unlink(path) == 0) v->removed += entry;
  else if (errno != ENOENT) v->failed = true;
}

static bool clear_one(const char *path, const char *name, int kind, void *u) {
  (void)name;
  remove_file(u, path, kind == FK_ENTRY);
  return true;
}

cis_result cis_cache_clear(uint64_t *removed) {
  visit v = {0};
  cis_result rc = each_file(clear_one, &v);
  if (removed) *removed = v.removed;
  return rc != CIS_OK ? rc : v.failed ? CIS_EIO : CIS_OK;
}

static bool prune_one(const char *path, const char *name, int kind, void *u) {
  visit *v = u;
  struct stat st;
  if (stat(path, &st) != 0) return true;
  uint64_t age = v->now > (uint64_t)st.st_mtim.tv_sec ? v->now - (uint64_t)st.st_mtim.tv_sec : 0;
  if (kind == FK_TEMP) {
    if (age > 3600) remove_file(v, path, false);
    return true;
  }
  if (kind != FK_ENTRY) return true;
  cis_cache_entry e;
  read_entry(path, name, &e);
  if (!e.sound || strcmp(e.cis_version, CIS_VERSION_STRING) != 0 ||
      (v->max_age && age > v->max_age)) {
    remove_file(v, path, true);
    char lock[PATH_MAX + 300];
    snprintf(lock, sizeof lock, "%.*s.lock", (int)(strlen(path) - 4), path);
    unlink(lock);
  }
  return true;
}

cis_result cis_cache_prune(uint64_t max_age_s, uint64_t *removed) {
  visit v = {0};
  v.max_age = max_age_s;
  v.now = (uint64_t)time(NULL);
  cis_result rc = each_file(prune_one, &v);
  if (removed) *removed = v.removed;
  return rc != CIS_OK ? rc : v.failed ? CIS_EIO : CIS_OK;
}
