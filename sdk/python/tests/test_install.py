# test_install.py -- the package installs offline with Debian's pip.
#
# This file installs a copy of sdk/python with the command docs/python.md
# gives (no network, the system's setuptools), then imports the installed
# package in a fresh process and loads the library through it.
from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

import pytest

SRC = pathlib.Path(__file__).resolve().parent.parent


def test_pip_install_offline(tmp_path):
    py = "/usr/bin/python3"
    if subprocess.run([py, "-m", "pip", "--version"], capture_output=True).returncode:
        if os.environ.get("CI") == "true":
            pytest.fail("pip for /usr/bin/python3 is missing (python3-pip)")
        pytest.skip("pip for /usr/bin/python3 is missing (python3-pip)")
    # A copy, so that the build leaves nothing in the source tree.
    src = tmp_path / "src"
    shutil.copytree(SRC, src, ignore=shutil.ignore_patterns(
        "tests", "examples", "build", "*.egg-info", "__pycache__", "libcis.so*"))
    target = tmp_path / "site"
    r = subprocess.run([py, "-m", "pip", "install", "--no-build-isolation", "--no-index",
                        "--disable-pip-version-check", "--target", str(target), str(src)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (target / "cis" / "py.typed").exists()
    code = "import cis; print(cis.__file__); print(cis.version())"
    env = dict(os.environ, PYTHONPATH=str(target))
    r = subprocess.run([py, "-c", code], capture_output=True, text=True, env=env,
                       cwd=str(tmp_path), timeout=60)
    assert r.returncode == 0, r.stderr
    where, version = r.stdout.split()
    assert where.startswith(str(target)) and version == "0.2.0"
