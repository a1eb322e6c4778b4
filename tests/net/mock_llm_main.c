/*
 * This file implements mock_llm, a standalone OpenAI-compatible server on
 * 127.0.0.1 for demos and CLI tests (the protocol and its "mock:" modes
 * are described in mock_llm.h).
 *
 *   mock_llm [--port N] [--key KEY]
 *
 * It prints "http://127.0.0.1:PORT/v1" (the base URL to configure) on its
 * first line of stdout, then serves until SIGINT or SIGTERM.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/mock_llm.h"

static void usage(void) {
  fprintf(stderr, "usage: mock_llm [--port N] [--key KEY]\n");
  exit(2);
}

int main(int argc, char **argv) {
  cis_mock_llm_config cfg = {0};
  unsigned long port = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      char *end;
      port = strtoul(argv[++i], &end, 10);
      if (*end || port > 65535) usage();
    } else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc) {
      cfg.api_key = argv[++i];
    } else {
      usage();
    }
  }
  /* Block the signals before the server's threads start, so only sigwait
   * below receives them. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);

  cis_mock_server *s = cis_mock_llm_start(&cfg, (uint16_t)port);
  if (!s) {
    fprintf(stderr, "mock_llm: cannot listen on 127.0.0.1:%lu\n", port);
    return 1;
  }
  printf("http://127.0.0.1:%u/v1\n", cis_mock_port(s));
  fflush(stdout);
  int sig;
  sigwait(&set, &sig);
  cis_mock_stop(s);
  return 0;
}
