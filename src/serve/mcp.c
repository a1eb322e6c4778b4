/*
 * This file implements the transport-free core of the MCP server
 * (include/cis/cis_mcp.h): one JSON-RPC 2.0 message in, its reply out,
 * with the session's state (the version initialize agreed on) on the
 * handle. It reaches skills only through include/cis/cis_skill.h.
 *
 * A message goes through three stages, each its own function: framing
 * checks (parse_message: UTF-8, one JSON value, a JSON-RPC 2.0 object with
 * a usable id), the era and state checks (dispatch: modern requests carry
 * their version in params._meta, legacy ones need initialize first), and
 * the method itself (method_*), which fills a result object. Errors use
 * the JSON-RPC codes the specification names; anything a client can send
 * gets a reply, so the only failure of cis_mcp_handle is memory.
 *
 * Calls in flight: each tools/call is in the handle's list of flights
 * (its id and, while the guest exists, its instance) so that a
 * notifications/cancelled handled on another thread can stop it. The list
 * and the session's version are under the handle's lock; a call itself
 * runs without it.
 */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cis/cis_mcp.h"
#include "common/internal.h"
#include "common/sha256.h"  /* cis__hex */
#include "serve/mcp_schema.h"
#include "serve/mcp_versions.h"
#include "common/json.h"

/* JSON-RPC 2.0 and MCP error codes. */
#define RPC_PARSE_ERROR (-32700)
#define RPC_INVALID_REQUEST (-32600)
#define RPC_METHOD_NOT_FOUND (-32601)
#define RPC_INVALID_PARAMS (-32602)
#define RPC_INTERNAL_ERROR (-32603)
#define MCP_UNSUPPORTED_VERSION (-32022) /* 2026-07-28 */

#define META_VERSION "io.modelcontextprotocol/protocolVersion"
#define META_CAPS "io.modelcontextprotocol/clientCapabilities"
#define META_SERVER "io.modelcontextprotocol/serverInfo"

/* Every version we speak, newest first: the modern one, then those of the
 * initialize handshake. What a version's messages may hold is decided by
 * since() below, one place per member. */
const char *const cis__mcp_versions[] = {CIS_MCP_LATEST_VERSION, "2025-11-25", "2025-06-18", "2025-03-26",
                                         "2024-11-05"};
const size_t cis__mcp_nversions = sizeof cis__mcp_versions / sizeof cis__mcp_versions[0];
#define FIRST_HANDSHAKE 1 /* cis__mcp_versions[1..] are the handshake's */
#define BATCH_VERSION "2025-03-26" /* the one version whose messages may be batches */

bool cis__mcp_version_known(const char *v) {
  for (size_t i = 0; i < cis__mcp_nversions; i++)
    if (!strcmp(v, cis__mcp_versions[i])) return true;
  return false;
}

/* Whether a message of version v (one of cis__mcp_versions[]) may carry
 * what the specification added in version first. Versions are dates, so their
 * text orders them. */
static bool since(const char *v, const char *first) { return v && strcmp(v, first) >= 0; }

/* How often on_skip hears of one skill left out for one reason, per
 * tenant: a client that polls tools/list every second (or a server
 * making a session per request) would otherwise write a line a poll. */
#define SKIP_TELL_MS 60000u
#define SKIP_SLOTS 64u

/* Whether the operator should be told now that tenant's tool is left out
 * for rc: not when the same was told less than SKIP_TELL_MS ago. One
 * table for the process, slots by a hash of the three (a collision only
 * tells once more). */
static bool skip_due(const char *tenant, const char *tool, cis_result rc) {
  static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  static struct {
    uint64_t hash, at_ms;
  } told[SKIP_SLOTS];
  /* Over tenant NUL tool NUL rc. */
  uint64_t h = cis__hash_bytes(0, tenant, strlen(tenant) + 1);
  h = cis__hash_bytes(h, tool, strlen(tool) + 1);
  uint32_t code = (uint32_t)rc;
  h = cis__hash_bytes(h, &code, sizeof code);
  h |= 1; /* 0 is an empty slot */
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t now = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
  pthread_mutex_lock(&mu);
  unsigned slot = (unsigned)(h % SKIP_SLOTS);
  bool due = told[slot].hash != h || now - told[slot].at_ms >= SKIP_TELL_MS;
  if (due) told[slot].hash = h, told[slot].at_ms = now;
  pthread_mutex_unlock(&mu);
  return due;
}

/* One tools/call in flight. */
typedef struct flight {
  struct flight *next;  /* the handle's list */
  char *id;             /* the request's id as JSON text ("7", "\"a\"") */
  bool cancelled;       /* notifications/cancelled named it */
  int stop;             /* the call's cancel flag (cis_invoke_options.cancel): set with it */
} flight;

struct cis_mcp {
  cis__handle h;        /* why cis_mcp_new failed (cis_errmsg) */
  cis_skills *skills;   /* borrowed */
  char *tenant;         /* calls run for it */
  size_t max_message;   /* cis_mcp_serve_fd's line cap */
  size_t page_size;     /* tools per tools/list page */
  void (*on_call)(void *, const char *, const cis_invoke_result *); /* see cis_mcp_config */
  void *on_call_user;
  void (*on_skip)(void *, const char *, cis_result, const char *); /* see cis_mcp_config */
  void *on_skip_user;
  unsigned watch_ms;    /* cis_mcp_serve_fd's look at the tool list */
  bool pushes;          /* a transport sends list_changed (capabilities) */
  pthread_mutex_t lock; /* guards version, initialized and flights */
  const char *version;  /* agreed by initialize (one of cis__mcp_versions[]), or NULL */
  bool initialized;     /* notifications/initialized seen */
  flight *flights;      /* tools/call in flight */
};

