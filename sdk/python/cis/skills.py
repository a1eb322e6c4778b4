# skills.py -- the skills host: install, list, show, settings and invoke.
#
# This file implements Skills over include/cis/cis_skill.h: a registry
# opened on a home folder with its services (KV, filesystem databases, AI
# provider, limits and quotas), skills installed from a folder or from
# memory, and invocations that take a dict and give back the skill's JSON
# output parsed, with per-call limits, grants, settings, mounts and
# cancellation from another thread. A Skills handle may be shared by
# threads; each invoke runs on its calling thread with the GIL released.
from __future__ import annotations

import ctypes
import json
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from . import _lib
from ._handle import CancelToken, Handle
from .errors import make_error
from .runtime import Limits, _limits_arg

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class SkillInfo:
    """One installed skill, as Skills.list() gives it."""

    name: str
    version: str
    sha256: str
    description: str
    installed_at: int  # Unix seconds


@dataclass(frozen=True)
class Mount:
    """A host folder preopened for one call of a WASI skill."""

    host: PathLike
    guest: Optional[str] = None  # path the skill sees; None = host
    read_only: bool = False


@dataclass(frozen=True)
class InvokeStats:
    wall_ns: int
    instantiate_ns: int
    kv_gets: int
    kv_sets: int
    kv_deletes: int
    ai_calls: int
    ai_tokens: int
    http_calls: int
    log_lines: int
    fuel_left: int
    memory_peak: int


class InvokeResult:
    """What a successful call gave back. output is the skill's JSON output
    parsed (usually a dict); output_text the same text unparsed; logs the
    call's log lines; stats its counters (InvokeStats)."""

    __slots__ = ("output", "output_text", "logs", "exit_code", "_stats")

    def __init__(self, output: Any, output_text: str, logs: str, exit_code: int,
                 stats: "_lib.InvokeStats_") -> None:
        self.output, self.output_text, self.logs = output, output_text, logs
        self.exit_code, self._stats = exit_code, stats

    @property
    def stats(self) -> InvokeStats:
        # Converted when asked for: most callers never look.
        return InvokeStats(*(getattr(self._stats, f) for f in _STATS_FIELDS))

    def __repr__(self) -> str:
        return f"InvokeResult(output={self.output!r}, exit_code={self.exit_code})"


