"""JSON Patch by path copying: the same result as jsonpatch on a deep copy, and nothing shared is mutated."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atoms_core.errors import Unprocessable
from atoms_core.realtime.state import apply_ops

SCALARS = st.one_of(st.integers(-3, 3), st.text(alphabet="xy", max_size=2), st.booleans(), st.none())
JSON = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                     st.dictionaries(st.sampled_from("abc"), inner, max_size=3)),
                    max_leaves=12)
DOCS = st.dictionaries(st.sampled_from("abc"), JSON, max_size=3)
PATHS = st.lists(st.sampled_from(["a", "b", "c", "0", "1", "-"]), min_size=0, max_size=3).map(
    lambda parts: "".join("/" + p for p in parts))


@st.composite
def operations(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["add", "remove", "replace", "move", "copy", "test"]))
    op: dict[str, Any] = {"op": kind, "path": draw(PATHS)}
    if kind in ("add", "replace", "test"):
        op["value"] = draw(JSON)
    if kind in ("move", "copy"):
        op["from"] = draw(PATHS)
    return op


@settings(max_examples=400, deadline=None)
@given(DOCS, st.lists(operations(), min_size=1, max_size=4))
def test_path_copying_matches_jsonpatch_and_mutates_nothing(doc: dict[str, Any], ops: list[dict[str, Any]]) -> None:
    doc_before, ops_before = json.dumps(doc), json.dumps(ops)
    try:
        expected: Any = jsonpatch.apply_patch(copy.deepcopy(doc), copy.deepcopy(ops))
    except Exception:
        expected = "refused"
    try:
        got: Any = apply_ops(doc, ops)
    except Unprocessable:
        got = "refused"
    if expected != "refused" and not isinstance(expected, dict):
        expected = "refused"  # the state must stay an object
    assert got == expected
    assert json.dumps(doc) == doc_before, "the input document was mutated"
    assert json.dumps(ops) == ops_before, "the ops (the event's data) were mutated"
    if isinstance(got, dict):  # later patches on the result must not reach back into the input
        apply_ops(got, [{"op": "add", "path": "/a", "value": 1}])
        assert json.dumps(doc) == doc_before


def test_a_deep_change_copies_its_path_and_shares_the_rest() -> None:
    shapes = {f"s{i}": {"x": i, "tags": ["t"]} for i in range(1000)}
    doc = {"shapes": shapes, "meta": {"title": "t"}}
    new = apply_ops(doc, [{"op": "replace", "path": "/shapes/s7/x", "value": 70}])
    assert new["shapes"]["s7"]["x"] == 70 and doc["shapes"]["s7"]["x"] == 7
    assert new["shapes"] is not shapes and new["shapes"]["s8"] is shapes["s8"] and new["meta"] is doc["meta"]


@pytest.mark.parametrize("ops", [[{"op": "remove", "path": ""}], [{"op": "replace", "path": "", "value": [1]}]])
def test_the_root_stays_an_object(ops: list[dict[str, Any]]) -> None:
    with pytest.raises(Unprocessable):
        apply_ops({"a": 1}, ops)