/* What a method asks the reply to be: a result, or an error. */
typedef struct reply {
  cJSON *result;        /* the result object, or NULL on error */
  int code;             /* JSON-RPC error code when result is NULL */
  char message[256];    /* its message */
  cJSON *data;          /* its data member, or NULL */
  bool none;            /* no reply at all (a cancelled call) */
} reply;

/* One request as dispatch sees it. */
typedef struct request {
  const char *method;   /* "tools/call", ... */
  const cJSON *params;  /* an object, or NULL when absent */
  const char *modern;   /* the version in params._meta (2026-07-28 era), or NULL */
  const cJSON *id;      /* its id */
} request;

static bool rpc_error(reply *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool rpc_error(reply *r, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->message, sizeof r->message, fmt, ap);
  va_end(ap);
  r->code = code;
  cJSON_Delete(r->result);
  r->result = NULL;
  return false;
}

cis_result cis_mcp_new(const cis_mcp_config *cfg, cis_mcp **out) {
  if (!out) return CIS_EINVAL;
  cis_mcp *m = *out = calloc(1, sizeof *m);
  if (!m) return CIS_ENOMEM;
  cis__handle_init(&m->h, CIS__H_OTHER);
  if (!cfg || !cfg->skills)
    return cis__handle_failed(&m->h, cis__fail(m, CIS_EINVAL, "mcp: %s", cfg ? "no skills handle" : "NULL config"));
  m->skills = cfg->skills;
  m->max_message = cfg->max_message ? cfg->max_message : CIS_MCP_MAX_MESSAGE;
  m->page_size = cfg->page_size ? cfg->page_size : CIS_MCP_PAGE_SIZE;
  m->on_call = cfg->on_call;
  m->on_call_user = cfg->on_call_user;
  m->on_skip = cfg->on_skip;
  m->on_skip_user = cfg->on_skip_user;
  m->watch_ms = cfg->watch_ms ? cfg->watch_ms : CIS_MCP_WATCH_MS;
  pthread_mutex_init(&m->lock, NULL);
  if (!(m->tenant = strdup(cfg->tenant ? cfg->tenant : "default"))) {
    pthread_mutex_destroy(&m->lock);
    return cis__handle_failed(&m->h, CIS_ENOMEM);
  }
  return CIS_OK;
}

void cis_mcp_free(cis_mcp *m) {
  if (!m) return;
  if (m->h.failed) { /* a shell */
    free(m);
    return;
  }
  free(m->tenant);
  pthread_mutex_destroy(&m->lock);
  free(m);
}

/* The agreed version, read under the lock (initialize may run on another
 * thread than a call). */
static const char *version_of(cis_mcp *m) {
  pthread_mutex_lock(&m->lock);
  const char *v = m->version;
  pthread_mutex_unlock(&m->lock);
  return v;
}

const char *cis_mcp_negotiated_version(const cis_mcp *m) {
  return m && !m->h.failed ? version_of((cis_mcp *)m) : NULL;
}

/* Internal: the line cap of the stdio transport (mcp_stdio.c). */
size_t cis__mcp_max_message(const cis_mcp *m);
size_t cis__mcp_max_message(const cis_mcp *m) { return m->max_message; }

/* Internal (mcp_stdio.c): cis_mcp_new failed; m is a shell. */
bool cis__mcp_failed(const cis_mcp *m);
bool cis__mcp_failed(const cis_mcp *m) { return m->h.failed != CIS_OK; }

/* Internal (mcp_stdio.c): the transport sends list_changed, so initialize
 * says so; set before the first message. */
void cis__mcp_set_pushes(cis_mcp *m, bool on);
void cis__mcp_set_pushes(cis_mcp *m, bool on) { m->pushes = on; }

/* Internal (mcp_stdio.c): the watch period, and whether a handshake-era
 * session is initialized (list_changed may be sent: 2026-07-28 sends
 * notifications only on a subscription, which we do not offer). */
unsigned cis__mcp_watch_ms(const cis_mcp *m);
unsigned cis__mcp_watch_ms(const cis_mcp *m) { return m->watch_ms; }
bool cis__mcp_may_notify(cis_mcp *m);
bool cis__mcp_may_notify(cis_mcp *m) {
  pthread_mutex_lock(&m->lock);
  bool ok = m->version && m->initialized;
  pthread_mutex_unlock(&m->lock);
  return ok;
}

/* Internal (mcp_stdio.c): a digest of the tool list (names, modules and
 * install times) into hex (65 bytes); false when the registry cannot be
 * read (no change is said then). */
