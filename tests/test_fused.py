"""The serving towers (fused, sparse first layer, folded label scales) compute
what the Keras model computes."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tests.conftest import small_spec
from trainer_module.fused import FusedTowers, can_fuse
from trainer_module.model import InputColumn, MultiHeadModel
from trainer_module.spec import ModelSpec

COLUMNS = [InputColumn("x1"), InputColumn("c", 3), InputColumn("d", 5)]


def _features(batch: int = 16) -> dict[str, tf.Tensor]:
    x1 = tf.random.stateless_normal([batch], seed=[1, 2])
    # Out-of-range indices (-1, 3 for a 3-slot column) one-hot to zero rows.
    c = tf.constant([(i % 5) - 1 for i in range(batch)], tf.int64)
    d = tf.constant([i % 5 for i in range(batch)], tf.int64)
    return {"x1": x1, "c": c, "d": d}


def _scaled_model(config: ModelSpec, backbone=None, skip: bool = False) -> MultiHeadModel:
    model = MultiHeadModel(COLUMNS, config.heads, backbone=backbone, seed=3, skip=skip)
    for layer in model.scales.values():
        layer.shift.assign(250.0)
        layer.scale.assign(40.0)
    return model


def test_fused_equals_the_keras_towers():
    config = small_spec()
    model = _scaled_model(config)
    features = _features()
    expected = model(features)
    fused = FusedTowers(model, config.heads)
    for head, part in zip(config.heads, fused(features), strict=True):
        np.testing.assert_allclose(part.numpy(), expected[head.name].numpy(), rtol=1e-5, atol=1e-4)
    # Towers of [4] + output: the first layer is a gather, then ONE matmul for
    # both heads' output layers, block-diagonal (2 heads x [4 -> 1]).
    assert len(fused.kernels) == 1
    assert fused.kernels[0].shape == (8, 2)
    assert fused.table.shape == (3 + 1 + 5 + 1, 8)  # a zero row after each column


def test_one_head_alone_and_a_backbone_give_the_same_outputs():
    config = small_spec()
    model = _scaled_model(config)
    features = _features()
    expected = model(features)
    alone = FusedTowers(model, [config.heads[1]])
    np.testing.assert_allclose(
        alone(features)[0].numpy(), expected["b"].numpy(), rtol=1e-5, atol=1e-4
    )
    with_backbone = _scaled_model(config, backbone=[6])
    expected = with_backbone(features)
    fused = FusedTowers(with_backbone, config.heads)
    assert not fused.sparse  # the backbone reads the encoding, the towers its output
    parts = fused(with_backbone.shared(features))
    for head, part in zip(config.heads, parts, strict=True):
        np.testing.assert_allclose(part.numpy(), expected[head.name].numpy(), rtol=1e-5, atol=1e-4)


def test_towers_beside_a_skip_connection_give_the_same_outputs():
    config = small_spec()
    model = _scaled_model(config, backbone=[6], skip=True)
    features = _features()
    expected = model(features)
    inputs = model.shared(features)
    assert inputs.shape == (16, 1 + 3 + 5 + 6)  # the encoding, then the backbone's 6
    for head, part in zip(config.heads, FusedTowers(model, config.heads)(inputs), strict=True):
        np.testing.assert_allclose(part.numpy(), expected[head.name].numpy(), rtol=1e-5, atol=1e-4)


def test_towers_of_different_depth_are_not_fused():
    raw = small_spec().model_dump()
    raw["heads"][1]["tower"] = [4, 4]
    config = ModelSpec.model_validate(raw)
    model = MultiHeadModel([InputColumn("x1")], config.heads, seed=1)
    assert not can_fuse(model, config.heads)
    assert can_fuse(model, config.heads[1:])
