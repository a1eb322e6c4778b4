/*
 * This file implements coroutines for `cis serve` (coro.h). A switch saves
 * the registers of the side that leaves in its own context (co->ctx or
 * co->back), so the side that resumes may be another thread than the one
 * that ran the coroutine last: back is rewritten at every resume.
 *
 * On x86-64 a switch is a few instructions of our own (cis__coro_swap
 * below: the callee-saved registers, the SSE and x87 control words, the
 * stack pointer); elsewhere ucontext's swapcontext, which also saves the
 * signal mask with a system call each time: three per inline call, a
 * measurable share of one over HTTP.
 */
#include "serve/coro.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "cis/cis.h"

#if defined(__SANITIZE_ADDRESS__)
#define CORO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORO_ASAN 1
#endif
#endif
#ifdef CORO_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

/* Freed stacks kept for the next coroutines: one per polling thread and
 * some for calls moved to workers. */
#define KEEP_STACKS 8

#if defined(__x86_64__)
#define CORO_ASM 1
/* Saves the callee-saved registers on the current stack, stores the stack
 * pointer in *from, loads `to` as the stack pointer and restores what was
 * saved there. */
void cis__coro_swap(void **from, void *to);
void cis__coro_start(void); /* the first return of a new coroutine lands here */
__asm__(".text\n"
        ".globl cis__coro_swap\n"
        ".hidden cis__coro_swap\n"
        ".type cis__coro_swap, @function\n"
        "cis__coro_swap:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  subq $8, %rsp\n  stmxcsr (%rsp)\n  fnstcw 4(%rsp)\n"
        "  movq %rsp, (%rdi)\n"
        "  movq %rsi, %rsp\n"
        "  ldmxcsr (%rsp)\n  fldcw 4(%rsp)\n  addq $8, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  ret\n"
        ".size cis__coro_swap, .-cis__coro_swap\n"
        ".globl cis__coro_start\n"
        ".hidden cis__coro_start\n"
        ".type cis__coro_start, @function\n"
        "cis__coro_start:\n"
        "  movq %rbx, %rdi\n" /* the coroutine, placed in rbx's slot by cis__coro_new */
        "  andq $-16, %rsp\n"
        "  call cis__coro_main\n"
        "  ud2\n"
        ".size cis__coro_start, .-cis__coro_start\n");
#endif

struct cis__coro {
#ifdef CORO_ASM
  void *sp;                            /* the coroutine's saved stack pointer while it does not run */
  void *back_sp;                       /* its resumer's while it runs */
#else
  ucontext_t ctx;                      /* the coroutine's registers while it does not run */
  ucontext_t back;                     /* its resumer's while it runs */
#endif
  void (*fn)(void *);                  /* what it runs */
  void *arg;
  char *map;                           /* its mapping: a guard page, then the stack */
  size_t map_len;
  bool done;                           /* fn returned */
#ifdef CORO_ASAN
  void *fake;                          /* AddressSanitizer's fake stack of the side that left */
  const void *back_base;               /* the resumer's stack, for the switch back */
  size_t back_size;
#endif
};

static pthread_mutex_t keep_mu = PTHREAD_MUTEX_INITIALIZER;
static char *kept[KEEP_STACKS];        /* mappings, each stack_len() + a page */
static size_t nkept;

static size_t page_size(void) {
  long p = sysconf(_SC_PAGESIZE);
  return p > 0 ? (size_t)p : 4096;
}

/* As large as a thread's default stack (a call has as much room moved or
 * not), within [1, 8] MiB. */
static size_t stack_len(void) {
  static size_t len;
  if (!len) {
    size_t n = 8u << 20;
    pthread_attr_t a;
    if (pthread_attr_init(&a) == 0) {
      if (pthread_attr_getstacksize(&a, &n) != 0) n = 8u << 20;
      pthread_attr_destroy(&a);
    }
    if (n < (1u << 20)) n = 1u << 20;
    if (n > (8u << 20)) n = 8u << 20;
    size_t pg = page_size();
    len = (n + pg - 1) / pg * pg;
  }
  return len;
}

/* Keeps mapping m for reuse, or unmaps it when enough are kept. */
static void keep_or_unmap(char *m) {
  pthread_mutex_lock(&keep_mu);
  if (nkept < KEEP_STACKS) {
    kept[nkept++] = m;
    m = NULL;
  }
  pthread_mutex_unlock(&keep_mu);
  if (m) munmap(m, stack_len() + page_size());
}

/* Each thread holds the last stack it freed (a thread-specific value, so
 * that the thread's end hands it to the shared list): a polling thread's
 * inline calls, one at a time, then take no lock at all. */
static pthread_key_t own_stack;
static pthread_once_t own_stack_once = PTHREAD_ONCE_INIT;
static bool own_stack_ok;

static void own_stack_release(void *m) { keep_or_unmap(m); }
static void own_stack_make(void) { own_stack_ok = pthread_key_create(&own_stack, own_stack_release) == 0; }

static char *map_stack(size_t *len) {
  size_t pg = page_size(), n = stack_len() + pg;
  *len = n;
  pthread_once(&own_stack_once, own_stack_make);
  char *m = own_stack_ok ? pthread_getspecific(own_stack) : NULL;
  if (m) {
    pthread_setspecific(own_stack, NULL);
    return m;
  }
  pthread_mutex_lock(&keep_mu);
  m = nkept ? kept[--nkept] : NULL;
  pthread_mutex_unlock(&keep_mu);
  if (m) return m;
  m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (m == MAP_FAILED) return NULL;
  if (mprotect(m, pg, PROT_NONE) != 0) { /* the guard: an overrun faults, never reaches other memory */
    munmap(m, n);
    return NULL;
  }
  return m;
}

