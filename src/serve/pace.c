/*
 * This file implements the HTTP server's pacers (pace.h).
 */
#include "serve/pace.h"

#include <pthread.h>
#include <time.h>

#include "common/internal.h"

void cis__pacer_init(cis__pacer *p, unsigned rate, const char *thread_name, void (*resume)(void *conn)) {
  p->rate = rate;
  p->thread_name = thread_name;
  p->resume = resume;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  p->bucket = (cis__rate){0};
  p->head = p->tail = NULL;
  p->queued = 0;
  p->running = p->stop = false;
  atomic_init(&p->waits, 0);
  atomic_init(&p->late, 0);
}

void cis__pacer_destroy(cis__pacer *p) {
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
}

bool cis__pacer_turn(cis__pacer *p, cis__pace_item *it) {
  bool ok = true;
  if (it->state == CIS__PACE_USE && it->pacer == p) {
    it->state = CIS__PACE_NONE; /* the pacer took its token */
  } else if (p->rate) {
    pthread_mutex_lock(&p->mu);
    /* Those waiting go first. */
    ok = !p->head && cis__rate_take(&p->bucket, p->rate, cis__now_ns());
    pthread_mutex_unlock(&p->mu);
  }
  if (ok) {
    it->turned = true;
    it->pacer = p;
  }
  return ok;
}

void cis__pacer_wait(cis__pacer *p, cis__pace_item *it, void *conn) {
  it->state = CIS__PACE_WAITING;
  it->pacer = p;
  it->conn = conn;
  it->since = cis__now_ns();
  it->next = NULL;
  atomic_fetch_add_explicit(&p->waits, 1, memory_order_relaxed);
  pthread_mutex_lock(&p->mu);
  bool stopping = p->stop;
  if (!stopping) {
    if (p->tail) p->tail->next = it;
    else p->head = it;
    p->tail = it;
    p->queued++;
    pthread_cond_signal(&p->cv);
  }
  pthread_mutex_unlock(&p->mu);
  if (stopping) {
    it->state = CIS__PACE_LATE;
    p->resume(conn);
  }
}

/* The thread: resumes the first waiting request when the bucket has a
 * token for it (GO: it is answered at the next call of its handler), or
 * LATE once it waited CIS__PACE_WAIT_MAX_NS, or at stop. */
static void *pacer_main(void *arg) {
  cis__pacer *p = arg;
  pthread_setname_np(pthread_self(), p->thread_name);
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (!p->head && !p->stop) pthread_cond_wait(&p->cv, &p->mu);
    cis__pace_item *it = p->head;
    if (!it) break; /* stopped, and none waits */
    uint64_t now = cis__now_ns(), due = it->since + CIS__PACE_WAIT_MAX_NS;
    bool late = p->stop || now >= due;
    bool go = !late && cis__rate_take(&p->bucket, p->rate, now);
    if (!late && !go) { /* until the bucket's next token, or the first one's longest wait */
      uint64_t next = now + (uint64_t)((1.0 - p->bucket.left) * 1e9 / p->rate) + 1;
      uint64_t ms = ((next < due ? next : due) - now + 999999) / 1000000;
      struct timespec until;
      cis__timespec_after(CLOCK_REALTIME, ms ? ms : 1, &until);
      pthread_cond_timedwait(&p->cv, &p->mu, &until);
      continue;
    }
    p->head = it->next;
    if (!p->head) p->tail = NULL;
    p->queued--;
    it->state = go ? CIS__PACE_GO : CIS__PACE_LATE;
    void *conn = it->conn; /* it is the connection's from the resume on */
    pthread_mutex_unlock(&p->mu);
    if (late) atomic_fetch_add_explicit(&p->late, 1, memory_order_relaxed);
    p->resume(conn);
    pthread_mutex_lock(&p->mu);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

bool cis__pacer_start(cis__pacer *p) {
  if (!p->rate) return true;
  if (pthread_create(&p->th, NULL, pacer_main, p) != 0) return false;
  p->running = true;
  return true;
}

void cis__pacer_stop(cis__pacer *p) {
  if (!p->running) return;
  pthread_mutex_lock(&p->mu);
  p->stop = true;
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
  pthread_join(p->th, NULL);
  p->running = false;
}

unsigned cis__pacer_queued(cis__pacer *p) {
  pthread_mutex_lock(&p->mu);
  unsigned n = p->queued;
  pthread_mutex_unlock(&p->mu);
  return n;
}
