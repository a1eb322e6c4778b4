# test_ai.py -- the AI provider settings of a Skills host.
#
# This file runs a skill that asks the AI (tests/skill/wat/op_ai.wat)
# against a small OpenAI-compatible server in this process: the provider
# comes from Skills(ai_base_url=, ai_model=, ai_key_env=), the key from
# the variable named, and without a provider the call fails, typed.
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import cis

from conftest import manifest


class _Chat(BaseHTTPRequestHandler):
    seen: list = []

    def do_POST(self):  # noqa: N802 (the http.server name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Chat.seen.append((self.path, self.headers.get("Authorization"), body))
        reply = {"model": body.get("model"), "choices": [
            {"message": {"role": "assistant", "content": "hello from the mock"},
             "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 4, "total_tokens": 5}}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


@pytest.fixture
def llm():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Chat)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    _Chat.seen = []
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def test_ai_provider_settings(tmp_path, fixtures, llm, monkeypatch):
    monkeypatch.setenv("PY_SDK_TEST_KEY", "sk-test")
    wasm = (fixtures / "op_ai.wasm").read_bytes()
    with cis.Skills(tmp_path / "h", engine="interp", ai_base_url=llm, ai_model="tiny",
                    ai_key_env="PY_SDK_TEST_KEY") as s:
        s.register(wasm, manifest("asker", permissions={"ai": True}))
        r = s.invoke("asker", {})
        assert r.output == {"r": "hello from the mock"}
        assert r.stats.ai_calls == 1 and r.stats.ai_tokens == 5
    path, auth, body = _Chat.seen[0]
    assert path == "/v1/chat/completions" and auth == "Bearer sk-test"
    assert body["model"] == "tiny"


def test_ai_without_provider_or_grant(tmp_path, fixtures, monkeypatch):
    monkeypatch.delenv("CIS_AI_BASE_URL", raising=False)
    wasm = (fixtures / "op_ai.wasm").read_bytes()
    with cis.Skills(tmp_path / "h", engine="interp") as s:
        s.register(wasm, manifest("asker", permissions={"ai": True}))
        # The skill sees the failure and returns it: CIS_ESKILL saying why.
        with pytest.raises(cis.SkillError) as e:
            s.invoke("asker", {})
        assert e.value.name == "CIS_ESKILL" and "no AI provider" in e.value.message
        s.register(wasm, manifest("nogrant"))
        with pytest.raises(cis.SkillError) as e:
            s.invoke("nogrant", {})
        assert "not granted" in e.value.message