bool cis__mcp_list_digest(cis_mcp *m, char *hex);
bool cis__mcp_list_digest(cis_mcp *m, char *hex) {
  cis_skill_info *infos = NULL;
  size_t n = 0;
  if (cis_skills_list(m->skills, &infos, &n) != CIS_OK) return false;
  size_t per = sizeof infos->name + sizeof infos->sha256 + 24;
  char *text = malloc(n * per + 1);
  size_t len = 0;
  for (size_t i = 0; text && i < n; i++)
    len += (size_t)snprintf(text + len, per + 1, "%s\n%s\n%lld\n", infos[i].name, infos[i].sha256,
                            (long long)infos[i].installed_at);
  bool ok = text && cis_sha256_hex((const uint8_t *)text, len, hex) == CIS_OK;
  free(text);
  free(infos);
  return ok;
}

/* ------------------------------------------------------------ framing */

/* Internal (mcp_stdio.c): whether msg is a tools/call request, which the
 * stdio transport runs on a thread of its own. Anything that does not
 * parse is not: cis_mcp_handle answers it at once. */
bool cis__mcp_is_call(const char *msg, size_t len);
bool cis__mcp_is_call(const char *msg, size_t len) {
  cJSON *root = cJSON_ParseWithLength(msg, len);
  const cJSON *method = cJSON_GetObjectItemCaseSensitive(root, "method");
  bool call = cJSON_IsObject(root) && cJSON_GetObjectItemCaseSensitive(root, "id") && cJSON_IsString(method) &&
              !strcmp(method->valuestring, "tools/call");
  cJSON_Delete(root);
  return call;
}

/* Parses msg as exactly one JSON value, held to RFC 8259 (UTF-8 only,
 * nothing after the value: a reply may quote the client's strings), and
 * with no escaped NUL (\u0000) in any string: cJSON decodes one into a C
 * string that ends there, so a method, an id, a tool's name or an
 * argument would silently be read as its part before it (two ids that
 * differ after it would be one flight). NULL on a parse error. */
static cJSON *parse_json(const char *msg, size_t len) {
  cJSON *v = NULL;
  return cis__json_parse_strict(msg, len, true, &v, NULL, 0) == CIS_OK ? v : NULL;
}

/* An id we can echo exactly: a string, or a number that is a safe
 * integer, below 2^53 in magnitude (cJSON keeps numbers as doubles: 2^53
 * + 1 reads as 2^53, so from 2^53 on a number could come back as
 * another). MCP ids are strings or integers, never null. */
static bool id_ok(const cJSON *id) {
  if (cJSON_IsString(id)) return true;
  if (!cJSON_IsNumber(id)) return false;
  double d = id->valuedouble;
  return d == floor(d) && fabs(d) < 9007199254740992.0;
}

/* A copy of id (NULL = null) for the reply. An integer is written as its
 * digits: cJSON would print 2^53 - 1 as 9.00719925474099e+15. */
static cJSON *id_copy(const cJSON *id) {
  if (!id) return cJSON_CreateNull();
  if (!cJSON_IsNumber(id)) return cJSON_Duplicate(id, true);
  char digits[32];
  snprintf(digits, sizeof digits, "%.0f", id->valuedouble);
  return cJSON_CreateRaw(digits);
}

/* ------------------------------------------------------------ results */

/* The server's Implementation as version v knows it: title came in
 * 2025-06-18, description in 2025-11-25. */
static cJSON *server_info(const char *v) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "name", "cis");
  cJSON_AddStringToObject(o, "version", cis_version());
  if (since(v, "2025-06-18")) cJSON_AddStringToObject(o, "title", "cis");
  if (since(v, "2025-11-25")) cJSON_AddStringToObject(o, "description", "WebAssembly skills as tools");
  return o;
}

/* listChanged only when the transport sends it (stdio); over HTTP we
 * never write unasked. */
static cJSON *capabilities(const cis_mcp *m) {
  cJSON *c = cJSON_CreateObject();
  cJSON *t = cJSON_AddObjectToObject(c, "tools");
  cJSON_AddBoolToObject(t, "listChanged", m->pushes);
  return c;
}

/* A modern (2026-07-28) result carries resultType and the server's
 * identity in _meta; cacheable lists also say for how long and for whom. */
static void modern_result(cJSON *res, const char *v, bool cacheable) {
  cJSON_AddStringToObject(res, "resultType", "complete");
  if (cacheable) {
    /* Skills may be installed at any moment, and the list is the tenant's. */
    cJSON_AddNumberToObject(res, "ttlMs", 0);
    cJSON_AddStringToObject(res, "cacheScope", "private");
  }
  cJSON *meta = cJSON_AddObjectToObject(res, "_meta");
  cJSON_AddItemToObject(meta, META_SERVER, server_info(v));
}

/* ------------------------------------------------------------ methods */

/* initialize: agrees on a handshake version (the client's when we speak it,
 * else the newest we have) and says what we offer. */
static bool method_initialize(cis_mcp *m, const request *rq, reply *r) {
  const cJSON *v = rq->params ? cJSON_GetObjectItemCaseSensitive(rq->params, "protocolVersion") : NULL;
  if (version_of(m)) return rpc_error(r, RPC_INVALID_REQUEST, "Invalid Request: already initialized");
  if (!cJSON_IsString(v)) return rpc_error(r, RPC_INVALID_PARAMS, "Invalid params: protocolVersion must be a string");
  const char *agreed = cis__mcp_versions[FIRST_HANDSHAKE];
  for (size_t i = FIRST_HANDSHAKE; i < cis__mcp_nversions; i++)
    if (!strcmp(v->valuestring, cis__mcp_versions[i])) agreed = cis__mcp_versions[i];
  pthread_mutex_lock(&m->lock);
  bool first = !m->version; /* two initialize at once: one wins */
  if (first) m->version = agreed;
  pthread_mutex_unlock(&m->lock);
  if (!first) return rpc_error(r, RPC_INVALID_REQUEST, "Invalid Request: already initialized");
  cJSON_AddStringToObject(r->result, "protocolVersion", agreed);
  cJSON_AddItemToObject(r->result, "capabilities", capabilities(m));
  cJSON_AddItemToObject(r->result, "serverInfo", server_info(agreed));
  return true;
}

