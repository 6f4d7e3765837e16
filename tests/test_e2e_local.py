"""End to end: `multihead run` with LocalDagRunner on a taxi sample.

Named scenarios share one home: a first run that computes everything and
pushes version 1; a cached rerun; a strict threshold (only evaluation and
push run again, nothing is pushed); blank labels that stop training by name;
a curated schema whose anomalies stop the run before training. Each scenario
records what the home held before and after it, so none depends on the
order the others ran in.
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import json
import math
import os
import random
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from ml_metadata.proto import metadata_store_pb2

from tests.conftest import COMPONENTS, taxi_sample, write_config

pytestmark = pytest.mark.e2e

HEADS = ["big_tipper", "fare", "trip_seconds"]
SLICES = [["payment_type"], ["trip_start_hour"]]


def multihead(config: str, home: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pipeline.cli", "run", "--config", config, "--home", home]
    return subprocess.run(command, capture_output=True, text=True, timeout=900)


def summary(home) -> dict:
    with open(os.path.join(home, "runs", "latest.json")) as f:
        return json.load(f)


def executions_by_node(home) -> dict[str, list[int]]:
    """Node id -> states of its executions, oldest first."""
    import ml_metadata as mlmd

    if not os.path.exists(os.path.join(home, "metadata.sqlite")):
        return {}
    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = os.path.join(home, "metadata.sqlite")
    store = mlmd.MetadataStore(connection)
    result: dict[str, list[int]] = {}
    for context in store.get_contexts_by_type("node"):
        node = context.name.split(".")[-1]
        executions = sorted(store.get_executions_by_context(context.id), key=lambda e: e.id)
        result[node] = [e.last_known_state for e in executions]
    return result


def write_curated_schema(home: str, target) -> str:
    """The schema SchemaGen inferred, with 'Cash' dropped from payment_type's domain."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    pattern = os.path.join(home, "pipelines", "taxi-multihead", "SchemaGen", "schema", "*")
    inferred = os.path.join(sorted(glob.glob(pattern))[0], "schema.pbtxt")
    schema = text_format.Parse(open(inferred).read(), schema_pb2.Schema())
    for domain in schema.string_domain:
        if domain.name == "payment_type":
            values = [v for v in domain.value if v != "Cash"]
            del domain.value[:]
            domain.value.extend(values)
    target.write_text(text_format.MessageToString(schema))
    return str(target)


def shuffle_card_labels(source, target, seed: int = 5) -> None:
    """Copies the sample with big_tipper's labels shuffled among the Credit
    Card trips only: their tip-to-fare ratios are permuted (each trip keeps
    its fare), so the label is noise on that slice and nowhere else."""
    with open(source) as src:
        reader = csv.DictReader(src)
        fields, rows = reader.fieldnames, list(reader)
    card = [r for r in rows if r["payment_type"] == "Credit Card" and float(r["fare"] or 0) > 0]
    ratios = [float(r["tips"]) / float(r["fare"]) for r in card]
    random.Random(seed).shuffle(ratios)
    for row, ratio in zip(card, ratios, strict=True):
        row["tips"] = f"{ratio * float(row['fare']):.2f}"
    with open(target, "w", newline="") as dst:
        writer = csv.DictWriter(dst, fields)
        writer.writeheader()
        writer.writerows(rows)


def blank_some_fares(source, target) -> None:
    """Copies the sample with the fare of every 50th row removed."""
    with open(source) as src, open(target, "w", newline="") as dst:
        reader = csv.DictReader(src)
        writer = csv.DictWriter(dst, reader.fieldnames)
        writer.writeheader()
        for index, row in enumerate(reader):
            if index % 50 == 0:
                row["fare"] = ""
            writer.writerow(row)


@dataclasses.dataclass
class Scenario:
    """One `multihead run` on the shared home, and what it changed."""

    result: subprocess.CompletedProcess
    before: dict | None  # runs/latest.json before the run
    after: dict  # ... and after it
    executions: dict[str, list[int]]  # node -> states of the executions this run made
    served_before: list[str]  # the serving folder's entries before the run
    served: list[str]  # ... and after it


