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
import math
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import numpy as np
from tfx.dsl.io import fileio

from trainer_module.export import serving_inputs, signature_inputs, signature_outputs
from trainer_module.parts import read_parts
from trainer_module.signatures import COLUMNS_SIGNATURE

BATCH_ROWS = 2048
REJECTS = "rejects"
# Input columns: how each named input of serving_columns reads a cell.
_FLOAT, _WHOLE, _TEXT = "DT_FLOAT", "DT_DOUBLE", "DT_STRING"


class ScoringError(ValueError):
    """Input that cannot be scored, named (file, column, head, model)."""


@dataclasses.dataclass(frozen=True)
class HeadOutputs:
    """How one head's outputs become output columns."""

    name: str
    probabilities: bool  # a multiclass head: <head>_probabilities
    classes: tuple[str, ...] = ()  # its class names (empty: class indexes)

    def columns(self, size: int) -> list[str]:
        if not self.probabilities:
            return [self.name]
        labels = self.classes or tuple(str(i) for i in range(size))
        return [self.name, *(f"{self.name}_probability_{label}" for label in labels)]


@dataclasses.dataclass(frozen=True)
class ModelContract:
    """What scoring needs to know of a pushed model, read from its folder."""

    path: str
    inputs: dict[str, str]  # column -> DT_FLOAT | DT_DOUBLE (a whole number) | DT_STRING
    heads: tuple[HeadOutputs, ...]
    sizes: dict[str, int]  # multiclass head -> number of classes
    missing_values: tuple[str, ...]
    required: frozenset[str] = frozenset()  # inputs the model cannot do without

    def output_columns(self, keep: list[str]) -> list[str]:
        names = list(keep)
        for head in self.heads:
            names += head.columns(self.sizes.get(head.name, 1))
        return names


def read_contract(model_dir: str, heads: list[str] | None = None) -> ModelContract:
    """The model's inputs and heads, checked.

    Raises:
      ScoringError: not a multi-head SavedModel of this project (no parts
        file or no serving_columns signature), or a head in `heads` it lacks.
    """
    if not fileio.exists(os.path.join(model_dir, "saved_model.pb")):
        raise ScoringError(f"{model_dir} is not a SavedModel (no saved_model.pb)")
    parts = read_parts(model_dir)
    outputs = signature_outputs(model_dir)
    if parts is None or COLUMNS_SIGNATURE not in outputs:
        raise ScoringError(
            f"{model_dir} is not a multi-head model that can be batch scored (it lacks "
            f"assets.extra/parts.json or the {COLUMNS_SIGNATURE} signature): push a model "
            "trained by this version of the pipeline"
        )
    served = [h for part in parts for h in part.heads]
    chosen = heads or served
    unknown = [h for h in chosen if h not in served]
    if unknown:
        raise ScoringError(f"--heads {unknown}: the model at {model_dir} has heads {served}")
    classes = {h: c for part in parts for h, c in part.classes.items()}
    all_outputs = outputs[COLUMNS_SIGNATURE]
    sizes = {}
    head_outputs = []
    for name in chosen:
        probabilities = f"{name}_probabilities" in all_outputs
        if probabilities:
            sizes[name] = int(all_outputs[f"{name}_probabilities"][1][-1])
        head_outputs.append(HeadOutputs(name, probabilities, tuple(classes.get(name, ()))))
    inputs = {k: dtype for k, (dtype, _) in signature_inputs(model_dir)[COLUMNS_SIGNATURE].items()}
    declared = serving_inputs(model_dir) or {}
    return ModelContract(
        path=model_dir,
        inputs=inputs,
        heads=tuple(head_outputs),
        sizes=sizes,
        missing_values=tuple(declared.get("missing_values", [])),
        required=frozenset(declared.get("required", [])),
    )


def input_files(data: str) -> list[str]:
    """The CSV or JSON Lines files at `data` (a file or a folder of them)."""
    if not fileio.exists(data):
        raise ScoringError(f"--data {data} does not exist")
    if not fileio.isdir(data):
        return [data]
    names = sorted(n.rstrip("/") for n in fileio.listdir(data))
    files = [os.path.join(data, n) for n in names if n.endswith((".csv", ".jsonl", ".json"))]
    if not files:
        raise ScoringError(f"--data {data} holds no .csv or .jsonl files")
    return files


