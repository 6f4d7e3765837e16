"""Raw columns as named `[batch]` tensors, parsed as if they came in tf.Examples.

What the `serving_columns` signature takes (a TensorFlow Serving REST client
sends JSON rows, `{"instances": [{"trip_miles": 3.2, ...}]}`, with no
protocol buffers to build): one tensor per raw column the model reads. A
missing value is NaN in a number column and "" in a string column, as an
empty CSV cell. `parsed()` turns them into exactly what `tf.io.parse_example`
gives for the same rows as tf.Examples (a missing value: the feature left
out), so every head answers as through `serving_default`.

Integer columns (categories written as numbers) are taken as float64, so
that they too can be missing (NaN); a value that is not a whole number is
refused, naming the column.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

ParseSpec = dict[str, Any]  # one column's tf.io parse spec as JSON (parts.json)

# Column dtype in the examples -> dtype of its named input.
_INPUT_DTYPES = {"float32": tf.float32, "int64": tf.float64, "string": tf.string}


def supported(spec: ParseSpec) -> bool:
    """Whether a column can be a `[batch]` input: one value per row at most."""
    if spec["dtype"] not in _INPUT_DTYPES:
        return False
    return spec["kind"] == "var" or list(spec["shape"]) in ([], [1])


def input_specs(columns: dict[str, ParseSpec]) -> dict[str, tf.TensorSpec]:
    """The signature's inputs: one `[batch]` tensor per column, named after it."""
    return {
        name: tf.TensorSpec([None], _INPUT_DTYPES[spec["dtype"]], name=name)
        for name, spec in sorted(columns.items())
    }


def _present(values: tf.Tensor) -> tf.Tensor:
    if values.dtype == tf.string:
        return tf.not_equal(values, "")
    return tf.logical_not(tf.math.is_nan(values))


def _as_column(name: str, values: tf.Tensor, present: tf.Tensor, dtype: str) -> tf.Tensor:
    """The values in the column's own dtype (float64 inputs of int columns checked whole)."""
    if dtype != "int64":
        return values
    filled = tf.where(present, values, tf.zeros_like(values))
    whole = tf.debugging.assert_equal(
        filled,
        tf.round(filled),
        message=f"column {name} takes whole numbers (or NaN for a missing value)",
    )
    with tf.control_dependencies([whole]):
        return tf.cast(filled, tf.int64)


def _sparse(values: tf.Tensor, present: tf.Tensor) -> tf.SparseTensor:
    """As a VarLenFeature parses one value or none per row: [batch, 0 or 1]."""
    rows = tf.where(present)[:, 0]
    indices = tf.stack([rows, tf.zeros_like(rows)], axis=1)
    width = tf.reduce_max(tf.concat([tf.cast(present, tf.int64), [0]], axis=0))
    shape = tf.stack([tf.shape(values, out_type=tf.int64)[0], width])
    return tf.SparseTensor(indices, tf.boolean_mask(values, present), shape)


def _dense(name: str, values: tf.Tensor, present: tf.Tensor, spec: ParseSpec) -> tf.Tensor:
    """As a FixedLenFeature parses: the default where missing, or refused when required."""
    if spec["default"] is None:
        check = tf.debugging.assert_equal(
            present,
            tf.ones_like(present),
            message=f"column {name} is required: give it in every row",
        )
        with tf.control_dependencies([check]):
            values = tf.identity(values)
    else:
        default = spec["default"]
        default = default[0] if isinstance(default, list) else default
        values = tf.where(present, values, tf.constant(default, values.dtype))
    return tf.reshape(values, [-1, *spec["shape"]])


def parsed(inputs: dict[str, tf.Tensor], columns: dict[str, ParseSpec]) -> dict[str, Any]:
    """What `tf.io.parse_example` gives for these rows written as tf.Examples."""
    result: dict[str, Any] = {}
    for name, spec in columns.items():
        raw = inputs[name]
        present = _present(raw)
        values = _as_column(name, raw, present, spec["dtype"])
        if spec["kind"] == "var":
            result[name] = _sparse(values, present)
        else:
            result[name] = _dense(name, values, present, spec)
    return result
