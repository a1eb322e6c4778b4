# test_threads.py -- calls from several threads.
#
# This file tests that the GIL is released during calls (two long calls
# on two threads overlap in time), that concurrent invokes on one shared
# Skills handle all get their own answers, that a CancelToken fired from
# another thread stops a looping skill long before its deadline, that an
# instance serves one thread at a time, and that close() from another
# thread waits for the uses in flight, up to the reading of their error
# messages.
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import cis

SPIN = "(module (func (export \"spin\") (loop $l (br $l))))"


def _interval(fn):
    t0 = time.monotonic()
    try:
        fn()
    except cis.CisError:
        pass
    return t0, time.monotonic()


def test_gil_released_two_long_calls_overlap():
    # Each call runs 400 ms of wasm. Were the GIL held, the second could
    # not even start before the first ended.
    with cis.Runtime(engine="interp") as rt:
        m = rt.load(SPIN)
        insts = [rt.instantiate(m, cis.Limits(timeout_ms=400)) for _ in range(2)]
        spans = [None, None]
        barrier = threading.Barrier(2)

        def run(i):
            barrier.wait()
            spans[i] = _interval(lambda: insts[i].call("spin"))
        ts = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        (a0, a1), (b0, b1) = spans
        overlap = min(a1, b1) - max(a0, b0)
        assert overlap > 0.2, f"calls did not overlap: {spans}"


def test_gil_released_python_thread_keeps_running():
    with cis.Runtime(engine="interp") as rt:
        inst = rt.instantiate(rt.load(SPIN), cis.Limits(timeout_ms=400))
        ticks = []
        stop = threading.Event()

        def tick():
            while not stop.is_set():
                ticks.append(time.monotonic())
                time.sleep(0.01)
        t = threading.Thread(target=tick)
        t.start()
        t0 = time.monotonic()
        with pytest.raises(cis.DeadlineExceeded):
            inst.call("spin")
        t1 = time.monotonic()
        stop.set()
        t.join()
        assert sum(1 for x in ticks if t0 < x < t1) >= 10


def test_concurrent_invokes(skills):
    def call(i):
        return skills.invoke("echo", {"text": f"call {i}", "i": i}).output
    with ThreadPoolExecutor(max_workers=4) as pool:
        outs = list(pool.map(call, range(40)))
    assert outs == [{"text": f"call {i}", "i": i} for i in range(40)]


def test_cancel_from_another_thread_stops_a_looping_skill(skills):
    token = cis.CancelToken()
    threading.Timer(0.2, token.cancel).start()
    t0 = time.monotonic()
    with pytest.raises(cis.Cancelled) as e:
        skills.invoke("spin", {}, cancel=token)  # the skill's deadline is 10 s
    took = time.monotonic() - t0
    assert e.value.name == "CIS_ECANCELED"
    assert took < 3.0, f"cancel took {took:.2f} s"
    assert token.cancelled


def test_cancel_before_the_call_and_reset(skills):
    token = cis.CancelToken()
    token.cancel()
    with pytest.raises(cis.Cancelled):
        skills.invoke("echo", {}, cancel=token)
    token.reset()
    assert skills.invoke("echo", {"a": 1}, cancel=token).output == {"a": 1}
    token.cancel()  # no call running: nothing to touch, no crash


def test_cancel_one_of_several(skills):
    token = cis.CancelToken()
    results = {}

    def spin():
        try:
            skills.invoke("spin", {}, cancel=token)
        except cis.CisError as e:
            results["spin"] = e.name

    t = threading.Thread(target=spin)
    t.start()
    time.sleep(0.1)
    for i in range(5):  # other calls go on meanwhile
        assert skills.invoke("echo", {"i": i}).output == {"i": i}
    token.cancel()
    t.join(5)
    assert results == {"spin": "CIS_ECANCELED"}


def test_instance_cancel_from_another_thread():
    with cis.Runtime(engine="interp") as rt:
        inst = rt.instantiate(rt.load(SPIN), cis.Limits(timeout_ms=10000))
        threading.Timer(0.1, inst.cancel).start()
        t0 = time.monotonic()
        with pytest.raises(cis.Cancelled):
            inst.call("spin")
        assert time.monotonic() - t0 < 3.0


