"""Two of Beam's fixed costs, cut without changing what Beam does.

Installed by `lighten_beam()` in the process that runs a pipeline (the local
runner, and each Beam executor, which may run in a process of its own):

1. **dill's log level.** Beam (2.60, dill 0.3.1.1) calls
   `dill.dill._trace(False)` after every pickle and unpickle it makes, and
   that calls `logging.Logger.setLevel`, which in Python clears the level
   cache of every logger of the process: about 1 ms with the 1,000-odd
   loggers of TensorFlow, TFX and the Google clients loaded. A 3,000-row
   pipeline run pickles about 16,000 times: 18 s of its 2 minutes went there
   (cProfile, docs/benchmarks.md, benchmark 14). `cheap_dill_trace` sets the
   level only when it changes, which is all the call does anyway: the same
   levels, the same traces on a failed pickle.
2. **Signature inspection.** Beam asks `inspect.signature` for the arguments
   of the same DoFn methods and callables each time it builds a DoFn runner,
   that is per bundle and per stage: about 4,700 inspections in a 3,000-row
   run, for about 70 distinct functions. `memoized_signatures` remembers
   `get_function_args_defaults` per function, and per underlying function
   for bound methods (whose instance does not change the arguments named).
   An entry is used only while the function's code, defaults, `__wrapped__`
   and `__signature__` are the objects it was computed from; any other
   callable is inspected each time, as before.
"""

from __future__ import annotations

import logging
import types
import weakref
from collections.abc import Callable
from typing import Any

import dill._dill
from apache_beam.transforms import core

from components.beam_tfrecords import chunked_tfrecord_reads

_LOG = logging.getLogger("dill")
STOCK_TRACE = dill._dill._trace
STOCK_ARGS_DEFAULTS = core.get_function_args_defaults

ArgsDefaults = tuple[list[str], list[Any]]
# Function -> (what its signature depends on, its args and defaults). Two
# maps: a function's own signature names `self`, its bound methods' do not.
_PLAIN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_BOUND: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _trace(boolean: bool) -> None:
    """dill's `_trace`, without a setLevel that changes nothing."""
    level = logging.INFO if boolean else logging.WARN
    if _LOG.level != level:
        _LOG.setLevel(level)


def cheap_dill_trace() -> None:
    """Installs `_trace` in dill (idempotent; this process only)."""
    dill._dill._trace = _trace  # Beam calls it as dill.dill._trace: the same module


def _depends_on(function: types.FunctionType) -> tuple[Any, ...]:
    return (
        function.__code__,
        function.__defaults__,
        function.__kwdefaults__,
        getattr(function, "__wrapped__", None),
        getattr(function, "__signature__", None),
    )


def _same(left: tuple[Any, ...], right: tuple[Any, ...]) -> bool:
    return all(a is b for a, b in zip(left, right, strict=True))


def _args_defaults(f: Callable) -> ArgsDefaults:
    """Beam's `get_function_args_defaults`, remembered for plain functions
    and bound methods of plain functions."""
    if isinstance(f, types.MethodType) and isinstance(f.__func__, types.FunctionType):
        table, function = _BOUND, f.__func__
    elif isinstance(f, types.FunctionType):
        table, function = _PLAIN, f
    else:
        return STOCK_ARGS_DEFAULTS(f)
    depends = _depends_on(function)
    known = table.get(function)
    if known is None or not _same(known[0], depends):
        known = (depends, STOCK_ARGS_DEFAULTS(f))
        table[function] = known
    args, defaults = known[1]
    return list(args), list(defaults)  # callers get lists of their own, as before


def memoized_signatures() -> None:
    """Installs `_args_defaults` in Beam (idempotent; this process only)."""
    core.get_function_args_defaults = _args_defaults


def lighten_beam() -> None:
    """Both fixes, and TFRecords read a chunk at a time (beam_tfrecords.py),
    for the pipelines this process runs or executes."""
    cheap_dill_trace()
    memoized_signatures()
    chunked_tfrecord_reads()
