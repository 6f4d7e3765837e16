"""CSV files to tf.Examples in two streaming passes, decoded and encoded in C++.

TFX's CsvExampleGen parses and encodes every row in Python (about 0.2 ms a
row on these machines), and its writer reshuffles each split before writing
it, which on the in-process Beam runner holds the whole split in memory
(peak RSS 4.4 GB at 1.5M taxi rows against 1.3 GB at 15k). This executor
reads each file twice, a block at a time, with Arrow's CSV reader (pass 1:
column types; pass 2: rows), encodes each block with tfx_bsl's
RecordBatch-to-tf.Example encoder, and writes the splits without a
reshuffle: memory stays at a block, and the per-row work left in Python is
Beam's.

The output matches CsvExampleGen's: a column is INT when every non-empty cell
is an int64, else FLOAT when every one is a number, else STRING; an empty
cell is a feature with an empty value list, and a column with no value at all
is a feature with no kind. Two edge cases differ: cells like "1_000" or " 7",
which Python's int() reads and Arrow does not, make a STRING column here;
integers beyond int64 make a FLOAT column here and a STRING one in TFX.
"""

from __future__ import annotations

import bisect
import contextlib
import csv
import hashlib
import itertools
import json
import os
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pa_csv
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.example_gen import write_split
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.components.util import examples_utils
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.types.artifact import Artifact
from tfx.utils import proto_utils
from tfx_bsl.coders import example_coder

from components.beam_pickling import cheap_dill_trace
from components.constants import FLOAT_COLUMNS_KEY, MISSING_VALUES_KEY

# Types from narrowest to widest; a column takes the widest any block needs.
UNKNOWN, INT, FLOAT, STRING = "unknown", "int", "float", "string"
_ORDER = (UNKNOWN, INT, FLOAT, STRING)
# How a column is read, and how its values are written (tf.Example floats are
# float32).
_READ = {INT: pa.int64(), FLOAT: pa.float64(), STRING: pa.binary(), UNKNOWN: pa.string()}
_ARROW = {INT: pa.int64(), FLOAT: pa.float32(), STRING: pa.binary(), UNKNOWN: pa.binary()}
BLOCK_BYTES = 8 << 20
_ENCODER = example_coder.RecordBatchToExamplesEncoder()


class CsvFormatError(ValueError):
    """A CSV file this executor cannot read, named with the reason."""


def header(path: str) -> list[str]:
    """The column names on the file's first line (a UTF-8 byte-order mark is dropped)."""
    with fileio.open(path, "rb") as f:
        line = f.readline().decode("utf-8-sig").rstrip("\r\n")
    names = next(csv.reader([line]), [])
    if not line or not all(names):
        raise CsvFormatError(f"{path}: the first line must name every column, got {line!r}")
    if len(set(names)) != len(names):
        raise CsvFormatError(f"{path}: the header names a column twice: {line!r}")
    return names


