"""The Python client of atoms-core: follow a stream over SSE with a materialised state, send
commands with idempotent retries, stream tokens in batches, write a model's streamed answer into a
chat message (OpenAI and Anthropic adapters), and share presence over WebSocket."""

from atoms_core.client.api import AtomsClient
from atoms_core.client.backoff import Backoff
from atoms_core.client.commands import envelope
from atoms_core.client.errors import ClientError, CommandError, ProblemError, ProtocolError
from atoms_core.client.presence import Presence
from atoms_core.client.providers import ProviderError, from_anthropic, from_openai_chat, from_openai_responses
from atoms_core.client.reply import ChatReply, Finish, ReplyEvent, ReplyOutcome, TextDelta, ToolCall
from atoms_core.client.session import GetToken, Session
from atoms_core.client.sse import SseEvent, SseParser
from atoms_core.client.subscribe import Control, Item, Subscription
from atoms_core.client.sync import SyncClient
from atoms_core.client.tokens import TokenStreamer
from atoms_core.client.view import DivergedError, GapError, StateView

__all__ = [
    "AtomsClient",
    "Backoff",
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
    "Session",
    "SseEvent",
    "SseParser",
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
