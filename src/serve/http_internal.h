/*
 * This file declares what the HTTP server's files share: the request
 * router, the bundle and MCP header parsers (pure functions over what a
 * client sent, fuzzed by fuzz/fuzz_http.c), the libcrypto functions the
 * server uses, and the worker pool.
 */
#ifndef CIS_SERVE_HTTP_INTERNAL_H
#define CIS_SERVE_HTTP_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cis/cis_serve.h"

/* ------------------------------------------------------------- router */

typedef enum cis__route_kind {
  CIS__ROUTE_HEALTH,   /* GET /v1/health */
  CIS__ROUTE_METRICS,  /* GET /metrics */
  CIS__ROUTE_LIST,     /* GET /v1/skills */
  CIS__ROUTE_INSTALL,  /* POST /v1/skills */
  CIS__ROUTE_SHOW,     /* GET /v1/skills/{name} */
  CIS__ROUTE_REMOVE,   /* DELETE /v1/skills/{name} */
  CIS__ROUTE_INVOKE,   /* POST /v1/skills/{name}/invoke */
  CIS__ROUTE_MCP,      /* POST /mcp */
  CIS__ROUTE_MCP_END,  /* DELETE /mcp (ends a session) */
  CIS__ROUTE_CALLS,    /* GET /v1/calls (the tenant's recent calls) */
  CIS__ROUTE_PAGE,     /* GET / and /ui/{file}: the operator page */
} cis__route_kind;

typedef struct cis__route {
  cis__route_kind kind; /* which route */
  char name[65];        /* the skill, for SHOW, REMOVE, INVOKE; the file, for PAGE */
  const char *allow;    /* for a 405: the methods the path takes */
} cis__route;

/* Routes method and path (the URL's path, no query). Returns 0, 404 (no
 * such path, or a skill name no skill can have: 1..64 of a-z 0-9 - _ .,
 * beginning with a letter or digit) or 405 (r->allow says what the path
 * takes). */
int cis__http_route(const char *method, const char *path, cis__route *r);

/* A yes-or-no query argument (DELETE /v1/skills/{name}?purge=):
 * "true" or "1", "false" or "0", absent (text NULL: no). 0 with *out
 * set, or 400 for anything else (*out false). */
int cis__http_flag(const char *text, bool *out);

/* A bundle: the body of POST /v1/skills, a JSON object
 * {"manifest": OBJECT or STRING, "wasm_base64": STRING} (RFC 4648
 * base64, padded, no line breaks), and for a signed skill "signature":
 * its skill.sig as an object or as text (docs/signing.md; a signed
 * manifest must then be given as its exact text, a string). *manifest
 * (NUL-terminated), *wasm and *signature (NULL when absent) are
 * malloc'd. Errors: CIS_EJSON (not strict JSON), CIS_EINVAL (shape,
 * base64), CIS_ETOOBIG (module above max_wasm), CIS_EUNSUPPORTED (no
 * libcrypto for the base64), CIS_ENOMEM; the reason goes to err. */
cis_result cis__http_bundle_parse(const char *body, size_t len, size_t max_wasm, char **manifest, size_t *mlen,
                                  uint8_t **wasm, size_t *wlen, char **signature, char *err, size_t errcap);

/* What the /mcp route needs to know of a message before it runs it. */
typedef struct cis__mcp_peek {
  bool parsed;          /* strict JSON: an object, or a batch */
  bool is_batch;        /* a non-empty array (is_request: a member is one) */
  bool is_request;      /* has a method and an id */
  bool is_notification; /* has a method, no id */
  bool is_initialize;   /* method "initialize" */
  char method[64];      /* the method (truncated), "" for a response */
  char meta_version[32]; /* params._meta's protocol version, "" when none */
} cis__mcp_peek;

/* Reads what cis__mcp_peek holds from body (len bytes). */
void cis__http_mcp_peek(const char *body, size_t len, cis__mcp_peek *p);
/* Whether v is a protocol version /mcp speaks. */
bool cis__http_mcp_version_known(const char *v);

/* ------------------------------------------------------------- head */

/* What the head of one request says about its framing and its header
 * bytes: every occurrence of every header is added (cis__http_head_add),
 * each with its real length. */
