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
 */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cis/cis_mcp.h"
#include "skill/manifest.h" /* cis__json_parse_strict */

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
 * initialize handshake. */
static const char *const versions[] = {CIS_MCP_LATEST_VERSION, "2025-11-25", "2025-06-18"};
#define NVERSIONS (sizeof versions / sizeof versions[0])
#define FIRST_HANDSHAKE 1 /* versions[1..] are the handshake's */

struct cis_mcp {
  cis_skills *skills;   /* borrowed */
  char *tenant;         /* calls run for it */
  size_t max_message;   /* cis_mcp_serve_fd's line cap */
  const char *version;  /* agreed by initialize (one of versions[]), or NULL */
  bool initialized;     /* notifications/initialized seen */
};

/* What a method asks the reply to be: a result, or an error. */
typedef struct reply {
  cJSON *result;        /* the result object, or NULL on error */
  int code;             /* JSON-RPC error code when result is NULL */
  char message[256];    /* its message */
  cJSON *data;          /* its data member, or NULL */
} reply;

/* One request as dispatch sees it. */
typedef struct request {
  const char *method;   /* "tools/call", ... */
  const cJSON *params;  /* an object, or NULL when absent */
  const char *modern;   /* the version in params._meta (2026-07-28 era), or NULL */
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
  *out = NULL;
  if (!cfg || !cfg->skills) return CIS_EINVAL;
  cis_mcp *m = calloc(1, sizeof *m);
  if (!m) return CIS_ENOMEM;
  m->skills = cfg->skills;
  m->max_message = cfg->max_message ? cfg->max_message : CIS_MCP_MAX_MESSAGE;
  if (!(m->tenant = strdup(cfg->tenant ? cfg->tenant : "default"))) {
    free(m);
    return CIS_ENOMEM;
  }
  *out = m;
  return CIS_OK;
}

void cis_mcp_free(cis_mcp *m) {
  if (!m) return;
  free(m->tenant);
  free(m);
}

const char *cis_mcp_negotiated_version(const cis_mcp *m) { return m ? m->version : NULL; }

/* Internal: the line cap of the stdio transport (mcp_stdio.c). */
size_t cis__mcp_max_message(const cis_mcp *m);
size_t cis__mcp_max_message(const cis_mcp *m) { return m->max_message; }

/* ------------------------------------------------------------ framing */

/* Parses msg as exactly one JSON value, held to RFC 8259 (UTF-8 only,
 * nothing after the value: a reply may quote the client's strings).
 * NULL on a parse error. */
static cJSON *parse_json(const char *msg, size_t len) {
  cJSON *v = NULL;
  return cis__json_parse_strict(msg, len, false, &v, NULL, 0) == CIS_OK ? v : NULL;
}

/* An id we can echo exactly: a string, or a number that is an integer
 * within 2^53 (cJSON keeps numbers as doubles, so a larger one would come
 * back in another spelling). MCP ids are strings or integers, never null. */
static bool id_ok(const cJSON *id) {
  if (cJSON_IsString(id)) return true;
  if (!cJSON_IsNumber(id)) return false;
  double d = id->valuedouble;
  return d == floor(d) && fabs(d) <= 9007199254740992.0;
}

/* ------------------------------------------------------------ results */

static cJSON *server_info(void) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "name", "cis");
  cJSON_AddStringToObject(o, "version", cis_version());
  return o;
}

static cJSON *capabilities(void) {
  cJSON *c = cJSON_CreateObject();
  cJSON *t = cJSON_AddObjectToObject(c, "tools");
  cJSON_AddFalseToObject(t, "listChanged"); /* no notifications: we never write unasked */
  return c;
}

/* A modern (2026-07-28) result carries resultType and the server's
 * identity in _meta; cacheable lists also say for how long and for whom. */
static void modern_result(cJSON *res, bool cacheable) {
  cJSON_AddStringToObject(res, "resultType", "complete");
  if (cacheable) {
    /* Skills may be installed at any moment, and the list is the tenant's. */
    cJSON_AddNumberToObject(res, "ttlMs", 0);
    cJSON_AddStringToObject(res, "cacheScope", "private");
  }
  cJSON *meta = cJSON_AddObjectToObject(res, "_meta");
  cJSON_AddItemToObject(meta, META_SERVER, server_info());
}

