"""Every id charset of the protocol, defined once (contract §2): stream ids, artifact ids, tenant and
principal ids. ``atoms_core.app.schemas`` exports these patterns to ``docs/schemas/Ids.json``, from
which atoms-ui generates its own copies, so server and clients can never disagree on what an id is.

The ``*_PATTERN`` strings are unanchored (match them with ``fullmatch``); ``anchored`` gives the
``^…$`` form JSON Schema and JavaScript expect.
"""

from __future__ import annotations

import re

#: What follows ``thread:``, ``canvas:`` or ``run:``: a path segment and a storage key as it is.
STREAM_ID_PART_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
STREAM_KINDS = ("thread", "canvas", "run")
#: A prefixed stream id, as found in URLs, tickets and envelopes.
STREAM_ID_PATTERN = rf"({'|'.join(STREAM_KINDS)}):{STREAM_ID_PART_PATTERN}"
#: Artifact ids are path segments and storage keys: no dots, so no traversal is possible.
ARTIFACT_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}"
#: Tenant ids name storage as they are, so they get the strict charset of stream ids.
TENANT_ID_PATTERN = STREAM_ID_PART_PATTERN
#: Room for IdP subjects such as ``auth0|5f7c8e``, ``user@example.com``, ``repo:org/app:ref:main``
#: and the demo's ``guest:Ada Lovelace``: a space only inside, so ``alice `` never passes for ``alice``.
PRINCIPAL_ID_PATTERN = r"[A-Za-z0-9](?:[A-Za-z0-9 ._~@:|/+=-]{0,254}[A-Za-z0-9._~@:|/+=-])?"

STREAM_ID_PART = re.compile(STREAM_ID_PART_PATTERN)
STREAM_ID = re.compile(STREAM_ID_PATTERN)
ARTIFACT_ID = re.compile(ARTIFACT_ID_PATTERN)
TENANT_ID = re.compile(TENANT_ID_PATTERN)
PRINCIPAL_ID = re.compile(PRINCIPAL_ID_PATTERN)

#: What ``docs/schemas/Ids.json`` publishes: name → unanchored pattern.
PATTERNS = {
    "stream_id_part": STREAM_ID_PART_PATTERN,
    "stream_id": STREAM_ID_PATTERN,
    "artifact_id": ARTIFACT_ID_PATTERN,
    "tenant_id": TENANT_ID_PATTERN,
    "principal_id": PRINCIPAL_ID_PATTERN,
}


def anchored(pattern: str) -> str:
    """``pattern`` matching a whole string in JSON Schema, JavaScript and Rust regex (pydantic)."""
    return f"^{pattern}$"
