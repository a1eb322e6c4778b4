# test_runtime.py -- Runtime, Module, Instance and WASI commands.
#
# This file tests the low tier: modules from text and bytes, calls with
# numbers, each limit ending a call with its own exception, the library's
# error names, the ctypes structures against the C layout, and WASI runs.
from __future__ import annotations

import os
import subprocess

import pytest

import cis
from cis import _lib, errors

WAT = """
(module
  (memory (export "memory") 1)
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "mix") (param i64 f64) (result i64 f64) local.get 0 local.get 1)
  (func (export "spin") (loop $l (br $l)))
  (func $deep (export "deep") (call $deep))
  (func (export "boom") unreachable)
  (func (export "grow") (result i32) (memory.grow (i32.const 100))))
"""


@pytest.fixture
def rt():
    with cis.Runtime(engine="interp") as r:
        yield r


def test_version_and_library():
    assert cis.version() == "0.2.0"
    assert os.path.exists(cis.library_path())


def test_call_numbers(rt):
    inst = rt.instantiate(rt.load(WAT))
    assert inst.call("add", 2, 3) == 5
    assert inst.call("add", 0x7FFFFFFF, 1) == -0x80000000
    assert inst.call("mix", -5, 2.5) == (-5, 2.5)
    assert inst.func_type("mix") == cis.FuncType(("i64", "f64"), ("i64", "f64"))
    assert {e.name for e in rt.load(WAT).exports} >= {"add", "memory"}


def test_limits_each_raise_their_class(rt):
    m = rt.load(WAT)
    inst = rt.instantiate(m, cis.Limits(timeout_ms=100))
    with pytest.raises(cis.DeadlineExceeded) as e:
        inst.call("spin")
    assert e.value.name == "CIS_ETIMEOUT" and e.value.code == -500
    inst = rt.instantiate(m, cis.Limits(fuel=10000))
    with pytest.raises(cis.FuelExhausted):
        inst.call("spin")
    inst = rt.instantiate(m, cis.Limits(max_call_depth=100))
    with pytest.raises(cis.Trap) as e:
        inst.call("deep")
    assert e.value.name == "CIS_TRAP_STACK"
    with pytest.raises(cis.Trap) as e:
        inst.call("boom")
    assert e.value.name == "CIS_TRAP_UNREACHABLE"
    inst = rt.instantiate(m, cis.Limits(max_memory_bytes=2 * 65536))
    assert inst.call("grow") == -1  # past the account: -1, not a trap
    assert inst.limits.max_memory_bytes == 2 * 65536


def test_instance_limits_can_change(rt):
    inst = rt.instantiate(rt.load(WAT))
    inst.limits = cis.Limits(fuel=5000)
    with pytest.raises(cis.FuelExhausted):
        inst.call("spin")


def test_memory_access(rt):
    inst = rt.instantiate(rt.load(WAT))
    inst.write_memory(10, b"hello")
    assert inst.read_memory(10, 5) == b"hello"
    with pytest.raises(cis.Trap) as e:
        inst.read_memory(65530, 100)
    assert e.value.name == "CIS_TRAP_MEM_OOB"


def test_not_wasm_is_a_module_error(rt):
    for bad in (b"", b"\0asm\x02\0\0\0", b"not wasm at all", os.urandom(64)):
        with pytest.raises(cis.ModuleError):
            rt.load(bad)
    with pytest.raises(cis.ModuleError) as e:
        rt.load("(module (func (result i32)))")  # text that does not validate
    assert e.value.name.startswith("CIS_E")
    with pytest.raises(TypeError):
        rt.load(None)


def test_load_file(rt, tmp_path):
    (tmp_path / "m.wat").write_text(WAT)
    inst = rt.instantiate(rt.load_file(tmp_path / "m.wat"))
    assert inst.call("add", 2, 3) == 5
    (tmp_path / "empty.wasm").write_bytes(b"\0asm\1\0\0\0")
    assert rt.load_file(str(tmp_path / "empty.wasm")).exports == []
    with pytest.raises(cis.NotFound):
        rt.load_file(tmp_path / "missing.wasm")
    with pytest.raises(cis.InvalidArgument):
        rt.load_file(tmp_path)  # a directory
    (tmp_path / "junk.wasm").write_bytes(b"junk")
    with pytest.raises(cis.ModuleError):
        rt.load_file(tmp_path / "junk.wasm")


def test_module_features(rt):
    assert rt.load(WAT).features == ["multi-value"]  # mix returns two values
    assert rt.load("(module)").features == []
    m = rt.load("(module (memory 1) (memory 1) (func $f) (func (return_call $f)))")
    assert m.features == ["tail-calls", "multi-memory"]


def test_imports_missing_is_a_link_error(rt):
    m = rt.load('(module (import "env" "f" (func)))')
    assert m.imports == [("env", "f", "func")]
    with pytest.raises(cis.LinkError) as e:
        rt.instantiate(m)
    assert e.value.name == "CIS_EUNKNOWNIMPORT"


