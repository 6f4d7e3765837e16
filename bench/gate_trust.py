"""Benchmark 6, gate trust: the bundled retraining config over ordinary and
corrupted spans, counting wrong release decisions.

    python -m bench.gate_trust [--spans 4] [--smoke]

The taxi sample, shuffled (seed 0), is cut into `--spans` ordinary spans
that `multihead retrain` takes one by one (the first pushes v1), and one
reserve span no model sees. Then each corruption of the reserve span
arrives, each on a copy of the home as the ordinary spans left it (so every
corruption meets the same served model, which never saw those rows):

  shuffled_tips     big_tipper's labels shuffled across rows (tips moved)
  trip_seconds_x100 trip_seconds in other units
  trip_miles_const  a feature constant (every row the median)
  trip_miles_empty  a feature emptied
  payment_renamed   a category renamed throughout ("Cash" -> "CASH", ...)

RESULT lines: false refusals (a head of an ordinary span kept from the
served version, or the push refused; target 0), corrupted spans let through
(a head the corruption touches served from the candidate; target 0), and
collateral roll-backs (a head the corruption does not touch kept from the
served version; with per-head release, target 0). A corrupted span let
through is listed with the head's metric against the served one on the
served version's holdout: whether the corruption left the head within its
bounds where it was trusted.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import statistics
import subprocess
import sys

from bench.common import BENCH_HOME, machine, result, save
from pipeline.config_file import RETRAIN_CONFIG, TAXI_CSV

HEADS = ("big_tipper", "fare", "trip_seconds")
# Heads each corruption makes worse (what the gates must hold back).
TOUCHED = {
    "shuffled_tips": {"big_tipper"},
    "trip_seconds_x100": {"trip_seconds"},
    "trip_miles_const": {"fare", "trip_seconds"},
    "trip_miles_empty": {"fare", "trip_seconds"},
    "payment_renamed": {"big_tipper"},
}


def _corrupt(name: str, header: list[str], rows: list[list[str]]) -> list[list[str]]:
    rows = [list(r) for r in rows]
    column = {h: i for i, h in enumerate(header)}
    if name == "shuffled_tips":
        values = [r[column["tips"]] for r in rows]
        random.Random(1).shuffle(values)
        for row, value in zip(rows, values, strict=True):
            row[column["tips"]] = value
    elif name == "trip_seconds_x100":
        for row in rows:
            if row[column["trip_seconds"]]:
                row[column["trip_seconds"]] = str(float(row[column["trip_seconds"]]) * 100)
    elif name == "trip_miles_const":
        known = [float(r[column["trip_miles"]]) for r in rows if r[column["trip_miles"]]]
        middle = str(statistics.median(known))
        for row in rows:
            row[column["trip_miles"]] = middle
    elif name == "trip_miles_empty":
        for row in rows:
            row[column["trip_miles"]] = ""
    elif name == "payment_renamed":
        for row in rows:
            row[column["payment_type"]] = row[column["payment_type"]].upper().replace(" ", "_")
    else:
        raise ValueError(name)
    return rows


def _write_span(data: str, number: int, header: list[str], rows: list[list[str]]) -> None:
    folder = os.path.join(data, f"span-{number}")
    os.makedirs(folder)
    with open(os.path.join(folder, "data.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def _retrain(data: str, home: str, config: str) -> dict:
    command = [sys.executable, "-m", "pipeline.cli", "retrain", "--config", config]
    command += ["--data", data, "--home", home]
    process = subprocess.run(command, capture_output=True, text=True)
    outcome: dict = {"exit": process.returncode, "sources": {}, "reasons": {}, "holdout": {}}
    if process.returncode != 0:
        outcome["error"] = (process.stderr.strip().splitlines() or ["?"])[-1][:300]
        return outcome
    with open(os.path.join(home, "runs", "latest.json")) as f:
        summary = json.load(f)
    outcome["pushed"] = summary["pushed_model"]
    for head, info in summary["heads"].items():
        pushed = "candidate" if summary["pushed_model"] else "served"
        outcome["sources"][head] = info.get("from", pushed)
        if info["verdict"] != "pass":
            outcome["reasons"][head] = info["reasons"][0]
        holdout = info.get("holdout") or {}
        metric = next(iter(info["thresholds"]), None)
        if metric and metric in holdout.get("metrics", {}):
            outcome["holdout"][head] = {
                "metric": metric,
                "candidate": holdout["metrics"][metric],
                "served": holdout["served"].get(metric),
            }
    return outcome


def run(spans: int, home: str, config: str = RETRAIN_CONFIG, smoke: bool = False) -> dict:
    with open(TAXI_CSV, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    random.Random(0).shuffle(rows)
    if smoke:
        rows = rows[:2400]
    size = len(rows) // (spans + 1)
    shutil.rmtree(home, ignore_errors=True)
    data, state = os.path.join(home, "spans"), os.path.join(home, "home")
    os.makedirs(data)
    ordinary, corrupted = [], {}
    for number in range(1, spans + 1):
        _write_span(data, number, header, rows[(number - 1) * size : number * size])
        outcome = _retrain(data, state, config)
        print(f"ordinary span {number}: {json.dumps(outcome)}", flush=True)
        ordinary.append(outcome)
    reserve = rows[spans * size : (spans + 1) * size]
    for name in TOUCHED:
        trial = os.path.join(home, f"trial-{name}")
        shutil.copytree(data, os.path.join(trial, "spans"))
        shutil.copytree(state, os.path.join(trial, "home"), symlinks=True)
        _write_span(
            os.path.join(trial, "spans"), spans + 1, header, _corrupt(name, header, reserve)
        )
        outcome = _retrain(os.path.join(trial, "spans"), os.path.join(trial, "home"), config)
        print(f"corrupted span ({name}): {json.dumps(outcome)}", flush=True)
        corrupted[name] = outcome
        shutil.rmtree(trial)

    def refused(outcome: dict) -> bool:
        return outcome["exit"] != 0 or any(s != "candidate" for s in outcome["sources"].values())

    false_refusals = sum(refused(o) for o in ordinary[1:])
    let_through = {
        name: {
            h: o["holdout"].get(h, "no holdout")
            for h in sorted(TOUCHED[name])
            if o["sources"].get(h) == "candidate"
        }
        for name, o in corrupted.items()
    }
    collateral = {
        name: sorted(h for h in HEADS if h not in TOUCHED[name] and o["sources"].get(h) == "served")
        for name, o in corrupted.items()
    }
    counts = {
        "false_refusals": false_refusals,
        "corrupted_let_through": sum(bool(v) for v in let_through.values()),
        "collateral_rollbacks": sum(bool(v) for v in collateral.values()),
    }
    lines = [result("gate_trust", name, n, "0", n == 0) for name, n in counts.items()]
    return {
        "spans": spans,
        "rows_per_span": size,
        "ordinary": ordinary,
        "corrupted": corrupted,
        "let_through": let_through,
        "collateral": collateral,
        "results": lines,
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=4)
    parser.add_argument("--home", default=os.path.join(BENCH_HOME, "gate_trust"))
    parser.add_argument("--config", default=RETRAIN_CONFIG)
    parser.add_argument("--smoke", action="store_true", help="small spans, a quick check")
    args = parser.parse_args()
    outcome = run(args.spans, args.home, args.config, args.smoke)
    print(json.dumps({k: outcome[k] for k in ("let_through", "collateral")}, indent=2))
    save("gate_trust", outcome, args.smoke)


if __name__ == "__main__":
    main()
