"""MultiHeadTrainer's executor on real artifacts in a temp dir (TFX's executor-test shape)."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shutil

import numpy as np
import pytest
import tensorflow as tf
from tfx.types import standard_artifacts

from components import properties
from components.constants import CODE_FINGERPRINT_KEY, CONFIG_KEY
from components.evaluator import spec as evaluator_spec
from components.evaluator.executor import Executor as EvaluatorExecutor
from components.evaluator.gates import EvaluationSpec, HeadGates
from components.trainer import spec
from components.trainer.executor import Executor
from tests.artifacts import RAW_SPEC, SPEC, Inputs, make_inputs, rows, serialized_example
from trainer_module.export import signature_outputs
from trainer_module.spec import ModelSpec


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Inputs:
    return make_inputs(str(tmp_path_factory.mktemp("inputs")))


def _do(
    root, inputs: Inputs, model_spec: ModelSpec = SPEC, base_model=None
) -> tuple[standard_artifacts.Model, standard_artifacts.ModelRun]:
    model, model_run = standard_artifacts.Model(), standard_artifacts.ModelRun()
    model.uri, model_run.uri = str(root / "model"), str(root / "model_run")
    input_dict = {
        spec.EXAMPLES_KEY: [inputs.raw_examples],
        spec.TRANSFORM_GRAPH_KEY: [inputs.transform_graph],
    }
    if base_model is not None:
        input_dict[spec.BASE_MODEL_KEY] = [base_model]
    Executor().Do(
        input_dict,
        {spec.MODEL_KEY: [model], spec.MODEL_RUN_KEY: [model_run]},
        {CONFIG_KEY: model_spec.to_json(), CODE_FINGERPRINT_KEY: "test"},
    )
    return model, model_run


def _served(model: standard_artifacts.Model, found: bool) -> standard_artifacts.Model:
    """What ServedModelLookup hands over: a found model, or an empty 'none served'."""
    served = standard_artifacts.Model()
    served.uri = model.uri if found else model.uri + "-none"
    served.set_int_custom_property(properties.FOUND, int(found))
    return served


def _verify_saved_model(model: standard_artifacts.Model) -> None:
    serving = os.path.join(model.uri, "Format-Serving")
    assert set(signature_outputs(serving)) == {
        "serving_default",
        "serving_columns",
        "transform_features",
        "big",
        "size",
    }
    assert sorted(signature_outputs(serving)["serving_default"]) == ["big", "size"]
    assert (
        signature_outputs(serving)["serving_columns"]
        == (signature_outputs(serving)["serving_default"])
    )


def _report(model: standard_artifacts.Model) -> dict:
    with open(os.path.join(model.uri, spec.REPORT_FILE)) as f:
        return json.load(f)


def test_trains_every_head_and_exports_one_signature_per_head(tmp_path, inputs):
    model, model_run = _do(tmp_path, inputs)
    _verify_saved_model(model)
    report = _report(model)
    assert report["steps"] == SPEC.training.steps
    assert report["labels"]["big"]["rows"] == 400 and report["labels"]["big"]["missing"] == 0
    assert abs(report["labels"]["size"]["mean"] - 10) < 0.5  # 3x + 10, x ~ N(0, 1)
    assert sorted(os.listdir(model_run.uri)) == ["big", "size"]  # a TensorBoard run per head
    assert report["warm_start"] is None
    assert properties.WARM_START not in model.mlmd_artifact.custom_properties


def test_warm_starts_every_head_from_a_found_served_model(tmp_path, inputs):
    first, _ = _do(tmp_path / "first", inputs)
    second, _ = _do(tmp_path / "second", inputs, base_model=_served(first, found=True))
    warm = json.loads(second.get_string_custom_property(properties.WARM_START))
    assert warm == {"warm": ["big", "size"], "fresh": {}}
    _verify_saved_model(second)


def test_no_served_model_yet_trains_from_scratch(tmp_path, inputs):
    first, _ = _do(tmp_path / "first", inputs)
    model, _ = _do(tmp_path / "second", inputs, base_model=_served(first, found=False))
    assert _report(model)["warm_start"] is None


def test_same_spec_same_weights(tmp_path, inputs):
    first, _ = _do(tmp_path / "a", inputs)
    second, _ = _do(tmp_path / "b", inputs)
    one = tf.saved_model.load(os.path.join(first.uri, "Format-Serving")).variables_by_name
    two = tf.saved_model.load(os.path.join(second.uri, "Format-Serving")).variables_by_name
    assert sorted(one) == sorted(two)
    for name in one:
        assert (one[name].numpy() == two[name].numpy()).all(), name


def test_a_backbone_with_a_skip_connection_serves_every_head_as_the_all_heads_call(
    tmp_path, inputs
):
    raw = SPEC.model_dump()
    raw["training"]["backbone"] = {"layers": [6], "skip": True}
    model, _ = _do(tmp_path, inputs, ModelSpec.model_validate(raw))
    _verify_saved_model(model)
    serving = os.path.join(model.uri, "Format-Serving")
    loaded = tf.saved_model.load(serving)
    # The towers read the encoding (x, colour's vocabulary and OOV slots) and
    # the backbone's 6 units side by side.
    kernel = loaded.variables_by_name["big_hidden_0/kernel"]
    assert kernel.shape[0] == 6 + loaded.variables_by_name["backbone_0/kernel"].shape[0]
    examples = tf.constant([serialized_example(row) for row in rows(16, seed=9)])
    every = loaded.signatures["serving_default"](examples=examples)
    for head in ("big", "size"):
        alone = loaded.signatures[head](examples=examples)
        np.testing.assert_allclose(alone[head].numpy(), every[head].numpy(), rtol=1e-5, atol=1e-5)
    assert np.ptp(every["size"].numpy()) > 0.1


def _with_kind(count: int, seed: int) -> list[dict]:
    """The rows plus `y_kind`: the size's tertile by name."""
    return [
        {**row, "y_kind": "low" if row["y_size"] < 9 else "mid" if row["y_size"] < 11 else "high"}
        for row in rows(count, seed)
    ]