/* server/discover (2026-07-28): the versions, capabilities and identity. */
static bool method_discover(cis_mcp *m, const request *rq, reply *r) {
  (void)rq;
  cJSON *sv = cJSON_AddArrayToObject(r->result, "supportedVersions");
  for (size_t i = 0; i < cis__mcp_nversions; i++)
    cJSON_AddItemToArray(sv, cJSON_CreateString(cis__mcp_versions[i]));
  /* 2026-07-28 notifies only on subscriptions/listen, which we lack. */
  cJSON *caps = capabilities(m);
  cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(caps, "tools"), "listChanged",
                                         cJSON_CreateFalse());
  cJSON_AddItemToObject(r->result, "capabilities", caps);
  modern_result(r->result, rq->modern, true);
  return true;
}

static bool method_ping(cis_mcp *m, const request *rq, reply *r) {
  (void)m, (void)rq, (void)r;
  return true; /* an empty result */
}

/* The manifest of NAME as cis_skills_show gives it (parsed), or NULL with
 * *rc set: CIS_ENOTFOUND when no such skill. */
static cJSON *show_skill(cis_mcp *m, const char *name, cis_result *rc) {
  char *text = NULL;
  *rc = cis_skills_show(m->skills, name, &text);
  if (*rc != CIS_OK) return NULL;
  cJSON *doc = cJSON_Parse(text);
  free(text);
  if (!doc) *rc = CIS_ENOMEM;
  return doc;
}

/* A Tool's annotations (2025-03-26 on) from the skill's grants, which the
 * sandbox holds it to, so the hints are true: without KV, a writable host
 * or db mount (a mem mount ends with the call) or HTTP, a call leaves
 * nothing behind (readOnlyHint); without HTTP or AI it reaches nothing
 * outside the host (openWorldHint false). */
static cJSON *annotations_of(const cJSON *doc) {
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(doc, "permissions");
  const cJSON *kv = cJSON_GetObjectItemCaseSensitive(p, "kv");
  const cJSON *http = cJSON_GetObjectItemCaseSensitive(p, "http");
  const cJSON *fs = cJSON_GetObjectItemCaseSensitive(p, "fs");
  bool net = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(http, "allow")) > 0;
  bool writes = kv && !cJSON_IsFalse(kv);
  const cJSON *mt;
  cJSON_ArrayForEach(mt, cJSON_GetObjectItemCaseSensitive(fs, "mounts")) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(mt, "type");
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(mt, "mode");
    if (!(cJSON_IsString(type) && !strcmp(type->valuestring, "mem")) &&
        !(cJSON_IsString(mode) && !strcmp(mode->valuestring, "ro")))
      writes = true;
  }
  cJSON *a = cJSON_CreateObject();
  cJSON_AddBoolToObject(a, "readOnlyHint", !writes && !net);
  cJSON_AddBoolToObject(a, "openWorldHint", net || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "ai")));
  return a;
}

/* One Tool as version v knows it: name, description and inputSchema from
 * the manifest, and annotations from 2025-03-26 on. */
static cJSON *tool_of(cis_mcp *m, const char *v, const cis_skill_info *info, cis_result *rc) {
  cJSON *doc = show_skill(m, info->name, rc);
  if (!doc) return NULL;
  cJSON *t = cJSON_CreateObject();
  cJSON_AddStringToObject(t, "name", info->name);
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(doc, "description");
  cJSON_AddStringToObject(t, "description", cJSON_IsString(d) ? d->valuestring : info->description);
  cJSON *schema = cJSON_DetachItemFromObjectCaseSensitive(doc, "input_schema");
  if (!cJSON_IsObject(schema)) {
    cJSON_Delete(schema);
    /* Permissive: any object. The manifest did not say more. */
    schema = cJSON_CreateObject();
    cJSON_AddStringToObject(schema, "type", "object");
  }
  cJSON_AddItemToObject(t, "inputSchema", schema);
  if (since(v, "2025-03-26")) cJSON_AddItemToObject(t, "annotations", annotations_of(doc));
  cJSON_Delete(doc);
  return t;
}

/* Cursors of tools/list are opaque to clients: "n1." and the hex of the
 * last name of the page before, so a page goes on after that name even
 * when skills were installed or removed in between. */
#define CURSOR_PREFIX "n1."
#define CURSOR_MAX_NAME 64 /* cis_skill_info.name's longest */

