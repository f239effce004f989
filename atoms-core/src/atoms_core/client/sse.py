"""An incremental Server-Sent Events parser, per the WHATWG HTML "event stream" rules.

Pure (bytes in, events out): UTF-8 across chunk boundaries, a leading BOM, CRLF / CR / LF line
ends (a CRLF split between chunks is one line end), ``:`` comments, multi-line ``data``,
``event``, ``id`` (kept across events; ignored if it contains NUL) and ``retry``.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

_EOL = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class SseEvent:
    type: str
    data: str
    last_event_id: str


class SseParser:
    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._started = False
        self._skip_lf = False
        self._data: list[str] = []
        self._event = ""
        self.last_event_id = ""
        #: The last valid ``retry:`` value, in milliseconds.
        self.retry_ms: int | None = None

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """Parse the next piece of the stream; return the events it completes."""
        text = self._decoder.decode(chunk)
        if not text:
            return []
        if not self._started:
            self._started = True
            if text.startswith("\ufeff"):
                text = text[1:]
        if self._skip_lf:
            self._skip_lf = False
            if text.startswith("\n"):
                text = text[1:]
        buffer = self._pending + text
        events: list[SseEvent] = []
        pos = 0
        for match in _EOL.finditer(buffer):
            event = self._line(buffer[pos:match.start()])
            if event is not None:
                events.append(event)
            pos = match.end()
        # A CR at the very end may be the first half of a CRLF: the LF, if it comes, is not a line.
        self._skip_lf = pos == len(buffer) and buffer.endswith("\r")
        self._pending = buffer[pos:]
        return events

    def _line(self, line: str) -> SseEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> SseEvent | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None
        return SseEvent(event or "message", "\n".join(data), self.last_event_id)
