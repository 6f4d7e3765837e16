"""Data spans for scheduled retraining: `<data>/span-<N>/*.csv`, newest = largest N."""

from __future__ import annotations

import glob
import json
import os
import re

from pipeline import home as home_layout
from pipeline.errors import DataError

SPAN_DIR = re.compile(r"^span-(\d+)$")


class SpanError(DataError):
    """The data folder holds no usable span."""


def find_spans(data_dir: str) -> dict[int, str]:
    """Span number -> folder, for every `span-<N>` folder with CSV files."""
    if not os.path.isdir(data_dir):
        raise SpanError(f"data folder not found: {data_dir}")
    spans = {}
    for name in os.listdir(data_dir):
        match = SPAN_DIR.match(name)
        path = os.path.join(data_dir, name)
        if match and os.path.isdir(path) and glob.glob(os.path.join(path, "*.csv")):
            spans[int(match.group(1))] = path
    if not spans:
        raise SpanError(
            f"no span folders in {data_dir}: expected span-<N>/ folders of CSV files "
            "(span-1/, span-2/, ...; the largest N is the newest)"
        )
    return dict(sorted(spans.items()))


def newest(spans: dict[int, str], count: int) -> list[int]:
    return sorted(spans)[-count:]


def stage(spans: dict[int, str], chosen: list[int], home: str) -> str:
    """A folder of links to the chosen spans' CSV files, for CsvExampleGen.

    The folder is named after the spans, so the same spans give the same
    input (and ExampleGen's cache), new spans a new one.
    """
    folder = os.path.join(home, "staged", "spans-" + "-".join(str(n) for n in chosen))
    os.makedirs(folder, exist_ok=True)
    for number in chosen:
        for source in sorted(glob.glob(os.path.join(spans[number], "*.csv"))):
            link = os.path.join(folder, f"span-{number}__{os.path.basename(source)}")
            if not os.path.lexists(link):
                os.symlink(os.path.abspath(source), link)
    return folder


def last_pushed_spans(home: str) -> tuple[list[int], str | None]:
    """Spans and model path of the newest run summary that pushed a model."""
    best: tuple[float, list[int], str | None] = (-1.0, [], None)
    for path in glob.glob(os.path.join(home, home_layout.RUNS_DIR, "*.json")):
        if os.path.basename(path) == home_layout.LATEST:
            continue
        try:
            with open(path) as f:
                summary = json.load(f)
        except (OSError, ValueError):
            continue
        if summary.get("pushed_model") and summary.get("spans"):
            stamp = os.path.getmtime(path)
            if stamp > best[0]:
                best = (stamp, summary["spans"], summary["pushed_model"])
    return best[1], best[2]


def split_into_spans(
    csv_path: str, out_dir: str, count: int, rows_per_span: int | None = None
) -> list[str]:
    """Writes consecutive row blocks of a CSV as span-1 .. span-<count> folders.

    For trying `multihead retrain` on the bundled taxi sample.
    """
    import csv

    with open(csv_path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    size = rows_per_span or len(rows) // count
    folders = []
    for index in range(count):
        folder = os.path.join(out_dir, f"span-{index + 1}")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "data.csv"), "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows[index * size : (index + 1) * size])
        folders.append(folder)
    return folders
