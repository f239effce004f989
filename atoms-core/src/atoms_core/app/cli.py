"""The ``atoms`` command: serve, token, config show, audit export, tail, post, agent.

Arguments are validated before anything runs (a bad one is a usage error, exit 2); output is
pipe-safe (``atoms audit export … | head`` ends quietly).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from atoms_core.app.cli_args import (
    base_url,
    grant,
    iso_timestamp,
    principal_id,
    seconds,
    stream_id,
    tenant_id,
    ttl_seconds,
)
from atoms_core.app.extras import check_extras
from atoms_core.config.settings import ConfigError, Settings, load_settings
from atoms_core.config.vault import SecretError, loader_for, redacted
from atoms_core.protocol.timeline import StoreUnavailable


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    cli = {"data_dir": getattr(args, "data_dir", None), "host": getattr(args, "host", None),
           "port": getattr(args, "port", None), **extra}
    settings = load_settings(getattr(args, "config", None), cli)
    check_extras(settings)
    return settings


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from atoms_core.app.datadir import lock_data_dir, name_holder
    from atoms_core.app.main import build_context, create_app
    from atoms_core.app.startup import bound_port, check_listen, public_url, startup_line
    from atoms_core.endpoints.logs import configure

    settings = _settings(args, demo=True if args.demo else None, engine=args.engine,
                         allow_empty_store=True if args.allow_empty_store else None)
    # The embedded SQLite timeline has one owner; redis nodes may share a data dir (its keys).
    lock = lock_data_dir(settings.data_dir, public_url(settings)) if settings.engine == "sqlite" else None
    check_listen(settings.host, settings.port)
    configure(settings.log_level)
    ctx = build_context(settings)  # with --demo, the demo's routes and agents too
    app = create_app(settings, ctx)

    class Server(uvicorn.Server):
        async def serve(self, sockets: Any = None) -> None:
            # Open the store before anything listens: a refused data dir ends the command with one line.
            await ctx.store.open()
            await super().serve(sockets)

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            uvicorn_log.setLevel(logging.NOTSET)
            if not self.should_exit:
                if lock is not None:
                    name_holder(lock, public_url(settings, bound_port(settings, self.servers)))
                print(startup_line(settings, self.servers), flush=True)

        async def shutdown(self, sockets: Any = None) -> None:
            # End SSE streams first so clients resume elsewhere; uvicorn then drains and exits.
            ctx.hub.close_all()
            await super().shutdown(sockets)

    # Our startup line replaces uvicorn's four; its warnings and errors still show.
    uvicorn_log = logging.getLogger("uvicorn.error")
    uvicorn_log.setLevel(logging.WARNING)
    # interface: AtomsApp's layers return awaitables rather than being coroutine functions (asgi.py),
    # which uvicorn's guess would take for ASGI 2. Proxy headers: AtomsApp applies them where they are
    # read (uvicorn would wrap every request, each open SSE stream too, in one more coroutine).
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None, interface="asgi3",
                            timeout_graceful_shutdown=5, ws_max_size=settings.ws_max_frame_bytes,
                            lifespan="on", access_log=False, server_header=False, proxy_headers=False)
    app.trust_forwarded(config.forwarded_allow_ips)
    Server(config).run()
    if lock is not None:
        lock.close()
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from atoms_core.identity.keys import load_keyring
    from atoms_core.identity.tickets import mint_identity_token

    settings = _settings(args)
    keys = load_keyring(settings, loader_for(settings))
    roles = [r for r in (args.roles or "").split(",") if r]
    grants = dict(args.grant) if args.grant else None
    print(mint_identity_token(settings, keys, args.tenant, args.principal, roles, args.ttl, grants))
    return 0


def cmd_config_show(args: argparse.Namespace) -> int:
    print(json.dumps(redacted(_settings(args)), indent=2, sort_keys=True))
    return 0


def cmd_audit_export(args: argparse.Namespace) -> int:
    from atoms_core.stores.audit import export

    settings = _settings(args)
    audit_dir = settings.data_dir / "audit"
    if not audit_dir.is_dir():
        print(f"atoms audit export: no audit log in {settings.data_dir} (is --data-dir the server's?)",
              file=sys.stderr)
        return 1
    for event in export(audit_dir, args.tenant, args.since):
        sys.stdout.write(event.model_dump_json() + "\n")
    return 0


def cmd_tail(args: argparse.Namespace) -> int:
    from atoms_core.app.console import tail

    return tail(args)


def cmd_post(args: argparse.Namespace) -> int:
    from atoms_core.app.console import post

    return post(args)


def cmd_agent(args: argparse.Namespace) -> int:
    from atoms_core.app.console import agent

    return agent(args)


def cmd_revoke(args: argparse.Namespace) -> int:
    from atoms_core.app.console import revoke

    return revoke(args)


def _client_common(parser: argparse.ArgumentParser, principal: str) -> None:
    _common(parser)
    parser.add_argument("--url", type=base_url, default=None,
                        help="server base URL, e.g. http://127.0.0.1:8000 (default: configured host and port)")
    parser.add_argument("--token", default=None, help="identity JWT (default: minted from local dev keys)")
    parser.add_argument("--tenant", type=tenant_id, default="demo", help="tenant of a minted token (default demo)")
    parser.add_argument("--principal", type=principal_id, default=principal,
                        help=f"principal of a minted token ({principal})")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", dest="data_dir", default=None, help="data directory (default ./atoms-data)")
    parser.add_argument("--config", default=None, help="TOML config file (or ATOMS_CONFIG)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atoms", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the service")
    _common(serve)
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--engine", choices=["memory", "sqlite", "redis"], default=None)
    serve.add_argument("--demo", action="store_true", help="serve the demo canvas at / with a dev identity")
    serve.add_argument("--allow-empty-store", action="store_true",
                       help="start although timeline.db is missing, empty or another data dir's (begins anew)")
    serve.set_defaults(func=cmd_serve)

    token = sub.add_parser("token", help="print an identity JWT the server accepts (dev keys)")
    _common(token)
    token.add_argument("--tenant", type=tenant_id, required=True)
    token.add_argument("--principal", type=principal_id, required=True)
    token.add_argument("--roles", default="", help="comma-separated roles (role_scopes; none: default_scopes)")
    token.add_argument("--grant", type=grant, action="append", metavar="STREAM=SCOPES",
                       help="limit the token to this stream id or prefix* with these comma-separated scopes "
                            "(repeatable)")
    token.add_argument("--ttl", type=ttl_seconds, default=3600, help="lifetime in seconds (default 3600)")
    token.set_defaults(func=cmd_token)

    config = sub.add_parser("config", help="configuration")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    show = config_sub.add_parser("show", help="print the effective configuration, secrets redacted")
    _common(show)
    show.set_defaults(func=cmd_config_show)

    audit = sub.add_parser("audit", help="the DatasetEvent audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    exp = audit_sub.add_parser("export", help="print a tenant's DatasetEvents as NDJSON")
    _common(exp)
    exp.add_argument("--tenant", type=tenant_id, required=True)
    exp.add_argument("--since", type=iso_timestamp, default=None,
                     help="ISO 8601 date or time, e.g. 2026-12-01 or 2026-12-01T08:00:00Z (UTC if no offset)")
    exp.set_defaults(func=cmd_audit_export)

    tail = sub.add_parser("tail", help="follow a stream's events live (resumes after restarts)")
    _client_common(tail, "cli")
    tail.add_argument("stream", type=stream_id, help="stream id, e.g. canvas:demo")
    tail.add_argument("--json", action="store_true", help="print raw EventEnvelopes as NDJSON")
    tail.set_defaults(func=cmd_tail)

    post = sub.add_parser("post", help="send one command to a stream")
    _client_common(post, "cli")
    post.add_argument("stream", type=stream_id, help="stream id, e.g. canvas:demo")
    post.add_argument("type", help="command type, e.g. chat.post")
    post.add_argument("payload", help='JSON payload, e.g. \'{"role": "user", "text": "hi"}\'')
    post.set_defaults(func=cmd_post)

    agent = sub.add_parser("agent", help="stream a model's reply to each new user chat message (demo: no model)")
    _client_common(agent, "agent")
    agent.add_argument("--stream", type=stream_id, required=True, help="stream id, e.g. canvas:demo")
    agent.add_argument("--delay", type=seconds, default=0.03, help="demo: seconds between reply tokens")
    agent.add_argument("--provider", choices=["demo", "openai", "anthropic"], default=None,
                       help="who answers (default: agent_provider, demo)")
    agent.add_argument("--model", default=None, help="model name (default: agent_model)")
    agent.add_argument("--openai-api", dest="openai_api", choices=["chat", "responses"], default=None,
                       help="openai: Chat Completions (any OpenAI-compatible server) or Responses")
    agent.set_defaults(func=cmd_agent)

    revoke = sub.add_parser("revoke", help="revoke a principal's tokens and tickets on a running server (admin)")
    _client_common(revoke, "admin")
    revoke.add_argument("target", type=principal_id, help="the principal whose credentials end")
    revoke.add_argument("--jti", default=None, help="only the token or ticket with this jti")
    revoke.set_defaults(func=cmd_revoke)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
        sys.stdout.flush()
        return result
    except (ConfigError, SecretError, StoreUnavailable) as exc:
        print(f"atoms: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly; stdout is pointed at /dev/null so the
        # interpreter's final flush does not complain either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
