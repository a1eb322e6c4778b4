# _handle.py -- the life of a C handle seen from Python.
#
# This file implements what every wrapper of a C handle shares: closing
# once (explicitly, by `with`, or when garbage collected), an exception
# instead of a crash on use after close, and CancelToken, the one way
# another thread stops a running call.
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator, Optional

from . import _lib
from .errors import ESTATE, CisError


class ClosedError(CisError):
    """The handle was closed; nothing may be called on it any more."""

    def __init__(self, what: str) -> None:
        super().__init__(ESTATE, "CIS_ESTATE", f"{what} is closed",
                         "operation not valid in this state")


class Handle:
    """Base of the wrappers: owns one C pointer and frees it once.

    Every use of the pointer runs between _enter() and _leave() (or in
    `with self._use() as p`), so that close() from another thread waits
    for the uses in flight and never frees the pointer under one: a
    thread reading an error message or a result after its call returned
    still holds the handle. A plain lock and an event, not a Condition:
    a Condition's notify costs a warm call more than the rest of the
    bookkeeping together."""

    _what = "handle"

    def __init__(self) -> None:
        self._ptr: Optional[int] = None
        self._uses_lock = threading.Lock()
        self._uses = 0
        self._idle = threading.Event()

    def _p(self) -> int:
        p = self._ptr
        if p is None:
            raise ClosedError(self._what)
        return p

    def _enter(self) -> int:
        """The pointer, held open until the matching _leave()."""
        with self._uses_lock:
            p = self._p()
            self._uses += 1
            return p

    def _leave(self) -> None:
        with self._uses_lock:
            self._uses -= 1
            if self._uses == 0 and self._ptr is None:
                self._idle.set()  # close() is waiting

    @contextmanager
    def _use(self) -> Iterator[int]:
        p = self._enter()
        try:
            yield p
        finally:
            self._leave()

    @property
    def closed(self) -> bool:
        return self._ptr is None

    def _free(self, ptr: int) -> None:  # overridden: the C free function
        raise NotImplementedError

    def close(self) -> None:
        """Frees the C handle once the uses in flight on other threads
        end. Safe to call twice, and from several threads."""
        with self._uses_lock:
            p, self._ptr = self._ptr, None
            if self._uses == 0:
                self._idle.set()
        if p is not None:
            self._idle.wait()
            self._free(p)

    def __enter__(self):
        self._p()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass  # interpreter shutdown: the library may be gone already


class CancelToken:
    """Cancels a call from another thread.

    Pass it to a call (Skills.invoke(..., cancel=token), Instance.call,
    Runtime.run_wasi); cancel() from any thread stops that call with
    Cancelled at its next loop back-edge or call. Cancelling before the
    call starts makes it fail at once. A token serves one call at a time
    and stays cancelled until reset().
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inst: Optional[int] = None
        self._cancelled = False

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            if self._inst is not None:
                _lib.lib().cis_instance_cancel(self._inst)

    def reset(self) -> None:
        with self._lock:
            self._cancelled = False

    # The calls tell the token of their instance while it exists; the lock
    # makes sure cancel() never touches an instance being freed.
    def _attach(self, inst: int) -> bool:
        with self._lock:
            self._inst = inst
            return not self._cancelled

    def _detach(self) -> None:
        with self._lock:
            self._inst = None
