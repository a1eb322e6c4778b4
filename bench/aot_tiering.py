#!/usr/bin/env python3
# aot_tiering.py -- what the default engine (auto) costs a command against
# the interpreter, on big modules, and what becomes of their compiles.
#
# This file implements the tiering benchmark of the compiled tier: for
# each module it runs, ROUNDS times in turns, `cis run --engine interp`
# and `cis run` under auto on a cold cache (a fresh CIS_HOME each round;
# the compile each auto run leaves behind is stopped before the next
# round, so rounds do not load each other), and prints the median CPU
# time (user + system) and peak resident memory of each, and their
# ratios. Then, once per module, it lets the background compile finish
# on a cold cache and reports what became of it (`cis cache list`: an
# entry, or the refusal by the compiler's bounds with its message) and
# whether a run after it prints what the interpreter prints.
#
# Modules (in OUT, default bench/out/aot_tiering):
#   yosys  Yosys 0.55 (30.8 MB, a C++ WASI program), from npm's
#          @yowasp/yosys 0.55.944 (`npm pack`, once), run with -V
#   bomb2  one function of 20,000 locals and 200,000 adds (2.1 MB)
#   bomb6  one function of 50,000 locals and 600,000 adds (7.2 MB)
#          (both made here), run with --invoke f
#
#   bench/aot_tiering.py [-n ROUNDS] [-w WAIT_S] [MODULE...]
#
# Environment: CIS (default build/tools/cis/cis). WAIT_S bounds the wait
# for each background compile (default 1800 s). Exit status 0, or 1 when
# a run fails or prints other than the interpreter.
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
YOSYS = "@yowasp/yosys@0.55.944"


def leb(v):
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def bomb(nlocals, adds):
    """One exported function "f" () -> i32 of nlocals i32 locals and adds
    local adds (a = b + c among them), returning local 0: 0."""
    body = bytearray(leb(1) + leb(nlocals) + b"\x7f")
    for i in range(adds):
        body += b"\x20" + leb(i % nlocals) + b"\x20" + leb((i * 7 + 1) % nlocals)
        body += b"\x6a\x21" + leb((i * 13 + 2) % nlocals)
    body += b"\x20" + leb(0) + b"\x0b"
    head = bytes([0, 0x61, 0x73, 0x6D, 1, 0, 0, 0, 1, 5, 1, 0x60, 0, 1, 0x7F, 3, 2, 1, 0,
                  7, 5, 1, 1, ord("f"), 0, 0])
    code = leb(1) + leb(len(body)) + body
    return head + b"\x0a" + leb(len(code)) + code


def module(out, name):
    """The path of module name and its arguments to cis run."""
    if name == "yosys":
        path = os.path.join(out, "yosys.core.wasm")
        if not os.path.exists(path):
            tmp = tempfile.mkdtemp(dir=out)
            subprocess.run(["npm", "pack", "--silent", YOSYS], cwd=tmp, check=True,
                           stdout=subprocess.DEVNULL)
            tgz = [f for f in os.listdir(tmp) if f.endswith(".tgz")][0]
            subprocess.run(["tar", "xzf", tgz, "package/gen/yosys.core.wasm"], cwd=tmp, check=True)
            os.rename(os.path.join(tmp, "package/gen/yosys.core.wasm"), path)
            shutil.rmtree(tmp)
        return path, [], ["-V"]
    sizes = {"bomb2": (20000, 200000), "bomb6": (50000, 600000)}
    path = os.path.join(out, name + ".wasm")
    if not os.path.exists(path):
        with open(path + ".tmp", "wb") as f:
            f.write(bomb(*sizes[name]))
        os.rename(path + ".tmp", path)
    return path, ["--invoke", "f"], []


