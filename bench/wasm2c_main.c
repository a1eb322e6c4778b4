/*
 * wasm2c_main.c -- harness for the workloads translated by wabt's wasm2c.
 *
 * This file implements the main() of the wasm2c engine of bench/run.sh.
 * run.sh translates a workload's .wasm with `wasm2c -n bench` into
 * module.c and module.h, compiles them with gcc, and links this file and
 * wabt's runtime (libwasm-rt-impl). The workloads import nothing and
 * export `run` (an i64, no parameters), so all there is to do here is what
 * any embedder of wasm2c output does: initialise the runtime and the
 * module, instantiate it, call the export once under a trap handler, and
 * print the result on its own line, as native_main.c does natively.
 *
 * The names below are those wasm2c 1.0.32 (Debian 12) gives a module
 * named "bench": Z_bench_instance_t, Z_bench_instantiate, Z_benchZ_run.
 * Other wabt versions name things differently (w2c_bench...); the build
 * then fails, and run.sh reports the engine as failed, not as a result.
 */
#include <stdio.h>

#include "module.h"
#include "wasm-rt-impl.h"

int main(void) {
  static Z_bench_instance_t inst; /* the module's memory and globals */
  wasm_rt_init();
  Z_bench_init_module();
  Z_bench_instantiate(&inst);
  /* A trap long-jumps back here with its code; none is expected. */
  wasm_rt_trap_t trap = wasm_rt_impl_try();
  if (trap != WASM_RT_TRAP_NONE) {
    fprintf(stderr, "wasm2c: trap: %s\n", wasm_rt_strerror(trap));
    return 1;
  }
  /* run() returns a checksum that bench_result() made non-negative, so
   * reading the u64 as signed prints the digits the other engines do. */
  printf("%lld\n", (long long)Z_benchZ_run(&inst));
  Z_bench_free(&inst);
  wasm_rt_free();
  return 0;
}
