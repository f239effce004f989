"""docs/deploy.md's systemd unit and config file: the unit passes ``systemd-analyze verify`` and its
``ExecStart`` with the doc's ``atoms.toml`` starts a server that answers ``/readyz``. (The nginx block
is run for real by atoms-app/e2e/deploy.spec.ts.)"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from servers import free_port, wait_port

DOC = (Path(__file__).resolve().parents[2] / "docs" / "deploy.md").read_text()
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
