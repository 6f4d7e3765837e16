"""Beam's pickling without the cost of re-setting dill's log level.

Beam (2.60, dill 0.3.1.1) calls `dill.dill._trace(False)` after every pickle
and unpickle it makes, and that calls `logging.Logger.setLevel`, which in
Python clears the level cache of every logger of the process: about 1 ms
with the 1,000-odd loggers of TensorFlow, TFX and the Google clients loaded.
A 3,000-row pipeline run pickles about 16,000 times: 18 s of its 2 minutes
went there (cProfile, docs/benchmarks.md, benchmark 14). `cheap_dill_trace`
makes the call set the level only when it changes, which is all the call
does anyway: the same levels, the same traces on a failed pickle.
"""

from __future__ import annotations

import logging

import dill._dill

_LOG = logging.getLogger("dill")
STOCK_TRACE = dill._dill._trace


def _trace(boolean: bool) -> None:
    """dill's `_trace`, without a setLevel that changes nothing."""
    level = logging.INFO if boolean else logging.WARN
    if _LOG.level != level:
        _LOG.setLevel(level)


def cheap_dill_trace() -> None:
    """Installs `_trace` in dill (idempotent; this process only)."""
    dill._dill._trace = _trace  # Beam calls it as dill.dill._trace: the same module
