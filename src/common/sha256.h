/*
 * This file declares the one SHA-256 of libcis (module hashes in the skill
 * registry and manifests). It is OpenSSL's, from libcrypto loaded on first
 * use through dynlib.h: a run that hashes nothing does not pay for binding
 * libcrypto, which was most of a pure `cis run`'s start-up.
 */
#ifndef CIS_COMMON_SHA256_H
#define CIS_COMMON_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "common/dynlib.h"

/* The library, for tests (cis__dynlib_test_soname, cis__dynlib_loaded). */
extern cis__dynlib cis__crypto_lib;

/* SHA-256 of len bytes into md. On failure err (cap bytes, may be NULL)
 * says why. Errors: CIS_EUNSUPPORTED (libcrypto missing; the message
 * names its package), CIS_ENOMEM (OpenSSL failed). */
cis_result cis__sha256(const void *data, size_t len, uint8_t md[32], char *err, size_t cap);

/* n bytes as 2n lower-case hex digits and a NUL into out (2n+1 bytes):
 * the one spelling of digests, keys and random ids. */
void cis__hex(const uint8_t *b, size_t n, char *out);

#endif /* CIS_COMMON_SHA256_H */