static void unmap_stack(char *m, size_t len) {
  (void)len; /* every mapping is stack_len() + a page */
  if (own_stack_ok && !pthread_getspecific(own_stack) && pthread_setspecific(own_stack, m) == 0) return;
  keep_or_unmap(m);
}

static char *stack_base(const cis__coro *co) { return co->map + page_size(); }

/* Leaves the running side for the other: from the resumer into co
 * (in = true), or from co back to its resumer. */
static void swap(cis__coro *co, bool in) {
#ifdef CORO_ASM
  if (in) cis__coro_swap(&co->back_sp, co->sp);
  else cis__coro_swap(&co->sp, co->back_sp);
#else
  if (in) swapcontext(&co->back, &co->ctx);
  else swapcontext(&co->ctx, &co->back);
#endif
}

/* Hidden: cis__coro_start calls it directly, with no PLT, in a shared
 * library as in a program. */
__attribute__((visibility("hidden"))) void cis__coro_main(cis__coro *co);

/* The first frame on the coroutine's stack: runs its function, then goes
 * back for good. */
void cis__coro_main(cis__coro *co) {
#ifdef CORO_ASAN
  __sanitizer_finish_switch_fiber(NULL, &co->back_base, &co->back_size);
#endif
  cis_stack_switched(stack_base(co), stack_len());
  co->fn(co->arg);
  co->done = true;
  cis_stack_switched(NULL, 0);
#ifdef CORO_ASAN
  __sanitizer_start_switch_fiber(NULL, co->back_base, co->back_size); /* this stack ends */
#endif
  swap(co, false); /* never resumed */
  abort();
}

#ifndef CORO_ASM
/* makecontext passes int arguments: the pointer comes in two halves. */
static void trampoline(unsigned hi, unsigned lo) {
  cis__coro_main((cis__coro *)(((uintptr_t)hi << 16 << 16) | (uintptr_t)lo));
}
#endif

#ifndef CORO_ASM
/* getcontext returns twice to its caller, as setjmp does: kept in a
 * frame of its own so that no local of the caller is at risk. */
__attribute__((noinline)) static int context_init(ucontext_t *u) { return getcontext(u); }
#endif

cis__coro *cis__coro_new(void (*fn)(void *arg), void *arg) {
  cis__coro *co = calloc(1, sizeof *co);
  if (!co) return NULL;
  co->fn = fn;
  co->arg = arg;
  if (!(co->map = map_stack(&co->map_len))) {
    free(co);
    return NULL;
  }
#ifdef CORO_ASM
  /* What cis__coro_swap restores, from the top of the stack down: the
   * return address (cis__coro_start), rbp, rbx (the coroutine), r12-r15,
   * then the control words: MXCSR 0x1f80 and the x87's 0x037f, the
   * defaults of the ABI. */
  uint64_t *top = (uint64_t *)(stack_base(co) + stack_len());
  uint64_t *f = top - 10;
  f[0] = 0x1f80u | (uint64_t)0x037fu << 32; /* mxcsr at 0, x87 control word at 4 */
  f[1] = f[2] = f[3] = f[4] = 0;             /* r15, r14, r13, r12 */
  f[5] = (uint64_t)(uintptr_t)co;            /* rbx */
  f[6] = 0;                                  /* rbp */
  f[7] = (uint64_t)(uintptr_t)cis__coro_start;
  co->sp = f;
#else
  if (context_init(&co->ctx) != 0) {
    unmap_stack(co->map, co->map_len);
    free(co);
    return NULL;
  }
  co->ctx.uc_stack.ss_sp = stack_base(co);
  co->ctx.uc_stack.ss_size = stack_len();
  co->ctx.uc_link = NULL;
  uintptr_t p = (uintptr_t)co;
  makecontext(&co->ctx, (void (*)(void))trampoline, 2, (unsigned)(p >> 16 >> 16), (unsigned)(p & 0xffffffffu));
#endif
  return co;
}

bool cis__coro_resume(cis__coro *co) {
#ifdef CORO_ASAN
  void *fake = NULL;
  __sanitizer_start_switch_fiber(&fake, stack_base(co), stack_len());
#endif
  swap(co, true);
#ifdef CORO_ASAN
  __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
  return co->done;
}

void cis__coro_yield(cis__coro *co) {
  cis_stack_switched(NULL, 0);
#ifdef CORO_ASAN
  __sanitizer_start_switch_fiber(&co->fake, co->back_base, co->back_size);
#endif
  swap(co, false);
#ifdef CORO_ASAN
  __sanitizer_finish_switch_fiber(co->fake, &co->back_base, &co->back_size);
#endif
  cis_stack_switched(stack_base(co), stack_len()); /* on the resumer's thread now */
}

void cis__coro_free(cis__coro *co) {
  if (!co) return;
  unmap_stack(co->map, co->map_len);
  free(co);
}

void cis__coro_trim(void) {
  pthread_mutex_lock(&keep_mu);
  size_t n = nkept;
  char *m[KEEP_STACKS];
  for (size_t i = 0; i < n; i++) m[i] = kept[i];
  nkept = 0;
  pthread_mutex_unlock(&keep_mu);
  for (size_t i = 0; i < n; i++) munmap(m[i], stack_len() + page_size());
}
