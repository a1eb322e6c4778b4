/*
 * This file declares coroutines for `cis serve` (coro.c): a function run
 * on a stack of its own, which can stop itself part way (cis__coro_yield)
 * and be taken up again by cis__coro_resume on any thread. The server
 * runs a call that is known to be short on the polling thread that read
 * its request, on such a stack; if the call turns out to wait or run
 * long, its on_wait hook yields, and a worker of the pool resumes it
 * there, so that the polling thread goes back to its connections.
 *
 * Stacks are mapped (with a guard page below), as large as a thread's, so
 * a call has the same room on either side of a move; a few freed ones are
 * kept for the next coroutines. cis_stack_switched tells the runtime the
 * stack each time one is entered, so a call's native-stack check knows it.
 * Under AddressSanitizer each switch is announced to it (fiber switches).
 */
#ifndef CIS_SERVE_CORO_H
#define CIS_SERVE_CORO_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cis__coro cis__coro;

/* A coroutine that will run fn(arg) when first resumed. NULL when no
 * stack could be had (memory, mappings). */
cis__coro *cis__coro_new(void (*fn)(void *arg), void *arg);

/* Runs co on the calling thread until it yields or its function returns.
 * True when it returned (co may then only be freed). Never call it on a
 * coroutine that is running. */
bool cis__coro_resume(cis__coro *co);

/* From inside co's function: goes back to the thread that resumed it,
 * whose cis__coro_resume returns false. Returns when co is resumed again,
 * perhaps on another thread. */
void cis__coro_yield(cis__coro *co);

/* Frees a coroutine that has not started or whose function returned; its
 * stack is kept for the next one when few are kept. */
void cis__coro_free(cis__coro *co);

/* Unmaps the stacks kept (at the server's end). */
void cis__coro_trim(void);

#endif /* CIS_SERVE_CORO_H */
