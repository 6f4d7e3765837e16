"""`multihead submit` / `schedule` against a local stand-in of the KFP API."""

from __future__ import annotations

import pytest
import yaml

from kubeflow.compile import compile_pipeline
from pipeline.cli import main
from pipeline.config_file import load_config
from tests.kfp_fake_server import FakeKfp, free_port


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("pkg") / "taxi-multihead.yaml"
    return compile_pipeline(load_config(), str(path), data_root="gs://bucket/data")


def test_submit_uploads_then_runs_with_parameters(package, capsys):
    with FakeKfp() as kfp:
        code = main(
            [
                "submit",
                "--host",
                kfp.host,
                "--package",
                package,
                "--experiment",
                "nightly",
                "--param",
                "data-root=gs://bucket/span-7",
            ]
        )
        requests = list(kfp.requests)
    assert code == 0, capsys.readouterr().err
    assert "started run r-1 of taxi-multihead" in capsys.readouterr().out
    paths = [(r.method, r.path) for r in requests]
    assert ("POST", "/apis/v2beta1/pipelines/upload") in paths
    assert paths[-1] == ("POST", "/apis/v2beta1/runs")
    upload = next(r for r in requests if r.path.endswith("/upload"))
    assert upload.query["name"] == ["taxi-multihead"]
    assert b"MultiHeadTrainer" in upload.body  # the compiled spec itself
    experiment = next(r for r in requests if r.method == "POST" and r.path.endswith("experiments"))
    assert experiment.json()["display_name"] == "nightly"
    run = requests[-1].json()
    assert run["experiment_id"] == "e-1"
    assert run["pipeline_version_reference"] == {"pipeline_id": "p-1", "pipeline_version_id": "v-1"}
    assert run["runtime_config"]["parameters"] == {"data-root": "gs://bucket/span-7"}


def test_submit_adds_a_version_to_an_existing_pipeline(package, capsys):
    with FakeKfp(existing_pipeline=True) as kfp:
        assert main(["submit", "--host", kfp.host, "--package", package]) == 0
        paths = kfp.paths()
    assert ("POST", "/apis/v2beta1/pipelines/upload_version") in paths
    assert ("POST", "/apis/v2beta1/pipelines/upload") not in paths


def test_schedule_creates_recurring_run_without_cache(package, capsys):
    with FakeKfp() as kfp:
        code = main(
            [
                "schedule",
                "--host",
                kfp.host,
                "--package",
                package,
                "--cron",
                "0 0 3 * * *",
                "--max-concurrency",
                "1",
            ]
        )
        body = kfp.requests[-1].json()
        last = kfp.paths()[-1]
        uploaded = next(r for r in kfp.requests if r.path.endswith("/upload")).body.decode()
    assert code == 0, capsys.readouterr().err
    assert last == ("POST", "/apis/v2beta1/recurringruns")
    assert body["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * *"
    assert int(body["max_concurrency"]) == 1
    assert body["pipeline_version_reference"]["pipeline_version_id"] == "v-1"
    assert "recurring run rr-1" in capsys.readouterr().out
    # Every task of the uploaded spec has caching off, or no run sees new data.
    spec = yaml.safe_load(uploaded.split("\r\n\r\n", 1)[1].rsplit("\r\n--", 1)[0])
    tasks = spec["root"]["dag"]["tasks"]
    assert len(tasks) == 8
    assert all(not t.get("cachingOptions", {}).get("enableCache") for t in tasks.values())
    with open(package) as f:
        assert "enableCache: true" in f.read()  # the package itself is untouched


def test_five_field_cron_is_explained(package, capsys):
    assert (
        main(
            [
                "schedule",
                "--host",
                "http://127.0.0.1:1",
                "--package",
                package,
                "--cron",
                "0 3 * * *",
            ]
        )
        == 2
    )
    assert "did you mean '0 0 3 * * *'" in capsys.readouterr().err


def test_unreachable_host_is_a_clear_error(package, capsys):
    host = f"http://127.0.0.1:{free_port()}"
    assert main(["submit", "--host", host, "--package", package]) == 1
    err = capsys.readouterr().err
    assert f"cannot reach Kubeflow Pipelines at {host}" in err
    assert "Traceback" not in err


def test_unhealthy_host_is_a_clear_error(package, capsys):
    with FakeKfp(fail={("GET", "/apis/v2beta1/healthz"): 503}) as kfp:
        assert main(["submit", "--host", kfp.host, "--package", package]) == 1
    assert "answered 503" in capsys.readouterr().err


def test_refused_run_names_the_step_and_status(package, capsys):
    with FakeKfp(fail={("POST", "/apis/v2beta1/runs"): 403}) as kfp:
        assert main(["submit", "--host", kfp.host, "--package", package]) == 1
    err = capsys.readouterr().err
    assert "starting the run failed" in err and "403" in err
    assert "denied by test server" in err
