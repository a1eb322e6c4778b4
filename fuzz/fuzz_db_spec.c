/*
 * fuzz_db_spec.c -- libFuzzer entry point of the fuzz_db_spec target.
 *
 * This file implements LLVMFuzzerTestOneInput for fuzz_db_spec: the
 * database spec (src/db/spec.c), which comes from configuration files,
 * the environment and embedders. Each input is a spec's bytes, read for a
 * service with a default file and one without, then again with a password
 * appended. A result breaking the parser's contract aborts: a code other
 * than CIS_OK, CIS_EINVAL or CIS_ETOOBIG; an accepted spec whose target is
 * not the tail of the text, or of a dialect that is neither SQLite nor
 * PostgreSQL; a refusal without a message, or with the password in it; a
 * NUL-terminated copy read differently; a database not the same as itself.
 * Seeds: fuzz/db_spec/.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SECRET " password=Zq9xSecretZq9"

static void check(const char *text, size_t len, cis__db_default flags, bool secret) {
  cis__db_spec s;
  char why[256];
  cis_result rc = cis__db_spec_parse_n(text, len, flags, &s, why, sizeof why);
  if (rc == CIS_OK) {
    if (s.dialect != CIS__DB_SQLITE && s.dialect != CIS__DB_POSTGRES) abort();
    if (!s.target || s.target < text || s.target_len > len || s.target + s.target_len != text + len) abort();
    if (s.home_default && (s.dialect != CIS__DB_SQLITE || s.target_len || flags != CIS__DB_HAS_DEFAULT))
      abort();
    if (s.dialect == CIS__DB_SQLITE && !s.home_default && !s.target_len) abort();
    if (why[0]) abort();
    if (memchr(text, 0, len)) abort();
    cis__db_identity id;
    bool known = cis__db_identify(&s, &id);
    if (known != (id.dialect != CIS__DB_NONE)) abort();
    if (cis__db_same(&s, &s) != known) abort();
  } else {
    if (rc != CIS_EINVAL && rc != CIS_ETOOBIG) abort();
    if (s.dialect != CIS__DB_NONE || s.target || s.target_len || s.home_default) abort();
    if (!why[0] || strlen(why) >= sizeof why) abort();
    if (secret && strstr(why, "Zq9xSecretZq9")) abort();
  }
  /* Refusals can come without a message buffer. */
  cis__db_spec t;
  if (cis__db_spec_parse_n(text, len, flags, &t, NULL, 0) != rc) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t cap = size + sizeof SECRET;
  char *text = malloc(cap);
  if (!text) return 0;
  memcpy(text, data, size);
  for (cis__db_default flags = CIS__DB_NO_DEFAULT; flags <= CIS__DB_HAS_DEFAULT; flags++) check(text, size, flags, false);

  /* As a C string (stopping at a NUL), the same reading. */
  text[size] = 0;
  size_t clen = strlen(text);
  for (cis__db_default flags = CIS__DB_NO_DEFAULT; flags <= CIS__DB_HAS_DEFAULT; flags++) {
    cis__db_spec a, b;
    cis_result x = cis__db_spec_parse(text, flags, &a, NULL, 0);
    cis_result y = cis__db_spec_parse_n(text, clen, flags, &b, NULL, 0);
    if (x != y || memcmp(&a, &b, sizeof a)) abort();
  }

  /* A password after it is never quoted back (unless the input itself
   * spells it where a scheme may be quoted). */
  bool clean = !memmem(data, size, "Zq9xSecretZq9", 13);
  memcpy(text + clen, SECRET, sizeof SECRET);
  for (cis__db_default flags = CIS__DB_NO_DEFAULT; flags <= CIS__DB_HAS_DEFAULT; flags++) check(text, clen + sizeof SECRET - 1, flags, clean);
  free(text);
  return 0;
}
