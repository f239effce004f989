"""docs/protocol.md and docs/operations.md list every metric, config key and code the service has, so
a limit, code or metric added without its doc line fails here rather than surprising an operator."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from atoms_core.config.settings import Settings
from atoms_core.protocol.codes import CLOSE_RULES, CODES, ResyncReason, WsErrorCode
from servers import AtomsServer

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = (ROOT / "docs" / "protocol.md").read_text()
OPERATIONS = (ROOT / "docs" / "operations.md").read_text()

#: Keys an operator sets for a deployment (where it listens, which store, secrets, the agent) that no
#: rule of the protocol depends on: documented in operations.md only.
DEPLOYMENT_ONLY = {
    "host", "port", "data_dir", "redis_url", "sqlite_synchronous", "allow_empty_store", "log_level", "node_id",
    "demo", "demo_dist", "demo_max_agents", "jwt_issuer", "jwt_audience", "ticket_key", "sse_replay_page",
    "s3_bucket", "s3_endpoint_url", "s3_region", "s3_access_key_id", "s3_secret_access_key",
    "agent_provider", "agent_model", "agent_api_key", "agent_base_url", "agent_openai_api", "agent_max_output",
    "vault_addr", "vault_token", "vault_mount",
}


def named(doc: str, name: str) -> bool:
    """``name`` as a whole word of the doc (``atoms_x_total`` does not count inside ``atoms_x_total_y``)."""
    return re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", doc) is not None


def backticked(doc: str) -> set[str]:
    """Every name the doc quotes in backticks, splitting ``a, b`` and ``code: "x"`` forms into names."""
    return {word for span in re.findall(r"`([^`]+)`", doc) for word in re.findall(r"[A-Za-z_][\w.]*", span)}


def served_metrics(server: AtomsServer) -> set[str]:
    """The metric families a running server exposes, minus the ``_created`` twin of each counter."""
    text = httpx.get(f"{server.url}/metrics").text
    families = set(re.findall(r"^# TYPE (\S+) \w+$", text, re.M))
    return {name for name in families
            if not (name.endswith("_created") and name.removesuffix("_created") + "_total" in families)}


def test_every_metric_a_server_exposes_is_in_both_docs(shared_server: AtomsServer) -> None:
    metrics = served_metrics(shared_server)
    assert "atoms_commands_total" in metrics and len(metrics) >= 10
    assert sorted(m for m in metrics if not named(PROTOCOL, m)) == []
    assert sorted(m for m in metrics if not named(OPERATIONS, m)) == []


def test_every_config_key_has_a_row_in_the_operations_table() -> None:
    rows = backticked("\n".join(line.split("|")[1] for line in OPERATIONS.splitlines() if line.startswith("| `")))
    assert sorted(set(Settings.model_fields) - rows) == []


def test_every_key_a_rule_depends_on_is_in_the_protocol() -> None:
    assert sorted(DEPLOYMENT_ONLY - set(Settings.model_fields)) == [], "a key listed here that is gone"
    quoted = backticked(PROTOCOL)
    assert sorted(k for k in Settings.model_fields if k not in DEPLOYMENT_ONLY and k not in quoted) == []


def test_every_problem_code_is_in_the_protocol() -> None:
    assert sorted(set(CODES) - backticked(PROTOCOL)) == []


def test_every_ws_error_code_and_resync_reason_is_in_the_protocol() -> None:
    assert sorted({str(c) for c in WsErrorCode} - backticked(PROTOCOL)) == []
    assert sorted({str(r) for r in ResyncReason} - backticked(PROTOCOL)) == []


def test_the_close_code_rule_names_exactly_the_fatal_codes_as_fatal() -> None:
    rule = re.search(r"^- Close codes.*?(?=\n\n|\n- )", PROTOCOL, re.M | re.S)
    assert rule, "protocol.md has a '- Close codes' bullet in its WebSocket section"
    fatal, _, retryable = rule.group(0).partition("Retryable")
    fatal = fatal.partition("Fatal")[2]

    def codes(text: str) -> set[int]:
        return {int(n) for n in re.findall(r"(?<![\w/])(?:1\d{3}|4\d{3})(?![\w/])", text)}

    assert codes(fatal) == {int(c) for c, rule in CLOSE_RULES.items() if not rule.reconnect}
    assert codes(retryable) == {int(c) for c, rule in CLOSE_RULES.items() if rule.reconnect}
