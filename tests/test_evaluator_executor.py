"""MultiHeadEvaluator's executor on real artifacts: TFMA on a trained model, verdicts, blessing."""

from __future__ import annotations

import json
import os
import random
import shutil

import pytest
from tfx.types import standard_artifacts

from components import properties, serving
from components.constants import CONFIG_KEY
from components.evaluator import spec
from components.evaluator.executor import Executor
from components.evaluator.gates import EvaluationSpec, HeadGates
from components.trainer import spec as trainer_spec
from components.trainer.executor import Executor as TrainerExecutor
from tests.artifacts import SPEC, Inputs, constant_rows, make_inputs, rows


def train(
    root, make_rows=rows, steps: int | None = None
) -> tuple[Inputs, standard_artifacts.Model]:
    root.mkdir(parents=True, exist_ok=True)
    spec = SPEC
    if steps is not None:
        spec = SPEC.model_copy(
            update={"training": SPEC.training.model_copy(update={"steps": steps})}
        )
    inputs = make_inputs(str(root), spec, make_rows=make_rows)
    model, model_run = standard_artifacts.Model(), standard_artifacts.ModelRun()
    model.uri, model_run.uri = str(root / "model"), str(root / "model_run")
    TrainerExecutor().Do(
        {
            trainer_spec.EXAMPLES_KEY: [inputs.raw_examples],
            trainer_spec.TRANSFORM_GRAPH_KEY: [inputs.transform_graph],
        },
        {trainer_spec.MODEL_KEY: [model], trainer_spec.MODEL_RUN_KEY: [model_run]},
        {CONFIG_KEY: spec.to_json(), "code_fingerprint": "test"},
    )
    return inputs, model


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Inputs, standard_artifacts.Model]:
    return train(tmp_path_factory.mktemp("trained"))


def gates(
    auc: dict,
    mae: dict,
    compare: bool = False,
    require: tuple[str, ...] = ("big", "size"),
    slices: tuple[tuple[str, ...], ...] = (),
    kept: int = 20,
) -> EvaluationSpec:
    return EvaluationSpec(
        heads=[
            HeadGates(
                name="big", task="binary", metrics=["auc"], thresholds={"auc": auc}, output="big"
            ),
            HeadGates(
                name="size",
                task="regression",
                metrics=["mean_absolute_error", "example_count"],
                thresholds={"mean_absolute_error": mae},
                output="size",
            ),
        ],
        require=list(require),
        compare=compare,
        slices=[list(s) for s in slices],
        slices_kept=kept,
    )


def _do(
    root, trained, evaluation: EvaluationSpec, baseline=None
) -> standard_artifacts.ModelBlessing:
    inputs, model = trained
    result, blessing = standard_artifacts.ModelEvaluation(), standard_artifacts.ModelBlessing()
    result.uri, blessing.uri = str(root / "evaluation"), str(root / "blessing")
    input_dict = {spec.EXAMPLES_KEY: [inputs.raw_examples], spec.MODEL_KEY: [model]}
    if baseline is not None:
        input_dict[spec.BASELINE_MODEL_KEY] = [baseline]
    Executor().Do(
        input_dict,
        {spec.EVALUATION_KEY: [result], spec.BLESSING_KEY: [blessing]},
        {CONFIG_KEY: evaluation.to_json()},
    )
    return blessing


def _verify_blessing(blessing: standard_artifacts.ModelBlessing, blessed: bool) -> dict:
    marker = "BLESSED" if blessed else "NOT_BLESSED"
    assert os.path.exists(os.path.join(blessing.uri, marker))
    assert properties.is_blessed(blessing) is blessed
    with open(os.path.join(blessing.uri, spec.VERDICTS_FILE)) as f:
        verdicts = json.load(f)
    assert verdicts == json.loads(blessing.get_string_custom_property(properties.VERDICTS))
    return verdicts