static char *cursor_make(const char *name) {
  size_t n = strlen(name);
  char *c = malloc(sizeof CURSOR_PREFIX + 2 * n);
  if (!c) return NULL;
  memcpy(c, CURSOR_PREFIX, sizeof CURSOR_PREFIX - 1);
  cis__hex((const uint8_t *)name, n, c + sizeof CURSOR_PREFIX - 1);
  return c;
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* The name a cursor of ours holds into out (CURSOR_MAX_NAME + 1 bytes);
 * false for anything else (a client's invention, a cut or huge one). */
static bool cursor_read(const char *c, char *out) {
  size_t pre = sizeof CURSOR_PREFIX - 1, n = strlen(c);
  if (n <= pre || strncmp(c, CURSOR_PREFIX, pre) != 0 || (n - pre) % 2 || (n - pre) / 2 > CURSOR_MAX_NAME)
    return false;
  size_t k = 0;
  for (const char *p = c + pre; *p; p += 2) {
    int hi = hex_digit(p[0]), lo = hex_digit(p[1]);
    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return false;
    out[k++] = (char)(hi << 4 | lo);
  }
  out[k] = 0;
  return true;
}

static int by_name(const void *a, const void *b) {
  return strcmp(((const cis_skill_info *)a)->name, ((const cis_skill_info *)b)->name);
}

/* tools/list: the installed skills, sorted by name (bytewise, whatever the
 * registry's collation), m->page_size at a time: params.cursor (a
 * nextCursor we gave) says after which name the page starts. An invalid
 * cursor is invalid params, as the pagination utility asks. */
static bool method_tools_list(cis_mcp *m, const request *rq, reply *r) {
  const cJSON *cur = rq->params ? cJSON_GetObjectItemCaseSensitive(rq->params, "cursor") : NULL;
  char after[CURSOR_MAX_NAME + 1] = "";
  if (cur && (!cJSON_IsString(cur) || !cursor_read(cur->valuestring, after)))
    return rpc_error(r, RPC_INVALID_PARAMS, "Invalid params: cursor is not one this server gave");
  cis_skill_info *infos = NULL;
  size_t n = 0;
  cis_result rc = cis_skills_list(m->skills, &infos, &n);
  if (rc != CIS_OK)
    return rpc_error(r, RPC_INTERNAL_ERROR, "Internal error: %s: %s", cis_errname(rc),
                     cis_skills_errmsg(m->skills));
  if (n) qsort(infos, n, sizeof *infos, by_name);
  cJSON *tools = cJSON_AddArrayToObject(r->result, "tools");
  size_t i = 0, shown = 0;
  while (i < n && cur && strcmp(infos[i].name, after) <= 0) i++;
  for (; i < n && shown < m->page_size; i++) {
    cJSON *t = tool_of(m, rq->modern ? rq->modern : version_of(m), &infos[i], &rc);
    if (t) {
      cJSON_AddItemToArray(tools, t), shown++;
    } else if (rc == CIS_ENOMEM || rc == CIS_EREGISTRYDOWN || rc == CIS_EIO) {
      /* The host's failure, not one skill's: the list cannot be trusted. */
      free(infos);
      return rpc_error(r, RPC_INTERNAL_ERROR, "Internal error: %s", cis_errname(rc));
    } else if (rc != CIS_ENOTFOUND) { /* one removed since list is simply not there */
      /* One skill that cannot be offered (unsigned or untrusted under
       * require_signature, a stored manifest that no longer parses) must
       * not take the tenant's other tools with it: it is left out, and
       * the operator told why. */
      if (m->on_skip && skip_due(m->tenant, infos[i].name, rc))
        m->on_skip(m->on_skip_user, infos[i].name, rc, cis_skills_errmsg(m->skills));
    }
  }
  if (i < n) {
    char *next = cursor_make(infos[i - 1].name);
    if (!next || !cJSON_AddStringToObject(r->result, "nextCursor", next)) {
      free(next);
      free(infos);
      return rpc_error(r, RPC_INTERNAL_ERROR, "Internal error: out of memory");
    }
    free(next);
  }
  free(infos);
  if (rq->modern) modern_result(r->result, rq->modern, true);
  return true;
}

/* A tool result holding one text item. */
static void text_content(cJSON *res, const char *text) {
  cJSON *content = cJSON_AddArrayToObject(res, "content");
  cJSON *item = cJSON_CreateObject();
  cJSON_AddStringToObject(item, "type", "text");
  cJSON_AddStringToObject(item, "text", text);
  cJSON_AddItemToArray(content, item);
}

/* Adds f to m's flights. */
static void flight_add(cis_mcp *m, flight *f) {
  pthread_mutex_lock(&m->lock);
  f->next = m->flights;
  m->flights = f;
  pthread_mutex_unlock(&m->lock);
}

/* Takes f out of m's flights; whether it was cancelled. */
static bool flight_end(cis_mcp *m, flight *f) {
  pthread_mutex_lock(&m->lock);
  for (flight **p = &m->flights; *p; p = &(*p)->next)
    if (*p == f) {
      *p = f->next;
      break;
    }
  bool cancelled = f->cancelled;
  pthread_mutex_unlock(&m->lock);
  return cancelled;
}

/* An id as the JSON text flights are keyed by (malloc'd), or NULL. */
static char *id_key(const cJSON *id) {
  cJSON *copy = id_copy(id);
  char *key = copy ? cJSON_PrintUnformatted(copy) : NULL;
  cJSON_Delete(copy);
  return key;
}

/* notifications/cancelled: the calls in flight with that requestId are
 * stopped and will not be answered. An unknown id, a finished call's, or
 * params that name none are ignored, as the specification asks. */
static void cancel_request(cis_mcp *m, const cJSON *params) {
  const cJSON *rid = cJSON_IsObject(params) ? cJSON_GetObjectItemCaseSensitive(params, "requestId") : NULL;
  if (!rid || !id_ok(rid)) return;
  char *key = id_key(rid);
  if (!key) return;
  pthread_mutex_lock(&m->lock);
  for (flight *f = m->flights; f; f = f->next)
    if (!strcmp(f->id, key)) {
      f->cancelled = true;
      __atomic_store_n(&f->stop, 1, __ATOMIC_RELAXED); /* whatever stage the call is in */
    }
  pthread_mutex_unlock(&m->lock);
  free(key);
}

/* Runs skill NAME with input for the handle's tenant as the flight of the
 * request's id, so that a notifications/cancelled can stop it; *cancelled
 * says whether one did. */
static cis_result flight_run(cis_mcp *m, const request *rq, const char *name, const char *input,
                             cis_invoke_result *res, bool *cancelled) {
  flight f = {.id = id_key(rq->id)};
  *cancelled = false;
  if (!f.id) {
    memset(res, 0, sizeof *res);
    snprintf(res->error, sizeof res->error, "out of memory");
    return res->status = CIS_ENOMEM;
  }
  flight_add(m, &f);
  cis_invoke_options opt = {.tenant = m->tenant, .cancel = &f.stop};
  cis_result rc = cis_skills_invoke(m->skills, name, input, strlen(input), &opt, res);
  *cancelled = flight_end(m, &f);
  free(f.id);
  return rc;
}

/* tools/call: checks `arguments` against the tool's inputSchema (a
 * mismatch is a tool result with isError true, which the specification
 * files under input validation errors, so the model can retry), then runs
 * the skill with them as its JSON input. Its output is the text item (and,
 * from 2025-06-18 on, structuredContent: an object in the handshake
 * versions, any JSON value in 2026-07-28); a failed call is a result with isError true and
 * "CIS_NAME: message" as text. Finding the tool is the protocol's
 * business: an unknown one is invalid params. A call cancelled while it
 * ran gets no reply. */
static bool method_tools_call(cis_mcp *m, const request *rq, reply *r) {
  const cJSON *name = rq->params ? cJSON_GetObjectItemCaseSensitive(rq->params, "name") : NULL;
  if (!cJSON_IsString(name)) return rpc_error(r, RPC_INVALID_PARAMS, "Invalid params: name must be a string");
  const cJSON *args = cJSON_GetObjectItemCaseSensitive(rq->params, "arguments");
  if (args && !cJSON_IsObject(args))
    return rpc_error(r, RPC_INVALID_PARAMS, "Invalid params: arguments must be an object");
  cis_result rc;
  cJSON *doc = show_skill(m, name->valuestring, &rc);
  if (rc == CIS_ENOTFOUND || rc == CIS_EINVAL)
    return rpc_error(r, RPC_INVALID_PARAMS, "Unknown tool: %.200s", name->valuestring);
  if (rc == CIS_ENOMEM || rc == CIS_EREGISTRYDOWN || rc == CIS_EIO)
    return rpc_error(r, RPC_INTERNAL_ERROR, "Internal error: %s", cis_errname(rc));
  /* A skill tools/list leaves out (unsigned under require_signature, ...):
   * not offered, so calling it is the client's mistake. */
  if (rc != CIS_OK)
    return rpc_error(r, RPC_INVALID_PARAMS, "Tool not offered: %.200s (%s)", name->valuestring, cis_errname(rc));
  const cJSON *schema = cJSON_GetObjectItemCaseSensitive(doc, "input_schema");
  char why[300];
  cJSON *empty = args ? NULL : cJSON_CreateObject();
  bool fits = !schema || cis__mcp_schema_check(schema, args ? args : empty, why, sizeof why);
  cJSON_Delete(empty);
  cJSON_Delete(doc);
  if (!fits) {
    char text[400];
    snprintf(text, sizeof text, "Invalid arguments: %s", why);
    text_content(r->result, text);
    cJSON_AddTrueToObject(r->result, "isError");
    if (rq->modern) modern_result(r->result, rq->modern, false);
    return true;
  }

  char *input = args ? cJSON_PrintUnformatted(args) : strdup("{}");
  if (!input) return rpc_error(r, RPC_INTERNAL_ERROR, "Internal error: out of memory");
  cis_invoke_result res;
  memset(&res, 0, sizeof res);
  bool cancelled;
  rc = flight_run(m, rq, name->valuestring, input, &res, &cancelled);
  free(input);
  if (m->on_call) m->on_call(m->on_call_user, name->valuestring, &res);
  if (cancelled) {
    r->none = true;
  } else if (rc == CIS_OK && res.output) {
    text_content(r->result, res.output);
    cJSON *structured = cJSON_ParseWithLength(res.output, res.output_len);
    if (structured && (rq->modern || (since(version_of(m), "2025-06-18") && cJSON_IsObject(structured))))
      cJSON_AddItemToObject(r->result, "structuredContent", structured);
    else cJSON_Delete(structured);
    cJSON_AddFalseToObject(r->result, "isError");
  } else {
    if (rc == CIS_OK) rc = CIS_EINVAL; /* no output: cannot happen; said as an error all the same */
    /* A store's or the host's own words may name hosts or files: the
     * client gets the generic text, as from the HTTP invoke's 5xx, and
     * the detail goes to on_call (cis mcp writes it to stderr). */
    bool host_side = rc == CIS_EKVDOWN || rc == CIS_EVFSDOWN || rc == CIS_EREGISTRYDOWN || rc == CIS_EIO ||
                     rc == CIS_ENOMEM;
    char text[700];
    snprintf(text, sizeof text, "%s: %s", cis_errname(rc),
             res.error[0] && !host_side ? res.error : cis_strerror(rc));
    text_content(r->result, text);
    cJSON_AddTrueToObject(r->result, "isError");
  }
  cis_invoke_result_free(&res);
  if (rq->modern && !cancelled) modern_result(r->result, rq->modern, false);
  return true;
}

/* ----------------------------------------------------------- dispatch */

typedef bool (*method_fn)(cis_mcp *m, const request *rq, reply *r);

/* The methods, with the era each belongs to. */
static const struct {
  const char *name;   /* JSON-RPC method */
  method_fn fn;       /* its handler */
  bool legacy;        /* served after initialize (2025-xx) */
  bool modern;        /* served with params._meta's version (2026-07-28) */
} methods[] = {
    {"initialize", method_initialize, true, false},
    {"ping", method_ping, true, false}, /* 2026-07-28 removed it */
    {"server/discover", method_discover, false, true},
    {"tools/list", method_tools_list, true, true},
    {"tools/call", method_tools_call, true, true},
};
#define NMETHODS (sizeof methods / sizeof methods[0])

/* Checks the era of a request and runs its method. A request is modern
 * when params._meta names a protocol version: that version must be ours
 * and the client's capabilities must be there. Otherwise it is legacy and,
 * except initialize and ping (the lifecycle allows pings at any time),
 * waits for initialize. */
static bool dispatch(cis_mcp *m, request *rq, reply *r) {
  if (rq->params) {
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(rq->params, "_meta");
    if (meta && !cJSON_IsObject(meta)) return rpc_error(r, RPC_INVALID_PARAMS, "Invalid params: _meta must be an object");
    const cJSON *v = meta ? cJSON_GetObjectItemCaseSensitive(meta, META_VERSION) : NULL;
    if (v) {
      if (!cJSON_IsString(v))
        return rpc_error(r, RPC_INVALID_PARAMS, "Invalid params: _meta." META_VERSION " must be a string");
      if (strcmp(v->valuestring, CIS_MCP_LATEST_VERSION) != 0) {
        r->data = cJSON_CreateObject();
        cJSON *sv = cJSON_AddArrayToObject(r->data, "supported");
        for (size_t i = 0; i < cis__mcp_nversions; i++)
          cJSON_AddItemToArray(sv, cJSON_CreateString(cis__mcp_versions[i]));
        cJSON_AddStringToObject(r->data, "requested", v->valuestring);
        return rpc_error(r, MCP_UNSUPPORTED_VERSION, "Unsupported protocol version");
      }
      if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(meta, META_CAPS)))
        return rpc_error(r, RPC_INVALID_PARAMS, "Invalid params: _meta." META_CAPS " must be an object");
      rq->modern = v->valuestring;
    }
  }
  for (size_t i = 0; i < NMETHODS; i++) {
    if (strcmp(rq->method, methods[i].name) != 0) continue;
    if (rq->modern ? !methods[i].modern : !methods[i].legacy) break;
    if (!rq->modern && !version_of(m) && methods[i].fn != method_initialize && methods[i].fn != method_ping)
      return rpc_error(r, RPC_INVALID_REQUEST, "Invalid Request: not initialized (send initialize first)");
    return methods[i].fn(m, rq, r);
  }
  if (!rq->modern && !strcmp(rq->method, "server/discover"))
    return rpc_error(r, RPC_INVALID_PARAMS, "Invalid params: _meta." META_VERSION " is required");
  return rpc_error(r, RPC_METHOD_NOT_FOUND, "Method not found: %.200s", rq->method);
}

