"""Wire encoding, done once per event: compact one-line JSON and timestamps (SSE frames: ``wire.py``)."""

from __future__ import annotations

import time
from typing import Any

import msgspec

_encode = msgspec.json.Encoder().encode


def dumps(value: Any) -> str:
    """Compact JSON (msgspec: several times faster than the stdlib on the per-event hot path);
    never contains a raw newline, so it is always one SSE ``data:`` line."""
    return _encode(value).decode()


def encoded_size(value: Any) -> int:
    """Bytes of ``value`` as compact JSON (what ``dumps`` writes, UTF-8)."""
    return len(_encode(value))


#: The last whole second seen and its formatted prefix, swapped in one assignment (thread-safe).
_second: tuple[int, str] = (-1, "")


def now_iso() -> str:
    """UTC now as ``2026-11-25T12:00:00.123Z``; formats the date and time only once per second."""
    global _second
    now = time.time()
    second, prefix = _second
    if int(now) != second:
        second = int(now)
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _second = (second, prefix)
    return f"{prefix}.{int((now - second) * 1000):03d}Z"

