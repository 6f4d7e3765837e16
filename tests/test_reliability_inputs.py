"""Reliability, part 1: the bad-input table (docs/reliability.md).

Every bad config, CSV, label and option a new user is likely to give, run
through `multihead` itself. For each: the exit code, one message that names
the cause, and a home whose served version is untouched, with no temporary
folder left. The served model's bad serving inputs are at the end.
"""

from __future__ import annotations

import copy
import csv
import os
import shutil
from collections.abc import Callable

import pytest
import yaml

from pipeline.cli import main
from pipeline.config_file import DEFAULT_CONFIG
from tests.conftest import rewrite_rows, taxi_sample

pytestmark = pytest.mark.reliability

with open(DEFAULT_CONFIG) as _f:
    TAXI = yaml.safe_load(_f)


def _config(**changes) -> Callable[[dict], dict]:
    def change(config: dict) -> dict:
        config.update(changes)
        return config

    return change


def _head(index: int, **changes) -> Callable[[dict], dict]:
    def change(config: dict) -> dict:
        config["heads"][index].update(changes)
        return config

    return change


def _feature(index: int, **changes) -> Callable[[dict], dict]:
    def change(config: dict) -> dict:
        config["features"][index].update(changes)
        return config

    return change


# name, change to the bundled taxi config, expected words of the error
CONFIGS = [
    ("unknown key", _head(0, lr=1), "heads.0.lr: Extra inputs are not permitted"),
    ("misspelt task", _head(1, task="regresion"), "heads.1.task: Input should be 'binary'"),
    ("loss of another task", _head(0, loss="huber"), "loss 'huber' does not fit task 'binary'"),
    (
        "threshold on an unlisted metric",
        _head(0, thresholds={"precision": {"lower": 0.5}}),
        "threshold on 'precision', which is not in this head's metrics",
    ),
    (
        "change bound without a direction",
        _head(0, metrics=["auc", "example_count"], thresholds={"example_count": {"max_worse": 5}}),
        "max_worse / max_worse_relative need a metric that is better one way",
    ),
    ("empty threshold", _head(0, thresholds={"auc": {}}), "give 'lower', 'upper'"),
    (
        "negative learning rate",
        _head(0, optimizer={"learning_rate": -1}),
        "heads.0.optimizer.learning_rate: Input should be greater than 0",
    ),
    ("label as a feature", _feature(0, name="fare"), "reads the label column(s) ['fare']"),
    (
        "derived function that is not there",
        _config(
            derived=[
                {"name": "big_tipper", "function": "pipeline.configs.x.nope", "inputs": ["tips"]}
            ]
        ),
        "cannot import module 'pipeline.configs.x'",
    ),
    ("multiclass without classes", _head(0, task="multiclass"), "exactly one of 'classes'"),
    ("reserved head name", _head(0, name="serving_default"), "is reserved for a signature"),
    ("head twice", _head(1, name="trip_seconds"), "head names must be unique; repeated"),
    (
        "required head unknown",
        _config(evaluation={"require": ["tips"]}),
        "evaluation.require names unknown head(s) ['tips']",
    ),
    ("pipeline name Kubeflow refuses", _config(name="Taxi_Model"), "name: String should match"),
    ("clip quantile too large", _feature(0, clip_quantile=0.4), "features.0.clip_quantile"),
    ("no heads", _config(heads=[]), "heads: List should have at least 1 item"),
    ("empty missing token", _config(missing_values=["NA", ""]), "missing value token ''"),
    ("missing token twice", _config(missing_values=["NA", "NA"]), "missing_values repeats"),
    (
        "early stopping without patience",
        _config(training={**TAXI["training"], "early_stopping": {"patience": 0}}),
        "training.early_stopping.patience: Input should be greater than 0",
    ),
    (
        "a head's early stopping without the training's",
        lambda c: _head(0, early_stopping={"patience": 8})(
            _config(training={**TAXI["training"], "early_stopping": None})(c)
        ),
        "heads[big_tipper].early_stopping needs training.early_stopping",
    ),
    (
        "a frozen head without warm start",
        _head(1, freeze=True),
        "heads ['fare'] are frozen: they are served from the served model, which is looked up "
        "with baseline.warm_start",
    ),
    (
        "balancing without a backbone",
        _config(training={**TAXI["training"], "balancing": "pcgrad"}),
        "give it as training.backbone.balancing, beside backbone.layers (this config has no "
        "backbone)",
    ),
    (
        "balancing with per-head backbone updates",
        _config(training={**TAXI["training"], "backbone": {"layers": [8], "balancing": "pcgrad"}}),
        "set backbone.update: backbone_optimizer",
    ),
    (
        "gradnorm under tf.distribute",
        _config(
            training={
                **TAXI["training"],
                "distribute": "mirrored",
                "backbone": {
                    "layers": [8],
                    "update": "backbone_optimizer",
                    "balancing": "gradnorm",
                },
            }
        ),
        "backbone.balancing 'gradnorm' updates its weights in the training step, which does "
        "not run under tf.distribute here (distribute is 'mirrored')",
    ),
    (
        "a monitor a head's task has no measure of",
        _head(0, early_stopping={"monitor": "mean_absolute_error"}),
        "heads[big_tipper]: early stopping monitor 'mean_absolute_error' is not measured during "
        "training for a binary head; use 'loss' or one of ['auc', 'binary_accuracy']",
    ),
]


