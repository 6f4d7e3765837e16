"""CSV files to tf.Examples in two streaming passes, decoded and encoded in C++.

TFX's CsvExampleGen parses and encodes every row in Python (about 0.2 ms a
row on these machines), and its writer reshuffles each split before writing
it, which on the in-process Beam runner holds the whole split in memory
(peak RSS 4.4 GB at 1.5M taxi rows against 1.3 GB at 15k). This executor
reads each file twice, a block at a time, with Arrow's CSV reader (pass 1:
column types; pass 2: rows), encodes each block with tfx_bsl's
RecordBatch-to-tf.Example encoder, splits each block's rows and writes
each split's share of a block as one Beam element (beam_tfrecords.py),
without a reshuffle: memory stays at a block, and the per-row work left in
Python is a hash and a checksum.

The output matches CsvExampleGen's (csv_files.py says where column typing
differs, in two edge cases).
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import itertools
import json
import os
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.example_gen import write_split
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.components.util import examples_utils
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.types.artifact import Artifact
from tfx.utils import proto_utils

from components.beam_costs import lighten_beam
from components.beam_tfrecords import WriteBlocksToTFRecord
from components.constants import CARVE_KEY, FLOAT_COLUMNS_KEY, MISSING_VALUES_KEY
from components.example_gen.csv_files import (
    CsvFormatError,
    encode_blocks,
    file_column_types,
    header,
    merge_column_types,
)

# The second hash's buckets, of which a carved split takes `fraction`.
CARVE_BUCKETS = 10_000


# One block of a file's rows: (row keys, serialized tf.Examples).
Block = tuple[list[bytes], list[bytes]]


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
def CsvToBlocks(  # noqa: N802 - Beam's convention for PTransform functions
    pipeline: beam.Pipeline,
    input_base: str,
    split_pattern: str,
    float_columns: frozenset[str] = frozenset(),
    missing: tuple[str, ...] = (),
) -> beam.PCollection:
    """The Blocks of every CSV file of the split; cells holding a `missing`
    token are empty."""
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
        | "Encode" >> beam.FlatMap(encode_blocks, types, missing)
    )


def _examples(block: Block) -> list[bytes]:
    return block[1]


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(bytes)
def CsvToExamples(  # noqa: N802
    pipeline: beam.Pipeline, exec_properties: dict[str, Any], split_pattern: str
) -> beam.PCollection:
    """Serialized tf.Examples of every CSV file matching the split pattern
    (TFX's per-record interface; the executor itself moves Blocks)."""
    base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
    floats, missing = read_options(exec_properties)
    return pipeline | CsvToBlocks(base, split_pattern, floats, missing) | beam.FlatMap(_examples)


def read_options(exec_properties: dict[str, Any]) -> tuple[frozenset[str], tuple[str, ...]]:
    """From the custom config (pipeline.py sets it): the columns written as
    floats even when every value is an integer (FLOAT_COLUMNS_KEY), and the
    cell values read as missing (MISSING_VALUES_KEY)."""
    config = _custom_config(exec_properties)
    return (
        frozenset(config.get(FLOAT_COLUMNS_KEY) or []),
        tuple(config.get(MISSING_VALUES_KEY) or []),
    )


def _custom_config(exec_properties: dict[str, Any]) -> dict[str, Any]:
    text = exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY) or "{}"
    return json.loads(text) if isinstance(text, str) else dict(text)


@dataclasses.dataclass(frozen=True)
class Carve:
    """A split (`name`) carved out of the `source` split: the rows whose
    second hash falls in the first `fraction` of CARVE_BUCKETS. The first
    hash chose the split, so the other splits keep exactly their rows."""

    name: str
    source: str
    fraction: float

    @classmethod
    def from_config(cls, exec_properties: dict[str, Any], names: list[str]) -> Carve | None:
        raw = _custom_config(exec_properties).get(CARVE_KEY)
        if not raw:
            return None
        carve = cls(raw["split"], raw["from"], float(raw["fraction"]))
        if carve.source not in names or carve.name in names:
            raise CsvFormatError(
                f"carve {raw}: 'from' must name one of the splits {names}, and 'split' none"
            )
        if not 0 < carve.fraction < 1:
            raise CsvFormatError(f"carve {raw}: 'fraction' must be in (0, 1)")
        return carve

    def takes(self, digest: int) -> bool:
        """Whether the row of this `_digest` goes to the carved split (from
        its source split)."""
        bucket = (digest >> 128) % CARVE_BUCKETS  # bits the split's hash barely uses
        return bucket < round(self.fraction * CARVE_BUCKETS)


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