def _is_json_lines(path: str) -> bool:
    return path.endswith((".jsonl", ".json"))


def check_headers(files: list[str], contract: ModelContract, keep: list[str]) -> None:
    """Every CSV file names every column the model reads and every kept one.

    Raises:
      ScoringError: naming the file and the missing columns.
    """
    for path in files:
        if _is_json_lines(path):
            continue
        with fileio.open(path, "r") as f:
            header = next(csv.reader(f), None)
        if not header:
            raise ScoringError(f"{path} is empty (no header line)")
        header[0] = header[0].removeprefix("\ufeff")
        lacking = sorted(set(contract.inputs) - set(header))
        if lacking:
            raise ScoringError(
                f"{path}: column(s) {lacking} that the model reads are not in the header "
                f"(it has {header}); add them (empty cells are missing values)"
            )
        absent = [c for c in keep if c not in header]
        if absent:
            raise ScoringError(f"{path}: --keep column(s) {absent} are not in the header")


@dataclasses.dataclass
class Batch:
    """Rows read and converted to the model's input columns."""

    path: str
    lines: list[int] = dataclasses.field(default_factory=list)
    columns: dict[str, list] = dataclasses.field(default_factory=dict)
    kept: list[list[str]] = dataclasses.field(default_factory=list)


def _cell(value: Any, kind: str, missing: frozenset[str]) -> tuple[Any, str | None]:
    """(the input value, or None and why it cannot be read)."""
    if value is None or (isinstance(value, str) and value in missing):
        return ("" if kind == _TEXT else math.nan), None
    if kind == _TEXT:
        return str(value), None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None, f"{value!r} is not a number"
    if kind == _WHOLE and not (math.isnan(number) or number.is_integer()):
        return None, f"{value!r} is not a whole number"
    return number, None


def _records(path: str) -> Iterator[tuple[int, dict | None, str | None]]:
    """(line, {column: cell}, or None and why) of every row of one file."""
    with fileio.open(path, "r") as f:
        if _is_json_lines(path):
            for line, text in enumerate(f, start=1):
                if not text.strip():
                    continue
                try:
                    record = json.loads(text)
                except ValueError as error:
                    yield line, None, f"not JSON: {error}"
                    continue
                if not isinstance(record, dict):
                    yield line, None, "not a JSON object of columns"
                    continue
                yield line, record, None
            return
        reader = csv.reader(f)
        header = next(reader)
        header[0] = header[0].removeprefix("\ufeff")
        line = reader.line_num
        for row in reader:
            start, line = line + 1, reader.line_num
            if len(row) != len(header):
                yield start, None, f"{len(row)} fields, expected {len(header)} as in the header"
                continue
            yield start, dict(zip(header, row, strict=True)), None


