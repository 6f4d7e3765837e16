"""Warm start: a new model's variables from the served model, where they fit.

Variables are matched by name (`<head>_hidden_0/kernel`, `backbone_0/bias`,
...). A head (or the backbone) is warm-started only when every one of its
variables has a match of the same shape; otherwise it starts fresh, and the
report says why (a vocabulary that grew widens the first layer, say).
"""

from __future__ import annotations

import dataclasses
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tensorflow as tf  # noqa: E402

from trainer_module.model import MultiHeadModel  # noqa: E402

BACKBONE = "backbone"


@dataclasses.dataclass
class WarmStartReport:
    warm: list[str]
    fresh: dict[str, str]  # group -> reason

    def as_dict(self) -> dict:
        return {"warm": self.warm, "fresh": self.fresh}


def _name(variable: tf.Variable) -> str:
    return variable.name.split(":")[0]


def _group(model: MultiHeadModel, name: str) -> str:
    layer = name.split("/")[0]
    if layer.startswith(BACKBONE):
        return BACKBONE
    for head in sorted(model.towers, key=len, reverse=True):
        if layer.startswith(f"{head}_"):
            return head
    return layer


def warm_start(model: MultiHeadModel, served_dir: str) -> WarmStartReport:
    """Copies matching variables of the SavedModel at `served_dir` into `model`."""
    served = tf.saved_model.load(served_dir)
    old = {_name(v): v for v in served.model.variables}
    groups: dict[str, list[tf.Variable]] = {}
    for variable in model.variables:
        groups.setdefault(_group(model, _name(variable)), []).append(variable)
    warm, fresh = [], {}
    for group, variables in sorted(groups.items()):
        reason = None
        for variable in variables:
            match = old.get(_name(variable))
            if match is None:
                reason = f"{_name(variable)} is not in the served model"
            elif tuple(match.shape) != tuple(variable.shape):
                reason = (
                    f"{_name(variable)} has shape {tuple(variable.shape)}, "
                    f"served {tuple(match.shape)}"
                )
            if reason:
                break
        if reason:
            fresh[group] = reason
            continue
        for variable in variables:
            variable.assign(old[_name(variable)])
        warm.append(group)
    return WarmStartReport(warm, fresh)
