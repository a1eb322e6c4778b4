/*
 * This file declares the Ed25519 signatures of libcis (signed skills):
 * libsodium's, loaded on first use through dynlib.h like libcrypto, so a
 * run that checks no signature does not map it.
 */
#ifndef CIS_COMMON_ED25519_H
#define CIS_COMMON_ED25519_H

#include <stddef.h>
#include <stdint.h>

#include "common/dynlib.h"

#define CIS__ED25519_PUBLIC 32  /* bytes of a public key */
#define CIS__ED25519_SECRET 64  /* bytes of a secret key (seed, then public key) */
#define CIS__ED25519_SIG 64     /* bytes of a signature */

/* The library, for tests (cis__dynlib_test_soname, cis__dynlib_loaded). */
extern cis__dynlib cis__sodium_lib;

/* A new key pair from the system's random source. On failure err (cap
 * bytes, may be NULL) says why. Errors: CIS_EUNSUPPORTED (libsodium
 * missing; the message names its package), CIS_EIO (no randomness). */
cis_result cis__ed25519_keypair(uint8_t pk[CIS__ED25519_PUBLIC], uint8_t sk[CIS__ED25519_SECRET], char *err,
                                size_t cap);

/* sk's detached signature of msg[0..len). Errors: as keypair. */
cis_result cis__ed25519_sign(uint8_t sig[CIS__ED25519_SIG], const void *msg, size_t len,
                             const uint8_t sk[CIS__ED25519_SECRET], char *err, size_t cap);

/* CIS_OK when sig is pk's signature of msg[0..len), CIS_ESIGNATURE when it
 * is not (or pk is not a valid point); CIS_EUNSUPPORTED as keypair. */
cis_result cis__ed25519_verify(const uint8_t sig[CIS__ED25519_SIG], const void *msg, size_t len,
                               const uint8_t pk[CIS__ED25519_PUBLIC], char *err, size_t cap);

/* Wipes n bytes of secret material in a way the compiler keeps. */
void cis__wipe(void *p, size_t n);

#endif /* CIS_COMMON_ED25519_H */