def _cell(column: str, value: str, row: int | None = 3):
    def change(index: int, values: dict) -> None:
        if row is None or index == row:
            values[column] = value

    return change


def _bytes(transform: Callable[[bytes], bytes]):
    def apply(path) -> None:
        with open(path, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(transform(data))

    return apply


def _drop_column(column: str):
    def apply(path) -> None:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        drop = rows[0].index(column)
        with open(path, "w", newline="") as f:
            csv.writer(f).writerows([[v for i, v in enumerate(r) if i != drop] for r in rows])

    return apply


def _second_file(change):
    def apply(path) -> None:
        second = os.path.join(os.path.dirname(path), "b.csv")
        shutil.copy(path, second)
        change(second)

    return apply


# name, change to a 20-row taxi CSV (a.csv), expected words of the error
DATA = [
    ("missing column", _drop_column("fare"), "column(s) ['fare'] needed by the config"),
    ("ragged row", _bytes(lambda d: d + b"1,2,3\n"), "a.csv, line 22: 3 fields, expected 18"),
    ("header only", _bytes(lambda d: d.split(b"\n")[0] + b"\n"), "has a header but no rows"),
    ("empty file", _bytes(lambda d: b""), "a.csv is empty (no header line)"),
    (
        "header differs in a second file",
        _second_file(_bytes(lambda d: d.replace(b"fare", b"fares", 1))),
        "b.csv: header differs from",
    ),
    (
        "byte that is not UTF-8",
        _bytes(lambda d: d.replace(b"Cash", b"Cash\xe9", 1)),
        "is not UTF-8; save the file as UTF-8",
    ),
    (
        "infinite label",
        lambda p: rewrite_rows(p, _cell("fare", "inf")),
        "label 'inf' of head 'fare'",
    ),
    (
        "label past float32",
        lambda p: rewrite_rows(p, _cell("trip_seconds", "1e308")),
        "label '1e308' of head 'trip_seconds' is not a finite number",
    ),
    ("NaN label", lambda p: rewrite_rows(p, _cell("fare", "nan")), "label 'nan' of head 'fare'"),
    (
        "label column with no value",
        lambda p: rewrite_rows(p, _cell("trip_seconds", "", row=None)),
        "column 'trip_seconds' (label of head 'trip_seconds') has no value in any row",
    ),
    (
        "NA in a numeric column",
        lambda p: rewrite_rows(p, _cell("trip_miles", "NA")),
        "line 5, column 'trip_miles': 'NA' is not a number",
    ),
    (
        "feature column with no value",
        lambda p: rewrite_rows(p, _cell("trip_miles", "", row=None)),
        "column 'trip_miles' (feature 'trip_miles') has no value in any row",
    ),
]


@pytest.fixture
def home(tmp_path) -> str:
    """A home that serves version 1, to check that nothing touches it."""
    version = tmp_path / "home" / "serving" / "taxi-multihead" / "1"
    version.mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"version 1")
    return str(tmp_path / "home")


