"""The materialised state of one stream as a client sees it, kept by the server's own rules.

Durable events go through ``atoms_core.protocol.state.apply_event`` — the function the server uses
— so the client's document is the server's document. A ``state_snapshot`` replaces everything;
after a ``resync`` events are discarded until the fresh snapshot arrives.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from atoms_core.client.errors import DivergedError, GapError
from atoms_core.protocol.errors import AtomsError
from atoms_core.protocol.state import StreamState, apply_event
from atoms_core.protocol.wire import EventEnvelope


class StateView:
    def __init__(self) -> None:
        self._state = StreamState()
        self.has_state = False
        self.awaiting_snapshot = False

    @property
    def doc(self) -> dict[str, Any]:
        return self._state.doc

    @property
    def seq(self) -> int:
        return self._state.seq

    @property
    def version(self) -> int:
        return self._state.version

    def reset(self, doc: dict[str, Any], seq: int, version: int) -> None:
        """A ``state_snapshot``: the document at ``seq`` replaces whatever was here."""
        self._state = StreamState(doc, seq, version)
        self.has_state = True
        self.awaiting_snapshot = False

    def begin_resync(self) -> None:
        """A ``resync``: history is gone; hold still until the snapshot that follows."""
        self.awaiting_snapshot = True

    def apply(self, envelope: EventEnvelope) -> bool:
        """Apply the next event; False for one already applied or one a pending snapshot covers.

        Raises ``GapError`` if events are missing and ``DivergedError`` if the event does not apply.
        """
        if not self.has_state or self.awaiting_snapshot or envelope.seq <= self.seq:
            return False
        if envelope.seq != self.seq + 1:
            raise GapError(self.seq + 1, envelope.seq)
        try:
            state = apply_event(self._state, envelope.seq, envelope.type.value, envelope.data)
        except (AtomsError, KeyError, TypeError) as exc:
            what = f"event {envelope.seq} ({envelope.type.value})"
            raise DivergedError(f"{what} does not apply: {exc}") from exc
        self._state = replace(state, version=envelope.version)
        return True
