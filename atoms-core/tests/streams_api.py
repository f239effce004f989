"""Small helpers for tests that drive a stream over real HTTP."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

#: Digits ``str.isdigit`` takes but ``int`` refuses ("²"), digits ``int`` takes but no seq is written in
#: (Arabic-Indic), more digits than ``int`` parses, and other near-integers.
ODD_NUMBERS = ["\u00b2", "\u0661\u0662", "9" * 5000, "1" * 20, "-1", "+1", "1 2", "0x10", "1e3"]


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert ``response`` is a problem+json refusal with this status and code; its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = dict(response.json())
    assert body["code"] == code
    return body


def patch(stream: str, path: str, value: Any, command_id: str | None = None, op: str = "add",
          base_version: int | None = None) -> dict[str, Any]:
    envelope: dict[str, Any] = {"command_id": command_id or uuid.uuid4().hex, "type": "state.patch",
                                "stream_id": stream, "payload": {"ops": [{"op": op, "path": path, "value": value}]}}
    if base_version is not None:
        envelope["base_version"] = base_version
    return envelope


def command(stream: str, kind: str, payload: dict[str, Any], command_id: str | None = None) -> dict[str, Any]:
    return {"command_id": command_id or uuid.uuid4().hex, "type": kind, "stream_id": stream, "payload": payload}


def metric(base_url: str, name: str, labels: str | None = None) -> float:
    """The first sample of ``name``, or the one whose label set is exactly ``{labels}``."""
    text = httpx.get(f"{base_url}/metrics").text
    label_re = r"(?:{[^}]*})?" if labels is None else re.escape("{" + labels + "}")
    match = re.search(rf"^{re.escape(name)}{label_re} ([0-9.e+-]+)$", text, re.M)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


class StreamClient:
    """Commands and reads on one stream with one identity token."""

    def __init__(self, base_url: str, token: str, stream: str) -> None:
        self.base_url = base_url
        self.stream = stream
        self.headers = {"Authorization": f"Bearer {token}"}

    def post(self, body: Any) -> httpx.Response:
        return httpx.post(f"{self.base_url}/v1/streams/{self.stream}/commands", json=body, headers=self.headers)

    def state(self) -> dict[str, Any]:
        response = httpx.get(f"{self.base_url}/v1/streams/{self.stream}/state", headers=self.headers)
        response.raise_for_status()
        return dict(response.json())

    def history(self, after: int = 0, limit: int = 1000) -> dict[str, Any]:
        response = httpx.get(f"{self.base_url}/v1/streams/{self.stream}/history",
                             params={"after": after, "limit": limit}, headers=self.headers)
        response.raise_for_status()
        return dict(response.json())

    @property
    def events_url(self) -> str:
        return f"{self.base_url}/v1/streams/{self.stream}/events"
