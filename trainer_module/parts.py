"""The serving graph as parts: what a pushed model can be composed from.

A part is one trained model's transform and towers as saved functions:
`transform_serving` (raw serving columns -> transformed features),
`transform_full` (with the label columns, for TFMA), `shared` (the backbone,
when there is one), `all_heads` (the fused towers, when they fuse) and
`towers[<head>]`. A trained model has one part; a model composed by a
per-head release (compose.py) has one per training run it takes heads
from. The signatures parse the serialized examples once, with every
involved part's columns, then run each part's transform on its own columns:
a head taken from an older model keeps the exact inputs it was trained on.

Which part serves which head, and the parse specs each part reads, are in
`assets.extra/parts.json` (part_info.py): a SavedModel keeps functions, not
Python attributes.
"""

from __future__ import annotations

import logging
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras

from trainer_module import columns as named_columns
from trainer_module.columns import ParseSpec
from trainer_module.freeze import encoding_of, head_fields
from trainer_module.fused import FusedTowers, can_fuse
from trainer_module.model import MultiHeadModel
from trainer_module.part_info import PartInfo, spec_from_json, spec_to_json, union_columns
from trainer_module.signatures import (
    COLUMNS_SIGNATURE,
    INPUT_NAME,
    SERVING_SIGNATURE,
    TRANSFORM_SIGNATURE,
)
from trainer_module.spec import ModelSpec


def variables_by_name(model: tf_keras.Model) -> dict[str, tf.Variable]:
    """Every model variable by name (`fare_hidden_0/kernel`), for warm starts."""
    return {v.name.split(":")[0]: v for v in model.variables}


def head_of(variable_name: str, heads: list[str]) -> str | None:
    """The head a variable belongs to (`fare_hidden_0/kernel` -> fare), or None
    (the backbone's). Longest name first: head `fare` does not own
    `fare_total_output/bias` when `fare_total` is a head too."""
    layer = variable_name.split("/")[0]
    for head in sorted(heads, key=len, reverse=True):
        if layer.startswith(f"{head}_"):
            return head
    return None


def _tensor_spec(value: tf.Tensor | tf.SparseTensor) -> tf.TypeSpec:
    """The spec of a traced output with an unknown batch size."""
    spec = tf.type_spec_from_value(value)
    if isinstance(spec, tf.TensorSpec):
        return tf.TensorSpec([None, *spec.shape[1:]], spec.dtype)
    return spec


class Part(tf.Module):
    """One trained model's transform and towers as saved functions."""

    def __init__(
        self,
        model: MultiHeadModel,
        tft_output: tft.TFTransformOutput,
        spec: ModelSpec,
        origin: str = "",
    ):
        super().__init__(name="part")
        self.tft_layer = tft_output.transform_features_layer()
        # Only the columns the model reads: a column the config ignores may
        # change type from one span to the next (empty in one, numbers in
        # another) and must not break parsing in a later evaluation.
        schema = tft_output.raw_feature_spec()
        serving = spec.serving_columns()
        missing = sorted(spec.raw_columns() - set(schema))
        if missing:
            raise ValueError(f"columns {missing} are not in the transform's raw schema")
        raw_spec = {k: v for k, v in schema.items() if k in spec.raw_columns()}
        serving_spec = {k: v for k, v in raw_spec.items() if k in serving}
        heads = list(spec.heads)
        names = [h.name for h in heads]
        self.info = PartInfo(
            heads=names,
            trained_heads=names,
            serving_columns={k: spec_to_json(v) for k, v in sorted(serving_spec.items())},
            raw_columns={k: spec_to_json(v) for k, v in sorted(raw_spec.items())},
            label_keys={h.name: {"label": h.label_key, "weight": h.weight_key} for h in heads},
            outputs={},
            backbone=model.backbone is not None,
            fused=can_fuse(model, heads),
            origin=origin,
            missing_values=list(spec.missing_values),
            classes={h.name: list(h.classes) for h in heads if h.classes},
            encoding=encoding_of(spec),
            head_fields={h.name: head_fields(h) for h in heads},
        )

        def parsed_spec(columns: dict) -> dict[str, tf.TypeSpec]:
            return {
                k: tf.SparseTensorSpec([None, None], v.dtype)
                if isinstance(v, tf.io.VarLenFeature)
                else tf.TensorSpec([None, *v.shape], v.dtype)
                for k, v in columns.items()
            }

        # No tensor-dependent Python control flow below: AutoGraph would only
        # spend seconds converting the Keras and tf.Transform code these call.
        self.transform_serving = tf.function(
            self.tft_layer, input_signature=[parsed_spec(serving_spec)], autograph=False
        )
        self.transform_full = tf.function(
            self.tft_layer, input_signature=[parsed_spec(raw_spec)], autograph=False
        )
        traced = self.transform_serving.get_concrete_function().structured_outputs
        features_spec = {k: _tensor_spec(v) for k, v in traced.items()}
        tower_input = features_spec
        # Every variable by name (`fare_hidden_0/kernel`): what the functions
        # capture, and what a warm start reads.
        self.variables_by_name = variables_by_name(model)
        if model.backbone is not None:
            self.shared = tf.function(
                lambda features: model.shared(features),
                input_signature=[features_spec],
                autograph=False,
            )
            tower_input = tf.TensorSpec([None, model.tower_width], tf.float32)
        # The towers as serving runs them (see fused.py): one stack for all
        # heads when their towers have one depth, and one per head.
        self.fused_all = FusedTowers(model, heads, "all_heads") if self.info.fused else None
        if self.fused_all is not None:
            self.all_heads = tf.function(
                self.fused_all.predictions, input_signature=[tower_input], autograph=False
            )
        self.per_head = {h.name: FusedTowers(model, [h], f"{h.name}_serving") for h in heads}
        self.towers = {
            name: tf.function(stack.predictions, input_signature=[tower_input], autograph=False)
            for name, stack in self.per_head.items()
        }
        self.info.outputs = {
            name: sorted(tower.get_concrete_function().structured_outputs)
            for name, tower in self.towers.items()
        }


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


