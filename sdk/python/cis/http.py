# http.py -- HTTP allow rules as the skills host judges them.
#
# This file implements HttpPolicy over include/cis/cis_http.h: a set of
# allow rules ("https://api.example.com", "*.example.org:*",
# "10.1.0.0/16") that can judge a URL or a connection address without
# sending anything, so an agent platform can check the rules it grants
# (manifest permissions, Skills.invoke(allow_hosts=...)) before a call.
from __future__ import annotations

import ctypes
from typing import Iterable, Tuple

from . import _lib
from ._handle import Handle
from .errors import check


class HttpPolicy(Handle):
    """An allow-list of HTTP rules (default deny)."""

    _what = "HttpPolicy"

    def __init__(self, rules: Iterable[str] = ()) -> None:
        super().__init__()
        out = ctypes.c_void_p()
        check(_lib.lib().cis_http_policy_new(ctypes.byref(out)))
        self._ptr = out.value
        for r in rules:
            self.add(r)

    def _free(self, ptr: int) -> None:
        _lib.lib().cis_http_policy_free(ptr)

    def add(self, rule: str) -> None:
        """Adds a rule; InvalidArgument with the reason when it does not parse."""
        with self._use() as p:
            check(_lib.lib().cis_http_policy_add(p, _lib.encode(rule, "rule")), p)

    def __len__(self) -> int:
        with self._use() as p:
            return _lib.lib().cis_http_policy_count(p)

    def check_url(self, url: str) -> Tuple[bool, str]:
        """(allowed, why) for a URL, judged without resolving or connecting."""
        why = ctypes.create_string_buffer(512)
        with self._use() as p:
            rc = _lib.lib().cis_http_policy_check_url(p, _lib.encode(url, "url"), why, len(why))
        return self._verdict(rc, why)

    def check_addr(self, scheme: str, port: int, ip: str) -> Tuple[bool, str]:
        """(allowed, why) for a connection to address ip (text) and port."""
        why = ctypes.create_string_buffer(512)
        with self._use() as p:
            rc = _lib.lib().cis_http_policy_check_addr(p, _lib.encode(scheme, "scheme"), port,
                                                       _lib.encode(ip, "ip"), why, len(why))
        return self._verdict(rc, why)

    @staticmethod
    def _verdict(rc: int, why) -> Tuple[bool, str]:
        from .errors import EDENIED, EINVAL
        if rc in (0, EDENIED, EINVAL):
            return rc == 0, why.value.decode("utf-8", "replace")
        check(rc, message=why.value.decode("utf-8", "replace"))
        return False, ""
