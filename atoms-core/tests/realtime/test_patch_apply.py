"""JSON Patch by path copying: the same result as jsonpatch on a deep copy, nothing shared is mutated, the
encoded size is kept exactly op by op, and the limits bound what one command may produce or read."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import jsonpatch
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from atoms_core.protocol.encoding import encoded_size
from atoms_core.protocol.errors import PayloadTooLarge, Unprocessable
from atoms_core.protocol.patch import Limits, append_text
from atoms_core.protocol.patch import apply_ops as apply_sized
from atoms_core.protocol.sidecars import SidecarGuard
from atoms_core.protocol.state import StreamState, apply_event


def apply_ops(doc: dict[str, Any], ops: list[dict[str, Any]], max_depth: int | None = None) -> dict[str, Any]:
    """The patched document; with ``max_depth`` the only limit (sizes are tested on their own)."""
    limits = None if max_depth is None else Limits(max_depth=max_depth, max_bytes=2**40)
    return apply_sized(doc, ops, limits=limits)[0]

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
@example({}, [{"op": "copy", "path": "/-", "from": ""}, {"op": "move", "path": "", "from": "/-"}])  # "-" a key
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


KEYED = st.dictionaries(st.sampled_from(["a", "b", "é", 'q"', "\n"]), JSON, max_size=3)


@settings(max_examples=400, deadline=None)
@given(KEYED, st.lists(operations(), min_size=1, max_size=5))
def test_the_size_kept_op_by_op_is_the_encoded_size(doc: dict[str, Any], ops: list[dict[str, Any]]) -> None:
    """Sizes are computed from what each op adds and removes; they must equal a full re-encoding."""
    try:
        got, size = apply_sized(doc, ops, size=encoded_size(doc))
    except Unprocessable:
        return
    assert size == encoded_size(got)


def test_a_state_cannot_outgrow_the_cap_by_copy_doubling() -> None:
    """The attack of issue 13: one 64 KB string copied from the root into new keys, each copy doubling."""
    limits = Limits(max_bytes=1 << 20)
    doc, size = apply_sized({}, [{"op": "add", "path": "/s", "value": "x" * 65536}], limits=limits)
    refused = None
    for i in range(12):
        try:
            doc, size = apply_sized(doc, [{"op": "copy", "from": "", "path": f"/k{i}"}], size, limits)
        except Unprocessable as err:
            refused = err
            break
    assert refused is not None and refused.code == "state_too_large"
    assert refused.extras["pointer"] == "/payload/ops/0" and "state_max_bytes" in refused.detail
    assert size == encoded_size(doc) <= 1 << 20
    assert i == 3  # three copies make 512 KiB; a fourth would be 1 MiB plus the bytes of the keys


def test_a_token_target_cannot_outgrow_the_cap() -> None:
    limits = Limits(max_bytes=4096)
    doc, size = {"t": ""}, encoded_size({"t": ""})
    for _ in range(3):
        doc, size = append_text(doc, size, "/t", 'é"\n' * 200, limits)  # 6 bytes each: UTF-8 and escapes
    assert size == encoded_size(doc)
    with pytest.raises(Unprocessable) as refused:
        append_text(doc, size, "/t", "x" * 1000, limits)
    assert refused.value.code == "state_too_large" and refused.value.extras["pointer"] == "/payload/delta"


def test_a_patch_is_bounded_in_ops_and_in_the_state_it_reads() -> None:
    limits = Limits(max_bytes=1 << 20, max_ops=50)
    with pytest.raises(PayloadTooLarge) as many:
        apply_sized({}, [{"op": "add", "path": f"/k{i}", "value": i} for i in range(51)], limits=limits)
    assert many.value.code == "patch_too_large" and many.value.extras["pointer"] == "/payload/ops"
    # Each copy (and the remove that keeps the state under the cap) measures the nested value anew;
    # reading the state 50 times over is refused, where the cap alone would not stop it.
    nested: Any = "y" * 60_000
    for _ in range(40):
        nested = {"n": nested}
    doc = {"v": nested}
    path = "/v"
    churn = []
    for _ in range(24):
        churn += [{"op": "copy", "from": path, "path": "/c"}, {"op": "remove", "path": "/c"}]
        path += "/n"
    with pytest.raises(PayloadTooLarge) as costly:
        apply_sized(doc, churn, limits=limits)
    assert costly.value.code == "patch_too_large" and costly.value.extras["pointer"].startswith("/payload/ops/")
    apply_sized(doc, churn[:2] * 25, limits=limits)  # the same value copied again is measured once


SHAPES = {f"s{i}": {"id": f"s{i}", "type": "rect", "x": i, "y": i, "w": 1, "h": 1, "fill": "#333"}
          for i in range(10_000)}


def _timed(call: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    try:
        result = call()
    except (PayloadTooLarge, Unprocessable) as refusal:
        result = refusal
    return result, time.perf_counter() - started


def test_copying_a_large_value_deeper_again_and_again_walks_it_once() -> None:
    """Audit of issue 13: each copy into a deeper path walked the whole value for its depth, free of the
    work budget (1000 copies of 800 KB of shapes held the loop for seconds). The walk is memoised like
    the size, so the same value copied again costs only its path."""
    doc = {"a": SHAPES, "x": {"y": {}}}
    ops = [{"op": "copy", "from": "/a", "path": "/x/y/c"}] * 1000
    (got, size), took = _timed(lambda: apply_sized(doc, ops, limits=Limits(judge=SidecarGuard(["https"], 32, 256))))
    assert got["x"]["y"]["c"] is SHAPES and size == encoded_size(got)
    assert took < 0.5, took


def test_walking_values_for_their_depth_counts_as_work() -> None:
    """Distinct values copied deeper are each walked; the walks count against the budget."""
    limits = Limits(max_bytes=1 << 20)
    doc = {f"a{i}": [[] for _ in range(10_000)] for i in range(20)}  # 30 KB each, 10 001 containers
    ops = [{"op": "copy", "from": f"/a{i}", "path": f"/x{i}/c"} for i in range(20)]
    doc.update({f"x{i}": {} for i in range(20)})
    with pytest.raises(PayloadTooLarge) as costly:
        apply_sized(doc, ops, limits=limits)
    assert costly.value.code == "patch_too_large"
    apply_sized(doc, ops[:2], limits=limits)


def test_moving_a_long_string_back_and_forth_is_bounded() -> None:
    """Audit of issue 13: strings were free of the work budget, so 1000 moves of a 4.5 MB string between
    two keys measured it 2000 times (seconds). A string counts each time it is taken; a move measures
    its value once (its size leaves one place for the other)."""
    doc = {"a": "lorem ipsum " * 375_000}
    ops = [{"op": "move", "from": "/a", "path": "/b"}, {"op": "move", "from": "/b", "path": "/a"}] * 500
    refused, took = _timed(lambda: apply_sized(doc, ops, limits=Limits()))
    assert isinstance(refused, PayloadTooLarge) and refused.code == "patch_too_large"
    assert refused.extras["pointer"] == "/payload/ops/2"  # the first two moves do 9 MB of work
    assert took < 0.5, took
    got, size = apply_sized(doc, ops[:2], limits=Limits())
    assert got == doc and size == encoded_size(doc)


def test_shifting_array_elements_counts_as_work() -> None:
    """Inserting at or removing from the front of a long array moves every element after it."""
    limits = Limits(max_bytes=1 << 20)
    doc = {"l": [0] * 200_000}
    front = [{"op": "add", "path": "/l/0", "value": 1}, {"op": "remove", "path": "/l/0"}] * 500
    with pytest.raises(PayloadTooLarge) as costly:
        apply_sized(doc, front, limits=limits)
    assert costly.value.code == "patch_too_large" and costly.value.extras["pointer"] == "/payload/ops/6"
    back = [{"op": "add", "path": "/l/-", "value": 1}, {"op": "remove", "path": "/l/200000"}] * 500
    assert apply_sized(doc, back, limits=limits)[0] == doc  # the end of an array costs nothing to reach


def test_replay_never_refuses_a_state_over_the_cap() -> None:
    """A committed event always applies (the cap may have been lowered since); the live path then
    accepts what does not grow the state and refuses what does."""
    big = {"s": "x" * 10_000}
    state = apply_event(StreamState(), 1, "state_patch", {"ops": [{"op": "add", "path": "/b", "value": big}]})
    limits = Limits(max_bytes=1000)
    shrink = {"ops": [{"op": "replace", "path": "/b/s", "value": "x" * 9000}]}
    assert apply_event(state, 2, "state_patch", shrink, limits).size == state.size - 1000
    with pytest.raises(Unprocessable):
        apply_event(state, 2, "state_patch", {"ops": [{"op": "add", "path": "/c", "value": 1}]}, limits)


def test_many_token_chunks_keep_only_a_window_of_chunk_seqs() -> None:
    from atoms_core.protocol.state import TOKEN_WINDOW, check_token_index

    state = apply_event(StreamState(), 1, "state_patch", {"ops": [{"op": "add", "path": "/t", "value": ""}]})
    for index in range(TOKEN_WINDOW * 4):
        assert check_token_index(state, "/t", index) is None
        state = apply_event(state, state.seq + 1, "token_patch", {"target": "/t", "delta": "x", "index": index})
    info = state.tokens["/t"]
    assert info["last"] == TOKEN_WINDOW * 4 - 1 and len(info["seqs"]) == TOKEN_WINDOW
    assert set(info["seqs"]) == {str(i) for i in range(TOKEN_WINDOW * 3, TOKEN_WINDOW * 4)}
    assert state.doc["t"] == "x" * TOKEN_WINDOW * 4
    assert check_token_index(state, "/t", TOKEN_WINDOW * 4 - 1) == state.seq  # retry inside the window
    assert check_token_index(state, "/t", 0) == state.seq  # and past it: still a duplicate
    assert len(json.dumps(StreamState.from_json(state.to_json()).tokens)) < 4096
