"""The tf.distribute strategy the trainer runs under (`training.distribute`).

- `none` (default): no strategy, one process, one device.
- `mirrored`: MirroredStrategy, one replica per local device (GPUs; on a
  CPU-only machine one replica).
- `multi_worker`: MultiWorkerMirroredStrategy over the workers that
  `TF_CONFIG` names (each a process running the same trainer; without
  `TF_CONFIG`, one worker). Every worker reads its share of the training
  files (whole files when there are at least as many as workers, else its
  part of each global batch) and gradients are summed across workers at every step; only the
  chief writes the model and the curves. The strategy must exist before
  TensorFlow runs any op in the process (run_fn makes it first).

Each head keeps its own optimizer on every replica (trainer_module/training.py).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator

import tensorflow as tf

_STRATEGIES = {
    "mirrored": tf.distribute.MirroredStrategy,
    "multi_worker": tf.distribute.MultiWorkerMirroredStrategy,
}


def make_strategy(name: str) -> tf.distribute.Strategy | None:
    """The strategy `training.distribute` names (None for `none`)."""
    return None if name == "none" else _STRATEGIES[name]()


def scope(strategy: tf.distribute.Strategy | None) -> contextlib.AbstractContextManager:
    """Where the model and its optimizers are built (their variables mirrored)."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def batches(
    strategy: tf.distribute.Strategy | None, dataset: tf.data.Dataset, files: int
) -> Iterator:
    """The training batches: each replica's share of every global batch.

    Across workers the `files` are shared out when there are at least as
    many as workers (each reads its own); else every worker reads them all,
    in the same seeded order, and takes its part of each global batch."""
    if strategy is None:
        return iter(dataset)
    policy = tf.data.experimental.AutoShardPolicy
    options = tf.data.Options()
    by_file = files >= workers(strategy)
    options.experimental_distribute.auto_shard_policy = policy.FILE if by_file else policy.DATA
    return iter(strategy.experimental_distribute_dataset(dataset.with_options(options)))


def is_chief(strategy: tf.distribute.Strategy | None) -> bool:
    """Whether this process writes what the trainer outputs (the model, the
    curves): the chief, or worker 0 of a cluster without one."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def workers(strategy: tf.distribute.Strategy | None) -> int:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return 1
    spec = resolver.cluster_spec().as_dict()
    return max(1, len(spec.get("worker", [])) + len(spec.get("chief", [])))


@contextlib.contextmanager
def output_folder(strategy: tf.distribute.Strategy | None, path: str) -> Iterator[str]:
    """`path` for the chief; for another worker a temporary folder, removed
    after (every worker must save: saving a mirrored model may need them all)."""
    if is_chief(strategy):
        yield path
        return
    folder = tempfile.mkdtemp(prefix="multihead-worker-")
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
