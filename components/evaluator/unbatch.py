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

Under jackknife intervals, TFMA draws each extract's bucket at random (20
buckets per slice), so rows in one extract share a bucket. Rows put
together by batch would then be buckets of rows in file order, alike when
the data is ordered (by time, by label), and their standard errors wrong.
Here each row is drawn one of 10 chunks per bucket at random, and each
slice's rows of a chunk are gathered from every batch of the split (Beam
groups them by slice) into one extract: a chunk is a random sample of its
slice whatever the order of the data, and given how many rows each bucket
gets, which rows they are is as random as with single examples. Only the
buckets' sizes vary more, about 10 chunks each, which leaves the standard
errors' expectation as it is (tests/test_whole_batches.py,
benchmark 15). The cost: until the split is read, Beam holds the rows'
labels, predictions and weights once for each slice they are in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import apache_beam as beam
import numpy as np
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.constants import (
    ARROW_RECORD_BATCH_KEY,
    FEATURES_KEY,
    SLICE_KEY_TYPES_KEY,
)
from tensorflow_model_analysis.evaluators import (
    metrics_plots_and_validations_evaluator as tfma_evaluator,
)
from tensorflow_model_analysis.extractors import unbatch_extractor
from tensorflow_model_analysis.slicer import slicer_lib

# TFMA's jackknife, chosen or by default
_JACKKNIFE = (
    tfma.ConfidenceIntervalOptions.JACKKNIFE,
    tfma.ConfidenceIntervalOptions.UNKNOWN_CONFIDENCE_INTERVAL_METHOD,
)
# TFMA's jackknife buckets per slice, and this module's chunks per bucket.
JACKKNIFE_BUCKETS = tfma_evaluator._DEFAULT_NUM_JACKKNIFE_BUCKETS
CHUNKS_PER_BUCKET = 10


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


# What one value of a raw feature may be in an array of objects.
_SCALARS = (bytes, str, int, float)


def _same_features(features: Mapping[str, Any], size: int) -> np.ndarray | None:
    """A code per row, the same for rows whose raw features are the same,
    where every feature is one value per row (None otherwise)."""
    codes = np.zeros(size, dtype=np.int64)
    for name in sorted(features):
        value = features[name]
        if type(value) is not np.ndarray or value.shape[:1] != (size,) or value.size != size:
            return None
        flat = value.reshape(size)
        if flat.dtype == object and not all(type(v) in _SCALARS for v in flat):
            return None
        try:
            _, found = np.unique(flat, return_inverse=True)
        except TypeError:  # values that do not sort together (bytes and numbers)
            return None
        _, codes = np.unique(codes * (int(found.max()) + 1) + found, return_inverse=True)
    return codes


def _slice_keys(features: Mapping[str, Any], slicings: list[slicer_lib.SingleSliceSpec]) -> tuple:
    """One example's slice keys (TFMA's, from its raw features), in order."""
    keys = set(slicer_lib.get_slices_for_features_dicts([], features, slicings))
    return tuple(sorted(keys, key=repr))


def _by_slice_keys(
    slicings: list[slicer_lib.SingleSliceSpec], batched: dict[str, Any], size: int
) -> dict[tuple, np.ndarray]:
    """The batch's rows by their slice keys (TFMA's, from each row's raw
    features): found once for each distinct row of features where every
    feature is one value per row, else row by row."""
    if slicings == [slicer_lib.SingleSliceSpec()]:
        return {((),): np.arange(size)}
    features = batched.get(FEATURES_KEY) or {}
    codes = _same_features(features, size)
    found: dict[tuple, list] = {}
    if codes is not None:
        order = np.argsort(codes, kind="stable")
        for rows in np.split(order, np.flatnonzero(np.diff(codes[order])) + 1):
            first = {name: value.reshape(size, 1)[rows[0]] for name, value in features.items()}
            found.setdefault(_slice_keys(first, slicings), []).append(rows)
        return {keys: np.sort(np.concatenate(parts)) for keys, parts in found.items()}
    examples = split({FEATURES_KEY: features}) if features else [{}] * size
    if len(examples) != size:
        raise ValueError(f"a batch of {size} rows has raw features for {len(examples)}")
    for row, example in enumerate(examples):
        keys = _slice_keys(example.get(FEATURES_KEY, {}), slicings)
        found.setdefault(keys, []).append(row)
    return {keys: np.asarray(rows) for keys, rows in found.items()}


def _what_metrics_read(batched: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in batched.items() if k not in (ARROW_RECORD_BATCH_KEY, FEATURES_KEY)}


