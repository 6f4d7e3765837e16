"""Each task kind on two or three values, with expectations worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from trainer_module.spec import HeadSpec
from trainer_module.tasks import TASKS


def head(task: str, **fields) -> HeadSpec:
    return HeadSpec(name="h", label="y", task=task, **fields)


def test_binary_loss_outputs_and_label_values():
    binary = head("binary")
    kind = binary.kind
    loss = kind.per_example_loss(binary, tf.constant([1.0, 0.0]), tf.constant([0.0, 2.0]))
    # -log(sigmoid(0)) = log 2; -log(1 - sigmoid(2)) = log(1 + e^2)
    np.testing.assert_allclose(loss.numpy(), [math.log(2), math.log(1 + math.e**2)], rtol=1e-6)
    assert sorted(kind.predictions(binary, tf.constant([0.0]))) == ["h"]
    assert kind.predictions(binary, tf.constant([0.0]))["h"].numpy()[0] == 0.5
    assert kind.bad_labels(binary, np.array([0.0, 1.0, 0.5, 2.0])).tolist() == [0.5, 2.0]
    assert kind.evaluated_output(binary) == "h" and kind.output_size(binary) == 1


def test_binary_string_labels_need_the_positive_class():
    with_class = head("binary", positive_class="yes")
    label, present = with_class.kind.encode_label(with_class, tf.constant(["yes", "no", ""]))
    assert label.numpy().tolist() == [1.0, 0.0, 0.0]
    assert present.numpy().tolist() == [True, True, False]
    without = head("binary")
    with pytest.raises(ValueError, match="set positive_class"):
        without.kind.encode_label(without, tf.constant(["yes"]))


def test_multiclass_loss_outputs_and_class_names():
    multi = head("multiclass", classes=["cab", "van"])
    kind = multi.kind
    logits = tf.constant([[0.0, math.log(3.0)]])
    # softmax = [1/4, 3/4]; the loss of class 1 is -log(3/4)
    loss = kind.per_example_loss(multi, tf.constant([1.0]), logits)
    np.testing.assert_allclose(loss.numpy(), [-math.log(0.75)], rtol=1e-6)
    outputs = kind.predictions(multi, logits)
    assert outputs["h"].numpy().tolist() == [1]
    assert outputs["h_class"].numpy().tolist() == [b"van"]
    assert "h_class" not in kind.predictions(head("multiclass", num_classes=2), logits)
    np.testing.assert_allclose(outputs["h_probabilities"].numpy(), [[0.25, 0.75]], rtol=1e-6)
    assert kind.evaluated_output(multi) == "h_probabilities" and kind.output_size(multi) == 2
    label, present = kind.encode_label(multi, tf.constant(["van", "bus", ""]))
    assert label.numpy()[0] == 1.0 and present.numpy().tolist() == [True, False, False]
    assert kind.bad_labels(multi, np.array([-1.0, 0.0, 1.0, 2.0, 0.5])).tolist() == [-1, 2, 0.5]


def test_regression_losses_in_label_units():
    label, raw = tf.constant([1.0, 1.0]), tf.constant([3.0, 1.5])
    squared = head("regression")
    np.testing.assert_allclose(
        squared.kind.per_example_loss(squared, label, raw).numpy(), [4.0, 0.25]
    )
    absolute = head("regression", loss="mean_absolute_error")
    np.testing.assert_allclose(
        absolute.kind.per_example_loss(absolute, label, raw).numpy(), [2.0, 0.5]
    )
    huber = head("regression", loss="huber")  # quadratic within 1 label std, linear beyond
    np.testing.assert_allclose(
        huber.kind.per_example_loss(huber, label, raw).numpy(), [2.0 - 0.5, 0.5 * 0.25]
    )
    # labels with std 10 and delta 0.5: quadratic within 5 label units
    wide = head("regression", loss="huber", huber_delta=0.5)
    errors = wide.kind.per_example_loss(wide, tf.constant([0.0, 0.0]), tf.constant([3.0, 25.0]), 10)
    np.testing.assert_allclose(errors.numpy(), [0.5 * 9, 5 * (25 - 2.5)])
    assert squared.kind.bad_labels(squared, np.array([1.0, np.inf])).tolist() == [np.inf]


def test_task_fields_are_checked_by_the_task():
    with pytest.raises(ValueError, match="exactly one of 'classes'"):
        head("multiclass")
    with pytest.raises(ValueError, match="'positive_class' is for binary heads"):
        head("regression", positive_class="x")
    with pytest.raises(ValueError, match="'classes' and 'num_classes' are for multiclass"):
        head("binary", num_classes=3)
    with pytest.raises(ValueError, match="does not fit task 'binary'"):
        head("binary", loss="huber")
    with pytest.raises(ValueError, match="'huber_delta' is for loss: huber"):
        head("regression", huber_delta=2.0)


def test_every_task_names_its_default_loss_metrics_and_directions():
    for name, kind in TASKS.items():
        assert kind.name == name and kind.losses
        assert set(kind.default_metrics) <= set(kind.metrics)
        assert kind.metrics["example_count"].higher_is_better is None
    assert TASKS["binary"].metrics["auc"].higher_is_better is True
    assert TASKS["regression"].metrics["mean_absolute_error"].higher_is_better is False
