"""The evaluator's split of batches into examples gives TFMA's extracts:
the same keys, values, shapes and dtypes for batches of dense arrays (one
model or two, a None, an empty dict), and TFMA's own split for anything
else."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.extractors import unbatch_extractor

from components.evaluator import unbatch

ROWS = 5


def _stock(batched: dict[str, Any]) -> list[dict[str, Any]]:
    return list(unbatch_extractor._extract_unbatched_inputs(batched))


def _same(a: Any, b: Any, where: str = "") -> list[str]:
    """Where two extracts differ: keys, types, shapes, dtypes or values."""
    if isinstance(a, dict) or isinstance(b, dict):
        if not (isinstance(a, dict) and isinstance(b, dict)) or a.keys() != b.keys():
            return [f"{where}: {a!r} vs {b!r}"]
        return [d for key in a for d in _same(a[key], b[key], f"{where}/{key}")]
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if type(a) is not type(b) or a.shape != b.shape or a.dtype != b.dtype:
            return [f"{where}: {a!r} vs {b!r}"]
        return [] if np.array_equal(a, b) else [f"{where}: {a!r} vs {b!r}"]
    if isinstance(a, tuple) and type(a) is type(b) and len(a) == len(b):  # a sparse value
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in _same(x, y, f"{where}[{i}]")
        ]
    return [] if a == b else [f"{where}: {a!r} vs {b!r}"]


def _outputs(offset: float) -> dict[str, np.ndarray]:
    return {
        "big_tipper": np.linspace(0, 1, ROWS, dtype=np.float32).reshape(ROWS, 1) + offset,
        "fare": np.arange(ROWS, dtype=np.float32) + offset,
    }


def _batch() -> dict[str, Any]:
    """What TFMA's extractors give for one of this project's models."""
    return {
        "features": {
            "payment_type": np.array([b"Cash", b"Card", b"Cash", b"Card", b"Mobile"], dtype=object),
            "trip_miles": np.arange(ROWS, dtype=np.float64).reshape(ROWS, 1),
        },
        "labels": _outputs(0.0),
        "predictions": _outputs(0.5),
        "example_weights": {"big_tipper": np.ones(ROWS, np.float32), "fare": None},
        "empty": {},
        "embedding": np.arange(ROWS * 3, dtype=np.int64).reshape(ROWS, 3),
        tfma.ARROW_RECORD_BATCH_KEY: object(),
    }


def test_a_batch_of_dense_arrays_splits_into_tfma_s_examples():
    batched = _batch()
    found, expected = unbatch.split(batched), _stock(batched)
    assert len(found) == ROWS
    assert "empty" not in found[0] and tfma.ARROW_RECORD_BATCH_KEY not in found[0]
    assert found[2]["labels"]["fare"].shape == (1,)
    assert found[2]["embedding"].tolist() == [6, 7, 8]
    differ = [d for a, b in zip(found, expected, strict=True) for d in _same(a, b)]
    assert not differ, differ


def test_two_models_outputs_split_by_model_and_output():
    batched = _batch()
    for key in ("labels", "predictions"):
        batched[key] = {"candidate": _outputs(0.0), "baseline": _outputs(0.25)}
    found, expected = unbatch.split(batched), _stock(batched)
    assert float(found[1]["predictions"]["baseline"]["fare"][0]) == 1.25
    differ = [d for a, b in zip(found, expected, strict=True) for d in _same(a, b)]
    assert not differ, differ


def test_a_sparse_value_or_a_list_goes_through_tfma_s_own_split():
    sparse = _batch()
    sparse["features"]["tags"] = tfma.types.SparseTensorValue(
        values=np.array([b"a", b"b"], dtype=object),
        indices=np.array([[0, 0], [3, 0]]),
        dense_shape=np.array([ROWS, 1]),
    )
    listed = _batch()
    listed["legacy"] = [{"x": i} for i in range(ROWS)]
    for batched in (sparse, listed):
        found, expected = unbatch.split(batched), _stock(batched)
        differ = [d for a, b in zip(found, expected, strict=True) for d in _same(a, b)]
        assert len(found) == ROWS and not differ, differ
    assert unbatch.split(listed)[3]["legacy"] == {"x": 3}
