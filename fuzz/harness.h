/*
 * harness.h -- what the fuzz targets do with one input.
 *
 * This file declares the two fuzzing harnesses shared by the libFuzzer
 * entry points (fuzz/fuzz_*.c) and the regression tests (tests/fuzz/), so
 * that a saved crashing input is replayed by exactly the code that found
 * it. Both use only the public API in include/cis/cis.h.
 */
#ifndef CIS_FUZZ_HARNESS_H
#define CIS_FUZZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "cis/cis.h"

/* Limits every instance of fuzz_run gets: small enough that one input
 * finishes in well under libFuzzer's -timeout, large enough to reach real
 * code (memory grows, deep-ish recursion, loops). */
#define CIS_FUZZ_FUEL 100000u
#define CIS_FUZZ_TIMEOUT_MS 100u
#define CIS_FUZZ_MAX_MEMORY (64ull * 1024 * 1024)
#define CIS_FUZZ_MAX_TABLE 100000u
#define CIS_FUZZ_MAX_DEPTH 2000u
#define CIS_FUZZ_MAX_CALLS 64u /* exported functions called per input */

/* Each harness creates its own engine (with the limits above) for every
 * input and frees it afterwards, so that no state carries over from one
 * input to the next: a saved input then reproduces on its own. */

/* fuzz_decode: decodes and validates bytes as a module, reads back its
 * imports, exports and error message, and frees it. */
void cis_fuzz_decode(const uint8_t *bytes, size_t len);

/* fuzz_run: when bytes validate, instantiates them with imports that
 * satisfy every import it can (host functions returning zeros, fresh
 * memories, tables and globals) and calls each exported function with
 * zero arguments under the limits above. Frees everything it made. */
void cis_fuzz_run(const uint8_t *bytes, size_t len);

#endif /* CIS_FUZZ_HARNESS_H */
