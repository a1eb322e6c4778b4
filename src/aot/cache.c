/*
 * This file implements the compiled tier's compiler driver and on-disk
 * cache: finding the C compiler, the cache key, compiling generated C into
 * a shared object, storing it atomically, and loading it back only after
 * checking it.
 *
 * What an entry is for is its key: the module's bytes, the key text (the
 * cis version, the code generator's version and contract:
 * CIS__AOT_CODEGEN_VERSION, CIS_AOT_ABI, the SHA-256 of the prelude every
 * generated file starts with; the layout of the runtime structs compiled
 * code reads; the compiler asked for, CIS_CC or cc; the flags; and the
 * machine name: the flags select no CPU feature beyond the base ABI, so
 * the architecture is all they depend on), and the compiler that built
 * it: the compiler's line, "cc PATH IDENT", the driver's path and its
 * device, inode, size and mtime, since an upgrade of the compiler
 * replaces the file. The entry stores all three, and a load compares the
 * bytes and the text byte for byte with its own (identity is exact
 * equality, not a hash) and compares the line with that of the compiler
 * it would run now, resolved along PATH as a compile resolves it
 * (cc_line_ok). So an entry is used only while the very compiler that
 * built it is the one a compile would run.
 * The entry's file name, KEY.cso, is only where to look: a hash of the
 * key text and one of the module's bytes (entry_name), which binds no
 * library. Two keys of one name (a collision, contrived or not) cost a
 * compile, never a wrong load.
 *
 * An entry is one file: the shared object, the module's bytes, the key
 * text, the compiler's line, then a trailer (magic, the name, the object's BLAKE2b-256 and
 * CRC32C, the module's SHA-256 for `cis cache list`, the lengths), so
 * that the file itself is what is mapped. Loading opens the entry once
 * (never through a symbolic link, never waiting on a FIFO) and checks
 * through that descriptor that it is a regular file its owner and mode
 * let this user trust (trust, below), the magic, the name and the lengths
 * (a truncated file), the module's bytes and key text (a file of another
 * module swapped in), the compiler's line, and the object's checksum (any
 * other corruption); then cis maps the object from the same descriptor
 * itself (elf.c; never dlopen, which would run the object's constructors):
 * a rename over the path after the check cannot change what is loaded,
 * and no copy is made (a copy in anonymous memory is the fallback where
 * the cache's file system refuses to map code). An entry that fails a
 * check is compiled again and replaced, never run.
 *
 * The load's checksum is the object's CRC32C, computed by the CPU's crc32
 * instruction (SSE4.2, ARMv8 CRC): like a file system's block checksum it
 * guards against accidental corruption, which is what a checksum in the
 * same file can guard against (a writer of the cache could rewrite any
 * hash in it too), and it needs no library: binding libsodium for a
 * BLAKE2b was most of what a cached start cost beyond the interpreter's
 * start. Without the instruction (or in an entry written without it) the
 * load checks the BLAKE2b-256, binding libsodium as before; compiles and
 * `cis cache list` always have both.
 *
 * Writers use a temporary file then rename(2), so a reader sees a whole
 * entry or none, and no entry is ever written in place. Compiling takes
 * an exclusive flock on KEY.lock: a second process (or thread) wanting
 * the same module waits for the first and then finds the entry, rather
 * than compiling it twice. The wait is bounded (LOCK_WAIT_MS, or less: the
 * engine's call deadline for engine aot); past it the waiter compiles on
 * its own, which the rename still makes safe.
 *
 * The compiler runs bounded (run_cc: its address space, CPU time and
 * priority), and a compile those bounds stop is remembered beside the
 * entry (KEY.refused), so that it is not run again at every load. The C
 * of a big module comes in units (codegen.c): each is compiled on its own
 * under its own bounds, then the objects are linked into the one shared
 * object an entry holds (compile_units). The compile says where it is,
 * unit by unit, in its lock file (lock_say), which `cis cache list` and
 * `cis compile` read (cis_cache_compiles).
 *
 * A compile is prepared (key, generated C, the compiler's command) by the
 * process that wants it; what follows, compile_store, allocates nothing,
 * so it also runs in a child forked to outlive its parent
 * (cis__aot_jobs_spawn, used by tiering at exit).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "aot/aot.h"
#include "aot/elf.h"
#include "cis/cis_aot.h"
#include "common/dynlib.h"
#include "common/sha256.h"
#include "runtime/rt_internal.h"

extern char **environ;

/* The trailer of an entry: the object, then these fields at these offsets
 * of its last TRL_SIZE bytes. */
#define MAGIC "CISAOT06" /* 06: the compiler's line; 05: ABI 3 objects, mapped by cis (04: module bytes and key text stored) */
#define T_KEY 8        /* the entry's name, 32 bytes */
#define T_SUM 40       /* BLAKE2b-256 of the object */
#define T_MOD 72       /* SHA-256 of the module (for listings) */
#define T_LEN 104      /* object length, u64 little-endian */
#define T_VER 112      /* cis version that wrote it, NUL-padded, 16 bytes */
#define T_MLEN 128     /* module length, u64 */
#define T_TLEN 136     /* key text length, u32 */
#define T_CRC 140      /* CRC32C of the object, u32, when T_FLAGS has F_CRC */
#define T_FLAGS 144    /* u32 */
#define T_CLEN 148     /* length of the compiler's line after the key text, u32 */
#define F_CRC 1u
#define TRL_SIZE 160
/* The object is followed by zeros up to a multiple of PAD, then the
 * module's bytes: cis maps the object's pages itself (elf.c), and the
 * last page of its code must not hold bytes of the module (a guest's
 * choice) mapped executable. The checksum covers the zeros too. */
#define PAD 4096u
/* Padding after an object of n bytes. */
static uint64_t pad_of(uint64_t n) { return (PAD - n % PAD) % PAD; }
/* The image of an entry's module's memory 0 (images, below), KEY.img
 * beside KEY.cso: the memory's initial contents from a 64 KiB page on,
 * then this trailer: magic, the entry's name, the memory offset and the
 * length of the image (u64 little-endian), zeros. */
#define IMG_MAGIC "CISIMG01"
#define I_KEY 8
#define I_START 40
#define I_LEN 48
#define IMG_TRL 64
/* From this size on, an entry a load keeps mapped (check_load) is
 * checked through that mapping: the module is decoded from the entry's
 * copy of its bytes rather than copied (cis__aot_known_bytes). */
#define KEEP_MAP_MIN (1u << 20)
/* Largest key text. */
#define KEY_TEXT_MAX 8192
/* Largest compiler's line ("cc PATH IDENT\n"): shorter than PAD, so that
 * a load finds where the object ends from the file's size alone (the
 * object's span is a multiple of PAD; check_load). */
#define CC_LINE_MAX (PAD - 1)
/* How long a process waits for another compiling the same module. */
#define LOCK_WAIT_MS (10u * 60u * 1000u)
/* How long one compile may run before it is killed: the longer of ten
 * minutes and twice its CPU budget. */
#define CC_TIMEOUT_MS (10u * 60u * 1000u)
/* The compiler's bounds (docs/aot.md, The compiler's bounds): its
 * address space (RLIMIT_AS: CIS_AOT_CC_MAX_MEMORY, 0 = none), its CPU
 * time (RLIMIT_CPU: CIS_AOT_CC_MAX_CPU seconds, else CC_CPU_BASE_S plus
 * one second per CC_CPU_KB_PER_S KB of module: gcc took about 50 ms of
 * CPU per KB on a 2.2 MB module, so four to five times that), and its
 * priority (CC_NICE more than the process's). */
#define CC_MEMORY_DEFAULT (1ull << 30)
/* What a cache folder's entries and images may hold on disk by default
 * (CIS_AOT_CACHE_MAX): each module a tenant installs, then removes, would
 * otherwise leave its compiled code behind for good. */
#define CACHE_MAX_DEFAULT (4ull << 30)
#define CC_CPU_BASE_S 60u
#define CC_CPU_KB_PER_S 4u
#define CC_NICE 10
/* Largest object accepted from the cache or the compiler. */
#define MAX_OBJECT (1u << 30)

/* The flags: -O2 (docs/aot.md has the measurements), with -O3's limit
 * on the size of a function gcc inlines unasked (30, not 15): the
 * entry and loop checks add to a function's size in gcc's estimate, so
 * that small functions native code would inline (a recursion into
 * itself) were not (bench/NOTES.md, "Small functions inlined"); sums
 * of integers regrouped two wide (tree-reassoc-width=2, where gcc's
 * x86 tuning keeps a chain one add after another): the address
 * arithmetic the translation spells out op by op then has shorter paths
 * to the loads it feeds (strings 1.14x native to 1.04x, the same
 * instructions; bench/NOTES.md, "Integer sums regrouped");
 * -fno-math-errno
 * lets sqrt and rounding inline; -fsignaling-nans and -ffp-contract=off
 * keep float semantics exact (GCC otherwise folds -0 - x into -x and
 * x * 1 into x, which do not quiet a signalling NaN, and may fuse a
 * multiply and an add); -w because generated code has unused labels and
 * variables by design; -fno-tree-loop-distribute-patterns keeps gcc from
 * making a loop (a C library's memset compiled to wasm, or a copy of a
 * loop without checks) a call of memset or memcpy, which the object would
 * import (aot_prelude.h defines its own for the calls gcc makes anyway).
 *
 * The rest makes the object cheap to map at a cached start, where each
 * page fault counts (docs/aot.md, Cached start): -nostartfiles leaves
 * out the C start files (_init, _fini, frame_dummy, __dso_handle and a
 * .bss byte, and the weak symbols dlopen looked up for them: the
 * generated code has no constructors of its own, and its SIMD functions
 * pick their CPU level by the context, not by an ifunc: codegen.c), and
 * -z noseparate-code puts the headers, code and constants
 * in one segment instead of three (2 mappings, not 4). What that gives
 * up, constants and headers mapped executable, adds nothing an attacker
 * could not already reach: the code itself carries the module's
 * constants as immediates. -z norelro: since CIS_AOT_ABI 3 the object
 * holds no pointer to relocate (its describe function computes its
 * function tables into the loader's memory), so the RELRO region would
 * protect only the dynamic table, at the cost of a page of padding that
 * every load reads through its checksum. -e cis_aot_describe makes the
 * describe function the ELF entry point, which is how cis's own loader
 * (elf.c) finds it without a symbol table. */
static const char CFLAGS[] =
    "-O2 --param max-inline-insns-auto=30 --param tree-reassoc-width=2 "
    "-fPIC -shared -fno-math-errno -fsignaling-nans -ffp-contract=off -fno-tree-loop-distribute-patterns "
    "-fno-plt -w "
    "-nostartfiles -Wl,-z,noseparate-code -Wl,-z,norelro -Wl,-e,cis_aot_describe";

/* CIS_AOT_CFLAGS replaces them (for measuring other flags; they are part
 * of the key, so objects built with other flags never mix). */
static const char *cflags_or_default(const char *f) { return f && *f ? f : CFLAGS; }
const char *cis__aot_cflags(void) { return cflags_or_default(getenv("CIS_AOT_CFLAGS")); }

/* The variables a load reads, from one pass over the environment: five
 * getenv calls walked it five times (1.4 K instructions of a cached
 * start). As getenv, the first definition of a name wins. */
typedef struct load_env {
  const char *cc;     /* CIS_CC: the compiler asked for */
  const char *cflags; /* CIS_AOT_CFLAGS */
  const char *cache;  /* CIS_AOT_CACHE */
  const char *home;   /* CIS_HOME */
  const char *uhome;  /* HOME */
  const char *owner;  /* CIS_AOT_CACHE_OWNER: a shared cache's owner, trusted */
} load_env;

static void load_env_read(load_env *e) {
  *e = (load_env){0};
  for (char **p = environ; p && *p; p++) {
    const char *v = *p, **to = NULL;
    size_t n = 0;
    /* The prefixes compared a character at a time, each test stopping at
     * the string's end: most of the environment fails the first. */
    if (v[0] == 'H' && v[1] == 'O' && v[2] == 'M' && v[3] == 'E' && v[4] == '=') {
      to = &e->uhome;
      n = 5;
    } else if (v[0] == 'C' && v[1] == 'I' && v[2] == 'S' && v[3] == '_') {
      if (!strncmp(v + 4, "CC=", 3)) to = &e->cc, n = 7;
      else if (!strncmp(v + 4, "HOME=", 5)) to = &e->home, n = 9;
      else if (!strncmp(v + 4, "AOT_CFLAGS=", 11)) to = &e->cflags, n = 15;
      else if (!strncmp(v + 4, "AOT_CACHE=", 10)) to = &e->cache, n = 14;
      else if (!strncmp(v + 4, "AOT_CACHE_OWNER=", 16)) to = &e->owner, n = 20;
    }
    if (to && !*to) *to = v + n;
  }
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

/* ------------------------------------------------------------- trust */

/* Whoever can write the cache chooses the machine code cis runs. So a
 * cache folder or entry is used only when its owner is this process's
 * effective user, root, or the owner an operator named for a shared cache
 * (CIS_AOT_CACHE_OWNER: a user name or a uid), and when neither its group
 * nor others may write it, as ssh does with its keys and git with
 * safe.directory. Anything else is refused with one line on stderr and
 * treated as absent: a load compiles again, into the folder when it is
 * trusted (the rename replaces the refused entry), else into a private
 * temporary folder. */
typedef struct trust {
  uid_t named;      /* the owner CIS_AOT_CACHE_OWNER names */
  bool has_named;   /* whether it names one */
  uid_t me;         /* the effective user, read once per look-up (trust_read) */
} trust;

/* One line on stderr, unless it is the line written last (a server
 * loading modules from a refused folder says so once, not per load). */
static void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warn(const char *fmt, ...) {
  static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  static char last[512];
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  pthread_mutex_lock(&mu);
  bool again = strcmp(line, last) == 0;
  if (!again) memcpy(last, line, sizeof last);
  pthread_mutex_unlock(&mu);
  if (!again) fprintf(stderr, "cis: warn: compiled tier: %s\n", line);
}

/* The owner CIS_AOT_CACHE_OWNER (value v) names into *t, and the
 * effective user now. A value that names no user trusts no one more, and
 * says so. */
static void trust_read(const char *v, trust *t) {
  t->has_named = false;
  t->me = geteuid();
  if (!v || !*v) return;
  char *end;
  errno = 0;
  unsigned long n = strtoul(v, &end, 10);
  if (*v >= '0' && *v <= '9' && !*end && !errno && n == (unsigned long)(uid_t)n) {
    t->named = (uid_t)n;
    t->has_named = true;
    return;
  }
  struct passwd pw, *r = NULL;
  char buf[2048];
  if (getpwnam_r(v, &pw, buf, sizeof buf, &r) == 0 && r) {
    t->named = r->pw_uid;
    t->has_named = true;
    return;
  }
  warn("CIS_AOT_CACHE_OWNER=%s names no user: only entries of uid %u and root are used", v,
       (unsigned)t->me);
}

static bool trust_same(const trust *a, const trust *b) {
  return a->me == b->me && a->has_named == b->has_named && (!a->has_named || a->named == b->named);
}

/* Whether uid u may own what the cache uses under t. */
static bool owner_trusted(uid_t u, const trust *t) {
  return u == t->me || u == 0 || (t->has_named && u == t->named);
}

/* Whether the owner and mode of st are trusted under t (no warning:
 * a forked child asks too). */
static bool owner_ok(const struct stat *st, const trust *t) {
  return owner_trusted(st->st_uid, t) && !(st->st_mode & (S_IWGRP | S_IWOTH));
}

/* Whether the folder or entry (what) at path, whose status is st, may
 * be used under t; else says why on stderr. */
static bool trusted(const struct stat *st, const trust *t, const char *what, const char *path) {
  if (owner_ok(st, t)) return true;
  if (!owner_trusted(st->st_uid, t)) {
    warn("%s %s is owned by uid %u, not by this user (uid %u), root or CIS_AOT_CACHE_OWNER: "
         "not used", what, path, (unsigned)st->st_uid, (unsigned)t->me);
    return false;
  }
  warn("%s %s is writable by its group or others (mode %04o): not used", what, path,
       (unsigned)(st->st_mode & 07777));
  return false;
}

/* The name of the folder up levels above the cache folder dir, for a
 * warning: its real path less that many components (resolved only when
 * there is something to say). */
static void parent_name(const char *dir, unsigned up, char *out, size_t cap) {
  char real[PATH_MAX];
  if (!realpath(dir, real)) {
    snprintf(out, cap, "%u levels above %s", up, dir);
    return;
  }
  for (unsigned i = 0; i < up; i++) {
    char *slash = strrchr(real, '/');
    if (!slash) break;
    if (slash == real) slash[1] = 0; /* the root folder */
    else *slash = 0;
  }
  snprintf(out, cap, "%s", real);
}

/* Whether every folder above the cache folder open as fd (named dir,
 * status folder) is trusted as the folder is, as ssh's StrictModes asks of the folders
 * above a key: whoever may rename a folder on the way can put another
 * cache in its place. A folder others may write is allowed only with
 * the sticky bit (as /tmp has), where they cannot rename what is not
 * theirs. The walk goes up through "..", from the folder the descriptor
 * holds: the folders judged are the real ones above it (a link on the
 * way was followed by the open), whatever a rename does to the path
 * meanwhile. */
static bool parents_trusted(int fd, const struct stat *folder, const char *dir, const trust *t) {
  struct stat below = *folder, st;
  int cur = fd;
  bool ok = true;
  char name[PATH_MAX];
  for (unsigned up = 1;; up++) {
    int next = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cur != fd) close(cur);
    if (next < 0 || fstat(next, &st) != 0 || !S_ISDIR(st.st_mode)) {
      if (next >= 0) close(next);
      parent_name(dir, up, name, sizeof name);
      warn("cache folder %s: its parent %s cannot be examined: not used", dir, name);
      return false;
    }
    cur = next;
    if (st.st_dev == below.st_dev && st.st_ino == below.st_ino) break; /* "/" done */
    if (!owner_trusted(st.st_uid, t)) {
      parent_name(dir, up, name, sizeof name);
      warn("cache folder %s: its parent %s is owned by uid %u, not by this user (uid %u), root or "
           "CIS_AOT_CACHE_OWNER: not used", dir, name, (unsigned)st.st_uid, (unsigned)t->me);
      ok = false;
      break;
    }
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
      parent_name(dir, up, name, sizeof name);
      warn("cache folder %s: its parent %s is writable by its group or others without the "
           "sticky bit (mode %04o): not used", dir, name, (unsigned)(st.st_mode & 07777));
      ok = false;
      break;
    }
    below = st;
  }
  close(cur);
  return ok;
}

/* The cache folder as checked: the first look-up walks the folder and
 * its parents, keeps the folder open, and the later ones reach entries
 * relative to that descriptor (cache_open), so that a rename of a folder
 * on the way after the walk cannot put another cache in its place. A
 * look-up asks only fstat of the descriptor: the folder's own owner and
 * mode (made writable by its group since, it is refused from then on),
 * and whether it was removed (no links left: the path is walked again,
 * for the folder made there since). Another folder named (CIS_AOT_CACHE,
 * CIS_HOME, HOME), another effective user or CIS_AOT_CACHE_OWNER walks
 * again. The descriptor is closed in a forked child (pthread_atfork),
 * which walks again if it looks, and never passes an exec (O_CLOEXEC). */
static struct {
  pthread_rwlock_t lock;
  char *path;  /* the folder's name as configured, or NULL: none checked */
  int fd;      /* the folder open (O_PATH), or -1 */
  dev_t dev;   /* its identity at the check */
  ino_t ino;
  trust tr;    /* the trust it was checked under */
} held = {.lock = PTHREAD_RWLOCK_INITIALIZER, .fd = -1};

static atomic_uint folder_walks; /* walks made (tests) */
unsigned cis__aot_test_folder_walks(void) { return atomic_load(&folder_walks); }

static void held_drop(void) {
  if (held.fd >= 0) close(held.fd);
  held.fd = -1;
  free(held.path);
  held.path = NULL;
}

void cis__aot_test_forget_folder(void) {
  pthread_rwlock_wrlock(&held.lock);
  held_drop();
  pthread_rwlock_unlock(&held.lock);
}