CLASSES = ["low", "mid", "high"]


@dataclasses.dataclass
class Kinds:
    """A model with a multiclass head `kind` (classes by name), judged."""

    root: pathlib.Path
    inputs: Inputs
    model: standard_artifacts.Model
    verdicts: dict


@pytest.fixture(scope="module")
def kinds(tmp_path_factory) -> Kinds:
    root = tmp_path_factory.mktemp("kinds")
    raw = SPEC.model_dump(mode="json")
    raw["heads"].append(
        {"name": "kind", "label": "y_kind", "task": "multiclass", "classes": CLASSES, "tower": [8]}
    )
    spec_with_kinds = ModelSpec.model_validate(raw)
    raw_spec = {**RAW_SPEC, "y_kind": tf.io.FixedLenFeature([], tf.string)}
    (root / "inputs").mkdir()
    inputs = make_inputs(str(root / "inputs"), spec_with_kinds, _with_kind, raw_spec)
    model, _ = _do(root, inputs, spec_with_kinds)
    return Kinds(root, inputs, model, evaluate(root, inputs, model, _kind_gates()))


def test_a_multiclass_head_with_classes_names_its_class_in_every_signature(kinds):
    serving = os.path.join(kinds.model.uri, "Format-Serving")
    outputs = signature_outputs(serving)
    for signature in ("serving_default", "kind"):
        assert outputs[signature]["kind_class"] == ("DT_STRING", (-1,))
    loaded = tf.saved_model.load(serving)
    examples = tf.constant(
        [
            tf.train.Example(
                features=tf.train.Features(
                    feature={
                        "x": tf.train.Feature(float_list=tf.train.FloatList(value=[x])),
                        "colour": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"red"])),
                    }
                )
            ).SerializeToString()
            for x in (-2.0, 0.0, 2.0)
        ]
    )
    for signature in ("serving_default", "kind"):
        answer = loaded.signatures[signature](examples=examples)
        names = [CLASSES[i] for i in answer["kind"].numpy()]
        assert [n.decode() for n in answer["kind_class"].numpy()] == names
    assert len(set(names)) > 1  # the head learned something: sizes 4, 10 and 16
    # TFMA takes the string output beside the others and judges the head.
    verdict = kinds.verdicts["kind"]
    assert verdict["verdict"] == "pass", verdict["reasons"]
    assert 0.3 < verdict["metrics"]["sparse_categorical_accuracy"] <= 1.0


