#!/usr/bin/env python3
"""Where the ratios come from, on a scenario of the shared bench (many-streams by default), interleaved:
``raw``; a bare ASGI app on uvicorn (``uvicorn_floor_app.py``, nothing persisted: the shared bench's
``asgi-floor``); the same app committing each publish with atoms-core's ``SqliteStore`` first
(``uvicorn-floor+store``: the floor plus the durable write alone); ``atoms`` on the memory engine
(everything but the durable write); and ``atoms`` itself; on fanout also ``nchan``. Server CPU per
delivery, its ratio to ``raw`` and to the floor in the same rep, and the delivery latency p99.

    python3 bench/uvicorn_floor.py [--reps 3] [--scenario many-streams|fanout]

Uses ``../shared/bench`` (its loadgen, targets and venv); run it from the repository root.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import statistics
import sys
import tempfile
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


class UvicornFloorStore(UvicornFloor):
    name = "uvicorn-floor+store"

    def argv(self, port: int) -> list[str]:
        self.env = {"FLOOR_STORE": tempfile.mkdtemp(prefix="floor-store-")}
        return super().argv(port)


def atoms_memory(atoms: Target) -> Target:
    """The shared bench's ``atoms`` target on the memory engine: nothing persisted."""

    class AtomsMemory(type(atoms)):  # type: ignore[misc]
        name = "atoms-memory"

        def argv(self, port: int) -> list[str]:
            return [*super().argv(port), "--engine", "memory"]

    return AtomsMemory()


def measure(target: Target, scenario: str) -> dict[str, float]:
    port = run.free_port()
    with open("/dev/null", "w") as log:
        proc = run.start_server(target, port, log)
        try:
            return asyncio.run(loadgen.delivery(target, run.HOST, port, proc.pid, **run.SCENARIOS[scenario][1]))
        finally:
            run.stop_server(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--scenario", choices=["many-streams", "fanout"], default="many-streams")
    args = parser.parse_args()
    reps, scenario = args.reps, args.scenario
    atoms = importlib.import_module("targets.atoms").TARGET
    targets = [importlib.import_module("targets.raw").TARGET, UvicornFloor(), UvicornFloorStore(),
               atoms_memory(atoms), atoms]
    if scenario == "fanout":
        targets.insert(1, importlib.import_module("targets.nchan").TARGET)
    cpu: dict[str, list[float]] = {t.name: [] for t in targets}
    ratio: dict[str, list[float]] = {t.name: [] for t in targets}
    floor_ratio: dict[str, list[float]] = {t.name: [] for t in targets}
    p99: dict[str, list[float]] = {t.name: [] for t in targets}
    for rep in range(reps):
        got = {t.name: measure(t, scenario) for t in targets}
        for name, res in got.items():
            assert res["lost"] == 0 and res["dup"] == 0, (name, res)
            cpu[name].append(res["srv_cpu_us_per_msg"])
            p99[name].append(res["p99_ms"])
            ratio[name].append(res["srv_cpu_us_per_msg"] / got["raw"]["srv_cpu_us_per_msg"])
            floor_ratio[name].append(res["srv_cpu_us_per_msg"] / got["uvicorn-floor"]["srv_cpu_us_per_msg"])
        print(f"rep {rep + 1}: " + ", ".join(f"{n} {c[-1]:.1f} µs" for n, c in cpu.items()), flush=True)
    print(f"\n{scenario}, server CPU per delivery and latency p99, median of {reps} "
          "(ratios: median of per-rep ratios)")
    print("| target | µs/delivery | ×raw | ×floor | p99 ms |\n|---|---|---|---|---|")
    for name, samples in cpu.items():
        print(f"| {name} | {statistics.median(samples):.1f} | {statistics.median(ratio[name]):.2f} "
              f"| {statistics.median(floor_ratio[name]):.2f} | {statistics.median(p99[name]):.1f} |")


if __name__ == "__main__":
    main()
