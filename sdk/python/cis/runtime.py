# runtime.py -- engines, modules, instances and WASI commands.
#
# This file implements the low tier of the package over include/cis/cis.h
# and cis_wasi.h: a Runtime (a cis_engine with its engine choice and
# default limits) loads modules from binary or text, instantiates them
# without imports, calls their exports with Python numbers, and runs WASI
# commands with arguments, environment, stdin and captured output.
from __future__ import annotations

import ctypes
import os
import threading
import weakref
from dataclasses import dataclass, fields
from typing import List, Mapping, Optional, Sequence, Tuple, Union

from . import _lib
from ._handle import CancelToken, Handle
from .errors import ESTATE, CisError, check

I32, I64, F32, F64, V128, FUNCREF, EXTERNREF = 0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F
_TYPE_NAMES = {I32: "i32", I64: "i64", F32: "f32", F64: "f64", V128: "v128",
               FUNCREF: "funcref", EXTERNREF: "externref"}

# WASI capabilities (CIS_WASI_CAP_*).
WASI_ARGS, WASI_ENV, WASI_CLOCK, WASI_RANDOM = 1, 2, 4, 8

Number = Union[int, float]


@dataclass
class Limits:
    """Hard limits of a call (cis_limits). None keeps the default of the
    level below: the engine's for an instance, cis_limits_default for an
    engine. 0 means "none" for timeout_ms, max_memory_bytes and fuel."""

    timeout_ms: Optional[int] = None        # wall-clock deadline per top-level call
    max_memory_bytes: Optional[int] = None  # the instance's memory account
    max_call_depth: Optional[int] = None    # nested wasm calls
    max_stack_bytes: Optional[int] = None   # value stack
    fuel: Optional[int] = None              # instruction budget per call
    max_table_elems: Optional[int] = None   # cap on each table

    def _apply(self, c: "_lib.Limits_") -> "_lib.Limits_":
        for f in fields(self):
            v = getattr(self, f.name)
            if v is None:
                continue
            # ctypes would wrap an out-of-range value silently.
            top = 1 << (32 if f.name == "max_call_depth" else 64)
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < top:
                raise ValueError(f"Limits.{f.name} must be an int in [0, {top}), not {v!r}")
            setattr(c, f.name, v)
        return c

    @classmethod
    def _from(cls, c: "_lib.Limits_") -> "Limits":
        return cls(**{f.name: getattr(c, f.name) for f in fields(cls)})

    @classmethod
    def default(cls) -> "Limits":
        c = _lib.Limits_()
        _lib.lib().cis_limits_default(ctypes.byref(c))
        return cls._from(c)


def _limits_arg(limits: Optional[Limits]) -> Optional[Limits]:
    if limits is not None and not isinstance(limits, Limits):
        raise TypeError(f"limits must be cis.Limits, not {type(limits).__name__}")
    return limits


@dataclass(frozen=True)
class FuncType:
    params: Tuple[str, ...]
    results: Tuple[str, ...]


@dataclass(frozen=True)
class Export:
    name: str
    kind: str  # "func", "table", "memory" or "global"


@dataclass(frozen=True)
class WasiResult:
    exit_code: int
    stdout: bytes
    stderr: bytes


