"""The atoms-core wheel as a newcomer installs it: built by ``make dist``, installed into a fresh venv,
``atoms serve --demo`` from another directory serves the canvas; metadata and extras are right."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from servers import wait_startup

ROOT = Path(__file__).resolve().parents[2]
APP_DIST = ROOT / "atoms-app" / "dist"


SRC = ROOT / "atoms-core" / "src"


@dataclass(frozen=True)
class Build:
    out: Path
    #: What src/atoms_core of the source tree held when the build started, and what the build changed in src/.
    tree_during: list[str]
    tree_changes: list[tuple[str, int]]


def source_tree() -> dict[str, int]:
    """Every file of atoms-core/src (bytecode caches aside) and its modification time."""
    return {str(path): path.stat().st_mtime_ns for path in SRC.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts}


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """``make dist``, with make's python noting what the source tree holds when the build starts."""
    if not (APP_DIST / "index.html").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"no built canvas in {APP_DIST}: make install builds it")
        pytest.skip(f"no built canvas in {APP_DIST} (make install)")
    out = tmp_path_factory.mktemp("dist")
    seen = tmp_path_factory.mktemp("seen")
    python = seen / "python"
    python.write_text(f'#!/bin/sh\nls -A {SRC / "atoms_core"} > {seen / "src.txt"}\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)
    before = source_tree()
    subprocess.run(["make", "-s", "--no-print-directory", "dist", f"DIST_DIR={out}", f"PY={python}"], cwd=ROOT,
                   check=True, capture_output=True, timeout=300)
    changes = sorted(set(before.items()) ^ set(source_tree().items()))
    return Build(out, (seen / "src.txt").read_text().split(), changes)


@pytest.fixture(scope="module")
def dist(build: Build) -> Path:
    return build.out


def test_make_dist_never_touches_the_source_tree(build: Build) -> None:
    # Tests on other workers run servers from this editable tree: a demo_app appearing and vanishing
    # under them, or a second build's clean-up deleting it under the first, must not happen.
    assert "app" in build.tree_during and "demo_app" not in build.tree_during, build.tree_during
    assert build.tree_changes == []


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with nothing but the wheel and its required dependencies."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=120)
    wheel = next(dist.glob("atoms_core-*.whl"))
    subprocess.run([str(root / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(wheel)],
                   check=True, capture_output=True, timeout=300)
    return root


@pytest.fixture(scope="module")
def installed_demo(venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``atoms serve --demo`` of the installed wheel, run from an empty directory."""
    cwd = tmp_path_factory.mktemp("elsewhere")
    log = cwd / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(venv / "bin" / "atoms"), "serve", "--demo", "--port", "0"], cwd=cwd,
                                stdout=out, stderr=subprocess.STDOUT, env={"PATH": "/usr/bin:/bin"})
    try:
        port = wait_startup(log, proc)
        yield f"http://127.0.0.1:{port}", log
    finally:
        proc.terminate()
        proc.wait(10)


def test_installed_wheel_serves_the_demo_page_and_its_script(installed_demo: tuple[str, Path]) -> None:
    url, log = installed_demo
    page = httpx.get(f"{url}/?canvas=demo")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    scripts = re.findall(r'<script[^>]+src="([^"]+\.js)"', page.text)
    assert scripts, page.text
    script = httpx.get(f"{url}{scripts[0]}")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert script.text == (APP_DIST / scripts[0].lstrip("/")).read_text()
    assert httpx.get(f"{url}/demo/token", params={"name": "Ada"}).json()["tenant_id"] == "demo"
    assert f"atoms: serving {url}/?canvas=demo (engine sqlite, data dir " in log.read_text()


def test_wheel_metadata_has_readme_license_and_classifiers(venv: Path) -> None:
    probe = ("import importlib.metadata as m, json; d = m.distribution('atoms-core'); md = d.metadata; "
             "print(json.dumps({'license': md['License-Expression'], 'readme': md['Description'] or '', "
             "'type': md['Description-Content-Type'], 'classifiers': md.get_all('Classifier'), "
             "'files': [str(f) for f in d.files or []], 'extras': md.get_all('Provides-Extra')}))")
    meta = json.loads(subprocess.run([str(venv / "bin" / "python"), "-c", probe], capture_output=True, text=True,
                                     check=True).stdout)
    assert meta["license"] == "Apache-2.0"
    assert "atoms serve --demo" in meta["readme"] and meta["type"] == "text/markdown"
    assert "Programming Language :: Python :: 3.11" in meta["classifiers"]
    assert any(f.endswith("licenses/LICENSE") for f in meta["files"])
    assert any(f.startswith("atoms_core/demo_app/assets/") for f in meta["files"])
    assert {"redis", "s3", "vault"} <= set(meta["extras"])


def test_extras_are_optional_and_a_missing_one_is_named(venv: Path, tmp_path: Path) -> None:
    python = str(venv / "bin" / "python")
    for module in ("redis", "boto3", "hvac"):
        assert subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode != 0, module
    atoms = str(venv / "bin" / "atoms")
    cases = [
        (["serve", "--engine", "redis"], {}, "pip install 'atoms-core[redis]'"),
        (["serve"], {"ATOMS_S3_BUCKET": "media"}, "pip install 'atoms-core[s3]'"),
        (["token", "--tenant", "t", "--principal", "p"], {"ATOMS_JWT_KEYS": '{"dev": "secret://vault/atoms#jwt"}',
                                                           "ATOMS_VAULT_ADDR": "http://127.0.0.1:1"},
         "pip install 'atoms-core[vault]'"),
    ]
    for args, env, hint in cases:
        result = subprocess.run([atoms, *args, "--data-dir", str(tmp_path / "d"), *(["--port", "0"]
                                                                                     if args[0] == "serve" else [])],
                                capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", **env}, timeout=30)
        assert result.returncode == 2, (args, result)
        assert hint in result.stderr and result.stderr.count("\n") == 1, result.stderr


def test_sdist_carries_the_canvas_readme_and_license(dist: Path) -> None:
    with tarfile.open(next(dist.glob("atoms_core-*.tar.gz"))) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {"README.md", "LICENSE", "src/atoms_core/demo_app/index.html"} <= names
    with zipfile.ZipFile(next(dist.glob("atoms_core-*.whl"))) as wheel:
        assert "atoms_core/demo_app/index.html" in wheel.namelist()


def test_create_app_without_an_extra_names_it(venv: Path, tmp_path: Path) -> None:
    probe = ("from atoms_core.config.settings import load_settings; from atoms_core.app.main import create_app; "
             f"create_app(load_settings(cli={{'data_dir': {str(tmp_path)!r}, 'engine': 'redis'}}))")
    result = subprocess.run([str(venv / "bin" / "python"), "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "MissingExtra" in result.stderr and "pip install 'atoms-core[redis]'" in result.stderr
    assert "ModuleNotFoundError" not in result.stderr