class Home:
    """A home folder on a 3,000-row taxi sample; runs one config after another."""

    def __init__(self, root):
        self.root = root
        self.data = root / "data"
        self.data.mkdir()
        taxi_sample(str(self.data / "sample.csv"), rows=3000, seed_every=5)
        self.path = str(root / "home")
        self.lenient = write_config(root / "lenient.yaml", self.data, auc_lower=0.6, slices=SLICES)

    def latest(self) -> dict | None:
        path = os.path.join(self.path, "runs", "latest.json")
        return summary(self.path) if os.path.exists(path) else None

    def served(self) -> list[str]:
        serving = os.path.join(self.path, "serving", "taxi-multihead")
        return sorted(os.listdir(serving)) if os.path.isdir(serving) else []

    def run(self, config: str) -> Scenario:
        before, old, served = self.latest(), executions_by_node(self.path), self.served()
        result = multihead(config, self.path)
        new = {
            node: states[len(old.get(node, [])) :]
            for node, states in executions_by_node(self.path).items()
        }
        return Scenario(result, before, self.latest(), new, served, self.served())


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Home:
    return Home(tmp_path_factory.mktemp("e2e"))


@pytest.fixture(scope="module")
def first_run(home) -> Scenario:
    scenario = home.run(home.lenient)
    assert scenario.result.returncode == 0, scenario.result.stderr[-3000:]
    return scenario


@pytest.fixture(scope="module")
def cached_rerun(home, first_run) -> Scenario:
    """The same config and data again."""
    scenario = home.run(home.lenient)
    assert scenario.result.returncode == 0, scenario.result.stderr[-3000:]
    return scenario


@pytest.fixture(scope="module")
def strict_threshold(home, first_run) -> Scenario:
    """Only big_tipper's AUC bound tightened, to 0.999."""
    scenario = home.run(write_config(home.root / "strict.yaml", home.data, auc_lower=0.999))
    assert scenario.result.returncode == 0, scenario.result.stderr[-3000:]
    return scenario


@pytest.fixture(scope="module")
def rerun_after_a_later_push(home, first_run) -> Scenario:
    """Another threshold pushes the next version; then the first config again."""
    later = home.run(write_config(home.root / "later.yaml", home.data, auc_lower=0.61))
    assert later.result.returncode == 0, later.result.stderr[-3000:]
    assert later.after["pushed_model"] is not None
    scenario = home.run(home.lenient)
    assert scenario.result.returncode == 0, scenario.result.stderr[-3000:]
    return scenario


@pytest.fixture(scope="module")
def blank_fares(home, first_run) -> Scenario:
    """Every 50th fare blank, while the fare head may not miss labels."""
    broken = home.root / "broken"
    broken.mkdir()
    blank_some_fares(home.data / "sample.csv", broken / "sample.csv")
    return home.run(write_config(home.root / "broken.yaml", broken, auc_lower=0.6))


@pytest.fixture(scope="module")
def bad_slice(home, first_run) -> Scenario:
    """Credit Card labels shuffled; big_tipper's AUC bounded on every payment type."""
    folder = home.root / "bad_slice"
    folder.mkdir()
    shuffle_card_labels(home.data / "sample.csv", folder / "sample.csv")
    per_slice = {"slicing": ["payment_type"], "lower": 0.7, "min_examples": 100}
    # Fixed steps: with half of big_tipper's labels noise, its validation loss
    # is noise too, and early stopping keeps a model weak on Cash as well
    # (its few positives then fail the same bound); this scenario is the gate's.
    config = write_config(
        home.root / "bad_slice.yaml",
        folder,
        0.6,
        slices=SLICES,
        auc_per_slice=per_slice,
        early_stopping=False,
    )
    scenario = home.run(config)
    assert scenario.result.returncode == 0, scenario.result.stderr[-3000:]
    return scenario


@pytest.fixture(scope="module")
def scored(home, first_run) -> tuple[Scenario, int]:
    """The lenient config plus scoring of 500 unlabelled rows (one unreadable)."""
    folder = home.root / "to_score"
    folder.mkdir()
    labels = {"fare", "tips", "trip_seconds"}
    with open(home.data / "sample.csv") as src, open(folder / "new.csv", "w", newline="") as dst:
        reader = csv.DictReader(src)
        writer = csv.DictWriter(dst, [c for c in reader.fieldnames if c not in labels])
        writer.writeheader()
        for index, row in zip(range(500), reader, strict=False):
            row = {k: v for k, v in row.items() if k not in labels}
            if index == 10:
                row["trip_miles"] = "lots"
            writer.writerow(row)
    scoring = {"data": str(folder), "keep": ["trip_start_timestamp"]}
    config = write_config(home.root / "scored.yaml", home.data, 0.6, slices=SLICES, scoring=scoring)
    scenario = home.run(config)
    assert scenario.result.returncode == 0, scenario.result.stderr[-3000:]
    return scenario, 500


