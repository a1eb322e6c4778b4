# errors.py -- cis_result codes as Python exceptions.
#
# This file implements the one exception family of the package. Every
# failure of the library becomes a CisError carrying the code, its name
# from include/cis/errors.def ("CIS_ETIMEOUT") and the handle's detailed
# message. The code ranges of errors.def pick a subclass, so callers can
# catch a class of failure (any trap, any limit) or one code (Cancelled).
# Codes are stable across releases (errors.def never renumbers), which is
# why a few are named here; the test suite checks them against the library.
from __future__ import annotations

from typing import Dict, Optional, Type

# The codes this module names (include/cis/errors.def).
EINVAL = -1
ENOMEM = -2
ENOTFOUND = -4
ETOOBIG = -5
EUNSUPPORTED = -6
ESTATE = -7
EJSON = -9
ETIMEOUT = -500
ECANCELED = -501
EMEMLIMIT = -502
EFUEL = -503
EDENIED = -600


class CisError(Exception):
    """A failure reported by libcis.

    code     the negative cis_result
    name     its symbolic name, e.g. "CIS_ETIMEOUT" or "CIS_TRAP_UNREACHABLE"
    message  the detailed message of the handle that failed ("" when none)
    """

    def __init__(self, code: int, name: str, message: str = "", text: str = "") -> None:
        self.code = code
        self.name = name
        self.message = message
        self.text = text  # cis_strerror(code): the generic wording
        super().__init__(f"{name}: {message or text}")


class ModuleError(CisError):
    """Decode or validation failure: the bytes are not a valid module (-100..-299)."""


class LinkError(CisError):
    """An import is missing or has the wrong type; instantiation failed (-300..-399)."""


class Trap(CisError):
    """The guest trapped: unreachable, out of bounds, stack exhausted (-400..-499)."""


class LimitError(CisError):
    """A limit ended the call (-500..-599)."""


class DeadlineExceeded(LimitError):
    """CIS_ETIMEOUT: the call's deadline passed."""


class Cancelled(LimitError):
    """CIS_ECANCELED: the call was cancelled."""


class MemoryLimit(LimitError):
    """CIS_EMEMLIMIT: the memory account is exhausted."""


class FuelExhausted(LimitError):
    """CIS_EFUEL: the instruction budget ran out."""


class PermissionDenied(CisError):
    """CIS_EDENIED: a grant, rule or tenant refused the operation."""


class NotFound(CisError):
    """CIS_ENOTFOUND: no such skill, export or file."""


class InvalidArgument(CisError, ValueError):
    """CIS_EINVAL: an argument the library refused."""


class JsonError(CisError, ValueError):
    """CIS_EJSON: malformed JSON (a skill's input or output)."""


class TooBig(CisError, ValueError):
    """CIS_ETOOBIG: an input above its cap."""


class SkillError(CisError):
    """A skill failed: bad manifest, hash, ABI or signature (-1000..-1099)."""


_BY_CODE: Dict[int, Type[CisError]] = {
    ETIMEOUT: DeadlineExceeded, ECANCELED: Cancelled, EMEMLIMIT: MemoryLimit,
    EFUEL: FuelExhausted, EDENIED: PermissionDenied, ENOTFOUND: NotFound,
    EINVAL: InvalidArgument, EJSON: JsonError, ETOOBIG: TooBig,
}


def error_class(code: int) -> Type[CisError]:
    """The exception class for a cis_result code."""
    if code in _BY_CODE:
        return _BY_CODE[code]
    if -300 < code <= -100:
        return ModuleError
    if -400 < code <= -300:
        return LinkError
    if -500 < code <= -400:
        return Trap
    if -600 < code <= -500:
        return LimitError
    if -1100 < code <= -1000:
        return SkillError
    return CisError


def make_error(code: int, message: Optional[str] = "") -> CisError:
    from . import _lib
    lib = _lib.lib()
    name = lib.cis_errname(code).decode()
    text = lib.cis_strerror(code).decode()
    return error_class(code)(code, name, message or "", text)


def check(code: int, handle=None, message: Optional[str] = None) -> None:
    """Raises the CisError of code (a no-op for CIS_OK). The message is given,
    or read from handle with cis_errmsg."""
    if code == 0:
        return
    if message is None:
        from . import _lib
        message = _lib.errmsg(handle) if handle else ""
    raise make_error(code, message)
