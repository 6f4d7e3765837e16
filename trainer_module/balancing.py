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
- `gradnorm` (Chen et al. 2018): each head i has a learned weight w_i
  (starting at 1) and the backbone follows sum_i w_i g_i. The weights are
  trained so that each head's weighted gradient norm G_i = w_i |g_i| on the
  backbone tends to mean(G) * r_i^ALPHA, where r_i is the head's loss
  relative to its first step's, over the mean of those: a head that trains
  slower than the others gets more of the backbone. The weights' gradient
  is that of sum_i |G_i - target_i| with the targets held constant,
  sign(G_i - target_i) |g_i|; Adam applies it, and the weights are then
  rescaled to sum to the number of heads.

Balancing combines gradients into one backbone update, so it applies where
one optimizer updates the backbone: `update: backbone_optimizer`, or joint
mode. (With `update: per_head` each head's optimizer applies its own
gradient, rescaled by its own Adam statistics.) Each method is one object
(`make_balancer`): what the shared variables follow (`total`), and the
backbone's gradient (`backbone_gradients`).
"""

from __future__ import annotations

import typing

import tensorflow as tf
import tf_keras

from trainer_module.training_spec import Balancing

BALANCING: tuple[str, ...] = typing.get_args(Balancing)
# GradNorm's asymmetry (the paper's alpha; 1.5 in its NYUv2 runs): how hard
# a head that trains slower than the others is pushed up.
GRADNORM_ALPHA = 1.5
# The learning rate of GradNorm's weights (Adam): a weight moves about this
# much a step while its gradient norm is off its target.
GRADNORM_LEARNING_RATE = 0.01


Pairs = list[tuple[tf.Tensor, tf.Variable]]


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


class Summed(tf.Module):
    """`none`: the shared variables follow the gradient of the summed losses."""

    def __init__(self, heads: list[str], name: str = "summed"):
        super().__init__(name=name)
        self.heads = list(heads)

    @property
    def trained_alongside(self) -> list[tf.Variable]:
        """Variables the backbone's (or the joint) optimizer trains with it."""
        return []

    def build(self) -> None:
        """Slots of an optimizer of its own, before any trace."""

    def total(self, losses: dict[str, tf.Tensor]) -> tf.Tensor:
        """What the shared variables (joint mode: every variable) follow."""
        return tf.add_n(list(losses.values()))

    def backbone_gradients(
        self,
        tape: tf.GradientTape,
        losses: dict[str, tf.Tensor],
        total: tf.Tensor,
        variables: list[tf.Variable],
    ) -> Pairs:
        """The backbone's one update from the heads' `losses` on `tape`
        (`total`: this object's total of them)."""
        return list(zip(tape.gradient(total, variables), variables, strict=True))


class PCGrad(Summed):
    """`pcgrad`: the heads' gradients on the backbone, projected (`pcgrad`)."""

    def backbone_gradients(self, tape, losses, total, variables) -> Pairs:
        per_head = [tape.gradient(loss, variables) for loss in losses.values()]
        return list(zip(pcgrad(per_head), variables, strict=True))


class UncertaintyWeights(Summed):
    """One learned log-variance per head (starting at 0: weight 1)."""

    def __init__(self, heads: list[str]):
        super().__init__(heads, name="uncertainty")
        self.log_variances = {head: tf.Variable(0.0, name=f"{head}_log_variance") for head in heads}

    @property
    def variables_list(self) -> list[tf.Variable]:
        return list(self.log_variances.values())

    @property
    def trained_alongside(self) -> list[tf.Variable]:
        return self.variables_list

    def backbone_gradients(self, tape, losses, total, variables) -> Pairs:
        """The backbone's gradient of the total, and the log-variances' of
        the heads in `losses`."""
        variables = variables + [self.log_variances[h] for h in losses]
        return list(zip(tape.gradient(total, variables), variables, strict=True))

    def total(self, losses: dict[str, tf.Tensor]) -> tf.Tensor:
        """sum_i exp(-s_i) * L_i + s_i over the heads in `losses`."""
        return tf.add_n(
            [
                tf.exp(-self.log_variances[h]) * loss + self.log_variances[h]
                for h, loss in losses.items()
            ]
        )


