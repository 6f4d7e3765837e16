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

Where the metrics take whole batches (batched_metrics.reads_whole_batches),
the batches are not split into examples: `whole_batches` stands for both
TFMA's split and its slice keys. The rows of a batch that fall in the same
slices (TFMA's slice keys, found on each row's raw features) are one
extract. What TFMA does per example after the split (its preprocessing
for the metrics, the fan-out to slices, Beam's work on every element) was
about three quarters of the evaluator's time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import apache_beam as beam
import numpy as np
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.constants import (
    ARROW_RECORD_BATCH_KEY,
    FEATURES_KEY,
    SLICE_KEY_TYPES_KEY,
)
from tensorflow_model_analysis.extractors import unbatch_extractor
from tensorflow_model_analysis.slicer import slicer_lib


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


def _take(value: Any, rows: np.ndarray) -> Any:
    """The given rows of every array of `value` (a dict of them, None)."""
    if isinstance(value, Mapping):
        return {key: _take(inner, rows) for key, inner in value.items()}
    if value is None:
        return None
    if type(value) is not np.ndarray or value.ndim == 0:
        raise ValueError(
            "whole batches need labels, predictions and example weights as arrays "
            f"of one row per example; got {type(value).__name__}: evaluate this "
            "model's metrics on single examples"
        )
    return value[rows]


class _Whole(beam.DoFn):
    """Each batch as extracts of its slices: the rows of one batch with the
    same slice keys (all of them, without slicings) together, their raw
    features dropped once sliced."""

    def __init__(self, slicings: list[slicer_lib.SingleSliceSpec]) -> None:
        self._slicings = slicings

    def _by_slice_keys(self, batched: dict[str, Any], size: int) -> dict[tuple, list[int]]:
        """The batch's rows by their slice keys (TFMA's, from each row's raw
        features)."""
        if self._slicings == [slicer_lib.SingleSliceSpec()]:
            return {((),): list(range(size))}
        features = batched.get(FEATURES_KEY) or {}
        examples = split({FEATURES_KEY: features}) if features else [{}] * size
        if len(examples) != size:
            raise ValueError(f"a batch of {size} rows has raw features for {len(examples)}")
        found: dict[tuple, list[int]] = {}
        for row, example in enumerate(examples):
            features = example.get(FEATURES_KEY, {})
            keys = set(slicer_lib.get_slices_for_features_dicts([], features, self._slicings))
            found.setdefault(tuple(sorted(keys, key=repr)), []).append(row)
        return found

    def process(self, batched: dict[str, Any]):
        kept = {k: v for k, v in batched.items() if k not in (ARROW_RECORD_BATCH_KEY, FEATURES_KEY)}
        size = _size(kept)
        if not size:
            return
        for keys, rows in self._by_slice_keys(batched, size).items():
            group = _take(kept, np.asarray(rows))
            group[SLICE_KEY_TYPES_KEY] = slicer_lib.slice_keys_to_numpy_array(list(keys))
            yield group


@beam.ptransform_fn
def _whole_batches(
    extracts: beam.PCollection, slicings: list[slicer_lib.SingleSliceSpec]
) -> beam.PCollection:
    return extracts | "SliceWholeBatches" >> beam.ParDo(_Whole(slicings))


def whole_batches(eval_config: tfma.EvalConfig) -> tfma.extractors.Extractor:
    """The stage standing for TFMA's split and its slice keys where the
    metrics take whole batches (named as TFMA's slice keys stage, which
    TFMA's evaluator runs after): the rows of each batch grouped by their
    slices (`eval_config`'s slicing specs)."""
    if eval_config.cross_slicing_specs:
        raise ValueError("whole batches do not take cross slicings")
    specs = eval_config.slicing_specs or [tfma.SlicingSpec()]
    slicings = [slicer_lib.SingleSliceSpec(spec=spec) for spec in specs]
    return tfma.extractors.Extractor(
        stage_name=tfma.extractors.SLICE_KEY_EXTRACTOR_STAGE_NAME,
        ptransform=_whole_batches(slicings),
    )
