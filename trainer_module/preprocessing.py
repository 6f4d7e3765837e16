"""The shared feature transform, built from the TransformSpec (runs in tf.Transform).

Every feature is computed once for all heads. Labels pass through as
`<head>_label` (float32, 0 where missing) with `<head>_weight` (1.0 when the
label is present, 0.0 when it is missing or NaN), so a row without a label
adds nothing to that head and still trains the others.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from trainer_module.derived import resolve_function
from trainer_module.spec import LabelSpec, TransformSpec
from trainer_module.tasks import require_numeric

# Key of the TransformSpec JSON in the Transform component's custom_config.
SPEC_KEY = "transform_spec"
MISSING_TOKEN = "__missing__"

TensorLike = tf.Tensor | tf.SparseTensor


def preprocessing_fn(inputs: dict[str, TensorLike], custom_config: dict[str, Any]) -> dict:
    """tf.Transform entry point; TFX binds `custom_config` from the component."""
    return transform(inputs, TransformSpec.from_json(custom_config[SPEC_KEY]))


def transform(inputs: dict[str, TensorLike], spec: TransformSpec) -> dict[str, tf.Tensor]:
    """Returns transformed features, labels and label weights of `spec`."""
    columns = _columns(inputs, spec)
    outputs: dict[str, tf.Tensor] = {}
    for feature in spec.features:
        outputs[feature.name] = _transform_feature(feature, columns[feature.name])
    for head in spec.heads:
        label, weight = _label(head, columns[head.label])
        outputs[head.label_key] = label
        outputs[head.weight_key] = weight
    return outputs


def _columns(inputs: dict[str, TensorLike], spec: TransformSpec) -> dict[str, tf.Tensor]:
    """Dense rank-1 raw columns (NaN / '' where missing) plus derived ones.

    Only the columns present in `inputs` are built: at serving time the label
    columns are absent, and tf.Transform drops the outputs that need them.
    """
    columns = {name: _dense(value) for name, value in inputs.items()}
    for column in spec.derived:
        if not all(name in columns for name in column.inputs):
            continue
        function = resolve_function(column.function)
        value = function({name: columns[name] for name in column.inputs})
        value = tf.reshape(value, [-1])
        if column.dtype == "float":
            value = tf.cast(value, tf.float32)
        elif value.dtype != tf.string:
            raise TypeError(
                f"derived column {column.name!r} is declared string but is {value.dtype.name}"
            )
        columns[column.name] = value
    return columns


def _dense(value: TensorLike) -> tf.Tensor:
    """A [batch] tensor: floats with NaN, strings with '' where missing."""
    sparse = isinstance(value, tf.SparseTensor)
    values = value.values if sparse else value
    if values.dtype == tf.string:
        default: Any = ""
    else:
        values, default = tf.cast(values, tf.float32), float("nan")
    if not sparse:
        return tf.reshape(values, [-1])
    # Keep one column even when no row of the batch has a value.
    shape = tf.stack([value.dense_shape[0], 1])
    dense = tf.sparse.to_dense(tf.SparseTensor(value.indices, values, shape), default_value=default)
    return tf.reshape(dense, [-1])


def _transform_feature(feature, value: tf.Tensor) -> tf.Tensor:
    what = f"feature {feature.name!r} ({feature.type})"
    if feature.type == "categorical":
        if value.dtype != tf.string:
            # Integers print without a trailing '.0' so vocabularies read well.
            is_int = tf.equal(value, tf.round(value))
            text = tf.where(
                is_int,
                tf.strings.as_string(tf.cast(tf.where(is_int, value, 0.0), tf.int64)),
                tf.strings.as_string(value),
            )
            value = tf.where(tf.math.is_nan(value), MISSING_TOKEN, text)
        else:
            value = tf.where(tf.equal(value, ""), MISSING_TOKEN, value)
        if feature.hash_buckets:
            return tf.strings.to_hash_bucket_fast(value, feature.hash_buckets)
        return tft.compute_and_apply_vocabulary(
            value,
            top_k=feature.top_k,
            num_oov_buckets=feature.num_oov_buckets,
            vocab_filename=feature.name,
        )
    require_numeric(value, what)
    # NaN and +-inf (a value past float32's range, such as 1e308, parses to
    # inf) are missing. The statistics are those of the present values
    # clipped to their quantile range, so one extreme value cannot make every
    # other z-score zero (a constant model); the clip bounds are a first
    # analysis pass, the mean and variance of the clipped values a second.
    finite = tf.math.is_finite(value)
    present = tf.boolean_mask(value, finite)
    if feature.type == "bucketized":
        epsilon = min(1.0 / feature.num_buckets, 0.01)  # tft.bucketize's default
        boundaries = tft.quantiles(present, feature.num_buckets, epsilon)
    if feature.clip_quantile:
        low, high = _clip_bounds(present, feature.clip_quantile)
        present = tf.clip_by_value(present, low, high)
        value = tf.clip_by_value(value, low, high)
    mean = tft.mean(present)
    fill = mean if feature.fill == "mean" else tf.constant(float(feature.fill), tf.float32)
    filled = tf.where(finite, value, fill)
    if feature.type == "bucketized":
        return tft.apply_buckets(filled, boundaries)
    std = tf.sqrt(tft.var(present))
    centred = filled - mean
    return tf.where(std > 0, centred / tf.where(std > 0, std, 1.0), centred)


def _clip_bounds(present: tf.Tensor, fraction: float) -> tuple[tf.Tensor, tf.Tensor]:
    """The `fraction` and 1 - `fraction` quantiles of the present values."""
    buckets = round(1 / fraction)
    bounds = tft.quantiles(present, buckets, epsilon=fraction / 4)
    return bounds[0, 0], bounds[0, -1]


def _label(head: LabelSpec, value: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Returns (label, weight) of one head; weight 0 marks a missing label."""
    label, present = head.kind.encode_label(head, value)
    label = tf.where(present, label, tf.zeros_like(label))
    return label, tf.cast(present, tf.float32)