class Skills(Handle):
    """A skills host on a home folder (cis_skills). Keyword arguments are
    the fields of cis_skills_config; None keeps its default. Share one
    handle between threads; close() waits for the calls in flight."""

    _what = "Skills"

    def __init__(self, home: Optional[PathLike] = None, *, tenant: Optional[str] = None,
                 engine: Optional[str] = None, kv_spec: Optional[str] = None,
                 vfs_db_spec: Optional[str] = None, registry: Optional[str] = None,
                 ai_base_url: Optional[str] = None, ai_model: Optional[str] = None,
                 ai_key_env: Optional[str] = None, log_format: str = "text",
                 limits: Optional[Limits] = None, max_limits: Optional[Limits] = None,
                 max_input: int = 0, max_output: int = 0, require_signature: bool = False,
                 max_skills: int = 0, max_module_bytes: int = 0, max_kv_keys: int = 0,
                 max_kv_bytes: int = 0, max_fs_bytes: int = 0, max_fs_files: int = 0) -> None:
        super().__init__()
        lib = _lib.lib()
        cfg = _lib.SkillsConfig_()
        lib.cis_skills_config_default(ctypes.byref(cfg))
        cfg.home = None if home is None else _lib.path_arg(home, "home")
        cfg.tenant = _lib.encode_opt(tenant, "tenant")
        cfg.engine = _lib.encode_opt(engine, "engine")
        cfg.kv_spec = _lib.encode_opt(kv_spec, "kv_spec")
        cfg.vfs_db_spec = _lib.encode_opt(vfs_db_spec, "vfs_db_spec")
        cfg.registry = _lib.encode_opt(registry, "registry")
        cfg.ai_base_url = _lib.encode_opt(ai_base_url, "ai_base_url")
        cfg.ai_model = _lib.encode_opt(ai_model, "ai_model")
        cfg.ai_key_env = _lib.encode_opt(ai_key_env, "ai_key_env")
        if log_format not in ("text", "json"):
            raise ValueError("log_format is 'text' or 'json'")
        cfg.log_format = 1 if log_format == "json" else 0
        if _limits_arg(limits) is not None:
            lib.cis_limits_default(ctypes.byref(cfg.limits))
            limits._apply(cfg.limits)
        if _limits_arg(max_limits) is not None:
            max_limits._apply(cfg.max_limits)  # a field left 0 takes its ceiling
        cfg.max_input, cfg.max_output = max_input, max_output
        cfg.require_signature = bool(require_signature)
        cfg.max_skills, cfg.max_module_bytes = max_skills, max_module_bytes
        cfg.max_kv_keys, cfg.max_kv_bytes = max_kv_keys, max_kv_bytes
        cfg.max_fs_bytes, cfg.max_fs_files = max_fs_bytes, max_fs_files
        out = ctypes.c_void_p()
        rc = lib.cis_skills_open(ctypes.byref(cfg), ctypes.byref(out))
        if rc != 0:
            # A failed open hands back a handle holding why (or NULL: no memory).
            why = (lib.cis_skills_errmsg(out) or b"").decode("utf-8", "replace")
            lib.cis_skills_close(out)
            raise make_error(rc, why)
        self._cfg = cfg  # its strings stay alive with the handle
        self._ptr = out.value

    # ------------------------------------------------------------ plumbing

    def _free(self, ptr: int) -> None:
        _lib.lib().cis_skills_close(ptr)

    def _check(self, rc: int, p: int) -> None:
        if rc != 0:
            raise make_error(rc, (_lib.lib().cis_skills_errmsg(p) or b"").decode("utf-8",
                                                                                  "replace"))

    def _run(self, fn, *args):
        p = self._enter()
        try:
            rc = fn(p, *args)
            self._check(rc, p)
        finally:
            self._leave()

    @staticmethod
    def _take_string(ptr: ctypes.c_void_p) -> str:
        try:
            return ctypes.string_at(ptr.value).decode("utf-8")
        finally:
            _lib.free(ptr)

    # ------------------------------------------------------------ registry

    def install(self, path: PathLike, *, allow_volumes: Sequence[str] = (),
                allow_namespaces: Sequence[str] = (),
                allow_host_paths: Sequence[PathLike] = ()) -> str:
        """Installs from a folder holding skill.json (or a skill.json path)
        and returns the skill's name. The allow_* grants are the operator's
        (cis_install_options). SkillError / PermissionDenied / NotFound."""
        opt, keep = _install_options(allow_volumes, allow_namespaces, allow_host_paths)
        name = ctypes.create_string_buffer(128)
        self._run(_lib.lib().cis_skills_install_ex, _lib.path_arg(path, "path"),
                  ctypes.byref(opt), name, len(name))
        del keep
        return name.value.decode()

    def register(self, wasm: bytes, manifest: Union[str, Mapping[str, Any]], *,
                 allow_volumes: Sequence[str] = (), allow_namespaces: Sequence[str] = (),
                 allow_host_paths: Sequence[PathLike] = ()) -> str:
        """Installs from memory: module bytes and the manifest (text or a
        dict). wasm.sha256 may be omitted from a dict: it is filled in.
        Returns the skill's name."""
        if not isinstance(wasm, (bytes, bytearray)):
            raise TypeError(f"wasm must be bytes, not {type(wasm).__name__}")
        wasm = bytes(wasm)
        if isinstance(manifest, Mapping):
            m = json.loads(json.dumps(manifest))
            w = m.setdefault("wasm", {})
            if isinstance(w, dict):
                w.setdefault("path", "module.wasm")
                w.setdefault("sha256", sha256_hex(wasm))
            text = json.dumps(m)
        elif isinstance(manifest, str):
            text = manifest
        else:
            raise TypeError(f"manifest must be str or a mapping, not {type(manifest).__name__}")
        mb = text.encode("utf-8")
        opt, keep = _install_options(allow_volumes, allow_namespaces, allow_host_paths)
        self._run(_lib.lib().cis_skills_register_ex, wasm, len(wasm), mb, len(mb),
                  ctypes.byref(opt))
        del keep
        name = json.loads(text).get("name") if text.strip().startswith("{") else None
        return name if isinstance(name, str) else ""

    def remove(self, name: str, *, purge: bool = False) -> None:
        """Uninstalls skill name. With purge=True its KV namespace (unless
        another installed skill uses it), its own db tree and its settings
        are deleted too; on a name no longer installed, what is still
        stored under it (cis_skills_remove_ex)."""
        if not isinstance(purge, bool):
            raise TypeError(f"purge must be a bool, not {type(purge).__name__}")
        self._run(_lib.lib().cis_skills_remove_ex, _lib.encode(name, "name"),
                  _lib.SKILLS_REMOVE_PURGE if purge else 0)

    def remove_tenant(self, *, allow_default: bool = False) -> Dict[str, int]:
        """Deletes everything the handle's tenant has: its bearer tokens, its
        skills, every KV namespace of it, its trees of the database
        filesystem, its skills' settings and its trusted keys
        (cis_skills_tenant_remove). Returns how many of each went, by the
        names of cis_tenant_removed. The "default" tenant only with
        allow_default=True (PermissionDenied otherwise). A removal cut short
        (a database out of reach) raises; calling it again finishes it."""
        if not isinstance(allow_default, bool):
            raise TypeError(f"allow_default must be a bool, not {type(allow_default).__name__}")
        out = _lib.TenantRemoved_()
        self._run(_lib.lib().cis_skills_tenant_remove,
                  _lib.SKILLS_TENANT_REMOVE_DEFAULT if allow_default else 0, ctypes.byref(out))
        return {name: getattr(out, name) for name, _ in _lib.TenantRemoved_._fields_}

    def list(self) -> List[SkillInfo]:
        out = ctypes.POINTER(_lib.SkillInfo_)()
        n = ctypes.c_size_t()
        self._run(_lib.lib().cis_skills_list, ctypes.byref(out), ctypes.byref(n))
        try:
            return [SkillInfo(_s(i.name), _s(i.version), _s(i.sha256), _s(i.description),
                              i.installed_at) for i in out[:n.value]]
        finally:
            if out:
                _lib.free(ctypes.cast(out, ctypes.c_void_p))

    def show(self, name: str) -> Dict[str, Any]:
        """The manifest with its effective limits and permissions, "grants"
        and "sharing", and "input_schema" when it has one."""
        out = ctypes.c_void_p()
        self._run(_lib.lib().cis_skills_show, _lib.encode(name, "name"), ctypes.byref(out))
        return json.loads(self._take_string(out))

    def settings(self, name: str) -> Dict[str, str]:
        out = ctypes.c_void_p()
        self._run(_lib.lib().cis_skills_settings, _lib.encode(name, "name"), ctypes.byref(out))
        return json.loads(self._take_string(out))

    def set_setting(self, name: str, key: str, value: Optional[str]) -> None:
        """Stores an operator setting the skill reads with config_get; None removes it."""
        self._run(_lib.lib().cis_skills_setting_set, _lib.encode(name, "name"),
                  _lib.encode(key, "key"), _lib.encode_opt(value, "value"))

    def trust_key(self, name: str, public_key: str) -> None:
        self._run(_lib.lib().cis_skills_key_trust, _lib.encode(name, "name"),
                  _lib.encode(public_key, "public_key"))

    def untrust_key(self, name: str) -> None:
        self._run(_lib.lib().cis_skills_key_untrust, _lib.encode(name, "name"))

    def keys(self) -> Dict[str, str]:
        """The keys the tenant trusts: name -> public key (hex)."""
        out = ctypes.POINTER(_lib.KeyInfo_)()
        n = ctypes.c_size_t()
        self._run(_lib.lib().cis_skills_keys, ctypes.byref(out), ctypes.byref(n))
        try:
            return {_s(k.name): _s(k.public_key) for k in out[:n.value]}
        finally:
            if out:
                _lib.free(ctypes.cast(out, ctypes.c_void_p))

    # ------------------------------------------------------------ invocation

    def invoke(self, name: str, args: Optional[Mapping[str, Any]] = None, **kw) -> InvokeResult:
        """Runs installed skill NAME with args (a dict, sent as JSON; None =
        {}). Keyword options: see invoke_json. Raises the call's CisError."""
        return self.invoke_json(name, _dump_args(args), **kw)

    def invoke_json(self, name: str, text: Union[str, bytes], *,
                    timeout_ms: int = 0, max_memory: int = 0, fuel: Optional[int] = None,
                    max_call_depth: Optional[int] = None, tenant: Optional[str] = None,
                    call_id: Optional[str] = None, config: Optional[Mapping[str, str]] = None,
                    env: Optional[Mapping[str, str]] = None, mounts: Sequence[Mount] = (),
                    allow_hosts: Sequence[str] = (), allow_kv: bool = False,
                    allow_ai: bool = False, abi: Optional[str] = None,
                    cancel: Optional[CancelToken] = None) -> InvokeResult:
        """Runs skill NAME with input given as JSON text, unchecked here
        (the library validates it: JsonError, TooBig).

        timeout_ms, max_memory  this call's deadline and memory (0 = the skill's)
        fuel, max_call_depth    this call's instruction budget and depth
        tenant, call_id         whose KV and files; the id in log lines
        config, env             settings for config_get; a WASI skill's environment
        mounts                  host folders for a WASI skill (Mount)
        allow_hosts, allow_kv, allow_ai, abi  grants for a module run
                                without a manifest (invoke_wasm)
        cancel                  a CancelToken another thread may fire
        """
        if not (timeout_ms or max_memory or config or env or mounts or allow_hosts or allow_kv
                or allow_ai or fuel is not None or max_call_depth is not None or tenant
                is not None or call_id is not None or abi is not None or cancel is not None):
            return self._invoke(_lib.encode(name, "name"), None, text, None)
        return self._invoke(_lib.encode(name, "name"), None, text, locals())

    def invoke_wasm(self, wasm: bytes, args: Optional[Mapping[str, Any]] = None,
                    **kw) -> InvokeResult:
        """Runs a module without a manifest: default limits, and only the
        grants given here (allow_kv, allow_ai, allow_hosts, mounts)."""
        if not isinstance(wasm, (bytes, bytearray)):
            raise TypeError(f"wasm must be bytes, not {type(wasm).__name__}")
        return self._invoke(None, bytes(wasm), _dump_args(args), _defaults(kw))

    def _invoke(self, name: Optional[bytes], wasm: Optional[bytes], text, o) -> InvokeResult:
        if isinstance(text, str):
            data = text.encode("utf-8")
        elif isinstance(text, (bytes, bytearray)):
            data = bytes(text)
        else:
            raise TypeError(f"input must be JSON text (str or bytes), not {type(text).__name__}")
        res = _lib.InvokeResult_()
        if o is None:
            return self._call(name, wasm, data, None, res)  # no options: skip building them
        opt = _lib.InvokeOptions_()
        keep = []  # C arrays the options point into, alive for the call
        opt.tenant = _lib.encode_opt(o["tenant"], "tenant")
        opt.call_id = _lib.encode_opt(o["call_id"], "call_id")
        opt.abi = _lib.encode_opt(o["abi"], "abi")
        opt.timeout_ms, opt.max_memory = _nonneg(o["timeout_ms"]), _nonneg(o["max_memory"])
        opt.allow_kv, opt.allow_ai = bool(o["allow_kv"]), bool(o["allow_ai"])
        if o["allow_hosts"]:
            arr, opt.nallow_hosts = _lib.strv(_seq(o["allow_hosts"], "allow_hosts"))
            opt.allow_hosts = ctypes.cast(arr, ctypes.POINTER(ctypes.c_char_p))
            keep.append(arr)
        for fld, items in (("config", o["config"]), ("env", o["env"])):
            if items:
                if not isinstance(items, Mapping):
                    raise TypeError(f"{fld} must be a mapping of str to str")
                arr, n = _lib.strv(_kv_pairs(items, fld))
                setattr(opt, fld, ctypes.cast(arr, ctypes.POINTER(ctypes.c_char_p)))
                setattr(opt, "n" + fld, n)
                keep.append(arr)
        mounts = _seq(o["mounts"], "mounts")
        if mounts:
            marr = (_lib.InvokeMount_ * len(mounts))()
            for i, m in enumerate(mounts):
                if not isinstance(m, Mount):
                    raise TypeError("mounts must hold cis.Mount")
                marr[i].host = _lib.path_arg(m.host, "Mount.host")
                marr[i].guest = _lib.encode_opt(m.guest, "Mount.guest")
                marr[i].read_only = bool(m.read_only)
            opt.mounts, opt.nmounts = marr, len(mounts)
            keep.append(marr)
        cancel, fuel, depth = o["cancel"], o["fuel"], o["max_call_depth"]
        if cancel is not None and not isinstance(cancel, CancelToken):
            raise TypeError("cancel must be a cis.CancelToken")
        if cancel is not None or fuel is not None or depth is not None:
            cb = _lib.ON_INSTANCE(_on_instance(cancel, _nonneg(fuel), _nonneg(depth)))
            opt.on_instance = cb
            keep.append(cb)
        return self._call(name, wasm, data, ctypes.byref(opt), res)

    def _call(self, name, wasm, data: bytes, opt, res) -> InvokeResult:
        lib = _lib.lib()
        p = self._enter()
        try:
            if wasm is None:
                rc = lib.cis_skills_invoke(p, name, data, len(data), opt, ctypes.byref(res))
            else:
                rc = lib.cis_skills_invoke_wasm(p, wasm, len(wasm), data, len(data), opt,
                                                ctypes.byref(res))
        finally:
            self._leave()
        try:
            if rc != 0:
                raise make_error(rc, res.error.decode("utf-8", "replace"))
            out = ctypes.string_at(res.output, res.output_len).decode("utf-8") \
                if res.output else ""
            logs = ctypes.string_at(res.logs, res.logs_len).decode("utf-8", "replace") \
                if res.logs else ""
            stats = _lib.InvokeStats_.from_buffer_copy(res.stats)
            parsed = json.loads(out) if out else None
            return InvokeResult(parsed, out, logs, res.exit_code, stats)
        finally:
            lib.cis_invoke_result_free(ctypes.byref(res))