static void held_forget_in_child(void) {
  /* The child's own copy of the lock and descriptor: no other thread. */
  pthread_rwlock_t fresh = PTHREAD_RWLOCK_INITIALIZER;
  held.lock = fresh;
  if (held.fd >= 0) close(held.fd);
  held.fd = -1; /* path stays (freed by the next walk): a child allocates nothing */
}

static pthread_once_t held_once = PTHREAD_ONCE_INIT;
static void held_hook(void) { pthread_atfork(NULL, NULL, held_forget_in_child); }

/* Whether the folder held is dir under t, there still (linked) and still
 * trusted by its own owner and mode. Under held.lock (read). */
static bool held_fits(const char *dir, const trust *t, bool *refused) {
  *refused = false;
  if (held.fd < 0 || !held.path || strcmp(held.path, dir) || !trust_same(&held.tr, t)) return false;
  struct stat st;
  if (fstat(held.fd, &st) != 0 || st.st_nlink == 0 || st.st_dev != held.dev ||
      st.st_ino != held.ino)
    return false;
  *refused = !trusted(&st, t, "cache folder", dir);
  return true;
}

/* Walks the cache folder dir under t and holds it when trusted (under
 * held.lock, written). Returns whether it may be used: absent (a compile
 * makes it, then asks again) or trusted under trusted folders. *absent
 * says it is absent. */
static bool folder_walk(const char *dir, const trust *t, bool *absent) {
  atomic_fetch_add(&folder_walks, 1);
  held_drop();
  *absent = false;
  int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return *absent = true;
    struct stat st;
    if (errno == ENOTDIR || (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)))
      warn("cache folder %s is not a folder: not used", dir);
    return false;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !trusted(&st, t, "cache folder", dir) ||
      !parents_trusted(fd, &st, dir, t) || !(held.path = strdup(dir))) {
    close(fd);
    return false;
  }
  pthread_once(&held_once, held_hook);
  held.fd = fd;
  held.dev = st.st_dev;
  held.ino = st.st_ino;
  held.tr = *t;
  return true;
}

/* Whether the cache folder dir may be used under t: absent (*absent set;
 * a compile makes it, then asks again) or a trusted folder under trusted
 * ones, then held for the look-ups after. */
static bool dir_trusted(const char *dir, const trust *t, bool *absent) {
  bool refused;
  *absent = false;
  pthread_rwlock_rdlock(&held.lock);
  bool fits = held_fits(dir, t, &refused);
  pthread_rwlock_unlock(&held.lock);
  if (fits) return !refused;
  pthread_rwlock_wrlock(&held.lock);
  bool ok = held_fits(dir, t, &refused) ? !refused : folder_walk(dir, t, absent);
  pthread_rwlock_unlock(&held.lock);
  return ok;
}

/* Whether the path dir names the folder held now (a compile writes
 * through the path: one stat, at a compile only). A folder that is not
 * it (renamed away, another put there) is walked again. */
static bool dir_is_held(const char *dir, const trust *t) {
  struct stat st;
  if (stat(dir, &st) != 0) return false;
  pthread_rwlock_rdlock(&held.lock);
  bool same = held.fd >= 0 && held.path && !strcmp(held.path, dir) && trust_same(&held.tr, t) &&
              st.st_dev == held.dev && st.st_ino == held.ino;
  pthread_rwlock_unlock(&held.lock);
  if (same) return true;
  bool absent;
  pthread_rwlock_wrlock(&held.lock);
  bool ok = folder_walk(dir, t, &absent) && !absent;
  pthread_rwlock_unlock(&held.lock);
  return ok;
}

/* Opens the file path with flags (an entry, image or record): relative
 * to the folder held when path lies in it, so that the file is the one
 * in the folder the walk checked; else by its path. */
static int cache_open(const char *path, int flags) {
  const char *slash = strrchr(path, '/');
  if (slash && slash > path) {
    size_t dlen = (size_t)(slash - path);
    pthread_rwlock_rdlock(&held.lock);
    if (held.fd >= 0 && held.path && strlen(held.path) == dlen && !memcmp(held.path, path, dlen)) {
      int fd = openat(held.fd, slash + 1, flags);
      int e = errno;
      pthread_rwlock_unlock(&held.lock);
      errno = e;
      return fd;
    }
    pthread_rwlock_unlock(&held.lock);
  }
  return open(path, flags);
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

/* Tests: write and check entries as on a CPU without a crc32 instruction. */
static bool no_crc;
void cis__aot_test_no_crc(bool on) { no_crc = on; }

/* CRC32C (Castagnoli) by the CPU's instruction: crc_ok says whether this
 * CPU has one; crc_update continues crc (0 to start) over n bytes. */
#if defined(__x86_64__)
static inline uint64_t rd64(const uint8_t *p) {
  uint64_t w;
  memcpy(&w, p, 8);
  return w;
}
static bool crc_ok(void) { return !no_crc && __builtin_cpu_supports("sse4.2"); }
__attribute__((target("sse4.2"))) static uint32_t crc_update(uint32_t crc, const void *p,
                                                              size_t n) {
  const uint8_t *b = p;
  uint64_t c = ~crc;
  /* 64 bytes a step, each word read where it is (the compiler folds the
   * load into the crc32): a cached start checks a whole object, and a
   * copy of 32 bytes into a buffer each step was as many instructions as
   * the crc32s. */
  for (; n >= 64; b += 64, n -= 64) {
    c = __builtin_ia32_crc32di(c, rd64(b));
    c = __builtin_ia32_crc32di(c, rd64(b + 8));
    c = __builtin_ia32_crc32di(c, rd64(b + 16));
    c = __builtin_ia32_crc32di(c, rd64(b + 24));
    c = __builtin_ia32_crc32di(c, rd64(b + 32));
    c = __builtin_ia32_crc32di(c, rd64(b + 40));
    c = __builtin_ia32_crc32di(c, rd64(b + 48));
    c = __builtin_ia32_crc32di(c, rd64(b + 56));
  }
  for (; n >= 8; b += 8, n -= 8) {
    uint64_t w;
    memcpy(&w, b, 8);
    c = __builtin_ia32_crc32di(c, w);
  }
  uint32_t c32 = (uint32_t)c;
  for (; n; b++, n--) c32 = __builtin_ia32_crc32qi(c32, *b);
  return ~c32;
}
/* Four CRC32C chains over n bytes' 32-byte blocks, chain i over word i
 * of each (independent chains: one crc32's latency per 32 bytes, not per
 * 8), into lane[]; the bytes past the last block are not read. */
__attribute__((target("sse4.2"))) static void crc_lanes(const void *p, size_t n, uint32_t lane[4]) {
  const uint8_t *b = p;
  uint64_t c0 = ~0u, c1 = ~1u, c2 = ~2u, c3 = ~3u;
  for (; n >= 32; b += 32, n -= 32) {
    c0 = __builtin_ia32_crc32di(c0, rd64(b));
    c1 = __builtin_ia32_crc32di(c1, rd64(b + 8));
    c2 = __builtin_ia32_crc32di(c2, rd64(b + 16));
    c3 = __builtin_ia32_crc32di(c3, rd64(b + 24));
  }
  lane[0] = (uint32_t)c0, lane[1] = (uint32_t)c1, lane[2] = (uint32_t)c2, lane[3] = (uint32_t)c3;
}
#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
#include <arm_acle.h>
static bool crc_ok(void) { return !no_crc; }
static uint32_t crc_update(uint32_t crc, const void *p, size_t n) {
  const uint8_t *b = p;
  uint32_t c = ~crc;
  for (; n >= 8; b += 8, n -= 8) {
    uint64_t w;
    memcpy(&w, b, 8);
    c = __crc32cd(c, w);
  }
  for (; n; b++, n--) c = __crc32cb(c, *b);
  return ~c;
}
static void crc_lanes(const void *p, size_t n, uint32_t lane[4]) {
  const uint8_t *b = p;
  uint32_t c[4] = {~0u, ~1u, ~2u, ~3u};
  for (; n >= 32; b += 32, n -= 32)
    for (int i = 0; i < 4; i++) {
      uint64_t w;
      memcpy(&w, b + 8 * i, 8);
      c[i] = __crc32cd(c[i], w);
    }
  memcpy(lane, c, sizeof c);
}
#else
static bool crc_ok(void) { return false; }
static uint32_t crc_update(uint32_t crc, const void *p, size_t n) {
  (void)p, (void)n;
  return crc;
}
static void crc_lanes(const void *p, size_t n, uint32_t lane[4]) {
  (void)p, (void)n;
  memset(lane, 0, 4 * sizeof *lane);
}
#endif

/* The machine the objects are for: the architecture cis was built for,
 * which is the only one the flags depend on (uname's, read at every
 * cached start, could only differ from it under a 32-bit personality,
 * where the objects are unchanged). */
#if defined(__x86_64__)
#define MACHINE "x86_64"
#elif defined(__aarch64__)
#define MACHINE "aarch64"
#elif defined(__i386__)
#define MACHINE "i386"
#else
#define MACHINE "other"
#endif

/* From this length on, word_hash runs four lanes side by side: each step
 * waits for the multiply before it, so one lane hashed Flite's 21.5 MB
 * at a multiply's latency per 8 bytes (a seventh of its cached start).
 * Shorter inputs, and so the names of their entries, hash as before.
 * On a CPU with a crc32 instruction such inputs hash by module_hash. */
#define WIDE_HASH_MIN (1u << 20)

/* A 64-bit hash of n bytes at p, eight bytes a step (a multiply and a
 * shift each; FNV-1a's byte steps were most of a cached start's key). */
static uint64_t word_hash(const void *p, size_t n) {
  const uint8_t *b = p;
  uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w;
  if (n >= WIDE_HASH_MIN) {
    uint64_t l[4] = {h, h ^ 0xcbf29ce484222325ull, h ^ 0x84222325cbf29ce4ull,
                     h ^ 0xc2b2ae3d27d4eb4full};
    for (; n >= 32; b += 32, n -= 32)
      for (int i = 0; i < 4; i++) {
        memcpy(&w, b + 8 * i, 8);
        l[i] = (l[i] ^ w) * 0xff51afd7ed558ccdull;
        l[i] ^= l[i] >> 33;
      }
    for (int i = 0; i < 4; i++) { /* the lanes into h, as words */
      h = (h ^ l[i]) * 0xff51afd7ed558ccdull;
      h ^= h >> 33;
    }
  }
  for (; n >= 8; b += 8, n -= 8) {
    memcpy(&w, b, 8);
    h = (h ^ w) * 0xff51afd7ed558ccdull;
    h ^= h >> 33;
  }
  w = 0;
  if (n) memcpy(&w, b, n);
  h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 33);
}

/* The hash of a module's n bytes for its entry's name: on a CPU with a
 * crc32 instruction, a big module's is four CRC32C chains (crc_lanes)
 * over its blocks and word_hash over the rest, a quarter of word_hash's
 * instructions with no multiply chain (word_hash over Flite's 21.5 MB
 * was half of its cached start's instructions). A cache shared by CPUs
 * with and without the instruction holds two entries for such a module,
 * each CPU's own: a name is where to look, never what is there. */
static uint64_t module_hash(const uint8_t *mod, size_t n) {
  if (n < WIDE_HASH_MIN || !crc_ok()) return word_hash(mod, n);
  uint32_t lane[4];
  crc_lanes(mod, n, lane);
  size_t tail = n % 32;
  uint64_t h = word_hash(mod + (n - tail), tail) ^ n;
  for (int i = 0; i < 4; i++) {
    h = (h ^ lane[i]) * 0xff51afd7ed558ccdull;
    h ^= h >> 33;
  }
  return h;
}

/* The entry's name: a hash of the key text and one of the module's bytes
 * (one pass each), spread over 32 bytes by four lanes that mix those two
 * from distinct seeds (word_hash's steps; byte-wise FNV-1a lanes cost ten
 * times as much). Where to look, not what is there: loads compare text
 * and bytes in full. */
static void name_mix(uint64_t a, uint64_t b, uint8_t out[32]) {
  static const uint64_t seed[4] = {0xcbf29ce484222325ull, 0x84222325cbf29ce4ull,
                                   0x9e3779b97f4a7c15ull, 0xc2b2ae3d27d4eb4full};
  for (int i = 0; i < 4; i++) {
    uint64_t h = (seed[i] ^ a) * 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h = (h ^ b) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    memcpy(out + 8 * i, &h, 8);
  }
}

static void entry_name(const char *text, size_t tlen, const uint8_t *mod, size_t mlen,
                       uint8_t out[32]) {
  name_mix(word_hash(text, tlen), module_hash(mod, mlen), out);
}

/* ---------------------------------------------------------- compiler */

/* The compiler asked for: CIS_CC, else "cc". */
static const char *cc_name(const char *env) { return env && *env ? env : "cc"; }

/* Whether path is a regular file with an execute bit; its status in *st. */
static bool runnable(const char *path, struct stat *st) {
  return stat(path, st) == 0 && S_ISREG(st->st_mode) && (st->st_mode & 0111);
}

/* The identity of the compiler whose status is st, into out (96 bytes):
 * dev:ino:size:mtime.ns, appended (snprintf cost a third of this). */
static void cc_ident(const struct stat *st, char *out) {
  cis__aot_text t = {out, sizeof ((cis__aot_cc *)0)->ident, 0};
  const uint64_t v[] = {(uint64_t)st->st_dev, (uint64_t)st->st_ino, (uint64_t)st->st_size,
                        (uint64_t)st->st_mtim.tv_sec, (uint64_t)st->st_mtim.tv_nsec};
  for (int i = 0; i < 5; i++) {
    if (i) cis__aot_text_put(&t, i == 4 ? "." : ":", 1);
    cis__aot_text_u64(&t, v[i]);
  }
  cis__aot_text_end(&t); /* five numbers of at most 20 digits fit in 96 bytes */
}

/* Finds the compiler named name (CIS_CC's value or NULL) into *cc. */
static cis_result find_cc(const char *name, cis__aot_cc *cc, char *msg, size_t cap) {
  name = cc_name(name);
  cc->path = NULL;
  cc->ident[0] = 0;
  /* Candidates are built in one heap buffer as long as the longest, with
   * memcpy rather than snprintf: this runs at every cached start, whose
   * stack should stay as shallow as the interpreter's (each page more is
   * a page fault; docs/aot.md). */
  size_t nlen = strlen(name);
  const char *path = getenv("PATH");
  if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
  bool slash = strchr(name, '/') != NULL;
  char *cand = malloc((slash ? 0 : strlen(path) + 1) + nlen + 1);
  if (!cand) {
    setmsg(msg, cap, "out of memory looking for the C compiler");
    return CIS_ENOMEM;
  }
  /* A regular file with an execute bit, by stat alone: access(X_OK)
   * besides was one more system call per folder, and a file this process
   * may not run fails the compile with its error anyway. */
  bool found = false;
  struct stat st;
  if (slash) {
    memcpy(cand, name, nlen + 1);
    found = runnable(cand, &st);
  } else {
    /* The folders probed, so that a PATH naming one twice probes it once
     * (lengths first: a compare of every earlier string cost more than
     * the failing stat it saved). */
    const char *probed[32];
    size_t probed_len[32], nprobed = 0;
    while (*path && !found) {
      const char *colon = strchr(path, ':');
      size_t n = colon ? (size_t)(colon - path) : strlen(path);
      bool again = false;
      for (size_t i = 0; i < nprobed && !again; i++)
        again = probed_len[i] == n && !memcmp(probed[i], path, n);
      if (n && !again && nprobed < 32) {
        probed[nprobed] = path;
        probed_len[nprobed++] = n;
      }
      if (n && !again) {
        memcpy(cand, path, n);
        cand[n] = '/';
        memcpy(cand + n + 1, name, nlen + 1);
        found = runnable(cand, &st);
      }
      path += n + (colon ? 1 : 0);
    }
  }
  if (!found) {
    free(cand);
    setmsg(msg, cap,
           "no C compiler \"%s\" found: the compiled engine needs one (install the Debian "
           "package gcc, or set CIS_CC to a compiler)",
           name);
    return CIS_EUNSUPPORTED;
  }
  cc->path = cand;
  cc_ident(&st, cc->ident);
  return CIS_OK;
}

cis_result cis__aot_find_cc(cis__aot_cc *cc, char *msg, size_t cap) {
  return find_cc(getenv("CIS_CC"), cc, msg, cap);
}

