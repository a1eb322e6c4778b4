/*
 * This file declares what the server tests share: a fresh home under /tmp,
 * handles opened on it for a tenant, the fixture modules of tests/serve
 * (built from the .wat files), manifests made for them and the body that
 * installs one over HTTP, and `cis` run as a process: a command whose
 * output is read, or `cis serve` on a loopback port. Every wait is
 * bounded.
 */
#ifndef CIS_TESTS_SERVE_FIXTURE_H
#define CIS_TESTS_SERVE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cis/cis_serve.h"
#include "cis/cis_skill.h"

/* Makes a temporary home (path into home, cap bytes); 0 on success. */
int serve_home_new(char *home, size_t cap);
/* Removes it and what is in it. */
void serve_home_remove(const char *home);
/* Opens a registry handle on home for tenant (NULL: the default handle);
 * NULL on failure, said on stderr. */
cis_skills *serve_open(const char *home, const char *tenant);
/* Makes a token of tenant (named name) in home's token store, into token
 * (cap bytes); cis_result. */
cis_result serve_token(const char *home, const char *tenant, const char *name, char *token, size_t cap);
/* c set to the defaults for an in-process server of home with `workers`
 * workers, listening on 127.0.0.1 (a port the system picks:
 * cis_server_port). */
void serve_config_loopback(cis_server_config *c, const char *home, unsigned workers);
/* The bytes of NAME.wasm in dir, all of them (malloc'd), or NULL. */
uint8_t *serve_fixture(const char *dir, const char *name, size_t *len);
/* A manifest for skill `name` running wasm (its sha256 computed here),
 * with abi and extra members (",\"limits\":{...}" or ""), into out. */
int serve_manifest(const uint8_t *wasm, size_t len, const char *name, const char *abi, const char *extra,
                   char *out, size_t cap);
/* Registers skill `name` from fixture `fixture` on s; cis_result. */
cis_result serve_register(cis_skills *s, const char *dir, const char *name, const char *fixture, const char *abi,
                          const char *extra);

/* p[0..n) in base64 with padding (malloc'd), or NULL. */
char *serve_base64(const uint8_t *p, size_t n);

/* The body of POST /v1/skills that installs fixture NAME.wasm of dir as
 * skill `name` (serve_manifest's abi and extra):
 * {"manifest":...,"wasm_base64":...}, malloc'd; NULL when the fixture
 * cannot be read or the manifest not made. */
char *serve_install_request(const char *dir, const char *fixture, const char *name, const char *abi,
                            const char *extra);

/* Runs program cis with args (NULL-ended) in environment env (NULL-ended);
 * its stdout into out (cap bytes, NUL-terminated). The exit status, or -1
 * when it could not run or took over 120 s (then it is killed). */
int serve_run_cis(const char *cis, char *const *env, char *out, size_t cap, const char *const *args);

/* The same with input written to its stdin, then closed (a few KiB at
 * most: it is all written before the output is read), and, when err_path
 * is not NULL, its stderr into that file (made or truncated). Nothing is
 * read when the input cannot be written (out is empty then); the suite
 * ignores SIGPIPE, as cis may exit before it reads. */
int serve_run_cis_input(const char *cis, char *const *env, const char *input, const char *err_path, char *out,
                        size_t cap, const char *const *args);

/* A `cis serve` process of a test. */
typedef struct serve_proc {
  pid_t pid; /* the process */
  int port;  /* where it listens on 127.0.0.1 */
  int out;   /* its stdout, after the line giving the port */
} serve_proc;

/* Starts `cis serve --listen 127.0.0.1:0 EXTRA...` (extra NULL-ended, may
 * be NULL) in environment env, and reads the port from the line it prints
 * first (60 s at most). 0, or -1 with nothing left running. */
int serve_proc_start(serve_proc *sv, const char *cis, char *const *env, const char *const *extra);

/* The same, run through a launcher (a NULL-ended argv prefix that execs
 * what follows it in the same process, e.g. setpriv; NULL for none). */
int serve_proc_start_via(serve_proc *sv, const char *const *launcher, const char *cis, char *const *env,
                         const char *const *extra);

/* Waits (120 s at most, then SIGKILL) for the server to exit; its exit
 * status, or -1 when it did not exit by itself or not with a status. */
int serve_proc_wait(serve_proc *sv);

/* The process of sv was reaped by the caller: serve_procs_kill leaves it. */
void serve_proc_forget(const serve_proc *sv);

/* A cmocka teardown: kills (SIGKILL) and reaps every server started and
 * not yet waited for, so a test that failed leaves none running. */
int serve_procs_kill(void **state);

#endif
