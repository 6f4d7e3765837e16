"""The scale benchmark's data generator: resampled taxi rows, small noise."""

from __future__ import annotations

import csv

from bench.scale_data import generate
from tests.conftest import TAXI_CSV


def _rows(path: str) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def test_rows_keep_the_schema_and_the_missing_cells(tmp_path, monkeypatch):
    monkeypatch.setattr("bench.scale_data.CHUNK_ROWS", 700)  # several chunks
    path = generate(TAXI_CSV, 2000, str(tmp_path), seed=1)
    source_header, source = _rows(TAXI_CSV)
    header, rows = _rows(path)
    assert header == source_header and len(rows) == 2000
    for column in ("trip_seconds", "pickup_latitude", "company", "payment_type"):
        empty = sum(r[column] == "" for r in rows) / len(rows)
        expected = sum(r[column] == "" for r in source) / len(source)
        assert abs(empty - expected) < 0.05, column
    # Categories come from the sample; money is noisy but close and >= 0.
    assert {r["payment_type"] for r in rows} <= {r["payment_type"] for r in source}
    fares = [float(r["fare"]) for r in rows if r["fare"]]
    assert min(fares) >= 0
    mean = sum(fares) / len(fares)
    source_fares = [float(r["fare"]) for r in source if r["fare"]]
    assert abs(mean / (sum(source_fares) / len(source_fares)) - 1) < 0.1
    assert all(r["trip_seconds"] == "" or r["trip_seconds"].isdigit() for r in rows)


def test_same_seed_same_file(tmp_path):
    first = generate(TAXI_CSV, 300, str(tmp_path / "a"), seed=3)
    second = generate(TAXI_CSV, 300, str(tmp_path / "b"), seed=3)
    other = generate(TAXI_CSV, 300, str(tmp_path / "c"), seed=4)
    with open(first) as a, open(second) as b, open(other) as c:
        text = a.read()
        assert text == b.read()
        assert text != c.read()
