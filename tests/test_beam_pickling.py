"""Beam pickles without clearing every logger's cache each time (a run's
16,000 pickles cost 18 s that way), and with the same levels as before."""

from __future__ import annotations

import logging

import dill._dill
import pytest
from apache_beam.internal import pickler

from components import beam_pickling


def _pickles(count: int) -> None:
    for index in range(count):
        assert pickler.loads(pickler.dumps(lambda x, k=index: x + k))(1) == 1 + index


@pytest.fixture
def clears(monkeypatch) -> list[int]:
    """Counts the clearing of every logger's level cache (Logger.setLevel's)."""
    seen: list[int] = []
    original = logging.Manager._clear_cache

    def counted(manager) -> None:
        seen.append(1)
        original(manager)

    monkeypatch.setattr(logging.Manager, "_clear_cache", counted)
    monkeypatch.setattr(dill._dill, "_trace", dill._dill._trace)  # restored after the test
    return seen


def test_stock_beam_clears_every_logger_cache_on_each_pickle(clears, monkeypatch):
    monkeypatch.setattr(dill._dill, "_trace", beam_pickling.STOCK_TRACE)
    _pickles(20)
    assert len(clears) >= 40  # a dumps and a loads each


def test_with_the_cheap_trace_pickling_leaves_the_caches_and_dills_level(clears):
    beam_pickling.cheap_dill_trace()
    _pickles(20)
    assert clears == []
    assert logging.getLogger("dill").level == logging.WARN


def test_a_failed_pickle_still_raises_and_leaves_dill_at_warn(clears):
    beam_pickling.cheap_dill_trace()
    with pytest.raises(TypeError, match="generator"):
        pickler.dumps(i for i in range(3))
    assert logging.getLogger("dill").level == logging.WARN
    assert len(clears) == 2  # to INFO for the traced retry, back to WARN