def _digest(key: bytes) -> int:
    return int(hashlib.sha256(key).hexdigest(), 16)


def _split_index(digest: int, bounds: list[int]) -> int:
    """Which of the splits, of hash buckets ending at `bounds`, takes the
    row of this `_digest` (TFX's hash split, on our row keys)."""
    return bisect.bisect(bounds, digest % bounds[-1])


class _SplitBlocks(beam.DoFn):
    """Sends each Block's rows to their splits: one element (a list of
    serialized examples) per split that a block has rows of, tagged with the
    split's name. `names` split the rows by hash buckets ending at `bounds`;
    a carve then takes its rows out of its source split."""

    def __init__(self, names: list[str], bounds: list[int], carve: Carve | None) -> None:
        self._names = names
        self._bounds = bounds
        self._carve = carve if carve is not None and carve.source in names else None

    def outputs(self) -> list[str]:
        return self._names + ([self._carve.name] if self._carve else [])

    def process(self, block: Block) -> Iterator[beam.pvalue.TaggedOutput]:
        rows: dict[str, list[bytes]] = {name: [] for name in self.outputs()}
        carve = self._carve
        for key, example in zip(*block, strict=True):
            digest = _digest(key)
            name = self._names[_split_index(digest, self._bounds)]
            if carve is not None and name == carve.source and carve.takes(digest):
                name = carve.name
            rows[name].append(example)
        for name, examples in rows.items():
            if examples:
                yield beam.pvalue.TaggedOutput(name, examples)


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
        lighten_beam()
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
        names = example_gen_utils.generate_output_split_names(input_config, output_config)
        carve = Carve.from_config(exec_properties, names)
        examples.split_names = artifact_utils.encode_split_names(
            names + [carve.name] if carve else names
        )
        with self._make_beam_pipeline() as pipeline:
            for name, blocks in self._split_blocks(pipeline, exec_properties).items():
                prefix = os.path.join(
                    artifact_utils.get_split_uri(outputs, name), write_split.DEFAULT_FILE_NAME
                )
                _ = blocks | f"WriteSplit[{name}]" >> WriteBlocksToTFRecord(
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
        """As TFX's (split name -> serialized tf.Examples), but a hash split
        keys rows on their cells (csv_files' row keys), and a carve
        (CARVE_KEY) adds a split taken out of another by a second hash."""
        return {
            name: blocks | f"Examples[{name}]" >> beam.FlatMap(lambda examples: examples)
            for name, blocks in self._split_blocks(pipeline, exec_properties).items()
        }

    @staticmethod
    def _split_blocks(
        pipeline: beam.Pipeline, exec_properties: dict[str, Any]
    ) -> dict[str, beam.PCollection]:
        """Split name -> lists of its serialized tf.Examples (a block's share)."""
        input_config, output_config = _configs(exec_properties)
        names = example_gen_utils.generate_output_split_names(input_config, output_config)
        carve = Carve.from_config(exec_properties, names)
        base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
        floats, missing = read_options(exec_properties)
        split_config = output_config.split_config
        if not split_config.splits:
            # Each input split is an output split (a carve may take from one).
            inputs = [
                (split.pattern, [name], [1])
                for name, split in zip(names, input_config.splits, strict=True)
            ]
        else:
            if split_config.partition_feature_name:
                raise CsvFormatError(
                    "this CsvExampleGen splits on whole rows; partition_feature_name "
                    f"({split_config.partition_feature_name!r}) needs tfx.components.CsvExampleGen"
                )
            if len(input_config.splits) != 1:
                raise CsvFormatError("an output split config needs exactly one input split")
            bounds = list(itertools.accumulate(s.hash_buckets for s in split_config.splits))
            inputs = [(input_config.splits[0].pattern, names, bounds)]
        result = {}
        for pattern, split_names, bounds in inputs:
            splitter = _SplitBlocks(split_names, bounds, carve)
            label = ",".join(split_names)
            tagged = (
                pipeline
                | f"InputToRecord[{label}]" >> CsvToBlocks(base, pattern, floats, missing)
                | f"SplitData[{label}]" >> beam.ParDo(splitter).with_outputs(*splitter.outputs())
            )
            result.update({name: tagged[name] for name in splitter.outputs()})
        return {name: result[name] for name in [*names, *([carve.name] if carve else [])]}
