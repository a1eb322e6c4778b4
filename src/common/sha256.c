/*
 * This file implements SHA-256 over OpenSSL's libcrypto, loaded on first
 * use (see sha256.h for why), and its public form cis_sha256_hex.
 */
#include "common/sha256.h"

#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>

/* The soname and package the build found (cmake/CisDeps.cmake). */
#if !defined(CIS_CRYPTO_SONAME) || !defined(CIS_CRYPTO_PACKAGE)
#error "CIS_CRYPTO_SONAME and CIS_CRYPTO_PACKAGE come from the build"
#endif

#define CIS__CRYPTO_FUNCS(X) \
  X(EVP_Digest, digest)      \
  X(EVP_sha256, sha256)      \
  X(EVP_MD_fetch, md_fetch)  \
  X(EVP_MD_free, md_free)

static struct {
  CIS__CRYPTO_FUNCS(CIS__DYNLIB_MEMBER)
} crypto;

static const char *const crypto_names[] = {CIS__CRYPTO_FUNCS(CIS__DYNLIB_NAME)};

static void crypto_bind(void *const *fn) {
  size_t i = 0;
#define BIND(f, member) crypto.member = (__typeof__(f) *)fn[i++];
  CIS__CRYPTO_FUNCS(BIND)
#undef BIND
}

cis__dynlib cis__crypto_lib = {.soname = CIS_CRYPTO_SONAME, .package = CIS_CRYPTO_PACKAGE,
                               .names = crypto_names, .count = CIS_ARRAY_LEN(crypto_names),
                               .bind = crypto_bind};

/* SHA-256's implementation, fetched once: EVP_sha256() makes OpenSSL 3
 * look it up again on every digest, 40% of hashing a token (each request
 * of `cis serve` hashes its bearer token). Kept for the process. */
static _Atomic(EVP_MD *) sha256_md;

static const EVP_MD *sha256_type(void) {
  EVP_MD *md = atomic_load_explicit(&sha256_md, memory_order_acquire);
  if (md) return md;
  md = crypto.md_fetch(NULL, "SHA256", NULL);
  if (!md) return crypto.sha256();
  EVP_MD *none = NULL;
  if (!atomic_compare_exchange_strong_explicit(&sha256_md, &none, md, memory_order_acq_rel, memory_order_acquire)) {
    crypto.md_free(md); /* another thread's came first */
    return none;
  }
  return md;
}

cis_result cis__sha256(const void *data, size_t len, uint8_t md[32], char *err, size_t cap) {
  cis_result rc = cis__dynlib_load(&cis__crypto_lib, err, cap);
  if (rc != CIS_OK) return rc;
  unsigned int n = 0;
  const EVP_MD *type = sha256_type();
  if (!type || !crypto.digest(data, len, md, &n, type, NULL) || n != 32) {
    if (err && cap) snprintf(err, cap, "OpenSSL could not compute a SHA-256");
    return CIS_ENOMEM;
  }
  return CIS_OK;
}

cis_result cis_sha256_hex(const void *data, size_t len, char out[65]) {
  if (!out || (!data && len)) return CIS_EINVAL;
  uint8_t md[32];
  cis_result rc = cis__sha256(data, len, md, NULL, 0);
  if (rc != CIS_OK) {
    out[0] = '\0';
    return rc;
  }
  cis__hex(md, sizeof md, out);
  return CIS_OK;
}

/* The digit of nibble v (0-15): '0' + v, and 39 more past 9 ('a' - '0' - 10).
 * No table indexed by the bytes, so keys and tokens are spelt without
 * data-dependent loads. */
static char hex_digit(unsigned v) { return (char)(v + '0' + (v > 9) * 39); }

void cis__hex(const uint8_t *b, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = hex_digit(b[i] >> 4);
    out[2 * i + 1] = hex_digit(b[i] & 15u);
  }
  out[2 * n] = '\0';
}
