"""Bigger taxi data sets for the scale benchmark: the bundled rows resampled
with small noise.

    python -m bench.scale_data --rows 1500000 --out .bench/scale/data-1500000

Rows are drawn with replacement (seeded), then the continuous columns get a
little noise so that no two copies of a row are equal: money, miles and
seconds are scaled by 1 + N(0, 2%), coordinates moved by N(0, 0.002 degrees),
timestamps by up to a minute. Categorical columns and empty cells are kept as
they are, so the schema, the vocabularies and the missing-value patterns of
the sample carry over. The file is written a chunk at a time: memory does not
grow with the number of rows.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys

import numpy as np

from pipeline.config_file import DEFAULT_CONFIG, load_config

SCALED = {"fare": 2, "tips": 2, "trip_miles": 2, "trip_seconds": 0}
MOVED = ("pickup_latitude", "pickup_longitude", "dropoff_latitude", "dropoff_longitude")
JITTERED = {"trip_start_timestamp": 60}
CHUNK_ROWS = 50_000
FILE_NAME = "data.csv"


def _numeric(values: list[str]) -> np.ndarray:
    """Floats with NaN for empty cells."""
    return np.array([float(v) if v != "" else np.nan for v in values], dtype=np.float64)


def _format(values: np.ndarray, decimals: int) -> np.ndarray:
    if decimals == 0:
        text = np.char.mod("%d", np.rint(np.nan_to_num(values)).astype(np.int64))
    else:
        text = np.char.mod(f"%.{decimals}f", np.nan_to_num(values))
    return np.where(np.isnan(values), "", text)


def generate(source: str, rows: int, out_dir: str, seed: int = 0) -> str:
    """Writes `rows` noisy resampled rows of the `source` CSV to out_dir/data.csv."""
    with open(source, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        table = list(reader)
    if not table:
        raise ValueError(f"{source} has a header and no rows")
    columns = {name: [row[i] for row in table] for i, name in enumerate(header)}
    raw = {name: np.array(values, dtype=object) for name, values in columns.items()}
    noisy = [n for n in (*SCALED, *MOVED, *JITTERED) if n in columns]
    numbers = {name: _numeric(columns[name]) for name in noisy}
    rng = np.random.default_rng(seed)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, FILE_NAME)
    partial = path + ".partial"
    with open(partial, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        written = 0
        while written < rows:
            n = min(CHUNK_ROWS, rows - written)
            index = rng.integers(0, len(table), n)
            out = {name: raw[name][index] for name in header}
            for name in noisy:
                values = numbers[name][index]
                if name in SCALED:
                    values = np.maximum(values * (1 + rng.normal(0, 0.02, n)), 0)
                    out[name] = _format(values, SCALED[name])
                elif name in MOVED:
                    out[name] = _format(values + rng.normal(0, 0.002, n), 6)
                else:
                    jitter = rng.integers(-JITTERED[name], JITTERED[name] + 1, n)
                    out[name] = _format(values + jitter, 0)
            writer.writerows(zip(*(out[name] for name in header), strict=True))
            written += n
    os.replace(partial, path)
    return path


def ensure(rows: int, out_dir: str, seed: int = 0) -> str:
    """The data set of `rows` rows under out_dir, generated once."""
    path = os.path.join(out_dir, FILE_NAME)
    if not os.path.exists(path):
        source = os.path.join(load_config(DEFAULT_CONFIG).data_dir, FILE_NAME)
        generate(source, rows, out_dir, seed)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--out", required=True, help="folder to write data.csv into")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--source",
        default=os.path.join(load_config(DEFAULT_CONFIG).data_dir, FILE_NAME),
        help="CSV to resample (default: the bundled taxi sample)",
    )
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be at least 1")
    path = generate(args.source, args.rows, args.out, args.seed)
    print(f"wrote {args.rows} rows to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
