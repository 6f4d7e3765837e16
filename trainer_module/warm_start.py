"""Warm start: a new model's variables from the served model, where they fit.

Variables are matched by name (`<head>_hidden_0/kernel`, `backbone_0/bias`,
...). A head (or the backbone) is warm-started only when every one of its
variables has a match of the same shape; otherwise it starts fresh, and the
report says why (a vocabulary that grew widens the first layer, say).
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from trainer_module.model import MultiHeadModel
from trainer_module.parts import head_of

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
    return head_of(name, list(model.towers)) or layer


def _groups(model: MultiHeadModel) -> dict[str, list[tf.Variable]]:
    groups: dict[str, list[tf.Variable]] = {}
    for variable in model.variables:
        groups.setdefault(_group(model, _name(variable)), []).append(variable)
    return groups


def warm_start(model: MultiHeadModel, served_dir: str) -> WarmStartReport:
    """Copies matching variables of the SavedModel at `served_dir` into `model`."""
    served = tf.saved_model.load(served_dir)
    if not hasattr(served, "variables_by_name"):
        why = f"the served model at {served_dir} does not list its variables by name"
        return WarmStartReport([], {group: why for group in _groups(model)})
    old = dict(served.variables_by_name)
    warm, fresh = [], {}
    for group, variables in sorted(_groups(model).items()):
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
