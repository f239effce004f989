"""A blocking facade for scripts: an ``AtomsClient`` on a private event-loop thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterable, Iterator
from types import TracebackType
from typing import Any, TypeVar

from atoms_core.client.api import AtomsClient
from atoms_core.client.session import GetToken
from atoms_core.client.subscribe import Subscription
from atoms_core.client.view import StateView
from atoms_core.protocol.contracts import CommandResult
from atoms_core.protocol.wire import EventEnvelope

T = TypeVar("T")


class SyncClient:
    def __init__(self, base_url: str, get_token: GetToken, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="atoms-client", daemon=True)
        self._thread.start()

        async def make() -> AtomsClient:
            return AtomsClient(base_url, get_token, **options)

        self.client = self.run(make())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine of ``self.client`` on the client's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def command(self, stream_id: str, type: str, payload: dict[str, Any], **options: Any) -> CommandResult:
        return self.run(self.client.command(stream_id, type, payload, **options))

    def state(self, stream_id: str) -> dict[str, Any]:
        return self.run(self.client.state(stream_id))

    def stream_text(self, stream_id: str, target: str, pieces: Iterable[str], **options: Any) -> int:
        """Stream ``pieces`` into the string at ``target`` with a final marker; return the request count."""

        async def stream() -> int:
            async with self.client.token_streamer(stream_id, target, **options) as streamer:
                for piece in pieces:
                    streamer.write(piece)
                    await asyncio.sleep(0)
            return streamer.requests

        return self.run(stream())

    def subscribe(self, stream_id: str) -> SyncSubscription:
        """Connect now (the view holds the current state on return); iterate for the events after it."""
        return SyncSubscription(self, stream_id)

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self.run(self.client.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class SyncSubscription:
    """A blocking ``Subscription``: ``for event in sub`` yields durable events; ``view`` is the state."""

    def __init__(self, client: SyncClient, stream_id: str) -> None:
        self._run = client.run
        self._subscription: Subscription = client.client.subscribe(stream_id)
        self._items = self._subscription.items()
        while not self._subscription.view.has_state:
            self._run(anext(self._items))

    @property
    def view(self) -> StateView:
        return self._subscription.view

    def __iter__(self) -> Iterator[EventEnvelope]:
        return self

    def __next__(self) -> EventEnvelope:
        while True:
            item = self._run(anext(self._items))
            if isinstance(item, EventEnvelope):
                return item

    def close(self) -> None:
        self._run(self._subscription.aclose())

    def __enter__(self) -> SyncSubscription:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
