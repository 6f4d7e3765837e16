"""Composing a per-head release from two trained models with different transforms."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from tests.artifacts import SPEC, make_inputs, rows, serialized_example
from tests.test_trainer_executor import _do
from trainer_module.compose import CompositionError, compose
from trainer_module.export import serving_inputs, signature_outputs
from trainer_module.part_info import PARTS_FILE, read_parts


def _shifted_rows(count: int, seed: int) -> list[dict]:
    """Other z-score statistics and another vocabulary (a colour the first data lacks)."""
    result = []
    for row in rows(count, seed + 100):
        colour = "pink" if row["colour"] == "blue" else row["colour"]
        result.append({**row, "x": row["x"] * 3 + 2, "colour": colour})
    return result


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, str]:
    """'served' and 'candidate': two trainings on different data (two transforms)."""
    root = tmp_path_factory.mktemp("compose")
    (root / "served_inputs").mkdir()
    (root / "candidate_inputs").mkdir()
    served_inputs = make_inputs(str(root / "served_inputs"))
    candidate_inputs = make_inputs(str(root / "candidate_inputs"), make_rows=_shifted_rows)
    served, _ = _do(root / "served", served_inputs)
    candidate, _ = _do(root / "candidate", candidate_inputs)
    return {
        "served": os.path.join(served.uri, "Format-Serving"),
        "candidate": os.path.join(candidate.uri, "Format-Serving"),
        "root": str(root),
    }


def _examples() -> tf.Tensor:
    data = rows(64, seed=7) + _shifted_rows(64, seed=8)
    return tf.constant([serialized_example(r) for r in data])


def _outputs(model_dir: str, signature: str) -> dict[str, np.ndarray]:
    function = tf.saved_model.load(model_dir).signatures[signature]
    return {k: v.numpy() for k, v in function(examples=_examples()).items()}


def test_a_rolled_back_head_answers_bit_for_bit_as_the_served_model(models):
    path = os.path.join(models["root"], "composed")
    compose(models["candidate"], models["served"], ["big"], path, "served version 1")

    assert set(signature_outputs(path)) == set(signature_outputs(models["candidate"]))
    # Signature by signature: the all-heads call runs fused towers and a
    # head's own call its own tower, which differ in float32 rounding.
    for signature in ("big", "serving_default"):
        kept = _outputs(path, signature)["big"]
        np.testing.assert_array_equal(kept, _outputs(models["served"], signature)["big"])
    for signature in ("size", "serving_default"):
        new = _outputs(path, signature)["size"]
        np.testing.assert_array_equal(new, _outputs(models["candidate"], signature)["size"])
    assert not np.array_equal(
        _outputs(models["served"], "size")["size"], _outputs(models["candidate"], "size")["size"]
    )
    assert sorted(_outputs(path, "serving_default")) == ["big", "size"]

    parts = read_parts(path)
    assert [p.heads for p in parts] == [["size"], ["big"]]
    assert serving_inputs(path) == serving_inputs(models["candidate"])
    # A warm start from the composed model starts each head from its source.
    composed_vars = tf.saved_model.load(path).variables_by_name
    served_vars = tf.saved_model.load(models["served"]).variables_by_name
    candidate_vars = tf.saved_model.load(models["candidate"]).variables_by_name
    for name in ("big_output/kernel", "size_output/kernel"):
        source = served_vars if name.startswith("big") else candidate_vars
        np.testing.assert_array_equal(composed_vars[name].numpy(), source[name].numpy())


def test_the_transform_signature_gives_each_head_its_own_labels(models):
    path = os.path.join(models["root"], "composed_transform")
    compose(models["candidate"], models["served"], ["big"], path)
    composed = _outputs(path, "transform_features")
    served = _outputs(models["served"], "transform_features")
    candidate = _outputs(models["candidate"], "transform_features")
    big, size = SPEC.heads[0], SPEC.heads[1]
    np.testing.assert_array_equal(composed[big.label_key], served[big.label_key])
    np.testing.assert_array_equal(composed[size.label_key], candidate[size.label_key])
    np.testing.assert_array_equal(composed["x"], candidate["x"])


def test_a_composed_model_composes_again(models):
    """The next night's partial release takes a head from a composed model."""
    first = os.path.join(models["root"], "first")
    compose(models["candidate"], models["served"], ["big"], first)
    second = os.path.join(models["root"], "second")
    compose(models["served"], first, ["big", "size"], second)
    np.testing.assert_array_equal(
        _outputs(second, "serving_default")["big"],
        _outputs(models["served"], "serving_default")["big"],
    )
    np.testing.assert_array_equal(
        _outputs(second, "size")["size"], _outputs(models["candidate"], "size")["size"]
    )


def test_a_served_model_without_parts_cannot_be_composed(models):
    old = os.path.join(models["root"], "old_export")
    shutil.copytree(models["served"], old)
    os.remove(os.path.join(old, PARTS_FILE))
    with pytest.raises(CompositionError, match="exported before models could be composed"):
        compose(models["candidate"], old, ["big"], os.path.join(models["root"], "x"), "v1")
    with pytest.raises(CompositionError, match=r"has no head \['other'\]"):
        compose(models["candidate"], models["served"], ["other"], os.path.join(models["root"], "y"))


def test_a_head_whose_signature_the_candidate_changed_cannot_be_kept(models, tmp_path):
    """big became a two-class multiclass head: its outputs are an int64 class and
    probabilities now, so the served binary head cannot stand in for it."""
    raw = SPEC.model_dump(mode="json")
    raw["heads"][0].update(task="multiclass", num_classes=2, loss=None)
    multiclass = type(SPEC).model_validate(raw)
    (tmp_path / "inputs").mkdir()
    inputs = make_inputs(str(tmp_path / "inputs"), spec=multiclass)
    candidate, _ = _do(tmp_path, inputs, multiclass)
    candidate_dir = os.path.join(candidate.uri, "Format-Serving")
    with pytest.raises(CompositionError, match="head 'big''s signature differs") as error:
        compose(candidate_dir, models["served"], ["big"], str(tmp_path / "c"), "served version 2")
    assert "served version 2" in str(error.value)
    assert not os.path.exists(tmp_path / "c")