/* A notification: never answered. notifications/initialized ends the
 * handshake, notifications/cancelled stops a call in flight; the others
 * (progress, roots, ...) need nothing from us. */
static void notify(cis_mcp *m, const char *method, const cJSON *params) {
  if (!strcmp(method, "notifications/cancelled")) return cancel_request(m, params);
  pthread_mutex_lock(&m->lock);
  if (!strcmp(method, "notifications/initialized") && m->version) m->initialized = true;
  pthread_mutex_unlock(&m->lock);
}

/* The reply message for id (NULL = null) and r, as one line of text. */
static char *reply_text(const cJSON *id, reply *r) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  cJSON_AddStringToObject(o, "jsonrpc", "2.0");
  cJSON_AddItemToObject(o, "id", id_copy(id));
  if (r->result) {
    cJSON_AddItemToObject(o, "result", r->result);
    r->result = NULL;
  } else {
    cJSON *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddNumberToObject(e, "code", r->code);
    cJSON_AddStringToObject(e, "message", r->message);
    if (r->data) cJSON_AddItemToObject(e, "data", r->data);
    r->data = NULL;
  }
  char *s = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return s;
}

/* A batch (2025-03-26): each member handled as a message of its own, in
 * order, their replies in one array, or no reply when none has one (all
 * notifications or responses). A member that is itself an array is no
 * request (JSON-RPC batches do not nest). */
