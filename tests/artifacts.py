"""Real, small TFX artifacts for executor tests, made with tf.Transform itself.

`make_inputs` writes what the trainer and evaluator executors read in a
pipeline: raw examples (both read them) and a transform graph (the trainer
transforms the rows it reads with it), as Transform and ExampleGen lay them
out (`Split-train/`, `Split-eval/`, gzipped TFRecords).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils
from tfx.types import standard_artifacts

from trainer_module.preprocessing import SPEC_KEY, preprocessing_fn
from trainer_module.spec import ModelSpec

SPLITS = ("train", "eval")

SPEC = ModelSpec.model_validate(
    {
        "features": [
            {"name": "x", "type": "numeric"},
            {"name": "colour", "type": "categorical"},
        ],
        "heads": [
            {"name": "big", "label": "y_big", "task": "binary", "tower": [8]},
            {"name": "size", "label": "y_size", "task": "regression", "tower": [8]},
        ],
        "training": {"steps": 40, "batch_size": 32, "eval_batches": 2, "seed": 3},
    }
)

RAW_SPEC = {
    "x": tf.io.FixedLenFeature([], tf.float32),
    "colour": tf.io.FixedLenFeature([], tf.string),
    "y_big": tf.io.FixedLenFeature([], tf.float32),
    "y_size": tf.io.FixedLenFeature([], tf.float32),
}


@dataclasses.dataclass
class Inputs:
    raw_examples: standard_artifacts.Examples
    transform_graph: standard_artifacts.TransformGraph


def rows(count: int, seed: int) -> list[dict]:
    """x ~ N(0, 1); big = x > 0 (flipped for red); size = 3x + 10 + noise."""
    rng = np.random.default_rng(seed)
    result = []
    for _ in range(count):
        x = float(rng.normal())
        colour = str(rng.choice(["red", "green", "blue"]))
        big = float((x > 0) != (colour == "red"))
        result.append(
            {
                "x": x,
                "colour": colour,
                "y_big": big,
                "y_size": 3 * x + 10 + float(rng.normal(0, 0.1)),
            }
        )
    return result


def constant_rows(count: int, seed: int) -> list[dict]:
    """The same inputs in every row (labels still vary): no head can learn anything."""
    return [{**row, "x": 0.5, "colour": "red"} for row in rows(count, seed)]


def serialized_example(row: dict) -> bytes:
    features = {}
    for name, value in row.items():
        if isinstance(value, str | bytes):
            data = value.encode() if isinstance(value, str) else value
            features[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[data]))
        elif isinstance(value, float | np.floating):
            features[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
        else:
            features[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def _write_split(uri: str, split: str, examples: list[bytes]) -> None:
    folder = os.path.join(uri, f"Split-{split}")
    os.makedirs(folder, exist_ok=True)
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    with tf.io.TFRecordWriter(os.path.join(folder, "data.gz"), options) as writer:
        for example in examples:
            writer.write(example)


def _examples_artifact(uri: str) -> standard_artifacts.Examples:
    artifact = standard_artifacts.Examples()
    artifact.uri = uri
    artifact.split_names = '["train", "eval"]'
    return artifact


def make_inputs(
    root: str, spec: ModelSpec = SPEC, make_rows=rows, raw_spec: dict = RAW_SPEC
) -> Inputs:
    """Raw examples of 400 + 200 rows and their transform graph, analysed on
    the training rows."""
    data = {"train": make_rows(400, seed=1), "eval": make_rows(200, seed=2)}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(raw_spec))
    graph_dir = os.path.join(root, "transform_graph")
    custom_config = {SPEC_KEY: spec.transform_spec().to_json()}
    with tft_beam.Context(temp_dir=tempfile.mkdtemp(dir=root), force_tf_compat_v1=True):
        transform_fn = (data["train"], metadata) | tft_beam.AnalyzeDataset(
            lambda inputs: preprocessing_fn(inputs, custom_config)
        )
        _ = transform_fn | tft_beam.WriteTransformFn(graph_dir)
    metadata_io.write_metadata(
        metadata, os.path.join(graph_dir, tft.TFTransformOutput.RAW_METADATA_DIR)
    )
    raw_uri = os.path.join(root, "raw")
    for split in SPLITS:
        _write_split(raw_uri, split, [serialized_example(r) for r in data[split]])
    graph = standard_artifacts.TransformGraph()
    graph.uri = graph_dir
    return Inputs(_examples_artifact(raw_uri), graph)
