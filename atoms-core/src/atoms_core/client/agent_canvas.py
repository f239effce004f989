"""The agent edits the canvas as people do: one ``state.patch`` with ``base_version``, retried on a
``version_conflict`` by reading the state again, so a concurrent edit is never overwritten.

"Arrange the shapes" lays every shape of ``/shapes`` out on a grid (reading order of where they
are now, cells as big as the biggest shape); only ``x``/``y`` change, so what someone else changed
meanwhile (a colour, a text, a new shape) is kept and, after a conflict, arranged too. While it
works the agent selects each shape it moves and puts its cursor on it (see ``AgentPresence``)."""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable
from typing import Any

from atoms_core.client.agent_presence import AgentPresence
from atoms_core.client.api import AtomsClient
from atoms_core.client.errors import CommandError

ARRANGE = re.compile(r"\b(arrange|tidy|line (them |the shapes )?up)\b", re.IGNORECASE)
ORIGIN = 40.0
GAP = 24.0
#: Two ops per moved shape must fit one patch (``state_patch_max_ops`` defaults to 1000).
MAX_SHAPES = 400
ATTEMPTS = 5
#: The walk over the shapes (selection and cursor on each) takes at most this long, however many move.
MAX_TOUR_S = 3.0

Box = tuple[float, float, float, float]


def wants_arrange(text: str) -> bool:
    """Whether a chat message asks the agent to arrange the canvas (``arrange``, ``tidy up``, …)."""
    return ARRANGE.search(text) is not None


def boxes(shapes: Any) -> dict[str, Box]:
    """``id -> (x, y, w, h)`` of the shapes with numeric geometry (others are left alone)."""
    if not isinstance(shapes, dict):
        return {}
    out: dict[str, Box] = {}
    for key, shape in shapes.items():
        if not isinstance(shape, dict):
            continue
        geometry = [shape.get(k) for k in ("x", "y", "w", "h")]
        numbers = [float(v) for v in geometry if isinstance(v, int | float) and not isinstance(v, bool)]
        if len(numbers) == 4 and all(map(math.isfinite, numbers)):
            out[key] = (numbers[0], numbers[1], numbers[2], numbers[3])
    return out


def grid_layout(shapes: dict[str, Box]) -> dict[str, tuple[float, float]]:
    """New top-left corners on a near-square grid, in the reading order of the current positions."""
    order = sorted(shapes, key=lambda k: (shapes[k][1], shapes[k][0], k))[:MAX_SHAPES]
    if not order:
        return {}
    cols = math.ceil(math.sqrt(len(order)))
    cell_w = max(shapes[k][2] for k in order) + GAP
    cell_h = max(shapes[k][3] for k in order) + GAP
    return {k: (ORIGIN + (i % cols) * cell_w, ORIGIN + (i // cols) * cell_h) for i, k in enumerate(order)}


def pointer(*parts: str) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def move_ops(shapes: dict[str, Box], layout: dict[str, tuple[float, float]]) -> list[dict[str, Any]]:
    """``replace`` ops for the shapes that are not already where the layout puts them."""
    ops: list[dict[str, Any]] = []
    for key, (x, y) in layout.items():
        if shapes[key][:2] != (x, y):
            ops.append({"op": "replace", "path": pointer("shapes", key, "x"), "value": x})
            ops.append({"op": "replace", "path": pointer("shapes", key, "y"), "value": y})
    return ops


async def arrange(client: AtomsClient, stream_id: str, me: AgentPresence | None = None, step: float = 0.0,
                  log: Callable[[str], None] = print) -> int:
    """Arrange the shapes; returns how many moved. Raises ``CommandError`` if it keeps conflicting."""
    attempt = 0
    while True:
        attempt += 1
        read = await client.state(stream_id)
        state = read["state"]
        shapes = boxes(state.get("shapes") if isinstance(state, dict) else None)
        layout = grid_layout(shapes)
        ops = move_ops(shapes, layout)
        if not ops:
            return 0
        moved = [k for k in layout if shapes[k][:2] != layout[k]]
        if me is not None:
            pause = min(step, MAX_TOUR_S / len(moved))
            for key in moved:  # show where the agent works: select each shape, cursor on it
                x, y, w, h = shapes[key]
                await me.edit(key, x + w / 2, y + h / 2)
                await asyncio.sleep(pause)
        try:
            await client.command(stream_id, "state.patch", {"ops": ops}, base_version=read["version"])
        except CommandError as err:
            if err.code != "version_conflict" or attempt == ATTEMPTS:
                raise
            log(f"arrange: version {read['version']} is stale ({err.detail}); reading the state again")
            continue
        finally:
            if me is not None:
                await me.edit(None)
        return len(moved)
