"""A head's label, prediction and weight read from TFMA's extracts as
plain numbers: one example's, or a whole batch's one per row (combiners.py)."""

from __future__ import annotations

from typing import Any

import numpy as np


def lookup(value: Any, keys: tuple[str, ...], required: bool) -> Any:
    """TFMA's model-name then output-name lookup: a dict is entered by each
    key it holds (labels and weights); predictions must hold it."""
    for key in keys:
        if isinstance(value, dict):
            if key in value:
                value = value[key]
            elif required:
                return None
    return value


def number(value: Any) -> float | None:
    """The one number an array of size 1 holds, or None for anything else."""
    if type(value) is np.ndarray or isinstance(value, np.ndarray):
        return float(value.item()) if value.size == 1 else None
    if isinstance(value, float | int | np.floating | np.integer):
        return float(value)
    return None


def column(value: Any) -> np.ndarray | None:
    """A batch's values as one number per row, or None for anything else."""
    if type(value) is not np.ndarray or value.ndim not in (1, 2):
        return None
    if value.ndim == 2 and value.shape[1] != 1:
        return None
    return value.reshape(-1)


def standard(extracts: Any, key: str) -> Any:
    """StandardMetricInputs.get_by_key(key) with no model or output name
    (the legacy singular key where the plural is absent), read from the
    extracts without its three layers of Python calls per read."""
    if key in extracts:
        return extracts[key]
    return extracts.get(key[:-1])
