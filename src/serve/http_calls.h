/*
 * This file declares the operator's view of a server: the ring of a
 * tenant's recent calls (GET /v1/calls) and the page at / with its
 * files, embedded in the program at build time (src/serve/page/).
 */
#ifndef CIS_SERVE_HTTP_CALLS_H
#define CIS_SERVE_HTTP_CALLS_H

#include <stddef.h>
#include <stdint.h>

#include "cis/cis_skill.h"

/* How many calls a tenant's ring keeps, and the bytes of log kept of each
 * (cut at a character boundary): with the other fields, a ring stays
 * under 300 KiB. */
#define CIS__CALLS_KEPT 64
#define CIS__CALL_LOG_CAP 4096

typedef struct cis__calls cis__calls; /* one tenant's ring (thread-safe) */

/* A new empty ring, or NULL when out of memory. */
cis__calls *cis__calls_new(void);
void cis__calls_free(cis__calls *c);

/* Records one finished invocation of skill `name`: the HTTP status it was
 * answered with, and its result (status, error, logs, stats; copied and
 * cut to the caps). The oldest record goes when the ring is full. */
void cis__calls_add(cis__calls *c, const char *name, unsigned http_status, const cis_invoke_result *res);
/* The same for a call that came another way than POST /v1/skills/NAME
 * ("http"): via is "mcp" for an MCP tools/call, shown as the record's
 * "via". http_status is what an HTTP invoke would have been answered. */
void cis__calls_add_via(cis__calls *c, const char *name, const char *via, unsigned http_status,
                        const cis_invoke_result *res);

/* The newest `limit` records, newest first, as the JSON body of GET
 * /v1/calls (malloc'd, length in *len), or NULL when out of memory. */
char *cis__calls_json(cis__calls *c, unsigned limit, size_t *len);

/* Reads the `limit` query argument (NULL when absent) into *out: absent
 * is CIS__CALLS_KEPT, a decimal of 1 or more, above the cap clamped to it.
 * Anything else (empty, 0, a sign, spaces, hex, exponents) is 400; else
 * 0. */
int cis__calls_limit(const char *text, unsigned *out);

/* ------------------------------------------------------------- page */

/* One file of the operator page. */
typedef struct cis__page_asset {
  const char *name;  /* path under /ui/ ("index.html" is also /) */
  const char *ctype; /* its Content-Type */
  const char *data;  /* its bytes (the program's) */
  size_t len;
} cis__page_asset;

/* The file named `name`, or NULL. */
const cis__page_asset *cis__page_find(const char *name);

#endif /* CIS_SERVE_HTTP_CALLS_H */
