/*
 * This file implements the stdio transport of the MCP server
 * (cis_mcp_serve_fd): newline-delimited JSON-RPC messages read from one
 * file descriptor, each reply written as one line to another.
 *
 * Memory is bounded by the line cap: a line is gathered in a buffer that
 * never grows past max_message; a longer one is answered with a parse
 * error as soon as it passes the cap and the rest of it is dropped as it
 * arrives, up to its newline.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cis/cis_mcp.h"

#define READ_CHUNK 65536 /* bytes per read() */

size_t cis__mcp_max_message(const cis_mcp *m);

/* The reply to a line over the cap; it has no id, since we never read it. */
#define TOO_LONG_FMT \
  "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"Parse error: message longer than %zu bytes\"}}"

/* Writes all n bytes; CIS_EIO when the reader is gone or writing fails. */
static cis_result write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return CIS_EIO;
    p += w;
    n -= (size_t)w;
  }
  return CIS_OK;
}

/* Handles one complete line (without its newline) and writes the reply. */
static cis_result serve_line(cis_mcp *m, char *line, size_t len, int out_fd) {
  if (len && line[len - 1] == '\r') len--;
  size_t i = 0;
  while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
  if (i == len) return CIS_OK; /* a blank line is no message */
  char *reply = NULL;
  size_t rlen = 0;
  cis_result rc = cis_mcp_handle(m, line, len, &reply, &rlen);
  if (rc == CIS_OK && reply) {
    rc = write_all(out_fd, reply, rlen);
    if (rc == CIS_OK) rc = write_all(out_fd, "\n", 1);
  }
  free(reply);
  return rc;
}

cis_result cis_mcp_serve_fd(cis_mcp *m, int in_fd, int out_fd) {
  size_t cap = cis__mcp_max_message(m);
  char *chunk = malloc(READ_CHUNK);
  char *line = NULL;   /* the line so far, at most cap bytes */
  size_t len = 0;      /* its length */
  size_t alloc = 0;    /* line's allocation */
  bool dropping = false; /* past the cap: read up to the newline and drop */
  cis_result rc = CIS_OK;
  if (!chunk) return CIS_ENOMEM;
  for (;;) {
    ssize_t got = read(in_fd, chunk, READ_CHUNK);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      rc = CIS_EIO;
      break;
    }
    if (got == 0) {
      /* End of input: a last line without its newline is still a message. */
      if (!dropping && len) rc = serve_line(m, line, len, out_fd);
      break;
    }
    const char *p = chunk, *end = chunk + got;
    while (p < end && rc == CIS_OK) {
      const char *nl = memchr(p, '\n', (size_t)(end - p));
      size_t take = (size_t)((nl ? nl : end) - p);
      if (!dropping && len + take > cap) {
        char msg[200];
        int n = snprintf(msg, sizeof msg, TOO_LONG_FMT "\n", cap);
        rc = write_all(out_fd, msg, (size_t)n);
        dropping = true;
        len = 0;
      }
      if (!dropping && take) {
        if (len + take > alloc) {
          size_t want = alloc ? alloc : 4096;
          while (want < len + take) want *= 2;
          if (want > cap) want = cap;
          char *grown = realloc(line, want);
          if (!grown) {
            rc = CIS_ENOMEM;
            break;
          }
          line = grown;
          alloc = want;
        }
        memcpy(line + len, p, take);
        len += take;
      }
      if (!nl) break;
      if (!dropping && rc == CIS_OK) rc = serve_line(m, line, len, out_fd);
      dropping = false;
      len = 0;
      p = nl + 1;
    }
    if (rc != CIS_OK) break;
  }
  free(line);
  free(chunk);
  return rc;
}
