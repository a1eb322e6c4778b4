# bench_py.py -- the Python side of bench/python_sdk.sh.
#
# This file implements the same two warm calls as bench_c.c, through the
# cis package, timed the same way, and prints the same "key value unit"
# lines, plus invoke_json_median_ns: the warm invoke with its input given
# as JSON text, which leaves out json.dumps and json.loads of the dict.
#
#   CIS_LIBRARY=... python3 bench_py.py TRIVIAL.wasm HOME [CALLS]
from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "sdk", "python"))
import cis  # noqa: E402


def median_single(fn, calls: int) -> int:
    t = []
    now = time.perf_counter_ns
    for _ in range(calls):
        t0 = now()
        fn()
        t.append(now() - t0)
    return int(statistics.median(t))


def main() -> int:
    wasm_path, home = sys.argv[1], sys.argv[2]
    calls = int(sys.argv[3]) if len(sys.argv) > 3 else 20000
    wasm = open(wasm_path, "rb").read()
    with cis.Skills(home, engine="interp") as s:
        s.register(wasm, {"name": "trivial", "version": "1.0.0", "abi": "cis_v1"})
        for _ in range(calls // 10 + 100):
            s.invoke("trivial", {})
        inv = median_single(lambda: s.invoke("trivial", {}), calls)
        inv_json = median_single(lambda: s.invoke_json("trivial", "{}"), calls)
    with cis.Runtime(engine="interp") as rt:
        inst = rt.instantiate(rt.load('(module (func (export "add") (param i32 i32) '
                                      '(result i32) local.get 0 local.get 1 i32.add))'))
        batches = []
        for _ in range(101):
            t0 = time.perf_counter_ns()
            for _ in range(1000):
                inst.call("add", 1, 2)
            batches.append(time.perf_counter_ns() - t0)
        call = int(statistics.median(batches)) // 1000
    print(f"invoke_median_ns {inv} ns")
    print(f"invoke_json_median_ns {inv_json} ns")
    print(f"call_ns {call} ns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