class Runtime(Handle):
    """An engine: the engine choice ("interp", "aot", "auto") and default
    limits, shared by the modules it loads. Safe to share between threads.

        with cis.Runtime(engine="interp", limits=cis.Limits(timeout_ms=1000)) as rt:
            inst = rt.instantiate(rt.load(wat_text))
            inst.call("add", 1, 2)

    Closing it closes its modules and instances first."""

    _what = "Runtime"

    def __init__(self, engine: Optional[str] = None, limits: Optional[Limits] = None) -> None:
        super().__init__()
        lib = _lib.lib()
        cfg = _lib.EngineConfig_()
        lib.cis_engine_config_default(ctypes.byref(cfg))
        if engine is not None:
            cfg.engine = _lib.encode(engine, "engine")
        if _limits_arg(limits) is not None:
            limits._apply(cfg.limits)
        self._limits = _lib.Limits_.from_buffer_copy(cfg.limits)
        out = ctypes.c_void_p()
        rc = lib.cis_engine_new(ctypes.byref(cfg), ctypes.byref(out))
        check(rc, message="engine: " + (engine or "default"))
        self._ptr = out.value
        self._children: "weakref.WeakSet[Handle]" = weakref.WeakSet()
        self._lock = threading.Lock()

    def _free(self, ptr: int) -> None:
        # Instances before modules, modules before the engine (cis.h).
        kids = list(self._children)
        for k in kids:
            if isinstance(k, Instance):
                k.close()
        for k in kids:
            k.close()
        _lib.lib().cis_engine_free(ptr)

    def _adopt(self, h: Handle) -> None:
        with self._lock:
            self._children.add(h)

    def load(self, source: Union[bytes, bytearray, memoryview, str]) -> "Module":
        """Decodes and validates a module: bytes are a binary module, str
        is WebAssembly text. ModuleError when it is neither."""
        if isinstance(source, str):
            data, new = source.encode("utf-8"), _lib.lib().cis_module_new_text
        elif isinstance(source, (bytes, bytearray, memoryview)):
            data, new = bytes(source), _lib.lib().cis_module_new
        else:
            raise TypeError(f"a module is bytes or str, not {type(source).__name__}")
        out = ctypes.c_void_p()
        with self._use() as e:
            check(new(e, data, len(data), ctypes.byref(out)), e)
            m = Module(self, out.value)
            self._adopt(m)
        return m

    def load_file(self, path: Union[str, bytes, "os.PathLike[str]"]) -> "Module":
        """Loads the module in a file, binary or WebAssembly text. On the
        compiled engine a big file seen unchanged before is known by its
        identity and not read again. NotFound when there is no such file,
        InvalidArgument when it is not a regular file, TooBig over 1 GiB,
        ModuleError when it holds no valid module."""
        out = ctypes.c_void_p()
        with self._use() as e:
            check(_lib.lib().cis_module_new_file(e, os.fsencode(path), 0, ctypes.byref(out)), e)
            m = Module(self, out.value)
            self._adopt(m)
        return m

    def instantiate(self, module: "Module", limits: Optional[Limits] = None) -> "Instance":
        """Instantiates a module that imports nothing, under limits (None =
        the engine's). LinkError when it has imports."""
        if not isinstance(module, Module):
            raise TypeError(f"module must be cis.Module, not {type(module).__name__}")
        lim = None
        if _limits_arg(limits) is not None:
            lim = ctypes.byref(limits._apply(self._engine_limits()))
        out = ctypes.c_void_p()
        with self._use() as e, module._use() as m:
            check(_lib.lib().cis_instance_new(m, None, lim, ctypes.byref(out)), e)
            inst = Instance(self, module, out.value)
            self._adopt(inst)
        return inst

    def _engine_limits(self) -> "_lib.Limits_":
        # The engine's limits are what a partial Limits starts from.
        return _lib.Limits_.from_buffer_copy(self._limits)

    def run_wasi(self, module: "Module", args: Sequence[str] = (),
                 env: Optional[Mapping[str, str]] = None, stdin: bytes = b"",
                 limits: Optional[Limits] = None,
                 caps: int = WASI_ARGS | WASI_ENV | WASI_CLOCK | WASI_RANDOM,
                 capture_cap: int = 0, cancel: Optional[CancelToken] = None) -> WasiResult:
        """Runs a WASI command's _start. args[0] is the program name; env
        is given to the guest and nothing else of the host's. stdout and
        stderr are captured (capture_cap bytes each, 0 = 16 MiB). Returns
        the exit code and output; a trap or limit raises (Trap,
        DeadlineExceeded, ...)."""
        if not isinstance(module, Module):
            raise TypeError(f"module must be cis.Module, not {type(module).__name__}")
        if not isinstance(stdin, (bytes, bytearray)):
            raise TypeError(f"stdin must be bytes, not {type(stdin).__name__}")
        lib = _lib.lib()
        cfg = _lib.WasiConfig_()
        lib.cis_wasi_config_default(ctypes.byref(cfg))
        argv, argc = _lib.strv(args)
        envs = [f"{_lib.encode(k, 'env name').decode()}={_lib.encode(v, 'env value').decode()}"
                for k, v in (env or {}).items()]
        envp, envc = _lib.strv(envs)
        cfg.caps = caps
        cfg.argc, cfg.argv = argc, argv
        cfg.envc, cfg.envp = envc, envp
        cfg.stdio[0] = 2 if stdin else 0
        cfg.stdio[1] = cfg.stdio[2] = 2
        stdin_b = bytes(stdin)
        cfg.stdin_data, cfg.stdin_len = stdin_b, len(stdin_b)
        cfg.capture_cap = capture_cap
        with self._use() as e, module._use() as m:
            wasi, imports, inst = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
            try:
                check(lib.cis_wasi_new(ctypes.byref(cfg), ctypes.byref(wasi)), wasi.value)
                check(lib.cis_imports_new(e, ctypes.byref(imports)), e)
                check(lib.cis_wasi_add_imports(wasi, imports), e)
                lim = None
                if _limits_arg(limits) is not None:
                    lim = ctypes.byref(limits._apply(self._engine_limits()))
                check(lib.cis_instance_new(m, imports, lim, ctypes.byref(inst)), e)
                if cancel is not None and not cancel._attach(inst.value):
                    lib.cis_instance_cancel(inst)
                code = ctypes.c_int(0)
                rc = lib.cis_wasi_run(wasi, inst, ctypes.byref(code))
                check(rc, inst.value)
                return WasiResult(code.value, _wasi_out(wasi, 1), _wasi_out(wasi, 2))
            finally:
                if cancel is not None:
                    cancel._detach()
                if inst.value:
                    lib.cis_instance_free(inst)
                if wasi.value:
                    lib.cis_wasi_free(wasi)
                if imports.value:
                    lib.cis_imports_free(imports)


