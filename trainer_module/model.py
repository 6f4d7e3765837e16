"""The multi-headed Keras model: a fixed feature encoding, an optional shared
backbone, and one tower per head.

With a backbone, the towers read its output; with `skip`, the encoding
beside it (a skip connection), so each head keeps its own path to the
features and the backbone can only add to what the head would learn alone.

The encoding (z-scores as they are, categories and buckets one-hot) has no
trainable weights, so heads without a backbone share nothing that trains:
the seed article's "multiple backbones, same input" shape.
"""

from __future__ import annotations

import dataclasses
import zlib

import tensorflow as tf
import tf_keras

from trainer_module.spec import HeadSpec, ModelSpec


@dataclasses.dataclass(frozen=True)
class InputColumn:
    """One transformed feature: numeric (size 0) or an index into `size` slots."""

    name: str
    size: int = 0

    @property
    def width(self) -> int:
        return self.size or 1


def encode(features: dict[str, tf.Tensor], columns: list[InputColumn]) -> tf.Tensor:
    """Concatenates the transformed features into one [batch, width] matrix."""
    parts = []
    for column in columns:
        value = tf.reshape(features[column.name], [-1])
        if column.size:
            parts.append(tf.one_hot(tf.cast(value, tf.int32), column.size, dtype=tf.float32))
        else:
            parts.append(tf.expand_dims(tf.cast(value, tf.float32), 1))
    return tf.concat(parts, axis=1)


class LabelScale(tf_keras.layers.Layer):
    """Maps a regression tower's output to label units: shift + scale * x.

    Shift and scale are the training labels' mean and standard deviation, so
    a tower works near unit scale whatever the label's magnitude.
    """

    def build(self, input_shape):
        self.shift = self.add_weight(name="shift", shape=(), initializer="zeros", trainable=False)
        self.scale = self.add_weight(name="scale", shape=(), initializer="ones", trainable=False)

    def call(self, x):
        return self.shift + self.scale * x


class MultiHeadModel(tf_keras.Model):
    """Towers keyed by head name; `call` returns every head's raw output.

    Raw outputs are logits for classifiers and label-unit predictions for
    regression heads, each of shape [batch] (binary, regression) or
    [batch, classes] (multiclass).
    """

    def __init__(
        self,
        columns: list[InputColumn],
        heads: list[HeadSpec],
        backbone: list[int] | None = None,
        seed: int = 0,
        skip: bool = False,
    ):
        super().__init__(name="multihead")
        self.columns = list(columns)
        self.head_specs = {head.name: head for head in heads}
        self.skip = bool(backbone) and skip
        init = tf_keras.initializers.GlorotUniform
        self.backbone = None
        if backbone:
            self.backbone = tf_keras.Sequential(
                [
                    tf_keras.layers.Dense(
                        units,
                        activation="relu",
                        kernel_initializer=init(seed=seed + i),
                        name=f"backbone_{i}",
                    )
                    for i, units in enumerate(backbone)
                ],
                name="backbone",
            )
        self.towers = {}
        self.scales = {}
        for head in heads:
            # Seeded by name, not position: a head starts from the same weights
            # whatever other heads the model has (or none: a single-task model).
            head_seed = seed + zlib.crc32(head.name.encode()) % 1_000_000
            layers = [
                tf_keras.layers.Dense(
                    units,
                    activation="relu",
                    kernel_initializer=init(seed=head_seed + i),
                    name=f"{head.name}_hidden_{i}",
                )
                for i, units in enumerate(head.tower)
            ]
            layers.append(
                tf_keras.layers.Dense(
                    head.output_size,
                    kernel_initializer=init(seed=head_seed + 999),
                    name=f"{head.name}_output",
                )
            )
            self.towers[head.name] = tf_keras.Sequential(layers, name=f"{head.name}_tower")
            if head.kind.scaled_output:
                self.scales[head.name] = LabelScale(name=f"{head.name}_scale")
        self.encoded_width = sum(column.width for column in self.columns)
        self.build_all()

    @property
    def tower_width(self) -> int:
        """The width of what every tower reads: the encoding, the backbone's
        output, or (with `skip`) both side by side."""
        if self.backbone is None:
            return self.encoded_width
        units = int(self.backbone.layers[-1].units)
        return units + self.encoded_width if self.skip else units

    def build_all(self) -> None:
        """Creates every variable now, so optimizers and warm start see them."""
        if self.backbone is not None:
            self.backbone(tf_keras.Input(shape=(self.encoded_width,)))
        shared = tf_keras.Input(shape=(self.tower_width,))
        for name, tower in self.towers.items():
            out = tower(shared)
            if name in self.scales:
                self.scales[name](out)

    def shared(self, features: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        x = encode(features, self.columns)
        if self.backbone is None:
            return x
        out = self.backbone(x, training=training)
        return tf.concat([x, out], axis=1) if self.skip else out

    def head_output(self, name: str, shared: tf.Tensor, training: bool = False) -> tf.Tensor:
        out = self.towers[name](shared, training=training)
        if self.head_specs[name].output_size == 1:
            out = tf.reshape(out, [-1])
        if name in self.scales:
            out = self.scales[name](out)
        return out

    def call(self, features: dict[str, tf.Tensor], training: bool = False) -> dict[str, tf.Tensor]:
        shared = self.shared(features, training=training)
        return {name: self.head_output(name, shared, training) for name in self.towers}

    def head_variables(self, name: str) -> list[tf.Variable]:
        """The trainable variables that belong to one head alone."""
        return list(self.towers[name].trainable_variables)

    def backbone_variables(self) -> list[tf.Variable]:
        return list(self.backbone.trainable_variables) if self.backbone is not None else []


def build_model(spec: ModelSpec, columns: list[InputColumn]) -> MultiHeadModel:
    backbone = spec.training.backbone
    return MultiHeadModel(
        columns,
        spec.heads,
        backbone.layers if backbone else None,
        seed=spec.training.seed,
        skip=bool(backbone and backbone.skip),
    )