def run(cis, home, engine, path, args):
    """Runs cis once (args: the options before the module, those after):
    (stdout, CPU seconds, peak RSS in MB). Its own rusage only: a compile
    child it leaves behind is not waited for."""
    env = dict(os.environ, CIS_HOME=home)
    env.pop("CIS_ENGINE", None)
    cmd = [cis, "run"] + (["--engine", engine] if engine else []) + args[0] + [path] + args[1]
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    if status != 0:
        sys.exit(f"aot_tiering: {' '.join(cmd)} exited {status}")
    return out, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0


def stop_compiles(home):
    """Stops the compile children cis left behind for home: the processes
    whose environment names it (a compile's child, the compiler and its
    programs inherit it), each with its session (the child made one)."""
    tag = b"CIS_HOME=" + home.encode() + b"\0"
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if tag not in f.read():
                    continue
            os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass


def cache_state(cis, home):
    env = dict(os.environ, CIS_HOME=home)
    return subprocess.run([cis, "cache", "list"], env=env, capture_output=True, text=True).stdout


def main():
    rounds, wait_s, names = 5, 1800, []
    argv = sys.argv[1:]
    while argv:
        a = argv.pop(0)
        if a == "-n":
            rounds = int(argv.pop(0))
        elif a == "-w":
            wait_s = int(argv.pop(0))
        elif a in ("-h", "--help"):
            print(open(__file__).read().split("import os")[0])
            return 0
        else:
            names.append(a)
    names = names or ["yosys", "bomb2", "bomb6"]
    cis = os.environ.get("CIS", os.path.join(ROOT, "build/tools/cis/cis"))
    out = os.environ.get("OUT", os.path.join(HERE, "out/aot_tiering"))
    os.makedirs(out, exist_ok=True)
    bad = 0
    print(f"{'module':8} {'interp CPU':>11} {'auto CPU':>9} {'ratio':>6} {'interp MB':>10} "
          f"{'auto MB':>8} {'ratio':>6}")
    for name in names:
        path, pre, post = module(out, name)
        args = (pre, post)
        ic, im, ac, am = [], [], [], []
        want = None
        for _ in range(rounds):
            home = tempfile.mkdtemp(prefix="cis-tier-", dir=out)
            o, c, m = run(cis, home, "interp", path, args)
            ic.append(c), im.append(m)
            want = o
            o, c, m = run(cis, home, None, path, args)
            ac.append(c), am.append(m)
            if o != want:
                print(f"aot_tiering: {name}: auto printed {o!r}, the interpreter {want!r}")
                bad = 1
            stop_compiles(home)
            shutil.rmtree(home, ignore_errors=True)
        mi, ma = statistics.median(ic), statistics.median(ac)
        ri, ra = statistics.median(im), statistics.median(am)
        print(f"{name:8} {mi:10.3f}s {ma:8.3f}s {ma / mi:6.3f} {ri:10.1f} {ra:8.1f} {ra / ri:6.3f}")
        # The compile left behind, waited for, then a run after it.
        home = tempfile.mkdtemp(prefix="cis-tier-", dir=out)
        t0 = time.time()
        run(cis, home, None, path, args)
        while time.time() - t0 < wait_s:
            state = cache_state(cis, home)
            if " ok\n" in state or "refused" in state:
                break
            time.sleep(2)
        state = cache_state(cis, home)
        took = time.time() - t0
        if " ok\n" in state:
            o, c, _ = run(cis, home, None, path, args)
            same = o == want
            bad |= not same
            print(f"  {name}: compiled in the background in {took:.0f} s; the next run "
                  f"{'prints the same' if same else 'PRINTS OTHER'} in {c:.3f} s CPU")
        elif "refused" in state:
            why = [l for l in state.splitlines() if "refused" in l][0]
            print(f"  {name}: the compile was refused after {took:.0f} s, left to the "
                  f"interpreter: {why.split('interpreter: ', 1)[-1]}")
        else:
            print(f"  {name}: no entry and no refusal after {took:.0f} s")
        stop_compiles(home)
        shutil.rmtree(home, ignore_errors=True)
    return bad


if __name__ == "__main__":
    sys.exit(main())
