"""`multihead predict`: batch scoring with a trained model, on Beam, every head at once."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from pipeline.cli import main
from tests.artifacts import RAW_SPEC, SPEC, make_inputs
from tests.test_trainer_executor import _do, _with_kind

ROWS = [
    {"trip_id": "t1", "x": "1.5", "colour": "red"},
    {"trip_id": "t2", "x": "NA", "colour": "blue"},
    {"trip_id": "t3", "x": "-0.25", "colour": ""},
    {"trip_id": "t4", "x": "abc", "colour": "green"},  # rejected: not a number
    {"trip_id": "t5", "x": "2", "colour": "green"},
]


# Inputs that may be missing, as the pipeline's inferred schema makes them.
OPTIONAL_INPUTS = {
    **RAW_SPEC,
    "x": tf.io.VarLenFeature(tf.float32),
    "colour": tf.io.VarLenFeature(tf.string),
}


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    """A trained two-head model (big: binary, size: regression) that reads NA as missing."""
    root = tmp_path_factory.mktemp("model")
    spec = SPEC.model_copy(update={"missing_values": ["NA"]})
    (root / "inputs").mkdir()
    inputs = make_inputs(str(root / "inputs"), spec, raw_spec=OPTIONAL_INPUTS)
    trained, _ = _do(root, inputs, spec)
    return os.path.join(trained.uri, "Format-Serving")


def write_csv(path, rows: list[dict], extra: str = "") -> str:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        f.write(extra)
    return str(path)


def examples(rows: list[dict]) -> tf.Tensor:
    """The rows as tf.Examples, missing cells left out (as ExampleGen writes them)."""
    serialized = []
    for row in rows:
        feature = {}
        if row["x"] not in ("", "NA"):
            feature["x"] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(row["x"])]))
        if row["colour"]:
            value = [row["colour"].encode()]
            feature["colour"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=value))
        example = tf.train.Example(features=tf.train.Features(feature=feature))
        serialized.append(example.SerializeToString())
    return tf.constant(serialized)


def read_output(path: str) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_every_head_is_scored_in_one_pass_with_the_kept_columns(model, tmp_path, capsys):
    data = write_csv(tmp_path / "rows.csv", ROWS)
    output = str(tmp_path / "out" / "scores.csv")
    code = main(
        ["predict", "--data", data, "--model", model, "--output", output, "--keep", "trip_id"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert f"wrote 4 rows to {output}" in out and "rows/s" in out
    scored = {row["trip_id"]: row for row in read_output(output)}
    assert list(next(iter(scored.values()))) == ["trip_id", "big", "size"]
    good = [r for r in ROWS if r["trip_id"] != "t4"]
    assert sorted(scored) == [r["trip_id"] for r in good]
    expected = tf.saved_model.load(model).signatures["serving_default"](examples=examples(good))
    for i, row in enumerate(good):
        for head in ("big", "size"):
            assert float(scored[row["trip_id"]][head]) == pytest.approx(
                float(expected[head][i]), rel=1e-6
            )


def test_rows_that_cannot_be_read_go_to_the_rejects_with_line_and_reason(model, tmp_path, capsys):
    data = write_csv(tmp_path / "rows.csv", ROWS, extra="t6,1.0\nt7,0.5,purple,x\n")
    output = str(tmp_path / "scores.csv")
    assert main(["predict", "--data", data, "--model", model, "--output", output]) == 0
    rejects_file = str(tmp_path / "scores.rejects.jsonl")
    assert f"3 row(s) could not be read: see {rejects_file}" in capsys.readouterr().out
    with open(rejects_file) as f:
        rejects = sorted((json.loads(line) for line in f), key=lambda r: r["line"])
    assert [(r["file"], r["line"]) for r in rejects] == [(data, 5), (data, 7), (data, 8)]
    assert rejects[0]["reason"] == "column 'x': 'abc' is not a number"
    assert rejects[0]["row"]["trip_id"] == "t4"
    assert rejects[1]["reason"] == "2 fields, expected 3 as in the header"
    assert rejects[2]["reason"] == "4 fields, expected 3 as in the header"
    assert len(read_output(output)) == 4


def test_a_column_the_model_requires_left_empty_is_a_reject(tmp_path):
    """A curated schema's fixed-shape column cannot be missing: the row is rejected."""
    (tmp_path / "inputs").mkdir()
    trained, _ = _do(tmp_path, make_inputs(str(tmp_path / "inputs")))  # x, colour required
    model = os.path.join(trained.uri, "Format-Serving")
    data = write_csv(tmp_path / "rows.csv", [ROWS[0], dict(ROWS[0], colour="")])
    output = str(tmp_path / "scores.csv")
    assert main(["predict", "--data", data, "--model", model, "--output", output]) == 0
    with open(tmp_path / "scores.rejects.jsonl") as f:
        (reject,) = [json.loads(line) for line in f]
    assert reject["line"] == 3
    assert reject["reason"] == "column 'colour': missing, and the model requires it"


