/*
 * This file implements the polling threads' meter (meter.h).
 */
#include "serve/meter.h"

uint64_t cis__poll_meter_head(cis__poll_meter *m, uint64_t now, uint64_t (*cpu_now)(void)) {
  if (!m->cpu_at || now - m->wall_at >= CIS__POLL_METER_WINDOW_NS) {
    uint64_t cpu = cpu_now();
    /* The window's heads are at least the one that opened it. A clock
     * that could not be read (0) opens a window with no reading, and one
     * that went back is no share, never a wrapped one. */
    if (m->cpu_at && cpu >= m->cpu_at && m->heads) {
      uint64_t used = cpu - m->cpu_at;
      m->per_head = (used > m->timed ? used - m->timed : 0) / m->heads;
    } else {
      m->per_head = 0;
    }
    m->cpu_at = cpu;
    m->wall_at = now;
    m->timed = 0;
    m->heads = 0;
  }
  m->heads++;
  return m->per_head;
}

void cis__poll_meter_timed(cis__poll_meter *m, uint64_t ns) {
  m->timed += ns;
}
