"""Runs the pipeline with LocalDagRunner (Beam DirectRunner, sqlite MLMD)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from tfx.orchestration import metadata
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
from tfx.utils import dependency_utils

from components.beam_costs import lighten_beam
from components.scoring.executor import scoring_state
from components.served_model.executor import served_state
from components.serving import serving_dir
from pipeline.config import PipelineConfig
from pipeline.pipeline import create_pipeline


def metadata_path(home: str) -> str:
    return os.path.join(home, "metadata.sqlite")


def run_local(config: PipelineConfig, data_dir: str, home: str, enable_cache: bool = True) -> None:
    """One pipeline run under `home` (metadata, artifacts, serving)."""
    home = os.path.abspath(home)
    lighten_beam()
    serving = serving_dir(home, config.name)
    pipeline = create_pipeline(
        config,
        data_dir=os.path.abspath(data_dir),
        pipeline_root=os.path.join(home, "pipelines", config.name),
        serving_base=serving,
        metadata_connection_config=metadata.sqlite_metadata_connection_config(metadata_path(home)),
        enable_cache=enable_cache,
        served_state=served_state(serving) if config.baseline.enabled else None,
        scoring_state=scoring_state(config.scoring_dir, serving) if config.scoring else None,
    )
    with _no_tfx_package_for_local_workers(config.beam_args()):
        LocalDagRunner().run(pipeline)


@contextlib.contextmanager
def _no_tfx_package_for_local_workers(beam_args: list[str]) -> Iterator[None]:
    """Given any Beam option, TFX packs its own installation into an sdist
    for remote workers to install (about 6 s per Beam component on 2 cores).
    The DirectRunner's workers, in this process or in processes of this
    machine (runner multiprocess), import what is installed here and never
    install it: for them the build is skipped. Any other runner gets it."""
    runner = PipelineOptions(beam_args).view_as(StandardOptions).runner
    if runner not in (None, "DirectRunner"):
        yield
        return
    build = dependency_utils.make_beam_dependency_flags
    dependency_utils.make_beam_dependency_flags = list
    try:
        yield
    finally:
        dependency_utils.make_beam_dependency_flags = build
