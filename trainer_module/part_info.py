"""What `assets.extra/parts.json` says of a SavedModel's parts (parts.py).

A SavedModel keeps functions, not Python attributes: which part serves which
head, the parse specs each part reads, its outputs, missing-value tokens and
class names are written here at export and read back by the composition,
the evaluator and batch scoring.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import tensorflow as tf
from tfx.dsl.io import fileio

from trainer_module.columns import ParseSpec

PARTS_FILE = "assets.extra/parts.json"


def spec_to_json(feature: tf.io.FixedLenFeature | tf.io.VarLenFeature) -> ParseSpec:
    if isinstance(feature, tf.io.VarLenFeature):
        return {"kind": "var", "dtype": feature.dtype.name}
    if isinstance(feature, tf.io.FixedLenFeature):
        default = feature.default_value
        if default is not None:
            default = tf.nest.map_structure(
                lambda v: v.decode() if isinstance(v, bytes) else v,
                tf.constant(default).numpy().tolist(),
            )
        return {
            "kind": "fixed",
            "dtype": feature.dtype.name,
            "shape": list(feature.shape),
            "default": default,
        }
    raise ValueError(f"cannot serve a column parsed as {type(feature).__name__}")


def spec_from_json(spec: ParseSpec) -> tf.io.FixedLenFeature | tf.io.VarLenFeature:
    dtype = tf.as_dtype(spec["dtype"])
    if spec["kind"] == "var":
        return tf.io.VarLenFeature(dtype)
    return tf.io.FixedLenFeature(spec["shape"], dtype, spec["default"])


def inputs_of(columns: dict[str, ParseSpec]) -> dict[str, list[str]]:
    """Raw columns a serving example must carry, and those it may leave out."""
    required = sorted(
        name for name, s in columns.items() if s["kind"] == "fixed" and s["default"] is None
    )
    return {"required": required, "optional": sorted(set(columns) - set(required))}


@dataclasses.dataclass
class PartInfo:
    """What parts.json says of one part."""

    heads: list[str]  # the heads this part serves in this model
    trained_heads: list[str]  # every head its functions compute
    serving_columns: dict[str, ParseSpec]
    raw_columns: dict[str, ParseSpec]  # serving columns plus labels
    label_keys: dict[str, dict[str, str]]  # head -> {"label": key, "weight": key}
    outputs: dict[str, list[str]]  # head -> its output names
    backbone: bool
    fused: bool
    origin: str  # where it was trained (the trainer's model folder)
    # Cell values its training data read as missing (ModelSpec.missing_values).
    missing_values: list[str] = dataclasses.field(default_factory=list)
    # head -> its class names, in output order (multiclass heads with classes).
    classes: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    # What a frozen head must find unchanged (freeze.py): the features and
    # derived columns its inputs are encoded from, and each head's fields.
    encoding: dict[str, Any] = dataclasses.field(default_factory=dict)
    head_fields: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def read_parts(model_dir: str) -> list[PartInfo] | None:
    """The parts of a model (None for a model exported before parts existed)."""
    path = os.path.join(model_dir, PARTS_FILE)
    if not fileio.exists(path):
        return None
    with fileio.open(path) as f:
        return [PartInfo(**part) for part in json.load(f)["parts"]]


def write_parts(model_dir: str, parts: list[PartInfo]) -> None:
    fileio.makedirs(os.path.dirname(os.path.join(model_dir, PARTS_FILE)))
    with fileio.open(os.path.join(model_dir, PARTS_FILE), "w") as f:
        f.write(json.dumps({"parts": [p.as_dict() for p in parts]}, indent=2, sort_keys=True))


def union_columns(parts: list[PartInfo], field: str) -> dict[str, ParseSpec]:
    """Every column the parts read, each parsed once.

    Raises:
      ValueError: two parts parse one column differently.
    """
    result: dict[str, ParseSpec] = {}
    for part in parts:
        for name, spec in getattr(part, field).items():
            if name in result and result[name] != spec:
                raise ValueError(
                    f"column {name!r} is parsed as {result[name]} by one part and as "
                    f"{spec} by another"
                )
            result[name] = spec
    return result
