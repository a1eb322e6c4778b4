/*
 * This file declares the key-value store's test hooks: fault injection
 * and a count of backend calls, for the project's own tests (tests/kv,
 * tests/errors, tests/skillfs). They are not part of the public API
 * (include/cis/cis_kv.h).
 */
#ifndef CIS_KV_TESTING_H
#define CIS_KV_TESTING_H

#include <stdint.h>

#include "cis/cis_kv.h"

/* Fault injection: after `skip` more backend method calls succeed, the
 * next `count` calls fail with `code` (e.g. CIS_EKVDOWN) without reaching
 * the backend. Every method counts (open, begin, set, commit, ...) except
 * close and the rollback after a failed commit, which clean up. count 0
 * turns injection off. Safe from any thread. */
void cis__kv_inject_fault(cis_kv *kv, uint32_t skip, uint32_t count, cis_result code);
/* Backend method calls made so far (open included, close excluded): lets a
 * test prove that a path did, or did not, reach the backend. */
uint64_t cis__kv_backend_calls(cis_kv *kv);
/* Forgets what the store last read of every namespace's usage (its
 * hints), so that the next write reads the usage from the backend. */
void cis__kv_forget_hints(cis_kv *kv);
/* Round trips to PostgreSQL made by the built-in backend's connections
 * of every store of the process, connecting aside. */
uint64_t cis__kv_pg_round_trips(void);

#endif
