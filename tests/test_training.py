"""Trainer math on tiny seeded data, with expectations worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import small_spec
from trainer_module.model import InputColumn, build_model
from trainer_module.spec import ModelSpec
from trainer_module.training import NonFiniteLossError, TrainingLoop, masked_loss

COLUMNS = [InputColumn("x1"), InputColumn("x2"), InputColumn("c", 3)]


def batch(rows: int = 8, mask_b: list[float] | None = None, seed: int = 0):
    rng = np.random.default_rng(seed)
    features = {
        "x1": tf.constant(rng.normal(size=rows), tf.float32),
        "x2": tf.constant(rng.normal(size=rows), tf.float32),
        "c": tf.constant(rng.integers(0, 3, size=rows), tf.int64),
    }
    labels = {
        "a": tf.constant(rng.integers(0, 2, size=rows), tf.float32),
        "b": tf.constant(rng.normal(50, 10, size=rows), tf.float32),
    }
    weights = {
        "a": tf.ones([rows]),
        "b": tf.constant(mask_b if mask_b is not None else [1.0] * rows),
    }
    return features, labels, weights


def trainer_for(config: ModelSpec) -> TrainingLoop:
    tf.keras.utils.set_random_seed(config.training.seed)
    return TrainingLoop(build_model(config, COLUMNS), config)


def with_heads(config: ModelSpec, **per_head) -> ModelSpec:
    """A copy of `config` whose heads get the given fields (by head name)."""
    data = config.model_dump()
    for head in data["heads"]:
        head.update(per_head.get(head["name"], {}))
    return ModelSpec.model_validate(data)


def values(variables) -> list[np.ndarray]:
    return [v.numpy().copy() for v in variables]


def same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_masked_regression_loss_ignores_masked_rows_exactly():
    head = small_spec().head("b")
    raw = tf.constant([1.0, 2.0, 3.0, 4.0])
    label = tf.constant([1.0, 0.0, 5.0, float("nan")])  # NaN in a masked row
    weight = tf.constant([1.0, 1.0, 1.0, 0.0])
    # (1-1)^2 + (2-0)^2 + (3-5)^2 over 3 present rows = 8/3
    assert float(masked_loss(head, label, weight, raw)) == pytest.approx(8 / 3, rel=1e-6)


def test_masked_binary_loss_and_empty_mask():
    head = small_spec().head("a")
    raw = tf.constant([0.0, 3.0])
    loss = masked_loss(head, tf.constant([1.0, 0.0]), tf.constant([1.0, 0.0]), raw)
    assert float(loss) == pytest.approx(math.log(2.0), rel=1e-6)  # BCE of logit 0
    none = masked_loss(head, tf.constant([1.0, 0.0]), tf.constant([0.0, 0.0]), raw)
    assert float(none) == 0.0


def test_each_optimizer_owns_its_head_variables_and_step_counter():
    trainer = trainer_for(small_spec())
    trainer.step(batch())
    trainer.step(batch(seed=1))
    for name in ("a", "b"):
        optimizer = trainer.optimizers[name]
        assert int(optimizer.iterations) == 2
        slots = [v.name for v in optimizer.variables if "iteration" not in v.name]
        head_vars = trainer.model.head_variables(name)
        assert len(slots) == 2 * len(head_vars)  # Adam: m and v per variable
        assert all(f"/{name}_" in slot for slot in slots), slots


def test_head_without_labels_in_batch_is_untouched_and_other_head_trains():
    config = with_heads(small_spec(), a={"optimizer": {"name": "sgd", "learning_rate": 0.1}})
    config = with_heads(config, b={"optimizer": {"name": "sgd", "learning_rate": 0.1}})
    trainer = trainer_for(config)
    before_a = values(trainer.model.head_variables("a"))
    before_b = values(trainer.model.head_variables("b"))
    trainer.step(batch(mask_b=[0.0] * 8))
    assert same(values(trainer.model.head_variables("b")), before_b)
    assert not same(values(trainer.model.head_variables("a")), before_a)


def run_steps(config: ModelSpec, steps: int = 5) -> TrainingLoop:
    trainer = trainer_for(config)
    for step in range(steps):
        trainer.step(batch(seed=step))
    return trainer


def test_disjoint_large_loss_leaves_other_head_bit_identical():
    base = small_spec()
    scaled = with_heads(base, b={"weight": 1000.0})
    plain, loud = run_steps(base), run_steps(scaled)
    assert same(values(plain.model.head_variables("a")), values(loud.model.head_variables("a")))


def test_joint_with_shared_backbone_lets_large_loss_move_other_head():
    backbone = {"mode": "joint", "backbone": {"layers": [6]}}
    base = small_spec(**backbone)
    scaled = with_heads(base, b={"weight": 1000.0})
    plain, loud = run_steps(base), run_steps(scaled)
    assert not same(values(plain.model.head_variables("a")), values(loud.model.head_variables("a")))
    assert not same(
        values(plain.model.backbone_variables()), values(loud.model.backbone_variables())
    )


def test_disjoint_per_head_backbone_gets_each_heads_own_update():
    config = small_spec(backbone={"layers": [6], "update": "per_head"})
    trainer = run_steps(config, steps=1)
    # Two optimizers update the backbone: both hold slots for its variables.
    backbone_names = {v.name for v in trainer.model.backbone_variables()}
    for name in ("a", "b"):
        slots = " ".join(v.name for v in trainer.optimizers[name].variables)
        assert all(n.split(":")[0] in slots for n in backbone_names)


@pytest.mark.parametrize("skip", [False, True])
def test_a_skip_connection_keeps_each_head_a_path_to_the_features(skip):
    # A dead backbone (all weights zero) hands the towers a constant: without
    # the skip every row gets the same prediction; with it the towers still
    # read the features.
    trainer = trainer_for(small_spec(backbone={"layers": [6], "skip": skip}))
    for variable in trainer.model.backbone_variables():
        variable.assign(tf.zeros_like(variable))
    features, _, _ = batch(rows=8)
    predictions = trainer.model(features)["a"].numpy()
    assert (np.ptp(predictions) > 1e-3) == skip


def test_backbone_optimizer_policy_keeps_heads_off_the_backbone():
    config = small_spec(backbone={"layers": [6], "update": "backbone_optimizer"})
    trainer = run_steps(config, steps=1)
    backbone = {v.name.split(":")[0] for v in trainer.model.backbone_variables()}
    for name in ("a", "b"):
        slots = " ".join(v.name for v in trainer.optimizers[name].variables)
        assert not any(n in slots for n in backbone)
    assert int(trainer.optimizers["__backbone__"].iterations) == 1


def test_masked_row_changes_nothing_for_its_head():
    """A batch with a masked row trains head b exactly like the batch without it."""
    config = small_spec(mode="disjoint")
    full = batch(rows=8, mask_b=[1.0] * 7 + [0.0])
    cut = tuple({k: v[:7] for k, v in part.items()} for part in full)
    t_full, t_cut = trainer_for(config), trainer_for(config)
    t_full.step(full)
    t_cut.step(cut)
    for x, y in zip(
        values(t_full.model.head_variables("b")),
        values(t_cut.model.head_variables("b")),
        strict=True,
    ):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)
    # Head a still learns from the row that head b ignores.
    assert not same(
        values(t_full.model.head_variables("a")), values(t_cut.model.head_variables("a"))
    )


def test_same_seed_same_weights():
    first, second = run_steps(small_spec()), run_steps(small_spec())
    assert same(values(first.model.trainable_variables), values(second.model.trainable_variables))


def test_non_finite_loss_names_head_and_step():
    config = with_heads(small_spec(), b={"optimizer": {"name": "sgd", "learning_rate": 10.0}})
    trainer = trainer_for(config)
    features, labels, weights = batch()
    labels["b"] = tf.fill([8], 1e30)

    def batches():
        while True:
            yield features, labels, weights

    with pytest.raises(NonFiniteLossError, match=r"head 'b': loss is inf at step 1"):
        trainer.fit(batches(), steps=3)


def test_predictions_per_task():
    config = small_spec()
    raw = tf.constant([0.0, 2.0])
    binary, regression = config.head("a"), config.head("b")
    probability = binary.kind.predictions(binary, raw)["a"]
    assert np.allclose(probability, [0.5, 1 / (1 + math.exp(-2))])
    assert np.array_equal(regression.kind.predictions(regression, raw)["b"], raw)


def test_huber_delta_is_counted_in_the_labels_standard_deviation():
    config = with_heads(small_spec(), b={"loss": "huber", "huber_delta": 0.5})
    loop = trainer_for(config)
    loop.model.scales["b"].scale.assign(10.0)  # labels with std 10: delta 5 label units
    data = batch(rows=8)
    error = np.abs(loop.model(data[0])["b"].numpy() - data[1]["b"].numpy())
    expected = np.where(error <= 5.0, 0.5 * error**2, 5.0 * (error - 2.5)).mean()
    assert float(loop._losses(data, training=False)["b"]) == pytest.approx(expected, rel=1e-5)
