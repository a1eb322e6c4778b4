# aot.py -- the compiled tier's cache.
#
# This file implements the housekeeping of include/cis/cis_aot.h. Which
# engine runs a module is chosen where modules are loaded
# (Runtime(engine=...), Skills(engine=...), or $CIS_ENGINE): "interp",
# "aot" (compiled by the system C compiler, cached) or "auto" (tiering).
# Here: where the cache is, what it holds, and removing from it.
from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import List

from . import _lib
from .errors import check

ENGINES = ("auto", "interp", "aot")


@dataclass(frozen=True)
class CacheEntry:
    path: str
    key: str
    module_sha256: str
    cis_version: str
    bytes: int
    mtime: int
    sound: bool  # header, length and object hash check out


def cache_dir() -> str:
    """The cache folder: $CIS_HOME/cache, else ~/.local/share/cis/cache."""
    buf = ctypes.create_string_buffer(4096)
    check(_lib.lib().cis_cache_dir(buf, len(buf)))
    return buf.value.decode("utf-8", "surrogateescape")


def cache_list() -> List[CacheEntry]:
    found: List[CacheEntry] = []

    def visit(e, _user) -> bool:
        c = e.contents
        found.append(CacheEntry((c.path or b"").decode("utf-8", "surrogateescape"),
                                c.key.decode(), c.module_sha256.decode(),
                                c.cis_version.decode(), c.bytes, c.mtime, bool(c.sound)))
        return True
    cb = _lib.CACHE_VISIT(visit)
    check(_lib.lib().cis_cache_list(cb, None))
    return found


def cache_clear() -> int:
    """Removes every entry; returns how many."""
    n = ctypes.c_uint64()
    check(_lib.lib().cis_cache_clear(ctypes.byref(n)))
    return n.value


def cache_prune(max_age_s: int = 0) -> int:
    """Removes unsound entries, other versions' and those older than
    max_age_s (0: no age limit); returns how many."""
    n = ctypes.c_uint64()
    check(_lib.lib().cis_cache_prune(max_age_s, ctypes.byref(n)))
    return n.value
