/*
 * This file declares the loader of the shared libraries that only some
 * runs need (libpq for the PostgreSQL backends, libcurl for HTTP and AI):
 * libcis does not link them, so a run that uses neither pays nothing for
 * them. A service loads its library by soname on first use, through a
 * table of the functions it calls, and calls through that table.
 *
 * A service declares its table with an X-macro list of (function, member)
 * pairs expanded with CIS__DYNLIB_MEMBER (the struct) and CIS__DYNLIB_NAME
 * (the names to resolve): each member gets the type of the function
 * the library's own header declares, so a call through the table is
 * checked like a direct call. Members drop the library's prefix, since
 * some headers make a function name a macro (curl_easy_setopt in gcc).
 */
#ifndef CIS_COMMON_DYNLIB_H
#define CIS_COMMON_DYNLIB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/internal.h"

/* One library loaded on demand. Define it statically with the first four
 * fields set; the rest is the loader's. */
typedef struct cis__dynlib {
  const char *soname;             /* what dlopen is given, e.g. "libpq.so.5" */
  const char *package;            /* the Debian package that provides it, for messages */
  const char *const *names;       /* the functions to resolve, count of them */
  size_t count;                   /* entries in names */
  void (*bind)(void *const *fn);  /* copies the count addresses into the service's table */
  atomic_bool loaded;             /* true once bind ran; never false again (but by the test hook) */
  const char *test_soname;        /* cis__dynlib_test_soname's override, or NULL */
} cis__dynlib;

/* Loads lib once per process (thread-safe; later calls cost one atomic
 * read): dlopen(soname, RTLD_NOW | RTLD_LOCAL), dlsym of every name, then
 * lib->bind with the addresses, all before any caller sees it loaded. On
 * failure nothing is kept, so a later call tries again, and err (cap
 * bytes, may be NULL) says which soname could not be loaded or lacks which
 * function, the package to install, and dlerror()'s detail.
 * Errors: CIS_EUNSUPPORTED. */
cis_result cis__dynlib_load(cis__dynlib *lib, char *err, size_t cap);

/* Whether lib is loaded now. */
bool cis__dynlib_loaded(cis__dynlib *lib);

/* For tests only: loads lib from `soname` from now on (NULL: its own), and
 * forgets that it was loaded, so that the next cis__dynlib_load opens that
 * name. Nothing is unloaded (the library's functions may still be in use).
 * Not for use while another thread may load lib. */
void cis__dynlib_test_soname(cis__dynlib *lib, const char *soname);

/* For an X(function, member) list: a struct member typed as a pointer to
 * the function, and the function's name for dlsym. */
#define CIS__DYNLIB_MEMBER(fn, member) __typeof__(fn) *member;
#define CIS__DYNLIB_NAME(fn, member) #fn,

#endif /* CIS_COMMON_DYNLIB_H */