def _norm(grads: list[tf.Tensor]) -> tf.Tensor:
    return tf.sqrt(tf.add_n([tf.reduce_sum(tf.square(g)) for g in grads]))


class GradNormWeights(Summed):
    """One learned weight per head (GradNorm), and each head's first loss."""

    def __init__(self, heads: list[str]):
        super().__init__(heads, name="gradnorm")
        self.weights = {head: tf.Variable(1.0, name=f"{head}_gradnorm_weight") for head in heads}
        self.initial_losses = {
            head: tf.Variable(0.0, trainable=False, name=f"{head}_initial_loss") for head in heads
        }
        self.started = tf.Variable(False, trainable=False, name="gradnorm_started")
        self.optimizer = tf_keras.optimizers.Adam(GRADNORM_LEARNING_RATE, name="gradnorm_adam")

    @property
    def variables_list(self) -> list[tf.Variable]:
        return list(self.weights.values())

    def build(self) -> None:
        """The optimizer's slots, before any trace."""
        self.optimizer.build(self.variables_list)

    def total(self, losses: dict[str, tf.Tensor]) -> tf.Tensor:
        """sum_i w_i * L_i, the weights held constant (they follow their own rule)."""
        return tf.add_n([tf.stop_gradient(self.weights[h]) * loss for h, loss in losses.items()])

    def combine(
        self, losses: dict[str, tf.Tensor], per_head: list[list[tf.Tensor]]
    ) -> list[tf.Tensor]:
        """The backbone's gradient, sum_i w_i g_i (`per_head[i]`: the gradient
        of the i-th head of `losses` on each backbone variable); then one
        update of the weights of the heads in `losses`."""
        heads = list(losses)
        weights = [self.weights[h] for h in heads]
        combined = [
            tf.add_n([w * g[k] for w, g in zip(weights, per_head, strict=True)])
            for k in range(len(per_head[0]))
        ]
        self._update(heads, [losses[h] for h in heads], [_norm(g) for g in per_head])
        return combined

    def backbone_gradients(self, tape, losses, total, variables) -> Pairs:
        per_head = [tape.gradient(loss, variables) for loss in losses.values()]
        return list(zip(self.combine(losses, per_head), variables, strict=True))

    def _update(self, heads: list[str], losses: list[tf.Tensor], norms: list[tf.Tensor]) -> None:
        losses = [tf.stop_gradient(loss) for loss in losses]
        first = tf.logical_not(self.started)
        for head, loss in zip(heads, losses, strict=True):
            initial = self.initial_losses[head]
            initial.assign(tf.where(first, loss, initial))
        self.started.assign(True)
        weights = [self.weights[h] for h in heads]
        ratios = tf.stack(
            [
                tf.math.divide_no_nan(loss, self.initial_losses[h])
                for h, loss in zip(heads, losses, strict=True)
            ]
        )
        rates = tf.math.divide_no_nan(ratios, tf.reduce_mean(ratios))
        weighted = tf.stack([w * n for w, n in zip(weights, norms, strict=True)])
        targets = tf.reduce_mean(weighted) * tf.pow(rates, GRADNORM_ALPHA)
        grads = tf.unstack(tf.sign(weighted - targets) * tf.stack(norms))
        self.optimizer.apply_gradients(zip(grads, weights, strict=True))
        # Positive, and summing to the number of heads.
        floored = [tf.maximum(w, 1e-3) for w in weights]
        scale = len(weights) / tf.add_n(floored)
        for w, value in zip(weights, floored, strict=True):
            w.assign(value * scale)


_BALANCERS = {
    "none": Summed,
    "uncertainty": UncertaintyWeights,
    "pcgrad": PCGrad,
    "gradnorm": GradNormWeights,
}


def make_balancer(balancing: str, heads: list[str]) -> Summed:
    """The object of `training.backbone.balancing` for these heads."""
    return _BALANCERS[balancing](heads)