@pytest.fixture(scope="module")
def curated_schema(home, first_run) -> Scenario:
    """A curated schema whose payment_type domain lacks 'Cash', which the data has."""
    schema = write_curated_schema(home.path, home.root / "schema.pbtxt")
    return home.run(write_config(home.root / "curated.yaml", home.data, 0.6, schema=schema))


def test_every_component_ran_once_with_progress_lines(first_run):
    for component in COMPONENTS:
        assert f"[{component}] started" in first_run.result.stdout
        assert f"[{component}] done in" in first_run.result.stdout
        assert first_run.executions[component] == [metadata_store_pb2.Execution.COMPLETE]


def test_summary_has_every_head_and_the_pushed_model(home, first_run):
    first = first_run.after
    assert sorted(first["heads"]) == HEADS
    for head in HEADS:
        info = first["heads"][head]
        assert info["verdict"] == "pass", info["reasons"]
        assert all(np.isfinite(v) for v in info["metrics"].values())
        assert info["reasons"]
    assert first["heads"]["big_tipper"]["metrics"]["auc"] > 0.7
    for head in HEADS:  # every head on every slice of both slicings, in raw values
        slices = first["heads"][head]["slices"]
        assert sorted(slices) == ["payment_type", "trip_start_hour"]
        shown = {s["slice"] for s in slices["payment_type"]["slices"]}
        assert {"payment_type=Cash", "payment_type=Credit Card"} <= shown
        totals = {
            n: sum(s["examples"] for s in k["slices"]) + k["others"]["examples"]
            for n, k in slices.items()
        }
        assert totals["payment_type"] == totals["trip_start_hour"] > 500
        assert len(slices["trip_start_hour"]["slices"]) == 20  # slices_kept's default
    assert "slices (payment_type, trip_start_hour):" in first_run.result.stdout
    assert first["heads"]["fare"]["thresholds"] == {"mean_absolute_error": {"upper": 10.0}}
    assert first["blessed"] is True
    serving = os.path.join(home.path, "serving", "taxi-multihead")
    assert first["pushed_model"] == os.path.join(serving, "1")
    assert first["served_model"] == {"version": 1, "path": first["pushed_model"]}
    assert first["push_cached"] is None
    # Per-head early stopping (the bundled config's, at most 300 steps here).
    stopping = first["training"]["early_stopping"]
    assert sorted(stopping) == HEADS
    for head, course in stopping.items():
        assert 0 < course["best_step"] <= (course["stopped_at"] or 300) <= 300, (head, course)
        # Each head stops on the metric it is judged by (the bundled config's monitors).
        monitor = "auc" if head == "big_tipper" else "mean_absolute_error"
        assert course["monitor"] == monitor and course["best_validation"] > 0
        assert f"(validation {monitor} " in first_run.result.stdout
        assert re.search(rf"\n  {head} +(stopped at step|ran to step) ", first_run.result.stdout)
    assert "rows of the validation split" in first["training"]["validation"]["source"]
    with open(os.path.join(home.path, "runs", first["run_id"].replace(":", "-") + ".json")) as f:
        assert json.load(f) == first


def test_a_rerun_of_the_same_config_is_served_from_cache(first_run, cached_rerun):
    for component in COMPONENTS:
        assert f"[{component}] cached in" in cached_rerun.result.stdout
        assert cached_rerun.executions[component] == [metadata_store_pb2.Execution.CACHED]
    assert cached_rerun.after["heads"] == first_run.after["heads"]
    assert cached_rerun.after["run_id"] != first_run.after["run_id"]
    assert cached_rerun.after["pushed_model"] is None  # this run pushed nothing
    assert cached_rerun.after["push_cached"] is not None
    assert cached_rerun.served == cached_rerun.served_before


def test_a_cached_rerun_after_a_later_push_reports_what_is_served_now(
    home, first_run, rerun_after_a_later_push
):
    scenario = rerun_after_a_later_push
    latest = scenario.after
    assert scenario.executions["MultiHeadPusher"] == [metadata_store_pb2.Execution.CACHED]
    assert latest["pushed_model"] is None
    assert latest["push_cached"] == {"pushed_earlier": first_run.after["pushed_model"]}
    newest = max(int(v) for v in scenario.served)
    serving = os.path.join(home.path, "serving", "taxi-multihead")
    assert newest >= 2
    assert latest["served_model"] == {"version": newest, "path": os.path.join(serving, str(newest))}
    out = scenario.result.stdout
    assert "pushed model: none (the push step was cached: an earlier run pushed" in out
    assert f"served now: {os.path.join(serving, str(newest))} (version {newest})" in out


