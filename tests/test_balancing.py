"""Loss balancing on a shared backbone, against cases worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import small_spec
from tests.test_training import batch, same, trainer_for, values
from trainer_module.balancing import GRADNORM_ALPHA, GradNormWeights, UncertaintyWeights, pcgrad


def test_pcgrad_projects_two_conflicting_gradients_off_each_other():
    # g1 . g2 = -1 < 0: g1 <- g1 - (-1 / 2) g2 = (0.5, 0.5); g2 <- g2 - (-1 / 1) g1 = (0, 1)
    g1, g2 = [tf.constant([1.0, 0.0])], [tf.constant([-1.0, 1.0])]
    (combined,) = pcgrad([g1, g2])
    np.testing.assert_allclose(combined.numpy(), [0.5, 1.5], rtol=1e-6)


def test_pcgrad_leaves_agreeing_gradients_as_their_sum_across_variables():
    # Two variables each; g1 . g2 = 1*2 + 0*0 + 3*1 + 1*0 = 5 > 0: nothing projected.
    g1 = [tf.constant([1.0, 0.0]), tf.constant([[3.0], [1.0]])]
    g2 = [tf.constant([2.0, 0.0]), tf.constant([[1.0], [0.0]])]
    first, second = pcgrad([g1, g2])
    np.testing.assert_allclose(first.numpy(), [3.0, 0.0])
    np.testing.assert_allclose(second.numpy(), [[4.0], [1.0]])


def test_uncertainty_weighting_total_and_its_gradient_on_the_log_variances():
    weights = UncertaintyWeights(["a", "b"])
    weights.log_variances["b"].assign(math.log(2.0))
    with tf.GradientTape() as tape:
        total = weights.total({"a": tf.constant(2.0), "b": tf.constant(0.5)})
    # exp(0) * 2 + 0 + exp(-ln 2) * 0.5 + ln 2
    assert float(total) == pytest.approx(2.0 + 0.25 + math.log(2.0), rel=1e-6)
    # d/ds_i = 1 - exp(-s_i) L_i: 1 - 2 = -1 and 1 - 0.25 = 0.75
    grads = tape.gradient(total, weights.variables_list)
    assert [float(g) for g in grads] == pytest.approx([-1.0, 0.75], rel=1e-6)


def test_gradnorm_sums_the_weighted_gradients_and_moves_each_weight_toward_its_target():
    weights = GradNormWeights(["a", "b"])
    weights.build()
    grads = [[tf.constant([3.0, 4.0])], [tf.constant([0.0, 1.0])]]  # norms 5 and 1
    # Step 1: w = (1, 1), so the backbone gets g_a + g_b. The first losses
    # are the reference: both rates are 1, so both targets are the mean of
    # G = (5, 1), 3. a is above its target and b below: Adam's first step
    # moves each weight by its learning rate, a down and b up, and they
    # still sum to 2.
    (combined,) = weights.combine({"a": tf.constant(2.0), "b": tf.constant(4.0)}, grads)
    np.testing.assert_allclose(combined.numpy(), [3.0, 5.0])
    assert [float(v) for v in weights.initial_losses.values()] == [2.0, 4.0]
    first = [float(v) for v in weights.variables_list]
    assert first == pytest.approx([0.99, 1.01], abs=1e-6)
    # Step 2: a's loss halved, b's did not move: the loss ratios are
    # (0.5, 1), the rates (2/3, 4/3). G = (0.99 * 5, 1.01 * 1), whose mean is
    # 2.98; the targets are 2.98 * (2/3)^1.5 = 1.62 and 2.98 * (4/3)^1.5 =
    # 4.59. a trains faster, so a gives way to b.
    rates = np.array([0.5, 1.0]) / 0.75
    targets = (0.99 * 5 + 1.01) / 2 * rates**GRADNORM_ALPHA
    assert targets == pytest.approx([1.622, 4.588], abs=1e-3)
    (combined,) = weights.combine({"a": tf.constant(1.0), "b": tf.constant(4.0)}, grads)
    np.testing.assert_allclose(combined.numpy(), [0.99 * 3, 0.99 * 4 + 1.01], rtol=1e-5)
    second = [float(v) for v in weights.variables_list]
    assert second[0] < first[0] and second[1] > first[1]
    assert sum(second) == pytest.approx(2.0, rel=1e-6)


MODES = [("disjoint", "backbone_optimizer"), ("joint", "per_head")]


def _losses(mode: str, update: str, balancing: str, steps: int = 100):
    backbone = {"layers": [4], "update": update, "balancing": balancing}
    loop = trainer_for(small_spec(mode=mode, backbone=backbone))
    before = values(loop.model.backbone_variables())
    out = [loop.step(batch(seed=0)) for _ in range(steps)]
    assert not same(values(loop.model.backbone_variables()), before)
    return loop, {h: (float(out[0][h]), float(out[-1][h])) for h in ("a", "b")}


@pytest.mark.parametrize("mode,update", MODES)
def test_a_large_loss_drowns_the_small_head_on_the_backbone_unless_pcgrad_projects_it(mode, update):
    """Head b's loss is about 2,000 (labels near 50, unscaled), a's about 0.85:
    summed, b's gradient sets the backbone's course and a gets worse on the
    very batch it trains on; with PCGrad the conflicting part is projected
    away and a learns."""
    _, summed = _losses(mode, update, "none")
    assert summed["a"][1] > summed["a"][0] and summed["b"][1] < summed["b"][0]
    _, projected = _losses(mode, update, "pcgrad")
    assert projected["a"][1] < projected["a"][0] - 0.1 and projected["b"][1] < projected["b"][0]


@pytest.mark.parametrize("mode,update", MODES)
def test_uncertainty_weighting_gives_the_larger_loss_the_larger_variance(mode, update):
    loop, losses = _losses(mode, update, "uncertainty")
    variances = {h: float(v) for h, v in loop.balancer.log_variances.items()}
    assert variances["b"] > 0 > variances["a"]  # b weighs exp(-s_b) < 1, a more than 1
    assert losses["b"][1] < losses["b"][0]


@pytest.mark.parametrize("mode,update", MODES)
def test_gradnorm_weighs_down_the_head_whose_gradient_dominates_and_the_small_head_learns(
    mode, update
):
    """Head b's loss (about 2,000) has by far the larger gradient on the
    backbone: GradNorm lowers its weight below a's, and a learns where the
    plain sum makes it worse."""
    loop, losses = _losses(mode, update, "gradnorm")
    weights = {h: float(v) for h, v in loop.balancer.weights.items()}
    assert weights["a"] > 1 > weights["b"]
    assert sum(weights.values()) == pytest.approx(2.0, rel=1e-5)
    assert losses["a"][1] < losses["a"][0] and losses["b"][1] < losses["b"][0]