def read_batches(
    path: str, contract: ModelContract, keep: list[str], batch_rows: int = BATCH_ROWS
) -> Iterator[Batch | beam.pvalue.TaggedOutput]:
    """Batches of readable rows, and a tagged reject for every other row."""
    missing = frozenset(["", *contract.missing_values])
    batch = Batch(path, columns={name: [] for name in contract.inputs})
    for line, record, problem in _records(path):
        values = {}
        if problem is None:
            for name, kind in contract.inputs.items():
                value, why = _cell(record.get(name), kind, missing)
                if why is None and name in contract.required and (value == "" or _is_nan(value)):
                    why = "missing, and the model requires it"
                if why is not None:
                    problem = f"column {name!r}: {why}"
                    break
                values[name] = value
        if problem is not None:
            yield beam.pvalue.TaggedOutput(REJECTS, _reject(path, line, problem, record))
            continue
        batch.lines.append(line)
        for name, value in values.items():
            batch.columns[name].append(value)
        batch.kept.append([_text(record.get(k)) for k in keep])
        if len(batch.lines) >= batch_rows:
            yield batch
            batch = Batch(path, columns={name: [] for name in contract.inputs})
    if batch.lines:
        yield batch


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _text(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else json.dumps(value)


def _reject(path: str, line: int, reason: str, record: dict | None) -> str:
    return json.dumps({"file": path, "line": line, "reason": reason, "row": record})


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
        self._dtypes = {_FLOAT: tf.float32, _WHOLE: tf.float64, _TEXT: tf.string}
        self._done, self._started, self._said = 0, time.monotonic(), time.monotonic()

    def process(self, batch: Batch) -> Iterator[str]:
        """One element per batch: its output lines joined (Beam's cost is per element)."""
        tf = self._tf
        tensors = {
            name: tf.constant(values, self._dtypes[self.contract.inputs[name]])
            for name, values in batch.columns.items()
        }
        outputs = {k: v.numpy() for k, v in self._signature(**tensors).items()}
        columns = self.contract.output_columns(self.keep)
        lines = []
        for i, kept in enumerate(batch.kept):
            values: list[Any] = list(kept)
            for head in self.contract.heads:
                values += _head_values(head, outputs, i)
            lines.append(_format(columns, values, self.format))
        yield "\n".join(lines)
        self.rows.inc(len(batch.kept))
        self._progress(len(batch.kept))

    def _progress(self, rows: int) -> None:
        self._done += rows
        now = time.monotonic()
        if now - self._said >= 5:
            rate = self._done / max(now - self._started, 1e-9)
            print(f"scored {self._done:,} rows ({rate:,.0f} rows/s)", file=sys.stderr, flush=True)
            self._said = now


def _head_values(head: HeadOutputs, outputs: dict[str, np.ndarray], row: int) -> list[Any]:
    if not head.probabilities:
        return [float(outputs[head.name][row])]
    probabilities = [float(p) for p in outputs[f"{head.name}_probabilities"][row]]
    if f"{head.name}_class" in outputs:
        answer: Any = outputs[f"{head.name}_class"][row].decode()
    else:
        answer = int(outputs[head.name][row])
    return [answer, *probabilities]


def _format(columns: list[str], values: list[Any], output_format: str) -> str:
    if output_format == "jsonl":
        return json.dumps(dict(zip(columns, values, strict=True)))
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(
        [repr(v) if isinstance(v, float) else v for v in values]
    )
    return buffer.getvalue()


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
    """Reads, scores and writes every file; the outputs land under the prefixes."""
    read = (
        pipeline
        | "Files" >> beam.Create(files)
        | "Read"
        >> beam.FlatMap(read_batches, contract, keep, batch_rows).with_outputs(
            REJECTS, main="batches"
        )
    )
    header = header_line(contract.output_columns(keep)) if fmt == "csv" else None
    _ = (
        read.batches
        | "Score" >> beam.ParDo(ScoreBatches(contract, keep, fmt))
        | "Write" >> beam.io.WriteToText(output_prefix, shard_name_template="", header=header)
    )
    _ = (
        read[REJECTS]
        | "CountRejects" >> beam.Map(_count_reject)
        | "WriteRejects" >> beam.io.WriteToText(rejects_prefix, shard_name_template="")
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
    temp_output, temp_rejects = output + stamp, rejects_path(output) + stamp
    started = time.monotonic()
    options = beam.options.pipeline_options.PipelineOptions(beam_args or [])
    try:
        pipeline = beam.Pipeline(options=options)
        _ = pipeline | ScoreFiles(files, contract, keep, fmt, temp_output, temp_rejects, batch_rows)
        result = pipeline.run()
        result.wait_until_finish()
        rows = _counter(result, "rows")
        rejects = _counter(result, "rejects")
        if rows == 0:
            first = _first_line(temp_rejects)
            raise ScoringError(
                f"no row of {len(files)} file(s) could be scored ({rejects} rejected"
                + (f"; the first: {first}" if first else "")
                + ")"
            )
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


def _counter(result, name: str) -> int:
    query = result.metrics().query(beam.metrics.MetricsFilter().with_name(name))
    return int(sum(c.committed or 0 for c in query["counters"]))


def _first_line(path: str) -> str | None:
    if not fileio.exists(path):
        return None
    with fileio.open(path, "r") as f:
        return f.readline().strip() or None
