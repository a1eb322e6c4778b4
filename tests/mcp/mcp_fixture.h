/*
 * This file declares the registry the MCP tests share: a fresh CIS_HOME in
 * a temporary folder holding seven skills registered from the .wat
 * fixtures of tests/mcp (see mcp_fixture.c).
 */
#ifndef CIS_TESTS_MCP_FIXTURE_H
#define CIS_TESTS_MCP_FIXTURE_H

#include <stddef.h>

#include "cis/cis_skill.h"

/* The input schema the "echo" skill's manifest declares. */
#define ECHO_SCHEMA \
  "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\"}},\"required\":[\"text\"]}"

/* Makes a temporary home under /tmp (its path into home), registers
 * echo (echo_input.wasm, with ECHO_SCHEMA and a description), plain (the
 * same module, no schema), trap, spin (timeout 200 ms), fail, logger
 * (logs a line) and numbers (answers [1,2]) from the
 * fixtures in fixture_dir, and returns the open registry (NULL on
 * failure, said on stderr). */
cis_skills *mcp_fixture_open(const char *fixture_dir, char *home, size_t homecap);
/* Registers NAME from FIXTURE.wasm in fixture_dir, with extra members
 * (",\"limits\":{...}") in its manifest: 0, or -1 said on stderr. */
int mcp_fixture_add(cis_skills *s, const char *fixture_dir, const char *name, const char *fixture, const char *extra);
/* Removes the home folder. */
void mcp_fixture_remove(const char *home);

#endif