def _wasi_out(wasi, fd: int) -> bytes:
    n = ctypes.c_size_t(0)
    p = _lib.lib().cis_wasi_output(wasi, fd, ctypes.byref(n))
    return ctypes.string_at(p, n.value) if p and n.value else b""


class Module(Handle):
    """A decoded and validated module (Runtime.load). Immutable; may be
    instantiated many times and shared between threads."""

    _what = "Module"

    def __init__(self, rt: Runtime, ptr: int) -> None:
        super().__init__()
        self._rt = rt
        self._ptr = ptr

    def _free(self, ptr: int) -> None:
        _lib.lib().cis_module_free(ptr)

    def _descs(self, count_fn, get_fn, conv) -> list:
        # conv reads a descriptor's names, which live in the module: while
        # it is held open.
        with self._use() as m:
            out = []
            for i in range(count_fn(m)):
                d = _lib.ExternDesc_()
                check(get_fn(m, i, ctypes.byref(d)))
                out.append(conv(d))
            return out

    @property
    def exports(self) -> List[Export]:
        lib = _lib.lib()
        return self._descs(lib.cis_module_export_count, lib.cis_module_export,
                           lambda d: Export(_name(d.name, d.name_len), _KINDS[d.kind]))

    @property
    def imports(self) -> List[Tuple[str, str, str]]:
        """(module, name, kind) of each import."""
        lib = _lib.lib()
        return self._descs(lib.cis_module_import_count, lib.cis_module_import,
                           lambda d: (_name(d.module, d.module_len), _name(d.name, d.name_len),
                                      _KINDS[d.kind]))

    @property
    def features(self) -> List[str]:
        """The WebAssembly features it uses beyond 1.0 ("simd", "tail-calls",
        ...), as `cis inspect` names them."""
        lib = _lib.lib()
        with self._use() as m:
            bits = lib.cis_module_features(m)
        return [lib.cis_feature_name(1 << i).decode() for i in range(32) if bits >> i & 1]


