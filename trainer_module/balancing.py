"""Loss balancing on a shared backbone: how the heads' gradients on the
backbone become one update (`training.backbone.balancing`).

- `none`: the gradient of the weighted sum of the head losses.
- `uncertainty` (Kendall, Gal and Cipolla 2018): each head i has a learned
  log-variance s_i; the backbone follows the gradient of
  sum_i exp(-s_i) * L_i + s_i, and the s_i are trained with it, so a head
  whose loss stays large (noisy, or in large units) weighs less.
- `pcgrad` (Yu et al. 2020, "Gradient surgery"): each head's gradient g_i
  on the backbone is projected off the normal plane of every other head's
  gradient g_j it conflicts with (g_i . g_j < 0):
  g_i <- g_i - (g_i . g_j / |g_j|^2) g_j, over the other heads in order;
  the update is the sum of the projected gradients. (The paper draws the
  order at random at each step; a fixed order keeps runs reproducible.)

Balancing combines gradients into one backbone update, so it applies where
one optimizer updates the backbone: `update: backbone_optimizer`, or joint
mode. (With `update: per_head` each head's optimizer applies its own
gradient, rescaled by its own Adam statistics.)
"""

from __future__ import annotations

import tensorflow as tf

BALANCING = ("none", "uncertainty", "pcgrad")


def _flat(grads: list[tf.Tensor]) -> tf.Tensor:
    return tf.concat([tf.reshape(g, [-1]) for g in grads], axis=0)


def _unflat(flat: tf.Tensor, like: list[tf.Tensor]) -> list[tf.Tensor]:
    parts = tf.split(flat, [g.shape.num_elements() for g in like])
    return [tf.reshape(p, g.shape) for p, g in zip(parts, like, strict=True)]


def pcgrad(per_head: list[list[tf.Tensor]]) -> list[tf.Tensor]:
    """PCGrad's combined gradient of the heads' gradients on the same
    variables (`per_head[i]`: head i's gradient on each variable)."""
    flats = [_flat(g) for g in per_head]
    projected = []
    for i, own in enumerate(flats):
        g = own
        for j, other in enumerate(flats):
            if i == j:
                continue
            dot = tf.reduce_sum(g * other)
            norm = tf.reduce_sum(other * other)
            conflict = tf.cast(dot < 0, g.dtype)
            g = g - conflict * tf.math.divide_no_nan(dot, norm) * other
        projected.append(g)
    return _unflat(tf.add_n(projected), per_head[0])


class UncertaintyWeights(tf.Module):
    """One learned log-variance per head (starting at 0: weight 1)."""

    def __init__(self, heads: list[str]):
        super().__init__(name="uncertainty")
        self.log_variances = {head: tf.Variable(0.0, name=f"{head}_log_variance") for head in heads}

    @property
    def variables_list(self) -> list[tf.Variable]:
        return list(self.log_variances.values())

    def total(self, losses: dict[str, tf.Tensor]) -> tf.Tensor:
        """sum_i exp(-s_i) * L_i + s_i over the heads in `losses`."""
        return tf.add_n(
            [
                tf.exp(-self.log_variances[h]) * loss + self.log_variances[h]
                for h, loss in losses.items()
            ]
        )
