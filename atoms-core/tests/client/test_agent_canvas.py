"""The arrange layout on odd documents: only shapes with numeric geometry move, ids of any spelling
get correct JSON pointers, and a shape already in place costs no op."""

from __future__ import annotations

from typing import Any

import jsonpatch

from atoms_core.client.agent_canvas import GAP, ORIGIN, boxes, grid_layout, move_ops, wants_arrange
from atoms_core.client.agent_presence import agent_state


def rect(x: Any, y: Any, w: Any = 50, h: Any = 30) -> dict[str, Any]:
    return {"type": "rect", "x": x, "y": y, "w": w, "h": h, "fill": "#ccc"}


def test_only_shapes_with_numeric_geometry_are_arranged_and_the_rest_is_left_alone() -> None:
    shapes = {"a/b~c": rect(300, 10), "plain": rect(10, 200), "text-x": rect("1", 2), "bool": rect(True, 2),
              "none": rect(None, 2), "list": [1, 2], "inf": rect(1e400, 0)}
    assert set(boxes(shapes)) == {"a/b~c", "plain"}
    assert boxes([rect(1, 2)]) == {} and boxes(None) == {}
    doc = {"shapes": shapes}
    moved = jsonpatch.apply_patch(doc, move_ops(boxes(shapes), grid_layout(boxes(shapes))))
    # Reading order: "a/b~c" is higher up (y 10), so it comes first; two shapes make a 2x1 grid.
    assert (moved["shapes"]["a/b~c"]["x"], moved["shapes"]["a/b~c"]["y"]) == (ORIGIN, ORIGIN)
    assert (moved["shapes"]["plain"]["x"], moved["shapes"]["plain"]["y"]) == (ORIGIN + 50 + GAP, ORIGIN)
    for key in ("text-x", "bool", "none", "list", "inf"):
        assert moved["shapes"][key] == shapes[key]


def test_a_layout_already_in_place_needs_no_patch() -> None:
    shapes = boxes({"a": rect(0, 0), "b": rect(500, 0)})
    arranged = {k: (*grid_layout(shapes)[k], 50.0, 30.0) for k in shapes}
    assert move_ops(arranged, grid_layout(arranged)) == []


def test_what_counts_as_asking_to_arrange() -> None:
    assert wants_arrange("Please ARRANGE the shapes") and wants_arrange("tidy up") and wants_arrange("line them up")
    assert not wants_arrange("Tell me a long story about the grid") and not wants_arrange("rearrangement")


def test_a_huge_shape_id_is_not_put_into_presence() -> None:
    assert agent_state("A", "#000", "writing", "s1")["selection"] == ["s1"]
    assert "selected" not in agent_state("A", "#000", "writing", "x" * 5000)
