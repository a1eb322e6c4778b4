/*
 * This file declares the strict JSON reader of cis (json.c): manifests,
 * call inputs and outputs, HTTP and MCP bodies are all read by it, so
 * that one text is either JSON for all of them or for none.
 */
#ifndef CIS_COMMON_JSON_H
#define CIS_COMMON_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "cis/cis.h"

struct cJSON;
/* Parses text as one JSON value, held to RFC 8259 where cJSON is lenient:
 * no raw control characters in strings, UTF-8 only, no leading zeros,
 * nothing but blanks after the value; with no_nul, also no \u0000 escape
 * (cJSON would cut the string there). out (may be NULL: check only)
 * receives the tree, freed with cJSON_Delete. CIS_EJSON with the byte
 * offset and the reason in err. One implementation for manifests and the
 * input and output of calls. */
cis_result cis__json_parse_strict(const char *text, size_t len, bool no_nul, struct cJSON **out, char *err,
                                  size_t errcap);

#endif /* CIS_COMMON_JSON_H */