# ------------------------------------------------------------ helpers

_INVOKE_DEFAULTS = dict(timeout_ms=0, max_memory=0, fuel=None, max_call_depth=None, tenant=None,
                        call_id=None, config=None, env=None, mounts=(), allow_hosts=(),
                        allow_kv=False, allow_ai=False, abi=None, cancel=None)


_STATS_FIELDS = tuple(f for f, _ in _lib.InvokeStats_._fields_)


def _defaults(kw: Dict[str, Any]) -> Dict[str, Any]:
    unknown = set(kw) - set(_INVOKE_DEFAULTS)
    if unknown:
        raise TypeError(f"unexpected keyword arguments: {', '.join(sorted(unknown))}")
    return {**_INVOKE_DEFAULTS, **kw}


def _on_instance(cancel: Optional[CancelToken], fuel: Optional[int], depth: Optional[int]):
    lib = _lib.lib()

    def told(_user, inst) -> bool:
        if not inst:  # the instance is about to be freed
            if cancel is not None:
                cancel._detach()
            return True
        if fuel is not None or depth is not None:
            lim = _lib.Limits_()
            lib.cis_instance_get_limits(inst, ctypes.byref(lim))
            if fuel is not None:
                lim.fuel = fuel
            if depth is not None:
                lim.max_call_depth = depth
            lib.cis_instance_set_limits(inst, ctypes.byref(lim))
        return cancel._attach(inst) if cancel is not None else True
    return told


