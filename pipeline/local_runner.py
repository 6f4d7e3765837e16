"""Runs the pipeline with LocalDagRunner (Beam DirectRunner, sqlite MLMD)."""

from __future__ import annotations

import os

from tfx import v1 as tfx

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
    serving = serving_dir(home, config.name)
    pipeline = create_pipeline(
        config,
        data_dir=os.path.abspath(data_dir),
        pipeline_root=os.path.join(home, "pipelines", config.name),
        serving_base=serving,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            metadata_path(home)
        ),
        enable_cache=enable_cache,
        served_state=served_state(serving) if config.baseline.enabled else None,
        scoring_state=scoring_state(config.scoring_dir, serving) if config.scoring else None,
    )
    tfx.orchestration.LocalDagRunner().run(pipeline)
