"""The Python client of atoms-core: follow a stream over SSE with a materialised state, send
commands with idempotent retries, stream tokens in batches, write a model's streamed answer into a
chat message (OpenAI and Anthropic adapters), and share presence over WebSocket.

Only the names in ``__all__`` are the public API (pinned by tests/client/test_exported_members.py);
the SSE parser, the backoff and the HTTP session are internals and may change.
"""

from atoms_core.client.api import AtomsClient
from atoms_core.client.commands import envelope
from atoms_core.client.errors import (
    ClientError,
    CommandError,
    DivergedError,
    GapError,
    ProblemError,
    ProtocolError,
    ProviderError,
)
from atoms_core.client.presence import Presence
from atoms_core.client.providers import from_anthropic, from_openai_chat, from_openai_responses
from atoms_core.client.reply import ChatReply, Finish, ReplyEvent, ReplyOutcome, TextDelta, ToolCall
from atoms_core.client.session import GetToken
from atoms_core.client.subscribe import Control, Item, Subscription
from atoms_core.client.sync import SyncClient
from atoms_core.client.tokens import TokenStreamer
from atoms_core.client.view import StateView

__all__ = [
    "AtomsClient",
    "ChatReply",
    "ClientError",
    "CommandError",
    "Control",
    "DivergedError",
    "Finish",
    "GapError",
    "GetToken",
    "Item",
    "Presence",
    "ProblemError",
    "ProtocolError",
    "ProviderError",
    "ReplyEvent",
    "ReplyOutcome",
    "StateView",
    "Subscription",
    "SyncClient",
    "TextDelta",
    "TokenStreamer",
    "ToolCall",
    "envelope",
    "from_anthropic",
    "from_openai_chat",
    "from_openai_responses",
]
