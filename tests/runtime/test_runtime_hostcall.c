/*
 * This file implements the tests of a host call's own cost and of what
 * still stops a guest that loops calling the host: a host call reads the
 * clock only every so many calls (src/runtime/exec.c), yet a deadline and
 * cis_instance_cancel still end such a loop, cancel at the very next host
 * call, and the deadline as soon as a host function that asked for the
 * time left returns. Also the import set's base (cis_imports_set_base),
 * which lets a per-call set reuse host functions built once.
 *
 * clock_gettime is defined here, over the raw system call, so the tests can
 * count how often the runtime (linked statically into this program) reads
 * the clock.
 */
#include "runtime/rt_test.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static atomic_ulong clock_reads;

int clock_gettime(clockid_t id, struct timespec *ts) {
  atomic_fetch_add(&clock_reads, 1);
  return (int)syscall(SYS_clock_gettime, id, ts);
}

typedef struct counter {
  unsigned long calls;       /* host calls so far */
  unsigned long cancel_at;   /* cancel the instance at this call (0: never) */
  bool wait_out;             /* each call waits out the call's time left */
} counter;

static cis_result host_nop(cis_call *c, const cis_slot *a, cis_slot *r) {
  (void)a;
  (void)r;
  counter *n = cis_instance_user(cis_call_instance(c));
  if (++n->calls == n->cancel_at) cis_instance_cancel(cis_call_instance(c));
  if (n->wait_out) {
    /* As a blocking host function does: bounded by the time left. */
    uint64_t ms = cis_call_remaining_ms(c) + 5;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
  }
  return CIS_OK;
}

typedef struct loop_fixture {
  cis_engine *e;
  cis_module *m;
  cis_imports *im;
  cis_instance *inst;
  counter n;
} loop_fixture;

static void loop_open(loop_fixture *f, uint64_t timeout_ms) {
  memset(f, 0, sizeof *f);
  f->e = rt_engine(NULL);
  f->m = rt_load(f->e, "hostloop");
  cis_host_func_def d = {"host", "nop", "()", host_nop, NULL, 0};
  assert_int_equal(cis_imports_new(f->e, &f->im), CIS_OK);
  assert_int_equal(cis_imports_add_host_funcs(f->im, &d, 1), CIS_OK);
  cis_limits l;
  cis_limits_default(&l);
  l.timeout_ms = timeout_ms;
  assert_int_equal(cis_instance_new(f->m, f->im, &l, &f->inst), CIS_OK);
  cis_instance_set_user(f->inst, &f->n);
}

static cis_result loop_run(loop_fixture *f, int32_t n) {
  cis_val a = {.type = CIS_I32, .of.i32 = n};
  return cis_func_call(f->inst, cis_instance_func(f->inst, "loop"), &a, 1, NULL, 0);
}

static void loop_close(loop_fixture *f) {
  cis_instance_free(f->inst);
  cis_imports_free(f->im);
  cis_module_free(f->m);
  cis_engine_free(f->e);
}

/* 100,000 host calls under a deadline far away read the clock a few
 * hundred times at most, not once per call. */
static void host_call_does_not_read_the_clock_each_time(void **state) {
  (void)state;
  loop_fixture f;
  loop_open(&f, 600000);
  unsigned long before = atomic_load(&clock_reads);
  assert_int_equal(loop_run(&f, 100000), CIS_OK);
  unsigned long reads = atomic_load(&clock_reads) - before;
  assert_int_equal(f.n.calls, 100000);
  if (reads > 1000) fail_msg("%lu clock reads for 100000 host calls", reads);
  loop_close(&f);
}

/* A guest looping on a host call for far longer than its deadline stops
 * with CIS_ETIMEOUT. The count bounds the loop; the wall-clock cap is
 * generous, only there to fail rather than hang. */
static void deadline_stops_a_guest_looping_on_host_calls(void **state) {
  (void)state;
  loop_fixture f;
  loop_open(&f, 100);
  double t0 = rt_now_ms();
  assert_int_equal(loop_run(&f, INT32_MAX), CIS_ETIMEOUT);
  assert_true(rt_now_ms() - t0 < 60000);
  assert_true(f.n.calls < (unsigned long)INT32_MAX);
  loop_close(&f);
}

/* Cancelling (here from inside the 1000th host call) stops the guest at
 * its very next host call: the flag is checked on every host call, only
 * the clock is not. */
