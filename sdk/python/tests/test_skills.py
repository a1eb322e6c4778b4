# test_skills.py -- the skills host: install, list, show, settings, invoke.
#
# This file tests Skills over the registry: skills installed from a
# folder and from memory, dict in and parsed JSON out, typed failures of
# a call, per-call limits, KV on the notes example, settings and grants.
from __future__ import annotations

import json
import shutil

import pytest

import cis

from conftest import ECHO_SCHEMA, manifest


def test_list_show_remove(skills):
    names = [s.name for s in skills.list()]
    assert names == sorted(["echo", "spin", "badjson", "trap"])
    info = {s.name: s for s in skills.list()}["echo"]
    assert info.version == "1.0.0" and len(info.sha256) == 64 and info.installed_at > 0
    shown = skills.show("echo")
    assert shown["input_schema"] == ECHO_SCHEMA
    skills.remove("trap")
    assert "trap" not in [s.name for s in skills.list()]
    with pytest.raises(cis.NotFound):
        skills.show("trap")
    with pytest.raises(cis.NotFound):
        skills.invoke("trap", {})


def test_invoke_dict_in_dict_out(skills):
    args = {"text": "héllo", "n": [1, 2, {"x": None}], "ok": True}
    r = skills.invoke("echo", args)
    assert r.output == args
    assert json.loads(r.output_text) == args
    assert r.stats.wall_ns > 0
    assert skills.invoke("echo").output == {}
    assert skills.invoke_json("echo", '{"a": 1}').output == {"a": 1}


def test_install_from_folder(tmp_path, examples):
    src = tmp_path / "hello"
    shutil.copytree(examples / "hello", src)
    with cis.Skills(tmp_path / "home", engine="interp") as s:
        assert s.install(src) == "hello"
        r = s.invoke("hello", {})
        assert r.output == {"result": 2}
        assert "computed 1+1" in r.logs
        assert s.install(src / "skill.json") == "hello"  # reinstall replaces


def test_kv_persists_between_calls(tmp_path, examples):
    with cis.Skills(tmp_path / "home", engine="interp",
                    kv_spec=f"sqlite:{tmp_path / 'kv.db'}") as s:
        s.install(examples / "notes")
        s.invoke("notes", {"op": "add", "note": "buy milk"})
        s.invoke("notes", {"op": "add", "note": "call home"})
        r = s.invoke("notes", {"op": "list"})
        assert "buy milk" in r.output_text and "call home" in r.output_text
        assert r.stats.kv_gets > 0
    with cis.Skills(tmp_path / "home", engine="interp",
                    kv_spec=f"sqlite:{tmp_path / 'kv.db'}") as s:
        assert "buy milk" in s.invoke("notes", {"op": "list"}).output_text


def test_remove_with_purge_deletes_the_skills_kv(tmp_path, examples):
    with cis.Skills(tmp_path / "home", engine="interp",
                    kv_spec=f"sqlite:{tmp_path / 'kv.db'}") as s:
        s.install(examples / "notes")
        s.invoke("notes", {"op": "add", "note": "buy milk"})
        s.remove("notes")  # kept: a reinstall finds its notes
        s.install(examples / "notes")
        assert "buy milk" in s.invoke("notes", {"op": "list"}).output_text
        s.remove("notes", purge=True)
        with pytest.raises(cis.NotFound):
            s.remove("notes", purge=True)  # nothing left under the name
        s.install(examples / "notes")
        assert "buy milk" not in s.invoke("notes", {"op": "list"}).output_text
        with pytest.raises(TypeError):
            s.remove("notes", purge="yes")
        with pytest.raises(cis.InvalidArgument):
            s.remove("../notes", purge=True)


def test_remove_tenant_deletes_its_skills_and_kv_and_no_one_elses(tmp_path, examples):
    kv = f"sqlite:{tmp_path / 'kv.db'}"
    with cis.Skills(tmp_path / "home", engine="interp", tenant="alice", kv_spec=kv) as a, \
            cis.Skills(tmp_path / "home", engine="interp", tenant="alice2", kv_spec=kv) as b:
        for s in (a, b):
            s.install(examples / "notes")
            s.invoke("notes", {"op": "add", "note": "buy milk"})
        gone = a.remove_tenant()
        assert gone["skills"] == 1 and gone["kv_namespaces"] == 1 and gone["kv_keys"] >= 1
        assert a.list() == []
        assert a.remove_tenant() == {k: 0 for k in gone}  # nothing left: done again
        assert "buy milk" in b.invoke("notes", {"op": "list"}).output_text
        a.install(examples / "notes")
        assert "buy milk" not in a.invoke("notes", {"op": "list"}).output_text
        with pytest.raises(TypeError):
            a.remove_tenant(allow_default="yes")
    with cis.Skills(tmp_path / "home", engine="interp", kv_spec=kv) as d:
        with pytest.raises(cis.PermissionDenied):
            d.remove_tenant()
        assert d.remove_tenant(allow_default=True)["skills"] == 0


