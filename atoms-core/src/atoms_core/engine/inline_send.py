"""What an SSE response uses of uvicorn's request cycle beyond ASGI: writing a frame in place, and
hearing of a disconnect without a task waiting on ``receive()``. Duck-typed; any other server gets
``None`` and the plain ASGI path.

Writing in place: fan-out cost is dominated by what each delivery does besides the socket write;
waking one task per subscriber per event roughly doubles it. While a subscriber's writer is parked
with nothing pending, the publisher writes in its place: on uvicorn's httptools protocol straight to
the transport, in the chunked framing uvicorn's own ``send`` would produce (the hub frames each event
once for all its subscribers), under the conditions ``send`` checks (response started and chunked,
not complete, not disconnected, writing not paused); on its other protocol by driving ``send`` to
completion in place (it only suspends when the transport has paused writing). Anything else (paused
transport, a send that would suspend) falls back to the writer task, which keeps the bounded buffer
and back-pressure.

Hearing of a disconnect: uvicorn's ``connection_lost`` marks the cycle ``disconnected`` and sets its
``message_event``, which its ``receive()`` waits on. Once the request has no body left to read, this
object stands in for that event (``set`` is all uvicorn calls on it then), so an idle SSE connection
needs no second task, no pending ``receive()`` and no event of its own.

Memory: thousands of idle streams make every empty per-connection container count. uvicorn keeps two
that a stream seldom uses, each a deque (760 bytes even when empty): the flow control's "writable"
event and the queue of pipelined requests. A stream swaps in equivalents that allocate only once used
(each saves ~0.7 KB of the ~9 KB an idle stream costs, bench ``idle-conns``). Any other shape of
those objects (another uvicorn version) is left as it is.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

from starlette.types import Send

#: ``write(frame, chunk)``: ``chunk`` is ``frame`` in HTTP/1.1 chunked framing (``chunked``).
InlineWrite = Callable[[bytes, bytes], bool]

HTTPTOOLS_CYCLE = "uvicorn.protocols.http.httptools_impl"


def chunked(frame: bytes) -> bytes:
    """One HTTP/1.1 chunk carrying ``frame``, as uvicorn writes a body part of a chunked response."""
    return b"%x\r\n%b\r\n" % (len(frame), frame)


class ServerCycle:
    """One streaming response's uvicorn ``RequestResponseCycle``, seen through what this module uses."""

    __slots__ = ("_cycle", "_direct", "_on_disconnect")

    def __init__(self, cycle: Any) -> None:
        self._cycle: Any = cycle
        self._on_disconnect: Callable[[], None] | None = None
        #: httptools' cycle: its transport can take the chunk-framed frame directly.
        self._direct = type(cycle).__module__ == HTTPTOOLS_CYCLE and hasattr(cycle, "transport")

    @property
    def disconnected(self) -> bool:
        return self._cycle is None or bool(self._cycle.disconnected)

    @property
    def write_paused(self) -> bool:
        """The transport holds more than its high-water mark: the client is not reading it."""
        return self._cycle is not None and bool(self._cycle.flow.write_paused)

    def write(self, data: bytes, chunk: bytes) -> bool:
        """Write one body part now and return True, or return False (queue it for the writer)."""
        cycle = self._cycle
        if cycle is None or cycle.flow.write_paused or cycle.disconnected:
            return False
        if self._direct:
            if cycle.response_complete or cycle.chunked_encoding is not True:
                return False
            cycle.transport.write(chunk)
            return True
        step = cycle.send({"type": "http.response.body", "body": data, "more_body": True})
        try:
            step.send(None)
        except StopIteration:
            return True
        except Exception:
            return False  # the writer task meets the same error in its own context and ends
        step.close()  # it suspended before writing: queue instead
        return False

    def on_disconnect(self, callback: Callable[[], None]) -> bool:
        """Have uvicorn call ``callback`` when the client goes away; False (nothing changed) while the
        request still has a body to read: then the caller must drain ``receive()`` itself."""
        cycle = self._cycle
        unread = getattr(cycle, "more_body", True) or getattr(cycle, "body", b"?")
        if unread or not isinstance(getattr(cycle, "message_event", None), asyncio.Event):
            return False
        self._on_disconnect = callback
        cycle.message_event = self
        _lighten(cycle)
        if cycle.disconnected:  # gone before the swap: its event was set for nobody
            callback()
        return True

    def set(self) -> None:
        """Called by uvicorn in place of ``message_event.set()``: on a disconnect, and when the response
        completes."""
        if self._on_disconnect is not None and self.disconnected:
            self._on_disconnect()

    def release(self) -> None:
        """Once the response has ended: no more calls, and no reference cycle with uvicorn's cycle."""
        self._cycle = None
        self._on_disconnect = None


class _WritableEvent:
    """An ``asyncio.Event`` for uvicorn's flow control that exists only while writing is paused: set
    (writable) is the usual state, and the event with its deque is made when ``clear`` pauses it."""

    __slots__ = ("_paused",)

    def __init__(self) -> None:
        self._paused: asyncio.Event | None = None

    def is_set(self) -> bool:
        return self._paused is None

    def clear(self) -> None:
        if self._paused is None:
            self._paused = asyncio.Event()

    def set(self) -> None:
        paused, self._paused = self._paused, None
        if paused is not None:
            paused.set()  # its waiters hold it until they have woken

    async def wait(self) -> Literal[True]:
        paused = self._paused
        if paused is not None:
            await paused.wait()
        return True


class _Pipeline(list[Any]):
    """uvicorn's queue of pipelined requests as a list (56 bytes while empty): it queues with
    ``appendleft`` and takes with ``pop``, as from a deque."""

    __slots__ = ()

    def appendleft(self, item: Any) -> None:
        self.insert(0, item)


def _lighten(cycle: Any) -> None:
    """Swap the connection's empty flow-control event and pipeline queue for ``_WritableEvent`` and
    ``_Pipeline``, where they are what this uvicorn version keeps (else leave them)."""
    flow = cycle.flow
    event = getattr(flow, "_is_writable_event", None)
    if type(event) is asyncio.Event and event.is_set() and not flow.write_paused:
        flow._is_writable_event = _WritableEvent()
    transport = getattr(cycle, "transport", None)
    protocol: Any = transport.get_protocol() if transport is not None else None
    pipeline = getattr(protocol, "pipeline", None)
    if type(pipeline) is deque and not pipeline and getattr(protocol, "cycle", None) is cycle:
        protocol.pipeline = _Pipeline()


def server_cycle(send: Send) -> ServerCycle | None:
    """The uvicorn cycle behind ``send``, or None if ``send`` is not a server callable known to write
    without suspending and to mark disconnects."""
    cycle: Any = getattr(send, "__self__", None)
    flow = getattr(cycle, "flow", None)
    if flow is None or not hasattr(flow, "write_paused") or not hasattr(cycle, "disconnected"):
        return None
    return ServerCycle(cycle)