def _dump_args(args) -> str:
    if args is None:
        return "{}"
    if not isinstance(args, Mapping):
        raise TypeError(f"skill arguments must be a dict, not {type(args).__name__}")
    return json.dumps(args, ensure_ascii=False, allow_nan=False)


def _nonneg(v):
    if v is None:
        return None
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 1 << 64:
        raise ValueError(f"expected an int in [0, 2**64), not {v!r}")
    return v


def _seq(v, what: str) -> list:
    if isinstance(v, (str, bytes)):
        raise TypeError(f"{what} must be a sequence, not a single {type(v).__name__}")
    return list(v)


def _kv_pairs(m: Mapping[str, str], what: str) -> List[str]:
    out = []
    for k, v in m.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(f"{what} must map str to str")
        if "=" in k:
            raise ValueError(f"{what} key {k!r} must not contain '='")
        out.append(f"{k}={v}")
    return out


def _install_options(volumes, namespaces, host_paths):
    opt = _lib.InstallOptions_()
    keep = []
    for fld, items, conv in (("allow_volumes", volumes, None), ("allow_namespaces", namespaces, None),
                             ("allow_host_paths", host_paths, os.fspath)):
        items = _seq(items, fld)
        if conv:
            items = [conv(i) for i in items]
        if items:
            arr, n = _lib.strv(items)
            setattr(opt, fld, ctypes.cast(arr, ctypes.POINTER(ctypes.c_char_p)))
            setattr(opt, "n" + fld, n)
            keep.append(arr)
    return opt, keep


def _s(b: bytes) -> str:
    return b.decode("utf-8", "replace")


def sha256_hex(data: bytes) -> str:
    """SHA-256 in hex, as a manifest's wasm.sha256 wants it."""
    import hashlib
    return hashlib.sha256(data).hexdigest()
