# _lib.py -- finding and binding libcis.so.
#
# This file implements the ctypes side of the package: where the library is
# looked for, the C structures mirrored field by field from include/cis/*.h,
# and the prototype of every function the package calls. Nothing here is
# public; the classes in runtime.py, skills.py, http.py and aot.py wrap it.
# ctypes releases the GIL around every call through a CDLL, so a long wasm
# call does not stop the interpreter's other threads.
from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from ctypes import (CFUNCTYPE, POINTER, Structure, Union, c_bool, c_char, c_char_p, c_double,
                    c_float, c_int, c_int32, c_int64, c_size_t, c_uint8, c_uint32,
                    c_uint64, c_void_p)
from typing import Optional

LIBRARY_ENV = "CIS_LIBRARY"
SKILLS_REMOVE_PURGE = 1  # cis_skill.h's CIS_SKILLS_REMOVE_PURGE
SKILLS_TENANT_REMOVE_DEFAULT = 1  # cis_skill.h's CIS_SKILLS_TENANT_REMOVE_DEFAULT


class LibraryNotFound(ImportError):
    """libcis.so could not be found or loaded."""


# ------------------------------------------------------------- structures

class Limits_(Structure):
    _fields_ = [("timeout_ms", c_uint64), ("max_memory_bytes", c_uint64),
                ("max_call_depth", c_uint32), ("max_stack_bytes", c_uint64),
                ("fuel", c_uint64), ("max_table_elems", c_uint64)]


class EngineConfig_(Structure):
    _fields_ = [("limits", Limits_), ("engine", c_char_p), ("standard", c_int)]


class Slot_(Union):
    _fields_ = [("i32", c_int32), ("u32", c_uint32), ("i64", c_int64), ("u64", c_uint64),
                ("f32", c_float), ("f64", c_double), ("ref", c_void_p)]


class Val_(Structure):
    _fields_ = [("type", c_int), ("of", Slot_), ("v128", c_uint8 * 16)]


class ExternDesc_(Structure):
    _fields_ = [("kind", c_int), ("module", c_void_p), ("module_len", c_size_t),
                ("name", c_void_p), ("name_len", c_size_t),
                ("nparams", c_uint32), ("nresults", c_uint32),
                ("params", POINTER(c_int)), ("results", POINTER(c_int)),
                ("type", c_int), ("mutable_", c_bool), ("min", c_uint64), ("max", c_uint64),
                ("has_max", c_bool), ("addr64", c_bool)]


class WasiConfig_(Structure):
    _fields_ = [("caps", c_uint32), ("argc", c_size_t), ("argv", POINTER(c_char_p)),
                ("envc", c_size_t), ("envp", POINTER(c_char_p)), ("stdio", c_int * 3),
                ("stdin_data", c_char_p), ("stdin_len", c_size_t), ("capture_cap", c_size_t),
                ("max_fds", c_uint32)]


class SkillsConfig_(Structure):
    _fields_ = [("home", c_char_p), ("kv_spec", c_char_p), ("kv", c_void_p),
                ("vfs_db_spec", c_char_p), ("ai", c_void_p), ("ai_base_url", c_char_p),
                ("ai_model", c_char_p), ("ai_key_env", c_char_p), ("log_sink", c_void_p),
                ("log_format", c_int), ("limits", Limits_), ("max_limits", Limits_),
                ("max_input", c_size_t), ("max_output", c_size_t), ("tenant", c_char_p),
                ("require_signature", c_bool), ("registry", c_char_p), ("engine", c_char_p),
                ("max_skills", c_uint32), ("max_module_bytes", c_uint64),
                ("max_kv_keys", c_uint64), ("max_kv_bytes", c_uint64),
                ("max_fs_bytes", c_uint64), ("max_fs_files", c_uint64)]


class InstallOptions_(Structure):
    _fields_ = [("allow_volumes", POINTER(c_char_p)), ("nallow_volumes", c_size_t),
                ("allow_namespaces", POINTER(c_char_p)), ("nallow_namespaces", c_size_t),
                ("allow_host_paths", POINTER(c_char_p)), ("nallow_host_paths", c_size_t),
                ("signature", c_char_p), ("signature_len", c_size_t)]


class InvokeMount_(Structure):
    _fields_ = [("host", c_char_p), ("guest", c_char_p), ("read_only", c_bool)]


