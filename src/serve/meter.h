/*
 * This file declares the polling threads' meter: what a polling thread
 * spends on each request outside the spans cis times itself (a request's
 * handling, an inline call), so that a request's tenant can be charged
 * it too. That part is the connection's set-up and close, reading the
 * head, sending the answer: on a flood of requests on fresh connections
 * it is most of the thread's CPU time, almost all of it in the kernel,
 * and a tenant charged only its handling sent a few percent of what it
 * cost and never went over its share.
 *
 * The thread's CPU clock costs a system call to read, so it is read once
 * a window (CIS__POLL_METER_WINDOW_NS of wall time) and not per request:
 * what the window's CPU time held beyond the timed spans is shared out
 * evenly among the heads that came in it, and each request of the next
 * window is charged that share. Every head counts, tenant or not (a 401,
 * a 400), so that requests no tenant is charged for still take their
 * part rather than loading it on the others.
 */
#ifndef CIS_SERVE_METER_H
#define CIS_SERVE_METER_H

#include <stdint.h>

/* How often a polling thread's CPU clock is read at most. */
#define CIS__POLL_METER_WINDOW_NS (1000000ull)

/* One polling thread's meter (thread-local: no lock). Zero is a meter
 * that has not read its clock yet. */
typedef struct cis__poll_meter {
  uint64_t wall_at, cpu_at; /* the wall and CPU clocks at the window's start; cpu_at 0: none yet */
  uint64_t timed;           /* ns charged from the wall clock in the window (handling, inline calls) */
  uint64_t heads;           /* requests whose heads came in the window */
  uint64_t per_head;        /* the last window's untimed CPU time per head (ns) */
} cis__poll_meter;

/* A request's head came at now (wall clock, ns): counts it, reading the
 * thread's CPU clock through cpu_now when a window ended, and gives the
 * request's share of the untimed time (ns) to charge its tenant with. */
uint64_t cis__poll_meter_head(cis__poll_meter *m, uint64_t now, uint64_t (*cpu_now)(void));

/* ns of the thread's time were charged from the wall clock (a timed span):
 * they are not shared out again. */
void cis__poll_meter_timed(cis__poll_meter *m, uint64_t ns);

#endif