def test_every_head_is_judged_on_its_own_metrics(tmp_path, trained):
    blessing = _do(tmp_path, trained, gates({"lower": 0.5}, {"upper": 5.0}))
    verdicts = _verify_blessing(blessing, blessed=True)
    assert sorted(verdicts) == ["big", "size"]
    assert verdicts["big"]["verdict"] == "pass" and verdicts["size"]["verdict"] == "pass"
    assert 0.5 < verdicts["big"]["metrics"]["auc"] <= 1.0
    assert verdicts["size"]["metrics"]["example_count"] == 200  # the eval split, every row
    assert verdicts["size"]["reasons"][0].startswith("size: mean_absolute_error ")


def test_a_failing_required_head_blocks_the_blessing_and_says_why(tmp_path, trained):
    blessing = _do(tmp_path, trained, gates({"lower": 0.9999}, {"upper": 5.0}))
    verdicts = _verify_blessing(blessing, blessed=False)
    assert verdicts["big"]["verdict"] == "fail"
    assert verdicts["big"]["reasons"][0].endswith("< threshold 0.9999")
    assert verdicts["size"]["verdict"] == "pass"


def test_comparison_with_the_served_model_on_the_same_examples(tmp_path, trained):
    served = standard_artifacts.Model()
    served.uri = trained[1].uri  # the same model, served as version 4
    served.set_int_custom_property(properties.FOUND, 1)
    served.set_int_custom_property(properties.SERVED_VERSION, 4)
    evaluation = gates({"max_worse": 0.01}, {"max_worse_relative": 0.1}, compare=True)
    blessing = _do(tmp_path, trained, evaluation, baseline=served)
    verdicts = _verify_blessing(blessing, blessed=True)
    assert verdicts["big"]["served"]["version"] == 4
    assert verdicts["big"]["served"]["metrics"]["auc"] == pytest.approx(
        verdicts["big"]["metrics"]["auc"]
    )
    assert "vs served v4" in verdicts["big"]["reasons"][0]
    assert "not worse by 0" in verdicts["big"]["reasons"][0]
    assert blessing.get_string_custom_property(properties.BASELINE_MODEL) == served.uri


def test_a_head_with_constant_outputs_is_not_blessed_whatever_its_thresholds(tmp_path):
    constant = train(tmp_path / "constant", make_rows=constant_rows)
    lenient = gates({"lower": 0.0}, {"upper": 1e9}, require=("size",))
    verdicts = _verify_blessing(_do(tmp_path, constant, lenient), blessed=False)
    for head in ("big", "size"):
        assert verdicts[head]["verdict"] == "fail"
        assert verdicts[head]["degenerate"].startswith(
            f"{head}: outputs are the same for all 200 eval examples"
        )
        assert verdicts[head]["reasons"][0] == verdicts[head]["degenerate"]


def test_a_trained_model_is_not_degenerate(tmp_path, trained):
    verdicts = _verify_blessing(_do(tmp_path, trained, gates({"lower": 0.5}, {"upper": 5.0})), True)
    assert verdicts["big"]["degenerate"] is None and verdicts["size"]["degenerate"] is None


def _served(model: standard_artifacts.Model, version: int) -> standard_artifacts.Model:
    served = standard_artifacts.Model()
    served.uri = model.uri
    served.set_int_custom_property(properties.FOUND, 1)
    served.set_int_custom_property(properties.SERVED_VERSION, version)
    return served