def test_call_failures_are_typed(skills):
    with pytest.raises(cis.Trap) as e:
        skills.invoke("trap", {})
    assert e.value.name == "CIS_TRAP_UNREACHABLE"
    with pytest.raises(cis.DeadlineExceeded):
        skills.invoke("spin", {}, timeout_ms=100)
    with pytest.raises(cis.FuelExhausted):
        skills.invoke("spin", {}, fuel=100000)
    with pytest.raises(cis.CisError) as e:
        skills.invoke("badjson", {})
    assert e.value.name in ("CIS_EJSON", "CIS_ESKILL") and e.value.message


def test_settings_and_keys(skills):
    skills.set_setting("echo", "region", "eu")
    assert skills.settings("echo") == {"region": "eu"}
    skills.set_setting("echo", "region", None)
    assert skills.settings("echo") == {}
    with pytest.raises(cis.InvalidArgument):
        skills.set_setting("echo", "a=b", "x")
    with pytest.raises(cis.NotFound):
        skills.settings("nope")
    assert skills.keys() == {}
    skills.trust_key("ops", "ab" * 32)
    assert skills.keys() == {"ops": "ab" * 32}
    skills.untrust_key("ops")
    assert skills.keys() == {}


def test_register_checks_the_manifest(skills, fixtures):
    wasm = (fixtures / "echo.wasm").read_bytes()
    with pytest.raises(cis.SkillError):
        skills.register(wasm, manifest("x", wasm={"path": "m.wasm", "sha256": "0" * 64}))
    with pytest.raises(cis.SkillError):
        skills.register(wasm, {"name": "x"})
    with pytest.raises(cis.CisError):
        skills.register(wasm, "{not json")
    with pytest.raises(cis.PermissionDenied):
        skills.register(wasm, manifest("y", permissions={"kv": {"namespace": "echo"}}))


def test_invoke_wasm_with_grants(skills, skill_modules, tmp_path):
    wasm = (skill_modules / "wasi_echo.wasm").read_bytes()
    r = skills.invoke_wasm(wasm, {"q": 1}, abi="wasi", timeout_ms=5000)
    assert r.output == {"echo": {"q": 1}}
    (tmp_path / "data").mkdir()
    r = skills.invoke_wasm(wasm, {}, abi="wasi", env={"A": "1"},
                           mounts=[cis.Mount(tmp_path / "data", "/data", read_only=True)])
    assert r.exit_code == 0


def test_tenants_are_apart(tmp_path, fixtures):
    wasm = (fixtures / "echo.wasm").read_bytes()
    with cis.Skills(tmp_path / "h", tenant="acme", engine="interp") as a, \
            cis.Skills(tmp_path / "h", tenant="other", engine="interp") as b:
        a.register(wasm, manifest("echo"))
        assert [s.name for s in a.list()] == ["echo"]
        assert b.list() == []
        with pytest.raises(cis.NotFound):
            b.invoke("echo", {})
    with pytest.raises(cis.InvalidArgument) as e:
        cis.Skills(tmp_path / "h", tenant="../evil")
    assert "tenant: " in e.value.message  # why the open failed, from its failed handle


def test_host_limits_and_quotas(tmp_path, fixtures):
    wasm = (fixtures / "echo.wasm").read_bytes()
    with cis.Skills(tmp_path / "h", engine="interp", max_skills=1,
                    limits=cis.Limits(timeout_ms=50), max_input=64) as s:
        s.register(wasm, manifest("echo"))
        with pytest.raises(cis.CisError) as e:
            s.register((fixtures / "spin.wasm").read_bytes(), manifest("spin"))
        assert e.value.name == "CIS_EQUOTA"
        with pytest.raises(cis.TooBig):
            s.invoke("echo", {"text": "x" * 100})