void cis__aot_cc_free(cis__aot_cc *cc) {
  free(cc->path);
  cc->path = NULL;
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

/* The cache folder as a prefix and a suffix (NULL when none is named),
 * from the environment e. */
static const char *cache_dir_parts(const load_env *e, const char **suffix) {
  /* CIS_AOT_CACHE names the folder itself: the test suite's compiled pass
   * shares one cache among tests that each make a private CIS_HOME. */
  const char *own = e->cache, *home = e->home, *uhome = e->uhome;
  *suffix = "";
  if (own && *own) return own;
  *suffix = "/cache";
  if (home && *home) return home;
  *suffix = "/.local/share/cis/cache";
  if (uhome && *uhome) return uhome;
  return NULL;
}

cis_result cis__aot_cache_dir(char *out, size_t cap) {
  load_env e;
  load_env_read(&e);
  const char *suffix, *base = cache_dir_parts(&e, &suffix);
  if (!base) return CIS_EINVAL;
  int n = snprintf(out, cap, "%s%s", base, suffix);
  return n > 0 && (size_t)n < cap ? CIS_OK : CIS_ETOOBIG;
}

/* The cache folder followed by room for extra more bytes, on the heap
 * (the cached start keeps PATH_MAX buffers off its stack), or NULL. */
static char *cache_dir_dup(const load_env *e, size_t extra) {
  const char *suffix, *base = cache_dir_parts(e, &suffix);
  if (!base) return NULL;
  size_t b = strlen(base), x = strlen(suffix);
  if (b + x >= PATH_MAX) return NULL;
  char *d = malloc(b + x + extra + 1);
  if (!d) return NULL;
  memcpy(d, base, b);
  memcpy(d + b, suffix, x + 1);
  return d;
}

typedef struct key {
  uint8_t mod[32];            /* module SHA-256: made for a compile only (job_new) */
  uint8_t key[32];            /* the entry's name (entry_name) */
  char name[65];              /* key in hex: the entry's file name stem */
  const uint8_t *bytes;       /* the module's bytes (the module's, or the job's copy) */
  size_t nbytes;              /* their length */
  size_t tlen;                /* length of text */
  char *text;                 /* the key text (owned: key_free), compared in full at load */
  /* The compiler's line an entry stores after the key text, "cc PATH
   * IDENT\n": the compiler this process would run now (CIS_CC or cc
   * resolved through PATH, and its identity), compared in full; NULL when
   * there is none, and then no entry is sound (cc_line_ok). */
  const char *ccline;
  size_t cclen;
  trust tr;                   /* whose folders and entries are used */
  /* Set by a load through a module file's identity record (known_file):
   * the entry is the record's only while the entry file's own identity is
   * this one, and its copy of the module is not compared (bytes is NULL:
   * the record stands for the compare a load made before it). */
  const cis__file_id *entry_id;
} key;

static void key_free(key *k) {
  free(k->text);
  k->text = NULL;
}

/* The key of module m under the environment e: its text, and the name
 * made from the text and the module's bytes. No hash library: a cached
 * start binds none. The text names the compiler asked for (CIS_CC or
 * cc), not the file it resolves to: that file's path and identity are
 * the entry's compiler line, which a load checks with one stat of that
 * path instead of a walk along PATH (cc_line_ok). */
static cis_result make_key(const cis__module *m, const load_env *e, const uint8_t *name, key *k,
                           char *msg, size_t cap) {
  /* The prelude pasted into every generated file, so that a change to it
   * can never be served from an entry compiled before: its SHA-256,
   * computed at build time (embed.cmake; hashing its few hundred KB here
   * cost most of a cached start). */
  extern const char cis__aot_prelude_sha256[];
  const char *prehex = cis__aot_prelude_sha256;
  /* Made on a small buffer then copied to the heap at its size (a cached
   * start keeps its stack shallow), by appending, not snprintf (docs/aot.md). */
  char small[1024];
  k->text = NULL;
  cis__aot_text t = {small, sizeof small, 0};
  for (int pass = 0; pass < 2; pass++) {
    cis__aot_text_str(&t, "module ");
    cis__aot_text_u64(&t, m->nbytes);
    /* The standard it was validated as: a cached start skips validation,
     * so bytes valid under 3.0 must not load as a 2.0 module. */
    cis__aot_text_str(&t, " bytes standard ");
    cis__aot_text_u64(&t, m->standard);
    cis__aot_text_str(&t, "\ncis " CIS_VERSION_STRING "\ncodegen ");
    cis__aot_text_u64(&t, CIS__AOT_CODEGEN_VERSION);
    cis__aot_text_str(&t, " abi ");
    cis__aot_text_u64(&t, CIS_AOT_ABI);
    cis__aot_text_str(&t, " prelude ");
    cis__aot_text_str(&t, prehex);
    cis__aot_text_str(&t, "\nlayout ");
    cis__aot_text_str(&t, cis__aot_layout());
    cis__aot_text_str(&t, "\ncompiler ");
    cis__aot_text_str(&t, cc_name(e->cc));
    cis__aot_text_str(&t, "\nflags ");
    cis__aot_text_str(&t, cflags_or_default(e->cflags));
    cis__aot_text_str(&t, "\nmachine ");
    cis__aot_text_str(&t, MACHINE);
    cis__aot_text_str(&t, "\n");
    if (t.len >= KEY_TEXT_MAX) {
      free(k->text);
      k->text = NULL;
      setmsg(msg, cap, "cache key too long");
      return CIS_ETOOBIG;
    }
    if (pass == 0) {
      k->text = malloc(t.len + 1);
      if (!k->text) {
        setmsg(msg, cap, "out of memory making the cache key");
        return CIS_ENOMEM;
      }
      if (cis__aot_text_end(&t)) {
        memcpy(k->text, small, t.len + 1);
        break;
      }
      t = (cis__aot_text){k->text, t.len + 1, 0}; /* did not fit: again, into the heap */
    } else {
      cis__aot_text_end(&t);
    }
  }
  size_t n = t.len;
  k->tlen = n;
  k->ccline = NULL;
  k->cclen = 0;
  trust_read(e->owner, &k->tr);
  k->bytes = m->bytes;
  k->nbytes = m->nbytes;
  k->entry_id = NULL;
  memset(k->mod, 0, sizeof k->mod);
  if (name) memcpy(k->key, name, 32);
  else entry_name(k->text, k->tlen, k->bytes, k->nbytes, k->key);
  cis__hex(k->key, 32, k->name);
  return CIS_OK;
}

/* Whether the compiler's line of an entry, n bytes at line, is want's:
 * the line of the compiler this process would run now, byte for byte. So
 * an entry is used only while CIS_CC or cc resolves through PATH to the
 * very file that built it, with the same identity (device, inode, size,
 * mtime): a compiler upgraded, removed, or another put earlier on PATH
 * makes every entry of the one before unsound (docs/aot.md, The cache). */
static bool cc_line_ok(const key *want, const char *line, size_t n) {
  return want->ccline && n == want->cclen && memcmp(line, want->ccline, n) == 0;
}

/* -------------------------------------------------- compile and store */

/* A compile of one module, prepared in full by the process that wants it
 * (key, paths, generated C written, the compiler's argv and file
 * actions), so that what remains, compile_store, calls nothing that
 * allocates or takes a lock: it runs as it is in the calling thread
 * (engine aot, cis compile) or in a child forked from a threaded process
 * (engine auto's background compiles, which outlive the process that
 * asked for them: tier.c). */
/* The most words of flags a compile's command line takes. */
enum { AOT_FLAG_WORDS_MAX = 24 };

struct cis__aot_job {
  key k;
  bool cache;                          /* storing into the cache (else a private folder) */
  bool keep_c;                         /* CIS_AOT_KEEP_C: leave the generated C */
  uint64_t wait_ms;                    /* longest wait for the key's lock (0: LOCK_WAIT_MS) */
  char dir[PATH_MAX];
  char stem[128];                      /* "KEY.PID.SEQ": the compile's own files, in dir */
  char opath[PATH_MAX + 128], epath[PATH_MAX + 128];
  char path[PATH_MAX + 80], lpath[PATH_MAX + 80], tpath[PATH_MAX + 160];
  char ipath[PATH_MAX + 80], itpath[PATH_MAX + 160]; /* KEY.img, and its temporary file */
  uint8_t *bytes;                      /* a copy of the module's bytes (k.bytes) */
  char *text;                          /* a copy of the key text (k.text) */
  char cc[4096];                       /* the compiler driver */
  char ccline[CC_LINE_MAX + 1];        /* its line in the entry (k.ccline): "cc PATH IDENT\n" */
  char flags[1024];                    /* its flags, split in place into flagv */
  char *flagv[AOT_FLAG_WORDS_MAX];     /* the flags' words */
  unsigned nflags;                     /* words in flagv */
  char rpath[PATH_MAX + 80];           /* KEY.refused: a compile refused by the bounds */
  uint64_t max_mem;                    /* RLIMIT_AS of the compiler, bytes; 0: none */
  uint64_t max_cpu;                    /* RLIMIT_CPU of the compiler, seconds (the module's) */
  bool cpu_given;                      /* CIS_AOT_CC_MAX_CPU set max_cpu: each unit gets it */
  uint64_t unit_bytes;                 /* wasm code per unit (CIS_AOT_UNIT_SIZE) */
  uint32_t nunits;                     /* units of the generated C (write_c) */
  uint64_t unit_wasm[CIS__AOT_UNITS_MAX]; /* wasm code of each unit (its CPU budget) */
  bool lock_nb;                        /* another compile of the key: give up, not wait */
  bool gen_later;                      /* the C is made by compile_store (gen_c), in the child */
  const cis__module *m;                /* gen_later: the module, borrowed until the spawn */
  unsigned slots;                      /* compiles at once per cache folder (take_slot) */
  time_t since;                        /* when compile_store started (lock_say) */
  bool try_safe;                       /* compiling again with AOT_TRY_SAFE (compile_store) */
  uint64_t cache_max;                  /* bytes of entries and images the folder may hold (0: any) */
};

/* Whether msg, a failed compile's, says the compiler crashed (GCC writes
 * the pass it was in first, then "internal compiler error"). */
static bool compiler_crashed(const char *msg) {
  return strstr(msg, "during GIMPLE pass") || strstr(msg, "during RTL pass") ||
         strstr(msg, "internal compiler error");
}

/* Whether the compiler's end (status, the start of its output) is one
 * its bounds made: the CPU time limit's signals, or an allocation that
 * RLIMIT_AS refused (cc1's "virtual memory exhausted", the driver's
 * report of a program killed). */
static bool bounds_ended(int status, const char *out) {
  if (WIFSIGNALED(status))
    return WTERMSIG(status) == SIGXCPU || WTERMSIG(status) == SIGKILL;
  return strstr(out, "memory exhausted") || strstr(out, "Cannot allocate memory") ||
         strstr(out, "out of memory") || strstr(out, "CPU time limit exceeded") ||
         strstr(out, "Killed signal");
}

/* A run of the compiler (cc_start), polled until it ends (cc_poll). */
typedef struct cc_run {
  pid_t pid;          /* the driver */
  uint32_t unit;      /* the unit it compiles (UINT32_MAX: the one object) */
  uint64_t cpu;       /* its CPU bound, seconds */
  uint64_t t0, limit; /* its start and wall bound, ms */
} cc_run;

static void work_path(const cis__aot_job *j, char *out, size_t n, bool abs, uint32_t unit,
                      const char *suffix);

/* Where the run of unit (UINT32_MAX: the one object) writes its output. */
static void err_path(const cis__aot_job *j, uint32_t unit, char *out, size_t n) {
  if (unit == UINT32_MAX) snprintf(out, n, "%s", j->epath);
  else work_path(j, out, n, true, unit, ".err");
}

/* Starts the job's compiler, its flags then the words tail[0..ntail)
 * (file names relative to the job's folder, its working directory), in
 * a child process under its bounds (RLIMIT_AS, RLIMIT_CPU of cpu seconds,
 * a lower priority; inherited by the programs the driver runs: cc1, as,
 * ld), its input /dev/null, its output into err_path(unit), into *r.
 * fork and exec rather than posix_spawn, which cannot set limits: the
 * child calls only async-signal-safe functions before exec. Errors:
 * CIS_EUNSUPPORTED (it could not be started). */
static cis_result cc_start(cis__aot_job *j, const char *const *tail, size_t ntail, uint64_t cpu,
                           uint32_t unit, cc_run *r, char *msg, size_t cap) {
  char *argv[AOT_FLAG_WORDS_MAX + CIS__AOT_UNITS_MAX + 8];
  size_t argc = 0;
  argv[argc++] = j->cc;
  for (unsigned i = 0; i < j->nflags; i++) argv[argc++] = j->flagv[i];
  for (size_t i = 0; i < ntail && argc + 1 < CIS_ARRAY_LEN(argv); i++) argv[argc++] = (char *)tail[i];
  argv[argc] = NULL;
  char epath[PATH_MAX + 160];
  err_path(j, unit, epath, sizeof epath);
  int ep[2]; /* the child's errno when exec fails */
  if (pipe2(ep, O_CLOEXEC) != 0) {
    setmsg(msg, cap, "cannot start the C compiler %s: %s", j->cc, strerror(errno));
    return CIS_EUNSUPPORTED;
  }
  pid_t pid = fork();
  if (pid == 0) {
    close(ep[0]);
    int in = open("/dev/null", O_RDONLY);
    int out = open(epath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0 ||
        chdir(j->dir) != 0)
      _exit(126);
    if (j->max_mem) {
      struct rlimit rl = {j->max_mem, j->max_mem};
      setrlimit(RLIMIT_AS, &rl);
    }
    struct rlimit c = {cpu, cpu + 5}, none = {0, 0}; /* SIGXCPU, then SIGKILL */
    setrlimit(RLIMIT_CPU, &c);
    setrlimit(RLIMIT_CORE, &none); /* SIGXCPU dumps core: not into the caller's folder */
    errno = 0;
    int now = getpriority(PRIO_PROCESS, 0);
    if (errno == 0) setpriority(PRIO_PROCESS, 0, now + CC_NICE > 19 ? 19 : now + CC_NICE);
    execve(j->cc, argv, environ);
    int e = errno;
    ssize_t w = write(ep[1], &e, sizeof e);
    (void)w;
    _exit(127);
  }
  close(ep[1]);
  if (pid < 0) {
    close(ep[0]);
    setmsg(msg, cap, "cannot start the C compiler %s: %s", j->cc, strerror(errno));
    return CIS_EUNSUPPORTED;
  }
  int err = 0;
  ssize_t got;
  while ((got = read(ep[0], &err, sizeof err)) < 0 && errno == EINTR) {
  }
  close(ep[0]);
  if (got == (ssize_t)sizeof err) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    setmsg(msg, cap, "cannot start the C compiler %s: %s (install the Debian package gcc, or "
           "set CIS_CC)", j->cc, strerror(err));
    return CIS_EUNSUPPORTED;
  }
  r->pid = pid;
  r->unit = unit;
  r->cpu = cpu;
  r->t0 = now_ms();
  r->limit = 2000u * cpu < CC_TIMEOUT_MS ? CC_TIMEOUT_MS : 2000u * cpu;
  return CIS_OK;
}

/* Stops run r (SIGKILL) and reaps it. */
static void cc_stop(cc_run *r) {
  int status;
  kill(r->pid, SIGKILL);
  while (waitpid(r->pid, &status, 0) < 0 && errno == EINTR) {
  }
}

/* Whether run r has ended (stopped when it ran longer than its wall
 * bound), and then how, into *rc: CIS_OK, CIS_ETOOBIG (the bounds
 * stopped it: *bounded is set), CIS_EIO (it failed, was killed or ran
 * too long; the message carries the start of its output). */
static bool cc_poll(const cis__aot_job *j, cc_run *r, bool *bounded, cis_result *rc, char *msg,
                    size_t cap) {
  int status = 0;
  pid_t w = waitpid(r->pid, &status, WNOHANG);
  if (w == 0 || (w < 0 && errno == EINTR)) {
    if (now_ms() - r->t0 <= r->limit) return false;
    cc_stop(r);
    setmsg(msg, cap, "the C compiler ran longer than %llu s and was stopped",
           (unsigned long long)(r->limit / 1000u));
    *rc = CIS_EIO;
    return true;
  }
  if (w < 0) {
    setmsg(msg, cap, "waiting for the C compiler: %s", strerror(errno));
    *rc = CIS_EIO;
    return true;
  }
  *rc = CIS_OK;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
  char out[200] = "", epath[PATH_MAX + 160];
  err_path(j, r->unit, epath, sizeof epath);
  int fd = open(epath, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n = read(fd, out, sizeof out - 1);
    out[n > 0 ? n : 0] = 0;
    close(fd);
    for (char *p = out; *p; p++)
      if (*p == '\n') *p = ' ';
  }
  *rc = CIS_EIO;
  if (bounds_ended(status, out)) {
    *bounded = true;
    setmsg(msg, cap, "the C compiler %s went past its bounds (%llu MiB of memory, %llu s of "
           "CPU): %s", j->cc, (unsigned long long)(j->max_mem >> 20),
           (unsigned long long)r->cpu,
           WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : out[0] ? out : "no output");
    *rc = CIS_ETOOBIG;
  } else if (WIFEXITED(status)) {
    setmsg(msg, cap, "the C compiler %s failed (exit %d): %s", j->cc, WEXITSTATUS(status),
           out[0] ? out : "no output");
  } else {
    setmsg(msg, cap, "the C compiler %s was killed by signal %d", j->cc,
           WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  }
  return true;
}

/* Runs the compiler (cc_start) to its end. Errors: cc_start's and
 * cc_poll's. */
static cis_result run_cc(cis__aot_job *j, const char *const *tail, size_t ntail, uint64_t cpu,
                         bool *bounded, char *msg, size_t cap) {
  *bounded = false;
  cc_run r;
  cis_result rc = cc_start(j, tail, ntail, cpu, UINT32_MAX, &r, msg, cap);
  while (rc == CIS_OK && !cc_poll(j, &r, bounded, &rc, msg, cap)) sleep_ms(2);
  return rc;
}

static bool write_all(int fd, const uint8_t *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= (size_t)w;
  }
  return true;
}

/* What a load's check keeps of the object it read, for cis's own loader
 * (elf.c): the plan made from the object's headers and its dynamic
 * table, both taken from the very bytes the checksum covered. */
typedef struct seen {
  cis__aot_elf_plan plan;  /* segments and entry point */
  cis_result rc;           /* CIS_OK: the object is one cis maps itself; else why not */
  int mappable;            /* its own pages may be mapped (elf.c) */
  uint8_t dyn[512];        /* its dynamic table */
  void *emap;              /* the whole entry mapped read-only by a check asked to keep it, or NULL */
  size_t emap_len;         /* its length */
  size_t emap_mod;         /* where the module's bytes start in it */
  cis__file_id eid;        /* the entry file's identity */
} seen;

/* Drops the mapping of the entry sn holds, if any. */
static void seen_unmap(seen *sn) {
  if (sn->emap) munmap(sn->emap, sn->emap_len);
  sn->emap = NULL;
}

/* One pass of a check over an entry's bytes, as check_read and
 * check_load read them: the object and its padding [0, obj) go into the
 * CRC32C c, the module's bytes and the key text are compared with want's,
 * the compiler's line after them (up to tail) is compared with want's or,
 * for a load's key, copied into line (long when it does not fit), and
 * bytes from tail on (the trailer) are copied into trl; sn (may be NULL)
 * receives what elf.c makes of the object's headers (elf_len bytes of
 * object) and dynamic table as they pass. */
typedef struct check_pass {
  const key *want;
  uint64_t obj, tail, elf_len;
  uint32_t c;
  uint8_t *trl;
  seen *sn;
} check_pass;

/* The n bytes of buf, at offset at of the entry, through pass p: CIS_OK,
 * or CIS_EHASH when the module's bytes or the key text differ. */
static cis_result check_chunk(check_pass *p, const uint8_t *buf, size_t n, uint64_t at) {
  seen *sn = p->sn;
  if (sn && at == 0) {
    uint64_t page = (uint64_t)getauxval(AT_PAGESZ);
    sn->rc = cis__aot_elf_read(buf, n < p->elf_len ? n : (size_t)p->elf_len, p->elf_len, page, p->obj,
                               &sn->plan, &sn->mappable);
    if (sn->rc == CIS_OK && sn->plan.dyn_size > sizeof sn->dyn) sn->rc = CIS_EUNSUPPORTED;
  }
  if (sn && sn->rc == CIS_OK && sn->plan.dyn_size) { /* the part of the dynamic table here */
    uint64_t lo = sn->plan.dyn_off > at ? sn->plan.dyn_off : at;
    uint64_t hi = sn->plan.dyn_off + sn->plan.dyn_size;
    if (hi > at + n) hi = at + n;
    if (lo < hi) memcpy(sn->dyn + (lo - sn->plan.dyn_off), buf + (lo - at), (size_t)(hi - lo));
  }
  const key *want = p->want;
  for (size_t i = 0; i < n;) { /* split at the regions' borders */
    uint64_t pos = at + i;
    size_t run;
    if (pos < p->obj) {
      run = (size_t)(p->obj - pos < n - i ? p->obj - pos : n - i);
      p->c = crc_update(p->c, buf + i, run);
    } else if (pos < p->obj + want->nbytes) {
      uint64_t off = pos - p->obj;
      run = (size_t)(want->nbytes - off < n - i ? want->nbytes - off : n - i);
      if (!want->entry_id && memcmp(buf + i, want->bytes + off, run) != 0) return CIS_EHASH;
    } else if (pos < p->obj + want->nbytes + want->tlen) {
      uint64_t off = pos - p->obj - want->nbytes;
      run = (size_t)(want->tlen - off < n - i ? want->tlen - off : n - i);
      if (memcmp(buf + i, want->text + off, run) != 0) return CIS_EHASH;
    } else if (pos < p->tail) { /* the compiler's line */
      uint64_t off = pos - p->obj - want->nbytes - want->tlen;
      run = (size_t)(p->tail - pos < n - i ? p->tail - pos : n - i);
      if (!want->ccline || off + run > want->cclen ||
          memcmp(buf + i, want->ccline + off, run) != 0)
        return CIS_EHASH;
    } else {
      run = n - i;
      memcpy(p->trl + (pos - p->tail), buf + i, run);
    }
    i += run;
  }
  return CIS_OK;
}

/* After pass p: whether the compiler's line of clen bytes it saw (and
 * compared) is its key's whole line: CIS_OK, or CIS_EHASH. */
static cis_result pass_line(const check_pass *p, uint64_t clen) {
  const key *want = p->want;
  return want->ccline && clen == want->cclen ? CIS_OK : CIS_EHASH;
}

/* The load's check of an entry with a CRC (check_entry): reads the body
 * of fd (object plen bytes and its padding, then the module's bytes,
 * then the key text) through a buffer, the object and padding into their
 * CRC32C against crc, the rest against want's bytes and text; sn (may be
 * NULL) receives what elf.c makes of the object's headers and dynamic
 * table as they pass. Reading, not mapping: each mapping and each of its
 * page faults cost more than copying these few pages (on the development
 * VM, a 4 KB mmap + fault + munmap measured 60 us). Returns CIS_EHASH
 * when they differ, CIS_EIO when unreadable. Allocates nothing. */
static cis_result check_read(int fd, const key *want, uint64_t plen, uint64_t clen, uint32_t crc,
                             seen *sn) {
  uint8_t buf[4096]; /* one page: a deeper stack costs page faults */
  const uint64_t obj = plen + pad_of(plen);
  uint64_t total = obj + want->nbytes + want->tlen + clen, at = 0;
  check_pass p = {.want = want, .obj = obj, .tail = total, .elf_len = plen, .sn = sn}; /* no trailer read */
  if (sn) sn->rc = CIS_EUNSUPPORTED;
  while (at < total) {
    size_t n = total - at < sizeof buf ? (size_t)(total - at) : sizeof buf;
    if (!cis__aot_pread_all(fd, buf, n, at)) return CIS_EIO;
    if (check_chunk(&p, buf, n, at) != CIS_OK) return CIS_EHASH;
    at += n;
  }
  if (p.c != crc) return CIS_EHASH;
  cis_result rc = pass_line(&p, clen);
  if (rc != CIS_OK) return rc;
  if (sn && sn->rc == CIS_OK) sn->rc = cis__aot_elf_dynamic(sn->dyn, (size_t)sn->plan.dyn_size);
  return CIS_OK;
}

