/*
 * This file implements Ed25519 signatures over libsodium, loaded on first
 * use (see ed25519.h for why).
 */
#include "common/ed25519.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

/* The soname and package the build found (cmake/CisDeps.cmake). */
#if !defined(CIS_SODIUM_SONAME) || !defined(CIS_SODIUM_PACKAGE)
#error "CIS_SODIUM_SONAME and CIS_SODIUM_PACKAGE come from the build"
#endif

#define CIS__SODIUM_FUNCS(X)                     \
  X(sodium_init, init)                           \
  X(crypto_sign_keypair, keypair)                \
  X(crypto_sign_detached, sign)                  \
  X(crypto_sign_verify_detached, verify)

static struct {
  CIS__SODIUM_FUNCS(CIS__DYNLIB_MEMBER)
} sodium;

static const char *const sodium_names[] = {CIS__SODIUM_FUNCS(CIS__DYNLIB_NAME)};

static void sodium_bind(void *const *fn) {
  size_t i = 0;
#define BIND(f, member) sodium.member = (__typeof__(f) *)fn[i++];
  CIS__SODIUM_FUNCS(BIND)
#undef BIND
}

cis__dynlib cis__sodium_lib = {.soname = CIS_SODIUM_SONAME, .package = CIS_SODIUM_PACKAGE,
                               .names = sodium_names, .count = CIS_ARRAY_LEN(sodium_names),
                               .bind = sodium_bind};

/* Loads libsodium and initialises it; sodium_init is thread-safe and
 * returns 1 when it already ran. */
static cis_result ready(char *err, size_t cap) {
  cis_result rc = cis__dynlib_load(&cis__sodium_lib, err, cap);
  if (rc != CIS_OK) return rc;
  if (sodium.init() < 0) {
    if (err && cap) snprintf(err, cap, "libsodium could not initialise (no source of randomness)");
    return CIS_EIO;
  }
  return CIS_OK;
}

cis_result cis__ed25519_keypair(uint8_t pk[CIS__ED25519_PUBLIC], uint8_t sk[CIS__ED25519_SECRET], char *err,
                                size_t cap) {
  cis_result rc = ready(err, cap);
  if (rc != CIS_OK) return rc;
  if (sodium.keypair(pk, sk) != 0) {
    if (err && cap) snprintf(err, cap, "libsodium could not make a key pair");
    return CIS_EIO;
  }
  return CIS_OK;
}

cis_result cis__ed25519_sign(uint8_t sig[CIS__ED25519_SIG], const void *msg, size_t len,
                             const uint8_t sk[CIS__ED25519_SECRET], char *err, size_t cap) {
  cis_result rc = ready(err, cap);
  if (rc != CIS_OK) return rc;
  if (sodium.sign(sig, NULL, msg, len, sk) != 0) {
    if (err && cap) snprintf(err, cap, "libsodium could not sign");
    return CIS_EIO;
  }
  return CIS_OK;
}

cis_result cis__ed25519_verify(const uint8_t sig[CIS__ED25519_SIG], const void *msg, size_t len,
                               const uint8_t pk[CIS__ED25519_PUBLIC], char *err, size_t cap) {
  cis_result rc = ready(err, cap);
  if (rc != CIS_OK) return rc;
  if (sodium.verify(sig, msg, len, pk) != 0) {
    if (err && cap) snprintf(err, cap, "the signature does not verify");
    return CIS_ESIGNATURE;
  }
  return CIS_OK;
}

void cis__wipe(void *p, size_t n) {
  volatile unsigned char *v = p;
  while (n--) *v++ = 0;
}
