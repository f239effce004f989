"""The ``atoms`` command: serve, token, config show, audit export."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from atoms_core.config.settings import ConfigError, Settings, load_settings
from atoms_core.config.vault import SecretError, loader_for, redacted


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    cli = {"data_dir": getattr(args, "data_dir", None), "host": getattr(args, "host", None),
           "port": getattr(args, "port", None), **extra}
    return load_settings(getattr(args, "config", None), cli)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from atoms_core.logs import configure
    from atoms_core.main import build_context, create_app

    settings = _settings(args, demo=True if args.demo else None, engine=args.engine)
    configure(settings.log_level)
    ctx = build_context(settings)
    if settings.demo:
        from atoms_core.demo import mount_demo

        mount_demo(ctx)
    app = create_app(settings, ctx)

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: Any = None) -> None:
            # End SSE streams first so clients resume elsewhere; uvicorn then drains and exits.
            ctx.hub.close_all()
            await super().shutdown(sockets)

    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None,
                            timeout_graceful_shutdown=5, ws_max_size=settings.ws_max_frame_bytes,
                            lifespan="on", access_log=False, server_header=False)
    Server(config).run()
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from atoms_core.identity.keys import load_keyring
    from atoms_core.identity.tickets import mint_identity_token

    settings = _settings(args)
    keys = load_keyring(settings, loader_for(settings))
    roles = [r for r in (args.roles or "").split(",") if r]
    print(mint_identity_token(settings, keys, args.tenant, args.principal, roles, args.ttl))
    return 0


def cmd_config_show(args: argparse.Namespace) -> int:
    print(json.dumps(redacted(_settings(args)), indent=2, sort_keys=True))
    return 0


def cmd_audit_export(args: argparse.Namespace) -> int:
    from atoms_core.audit import export

    settings = _settings(args)
    for event in export(settings.data_dir / "audit", args.tenant, args.since):
        sys.stdout.write(event.model_dump_json() + "\n")
    return 0


def cmd_tail(args: argparse.Namespace) -> int:
    from atoms_core.client.console import tail

    return tail(args)


def cmd_post(args: argparse.Namespace) -> int:
    from atoms_core.client.console import post

    return post(args)


def cmd_agent(args: argparse.Namespace) -> int:
    from atoms_core.client.console import agent

    return agent(args)


def _tenant_id(value: str) -> str:
    from atoms_core.identity.principal import TENANT_ID, is_tenant_id

    if not is_tenant_id(value):
        raise argparse.ArgumentTypeError(f"a tenant id matches {TENANT_ID.pattern} (not sha256-<hex>)")
    return value


def _principal_id(value: str) -> str:
    from atoms_core.identity.principal import is_principal_id

    if not is_principal_id(value):
        raise argparse.ArgumentTypeError("a principal id is 1-256 of A-Z a-z 0-9 . _ ~ @ : | / + = - and inner spaces")
    return value


def _client_common(parser: argparse.ArgumentParser, principal: str) -> None:
    _common(parser)
    parser.add_argument("--url", default=None, help="server base URL (default: configured host and port)")
    parser.add_argument("--token", default=None, help="identity JWT (default: minted from local dev keys)")
    parser.add_argument("--tenant", type=_tenant_id, default="demo", help="tenant of a minted token (default demo)")
    parser.add_argument("--principal", type=_principal_id, default=principal,
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
    serve.set_defaults(func=cmd_serve)

    token = sub.add_parser("token", help="print an identity JWT the server accepts (dev keys)")
    _common(token)
    token.add_argument("--tenant", type=_tenant_id, required=True)
    token.add_argument("--principal", type=_principal_id, required=True)
    token.add_argument("--roles", default="")
    token.add_argument("--ttl", type=int, default=3600)
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
    exp.add_argument("--tenant", type=_tenant_id, required=True)
    exp.add_argument("--since", default=None, help="ISO 8601 timestamp")
    exp.set_defaults(func=cmd_audit_export)

    tail = sub.add_parser("tail", help="follow a stream's events live (resumes after restarts)")
    _client_common(tail, "cli")
    tail.add_argument("stream", help="stream id, e.g. canvas:demo")
    tail.add_argument("--json", action="store_true", help="print raw EventEnvelopes as NDJSON")
    tail.set_defaults(func=cmd_tail)

    post = sub.add_parser("post", help="send one command to a stream")
    _client_common(post, "cli")
    post.add_argument("stream", help="stream id, e.g. canvas:demo")
    post.add_argument("type", help="command type, e.g. chat.post")
    post.add_argument("payload", help='JSON payload, e.g. \'{"role": "user", "text": "hi"}\'')
    post.set_defaults(func=cmd_post)

    agent = sub.add_parser("agent", help="the demo agent: stream a reply to each new user chat message")
    _client_common(agent, "agent")
    agent.add_argument("--stream", required=True, help="stream id, e.g. canvas:demo")
    agent.add_argument("--delay", type=float, default=0.03, help="seconds between reply tokens")
    agent.set_defaults(func=cmd_agent)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
        return result
    except (ConfigError, SecretError) as exc:
        print(f"atoms: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
