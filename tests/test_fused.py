"""Fused towers (serving_default) compute what the separate towers compute."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from pipeline.config import PipelineConfig
from tests.conftest import small_config
from trainer_module.fused import FusedTowers, can_fuse
from trainer_module.model import InputColumn, MultiHeadModel


def test_fused_equals_separate_towers():
    config = small_config()
    model = MultiHeadModel([InputColumn("x1"), InputColumn("c", 3)], config.heads, seed=3)
    fused = FusedTowers(model, config.heads)
    shared = tf.random.stateless_normal([16, 4], seed=[1, 2])
    parts = fused(shared)
    for head, part in zip(config.heads, parts, strict=True):
        alone = model.towers[head.name](shared)
        np.testing.assert_allclose(part.numpy(), alone.numpy(), rtol=1e-5, atol=1e-6)
    # Three matmuls whatever the number of heads (tower [4] + output layer = 2 deep).
    assert len(fused.kernels) == 2
    assert fused.kernels[1].shape == (8, 2)  # block-diagonal: 2 heads x [4 -> 1]


def test_towers_of_different_depth_are_not_fused():
    raw = small_config().model_dump()
    raw["heads"][1]["tower"] = [4, 4]
    config = PipelineConfig.model_validate(raw)
    model = MultiHeadModel([InputColumn("x1")], config.heads, seed=1)
    assert not can_fuse(model, config.heads)
