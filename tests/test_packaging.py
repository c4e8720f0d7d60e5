"""The package as published: what the wheel and the sdist carry, and a wheel installed into a fresh
virtual environment outside the repository running the whole demo (issue 20).

The wheel is built the way ``make dist`` builds it (``uv build``: the sdist first, then the wheel
from the sdist, so both are checked) and installed with the lock as constraints, from the package
cache that ``make install`` filled. ``PRIVAUDIT_WHEEL_INSTALLER=pip`` installs it with pip instead
(the README's path for users; slower).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import toolkit
from toolkit import resources

pytestmark = pytest.mark.wheel

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements" / "lock.txt"
# repository folder -> where the package keeps it
SHIPPED = {"toolkit": "toolkit", "notebooks": "toolkit/notebooks",
           "expectations": "toolkit/expectations"}


def uv() -> str:
    """The uv that ``make install`` put next to this Python (or one on PATH)."""
    here = Path(sys.executable).parent / "uv"
    found = str(here) if here.exists() else shutil.which("uv")
    assert found, "uv is not installed: run 'make install' (it installs the dev extra, uv included)"
    return found


def tracked_files() -> list[str]:
    """The repository's files the package must ship (as git tracks them; the tree without git)."""
    try:
        out = subprocess.run(["git", "ls-files", *SHIPPED], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        out = [str(p.relative_to(REPO)) for folder in SHIPPED for p in (REPO / folder).rglob("*")
               if p.is_file() and "__pycache__" not in p.parts]
    assert out
    return out


def in_package(path: str) -> str:
    top, rest = path.split("/", 1)
    return f"{SHIPPED[top]}/{rest}"


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without anything that points back at the repository."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PRIVAUDIT_DEBUG")}
    return {**env, "CI": "1", **extra}


# ---------------------------------------------------------------------- in this environment

def test_resources_are_found_through_the_package():
    from importlib import resources as ir

    assert resources.notebooks_dir() == Path(str(ir.files("toolkit.notebooks")))
    assert resources.expectations_dir() == Path(str(ir.files("toolkit.expectations")))
    from toolkit.report import NOTEBOOKS

    assert {p.stem for p in resources.notebooks_dir().glob("*.ipynb")} == set(NOTEBOOKS)
    assert (resources.expectations_dir() / "retention.json").is_file()
    for folder in (resources.data_dir(), resources.mappings_dir(), resources.policies_dir(),
                   resources.templates_dir()):
        assert folder.is_dir() and any(folder.iterdir()), folder


# ---------------------------------------------------------------------- the distributions

@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([uv(), "build", "--quiet", "--build-constraints", str(LOCK), "--out-dir",
                    str(out), str(REPO)], check=True, capture_output=True, env=clean_env())
    return out


def the(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    assert len(found) == 1, found
    return found[0]


def test_the_wheel_carries_every_file_the_commands_need(dist):
    wheel = the(dist, f"privaudit-{toolkit.__version__}-py3-none-any.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [in_package(p) for p in tracked_files() if in_package(p) not in names]
    assert missing == []
    tops = {n.split("/", 1)[0] for n in names}
    assert tops == {"toolkit", f"privaudit-{toolkit.__version__}.dist-info"}
    meta = zipfile.ZipFile(wheel).read(f"privaudit-{toolkit.__version__}.dist-info/METADATA").decode()
    assert "Requires-Dist: duckdb==1.5.5" in meta
    assert "Provides-Extra: spark" in meta
    # the license pyproject.toml declares, and its text
    assert "License-Expression: Apache-2.0" in meta
    licence = zipfile.ZipFile(wheel).read(f"privaudit-{toolkit.__version__}.dist-info/licenses/LICENSE")
    assert licence == (REPO / "LICENSE").read_bytes()


def test_the_sdist_carries_the_sources(dist):
    sdist = the(dist, f"privaudit-{toolkit.__version__}.tar.gz")
    root = f"privaudit-{toolkit.__version__}"
    names = {n.removeprefix(root + "/") for n in tarfile.open(sdist).getnames()}
    missing = [p for p in tracked_files() if p not in names]
    assert missing == []
    assert {"pyproject.toml", "README.md", "LICENSE"} <= names
    # the lock travels with the release: pip install -c requirements/lock.txt privaudit
    assert "requirements/lock.txt" in names


# ---------------------------------------------------------------------- installed and run

@pytest.fixture(scope="module")
def installed(dist, tmp_path_factory) -> Path:
    """A fresh virtual environment outside the repository with the wheel installed: its bin/."""
    wheel = str(the(dist, "*.whl"))
    venv = tmp_path_factory.mktemp("installed") / "venv"
    assert REPO not in venv.parents
    env = clean_env()
    if os.environ.get("PRIVAUDIT_WHEEL_INSTALLER") == "pip":
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env)
        cmd = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "-c", str(LOCK),
               wheel]
    else:
        subprocess.run([uv(), "venv", "--quiet", "--python", sys.executable, str(venv)],
                       check=True, env=env)
        cmd = [uv(), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
               "--constraints", str(LOCK), wheel]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return venv / "bin"


def test_the_installed_package_is_the_wheel_not_the_repository(installed, tmp_path):
    code = ("import toolkit, toolkit.resources as r, json; print(json.dumps([toolkit.__file__, "
            "str(r.notebooks_dir()), str(r.expectations_dir()), str(r.templates_dir())]))")
    out = subprocess.run([str(installed / "python"), "-c", code], cwd=tmp_path, env=clean_env(),
                         capture_output=True, text=True, check=True)
    site = installed.parent / "lib"
    for p in json.loads(out.stdout):
        assert site in Path(p).parents, p
    out = subprocess.run([str(installed / "privaudit"), "--version"], cwd=tmp_path, env=clean_env(),
                         capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[:2] == [f"privaudit {toolkit.__version__}", "DuckDB 1.5.5"]
    # the shipped suites are the ones the shipped policy generates
    out = subprocess.run([str(installed / "privaudit"), "suites", "--check"], cwd=tmp_path,
                         env=clean_env(), capture_output=True, text=True)
    assert out.returncode == 0 and "suites are up to date" in out.stdout, out.stdout + out.stderr


def test_the_installed_wheel_runs_the_demo(installed, tmp_path):
    out_dir = tmp_path / "demo"
    proc = subprocess.run([str(installed / "privaudit"), "demo", "--out", "demo"], cwd=tmp_path,
                          env=clean_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    from toolkit.report import NOTEBOOKS

    n = len(NOTEBOOKS)
    assert f"report: {n} notebooks: {n} ok in " in proc.stdout, proc.stdout
    assert (out_dir / "index.html").is_file()
    # a relative --out stays relative to where the command was started (no notebook moved it)
    assert f"Report: {(out_dir / 'index.html').resolve()}" in proc.stdout, proc.stdout
    site = installed.parent / "lib"
    for name in NOTEBOOKS:
        nb = json.loads((out_dir / f"{name}.ipynb").read_text(encoding="utf-8"))
        assert nb["metadata"]["papermill"]["exception"] in (None, False), name
        assert site in Path(nb["metadata"]["papermill"]["input_path"]).parents, name
    manifest = json.loads((out_dir / "audit" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["software"]["privaudit"] == toolkit.__version__
    assert manifest["software"]["duckdb"] == "1.5.5"
