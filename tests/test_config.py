"""Config validation: good configs load, bad ones name field, value, expectation."""

from __future__ import annotations

import copy

import pytest
import yaml

from pipeline.config_file import DEFAULT_CONFIG, load_config, parse_config
from pipeline.errors import ConfigError
from trainer_module.spec import HeadSpec, LabelSpec, ModelSpec, TransformSpec

BASE = {
    "name": "demo",
    "features": [{"name": "x", "type": "numeric"}],
    "heads": [{"name": "h", "label": "y", "task": "regression"}],
}


def with_changes(**changes) -> dict:
    data = copy.deepcopy(BASE)
    data.update(changes)
    return data


def error_of(data: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return str(caught.value)


def test_bundled_configs_load():
    config = load_config(DEFAULT_CONFIG)
    assert [h.name for h in config.heads] == ["big_tipper", "fare", "trip_seconds"]
    assert config.training.mode == "disjoint" and config.training.backbone is None
    labels = {h.label for h in config.heads}
    assert not labels & {f.name for f in config.features}
    shared = load_config(DEFAULT_CONFIG.replace("taxi.yaml", "taxi_shared_backbone.yaml"))
    backbone = shared.training.backbone
    assert backbone.skip and (backbone.update, backbone.balancing) == (
        "backbone_optimizer",
        "uncertainty",
    )
    # Off unless asked: a served model's towers keep the width they were trained with.
    assert not parse_config(
        with_changes(training={"backbone": {"layers": [8]}})
    ).training.backbone.skip


def test_defaults_fill_loss_and_metrics():
    config = parse_config(BASE)
    head = config.heads[0]
    assert head.loss == "mean_squared_error"
    assert head.metrics == ["mean_squared_error", "mean_absolute_error"]
    assert head.optimizer.name == "adam" and head.optimizer.learning_rate == 0.001


def test_unknown_key_is_an_error():
    data = with_changes(heads=[{"name": "h", "label": "y", "task": "regression", "lr": 1}])
    assert "heads.0.lr: Extra inputs are not permitted (got 1)" in error_of(data)


def test_bad_task_names_value_and_choices():
    data = with_changes(heads=[{"name": "h", "label": "y", "task": "regresion"}])
    message = error_of(data)
    assert "heads.0.task" in message
    assert "'binary', 'multiclass' or 'regression'" in message
    assert "'regresion'" in message


def test_loss_must_fit_task():
    data = with_changes(
        heads=[{"name": "h", "label": "y", "task": "regression", "loss": "binary_crossentropy"}]
    )
    message = error_of(data)
    assert "loss 'binary_crossentropy' does not fit task 'regression'" in message


def test_threshold_on_unlisted_metric():
    head = {
        "name": "h",
        "label": "y",
        "task": "regression",
        "metrics": ["mean_squared_error"],
        "thresholds": {"mean_absolute_error": {"upper": 1}},
    }
    assert "threshold on 'mean_absolute_error'" in error_of(with_changes(heads=[head]))


def test_negative_learning_rate():
    head = {"name": "h", "label": "y", "task": "regression", "optimizer": {"learning_rate": -1}}
    message = error_of(with_changes(heads=[head]))
    assert "heads.0.optimizer.learning_rate" in message and "greater than 0" in message


def test_label_may_not_be_a_feature():
    data = with_changes(features=[{"name": "y", "type": "numeric"}])
    assert "reads the label column(s) ['y']" in error_of(data)


def test_derived_feature_reading_a_label_is_rejected():
    data = with_changes(
        features=[{"name": "d", "type": "numeric"}],
        derived=[
            {"name": "d", "function": "pipeline.configs.taxi_derived.big_tipper", "inputs": ["y"]}
        ],
    )
    assert "feature 'd' reads the label column(s) ['y']" in error_of(data)


def test_missing_derived_function():
    data = with_changes(
        derived=[{"name": "d", "function": "pipeline.configs.taxi_derived.nope", "inputs": ["x"]}]
    )
    assert "has no function 'nope'" in error_of(data)


def test_multiclass_needs_classes():
    data = with_changes(heads=[{"name": "h", "label": "y", "task": "multiclass"}])
    assert "exactly one of 'classes'" in error_of(data)


def test_reserved_and_duplicate_head_names():
    head = {"name": "serving_default", "label": "y", "task": "regression"}
    assert "reserved" in error_of(with_changes(heads=[head]))
    twice = [{"name": "h", "label": "y", "task": "regression"}] * 2
    assert "repeated: ['h']" in error_of(with_changes(heads=twice))


def test_require_unknown_head():
    data = with_changes(evaluation={"require": ["nope"]})
    assert "evaluation.require names unknown head(s) ['nope']" in error_of(data)


def test_pipeline_name_must_suit_kubeflow():
    assert "name: String should match pattern" in error_of(with_changes(name="My_Pipeline"))


def test_load_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(str(bad))


def test_relative_data_resolves_against_config_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**BASE, "data": "csvs"}))
    assert load_config(str(path)).data_dir == str(tmp_path / "csvs")


