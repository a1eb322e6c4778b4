# test_example.py -- examples/agent_loop.py runs offline.
#
# This file runs the agent loop example as a user would (a process with
# the examples' skills installed and a scripted model), and its pieces in
# process: the tools list carries each skill's input_schema, and a failing
# tool call reaches the model as a typed error instead of ending the loop.
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

EXAMPLE = pathlib.Path(__file__).resolve().parent.parent / "examples" / "agent_loop.py"
sys.path.insert(0, str(EXAMPLE.parent))
import agent_loop  # noqa: E402


def test_agent_loop_runs_offline(examples, tmp_path):
    r = subprocess.run(
        ["/usr/bin/python3", str(EXAMPLE), str(examples / "hello"), str(examples / "notes"),
         "--home", str(tmp_path / "home"),
         "--call", "hello", "{}", "--call", "notes", '{"op":"add","note":"buy milk"}',
         "--call", "notes", '{"op":"list"}'],
        capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == 'tools: ["hello", "notes"]'
    results = json.loads(lines[1].removeprefix("tool results: "))
    assert results[0] == {"result": {"result": 2}}
    assert results[2] == {"result": {"notes": ["buy milk"]}}


def test_tools_and_errors_in_process(skills):
    tools = {t["function"]["name"]: t["function"] for t in agent_loop.tools_from_skills(skills)}
    assert tools["echo"]["parameters"]["required"] == ["text"]
    assert tools["spin"]["parameters"] == {"type": "object"}
    model = agent_loop.ScriptedModel([
        agent_loop.ToolCall("echo", {"text": "hi"}, "1"),
        agent_loop.ToolCall("trap", {}, "2"),
        agent_loop.ToolCall("spin", {}, "3"),
        agent_loop.ToolCall("echo", ["not", "a", "dict"], "4"),
    ])
    text = agent_loop.run_agent(skills, model, "go", timeout_ms=200)
    results = json.loads(text.removeprefix("tool results: "))
    assert results[0] == {"result": {"text": "hi"}}
    assert results[1]["error"] == "CIS_TRAP_UNREACHABLE"
    assert results[2]["error"] == "CIS_ETIMEOUT"
    assert results[3]["error"] == "CIS_EINVAL"
