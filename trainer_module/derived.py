"""Derived columns' functions, found by their dotted path (no TensorFlow here).

The config names a function as `package.module.function`; the loader checks
that it imports, and the transform calls it (trainer_module/preprocessing.py).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


class SpecError(ValueError):
    """A derived column's function that cannot be found."""


def resolve_function(dotted: str) -> Callable[..., Any]:
    """Imports `package.module.function` and returns the function.

    Raises:
      SpecError: naming the module or function that is not there.
    """
    module_name, _, attr = dotted.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise SpecError(f"cannot import module {module_name!r} of {dotted!r}: {error}") from None
    function = getattr(module, attr, None)
    if not callable(function):
        raise SpecError(f"{dotted!r}: module {module_name!r} has no function {attr!r}")
    return function
