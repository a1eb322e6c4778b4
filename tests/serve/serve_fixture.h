/*
 * This file declares what the server tests share: a fresh home under /tmp,
 * handles opened on it for a tenant, the fixture modules of tests/serve
 * (built from the .wat files), and manifests made for them.
 */
#ifndef CIS_TESTS_SERVE_FIXTURE_H
#define CIS_TESTS_SERVE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "cis/cis_skill.h"

/* Makes a temporary home (path into home, cap bytes); 0 on success. */
int serve_home_new(char *home, size_t cap);
/* Removes it and what is in it. */
void serve_home_remove(const char *home);
/* Opens a registry handle on home for tenant (NULL: the default handle);
 * NULL on failure, said on stderr. */
cis_skills *serve_open(const char *home, const char *tenant);
/* The bytes of fixture NAME.wasm in dir (malloc'd), or NULL. */
uint8_t *serve_fixture(const char *dir, const char *name, size_t *len);
/* A manifest for skill `name` running wasm (its sha256 computed here),
 * with abi and extra members (",\"limits\":{...}" or ""), into out. */
int serve_manifest(const uint8_t *wasm, size_t len, const char *name, const char *abi, const char *extra,
                   char *out, size_t cap);
/* Registers skill `name` from fixture `fixture` on s; cis_result. */
cis_result serve_register(cis_skills *s, const char *dir, const char *name, const char *fixture, const char *abi,
                          const char *extra);

#endif
