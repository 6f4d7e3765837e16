"""SavedModel export: one signature for all heads, one per head, one transform.

Signatures (all but `serving_columns` take `examples`, a [batch] string
tensor of serialized tf.Example holding the raw feature columns):

- `serving_default`: every head's outputs.
- `serving_columns`: every head's outputs, from each raw column as a named
  [batch] tensor (NaN or "" where missing; trainer_module/columns.py), what
  a TensorFlow Serving REST client sends as JSON rows.
- `<head>`: only that head's outputs; only its tower (and the backbone) runs.
- `transform_features`: the transformed features, labels and label weights
  (the raw examples must then carry the label columns too); used by TFMA.

Output names: `<head>` is the answer (probability of the positive class for
binary heads, the prediction in label units for regression heads, the class
index for multiclass heads), and multiclass heads add
`<head>_probabilities` ([batch, classes]) and, when the config names their
`classes`, `<head>_class` (the class name, a string).
"""

from __future__ import annotations

import contextlib
import json
import os

import tensorflow as tf
import tensorflow_transform as tft
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import saved_model_pb2
from tfx.dsl.io import fileio

from trainer_module import parts
from trainer_module.model import MultiHeadModel
from trainer_module.part_info import PartInfo, inputs_of, union_columns, write_parts
from trainer_module.signatures import INPUTS_FILE, INTERNAL_SIGNATURE
from trainer_module.spec import ModelSpec

Output = tuple[str, tuple[int, ...] | None]


class _Untracked:
    """Keeps an object out of the SavedModel's object graph."""

    def __init__(self, value):
        self.value = value


class ServingModule(tf.Module):
    """What the SavedModel holds: its parts (parts.py; one for a trained
    model) and every variable by name, the one a warm start reads for each
    head: a composed model lists each head's variables from the part that
    serves it.
    """

    def __init__(self, parts: list, infos: list[PartInfo], variables: dict[str, tf.Variable]):
        super().__init__()
        self.parts = list(parts)
        self.variables_by_name = dict(variables)
        self._infos = _Untracked(list(infos))

    @property
    def infos(self) -> list[PartInfo]:
        return self._infos.value


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


def save(module: ServingModule, path: str) -> None:
    """Writes the SavedModel, its inputs and parts files to `path`; checks
    every signature is there."""
    sigs = parts.signatures(module.parts, module.infos)
    with _without_keras_traces():
        tf.saved_model.save(module, path, signatures=sigs)
    columns = union_columns(module.infos, "serving_columns")
    inputs = inputs_of(columns)
    inputs["missing_values"] = sorted({t for info in module.infos for t in info.missing_values})
    fileio.makedirs(os.path.dirname(os.path.join(path, INPUTS_FILE)))
    with fileio.open(os.path.join(path, INPUTS_FILE), "w") as f:
        f.write(json.dumps(inputs, indent=2))
    write_parts(path, module.infos)
    # Read the signatures back from saved_model.pb: cheaper than a reload.
    missing = sorted(set(sigs) - set(signature_outputs(path)))
    if missing:
        raise RuntimeError(f"exported model at {path} lacks signatures {missing}")


def export(
    model: MultiHeadModel,
    tft_output: tft.TFTransformOutput,
    spec: ModelSpec,
    path: str,
) -> None:
    """Writes the trained model to `path` as a SavedModel of one part."""
    part = parts.Part(model, tft_output, spec, origin=path)
    save(ServingModule([part], [part.info], part.variables_by_name), path)


def serving_inputs(model_dir: str) -> dict[str, list[str]] | None:
    """{"required": [...], "optional": [...], "missing_values": [...]} of an
    exported model (None before this file was written; no "missing_values"
    before models kept them)."""
    path = os.path.join(model_dir, INPUTS_FILE)
    if not fileio.exists(path):
        return None
    with fileio.open(path) as f:
        return json.load(f)


def _signature_tensors(model_dir: str, field: str) -> dict[str, dict[str, Output]]:
    proto = saved_model_pb2.SavedModel()
    with fileio.open(os.path.join(model_dir, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    result = {}
    for name, signature in proto.meta_graphs[0].signature_def.items():
        if name == INTERNAL_SIGNATURE:
            continue
        tensors = {}
        for key, info in getattr(signature, field).items():
            shape = None
            if not info.tensor_shape.unknown_rank:
                shape = tuple(d.size for d in info.tensor_shape.dim)
            tensors[key] = (types_pb2.DataType.Name(info.dtype), shape)
        result[name] = tensors
    return result


def signature_outputs(model_dir: str) -> dict[str, dict[str, Output]]:
    """Signature -> output -> (dtype name, shape or None), from saved_model.pb."""
    return _signature_tensors(model_dir, "outputs")


def signature_inputs(model_dir: str) -> dict[str, dict[str, Output]]:
    """Signature -> input -> (dtype name, shape or None), from saved_model.pb."""
    return _signature_tensors(model_dir, "inputs")
