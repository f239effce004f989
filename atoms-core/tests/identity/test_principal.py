"""Tenant and principal ids: one strict charset, so every per-tenant storage name is the id itself and
no two tenants ever share a folder, a file or a key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atoms_core.protocol.artifacts import tenant_prefix
from atoms_core.protocol.ids import TENANT_ID
from atoms_core.protocol.principal import is_tenant_id, storage_name
from atoms_core.protocol.timeline import Partition
from atoms_core.stores.audit import tenant_file
from atoms_core.stores.redis import partition_tag

tenants = st.from_regex(TENANT_ID, fullmatch=True)
streams = st.sampled_from(["canvas:a", "thread:a", "canvas:a.b", "run:x-1"])


@given(st.text(max_size=140))
def test_storage_name_is_the_id_or_refused(raw: str) -> None:
    if is_tenant_id(raw):
        assert storage_name(raw) == raw == tenant_prefix(raw) == tenant_file(Path("audit"), raw).stem
        assert Path(raw).name == raw  # one path segment, never "." or ".."
    else:
        with pytest.raises(ValueError):
            storage_name(raw)


@given(tenants, tenants, streams, streams)
def test_every_per_tenant_name_is_injective(t1: str, t2: str, s1: str, s2: str) -> None:
    """Artifact folders and S3 prefixes, audit files and Redis keys (SQLite keys by column)."""
    if t1 != t2:
        assert tenant_prefix(t1) != tenant_prefix(t2) and tenant_file(Path(), t1) != tenant_file(Path(), t2)
    same = (t1, s1) == (t2, s2)
    assert (partition_tag(Partition(t1, s1)) == partition_tag(Partition(t2, s2))) == same


@pytest.mark.parametrize("reserved", ["sha256-" + "ab" * 32, "SHA256-" + "AB" * 32])
def test_the_old_digest_names_are_no_tenant(reserved: str) -> None:
    assert TENANT_ID.fullmatch(reserved) and not is_tenant_id(reserved)
