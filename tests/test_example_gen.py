"""The streaming CsvExampleGen executor writes what TFX's CsvExampleGen writes."""

from __future__ import annotations

import collections
import csv
import glob
import json
import os

import apache_beam as beam
import pytest
import tensorflow as tf
from tfx.components.example_gen.csv_example_gen.executor import _CsvToExample
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from components import constants
from components.example_gen import csv_files, executor
from tests.conftest import taxi_sample

BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def _stock_examples(folder: str, out: str) -> collections.Counter:
    """TFX's own CSV -> tf.Example conversion, canonically serialized."""
    with beam.Pipeline(argv=BEAM_ARGS) as pipeline:
        _ = (
            pipeline
            | _CsvToExample({"input_base": folder}, "*.csv")
            | beam.Map(lambda e: e.SerializeToString(deterministic=True))
            | beam.io.WriteToTFRecord(os.path.join(out, "stock"))
        )
    records = tf.data.TFRecordDataset(sorted(glob.glob(os.path.join(out, "stock*"))))
    return collections.Counter(r.numpy() for r in records)


def _our_examples(folder: str, missing: tuple[str, ...] = ()) -> collections.Counter:
    files = sorted(glob.glob(os.path.join(folder, "*.csv")))
    types = csv_files.merge_column_types([csv_files.file_column_types(f, missing) for f in files])
    canonical = collections.Counter()
    for path in files:
        for _, serialized in csv_files.encode_file(path, types, missing):
            example = tf.train.Example.FromString(serialized)
            canonical[example.SerializeToString(deterministic=True)] += 1
    return canonical


def test_taxi_rows_encode_as_tfx_encodes_them(tmp_path, monkeypatch):
    folder = tmp_path / "taxi"
    folder.mkdir()
    taxi_sample(str(folder / "data.csv"), rows=600, seed_every=7)
    monkeypatch.setattr(csv_files, "BLOCK_BYTES", 16 << 10)  # several blocks
    ours = _our_examples(str(folder))
    assert sum(ours.values()) == 600
    assert ours == _stock_examples(str(folder), str(tmp_path))


