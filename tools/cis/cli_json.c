/*
 * This file implements the `--json` output that `cis skill run`, `skill
 * list`, `skill show`, `inspect` and `validate` share: one JSON document on
 * stdout (cJSON), always with the same three members first,
 *
 *   {"status": "ok" | "error", "exit_code": N,
 *    "error": null | {"name": "CIS_...", "code": -500, "message": "..."},
 *    ...what the command adds...}
 *
 * so a script reads one shape whatever the command and however it ended.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char *cli_error_detail(cis_result rc, const char *msg) {
  const char *name = cis_errname(rc);
  size_t n = strlen(name);
  while (msg && !strncmp(msg, name, n) && (msg[n] == ':' || msg[n] == '\0')) {
    msg += n;
    while (*msg == ':' || *msg == ' ') msg++;
  }
  return msg && *msg ? msg : cis_strerror(rc);
}

cJSON *cli_json_doc(cis_result rc, const char *msg) {
  cJSON *d = cJSON_CreateObject();
  if (!d) return NULL;
  cJSON_AddStringToObject(d, "status", rc == CIS_OK ? "ok" : "error");
  cJSON_AddNumberToObject(d, "exit_code", cli_exit_code(rc));
  if (rc == CIS_OK) {
    cJSON_AddNullToObject(d, "error");
  } else {
    cJSON *e = cJSON_AddObjectToObject(d, "error");
    if (e) {
      cJSON_AddStringToObject(e, "name", cis_errname(rc));
      cJSON_AddNumberToObject(e, "code", rc);
      cJSON_AddStringToObject(e, "message", cli_error_detail(rc, msg));
    }
  }
  return d;
}

int cli_json_print(cJSON *doc) {
  char *text = doc ? cJSON_Print(doc) : NULL;
  cJSON_Delete(doc);
  if (!text) {
    fprintf(stderr, "cis: out of memory writing the JSON output\n");
    return CLI_EXIT_FAIL;
  }
  printf("%s\n", text);
  free(text);
  return CLI_EXIT_OK;
}

int cli_json_fail(cis_result rc, const char *msg) {
  if (cli_json_print(cli_json_doc(rc, msg)) != CLI_EXIT_OK) return CLI_EXIT_FAIL;
  return cli_exit_code(rc);
}
