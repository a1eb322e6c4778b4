/*
 * cis_mcp.h -- installed skills as Model Context Protocol tools.
 *
 * A cis_mcp handle is one MCP session over a cis_skills registry: each
 * installed skill is a tool (its manifest's "input_schema" is the tool's
 * inputSchema, {"type":"object"} when absent), tools/call runs it through
 * cis_skills_invoke for the handle's tenant, and a skill's failure (error,
 * trap, timeout, limit) is a tool result with "isError": true, not a
 * protocol error.
 *
 * The core is transport-free: cis_mcp_handle takes one JSON-RPC 2.0
 * message and gives back the one reply, or none for a notification. The
 * stdio transport (newline-delimited messages, as `cis mcp` serves them)
 * is cis_mcp_serve_fd; an HTTP transport passes each POSTed body to
 * cis_mcp_handle the same way.
 *
 * Protocol versions (docs/mcp.md): 2024-11-05, 2025-03-26, 2025-06-18 and
 * 2025-11-25 through the initialize handshake (a client asking for another
 * version is answered with 2025-11-25; each session's replies hold only
 * what its version knows, and a 2025-03-26 session takes JSON-RPC
 * batches), and 2026-07-28 statelessly, each request carrying the
 * version in params._meta (server/discover included); a request naming an
 * unknown version there gets UnsupportedProtocolVersionError (-32022).
 *
 * tools/list pages the tools (config.page_size a page; nextCursor, an
 * opaque cursor, until the last page; a cursor we did not make is -32602).
 * A skill that cannot be offered (unsigned under require_signature, ...)
 * is left out and told to config.on_skip; only a failure of the host
 * (registry down, memory) fails the whole list.
 * tools/call checks the arguments against the tool's inputSchema first
 * (docs/mcp.md says which keywords); a mismatch is a tool result with
 * isError true, as the specification files input validation errors.
 *
 * Cancellation: notifications/cancelled naming a tools/call in flight on
 * the handle stops its guest (cis_instance_cancel) and that call gets no
 * reply (cis_mcp_handle gives none), as the specification asks; an
 * unknown or finished id is ignored.
 *
 * Thread safety: a handle is one session. cis_mcp_handle may be called
 * from several threads at once (a transport runs each tools/call on its
 * own thread, so that a notifications/cancelled can reach it); the other
 * functions from one thread at a time. Several handles may share a
 * cis_skills.
 */
#ifndef CIS_CIS_MCP_H
#define CIS_CIS_MCP_H

#include "cis/cis.h"
#include "cis/cis_skill.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The longest message (one line on stdio) read by default: 4 MiB. A longer
 * one is answered with a parse error (-32700) and skipped. */
#define CIS_MCP_MAX_MESSAGE (4u * 1024 * 1024)
/* How often cis_mcp_serve_fd looks at the tool list by default (ms). */
#define CIS_MCP_WATCH_MS 2000u
/* Tools per tools/list page by default. */
#define CIS_MCP_PAGE_SIZE 100u
/* How many tools/call cis_mcp_serve_fd runs at once; one more waits (and
 * the messages behind it) until one ends. */
#define CIS_MCP_MAX_CALLS 16u
/* The newest protocol version, and the newest one with initialize. */
#define CIS_MCP_LATEST_VERSION "2026-07-28"
#define CIS_MCP_LATEST_HANDSHAKE_VERSION "2025-11-25"

typedef struct cis_mcp cis_mcp;

typedef struct cis_mcp_config {
  cis_skills *skills;        /* the registry whose skills are the tools
                                (borrowed: it must outlive the handle) */
  const char *tenant;        /* the tenant calls run for (copied); NULL =
                                "default" */
  size_t max_message;        /* longest message cis_mcp_serve_fd reads; 0 =
                                CIS_MCP_MAX_MESSAGE */
  size_t page_size;          /* tools per tools/list page; 0 =
                                CIS_MCP_PAGE_SIZE */
  /* Told of each tools/call that ran (the skill's result, a cancelled
   * one's included), on the thread that ran it, e.g. for a server's list
   * of recent calls; NULL = nobody. */
  void (*on_call)(void *user, const char *tool, const cis_invoke_result *res);
  void *on_call_user;
  /* Told of each skill tools/list leaves out because that skill alone
   * cannot be offered (the error and its message: under
   * cis_skills_config.require_signature an unsigned or untrusted skill,
   * CIS_ESIGNATURE; a stored manifest that no longer parses), so that the
   * operator learns why a tool is missing; the others are listed as
   * usual. Told once a minute at most for one tenant, skill and error,
   * however often tools/list is asked, in whichever session. NULL =
   * nobody. */
  void (*on_skip)(void *user, const char *tool, cis_result rc, const char *why);
  void *on_skip_user;
  unsigned watch_ms;         /* cis_mcp_serve_fd: how often it looks for
                                installed, replaced or removed skills to
                                send notifications/tools/list_changed; 0 =
                                CIS_MCP_WATCH_MS */
} cis_mcp_config;

/* A new session. CIS_EINVAL without skills, CIS_ENOMEM. On failure *out is
 * a failed session (cis.h, "Errors"): cis_errmsg(*out) says why, calls on
 * it are CIS_ESTATE; free it with cis_mcp_free. */
CIS_EXTERN cis_result cis_mcp_new(const cis_mcp_config *cfg, cis_mcp **out);
CIS_EXTERN void cis_mcp_free(cis_mcp *m);

/* Handles one JSON-RPC message of len bytes (no framing: the newline of
 * stdio is not part of it). *reply receives the reply message (malloc'd,
 * one line of JSON without a newline, free with free()) and *reply_len its
 * length, or NULL and 0 when there is none (a notification, or a response
 * from the client). Anything a client may send is answered by the protocol
 * (parse error, invalid request, ...): the return value is CIS_OK, or
 * CIS_ENOMEM when no reply could be made. */
CIS_EXTERN cis_result cis_mcp_handle(cis_mcp *m, const char *msg, size_t len, char **reply,
                                     size_t *reply_len);

/* The stdio transport: reads newline-delimited messages from in_fd and
 * writes each reply and a newline to out_fd, until end of input (CIS_OK).
 * Each tools/call runs on a thread of its own (at most CIS_MCP_MAX_CALLS
 * at once) while reading goes on, so its reply may come after those of
 * later messages; at end of input the calls in flight finish and are
 * answered before it returns. Once the handshake is done
 * (notifications/initialized of a 2025-xx session), a change of the tool
 * list (a skill installed, replaced or removed; looked at every
 * config.watch_ms) is sent as notifications/tools/list_changed, and the
 * capabilities initialize gives say listChanged true (cis_mcp_handle
 * alone, with no transport that can send unasked, says false).
 * Blank lines are skipped and a "\r" before the newline is dropped. A line
 * longer than max_message is answered with a parse error (-32700, id
 * null) as soon as it passes the cap, and the rest of it is read and
 * dropped, so memory stays bounded. CIS_EIO when reading or writing fails
 * (EPIPE included: the client went away), CIS_ENOMEM. */
CIS_EXTERN cis_result cis_mcp_serve_fd(cis_mcp *m, int in_fd, int out_fd);

/* The version the initialize handshake agreed on, or NULL before it. */
CIS_EXTERN const char *cis_mcp_negotiated_version(const cis_mcp *m);

#ifdef __cplusplus
}
#endif
#endif /* CIS_CIS_MCP_H */
