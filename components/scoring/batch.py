"""Batch scoring of every head in one pass, on Beam.

Rows come from CSV files (or JSON Lines) and go to the model's
`serving_columns` signature (every head's outputs, the same graph as
`serving_default`) a batch at a time, as named column tensors: no
tf.Example is built. Each output row holds the kept input columns and every
chosen head's outputs; a row that cannot be read (wrong number of fields, a
word where the model reads a number) goes to the rejects with its file,
line and reason, never dropped. The output and the rejects are written
under temporary names and renamed at the end, so nothing half-written is
ever at the output path.

Parallelism is per input file (a file is read by one worker, a batch at a
time: memory stays at a batch); the same Beam options take it to Dataflow.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import numpy as np
from tfx.dsl.io import fileio

from components.scoring.contract import (
    FLOAT,
    TEXT,
    WHOLE,
    HeadOutputs,
    ModelContract,
    ScoringError,
    check_headers,
)
from components.scoring.reading import BATCH_ROWS, REJECTS, Batch, read_batches
from trainer_module.signatures import COLUMNS_SIGNATURE


class ScoreBatches(beam.DoFn):
    """Runs the model's serving_columns on each batch; yields formatted output rows."""

    def __init__(self, contract: ModelContract, keep: list[str], output_format: str):
        self.contract = contract
        self.keep = keep
        self.format = output_format
        self.rows = beam.metrics.Metrics.counter("scoring", "rows")

    def setup(self) -> None:
        import tensorflow as tf

        self._tf = tf
        self._signature = tf.saved_model.load(self.contract.path).signatures[COLUMNS_SIGNATURE]
        self._dtypes = {FLOAT: tf.float32, WHOLE: tf.float64, TEXT: tf.string}
        self._done, self._started, self._said = 0, time.monotonic(), time.monotonic()

    def process(self, batch: Batch) -> Iterator[str]:
        """One element per batch: its output lines joined (Beam's cost is per element)."""
        tf = self._tf
        tensors = {
            name: tf.constant(values, self._dtypes[self.contract.inputs[name]])
            for name, values in batch.columns.items()
        }
        outputs = {k: v.numpy() for k, v in self._signature(**tensors).items()}
        columns = list(batch.kept)
        for head in self.contract.heads:
            columns += _head_columns(head, outputs)
        names = self.contract.output_columns(self.keep)
        if self.format == "jsonl":
            rows = zip(*columns, strict=True)
            lines = [json.dumps(dict(zip(names, row, strict=True))) for row in rows]
        else:
            texts = [_csv_cells(column) for column in columns]
            lines = [",".join(row) for row in zip(*texts, strict=True)]
        yield "\n".join(lines)
        self.rows.inc(batch.size)
        self._progress(batch.size)

    def _progress(self, rows: int) -> None:
        self._done += rows
        now = time.monotonic()
        if now - self._said >= 5:
            rate = self._done / max(now - self._started, 1e-9)
            print(f"scored {self._done:,} rows ({rate:,.0f} rows/s)", file=sys.stderr, flush=True)
            self._said = now


def _head_columns(head: HeadOutputs, outputs: dict[str, np.ndarray]) -> list[list[Any]]:
    """The head's output columns for a batch (see HeadOutputs.columns)."""
    if not head.probabilities:
        return [outputs[head.name].astype(float).tolist()]
    if f"{head.name}_class" in outputs:
        answer = [name.decode() for name in outputs[f"{head.name}_class"].tolist()]
    else:
        answer = outputs[head.name].astype(int).tolist()
    probabilities = outputs[f"{head.name}_probabilities"].astype(float)
    return [answer, *(probabilities[:, i].tolist() for i in range(probabilities.shape[1]))]


def _csv_cells(column: list[Any]) -> list[str]:
    """A column's cells as CSV text: floats in full (repr), text quoted when needed."""
    if column and isinstance(column[0], float):
        return [repr(value) for value in column]
    if column and isinstance(column[0], int):
        return [str(value) for value in column]
    return [_quoted(str(value)) for value in column]


