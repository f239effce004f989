"""The terminal side of the client: ``atoms tail``, ``atoms post``, ``atoms agent`` and ``atoms revoke``.

Each command talks to a server at ``--url`` (default: the configured host and port) with
``--token`` or, without one, an identity JWT minted from the local dev keys (``--data-dir``,
``--tenant``, ``--principal``; with the ``admin`` role for ``revoke``). Ctrl-C ends a command quietly
with exit code 130.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TextIO

from atoms_core.client.api import AtomsClient
from atoms_core.client.errors import ClientError, ProblemError
from atoms_core.client.models import Model
from atoms_core.client.subscribe import Control
from atoms_core.config.settings import ConfigError, load_settings
from atoms_core.protocol.wire import EventEnvelope

SUMMARY_WIDTH = 100


def client_from_args(args: argparse.Namespace) -> AtomsClient:
    settings = load_settings(args.config, {"data_dir": args.data_dir})
    url = args.url or f"http://{settings.host}:{settings.port}"
    if args.token:
        token: str = args.token
        return AtomsClient(url, lambda: token)
    from atoms_core.config.vault import loader_for
    from atoms_core.identity.keys import load_keyring
    from atoms_core.identity.tickets import mint_identity_token

    keys = load_keyring(settings, loader_for(settings))
    # Minted per request (a cheap HMAC), so a long-running agent never holds an expired token.
    roles = ["admin"] if args.command == "revoke" else []
    return AtomsClient(url, lambda: mint_identity_token(settings, keys, args.tenant, args.principal, roles, 3600))


def run(args: argparse.Namespace, main: Callable[[AtomsClient], Coroutine[Any, Any, int]]) -> int:
    """Run ``main`` with a client; a refused or unanswered request is one line on stderr, Ctrl-C exits 130."""
    client = client_from_args(args)

    async def go() -> int:
        async with client:
            return await main(client)

    try:
        return asyncio.run(go())
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except ClientError as err:
        unreachable = isinstance(err, ProblemError) and err.status == 0
        where = f" (is the server at {client.session.base_url} running?)" if unreachable else ""
        print(f"atoms {args.command}: {err}{where}", file=sys.stderr)
        return 1


def print_problem(err: ProblemError) -> int:
    """The server's problem+json on stderr, exit 1; no answer at all is ``run``'s one line instead."""
    if err.status == 0:
        raise err
    print(json.dumps(err.problem or {"code": err.code, "detail": err.detail}), file=sys.stderr)
    return 1


# --- atoms tail ------------------------------------------------------------------------------


def clip(text: str, width: int = SUMMARY_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def value_summary(value: Any) -> str:
    """A chat message reads as ``role: "text"``; anything else as compact JSON."""
    if isinstance(value, dict) and isinstance(value.get("role"), str) and isinstance(value.get("text"), str):
        return f"{value['role']}: {compact(value['text'])}"
    return compact(value)


def summary(event: EventEnvelope) -> str:
    """One readable line of what an event did."""
    data = event.data
    if event.type.value == "state_patch":
        parts = []
        for op in data.get("ops", []):
            part = f"{op.get('op')} {op.get('path')}"
            if "value" in op:
                part += f" = {value_summary(op['value'])}"
            elif "from" in op:
                part += f" from {op['from']}"
            parts.append(part)
        return clip("; ".join(parts))
    if event.type.value == "token_patch":
        final = " (final)" if data.get("final") else ""
        return clip(f"{data.get('target')} #{data.get('index')} += {compact(data.get('delta'))}{final}")
    if event.type.value == "log":
        return clip(f"[{data.get('level')}] {data.get('message')}")
    if event.type.value == "snapshot_created":
        return f"state at seq {data.get('seq')} (version {data.get('version')}), {data.get('size')} bytes"
    return clip(compact(data))


def control_line(item: Control) -> str:
    data = item.data
    if item.kind == "hello":
        return f"· connected: head seq {data.get('head_seq')}, version {data.get('version')}"
    if item.kind == "state_snapshot":
        return f"· snapshot at seq {data.get('seq')} (version {data.get('version')})"
    if item.kind == "resync":
        return f"· resync ({data.get('reason')}): a fresh snapshot follows"
    return f"· disconnected: {data.get('reason')}; resuming after seq {data.get('seq')}"


def event_line(event: EventEnvelope) -> str:
    return f"{event.seq:>6}  {event.type.value:<16} {event.actor:<12} {summary(event)}"


async def tail_stream(client: AtomsClient, stream_id: str, as_json: bool, out: TextIO) -> int:
    async with client.subscribe(stream_id) as sub:
        async for item in sub.items():
            if isinstance(item, EventEnvelope):
                out.write((item.model_dump_json() if as_json else event_line(item)) + "\n")
            else:
                print(control_line(item), file=sys.stderr if as_json else out)
            out.flush()
    return 0


def tail(args: argparse.Namespace) -> int:
    return run(args, lambda client: tail_stream(client, args.stream, args.json, sys.stdout))


# --- atoms post ------------------------------------------------------------------------------


def post(args: argparse.Namespace) -> int:
    try:
        payload = json.loads(args.payload)
    except ValueError as exc:
        print(f"atoms post: JSON payload: {exc}", file=sys.stderr)
        return 2
    if not isinstance(payload, dict):
        print("atoms post: the payload must be a JSON object", file=sys.stderr)
        return 2

    async def send(client: AtomsClient) -> int:
        try:
            result = await client.command(args.stream, args.type, payload)
        except ProblemError as err:
            return print_problem(err)
        print(result.model_dump_json())
        return 0

    return run(args, send)


# --- atoms agent -----------------------------------------------------------------------------


def agent_model(args: argparse.Namespace) -> Model:
    """The model of ``--provider`` (else ``agent_provider``), its key resolved from config or left to the SDK."""
    from atoms_core.client.models import make_model
    from atoms_core.config.vault import loader_for

    settings = load_settings(args.config, {"data_dir": args.data_dir, "agent_provider": args.provider,
                                           "agent_model": args.model, "agent_openai_api": args.openai_api})
    key = loader_for(settings).resolve(settings.agent_api_key).reveal() if settings.agent_api_key else None
    try:
        return make_model(settings.agent_provider, settings.agent_model, api_key=key,
                          base_url=settings.agent_base_url or None, openai_api=settings.agent_openai_api,
                          max_tokens=settings.agent_max_output, delay=args.delay)
    except (ValueError, RuntimeError) as exc:
        raise ConfigError(str(exc)) from None


def agent(args: argparse.Namespace) -> int:
    from atoms_core.client.agent import ChatAgent

    model = agent_model(args)

    def log(line: str) -> None:
        print(f"atoms agent: {line}", file=sys.stderr, flush=True)

    async def serve(client: AtomsClient) -> int:
        await ChatAgent(client, args.stream, args.delay, log, model, args.principal).run()
        return 0

    return run(args, serve)


# --- atoms revoke ----------------------------------------------------------------------------


def revoke(args: argparse.Namespace) -> int:
    async def send(client: AtomsClient) -> int:
        try:
            result = await client.revoke(args.target, args.jti)
        except ProblemError as err:
            return print_problem(err)
        print(json.dumps(result))
        return 0

    return run(args, send)
