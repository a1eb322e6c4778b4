# test_http.py -- HTTP rules of skills, from the manifest and from a call.
#
# This file runs a skill that fetches the URL of its "url" setting
# (sdk/python/tests/wat/fetch.wat) against an HTTP server in this
# process: allowed by a manifest rule, by a call's allow_hosts, and
# refused without a rule (a loopback address needs an address rule).
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import cis

from conftest import manifest


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the http.server name)
        data = b'{"ok":true,"path":"' + self.path.encode() + b'"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def test_http_rules(tmp_path, fixtures, server):
    wasm = (fixtures / "fetch.wasm").read_bytes()
    url = f"http://{server}/x"
    rule = f"http://{server}"
    assert cis.HttpPolicy([rule]).check_url(url)[0]
    with cis.Skills(tmp_path / "h", engine="interp") as s:
        s.register(wasm, manifest("fetch", permissions={"http": {"allow": [rule]}}))
        s.set_setting("fetch", "url", url)
        r = s.invoke("fetch", {})
        assert r.output == {"ok": True, "path": "/x"} and r.stats.http_calls == 1
        # A per-call setting wins over the stored one.
        assert s.invoke("fetch", {}, config={"url": url + "y"}).output["path"] == "/xy"
        # No rule for the address: refused before connecting.
        s.register(wasm, manifest("nofetch", permissions={"http": {"allow": ["https://a.example"]}}))
        with pytest.raises(cis.SkillError) as e:
            s.invoke("nofetch", {}, config={"url": url})
        assert e.value.name == "CIS_ESKILL"
        # A module without a manifest gets only the call's own rules.
        assert s.invoke_wasm(wasm, {}, abi="cis_v1", allow_hosts=[rule],
                             config={"url": url}).output["ok"] is True
        with pytest.raises(cis.SkillError):
            s.invoke_wasm(wasm, {}, abi="cis_v1", config={"url": url})
