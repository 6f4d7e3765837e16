"""The compiled Kubeflow pipeline, loaded and checked with the kfp SDK's own code."""

from __future__ import annotations

import json
import re

import kfp.components
import pytest
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from kubeflow.compile import compile_pipeline
from pipeline.config import PipelineConfig
from pipeline.config_file import load_config
from pipeline.errors import ConfigError
from tests.conftest import COMPONENTS
from tests.test_beam_config import DATAFLOW

IMAGE = "registry.example/team/tfx-multihead:test"
RESOURCES = {
    "MultiHeadTrainer": {"cpu": 4, "memory": 16, "cpu_limit": 8, "memory_limit": 24},
    "CsvExampleGen": {"cpu": 2},
}
BEAM_TASKS = {"CsvExampleGen", "StatisticsGen", "Transform", "MultiHeadEvaluator", "BatchScorer"}
ROOT = "gs://bucket/root"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kfp")
    raw = load_config().model_dump(by_alias=True)
    raw["beam"] = DATAFLOW
    raw["kubeflow"] = {"resources": RESOURCES}
    config = PipelineConfig.model_validate({**raw, "base_dir": ""})
    path = compile_pipeline(
        config,
        str(folder / "p.yaml"),
        image=IMAGE,
        pipeline_root=ROOT,
        data_root="gs://bucket/data",
    )
    return config, kfp.components.load_component_from_file(path), path


def test_pipeline_spec_loads_with_kfp_and_has_every_task(compiled):
    config, component, _ = compiled
    spec = component.pipeline_spec
    assert spec.schema_version == "2.1.0"
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]{0,127}", spec.pipeline_info.name)
    assert spec.pipeline_info.name == config.name
    assert set(spec.root.dag.tasks) == set(COMPONENTS)


def test_dependencies_order_the_dag(compiled):
    _, component, _ = compiled
    tasks = component.pipeline_spec.root.dag.tasks
    depends = {name: set(task.dependent_tasks) for name, task in tasks.items()}
    assert "Transform" in depends["MultiHeadTrainer"]
    assert "ExampleValidator" in depends["MultiHeadTrainer"]
    assert "MultiHeadTrainer" in depends["MultiHeadEvaluator"]
    assert {"MultiHeadEvaluator", "MultiHeadTrainer"} <= depends["MultiHeadPusher"]
    trainer_inputs = tasks["MultiHeadTrainer"].inputs.artifacts
    assert trainer_inputs["examples"].task_output_artifact.producer_task == "CsvExampleGen"
    assert trainer_inputs["examples"].task_output_artifact.output_artifact_key == "examples"


def test_every_executor_runs_in_the_image_with_our_classes(compiled):
    _, component, _ = compiled
    executors = component.pipeline_spec.deployment_spec["executors"]
    assert len(executors) == 8
    for executor in executors.values():
        assert executor["container"]["image"] == IMAGE
    args = {name: list(e["container"]["args"]) for name, e in executors.items()}
    for name, class_path in [
        ("CsvExampleGen_executor", "components.example_gen.executor.Executor"),
        ("MultiHeadTrainer_executor", "components.trainer.executor.Executor"),
        ("MultiHeadEvaluator_executor", "components.evaluator.executor.Executor"),
        ("MultiHeadPusher_executor", "components.pusher.executor.Executor"),
    ]:
        assert args[name][args[name].index("--executor_class_path") + 1] == class_path
    # The config's Beam section reaches every Beam executor as its options
    # (TFX's compiler hands them to the other executors too, which ignore them).
    beam = [
        "--runner=DataflowRunner",
        "--project=team-ml",
        "--region=europe-west4",
        "--temp_location=gs://team-ml/tmp",
    ]
    beam_tasks = [name for name in args if name.split("_executor")[0] in BEAM_TASKS]
    assert len(beam_tasks) == 4  # ExampleGen, StatisticsGen, Transform, the evaluator
    for name in beam_tasks:
        assert all(option in args[name] for option in beam), name


def test_runtime_parameters_have_defaults(compiled):
    config, component, _ = compiled
    inputs = component.component_spec.inputs
    assert inputs["data-root"].default == "gs://bucket/data"
    assert inputs["serving-root"].default == f"{ROOT}/serving/{config.name}"
    tasks = component.pipeline_spec.root.dag.tasks
    example_gen = tasks["CsvExampleGen"].inputs.parameters["input_base"]
    assert example_gen.component_input_parameter == "data-root"
    pusher = tasks["MultiHeadPusher"].inputs.parameters["serving_dir"]
    assert pusher.component_input_parameter == "serving-root"


def test_config_travels_inside_the_spec(compiled):
    config, component, _ = compiled
    tasks = component.pipeline_spec.root.dag.tasks
    trainer = tasks["MultiHeadTrainer"].inputs.parameters["config"]
    assert trainer.runtime_value.constant.string_value == config.model_spec().to_json()
    transform = tasks["Transform"].inputs.parameters["custom_config"]
    custom = json.loads(transform.runtime_value.constant.string_value)
    assert custom["transform_spec"] == config.transform_spec().to_json()


