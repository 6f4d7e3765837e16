"""TFMA's split of a batch of extracts into one extract per example, fast.

TFMA's UnbatchExtractor walks each batch example by example and value by
value in Python, converting each value on its way (nine conversions per
example for three heads' labels, predictions and weights): a sixth of the
evaluator's time per row once the metrics are batched (docs/benchmarks.md,
benchmark 13). Where every value of a batch is a dense numpy array or None
(what TFMA's extractors give for this project's models), the split here
gives the same extracts: each example's value is its row of the batch's
array (a view; a 1-d array's row keeps one dimension, as TFMA's does), a
None stays None, and a dict with nothing in it is left out. Any other
batch (sparse or ragged values, lists, arrays of different lengths) goes
through TFMA's own split.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import apache_beam as beam
import numpy as np
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.constants import ARROW_RECORD_BATCH_KEY
from tensorflow_model_analysis.extractors import unbatch_extractor


class _NotDense(Exception):
    """A value the fast split does not take: TFMA's split does."""


def _rows(value: Any, size: int) -> list[Any] | None:
    """Each example's part of `value`, None for an empty dict."""
    if isinstance(value, Mapping):
        keys, parts = [], []
        for key, inner in value.items():
            rows = _rows(inner, size)
            if rows is not None:
                keys.append(key)
                parts.append(rows)
        if not keys:
            return None
        return [dict(zip(keys, row, strict=True)) for row in zip(*parts, strict=True)]
    if value is None:
        return [None] * size
    if type(value) is not np.ndarray or value.ndim == 0 or len(value) != size:
        raise _NotDense
    return list(value.reshape(size, 1) if value.ndim == 1 else value)


def _size(value: Any) -> int | None:
    """The batch size: the length of the first array found."""
    if isinstance(value, Mapping):
        for inner in value.values():
            found = _size(inner)
            if found is not None:
                return found
        return None
    if type(value) is np.ndarray and value.ndim > 0:
        return len(value)
    return None


def split(batched: dict[str, Any]) -> list[dict[str, Any]]:
    """One extract per example of `batched`, as TFMA's UnbatchExtractor gives."""
    kept = {k: v for k, v in batched.items() if k != ARROW_RECORD_BATCH_KEY}
    size = _size(kept)
    if size is not None:
        try:
            return _rows(kept, size) or []
        except _NotDense:
            pass
    return list(unbatch_extractor._extract_unbatched_inputs(batched))


@beam.ptransform_fn
def _split_batches(extracts: beam.PCollection) -> beam.PCollection:
    return extracts | "UnbatchInputs" >> beam.FlatMap(split)


def extractor() -> tfma.extractors.Extractor:
    """TFMA's UnbatchExtractor stage (its name: the stages after it find it)."""
    return tfma.extractors.Extractor(
        stage_name=unbatch_extractor.UNBATCH_EXTRACTOR_STAGE_NAME, ptransform=_split_batches()
    )