def test_each_component_gets_only_its_typed_piece():
    config = load_config(DEFAULT_CONFIG)
    transform = config.transform_spec()
    assert type(transform) is TransformSpec
    assert all(type(h) is LabelSpec for h in transform.heads)
    assert [h.label for h in transform.heads] == [h.label for h in config.heads]
    model = config.model_spec()
    assert type(model) is ModelSpec and model.training == config.training
    assert all(type(h) is HeadSpec for h in model.heads)
    assert [h.optimizer for h in model.heads] == [h.optimizer for h in config.heads]
    evaluation = config.evaluation_spec()
    assert [h.thresholds for h in evaluation.heads] == [h.thresholds for h in config.heads]
    assert evaluation.require == ["big_tipper", "fare", "trip_seconds"]
    assert not evaluation.compare


def test_change_bound_needs_a_metric_with_a_direction():
    head = {
        "name": "h",
        "label": "y",
        "task": "regression",
        "metrics": ["example_count"],
        "thresholds": {"example_count": {"max_worse": 10}},
    }
    message = error_of(with_changes(heads=[head]))
    assert "threshold on 'example_count': max_worse / max_worse_relative need a metric" in message
    head["thresholds"] = {"example_count": {"lower": 100}}
    assert (
        parse_config(with_changes(heads=[head])).heads[0].thresholds["example_count"].lower == 100
    )


def _sliced_head(per_slice) -> dict:
    return {
        "name": "h",
        "label": "y",
        "task": "regression",
        "thresholds": {"mean_absolute_error": {"per_slice": per_slice}},
    }


def test_slices_and_per_slice_bounds_reach_the_evaluator():
    per_slice = {"slicing": ["region"], "upper": 3.0, "min_examples": 50}
    config = parse_config(
        with_changes(
            heads=[_sliced_head(per_slice)],
            evaluation={"slices": [["region"], ["region", "hour"]], "slices_kept": 5},
        )
    )
    evaluation = config.evaluation_spec()
    assert evaluation.slices == [["region"], ["region", "hour"]]
    assert evaluation.slices_kept == 5
    (bound,) = evaluation.heads[0].thresholds["mean_absolute_error"].per_slice
    assert (bound.slicing, bound.upper, bound.min_examples) == (["region"], 3.0, 50)
    default = parse_config(
        with_changes(
            heads=[_sliced_head([{"slicing": ["region"], "upper": 3.0}])],
            evaluation={"slices": [["region"]]},
        )
    )
    assert default.heads[0].thresholds["mean_absolute_error"].per_slice[0].min_examples == 100


def test_bad_slices_are_named():
    unknown = error_of(
        with_changes(
            heads=[_sliced_head({"slicing": ["hour"], "upper": 3.0})],
            evaluation={"slices": [["region"]]},
        )
    )
    assert (
        "heads[h].thresholds.mean_absolute_error.per_slice: slicing ['hour'] is not in "
        "evaluation.slices [['region']]; add it there"
    ) in unknown
    twice = error_of(with_changes(evaluation={"slices": [["region"], ["region"]]}))
    assert "evaluation.slices lists ['region'] more than once" in twice
    assert "evaluation.slices.0" in error_of(with_changes(evaluation={"slices": [[]]}))
    no_bound = error_of(
        with_changes(
            heads=[_sliced_head({"slicing": ["region"]})], evaluation={"slices": [["region"]]}
        )
    )
    assert "give 'lower', 'upper', 'max_worse' or 'max_worse_relative'" in no_bound
    small = error_of(
        with_changes(
            heads=[_sliced_head({"slicing": ["region"], "upper": 1, "min_examples": 0})],
            evaluation={"slices": [["region"]]},
        )
    )
    assert "min_examples" in small and "greater than or equal to 1" in small