def test_types_widen_across_blocks_and_files_and_empty_columns_have_no_kind(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir()
    head = "count,score,name,nothing\n"
    first = "".join(f"{i},{i},n{i},\n" for i in range(300))
    # Later rows: a float in the int column, a word in the float column, a
    # quoted name with a comma and a line break, empty cells.
    (folder / "a.csv").write_text(head + first + '7,2.5,"x, ""y""\nz",\n')
    (folder / "b.csv").write_text(head + "1.5,n/a,,\n,,w,\n")
    monkeypatch.setattr(csv_files, "BLOCK_BYTES", 1 << 10)
    files = sorted(str(p) for p in folder.glob("*.csv"))
    types = csv_files.merge_column_types([csv_files.file_column_types(f) for f in files])
    assert types == {"count": "float", "score": "string", "name": "string", "nothing": "unknown"}
    ours = _our_examples(str(folder))
    assert ours == _stock_examples(str(folder), str(tmp_path))
    last = [
        e
        for e in map(tf.train.Example.FromString, ours)
        if not e.features.feature["name"].bytes_list.value
    ]
    assert last, "a row with an empty name keeps the feature with no value"
    assert not last[0].features.feature["nothing"].HasField("kind")


def test_split_keys_depend_on_the_rows_only(tmp_path):
    path = taxi_sample(str(tmp_path / "data.csv"), rows=300)
    types = csv_files.file_column_types(path)
    keys = [k for k, _ in csv_files.encode_file(path, types)]
    again = [k for k, _ in csv_files.encode_file(path, types)]
    assert keys == again and len(set(keys)) > 290
    buckets = collections.Counter(executor._split_index(executor._digest(k), [2, 3]) for k in keys)
    assert 150 < buckets[0] < 250  # about 2 of 3 rows to train


def test_a_ragged_row_is_named_with_its_file(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n1,2\n3\n")
    with pytest.raises(csv_files.CsvFormatError, match="bad.csv.*Expected 2 columns"):
        csv_files.file_column_types(str(path))
    (tmp_path / "nohead.csv").write_text(",b\n1,2\n")
    with pytest.raises(csv_files.CsvFormatError, match="must name every column"):
        csv_files.header(str(tmp_path / "nohead.csv"))


def test_a_number_column_of_the_config_is_written_as_floats_in_every_span(tmp_path):
    """A span whose trip_seconds are all integers and one with '300.5' give the
    same feature kind, so a model's parse spec fits every span."""
    from trainer_module.spec import ModelSpec

    spec = ModelSpec.model_validate(
        {
            "features": [
                {"name": "miles", "type": "numeric"},
                {"name": "hour", "type": "categorical"},
            ],
            "heads": [{"name": "seconds", "label": "seconds", "task": "regression"}],
        }
    )
    assert spec.float_columns() == {"miles", "seconds"}
    kinds = []
    for span, seconds in (("one", "300"), ("two", "300.5")):
        path = tmp_path / f"{span}.csv"
        path.write_text(f"miles,hour,seconds\n2,9,{seconds}\n3,10,60\n")
        types = csv_files.merge_column_types(
            [csv_files.file_column_types(str(path))], frozenset(spec.float_columns())
        )
        kinds.append(types)
        (_, serialized), _ = csv_files.encode_file(str(path), types)
        example = tf.train.Example.FromString(serialized)
        assert example.features.feature["seconds"].WhichOneof("kind") == "float_list"
        assert example.features.feature["hour"].WhichOneof("kind") == "int64_list"
    assert kinds[0] == kinds[1] == {"miles": "float", "hour": "int", "seconds": "float"}


def test_missing_value_tokens_are_empty_cells_in_every_column(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("miles,company,seconds\n1.5,Flash,60\nNA,N/A,NA\n2,?,N/A\n")
    missing = ("NA", "N/A", "?")
    types = csv_files.merge_column_types([csv_files.file_column_types(str(path), missing)])
    assert types == {"miles": "float", "company": "string", "seconds": "int"}
    rows = [
        tf.train.Example.FromString(serialized).features.feature
        for _, serialized in csv_files.encode_file(str(path), types, missing)
    ]
    assert rows[0]["miles"].float_list.value == [1.5]
    assert rows[0]["company"].bytes_list.value == [b"Flash"]
    assert list(rows[1]["miles"].float_list.value) == []
    assert list(rows[1]["company"].bytes_list.value) == []
    assert list(rows[1]["seconds"].int64_list.value) == []
    assert list(rows[2]["company"].bytes_list.value) == []
    assert rows[2]["miles"].float_list.value == [2.0]
    # Without the tokens, the same file is text: what Transform refused.
    assert csv_files.file_column_types(str(path))["miles"] == "string"


def test_taxi_rows_with_tokens_for_their_empty_cells_encode_as_the_originals(tmp_path):
    """NA and N/A written in place of every empty cell: the same examples, so the same
    transform, model and metrics downstream."""
    original, tokens = tmp_path / "original", tmp_path / "tokens"
    original.mkdir()
    tokens.mkdir()
    taxi_sample(str(original / "data.csv"), rows=600, seed_every=7)
    written = 0
    with open(original / "data.csv") as src, open(tokens / "data.csv", "w", newline="") as dst:
        reader = csv.DictReader(src)
        writer = csv.DictWriter(dst, reader.fieldnames)
        writer.writeheader()
        for row in reader:
            for name, value in row.items():
                if value == "":
                    row[name] = "N/A" if name == "company" else "NA"
                    written += 1
            writer.writerow(row)
    assert written > 500
    assert _our_examples(str(tokens), ("NA", "N/A")) == _our_examples(str(original))
    assert _our_examples(str(tokens)) != _our_examples(str(original))


def _splits(folder: str, tmp_path, carve: dict | None = None) -> dict[str, set[bytes]]:
    """Each split's rows (canonically serialized) as the executor writes them
    with TFX's default 2:1 hash split (the pipeline's), and `carve` in its
    custom config."""
    custom = {constants.CARVE_KEY: carve} if carve else {}
    properties = {
        standard_component_specs.INPUT_BASE_KEY: folder,
        standard_component_specs.INPUT_CONFIG_KEY: proto_utils.proto_to_json(
            example_gen_pb2.Input(
                splits=[example_gen_pb2.Input.Split(name="single_split", pattern="*.csv")]
            )
        ),
        standard_component_specs.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(
            example_gen_pb2.Output(
                split_config=example_gen_pb2.SplitConfig(
                    splits=[
                        example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=2),
                        example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1),
                    ]
                )
            )
        ),
        standard_component_specs.CUSTOM_CONFIG_KEY: json.dumps(custom),
    }
    out = tmp_path / ("carved" if carve else "plain")
    with beam.Pipeline(argv=BEAM_ARGS) as pipeline:
        for name, split in executor.Executor().GenerateExamplesByBeam(pipeline, properties).items():
            _ = (
                split
                | f"Canonical[{name}]"
                >> beam.Map(
                    lambda s: tf.train.Example.FromString(s).SerializeToString(deterministic=True)
                )
                | f"Write[{name}]" >> beam.io.WriteToTFRecord(str(out / name))
            )
    return {
        os.path.basename(path).split("-")[0]: {r.numpy() for r in tf.data.TFRecordDataset(path)}
        for path in glob.glob(str(out / "*"))
    }


def test_a_validation_split_is_carved_from_the_training_rows_only(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    taxi_sample(str(folder / "data.csv"), rows=1500, seed_every=3)
    plain = _splits(str(folder), tmp_path)
    carve = {"split": "validation", "from": "train", "fraction": 0.2}
    carved = _splits(str(folder), tmp_path, carve)
    assert sorted(plain) == ["eval", "train"]
    assert sorted(carved) == ["eval", "train", "validation"]
    # The eval split keeps exactly its rows: the served model's holdout and
    # the comparison stay on the same examples with or without early stopping.
    assert carved["eval"] == plain["eval"]
    assert carved["train"] | carved["validation"] == plain["train"]
    assert not carved["train"] & carved["validation"]
    assert 0.15 < len(carved["validation"]) / len(plain["train"]) < 0.25
    # Stable: the same rows again.
    assert _splits(str(folder), tmp_path / "again", carve)["validation"] == carved["validation"]


def test_a_carve_from_a_split_that_does_not_exist_is_refused_naming_the_splits(tmp_path):
    properties = {
        standard_component_specs.CUSTOM_CONFIG_KEY: json.dumps(
            {constants.CARVE_KEY: {"split": "validation", "from": "training", "fraction": 0.1}}
        )
    }
    with pytest.raises(csv_files.CsvFormatError, match=r"'from' must name one of .*'train'"):
        executor.Carve.from_config(properties, ["train", "eval"])
