/*
 * fuzz_signature.c -- libFuzzer entry point of the fuzz_signature target.
 *
 * This file implements LLVMFuzzerTestOneInput for fuzz_signature: each
 * input is a skill.sig text, then optionally a NUL byte and the manifest
 * text it claims to sign. The signature file goes through its parser
 * (cis__signature_parse) and, with the manifest, through the whole check
 * a load makes under require_signature (cis__signature_check: parse,
 * Ed25519 verification, the tenant's trusted keys), on a registry made
 * once in a temporary folder whose tenant trusts one key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "skill/skill_internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static cis_skills *g_skills;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  char home[] = "/tmp/cis-fuzz-sig-XXXXXX";
  if (!mkdtemp(home)) abort();
  cis_skills_config c;
  cis_skills_config_default(&c);
  c.home = home;
  c.engine = "interp"; /* no compile forked for the skills an input installs */
  c.tenant = "fuzz";
  c.require_signature = true;
  if (cis_skills_open(&c, &g_skills) != CIS_OK) abort();
  /* The key of the seed corpus's signatures (fuzz/signature/). */
  if (cis_skills_key_trust(g_skills, "seed", "a9346ae67a674f756fd67685c1f1860f6c26e8e14beee471ac42f1f2c3d6c83f") !=
      CIS_OK)
    abort();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nul = memchr(data, 0, size);
  size_t siglen = nul ? (size_t)(nul - data) : size;
  uint8_t pk[32], sig[64];
  char err[256];
  cis__signature_parse((const char *)data, siglen, pk, sig, err, sizeof err);
  if (nul) {
    const char *man = (const char *)nul + 1;
    size_t mlen = size - siglen - 1;
    cis__signature_check(g_skills, "fuzz", man, mlen, (const char *)data, siglen);
  }
  return 0;
}