def test_a_regression_from_the_served_model_is_judged_by_a_paired_interval(tmp_path, trained):
    inputs, good = trained
    _, constant = train(tmp_path / "constant", make_rows=constant_rows)
    evaluation = gates({"max_worse": 0.01}, {"max_worse_relative": 0.1}, compare=True)
    # The good model against a served model that learnt nothing: better, within bounds.
    better = _verify_blessing(
        _do(tmp_path / "better", (inputs, good), evaluation, _served(constant, 3)), blessed=True
    )
    assert "worse by -" in better["big"]["reasons"][0] and "95% CI" in better["big"]["reasons"][0]
    # The other way round: worse, and the interval (on the same examples) says so.
    blessing = _do(tmp_path / "worse", (inputs, constant), evaluation, _served(good, 4))
    worse = _verify_blessing(blessing, blessed=False)
    reason = next(r for r in worse["big"]["reasons"] if "vs served v4" in r)
    low, high = (float(x) for x in reason.split("95% CI ")[1].split(")")[0].split(".."))
    drop = worse["big"]["served"]["metrics"]["auc"] - worse["big"]["metrics"]["auc"]
    assert 0.01 < low < drop < high, reason
    release = json.loads(blessing.get_string_custom_property(properties.RELEASE))
    assert release["blocked"] == "every head fails its gates: served version 4 stays as it is"
    assert {h["from"] for h in release["heads"].values()} == {"served"}


def _rescaled_rows(count: int, seed: int) -> list[dict]:
    """The same data with size in other units (x100)."""
    return [{**r, "y_size": r["y_size"] * 100} for r in rows(count, seed)]


def test_a_corruption_the_new_span_hides_is_caught_on_the_served_holdout(tmp_path, trained):
    """Labels in other units: on the new span the candidate looks far better
    than the served model (which answers in the old units); on the examples
    that judged the served version, it is far worse."""
    good_inputs, good = trained
    served_copy = standard_artifacts.Model()
    served_copy.uri = str(tmp_path / "served")
    shutil.copytree(good.uri, served_copy.uri)
    holdout = {"big": good_inputs.raw_examples.uri, "size": good_inputs.raw_examples.uri}
    holdout_file = os.path.join(served_copy.uri, "Format-Serving", serving.HOLDOUT_FILE)
    with open(holdout_file, "w") as f:
        json.dump(holdout, f)
    served_copy.set_int_custom_property(properties.FOUND, 1)
    served_copy.set_int_custom_property(properties.SERVED_VERSION, 4)
    rescaled = train(tmp_path / "rescaled", make_rows=_rescaled_rows)
    evaluation = gates({"max_worse": 0.05}, {"max_worse_relative": 0.5}, compare=True)
    blessing = _do(tmp_path / "evaluated", rescaled, evaluation, served_copy)
    verdicts = _verify_blessing(blessing, blessed=True)  # big from the candidate
    size = verdicts["size"]
    assert size["verdict"] == "fail"
    assert size["reasons"][0].startswith("size on v4's holdout: mean_absolute_error "), size
    on_span = next(r for r in size["reasons"] if r.startswith("size: mean_absolute_error "))
    assert "worse by -" in on_span  # on the new span itself the candidate looks better
    holdout_mae = size["holdout"]["metrics"]["mean_absolute_error"]
    assert holdout_mae > 10 * size["holdout"]["served"]["mean_absolute_error"]
    release = json.loads(blessing.get_string_custom_property(properties.RELEASE))
    assert release["heads"]["size"]["from"] == "served"
    assert release["heads"]["big"]["from"] == "candidate"
    assert blessing.get_string_custom_property(properties.EVALUATED_ON) == (
        rescaled[0].raw_examples.uri
    )


def _blue_labels_shuffled(count: int, seed: int) -> list[dict]:
    """The same data with big's labels shuffled among the blue rows only."""
    result = rows(count, seed)
    blue = [r for r in result if r["colour"] == "blue"]
    labels = [r["y_big"] for r in blue]
    random.Random(seed).shuffle(labels)
    for row, label in zip(blue, labels, strict=True):
        row["y_big"] = label
    return result


def _sliced(auc: dict, compare: bool = False, kept: int = 20) -> EvaluationSpec:
    return gates(auc, {"upper": 5.0}, compare=compare, slices=(("colour",),), kept=kept)


