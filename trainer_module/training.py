"""The training loop of a MultiHeadModel: disjoint or joint.

Disjoint (default): every head has its own loss, its own optimizer instance
(own slots, own step counter, own learning rate) and updates only its own
tower, plus the shared backbone when the spec says so. A head's `weight`
multiplies its loss: in disjoint mode that scales only its own gradients.
All gradients of a step are computed before any is applied. Joint: the
weighted sum of the head losses, one optimizer, for comparison.

(`TrainingLoop`, not to be confused with the TFX component MultiHeadTrainer
that runs it.)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator

import tensorflow as tf
import tf_keras

from trainer_module.model import MultiHeadModel
from trainer_module.spec import HeadSpec, ModelSpec, Optimizer

Batch = tuple[dict[str, tf.Tensor], dict[str, tf.Tensor], dict[str, tf.Tensor]]

_OPTIMIZERS = {
    "adam": tf_keras.optimizers.Adam,
    "sgd": tf_keras.optimizers.SGD,
    "adagrad": tf_keras.optimizers.Adagrad,
    "rmsprop": tf_keras.optimizers.RMSprop,
}


class NonFiniteLossError(RuntimeError):
    """A head's loss became NaN or infinite; training stops."""


def make_optimizer(spec: Optimizer, name: str) -> tf_keras.optimizers.Optimizer:
    return _OPTIMIZERS[spec.name](learning_rate=spec.learning_rate, name=name)


def masked_loss(
    head: HeadSpec, label: tf.Tensor, weight: tf.Tensor, raw: tf.Tensor, label_scale=1.0
) -> tf.Tensor:
    """Mean loss over the rows whose label is present (weight 1); 0 if none."""
    label = tf.where(weight > 0, label, tf.zeros_like(label))
    losses = head.kind.per_example_loss(head, label, raw, label_scale)
    return tf.math.divide_no_nan(tf.reduce_sum(losses * weight), tf.reduce_sum(weight))


@dataclasses.dataclass
class StepResult:
    """Each head's loss on the step's batch, and (`window`) its mean over the
    steps since the previous log: the train curve a person reads."""

    step: int
    losses: dict[str, float]
    window: dict[str, float] = dataclasses.field(default_factory=dict)