static void cancel_stops_a_guest_at_its_next_host_call(void **state) {
  (void)state;
  loop_fixture f;
  loop_open(&f, 600000);
  f.n.cancel_at = 1000;
  assert_int_equal(loop_run(&f, 1000000), CIS_ECANCELED);
  assert_int_equal(f.n.calls, 1000);
  /* The next call starts with the flag cleared. */
  f.n.cancel_at = 0;
  f.n.calls = 0;
  assert_int_equal(loop_run(&f, 10), CIS_OK);
  assert_int_equal(f.n.calls, 10);
  loop_close(&f);
}

/* A host function that waits (it asked for the time left) up to the
 * deadline ends the call at its return, not some host calls later: the
 * guest here would make only two more. */
static void host_call_that_waits_is_followed_by_a_deadline_check(void **state) {
  (void)state;
  loop_fixture f;
  loop_open(&f, 50);
  f.n.wait_out = true;
  assert_int_equal(loop_run(&f, 3), CIS_ETIMEOUT);
  assert_int_equal(f.n.calls, 1);
  loop_close(&f);
}

static cis_result host_nop100(cis_call *c, const cis_slot *a, cis_slot *r) {
  (void)a;
  (void)r;
  counter *n = cis_instance_user(cis_call_instance(c));
  n->calls += 100;
  return CIS_OK;
}

static cis_result link_and_loop(cis_module *m, cis_imports *im, counter *n) {
  cis_instance *inst = NULL;
  cis_result rc = cis_instance_new(m, im, NULL, &inst);
  if (rc != CIS_OK) return rc;
  cis_instance_set_user(inst, n);
  cis_val a = {.type = CIS_I32, .of.i32 = 3};
  rc = cis_func_call(inst, cis_instance_func(inst, "loop"), &a, 1, NULL, 0);
  cis_instance_free(inst);
  return rc;
}

/* A set finds in its base what it lacks; its own entries come first; the
 * base's base is not searched; bad bases are refused. */
static void imports_fall_back_to_their_base(void **state) {
  (void)state;
  cis_engine *e = rt_engine(NULL), *other = rt_engine(NULL);
  cis_module *m = rt_load(e, "hostloop");
  cis_host_func_def nop = {"host", "nop", "()", host_nop, NULL, 0};
  cis_host_func_def nop100 = {"host", "nop", "()", host_nop100, NULL, 0};
  cis_imports *base, *im, *own, *second, *foreign;
  assert_int_equal(cis_imports_new(e, &base), CIS_OK);
  assert_int_equal(cis_imports_add_host_funcs(base, &nop, 1), CIS_OK);
  assert_int_equal(cis_imports_new(e, &im), CIS_OK);
  assert_int_equal(cis_imports_new(e, &own), CIS_OK);
  assert_int_equal(cis_imports_new(e, &second), CIS_OK);
  assert_int_equal(cis_imports_new(other, &foreign), CIS_OK);
  counter n = {0};

  assert_int_equal(link_and_loop(m, im, &n), CIS_EUNKNOWNIMPORT);
  assert_int_equal(cis_imports_set_base(im, base), CIS_OK);
  assert_int_equal(link_and_loop(m, im, &n), CIS_OK);
  assert_int_equal(n.calls, 3);

  n.calls = 0;
  assert_int_equal(cis_imports_add_host_funcs(own, &nop100, 1), CIS_OK);
  assert_int_equal(cis_imports_set_base(own, base), CIS_OK);
  assert_int_equal(link_and_loop(m, own, &n), CIS_OK);
  assert_int_equal(n.calls, 300);

  assert_int_equal(cis_imports_set_base(second, im), CIS_OK);
  assert_int_equal(link_and_loop(m, second, &n), CIS_EUNKNOWNIMPORT);

  assert_int_equal(cis_imports_set_base(NULL, base), CIS_EINVAL);
  assert_int_equal(cis_imports_set_base(im, im), CIS_EINVAL);
  assert_int_equal(cis_imports_set_base(im, foreign), CIS_EINVAL);
  assert_int_equal(cis_imports_set_base(im, NULL), CIS_OK);
  assert_int_equal(link_and_loop(m, im, &n), CIS_EUNKNOWNIMPORT);

  cis_imports_free(foreign);
  cis_imports_free(second);
  cis_imports_free(own);
  cis_imports_free(im);
  cis_imports_free(base);
  cis_module_free(m);
  cis_engine_free(other);
  cis_engine_free(e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(host_call_does_not_read_the_clock_each_time),
      cmocka_unit_test(deadline_stops_a_guest_looping_on_host_calls),
      cmocka_unit_test(cancel_stops_a_guest_at_its_next_host_call),
      cmocka_unit_test(host_call_that_waits_is_followed_by_a_deadline_check),
      cmocka_unit_test(imports_fall_back_to_their_base),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
