"""One worker of a tf.distribute test (tests/test_distribute.py), run as
`python -m tests.distributed_worker MODE ...` with TF_CONFIG naming the
cluster (without it: one process, no strategy, the reference).

    loop OUT               trains the small spec's heads (disjoint; and on a
                           shared backbone) 20 steps on fixed batches, saves
                           every variable and each optimizer's step count
    trainer SPEC IN OUT    runs the MultiHeadTrainer executor on the
                           artifacts under IN (tests/artifacts.py), writing
                           under OUT, with the ModelSpec in file SPEC
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import tensorflow as tf

from tests.conftest import small_spec
from tests.test_training import COLUMNS, batch, with_heads
from trainer_module import distribute
from trainer_module.model import MultiHeadModel
from trainer_module.spec import ModelSpec
from trainer_module.training import TrainingLoop

STEPS = 20
GLOBAL_BATCH = 16
SGD = {"optimizer": {"name": "sgd", "learning_rate": 0.01}}
# Adam's step does not change when its gradients are scaled; SGD's does: a
# sum over workers not divided by their number shows there.
VARIANTS = {
    "disjoint": lambda: small_spec(steps=STEPS),
    "backbone": lambda: small_spec(steps=STEPS, backbone={"layers": [8], "update": "per_head"}),
    "sgd": lambda: with_heads(small_spec(steps=STEPS), a=SGD, b=SGD),
}


def _strategy() -> tf.distribute.Strategy | None:
    return distribute.make_strategy("multi_worker" if "TF_CONFIG" in os.environ else "none")


def train_loops(out: str) -> None:
    strategy = _strategy()
    features, labels, weights = batch(rows=64, seed=1)
    rows = tf.data.Dataset.from_tensor_slices((features, labels, weights))
    # No shuffle: the same global batches as one process; one "file" for two
    # workers, so each worker's rows are every other row of them (by record).
    dataset = rows.repeat().batch(GLOBAL_BATCH)
    saved = {}
    for name, make_spec in VARIANTS.items():
        config = make_spec()
        with distribute.scope(strategy):
            tf.keras.utils.set_random_seed(7)
            backbone = config.training.backbone.layers if config.training.backbone else None
            model = MultiHeadModel(COLUMNS, config.heads, backbone, seed=7)
            loop = TrainingLoop(model, config, strategy)
        loop.fit(distribute.batches(strategy, dataset, files=1), STEPS)
        for index, variable in enumerate(model.trainable_variables):
            saved[f"{name}/variable/{index}"] = variable.numpy()
        for head, optimizer in loop.optimizers.items():
            saved[f"{name}/iterations/{head}"] = optimizer.iterations.numpy()
    np.savez(out, **saved)


def run_trainer(spec_file: str, inputs: str, out: str) -> None:
    from tfx.types import standard_artifacts

    from components.constants import CODE_FINGERPRINT_KEY, CONFIG_KEY
    from components.trainer import spec
    from components.trainer.executor import Executor

    with open(spec_file) as f:
        model_spec = ModelSpec.from_json(f.read())
    examples = standard_artifacts.Examples()
    examples.uri = os.path.join(inputs, "raw")
    examples.split_names = '["train", "eval"]'
    graph = standard_artifacts.TransformGraph()
    graph.uri = os.path.join(inputs, "transform_graph")
    model, model_run = standard_artifacts.Model(), standard_artifacts.ModelRun()
    model.uri, model_run.uri = os.path.join(out, "model"), os.path.join(out, "model_run")
    Executor().Do(
        {spec.EXAMPLES_KEY: [examples], spec.TRANSFORM_GRAPH_KEY: [graph]},
        {spec.MODEL_KEY: [model], spec.MODEL_RUN_KEY: [model_run]},
        {CONFIG_KEY: model_spec.to_json(), CODE_FINGERPRINT_KEY: "test"},
    )
    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
    print(f"worker {task.get('index', 0)} done", flush=True)


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "loop":
        train_loops(*args)
    else:
        run_trainer(*args)
