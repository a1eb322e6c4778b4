/*
 * mhd_anchor.c -- libmicrohttpd answering a fixed body, with no work: the
 * reference that bench/serve_http.sh measures `cis serve` against in the
 * same run, with the same threading (epoll, THREADS polling threads, the
 * server's cis_http_threads).
 *
 *   mhd_anchor PORT THREADS   serves until SIGINT or SIGTERM; prints "ready"
 */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char body[] = "{\"output\":{\"x\":1}}";
static struct MHD_Response *fixed;

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **state) {
  (void)cls, (void)url, (void)method, (void)version, (void)upload;
  if (!*state) { /* the head: wait for the body */
    *state = c;
    return MHD_YES;
  }
  if (*upload_size) { /* the body's bytes: read and dropped */
    *upload_size = 0;
    return MHD_YES;
  }
  return MHD_queue_response(c, MHD_HTTP_OK, fixed);
}

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig, stop = 1; }

int main(int argc, char **argv) {
  if (argc != 3 || atoi(argv[2]) < 1) return fprintf(stderr, "usage: mhd_anchor PORT THREADS\n"), 2;
  fixed = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
  MHD_add_response_header(fixed, "Content-Type", "application/json");
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)atoi(argv[1]), NULL, NULL, answer, NULL,
      MHD_OPTION_THREAD_POOL_SIZE, (unsigned)atoi(argv[2]), MHD_OPTION_CONNECTION_LIMIT, 60000u, MHD_OPTION_END);
  if (!d) return fprintf(stderr, "mhd_anchor: cannot listen on %s\n", argv[1]), 1;
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  printf("ready\n");
  fflush(stdout);
  while (!stop) pause();
  MHD_stop_daemon(d);
  MHD_destroy_response(fixed);
  return 0;
}