ON_INSTANCE = CFUNCTYPE(c_bool, c_void_p, c_void_p)
ON_WAIT = CFUNCTYPE(None, c_void_p, c_int)


class InvokeOptions_(Structure):
    _fields_ = [("tenant", c_char_p), ("timeout_ms", c_uint64), ("call_id", c_char_p),
                ("allow_hosts", POINTER(c_char_p)), ("nallow_hosts", c_size_t),
                ("allow_kv", c_bool), ("allow_ai", c_bool), ("abi", c_char_p),
                ("max_memory", c_uint64),
                ("config", POINTER(c_char_p)), ("nconfig", c_size_t),
                ("env", POINTER(c_char_p)), ("nenv", c_size_t),
                ("mounts", POINTER(InvokeMount_)), ("nmounts", c_size_t),
                ("export_name", c_char_p), ("args", POINTER(Val_)), ("nargs", c_size_t),
                ("on_instance", ON_INSTANCE), ("on_instance_user", c_void_p),
                ("on_wait", ON_WAIT), ("on_wait_user", c_void_p), ("wait_after_us", c_uint64),
                ("cancel", POINTER(c_int))]


class InvokeStats_(Structure):
    _fields_ = [("wall_ns", c_uint64), ("instantiate_ns", c_uint64),
                ("kv_gets", c_uint32), ("kv_sets", c_uint32), ("kv_deletes", c_uint32),
                ("ai_calls", c_uint32), ("ai_tokens", c_uint64), ("http_calls", c_uint32),
                ("log_lines", c_uint32), ("fuel_left", c_uint64), ("memory_peak", c_uint64)]


class InvokeResult_(Structure):
    _fields_ = [("status", c_int), ("output", c_void_p), ("output_len", c_size_t),
                ("logs", c_void_p), ("logs_len", c_size_t), ("exit_code", c_int),
                ("error", c_char * 512), ("stats", InvokeStats_),
                ("results", POINTER(Val_)), ("nresults", c_size_t), ("stage", c_int)]


class SkillInfo_(Structure):
    _fields_ = [("name", c_char * 65), ("version", c_char * 65), ("sha256", c_char * 65),
                ("description", c_char * 256), ("installed_at", c_int64)]


class TenantRemoved_(Structure):  # cis_tenant_removed
    _fields_ = [(n, ctypes.c_uint64) for n in
                ("tokens", "skills", "kv_namespaces", "kv_keys", "fs_trees", "settings", "keys")]


class KeyInfo_(Structure):
    _fields_ = [("name", c_char * 65), ("public_key", c_char * 65), ("added_at", c_int64)]


class CacheEntry_(Structure):
    _fields_ = [("path", c_char_p), ("key", c_char * 65), ("module_sha256", c_char * 65),
                ("cis_version", c_char * 16), ("bytes", c_uint64), ("mtime", c_int64),
                ("sound", c_bool)]


CACHE_VISIT = CFUNCTYPE(c_bool, POINTER(CacheEntry_), c_void_p)

# Every structure above with the C name it mirrors (tests compare layouts).
STRUCTS = {
    "cis_limits": Limits_, "cis_engine_config": EngineConfig_, "cis_val": Val_,
    "cis_extern_desc": ExternDesc_, "cis_wasi_config": WasiConfig_,
    "cis_skills_config": SkillsConfig_, "cis_install_options": InstallOptions_,
    "cis_invoke_mount": InvokeMount_, "cis_invoke_options": InvokeOptions_,
    "cis_invoke_stats": InvokeStats_, "cis_invoke_result": InvokeResult_,
    "cis_skill_info": SkillInfo_, "cis_key_info": KeyInfo_, "cis_cache_entry": CacheEntry_,
}

# ------------------------------------------------------------- prototypes