def _quoted(text: str) -> str:
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def header_line(columns: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(columns)
    return buffer.getvalue()


def output_format(path: str) -> str:
    """csv or jsonl, from the output file's name."""
    if path.endswith(".csv"):
        return "csv"
    if path.endswith((".jsonl", ".json")):
        return "jsonl"
    raise ScoringError(f"--output {path}: name a .csv or a .jsonl file")


def rejects_path(output: str) -> str:
    """Where the rejects of `output` go: beside it, `<stem>.rejects.jsonl`."""
    stem, _ = os.path.splitext(output)
    return f"{stem}.rejects.jsonl"


@beam.ptransform_fn
def ScoreFiles(  # noqa: N802 - Beam's convention for PTransform functions
    pipeline: beam.Pipeline,
    files: list[str],
    contract: ModelContract,
    keep: list[str],
    fmt: str,
    output_prefix: str,
    rejects_prefix: str,
    batch_rows: int = BATCH_ROWS,
):
    """Reads, scores and writes every file, in shards under the prefixes.

    Shards as the runner makes them (one per bundle): a single named file
    makes Beam group every row on one key first, which the in-process
    runner holds in memory whole; `score` joins the shards instead.
    """
    read = (
        pipeline
        | "Files" >> beam.Create(files)
        | "Read"
        >> beam.FlatMap(read_batches, contract, keep, batch_rows).with_outputs(
            REJECTS, main="batches"
        )
    )
    _ = (
        read.batches
        | "Score" >> beam.ParDo(ScoreBatches(contract, keep, fmt))
        | "Write" >> beam.io.WriteToText(output_prefix)
    )
    _ = (
        read[REJECTS]
        | "CountRejects" >> beam.Map(_count_reject)
        | "WriteRejects" >> beam.io.WriteToText(rejects_prefix)
    )


def _count_reject(text: str) -> str:
    beam.metrics.Metrics.counter("scoring", "rejects").inc()
    return text


@dataclasses.dataclass
class Scored:
    rows: int
    rejects: int
    output: str
    rejects_file: str | None
    seconds: float


def score(
    files: list[str],
    contract: ModelContract,
    output: str,
    keep: list[str] | None = None,
    beam_args: list[str] | None = None,
    batch_rows: int = BATCH_ROWS,
) -> Scored:
    """Scores `files` into `output` (.csv or .jsonl); rejects beside it.

    Raises:
      ScoringError: bad output name, missing columns, or no row readable.
    """
    keep = list(keep or [])
    fmt = output_format(output)
    check_headers(files, contract, keep)
    folder = os.path.dirname(os.path.abspath(output)) if "://" not in output else None
    if folder:
        fileio.makedirs(folder)
    stamp = f".tmp-{os.getpid()}-{time.time_ns()}"
    shards = output + stamp + "-shards"
    temp_output, temp_rejects = output + stamp, rejects_path(output) + stamp
    started = time.monotonic()
    options = beam.options.pipeline_options.PipelineOptions(beam_args or [])
    try:
        pipeline = beam.Pipeline(options=options)
        _ = pipeline | ScoreFiles(
            files,
            contract,
            keep,
            fmt,
            os.path.join(shards, "out"),
            os.path.join(shards, "rejects"),
            batch_rows,
        )
        result = pipeline.run()
        result.wait_until_finish()
        rows = _counter(result, "rows")
        rejects = _counter(result, "rejects")
        _join(shards, "rejects", temp_rejects)
        if rows == 0:
            first = _first_line(temp_rejects)
            raise ScoringError(
                f"no row of {len(files)} file(s) could be scored ({rejects} rejected"
                + (f"; the first: {first}" if first else "")
                + ")"
            )
        header = header_line(contract.output_columns(keep)) if fmt == "csv" else None
        _join(shards, "out", temp_output, header)
        fileio.rename(temp_output, output, overwrite=True)
        rejects_file = None
        if rejects:
            rejects_file = rejects_path(output)
            fileio.rename(temp_rejects, rejects_file, overwrite=True)
        return Scored(rows, rejects, output, rejects_file, time.monotonic() - started)
    finally:
        for leftover in (temp_output, temp_rejects):
            if fileio.exists(leftover):
                fileio.remove(leftover)
        if fileio.exists(shards):
            fileio.rmtree(shards)


def _join(folder: str, prefix: str, target: str, header: str | None = None) -> None:
    """The shards `<folder>/<prefix>-*` one after another in one file, a block at a time."""
    parts = sorted(fileio.glob(os.path.join(folder, f"{prefix}-*")))
    with fileio.open(target, "wb") as out:
        if header is not None:
            out.write((header + "\n").encode())
        for part in parts:
            with fileio.open(part, "rb") as f:
                while block := f.read(8 << 20):
                    out.write(block)


def _counter(result, name: str) -> int:
    query = result.metrics().query(beam.metrics.MetricsFilter().with_name(name))
    return int(sum(c.committed or 0 for c in query["counters"]))


def _first_line(path: str) -> str | None:
    if not fileio.exists(path):
        return None
    with fileio.open(path, "r") as f:
        return f.readline().strip() or None