def _blocks(
    path: str,
    names: list[str],
    types: dict[str, pa.DataType],
    missing: tuple[str, ...] = (),
) -> Iterator[pa.RecordBatch]:
    """The file's rows after the header, a block at a time; '' and the
    `missing` tokens are null."""
    read = pa_csv.ReadOptions(column_names=names, skip_rows=1, block_size=BLOCK_BYTES)
    parse = pa_csv.ParseOptions(newlines_in_values=True)
    convert = pa_csv.ConvertOptions(
        column_types=types,
        null_values=["", *missing],
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    # Local files are read by Arrow itself; others (gs://, s3://) through
    # TFX's filesystem layer.
    with contextlib.ExitStack() as stack:
        source: Any = path
        if "://" in path:
            source = pa.PythonFile(stack.enter_context(fileio.open(path, "rb")), mode="r")
        try:
            reader = pa_csv.open_csv(
                source, read_options=read, parse_options=parse, convert_options=convert
            )
            yield from reader
        except pa.ArrowInvalid as error:
            raise CsvFormatError(f"{path}: {error}") from error


def _narrowest(values: pa.Array) -> str:
    """The narrowest type that reads every non-null value of a string array."""
    values = values.drop_null()
    if len(values) == 0:
        return UNKNOWN
    for kind, arrow in ((INT, pa.int64()), (FLOAT, pa.float64())):
        try:
            pc.cast(values, arrow)
            return kind
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return STRING


def file_column_types(path: str, missing: tuple[str, ...] = ()) -> dict[str, str]:
    """Pass 1: each column's type over one file (`missing` tokens are null)."""
    names = header(path)
    result = dict.fromkeys(names, UNKNOWN)
    as_text = dict.fromkeys(names, pa.string())
    for block in _blocks(path, names, as_text, missing):
        for name, column in zip(names, block.columns, strict=True):
            if result[name] != STRING:
                result[name] = max(result[name], _narrowest(column), key=_ORDER.index)
    return result


def merge_column_types(
    per_file: list[dict[str, str]], float_columns: frozenset[str] = frozenset()
) -> dict[str, str]:
    """The split's column types; an INT column in `float_columns` is FLOAT."""
    result: dict[str, str] = {}
    for types in per_file:
        for name, kind in types.items():
            result[name] = max(result.get(name, UNKNOWN), kind, key=_ORDER.index)
    for name in float_columns & set(result):
        if result[name] == INT:
            result[name] = FLOAT
    return result


def _as_lists(column: pa.Array, kind: str) -> pa.Array:
    """One list per row: [] for an empty cell, null (no kind) for UNKNOWN."""
    arrow = _ARROW[kind]
    if kind == UNKNOWN:
        return pa.nulls(len(column), pa.list_(arrow))
    column = column.cast(arrow)
    counts = pc.cumulative_sum(pc.cast(pc.is_valid(column), pa.int32()))
    offsets = pa.concat_arrays([pa.array([0], pa.int32()), counts])
    return pa.ListArray.from_arrays(offsets, column.drop_null())


def _row_keys(block: pa.RecordBatch) -> list[bytes]:
    """Each row's cells joined: a key that depends on the row's content only.

    The encoder's bytes cannot be the split key, as TFX's are: it writes the
    features in hash-map order, which changes from one process to the next.
    """
    cells = [pc.cast(column, pa.string()) for column in block.columns]
    joined = pc.binary_join_element_wise(
        *cells, "\x1f", null_handling="replace", null_replacement=""
    )
    return joined.cast(pa.binary()).to_pylist()


def encode_file(
    path: str, types: dict[str, str], missing: tuple[str, ...] = ()
) -> Iterator[tuple[bytes, bytes]]:
    """Pass 2: (row key, serialized tf.Example) of the file's rows, a block
    at a time; `missing` tokens are empty cells."""
    names = header(path)
    if set(names) != set(types):
        raise CsvFormatError(f"{path}: columns {names} differ from the split's {sorted(types)}")
    read_types = {n: _READ[types[n]] for n in names}
    for block in _blocks(path, names, read_types, missing):
        lists = [
            _as_lists(column, types[n]) for n, column in zip(names, block.columns, strict=True)
        ]
        examples = _ENCODER.encode(pa.RecordBatch.from_arrays(lists, names))
        yield from zip(_row_keys(block), examples, strict=True)


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tuple[bytes, bytes])
def CsvToKeyedExamples(  # noqa: N802 - Beam's convention for PTransform functions
    pipeline: beam.Pipeline,
    input_base: str,
    split_pattern: str,
    float_columns: frozenset[str] = frozenset(),
    missing: tuple[str, ...] = (),
) -> beam.PCollection:
    """(row key, serialized tf.Example) of every CSV file of the split;
    cells holding a `missing` token are empty."""
    pattern = os.path.join(input_base, split_pattern)
    files = sorted(fileio.glob(pattern))
    if not files:
        raise CsvFormatError(f"split pattern {pattern} matches no files")
    first = header(files[0])
    for path in files[1:]:
        if header(path) != first:
            raise CsvFormatError(f"{path}: header differs from {files[0]}'s")
    types = beam.pvalue.AsSingleton(
        pipeline
        | "TypeFiles" >> beam.Create(files)
        | "ColumnTypes" >> beam.Map(file_column_types, missing)
        | "AllFiles" >> beam.combiners.ToList()
        | "MergeTypes" >> beam.Map(merge_column_types, float_columns)
    )
    return (
        pipeline
        | "Files" >> beam.Create(files)
        | "Encode" >> beam.FlatMap(encode_file, types, missing)
    )


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(bytes)
def CsvToExamples(  # noqa: N802
    pipeline: beam.Pipeline, exec_properties: dict[str, Any], split_pattern: str
) -> beam.PCollection:
    """Serialized tf.Examples of every CSV file matching the split pattern."""
    base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
    floats, missing = read_options(exec_properties)
    return pipeline | CsvToKeyedExamples(base, split_pattern, floats, missing) | beam.Values()


def read_options(exec_properties: dict[str, Any]) -> tuple[frozenset[str], tuple[str, ...]]:
    """From the custom config (pipeline.py sets it): the columns written as
    floats even when every value is an integer (FLOAT_COLUMNS_KEY), and the
    cell values read as missing (MISSING_VALUES_KEY)."""
    text = exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY) or "{}"
    config = json.loads(text) if isinstance(text, str) else dict(text)
    return (
        frozenset(config.get(FLOAT_COLUMNS_KEY) or []),
        tuple(config.get(MISSING_VALUES_KEY) or []),
    )