static cis_result handle_batch(cis_mcp *m, const cJSON *batch, char **out, size_t *out_len) {
  size_t cap = 64, used = 1;
  char *all = malloc(cap);
  if (!all) return CIS_ENOMEM;
  all[0] = '[';
  const cJSON *item;
  cJSON_ArrayForEach(item, batch) {
    char *one = NULL, *text = NULL;
    size_t n = 0;
    cis_result rc = CIS_OK;
    if (cJSON_IsArray(item)) {
      reply r = {.code = 0};
      rpc_error(&r, RPC_INVALID_REQUEST, "Invalid Request: a batch member is an array");
      if (!(one = reply_text(NULL, &r))) rc = CIS_ENOMEM;
      n = one ? strlen(one) : 0;
    } else if (!(text = cJSON_PrintUnformatted(item))) {
      rc = CIS_ENOMEM;
    } else {
      rc = cis_mcp_handle(m, text, strlen(text), &one, &n);
    }
    free(text);
    if (rc == CIS_OK && one && used + n + 2 > cap) {
      while (used + n + 2 > cap) cap *= 2;
      char *grown = realloc(all, cap);
      if (!grown) rc = CIS_ENOMEM;
      else all = grown;
    }
    if (rc != CIS_OK) {
      free(one);
      free(all);
      return rc;
    }
    if (one) {
      if (used > 1) all[used++] = ',';
      memcpy(all + used, one, n);
      used += n;
      free(one);
    }
  }
  if (used == 1) { /* nothing to answer */
    free(all);
    return CIS_OK;
  }
  all[used++] = ']';
  all[used] = 0;
  *out = all;
  *out_len = used;
  return CIS_OK;
}

