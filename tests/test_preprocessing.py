"""The config-driven preprocessing_fn, run by tf.Transform on a few rows."""

from __future__ import annotations

import math
import tempfile

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from pipeline.config_file import parse_config
from trainer_module.preprocessing import SPEC_KEY, preprocessing_fn

CONFIG = parse_config(
    {
        "name": "prep",
        "features": [
            {"name": "miles", "type": "numeric"},
            {"name": "pay", "type": "categorical", "num_oov_buckets": 1},
            {"name": "hour", "type": "categorical"},
            {"name": "lat", "type": "bucketized", "num_buckets": 2},
        ],
        "derived": [
            {
                "name": "big_tipper",
                "function": "pipeline.configs.taxi_derived.big_tipper",
                "inputs": ["tips", "fare"],
            }
        ],
        "heads": [
            {"name": "tipper", "label": "big_tipper", "task": "binary"},
            {"name": "fare", "label": "fare", "task": "regression", "label_may_be_missing": True},
            {"name": "kind", "label": "vehicle", "task": "multiclass", "classes": ["cab", "van"]},
        ],
    }
)

SPEC = {
    "miles": tf.io.VarLenFeature(tf.float32),
    "pay": tf.io.FixedLenFeature([], tf.string),
    "hour": tf.io.FixedLenFeature([], tf.int64),
    "lat": tf.io.VarLenFeature(tf.float32),
    "tips": tf.io.FixedLenFeature([], tf.float32),
    "fare": tf.io.VarLenFeature(tf.float32),
    "vehicle": tf.io.FixedLenFeature([], tf.string),
}

ROWS = [
    {
        "miles": [1.0],
        "pay": "Cash",
        "hour": 9,
        "lat": [41.0],
        "tips": 0.0,
        "fare": [10.0],
        "vehicle": "cab",
    },
    {
        "miles": [3.0],
        "pay": "Card",
        "hour": 9,
        "lat": [42.0],
        "tips": 5.0,
        "fare": [10.0],
        "vehicle": "van",
    },
    {"miles": [], "pay": "Card", "hour": 17, "lat": [], "tips": 1.0, "fare": [], "vehicle": "van"},
    {
        "miles": [5.0],
        "pay": "Other",
        "hour": 17,
        "lat": [43.0],
        "tips": 1.0,
        "fare": [20.0],
        "vehicle": "bus",
    },
]


@pytest.fixture(scope="module")
def transformed():
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(SPEC))
    with tft_beam.Context(temp_dir=tempfile.mkdtemp(), force_tf_compat_v1=False):
        (result, _), _ = (ROWS, metadata) | tft_beam.AnalyzeAndTransformDataset(
            lambda inputs: preprocessing_fn(inputs, {SPEC_KEY: CONFIG.transform_spec().to_json()})
        )
    return result


def column(rows, name):
    return np.array([row[name] for row in rows])


def test_numeric_fills_missing_with_mean_then_z_scores(transformed):
    # present values 1, 3, 5: mean 3 (fills row 3), std sqrt(8/3); the
    # statistics are those of the present values (one analysis pass)
    expected = (np.array([1, 3, 3, 5]) - 3) / math.sqrt(8 / 3)
    np.testing.assert_allclose(column(transformed, "miles"), expected, rtol=1e-5)


def test_categorical_vocabulary_by_frequency(transformed):
    pay = column(transformed, "pay")
    assert pay[1] == pay[2]  # same word, same index
    assert len(set(pay.tolist())) == 3
    hours = column(transformed, "hour")
    assert hours[0] == hours[1] and hours[2] == hours[3] and hours[0] != hours[2]


def test_bucketized_fills_then_buckets(transformed):
    lat = column(transformed, "lat")
    assert lat[0] == 0 and lat[3] == 1 and set(lat.tolist()) <= {0, 1}


def test_derived_binary_label(transformed):
    # tips > 0.2 * fare: 0 > 2 no, 5 > 2 yes, fare missing -> NaN -> missing, 1 > 4 no
    np.testing.assert_array_equal(column(transformed, "tipper_label"), [0, 1, 0, 0])
    np.testing.assert_array_equal(column(transformed, "tipper_weight"), [1, 1, 0, 1])


def test_missing_regression_label_has_zero_weight(transformed):
    np.testing.assert_array_equal(column(transformed, "fare_label"), [10, 10, 0, 20])
    np.testing.assert_array_equal(column(transformed, "fare_weight"), [1, 1, 0, 1])


def test_multiclass_string_label_uses_declared_classes(transformed):
    np.testing.assert_array_equal(column(transformed, "kind_label"), [0, 1, 1, 0])
    np.testing.assert_array_equal(column(transformed, "kind_weight"), [1, 1, 1, 0])


def test_hashed_categorical_is_stable_and_bounded():
    config = parse_config(
        {
            "name": "hash",
            "features": [{"name": "pay", "type": "categorical", "hash_buckets": 8}],
            "heads": [
                {
                    "name": "fare",
                    "label": "fare",
                    "task": "regression",
                    "label_may_be_missing": True,
                }
            ],
        }
    )
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(SPEC))
    with tft_beam.Context(temp_dir=tempfile.mkdtemp(), force_tf_compat_v1=False):
        (rows, _), _ = (ROWS, metadata) | tft_beam.AnalyzeAndTransformDataset(
            lambda inputs: preprocessing_fn(inputs, {SPEC_KEY: config.transform_spec().to_json()})
        )
    pay = column(rows, "pay")
    assert pay[1] == pay[2] and set(pay.tolist()) <= set(range(8))
    expected = tf.strings.to_hash_bucket_fast(["Cash", "Card", "Card", "Other"], 8).numpy()
    np.testing.assert_array_equal(pay, expected)
