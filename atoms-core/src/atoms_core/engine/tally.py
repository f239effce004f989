"""What principals and tenants hold of one resource on this process (open connections, bytes being
written), counted per principal, per tenant and in all. An entry that comes back to zero is dropped, so
the memory follows what is held, not who ever held something."""

from __future__ import annotations

from typing import TypeVar

Key = TypeVar("Key")


class Tally:
    __slots__ = ("_principals", "_tenants", "total")

    def __init__(self) -> None:
        self._principals: dict[tuple[str, str], int] = {}
        self._tenants: dict[str, int] = {}
        self.total = 0

    def of_principal(self, tenant: str, principal: str) -> int:
        return self._principals.get((tenant, principal), 0)

    def of_tenant(self, tenant: str) -> int:
        return self._tenants.get(tenant, 0)

    def add(self, tenant: str, principal: str, amount: int) -> None:
        """Count ``amount`` more (negative: give it back) for ``principal`` of ``tenant``."""
        self.total += amount
        _add(self._principals, (tenant, principal), amount)
        _add(self._tenants, tenant, amount)


def _add(held: dict[Key, int], key: Key, amount: int) -> None:
    total = held.get(key, 0) + amount
    if total:
        held[key] = total
    else:
        held.pop(key, None)
