"""Compiles the pipeline for Kubeflow Pipelines (KFP v2 IR) or Vertex AI."""

from __future__ import annotations

import json
import os

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx import v1 as tfx
from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

from components.serving import serving_dir
from kubeflow.settings import (
    DATA_ROOT_PARAMETER,
    DEFAULT_IMAGE,
    DEFAULT_PIPELINE_ROOT,
    SERVING_ROOT_PARAMETER,
)
from pipeline.config import PipelineConfig
from pipeline.errors import ConfigError
from pipeline.pipeline import create_pipeline
from pipeline.resources import Resources

FORMATS = ("yaml", "json")
LOOKUP_TASK = "ServedModelLookup"
SCORER_TASK = "BatchScorer"


def compile_pipeline(
    config: PipelineConfig,
    output: str,
    image: str = DEFAULT_IMAGE,
    pipeline_root: str = DEFAULT_PIPELINE_ROOT,
    data_root: str | None = None,
    serving_root: str | None = None,
) -> str:
    """Writes the compiled pipeline to `output` and returns its path.

    `.yaml` gives a PipelineSpec (schema 2.1.0) for open-source KFP; `.json`
    a Vertex AI PipelineJob. The data folder and the serving folder are
    runtime parameters (`data-root`, `serving-root`), so one compiled file
    serves any data and any serving location; the config travels inside the
    component properties, the code inside the image.
    """
    extension = os.path.splitext(output)[1].lstrip(".")
    if extension not in FORMATS:
        raise ValueError(f"output must end in .yaml or .json, got {output!r}")
    data = tfx.dsl.experimental.RuntimeParameter(
        name=DATA_ROOT_PARAMETER, ptype=str, default=data_root or config.data_dir
    )
    serving = tfx.dsl.experimental.RuntimeParameter(
        name=SERVING_ROOT_PARAMETER,
        ptype=str,
        default=serving_root or serving_dir(pipeline_root, config.name),
    )
    pipeline = create_pipeline(
        config, data_dir=data, pipeline_root=pipeline_root, serving_base=serving
    )
    runner_config = kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
        default_image=image, use_pipeline_spec_2_1=extension == "yaml"
    )
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=runner_config,
        output_dir=os.path.dirname(os.path.abspath(output)),
        output_filename=os.path.basename(output),
    )
    resources = config.kubeflow.resources
    unknown = sorted(set(resources) - {component.id for component in pipeline.components})
    if unknown:
        raise ConfigError(
            f"kubeflow.resources names {unknown}, which this pipeline does not have; its "
            f"components are {[component.id for component in pipeline.components]}"
        )
    runner.run(pipeline, write_out=True)
    defaults = {DATA_ROOT_PARAMETER: data.default, SERVING_ROOT_PARAMETER: serving.default}
    _finish(output, defaults, resources)
    return output


def _finish(path: str, defaults: dict[str, str], resources: dict[str, Resources]) -> None:
    """Writes the runtime parameters' defaults into the compiled file, turns
    caching off for the served-model lookup and the scorer, and sets each
    task's resources.

    TFX leaves the defaults out of the PipelineSpec, so a KFP run of the YAML
    would have to pass every one; a Vertex PipelineJob also gets them in its
    runtime config. Resources go on the task's executor container, for every
    task alike (TFX's own `with_platform_config` skips ExampleGen's).
    """
    with open(path) as f:
        document = yaml.safe_load(f)  # JSON is YAML too
    is_job = "pipelineSpec" in document
    spec = pipeline_spec_pb2.PipelineSpec()
    json_format.ParseDict(document["pipelineSpec"] if is_job else document, spec)
    for name in (LOOKUP_TASK, SCORER_TASK):
        task = spec.root.dag.tasks.get(name)
        if task is not None:
            # What is served (and the rows to score) change between runs
            # with the same inputs: never cache.
            task.caching_options.enable_cache = False
    parameters = spec.root.input_definitions.parameters
    for name, value in defaults.items():
        parameters[name].default_value.string_value = value
        parameters[name].is_optional = True
    as_dict = json_format.MessageToDict(spec)
    for name, asked in resources.items():
        component = as_dict["root"]["dag"]["tasks"][name]["componentRef"]["name"]
        executor = as_dict["components"][component]["executorLabel"]
        container = as_dict["deploymentSpec"]["executors"][executor]["container"]
        container.setdefault("resources", {}).update(asked.ir_fields())
    with open(path, "w") as f:
        if is_job:
            document["pipelineSpec"] = as_dict
            document["runtimeConfig"].setdefault("parameterValues", {}).update(defaults)
            json.dump(document, f, indent=2, sort_keys=True)
        else:
            yaml.safe_dump(as_dict, f, sort_keys=True)
