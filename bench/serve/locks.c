/*
 * locks.c -- a preload library that counts pthread_mutex_lock calls by call
 * site (bench/serve_locks.sh).
 *
 * This file implements the census behind serve_locks.sh: every
 * pthread_mutex_lock of the process is counted under its caller's address,
 * with the mutexes that site locked (the first few, and whether there were
 * more) and, per mutex, whether more than one thread took it. At exit it
 * writes one line per site to $LOCKS_OUT:
 *
 *   COUNT MUTEXES SHARED OBJECT OFFSET
 *
 * MUTEXES is the number of distinct mutexes the site locked (capped at
 * SITE_MUTEXES + 1: "many"), SHARED how many of those were taken by more
 * than one thread. A lock every request takes on one mutex, shared, is a
 * global lock on the hot path. Tables are fixed and lock-free (a mutex
 * here would count itself); a full table drops what does not fit.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SITES 4096
#define MUTEXES 65536
#define SITE_MUTEXES 8

typedef struct site {
  _Atomic uintptr_t ra;                /* the caller's return address; 0: free */
  atomic_ulong n;                      /* locks taken here */
  _Atomic uintptr_t mx[SITE_MUTEXES];  /* the first mutexes it took */
  atomic_bool more;                    /* and others */
} site;

typedef struct mutex_seen {
  _Atomic uintptr_t m;                 /* its address; 0: free */
  atomic_long tid;                     /* the first thread that took it */
  atomic_bool shared;                  /* another did too */
} mutex_seen;

static site sites[SITES];
static mutex_seen mutexes[MUTEXES];
static int (*real_lock)(pthread_mutex_t *);
static _Thread_local long own_tid;

/* The slot of key in a table of n (open addressing), claimed if new. */
#define FIND(table, n, field, key)                                                 \
  ({                                                                               \
    __typeof__(&(table)[0]) found_ = NULL;                                         \
    size_t h_ = ((key) >> 4) * 0x9E3779B97F4A7C15ull % (n);                        \
    for (size_t i_ = 0; i_ < (n) && !found_; i_++) {                               \
      __typeof__(&(table)[0]) x_ = &(table)[(h_ + i_) % (n)];                      \
      uintptr_t cur_ = atomic_load(&x_->field);                                    \
      if (cur_ == (key) || (!cur_ && (atomic_compare_exchange_strong(&x_->field, &cur_, (key)) || cur_ == (key)))) \
        found_ = x_;                                                               \
    }                                                                              \
    found_;                                                                        \
  })

static void note(uintptr_t ra, uintptr_t m) {
  if (!own_tid) own_tid = syscall(SYS_gettid);
  site *s = FIND(sites, SITES, ra, ra);
  if (s) {
    atomic_fetch_add(&s->n, 1);
    bool kept = false;
    for (int i = 0; i < SITE_MUTEXES && !kept; i++) {
      uintptr_t cur = atomic_load(&s->mx[i]);
      kept = cur == m || (!cur && (atomic_compare_exchange_strong(&s->mx[i], &cur, m) || cur == m));
    }
    if (!kept) atomic_store(&s->more, true);
  }
  mutex_seen *x = FIND(mutexes, MUTEXES, m, m);
  if (x) {
    long t = 0;
    if (!atomic_compare_exchange_strong(&x->tid, &t, own_tid) && t != own_tid) atomic_store(&x->shared, true);
  }
}

int pthread_mutex_lock(pthread_mutex_t *m) {
  if (!real_lock) real_lock = (int (*)(pthread_mutex_t *))dlsym(RTLD_NEXT, "pthread_mutex_lock");
  note((uintptr_t)__builtin_return_address(0), (uintptr_t)m);
  return real_lock(m);
}

static bool shared(uintptr_t m) {
  mutex_seen *x = FIND(mutexes, MUTEXES, m, m);
  return x && atomic_load(&x->shared);
}

__attribute__((destructor)) static void dump(void) {
  const char *path = getenv("LOCKS_OUT");
  FILE *f = path ? fopen(path, "w") : NULL;
  if (!f) return;
  for (size_t k = 0; k < SITES; k++) {
    uintptr_t ra = atomic_load(&sites[k].ra);
    Dl_info di;
    if (!ra || !dladdr((void *)ra, &di) || !di.dli_fname) continue;
    unsigned n = 0, sh = 0;
    for (int i = 0; i < SITE_MUTEXES; i++) {
      uintptr_t m = atomic_load(&sites[k].mx[i]);
      if (m) n++, sh += shared(m);
    }
    if (atomic_load(&sites[k].more)) n++;
    fprintf(f, "%lu %u %u %s 0x%lx\n", atomic_load(&sites[k].n), n, sh, di.dli_fname,
            (unsigned long)(ra - (uintptr_t)di.dli_fbase));
  }
  fclose(f);
}
