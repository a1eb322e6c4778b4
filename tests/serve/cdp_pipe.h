/*
 * This file declares a minimal client of the Chrome DevTools Protocol
 * over --remote-debugging-pipe (the browser reads commands from its fd 3
 * and writes replies and events to its fd 4, each message one JSON text
 * ended by a NUL): enough for a test to open a page, type, click, read the
 * DOM and take a screenshot. Every wait is bounded by the deadline given
 * at launch.
 */
#ifndef CIS_TESTS_SERVE_CDP_PIPE_H
#define CIS_TESTS_SERVE_CDP_PIPE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

typedef struct cdp {
  pid_t pid;             /* the browser, leader of its own process group */
  int to, from;          /* our ends of its fds 3 and 4 */
  char *buf;             /* bytes read and not yet split into messages */
  size_t len, cap;
  int next_id;           /* of the next command */
  char session[128];     /* the page's session, once attached */
  uint64_t deadline_ms;  /* CLOCK_MONOTONIC ms after which every wait fails */
} cdp;

/* The browser's program: $CIS_CHROMIUM, else chromium or chromium-browser
 * on PATH, into out; false when there is none. */
int cdp_find_browser(char *out, size_t cap);

/* Starts browser headless on an empty profile in profile_dir, its output
 * to log_path; every later wait ends within timeout_ms from now. 0 on
 * success. */
int cdp_launch(cdp *c, const char *browser, const char *profile_dir, const char *log_path, unsigned timeout_ms);

/* Opens a page (about:blank), attaches to it and keeps its session for
 * cdp_call. 0 on success. */
int cdp_open_page(cdp *c, int width, int height);

/* Sends method with params (JSON text, NULL for none) to the page's
 * session (or to the browser when no page is open) and waits for its
 * reply: the "result" object (caller deletes), or NULL on an error reply
 * (said on stderr), a closed pipe or the deadline. */
cJSON *cdp_call(cdp *c, const char *method, const char *params);

/* Evaluates a JavaScript expression in the page: its value as a string
 * (malloc'd; a number or boolean as JSON), or NULL when it threw. */
char *cdp_eval(cdp *c, const char *expr);

/* Closes the browser and its process group, waiting a bounded time. */
void cdp_close(cdp *c);

#endif
