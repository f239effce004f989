"""Export the contract models as JSON Schema (``make schemas``); ``--check`` fails if they are stale."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from atoms_core.protocol import wire
from atoms_core.protocol.codes import (
    CLOSE_RULES,
    CODES,
    RESYNC_MEANINGS,
    WS_ERROR_MEANINGS,
    CloseCode,
    ResyncReason,
    WsErrorCode,
)
from atoms_core.protocol.contracts import SCHEMA_MODELS
from atoms_core.protocol.ids import PATTERNS, anchored

#: Every exported model: the contracts and the SSE messages.
MODELS = {**SCHEMA_MODELS, **wire.SCHEMA_MODELS}

CLIENT_SENT = frozenset({"CommandEnvelope", "TicketRequest", "StatePatchPayload", "ChatPostPayload",
                         "TokenAppendPayload", "LogAppendPayload", "MediaValue", "WsPresenceUpdate", "WsCursor",
                         "WsGesture", "WsPing"})


def problem_codes() -> dict[str, object]:
    """The ``code`` of a problem+json body: every stable code, and in ``x-status`` its HTTP status."""
    return {"title": "ProblemCode", "type": "string", "enum": sorted(CODES),
            "x-status": {code: status for code, (status, _) in CODES.items()}}


def close_codes() -> dict[str, object]:
    """The WebSocket close codes; ``x-close`` gives each one's name, meaning and whether to reconnect."""
    return {"title": "CloseCode", "type": "integer", "enum": sorted(CloseCode),
            "x-close": {code.name: {"code": int(code), "reconnect": rule.reconnect, "meaning": rule.meaning}
                        for code, rule in CLOSE_RULES.items()}}


def resync_reasons() -> dict[str, object]:
    """The ``reason`` of a ``resync`` event; ``x-meaning`` says when each is sent."""
    return {"title": "ResyncReason", "type": "string", "enum": list(ResyncReason),
            "x-meaning": {str(reason): meaning for reason, meaning in RESYNC_MEANINGS.items()}}


def ws_error_codes() -> dict[str, object]:
    """The ``code`` of a WebSocket ``error`` frame; ``x-meaning`` says when each is sent."""
    return {"title": "WsErrorCode", "type": "string", "enum": list(WsErrorCode),
            "x-meaning": {str(code): meaning for code, meaning in WS_ERROR_MEANINGS.items()}}


# --- id patterns (issue 14: defined once in protocol/ids.py, generated for atoms-ui) ---
def id_patterns() -> dict[str, object]:
    """``Ids.json``: every id charset as a ``$defs`` string schema, for clients to generate or ``$ref``."""
    defs = {"".join(word.title() for word in name.split("_")): {"type": "string", "pattern": anchored(pattern)}
            for name, pattern in PATTERNS.items()}
    return {"title": "Ids", "description": "The id charsets of the protocol (atoms_core.protocol.ids).",
            "$defs": defs}
# --- end id patterns ---


def render() -> dict[str, str]:
    # What the server reads is described as validated (defaults optional); what it sends, as
    # serialized (every field present), so generated client types match the wire both ways.
    schemas = {
        name: model.model_json_schema(mode="validation" if name in CLIENT_SENT else "serialization")
        for name, model in MODELS.items()
    }
    schemas["ProblemCode"] = problem_codes()
    schemas["CloseCode"] = close_codes()
    schemas["ResyncReason"] = resync_reasons()
    schemas["WsErrorCode"] = ws_error_codes()
    schemas["Ids"] = id_patterns()
    return {f"{name}.json": json.dumps(schema, indent=2, sort_keys=True) + "\n" for name, schema in schemas.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    wanted = render()
    if args.check:
        stale = [name for name, text in wanted.items()
                 if not (args.folder / name).exists() or (args.folder / name).read_text() != text]
        extra = sorted(p.name for p in args.folder.glob("*.json") if p.name not in wanted)
        if stale or extra:
            print(f"schemas are stale: {', '.join(stale + extra)}; run `make schemas`", file=sys.stderr)
            return 1
        return 0
    args.folder.mkdir(parents=True, exist_ok=True)
    for stale in args.folder.glob("*.json"):
        if stale.name not in wanted:
            stale.unlink()
    for name, text in wanted.items():
        (args.folder / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