P = c_void_p
R = c_int  # cis_result
PP = POINTER(c_void_p)
_PROTOS = {
    "cis_version": (c_char_p, []),
    "cis_strerror": (c_char_p, [R]),
    "cis_errname": (c_char_p, [R]),
    "cis_errmsg": (c_char_p, [P]),
    "cis_limits_default": (None, [POINTER(Limits_)]),
    "cis_engine_config_default": (None, [POINTER(EngineConfig_)]),
    "cis_engine_new": (R, [POINTER(EngineConfig_), PP]),
    "cis_engine_free": (None, [P]),
    "cis_module_new": (R, [P, c_char_p, c_size_t, PP]),
    "cis_module_new_text": (R, [P, c_char_p, c_size_t, PP]),
    "cis_module_new_file": (R, [P, c_char_p, c_uint64, PP]),
    "cis_module_features": (c_uint32, [P]),
    "cis_feature_name": (c_char_p, [c_uint32]),
    "cis_module_free": (None, [P]),
    "cis_module_import_count": (c_uint32, [P]),
    "cis_module_export_count": (c_uint32, [P]),
    "cis_module_import": (R, [P, c_uint32, POINTER(ExternDesc_)]),
    "cis_module_export": (R, [P, c_uint32, POINTER(ExternDesc_)]),
    "cis_imports_new": (R, [P, PP]),
    "cis_imports_free": (None, [P]),
    "cis_instance_new": (R, [P, P, POINTER(Limits_), PP]),
    "cis_instance_free": (None, [P]),
    "cis_instance_set_limits": (None, [P, POINTER(Limits_)]),
    "cis_instance_get_limits": (None, [P, POINTER(Limits_)]),
    "cis_instance_memory_used": (c_uint64, [P]),
    "cis_instance_memory_peak": (c_uint64, [P]),
    "cis_instance_func": (P, [P, c_char_p]),
    "cis_func_type": (None, [P, POINTER(c_uint32), POINTER(POINTER(c_int)),
                             POINTER(c_uint32), POINTER(POINTER(c_int))]),
    "cis_func_call": (R, [P, P, POINTER(Val_), c_size_t, POINTER(Val_), c_size_t]),
    "cis_instance_cancel": (None, [P]),
    "cis_instance_fuel_left": (c_uint64, [P]),
    "cis_instance_exit_code": (c_int, [P]),
    "cis_instance_mem_read": (R, [P, c_uint64, c_void_p, c_uint64]),
    "cis_instance_mem_write": (R, [P, c_uint64, c_char_p, c_uint64]),
    "cis_wasi_config_default": (None, [POINTER(WasiConfig_)]),
    "cis_wasi_new": (R, [POINTER(WasiConfig_), PP]),
    "cis_wasi_free": (None, [P]),
    "cis_wasi_add_imports": (R, [P, P]),
    "cis_wasi_run": (R, [P, P, POINTER(c_int)]),
    "cis_wasi_output": (c_void_p, [P, c_int, POINTER(c_size_t)]),
    "cis_skills_config_default": (None, [POINTER(SkillsConfig_)]),
    "cis_skills_open": (R, [POINTER(SkillsConfig_), PP]),
    "cis_skills_close": (None, [P]),
    "cis_skills_errmsg": (c_char_p, [P]),
    "cis_tenant_name_valid": (c_bool, [c_char_p]),
    "cis_skills_install_ex": (R, [P, c_char_p, POINTER(InstallOptions_), c_char_p, c_size_t]),
    "cis_skills_register_ex": (R, [P, c_char_p, c_size_t, c_char_p, c_size_t,
                                   POINTER(InstallOptions_)]),
    "cis_skills_remove": (R, [P, c_char_p]),
    "cis_skills_remove_ex": (R, [P, c_char_p, ctypes.c_uint]),
    "cis_skills_tenant_remove": (R, [P, ctypes.c_uint, POINTER(TenantRemoved_)]),
    "cis_skills_list": (R, [P, POINTER(POINTER(SkillInfo_)), POINTER(c_size_t)]),
    "cis_skills_show": (R, [P, c_char_p, POINTER(c_void_p)]),
    "cis_skills_setting_set": (R, [P, c_char_p, c_char_p, c_char_p]),
    "cis_skills_settings": (R, [P, c_char_p, POINTER(c_void_p)]),
    "cis_skills_key_trust": (R, [P, c_char_p, c_char_p]),
    "cis_skills_key_untrust": (R, [P, c_char_p]),
    "cis_skills_keys": (R, [P, POINTER(POINTER(KeyInfo_)), POINTER(c_size_t)]),
    "cis_skills_invoke": (R, [P, c_char_p, c_char_p, c_size_t, POINTER(InvokeOptions_),
                              POINTER(InvokeResult_)]),
    "cis_skills_invoke_wasm": (R, [P, c_char_p, c_size_t, c_char_p, c_size_t,
                                   POINTER(InvokeOptions_), POINTER(InvokeResult_)]),
    "cis_invoke_result_free": (None, [POINTER(InvokeResult_)]),
    "cis_sha256_hex": (R, [c_char_p, c_size_t, c_char_p]),
    "cis_http_policy_new": (R, [PP]),
    "cis_http_policy_free": (None, [P]),
    "cis_http_policy_add": (R, [P, c_char_p]),
    "cis_http_policy_count": (c_size_t, [P]),
    "cis_http_policy_check_url": (R, [P, c_char_p, c_char_p, c_size_t]),
    "cis_http_policy_check_addr": (R, [P, c_char_p, ctypes.c_uint16, c_char_p, c_char_p,
                                       c_size_t]),
    "cis_cache_dir": (R, [c_char_p, c_size_t]),
    "cis_cache_list": (R, [CACHE_VISIT, c_void_p]),
    "cis_cache_clear": (R, [POINTER(c_uint64)]),
    "cis_cache_prune": (R, [c_uint64, POINTER(c_uint64)]),
}