/* ------------------------------------------------------------ methods */

/* initialize: agrees on a handshake version (the client's when we speak it,
 * else the newest we have) and says what we offer. */
static bool method_initialize(cis_mcp *m, const request *rq, reply *r) {
  if (m->version) return rpc_error(r, RPC_INVALID_REQUEST, "Invalid Request: already initialized");
  const cJSON *v = rq->params ? cJSON_GetObjectItemCaseSensitive(rq->params, "protocolVersion") : NULL;
  if (!cJSON_IsString(v)) return rpc_error(r, RPC_INVALID_PARAMS, "Invalid params: protocolVersion must be a string");
  const char *agreed = versions[FIRST_HANDSHAKE];
  for (size_t i = FIRST_HANDSHAKE; i < NVERSIONS; i++)
    if (!strcmp(v->valuestring, versions[i])) agreed = versions[i];
  m->version = agreed;
  cJSON_AddStringToObject(r->result, "protocolVersion", agreed);
  cJSON_AddItemToObject(r->result, "capabilities", capabilities());
  cJSON_AddItemToObject(r->result, "serverInfo", server_info());
  return true;
}

/* server/discover (2026-07-28): the versions, capabilities and identity. */
static bool method_discover(cis_mcp *m, const request *rq, reply *r) {
  (void)m, (void)rq;
  cJSON *sv = cJSON_AddArrayToObject(r->result, "supportedVersions");
  for (size_t i = 0; i < NVERSIONS; i++) cJSON_AddItemToArray(sv, cJSON_CreateString(versions[i]));
  cJSON_AddItemToObject(r->result, "capabilities", capabilities());
  modern_result(r->result, true);
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

/* One Tool: name, description and inputSchema from the manifest. */
static cJSON *tool_of(cis_mcp *m, const cis_skill_info *info, cis_result *rc) {
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
  cJSON_Delete(doc);
  return t;
}

/* tools/list: every installed skill, by name (cis_skills_list's order, so
 * the list is deterministic); no pagination. */
static bool method_tools_list(cis_mcp *m, const request *rq, reply *r) {
  cis_skill_info *infos = NULL;
  size_t n = 0;
  cis_result rc = cis_skills_list(m->skills, &infos, &n);
  if (rc != CIS_OK)
    return rpc_error(r, RPC_INTERNAL_ERROR, "Internal error: %s: %s", cis_errname(rc),
                     cis_skills_errmsg(m->skills));
  cJSON *tools = cJSON_AddArrayToObject(r->result, "tools");
  for (size_t i = 0; i < n; i++) {
    cJSON *t = tool_of(m, &infos[i], &rc);
    if (t) cJSON_AddItemToArray(tools, t);
    /* A skill removed since list is simply not there. */
    else if (rc != CIS_ENOTFOUND) {
      free(infos);
      return rpc_error(r, RPC_INTERNAL_ERROR, "Internal error: %s", cis_errname(rc));
    }
  }
  free(infos);
  if (rq->modern) modern_result(r->result, true);
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

/* tools/call: runs the skill with `arguments` as its JSON input. Its output
 * is the text item (and structuredContent: an object in the handshake
 * versions, any JSON value in 2026-07-28); a failed call is a result with
 * isError true and "CIS_NAME: message" as text. Finding the tool is the
 * protocol's business: an unknown one is invalid params. */
static bool method_tools_call(cis_mcp *m, const request *rq, reply *r) {
  const cJSON *name = rq->params ? cJSON_GetObjectItemCaseSensitive(rq->params, "name") : NULL;
  if (!cJSON_IsString(name)) return rpc_error(r, RPC_INVALID_PARAMS, "Invalid params: name must be a string");
  const cJSON *args = cJSON_GetObjectItemCaseSensitive(rq->params, "arguments");
  if (args && !cJSON_IsObject(args))
    return rpc_error(r, RPC_INVALID_PARAMS, "Invalid params: arguments must be an object");
  cis_result rc;
  cJSON *doc = show_skill(m, name->valuestring, &rc);
  cJSON_Delete(doc);
  if (rc == CIS_ENOTFOUND || rc == CIS_EINVAL)
    return rpc_error(r, RPC_INVALID_PARAMS, "Unknown tool: %.200s", name->valuestring);
  if (rc != CIS_OK) return rpc_error(r, RPC_INTERNAL_ERROR, "Internal error: %s", cis_errname(rc));

  char *input = args ? cJSON_PrintUnformatted(args) : strdup("{}");
  if (!input) return rpc_error(r, RPC_INTERNAL_ERROR, "Internal error: out of memory");
  cis_invoke_options opt = {.tenant = m->tenant};
  cis_invoke_result res;
  memset(&res, 0, sizeof res);
  rc = cis_skills_invoke(m->skills, name->valuestring, input, strlen(input), &opt, &res);
  free(input);
  if (rc == CIS_OK && res.output) {
    text_content(r->result, res.output);
    cJSON *structured = cJSON_ParseWithLength(res.output, res.output_len);
    if (structured && (rq->modern || cJSON_IsObject(structured)))
      cJSON_AddItemToObject(r->result, "structuredContent", structured);
    else cJSON_Delete(structured);
    cJSON_AddFalseToObject(r->result, "isError");
  } else {
    if (rc == CIS_OK) rc = CIS_EINVAL; /* no output: cannot happen; said as an error all the same */
    char text[700];
    snprintf(text, sizeof text, "%s: %s", cis_errname(rc), res.error[0] ? res.error : cis_strerror(rc));
    text_content(r->result, text);
    cJSON_AddTrueToObject(r->result, "isError");
  }
  cis_invoke_result_free(&res);
  if (rq->modern) modern_result(r->result, false);
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
        for (size_t i = 0; i < NVERSIONS; i++) cJSON_AddItemToArray(sv, cJSON_CreateString(versions[i]));
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
    if (!rq->modern && !m->version && methods[i].fn != method_initialize && methods[i].fn != method_ping)
      return rpc_error(r, RPC_INVALID_REQUEST, "Invalid Request: not initialized (send initialize first)");
    return methods[i].fn(m, rq, r);
  }
  if (!rq->modern && !strcmp(rq->method, "server/discover"))
    return rpc_error(r, RPC_INVALID_PARAMS, "Invalid params: _meta." META_VERSION " is required");
  return rpc_error(r, RPC_METHOD_NOT_FOUND, "Method not found: %.200s", rq->method);
}

/* A notification: never answered. notifications/initialized ends the
 * handshake; the others (cancelled, progress, ...) need nothing from a
 * server that answers each request before reading the next. */
static void notify(cis_mcp *m, const char *method) {
  if (!strcmp(method, "notifications/initialized") && m->version) m->initialized = true;
}

/* A copy of id (NULL = null) for the reply. An integer is written as its
 * digits: cJSON would print 2^53 as 9.00719925474099e+15. */
static cJSON *id_copy(const cJSON *id) {
  if (!id) return cJSON_CreateNull();
  if (!cJSON_IsNumber(id)) return cJSON_Duplicate(id, true);
  char digits[32];
  snprintf(digits, sizeof digits, "%.0f", id->valuedouble);
  return cJSON_CreateRaw(digits);
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

cis_result cis_mcp_handle(cis_mcp *m, const char *msg, size_t len, char **out, size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  reply r = {.code = 0};
  const cJSON *id = NULL;
  bool answer = true;
  cJSON *root = parse_json(msg, len);
  if (!root) {
    rpc_error(&r, RPC_PARSE_ERROR, "Parse error: not one well-formed JSON value in UTF-8");
    goto send;
  }
  /* Batches (arrays) left JSON-RPC for MCP in 2025-06-18. */
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
    notify(m, method->valuestring);
    answer = false;
    goto send;
  }
  if (!id) {
    rpc_error(&r, RPC_INVALID_REQUEST, "Invalid Request: id must be a string or an integer (|id| <= 2^53)");
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
  request rq = {.method = method->valuestring, .params = params};
  dispatch(m, &rq, &r);
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