class TrainingLoop:
    """Owns the optimizers and the compiled train step of one model."""

    def __init__(self, model: MultiHeadModel, spec: ModelSpec):
        self.model = model
        self.spec = spec
        self.heads = list(spec.heads)
        training = spec.training
        self.mode = training.mode
        backbone = training.backbone
        self.backbone_update = backbone.update if backbone else None
        if self.mode == "disjoint":
            self.optimizers = {
                h.name: make_optimizer(h.optimizer, f"{h.name}_optimizer") for h in self.heads
            }
            if self.backbone_update == "backbone_optimizer":
                self.optimizers["__backbone__"] = make_optimizer(
                    backbone.optimizer, "backbone_optimizer"
                )
        else:
            self.optimizers = {
                "__joint__": make_optimizer(training.joint_optimizer, "joint_optimizer")
            }
        self._build_optimizers()
        # The step is plain Python loops over heads and TensorFlow ops: no
        # tensor-dependent control flow for AutoGraph to convert, which would
        # otherwise convert every Keras layer and optimizer it calls (most of
        # a short fit's time; docs/benchmarks.md).
        self._step = tf.function(self._train_step, autograph=False)
        self._eval = tf.function(self._eval_losses, autograph=False)

    def _build_optimizers(self) -> None:
        """Creates every optimizer's slots now: a first trace that creates
        variables would be traced twice."""
        if self.mode == "joint":
            self.optimizers["__joint__"].build(self.model.trainable_variables)
            return
        for head in self.heads:
            variables = self.model.head_variables(head.name)
            if self.backbone_update == "per_head":
                variables = variables + self.model.backbone_variables()
            self.optimizers[head.name].build(variables)
        if self.backbone_update == "backbone_optimizer":
            self.optimizers["__backbone__"].build(self.model.backbone_variables())

    def _losses(self, batch: Batch, training: bool) -> dict[str, tf.Tensor]:
        features, labels, weights = batch
        outputs = self.model(features, training=training)
        return {
            h.name: masked_loss(
                h, labels[h.name], weights[h.name], outputs[h.name], self._label_scale(h.name)
            )
            for h in self.heads
        }

    def _label_scale(self, head: str):
        """The labels' standard deviation of a regression head (1 otherwise)."""
        scale = self.model.scales.get(head)
        return scale.scale if scale is not None else 1.0

    def _train_step(self, batch: Batch) -> dict[str, tf.Tensor]:
        with tf.GradientTape(persistent=True) as tape:
            losses = self._losses(batch, training=True)
            scaled = {h.name: h.weight * losses[h.name] for h in self.heads}
            total = tf.add_n(list(scaled.values()))
        if self.mode == "joint":
            variables = self.model.trainable_variables
            grads = tape.gradient(total, variables)
            self.optimizers["__joint__"].apply_gradients(zip(grads, variables, strict=True))
            return losses
        # Disjoint: every gradient is taken at the same point before any update.
        # Towers are disjoint, so the gradient of the summed loss with respect
        # to a tower is exactly the gradient of that head's own loss: one
        # backward pass serves every tower.
        head_vars = {h.name: self.model.head_variables(h.name) for h in self.heads}
        flat = [v for h in self.heads for v in head_vars[h.name]]
        flat_grads = tape.gradient(total, flat)
        updates, start = [], 0
        for head in self.heads:
            count = len(head_vars[head.name])
            grads, variables = flat_grads[start : start + count], head_vars[head.name]
            start += count
            if self.backbone_update == "per_head":
                backbone = self.model.backbone_variables()
                grads = grads + tape.gradient(scaled[head.name], backbone)
                variables = variables + backbone
            updates.append((self.optimizers[head.name], grads, variables))
        if self.backbone_update == "backbone_optimizer":
            variables = self.model.backbone_variables()
            grads = tape.gradient(total, variables)
            updates.append((self.optimizers["__backbone__"], grads, variables))
        del tape
        for optimizer, grads, variables in updates:
            optimizer.apply_gradients(zip(grads, variables, strict=True))
        return losses

    def _eval_losses(self, batch: Batch) -> dict[str, tf.Tensor]:
        return self._losses(batch, training=False)

    def step(self, batch: Batch) -> dict[str, tf.Tensor]:
        """One update of every head; returns each head's loss on the batch."""
        return self._step(batch)

    def fit(
        self,
        batches: Iterator[Batch],
        steps: int,
        on_log: Callable[[StepResult], None] | None = None,
        log_every: int = 50,
    ) -> StepResult:
        """Runs `steps` updates; stops with NonFiniteLossError naming the head."""
        result = StepResult(0, {})
        sums: dict[str, float] = {}
        count = 0
        for step in range(1, steps + 1):
            out = self.step(next(batches))
            # One host sync per step for all heads' losses.
            losses = dict(zip(out, tf.stack(list(out.values())).numpy().tolist(), strict=True))
            for name, value in losses.items():
                if not math.isfinite(value):
                    raise NonFiniteLossError(
                        f"head {name!r}: loss is {value} at step {step}; "
                        f"lower its learning rate ({self._lr(name)}) or check its label"
                    )
            count += 1
            for name, value in losses.items():
                sums[name] = sums.get(name, 0.0) + value
            result = StepResult(step, losses, {k: v / count for k, v in sums.items()})
            if on_log and (step % log_every == 0 or step == steps):
                on_log(result)
                sums, count = {}, 0
        return result

    def evaluate(self, batches: Iterator[Batch], count: int) -> dict[str, float]:
        """Mean of each head's masked loss over `count` batches."""
        sums: dict[str, float] = {}
        seen = 0
        for batch in batches:
            for name, value in self._eval(batch).items():
                sums[name] = sums.get(name, 0.0) + float(value)
            seen += 1
            if seen >= count:
                break
        return {name: total / max(seen, 1) for name, total in sums.items()}

    def _lr(self, head: str) -> float:
        if self.mode == "joint":
            return self.spec.training.joint_optimizer.learning_rate
        return self.spec.head(head).optimizer.learning_rate
