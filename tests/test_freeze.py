"""Frozen and added heads: v1 serves two heads; v2 adds a third with the
first two frozen, trained on other data (another transform)."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from components import properties
from components.pusher.compatibility import incompatibilities
from components.trainer.spec import REPORT_FILE
from tests.artifacts import RAW_SPEC, SPEC, make_inputs, rows, serialized_example
from tests.test_compose import _shifted_rows
from tests.test_trainer_executor import _do, _served
from trainer_module.freeze import FreezeError, check_frozen
from trainer_module.spec import ModelSpec

CLASSES = ["low", "mid", "high"]


def _kind(row: dict) -> dict:
    size = row["y_size"]
    return {**row, "y_kind": "low" if size < 9 else "mid" if size < 11 else "high"}


def _new_data(count: int, seed: int) -> list[dict]:
    """Other statistics and vocabulary than v1's data, and the new label."""
    return [_kind(row) for row in _shifted_rows(count, seed)]


def _with_kind(frozen: bool = True, **changes) -> ModelSpec:
    raw = SPEC.model_dump(mode="json")
    for head in raw["heads"]:
        head["freeze"] = frozen
    raw["heads"].append(
        {"name": "kind", "label": "y_kind", "task": "multiclass", "classes": CLASSES, "tower": [8]}
    )
    raw["training"]["steps"] = 300
    raw.update(changes)
    return ModelSpec.model_validate(raw)


@dataclasses.dataclass
class Versions:
    v1: str  # SavedModel folders
    v2: str
    report: dict


@pytest.fixture(scope="module")
def versions(tmp_path_factory) -> Versions:
    root = tmp_path_factory.mktemp("freeze")
    (root / "v1_inputs").mkdir()
    (root / "v2_inputs").mkdir()
    v1, _ = _do(root / "v1", make_inputs(str(root / "v1_inputs")))
    raw_spec = {**RAW_SPEC, "y_kind": tf.io.FixedLenFeature([], tf.string)}
    inputs = make_inputs(str(root / "v2_inputs"), _with_kind(), _new_data, raw_spec)
    v2, _ = _do(root / "v2", inputs, _with_kind(), base_model=_served(v1, found=True))
    with open(os.path.join(v2.uri, REPORT_FILE)) as f:
        report = json.load(f)
    assert json.loads(v2.get_string_custom_property(properties.TRAINING))["frozen"] == [
        "big",
        "size",
    ]
    return Versions(
        os.path.join(v1.uri, "Format-Serving"), os.path.join(v2.uri, "Format-Serving"), report
    )


def _answers(model_dir: str, signature: str) -> dict[str, np.ndarray]:
    examples = tf.constant(
        [serialized_example(r) for r in rows(64, seed=7) + _shifted_rows(64, seed=8)]
    )
    function = tf.saved_model.load(model_dir).signatures[signature]
    return {k: v.numpy() for k, v in function(examples=examples).items()}


def test_frozen_heads_answer_bit_for_bit_as_the_served_version(versions):
    for signature in ("serving_default", "big", "size"):
        old, new = _answers(versions.v1, signature), _answers(versions.v2, signature)
        for head in ("big", "size"):
            if head in old:
                np.testing.assert_array_equal(new[head], old[head])


def test_the_added_head_is_trained_and_the_frozen_ones_are_not(versions):
    assert versions.report["frozen"] == ["big", "size"]
    assert sorted(versions.report["curves"]) == ["kind"]  # only the new head trained
    data = _new_data(128, seed=8)
    examples = tf.constant([serialized_example(r) for r in data])
    kind = tf.saved_model.load(versions.v2).signatures["kind"](examples=examples)["kind"]
    labels = np.array([CLASSES.index(r["y_kind"]) for r in data])
    accuracy = float(np.mean(kind.numpy() == labels))
    assert accuracy > 0.6, accuracy  # three classes: chance is about 0.33


def test_the_push_gate_accepts_the_added_signature(versions):
    assert incompatibilities(versions.v1, versions.v2, "served version 1") == []


def test_freezing_is_refused_when_the_served_model_cannot_serve_the_head(versions):
    with pytest.raises(FreezeError, match=r"no model is served yet"):
        check_frozen(_with_kind(), None, "the served model")
    raw = _with_kind(frozen=False).model_dump(mode="json")
    raw["heads"][2]["freeze"] = True  # kind: v1 never had it
    raw["heads"][0]["freeze"] = False
    with pytest.raises(FreezeError, match=r"head 'kind' is frozen, but v1 has no head 'kind'"):
        check_frozen(ModelSpec.model_validate(raw), versions.v1, "v1")


def test_freezing_is_refused_when_the_config_changed_the_heads_inputs_or_tower(versions):
    features = [
        {"name": "x", "type": "numeric", "clip_quantile": 0.05},
        {"name": "colour", "type": "categorical"},
    ]
    with pytest.raises(FreezeError, match=r"feature 'x': clip_quantile .* -> 0.05"):
        check_frozen(_with_kind(features=features), versions.v1, "v1")
    raw = _with_kind().model_dump(mode="json")
    raw["heads"][1]["tower"] = [16]
    raw["heads"][1]["optimizer"] = {"name": "sgd", "learning_rate": 0.1}  # training only: allowed
    with pytest.raises(FreezeError, match=r"head 'size': tower \[8\] -> \[16\]\. A frozen head"):
        check_frozen(ModelSpec.model_validate(raw), versions.v1, "v1")
