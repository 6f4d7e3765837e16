"""The pipeline graph, knowing no runner."""

from __future__ import annotations

import hashlib
import pathlib

# Not `tfx.v1`: it imports Google Cloud's AI Platform client too (6 s a
# process, docs/benchmarks.md, benchmark 14), which no component here uses.
from tfx.components import ExampleValidator, SchemaGen, StatisticsGen, Transform
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.orchestration.pipeline import Pipeline
from tfx.proto import example_gen_pb2

from components.constants import (
    CARVE_KEY,
    CODE_FINGERPRINT_KEY,
    FLOAT_COLUMNS_KEY,
    MISSING_VALUES_KEY,
)
from components.evaluator.component import MultiHeadEvaluator
from components.example_gen.component import CsvExampleGen
from components.pusher.component import MultiHeadPusher
from components.scoring.component import BatchScorer
from components.served_model.component import ServedModelLookup
from components.trainer.component import MultiHeadTrainer
from pipeline.config import PipelineConfig
from trainer_module.derived import resolve_function
from trainer_module.preprocessing import SPEC_KEY
from trainer_module.training_spec import TRAIN_SPLIT, VALIDATION_SPLIT

CSV_PATTERN = "*.csv"
PREPROCESSING_FN = "trainer_module.preprocessing.preprocessing_fn"
# What the components run: neither imports pipeline/, so nothing else counts.
_CODE_PATHS = ("trainer_module", "components")


def code_fingerprint(config: PipelineConfig) -> str:
    """Hash of the code the components run, plus the derived-column modules.

    Components are given dotted paths (so an installed package works on
    Kubeflow), and TFX then cannot see a code change; this hash, passed as a
    property, makes a change invalidate the cache.
    """
    root = pathlib.Path(__file__).resolve().parent.parent
    files = []
    for name in _CODE_PATHS:
        path = root / name
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    for column in config.derived:
        module = resolve_function(column.function).__module__
        source = getattr(__import__(module, fromlist=["_"]), "__file__", None)
        if source:
            files.append(pathlib.Path(source))
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.name).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _validation_carve(config: PipelineConfig) -> dict:
    """With early stopping, ExampleGen carves its validation split out of the
    training rows (TFX's default 2:1 hash split stays as it is, so the eval
    split keeps its rows); Transform analyses the training split only, and
    the trainer transforms the rows it reads."""
    stopping = config.training.early_stopping
    if stopping is None:
        return {}
    return {
        CARVE_KEY: {
            "split": VALIDATION_SPLIT,
            "from": TRAIN_SPLIT,
            "fraction": stopping.validation_fraction,
        }
    }


def create_pipeline(
    config: PipelineConfig,
    data_dir: str,
    pipeline_root: str,
    serving_base: str,
    metadata_connection_config=None,
    enable_cache: bool = True,
    served_state: str | None = None,
    scoring_state: str | None = None,
) -> Pipeline:
    """CsvExampleGen -> statistics, schema, validation -> Transform ->
    MultiHeadTrainer -> MultiHeadEvaluator -> MultiHeadPusher.

    With `baseline` on in the config, ServedModelLookup finds the model under
    `serving_base` for the trainer's warm start and the evaluator's
    comparison; `served_state` (what a local runner saw there) keys its cache.
    With `scoring` in the config, BatchScorer scores its data folder after
    the push; `scoring_state` (that folder's files and what is served) keys
    its cache.
    """
    fingerprint = code_fingerprint(config)
    example_gen = CsvExampleGen(
        input_base=data_dir,
        input_config=example_gen_pb2.Input(
            splits=[example_gen_pb2.Input.Split(name="single_split", pattern=CSV_PATTERN)]
        ),
        custom_config={
            FLOAT_COLUMNS_KEY: sorted(config.float_columns()),
            MISSING_VALUES_KEY: list(config.missing_values),
            **_validation_carve(config),
        },
    )
    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"])
    if config.schema_path:
        # A curated schema: the data is validated against it, not inferred.
        schema_gen = ImportSchemaGen(schema_file=config.schema_path)
    else:
        # No inferred shapes: a column without a gap in this span would
        # otherwise become a FixedLen (required) input of every signature,
        # though the transform fills it when missing.
        schema_gen = SchemaGen(
            statistics=statistics_gen.outputs["statistics"], infer_feature_shape=False
        )
    example_validator = ExampleValidator(
        statistics=statistics_gen.outputs["statistics"],
        schema=schema_gen.outputs["schema"],
    )
    transform = Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN,
        # StatisticsGen already describes the raw data; pre/post-transform
        # statistics would be a third and fourth pass over it.
        disable_statistics=True,
        # Trace the preprocessing function as a TF1 graph: same outputs, a
        # faster Transform and a cheaper transform_features call in the
        # evaluator (docs/benchmarks.md). The trainer and the export read it
        # through TFTransformOutput, which takes either form.
        force_tf_compat_v1=True,
        # No component reads an analyzer cache back: writing one cost 4 s a run.
        disable_analyzer_cache=True,
        # The trainer transforms the raw rows it reads (trainer_module/data.py):
        # writing every row transformed was a second Beam pass over the data,
        # about 40% of Transform's time (docs/benchmarks.md, benchmark 5).
        materialize=False,
        custom_config={
            SPEC_KEY: config.transform_spec().to_json(),
            CODE_FINGERPRINT_KEY: fingerprint,
        },
    )
    lookup = None
    if config.baseline.enabled:
        lookup = ServedModelLookup(serving_dir=serving_base, served_state=served_state)
    served = lookup.outputs["model"] if lookup is not None else None
    trainer = MultiHeadTrainer(
        examples=example_gen.outputs["examples"],
        transform_graph=transform.outputs["transform_graph"],
        anomalies=example_validator.outputs["anomalies"],
        model_spec=config.model_spec(),
        code_fingerprint=fingerprint,
        base_model=served if config.baseline.warm_start else None,
    )
    evaluator = MultiHeadEvaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        evaluation_spec=config.evaluation_spec(),
        baseline_model=served,
    )
    pusher = MultiHeadPusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        serving_dir=serving_base,
        allow_signature_change=config.push.allow_signature_change,
        # A per-head release keeps failing heads from the served model.
        served_model=served if config.push.release == "per_head" else None,
    )
    scorer = None
    if config.scoring is not None:
        scorer = BatchScorer(
            pushed_model=pusher.outputs["pushed_model"],
            data=config.scoring_dir,
            serving_dir=serving_base,
            keep=config.scoring.keep,
            heads=config.scoring.heads,
            output_format=config.scoring.format,
            state=scoring_state,
        )
    return Pipeline(
        pipeline_name=config.name,
        pipeline_root=pipeline_root,
        components=[
            example_gen,
            statistics_gen,
            schema_gen,
            example_validator,
            transform,
            *([lookup] if lookup is not None else []),
            trainer,
            evaluator,
            pusher,
            *([scorer] if scorer is not None else []),
        ],
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=config.beam_args(),
    )
