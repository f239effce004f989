"""Write an SSE frame from the publisher's own step, without waking the subscriber's writer task.

Fan-out cost is dominated by what each delivery does besides the socket write; waking one task per
subscriber per event roughly doubles it. uvicorn's ``send`` only suspends when the transport has
paused writing (its buffer is above the high-water mark); otherwise it writes and returns in one
step. So while a subscriber's writer is parked with nothing pending, the publisher can drive that
``send`` to completion in place. Anything else (paused transport, another ASGI server, a send that
would suspend) falls back to the writer task, which keeps the bounded buffer and back-pressure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.types import Send

InlineWrite = Callable[[bytes], bool]


def inline_writer(send: Send) -> InlineWrite | None:
    """A function that writes one body chunk now and returns True, or returns False (queue it);
    None if ``send`` is not a server callable known to complete without suspending."""
    cycle: Any = getattr(send, "__self__", None)
    flow = getattr(cycle, "flow", None)
    if flow is None or not hasattr(flow, "write_paused") or not hasattr(cycle, "disconnected"):
        return None

    def write(data: bytes) -> bool:
        if flow.write_paused or cycle.disconnected:
            return False
        step = send({"type": "http.response.body", "body": data, "more_body": True})
        try:
            step.send(None)  # type: ignore[attr-defined]
        except StopIteration:
            return True
        except Exception:
            return False  # the writer task meets the same error in its own context and ends
        step.close()  # type: ignore[attr-defined]  # it suspended before writing: queue instead
        return False

    return write
