"""Replays a compiled KFP v2 pipeline locally, task by task, as a launcher would.

A test tool, not an orchestrator: for every task of the PipelineSpec, in
dependency order, it builds the ExecutorInput from the IR (parameters from
constants and pipeline parameters, input artifacts from the upstream tasks'
outputs under a local pipeline root), runs the task's container command and
arguments from the IR in a subprocess (the TFX v2 container entry point,
with the ExampleGen driver first where the IR has one), and reads the
ExecutorOutput the task wrote. This exercises the entry points, class paths
and serialized properties exactly as a cluster would, minus the container.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

PLACEHOLDER = "{{$}}"
OUTPUT_FILE = "executor_output.json"


@dataclasses.dataclass
class TaskRun:
    name: str
    seconds: float
    outputs: dict[str, pipeline_spec_pb2.RuntimeArtifact]


class TaskFailed(RuntimeError):
    """A task's container command exited non-zero."""


def load_spec(path: str) -> pipeline_spec_pb2.PipelineSpec:
    with open(path) as f:
        return json_format.ParseDict(yaml.safe_load(f), pipeline_spec_pb2.PipelineSpec())


def task_order(spec: pipeline_spec_pb2.PipelineSpec) -> list[str]:
    """Tasks of the root DAG, every task after the tasks it depends on."""
    tasks = spec.root.dag.tasks
    order: list[str] = []
    pending = dict(sorted((name, set(task.dependent_tasks)) for name, task in tasks.items()))
    while pending:
        ready = [name for name, deps in pending.items() if deps <= set(order)]
        if not ready:
            raise ValueError(f"dependency cycle among {sorted(pending)}")
        order.append(ready[0])
        del pending[ready[0]]
    return order


def pipeline_parameters(spec: pipeline_spec_pb2.PipelineSpec, overrides: dict[str, str]) -> dict:
    values = {}
    for name, definition in spec.root.input_definitions.parameters.items():
        if definition.HasField("default_value"):
            values[name] = definition.default_value
    for name, value in overrides.items():
        if name not in spec.root.input_definitions.parameters:
            raise KeyError(f"pipeline has no parameter {name!r}")
        values[name] = json_format.ParseDict(
            value, pipeline_spec_pb2.ValueOrRuntimeParameter().constant
        )
    return values


def executor_input(
    spec: pipeline_spec_pb2.PipelineSpec,
    name: str,
    parameters: dict,
    produced: dict[str, dict[str, pipeline_spec_pb2.RuntimeArtifact]],
    task_root: str,
) -> pipeline_spec_pb2.ExecutorInput:
    task = spec.root.dag.tasks[name]
    component = spec.components[task.component_ref.name]
    result = pipeline_spec_pb2.ExecutorInput()
    for key, parameter in task.inputs.parameters.items():
        if parameter.HasField("runtime_value"):
            value = parameter.runtime_value.constant
        else:
            value = parameters[parameter.component_input_parameter]
        result.inputs.parameter_values[key].CopyFrom(value)
    for key, artifact in task.inputs.artifacts.items():
        source = artifact.task_output_artifact
        upstream = produced[source.producer_task][source.output_artifact_key]
        added = result.inputs.artifacts[key].artifacts.add()
        added.CopyFrom(upstream)
        # As a launcher does: the type is the one the consumer declares.
        added.type.CopyFrom(component.input_definitions.artifacts[key].artifact_type)
    for key, definition in component.output_definitions.artifacts.items():
        artifact = result.outputs.artifacts[key].artifacts.add()
        artifact.name = f"replay/{name}/{key}"
        artifact.uri = os.path.join(task_root, key)
        artifact.type.CopyFrom(definition.artifact_type)
    result.outputs.output_file = os.path.join(task_root, OUTPUT_FILE)
    return result


def _command(container: dict, invocation: str) -> list[str]:
    command = list(container.get("command", [])) + list(container.get("args", []))
    command = [invocation if part == PLACEHOLDER else part for part in command]
    if command and command[0] == "python":
        command[0] = sys.executable  # the image's interpreter is this one here
    return command


def _run(command: list[str], name: str, log_path: str, env: dict) -> None:
    with open(log_path, "a") as log:
        result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    if result.returncode != 0:
        with open(log_path) as f:
            tail = "".join(f.readlines()[-25:])
        raise TaskFailed(
            f"task {name} exited {result.returncode}; last lines of {log_path}:\n{tail}"
        )


def replay(
    spec_path: str,
    pipeline_root: str,
    parameters: dict[str, str] | None = None,
    on_task: Callable[[TaskRun], None] | None = None,
) -> dict[str, TaskRun]:
    """Runs every task of the compiled pipeline; returns each task's run."""
    spec = load_spec(spec_path)
    values = pipeline_parameters(spec, parameters or {})
    executors = json_format.MessageToDict(spec.deployment_spec)["executors"]
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    produced: dict[str, dict[str, pipeline_spec_pb2.RuntimeArtifact]] = {}
    runs: dict[str, TaskRun] = {}
    for name in task_order(spec):
        started = time.monotonic()
        task_root = os.path.join(pipeline_root, name)
        os.makedirs(task_root, exist_ok=True)
        invocation = executor_input(spec, name, values, produced, task_root)
        as_json = json_format.MessageToJson(invocation)
        container = executors[
            spec.components[spec.root.dag.tasks[name].component_ref.name].executor_label
        ]["container"]
        log_path = os.path.join(task_root, "task.log")
        pre_cache_check = container.get("lifecycle", {}).get("preCacheCheck")
        if pre_cache_check:
            _run(_command(pre_cache_check, as_json), f"{name} (driver)", log_path, env)
        _run(_command(container, as_json), name, log_path, env)
        with open(invocation.outputs.output_file) as f:
            output = json_format.Parse(
                f.read(), pipeline_spec_pb2.ExecutorOutput(), ignore_unknown_fields=True
            )
        outputs = {}
        for key, artifacts in invocation.outputs.artifacts.items():
            artifact = artifacts.artifacts[0]
            if key in output.artifacts and output.artifacts[key].artifacts:
                artifact = output.artifacts[key].artifacts[0]
            outputs[key] = artifact
        produced[name] = outputs
        runs[name] = TaskRun(name, time.monotonic() - started, outputs)
        if on_task:
            on_task(runs[name])
    return runs


def metadata(artifact: pipeline_spec_pb2.RuntimeArtifact) -> dict:
    """An output artifact's metadata (TFX custom properties) as a dict."""
    return json.loads(json_format.MessageToJson(artifact.metadata))


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", help="compiled PipelineSpec YAML")
    parser.add_argument("--pipeline-root", required=True)
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args(argv)
    params = dict(pair.split("=", 1) for pair in args.param)
    replay(
        args.spec,
        args.pipeline_root,
        params,
        on_task=lambda run: print(f"[{run.name}] done in {run.seconds:.1f}s", flush=True),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
