"""Every head's tower as one stack of wide layers, for the all-heads signature.

K towers of the same depth become, per depth, one matmul: the first layers
(which all read the same shared input) side by side, the deeper ones as a
block-diagonal matrix, so heads still see nothing of each other. At serving
batch sizes an op costs more than its arithmetic, so K towers for the price
of about one. Built from the trained weights at export; training and the
per-head signatures keep the separate towers.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from pipeline.config import Head  # noqa: E402
from trainer_module.model import MultiHeadModel  # noqa: E402


def _activation(layer) -> str:
    return layer.get_config()["activation"]


def _block_diagonal(blocks: list[np.ndarray]) -> np.ndarray:
    rows = sum(b.shape[0] for b in blocks)
    cols = sum(b.shape[1] for b in blocks)
    result = np.zeros((rows, cols), dtype=blocks[0].dtype)
    r = c = 0
    for block in blocks:
        result[r : r + block.shape[0], c : c + block.shape[1]] = block
        r, c = r + block.shape[0], c + block.shape[1]
    return result


def can_fuse(model: MultiHeadModel, heads: list[Head]) -> bool:
    towers = [model.towers[h.name].layers for h in heads]
    if len(heads) < 2 or len({len(t) for t in towers}) != 1:
        return False
    return all(
        len({_activation(t[i]) for t in towers}) == 1
        and _activation(towers[0][i]) in ("relu", "linear")
        for i in range(len(towers[0]))
    )


class FusedTowers(tf.Module):
    def __init__(self, model: MultiHeadModel, heads: list[Head]):
        super().__init__(name="fused_towers")
        towers = [model.towers[h.name].layers for h in heads]
        self.kernels, self.biases, self.relu = [], [], []
        for depth in range(len(towers[0])):
            kernels = [t[depth].kernel.numpy() for t in towers]
            kernel = np.concatenate(kernels, axis=1) if depth == 0 else _block_diagonal(kernels)
            bias = np.concatenate([t[depth].bias.numpy() for t in towers])
            self.kernels.append(tf.Variable(kernel, trainable=False, name=f"kernel_{depth}"))
            self.biases.append(tf.Variable(bias, trainable=False, name=f"bias_{depth}"))
            self.relu.append(_activation(towers[0][depth]) == "relu")
        self.sizes = [int(t[-1].units) for t in towers]

    def __call__(self, shared: tf.Tensor) -> list[tf.Tensor]:
        x = shared
        for kernel, bias, relu in zip(self.kernels, self.biases, self.relu, strict=True):
            x = tf.nn.bias_add(tf.matmul(x, kernel), bias)
            if relu:
                x = tf.nn.relu(x)
        return tf.split(x, self.sizes, axis=1)
