"""Frozen heads: served from the served model, bit for bit, never trained.

A frozen head (`freeze: true`) keeps the served model's part for it, its
transform and tower included, as a per-head release keeps a failing head
(compose.py): its outputs in the new model are the served model's on the
same examples, and its numeric statistics and vocabularies stay those it
was trained with. So the config must still describe that head as it was
served: the same encoding of the inputs (every feature and derived column,
with its settings) and the same head fields (task, label, classes, tower,
loss); only training-only fields may differ. Otherwise freezing is
refused, naming what changed: the served head would serve what the config
no longer says.
"""

from __future__ import annotations

from typing import Any

from trainer_module.part_info import PARTS_FILE, read_parts
from trainer_module.spec import HeadSpec, ModelSpec

# Head fields a frozen head may change: they only steer its training.
TRAINING_ONLY = {"optimizer", "weight", "early_stopping", "freeze", "label_may_be_missing"}


class FreezeError(ValueError):
    """A frozen head cannot be served from the served model."""


def encoding_of(spec: ModelSpec) -> dict[str, Any]:
    """What every head's inputs are encoded from (recorded in parts.json)."""
    return {
        "features": {f.name: f.model_dump(mode="json") for f in spec.features},
        "derived": {d.name: d.model_dump(mode="json") for d in spec.derived},
    }


def head_fields(head: HeadSpec) -> dict[str, Any]:
    return head.model_dump(mode="json", exclude=TRAINING_ONLY)


def _changes(kind: str, served: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What differs between two {name: fields} maps, in words."""
    found = []
    for name in sorted(set(served) | set(now)):
        if name not in now:
            found.append(f"{kind} {name!r} removed")
        elif name not in served:
            found.append(f"{kind} {name!r} added")
        elif served[name] != now[name]:
            keys = sorted(
                k
                for k in set(served[name]) | set(now[name])
                if served[name].get(k) != now[name].get(k)
            )
            shown = ", ".join(f"{k} {served[name].get(k)!r} -> {now[name].get(k)!r}" for k in keys)
            found.append(f"{kind} {name!r}: {shown}")
    return found


def check_frozen(spec: ModelSpec, served_dir: str | None, served_label: str) -> None:
    """Raises FreezeError when a frozen head cannot be kept from the served
    model (at `served_dir`, None when nothing is served)."""
    if not spec.frozen:
        return
    if served_dir is None:
        raise FreezeError(
            f"heads {spec.frozen} are frozen, but no model is served yet: a frozen head is "
            "served from the served model; train and push it first (without freeze)"
        )
    parts = read_parts(served_dir)
    if parts is None:
        raise FreezeError(
            f"heads {spec.frozen} are frozen, but {served_label} was exported before models "
            f"could be composed (it has no {PARTS_FILE}); push one model without freeze first"
        )
    served_heads = sorted(h for part in parts for h in part.heads)
    for name in spec.frozen:
        part = next((p for p in parts if name in p.heads), None)
        if part is None:
            raise FreezeError(
                f"head {name!r} is frozen, but {served_label} has no head {name!r} (it serves "
                f"{served_heads}): unfreeze it to train it"
            )
        if not part.encoding:
            raise FreezeError(
                f"head {name!r} is frozen, but {served_label} was exported before the encoding "
                "of its inputs was recorded, so it cannot be checked: push one model without "
                "freeze first"
            )
        now = encoding_of(spec)
        changed = _changes("feature", part.encoding["features"], now["features"])
        changed += _changes("derived column", part.encoding["derived"], now["derived"])
        changed += _changes(
            "head", {name: part.head_fields.get(name, {})}, {name: head_fields(spec.head(name))}
        )
        if changed:
            raise FreezeError(
                f"head {name!r} is frozen, but the config changed since {served_label}: "
                f"{'; '.join(changed)}. A frozen head serves the served version's encoding and "
                "tower: unfreeze it to retrain it on the new config, or undo the change"
            )
