"""The towers as the serving signatures run them: fused and sparse.

Training keeps one Keras tower per head on a dense one-hot encoding. For
serving, the export rebuilds the same functions from the trained weights in
the form that costs the fewest ops, since at serving batch sizes an op costs
more than its arithmetic:

- K towers of the same depth become, per depth, one matmul: the first layers
  (which all read the same input) side by side, the deeper ones as a
  block-diagonal matrix, so heads still see nothing of each other.
- When the towers read the feature encoding directly (no backbone), the first
  layer skips the one-hot matrix: one-hot times a kernel is the sum of the
  kernel rows of the active categories, so one gather of every categorical
  column's row (an index out of range reads a zero row, as one-hot gives a
  zero vector) plus one small matmul for the numeric columns.
- Regression heads' label scales (shift + scale * x) are folded into the last
  layer's weights.

The result equals the Keras towers up to float32 rounding (sums in another
order).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from trainer_module.model import MultiHeadModel
from trainer_module.spec import HeadSpec


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


def can_fuse(model: MultiHeadModel, heads: list[HeadSpec]) -> bool:
    """Towers of one depth with relu or linear activations (the config's)."""
    towers = [model.towers[h.name].layers for h in heads]
    if not heads or len({len(t) for t in towers}) != 1:
        return False
    return all(
        len({_activation(t[i]) for t in towers}) == 1
        and _activation(towers[0][i]) in ("relu", "linear")
        for i in range(len(towers[0]))
    )


class FusedTowers(tf.Module):
    """The towers of `heads` (one or more) as one stack of wide layers."""

    def __init__(self, model: MultiHeadModel, heads: list[HeadSpec], name: str = "fused_towers"):
        super().__init__(name=name)
        self.heads = list(heads)
        towers = [model.towers[h.name].layers for h in heads]
        kernels, biases = [], []
        for depth in range(len(towers[0])):
            parts = [t[depth].kernel.numpy() for t in towers]
            kernels.append(np.concatenate(parts, axis=1) if depth == 0 else _block_diagonal(parts))
            biases.append(np.concatenate([t[depth].bias.numpy() for t in towers]))
        self.relu = [_activation(towers[0][d]) == "relu" for d in range(len(towers[0]))]
        self.sizes = [int(t[-1].units) for t in towers]
        # Label scales, folded into the last layer: shift + scale * (x W + b).
        column = 0
        for head, size in zip(heads, self.sizes, strict=True):
            if head.name in model.scales:
                layer = model.scales[head.name]
                scale, shift = float(layer.scale.numpy()), float(layer.shift.numpy())
                block = slice(column, column + size)
                kernels[-1][:, block] *= scale
                biases[-1][block] = biases[-1][block] * scale + shift
            column += size
        self.sparse = model.backbone is None
        if self.sparse:
            self._init_sparse_first_layer(model, kernels[0])
            kernels = kernels[1:]
        self.kernels = [
            tf.Variable(k, trainable=False, name=f"kernel_{i}") for i, k in enumerate(kernels)
        ]
        self.biases = [
            tf.Variable(b, trainable=False, name=f"bias_{i}") for i, b in enumerate(biases)
        ]

    def _init_sparse_first_layer(self, model: MultiHeadModel, kernel: np.ndarray) -> None:
        """Splits the first kernel's rows into one table of category rows (a
        zero row after each column's) and a kernel of the numeric rows."""
        width = kernel.shape[1]
        tables, numeric_rows = [], []
        self.categorical, self.numeric = [], []
        bases, sizes = [], []
        row = base = 0
        for column in model.columns:
            if column.size:
                tables += [kernel[row : row + column.size], np.zeros((1, width), kernel.dtype)]
                self.categorical.append(column.name)
                bases.append(base)
                sizes.append(column.size)
                base += column.size + 1
            else:
                numeric_rows.append(kernel[row])
                self.numeric.append(column.name)
            row += column.width
        self.table = tf.Variable(
            np.concatenate(tables) if tables else np.zeros((0, width), kernel.dtype),
            trainable=False,
            name="category_rows",
        )
        self.numeric_kernel = tf.Variable(
            np.stack(numeric_rows) if numeric_rows else np.zeros((0, width), kernel.dtype),
            trainable=False,
            name="numeric_rows",
        )
        self.bases = tf.constant(bases, tf.int64)
        self.column_sizes = tf.constant(sizes, tf.int64)

    def _first_layer(self, features: dict[str, tf.Tensor]) -> tf.Tensor:
        """x W of the one-hot encoding, without building it."""
        x = None
        if self.categorical:
            index = tf.stack(
                [tf.cast(tf.reshape(features[n], [-1]), tf.int64) for n in self.categorical],
                axis=1,
            )
            inside = tf.logical_and(index >= 0, index < self.column_sizes)
            index = tf.reshape(tf.where(inside, index, self.column_sizes) + self.bases, [-1])
            # Row r's rows of the table summed: segment r of the flat index
            # list. One kernel; no [batch, columns, width] tensor in between.
            rows = tf.range(tf.size(index, out_type=tf.int64)) // len(self.categorical)
            x = tf.sparse.segment_sum(self.table, index, rows)
        if self.numeric:
            values = tf.stack(
                [tf.cast(tf.reshape(features[n], [-1]), tf.float32) for n in self.numeric],
                axis=1,
            )
            dense = tf.matmul(values, self.numeric_kernel)
            x = dense if x is None else x + dense
        return x

    def __call__(self, inputs: tf.Tensor | dict[str, tf.Tensor]) -> list[tf.Tensor]:
        """Every head's raw output in label units, [batch] or [batch, classes].

        `inputs`: the transformed features (no backbone) or what the backbone
        hands the towers (`MultiHeadModel.shared`).
        """
        if self.sparse:
            x = self._first_layer(inputs)
            layers = [None, *self.kernels]
        else:
            x = inputs
            layers = list(self.kernels)
        for kernel, bias, relu in zip(layers, self.biases, self.relu, strict=True):
            if kernel is not None:
                x = tf.matmul(x, kernel)
            x = tf.nn.bias_add(x, bias)
            if relu:
                x = tf.nn.relu(x)
        outputs, start = [], 0
        for size in self.sizes:
            outputs.append(x[:, start] if size == 1 else x[:, start : start + size])
            start += size
        return outputs

    def predictions(self, inputs: tf.Tensor | dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """The serving outputs of every head (names are a contract)."""
        result: dict[str, tf.Tensor] = {}
        for head, raw in zip(self.heads, self(inputs), strict=True):
            result.update(head.kind.predictions(head, raw))
        return result
