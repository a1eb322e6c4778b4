/*
 * This file declares what the operator page's tests share: a server in
 * process on a loopback port of its own, on a fresh home, with tokens for
 * the tenants alice and bob, and alice's skills installed from the
 * fixtures (echo, trap, logger, grow).
 */
#ifndef CIS_TESTS_SERVE_OP_SERVER_H
#define CIS_TESTS_SERVE_OP_SERVER_H

#include "cis/cis_serve.h"

typedef struct op_server {
  char home[128];                   /* its CIS_HOME, removed by op_server_stop */
  cis_server *s;
  int port;                         /* where it listens on 127.0.0.1 */
  char alice[CIS_TOKEN_MAX];        /* a token of tenant alice */
  char bob[CIS_TOKEN_MAX];          /* a token of tenant bob */
} op_server;

/* Starts one; fixtures is the folder of the built .wasm files. NULL on
 * failure, said on stderr. */
op_server *op_server_start(const char *fixtures);
/* The same, with tune (when not NULL) changing the server's configuration
 * before the start. */
op_server *op_server_start_tuned(const char *fixtures, void (*tune)(cis_server_config *c));
void op_server_stop(op_server *v);
/* POSTs body to /v1/skills/NAME/invoke as alice; the HTTP status, 0 when
 * no reply came. */
int op_invoke(op_server *v, const char *name, const char *body);

#endif
