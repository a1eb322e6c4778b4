/*
 * This file declares the JSON Schema check of tools/call arguments
 * (mcp_schema.c): a subset of the keywords, enough for what tool input
 * schemas say, bounded in depth because the schema is a tenant's.
 */
#ifndef CIS_SERVE_MCP_SCHEMA_H
#define CIS_SERVE_MCP_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

/* How deep schemas may nest (each properties/items/additionalProperties
 * step is one level); a deeper one is refused, never recursed into. */
#define CIS__MCP_SCHEMA_DEPTH 32

/* Checks value v against schema (a schema object, or true / false).
 * Keywords: type (a name or an array of names), enum, const, required,
 * properties, additionalProperties (false or a schema), items (one
 * schema), minimum, maximum, minLength, maxLength, minItems, maxItems;
 * others are ignored, as JSON Schema ignores unknown ones. A member of
 * the wrong JSON type in the schema (required: 5) is ignored too: the
 * manifest's schema is shown to clients as it is. Returns true on a
 * match; else false with msg ("/path: why", at most cap bytes). */
bool cis__mcp_schema_check(const cJSON *schema, const cJSON *v, char *msg, size_t cap);

#endif
