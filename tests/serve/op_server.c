/*
 * This file implements the operator page tests' server (op_server.h).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/http_client.h"
#include "serve/op_server.h"
#include "serve/serve_fixture.h"

op_server *op_server_start(const char *fixtures) { return op_server_start_tuned(fixtures, NULL); }

op_server *op_server_start_tuned(const char *fixtures, void (*tune)(cis_server_config *c)) {
  op_server *v = calloc(1, sizeof *v);
  if (!v || serve_home_new(v->home, sizeof v->home)) {
    free(v);
    return NULL;
  }
  cis_tokens *t = NULL;
  bool ok = cis_tokens_open(v->home, &t) == CIS_OK &&
            cis_tokens_create(t, "alice", "a1", v->alice, sizeof v->alice, NULL) == CIS_OK &&
            cis_tokens_create(t, "bob", "b1", v->bob, sizeof v->bob, NULL) == CIS_OK;
  if (!ok) fprintf(stderr, "op_server: tokens: %s\n", cis_tokens_errmsg(t));
  cis_tokens_close(t);
  cis_skills *a = ok ? serve_open(v->home, "alice") : NULL;
  ok = a && serve_register(a, fixtures, "echo", "echo", "cis_v1", ",\"description\":\"says it back\"") == CIS_OK &&
       serve_register(a, fixtures, "trap", "trap", "cis_v1", "") == CIS_OK &&
       serve_register(a, fixtures, "logger", "logger", "cis_v1", ",\"permissions\":{\"log\":true}") == CIS_OK &&
       serve_register(a, fixtures, "grow", "grow", "cis_v1", "") == CIS_OK;
  cis_skills_close(a);
  if (ok) {
    cis_server_config c;
    cis_server_config_default(&c);
    const char *listen[] = {"127.0.0.1:0"};
    c.listen = listen;
    c.nlisten = 1;
    c.skills.home = v->home;
    c.workers = 2;
    if (tune) tune(&c);
    if (cis_server_start(&c, &v->s) != CIS_OK) {
      fprintf(stderr, "op_server: server: %s\n", cis_errmsg(v->s));
      cis_server_free(v->s);
      v->s = NULL;
      ok = false;
    }
  }
  if (!ok) {
    serve_home_remove(v->home);
    free(v);
    return NULL;
  }
  v->port = cis_server_port(v->s, 0);
  return v;
}

void op_server_stop(op_server *v) {
  if (!v) return;
  cis_server_free(v->s);
  serve_home_remove(v->home);
  free(v);
}

int op_invoke(op_server *v, const char *name, const char *body) {
  char path[128];
  snprintf(path, sizeof path, "/v1/skills/%s/invoke", name);
  http_resp r;
  if (http_send(v->port, "POST", path, v->alice, body, &r) != 0) return 0;
  int st = r.status;
  http_resp_free(&r);
  return st;
}