_KINDS = ("func", "table", "memory", "global")


def _name(p, n: int) -> str:
    return ctypes.string_at(p, n).decode("utf-8", "replace")


class Instance(Handle):
    """A module with its own memory and globals (Runtime.instantiate).
    Belongs to one thread at a time: a use from a second thread while one
    runs (a call, a memory read) fails with CIS_ESTATE rather than touch
    the instance under it. cancel() and close() may come from any thread;
    close() waits for the use running."""

    _what = "Instance"

    def __init__(self, rt: Runtime, module: Module, ptr: int) -> None:
        super().__init__()
        self._rt, self._module = rt, module
        self._ptr = ptr
        self._funcs: dict = {}  # export name -> _entry()

    def _free(self, ptr: int) -> None:
        _lib.lib().cis_instance_free(ptr)

    def _enter(self) -> int:
        # One use at a time (cis.h): a second thread gets an error, not a
        # corrupted instance.
        with self._uses_lock:
            p = self._p()
            if self._uses:
                raise CisError(ESTATE, "CIS_ESTATE", "the instance is in use on another "
                               "thread", "operation not valid in this state")
            self._uses = 1
            return p

    def func_type(self, name: str) -> FuncType:
        with self._use() as inst:
            _, ps, rs, _, _ = self._entry(inst, name)
        return FuncType(tuple(_TYPE_NAMES.get(t, "?") for t in ps),
                        tuple(_TYPE_NAMES.get(t, "?") for t in rs))

    @staticmethod
    def _func(inst: int, name: str) -> int:
        f = _lib.lib().cis_instance_func(inst, _lib.encode(name, "export name"))
        if not f:
            from .errors import ENOTFOUND, make_error
            raise make_error(ENOTFOUND, f"no function export {name!r}")
        return f

    @staticmethod
    def _sig(f: int) -> Tuple[List[int], List[int]]:
        np_, nr = ctypes.c_uint32(), ctypes.c_uint32()
        pp, rp = ctypes.POINTER(ctypes.c_int)(), ctypes.POINTER(ctypes.c_int)()
        _lib.lib().cis_func_type(f, ctypes.byref(np_), ctypes.byref(pp), ctypes.byref(nr),
                                 ctypes.byref(rp))
        return [pp[i] for i in range(np_.value)], [rp[i] for i in range(nr.value)]

    def _entry(self, inst: int, name: str) -> tuple:
        # Looked up once per name: the export, its signature and the C
        # arrays a call fills, so a warm call only converts its numbers.
        e = self._funcs.get(name)
        if e is None:
            f = self._func(inst, name)
            ptypes, rtypes = self._sig(f)
            e = (f, ptypes, rtypes, _lib.Val_ * max(len(ptypes), 1),
                 _lib.Val_ * max(len(rtypes), 1))
            self._funcs[name] = e
        return e

    def call(self, name: str, *args: Number, cancel: Optional[CancelToken] = None):
        """Calls export `name` with numbers (i32/i64 as int, f32/f64 as
        float). Returns None, one value, or a tuple for several results.
        Traps and limits raise (Trap, DeadlineExceeded, FuelExhausted, ...)."""
        inst = self._enter()
        try:
            f, ptypes, rtypes, argt, rest = self._entry(inst, name)
            if len(args) != len(ptypes):
                raise TypeError(f"{name} takes {len(ptypes)} arguments, {len(args)} given")
            cargs = argt()
            for i, (t, v) in enumerate(zip(ptypes, args)):
                _to_val(cargs[i], t, v, i)
            cres = rest()
            if cancel is not None and not cancel._attach(inst):
                _lib.lib().cis_instance_cancel(inst)
            try:
                rc = _lib.lib().cis_func_call(inst, f, cargs, len(args), cres, len(rtypes))
            finally:
                if cancel is not None:
                    cancel._detach()
            if rc:
                check(rc, inst)  # reads the instance's message: still held
        finally:
            self._leave()
        if len(rtypes) == 1:
            return _from_val(cres[0])
        vals = tuple(_from_val(cres[i]) for i in range(len(rtypes)))
        return vals or None

    def cancel(self) -> None:
        """Stops the running call (Cancelled), or the next one if none runs.
        Safe from any thread; a no-op once closed."""
        with self._uses_lock:  # close() clears the pointer under it before freeing
            if self._ptr is not None:
                _lib.lib().cis_instance_cancel(self._ptr)

    @property
    def limits(self) -> Limits:
        c = _lib.Limits_()
        with self._use() as inst:
            _lib.lib().cis_instance_get_limits(inst, ctypes.byref(c))
        return Limits._from(c)

    @limits.setter
    def limits(self, value: Limits) -> None:
        c = _lib.Limits_()
        with self._use() as inst:
            _lib.lib().cis_instance_get_limits(inst, ctypes.byref(c))
            _limits_arg(value)._apply(c)
            _lib.lib().cis_instance_set_limits(inst, ctypes.byref(c))

    @property
    def fuel_left(self) -> int:
        with self._use() as inst:
            return _lib.lib().cis_instance_fuel_left(inst)

    @property
    def memory_used(self) -> int:
        with self._use() as inst:
            return _lib.lib().cis_instance_memory_used(inst)

    @property
    def memory_peak(self) -> int:
        with self._use() as inst:
            return _lib.lib().cis_instance_memory_peak(inst)

    def read_memory(self, offset: int, length: int) -> bytes:
        """Bytes of memory 0; Trap (CIS_TRAP_MEM_OOB) outside it."""
        buf = ctypes.create_string_buffer(max(length, 1))
        with self._use() as inst:
            check(_lib.lib().cis_instance_mem_read(inst, offset, buf, length), inst)
        return buf.raw[:length]

    def write_memory(self, offset: int, data: bytes) -> None:
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"data must be bytes, not {type(data).__name__}")
        data = bytes(data)
        with self._use() as inst:
            check(_lib.lib().cis_instance_mem_write(inst, offset, data, len(data)), inst)