/* read() of n bytes into p; false at the end of the file or an error. */
static bool read_all(int fd, uint8_t *p, size_t n) {
  while (n) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= (size_t)r;
  }
  return true;
}

/* The load's check of the entry open as fd (at its start), whose size
 * was read by stat of its path before it was opened: what check_read
 * and check_entry check, in one sequential read with the trailer last,
 * the layout following from the size and want's lengths (the object and
 * its padding, the module's bytes, the key text, the compiler's line, the
 * trailer: the line is shorter than PAD and the object's span a multiple
 * of it, so the size's remainder modulo PAD is the line's length). So a load
 * calls no fstat and no pread: each libc function only a cached start
 * calls costs it a lazy binding, about 700 instructions, and read and
 * stat are bound already (docs/aot.md, Cached start). An entry replaced
 * between the stat and the open has another size than the one read:
 * unsound here (a short read included), and then sound under the
 * compile's lock, which checks by check_entry and compiles nothing.
 * With keep, an entry from KEEP_MAP_MIN bytes on is checked through one
 * mapping of it, not read, and a sound one leaves the mapping in sn
 * (seen_unmap). Returns CIS_OK, CIS_EHASH when unsound, CIS_EUNSUPPORTED
 * when the entry has no CRC (check_entry then checks its BLAKE2b) or a
 * compiler's line too long for pass_line. */
static cis_result check_load(int fd, uint64_t size, const key *want, uint8_t trl[TRL_SIZE],
                             seen *sn, bool keep) {
  uint8_t buf[4096]; /* one page: a deeper stack costs page faults */
  memset(trl, 0, TRL_SIZE);
  sn->rc = CIS_EUNSUPPORTED;
  sn->emap = NULL;
  const uint64_t fixed = (uint64_t)TRL_SIZE + want->nbytes + want->tlen;
  if (size <= fixed) return CIS_EHASH;
  const uint64_t clen = (size - fixed) % PAD, obj = size - fixed - clen, tail = size - TRL_SIZE;
  if (!clen || !obj || obj > (uint64_t)MAX_OBJECT + PAD) return CIS_EHASH;
  uint64_t at = 0;
  check_pass p = {.want = want, .obj = obj, .tail = tail, .elf_len = obj, .trl = trl, .sn = sn};
  /* A big entry a load keeps is checked through the mapping it keeps (the
   * module is then decoded from the entry's copy of its bytes: cis__aot_known_bytes). */
  void *map = keep && size >= KEEP_MAP_MIN ? mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0)
                                           : MAP_FAILED;
  if (map != MAP_FAILED) {
    sn->emap = map;
    sn->emap_len = (size_t)size;
    sn->emap_mod = (size_t)obj;
    if (check_chunk(&p, map, (size_t)size, 0) != CIS_OK) {
      seen_unmap(sn);
      return CIS_EHASH;
    }
    at = size;
  }
  while (at < size) {
    size_t n = size - at < sizeof buf ? (size_t)(size - at) : sizeof buf;
    if (!read_all(fd, buf, n)) return CIS_EHASH;
    if (check_chunk(&p, buf, n, at) != CIS_OK) return CIS_EHASH;
    at += n;
  }
  uint64_t plen, mlen;
  uint32_t tlen, crc, flags, cl;
  memcpy(&plen, trl + T_LEN, 8);
  memcpy(&mlen, trl + T_MLEN, 8);
  memcpy(&tlen, trl + T_TLEN, 4);
  memcpy(&crc, trl + T_CRC, 4);
  memcpy(&flags, trl + T_FLAGS, 4);
  memcpy(&cl, trl + T_CLEN, 4);
  cis_result rc = CIS_OK;
  if (memcmp(trl, MAGIC, 8) != 0 || memcmp(trl + T_KEY, want->key, 32) != 0 || plen == 0 ||
      plen > MAX_OBJECT || plen + pad_of(plen) != obj || mlen != want->nbytes ||
      tlen != want->tlen || cl != clen)
    rc = CIS_EHASH;
  else if (!(flags & F_CRC))
    rc = CIS_EUNSUPPORTED;
  else if (p.c != crc)
    rc = CIS_EHASH;
  else
    rc = pass_line(&p, clen);
  if (rc != CIS_OK) {
    seen_unmap(sn);
    return rc;
  }
  if (sn->rc == CIS_OK) sn->rc = cis__aot_elf_dynamic(sn->dyn, (size_t)sn->plan.dyn_size);
  return CIS_OK;
}

/* What elf.c makes of the object of plen bytes at p (an entry of
 * obj bytes of object and padding), into sn: the plan, and whether its
 * dynamic table asks nothing of a dynamic loader. */
static void see_object(const uint8_t *p, uint64_t plen, uint64_t obj, seen *sn) {
  sn->rc = cis__aot_elf_read(p, (size_t)plen, plen, (uint64_t)getauxval(AT_PAGESZ), obj,
                             &sn->plan, &sn->mappable);
  if (sn->rc == CIS_OK && sn->plan.dyn_size > sizeof sn->dyn) sn->rc = CIS_EUNSUPPORTED;
  if (sn->rc == CIS_OK) {
    memcpy(sn->dyn, p + sn->plan.dyn_off, (size_t)sn->plan.dyn_size); /* inside: elf_read */
    sn->rc = cis__aot_elf_dynamic(sn->dyn, (size_t)sn->plan.dyn_size);
  }
}

/* Checks the entry open as fd: its trailer (magic, lengths against the
 * file's), the object's checksum, and, for a load (want), the name, the
 * module's bytes and the key text against want's; for a listing (want
 * NULL), the name against the stored text and bytes. trl receives the
 * trailer (when the file has one); sn (may be NULL) what check_read
 * (or, on a CPU without the CRC instruction, see_object) keeps for cis's
 * own loader. Returns
 * CIS_EHASH when unsound, CIS_EIO when unreadable. Allocates nothing for
 * a compile's key (a forked child checks with one: compile_store). */
static cis_result check_entry(int fd, const key *want, uint8_t trl[TRL_SIZE], seen *sn, char *msg,
                              size_t cap) {
  memset(trl, 0, TRL_SIZE);
  if (sn) sn->rc = CIS_EUNSUPPORTED;
  struct stat st;
  if (fstat(fd, &st) != 0) return CIS_EIO;
  if (st.st_size <= TRL_SIZE ||
      (uint64_t)st.st_size > 2ull * MAX_OBJECT + PAD + KEY_TEXT_MAX + CC_LINE_MAX + TRL_SIZE)
    return CIS_EHASH;
  size_t body = (size_t)st.st_size - TRL_SIZE;
  if (!cis__aot_pread_all(fd, trl, TRL_SIZE, body)) return CIS_EIO;
  uint64_t plen, mlen;
  uint32_t tlen, crc, flags, clen;
  memcpy(&plen, trl + T_LEN, 8);
  memcpy(&mlen, trl + T_MLEN, 8);
  memcpy(&tlen, trl + T_TLEN, 4);
  memcpy(&crc, trl + T_CRC, 4);
  memcpy(&flags, trl + T_FLAGS, 4);
  memcpy(&clen, trl + T_CLEN, 4);
  if (memcmp(trl, MAGIC, 8) != 0 || plen == 0 || plen > MAX_OBJECT || mlen > MAX_OBJECT ||
      tlen > KEY_TEXT_MAX || !clen || clen > CC_LINE_MAX ||
      plen + pad_of(plen) + mlen + tlen + clen != body)
    return CIS_EHASH;
  if (want && (memcmp(trl + T_KEY, want->key, 32) != 0 || mlen != want->nbytes ||
               tlen != want->tlen))
    return CIS_EHASH;
  if (want && (flags & F_CRC) && crc_ok()) return check_read(fd, want, plen, clen, crc, sn);
  uint8_t *p = mmap(NULL, body, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) return CIS_EIO;
  const uint8_t *mod = p + plen + pad_of(plen), *text = mod + mlen;
  cis_result rc = CIS_OK;
  if (want) {
    if ((mlen && !want->entry_id && memcmp(mod, want->bytes, mlen) != 0) ||
        memcmp(text, want->text, tlen) != 0 ||
        !cc_line_ok(want, (const char *)text + tlen, clen))
      rc = CIS_EHASH;
  } else {
    uint8_t name[32];
    entry_name((const char *)text, tlen, mod, mlen, name);
    if (memcmp(name, trl + T_KEY, 32) != 0) rc = CIS_EHASH;
  }
  if (rc == CIS_OK) {
    uint8_t md[32];
    rc = checksum(p, plen, md, msg, cap);
    if (rc == CIS_OK && memcmp(md, trl + T_SUM, 32) != 0) rc = CIS_EHASH;
  }
  if (rc == CIS_OK && sn) see_object(p, plen, plen + pad_of(plen), sn);
  munmap(p, body);
  return rc;
}

/* Writes n bytes of p at offset at of fd (a file grown past its end
 * reads zeros in between); false on an error. lseek and write, not
 * pwrite: every libc function the library names costs each start of the
 * CLI a symbol lookup by the dynamic loader (about 700 instructions). */
static bool write_at(int fd, const uint8_t *p, size_t n, uint64_t at) {
  return lseek(fd, (off_t)at, SEEK_SET) == (off_t)at && write_all(fd, p, n);
}

/* Writes the image of memory 0 of the job's module beside its entry
 * (j->ipath; images, below), through a temporary file fsynced and
 * renamed, when its segments make one (cis__data_image_plan); else
 * removes an image left there. The zeros between segments are holes of
 * the file. An image that cannot be written is left out: instances then
 * copy the segments. Allocates nothing. */
