#!/usr/bin/env python3
"""How much of the many-streams ratio is uvicorn's own: ``raw``, a bare ASGI app on uvicorn
(``uvicorn_floor_app.py``, nothing persisted) and ``atoms`` on the shared bench's many-streams
scenario, interleaved, with server CPU per delivery and its ratio to ``raw`` in the same rep.

    python3 bench/uvicorn_floor.py [--reps 3]

Uses ``../shared/bench`` (its loadgen, targets and venv); run it from the repository root.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "bench"
sys.path.insert(0, str(SHARED))

import run  # the shared bench: venv, server start/stop, scenarios

run.ensure_venv()

import loadgen
from targets import Target


class UvicornFloor(Target):
    name = "uvicorn-floor"

    def argv(self, port: int) -> list[str]:
        return [str(ROOT / ".venv/bin/python"), "-m", "uvicorn", "--app-dir", str(ROOT / "bench"),
                "uvicorn_floor_app:app", "--host", run.HOST, "--port", str(port), "--loop", "uvloop",
                "--http", "httptools", "--no-access-log", "--log-level", "warning"]


def measure(target: Target) -> dict[str, float]:
    port = run.free_port()
    with open("/dev/null", "w") as log:
        proc = run.start_server(target, port, log)
        try:
            return asyncio.run(loadgen.delivery(target, run.HOST, port, proc.pid, **run.SCENARIOS["many-streams"][1]))
        finally:
            run.stop_server(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    reps = parser.parse_args().reps
    targets = [importlib.import_module("targets.raw").TARGET, UvicornFloor(),
               importlib.import_module("targets.atoms").TARGET]
    cpu: dict[str, list[float]] = {t.name: [] for t in targets}
    ratio: dict[str, list[float]] = {t.name: [] for t in targets}
    for rep in range(reps):
        got = {t.name: measure(t) for t in targets}
        for name, res in got.items():
            assert res["lost"] == 0 and res["dup"] == 0, (name, res)
            cpu[name].append(res["srv_cpu_us_per_msg"])
            ratio[name].append(res["srv_cpu_us_per_msg"] / got["raw"]["srv_cpu_us_per_msg"])
        print(f"rep {rep + 1}: " + ", ".join(f"{n} {c[-1]:.1f} µs" for n, c in cpu.items()), flush=True)
    print(f"\nmany-streams, server CPU per delivery, median of {reps} (ratio: median of per-rep ratios)")
    print("| target | µs/delivery | ×raw |\n|---|---|---|")
    for name, samples in cpu.items():
        print(f"| {name} | {statistics.median(samples):.1f} | {statistics.median(ratio[name]):.2f} |")


if __name__ == "__main__":
    main()