def _configs(
    exec_properties: dict[str, Any],
) -> tuple[example_gen_pb2.Input, example_gen_pb2.Output]:
    """The component's input and output configs, from their JSON."""
    input_config = example_gen_pb2.Input()
    proto_utils.json_to_proto(
        exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config
    )
    output_config = example_gen_pb2.Output()
    proto_utils.json_to_proto(
        exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config
    )
    return input_config, output_config


def _bucket(keyed: tuple[bytes, bytes], partitions: int, bounds: list[int]) -> int:
    digest = int(hashlib.sha256(keyed[0]).hexdigest(), 16)
    return bisect.bisect(bounds, digest % bounds[-1])


class Executor(BaseExampleGenExecutor):
    """ExampleGen executor for CSV files (header line first).

    Writes each split straight from the encoder: TFX's writer reshuffles the
    records first (to spread the writing over a distributed runner's
    workers), and a reshuffle on the in-process runner holds the whole split
    in memory. Output: gzipped TFRecords of serialized tf.Examples, as TFX's.
    """

    def Do(  # noqa: N802
        self,
        input_dict: dict[str, list[Artifact]],
        output_dict: dict[str, list[Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        cheap_dill_trace()
        self._log_startup(input_dict, output_dict, exec_properties)
        payload = exec_properties.get(standard_component_specs.OUTPUT_DATA_FORMAT_KEY)
        if payload not in (None, example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE):
            raise CsvFormatError(
                f"output_data_format {payload}: this CsvExampleGen writes tf.Examples only"
            )
        file_format = exec_properties.get(
            standard_component_specs.OUTPUT_FILE_FORMAT_KEY,
            example_gen_pb2.FILE_FORMAT_UNSPECIFIED,
        )
        # Refuses anything but gzipped TFRecords, naming the format.
        file_format_name = write_split.to_file_format_str(file_format)
        input_config, output_config = _configs(exec_properties)
        outputs = output_dict[standard_component_specs.EXAMPLES_KEY]
        examples = artifact_utils.get_single_instance(outputs)
        examples.split_names = artifact_utils.encode_split_names(
            example_gen_utils.generate_output_split_names(input_config, output_config)
        )
        with self._make_beam_pipeline() as pipeline:
            for name, split in self.GenerateExamplesByBeam(pipeline, exec_properties).items():
                prefix = os.path.join(
                    artifact_utils.get_split_uri(outputs, name), write_split.DEFAULT_FILE_NAME
                )
                _ = split | f"WriteSplit[{name}]" >> beam.io.WriteToTFRecord(
                    prefix, file_name_suffix=".gz"
                )
        examples_utils.set_payload_format(examples, example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE)
        if file_format:
            examples_utils.set_file_format(examples, file_format_name)

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:  # noqa: N802
        return CsvToExamples

    def GenerateExamplesByBeam(  # noqa: N802
        self, pipeline: beam.Pipeline, exec_properties: dict[str, Any]
    ) -> dict[str, beam.PCollection]:
        """As TFX's, but a hash split keys rows on their cells (see _row_keys)."""
        input_config, output_config = _configs(exec_properties)
        names = example_gen_utils.generate_output_split_names(input_config, output_config)
        base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
        floats, missing = read_options(exec_properties)
        split_config = output_config.split_config
        if not split_config.splits:
            return {
                name: pipeline
                | f"InputToRecord[{split.name}]"
                >> CsvToKeyedExamples(base, split.pattern, floats, missing)
                | f"Examples[{split.name}]" >> beam.Values()
                for name, split in zip(names, input_config.splits, strict=True)
            }
        if split_config.partition_feature_name:
            raise CsvFormatError(
                "this CsvExampleGen splits on whole rows; partition_feature_name "
                f"({split_config.partition_feature_name!r}) needs tfx.components.CsvExampleGen"
            )
        if len(input_config.splits) != 1:
            raise CsvFormatError("an output split config needs exactly one input split")
        bounds = list(itertools.accumulate(s.hash_buckets for s in split_config.splits))
        parts = (
            pipeline
            | "InputToRecord"
            >> CsvToKeyedExamples(base, input_config.splits[0].pattern, floats, missing)
            | "SplitData" >> beam.Partition(_bucket, len(bounds), bounds)
        )
        return {
            name: part | f"Examples[{name}]" >> beam.Values()
            for name, part in zip(names, parts, strict=True)
        }
