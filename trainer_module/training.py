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

import numpy as np
import tensorflow as tf

from trainer_module.balancing import Pairs, make_balancer
from trainer_module.model import MultiHeadModel
from trainer_module.optimizers import make_optimizer
from trainer_module.spec import HeadSpec, ModelSpec
from trainer_module.stopping import EarlyStopper

Batch = tuple[dict[str, tf.Tensor], dict[str, tf.Tensor], dict[str, tf.Tensor]]


class NonFiniteLossError(RuntimeError):
    """A head's loss became NaN or infinite; training stops."""


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
    """Owns the optimizers and the compiled train step of one model.

    Under a tf.distribute `strategy` (the model and this loop built in its
    scope), a step runs on every replica on its share of the global batch;
    each optimizer sums its gradients across replicas (Keras' all-reduce),
    so every loss is divided by the number of replicas first: the sum is
    the mean over the global batch, and each head's optimizer is still its
    own, with its own slots, on every replica.
    """

    def __init__(
        self,
        model: MultiHeadModel,
        spec: ModelSpec,
        strategy: tf.distribute.Strategy | None = None,
    ):
        self.model = model
        self.spec = spec
        self.strategy = strategy
        self._gradient_scale = 1.0 / strategy.num_replicas_in_sync if strategy else 1.0
        self.heads = list(spec.heads)
        # Frozen heads are served from the served model: never trained here.
        self.trained = [h.name for h in self.heads if not h.freeze]
        training = spec.training
        self.mode = training.mode
        backbone = training.backbone
        self.backbone_update = backbone.update if backbone else None
        self.balancer = make_balancer(
            backbone.balancing if backbone else "none", [h.name for h in self.heads]
        )
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
        # One compiled step per set of heads still training (a head that
        # stops early leaves the set: at most one trace more per head).
        self._steps: dict[tuple[str, ...], Callable] = {}
        self._eval = tf.function(self._eval_outputs, autograph=False)

    def _build_optimizers(self) -> None:
        """Creates every optimizer's slots now: a first trace that creates
        variables would be traced twice."""
        extra = self.balancer.trained_alongside
        self.balancer.build()
        if self.mode == "joint":
            self.optimizers["__joint__"].build(self.model.trainable_variables + extra)
            return
        for head in self.heads:
            variables = self.model.head_variables(head.name)
            if self.backbone_update == "per_head":
                variables = variables + self.model.backbone_variables()
            self.optimizers[head.name].build(variables)
        if self.backbone_update == "backbone_optimizer":
            self.optimizers["__backbone__"].build(self.model.backbone_variables() + extra)

    def _losses(
        self, batch: Batch, training: bool, names: tuple[str, ...] | None = None
    ) -> dict[str, tf.Tensor]:
        """Each head's masked loss (of the heads in `names`; default all)."""
        features, labels, weights = batch
        shared = self.model.shared(features, training=training)
        heads = [h for h in self.heads if names is None or h.name in names]
        return {
            h.name: masked_loss(
                h,
                labels[h.name],
                weights[h.name],
                self.model.head_output(h.name, shared, training),
                self._label_scale(h.name),
            )
            for h in heads
        }

    def _label_scale(self, head: str):
        """The labels' standard deviation of a regression head (1 otherwise)."""
        scale = self.model.scales.get(head)
        return scale.scale if scale is not None else 1.0

    def _train_step(self, batch: Batch, active: tuple[str, ...]) -> dict[str, tf.Tensor]:
        """One update of the `active` heads (only theirs: a stopped or frozen
        head's weights and optimizer slots stay as they are)."""
        heads = [h for h in self.heads if h.name in active]
        share = self._gradient_scale  # 1 / replicas: their summed gradients are the mean
        with tf.GradientTape(persistent=True) as tape:
            losses = self._losses(batch, training=True, names=active)
            scaled = {h.name: h.weight * losses[h.name] for h in heads}
            total = tf.add_n(list(scaled.values()))
            # What the shared variables follow (joint mode: every variable),
            # by the balancing, recorded on the tape with the losses.
            weighted = self.balancer.total(scaled)
            if share != 1.0:
                scaled = {name: share * loss for name, loss in scaled.items()}
                total, weighted = share * total, share * weighted
        if self.mode == "joint":
            towers = [v for h in heads for v in self.model.head_variables(h.name)]
            updates = list(zip(tape.gradient(weighted, towers), towers, strict=True))
            updates += self._shared_gradients(tape, scaled, weighted)
            del tape
            self.optimizers["__joint__"].apply_gradients(updates)
            return losses
        # Disjoint: every gradient is taken at the same point before any update.
        # Towers are disjoint, so the gradient of the summed loss with respect
        # to a tower is exactly the gradient of that head's own loss: one
        # backward pass serves every tower.
        head_vars = {h.name: self.model.head_variables(h.name) for h in heads}
        flat = [v for h in heads for v in head_vars[h.name]]
        flat_grads = tape.gradient(total, flat)
        updates, start = [], 0
        for head in heads:
            count = len(head_vars[head.name])
            grads, variables = flat_grads[start : start + count], head_vars[head.name]
            start += count
            if self.backbone_update == "per_head":
                backbone = self.model.backbone_variables()
                grads = grads + tape.gradient(scaled[head.name], backbone)
                variables = variables + backbone
            updates.append((self.optimizers[head.name], grads, variables))
        if self.backbone_update == "backbone_optimizer":
            pairs = self._shared_gradients(tape, scaled, weighted)
            grads, variables = [g for g, _ in pairs], [v for _, v in pairs]
            updates.append((self.optimizers["__backbone__"], grads, variables))
        del tape
        for optimizer, grads, variables in updates:
            optimizer.apply_gradients(zip(grads, variables, strict=True))
        return losses

    def _shared_gradients(
        self, tape: tf.GradientTape, scaled: dict[str, tf.Tensor], weighted: tf.Tensor
    ) -> Pairs:
        """The backbone's one update from every head's gradient on it, by the
        balancing (balancing.py)."""
        variables = self.model.backbone_variables()
        if not variables:
            return []
        return self.balancer.backbone_gradients(tape, scaled, weighted, variables)

    def _eval_outputs(self, batch: Batch) -> tuple[dict[str, tf.Tensor], dict[str, tf.Tensor]]:
        """Each head's masked loss and raw output on `batch` (inference mode)."""
        features, labels, weights = batch
        shared = self.model.shared(features, training=False)
        raws = {h.name: self.model.head_output(h.name, shared, False) for h in self.heads}
        losses = {
            h.name: masked_loss(
                h, labels[h.name], weights[h.name], raws[h.name], self._label_scale(h.name)
            )
            for h in self.heads
        }
        return losses, raws

    def step(self, batch: Batch, active: tuple[str, ...] | None = None) -> dict[str, tf.Tensor]:
        """One update of the `active` heads (default: every trained head);
        returns each one's loss on the batch."""
        active = tuple(self.trained) if active is None else active
        if active not in self._steps:
            self._steps[active] = tf.function(
                lambda batch: self._replicated(batch, active), autograph=False
            )
        return self._steps[active](batch)

    def _replicated(self, batch: Batch, active: tuple[str, ...]) -> dict[str, tf.Tensor]:
        """The step on every replica (under a strategy), each head's loss
        averaged over them."""
        if self.strategy is None:
            return self._train_step(batch, active)
        losses = self.strategy.run(lambda share: self._train_step(share, active), args=(batch,))
        mean = tf.distribute.ReduceOp.MEAN
        return {name: self.strategy.reduce(mean, loss, axis=None) for name, loss in losses.items()}

    def fit(
        self,
        batches: Iterator[Batch],
        steps: int,
        on_log: Callable[[StepResult], None] | None = None,
        log_every: int = 50,
        stopper: EarlyStopper | None = None,
        validation: list[Batch] | None = None,
        check_every: int = 50,
        on_check: Callable[[int, dict[str, float], list[str]], None] | None = None,
    ) -> StepResult:
        """Runs up to `steps` updates; stops with NonFiniteLossError naming the head.

        With a `stopper`, every `check_every` steps (and at the last) what
        each training head is monitored by (its loss or a metric) on
        `validation` goes to it; a head it stops trains no more, and the
        loop ends when no head trains. `on_check` gets the step, the
        validation losses and the heads that stopped there.
        """
        result = StepResult(0, {})
        sums: dict[str, float] = {}
        count = 0
        active = tuple(self.trained)
        for step in range(1, steps + 1):
            out = self.step(next(batches), active)
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
            if stopper is not None and (step % check_every == 0 or step == steps):
                measured, monitored = self.validate(validation or [], stopper.monitors())
                stopped = stopper.check(step, monitored)
                if on_check:
                    on_check(step, measured, stopped)
                active = tuple(h for h in active if h not in stopped)
                if not active:
                    if on_log and count:
                        on_log(result)
                    break
                sums = {k: v for k, v in sums.items() if k in active}
        if stopper is not None:
            stopper.finish()
        return result

    def evaluate(self, batches: Iterator[Batch], count: int) -> dict[str, float]:
        """Mean of each head's masked loss over `count` batches."""
        sums: dict[str, float] = {}
        seen = 0
        for batch in batches:
            losses, _ = self._eval(batch)
            for name, value in losses.items():
                sums[name] = sums.get(name, 0.0) + float(value)
            seen += 1
            if seen >= count:
                break
        return {name: total / max(seen, 1) for name, total in sums.items()}

    def validate(
        self, batches: list[Batch], monitors: dict[str, str]
    ) -> tuple[dict[str, float], dict[str, float]]:
        """One pass over `batches`: each head's mean masked loss, and each
        monitored head's value: its loss, or the metric `monitors` names,
        computed on the rows with a label (tasks.Metric.during_training)."""
        sums: dict[str, float] = {}
        kept = {name: ([], [], []) for name, monitor in monitors.items() if monitor != "loss"}
        for batch in batches:
            losses, raws = self._eval(batch)
            for name, value in zip(losses, tf.stack(list(losses.values())).numpy(), strict=True):
                sums[name] = sums.get(name, 0.0) + float(value)
            for name, (labels, outputs, weights) in kept.items():
                labels.append(batch[1][name].numpy())
                outputs.append(raws[name].numpy())
                weights.append(batch[2][name].numpy())
        losses = {name: total / max(len(batches), 1) for name, total in sums.items()}
        values = {}
        for name, monitor in monitors.items():
            if monitor == "loss":
                values[name] = losses[name]
                continue
            label, output, weight = (np.concatenate(parts) for parts in kept[name])
            present = weight > 0
            metric = self.spec.head(name).kind.metrics[monitor].during_training
            values[name] = metric(label[present], output[present])
        return losses, values

    def _lr(self, head: str) -> float:
        if self.mode == "joint":
            return self.spec.training.joint_optimizer.learning_rate
        return self.spec.head(head).optimizer.learning_rate