typedef struct cis__http_head {
  unsigned n_length;                   /* Content-Length headers */
  bool length_bad;                     /* one is not 1..19 digits, or two differ */
  uint64_t length;                     /* the declared length, when n_length and not length_bad */
  bool has_te;                         /* a Transfer-Encoding header */
  bool bad_byte;                       /* a control byte or NUL in a name or a value (HTAB aside) */
  unsigned n_auth;                     /* Authorization headers */
  const char *auth;                    /* the first one's value (the caller's memory), or NULL */
  size_t auth_len;                     /* its real length */
  bool auth_bad;                       /* a control byte or NUL in it */
  bool name_bad;                       /* a header name that is no token (RFC 9110 5.1) */
  /* The layout (cis__http_head_start): where the head lies in the
   * library's buffer and where its last string ended; 0 when unchecked. */
  uintptr_t lo, hi;
  const char *at;
  bool layout_bad;                     /* the strings do not tile the head */
} cis__http_head;

/* libmicrohttpd 0.9.75 hands out the request line's parts and each
 * header's name and value as C strings inside its read buffer, where it
 * wrote a NUL over every separator (the request line's spaces, each
 * colon, CR and LF). A NUL the client sent inside one of them cuts that
 * string short and hides the rest; a folded line moves a name elsewhere.
 * The head is whole only when the strings tile it: each starts right
 * after the previous one's separator, which holds only NULs (and SP or
 * HTAB before a value). Starts that check with the request line: the
 * method (where the head starts, head_size bytes long), the raw target
 * (target_len: its length as read before decoding) and the version;
 * each cis__http_head_add then continues it, cis__http_head_problem ends
 * it at the head's end. */
void cis__http_head_start(cis__http_head *h, const char *method, size_t head_size, const char *target,
                          size_t target_len, const char *version);

/* Adds one header (name and value of the given lengths; value may be
 * NULL for an empty one) to h, which starts zeroed. */
void cis__http_head_add(cis__http_head *h, const char *name, size_t name_len, const char *value,
                        size_t value_len);

/* Why the request cannot be served as it came, or NULL: a framing its
 * body cannot be read by without guessing (RFC 9112 6.3: Content-Length
 * with Transfer-Encoding, Content-Lengths that differ or are not a
 * number), a control byte in a header, or in the target (bad_target, from
 * cis__http_target_bad), a header name that is no token, or a head its
 * strings do not tile (a NUL inside a field, a folded line). Answered
 * 400, and the connection closed. */
const char *cis__http_head_problem(const cis__http_head *h, bool bad_target);

/* Whether the raw request target (before percent-decoding, NUL-ended)
 * holds a control byte (0x00-0x1f, 0x7f), raw or percent-encoded: the
 * server's library decodes it in place and would end the path at %00. */
bool cis__http_target_bad(const char *target);

/* ------------------------------------------------------------- results */

/* Whether a call's stats carry a fuel count: a call that ran without a
 * fuel limit reports UINT64_MAX (cis_instance_fuel_left), one that did
 * not run reports 0; a limited call that used it all ended in CIS_EFUEL. */
static inline bool cis__http_fuel_limited(cis_result rc, const cis_invoke_stats *st) {
  return st->fuel_left != UINT64_MAX && (st->fuel_left != 0 || rc == CIS_EFUEL);
}

/* ------------------------------------------------------------- crypto */

/* libcrypto, loaded on first use: n random bytes (CIS_EIO when the RNG
 * fails), a constant-time compare, and base64 decoding. */
cis_result cis__http_crypto_load(char *err, size_t cap);
cis_result cis__http_random(void *buf, size_t n);
bool cis__http_equal_ct(const void *a, const void *b, size_t n);
/* Decodes padded base64 text (len bytes, a multiple of 4, only the
 * alphabet and final '='s) into out (room for len / 4 * 3 bytes);
 * -1 when it is not that. The library must be loaded. */
long cis__http_base64_decode(const char *text, size_t len, uint8_t *out);

/* ------------------------------------------------------------- tokens */

/* Most verified tokens a cis_tokens handle caches (http_token.c). */
#define CIS__TOKEN_CACHE_MAX 1024u
/* How long a server may go on accepting a token after another node
 * revoked it: the token generation (row 2 of cis_registry_gen) is read at
 * most this often by a check (docs/serve.md). */
#define CIS__TOKENS_POLL_MS 1000u
/* cis_tokens_check, where a token the handle has not cached is looked
 * up in the store only if may_look_up(ctx) allows it (a server's rate of
 * such lookups, docs/serve.md); when it does not: CIS_ESTATE, *paced
 * set, and nothing read. NULL may_look_up: always. */
cis_result cis__tokens_check_paced(cis_tokens *t, const char *token, size_t len, char *tenant, size_t cap,
                                   bool (*may_look_up)(void *ctx), void *ctx, bool *paced);
/* How many it holds now (for tests). */
size_t cis__tokens_cached(cis_tokens *t);
/* How many times it was emptied (for tests). */
uint64_t cis__tokens_emptied(cis_tokens *t);

#endif /* CIS_SERVE_HTTP_INTERNAL_H */