def test_json_output_is_a_vertex_pipeline_job(tmp_path):
    path = compile_pipeline(load_config(), str(tmp_path / "job.json"), image=IMAGE)
    with open(path) as f:
        job = json.load(f)
    assert job["runtimeConfig"]["parameterValues"]["serving-root"].endswith("/taxi-multihead")
    spec = pipeline_spec_pb2.PipelineSpec()
    json_format.ParseDict(job["pipelineSpec"], spec)
    assert "MultiHeadTrainer" in spec.root.dag.tasks


def test_bad_output_extension(tmp_path):
    with pytest.raises(ValueError, match="must end in .yaml or .json"):
        compile_pipeline(load_config(), str(tmp_path / "p.txt"))


def test_retraining_pipeline_finds_the_served_model_without_resolvers(tmp_path):
    from pipeline.config_file import RETRAIN_CONFIG

    path = compile_pipeline(load_config(RETRAIN_CONFIG), str(tmp_path / "r.yaml"), image=IMAGE)
    spec = kfp.components.load_component_from_file(path).pipeline_spec
    tasks = spec.root.dag.tasks
    assert "ServedModelLookup" in tasks
    assert not any("resolver" in name.lower() for name in tasks)
    # What is served changes between runs with the same inputs: never cached.
    assert not tasks["ServedModelLookup"].caching_options.enable_cache
    assert tasks["MultiHeadTrainer"].caching_options.enable_cache
    lookup = tasks["ServedModelLookup"].inputs.parameters["serving_dir"]
    assert lookup.component_input_parameter == "serving-root"
    for consumer, key in (
        ("MultiHeadTrainer", "base_model"),
        ("MultiHeadEvaluator", "baseline_model"),
        ("MultiHeadPusher", "served_model"),  # a per-head release keeps heads from it
    ):
        source = tasks[consumer].inputs.artifacts[key].task_output_artifact
        assert source.producer_task == "ServedModelLookup"


def test_batch_scoring_runs_after_the_push_and_is_never_cached(tmp_path):
    raw = load_config().model_dump(by_alias=True)
    raw["scoring"] = {"data": "gs://bucket/to-score", "keep": ["trip_id"], "format": "jsonl"}
    config = PipelineConfig.model_validate({**raw, "base_dir": ""})
    path = compile_pipeline(config, str(tmp_path / "s.yaml"), image=IMAGE, pipeline_root=ROOT)
    tasks = kfp.components.load_component_from_file(path).pipeline_spec.root.dag.tasks
    scorer = tasks["BatchScorer"]
    source = scorer.inputs.artifacts["pushed_model"].task_output_artifact
    assert source.producer_task == "MultiHeadPusher"
    assert not scorer.caching_options.enable_cache
    assert scorer.inputs.parameters["serving_dir"].component_input_parameter == "serving-root"
    data = scorer.inputs.parameters["data"].runtime_value.constant
    assert data.string_value == "gs://bucket/to-score"


def test_each_tasks_cpu_and_memory_land_on_its_executor_container(compiled):
    _, component, _ = compiled
    spec = component.pipeline_spec
    executors = spec.deployment_spec["executors"]

    def resources(task: str) -> dict:
        label = spec.components[spec.root.dag.tasks[task].component_ref.name].executor_label
        container = executors[label]["container"]
        return dict(container["resources"]) if "resources" in container else {}

    assert resources("MultiHeadTrainer") == {
        "cpuRequest": 4.0,
        "memoryRequest": 16.0,
        "cpuLimit": 8.0,
        "memoryLimit": 24.0,
    }
    assert resources("CsvExampleGen") == {"cpuRequest": 2.0}  # ExampleGen's own builder too
    assert resources("Transform") == {}  # not asked for: the cluster's defaults


def test_resources_for_a_component_the_pipeline_lacks_are_refused_before_writing(tmp_path):
    raw = load_config().model_dump(by_alias=True)
    raw["kubeflow"] = {"resources": {"Trainer": {"cpu": 4}}}
    config = PipelineConfig.model_validate({**raw, "base_dir": ""})
    output = tmp_path / "p.yaml"
    with pytest.raises(ConfigError, match=r"kubeflow.resources names \['Trainer'\], which this"):
        compile_pipeline(config, str(output), image=IMAGE, pipeline_root=ROOT)
    assert not output.exists()


@pytest.mark.parametrize(
    ("asked", "message"),
    [
        ({"cpu": 8, "cpu_limit": 4}, "cpu 8 is more than cpu_limit 4"),
        ({}, "give at least one of cpu, memory, cpu_limit, memory_limit"),
        ({"memory": -1}, "memory: Input should be greater than 0"),
        ({"gpus": 1}, "gpus: Extra inputs are not permitted"),
    ],
)
def test_a_bad_resource_request_is_named_when_the_config_loads(asked, message):
    from tests.test_config import BASE, error_of

    assert message in error_of({**BASE, "kubeflow": {"resources": {"Transform": asked}}})
