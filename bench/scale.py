"""Benchmark 5, scale: the multi-head pipeline on 15k, 150k and 1.5M rows.

    python -m bench.scale [--sizes 15000,150000,1500000]

Each size is the taxi sample resampled with small noise (bench/scale_data.py,
generated once under .bench/scale/). The pipeline runs in its own process,
without cache, with the default config (same steps, same Beam arguments);
the benchmark measures its wall time, the peak resident memory of that
process (the kernel's own count, from wait4) and the peak of the whole
process tree (sampled every 0.2 s, in case a Beam worker runs apart), and
reads the per-component times from the run's summary. Targets, from the
smallest to the largest size: time grows no faster than rows, and peak
memory at most 1.5x; with three sizes or more, the largest costs no more
per row than the one below it. 1.5M rows take about 4 minutes on 2 cores;
15M rows (`--sizes 15000,1500000,15000000`, a one-off run, 4 GB of CSV
generated once) about an hour.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

import psutil

from bench.common import BENCH_HOME, machine, result, save
from bench.scale_data import ensure

SIZES = (15_000, 150_000, 1_500_000)
SAMPLE_SECONDS = 0.2
PROGRESS = re.compile(r"^\[(\w+)\] started")


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    for p in [process, *process.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def measure(command: list[str]) -> dict:
    """Runs `command`: wall and CPU seconds, peak RSS of it and of its process
    tree, and the tree's peak while each component ran (from its progress
    lines)."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tree_peak = 0
    running: list[str] = []  # the component whose progress line came last
    by_component: dict[str, float] = {}
    done = threading.Event()

    def sample() -> None:
        nonlocal tree_peak
        process = psutil.Process(child.pid)
        while not done.wait(SAMPLE_SECONDS):
            try:
                rss = _tree_rss(process)
            except psutil.Error:
                return
            tree_peak = max(tree_peak, rss)
            if running:
                name = running[-1]
                by_component[name] = max(by_component.get(name, 0), rss / 2**20)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    tail: list[str] = []
    for line in child.stdout:
        tail = (tail + [line])[-200:]
        match = PROGRESS.match(line)
        if match:
            running.append(match.group(1))
    _, status, usage = os.wait4(child.pid, 0)
    returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    if returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {returncode}:\n{''.join(tail)[-3000:]}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,  # Linux reports KiB
        "tree_peak_rss_mb": tree_peak / 2**20,
        "component_peak_rss_mb": {k: round(v) for k, v in by_component.items()},
    }


def run(sizes: list[int], work: str) -> dict:
    figures = {}
    for rows in sizes:
        data_dir = os.path.join(work, f"data-{rows}")
        print(f"[{rows} rows] data {ensure(rows, data_dir)}", flush=True)
        home = os.path.join(work, f"home-{rows}")
        shutil.rmtree(home, ignore_errors=True)
        command = [sys.executable, "-m", "pipeline.cli", "run", "--data", data_dir]
        measured = measure(command + ["--no-cache", "--home", home])
        with open(os.path.join(home, "runs", "latest.json")) as f:
            components = {k: v["seconds"] for k, v in json.load(f)["components"].items()}
        measured["components_s"] = components
        figures[rows] = measured
        slowest = ", ".join(
            f"{k} {v:.0f}s" for k, v in sorted(components.items(), key=lambda kv: -kv[1])[:4]
        )
        print(
            f"[{rows} rows] wall {measured['wall_s']:.1f} s, cpu {measured['cpu_s']:.1f} s, "
            f"peak RSS {measured['peak_rss_mb']:.0f} MB (tree {measured['tree_peak_rss_mb']:.0f}"
            f" MB); {slowest}",
            flush=True,
        )
    small, large = min(sizes), max(sizes)
    print(f"\nscale, {machine()}")
    print(f"  {'rows':>9} {'wall s':>8} {'s/1k rows':>10} {'peak RSS MB':>12} {'tree MB':>8}")
    for rows in sizes:
        m = figures[rows]
        print(
            f"  {rows:>9} {m['wall_s']:>8.1f} {1000 * m['wall_s'] / rows:>10.3f} "
            f"{m['peak_rss_mb']:>12.0f} {m['tree_peak_rss_mb']:>8.0f}"
        )
    lines = []
    if large > small:
        growth = (figures[large]["wall_s"] / figures[small]["wall_s"]) / (large / small)
        rss = max(figures[large]["peak_rss_mb"], figures[large]["tree_peak_rss_mb"]) / max(
            figures[small]["peak_rss_mb"], figures[small]["tree_peak_rss_mb"]
        )
        lines.append(
            result("scale", f"time_growth_per_row_{large}_vs_{small}", growth, "<=1", growth <= 1)
        )
        lines.append(result("scale", f"peak_rss_{large}_vs_{small}", rss, "<=1.5", rss <= 1.5))
    if len(sizes) > 2:
        # the largest size against the one below it: no worse per row
        below = sizes[-2]
        per_row = (figures[large]["wall_s"] / large) / (figures[below]["wall_s"] / below)
        lines.append(
            result("scale", f"time_per_row_{large}_vs_{below}", per_row, "<=1", per_row <= 1)
        )
    return {"figures": {str(k): v for k, v in figures.items()}, "results": lines}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default=",".join(str(s) for s in SIZES),
        help="comma-separated row counts (default %(default)s)",
    )
    parser.add_argument("--home", default=os.path.join(BENCH_HOME, "scale"))
    args = parser.parse_args(argv)
    try:
        sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    except ValueError:
        parser.error(f"--sizes must be comma-separated integers, got {args.sizes!r}")
    if not sizes or sizes[0] < 1:
        parser.error("--sizes needs at least one positive row count")
    save("scale", run(sizes, args.home), smoke=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