def test_the_report_draws_the_multiclass_heads_confusion_matrix_by_class_name(kinds):
    """The report from a summary of this judged model: the confusion matrix's
    axes carry the class names; its scores are the eval split's labelled rows."""
    from PIL import Image

    from pipeline.report.build import write_report

    summary = {
        "run_id": "kinds-1",
        "pipeline": "kinds",
        "heads": kinds.verdicts,
        "blessed": True,
        "model": kinds.model.uri,
        "examples": kinds.inputs.raw_examples.uri,
    }
    seen = []
    page = write_report(summary, str(kinds.root / "home"), progress=seen.append)
    folder = os.path.dirname(page)
    assert sorted(f for f in os.listdir(folder) if f.startswith("kind-")) == [
        "kind-confusion-matrix.png",
        "kind-loss.png",
    ]
    assert Image.open(os.path.join(folder, "kind-confusion-matrix.png")).size[0] >= 440
    text = open(page).read()
    assert 'id="head-kind"' in text and "sparse_categorical_accuracy" in text
    assert "kind_class (string)" in text  # the signatures table
    assert seen and "eval rows" in seen[0]


def _kind_gates() -> EvaluationSpec:
    accuracy = "sparse_categorical_accuracy"
    return EvaluationSpec(
        heads=[
            HeadGates(
                name="kind",
                task="multiclass",
                metrics=[accuracy],
                thresholds={accuracy: {"lower": 0.3}},
                output="kind_probabilities",
            )
        ],
        require=["kind"],
    )


def evaluate(root, inputs: Inputs, model, evaluation: EvaluationSpec) -> dict:
    """The evaluator's verdicts on `model` over the raw eval split."""
    result, blessing = standard_artifacts.ModelEvaluation(), standard_artifacts.ModelBlessing()
    result.uri, blessing.uri = str(root / "evaluation"), str(root / "blessing")
    EvaluatorExecutor().Do(
        {evaluator_spec.EXAMPLES_KEY: [inputs.raw_examples], evaluator_spec.MODEL_KEY: [model]},
        {evaluator_spec.EVALUATION_KEY: [result], evaluator_spec.BLESSING_KEY: [blessing]},
        {CONFIG_KEY: evaluation.to_json()},
    )
    with open(os.path.join(blessing.uri, evaluator_spec.VERDICTS_FILE)) as f:
        return json.load(f)


def _early_stopping() -> ModelSpec:
    raw = SPEC.model_dump()
    raw["training"]["early_stopping"] = {"every": 10, "patience": 2}
    return ModelSpec.model_validate(raw)


def test_early_stopping_measures_the_validation_split_that_example_gen_carved(tmp_path, inputs):
    """The trainer reads the examples' validation split whole (here, a copy
    of the eval rows' 200) and trains on the training split as it is."""
    raw = inputs.raw_examples
    copy = standard_artifacts.Examples()
    copy.uri = str(tmp_path / "raw")
    copy.split_names = '["train", "validation", "eval"]'
    shutil.copytree(raw.uri, copy.uri)
    shutil.copytree(
        os.path.join(copy.uri, "Split-eval"), os.path.join(copy.uri, "Split-validation")
    )
    model, _ = _do(tmp_path, dataclasses.replace(inputs, raw_examples=copy), _early_stopping())
    report = _report(model)
    assert report["validation"]["rows"] == 200
    assert "validation split" in report["validation"]["source"]
    assert set(report["early_stopping"]) == {"big", "size"}


def test_early_stopping_without_a_validation_split_is_refused_saying_what_to_do(tmp_path, inputs):
    with pytest.raises(
        ValueError, match="no 'validation' split.*rerun the pipeline from ExampleGen"
    ):
        _do(tmp_path, inputs, _early_stopping())