# ------------------------------------------------------------- loading

_lock = threading.Lock()
_lib: Optional[ctypes.CDLL] = None
_libc_free = None


def _candidates() -> list:
    """Where the library is looked for, in order (see docs/python.md)."""
    env = os.environ.get(LIBRARY_ENV)
    if env:
        return [env]  # an explicit choice: no fallback that would hide a typo
    here = os.path.dirname(os.path.abspath(__file__))
    found = [os.path.join(here, n) for n in sorted(os.listdir(here))
             if n.startswith("libcis.so")]
    name = ctypes.util.find_library("cis")
    if name:
        found.append(name)
    return found


def lib() -> ctypes.CDLL:
    """The loaded library, bound at the first call. Raises LibraryNotFound."""
    global _lib, _libc_free
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is not None:
            return _lib
        tried = []
        for path in _candidates():
            try:
                handle = ctypes.CDLL(path)
            except OSError as e:
                tried.append(f"{path}: {e}")
                continue
            missing = [n for n in _PROTOS if not hasattr(handle, n)]
            if missing:  # an older libcis than this package
                tried.append(f"{path}: lacks {', '.join(missing[:3])}")
                continue
            for name, (restype, argtypes) in _PROTOS.items():
                fn = getattr(handle, name)
                fn.restype = restype
                fn.argtypes = argtypes
            libc = ctypes.CDLL(None)
            _libc_free = libc.free
            _libc_free.argtypes = [c_void_p]
            _libc_free.restype = None
            _lib = handle
            return handle
        where = "; ".join(tried) if tried else "no candidate found"
        raise LibraryNotFound(
            f"libcis.so not found ({where}). Set {LIBRARY_ENV} to its path, install it "
            "where the dynamic loader finds it, or put it beside the cis package.")


def free(ptr) -> None:
    """free() of a buffer the library malloc'd for the caller."""
    lib()
    _libc_free(ptr)


def errmsg(handle) -> str:
    return (lib().cis_errmsg(handle) or b"").decode("utf-8", "replace")


def strv(items) -> tuple:
    """A C array of NUL-terminated strings from str items, and its length."""
    items = list(items)
    arr = (c_char_p * max(len(items), 1))()
    for i, s in enumerate(items):
        arr[i] = encode(s, "item")
    return arr, len(items)


def encode(s, what: str) -> bytes:
    """s as UTF-8 for a C string; TypeError for anything but str, ValueError on NUL."""
    if not isinstance(s, str):
        raise TypeError(f"{what} must be str, not {type(s).__name__}")
    b = s.encode("utf-8")
    if b"\0" in b:
        raise ValueError(f"{what} must not contain NUL")
    return b


def encode_opt(s, what: str) -> Optional[bytes]:
    return None if s is None else encode(s, what)


def path_arg(p, what: str) -> bytes:
    """A filesystem path (str or os.PathLike) as bytes for C."""
    if not isinstance(p, (str, os.PathLike)):
        raise TypeError(f"{what} must be a str or os.PathLike path, not {type(p).__name__}")
    b = os.fsencode(p)
    if b"\0" in b:
        raise ValueError(f"{what} must not contain NUL")
    return b
