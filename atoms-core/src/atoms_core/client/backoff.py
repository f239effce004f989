"""Reconnect and retry delays: exponential backoff with full jitter (AWS, "Exponential Backoff
And Jitter"): ``delay = random() * min(cap, base * 2**attempt)``, as atoms-ui's ``Backoff``."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    def __init__(self, base: float = 0.25, cap: float = 10.0,
                 rand: Callable[[], float] = random.random) -> None:
        self.base = base
        self.cap = cap
        self.floor = 0.0
        self.attempt = 0
        self._rand = rand

    def hint(self, seconds: float) -> None:
        """The server's SSE ``retry:`` raises the base (never lowers it below the configured one)."""
        self.floor = max(0.0, seconds)

    def next(self) -> float:
        """The delay before the next attempt, in seconds; advances the attempt counter."""
        base = max(self.base, self.floor)
        window = min(max(self.cap, base), base * 2.0 ** min(self.attempt, 30))
        self.attempt += 1
        return self._rand() * window

    def reset(self) -> None:
        """Call after a successful open."""
        self.attempt = 0