static void store_image(const cis__aot_job *j) {
  cis__data_image plan;
  if (!j->cache) return; /* a private folder goes with the compile */
  if (!j->m || !cis__data_image_plan(j->m, CIS__DATA_IMAGE_MIN, &plan)) {
    unlink(j->ipath);
    return;
  }
  uint8_t trl[IMG_TRL];
  memset(trl, 0, sizeof trl);
  memcpy(trl, IMG_MAGIC, 8);
  memcpy(trl + I_KEY, j->k.key, 32);
  memcpy(trl + I_START, &plan.start, 8);
  memcpy(trl + I_LEN, &plan.len, 8);
  int fd = open(j->itpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  bool ok = fd >= 0;
  uint32_t off;
  for (uint32_t i = 0; ok && cis__data_image_next(j->m, &i, &off); i++) {
    const cis__data *d = &j->m->datas[i];
    ok = write_at(fd, d->bytes, d->len, off - plan.start);
  }
  ok = ok && write_at(fd, trl, sizeof trl, plan.len) && fsync(fd) == 0; /* the trailer ends the file */
  if (fd >= 0) ok = close(fd) == 0 && ok;
  if (!ok || rename(j->itpath, j->ipath) != 0) {
    unlink(j->itpath);
    unlink(j->ipath); /* one left from before is not this module's */
  }
}

/* Turns the compiled object at j->opath into the entry j->path: the
 * object then its trailer, written to a temporary file, fsynced and
 * renamed. Allocates nothing. The image of memory 0 goes first
 * (store_image), so that a load finding the entry finds its image. */
static cis_result store_entry(cis__aot_job *j, char *msg, size_t cap) {
  store_image(j);
  /* Only a regular file the compiler wrote: a FIFO or link put there is
   * never opened for reading (it could block or lead elsewhere). */
  int in = open(j->opath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  struct stat st;
  if (in < 0 || fstat(in, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
      (uint64_t)st.st_size > MAX_OBJECT) {
    if (in >= 0) close(in);
    setmsg(msg, cap, "cannot read the compiled object %s", j->opath);
    return CIS_EIO;
  }
  size_t len = (size_t)st.st_size;
  void *so = mmap(NULL, len, PROT_READ, MAP_PRIVATE, in, 0);
  close(in);
  if (so == MAP_FAILED) {
    setmsg(msg, cap, "cannot read the compiled object %s: %s", j->opath, strerror(errno));
    return CIS_EIO;
  }
  uint8_t trl[TRL_SIZE];
  memset(trl, 0, sizeof trl);
  memcpy(trl, MAGIC, 8);
  memcpy(trl + T_KEY, j->k.key, 32);
  memcpy(trl + T_MOD, j->k.mod, 32);
  uint64_t plen = len, mlen = j->k.nbytes;
  uint32_t tlen = (uint32_t)j->k.tlen, clen = (uint32_t)j->k.cclen, crc = 0, flags = 0;
  static const uint8_t zeros[PAD];
  uint64_t pad = pad_of(len);
  if (crc_ok()) {
    crc = crc_update(crc_update(0, so, len), zeros, (size_t)pad);
    flags |= F_CRC;
  }
  memcpy(trl + T_LEN, &plen, 8);
  memcpy(trl + T_MLEN, &mlen, 8);
  memcpy(trl + T_TLEN, &tlen, 4);
  memcpy(trl + T_CRC, &crc, 4);
  memcpy(trl + T_FLAGS, &flags, 4);
  memcpy(trl + T_CLEN, &clen, 4);
  memcpy(trl + T_VER, CIS_VERSION_STRING, strnlen(CIS_VERSION_STRING, 15));
  cis_result rc = checksum(so, len, trl + T_SUM, msg, cap);
  int fd = rc == CIS_OK ? open(j->tpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
  if (rc == CIS_OK) {
    bool ok = fd >= 0 && write_all(fd, so, len) && write_all(fd, zeros, (size_t)pad) &&
              write_all(fd, j->k.bytes, mlen) &&
              write_all(fd, (const uint8_t *)j->k.text, tlen) &&
              write_all(fd, (const uint8_t *)j->k.ccline, clen) &&
              write_all(fd, trl, sizeof trl) && fsync(fd) == 0;
    if (fd >= 0) ok = close(fd) == 0 && ok;
    if (!ok || rename(j->tpath, j->path) != 0) {
      setmsg(msg, cap, "cannot write the cache entry %s: %s", j->path, strerror(errno));
      unlink(j->tpath);
      rc = CIS_EIO;
    }
  }
  munmap(so, len);
  return rc;
}

/* One entry (or an image without its entry) the eviction may remove. */
typedef struct evict_cand {
  char name[72];    /* KEY.cso, or KEY.img */
  int64_t used_ns;  /* the later of its access and its write */
  uint64_t bytes;   /* on disk, its image's included */
} evict_cand;

#define EVICT_BATCH 32u

/* Disk bytes of dir's file name (0 when it is not a regular file). */
static uint64_t disk_bytes_at(int dfd, const char *name) {
  struct stat st;
  if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) return 0;
  return (uint64_t)st.st_blocks * 512u;
}

/* Keeps the cache folder dir within max bytes on disk (entries and their
 * images together) after an entry was stored: removes the least recently
 * used entries with their images, and images left without an entry, but
 * never keep (the entry just stored), until the rest fits. Recent use is
 * the later of a file's access time (a load maps the entry, which the
 * kernel notes per its atime policy: relatime, once a day) and its write.
 * Allocates nothing (it runs in the compile's child): each pass reads the
 * folder with getdents64 into a buffer on the stack and keeps the
 * EVICT_BATCH least recently used; a pass removes those it needs, and a
 * folder further over its bound takes more passes. A pass stats each file
 * once (some milliseconds for thousands of entries, where a compile takes
 * tens at least). */
static void evict_to_fit(const char *dir, uint64_t max, const char *keep) {
  const char *slash = strrchr(keep, '/');
  keep = slash ? slash + 1 : keep;
  for (unsigned pass = 0; pass < 100000u; pass++) {
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (dfd < 0) return;
    evict_cand c[EVICT_BATCH];
    size_t nc = 0;
    uint64_t total = 0;
    _Alignas(8) char buf[16384];
    long n;
    while ((n = syscall(SYS_getdents64, dfd, buf, sizeof buf)) > 0) {
      for (long off = 0; off < n;) {
        struct {
          uint64_t ino;
          int64_t next;
          unsigned short reclen;
          unsigned char type;
          char name[];
        } *d = (void *)(buf + off);
        off += d->reclen;
        size_t len = strnlen(d->name, 80);
        bool entry = len == 68 && !strcmp(d->name + 64, ".cso"), image = len == 68 && !strcmp(d->name + 64, ".img");
        struct stat st;
        if ((!entry && !image) || fstatat(dfd, d->name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
          continue;
        total += (uint64_t)st.st_blocks * 512u;
        char other[72];
        memcpy(other, d->name, 64);
        memcpy(other + 64, entry ? ".img" : ".cso", 5);
        /* An image goes with its entry; one whose entry is gone, alone. */
        if (!strcmp(d->name, keep) || (image && (!strcmp(other, keep) || faccessat(dfd, other, F_OK, AT_SYMLINK_NOFOLLOW) == 0)))
          continue;
        int64_t a = (int64_t)st.st_atim.tv_sec * 1000000000 + st.st_atim.tv_nsec;
        int64_t w = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        evict_cand e = {.used_ns = a > w ? a : w, .bytes = (uint64_t)st.st_blocks * 512u};
        memcpy(e.name, d->name, len + 1);
        if (entry) e.bytes += disk_bytes_at(dfd, other);
        /* Kept sorted, least recently used first. */
        size_t at = nc;
        while (at && c[at - 1].used_ns > e.used_ns) at--;
        if (at == EVICT_BATCH) continue;
        if (nc < EVICT_BATCH) nc++;
        memmove(&c[at + 1], &c[at], (nc - 1 - at) * sizeof c[0]);
        c[at] = e;
      }
    }
    size_t i = 0;
    for (; i < nc && total > max; i++) {
      if (unlinkat(dfd, c[i].name, 0) != 0) continue;
      if (!strcmp(c[i].name + 64, ".cso")) {
        memcpy(c[i].name + 64, ".img", 5);
        unlinkat(dfd, c[i].name, 0);
      }
      total = total > c[i].bytes ? total - c[i].bytes : 0;
    }
    close(dfd);
    if (total <= max || nc == 0 || n < 0) return;
  }
}

/* Takes the exclusive lock on path, waiting at most wait_ms (0:
 * LOCK_WAIT_MS), or not at all when nb (*busy then says another holds
 * it). Returns the descriptor, or -1 (then the caller goes on without
 * it, unless busy). */
static int lock_key(const char *path, uint64_t wait_ms, bool nb, bool *busy) {
  *busy = false;
  if (!wait_ms || wait_ms > LOCK_WAIT_MS) wait_ms = LOCK_WAIT_MS;
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
  if (fd < 0) return -1;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) { /* a FIFO or device planted as the lock */
    close(fd);
    return -1;
  }
  uint64_t t0 = now_ms();
  while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (nb && errno == EWOULDBLOCK) {
      *busy = true;
      close(fd);
      return -1;
    }
    if ((errno != EWOULDBLOCK && errno != EINTR) || now_ms() - t0 > wait_ms) {
      close(fd);
      return -1;
    }
    sleep_ms(5);
  }
  return fd;
}

/* Reads a decimal number of at most max at *p (before end), moving *p
 * past it. */
static bool read_num(const char **p, const char *end, uint64_t max, uint64_t *v) {
  if (*p >= end || **p < '0' || **p > '9') return false;
  uint64_t x = 0;
  for (; *p < end && **p >= '0' && **p <= '9'; ++*p) {
    unsigned d = (unsigned)(**p - '0');
    if (x > (max - d) / 10) return false;
    x = x * 10 + d;
  }
  *v = x;
  return true;
}

/* Reads the text at *p (before end) when it is lit, moving *p past it. */
static bool read_lit(const char **p, const char *end, const char *lit) {
  size_t l = strlen(lit);
  if ((size_t)(end - *p) < l || memcmp(*p, lit, l) != 0) return false;
  *p += l;
  return true;
}

bool cis__aot_refusal_parse(const char *b, size_t n, uint64_t *mem, uint64_t *cpu, char *why,
                            size_t cap) {
  const char *p = b, *end = b + n;
  if (!read_lit(&p, end, "cis-aot-refused ") || !read_num(&p, end, UINT64_MAX, mem) ||
      !read_lit(&p, end, " ") || !read_num(&p, end, UINT64_MAX, cpu) || !read_lit(&p, end, "\n"))
    return false;
  const char *nl = memchr(p, '\n', (size_t)(end - p));
  size_t wl = (size_t)((nl ? nl : end) - p);
  if (memchr(p, 0, wl) || !cap) return false;
  if (wl >= cap) wl = cap - 1;
  memcpy(why, p, wl);
  why[wl] = 0;
  return true;
}

/* Whether the compile of job j was refused by the compiler's bounds
 * before, under bounds no wider than j's (KEY.refused, remember_refusal:
 * a regular file the cache's trust allows), and then why, into msg. An
 * operator who widens a bound gets a new attempt. Allocates nothing. */
static bool refused_before(const cis__aot_job *j, char *msg, size_t cap) {
  int fd = open(j->rpath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return false;
  char b[512];
  struct stat st;
  ssize_t n = -1;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && owner_ok(&st, &j->k.tr))
    n = read(fd, b, sizeof b - 1);
  close(fd);
  if (n <= 0) return false;
  uint64_t mem, cpu;
  char why[256];
  if (!cis__aot_refusal_parse(b, (size_t)n, &mem, &cpu, why, sizeof why)) return false;
  bool wider = (j->max_mem == 0 && mem != 0) || (mem != 0 && j->max_mem > mem) || j->max_cpu > cpu;
  if (wider) return false;
  setmsg(msg, cap, "compile refused before, within the same bounds (CIS_AOT_CC_MAX_MEMORY and "
         "CIS_AOT_CC_MAX_CPU widen them; %s.refused): %s", j->k.name, why);
  return true;
}

/* Remembers in KEY.refused that the compile of job j went past its
 * bounds (why: the message), so that later calls do not compile it again
 * (refused_before). Written as entries are: a temporary file renamed. */
static void remember_refusal(cis__aot_job *j, const char *why) {
  int fd = open(j->tpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return;
  char b[512];
  int n = snprintf(b, sizeof b, "cis-aot-refused %llu %llu\n%s\n", (unsigned long long)j->max_mem,
                   (unsigned long long)j->max_cpu, why);
  bool ok = n > 0 && write_all(fd, (const uint8_t *)b, (size_t)n < sizeof b ? (size_t)n : sizeof b - 1);
  ok = close(fd) == 0 && ok;
  if (!ok || rename(j->tpath, j->rpath) != 0) unlink(j->tpath);
}

/* Says what the compile holding the key's lock fd is doing (phase:
 * queued, generating, compiling, linking; NULL: done) and how far it is
 * (done of total units compiled) in the lock file itself, for `cis cache
 * list` and `cis compile` (cis_cache_compiles): "PHASE PID SINCE DONE
 * TOTAL\n", SINCE the seconds since the epoch the compile started
 * (cis__aot_lock_line reads it). Then tells cis__aot_progress_hook.
 * System calls only. */
static void lock_say(const cis__aot_job *j, int fd, const char *phase, uint32_t done,
                     uint32_t total) {
  if (fd >= 0 && ftruncate(fd, 0) == 0 && phase) {
    char b[128];
    int n = snprintf(b, sizeof b, "%s %ld %lld %u %u\n", phase, (long)getpid(),
                     (long long)j->since, done, total);
    if (n > 0) {
      ssize_t w = pwrite(fd, b, (size_t)n, 0);
      (void)w;
    }
  }
  if (phase) cis__aot_progress_hook(j->k.name, phase, done, total);
}

/* Tests replace it (a strong definition wins over this weak one). */
__attribute__((weak)) void cis__aot_progress_hook(const char *key, const char *phase,
                                                  uint32_t done, uint32_t total) {
  (void)key, (void)phase, (void)done, (void)total;
}

/* The compiles one cache folder runs at once: CIS_AOT_COMPILE_SLOTS (1 to
 * 64), else one on a machine of up to three processors and two on a
 * larger one: a compile of a big module takes a processor and up to the
 * compiler's memory bound, and every process of the host that uses the
 * folder shares them. */
static unsigned compile_slots(void) {
  const char *v = getenv("CIS_AOT_COMPILE_SLOTS");
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  unsigned def = ncpu >= 4 ? 2u : 1u;
  if (!v || !*v) return def;
  char *end;
  errno = 0;
  unsigned long x = strtoul(v, &end, 10);
  if (*v >= '0' && *v <= '9' && !*end && !errno && x >= 1 && x <= 64) return (unsigned)x;
  warn("CIS_AOT_COMPILE_SLOTS=%s is not a number from 1 to 64: %u compile%s at once", v, def,
       def == 1 ? "" : "s");
  return def;
}

/* Takes one of the cache folder's compile slots (compile-slot-N.lock,
 * an exclusive flock each), waiting for one up to LOCK_WAIT_MS: the
 * compile is queued meanwhile. Not j->wait_ms, a call's time: whoever
 * waits for a slot is about to compile, which takes the compiler's time,
 * not a call's, and the compiles ahead are bounded (The compiler's
 * bounds, docs/aot.md). *sfd receives the slot's descriptor (closed to
 * free it).
 * A slot file that cannot be opened as a regular file (a FIFO or link
 * planted there) is no slot. Errors: CIS_ETIMEOUT (all held until the
 * wait's end), CIS_EIO (no slot can be opened). System calls only. */
/* Takes a free compile slot of the job's folder without waiting: its
 * descriptor, or -1 (*usable, may be NULL, gets the slots that could be
 * opened). A slot this process holds is not free. */
static int slot_try(const cis__aot_job *j, unsigned *usable) {
  unsigned n = 0;
  for (unsigned i = 0; i < j->slots; i++) {
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/compile-slot-%u.lock", j->dir, i);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
    struct stat st;
    if (fd < 0) continue;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      close(fd);
      continue;
    }
    n++;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
      if (usable) *usable = n;
      return fd;
    }
    close(fd);
  }
  if (usable) *usable = n;
  return -1;
}

static cis_result take_slot(cis__aot_job *j, int *sfd, char *msg, size_t cap) {
  uint64_t wait = LOCK_WAIT_MS;
  uint64_t t0 = now_ms();
  for (;;) {
    unsigned usable;
    *sfd = slot_try(j, &usable);
    if (*sfd >= 0) return CIS_OK;
    if (!usable) {
      setmsg(msg, cap, "no compile slot can be opened in %s", j->dir);
      return CIS_EIO;
    }
    if (now_ms() - t0 > wait) break;
    sleep_ms(20);
  }
  setmsg(msg, cap, "%u compile%s of other modules ran on this host for all of %llu ms "
         "(CIS_AOT_COMPILE_SLOTS); gave up waiting", j->slots, j->slots == 1 ? "" : "s",
         (unsigned long long)wait);
  return CIS_ETIMEOUT;
}

/* Set in the compile's child (cis__aot_jobs_spawn), never in a caller's
 * process: the child is single-threaded, so a plain static will do. */
static bool in_compile_child;

/* Bounds the next step of the compile's child by wall time (alarm: its
 * default action ends the process, which frees its locks and slot);
 * seconds 0 lifts the bound, for steps bounded by their own loops (the
 * slot's wait, the compiler's run). The child allocates: with glibc's
 * malloc (and allocators with fork handlers) that is safe after a fork
 * of a threaded process, but an allocator whose lock another thread
 * held at the fork leaves the child waiting forever on it, sleeping, so
 * RLIMIT_CPU never fires; without this it would hold the module's lock
 * and a compile slot, stopping every compile on the host. No-op outside
 * the child. */
static void child_step(const char *step, uint64_t seconds) {
  if (!in_compile_child) return;
  alarm(seconds > 86400u ? 86400u : (unsigned)seconds);
  cis__aot_child_step_hook(step);
}

/* Tests replace it (a strong definition wins over this weak one) to
 * stall in a step. */
__attribute__((weak)) void cis__aot_child_step_hook(const char *step) { (void)step; }

/* The wall time the child's own steps may take for a module of n bytes:
 * hashing, reading back and storing (1 s a MiB), or generating its C
 * (4 s a MiB), beyond a base that absorbs a loaded, niced machine. */
#define CHILD_STEP_BASE_S 120u
static uint64_t child_step_s(size_t n, unsigned s_per_mib) {
  return CHILD_STEP_BASE_S + (uint64_t)s_per_mib * (n >> 20);
}

static cis_result write_c(cis__aot_job *j, const cis__module *m, char *msg, size_t cap);
/* Makes the C of job j (gen_later) into its file, and the module's
 * SHA-256 for listings. Run in the compile's child (the module is its
 * copy of the parent's), so that tiering's process pays none of it. */
static cis_result gen_c(cis__aot_job *j, char *msg, size_t cap) {
  cis_result rc = sha256(j->k.bytes, j->k.nbytes, j->k.mod, msg, cap);
  return rc == CIS_OK ? write_c(j, j->m, msg, cap) : rc;
}

/* The path of the job's own file stem + suffix (a unit's when unit is
 * not UINT32_MAX), absolute when abs, else relative to its folder; ""
 * when it does not fit. */
static void work_path(const cis__aot_job *j, char *out, size_t n, bool abs, uint32_t unit,
                      const char *suffix) {
  char u[16] = "";
  if (unit != UINT32_MAX) snprintf(u, sizeof u, ".u%u", unit);
  int r = snprintf(out, n, "%s%s%s%s%s", abs ? j->dir : "", abs ? "/" : "", j->stem, u, suffix);
  if (r < 0 || (size_t)r >= n) out[0] = 0; /* no such file: cannot happen at the sizes used */
}

/* Removes the files of a compile: its C (unless CIS_AOT_KEEP_C), the
 * units' objects, the linked object, the compiler's output. */
static void remove_work(const cis__aot_job *j) {
  char p[PATH_MAX + 160];
  for (uint32_t u = 0; u < j->nunits; u++) {
    bool one = j->nunits == 1;
    work_path(j, p, sizeof p, true, one ? UINT32_MAX : u, ".c");
    if (!j->keep_c) unlink(p);
    work_path(j, p, sizeof p, true, u, ".o");
    if (!one) unlink(p);
    work_path(j, p, sizeof p, true, u, ".err");
    if (!one) unlink(p);
  }
  work_path(j, p, sizeof p, true, UINT32_MAX, ".h");
  if (!j->keep_c) unlink(p);
  unlink(j->opath);
  unlink(j->epath);
}

/* The CPU seconds the compiler may take on unit u (UINT32_MAX: the link):
 * CIS_AOT_CC_MAX_CPU when given, else the base and one second per 4 KB of
 * the unit's wasm code (a module of one unit: the module's bound). */
static uint64_t unit_cpu(const cis__aot_job *j, uint32_t u) {
  if (j->cpu_given || j->nunits <= 1) return j->max_cpu;
  return CC_CPU_BASE_S + (u == UINT32_MAX ? 0 : j->unit_wasm[u] / (CC_CPU_KB_PER_S * 1024u));
}

/* Runs the compiler on the job's C: one unit straight into the object;
 * several each into an object of its own (-c: the flags' -shared and
 * linker options act at the link only), then those linked into the one
 * object the cache stores, each run under its own bounds (unit_cpu). The
 * units run one after the other on the compile's slot, and side by side
 * on as many more of the folder's slots as are free when the units start
 * (slot_try: never waited for, so a compile in units takes no slot
 * another compile waits for). The progress is said in the lock (lfd) as
 * each run starts. Errors: those of the first run that fails (the others
 * are stopped). */
static cis_result compile_units(cis__aot_job *j, int lfd, bool *bounded, char *msg, size_t cap) {
  const uint32_t n = j->nunits;
  char c[160], o[160];
  *bounded = false;
  /* The first word of each compile's tail, when the job compiles again
   * after the compiler crashed (aot_prelude_simd.h, AOT_TV). */
  const size_t skip = !j->try_safe;
  if (n <= 1) {
    lock_say(j, lfd, "compiling", 0, 1);
    work_path(j, c, sizeof c, false, UINT32_MAX, ".c");
    work_path(j, o, sizeof o, false, UINT32_MAX, ".so");
    const char *tail[] = {"-DAOT_TRY_SAFE", "-o", o, c};
    return run_cc(j, tail + skip, 4 - skip, unit_cpu(j, 0), bounded, msg, cap);
  }
  int extra[CIS__AOT_UNITS_MAX];
  unsigned nextra = 0;
  while (j->cache && nextra + 1 < n && nextra + 1 < j->slots &&
         (extra[nextra] = slot_try(j, NULL)) >= 0)
    nextra++;
  cc_run runs[CIS__AOT_UNITS_MAX];
  unsigned nrun = 0;
  uint32_t next = 0, done = 0;
  cis_result rc = CIS_OK;
  while (rc == CIS_OK && done < n) {
    for (; rc == CIS_OK && nrun <= nextra && next < n; next++) {
      lock_say(j, lfd, "compiling", done, n);
      work_path(j, c, sizeof c, false, next, ".c");
      work_path(j, o, sizeof o, false, next, ".o");
      const char *tail[] = {"-DAOT_TRY_SAFE", "-c", "-o", o, c};
      rc = cc_start(j, tail + skip, 5 - skip, unit_cpu(j, next), next, &runs[nrun], msg, cap);
      if (rc == CIS_OK) nrun++;
    }
    for (unsigned i = 0; rc == CIS_OK && i < nrun;) {
      cis_result r1;
      if (!cc_poll(j, &runs[i], bounded, &r1, msg, cap)) {
        i++;
      } else {
        runs[i] = runs[--nrun];
        rc = r1;
        done += rc == CIS_OK;
      }
    }
    if (rc == CIS_OK && done < n) sleep_ms(2);
  }
  for (unsigned i = 0; i < nrun; i++) cc_stop(&runs[i]);
  for (unsigned i = 0; i < nextra; i++) close(extra[i]);
  if (rc != CIS_OK) return rc;
  lock_say(j, lfd, "linking", n, n);
  char objs[CIS__AOT_UNITS_MAX][160];
  const char *tail[CIS__AOT_UNITS_MAX + 2] = {"-o", o};
  work_path(j, o, sizeof o, false, UINT32_MAX, ".so");
  for (uint32_t u = 0; u < n; u++) {
    work_path(j, objs[u], sizeof objs[u], false, u, ".o");
    tail[2 + u] = objs[u];
  }
  return run_cc(j, tail, 2 + n, unit_cpu(j, UINT32_MAX), bounded, msg, cap);
}

/* Compiles job j and stores its entry, under the key's lock: whoever held
 * it may have stored the entry meanwhile, and then nothing is compiled.
 * A job that gives up on a held lock (lock_nb: tiering) returns
 * CIS_ESTATE at once. A compile the bounds refused before is not run
 * again (CIS_ETOOBIG); one they stop now is remembered. A compile into
 * the cache waits for one of the folder's compile slots first
 * (take_slot). A job prepared without its C (gen_later: tiering) makes
 * it here, in the child, under the key's lock and a slot: the one step
 * that allocates (malloc is safe in the child of a threaded process with
 * glibc and musl; no other lock of the parent is taken). In the child,
 * each step that runs cis's own code is bounded in wall time (child_step),
 * so a child stuck on a lock no thread will release still ends. */
static cis_result compile_store(cis__aot_job *j, char *msg, size_t cap) {
  bool busy = false;
  int lfd = j->cache ? lock_key(j->lpath, j->wait_ms, j->lock_nb, &busy) : -1, sfd = -1;
  cis_result rc = CIS_EHASH; /* no sound entry: compile */
  j->since = time(NULL);
  child_step("checking", child_step_s(j->k.nbytes, 1));
  if (busy) {
    setmsg(msg, cap, "another process is compiling this module (its lock %s is held); it runs "
           "on the interpreter meanwhile", j->lpath);
    rc = CIS_ESTATE;
  } else if (lfd >= 0) { /* an entry a load would take, as open_checked opens it, but silent */
    int fd = open(j->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    uint8_t trl[TRL_SIZE];
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && owner_ok(&st, &j->k.tr))
      rc = check_entry(fd, &j->k, trl, NULL, NULL, 0);
    if (fd >= 0) close(fd);
  }
  bool go = rc == CIS_EHASH;
  if (go && j->cache && refused_before(j, msg, cap)) rc = CIS_ETOOBIG, go = false;
  if (go && j->cache) {
    lock_say(j, lfd, "queued", 0, 0);
    child_step("queued", 0);
    rc = take_slot(j, &sfd, msg, cap);
    go = rc == CIS_OK;
  }
  if (go && j->gen_later) {
    lock_say(j, lfd, "generating", 0, 0);
    child_step("generating", child_step_s(j->k.nbytes, 4));
    rc = gen_c(j, msg, cap);
    go = rc == CIS_OK;
  }
  if (go) {
    bool bounded;
    child_step("compiling", 0);
    rc = compile_units(j, lfd, &bounded, msg, cap);
    if (rc == CIS_EIO && compiler_crashed(msg)) {
      /* Once more with the v128 variables of functions with a try in
       * memory (aot_prelude_simd.h, AOT_TV): the crash GCC 12 has there. */
      j->try_safe = true;
      rc = compile_units(j, lfd, &bounded, msg, cap);
    }
    child_step("storing", child_step_s(j->k.nbytes, 1));
    if (rc == CIS_OK) rc = store_entry(j, msg, cap);
    else if (bounded && j->cache) remember_refusal(j, msg);
    if (rc == CIS_OK && j->cache && j->cache_max) evict_to_fit(j->dir, j->cache_max, j->path);
  }
  if (sfd >= 0) close(sfd);
  if (lfd >= 0) {
    lock_say(j, lfd, NULL, 0, 0);
    close(lfd);
  }
  child_step("done", 0);
  remove_work(j);
  return rc;
}

void cis__aot_job_free(cis__aot_job *j) {
  if (!j) return;
  free(j->bytes);
  free(j->text);
  if (!j->cache) {
    remove_work(j);
    unlink(j->path);
    rmdir(j->dir);
  }
  free(j);
}

/* Reads a size, bytes or a number and K, M or G, into *out. */
static bool parse_size(const char *v, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long x = strtoull(v, &end, 10);
  int shift = *end == 'K' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : 0;
  if (shift) end++;
  if (!(*v >= '0' && *v <= '9') || *end || errno || x > (UINT64_MAX >> shift)) return false;
  *out = (uint64_t)x << shift;
  return true;
}

/* The compiler's bounds for a module of n bytes (CC_MEMORY_DEFAULT and
 * the rest, above): CIS_AOT_CC_MAX_MEMORY (bytes, with an optional K, M
 * or G; 0: none) and CIS_AOT_CC_MAX_CPU (seconds, at least 1: *cpu_given)
 * replace them; a value that is not one is said and ignored. */
static void cc_bounds(size_t n, uint64_t *mem, uint64_t *cpu, bool *cpu_given) {
  *mem = CC_MEMORY_DEFAULT;
  *cpu = CC_CPU_BASE_S + n / (CC_CPU_KB_PER_S * 1024u);
  *cpu_given = false;
  const char *v = getenv("CIS_AOT_CC_MAX_MEMORY");
  if (v && *v && !parse_size(v, mem))
    warn("CIS_AOT_CC_MAX_MEMORY=%s is not a size (bytes, or a number and K, M or G): the "
         "compiler gets %llu MiB", v, (unsigned long long)(*mem >> 20));
  v = getenv("CIS_AOT_CC_MAX_CPU");
  if (v && *v) {
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (*v >= '0' && *v <= '9' && !*end && !errno && x >= 1 && x <= 86400u * 7) *cpu = x, *cpu_given = true;
    else warn("CIS_AOT_CC_MAX_CPU=%s is not a number of seconds (1 to 604800): the compiler "
              "gets %llu s", v, (unsigned long long)*cpu);
  }
}

/* The wasm code of a unit of the generated C: CIS_AOT_UNIT_SIZE (bytes,
 * or a number and K, M or G; at least 1), else CIS__AOT_UNIT_BYTES. Not
 * part of the key: the object does the same whatever its number of units
 * (only gcc's inlining differs), so an entry is as good whichever split
 * made it. */
static uint64_t unit_size(void) {
  uint64_t x = CIS__AOT_UNIT_BYTES;
  const char *v = getenv("CIS_AOT_UNIT_SIZE");
  if (v && *v && (!parse_size(v, &x) || x == 0)) {
    x = CIS__AOT_UNIT_BYTES;
    warn("CIS_AOT_UNIT_SIZE=%s is not a size (bytes, or a number and K, M or G): units of %llu "
         "KiB", v, (unsigned long long)(x >> 10));
  }
  return x;
}

/* The most the cache folder's entries and images may hold together:
 * CIS_AOT_CACHE_MAX (bytes, or a number and K, M or G; 0: no bound),
 * else CACHE_MAX_DEFAULT. Read where the compile is prepared: the child
 * that stores the entry reads no environment. */
static uint64_t cache_max(void) {
  uint64_t x = CACHE_MAX_DEFAULT;
  const char *v = getenv("CIS_AOT_CACHE_MAX");
  if (v && *v && !parse_size(v, &x)) {
    x = CACHE_MAX_DEFAULT;
    warn("CIS_AOT_CACHE_MAX=%s is not a size (bytes, or a number and K, M or G): the cache keeps "
         "at most %llu MiB", v, (unsigned long long)(x >> 20));
  }
  return x;
}

/* Writes a file of the job's C: include (may be NULL) as an #include
 * line, then a and b (may be NULL). */
static bool write_c_file(const cis__aot_job *j, uint32_t unit, const char *suffix,
                         const char *include, const cis__aot_buf *a, const cis__aot_buf *b) {
  char p[PATH_MAX + 160], inc[200];
  work_path(j, p, sizeof p, true, unit, suffix);
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int il = include ? snprintf(inc, sizeof inc, "#include \"%s\"\n", include) : 0;
  bool ok = fd >= 0 && il >= 0 && write_all(fd, (const uint8_t *)inc, (size_t)il) &&
            write_all(fd, (const uint8_t *)a->p, a->len) &&
            (!b || write_all(fd, (const uint8_t *)b->p, b->len));
  if (fd >= 0) ok = close(fd) == 0 && ok;
  return ok;
}

/* Generates the C of m, the module of job j, into its files: STEM.c for
 * one unit; else STEM.h, what all units share, and STEM.uK.c, each
 * unit including it. */
static cis_result write_c(cis__aot_job *j, const cis__module *m, char *msg, size_t cap) {
  cis__aot_units u;
  cis_result rc = cis__aot_codegen_units(m, j->k.name, j->unit_bytes, &u, msg, cap);
  if (rc != CIS_OK) return rc;
  j->nunits = u.n;
  memcpy(j->unit_wasm, u.wasm_bytes, u.n * sizeof *u.wasm_bytes);
  bool ok;
  if (u.n == 1) {
    ok = write_c_file(j, UINT32_MAX, ".c", NULL, &u.head, &u.unit[0]);
  } else {
    char h[160];
    work_path(j, h, sizeof h, false, UINT32_MAX, ".h");
    ok = write_c_file(j, UINT32_MAX, ".h", NULL, &u.head, NULL);
    for (uint32_t k = 0; k < u.n && ok; k++) ok = write_c_file(j, k, ".c", h, &u.unit[k], NULL);
  }
  if (!ok) {
    setmsg(msg, cap, "cannot write the generated C in %s: %s", j->dir, strerror(errno));
    remove_work(j);
    rc = CIS_EIO;
  }
  cis__aot_units_free(&u);
  return rc;
}

/* Prepares the compile of m: key, folder (the cache's, else a private
 * temporary one), the generated C written to its file, the compiler's
 * command. With gen_later (tiering) the C is made later, by the child
 * that compiles (gen_c), from m and its bytes, borrowed: they must live
 * until the job is spawned. */
static cis_result job_new(const cis__module *m, bool gen_later, const cis__aot_cc *cc,
                          const key *k, bool cache, const char *dir, cis__aot_job **out,
                          char *msg, size_t cap) {
  *out = NULL;
  cis__aot_job *j = calloc(1, sizeof *j);
  if (!j) return CIS_ENOMEM;
  j->k = *k;
  /* The job owns the bytes it stores (it may outlive the module, in a
   * child), and the module's SHA-256 for listings: a compile binds
   * libsodium anyway, for the BLAKE2b. A job whose child generates
   * borrows them with the module instead (a big module is not copied). */
  j->bytes = gen_later ? NULL : malloc(k->nbytes ? k->nbytes : 1);
  j->text = malloc(k->tlen + 1);
  if ((!gen_later && !j->bytes) || !j->text) {
    free(j->bytes);
    free(j->text);
    free(j);
    return CIS_ENOMEM;
  }
  if (!gen_later) {
    memcpy(j->bytes, k->bytes, k->nbytes);
    j->k.bytes = j->bytes;
  }
  memcpy(j->text, k->text, k->tlen + 1);
  j->k.text = j->text;
  /* The child that generates also hashes (gen_c), with libsodium bound
   * here first: binding a library is no work for the child of a threaded
   * process. */
  cis_result hrc = gen_later ? sod_ready(msg, cap) : sha256(k->bytes, k->nbytes, j->k.mod, msg, cap);
  if (hrc != CIS_OK) {
    free(j->bytes);
    free(j->text);
    free(j);
    return hrc;
  }
  j->cache = cache;
  j->keep_c = getenv("CIS_AOT_KEEP_C") != NULL;
  j->cache_max = cache_max();
  snprintf(j->dir, sizeof j->dir, "%s", dir);
  snprintf(j->cc, sizeof j->cc, "%s", cc->path);
  int cl = snprintf(j->ccline, sizeof j->ccline, "cc %s %s\n", cc->path, cc->ident);
  if (cl < 0 || (size_t)cl >= sizeof j->ccline || strlen(cc->path) >= sizeof j->cc) {
    setmsg(msg, cap, "the C compiler's path is too long (%zu bytes) for the cache", strlen(cc->path));
    cis__aot_job_free(j);
    return CIS_ETOOBIG;
  }
  j->k.ccline = j->ccline;
  j->k.cclen = (size_t)cl;
  /* Names no other process or thread uses (pid, sequence number). */
  static atomic_uint seq;
  unsigned n = atomic_fetch_add(&seq, 1);
  long pid = (long)getpid();
  snprintf(j->stem, sizeof j->stem, "%s.%ld.%u", k->name, pid, n);
  work_path(j, j->opath, sizeof j->opath, true, UINT32_MAX, ".so");
  work_path(j, j->epath, sizeof j->epath, true, UINT32_MAX, ".err");
  snprintf(j->path, sizeof j->path, "%s/%s.cso", dir, k->name);
  snprintf(j->lpath, sizeof j->lpath, "%s/%s.lock", dir, k->name);
  snprintf(j->rpath, sizeof j->rpath, "%s/%s.refused", dir, k->name);
  snprintf(j->tpath, sizeof j->tpath, "%s.%ld.%u.tmp", j->path, pid, n);
  snprintf(j->ipath, sizeof j->ipath, "%s/%s.img", dir, k->name);
  snprintf(j->itpath, sizeof j->itpath, "%s.%ld.%u.tmp", j->ipath, pid, n);
  /* Flags that do not fit the command are refused, never cut: the key
   * names them whole, so a cut command would store an object under flags
   * it was not built with. */
  const char *flags = cis__aot_cflags();
  size_t words = 0;
  for (const char *f = flags; *f;) {
    while (*f == ' ') f++;
    if (!*f) break;
    words++;
    while (*f && *f != ' ') f++;
  }
  if (strlen(flags) >= sizeof j->flags || words > AOT_FLAG_WORDS_MAX) {
    setmsg(msg, cap, "CIS_AOT_CFLAGS: %zu bytes in %zu words; a compile takes at most %zu bytes and %d words",
           strlen(flags), words, sizeof j->flags - 1, AOT_FLAG_WORDS_MAX);
    cis__aot_job_free(j);
    return CIS_ETOOBIG;
  }
  snprintf(j->flags, sizeof j->flags, "%s", flags);
  for (char *save = NULL, *t = strtok_r(j->flags, " ", &save); t; t = strtok_r(NULL, " ", &save))
    j->flagv[j->nflags++] = t;
  cc_bounds(k->nbytes, &j->max_mem, &j->max_cpu, &j->cpu_given);
  j->unit_bytes = unit_size();
  j->slots = compile_slots();
  j->gen_later = gen_later;
  j->m = m;
  cis_result rc = gen_later ? CIS_OK : write_c(j, m, msg, cap);
  if (rc != CIS_OK) {
    cis__aot_job_free(j);
    return rc;
  }
  *out = j;
  return CIS_OK;
}

/* ----------------------------------------------------- loaded objects */

/* The objects this process has loaded, one per key, shared by the modules
 * that use it. Each is mapped by cis (elf.c) from the descriptor it was
 * checked through; none is ever dlopened: the system's loader would run
 * the object's constructors and resolve its relocations and libraries,
 * code and choices of whoever wrote the entry, before cis could look. */
struct cis__aot_loaded {
  struct cis__aot_loaded *next;
  uint8_t key[32];
  unsigned refs;
  uint8_t *map;                /* cis's own mapping of the object, or NULL */
  size_t span;                 /* its length */
  cis_aot_object obj;          /* what the object's describe function said */
  void **tab;                  /* obj.entries then obj.fptrs */
  const uint8_t *bytes;        /* the module's bytes it was checked for: in emap, mod or this block */
  size_t nbytes;               /* their length */
  cis__module *mod;            /* the module loaded for, held (counted), or NULL */
  void *emap;                  /* the whole entry mapped read-only (bytes lie in it), or NULL */
  size_t emap_len;             /* its length */
  cis__file_id eid;            /* the entry file's identity when it was checked */
  char *text;                  /* the key text, after this struct */
  size_t tlen;                 /* its length */
  char *path;                  /* the entry's path, after the text (its image is beside it) */
  trust tr;                    /* whom its folder's files may belong to */
  atomic_int img_state;        /* its image: 0 not looked for yet, 1 in img, -1 none */
  cis__mem_image img;          /* the image, checked, its file open (img_state 1) */
};

static pthread_mutex_t loaded_lock = PTHREAD_MUTEX_INITIALIZER;
static cis__aot_loaded *loaded_head;

const cis_aot_object *cis__aot_loaded_object(const cis__aot_loaded *l) { return &l->obj; }

/* Unloads and frees l, whatever part of a load it went through. */
static void unload(cis__aot_loaded *l) {
  if (l->map) munmap(l->map, l->span);
  if (atomic_load(&l->img_state) > 0) close(l->img.fd);
  free(l->tab);
  cis__module_free(l->mod);
  if (l->emap) munmap(l->emap, l->emap_len);
  free(l); /* text (and a copy of the bytes) lie in the same block */
}

/* Asks the object's describe function (aot_rt.h) for its ABI, key and
 * function tables into l (l->tab on the heap). Errors: CIS_EIO (not the
 * object asked for: another ABI or key), CIS_ENOMEM. */
static cis_result describe(cis_aot_describe_fn fn, cis__aot_loaded *l, const char *keyhex,
                           char *msg, size_t cap) {
  cis_aot_object o = {0};
  uint32_t n = fn(&o, NULL, NULL, 0);
  if (o.abi != CIS_AOT_ABI || !o.key || strcmp(o.key, keyhex) != 0 || n != o.nfuncs) {
    setmsg(msg, cap, "the compiled object is not the one asked for (not of ABI %d and key %s)",
           CIS_AOT_ABI, keyhex);
    return CIS_EIO;
  }
  l->tab = malloc(2 * (size_t)(n ? n : 1) * sizeof *l->tab);
  if (!l->tab) {
    setmsg(msg, cap, "out of memory loading compiled code");
    return CIS_ENOMEM;
  }
  fn(&o, (void (**)(cis_aot_ctx *, uint64_t *))l->tab, l->tab + n, n);
  o.entries = (void (*const *)(cis_aot_ctx *, uint64_t *))l->tab;
  o.fptrs = l->tab + n;
  l->obj = o;
  return CIS_OK;
}

cis__aot_loaded *cis__aot_retain(cis__aot_loaded *l) {
  pthread_mutex_lock(&loaded_lock);
  l->refs++;
  pthread_mutex_unlock(&loaded_lock);
  return l;
}

void cis__aot_release(cis__aot_loaded *l) {
  if (!l) return;
  pthread_mutex_lock(&loaded_lock);
  bool last = --l->refs == 0;
  if (last)
    for (cis__aot_loaded **p = &loaded_head; *p; p = &(*p)->next)
      if (*p == l) {
        *p = l->next;
        break;
      }
  pthread_mutex_unlock(&loaded_lock);
  if (!last) return;
  unload(l);
}

/* Whether loaded object l is the one of key k: the same name, module
 * bytes and key text (names may collide). The bytes of the very module
 * l was loaded for are equal without a look. */
static bool loaded_is(const cis__aot_loaded *l, const key *k) {
  return !memcmp(l->key, k->key, 32) && l->nbytes == k->nbytes && l->tlen == k->tlen &&
         (k->entry_id ? !memcmp(&l->eid, k->entry_id, sizeof l->eid)
                      : l->bytes == k->bytes || !k->nbytes || !memcmp(l->bytes, k->bytes, k->nbytes)) &&
         !memcmp(l->text, k->text, k->tlen);
}

/* The loaded object of key k, counted, or NULL. */
static cis__aot_loaded *loaded_find(const key *k) {
  pthread_mutex_lock(&loaded_lock);
  cis__aot_loaded *l = loaded_head;
  while (l && !loaded_is(l, k)) l = l->next;
  if (l) l->refs++;
  pthread_mutex_unlock(&loaded_lock);
  return l;
}

/* Tests: load every entry through a copy in anonymous memory. */
static bool load_copy;
void cis__aot_test_load_copy(bool on) { load_copy = on; }

/* Maps the checked object of fd itself (elf.c) into l, per the plan its
 * check made: the file's pages where they may be mapped, else (a last
 * page of code that would map the module's bytes executable, a file
 * system that refuses to map code, or the tests' load_copy) a copy in
 * anonymous memory. */
static cis_result map_own(int fd, const seen *sn, cis__aot_loaded *l, const char *keyhex,
                          char *msg, size_t cap) {
  cis_result rc = CIS_EIO;
  if (sn->mappable && !load_copy) rc = cis__aot_elf_map(fd, &sn->plan, &l->map);
  if (rc != CIS_OK) rc = cis__aot_elf_map_copy(fd, &sn->plan, &l->map);
  if (rc != CIS_OK) {
    setmsg(msg, cap, "cannot map the compiled object: %s", strerror(errno));
    return rc;
  }
  l->span = (size_t)sn->plan.span;
  return describe((cis_aot_describe_fn)(uintptr_t)(l->map + sn->plan.entry), l, keyhex, msg, cap);
}

/* Checks the entry open as fd (path names it in warnings) for key k: a
 * regular file that k's trust allows (trusted), then its bytes (trl and
 * sn as check_entry fills them). Returns CIS_EHASH when unsound or
 * refused (the warning says why). */
static cis_result check_fd(int fd, const char *path, const key *k, uint8_t trl[TRL_SIZE], seen *sn,
                           bool keep, char *msg, size_t cap) {
  struct stat st;
  sn->rc = CIS_EUNSUPPORTED;
  sn->emap = NULL;
  if (fstat(fd, &st) != 0) return CIS_EIO;
  cis__file_id_of(&st, &sn->eid);
  /* Another file than the record's (recompiled, replaced): the module's
   * own file is read and compared instead. */
  if (k->entry_id && memcmp(&sn->eid, k->entry_id, sizeof sn->eid) != 0) return CIS_ENOTFOUND;
  if (!S_ISREG(st.st_mode)) {
    warn("cache entry %s is not a regular file: not used", path);
    return CIS_EHASH;
  }
  if (!trusted(&st, &k->tr, "cache entry", path)) return CIS_EHASH;
  cis_result rc = crc_ok() ? check_load(fd, (uint64_t)st.st_size, k, trl, sn, keep) : CIS_EUNSUPPORTED;
  if (rc == CIS_EUNSUPPORTED) rc = check_entry(fd, k, trl, sn, msg, cap);
  return rc;
}

/* Opens the entry at path into *fd and checks it for key k (check_fd).
 * Never a symbolic link, and never waiting: a FIFO or device planted as
 * an entry is opened without blocking (O_NONBLOCK) and refused for not
 * being a regular file. Returns CIS_ENOTFOUND when absent, CIS_EHASH
 * when unsound or refused (*fd is then open all the same, or -1). */
static cis_result open_checked(const char *path, const key *k, int *fd, uint8_t trl[TRL_SIZE],
                               seen *sn, bool keep, char *msg, size_t cap) {
  sn->rc = CIS_EUNSUPPORTED;
  sn->emap = NULL;
  *fd = cache_open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (*fd < 0) {
    if (errno == ENOENT) return CIS_ENOTFOUND;
    if (errno == ELOOP) {
      warn("cache entry %s is a symbolic link: not used", path);
      return CIS_EHASH;
    }
    return CIS_EIO;
  }
  return check_fd(*fd, path, k, trl, sn, keep, msg, cap);
}

/* Loads the entry at path for key k of module m (NULL: for
 * cis__aot_known_bytes, before the module is decoded) when sound: the bytes checked are
 * those of the descriptor the object is mapped from, so a rename over
 * the path after the check cannot change what is loaded (cis never
 * writes an entry in place). Only objects cis maps itself are loaded
 * (elf.c: no library, relocation, constructor or thread-local data); a
 * sound entry holding anything else is refused with a warning and
 * CIS_EUNSUPPORTED (the generator writes no such object: another
 * compiler or CIS_AOT_CFLAGS made it). Returns CIS_ENOTFOUND when
 * absent, CIS_EHASH when unsound. */
static cis_result load_entry(const char *path, const key *k, const cis__module *m,
                             cis__aot_loaded **out, char *msg, size_t cap) {
  if ((*out = loaded_find(k))) return CIS_OK;
  int fd;
  uint8_t trl[TRL_SIZE];
  seen sn;
  cis_result rc = open_checked(path, k, &fd, trl, &sn, !m, msg, cap);
  /* Known by a record, the module's bytes are the entry's copy only:
   * without the check's mapping of the entry there is nothing to hold. */
  if (rc == CIS_OK && k->entry_id && !sn.emap) rc = CIS_ENOTFOUND;
  if (rc == CIS_OK && sn.rc != CIS_OK) {
    warn("cache entry %s holds an object that needs the system's dynamic loader (libraries, "
         "relocations, constructors or thread-local data): not loaded", path);
    setmsg(msg, cap, "the compiled object in %s needs the system's dynamic loader (libraries, "
           "relocations, constructors or thread-local data), and cis loads only objects it maps "
           "itself", path);
    rc = CIS_EUNSUPPORTED;
  }
  /* What the entry was checked to be, for loaded_find: a copy of the key
   * text, and bytes equal to the key's that nothing changes: the module
   * itself held (never changed once decoded; its count is its one field
   * that moves, cis__module_ref), else the entry's own copy of them in the
   * mapping the check kept (check_load), else (an entry checked without a
   * mapping) a copy. A copy of a big module's bytes costs a page fault per
   * 4 KB; a mapping more costs every later look at /proc/self/maps. */
  size_t copy = rc == CIS_OK && !m && !sn.emap ? k->nbytes : 0, plen = strlen(path) + 1;
  cis__aot_loaded *l = rc == CIS_OK ? malloc(sizeof *l + k->tlen + plen + copy) : NULL;
  if (rc == CIS_OK && !l) rc = CIS_ENOMEM;
  if (rc == CIS_OK) { /* one block: the object's state, the key text, the path, a copy of the bytes */
    *l = (cis__aot_loaded){0};
    l->text = (char *)(l + 1);
    memcpy(l->text, k->text, k->tlen);
    l->tlen = k->tlen;
    l->path = l->text + k->tlen;
    memcpy(l->path, path, plen);
    l->tr = k->tr;
    l->nbytes = k->nbytes;
    l->eid = sn.eid;
    if (m) {
      l->mod = cis__module_ref((cis__module *)m);
      l->bytes = m->bytes;
    } else if (sn.emap) {
      l->emap = sn.emap;
      l->emap_len = sn.emap_len;
      sn.emap = NULL;
      l->bytes = (const uint8_t *)l->emap + sn.emap_mod;
    } else {
      if (copy) memcpy(l->path + plen, k->bytes, copy);
      l->bytes = (const uint8_t *)l->path + plen;
    }
    rc = map_own(fd, &sn, l, k->name, msg, cap);
  }
  seen_unmap(&sn);
  if (fd >= 0) close(fd);
  if (rc != CIS_OK) {
    if (l) unload(l);
    return rc;
  }
  memcpy(l->key, k->key, 32);
  l->refs = 1;
  pthread_mutex_lock(&loaded_lock);
  cis__aot_loaded *other = loaded_head;
  while (other && !loaded_is(other, k)) other = other->next;
  if (other) other->refs++; /* another thread loaded it meanwhile: use that one */
  else {
    l->next = loaded_head;
    loaded_head = l;
  }
  pthread_mutex_unlock(&loaded_lock);
  if (other) {
    unload(l);
    l = other;
  }
  *out = l;
  return CIS_OK;
}

/* ------------------------------------------------------------ images */

/* A module whose memory 0 starts with megabytes of data segments
 * (cis__data_image_plan) has them laid out in an image beside its entry,
 * KEY.img (store_image), which each instance maps copy-on-write over the
 * start of its memory instead of copying the segments (runtime.h, ops
 * mem_image; objects.c): a start then faults in only the pages the guest
 * touches. The image is looked for at the first instantiation of a
 * module of the loaded object (a module without such segments never
 * looks), opened as an entry is (never through a link, never waiting on
 * a FIFO, and trusted only as an entry is: trusted), and checked once:
 * its length and trailer, then its every byte against what the module's
 * own segments write (cis__data_image_equal). That is exact, as the
 * comparison of an entry's module bytes is, where a checksum in the same
 * file would only guard against accidents. The object keeps the file
 * open for the later instances. An image that fails a check is not used
 * (a warning says why) and the instances copy the segments; so do
 * entries written before images were. */

/* Whether trl, the trailer of an image of length len, names the entry key
 * and the range of plan. */
static bool image_trailer_ok(const uint8_t trl[IMG_TRL], const uint8_t key[32],
                             const cis__data_image *plan) {
  uint64_t start, len;
  memcpy(&start, trl + I_START, 8);
  memcpy(&len, trl + I_LEN, 8);
  return !memcmp(trl, IMG_MAGIC, 8) && !memcmp(trl + I_KEY, key, 32) && start == plan->start &&
         len == plan->len;
}

/* Checks the image open as fd (path names it in warnings) for module m,
 * of plan plan, beside the entry named key: a regular file that tr lets
 * this user trust, of the plan's length plus a trailer naming the entry
 * and the range, whose bytes are those m's segments write. CIS_OK;
 * CIS_EHASH when it is not (a warning says why); CIS_EIO when it cannot
 * be read. */
static cis_result image_check(int fd, const char *path, const trust *tr, const uint8_t key[32],
                              const cis__module *m, const cis__data_image *plan, bool vouched) {
  struct stat st;
  uint8_t trl[IMG_TRL];
  if (fstat(fd, &st) != 0) return CIS_EIO;
  if (!S_ISREG(st.st_mode)) {
    warn("cache image %s is not a regular file: not used", path);
    return CIS_EHASH;
  }
  if (!trusted(&st, tr, "cache image", path)) return CIS_EHASH;
  if ((uint64_t)st.st_size != plan->len + IMG_TRL ||
      !cis__aot_pread_all(fd, trl, IMG_TRL, plan->len) || !image_trailer_ok(trl, key, plan)) {
    warn("cache image %s is not the image of its entry's module (length or trailer): not used",
         path);
    return CIS_EHASH;
  }
  if (vouched) return CIS_OK; /* compared before: imgok_read */
  void *p = mmap(NULL, (size_t)plan->len, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) return CIS_EIO;
  bool same = cis__data_image_equal(m, plan, p);
  munmap(p, (size_t)plan->len);
  if (!same) {
    warn("cache image %s differs from its module's data segments: not used", path);
    return CIS_EHASH;
  }
  return CIS_OK;
}

/* KEY.imgok beside an image: that the image file of identity `image`
 * holds what the segments of the module in the entry file of identity
 * `entry` write, as image_check compared them in full. The first instance
 * of that entry in a later process then skips the compare while both
 * files are those (cis never writes either in place: a new compile makes
 * new files); the other checks of the image stay. */
#define IMGOK_MAGIC "cisimgk1"
typedef struct imgok_record {
  char magic[8];
  cis__file_id entry, image;
} imgok_record;

/* Whether the record at path vouches for the image open as img beside
 * the entry of identity entry. */
static bool imgok_read(const char *path, const trust *tr, const cis__file_id *entry, int img) {
  struct stat st;
  cis__file_id image;
  if (fstat(img, &st) != 0) return false;
  cis__file_id_of(&st, &image);
  int fd = cache_open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return false;
  imgok_record r;
  bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == (off_t)sizeof r &&
            owner_ok(&st, tr) && read_all(fd, (uint8_t *)&r, sizeof r) &&
            !memcmp(r.magic, IMGOK_MAGIC, 8) && !memcmp(&r.entry, entry, sizeof *entry) &&
            !memcmp(&r.image, &image, sizeof image);
  close(fd);
  return ok;
}

/* Records that the image open as fd was compared in full for the entry
 * of identity entry (written aside, then renamed over). */
static void imgok_write(const char *path, int fd, const cis__file_id *entry) {
  struct stat st;
  if (fstat(fd, &st) != 0) return;
  imgok_record r;
  memset(&r, 0, sizeof r);
  memcpy(r.magic, IMGOK_MAGIC, 8);
  r.entry = *entry;
  cis__file_id_of(&st, &r.image);
  char tmp[PATH_MAX + 200];
  static atomic_uint seq;
  snprintf(tmp, sizeof tmp, "%s.%ld.%u.tmp", path, (long)getpid(), atomic_fetch_add(&seq, 1));
  int out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (out < 0) return; /* a folder this user may not write: compared again next time */
  bool ok = write_all(out, (const uint8_t *)&r, sizeof r);
  ok = close(out) == 0 && ok;
  if (!ok || rename(tmp, path) != 0) unlink(tmp);
}

/* Looks for l's image for module m (one of l's) once: img_state becomes
 * 1 with the image in l->img, or -1. Under a lock, so that two first
 * instances do not both open and check it. */
static void image_look(cis__aot_loaded *l, const cis__module *m) {
  static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  pthread_mutex_lock(&mu);
  if (atomic_load(&l->img_state) == 0) {
    int st = -1;
    cis__data_image plan;
    size_t n = strlen(l->path);
    if (n > 4 && !strcmp(l->path + n - 4, ".cso") && cis__data_image_plan(m, CIS__DATA_IMAGE_MIN, &plan)) {
      char *path = malloc(n + 3), *okpath = malloc(n + 3);
      int fd = -1;
      if (path && okpath) {
        memcpy(path, l->path, n - 4);
        memcpy(path + n - 4, ".img", 5);
        memcpy(okpath, l->path, n - 4);
        memcpy(okpath + n - 4, ".imgok", 7);
        fd = cache_open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0 && errno == ELOOP) warn("cache image %s is a symbolic link: not used", path);
      }
      bool vouched = fd >= 0 && imgok_read(okpath, &l->tr, &l->eid, fd);
      if (fd >= 0 && image_check(fd, path, &l->tr, l->key, m, &plan, vouched) == CIS_OK) {
        l->img = (cis__mem_image){.fd = fd, .start = plan.start, .len = plan.len};
        st = 1;
        if (!vouched) imgok_write(okpath, fd, &l->eid);
      } else if (fd >= 0) {
        close(fd);
      }
      free(path);
      free(okpath);
    }
    atomic_store(&l->img_state, st);
  }
  pthread_mutex_unlock(&mu);
}

const cis__mem_image *cis__aot_image(cis__aot_loaded *l, const cis__module *m) {
  if (atomic_load_explicit(&l->img_state, memory_order_acquire) == 0) image_look(l, m);
  return atomic_load_explicit(&l->img_state, memory_order_acquire) > 0 ? &l->img : NULL;
}

cis_result cis__aot_check_image_fd(int fd, const cis__module *m, const uint8_t key[32]) {
  cis__data_image plan;
  trust tr = {.has_named = false, .me = geteuid()};
  if (!cis__data_image_plan(m, 0, &plan)) return CIS_ENOTFOUND;
  return image_check(fd, "(fuzz)", &tr, key, m, &plan, false);
}

/* ------------------------------------------------------------ obtain */

bool cis__aot_compiler_present(char *msg, size_t cap) {
  cis__aot_cc cc;
  bool ok = cis__aot_find_cc(&cc, msg, cap) == CIS_OK;
  cis__aot_cc_free(&cc);
  return ok;
}

/* Where module m's entry is looked for: its key and entry path, on the
 * heap (where_free frees them). The cached start runs this: it keeps no
 * PATH_MAX buffer on its stack, since each page of stack touched beyond
 * the interpreter's start is one more page fault (docs/aot.md, Cached
 * start). */
typedef struct where {
  key k;            /* the module's key */
  char *path;       /* DIR/NAME.cso, or NULL when no cache folder is named or it is refused */
  size_t dlen;      /* length of DIR in path */
  bool absent;      /* DIR is not there (yet): no entry to look for */
  char *ccline;     /* k.ccline (owned), or NULL */
} where;

static void where_free(where *w) {
  key_free(&w->k);
  free(w->path);
  free(w->ccline);
  w->path = NULL;
  w->ccline = NULL;
}

/* The line of the compiler this process would run now (CIS_CC value cc
 * or cc, through PATH) into *k (the heap text in *line), or none when
 * there is no compiler. Errors: CIS_ENOMEM. */
static cis_result key_cc_line(const char *cc, key *k, char **line) {
  cis__aot_cc c;
  *line = NULL;
  if (find_cc(cc, &c, NULL, 0) != CIS_OK) return CIS_OK; /* none: no entry is sound */
  size_t n = strlen("cc ") + strlen(c.path) + 1 + strlen(c.ident) + 1;
  *line = n <= CC_LINE_MAX ? malloc(n + 1) : NULL;
  if (*line) {
    snprintf(*line, n + 1, "cc %s %s\n", c.path, c.ident);
    k->ccline = *line;
    k->cclen = n;
  }
  bool oom = n <= CC_LINE_MAX && !*line;
  cis__aot_cc_free(&c);
  return oom ? CIS_ENOMEM : CIS_OK;
}

/* Fills *w for m, the entry's name made from m's bytes, or name when not
 * NULL. Errors: those of the key. */
static cis_result locate_named(const cis__module *m, const uint8_t *name, where *w, char *msg,
                               size_t cap) {
  w->k.text = NULL;
  w->path = NULL;
  w->ccline = NULL;
  load_env e;
  load_env_read(&e);
  cis_result rc = make_key(m, &e, name, &w->k, msg, cap);
  if (rc != CIS_OK) return rc;
  rc = key_cc_line(e.cc, &w->k, &w->ccline);
  if (rc != CIS_OK) {
    where_free(w);
    setmsg(msg, cap, "out of memory making the cache key");
    return rc;
  }
  w->path = cache_dir_dup(&e, sizeof w->k.name + 5);
  w->absent = false;
  if (w->path && !dir_trusted(w->path, &w->k.tr, &w->absent)) { /* refused: as if none were named */
    free(w->path);
    w->path = NULL;
  }
  if (w->path) {
    w->dlen = strlen(w->path);
    w->path[w->dlen] = '/';
    memcpy(w->path + w->dlen + 1, w->k.name, 64);
    memcpy(w->path + w->dlen + 65, ".cso", 5);
  }
  return CIS_OK;
}

static cis_result locate(const cis__module *m, where *w, char *msg, size_t cap) {
  return locate_named(m, NULL, w, msg, cap);
}

bool cis__aot_cached(const cis__module *m) {
  where w;
  bool ok = locate(m, &w, NULL, 0) == CIS_OK && w.path && !w.absent;
  if (ok) { /* sound, not only there: an entry of a replaced compiler has this name too */
    int fd;
    uint8_t trl[TRL_SIZE];
    seen sn;
    ok = open_checked(w.path, &w.k, &fd, trl, &sn, false, NULL, 0) == CIS_OK;
    if (fd >= 0) close(fd);
  }
  where_free(&w);
  return ok;
}

/* Whether entries can be written into the cache folder dir (made when
 * missing, then trusted under t, as a load would ask). Only a compile
 * asks: a load needs no write access. */
static bool writable(const char *dir, const trust *t) {
  return mkdirs(dir) == CIS_OK && dir_is_held(dir, t) && access(dir, W_OK) == 0;
}

/* A private temporary folder for a compile without a usable cache. */
static cis_result temp_dir(char *dir, size_t dcap, char *msg, size_t cap) {
  const char *t = getenv("TMPDIR");
  snprintf(dir, dcap, "%s/cis-aot-XXXXXX", t && *t ? t : "/tmp");
  if (mkdtemp(dir)) return CIS_OK;
  setmsg(msg, cap, "no cache folder and no temporary folder: %s", strerror(errno));
  return CIS_EIO;
}

/* The compile of a load with a deadline (a skill's call), into the
 * cache folder dir: run in a child, as tiering's are, which waits as long
 * as it must for another process's compile of the module and for a
 * compile slot, and is bounded as any compile is; this waits for it until
 * the deadline only. Past it the child goes on and stores the entry, for
 * the calls after this one. A compile the bounds refused before is not
 * started again. */
static cis_result compile_until(const cis__module *m, where *w, const char *dir, uint64_t deadline,
                                cis__aot_loaded **out, bool *compiled, char *msg, size_t cap) {
  /* A compile of the module already running (for an earlier call, in this
   * process or another) holds its lock: this call waits for that one, up
   * to its deadline, rather than start one more per call. */
  char lpath[PATH_MAX + 80];
  snprintf(lpath, sizeof lpath, "%s/%s.lock", dir, w->k.name);
  bool busy = false;
  int lfd = lock_key(lpath, 1, true, &busy);
  if (busy) {
    uint64_t left = cis__ms_left(deadline);
    lfd = left ? lock_key(lpath, left, false, &busy) : -1;
    if (lfd < 0) {
      setmsg(msg, cap, "another compile of the module is running (its lock %s is held) and did not "
             "end by the call's deadline", lpath);
      return CIS_ETIMEOUT;
    }
    close(lfd);
    cis_result rc = load_entry(w->path, &w->k, m, out, msg, cap);
    if (rc != CIS_ENOTFOUND && rc != CIS_EHASH) return rc; /* stored (or unsound): else compile */
  } else if (lfd >= 0) {
    close(lfd);
  }
  cis__aot_job *j = NULL;
  cis__aot_cc cc;
  cis_result rc = cis__aot_find_cc(&cc, msg, cap);
  if (rc == CIS_OK) rc = job_new(m, CIS__AOT_CHILD_GENERATES, &cc, &w->k, true, dir, &j, msg, cap);
  cis__aot_cc_free(&cc);
  if (rc == CIS_OK && refused_before(j, msg, cap)) rc = CIS_ETOOBIG;
  int rfd = -1;
  pid_t pid = rc == CIS_OK ? cis__aot_jobs_spawn(&j, 1, &rfd) : -1;
  if (rc == CIS_OK && pid < 0) {
    setmsg(msg, cap, "cannot start a compile process: %s", strerror(errno));
    rc = CIS_EIO;
  }
  cis__aot_job_free(j); /* the child has its own copy */
  if (rc != CIS_OK) return rc;
  int got = cis__aot_jobs_wait(pid, rfd, deadline, NULL, msg, cap);
  if (got == CIS__AOT_LEFT_RUNNING) {
    setmsg(msg, cap, "the module's compile did not end by the call's deadline; it goes on in "
           "process %ld, and later calls run its code", (long)pid);
    return CIS_ETIMEOUT;
  }
  if (got != CIS_OK) return (cis_result)got;
  *compiled = true;
  return load_entry(w->path, &w->k, m, out, msg, cap);
}

/* The compile of cis__aot_obtain, when the cache had no sound entry:
 * kept out of the cached start's frame (its folder buffer). */
static __attribute__((noinline)) cis_result obtain_compile(const cis__module *m, where *w,
                                                           uint64_t wait_ms, uint64_t deadline,
                                                           cis__aot_loaded **out,
                                                           bool *compiled, char *msg,
                                                           size_t cap) {
  char dir[PATH_MAX];
  bool cache = w->path != NULL;
  if (cache) {
    memcpy(dir, w->path, w->dlen);
    dir[w->dlen] = 0;
    cache = writable(dir, &w->k.tr);
  }
  if (!cache && (*out = loaded_find(&w->k))) return CIS_OK;
  /* Without a cache the code would serve this load alone: compiled here. */
  if (cache && deadline) return compile_until(m, w, dir, deadline, out, compiled, msg, cap);
  cis_result rc = cache ? CIS_OK : temp_dir(dir, sizeof dir, msg, cap);
  if (rc != CIS_OK) return rc;
  cis__aot_job *j = NULL;
  cis__aot_cc cc;
  rc = cis__aot_find_cc(&cc, msg, cap);
  if (rc == CIS_OK) rc = job_new(m, false, &cc, &w->k, cache, dir, &j, msg, cap);
  cis__aot_cc_free(&cc);
  if (rc == CIS_OK) j->wait_ms = wait_ms;
  if (rc == CIS_OK) rc = compile_store(j, msg, cap);
  if (rc == CIS_OK) {
    *compiled = true;
    rc = load_entry(j->path, &w->k, m, out, msg, cap);
  }
  if (j) cis__aot_job_free(j); /* without a cache: the folder goes, the loaded file stays open */
  else if (!cache) rmdir(dir);
  return rc;
}

cis_result cis__aot_obtain(const cis__module *m, bool do_compile, uint64_t wait_ms,
                           uint64_t deadline, cis__aot_loaded **out,
                           bool *compiled, char *msg, size_t cap) {
  where w;
  *compiled = false;
  *out = NULL;
  cis_result rc = locate(m, &w, msg, cap);
  bool missing = false; /* no sound entry (or no cache folder and none loaded) */
  if (rc == CIS_OK && w.path && !w.absent) {
    rc = load_entry(w.path, &w.k, m, out, msg, cap);
    missing = rc == CIS_ENOTFOUND || rc == CIS_EHASH;
  } else if (rc == CIS_OK) {
    /* No cache folder (or none yet: not asked for the entry again): only
     * what this process compiled and loaded. */
    missing = !(*out = loaded_find(&w.k));
  }
  if (missing) rc = do_compile ? obtain_compile(m, &w, wait_ms, deadline, out, compiled, msg, cap) : CIS_ENOTFOUND;
  where_free(&w);
  return rc;
}

cis_result cis__aot_known_bytes(const uint8_t *bytes, size_t len, int standard,
                                cis__aot_loaded **out, const uint8_t **held) {
  *out = NULL;
  if (len < KEEP_MAP_MIN) return CIS_ENOTFOUND; /* copied: cheaper than a mapping kept */
  cis__module m; /* the key reads the bytes and the standard only */
  memset(&m, 0, sizeof m);
  m.bytes = (uint8_t *)(uintptr_t)bytes;
  m.nbytes = len;
  m.standard = standard == CIS__STD_2 ? CIS__STD_2 : CIS__STD_3; /* as the decoder reads it */
  where w;
  cis_result rc = locate(&m, &w, NULL, 0);
  if (rc == CIS_OK) rc = w.path && !w.absent ? load_entry(w.path, &w.k, NULL, out, NULL, 0) : CIS_ENOTFOUND;
  if (rc == CIS_OK) *held = (*out)->bytes;
  if (rc != CIS_OK) *out = NULL;
  where_free(&w);
  return rc;
}

/* ------------------------------------ module files known by identity */

/* KEY.id beside the entries: that the module file of identity `file`
 * holds the bytes of the entry named `key`, whose own file had identity
 * `entry` then. Written after a load from the file compared its bytes
 * with the entry's copy in full (cis__aot_remember_file, the runtime
 * having checked that the file did not change meanwhile and had settled);
 * read by a later load from the file, which then reads neither the file
 * nor the entry's copy (cis__aot_known_file). Its name hashes the key
 * text with the file's device and inode: one record per file and
 * environment, replaced when the file changes. What it saves is a hash
 * and a compare over all of a big module's bytes at each start; what it
 * trusts is what make trusts, that a changed file has a new change time;
 * what the engine runs stays the code made from, and the bytes decoded
 * from, the entry's own checked copy. */
#define ID_MAGIC "cisid\0\0\1"
typedef struct id_record {
  char magic[8];
  cis__file_id file;  /* the module file */
  uint8_t key[32];    /* the entry's name */
  cis__file_id entry; /* the entry's file */
} id_record;

/* The record's name for the module file of identity f under key text. */
static void id_name(const char *text, size_t tlen, const cis__file_id *f, char hex[65]) {
  const uint64_t where_[2] = {f->dev, f->ino};
  uint8_t name[32];
  name_mix(word_hash(text, tlen) ^ 0x6964u, word_hash(where_, sizeof where_), name);
  cis__hex(name, 32, hex);
}

/* Reads the record at path for the file of identity f into *r: a regular
 * file of the record's size that tr trusts, with the magic and f. */
static bool id_read(const char *path, const trust *tr, const cis__file_id *f, id_record *r) {
  int fd = cache_open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return false;
  struct stat st;
  bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == (off_t)sizeof *r &&
            owner_ok(&st, tr) && read_all(fd, (uint8_t *)r, sizeof *r) &&
            !memcmp(r->magic, ID_MAGIC, 8) && !memcmp(&r->file, f, sizeof *f);
  close(fd);
  return ok;
}

static atomic_uint known_file_hits;
unsigned cis__aot_test_known_file_hits(void) { return atomic_load(&known_file_hits); }

cis_result cis__aot_known_file(const cis__file_id *f, int standard, cis__aot_loaded **out,
                               const uint8_t **held) {
  *out = NULL;
  /* As known_bytes: a small module is copied; and only a check that maps
   * the entry (check_load, with the CRC instruction) keeps its copy. */
  if (f->size < KEEP_MAP_MIN || f->size > MAX_OBJECT || !crc_ok()) return CIS_ENOTFOUND;
  cis__module m; /* the key reads the length and the standard only */
  memset(&m, 0, sizeof m);
  m.nbytes = (size_t)f->size;
  m.standard = standard == CIS__STD_2 ? CIS__STD_2 : CIS__STD_3; /* as the decoder reads it */
  static const uint8_t unnamed[32];
  where w;
  id_record r;
  cis_result rc = locate_named(&m, unnamed, &w, NULL, 0);
  if (rc == CIS_OK && (!w.path || w.absent)) rc = CIS_ENOTFOUND;
  if (rc == CIS_OK) {
    char hex[65];
    id_name(w.k.text, w.k.tlen, f, hex);
    memcpy(w.path + w.dlen + 1, hex, 64);
    memcpy(w.path + w.dlen + 65, ".id", 4);
    if (!id_read(w.path, &w.k.tr, f, &r)) rc = CIS_ENOTFOUND;
  }
  if (rc == CIS_OK) {
    memcpy(w.k.key, r.key, 32);
    cis__hex(w.k.key, 32, w.k.name);
    memcpy(w.path + w.dlen + 1, w.k.name, 64);
    memcpy(w.path + w.dlen + 65, ".cso", 5);
    w.k.entry_id = &r.entry;
    rc = load_entry(w.path, &w.k, NULL, out, NULL, 0);
  }
  if (rc == CIS_OK) {
    *held = (*out)->bytes;
    atomic_fetch_add(&known_file_hits, 1);
  }
  if (rc != CIS_OK) *out = NULL;
  where_free(&w);
  return rc;
}

void cis__aot_remember_file(const cis__file_id *f, cis__aot_loaded *l) {
  const char *slash = strrchr(l->path, '/');
  if (!slash || f->size != l->nbytes || !l->emap) return;
  id_record r;
  memset(&r, 0, sizeof r);
  memcpy(r.magic, ID_MAGIC, 8);
  r.file = *f;
  memcpy(r.key, l->key, 32);
  r.entry = l->eid;
  char hex[65], path[PATH_MAX + 80], tmp[PATH_MAX + 160];
  id_name(l->text, l->tlen, f, hex);
  int dlen = (int)(slash - l->path);
  snprintf(path, sizeof path, "%.*s/%s.id", dlen, l->path, hex);
  static atomic_uint seq;
  snprintf(tmp, sizeof tmp, "%s.%ld.%u.tmp", path, (long)getpid(), atomic_fetch_add(&seq, 1));
  /* Written aside, then renamed over: a reader sees a whole record or none. */
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return; /* a folder this user may not write: no record */
  bool ok = write_all(fd, (const uint8_t *)&r, sizeof r);
  ok = close(fd) == 0 && ok;
  if (!ok || rename(tmp, path) != 0) unlink(tmp);
}

cis_result cis__aot_job_prepare(const cis__module *m, cis__aot_job **out, char *msg, size_t cap) {
  where w;
  char dir[PATH_MAX];
  *out = NULL;
  cis_result rc = locate(m, &w, msg, cap);
  if (rc == CIS_OK) {
    if (w.path) {
      memcpy(dir, w.path, w.dlen);
      dir[w.dlen] = 0;
    }
    if (!w.path || !writable(dir, &w.k.tr)) {
      setmsg(msg, cap, "no writable cache folder this user trusts to compile into");
      rc = CIS_EIO;
    } else {
      cis__aot_cc cc;
      rc = cis__aot_find_cc(&cc, msg, cap);
      if (rc == CIS_OK) rc = job_new(m, CIS__AOT_CHILD_GENERATES, &cc, &w.k, true, dir, out, msg, cap);
      if (rc == CIS_OK) (*out)->lock_nb = true; /* another process's compile: the interpreter meanwhile */
      cis__aot_cc_free(&cc);
    }
  }
  where_free(&w);
  return rc;
}

pid_t cis__aot_jobs_spawn(cis__aot_job *const *jobs, size_t n, int *rfd) {
  int p[2];
  *rfd = -1;
  if (pipe2(p, O_CLOEXEC) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) {
    close(p[0]);
    close(p[1]);
    return -1;
  }
  if (pid > 0) {
    close(p[1]);
    *rfd = p[0];
    return pid;
  }
  /* The child: one thread, a copy of the parent's memory. It leaves the
   * parent's session and holds none of its descriptors (a pipe it kept
   * would keep a reader of the parent's output waiting), reports on fd 3,
   * and never returns into the parent's code. */
  setsid();
  in_compile_child = true;
  signal(SIGPIPE, SIG_IGN);
  signal(SIGALRM, SIG_DFL); /* child_step's bound ends the process, */
  sigset_t alrm;              /* even if the forking thread blocked it */
  sigemptyset(&alrm);
  sigaddset(&alrm, SIGALRM);
  sigprocmask(SIG_UNBLOCK, &alrm, NULL);
  int null = open("/dev/null", O_RDWR);
  if (null >= 0) {
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
  }
  if (dup2(p[1], 3) != 3) _exit(2);
  syscall(SYS_close_range, 4u, ~0u, 0u);
  /* Bounded as the compiler is (run_cc): lower priority, and CPU time for
   * its own work (decoding, generating the C, storing; the compilers it
   * runs have their own), so that no module keeps it running: its jobs'
   * budgets and one base more. */
  uint64_t cpu = CC_CPU_BASE_S;
  for (size_t i = 0; i < n; i++) cpu += jobs[i]->max_cpu;
  struct rlimit c = {cpu, cpu + 5}, none = {0, 0};
  setrlimit(RLIMIT_CPU, &c);
  setrlimit(RLIMIT_CORE, &none);
  errno = 0;
  int now = getpriority(PRIO_PROCESS, 0);
  if (errno == 0) setpriority(PRIO_PROCESS, 0, now + CC_NICE > 19 ? 19 : now + CC_NICE);
  int failed = 0, busy = 0;
  for (size_t i = 0; i < n; i++) {
    char msg[CIS_ERRMSG_MAX];
    msg[0] = 0;
    cis_result rc = compile_store(jobs[i], msg, sizeof msg);
    if (rc == CIS_ESTATE) busy = 1; /* another process compiles it: not a failure */
    else if (rc != CIS_OK) {
      failed = 1;
      size_t l = strnlen(msg, sizeof msg - 1);
      msg[l] = '\n';
      write_all(3, (const uint8_t *)msg, l + 1);
    }
  }
  _exit(failed ? 1 : busy ? CIS__AOT_JOBS_BUSY : 0);
}

/* Compile children a wait left running (cis__aot_jobs_wait), reaped at
 * the next waits: each ends by its own bounds. */
static struct {
  pthread_mutex_t lock;
  pid_t pid[64];
  unsigned n;
} left = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void reap_left(pid_t add) {
  pthread_mutex_lock(&left.lock);
  for (unsigned i = 0; i < left.n;) {
    pid_t w = waitpid(left.pid[i], NULL, WNOHANG);
    if (w == left.pid[i] || (w < 0 && errno == ECHILD)) left.pid[i] = left.pid[--left.n];
    else i++;
  }
  /* Full (64 compiles still running): the newest is not remembered, and
   * stays a zombie until this process ends. */
  if (add > 0 && left.n < CIS_ARRAY_LEN(left.pid)) left.pid[left.n++] = add;
  pthread_mutex_unlock(&left.lock);
}

int cis__aot_jobs_wait(pid_t pid, int rfd, uint64_t deadline, const atomic_bool *stop, char *msg,
                       size_t cap) {
  size_t got = 0;
  msg[0] = 0;
  reap_left(0);
  for (;;) {
    uint64_t left_ms = deadline ? cis__ms_left(deadline) : 50;
    if ((stop && atomic_load(stop)) || left_ms == 0) {
      close(rfd);
      reap_left(pid);
      return CIS__AOT_LEFT_RUNNING;
    }
    struct pollfd pfd = {.fd = rfd, .events = POLLIN};
    int pr = poll(&pfd, 1, left_ms < 50 ? (int)left_ms : 50); /* bounded, to see stop */
    if (pr < 0 && errno != EINTR) break;
    if (pr <= 0) continue;
    /* A report is one line: once msg is full the rest is read and
     * dropped (starting over lost a report of cap - 1 bytes whole). */
    char drop[256];
    bool full = got == cap - 1;
    ssize_t r = full ? read(rfd, drop, sizeof drop) : read(rfd, msg + got, cap - 1 - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break; /* end of file: the child is done */
    if (!full) got += (size_t)r;
  }
  close(rfd);
  msg[got] = 0;
  if (got && msg[got - 1] == '\n') msg[got - 1] = 0;
  int st = 0;
  pid_t w;
  while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR) {
  }
  /* Without a status (SIGCHLD ignored by the embedder) the report says. */
  if (w == pid && WIFEXITED(st) && WEXITSTATUS(st) == CIS__AOT_JOBS_BUSY) return CIS_ESTATE;
  bool ok = w == pid ? WIFEXITED(st) && WEXITSTATUS(st) == 0 : msg[0] == 0;
  if (!ok && !msg[0]) snprintf(msg, cap, "the compile process ended abnormally");
  return ok ? CIS_OK : CIS_EIO;
}
cis_result cis__aot_check_entry_fd(int fd, const uint8_t *mod, size_t mlen) {
  cis__module m;
  memset(&m, 0, sizeof m);
  m.bytes = (uint8_t *)(uintptr_t)mod; /* make_key only reads them */
  m.nbytes = mlen;
  m.standard = CIS__STD_3;
  load_env e;
  load_env_read(&e);
  key k;
  char *line = NULL;
  cis_result rc = make_key(&m, &e, NULL, &k, NULL, 0);
  if (rc != CIS_OK) return rc;
  rc = key_cc_line(e.cc, &k, &line);
  uint8_t trl[TRL_SIZE];
  seen sn;
  if (rc == CIS_OK && lseek(fd, 0, SEEK_SET) == 0)
    rc = check_fd(fd, "(fuzz)", &k, trl, &sn, false, NULL, 0);
  check_entry(fd, NULL, trl, NULL, NULL, 0); /* as a listing does */
  free(line);
  key_free(&k);
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
  /* Not a link, and no wait on a FIFO: such an entry is listed unsound. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return;
  }
  e->bytes = (uint64_t)st.st_size;
  e->mtime = (int64_t)st.st_mtim.tv_sec;
  load_env env;
  load_env_read(&env);
  trust tr;
  trust_read(env.owner, &tr);
  uint8_t trl[TRL_SIZE];
  cis_result rc = check_entry(fd, NULL, trl, NULL, NULL, 0);
  if (!owner_ok(&st, &tr)) rc = CIS_EHASH; /* a load would refuse it: unsound */
  close(fd);
  if (memcmp(trl, MAGIC, 8) != 0) return; /* no trailer: truncated, or not an entry */
  cis__hex(trl + T_MOD, 32, e->module_sha256);
  memcpy(e->cis_version, trl + T_VER, 15);
  char keyhex[65];
  cis__hex(trl + T_KEY, 32, keyhex);
  e->sound = rc == CIS_OK && strcmp(keyhex, e->key) == 0;
}

/* What a file of the cache folder is. */
enum { FK_OTHER, FK_ENTRY, FK_LOCK, FK_TEMP, FK_REFUSED, FK_IMAGE, FK_ID, FK_IMGOK };

static int file_kind(const char *name) {
  size_t l = strlen(name);
  if (l == 64 + 4 && !strcmp(name + 64, ".cso")) return FK_ENTRY;
  if (l == 64 + 4 && !strcmp(name + 64, ".img")) return FK_IMAGE;
  if (l == 64 + 3 && !strcmp(name + 64, ".id")) return FK_ID;
  if (l == 64 + 6 && !strcmp(name + 64, ".imgok")) return FK_IMGOK;
  if (l == 64 + 5 && !strcmp(name + 64, ".lock")) return FK_LOCK;
  if (l == 64 + 8 && !strcmp(name + 64, ".refused")) return FK_REFUSED;
  if (l > 65 && name[64] == '.' &&
      (strstr(name + 64, ".tmp") || strstr(name + 64, ".c") || strstr(name + 64, ".h") ||
       strstr(name + 64, ".o") || strstr(name + 64, ".so") || strstr(name + 64, ".err")))
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

typedef struct compiles_visit {
  cis_cache_compile_visit fn;
  void *user;
} compiles_visit;

bool cis__aot_lock_line(const char *b, size_t n, cis_cache_compile *c) {
  static const char *const phases[] = {"queued", "generating", "compiling", "linking"};
  const char *p = b, *end = b + n;
  if (n && end[-1] == '\n') end--;
  const char *ph = NULL;
  for (size_t i = 0; i < CIS_ARRAY_LEN(phases) && !ph; i++)
    if (read_lit(&p, end, phases[i]) && read_lit(&p, end, " ")) ph = phases[i];
    else p = b;
  uint64_t pid, since, done = 0, total = 0;
  if (!ph || !read_num(&p, end, INT32_MAX, &pid) || !pid || !read_lit(&p, end, " ") ||
      !read_num(&p, end, INT64_MAX, &since))
    return false;
  if (p < end && (!read_lit(&p, end, " ") || !read_num(&p, end, CIS__AOT_UNITS_MAX, &done) ||
                  !read_lit(&p, end, " ") || !read_num(&p, end, CIS__AOT_UNITS_MAX, &total) ||
                  done > total))
    return false;
  if (p != end) return false;
  snprintf(c->state, sizeof c->state, "%s", ph);
  c->pid = (int64_t)pid;
  c->since = (int64_t)since;
  c->units_done = (uint32_t)done;
  c->units = (uint32_t)total;
  return true;
}

/* What the compile holding the lock file at path is doing (lock_say's
 * line), or false when no process holds it: a record left by a process
 * that ended is never listed, whatever it says, since its lock went with
 * it. */
static bool lock_state(const char *path, cis_cache_compile *c) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return false;
  struct stat st;
  bool held = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && flock(fd, LOCK_SH | LOCK_NB) != 0 &&
              errno == EWOULDBLOCK;
  char b[128];
  ssize_t n = held ? pread(fd, b, sizeof b, 0) : -1;
  close(fd);
  if (!held) return false;
  if (n > 0 && cis__aot_lock_line(b, (size_t)n, c)) return true;
  c->since = (int64_t)st.st_mtim.tv_sec;
  if (n <= 0) { /* between taking the lock and its first line */
    snprintf(c->state, sizeof c->state, "starting");
  } else {
    snprintf(c->state, sizeof c->state, "unreadable");
    snprintf(c->why, sizeof c->why, "its lock is held, but its state line is not one cis writes");
  }
  return true;
}

/* A refusal remembered at path (remember_refusal's file) into c; a
 * record a compile would not take (not a regular file, not trusted, not
 * one cis writes) is listed "corrupt" with what is wrong, for the
 * operator to remove (`cis cache clear`). */
static bool refusal_state(const char *path, cis_cache_compile *c) {
  snprintf(c->state, sizeof c->state, "corrupt");
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    snprintf(c->why, sizeof c->why, "its refusal record cannot be opened: %s", strerror(errno));
    return true;
  }
  struct stat st;
  char b[512];
  ssize_t n = -1;
  load_env env;
  load_env_read(&env);
  trust tr;
  trust_read(env.owner, &tr);
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
    snprintf(c->why, sizeof c->why, "its refusal record is not a regular file: ignored");
  else if (!owner_ok(&st, &tr))
    snprintf(c->why, sizeof c->why, "its refusal record belongs to user %lu, not trusted: ignored",
             (unsigned long)st.st_uid);
  else
    n = read(fd, b, sizeof b);
  close(fd);
  if (n < 0) return true;
  c->since = (int64_t)st.st_mtim.tv_sec;
  uint64_t mem, cpu;
  if (!cis__aot_refusal_parse(b, (size_t)n, &mem, &cpu, c->why, sizeof c->why)) {
    snprintf(c->why, sizeof c->why, "its refusal record is not one cis writes: ignored");
    return true;
  }
  snprintf(c->state, sizeof c->state, "refused");
  return true;
}

