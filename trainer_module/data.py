"""Input pipeline over the raw examples, and the label scan.

Records stream from ExampleGen's (gzipped) TFRecord files through a shuffle
buffer and are parsed and transformed a batch at a time, by the transform
graph the serving signatures run (`transforming_decoder`), so memory does
not grow with the data set. Transform does not write transformed examples:
a pass over every row in Beam cost more than the trainer's transform of the
rows it reads (docs/benchmarks.md, benchmark 5).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx.dsl.io import fileio

from trainer_module.spec import HeadSpec, ModelSpec
from trainer_module.training import Batch

SHUFFLE_BUFFER = 10_000
# Rows parsed and transformed per call: the transform graph costs about
# half as much per row at 4096 rows as at a training batch of 256.
TRANSFORM_ROWS = 4096

# Serialized raw tf.Examples (a batch) -> the transformed features, by name.
Decode = Callable[[tf.Tensor], dict[str, tf.Tensor]]


def transforming_decoder(tft_output: tft.TFTransformOutput) -> Decode:
    """Parses a batch of raw tf.Examples with the raw schema and runs the
    transform graph on it: the features, labels and weights the pipeline's
    Transform would have written, computed where they are read."""
    raw_spec = tft_output.raw_feature_spec()
    layer = tft_output.transform_features_layer()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)], autograph=False)
    def decode(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        return layer(tf.io.parse_example(serialized, raw_spec))

    # Traced once, here, without AutoGraph (which spent about 4 s converting
    # TFT's and Keras's code): each dataset's map calls this graph.
    return decode.get_concrete_function()


def split_files(examples_uri: str, split: str) -> list[str]:
    """The record files of one split of an Examples artifact."""
    pattern = os.path.join(examples_uri, f"Split-{split}", "*")
    files = sorted(fileio.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no example files match {pattern}")
    return files


def make_dataset(
    files: list[str],
    decode: Decode,
    spec: ModelSpec,
    batch_size: int,
    shuffle: bool,
    repeat: bool,
    seed: int = 0,
) -> tf.data.Dataset:
    """Batches of (features, labels, weights), labels and weights keyed by head."""
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    if repeat:
        dataset = dataset.repeat()
    if shuffle:
        dataset = dataset.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
    # Transformed TRANSFORM_ROWS at a time, then cut into batches of
    # batch_size: the same batches, row for row, as batching them at once.
    dataset = dataset.batch(max(batch_size, TRANSFORM_ROWS))
    feature_names = [f.name for f in spec.features]
    heads = list(spec.heads)

    def parse(serialized: tf.Tensor) -> Batch:
        parsed = decode(serialized)
        features = {name: parsed[name] for name in feature_names}
        labels = {h.name: tf.reshape(parsed[h.label_key], [-1]) for h in heads}
        weights = {h.name: tf.reshape(parsed[h.weight_key], [-1]) for h in heads}
        return features, labels, weights

    dataset = dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if batch_size < TRANSFORM_ROWS:
        dataset = dataset.rebatch(batch_size)
    return dataset.prefetch(tf.data.AUTOTUNE)


@dataclasses.dataclass
class LabelStats:
    """What one pass over a split says about a head's labels."""

    rows: int = 0
    present: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    minimum: float = float("inf")
    maximum: float = float("-inf")
    bad_values: set = dataclasses.field(default_factory=set)

    @property
    def missing(self) -> int:
        return self.rows - self.present

    @property
    def mean(self) -> float:
        return self.total / self.present if self.present else 0.0

    @property
    def std(self) -> float:
        if not self.present:
            return 1.0
        variance = max(self.total_sq / self.present - self.mean**2, 0.0)
        return float(np.sqrt(variance)) or 1.0


def scan_labels(dataset: tf.data.Dataset, heads: list[HeadSpec]) -> dict[str, LabelStats]:
    """One pass: counts, missing rows, mean/std and out-of-range label values."""
    stats = {h.name: LabelStats() for h in heads}
    for _, labels, weights in dataset:
        for head in heads:
            label = labels[head.name].numpy().astype(np.float64)
            weight = weights[head.name].numpy()
            present = label[weight > 0]
            s = stats[head.name]
            s.rows += len(label)
            s.present += len(present)
            s.total += float(present.sum())
            s.total_sq += float(np.square(present).sum())
            if len(present):
                s.minimum = min(s.minimum, float(present.min()))
                s.maximum = max(s.maximum, float(present.max()))
            s.bad_values.update(head.kind.bad_labels(head, present)[:5].tolist())
    return stats


def check_labels(stats: dict[str, LabelStats], heads: list[HeadSpec], split: str) -> None:
    """Raises ValueError naming every head whose labels cannot be trained on."""
    problems = []
    for head in heads:
        s = stats[head.name]
        if s.missing and not head.label_may_be_missing:
            problems.append(
                f"head {head.name!r}: {s.missing} of {s.rows} {split} rows have no "
                f"label {head.label!r} (missing or NaN) and label_may_be_missing is false"
            )
        if s.present == 0:
            problems.append(f"head {head.name!r}: no {split} row has label {head.label!r}")
        if s.bad_values:
            problems.append(
                f"head {head.name!r}: label {head.label!r} has values "
                f"{sorted(s.bad_values)[:5]}; expected {head.kind.expected_labels(head)}"
            )
    if problems:
        raise ValueError("labels cannot be trained on:\n  " + "\n  ".join(problems))