def test_a_failed_threshold_blocks_the_push_and_reuses_training(strict_threshold):
    result, strict = strict_threshold.result, strict_threshold.after
    assert "[Transform] cached" in result.stdout
    assert "[MultiHeadTrainer] cached" in result.stdout
    assert "[MultiHeadEvaluator] done" in result.stdout
    assert strict["blessed"] is False and strict["pushed_model"] is None
    verdict = strict["heads"]["big_tipper"]
    assert verdict["verdict"] == "fail"
    assert verdict["reasons"][0].startswith("big_tipper: auc ")
    assert verdict["reasons"][0].endswith("< threshold 0.999")
    assert strict["heads"]["fare"]["verdict"] == "pass"
    assert "pushed model: none" in result.stdout
    assert strict_threshold.executions["MultiHeadPusher"] == [metadata_store_pb2.Execution.COMPLETE]
    assert strict_threshold.served == strict_threshold.served_before


def test_a_slice_made_bad_is_refused_by_its_gate_while_the_whole_split_passes(bad_slice):
    big = bad_slice.after["heads"]["big_tipper"]
    assert big["metrics"]["auc"] >= 0.6  # the whole split passes
    assert big["verdict"] == "fail"
    reason = big["reasons"][0]
    assert reason.startswith("big_tipper on payment_type=Credit Card ("), big["reasons"]
    assert reason.endswith("< threshold 0.7") and "95% CI" in reason
    card = big["slices"]["payment_type"]["slices"][0]
    assert card["slice"] == "payment_type=Credit Card" and card["examples"] >= 100
    assert card["metrics"]["auc"] < 0.7 and card["verdict"] == "fail"
    assert big["slices"]["payment_type"]["failing"] == 1  # Cash, the other large slice, passes
    assert bad_slice.after["heads"]["fare"]["verdict"] == "pass"
    assert bad_slice.after["blessed"] is False and bad_slice.served == bad_slice.served_before
    assert f"worst: {reason}" in bad_slice.result.stdout


def test_the_report_of_a_refused_slice_lists_it_first_in_its_slicing(bad_slice):
    page = open(bad_slice.after["report"]).read()
    section = page[page.index('id="head-big_tipper"') : page.index('id="head-fare"')]
    assert '<span class="verdict fail">fail</span>' in section
    assert '<li class="failing">big_tipper on payment_type=Credit Card (' in section
    slicing = section[section.index("Slices by payment_type") :]
    first_row = slicing[slicing.index("<tr><td>") :].split("</tr>")[0]
    assert "payment_type=Credit Card" in first_row and "verdict fail" in first_row


def test_report_rebuilds_a_past_run_and_names_the_runs_it_knows(home, first_run, cached_rerun):
    run_id, page = first_run.after["run_id"], first_run.after["report"]
    os.remove(page)
    rebuilt = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "report", "--home", home.path, "--run", run_id],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
    assert rebuilt.stdout.splitlines()[-1] == f"report: {page}"
    assert run_id in open(page).read()
    unknown = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "report", "--home", home.path, "--run", "nope"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert unknown.returncode == 2
    assert f"no summary of run 'nope' in {home.path}/runs; runs there: " in unknown.stderr


def test_a_scoring_folder_is_scored_after_the_push_by_the_served_model(scored):
    scenario, rows = scored
    predictions = scenario.after["predictions"]
    assert predictions["rows"] == rows - 1 and predictions["rejects"] == 1
    assert predictions["scored_with"] == scenario.after["served_model"]["path"]
    assert scenario.executions["BatchScorer"] == [metadata_store_pb2.Execution.COMPLETE]
    with open(predictions["file"], newline="") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == ["trip_start_timestamp", *HEADS] and len(table) == rows - 1
    assert all(0 <= float(r["big_tipper"]) <= 1 for r in table)
    with open(predictions["rejects_file"]) as f:
        reject = json.loads(f.readline())
    assert (
        reject["line"] == 12 and reject["reason"] == "column 'trip_miles': 'lots' is not a number"
    )
    assert f"predictions: {rows - 1:,} rows in {predictions['file']}" in scenario.result.stdout


