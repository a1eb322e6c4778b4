/*
 * This file declares the MCP protocol versions cis speaks (mcp.c), shared
 * by the protocol core and the HTTP transport, which checks the
 * MCP-Protocol-Version header against them and lists them in its
 * refusals.
 */
#ifndef CIS_SERVE_MCP_VERSIONS_H
#define CIS_SERVE_MCP_VERSIONS_H

#include <stdbool.h>
#include <stddef.h>

/* Every version, newest first: CIS_MCP_LATEST_VERSION (stateless), then
 * those of the initialize handshake. */
extern const char *const cis__mcp_versions[];
extern const size_t cis__mcp_nversions;

/* Whether v is one of them. */
bool cis__mcp_version_known(const char *v);

#endif