/* Whether m's session takes batches: only 2025-03-26 has them (2024-11-05
 * never named them, 2025-06-18 took them out again). */
static bool takes_batches(cis_mcp *m) {
  const char *v = version_of(m);
  return v && !strcmp(v, BATCH_VERSION);
}

cis_result cis_mcp_handle(cis_mcp *m, const char *msg, size_t len, char **out, size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  if (m->h.failed) return CIS_ESTATE; /* its creation failed: only its message and free */
  reply r = {.code = 0};
  const cJSON *id = NULL;
  bool answer = true;
  cJSON *root = parse_json(msg, len);
  if (!root) {
    rpc_error(&r, RPC_PARSE_ERROR, "Parse error: not one well-formed JSON value in UTF-8");
    goto send;
  }
  if (cJSON_IsArray(root) && cJSON_GetArraySize(root) > 0 && takes_batches(m)) {
    cis_result rc = handle_batch(m, root, out, out_len);
    cJSON_Delete(root);
    return rc;
  }
  if (cJSON_IsArray(root) && cJSON_GetArraySize(root) > 0) {
    rpc_error(&r, RPC_INVALID_REQUEST, "Invalid Request: a batch (only a 2025-03-26 session takes them)");
    goto send;
  }
  if (!cJSON_IsObject(root)) {
    rpc_error(&r, RPC_INVALID_REQUEST, "Invalid Request: not a JSON-RPC 2.0 object");
    goto send;
  }
  const cJSON *jsonrpc = cJSON_GetObjectItemCaseSensitive(root, "jsonrpc");
  const cJSON *method = cJSON_GetObjectItemCaseSensitive(root, "method");
  const cJSON *rid = cJSON_GetObjectItemCaseSensitive(root, "id");
  const cJSON *params = cJSON_GetObjectItemCaseSensitive(root, "params");
  if (rid && id_ok(rid)) id = rid;
  if (!cJSON_IsString(jsonrpc) || strcmp(jsonrpc->valuestring, "2.0") != 0) {
    rpc_error(&r, RPC_INVALID_REQUEST, "Invalid Request: jsonrpc must be \"2.0\"");
    goto send;
  }
  if (!method) {
    /* A response from the client (we send no requests, so nothing waits
     * for it) is not answered; anything else without a method is invalid. */
    if (id && (cJSON_GetObjectItemCaseSensitive(root, "result") || cJSON_GetObjectItemCaseSensitive(root, "error")))
      answer = false;
    else rpc_error(&r, RPC_INVALID_REQUEST, "Invalid Request: no method");
    goto send;
  }
  if (!cJSON_IsString(method)) {
    rpc_error(&r, RPC_INVALID_REQUEST, "Invalid Request: method must be a string");
    goto send;
  }
  if (!rid) {
    notify(m, method->valuestring, params);
    answer = false;
    goto send;
  }
  if (!id) {
    rpc_error(&r, RPC_INVALID_REQUEST, "Invalid Request: id must be a string or an integer (|id| < 2^53)");
    goto send;
  }
  if (params && !cJSON_IsObject(params)) {
    rpc_error(&r, RPC_INVALID_PARAMS, "Invalid params: params must be an object");
    goto send;
  }
  if (!(r.result = cJSON_CreateObject())) {
    cJSON_Delete(root);
    return CIS_ENOMEM;
  }
  request rq = {.method = method->valuestring, .params = params, .id = id};
  dispatch(m, &rq, &r);
  if (r.none) answer = false;
send:;
  cis_result rc = CIS_OK;
  if (answer) {
    *out = reply_text(id, &r);
    if (*out) *out_len = strlen(*out);
    else rc = CIS_ENOMEM;
  }
  cJSON_Delete(r.result);
  cJSON_Delete(r.data);
  cJSON_Delete(root);
  return rc;
}
