"""Early stopping's validation slice is chosen by an example's content, not
its bytes: TF.Transform writes features in an order that changes from one
process to the next, and the slice must not."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from trainer_module.data import Holdout, content_keys, holdout_features

NAMES = ["c", "pair", "x"]
SPEC = {
    "x": tf.io.FixedLenFeature([], tf.float32),
    "c": tf.io.FixedLenFeature([], tf.int64),
    "pair": tf.io.FixedLenFeature([2], tf.float32),
    "tag": tf.io.VarLenFeature(tf.string),
}


def _feature(name: str, value) -> bytes:
    """A serialized Example with one feature; concatenated, such messages
    parse as one Example holding all their features, in the order given."""
    if isinstance(value, int):
        feature = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
    elif isinstance(value, bytes):
        feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
    else:
        feature = tf.train.Feature(float_list=tf.train.FloatList(value=list(value)))
    return tf.train.Example(features=tf.train.Features(feature={name: feature})).SerializeToString()


def _rows(count: int, order: list[str]) -> list[bytes]:
    rng = np.random.default_rng(0)
    rows = []
    for index in range(count):
        parts = {
            "x": _feature("x", [float(rng.normal())]),
            "c": _feature("c", index),
            "pair": _feature("pair", [float(index), 0.5]),
            "tag": _feature("tag", b"t"),
        }
        rows.append(b"".join(parts[name] for name in order))
    return rows


def test_the_same_examples_in_another_feature_order_fall_on_the_same_side():
    written = _rows(500, ["x", "c", "pair", "tag"])
    reordered = _rows(500, ["tag", "pair", "c", "x"])
    assert all(a != b for a, b in zip(written, reordered, strict=True))  # other bytes
    slice_ = Holdout(0.2, inside=True)
    kept = slice_.keeps(tf.constant(written), SPEC, NAMES).numpy()
    assert np.array_equal(kept, slice_.keeps(tf.constant(reordered), SPEC, NAMES).numpy())
    assert 60 <= kept.sum() <= 140  # about a fifth
    rest = Holdout(0.2, inside=False).keeps(tf.constant(written), SPEC, NAMES).numpy()
    assert np.array_equal(rest, ~kept)
    # Hashing the bytes, as before, put some of them on the other side.
    by_bytes = [
        tf.strings.to_hash_bucket_fast(tf.constant(r), 10_000) < 2000 for r in (written, reordered)
    ]
    assert not np.array_equal(by_bytes[0].numpy(), by_bytes[1].numpy())


def test_a_content_key_reads_the_named_values_in_name_order_floats_by_their_bits():
    (row,) = _rows(1, ["x", "c", "pair", "tag"])
    (key,) = content_keys(tf.constant([row]), SPEC, ["pair", "c", "tag"]).numpy().tolist()
    # c, then pair; x is not named, the variable-length tag is left out.
    bits = [int(np.float32(v).view(np.int32)) for v in (0.0, 0.5)]
    assert key == [0, *bits]
    # A fixed-length string is read by its hash.
    spec = {**SPEC, "tag": tf.io.FixedLenFeature([], tf.string)}
    (key,) = content_keys(tf.constant([row]), spec, ["c", "tag"]).numpy().tolist()
    assert key == [0, int(tf.strings.to_hash_bucket_fast("t", np.iinfo(np.int64).max))]


def test_the_slice_key_reads_labels_weights_and_categories_never_a_computed_statistic():
    from tests.conftest import small_spec

    # x1 and x2 are z-scored with statistics whose last bits depend on the
    # order Beam combines them in; c is a vocabulary index, exact.
    assert holdout_features(small_spec()) == ["a_label", "a_weight", "b_label", "b_weight", "c"]
