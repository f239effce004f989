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


def nesting(value: Any) -> int:
    """Containers nested in ``value``, the document's own object included."""
    if isinstance(value, dict):
        return 1 + max(map(nesting, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(nesting, value), default=0)
    return 0


@settings(max_examples=400, deadline=None)
@given(DOCS, st.lists(operations(), min_size=1, max_size=4))
def test_a_depth_limit_refuses_exactly_the_patches_that_would_exceed_it(doc: dict[str, Any],
                                                                        ops: list[dict[str, Any]]) -> None:
    limit = 3
    if nesting(doc) > limit:
        return  # documents are built under the limit, so they never start above it
    try:
        unlimited: Any = apply_ops(doc, ops)
    except Unprocessable:
        unlimited = "refused"
    try:
        limited: Any = apply_ops(doc, ops, max_depth=limit)
    except Unprocessable as err:
        assert err.code in ("patch_failed", "state_too_deep")
        limited = "refused" if err.code == "patch_failed" else "too deep"
    if limited == "too deep":  # refused only for depth: some op went above the limit
        assert unlimited == "refused" or any(
            nesting(apply_ops(doc, ops[:n])) > limit for n in range(1, len(ops) + 1)
            if _applies(doc, ops[:n]))
    else:
        assert limited == unlimited
        if limited != "refused":
            assert nesting(limited) <= limit


def _applies(doc: dict[str, Any], ops: list[dict[str, Any]]) -> bool:
    try:
        apply_ops(doc, ops)
    except Unprocessable:
        return False
    return True


DEEP_DOC = {"a": {"b": {}}, "c": {}, "l": []}  # 3 containers deep


@pytest.mark.parametrize(("op", "allowed"), [
    ({"op": "move", "from": "/a", "path": "/c/x"}, False),  # a 2-deep value, 2 steps down
    ({"op": "copy", "from": "/a", "path": "/c/x"}, False),
    ({"op": "move", "from": "/a/b", "path": "/c/x"}, True),
    ({"op": "move", "from": "/a", "path": "/z"}, True),
    ({"op": "add", "path": "/c/x", "value": {"y": {}}}, False),
    ({"op": "add", "path": "/c/x", "value": {"y": 1}}, True),
    ({"op": "add", "path": "/l/-", "value": {"z": []}}, False),
    ({"op": "add", "path": "/l/-", "value": {"z": 1}}, True),
    ({"op": "replace", "path": "", "value": {"a": {"b": {"c": {}}}}}, False),
])
def test_depth_limit_on_each_kind_of_op(op: dict[str, Any], allowed: bool) -> None:
    if allowed:
        assert nesting(apply_ops(DEEP_DOC, [op], max_depth=3)) <= 3
    else:
        with pytest.raises(Unprocessable) as refused:
            apply_ops(DEEP_DOC, [op], max_depth=3)
        assert refused.value.code == "state_too_deep"
        assert nesting(apply_ops(DEEP_DOC, [op])) > 3  # without the limit it would have gone deeper