def test_a_slice_made_bad_fails_its_gate_while_the_whole_split_passes(tmp_path):
    shuffled = train(tmp_path / "shuffled", make_rows=_blue_labels_shuffled)
    auc = {"lower": 0.6, "per_slice": {"slicing": ["colour"], "lower": 0.7, "min_examples": 30}}
    verdicts = _verify_blessing(_do(tmp_path, shuffled, _sliced(auc)), blessed=False)
    big = verdicts["big"]
    assert big["metrics"]["auc"] >= 0.6  # the whole split passes
    assert big["verdict"] == "fail"
    slices = {s["slice"]: s for s in big["slices"]["colour"]["slices"]}
    assert sorted(slices) == ["colour=blue", "colour=green", "colour=red"]  # raw values
    blue = slices["colour=blue"]
    assert blue["verdict"] == "fail" and blue["metrics"]["auc"] < 0.7
    low, high = blue["intervals"]["auc"]  # the slice's own jackknife interval
    assert high < 0.7
    assert big["reasons"][0] == (
        f"big on colour=blue ({blue['examples']} examples): auc {blue['metrics']['auc']:.4g} "
        f"(95% CI {low:.4g}..{high:.4g}) < threshold 0.7"
    )
    assert big["slices"]["colour"]["slices"][0] is blue  # failing slices first
    assert sum(s["examples"] for s in slices.values()) == 200
    assert {slices[c]["verdict"] for c in ("colour=green", "colour=red")} == {"pass"}
    # The other head is reported per slice, not judged there.
    size = verdicts["size"]
    assert size["verdict"] == "pass"
    assert {s["verdict"] for s in size["slices"]["colour"]["slices"]} == {"not judged"}
    assert "example_count" not in big["metrics"]  # counted for the slices, not listed


def _blue_sizes_shifted(count: int, seed: int) -> list[dict]:
    """The same data with size 5 units too high for the blue rows (one source's units wrong)."""
    return [
        {**r, "y_size": r["y_size"] + 5} if r["colour"] == "blue" else r for r in rows(count, seed)
    ]


def test_a_slice_worse_than_served_keeps_the_served_head_and_names_the_slice(tmp_path):
    """The change bound per slice: a candidate trained on shifted blue sizes
    against the served model, on the same slice of the true eval examples,
    judged by the paired interval. (Both trained long enough to learn a
    colour's offset.)"""
    inputs, good = train(tmp_path / "good", steps=400)
    _, shifted = train(tmp_path / "shifted", make_rows=_blue_sizes_shifted, steps=400)
    per_slice = {"slicing": ["colour"], "max_worse": 1.0, "min_examples": 30}
    evaluation = gates(
        {"lower": 0.5},
        {"per_slice": per_slice},
        compare=True,
        slices=(("colour",),),
        kept=1,
    )
    blessing = _do(tmp_path / "evaluated", (inputs, shifted), evaluation, _served(good, 7))
    verdicts = _verify_blessing(blessing, blessed=True)  # big from the candidate
    size = verdicts["size"]
    assert size["verdict"] == "fail", json.dumps(size, indent=1)
    reason = size["reasons"][0]
    assert len([r for r in size["reasons"] if "vs served" in r]) == 1  # red and green pass
    assert reason.startswith("size on colour=blue (") and "vs served v7" in reason, reason
    assert "95% CI" in reason
    kept = size["slices"]["colour"]
    assert [s["slice"] for s in kept["slices"]] == ["colour=blue"]  # slices_kept: 1
    blue = kept["slices"][0]
    assert blue["metrics"]["mean_absolute_error"] > blue["served"]["mean_absolute_error"] + 1
    assert kept["others"] == {"slices": 2, "examples": 200 - blue["examples"]}
    release = json.loads(blessing.get_string_custom_property(properties.RELEASE))
    assert release["heads"]["size"] == {"from": "served", "reason": reason}
    assert release["heads"]["big"]["from"] == "candidate"
