/*
 * This file declares the compiled tier's engine ops table, the one name
 * src/aot/ offers the library glue (src/core/), which registers it.
 */
#ifndef CIS_AOT_AOT_OPS_H
#define CIS_AOT_AOT_OPS_H

#include "runtime/runtime.h"

/* The compiled tier, registered under the name "aot". */
extern const cis__engine_ops cis__aot_ops;

/* Whether a sound compiled object of m is in the cache, as a load would
 * check it (no compile, no mapping). */
bool cis__aot_cached(const cis__module *m);

/* Whether the C compiler the engine needs is there; when not, msg (cap
 * bytes, may be NULL) says what to install. */
bool cis__aot_compiler_present(char *msg, size_t cap);

/* Tiering (tier.c), registered under the name "auto": modules run on the
 * baseline engine until their compiled code is there. The library glue
 * hands over the baseline before registering it. */
extern const cis__engine_ops cis__tier_ops;
void cis__tier_set_baseline(const cis__engine_ops *ops);

/* Where a module of the tiering engine is. */
enum {
  CIS__TIER_BASE = 0,     /* on the baseline for good (no compile, or it failed) */
  CIS__TIER_QUEUED = 1,   /* on the baseline while its compile waits or runs */
  CIS__TIER_COMPILED = 2, /* calls run compiled */
};
/* The CIS__TIER_* state of mod; -1 when mod is not the tiering engine's. */
int cis__tier_state(const cis_module *mod);
/* Waits at most timeout_ms while mod is CIS__TIER_QUEUED; its state then. */
int cis__tier_wait(const cis_module *mod, uint32_t timeout_ms);
/* Calls entered on the baseline and in compiled code so far. */
void cis__tier_calls(const cis_module *mod, uint64_t *base_calls, uint64_t *aot_calls);
/* Tests: load every cache entry through a memory-file copy (the fallback
 * for a cache on a file system that refuses to map code). */
void cis__aot_test_load_copy(bool on);
/* Tests: write and check cache entries as on a CPU without a crc32
 * instruction (the object's BLAKE2b is then what a load checks). */
void cis__aot_test_no_crc(bool on);
/* Tests: how many loads from a file were served by its identity record
 * (cache.c, cis__aot_known_file). */
unsigned cis__aot_test_known_file_hits(void);
/* Tests: how many walks of a cache folder and its parents were made
 * (cache.c, dir_trusted); and forgetting the folder held, as a new
 * process starts without it. */
unsigned cis__aot_test_folder_walks(void);
void cis__aot_test_forget_folder(void);
/* Fuzzing (fuzz/fuzz_aot_entry.c): checks the cache entry open as fd as a
 * load of the module bytes mod would (its key under this environment)
 * and as `cis cache list` does; maps and runs nothing. Returns the load's
 * verdict: CIS_OK (sound), CIS_EHASH (unsound), CIS_ENOTFOUND, CIS_EIO. */
cis_result cis__aot_check_entry_fd(int fd, const uint8_t *mod, size_t mlen);
/* Fuzzing (fuzz/fuzz_aot_image.c): checks the image file open as fd as
 * the first instance of module m would check its entry's image (the
 * entry named key; no least size of data): CIS_OK when it would map it,
 * CIS_EHASH (unsound), CIS_EIO, or CIS_ENOTFOUND when m's segments make
 * no image. */
cis_result cis__aot_check_image_fd(int fd, const cis__module *m, const uint8_t key[32]);
/* Tests: while held, the worker starts no compile. */
void cis__tier_hold(bool hold);
/* Lets the worker finish the queue, then joins it (run at exit; no
 * compile is queued afterwards). */
void cis__tier_shutdown(void);

#endif