def _parse(examples: tf.Tensor, columns: dict[str, ParseSpec]) -> dict[str, tf.Tensor]:
    return tf.io.parse_example(
        checked_examples(examples), {k: spec_from_json(v) for k, v in columns.items()}
    )


def _part_outputs(part, info: PartInfo, parsed: dict, selected: list[str], every: bool) -> dict:
    """The outputs of the part's heads in `selected`.

    The all-heads signature (`every`) runs a part's fused towers whenever
    they fuse, and keeps the heads the part serves; a head's own signature
    runs its own tower. So a head answers, signature by signature, bit for
    bit as in the model it was trained in, however many compositions later
    (fused and per-head towers sum in another order: they differ in float32
    rounding).
    """
    features = part.transform_serving({k: parsed[k] for k in info.serving_columns})
    inputs = part.shared(features) if info.backbone else features
    mine = [h for h in info.heads if h in selected]
    if every and info.fused:
        outputs = dict(part.all_heads(inputs))
        wanted = {key for h in mine for key in info.outputs[h]}
        return {key: value for key, value in outputs.items() if key in wanted}
    result: dict[str, tf.Tensor] = {}
    for name in mine:
        result.update(part.towers[name](inputs))
    return result


def signatures(parts: list, infos: list[PartInfo]) -> dict[str, Any]:
    """`serving_default`, `serving_columns`, one signature per head and
    `transform_features`.

    `parts[i]` is a Part, or a part restored from a SavedModel; `infos[i]` its
    PartInfo. The first part's transform gives the transformed features;
    each other part gives its own heads' labels and weights.
    """
    spec = tf.TensorSpec([None], tf.string, name=INPUT_NAME)
    names = [h for info in infos for h in info.heads]

    def outputs_of(parsed: dict, selected: list[str], every: bool) -> dict[str, tf.Tensor]:
        result: dict[str, tf.Tensor] = {}
        for part, info in zip(parts, infos, strict=True):
            if set(info.heads) & set(selected):
                result.update(_part_outputs(part, info, parsed, selected, every))
        return result

    def for_heads(selected: list[str], every: bool = False):
        involved = [i for i in infos if set(i.heads) & set(selected)]
        columns = union_columns(involved, "serving_columns")

        @tf.function(input_signature=[spec], autograph=False)
        def serve(examples):
            return outputs_of(_parse(examples, columns), selected, every)

        return serve.get_concrete_function()

    result = {SERVING_SIGNATURE: for_heads(names, every=True)}
    columns_signature = _for_columns(infos, lambda parsed: outputs_of(parsed, names, True))
    if columns_signature is not None:
        result[COLUMNS_SIGNATURE] = columns_signature
    for name in names:
        result[name] = for_heads([name])
    raw_columns = union_columns(infos, "raw_columns")

    @tf.function(input_signature=[spec], autograph=False)
    def transform(examples):
        parsed = _parse(examples, raw_columns)
        first = infos[0]
        features = dict(parts[0].transform_full({k: parsed[k] for k in first.raw_columns}))
        for part, info in zip(parts[1:], infos[1:], strict=True):
            own = part.transform_full({k: parsed[k] for k in info.raw_columns})
            for head in info.heads:
                for key in info.label_keys[head].values():
                    features[key] = own[key]
        return features

    result[TRANSFORM_SIGNATURE] = transform.get_concrete_function()
    return result


def _for_columns(infos: list[PartInfo], outputs_of):
    """`serving_columns`: every head's outputs from named `[batch]` column tensors.

    None (with a warning) when a column holds several values per row (a
    curated schema's fixed shape), which a `[batch]` tensor cannot carry.
    """
    columns = union_columns(infos, "serving_columns")
    unfit = sorted(name for name, spec in columns.items() if not named_columns.supported(spec))
    if unfit:
        logging.warning(
            "no %s signature: column(s) %s hold several values per row", COLUMNS_SIGNATURE, unfit
        )
        return None

    @tf.function(input_signature=[named_columns.input_specs(columns)], autograph=False)
    def serve(inputs):
        return outputs_of(named_columns.parsed(inputs, columns))

    return serve.get_concrete_function()
