# test_hostile.py -- what a careless or hostile caller or skill may pass.
#
# This file tests that wrong types, oversized and malformed inputs, bad
# paths and skills that misbehave all end in a Python exception (a
# TypeError or ValueError for the caller's mistakes, a CisError for what
# the library refuses), never in a crash or a hang.
from __future__ import annotations

import math

import pytest

import cis

from conftest import manifest


def test_non_dict_arguments(skills):
    for bad in ([1, 2], "text", 3, b"{}", (1,), {1, 2}):
        with pytest.raises(TypeError):
            skills.invoke("echo", bad)
    with pytest.raises(ValueError):
        skills.invoke("echo", {"x": math.nan})  # not JSON
    with pytest.raises(TypeError):
        skills.invoke("echo", {"x": object()})
    with pytest.raises(TypeError):
        skills.invoke("echo", {}, no_such_option=1)


def test_malformed_json_text(skills):
    for bad in ("{", "{\"a\":}", "[1,,2]", "\xff", "{} trailing", ""):
        with pytest.raises(cis.CisError) as e:
            skills.invoke_json("echo", bad)
        assert e.value.code < 0
    with pytest.raises(cis.CisError):
        skills.invoke_json("echo", b"\xff\xfe{}")
    with pytest.raises(TypeError):
        skills.invoke_json("echo", {"a": 1})


def test_malformed_json_out_of_a_skill(skills):
    with pytest.raises(cis.CisError) as e:
        skills.invoke("badjson", {})
    assert "json" in str(e.value).lower() or e.value.name == "CIS_EJSON"
    # The handle is still good afterwards.
    assert skills.invoke("echo", {"a": 1}).output == {"a": 1}


def test_oversized_input(skills):
    big = {"text": "x" * (17 * 1024 * 1024)}  # above the 16 MiB default cap
    with pytest.raises(cis.TooBig):
        skills.invoke("echo", big)
    # Above the echo skill's own 1 MiB buffer: the skill refuses it.
    with pytest.raises(cis.CisError):
        skills.invoke("echo", {"text": "y" * (2 * 1024 * 1024)})


def test_none_and_bytes_where_str_expected(skills):
    for bad in (None, b"echo", 1):
        with pytest.raises(TypeError):
            skills.invoke(bad, {})
        with pytest.raises(TypeError):
            skills.show(bad)
        with pytest.raises(TypeError):
            skills.remove(bad)
    with pytest.raises(TypeError):
        skills.set_setting("echo", b"k", "v")
    with pytest.raises(TypeError):
        skills.invoke("echo", {}, tenant=b"t")
    with pytest.raises(TypeError):
        skills.invoke("echo", {}, config={"k": 1})
    with pytest.raises(ValueError):
        skills.invoke("echo", {}, config={"k=": "v"})
    with pytest.raises(ValueError):
        skills.invoke("ec\0ho", {})
    with pytest.raises(TypeError):
        skills.invoke("echo", {}, allow_hosts="https://x")
    with pytest.raises(ValueError):
        skills.invoke("echo", {}, timeout_ms=-1)
    with pytest.raises(ValueError):
        skills.invoke("echo", {}, fuel=1 << 64)  # would wrap to 0: unlimited
    with pytest.raises(ValueError):
        cis.Skills(limits=cis.Limits(max_call_depth=1 << 32))  # refused before opening
    with pytest.raises(TypeError):
        cis.Skills(home=123)


def test_bad_paths(skills, tmp_path):
    with pytest.raises(cis.CisError):
        skills.install(tmp_path / "does-not-exist")
    (tmp_path / "empty").mkdir()
    with pytest.raises(cis.CisError):
        skills.install(tmp_path / "empty")
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "skill.json").write_text('{"name":"s","wasm":{"path":"../../etc/passwd"}}')
    with pytest.raises(cis.CisError):
        skills.install(tmp_path / "s")
    with pytest.raises(ValueError):
        skills.install("a\0b")
    with pytest.raises(cis.CisError):
        skills.invoke_wasm(b"\0asm\1\0\0\0", {}, abi="wasi",
                           mounts=[cis.Mount(tmp_path / "missing", "/m")])
    with pytest.raises(TypeError):
        skills.invoke("echo", {}, mounts=[str(tmp_path)])
    (tmp_path / "file").write_text("x")
    with pytest.raises(cis.CisError):
        cis.Skills(tmp_path / "file" / "home")  # a home under a regular file


def test_module_that_is_not_wasm(skills):
    for bad in (b"", b"hello", b"\0asm", b"\0asm\1\0\0\0\x01\xff\xff\xff\xff\x0f"):
        with pytest.raises((cis.ModuleError, cis.SkillError)):
            skills.register(bad, manifest("junk"))
        with pytest.raises((cis.ModuleError, cis.SkillError)):
            skills.invoke_wasm(bad, {})
    with pytest.raises(TypeError):
        skills.invoke_wasm("not bytes", {})


def test_use_after_close(tmp_path):
    s = cis.Skills(tmp_path / "h", engine="interp")
    s.close()
    s.close()
    for call in (s.list, lambda: s.invoke("x", {}), lambda: s.show("x"),
                 lambda: s.install(tmp_path)):
        with pytest.raises(cis.ClosedError):
            call()
    with cis.Skills(tmp_path / "h", engine="interp") as s2:
        pass
    with pytest.raises(cis.ClosedError):
        s2.list()
