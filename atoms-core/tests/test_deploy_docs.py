"""docs/deploy.md's systemd unit and config file: the unit passes ``systemd-analyze verify`` and its
``ExecStart`` with the doc's ``atoms.toml`` starts a server that answers ``/readyz``; the Dockerfile's
wheel install is a requirement pip accepts for each ``EXTRAS`` the doc uses. (The nginx block is run
for real by atoms-app/e2e/deploy.spec.ts.)"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

from servers import free_port, wait_port

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "deploy.md").read_text()
DOCKERFILE = (ROOT / "Dockerfile").read_text()
ATOMS = str(Path(sys.executable).with_name("atoms"))


def unit_text() -> str:
    match = re.search(r"```ini\n(.*?)```", DOC, re.S)
    assert match, "docs/deploy.md has no systemd unit"
    return match.group(1)


def exec_start() -> list[str]:
    line = next(line for line in unit_text().splitlines() if line.startswith("ExecStart="))
    return shlex.split(line.removeprefix("ExecStart="))


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        if os.environ.get("CI"):
            pytest.fail("no systemd-analyze (Debian's systemd package)")
        pytest.skip("no systemd-analyze")
    # The unit as printed, with this venv's atoms and an existing user for the checks that need them.
    unit = (unit_text().replace(exec_start()[0], ATOMS).replace("User=atoms", "User=root")
            .replace("Group=atoms", "Group=root"))
    path = tmp_path / "atoms.service"
    path.write_text(unit)
    result = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_exec_start_with_the_doc_config_serves(tmp_path: Path) -> None:
    printed = re.search(r"printf '([^']+)' > /etc/atoms/atoms.toml", DOC)
    assert printed, "docs/deploy.md no longer writes /etc/atoms/atoms.toml"
    port = free_port()
    toml = (printed.group(1).encode().decode("unicode_escape").replace("port = 8000", f"port = {port}")
            .replace('"/var/lib/atoms"', f'"{tmp_path / "data"}"'))
    (tmp_path / "atoms.toml").write_text(toml)
    args = exec_start()
    assert args[1:] == ["serve", "--config", "/etc/atoms/atoms.toml"]
    proc = subprocess.Popen([ATOMS, "serve", "--config", str(tmp_path / "atoms.toml")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        wait_port("127.0.0.1", port, proc=proc)
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").json()["status"] == "ready"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=15)
    assert f"atoms: serving http://127.0.0.1:{port} (engine sqlite, data dir {tmp_path / 'data'})" in out


def wheel_install_line() -> str:
    """The shell of the Dockerfile's ``RUN`` that installs the built wheel with ``EXTRAS``."""
    runs = [line.removeprefix("RUN ") for line in DOCKERFILE.splitlines()
            if line.startswith("RUN ") and "/tmp/dist/" in line and "EXTRAS" in line]
    assert len(runs) == 1, runs
    return runs[0]


def stand_in_wheel(dist: Path) -> None:
    """A wheel with the name the build stage gives and just enough metadata for pip to resolve it."""
    dist.mkdir()
    info = "atoms_core-0.1.0.dist-info"
    with zipfile.ZipFile(dist / "atoms_core-0.1.0-py3-none-any.whl", "w") as whl:
        whl.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: atoms-core\nVersion: 0.1.0\n"
                     + "".join(f"Provides-Extra: {extra}\n" for extra in ("redis", "s3", "vault")))
        whl.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        whl.writestr(f"{info}/RECORD", "")


def test_dockerfile_installs_the_wheel_with_the_default_extras_and_with_none(tmp_path: Path) -> None:
    default = re.search(r"^ARG EXTRAS=(\S*)$", DOCKERFILE, re.M)
    documented = re.search(r"docker build --build-arg EXTRAS=(\S*) ", DOC)
    assert default and documented, "the Dockerfile's ARG EXTRAS or the doc's --build-arg EXTRAS= is gone"
    assert default.group(1) == "redis,s3,vault" and documented.group(1) == ""
    pip = f"{Path(sys.executable).with_name('pip')} install --dry-run --no-deps --no-index"
    line = wheel_install_line()
    assert "pip install --no-cache-dir " in line
    # The line as docker's /bin/sh runs it, resolving (not installing) the stand-in of the built wheel.
    line = line.replace("pip install", pip).replace("/tmp/dist", f"{tmp_path}/dist")
    for extras in (default.group(1), documented.group(1)):
        stand_in_wheel(tmp_path / "dist")
        result = subprocess.run(["/bin/sh", "-c", line], capture_output=True, text=True, timeout=60,
                                env={**os.environ, "EXTRAS": extras})
        assert result.returncode == 0, (extras, result.stderr)
        assert "Would install atoms-core-0.1.0" in result.stdout, (extras, result.stdout)
        assert not (tmp_path / "dist").exists()  # the line's own clean-up ran
