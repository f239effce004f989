"""docs/agents.md's example, run as written against a real ``atoms serve`` and the official ``openai`` SDK
pointed (by its own ``OPENAI_BASE_URL``) at a server replaying a recorded stream."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from provider_replay import ReplayServer
from servers import AtomsServer

DOC = Path(__file__).resolve().parents[3] / "docs" / "agents.md"
TEXT = "Hello! The sky is often blue — but at dusk it turns 橙色 and 🌅 pink.\n\nCafé au lait?"


def example() -> str:
    match = re.search(r"## Pipe a model into a canvas\n.*?```python\n(.*?)```", DOC.read_text(), re.S)
    assert match, "no python example under 'Pipe a model into a canvas'"
    return match.group(1)


def test_the_example_pipes_a_model_into_a_canvas(shared_server: AtomsServer, tmp_path: Path) -> None:
    code = example()
    assert len([line for line in code.splitlines() if line.strip()]) <= 20, "a 20-line example"
    (tmp_path / "pipe.py").write_text(code)
    bin_dir = str(Path(sys.executable).parent)
    with ReplayServer() as replay:
        env = {**shared_server.env, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
               "ATOMS_URL": shared_server.url, "ATOMS_DATA_DIR": str(shared_server.data_dir),
               "OPENAI_API_KEY": "sk-doc", "OPENAI_BASE_URL": f"{replay.url}/v1", "OPENAI_MODEL": "text"}
        result = subprocess.run([sys.executable, "pipe.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                                timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["stop", "{'input_tokens':", "17,", "'output_tokens':", "25}", "complete"]
    state = httpx.get(f"{shared_server.url}/v1/streams/canvas:demo/state",
                      headers={"Authorization": f"Bearer {shared_server.token(tenant='demo')}"}).json()["state"]
    (message,) = state["chat"]
    assert (message["role"], message["author"], message["text"]) == ("assistant", "my-agent", TEXT)
    assert message["finish_reason"] == "stop" and message["usage"] == {"input_tokens": 17, "output_tokens": 25}
