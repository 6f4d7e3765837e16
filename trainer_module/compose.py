"""A per-head release: the candidate's heads, some heads of the served model.

`compose` writes one SavedModel with the usual signatures in which each
rolled-back head runs the served model's own saved functions (its transform
and tower, see parts.py) on the examples parsed once: its outputs are the
served model's, bit for bit. Nothing is retrained or re-traced from Python
objects; the parts are the loaded SavedModels' functions saved again.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from trainer_module.export import ServingModule, save, signature_outputs
from trainer_module.part_info import PARTS_FILE, read_parts, union_columns
from trainer_module.parts import head_of


class CompositionError(ValueError):
    """The served model's heads cannot be put into the candidate."""


def _check(candidate_dir: str, served_dir: str, rolled_back: list[str], served_label: str):
    candidate_infos = read_parts(candidate_dir)
    served_infos = read_parts(served_dir)
    if candidate_infos is None:
        raise CompositionError(f"the candidate at {candidate_dir} has no {PARTS_FILE}")
    if served_infos is None:
        raise CompositionError(
            f"{served_label} was exported before models could be composed (it has no "
            f"{PARTS_FILE}); push one whole model first (push.release: whole)"
        )
    served_heads = {h for info in served_infos for h in info.heads}
    missing = sorted(set(rolled_back) - served_heads)
    if missing:
        raise CompositionError(f"{served_label} has no head {missing} to keep")
    candidate_outputs = signature_outputs(candidate_dir)
    served_outputs = signature_outputs(served_dir)
    for head in rolled_back:
        if candidate_outputs.get(head) != served_outputs.get(head):
            raise CompositionError(
                f"head {head!r}'s signature differs between the candidate "
                f"{candidate_outputs.get(head)} and {served_label} {served_outputs.get(head)}: "
                "keeping the served head would serve outputs the config no longer declares"
            )
    return candidate_infos, served_infos


def compose(
    candidate_dir: str,
    served_dir: str,
    rolled_back: list[str],
    path: str,
    served_label: str = "the served model",
) -> None:
    """Writes to `path` the candidate with `rolled_back` heads from the served model.

    Raises:
      CompositionError: the served model predates parts, lacks a head, gives
        a rolled-back head another signature than the candidate's, or reads a
        column another way than the candidate.
    """
    candidate_infos, served_infos = _check(candidate_dir, served_dir, rolled_back, served_label)
    keep = set(rolled_back)
    sources = [
        (tf.saved_model.load(candidate_dir), candidate_infos, lambda h: h not in keep),
        (tf.saved_model.load(served_dir), served_infos, lambda h: h in keep),
    ]
    parts, infos = [], []
    for loaded, loaded_infos, wanted in sources:
        for part, info in zip(loaded.parts, loaded_infos, strict=True):
            heads = [h for h in info.heads if wanted(h)]
            if heads:
                parts.append(part)
                infos.append(dataclasses.replace(info, heads=heads))
    try:
        union_columns(infos, "serving_columns")
        union_columns(infos, "raw_columns")
    except ValueError as error:
        raise CompositionError(
            f"cannot parse the examples once for both models: {error}"
        ) from error
    # Each head's variables from the part that serves it (a warm start then
    # starts each head from the version it is served from); the rest (the
    # backbone) from the first part, the candidate's.
    variables: dict[str, tf.Variable] = {}
    for part, info in zip(parts, infos, strict=True):
        for name, variable in dict(part.variables_by_name).items():
            head = head_of(name, info.trained_heads)
            if head in info.heads or (head is None and name not in variables):
                variables[name] = variable
    save(ServingModule(parts, infos, variables), path)
