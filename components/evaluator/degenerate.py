"""The degenerate-output check: a head whose answers are all the same, or not
numbers, over the eval split learned nothing usable, whatever its metrics say.

(One extreme input value once made every head's output a constant; a loose
error bound still passed it.) The candidate's all-heads signature runs on up
to `LIMIT` eval examples, read as the evaluator reads them.
"""

from __future__ import annotations

import numpy as np

from components.evaluator.gates import HeadGates
from trainer_module.signatures import INPUT_NAME, SERVING_SIGNATURE

LIMIT = 4096
BATCH = 512
# Outputs whose spread is below this fraction of their magnitude are constant.
RELATIVE_SPREAD = 1e-6


def _outputs(model_dir: str, files: list[str]) -> tuple[dict[str, np.ndarray], int]:
    import tensorflow as tf

    serve = tf.saved_model.load(model_dir).signatures[SERVING_SIGNATURE]
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP").take(LIMIT).batch(BATCH)
    parts: dict[str, list[np.ndarray]] = {}
    count = 0
    for batch in dataset:
        count += int(batch.shape[0])
        for name, value in serve(**{INPUT_NAME: batch}).items():
            parts.setdefault(name, []).append(value.numpy())
    return {name: np.concatenate(values) for name, values in parts.items()}, count


def problem(values: np.ndarray, count: int) -> str | None:
    """Why these outputs of one head are degenerate, or None."""
    values = values.astype(np.float64).reshape(count, -1)
    bad = ~np.isfinite(values)
    if bad.any():
        rows = int(bad.any(axis=1).sum())
        return f"outputs are not finite numbers for {rows} of {count} eval examples"
    spread = np.ptp(values, axis=0).max()
    if spread <= RELATIVE_SPREAD * max(1.0, float(np.abs(values).max())):
        shown = np.array2string(values[0], precision=4, separator=", ")
        return (
            f"outputs are the same for all {count} eval examples ({shown}): the head "
            "learned nothing; look for extreme or constant feature values"
        )
    return None


def degenerate_heads(model_dir: str, files: list[str], heads: list[HeadGates]) -> dict[str, str]:
    """Head name -> why its outputs over the eval examples are degenerate."""
    outputs, count = _outputs(model_dir, files)
    if count == 0:
        return {}
    found = {}
    for head in heads:
        reason = problem(outputs[head.output], count)
        if reason:
            found[head.name] = f"{head.name}: {reason}"
    return found
