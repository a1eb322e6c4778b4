# conftest.py -- fixtures of the Python SDK's tests.
#
# This file implements what the tests share: the package imported from
# this source tree, the fixture folders CTest passes in the environment
# (tests/python/CMakeLists.txt), a private CIS_HOME so that nothing lands
# in the user's, and a Skills host with the test skills registered.
from __future__ import annotations

import os
import pathlib
import sys
import tempfile

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import cis  # noqa: E402

# Nothing the tests do may write to the user's ~/.local/share/cis.
_tmp = os.environ.get("CIS_PY_TMP")
if _tmp:
    os.makedirs(_tmp, exist_ok=True)
_home = tempfile.mkdtemp(prefix="cis-py-", dir=_tmp)
os.environ["CIS_HOME"] = _home
os.environ.setdefault("CIS_ENGINE", "interp")


def _dir(var: str) -> pathlib.Path:
    v = os.environ.get(var)
    if not v or not pathlib.Path(v).is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{var} is not set to a folder (run the suite with ctest -R python_sdk)")
        pytest.skip(f"{var} is not set to a folder (run the suite with ctest -R python_sdk)")
    return pathlib.Path(v)


@pytest.fixture(scope="session")
def fixtures() -> pathlib.Path:
    return _dir("CIS_PY_FIXTURES")


@pytest.fixture(scope="session")
def examples() -> pathlib.Path:
    return _dir("CIS_PY_EXAMPLES")


@pytest.fixture(scope="session")
def skill_modules() -> pathlib.Path:
    return _dir("CIS_PY_SKILLS")


def manifest(name: str, description: str = "", **extra) -> dict:
    m = {"name": name, "version": "1.0.0", "description": description or name,
         "abi": "cis_v1", "permissions": {"log": True}}
    m.update(extra)
    return m


ECHO_SCHEMA = {"type": "object", "properties": {"text": {"type": "string"}},
               "required": ["text"]}


@pytest.fixture
def skills(tmp_path, fixtures):
    """A host on a fresh home with echo, spin, badjson and trap registered."""
    with cis.Skills(tmp_path / "home", engine="interp") as s:
        s.register((fixtures / "echo.wasm").read_bytes(),
                   manifest("echo", "Returns its input.", input_schema=ECHO_SCHEMA))
        s.register((fixtures / "spin.wasm").read_bytes(),
                   manifest("spin", "Loops forever.", limits={"timeout_ms": 10000}))
        s.register((fixtures / "badjson.wasm").read_bytes(), manifest("badjson"))
        s.register((fixtures / "trap.wasm").read_bytes(), manifest("trap"))
        yield s