def _verify_untouched(home: str) -> None:
    serving = os.path.join(home, "serving", "taxi-multihead")
    assert os.listdir(serving) == ["1"]  # no new version, no temporary folder
    with open(os.path.join(serving, "1", "saved_model.pb"), "rb") as f:
        assert f.read() == b"version 1"
    assert not os.path.exists(os.path.join(home, "pipelines"))  # no component ran


def _data(tmp_path, rows: int = 20) -> str:
    folder = tmp_path / "data"
    folder.mkdir()
    taxi_sample(str(folder / "a.csv"), rows=rows)
    return str(folder)


@pytest.mark.parametrize("name,change,words", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_a_bad_config_exits_2_naming_the_field(tmp_path, capsys, home, name, change, words):
    config = change(copy.deepcopy(TAXI))
    config["data"] = _data(tmp_path)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["run", "--config", str(path), "--home", home]) == 2
    assert words in capsys.readouterr().err
    _verify_untouched(home)


@pytest.mark.parametrize("name,change,words", DATA, ids=[d[0] for d in DATA])
def test_bad_data_exits_2_naming_file_line_or_column(tmp_path, capsys, home, name, change, words):
    data = _data(tmp_path)
    change(os.path.join(data, "a.csv"))
    assert main(["run", "--data", data, "--home", home]) == 2
    err = capsys.readouterr().err
    assert words in err
    assert len(err.strip().splitlines()) <= 2  # a message, not a traceback
    _verify_untouched(home)


def test_a_config_that_is_not_yaml_or_not_there(tmp_path, capsys, home):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    assert main(["run", "--config", str(bad), "--home", home]) == 2
    assert "is not valid YAML" in capsys.readouterr().err
    assert main(["run", "--config", str(tmp_path / "none.yaml"), "--home", home]) == 2
    assert "config file not found" in capsys.readouterr().err
    _verify_untouched(home)


def test_a_data_folder_that_is_not_there_or_has_no_csv(tmp_path, capsys, home):
    assert main(["run", "--data", str(tmp_path / "nope"), "--home", home]) == 2
    assert "data folder not found" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["run", "--data", str(tmp_path / "empty"), "--home", home]) == 2
    assert "no *.csv files in" in capsys.readouterr().err
    _verify_untouched(home)


def test_a_frozen_head_without_a_served_model_that_loads(tmp_path, capsys, home):
    config = copy.deepcopy(TAXI)
    config["data"] = _data(tmp_path, rows=1600)
    config["baseline"] = {"warm_start": True}
    config["heads"][1]["freeze"] = True
    path = tmp_path / "frozen.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["run", "--config", str(path), "--home", home]) == 2
    error = capsys.readouterr().err
    assert "heads ['fare'] are frozen, but no version served under " in error
    assert "(version 1: " in error  # the served version 1 of the home fixture does not load
    _verify_untouched(home)
    empty = str(tmp_path / "empty_home")
    assert main(["run", "--config", str(path), "--home", empty]) == 2
    assert "no model is served yet" in capsys.readouterr().err


def test_a_home_that_is_not_a_folder(tmp_path, capsys):
    data = _data(tmp_path, rows=1600)  # enough for early stopping's validation slice
    home = tmp_path / "home"
    home.write_text("a file")
    assert main(["run", "--data", data, "--home", str(home)]) == 2
    assert f"cannot write to the home folder {home}" in capsys.readouterr().err


def test_retrain_without_spans_and_a_bad_schedule(tmp_path, capsys, home):
    assert main(["retrain", "--data", _data(tmp_path), "--home", home]) == 2
    assert "no span folders in" in capsys.readouterr().err
    for cron, words in (("0 3 * * *", "did you mean '0 0 3 * * *'?"), ("0 3 * *", "has 4 fields")):
        assert main(["schedule", "--host", "http://127.0.0.1:9", "--cron", cron]) == 2
        assert words in capsys.readouterr().err
    _verify_untouched(home)