def serialized_examples(data_dir: str, count: int, drop: frozenset = frozenset()) -> tf.Tensor:
    """Raw feature columns of the first rows as tf.Examples (no labels, nor `drop`)."""
    labels = {"fare", "tips", "trip_seconds"} | drop
    examples = []
    with open(os.path.join(data_dir, "sample.csv")) as f:
        for row in list(csv.DictReader(f))[:count]:
            features = {}
            for name, value in row.items():
                if name in labels or value == "":
                    continue
                try:
                    number = float(value)
                except ValueError:
                    features[name] = tf.train.Feature(
                        bytes_list=tf.train.BytesList(value=[value.encode()])
                    )
                    continue
                if number.is_integer() and "." not in value:
                    features[name] = tf.train.Feature(
                        int64_list=tf.train.Int64List(value=[int(number)])
                    )
                else:
                    features[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[number]))
            example = tf.train.Example(features=tf.train.Features(feature=features))
            examples.append(example.SerializeToString())
    return tf.constant(examples)


def test_pushed_model_head_signatures_match_serving_default(home, first_run):
    loaded = tf.saved_model.load(first_run.after["pushed_model"])
    assert set(loaded.signatures) == {
        "serving_default",
        "serving_columns",
        "transform_features",
        *HEADS,
    }
    examples = serialized_examples(str(home.data), 32)
    everything = loaded.signatures["serving_default"](examples=examples)
    assert sorted(everything) == HEADS
    for head in HEADS:
        alone = loaded.signatures[head](examples=examples)
        assert sorted(alone) == [head]
        # serving_default runs the towers fused (one matmul per depth): the
        # same numbers up to float32 rounding, which is relative to the size
        # of the head's outputs (trip_seconds are thousands).
        scale = max(1.0, float(np.abs(everything[head].numpy()).max()))
        np.testing.assert_allclose(
            alone[head].numpy(), everything[head].numpy(), rtol=1e-5, atol=1e-6 * scale
        )
    probabilities = everything["big_tipper"].numpy()
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    assert everything["fare"].numpy().mean() > 1.0  # dollars, not z-scores


def rest_instances(data_dir: str, count: int, inputs: dict[str, tf.TensorSpec]) -> list[dict]:
    """The first rows as a REST client's JSON `instances`: every input, NaN or "" if missing."""
    with open(os.path.join(data_dir, "sample.csv")) as f:
        rows = list(csv.DictReader(f))[:count]
    instances = []
    for row in rows:
        instance = {}
        for name, spec in inputs.items():
            cell = row[name]
            if spec.dtype == tf.string:
                instance[name] = cell
            else:
                instance[name] = float(cell) if cell != "" else float("nan")
        instances.append(instance)
    return json.loads(json.dumps({"instances": instances}))["instances"]  # NaN survives


def as_examples(instances: list[dict], inputs: dict[str, tf.TensorSpec]) -> tf.Tensor:
    """The same rows as tf.Examples, each missing value left out (as ExampleGen does)."""
    examples = []
    for instance in instances:
        features = {}
        for name, value in instance.items():
            if value == "" or (isinstance(value, float) and math.isnan(value)):
                continue
            dtype = inputs[name].dtype
            if dtype == tf.string:
                feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
            elif dtype == tf.float64:  # an integer column
                feature = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
            else:
                feature = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
            features[name] = feature
        example = tf.train.Example(features=tf.train.Features(feature=features))
        examples.append(example.SerializeToString())
    return tf.constant(examples)


def test_the_columns_signature_answers_json_rows_as_serving_default(home, first_run):
    """A REST client's JSON rows, missing cells included, get serving_default's answers."""
    loaded = tf.saved_model.load(first_run.after["pushed_model"])
    by_columns = loaded.signatures["serving_columns"]
    inputs = by_columns.structured_input_signature[1]
    with open(os.path.join(first_run.after["pushed_model"], "assets.extra/inputs.json")) as f:
        assert sorted(inputs) == sorted(json.load(f)["optional"])  # every raw input, by name
    assert inputs["trip_start_hour"].dtype == tf.float64  # an integer column, NaN if missing
    instances = rest_instances(str(home.data), 200, inputs)
    assert any(math.isnan(i["pickup_latitude"]) for i in instances)  # missing values in there
    columns = {
        name: tf.constant([i[name] for i in instances], spec.dtype) for name, spec in inputs.items()
    }
    answer = by_columns(**columns)
    expected = loaded.signatures["serving_default"](examples=as_examples(instances, inputs))
    assert sorted(answer) == sorted(expected) == HEADS
    for head in HEADS:
        np.testing.assert_allclose(answer[head].numpy(), expected[head].numpy(), rtol=1e-6)
    halves = {**columns, "trip_start_hour": columns["trip_start_hour"] + 0.5}
    with pytest.raises(
        tf.errors.InvalidArgumentError, match="column trip_start_hour takes whole numbers"
    ):
        by_columns(**halves)


