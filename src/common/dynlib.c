/*
 * This file implements the on-demand loader of dynlib.h: dlopen by soname,
 * dlsym of a service's functions, and publication of the filled table to
 * every thread, once.
 *
 * One mutex serialises the loads of every library: loading is rare (once
 * per library per process), and dlopen takes the loader's own lock anyway.
 * The `loaded` flag is written with release order after the table is
 * filled and read with acquire order, so a thread that sees it set sees
 * the whole table.
 */
#include "common/dynlib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

static cis_result load_fail(char *err, size_t cap, const char *soname, const char *package,
                            const char *what, const char *detail) {
  if (err && cap)
    snprintf(err, cap, "%s %s (install the package %s): %s", soname, what, package,
             detail && *detail ? detail : "no detail");
  return CIS_EUNSUPPORTED;
}

cis_result cis__dynlib_load(cis__dynlib *lib, char *err, size_t cap) {
  if (atomic_load_explicit(&lib->loaded, memory_order_acquire)) return CIS_OK;
  cis_result rc = CIS_OK;
  void **fn = calloc(lib->count ? lib->count : 1, sizeof *fn);
  if (!fn) {
    if (err && cap) snprintf(err, cap, "out of memory");
    return CIS_ENOMEM;
  }
  pthread_mutex_lock(&load_lock);
  if (atomic_load_explicit(&lib->loaded, memory_order_relaxed)) goto done;
  const char *soname = lib->test_soname ? lib->test_soname : lib->soname;
  /* RTLD_LOCAL: the library's symbols stay out of the global scope, where
   * they could interpose on an embedder's own. A library already in the
   * process (an embedder linking it) is found and shared, not loaded twice. */
  void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    rc = load_fail(err, cap, soname, lib->package, "could not be loaded", dlerror());
    goto done;
  }
  for (size_t i = 0; i < lib->count; i++) {
    dlerror();
    fn[i] = dlsym(h, lib->names[i]);
    if (!fn[i]) {
      char what[160];
      snprintf(what, sizeof what, "lacks %s (too old?)", lib->names[i]);
      rc = load_fail(err, cap, soname, lib->package, what, dlerror());
      dlclose(h);
      goto done;
    }
  }
  /* The handle is kept for the process's life: the table points into it. */
  lib->bind(fn);
  atomic_store_explicit(&lib->loaded, true, memory_order_release);
done:
  pthread_mutex_unlock(&load_lock);
  free(fn);
  return rc;
}

bool cis__dynlib_loaded(cis__dynlib *lib) {
  return atomic_load_explicit(&lib->loaded, memory_order_acquire);
}

void cis__dynlib_test_soname(cis__dynlib *lib, const char *soname) {
  pthread_mutex_lock(&load_lock);
  lib->test_soname = soname;
  atomic_store_explicit(&lib->loaded, false, memory_order_release);
  pthread_mutex_unlock(&load_lock);
}
