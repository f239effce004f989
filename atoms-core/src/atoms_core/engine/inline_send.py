"""Write an SSE frame from the publisher's own step, without waking the subscriber's writer task.

Fan-out cost is dominated by what each delivery does besides the socket write; waking one task per
subscriber per event roughly doubles it. While a subscriber's writer is parked with nothing pending,
the publisher writes in its place:

- on uvicorn's httptools protocol, straight to the transport, in the chunked framing uvicorn's own
  ``send`` would produce (the hub frames each event once for all its subscribers), under the same
  conditions ``send`` checks (response started and chunked, not complete, not disconnected, writing
  not paused);
- on another server whose ``send`` only suspends when the transport has paused writing, by driving
  that ``send`` to completion in place.

Anything else (paused transport, an unknown ASGI server, a send that would suspend) falls back to
the writer task, which keeps the bounded buffer and back-pressure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.types import Send

#: ``write(frame, chunk)``: ``chunk`` is ``frame`` in HTTP/1.1 chunked framing (``chunked``).
InlineWrite = Callable[[bytes, bytes], bool]

HTTPTOOLS_CYCLE = "uvicorn.protocols.http.httptools_impl"


def chunked(frame: bytes) -> bytes:
    """One HTTP/1.1 chunk carrying ``frame``, as uvicorn writes a body part of a chunked response."""
    return b"%x\r\n%b\r\n" % (len(frame), frame)


def inline_writer(send: Send) -> InlineWrite | None:
    """A function that writes one body part now and returns True, or returns False (queue it);
    None if ``send`` is not a server callable known to complete without suspending."""
    cycle: Any = getattr(send, "__self__", None)
    flow = getattr(cycle, "flow", None)
    if flow is None or not hasattr(flow, "write_paused") or not hasattr(cycle, "disconnected"):
        return None
    if type(cycle).__module__ == HTTPTOOLS_CYCLE and hasattr(cycle, "transport"):
        return _transport_writer(cycle, flow)

    def write(data: bytes, chunk: bytes) -> bool:
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


def _transport_writer(cycle: Any, flow: Any) -> InlineWrite:
    transport = cycle.transport

    def write(data: bytes, chunk: bytes) -> bool:
        if (flow.write_paused or cycle.disconnected or cycle.response_complete
                or cycle.chunked_encoding is not True):
            return False
        transport.write(chunk)
        return True

    return write
