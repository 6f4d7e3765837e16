"""SavedModel export: one signature for all heads, one per head, one transform.

Signatures (all take `examples`, a [batch] string tensor of serialized
tf.Example holding the raw feature columns):

- `serving_default`: every head's outputs.
- `<head>`: only that head's outputs; only its tower (and the backbone) runs.
- `transform_features`: the transformed features, labels and label weights
  (the raw examples must then carry the label columns too); used by TFMA.

Output names: `<head>` is the answer (probability of the positive class for
binary heads, the prediction in label units for regression heads, the class
index for multiclass heads), and multiclass heads add
`<head>_probabilities` ([batch, classes]).
"""

from __future__ import annotations

import contextlib
import json
import os

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import saved_model_pb2
from tfx.dsl.io import fileio

from trainer_module.fused import FusedTowers, can_fuse
from trainer_module.model import MultiHeadModel
from trainer_module.signatures import (
    INPUT_NAME,
    INPUTS_FILE,
    INTERNAL_SIGNATURE,
    SERVING_SIGNATURE,
    TRANSFORM_SIGNATURE,
)
from trainer_module.spec import ModelSpec

Output = tuple[str, tuple[int, ...] | None]


def variables_by_name(model: tf_keras.Model) -> dict[str, tf.Variable]:
    """Every model variable by name (`fare_hidden_0/kernel`), for warm starts."""
    return {v.name.split(":")[0]: v for v in model.variables}


class _Untracked:
    """Keeps an object out of the SavedModel's object graph."""

    def __init__(self, value):
        self.value = value


class ServingModule(tf.Module):
    """What the SavedModel holds: the model's variables by name (what a warm
    start reads), the serving towers, and the transform graph.

    The Keras model itself stays out of the object graph: the signatures
    capture its variables, and nothing reads Keras metadata back.
    """

    def __init__(
        self,
        model: MultiHeadModel,
        tft_output: tft.TFTransformOutput,
        spec: ModelSpec,
    ):
        super().__init__()
        self._keras = _Untracked(model)
        self.variables_by_name = variables_by_name(model)
        self.tft_layer = tft_output.transform_features_layer()
        raw_spec = tft_output.raw_feature_spec()
        serving_columns = spec.serving_columns()
        missing = sorted(serving_columns - set(raw_spec))
        if missing:
            raise ValueError(f"columns {missing} are not in the transform's raw schema")
        self._serving_spec = {k: v for k, v in raw_spec.items() if k in serving_columns}
        self._raw_spec = raw_spec
        self._heads = list(spec.heads)
        # The towers as serving runs them (see fused.py): one stack for all
        # heads when their towers have one depth, and one per head.
        self.all_heads = (
            FusedTowers(model, self._heads, "all_heads") if can_fuse(model, self._heads) else None
        )
        self.per_head = {
            head.name: FusedTowers(model, [head], f"{head.name}_serving") for head in self._heads
        }

    def inputs(self) -> dict[str, list[str]]:
        """Raw columns a serving example must carry, and those it may leave out."""
        required = sorted(
            name
            for name, spec in self._serving_spec.items()
            if isinstance(spec, tf.io.FixedLenFeature) and spec.default_value is None
        )
        return {"required": required, "optional": sorted(set(self._serving_spec) - set(required))}

    @property
    def model(self) -> MultiHeadModel:
        return self._keras.value

    def _transformed(self, examples: tf.Tensor) -> dict[str, tf.Tensor]:
        parsed = tf.io.parse_example(checked_examples(examples), self._serving_spec)
        return self.tft_layer(parsed)

    def outputs(self, examples: tf.Tensor, head_names: list[str]) -> dict[str, tf.Tensor]:
        features = self._transformed(examples)
        inputs = features if self.model.backbone is None else self.model.shared(features)
        if self.all_heads is not None and len(head_names) == len(self._heads):
            return self.all_heads.predictions(inputs)
        result: dict[str, tf.Tensor] = {}
        for head in self._heads:
            if head.name in head_names:
                result.update(self.per_head[head.name].predictions(inputs))
        return result

    def transform(self, examples: tf.Tensor) -> dict[str, tf.Tensor]:
        parsed = tf.io.parse_example(checked_examples(examples), self._raw_spec)
        return self.tft_layer(parsed)


