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
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pa_csv
from tfx.dsl.io import fileio

from trainer_module.export import serving_inputs, signature_inputs, signature_outputs
from trainer_module.parts import read_parts
from trainer_module.signatures import COLUMNS_SIGNATURE

BATCH_ROWS = 2048
BLOCK_BYTES = 4 << 20  # Arrow's CSV block: about 30k taxi rows
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
    """Rows read and converted: the model's input columns and the kept ones."""

    path: str
    size: int = 0
    columns: dict[str, Any] = dataclasses.field(default_factory=dict)  # name -> values
    kept: list[list[str]] = dataclasses.field(default_factory=list)  # one list per kept column


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


def _text_file(path: str):
    """A local file through Python's own reader (TF's file layer costs about
    4 us a line), anything else (gs://, s3://) through tfx's fileio."""
    if "://" in path:
        return fileio.open(path, "r")
    return open(path, newline="", encoding="utf-8")  # noqa: SIM115 - closed by the caller


def _records(path: str, skip: int = 0) -> Iterator[tuple[int, dict | None, str | None]]:
    """(line, {column: cell}, or None and why) of every row of one file
    after the first `skip` (a CSV file's blank lines are not rows)."""
    with _text_file(path) as f:
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
            if row and skip > 0:
                skip -= 1
                continue
            if not row:
                continue  # a blank line
            if len(row) != len(header):
                yield start, None, f"{len(row)} fields, expected {len(header)} as in the header"
                continue
            yield start, dict(zip(header, row, strict=True)), None


class _Unreadable(Exception):
    """A block of a CSV file has a cell (or row) the fast path cannot read."""

    def __init__(self, rows_done: int):
        super().__init__(rows_done)
        self.rows_done = rows_done


def read_batches(
    path: str, contract: ModelContract, keep: list[str], batch_rows: int = BATCH_ROWS
) -> Iterator[Batch | beam.pvalue.TaggedOutput]:
    """Batches of readable rows, and a tagged reject for every other row.

    A CSV file is read by Arrow a block at a time, each column converted at
    once; from the first block with a cell or row it cannot read, the rest
    of the file is read row by row with Python's csv module, which names
    each reject by its line.
    """
    missing = frozenset(["", *contract.missing_values])
    skip = 0
    if not _is_json_lines(path):
        try:
            yield from _arrow_batches(path, contract, keep, missing, batch_rows)
            return
        except _Unreadable as unreadable:
            skip = unreadable.rows_done
    pending: list[tuple[int, dict]] = []
    for line, record, problem in _records(path, skip):
        if problem is not None:
            yield beam.pvalue.TaggedOutput(REJECTS, _reject(path, line, problem, record))
            continue
        pending.append((line, record))
        if len(pending) >= batch_rows:
            yield from _convert(path, pending, contract, keep, missing)
            pending = []
    if pending:
        yield from _convert(path, pending, contract, keep, missing)


def _arrow_column(values: pa.Array, kind: str, required: bool, missing: pa.Array):
    """One input column of a block at once (Arrow strings), or None when a
    cell needs a closer look."""
    absent = pc.fill_null(pc.is_in(values, value_set=missing), True)
    if kind == _TEXT:
        if required and pc.any(absent).as_py():
            return None
        return pc.if_else(absent, "", values).to_numpy(zero_copy_only=False)
    try:
        numbers = pc.cast(pc.if_else(absent, None, values), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    result = pc.fill_null(numbers, math.nan).to_numpy(zero_copy_only=False)
    nan = np.isnan(result)
    if required and nan.any():
        return None
    if kind == _WHOLE and not (nan | (result == np.round(result))).all():
        return None
    return result


def _arrow_batches(
    path: str,
    contract: ModelContract,
    keep: list[str],
    missing: frozenset[str],
    batch_rows: int,
) -> Iterator[Batch]:
    """The file's rows by Arrow blocks; raises _Unreadable at the first block
    it cannot read whole (the batches before it are already yielded)."""
    with _binary_file(path) as f:
        names = next(csv.reader([f.readline().decode("utf-8-sig").rstrip("\r\n")]))
        f.seek(0)
        wanted = sorted(set(contract.inputs) | set(keep))
        read = pa_csv.ReadOptions(column_names=names, skip_rows=1, block_size=BLOCK_BYTES)
        convert = pa_csv.ConvertOptions(
            column_types=dict.fromkeys(wanted, pa.string()),
            include_columns=wanted,
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        parse = pa_csv.ParseOptions(newlines_in_values=True)
        tokens = pa.array(sorted(missing), pa.string())
        done = 0
        try:
            reader = pa_csv.open_csv(
                f, read_options=read, parse_options=parse, convert_options=convert
            )
            for block in reader:
                for start in range(0, block.num_rows, batch_rows):
                    part = block.slice(start, batch_rows)
                    columns = {}
                    for name, kind in contract.inputs.items():
                        values = part.column(name)
                        converted = _arrow_column(values, kind, name in contract.required, tokens)
                        if converted is None:
                            raise _Unreadable(done)
                        columns[name] = converted
                    kept = [part.column(k).to_pylist() for k in keep]
                    yield Batch(path, size=part.num_rows, columns=columns, kept=kept)
                    done += part.num_rows
        except pa.ArrowInvalid:
            raise _Unreadable(done) from None


def _binary_file(path: str):
    if "://" in path:
        return fileio.open(path, "rb")
    return open(path, "rb")  # noqa: SIM115 - closed by the caller


def _column(cells: list, kind: str, required: bool, missing: frozenset[str]):
    """One input column of a batch at once, or None when a cell needs a closer look."""
    if kind == _TEXT:
        values = ["" if c is None or c in missing else str(c) for c in cells]
        return None if required and "" in values else values
    try:
        values = np.array(
            [math.nan if c is None or c in missing else c for c in cells], dtype=np.float64
        )
    except (TypeError, ValueError):
        return None
    absent = np.isnan(values)
    if required and absent.any():
        return None
    if kind == _WHOLE and not (absent | (values == np.round(values))).all():
        return None
    return values


def _convert(
    path: str,
    pending: list[tuple[int, dict]],
    contract: ModelContract,
    keep: list[str],
    missing: frozenset[str],
) -> Iterator[Batch | beam.pvalue.TaggedOutput]:
    """The rows as one batch, column by column; row by row (to name the
    rejects) only when some cell of the batch cannot be read."""
    columns = {}
    for name, kind in contract.inputs.items():
        cells = [record.get(name) for _, record in pending]
        values = _column(cells, kind, name in contract.required, missing)
        if values is None:
            yield from _row_by_row(path, pending, contract, keep, missing)
            return
        columns[name] = values
    yield Batch(
        path,
        size=len(pending),
        columns=columns,
        kept=[[_text(record.get(k)) for _, record in pending] for k in keep],
    )


def _row_by_row(
    path: str,
    pending: list[tuple[int, dict]],
    contract: ModelContract,
    keep: list[str],
    missing: frozenset[str],
) -> Iterator[Batch | beam.pvalue.TaggedOutput]:
    batch = Batch(path, columns={name: [] for name in contract.inputs}, kept=[[] for _ in keep])
    for line, record in pending:
        values, problem = {}, None
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
        batch.size += 1
        for name, value in values.items():
            batch.columns[name].append(value)
        for column, k in zip(batch.kept, keep, strict=True):
            column.append(_text(record.get(k)))
    if batch.size:
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