def test_json_lines_in_and_out(model, tmp_path):
    data = tmp_path / "rows.jsonl"
    data.write_text(
        '{"trip_id": "a", "x": 0.5, "colour": "red"}\n'
        '{"trip_id": "b", "x": null, "colour": "blue"}\n'
    )
    output = str(tmp_path / "scores.jsonl")
    assert main(["predict", "--data", str(data), "--model", model, "--output", output]) == 0
    with open(output) as f:
        rows = [json.loads(line) for line in f]
    assert sorted(rows[0]) == ["big", "size"] and len(rows) == 2
    assert all(0 <= r["big"] <= 1 and math.isfinite(r["size"]) for r in rows)


def test_only_the_chosen_heads_and_the_newest_served_version(model, tmp_path, capsys):
    home = tmp_path / "home"
    for version in (1, 2):
        shutil.copytree(model, home / "serving" / "taxi" / str(version))
    data = write_csv(tmp_path / "rows.csv", ROWS[:2])
    output = str(tmp_path / "scores.csv")
    args = ["predict", "--data", data, "--home", str(home), "--output", output, "--heads", "size"]
    assert main(args) == 0
    assert f"with {home}/serving/taxi/2 (heads: size)" in capsys.readouterr().out
    assert list(read_output(output)[0]) == ["size"]


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda r: {k: v for k, v in r.items() if k != "colour"}, "column(s) ['colour'] that the"),
        (None, "--heads ['tips']: the model at"),
    ],
)
def test_bad_input_exits_2_naming_it_and_writes_nothing(model, tmp_path, capsys, change, words):
    rows = [change(r) for r in ROWS] if change else ROWS
    data = write_csv(tmp_path / "rows.csv", rows)
    output = str(tmp_path / "scores.csv")
    heads = [] if change else ["--heads", "tips"]
    assert main(["predict", "--data", data, "--model", model, "--output", output, *heads]) == 2
    assert words in capsys.readouterr().err
    assert os.listdir(tmp_path) == ["rows.csv"]


def test_a_folder_that_is_not_a_multihead_model_is_refused(tmp_path, capsys):
    plain = tmp_path / "plain"
    tf.saved_model.save(tf.Module(), str(plain))
    data = write_csv(tmp_path / "rows.csv", ROWS)
    output = str(tmp_path / "scores.csv")
    assert main(["predict", "--data", data, "--model", str(plain), "--output", output]) == 2
    assert "is not a multi-head model that can be batch scored" in capsys.readouterr().err
    assert main(["predict", "--data", data, "--model", str(tmp_path), "--output", output]) == 2
    assert "no model that loads in the serving folder" in capsys.readouterr().err
    assert not os.path.exists(output)


def test_a_multiclass_head_gives_its_class_name_and_each_probability(tmp_path):
    raw = SPEC.model_dump(mode="json")
    classes = ["low", "mid", "high"]
    raw["heads"].append(
        {"name": "kind", "label": "y_kind", "task": "multiclass", "classes": classes, "tower": [8]}
    )
    kinds = type(SPEC).model_validate(raw)
    raw_spec = {**RAW_SPEC, "y_kind": tf.io.FixedLenFeature([], tf.string)}
    (tmp_path / "inputs").mkdir()
    trained, _ = _do(
        tmp_path, make_inputs(str(tmp_path / "inputs"), kinds, _with_kind, raw_spec), kinds
    )
    data = write_csv(tmp_path / "rows.csv", [r for r in ROWS if r["x"] not in ("abc", "NA")])
    output = str(tmp_path / "scores.csv")
    model = os.path.join(trained.uri, "Format-Serving")
    assert main(["predict", "--data", data, "--model", model, "--output", output]) == 0
    rows = read_output(output)
    assert list(rows[0]) == [
        "big",
        "size",
        "kind",
        "kind_probability_low",
        "kind_probability_mid",
        "kind_probability_high",
    ]
    for row in rows:
        probabilities = [float(row[f"kind_probability_{c}"]) for c in classes]
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)
        assert row["kind"] == classes[int(np.argmax(probabilities))]


def test_a_bad_cell_after_good_batches_reads_on_row_by_row_without_losing_a_row(model, tmp_path):
    """The fast path (Arrow, a block at a time) hands over to the row-by-row one at the
    first batch it cannot read whole: every good row once, the bad one named by line."""
    from components.scoring import contract, reading

    rows = [{"trip_id": f"t{i}", "x": str(i / 10), "colour": "red"} for i in range(9)]
    rows[5]["x"] = "five"
    path = write_csv(tmp_path / "rows.csv", rows, extra="\n")  # a blank line at the end
    model_contract = contract.read_contract(model)
    out = list(reading.read_batches(path, model_contract, ["trip_id"], batch_rows=2))
    batches = [b for b in out if isinstance(b, reading.Batch)]
    rejects = [json.loads(r.value) for r in out if not isinstance(r, reading.Batch)]
    ids = [i for b in batches for i in b.kept[0]]
    assert ids == [f"t{i}" for i in range(9) if i != 5]
    assert [(r["line"], r["reason"]) for r in rejects] == [
        (7, "column 'x': 'five' is not a number")
    ]
    assert all(isinstance(b.columns["x"], np.ndarray) for b in batches[:2])  # the fast path
