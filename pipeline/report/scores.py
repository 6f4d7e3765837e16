"""Each head's labels and predictions on the eval split, for the plots.

The model's own signatures compute them, as the evaluator does: the
`transform_features` signature gives each head's label and its 0/1 weight
(a missing label weighs 0 and is left out), the all-heads signature the
output the evaluator judged. At most `LIMIT` rows are read.
"""

from __future__ import annotations

import dataclasses
import glob
import os

import numpy as np

from trainer_module.part_info import read_parts
from trainer_module.signatures import INPUT_NAME, SERVING_SIGNATURE, TRANSFORM_SIGNATURE

LIMIT = 20_000
BATCH = 1024
EVAL_SPLIT = "Split-eval"


@dataclasses.dataclass
class HeadScores:
    """One head's labelled eval rows: labels and the judged output, row by row
    (a multiclass head's output is [rows, classes] probabilities)."""

    labels: np.ndarray
    predictions: np.ndarray

    @property
    def rows(self) -> int:
        return int(self.labels.shape[0])


def eval_files(examples_uri: str) -> list[str]:
    """The eval split's TFRecord files of an Examples artifact."""
    return sorted(glob.glob(os.path.join(examples_uri, EVAL_SPLIT, "*")))


def score(model_dir: str, files: list[str], outputs: dict[str, str]) -> dict[str, HeadScores]:
    """Head -> its labelled rows' labels and predictions (`outputs`: head ->
    the output its evaluator judged)."""
    import tensorflow as tf

    keys = {
        head: part.label_keys[head] for part in read_parts(model_dir) or [] for head in part.heads
    }
    missing = sorted(set(outputs) - set(keys))
    if missing:
        raise ValueError(f"the model at {model_dir} has no labels for heads {missing}")
    model = tf.saved_model.load(model_dir)
    serve = model.signatures[SERVING_SIGNATURE]
    transform = model.signatures[TRANSFORM_SIGNATURE]
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP").take(LIMIT).batch(BATCH)
    found: dict[str, dict[str, list[np.ndarray]]] = {
        head: {"labels": [], "predictions": []} for head in outputs
    }
    for batch in dataset:
        served = serve(**{INPUT_NAME: batch})
        transformed = transform(**{INPUT_NAME: batch})
        for head, output in outputs.items():
            present = transformed[keys[head]["weight"]].numpy().reshape(-1) > 0
            label = transformed[keys[head]["label"]].numpy().reshape(-1)
            prediction = served[output].numpy()
            found[head]["labels"].append(label[present])
            kept = prediction.reshape(prediction.shape[0], -1)[present]
            found[head]["predictions"].append(kept if kept.shape[1] > 1 else kept[:, 0])
    return {
        head: HeadScores(
            np.concatenate(parts["labels"]) if parts["labels"] else np.zeros(0),
            np.concatenate(parts["predictions"]) if parts["predictions"] else np.zeros(0),
        )
        for head, parts in found.items()
    }
