"""What the MultiHeadTrainer executor runs: data, model, training, export."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras
from absl import logging

from trainer_module import data, distribute, export
from trainer_module.model import InputColumn, MultiHeadModel, build_model
from trainer_module.spec import ModelSpec
from trainer_module.stopping import EarlyStopper
from trainer_module.training import StepResult, TrainingLoop
from trainer_module.training_spec import EVAL_SPLIT, TRAIN_SPLIT
from trainer_module.validation import Curves, Validation, validation_set
from trainer_module.warm_start import warm_start

SCAN_BATCH = 4096


@dataclasses.dataclass
class TrainerArgs:
    spec: ModelSpec
    examples_uri: str  # raw examples (Split-train, Split-eval, Split-validation)
    transform_graph_uri: str
    serving_model_dir: str
    model_run_dir: str
    base_model_dir: str | None = None  # served model to warm-start from


def input_columns(spec: ModelSpec, tft_output: tft.TFTransformOutput) -> list[InputColumn]:
    columns = []
    for feature in spec.features:
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
    spec = args.spec
    training = spec.training
    # First: a multi-worker strategy configures collective ops, which
    # TensorFlow allows only before it runs any op.
    strategy = distribute.make_strategy(training.distribute)
    seed_everything(training.seed)
    tft_output = tft.TFTransformOutput(args.transform_graph_uri)
    decode = data.transforming_decoder(tft_output)
    train_files = data.split_files(args.examples_uri, TRAIN_SPLIT)
    eval_files = data.split_files(args.examples_uri, EVAL_SPLIT)

    scan = data.make_dataset(train_files, decode, spec, SCAN_BATCH, shuffle=False, repeat=False)
    stats = data.scan_labels(scan, spec.heads)
    data.check_labels(stats, spec.heads, "train")
    for head in spec.heads:
        s = stats[head.name]
        logging.info(
            "head %s: %d/%d labelled rows, mean %.4g, std %.4g",
            head.name,
            s.present,
            s.rows,
            s.mean,
            s.std,
        )

    with distribute.scope(strategy):
        model = build_model(spec, input_columns(spec, tft_output))
        set_label_scales(model, stats)
        warm = None
        if args.base_model_dir:
            warm = warm_start(model, args.base_model_dir)
            logging.info("warm start: from %s: %s", args.base_model_dir, warm.as_dict())
        loop = TrainingLoop(model, spec, strategy)
    if strategy is not None:
        logging.info(
            "distribute: %s, %d replica(s) on %d worker(s), this one the chief: %s",
            training.distribute,
            strategy.num_replicas_in_sync,
            distribute.workers(strategy),
            distribute.is_chief(strategy),
        )
    validation = validation_set(spec, decode, args.examples_uri)
    logging.info("validation: %s", validation.source)
    train_batches = distribute.batches(
        strategy,
        data.make_dataset(
            train_files,
            decode,
            spec,
            training.batch_size,
            shuffle=True,
            repeat=True,
            seed=training.seed,
        ),
        files=len(train_files),
    )
    eval_batches = data.make_dataset(
        eval_files, decode, spec, training.batch_size, shuffle=False, repeat=False
    )
    with distribute.output_folder(strategy, args.model_run_dir) as curves_folder:
        fitted = _fit(loop, spec, train_batches, validation, eval_batches, curves_folder)
    with distribute.output_folder(strategy, args.serving_model_dir) as model_folder:
        export.export(model, tft_output, spec, model_folder)
    return {
        **fitted,
        "validation": validation.as_dict(),
        "frozen": spec.frozen,
        "warm_start": warm.as_dict() if warm else None,
        "distribute": {
            "strategy": training.distribute,
            "replicas": strategy.num_replicas_in_sync if strategy else 1,
            "workers": distribute.workers(strategy),
            # Only the chief wrote the model and the curves.
            "chief": distribute.is_chief(strategy),
        },
        "labels": {
            k: {"rows": v.rows, "missing": v.missing, "mean": v.mean, "std": v.std}
            for k, v in stats.items()
        },
    }


def _fit(
    loop: TrainingLoop,
    spec: ModelSpec,
    train_batches,
    validation: Validation,
    eval_batches: tf.data.Dataset,
    curves_folder: str,
) -> dict[str, Any]:
    """Runs the training loop with its early stopping and curves; returns
    what the report says of it."""
    training = spec.training
    stopping = training.early_stopping
    curves = Curves(loop.trained, curves_folder)
    stopper = None
    if stopping is not None:
        rules = {name: spec.stopping_rule(name) for name in loop.trained}
        stopper = EarlyStopper(
            {name: rule for name, rule in rules.items() if rule}, loop.model.head_variables
        )

    def on_log(result: StepResult) -> None:
        curves.add("train", result.step, result.window)
        if stopper is None:
            measured = loop.evaluate(iter(validation.batches), len(validation.batches))
            curves.add("validation", result.step, measured)
        shown = " ".join(f"{k}={v:.4g}" for k, v in result.window.items())
        logging.info("step %d/%d train %s", result.step, training.steps, shown)

    def on_check(step: int, losses: dict[str, float], stopped: list[str]) -> None:
        curves.add("validation", step, losses)
        for name in stopped:
            state = stopper.states[name]
            logging.info(
                "head %s stops at step %d: best validation %s %.4g at step %d",
                name,
                step,
                state.rule.monitor,
                state.best,
                state.best_step,
            )

    if spec.frozen:
        logging.info("frozen (not trained, served from the served model): %s", spec.frozen)
    started = time.monotonic()
    final = loop.fit(
        train_batches,
        training.steps,
        on_log=on_log,
        log_every=training.log_every,
        stopper=stopper,
        validation=validation.batches,
        check_every=stopping.every if stopping else training.steps,
        on_check=on_check,
    )
    fit_seconds = time.monotonic() - started
    eval_losses = loop.evaluate(iter(eval_batches), training.eval_batches)
    curves.add_eval(final.step, eval_losses)
    curves.flush()
    logging.info("eval losses: %s (fit %.1fs)", eval_losses, fit_seconds)
    return {
        "steps": final.step,
        "fit_seconds": fit_seconds,
        "train_loss": final.window,  # mean over the last log_every steps
        "eval_loss": {k: v for k, v in eval_losses.items() if k in loop.trained},
        # Train: mean loss since the previous log step; validation: at every
        # early-stopping check (else every log step) on `validation`.
        "curves": curves.points,
        "early_stopping": stopper.report() if stopper else None,
    }
