"""Per-head early stopping and frozen heads in the training loop, on tiny
seeded data whose validation loss goes where the test wants it."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tensorflow as tf
from pydantic import ValidationError

from tests.conftest import small_spec
from tests.test_training import batch, same, trainer_for, values, with_heads
from trainer_module.spec import ModelSpec, StoppingRule
from trainer_module.stopping import EarlyStopper
from trainer_module.tasks import TASKS


def test_a_head_stops_after_patience_checks_without_improvement_with_its_best_weights():
    weight = tf.Variable(0.0)
    stopper = EarlyStopper({"h": StoppingRule(2, 0.0)}, lambda name: [weight])
    for step, loss in [(10, 1.0), (20, 0.8), (30, 0.85), (40, 0.79), (50, 0.9)]:
        weight.assign(float(step))  # the weights "at" each check
        assert stopper.check(step, {"h": loss}) == []
    weight.assign(60.0)
    assert stopper.check(60, {"h": 0.95}) == ["h"]  # two checks without beating 0.79
    assert float(weight) == 40.0  # the weights of its best check are back
    assert stopper.report()["h"] == {
        "monitor": "loss",
        "best_step": 40,
        "best_validation": 0.79,
        "stopped_at": 60,
        "patience": 2,
        "min_delta": 0.0,
    }


def test_an_improvement_within_min_delta_does_not_count():
    weight = tf.Variable(0.0)
    stopper = EarlyStopper({"h": StoppingRule(1, 0.05)}, lambda name: [weight])
    stopper.check(1, {"h": 1.0})
    assert stopper.check(2, {"h": 0.97}) == ["h"]  # 0.03 better: not by more than 0.05
    assert stopper.report()["h"]["best_step"] == 1


def memorised(config: ModelSpec):
    """Training repeats one batch; validation is the same rows with head a's
    labels flipped: a's validation loss rises as it learns, b's falls."""
    train = batch(rows=64, seed=1)
    features, labels, weights = train
    validation = [(features, {**labels, "a": 1.0 - labels["a"]}, weights)]
    return trainer_for(config), itertools.repeat(train), validation


STOPPING = {"every": 5, "patience": 2}


@pytest.mark.parametrize("mode", ["disjoint", "joint"])
def test_each_head_stops_on_its_own_and_a_stopped_head_is_updated_no_more(mode):
    config = small_spec(mode=mode, steps=200, early_stopping=STOPPING)
    loop, batches, validation = memorised(config)
    rules = {name: config.stopping_rule(name) for name in loop.trained}
    stopper = EarlyStopper(rules, loop.model.head_variables)
    at_stop = {}

    def on_check(step, losses, stopped):
        for name in stopped:  # the restored weights, as the head leaves training
            at_stop[name] = values(loop.model.head_variables(name))

    final = loop.fit(
        batches, 200, stopper=stopper, validation=validation, check_every=5, on_check=on_check
    )
    report = stopper.report()
    assert report["a"]["stopped_at"] is not None and report["a"]["stopped_at"] < 200
    assert report["b"]["stopped_at"] is None and final.step == 200  # b went on to the max
    assert same(values(loop.model.head_variables("a")), at_stop["a"])
    if mode == "disjoint":  # a's own optimizer made exactly its steps before the stop
        assert int(loop.optimizers["a"].iterations) == report["a"]["stopped_at"]
        assert int(loop.optimizers["b"].iterations) == 200


def test_the_loop_ends_when_every_head_has_stopped():
    config = small_spec(steps=10_000, early_stopping={"every": 5, "patience": 1})
    loop, batches, _ = memorised(config)
    rules = {"a": StoppingRule(1, 0.0), "b": StoppingRule(1, 0.0)}
    stopper = EarlyStopper(rules, loop.model.head_variables)
    constant = [batch(rows=8, seed=99)]  # a fixed set: the heads stop once it stops improving
    final = loop.fit(batches, 10_000, stopper=stopper, validation=constant, check_every=5)
    assert final.step < 10_000 and stopper.stopped() == {"a", "b"}


def test_a_frozen_head_is_never_updated():
    config = with_heads(small_spec(steps=20), a={"freeze": True})
    loop, batches, _ = memorised(config)
    before = values(loop.model.head_variables("a"))
    other = values(loop.model.head_variables("b"))
    loop.fit(batches, 20)
    assert loop.trained == ["b"]
    assert same(values(loop.model.head_variables("a")), before)
    assert not same(values(loop.model.head_variables("b")), other)
    assert int(loop.optimizers["a"].iterations) == 0


def test_stopping_rules_come_from_the_training_section_and_a_head_may_override_them():
    config = with_heads(
        small_spec(early_stopping={"every": 10, "patience": 3, "min_delta": 0.01}),
        a={"early_stopping": {"patience": 8}},
        b={"early_stopping": False},
    )
    assert config.stopping_rule("a") == StoppingRule(8, 0.01, "loss", False)
    assert config.stopping_rule("b") is None  # trains to training.steps


def test_a_metric_where_higher_is_better_stops_when_it_stops_rising():
    weight = tf.Variable(0.0)
    rule = StoppingRule(2, 0.0, monitor="auc", higher_is_better=True)
    stopper = EarlyStopper({"h": rule}, lambda name: [weight])
    for step, auc in [(10, 0.70), (20, 0.81), (30, 0.80), (40, float("nan"))]:
        weight.assign(float(step))
        stopper.check(step, {"h": auc})
    assert stopper.stopped() == {"h"}  # 0.80 and a NaN (one class) do not beat 0.81
    assert float(weight) == 20.0
    assert stopper.report()["h"]["best_validation"] == 0.81
    assert stopper.report()["h"]["monitor"] == "auc"


def test_auc_during_training_is_the_share_of_ordered_pairs_ties_counting_half():
    auc = TASKS["binary"].metrics["auc"].during_training
    labels = np.array([0.0, 0.0, 1.0, 1.0])
    # Pairs (positive, negative): 0.35>0.1 yes, 0.35>0.4 no, 0.8 beats both: 3 of 4.
    assert auc(labels, np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    # A positive tied with a negative counts a half: (1 + 0.5 + 1 + 1) / 4.
    assert auc(labels, np.array([0.1, 0.4, 0.4, 0.8])) == pytest.approx(0.875)
    assert np.isnan(auc(np.array([1.0, 1.0]), np.array([0.2, 0.3])))


def test_a_head_monitored_by_its_mae_is_judged_on_the_labelled_rows_of_the_slice():
    config = with_heads(
        small_spec(early_stopping={"every": 5, "patience": 2}),
        a={"early_stopping": {"monitor": "binary_accuracy"}},
        b={"early_stopping": {"monitor": "mean_absolute_error"}},
    )
    loop = trainer_for(config)
    validation = [batch(rows=8, mask_b=[1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 1.0], seed=3)]
    losses, monitored = loop.validate(
        validation, {"a": "binary_accuracy", "b": "mean_absolute_error"}
    )
    features, labels, weights = validation[0]
    outputs = loop.model(features)
    kept = weights["b"].numpy() > 0
    mae = np.mean(np.abs(outputs["b"].numpy()[kept] - labels["b"].numpy()[kept]))
    assert monitored["b"] == pytest.approx(mae, rel=1e-6)
    accuracy = np.mean((outputs["a"].numpy() > 0) == (labels["a"].numpy() > 0.5))
    assert monitored["a"] == pytest.approx(accuracy)
    assert set(losses) == {"a", "b"}
    assert config.stopping_rule("b") == StoppingRule(2, 0.0, "mean_absolute_error", False)


def test_a_monitor_the_trainer_cannot_measure_for_the_head_is_refused_naming_it():
    with pytest.raises(ValidationError, match=r"heads\[a\]: early stopping monitor 'mean_abs"):
        with_heads(
            small_spec(early_stopping={"every": 5, "monitor": "loss"}),
            a={"early_stopping": {"monitor": "mean_absolute_error"}},
        )
    with pytest.raises(ValidationError, match=r"'calibration' is not measured.*'auc'"):
        small_spec(early_stopping={"every": 5, "monitor": "calibration"})