def _to_val(v: "_lib.Val_", t: int, x, i: int) -> None:
    v.type = t
    if t in (I32, I64):
        if not isinstance(x, int) or isinstance(x, bool):
            raise TypeError(f"argument {i} must be int, not {type(x).__name__}")
        bits = 32 if t == I32 else 64
        if not -(1 << (bits - 1)) <= x < (1 << bits):
            raise OverflowError(f"argument {i} does not fit in i{bits}")
        if t == I32:
            v.of.u32 = x & 0xFFFFFFFF
        else:
            v.of.u64 = x & 0xFFFFFFFFFFFFFFFF
    elif t in (F32, F64):
        if not isinstance(x, (int, float)) or isinstance(x, bool):
            raise TypeError(f"argument {i} must be float, not {type(x).__name__}")
        if t == F32:
            v.of.f32 = float(x)
        else:
            v.of.f64 = float(x)
    else:
        raise TypeError(f"argument {i}: {_TYPE_NAMES.get(t, hex(t))} is not supported")


def _from_val(v: "_lib.Val_"):
    t = v.type
    if t == I32:
        return v.of.i32
    if t == I64:
        return v.of.i64
    if t == F32:
        return v.of.f32
    if t == F64:
        return v.of.f64
    if t == V128:
        return bytes(v.v128)
    return v.of.ref  # funcref/externref: an opaque address or None
