"""Errors the client raises, each carrying what the server said.

Exception tree::

    ClientError                   base of everything the client raises on purpose
    ├── ProblemError              an HTTP error; ``status``, ``code`` and the problem+json body
    │   └── CommandError          a command refused (4xx) or given up on after retries (5xx, network)
    ├── ProtocolError             the server sent something the client cannot read
    ├── GapError                  an event arrived out of seq order (``expected``, ``got``)
    ├── DivergedError             an event did not apply to the local document
    └── ProviderError             a model provider reported an error inside its reply stream

``GapError`` and ``DivergedError`` come from ``StateView.apply``; a ``Subscription`` handles both
itself (it reconnects, and after a divergence asks for a fresh snapshot), so only code that drives
a ``StateView`` by hand sees them.

``ProviderError`` comes from the provider adapters (``client.providers``); ``ChatReply`` records it
in the message it was writing (``finish_reason: "error"``), so an agent sees it only when it reads a
provider stream itself.

A network failure that outlives its retries is a ``CommandError`` with ``status`` 0 and ``code``
``network_error``; any other request that gets no answer (a ticket, ``state``, ``revoke``) raises a
``ProblemError`` with the same status and code.
"""

from __future__ import annotations

import json
from typing import Any

import httpx


class ClientError(Exception):
    """Base class of the client's own errors."""


class ProblemError(ClientError):
    """An HTTP error response, read as RFC 9457 problem details."""

    def __init__(self, status: int, code: str, detail: str, problem: dict[str, Any] | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(f"{status} {code}: {detail}" if status else f"{code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.problem = problem or {}
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """Network failures and 5xx may succeed later; a 4xx will not."""
        return self.status == 0 or self.status >= 500

    @classmethod
    def from_response(cls, response: httpx.Response) -> ProblemError:
        """Read a (fully read) error response; a body that is not problem+json still gives a code."""
        problem: dict[str, Any] = {}
        try:
            body = json.loads(response.content)
            if isinstance(body, dict):
                problem = body
        except ValueError:
            pass
        code = str(problem.get("code") or f"http_{response.status_code}")
        detail = str(problem.get("detail") or response.reason_phrase or "")
        return cls(response.status_code, code, detail, problem, retry_after(response))

    @classmethod
    def network(cls, exc: Exception) -> ProblemError:
        return cls(0, "network_error", f"{type(exc).__name__}: {exc}")


class CommandError(ProblemError):
    """A command (or batch) that did not commit; ``command_ids`` are safe to retry as they are."""

    def __init__(self, cause: ProblemError, command_ids: list[str], attempts: int) -> None:
        super().__init__(cause.status, cause.code, cause.detail, cause.problem, cause.retry_after)
        self.command_ids = command_ids
        self.attempts = attempts


class ProtocolError(ClientError):
    """A frame or response the client cannot interpret (a version mismatch, not a transient fault)."""


class GapError(ClientError):
    """An event arrived out of order: ``expected`` seq, ``got`` seq."""

    def __init__(self, expected: int, got: int) -> None:
        super().__init__(f"seq gap: expected {expected}, got {got}")
        self.expected = expected
        self.got = got


class DivergedError(ClientError):
    """An event did not apply to the local document; only a fresh snapshot can repair it."""


class ProviderError(ClientError):
    """The provider reported an error inside the stream (an ``error`` or ``response.failed`` event)."""


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (the delta-seconds form; an HTTP date is ignored)."""
    raw = response.headers.get("retry-after", "").strip()
    return float(raw) if raw.isdigit() else None
