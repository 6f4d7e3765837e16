"""Benchmark 4, training cost: time per example of the disjoint three-head fit,
vs joint training, vs a stock Keras `fit` of ONE single-head model on the
same data and input pipeline.

    python -m bench.training [--steps 600] [--rounds 3] [--smoke]

The three are timed in turns (round-robin, after a warm-up that absorbs
tracing), and the median of each is compared: ratios measured side by side.
Targets: disjoint <= 1.10x joint, <= 1.3x one single-head model; with
per-head early stopping (its validation checks included) <= 1.10x the time
per step of the disjoint loop without.
"""

from __future__ import annotations

import argparse
import dataclasses

import tf_keras

from bench.common import BENCH_HOME, DEFAULT_CONFIG, Timer, machine, median, prepare, result, save
from bench.models import Workbench, variant
from trainer_module.stopping import EarlyStopper
from trainer_module.training import TrainingLoop, masked_loss

WARMUP = 50


def stock_keras_fit(bench: Workbench, head_name: str):
    """A compiled Keras model of one head, trained with model.fit."""
    config = variant(bench.prep.config, heads=[head_name])
    head = config.head(head_name)
    model = bench.model(config)

    class SingleHead(tf_keras.Model):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def call(self, features, training=False):
            return self.inner(features, training=training)[head_name]

    keras_model = SingleHead(model)

    def loss(y_true, y_pred):
        return masked_loss(head, y_true, tf_ones_like(y_true), y_pred)

    keras_model.compile(optimizer=tf_keras.optimizers.Adam(head.optimizer.learning_rate), loss=loss)
    # The same input pipeline, mapped to (features, label) in tf.data.
    dataset = bench.dataset(config, config.training.seed).map(
        lambda features, labels, weights: (features, labels[head_name])
    )
    return keras_model, dataset


def tf_ones_like(x):
    import tensorflow as tf

    return tf.ones_like(x)


def run(home: str, steps: int, rounds: int, config_path: str = DEFAULT_CONFIG) -> dict:
    bench = Workbench(prepare(home, config_path))
    config = bench.prep.config
    batch = config.training.batch_size
    disjoint_cfg = variant(config)
    joint_cfg = variant(config, mode="joint")
    trainers = {
        "disjoint": (TrainingLoop(bench.model(disjoint_cfg), disjoint_cfg), disjoint_cfg),
        "joint": (TrainingLoop(bench.model(joint_cfg), joint_cfg), joint_cfg),
    }
    iterators = {name: bench.batches(cfg, 1) for name, (_, cfg) in trainers.items()}
    # Disjoint with the config's early stopping, measured as it runs: the
    # training batches without the validation slice, a check of every head
    # every `every` steps; a patience no head reaches, so all train throughout.
    stopping = config.training.early_stopping
    stopping_model = bench.model(disjoint_cfg)
    trainers["early_stopping"] = (TrainingLoop(stopping_model, disjoint_cfg), disjoint_cfg)
    validation, iterators["early_stopping"], _ = bench.stopping(disjoint_cfg, stopping_model)
    single_model, single_data = stock_keras_fit(bench, "fare")
    single_iter = iter(single_data.repeat())

    def fit_ours(name: str, count: int) -> float:
        trainer, _ = trainers[name]
        checks = {}
        if name == "early_stopping":
            # The config's monitors (a metric costs its computation), a
            # patience never reached.
            never = {
                h.name: dataclasses.replace(config.stopping_rule(h.name), patience=10**9)
                for h in config.heads
            }
            checks = {
                "stopper": EarlyStopper(never, stopping_model.head_variables),
                "validation": validation.batches,
                "check_every": stopping.every,
            }
        with Timer() as timer:
            trainer.fit(iterators[name], count, **checks)
        return timer.seconds

    def fit_single(count: int) -> float:
        with Timer() as timer:
            single_model.fit(single_iter, steps_per_epoch=count, epochs=1, verbose=0)
        return timer.seconds

    for name in trainers:
        fit_ours(name, WARMUP)
    fit_single(WARMUP)
    times: dict[str, list[float]] = {name: [] for name in [*trainers, "single"]}
    for _ in range(rounds):
        for name in trainers:
            times[name].append(fit_ours(name, steps))
        times["single"].append(fit_single(steps))
    per_example = {k: median(v) / (steps * batch) * 1e6 for k, v in times.items()}
    print(f"\ntraining cost, {steps} steps of batch {batch}, {rounds} rounds, {machine()}")
    for name, micros in per_example.items():
        print(f"  {name:<9} {micros:8.2f} us/example (median of {times[name]})")
    vs_joint = per_example["disjoint"] / per_example["joint"]
    vs_single = per_example["disjoint"] / per_example["single"]
    with_stopping = per_example["early_stopping"] / per_example["disjoint"]
    lines = [
        result("training", "disjoint_vs_joint", vs_joint, "<=1.10", vs_joint <= 1.10),
        result(
            "training",
            "early_stopping_vs_disjoint_per_step",
            with_stopping,
            "<=1.10",
            with_stopping <= 1.10,
        ),
        result("training", "disjoint_vs_one_single_head_fit", vs_single, "<=1.3", vs_single <= 1.3),
    ]
    return {"figures": {"us_per_example": per_example}, "results": lines}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default=BENCH_HOME)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="20 steps, 1 round")
    args = parser.parse_args(argv)
    steps, rounds = (20, 1) if args.smoke else (args.steps, args.rounds)
    save("training", run(args.home, steps, rounds), args.smoke)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
