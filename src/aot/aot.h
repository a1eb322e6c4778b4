/*
 * This file declares what the compiled tier's files share: the C code
 * generator (codegen.c), the compiler driver and on-disk cache
 * (cache.c), and the loaded code a module keeps (aot.c). Nothing outside
 * src/aot/ includes it; the rest of the library sees cis__aot_ops
 * (aot_ops.h) and the cache functions of cis.h.
 */
#ifndef CIS_AOT_AOT_H
#define CIS_AOT_AOT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "aot/aot_ops.h"
#include "aot/aot_rt.h"
#include "runtime/runtime.h"

/* Version of the code generator: part of the cache key. Bump it with any
 * change to the C it writes. */
#define CIS__AOT_CODEGEN_VERSION 29

/* A growable text buffer. */
typedef struct cis__aot_buf {
  char *p;          /* text, NUL-terminated when len > 0 */
  size_t len, cap;  /* bytes used, allocated */
  bool oom;         /* an append failed: the text is incomplete */
} cis__aot_buf;

void cis__aot_buf_printf(cis__aot_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void cis__aot_buf_free(cis__aot_buf *b);

/* A text made by appending into a fixed buffer without printf: the cache
 * key is made at every cached start, where snprintf cost more than the
 * rest of the key. len counts every byte appended, also those that did
 * not fit: the text is whole when len < cap (cis__aot_text_end). */
typedef struct cis__aot_text {
  char *p;       /* buffer */
  size_t cap;    /* its size */
  size_t len;    /* bytes appended (may exceed cap) */
} cis__aot_text;

static inline void cis__aot_text_put(cis__aot_text *t, const char *s, size_t n) {
  if (t->len + n < t->cap) memcpy(t->p + t->len, s, n);
  t->len += n;
}

static inline void cis__aot_text_str(cis__aot_text *t, const char *s) {
  cis__aot_text_put(t, s, strlen(s));
}

static inline void cis__aot_text_u64(cis__aot_text *t, uint64_t v) {
  char d[20];
  size_t i = sizeof d;
  do d[--i] = (char)('0' + v % 10); while ((v /= 10) && i);
  cis__aot_text_put(t, d + i, sizeof d - i);
}

/* Terminates the text; whether it fitted. */
static inline bool cis__aot_text_end(cis__aot_text *t) {
  if (t->len < t->cap) t->p[t->len] = 0;
  else if (t->cap) t->p[t->cap - 1] = 0;
  return t->len < t->cap;
}

/* Writes the C of validated module m into out as one translation unit
 * (cis__aot_codegen_units with one unit); key (the cache key, hex) is
 * stored in the object so the loader can tell it is the one it asked
 * for. Errors:
 * CIS_EUNSUPPORTED (an instruction the generator does not cover, e.g.
 * SIMD), CIS_ENOMEM, CIS_EINVALID (a body that does not decode as the
 * validator promised); the message goes to msg (cap bytes). */
cis_result cis__aot_codegen(const cis__module *m, const char *key, cis__aot_buf *out, char *msg,
                            size_t cap);

/* The C of a module as several translation units, compiled each on its
 * own and linked into one object (cache.c), so that a big module's
 * compile is bounded and shown unit by unit. */
typedef struct cis__aot_units {
  cis__aot_buf head;     /* what every unit starts with: prelude, types, shared declarations */
  cis__aot_buf *unit;    /* each unit's own text, after head */
  uint64_t *wasm_bytes;  /* per unit: bytes of wasm code it holds */
  uint32_t n;            /* units (1 for a module under one and a half units of code) */
} cis__aot_units;

/* The most units of one module, and the wasm code a unit holds by
 * default (CIS_AOT_UNIT_SIZE replaces it: cache.c). */
#define CIS__AOT_UNITS_MAX 64u
#define CIS__AOT_UNIT_BYTES (32u * 1024u)

/* Writes the C of validated module m as units of about unit_bytes of
 * wasm code each (0: one unit) into *out (cis__aot_units_free frees it;
 * it is empty after a failure). A function another unit calls directly
 * is hidden, resolved when the units are linked; the others are static
 * to their unit. Errors: those of cis__aot_codegen. With one unit, head
 * and unit[0] together are cis__aot_codegen's text. */
cis_result cis__aot_codegen_units(const cis__module *m, const char *key, uint64_t unit_bytes,
                                  cis__aot_units *out, char *msg, size_t cap);
void cis__aot_units_free(cis__aot_units *u);

/* A layout string of the runtime structs compiled code reads (offsets),
 * part of the cache key. */
const char *cis__aot_layout(void);

/* The compiler in use: CIS_CC or "cc", resolved through PATH; every
 * entry records it (cache.c: the compiler's line), and a load resolves it
 * again and takes an entry only when that record is the compiler's now.
 * Small, with its path on the heap. */
typedef struct cis__aot_cc {
  char *path;        /* absolute path of the compiler driver (owned), or NULL */
  char ident[96];    /* identity: device, inode, size, mtime of the driver */
} cis__aot_cc;

/* Finds the compiler into *cc (cis__aot_cc_free frees it, also after a
 * failure). Errors: CIS_EUNSUPPORTED when there is none (the message
 * names the package gcc and CIS_CC), CIS_ENOMEM. */
cis_result cis__aot_find_cc(cis__aot_cc *cc, char *msg, size_t cap);
void cis__aot_cc_free(cis__aot_cc *cc);

/* The flags compiled objects are built with (part of the key). */
const char *cis__aot_cflags(void);

/* Folder of the cache: $CIS_AOT_CACHE, else $CIS_HOME/cache, else
 * ~/.local/share/cis/cache. */
cis_result cis__aot_cache_dir(char *out, size_t cap);

/* A compiled object loaded in this process: one per cache key, shared by
 * the modules that use it and counted (cis__aot_release). */
typedef struct cis__aot_loaded cis__aot_loaded;
const cis_aot_object *cis__aot_loaded_object(const cis__aot_loaded *l);
void cis__aot_release(cis__aot_loaded *l);
/* Another count of l. Returns l. */
cis__aot_loaded *cis__aot_retain(cis__aot_loaded *l);

/* Before a big module (len from 1 MiB on) is decoded: the object of the
 * cache's sound entry for these very bytes, loaded (or already loaded)
 * into *out, counted, and in *held bytes equal to these that nothing
 * changes while *out is held (the entry's own copy, mapped read-only, or
 * the bytes of a module loaded before), for the module to decode in place
 * of a copy (cis__module_decode_held). CIS_ENOTFOUND for a small module
 * or no sound entry (nothing is compiled), else an error of the load. */
cis_result cis__aot_known_bytes(const uint8_t *bytes, size_t len, int standard,
                                cis__aot_loaded **out, const uint8_t **held);
/* As cis__aot_known_bytes for the module file of identity f, through its
 * record (KEY.id, written by cis__aot_remember_file): the entry the
 * record names while the entry file is the one it names, its copy of the
 * module not compared. CIS_ENOTFOUND when there is no such record. */
cis_result cis__aot_known_file(const cis__file_id *f, int standard, cis__aot_loaded **out,
                               const uint8_t **held);
/* Records that the module file of identity f holds the bytes of l's
 * entry, which a load compared in full (runtime.h, remember_file). */
void cis__aot_remember_file(const cis__file_id *f, cis__aot_loaded *l);

/* Obtains the compiled object of module m (bytes of the binary in m):
 * already loaded in this process, or from the cache when a sound entry is
 * there, else by generating C and compiling it (under a lock, so a
 * concurrent process compiling the same module is waited for, not
 * duplicated, for at most wait_ms: 0 is ten minutes; past it this call
 * compiles on its own), storing it atomically. With a deadline (CLOCK_MONOTONIC
 * ns, 0 none) and a writable cache the compile runs in a child process
 * (cis__aot_jobs_spawn), waited for until the deadline only: past it
 * CIS_ETIMEOUT, and the child goes on and stores the entry for later
 * loads. Only when compile is false and nothing is cached: CIS_ENOTFOUND. *compiled says whether this call
 * compiled. Errors: CIS_EUNSUPPORTED (no compiler, or code the generator
 * does not cover), CIS_EIO (the compiler failed, the cache cannot be
 * written), CIS_ENOMEM; the message goes to msg. */
cis_result cis__aot_obtain(const cis__module *m, bool compile, uint64_t wait_ms, uint64_t deadline,
                           cis__aot_loaded **out, bool *compiled, char *msg, size_t cap);

/* A compile prepared to run elsewhere (tier.c): the key, the module
 * (borrowed), the compiler's command. */
typedef struct cis__aot_job cis__aot_job;
/* Prepares the compile of validated module m into the cache, for
 * tiering, without generating its C: the child that runs the job does,
 * under the module's lock and a compile slot, so the caller pays neither
 * the generator's time nor its memory. m (and its bytes) must live until
 * the job is spawned. The child gives up at once (CIS_ESTATE) when
 * another process holds the module's lock, rather than wait. Errors: the
 * compiler's search, CIS_EIO (no writable cache). */
cis_result cis__aot_job_prepare(const cis__module *m, cis__aot_job **out, char *msg, size_t cap);
void cis__aot_job_free(cis__aot_job *j);
/* Whether tiering's compile child generates the module's C itself (so
 * that the process it leaves pays neither the generator's time nor its
 * memory). Not under a sanitizer: its allocator is not fork-safe (a lock
 * another thread held at the fork stays held in the child), so there the
 * C is written before the fork and the child allocates nothing. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CIS__AOT_CHILD_GENERATES 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define CIS__AOT_CHILD_GENERATES 0
#endif
#endif
#ifndef CIS__AOT_CHILD_GENERATES
#define CIS__AOT_CHILD_GENERATES 1
#endif
/* Called in the compile's child as each step begins ("checking",
 * "queued", "generating", "compiling", "storing", "done"), its wall bound
 * armed: a weak no-op that tests replace. */
void cis__aot_child_step_hook(const char *step);
/* Called as a compile into the cache says where it is (cache.c,
 * lock_say: phase "queued", "generating", "compiling" with done of total
 * units compiled, "linking" with all done), after the compile's lock file
 * says it, in whichever process compiles: a weak no-op that tests
 * replace. */
void cis__aot_progress_hook(const char *key, const char *phase, uint32_t done, uint32_t total);
/* Reads the state line of a compile's lock file (n bytes at b, hostile:
 * any bytes) into c's state, pid, since, units_done and units: true when
 * it is one a compile writes ("PHASE PID SINCE DONE TOTAL", or before
 * units "PHASE PID SINCE"). Allocates nothing; fuzz/fuzz_aot_state.c. */
struct cis_cache_compile;
bool cis__aot_lock_line(const char *b, size_t n, struct cis_cache_compile *c);
/* Reads a refusal record (KEY.refused: "cis-aot-refused MEM CPU\nWHY\n",
 * n bytes at b, hostile) into the bounds it was refused under and its
 * message (why, cap bytes, cut to fit). Allocates nothing. */
bool cis__aot_refusal_parse(const char *b, size_t n, uint64_t *mem, uint64_t *cpu, char *why,
                            size_t cap);
/* Forks a child, out of the caller's session and holding none of its
 * descriptors, that compiles and stores jobs[0..n) one after the other
 * (each under its key's lock) and exits: status 0 when all were stored,
 * CIS__AOT_JOBS_BUSY when the others were being compiled by another
 * process, else 1 with one line per failure on the pipe whose read end
 * is *rfd.
 * The child outlives the caller if it must. Returns its pid, or -1. */
#define CIS__AOT_JOBS_BUSY 3
pid_t cis__aot_jobs_spawn(cis__aot_job *const *jobs, size_t n, int *rfd);
/* Waits for compile child pid (cis__aot_jobs_spawn), reading its report
 * from rfd (closed here), until it ends, *stop turns true (may be NULL)
 * or deadline passes (CLOCK_MONOTONIC ns, 0 none). Returns CIS_OK when it
 * stored its entries, CIS_ESTATE when another process compiles them,
 * CIS_EIO with its report in msg, or CIS__AOT_LEFT_RUNNING: the child goes
 * on by itself, and this process reaps it later (at its next wait). */
#define CIS__AOT_LEFT_RUNNING 1
int cis__aot_jobs_wait(pid_t pid, int rfd, uint64_t deadline, const atomic_bool *stop, char *msg,
                       size_t cap);

/* The loaded code of a module: cis_module.engine_data. */
typedef struct cis__aot_code {
  cis__aot_loaded *ld;         /* the loaded object, counted */
  const cis_aot_object *obj;   /* the object's table */
  uint32_t nimports;           /* imported functions */
  uint32_t ntypes;             /* the module's types */
  /* GC: per type, its layout (gc.h) once a GC instruction asked for it,
   * else NULL; NULL itself for a module without GC */
  const struct cis__gclayout *_Atomic *layouts;
} cis__aot_code;

/* Obtains (cis__aot_obtain) and checks the compiled code of m into *out
 * (cis__aot_code_free frees it); *compiled (may be NULL) says whether this
 * call compiled. Errors: those of cis__aot_obtain, CIS_EIO (an object
 * whose function count is not the module's); the message goes to msg. */
cis_result cis__aot_load(const cis__module *m, bool compile, uint64_t wait_ms, uint64_t deadline,
                         cis__aot_code **out, bool *compiled, char *msg, size_t cap);
void cis__aot_code_free(cis__aot_code *code);
/* The known_bytes and release_bytes ops (runtime.h) of the compiled and
 * tiering engines: cis__aot_known_bytes's bytes, held by the loaded
 * object (owner). A module decoded from them is given that object's code
 * by cis__aot_load without a look-up. */
cis_result cis__aot_hold_known_bytes(const uint8_t *bytes, size_t len, int standard,
                                     const uint8_t **held, void **owner);
void cis__aot_release_bytes(void *owner);
cis_result cis__aot_hold_known_file(const cis__file_id *f, int standard, const uint8_t **held,
                                    void **owner);
void cis__aot_remember_known_file(const cis__file_id *f, int standard, void *owner);
/* The image of memory 0 of module m (one of loaded object l's) beside
 * l's entry, checked (cache.c, images), or NULL when there is none or it
 * failed a check: looked for once per loaded object. */
const cis__mem_image *cis__aot_image(cis__aot_loaded *l, const cis__module *m);
/* The mem_image op (runtime.h) of the compiled and tiering engines: the
 * image of the module whose compiled code is code (NULL: none yet). */
const cis__mem_image *cis__aot_code_image(const cis__aot_code *code, const cis__module *m);

/* Runs wasm function f (of a module whose compiled code is code) under ex:
 * ops->call of the compiled engine, and of the tiering engine once its
 * module's code is there. */
cis_result cis__aot_enter(cis__exec *ex, cis_func *f, cis_slot *ar, const cis__aot_code *code);

#endif /* CIS_AOT_AOT_H */
