"""TFMA's view of a model: its signatures called by name.

TFMA calls a signature that takes serialized examples with the examples as
its one positional argument. A SavedModel's signature takes them by name
only, so TensorFlow 2.16 first fails to bind the call, formats every
serialized example of the batch into the error message it then discards,
and only then calls the signature by position: about a tenth of the
evaluator's time per row (the profile in docs/benchmarks.md, benchmark
13). The loaded model's signatures are wrapped here so that the one
positional argument is passed by its name; everything else (the inputs'
specs TFMA reads, any other call) goes to the signature as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow_model_analysis as tfma


class KeywordCall:
    """A signature whose one positional argument is passed by its name."""

    def __init__(self, signature: Any) -> None:
        self._signature = signature
        structured = getattr(signature, "structured_input_signature", None)
        names = list(structured[1]) if structured and not structured[0] else []
        self._name = names[0] if len(names) == 1 else None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._name is not None and len(args) == 1 and not kwargs:
            return self._signature(**{self._name: args[0]})
        return self._signature(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._signature, name)


class _Construct:
    """TFMA's construct function, its model's signatures wrapped."""

    def __init__(self, construct: Callable[[], Any]) -> None:
        self._construct = construct

    def __call__(self) -> Any:
        model = self._construct()
        signatures = getattr(model, "signatures", None)
        if signatures is not None:
            wrapped = {name: KeywordCall(signatures[name]) for name in signatures}
            # Around Keras's attribute tracking: the wrappers are not saved.
            object.__setattr__(model, "signatures", wrapped)
        return model


def shared_model(path: str, name: str, eval_config: tfma.EvalConfig) -> Any:
    """tfma.default_eval_shared_model, its signatures called by name."""
    shared = tfma.default_eval_shared_model(
        eval_saved_model_path=path, model_name=name, eval_config=eval_config
    )
    loader = shared.model_loader
    return shared._replace(
        model_loader=tfma.types.ModelLoader(
            construct_fn=_Construct(loader.construct_fn), tags=loader.tags
        )
    )
