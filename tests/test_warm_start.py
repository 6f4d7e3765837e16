"""Warm start from a served SavedModel: matching heads copy, changed ones start fresh."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tests.conftest import small_spec
from trainer_module.model import InputColumn, MultiHeadModel
from trainer_module.parts import variables_by_name
from trainer_module.warm_start import warm_start


def saved(tmp_path, model: MultiHeadModel) -> str:
    module = tf.Module()
    module.variables_by_name = variables_by_name(model)
    path = str(tmp_path / "served")
    tf.saved_model.save(module, path)
    return path


def test_matching_heads_copy_and_changed_head_starts_fresh(tmp_path):
    config = small_spec()
    served = MultiHeadModel([InputColumn("x1"), InputColumn("c", 3)], config.heads, seed=1)
    for variable in served.variables:
        variable.assign(tf.fill(variable.shape, 0.5))
    path = saved(tmp_path, served)
    # Same inputs, but head b's tower is wider now: b cannot be warm-started.
    data = config.model_dump()
    data["heads"][1]["tower"] = [8]
    wider = type(config).model_validate(data)
    model = MultiHeadModel([InputColumn("x1"), InputColumn("c", 3)], wider.heads, seed=2)
    before_b = [v.numpy().copy() for v in model.head_variables("b")]
    report = warm_start(model, path)
    assert report.warm == ["a"]
    assert set(report.fresh) == {"b"}
    assert "b_hidden_0/kernel has shape (4, 8), served (4, 4)" in report.fresh["b"]
    assert all(np.all(v.numpy() == 0.5) for v in model.head_variables("a"))
    after_b = [v.numpy() for v in model.head_variables("b")]
    assert all(np.array_equal(x, y) for x, y in zip(before_b, after_b, strict=True))


def test_grown_vocabulary_restarts_every_head_reading_it(tmp_path):
    config = small_spec()
    served = MultiHeadModel([InputColumn("x1"), InputColumn("c", 3)], config.heads, seed=1)
    path = saved(tmp_path, served)
    grown = MultiHeadModel([InputColumn("x1"), InputColumn("c", 5)], config.heads, seed=1)
    report = warm_start(grown, path)
    assert report.warm == []
    assert sorted(report.fresh) == ["a", "b"]


def test_label_scale_comes_with_the_head(tmp_path):
    config = small_spec()
    served = MultiHeadModel([InputColumn("x1")], config.heads, seed=1)
    served.scales["b"].shift.assign(42.0)
    path = saved(tmp_path, served)
    model = MultiHeadModel([InputColumn("x1")], config.heads, seed=3)
    assert warm_start(model, path).warm == ["a", "b"]
    assert float(model.scales["b"].shift) == 42.0
