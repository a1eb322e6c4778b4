/*
 * This file declares the WebAssembly text-format (.wat) compiler of cis:
 * text in, a binary module out, which the decoder and validator then take
 * like any other binary (cis_module_new_text in text.c does both steps).
 *
 * The compiler covers the Wasm 2.0 text format (SIMD included): every
 * abbreviation, folded instructions, named indices in every index space.
 * What the text format itself forbids is CIS_EMALFORMED with a message
 * "LINE:COL: what"; what only the validator can decide (types, index
 * ranges) is left in the binary for it.
 */
#ifndef CIS_WAT_WAT_H
#define CIS_WAT_WAT_H

#include <stddef.h>
#include <stdint.h>

#include "cis/cis.h"

/* Bounds on hostile input, each a typed CIS_ETOOBIG when passed. */
#define CIS__WAT_MAX_TEXT (64u << 20)   /* bytes of text */
#define CIS__WAT_MAX_TOKEN (64u << 20)  /* bytes of one token (a data string) */
#define CIS__WAT_MAX_TOKENS (16u << 20) /* tokens (16 bytes each while compiling) */
#define CIS__WAT_MAX_DEPTH 1000u        /* nesting of parentheses and blocks */

/* Compiles text[0..len) into a binary module. On success *out is a
 * malloc'd buffer of *outlen bytes that the caller frees. On failure
 * returns CIS_EMALFORMED (text-format error), CIS_ETOOBIG (a bound above)
 * or CIS_ENOMEM, with "LINE:COL: what" in msg (truncated to msglen). */
cis_result cis__wat_compile(const char *text, size_t len, uint8_t **out, size_t *outlen, char *msg,
                            size_t msglen);
/* The same for a module of the given standard (CIS__STD_* of
 * wasm/module.h; cis__wat_compile's is the latest): 2.0 takes a table
 * or memory limit beyond 32 bits as malformed ("i32 constant out of
 * range"), 3.0 as invalid ("table size", "memory size"). */
cis_result cis__wat_compile_std(const char *text, size_t len, int standard, uint8_t **out, size_t *outlen,
                                char *msg, size_t msglen);

#endif