class _Whole(beam.DoFn):
    """Each batch as extracts of its slices: the rows of one batch with the
    same slice keys (all of them, without slicings) together, their raw
    features dropped once sliced."""

    def __init__(self, slicings: list[slicer_lib.SingleSliceSpec]) -> None:
        self._slicings = slicings

    def process(self, batched: dict[str, Any]):
        kept = _what_metrics_read(batched)
        size = _size(kept)
        if not size:
            return
        for keys, rows in _by_slice_keys(self._slicings, batched, size).items():
            group = _take(kept, rows)
            group[SLICE_KEY_TYPES_KEY] = slicer_lib.slice_keys_to_numpy_array(list(keys))
            yield group


def _concat(values: list[Any]) -> Any:
    """The rows of every part of `values` (dicts of arrays, None) in one."""
    first = values[0]
    if isinstance(first, Mapping):
        return {key: _concat([value[key] for value in values]) for key in first}
    if first is None:
        return None
    return np.concatenate(values)


class _ByChunk(beam.DoFn):
    """Each batch's rows by slice key, each row drawn one of `chunks` chunks
    at random: (slice key, (the rows' chunks, the rows metrics read))."""

    def __init__(self, slicings: list[slicer_lib.SingleSliceSpec], chunks: int) -> None:
        self._slicings = slicings
        self._chunks = chunks

    def setup(self) -> None:
        self._random = np.random.default_rng()

    def process(self, batched: dict[str, Any]):
        kept = _what_metrics_read(batched)
        size = _size(kept)
        if not size:
            return
        chunks = self._random.integers(self._chunks, size=size)
        by_key: dict[Any, list[np.ndarray]] = {}
        for keys, rows in _by_slice_keys(self._slicings, batched, size).items():
            for key in keys:
                by_key.setdefault(key, []).append(rows)
        for key, parts in by_key.items():
            rows = np.sort(np.concatenate(parts))
            yield key, (chunks[rows], _take(kept, rows))


def _chunked(keyed: tuple[Any, Iterable[tuple[np.ndarray, Any]]]):
    """One slice's rows of the whole split, an extract per chunk."""
    key, grouped = keyed
    parts = list(grouped)
    chunks = np.concatenate([part[0] for part in parts])
    rows = _concat([part[1] for part in parts])
    order = np.argsort(chunks, kind="stable")
    slice_keys = slicer_lib.slice_keys_to_numpy_array([key])
    for taken in np.split(order, np.flatnonzero(np.diff(chunks[order])) + 1):
        extract = _take(rows, taken)
        extract[SLICE_KEY_TYPES_KEY] = slice_keys
        yield extract


@beam.ptransform_fn
def _random_chunks(
    extracts: beam.PCollection, slicings: list[slicer_lib.SingleSliceSpec], chunks: int
) -> beam.PCollection:
    return (
        extracts
        | "ByChunk" >> beam.ParDo(_ByChunk(slicings, chunks))
        | "GroupBySlice" >> beam.GroupByKey()
        | "ExtractPerChunk" >> beam.FlatMap(_chunked)
    )


@beam.ptransform_fn
def _whole_batches(
    extracts: beam.PCollection, slicings: list[slicer_lib.SingleSliceSpec]
) -> beam.PCollection:
    return extracts | "SliceWholeBatches" >> beam.ParDo(_Whole(slicings))


def whole_batches(eval_config: tfma.EvalConfig) -> tfma.extractors.Extractor:
    """The stage standing for TFMA's split and its slice keys where the
    metrics take whole batches (named as TFMA's slice keys stage, which
    TFMA's evaluator runs after): the rows of each batch grouped by their
    slices (`eval_config`'s slicing specs); under jackknife intervals, each
    slice's rows of the whole split in random chunks."""
    if eval_config.cross_slicing_specs:
        raise ValueError("whole batches do not take cross slicings")
    specs = eval_config.slicing_specs or [tfma.SlicingSpec()]
    slicings = [slicer_lib.SingleSliceSpec(spec=spec) for spec in specs]
    if eval_config.options.compute_confidence_intervals.value:
        if eval_config.options.confidence_intervals.method not in _JACKKNIFE:
            raise ValueError("whole batches take jackknife intervals only")
        stage = _random_chunks(slicings, CHUNKS_PER_BUCKET * JACKKNIFE_BUCKETS)
    else:
        stage = _whole_batches(slicings)
    return tfma.extractors.Extractor(
        stage_name=tfma.extractors.SLICE_KEY_EXTRACTOR_STAGE_NAME, ptransform=stage
    )
