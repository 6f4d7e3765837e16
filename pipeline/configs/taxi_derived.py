"""Derived columns of the bundled taxi configs.

Each function takes a dict of raw columns as dense rank-1 tensors (numeric
columns as float32 with NaN where missing) and returns a rank-1 tensor.
"""

import tensorflow as tf


def big_tipper(inputs: dict[str, tf.Tensor]) -> tf.Tensor:
    """1.0 when the tip is more than 20% of the fare, NaN when unknown."""
    tips, fare = inputs["tips"], inputs["fare"]
    known = tf.logical_not(tf.math.is_nan(tips) | tf.math.is_nan(fare))
    label = tf.cast(tips > 0.2 * fare, tf.float32)
    return tf.where(known, label, tf.fill(tf.shape(label), float("nan")))