def test_close_waits_for_calls_in_flight(tmp_path, fixtures):
    from conftest import manifest
    s = cis.Skills(tmp_path / "h", engine="interp")
    s.register((fixtures / "spin.wasm").read_bytes(), manifest("spin"))
    errs = []

    def run():
        try:
            s.invoke("spin", {}, timeout_ms=300)
        except cis.CisError as e:
            errs.append(e.name)
    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.05)
    s.close()  # must not free the handle under the running call
    t.join()
    assert errs == ["CIS_ETIMEOUT"]
    with pytest.raises(cis.ClosedError):
        s.invoke("spin", {})


def _until(cond, what: str, limit_s: float = 10.0) -> None:
    t_end = time.monotonic() + limit_s
    while not cond():
        assert time.monotonic() < t_end, what
        time.sleep(0.005)


def _spin_on_thread(inst: "cis.Instance") -> tuple:
    # inst.call("spin") on a thread of its own, once it has started; the
    # names of the errors it raised fill the list.
    errs: list = []

    def run():
        try:
            inst.call("spin")
        except cis.CisError as e:
            errs.append(e.name)
    t = threading.Thread(target=run)
    t.start()
    _until(lambda: inst._uses == 1, "the call never started")
    return t, errs


def test_one_instance_one_call_at_a_time():
    with cis.Runtime(engine="interp") as rt:
        inst = rt.instantiate(rt.load(SPIN), cis.Limits(timeout_ms=1000))
        t, ended = _spin_on_thread(inst)
        for use in (lambda: inst.call("spin"), lambda: inst.read_memory(0, 0),
                    lambda: inst.fuel_left, lambda: inst.limits):
            with pytest.raises(cis.CisError) as e:
                use()  # the instance is busy on the other thread
            assert e.value.name == "CIS_ESTATE"
        inst.close()  # waits for the other thread's call, then frees
        t.join()
        assert ended == ["CIS_ETIMEOUT"]
        with pytest.raises(cis.ClosedError):
            inst.call("spin")


class _SlowErrmsg:
    """Stands in for _lib.errmsg: tells when a failed call reads its
    message, then dawdles, so that close() from another thread lands
    between a call's return and the reading of its message."""

    def __init__(self, real) -> None:
        self.real, self.reading = real, threading.Event()

    def __call__(self, handle) -> str:
        self.reading.set()
        time.sleep(0.3)
        return self.real(handle)


def _close_while_reading_error(monkeypatch, fail, handle):
    # fail() runs on a thread and must raise a CisError whose message
    # is read from the handle; handle.close() runs meanwhile. close()
    # must wait for that reading: the message comes out whole (and
    # under ASan nothing is read from freed memory).
    slow = _SlowErrmsg(cis._lib.errmsg)
    monkeypatch.setattr(cis._lib, "errmsg", slow)
    got = []

    def run():
        try:
            fail()
        except cis.CisError as e:
            got.append(e)
    t = threading.Thread(target=run)
    t.start()
    assert slow.reading.wait(10), "the failing call never read its message"
    handle.close()
    t.join()
    assert len(got) == 1 and got[0].message, got
    return got[0]


def test_close_waits_for_an_instance_call_reading_its_error(monkeypatch):
    rt = cis.Runtime(engine="interp")
    inst = rt.instantiate(rt.load(SPIN), cis.Limits(timeout_ms=100))
    e = _close_while_reading_error(monkeypatch, lambda: inst.call("spin"), inst)
    assert e.name == "CIS_ETIMEOUT"
    assert inst.closed
    rt.close()


def test_close_waits_for_a_runtime_load_reading_its_error(monkeypatch):
    rt = cis.Runtime(engine="interp")
    e = _close_while_reading_error(monkeypatch, lambda: rt.load(b"\0asm\1\0\0\0\x99"), rt)
    assert isinstance(e, cis.ModuleError), e
    with pytest.raises(cis.ClosedError):
        rt.load(SPIN)


def test_close_waits_for_an_http_policy_reading_its_error(monkeypatch):
    pol = cis.HttpPolicy()
    e = _close_while_reading_error(monkeypatch, lambda: pol.add("ftp://[bad"), pol)
    assert e.name == "CIS_EINVAL", e
    assert pol.closed


def test_runtime_close_waits_for_its_instances_calls():
    rt = cis.Runtime(engine="interp")
    m = rt.load(SPIN)
    inst = rt.instantiate(m, cis.Limits(timeout_ms=400))
    t, errs = _spin_on_thread(inst)
    rt.close()  # closes the instance first: waits for its call
    t.join()
    assert errs == ["CIS_ETIMEOUT"] and inst.closed and m.closed
