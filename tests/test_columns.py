"""Named column tensors parse as tf.io.parse_example parses the same rows."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from tests.artifacts import serialized_example
from trainer_module import columns

SPECS = {
    "miles": {"kind": "var", "dtype": "float32"},
    "hour": {"kind": "var", "dtype": "int64"},
    "pay": {"kind": "var", "dtype": "string"},
    "tolls": {"kind": "fixed", "dtype": "float32", "shape": [], "default": 0.0},
    "area": {"kind": "fixed", "dtype": "int64", "shape": [1], "default": [-1]},
    "company": {"kind": "fixed", "dtype": "string", "shape": [], "default": None},
}
NAN = float("nan")
ROWS = [
    {"miles": 1.5, "hour": 7.0, "pay": "Cash", "tolls": 2.0, "area": 8.0, "company": "Flash"},
    {"miles": NAN, "hour": NAN, "pay": "", "tolls": NAN, "area": NAN, "company": "Taxi Co"},
    {"miles": 0.0, "hour": 23.0, "pay": "Card", "tolls": NAN, "area": 32.0, "company": "Flash"},
]


def _example(row: dict) -> bytes:
    """The row as a tf.Example: a missing value left out, each value of its
    column's type."""
    typed = {}
    for name, value in row.items():
        if value == "" or (isinstance(value, float) and math.isnan(value)):
            continue
        dtype = SPECS[name]["dtype"]
        typed[name] = value if dtype == "string" else int(value) if dtype == "int64" else value
    return serialized_example(typed)


def _inputs(rows: list[dict]) -> dict[str, tf.Tensor]:
    specs = columns.input_specs(SPECS)
    return {name: tf.constant([r[name] for r in rows], spec.dtype) for name, spec in specs.items()}


def _dense(value) -> np.ndarray:
    if isinstance(value, tf.SparseTensor):
        return tf.sparse.to_dense(value).numpy()
    return value.numpy()


def test_named_columns_parse_as_the_same_rows_written_as_examples():
    parse_specs = {
        "miles": tf.io.VarLenFeature(tf.float32),
        "hour": tf.io.VarLenFeature(tf.int64),
        "pay": tf.io.VarLenFeature(tf.string),
        "tolls": tf.io.FixedLenFeature([], tf.float32, 0.0),
        "area": tf.io.FixedLenFeature([1], tf.int64, [-1]),
        "company": tf.io.FixedLenFeature([], tf.string),
    }
    expected = tf.io.parse_example(tf.constant([_example(r) for r in ROWS]), parse_specs)
    got = columns.parsed(_inputs(ROWS), SPECS)
    for name in SPECS:
        assert type(got[name]) is type(expected[name]), name
        assert got[name].dtype == expected[name].dtype, name
        np.testing.assert_array_equal(_dense(got[name]), _dense(expected[name]), err_msg=name)
        if isinstance(got[name], tf.SparseTensor):
            assert got[name].dense_shape.numpy().tolist() == (
                expected[name].dense_shape.numpy().tolist()
            )


def test_the_inputs_are_one_named_tensor_per_column_ints_as_float64():
    specs = columns.input_specs(SPECS)
    assert {n: s.dtype for n, s in specs.items()} == {
        "area": tf.float64,
        "company": tf.string,
        "hour": tf.float64,
        "miles": tf.float32,
        "pay": tf.string,
        "tolls": tf.float32,
    }
    assert all(s.shape.as_list() == [None] and s.name == n for n, s in specs.items())
    assert not columns.supported({"kind": "fixed", "dtype": "float32", "shape": [3], "default": 0})


def test_a_column_with_no_value_anywhere_parses_to_an_empty_sparse_column():
    rows = [dict(ROWS[1]), dict(ROWS[1])]
    got = columns.parsed(_inputs(rows), SPECS)
    assert got["miles"].dense_shape.numpy().tolist() == [2, 0]


def test_bad_values_are_refused_naming_the_column():
    fractional = [dict(ROWS[0], hour=7.5)]
    with pytest.raises(tf.errors.InvalidArgumentError, match="column hour takes whole numbers"):
        columns.parsed(_inputs(fractional), SPECS)
    without_company = [dict(ROWS[0], company="")]
    with pytest.raises(tf.errors.InvalidArgumentError, match="column company is required"):
        columns.parsed(_inputs(without_company), SPECS)
