#!/usr/bin/env python3
# agent_loop.py -- an agent loop that offers installed cis skills as tools.
#
# This file implements the smallest agent a platform would build on the
# cis package: the installed skills become a tools list (name,
# description and the manifest's input_schema, in the OpenAI "tools"
# shape), a model picks a tool and its arguments, the loop invokes the
# skill in the sandbox and hands the JSON result (or the typed error)
# back to the model, until the model answers in text.
#
# The model is pluggable: anything with a step(messages, tools) method.
# ScriptedModel below plays a fixed script so the example runs offline;
# a real one would send messages and tools to an LLM and map its reply.
#
#   CIS_LIBRARY=build/libcis.so python3 sdk/python/examples/agent_loop.py \
#       build/examples/hello build/examples/notes \
#       --call hello '{}' --call notes '{"op":"add","note":"buy milk"}'
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Protocol

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import cis  # noqa: E402


@dataclass
class ToolCall:
    name: str
    arguments: Dict[str, Any]
    id: str


@dataclass
class Reply:
    """One model step: either tool calls to make, or the final text."""

    tool_calls: List[ToolCall]
    text: Optional[str] = None


class Model(Protocol):
    def step(self, messages: List[Dict[str, Any]], tools: List[Dict[str, Any]]) -> Reply: ...


def tools_from_skills(skills: cis.Skills) -> List[Dict[str, Any]]:
    """The installed skills as function tools; the schema is the skill's
    input_schema, or any object when its manifest has none."""
    tools = []
    for info in skills.list():
        shown = skills.show(info.name)
        schema = shown.get("input_schema") or {"type": "object"}
        tools.append({"type": "function", "function": {
            "name": info.name, "description": info.description, "parameters": schema}})
    return tools


def call_tool(skills: cis.Skills, call: ToolCall, timeout_ms: int) -> Dict[str, Any]:
    """Runs one tool call in the sandbox. A failure is a result the model
    sees (it may retry or give up), not an exception of the loop."""
    if not isinstance(call.arguments, dict):
        return {"error": "CIS_EINVAL", "message": "arguments must be a JSON object"}
    try:
        return {"result": skills.invoke(call.name, call.arguments, timeout_ms=timeout_ms).output}
    except cis.CisError as e:
        return {"error": e.name, "message": e.message}


def run_agent(skills: cis.Skills, model: Model, prompt: str, max_steps: int = 8,
              timeout_ms: int = 5000) -> str:
    tools = tools_from_skills(skills)
    names = {t["function"]["name"] for t in tools}
    messages: List[Dict[str, Any]] = [{"role": "user", "content": prompt}]
    for _ in range(max_steps):
        reply = model.step(messages, tools)
        if not reply.tool_calls:
            return reply.text or ""
        messages.append({"role": "assistant", "tool_calls": [
            {"id": c.id, "type": "function",
             "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
            for c in reply.tool_calls]})
        for c in reply.tool_calls:
            result = call_tool(skills, c, timeout_ms) if c.name in names else \
                {"error": "CIS_ENOTFOUND", "message": f"no tool {c.name!r}"}
            messages.append({"role": "tool", "tool_call_id": c.id,
                             "content": json.dumps(result)})
    return "(gave up: too many steps)"


class ScriptedModel:
    """A stand-in for an LLM: makes the given tool calls one step at a
    time, then answers with what the tools returned."""

    def __init__(self, calls: List[ToolCall]) -> None:
        self._calls = list(calls)

    def step(self, messages, tools) -> Reply:
        if self._calls:
            return Reply([self._calls.pop(0)])
        results = [json.loads(m["content"]) for m in messages if m["role"] == "tool"]
        return Reply([], "tool results: " + json.dumps(results, sort_keys=True))


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("skill_dirs", nargs="*", help="skill folders to install first")
    ap.add_argument("--home", help="registry folder (default: a temporary one)")
    ap.add_argument("--call", nargs=2, action="append", default=[], metavar=("TOOL", "JSON"),
                    help="a tool call the scripted model makes")
    ap.add_argument("--prompt", default="Use the tools.")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cis-agent-") as tmp:
        home = a.home or tmp
        with cis.Skills(home, kv_spec=f"sqlite:{os.path.join(home, 'kv.db')}") as skills:
            for d in a.skill_dirs:
                skills.install(d)
            tools = tools_from_skills(skills)
            print("tools:", json.dumps([t["function"]["name"] for t in tools]))
            calls = [ToolCall(n, json.loads(j), f"call_{i}") for i, (n, j) in enumerate(a.call)]
            print(run_agent(skills, ScriptedModel(calls), a.prompt))
    return 0


if __name__ == "__main__":
    sys.exit(main())
