"""Run a command in a real pseudo-terminal (its controlling tty, so Ctrl-C is a real SIGINT)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import threading
import time

# Make the pty the child's controlling terminal (new session), then become the command.
LOGIN_TTY = "import os, sys; os.login_tty(0); os.execv(sys.argv[1], sys.argv[1:])"


class Terminal:
    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen([sys.executable, "-c", LOGIN_TTY, *argv], stdin=slave, stdout=slave,
                                     stderr=slave, env=env, close_fds=True)
        os.close(slave)
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: the other side is closed
                return
            if not data:
                return
            self._chunks.append(data)

    @property
    def text(self) -> str:
        return b"".join(self._chunks).decode(errors="replace").replace("\r\n", "\n")

    def wait_for(self, needle: str, timeout: float = 30.0) -> None:  # a loaded CI box starts Python slowly
        deadline = time.monotonic() + timeout
        while needle not in self.text:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"{needle!r} did not appear; the terminal shows:\n{self.text}")
            time.sleep(0.02)

    def ctrl_c(self, timeout: float = 10.0) -> int:
        os.write(self.master, b"\x03")
        code = self.proc.wait(timeout)
        self._reader.join(2)
        os.close(self.master)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
