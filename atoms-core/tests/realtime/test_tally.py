"""The per-principal / per-tenant counts behind the connection caps and the openings' budget."""

from __future__ import annotations

from atoms_core.engine.tally import Tally


def test_counts_per_principal_per_tenant_and_in_all() -> None:
    tally = Tally()
    tally.add("acme", "alice", 3)
    tally.add("acme", "bob", 4)
    tally.add("globex", "alice", 5)  # the same principal id in another tenant is another principal
    assert (tally.of_principal("acme", "alice"), tally.of_principal("globex", "alice")) == (3, 5)
    assert (tally.of_tenant("acme"), tally.of_tenant("globex"), tally.of_tenant("initech")) == (7, 5, 0)
    assert tally.total == 12
    tally.add("acme", "alice", -3)
    assert (tally.of_principal("acme", "alice"), tally.of_tenant("acme"), tally.total) == (0, 4, 9)


def test_what_comes_back_to_zero_is_forgotten() -> None:
    tally = Tally()
    for i in range(10_000):  # principals that come and go (connections, openings) leave nothing behind
        tally.add(f"t{i % 7}", f"p{i}", 2)
        tally.add(f"t{i % 7}", f"p{i}", -2)
    assert tally.total == 0
    assert tally._principals == {} and tally._tenants == {}
