"""How long the biggest single steps hold the event loop, by state size (issue 13: about 50 ms at most).

Builds a canvas state of small shapes of the given sizes (MiB of compact JSON), then times, best of
five, the two steps whose cost grows with the state and that no cap splits: ``snapshot.create``'s
capture (encode once, hash) and the ``state_snapshot`` frame a new SSE reader gets. Both scale
linearly, so ``state_max_bytes`` bounds them. In process, no server:

    .venv/bin/python bench/loop_hold.py 4 8
"""

from __future__ import annotations

import sys
import time

from atoms_core.engine.snapshots import capture
from atoms_core.protocol.encoding import dumps
from atoms_core.protocol.state import StreamState
from atoms_core.protocol.wire import snapshot_frame

REPEATS = 5


def state_of(mib: float) -> StreamState:
    shapes: dict[str, dict[str, object]] = {}
    i = 0
    while True:
        shapes[f"s{i:07d}"] = {"id": f"s{i:07d}", "type": "rect", "x": i, "y": 2 * i, "w": 120, "h": 80,
                               "fill": "#3b82f6", "text": "hello world"}
        i += 1
        if i % 2000 == 0 and len(dumps({"shapes": shapes})) >= mib * 1024 * 1024:
            return StreamState({"shapes": shapes}, 100, 50)


def best_ms(step: object, *args: object) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        step(*args)  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best * 1000


def main(sizes: list[float]) -> None:
    for mib in sizes:
        state = state_of(mib)
        print(f"{mib:g} MiB state: snapshot.create capture {best_ms(capture, state, 101):.1f} ms, "
              f"state_snapshot frame {best_ms(snapshot_frame, 'canvas:x', state):.1f} ms (best of {REPEATS})")


if __name__ == "__main__":
    main([float(arg) for arg in sys.argv[1:]] or [4.0, 8.0])
