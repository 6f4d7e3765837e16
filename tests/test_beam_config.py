"""The config's `beam` section: named places for the Beam steps, the
options each one gives, and the mistakes it refuses by name."""

from __future__ import annotations

import copy

import pytest

from pipeline.config_file import parse_config
from tests.test_config import BASE, error_of

DATAFLOW = {
    "runner": "dataflow",
    "project": "team-ml",
    "region": "europe-west4",
    "temp_location": "gs://team-ml/tmp",
}


def beam_args(section: dict | None = None, raw: list[str] | None = None) -> list[str]:
    data = copy.deepcopy(BASE)
    if section is not None:
        data["beam"] = section
    if raw is not None:
        data["beam_pipeline_args"] = raw
    return parse_config(data).beam_args()


def test_without_a_beam_section_the_steps_run_in_this_process_with_no_options():
    assert beam_args() == []
    assert beam_args({"runner": "local"}) == []


def test_multiprocess_runs_the_direct_runner_on_worker_processes():
    assert beam_args({"runner": "multiprocess", "workers": 2}) == [
        "--direct_running_mode=multi_processing",
        "--direct_num_workers=2",
    ]
    # Without workers: one per core of the machine the step runs on (Beam's 0).
    assert beam_args({"runner": "multiprocess"})[-1] == "--direct_num_workers=0"


def test_dataflow_names_project_region_staging_workers_and_image_then_extra_args():
    section = {
        **DATAFLOW,
        "workers": 20,
        "machine_type": "n2-standard-4",
        "container_image": "europe-docker.pkg.dev/team-ml/images/tfx-multihead:0.2.0",
        "args": ["--experiments=use_runner_v2"],
    }
    assert beam_args(section) == [
        "--runner=DataflowRunner",
        "--project=team-ml",
        "--region=europe-west4",
        "--temp_location=gs://team-ml/tmp",
        "--max_num_workers=20",
        "--machine_type=n2-standard-4",
        "--sdk_container_image=europe-docker.pkg.dev/team-ml/images/tfx-multihead:0.2.0",
        "--experiments=use_runner_v2",
    ]


def test_raw_beam_pipeline_args_are_still_read_as_they_are():
    assert beam_args(raw=["--direct_num_workers=2"]) == ["--direct_num_workers=2"]


@pytest.mark.parametrize(
    ("section", "raw", "message"),
    [
        ({"runner": "spark"}, None, "beam.runner: Input should be 'local', 'multiprocess' or"),
        ({"runner": "local", "workers": 4}, None, "beam.workers is for runner multiprocess or"),
        ({"runner": "multiprocess", "workers": 0}, None, "beam.workers: Input should be greater"),
        ({"runner": "multiprocess", "project": "p"}, None, "beam.project is for runner dataflow"),
        ({"runner": "dataflow", "project": "p"}, None, "needs beam.region, beam.temp_location"),
        (
            {**DATAFLOW, "temp_location": "/tmp/staging"},
            None,
            "beam.temp_location must be a gs:// folder for Dataflow, got '/tmp/staging'",
        ),
        (
            {"runner": "multiprocess", "args": ["--direct_num_workers=8"]},
            None,
            "beam.args sets --direct_num_workers, which beam.workers sets: give it there",
        ),
        (
            {"runner": "multiprocess"},
            ["--direct_num_workers=2"],
            "beam and beam_pipeline_args both say where Beam runs",
        ),
    ],
)
def test_a_beam_mistake_is_named_before_anything_runs(section, raw, message):
    data = copy.deepcopy(BASE)
    data["beam"] = section
    if raw is not None:
        data["beam_pipeline_args"] = raw
    assert message in error_of(data)
