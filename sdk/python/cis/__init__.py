# cis -- Python host SDK of cis, the sandboxed WebAssembly skill runtime.
#
# This file gathers the public names of the package. Everything goes
# through libcis.so's public C API with ctypes (see docs/python.md).
"""Run WebAssembly modules and skills in the cis sandbox from Python."""
from __future__ import annotations

from . import aot
from ._handle import CancelToken, ClosedError
from ._lib import LIBRARY_ENV, LibraryNotFound
from .errors import (Cancelled, CisError, DeadlineExceeded, FuelExhausted, InvalidArgument,
                     JsonError, LimitError, LinkError, MemoryLimit, ModuleError, NotFound,
                     PermissionDenied, SkillError, TooBig, Trap, error_class)
from .http import HttpPolicy
from .runtime import (WASI_ARGS, WASI_CLOCK, WASI_ENV, WASI_RANDOM, Export, FuncType, Instance,
                      Limits, Module, Runtime, WasiResult)
from .skills import InvokeResult, InvokeStats, Mount, SkillInfo, Skills, sha256_hex

__version__ = "0.2.0"


def version() -> str:
    """The version of the libcis.so actually loaded."""
    from . import _lib
    return _lib.lib().cis_version().decode()


def library_path() -> str:
    """The path of the libcis.so loaded."""
    from . import _lib
    return _lib.lib()._name


def error_name(code: int) -> str:
    """The errors.def name of a cis_result code ("CIS_ETIMEOUT")."""
    from . import _lib
    return _lib.lib().cis_errname(code).decode()


__all__ = [
    "aot", "CancelToken", "ClosedError", "LIBRARY_ENV", "LibraryNotFound", "Cancelled",
    "CisError", "DeadlineExceeded", "FuelExhausted", "InvalidArgument", "JsonError",
    "LimitError", "LinkError", "MemoryLimit", "ModuleError", "NotFound", "PermissionDenied",
    "SkillError", "TooBig", "Trap", "error_class", "HttpPolicy", "WASI_ARGS", "WASI_CLOCK",
    "WASI_ENV", "WASI_RANDOM", "Export", "FuncType", "Instance", "Limits", "Module", "Runtime",
    "WasiResult", "InvokeResult", "InvokeStats", "Mount", "SkillInfo", "Skills", "sha256_hex",
    "version", "library_path", "error_name",
]