def checked_examples(examples: tf.Tensor) -> tf.Tensor:
    """`examples`, once every one of them parses as a tf.Example.

    tf.io.parse_example's error for a malformed input embeds its raw bytes,
    which clients cannot decode (Python's gets a UnicodeDecodeError). This
    check fails first, with a message of plain text that names the rule:
    `... [[{node each_input_must_be_a_serialized_tf_Example}}]]`.
    """
    sizes, _ = tf.io.decode_proto(
        examples,
        "tensorflow.Example",
        ["features"],
        [tf.string],
        name="each_input_must_be_a_serialized_tf_Example",
    )
    # A consumer of the decode's output, so that graph optimisation keeps it.
    check = tf.debugging.assert_non_negative(sizes)
    with tf.control_dependencies([check]):
        return tf.identity(examples)


def _without_keras_traces() -> contextlib.AbstractContextManager:
    """Keras' `save_traces=False` for tf.saved_model.save.

    Without it, saving traces every Keras layer's `call` (the model's and the
    tf.Transform layer's) again, through AutoGraph, for Keras metadata that
    nothing here reads: about half of the export's time. Variables, assets and
    our signatures are saved either way. Falls back to a plain save if tf_keras
    moves the option.
    """
    try:
        from tf_keras.src.saving.legacy.saved_model.utils import keras_option_scope
    except ImportError:  # pragma: no cover - another tf_keras layout
        return contextlib.nullcontext()
    return keras_option_scope(save_traces=False)


def signatures(
    module: ServingModule,
) -> dict[str, tf.types.experimental.ConcreteFunction]:
    spec = tf.TensorSpec([None], tf.string, name=INPUT_NAME)
    names = [head.name for head in module._heads]

    # No tensor-dependent Python control flow here: AutoGraph would only
    # spend seconds converting the Keras and tf.Transform code these call.
    def for_heads(selected: list[str]):
        @tf.function(input_signature=[spec], autograph=False)
        def serve(examples):
            return module.outputs(examples, selected)

        return serve.get_concrete_function()

    result = {SERVING_SIGNATURE: for_heads(names)}
    for name in names:
        result[name] = for_heads([name])

    @tf.function(input_signature=[spec], autograph=False)
    def transform(examples):
        return module.transform(examples)

    result[TRANSFORM_SIGNATURE] = transform.get_concrete_function()
    return result


def export(
    model: MultiHeadModel,
    tft_output: tft.TFTransformOutput,
    spec: ModelSpec,
    path: str,
) -> None:
    """Writes the SavedModel to `path` and checks every signature is there."""
    module = ServingModule(model, tft_output, spec)
    sigs = signatures(module)
    with _without_keras_traces():
        tf.saved_model.save(module, path, signatures=sigs)
    fileio.makedirs(os.path.dirname(os.path.join(path, INPUTS_FILE)))
    with fileio.open(os.path.join(path, INPUTS_FILE), "w") as f:
        f.write(json.dumps(module.inputs(), indent=2))
    # Read the signatures back from saved_model.pb: cheaper than a reload.
    missing = sorted(set(sigs) - set(signature_outputs(path)))
    if missing:
        raise RuntimeError(f"exported model at {path} lacks signatures {missing}")


def serving_inputs(model_dir: str) -> dict[str, list[str]] | None:
    """{"required": [...], "optional": [...]} of an exported model (None before
    this file was written)."""
    path = os.path.join(model_dir, INPUTS_FILE)
    if not fileio.exists(path):
        return None
    with fileio.open(path) as f:
        return json.load(f)


def signature_outputs(model_dir: str) -> dict[str, dict[str, Output]]:
    """Signature -> output -> (dtype name, shape or None), from saved_model.pb."""
    proto = saved_model_pb2.SavedModel()
    with fileio.open(os.path.join(model_dir, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    result = {}
    for name, signature in proto.meta_graphs[0].signature_def.items():
        if name == INTERNAL_SIGNATURE:
            continue
        outputs = {}
        for key, info in signature.outputs.items():
            shape = None
            if not info.tensor_shape.unknown_rank:
                shape = tuple(d.size for d in info.tensor_shape.dim)
            outputs[key] = (types_pb2.DataType.Name(info.dtype), shape)
        result[name] = outputs
    return result