static bool compiles_one(const char *path, const char *name, int kind, void *u) {
  compiles_visit *v = u;
  if (kind != FK_LOCK && kind != FK_REFUSED) return true;
  cis_cache_compile c;
  memset(&c, 0, sizeof c);
  memcpy(c.key, name, 64);
  bool there = kind == FK_LOCK ? lock_state(path, &c) : refusal_state(path, &c);
  return !there || v->fn(&c, v->user);
}

cis_result cis_cache_compiles(cis_cache_compile_visit fn, void *user) {
  if (!fn) return CIS_EINVAL;
  compiles_visit v = {fn, user};
  return each_file(compiles_one, &v);
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
  if (kind == FK_REFUSED) { /* a refusal by the compiler's bounds: kept, unless old */
    if (v->max_age && age > v->max_age) remove_file(v, path, false);
    return true;
  }
  char other[PATH_MAX + 300];
  if (kind == FK_IMAGE || kind == FK_IMGOK) { /* an image (or its record) whose entry is gone, and not being written (an hour) */
    snprintf(other, sizeof other, "%.*s.cso", (int)(strlen(path) - (kind == FK_IMAGE ? 4 : 6)), path);
    if (age > 3600 && access(other, F_OK) != 0 && errno == ENOENT) remove_file(v, path, false);
    return true;
  }
  if (kind == FK_ID) { /* a record whose entry is gone: nothing can use it */
    id_record r;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    bool whole = fd >= 0 && read_all(fd, (uint8_t *)&r, sizeof r) && !memcmp(r.magic, ID_MAGIC, 8);
    if (fd >= 0) close(fd);
    char hex[65];
    if (whole) cis__hex(r.key, 32, hex);
    const char *slash = strrchr(path, '/');
    if (whole && slash) snprintf(other, sizeof other, "%.*s/%s.cso", (int)(slash - path), path, hex);
    if (!whole || !slash || (v->max_age && age > v->max_age) ||
        (access(other, F_OK) != 0 && errno == ENOENT))
      remove_file(v, path, false);
    return true;
  }
  if (kind != FK_ENTRY) return true;
  cis_cache_entry e;
  read_entry(path, name, &e);
  if (!e.sound || strcmp(e.cis_version, CIS_VERSION_STRING) != 0 ||
      (v->max_age && age > v->max_age)) {
    remove_file(v, path, true);
    static const char *const beside[] = {"lock", "img", "imgok"};
    for (size_t i = 0; i < CIS_ARRAY_LEN(beside); i++) {
      snprintf(other, sizeof other, "%.*s.%s", (int)(strlen(path) - 4), path, beside[i]);
      unlink(other);
    }
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
