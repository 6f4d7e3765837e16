"""What the MultiHeadTrainer executor runs: data, model, training, export."""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tensorflow as tf  # noqa: E402
import tensorflow_transform as tft  # noqa: E402
import tf_keras  # noqa: E402
from absl import logging  # noqa: E402

from pipeline.config import PipelineConfig  # noqa: E402
from trainer_module import data, export  # noqa: E402
from trainer_module.model import InputColumn, MultiHeadModel, build_model  # noqa: E402
from trainer_module.training import MultiHeadTrainer, StepResult  # noqa: E402
from trainer_module.warm_start import warm_start  # noqa: E402

SCAN_BATCH = 4096


@dataclasses.dataclass
class TrainerArgs:
    config: PipelineConfig
    examples_uri: str  # transformed examples (Split-train, Split-eval)
    transform_graph_uri: str
    serving_model_dir: str
    model_run_dir: str
    base_model_dir: str | None = None  # served model to warm-start from


def input_columns(config: PipelineConfig, tft_output: tft.TFTransformOutput) -> list[InputColumn]:
    columns = []
    for feature in config.features:
        if feature.type == "numeric":
            columns.append(InputColumn(feature.name))
        elif feature.type == "bucketized":
            columns.append(InputColumn(feature.name, feature.num_buckets))
        elif feature.hash_buckets:
            columns.append(InputColumn(feature.name, feature.hash_buckets))
        else:
            size = tft_output.num_buckets_for_transformed_feature(feature.name)
            columns.append(InputColumn(feature.name, int(size)))
    return columns


def set_label_scales(model: MultiHeadModel, stats: dict[str, data.LabelStats]) -> None:
    for name, layer in model.scales.items():
        layer.shift.assign(stats[name].mean)
        layer.scale.assign(stats[name].std)


def seed_everything(seed: int) -> None:
    tf_keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def run_fn(args: TrainerArgs) -> dict[str, Any]:
    """Trains every head, exports the SavedModel; returns a small report."""
    config = args.config
    seed_everything(config.training.seed)
    tft_output = tft.TFTransformOutput(args.transform_graph_uri)
    spec = tft_output.transformed_feature_spec()
    train_files = data.split_files(args.examples_uri, "train")
    eval_files = data.split_files(args.examples_uri, "eval")

    scan = data.make_dataset(train_files, spec, config, SCAN_BATCH, shuffle=False, repeat=False)
    stats = data.scan_labels(scan, config.heads)
    data.check_labels(stats, config.heads, "train")
    for head in config.heads:
        s = stats[head.name]
        logging.info(
            "head %s: %d/%d labelled rows, mean %.4g, std %.4g",
            head.name,
            s.present,
            s.rows,
            s.mean,
            s.std,
        )

    model = build_model(config, input_columns(config, tft_output))
    set_label_scales(model, stats)
    warm = None
    if args.base_model_dir:
        warm = warm_start(model, args.base_model_dir)
        logging.info("warm start: from %s: %s", args.base_model_dir, warm.as_dict())
    trainer = MultiHeadTrainer(model, config)
    training = config.training
    train_batches = iter(
        data.make_dataset(
            train_files,
            spec,
            config,
            training.batch_size,
            shuffle=True,
            repeat=True,
            seed=training.seed,
        )
    )
    writers = {
        h.name: tf.summary.create_file_writer(os.path.join(args.model_run_dir, h.name))
        for h in config.heads
    }

    def on_log(result: StepResult) -> None:
        for name, value in result.losses.items():
            with writers[name].as_default(step=result.step):
                tf.summary.scalar("loss/train", value)
        shown = " ".join(f"{k}={v:.4g}" for k, v in result.losses.items())
        logging.info("step %d/%d %s", result.step, training.steps, shown)

    started = time.monotonic()
    final = trainer.fit(train_batches, training.steps, on_log=on_log, log_every=training.log_every)
    fit_seconds = time.monotonic() - started
    eval_batches = iter(
        data.make_dataset(
            eval_files, spec, config, training.batch_size, shuffle=False, repeat=False
        )
    )
    eval_losses = trainer.evaluate(eval_batches, training.eval_batches)
    for name, value in eval_losses.items():
        with writers[name].as_default(step=final.step):
            tf.summary.scalar("loss/eval", value)
        writers[name].flush()
    logging.info("eval losses: %s (fit %.1fs)", eval_losses, fit_seconds)

    export.export(model, tft_output, config, args.serving_model_dir)
    return {
        "steps": final.step,
        "fit_seconds": fit_seconds,
        "train_loss": final.losses,
        "eval_loss": eval_losses,
        "warm_start": warm.as_dict() if warm else None,
        "labels": {
            k: {"rows": v.rows, "missing": v.missing, "mean": v.mean, "std": v.std}
            for k, v in stats.items()
        },
    }