def test_bad_arguments(rt):
    inst = rt.instantiate(rt.load(WAT))
    with pytest.raises(TypeError):
        inst.call("add", 1)
    with pytest.raises(TypeError):
        inst.call("add", "1", 2)
    with pytest.raises(OverflowError):
        inst.call("add", 1 << 40, 2)
    with pytest.raises(cis.NotFound):
        inst.call("nope")
    with pytest.raises(TypeError):
        inst.call(None)
    with pytest.raises(ValueError):
        inst.call("a\0b")
    with pytest.raises(ValueError):
        rt.instantiate(rt.load(WAT), cis.Limits(fuel=-1))
    with pytest.raises(TypeError):
        rt.instantiate(rt.load(WAT), {"fuel": 1})


def test_use_after_close_raises(rt):
    m = rt.load(WAT)
    inst = rt.instantiate(m)
    inst.close()
    inst.close()
    with pytest.raises(cis.ClosedError):
        inst.call("add", 1, 2)
    inst.cancel()  # a no-op, not a crash
    rt.close()
    assert m.closed  # the runtime closed its modules first
    with pytest.raises(cis.ClosedError):
        m.exports
    with pytest.raises(cis.ClosedError):
        rt.load(WAT)
    with pytest.raises(cis.CisError) as e:
        rt.load(WAT)
    assert e.value.name == "CIS_ESTATE"


def test_engine_choice():
    with pytest.raises(cis.CisError):
        cis.Runtime(engine="no-such-engine")
    with cis.Runtime(engine="interp", limits=cis.Limits(fuel=1000)) as rt:
        inst = rt.instantiate(rt.load(WAT))
        with pytest.raises(cis.FuelExhausted):
            inst.call("spin")


WASI_HELLO = """
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "out\\n")
  (data (i32.const 32) "err\\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 4))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.store (i32.const 0) (i32.const 32))
    (drop (call $w (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $exit (i32.const 3))))
"""


def test_wasi_command(rt):
    r = rt.run_wasi(rt.load(WASI_HELLO), args=["prog"])
    assert r == cis.WasiResult(3, b"out\n", b"err\n")


def test_wasi_stdin(rt, skill_modules):
    m = rt.load((skill_modules / "wasi_echo.wasm").read_bytes())
    r = rt.run_wasi(m, args=["echo"], stdin=b'{"a":1}', limits=cis.Limits(timeout_ms=5000))
    assert r.exit_code == 0 and r.stdout == b'{"echo":{"a":1}}\n'
    with pytest.raises(TypeError):
        rt.run_wasi(m, stdin="text")
    with pytest.raises(TypeError):
        rt.run_wasi(m, args=[b"bytes"])


def test_error_names_match_the_library():
    for name in dir(errors):
        if name.startswith("E") and name.isupper():
            assert cis.error_name(getattr(errors, name)) == "CIS_" + name
    assert cis.error_class(-404) is cis.Trap
    assert cis.error_class(-1003) is cis.SkillError
    assert cis.error_name(-12345) == "CIS_EUNKNOWN"


def test_struct_layouts_match_c():
    probe = os.environ.get("CIS_PY_LAYOUT")
    if not probe:
        pytest.skip("CIS_PY_LAYOUT (the layout probe) is not set")
    out = subprocess.run([probe], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        key, n = line.split()
        struct, _, fld = key.partition(".")
        py = _lib.STRUCTS[struct]
        got = getattr(py, fld).offset if fld else _ctypes_sizeof(py)
        assert got == int(n), f"{key}: ctypes says {got}, C says {n}"


def _ctypes_sizeof(t) -> int:
    import ctypes
    return ctypes.sizeof(t)


def test_aot_cache_housekeeping():
    d = cis.aot.cache_dir()
    assert d.startswith(os.environ["CIS_HOME"])
    assert isinstance(cis.aot.cache_list(), list)
    assert cis.aot.cache_prune() >= 0


def test_http_policy():
    with cis.HttpPolicy(["https://api.example.com", "10.1.0.0/16"]) as p:
        assert len(p) == 2
        assert p.check_url("https://api.example.com/v1")[0]
        ok, why = p.check_url("https://evil.example.net/")
        assert not ok and why
        assert not p.check_url("not a url")[0]
        assert p.check_addr("https", 443, "10.1.2.3")[0]
        assert not p.check_addr("https", 443, "127.0.0.1")[0]
        with pytest.raises(cis.InvalidArgument):
            p.add("http://[bad")
    with pytest.raises(cis.ClosedError):
        p.check_url("https://api.example.com")


def test_library_not_found(tmp_path):
    code = ("import cis\ntry:\n    cis.version()\nexcept cis.LibraryNotFound as e:\n"
            "    print('not found:', e)\n")
    env = dict(os.environ, CIS_LIBRARY=str(tmp_path / "nope.so"))
    r = subprocess.run(["/usr/bin/python3", "-c", code], env=env, capture_output=True,
                       text=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert "not found:" in r.stdout and "CIS_LIBRARY" in r.stdout, r.stderr


def test_compiled_engine(tmp_path):
    import shutil
    if not shutil.which("cc") and not shutil.which("gcc"):
        pytest.skip("no C compiler for the aot engine")
    with cis.Runtime(engine="aot") as rt:
        inst = rt.instantiate(rt.load(WAT))
        assert inst.call("add", 40, 2) == 42
        with pytest.raises(cis.Trap):
            inst.call("boom")
    assert any(e.sound for e in cis.aot.cache_list())
    assert cis.aot.cache_clear() >= 1
    assert cis.aot.cache_list() == []