def test_every_input_the_transform_fills_is_optional_in_every_signature(home, first_run):
    from trainer_module.export import serving_inputs

    pushed = first_run.after["pushed_model"]
    inputs = serving_inputs(pushed)
    assert inputs["required"] == []
    assert "trip_miles" in inputs["optional"] and "payment_type" in inputs["optional"]
    loaded = tf.saved_model.load(pushed)
    # trip_miles has no gap in this sample; an example without it (or without
    # a category) is filled as the README says, not refused.
    examples = serialized_examples(str(home.data), 8, drop=frozenset({"trip_miles", "company"}))
    for name in ("serving_default", *HEADS):
        outputs = loaded.signatures[name](examples=examples)
        assert all(np.isfinite(v.numpy()).all() for v in outputs.values())


def test_the_model_parses_only_the_columns_the_config_reads(first_run):
    """A column the config ignores may change type between spans (all empty in
    one, numbers in the next): no signature may parse it, or the evaluation of
    the served model on a later span fails."""
    from trainer_module.part_info import read_parts

    (part,) = read_parts(first_run.after["pushed_model"])
    assert "pickup_census_tract" not in part.raw_columns
    assert {"tips", "fare", "trip_seconds", "trip_miles"} <= set(part.raw_columns)
    assert "tips" not in part.serving_columns  # a label's input is not a serving input


def test_a_malformed_example_gives_an_error_a_client_can_print(home, first_run):
    loaded = tf.saved_model.load(first_run.after["pushed_model"])
    good = serialized_examples(str(home.data), 1)
    for name in ("serving_default", "fare", "transform_features"):
        for bad in (random.Random(0).randbytes(64), b"\xff\xfe\x00not a proto"):
            with pytest.raises(tf.errors.OpError) as caught:
                loaded.signatures[name](examples=tf.concat([good, tf.constant([bad])], 0))
            message = str(caught.value)  # readable: no UnicodeDecodeError on the way
            assert "each_input_must_be_a_serialized_tf_Example" in message
            message.encode("ascii", errors="strict")


def test_blank_labels_stop_training_by_name_and_keep_what_was_pushed(blank_fares):
    result = blank_fares.result
    assert result.returncode == 1
    assert "error: MultiHeadTrainer failed" in result.stderr
    assert "head 'fare':" in result.stderr and "rows have no label 'fare'" in result.stderr
    assert "label_may_be_missing is false" in result.stderr
    assert blank_fares.after == blank_fares.before  # the summary of the last good run is kept
    assert blank_fares.served == blank_fares.served_before


def test_anomalies_against_a_curated_schema_stop_the_run_before_training(curated_schema):
    result = curated_schema.result
    assert result.returncode == 1
    assert "[ExampleValidator] done" in result.stdout
    assert "error: MultiHeadTrainer failed: AnomaliesFound" in result.stderr
    assert "column 'payment_type'" in result.stderr and "Cash" in result.stderr
    assert curated_schema.after == curated_schema.before
    assert curated_schema.served == curated_schema.served_before


def test_benchmark_smoke(home, first_run):
    """Short runs of the serving and quality benchmarks, so they cannot rot."""
    from bench import quality, serving

    lines = serving.run(home.path, calls=3, steps=5, config_path=home.lenient)["results"]
    assert len(lines) == 8
    assert all(
        re.fullmatch(r"RESULT serving \S+=[-\d.e+]+ target=\S+ (met|missed)", x) for x in lines
    )
    outcome = quality.run(home.path, seeds=1, steps=20, config_path=home.lenient)
    assert set(outcome["scores"]) == {"disjoint", "early_stopping", "single"} | {
        f"{shape}_{balancing}"
        for shape in ("joint_backbone", "joint_skip", "disjoint_skip")
        for balancing in ("none", "uncertainty", "pcgrad", "gradnorm")
    } | {"disjoint_backbone"}
    assert outcome["scores"]["disjoint"]["big_tipper"][0] > 0.5
    assert all(0 < step <= 300 for steps in outcome["stops"].values() for step in steps)
    # Per head: vs single, early stopping; per backbone variant: its worst head.
    assert len(outcome["results"]) == 3 * (1 + 1) + 13 + 1
