"""Beam's fixed costs cut, its results unchanged: pickles no longer clear
every logger's cache (a run's 16,000 pickles cost 18 s that way), and a
function's arguments are inspected once, not per bundle."""

from __future__ import annotations

import logging
import types

import apache_beam as beam
import dill._dill
import pytest
from apache_beam.internal import pickler
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import core

from components import beam_costs


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
    monkeypatch.setattr(dill._dill, "_trace", beam_costs.STOCK_TRACE)
    _pickles(20)
    assert len(clears) >= 40  # a dumps and a loads each


def test_with_the_cheap_trace_pickling_leaves_the_caches_and_dills_level(clears):
    beam_costs.cheap_dill_trace()
    _pickles(20)
    assert clears == []
    assert logging.getLogger("dill").level == logging.WARN


def test_a_failed_pickle_still_raises_and_leaves_dill_at_warn(clears):
    beam_costs.cheap_dill_trace()
    with pytest.raises(TypeError, match="generator"):
        pickler.dumps(i for i in range(3))
    assert logging.getLogger("dill").level == logging.WARN
    assert len(clears) == 2  # to INFO for the traced retry, back to WARN


@pytest.fixture
def inspections(monkeypatch) -> list[object]:
    """The memo, empty, installed; lists what Beam's own inspection was asked."""
    seen: list[object] = []
    stock = beam_costs.STOCK_ARGS_DEFAULTS

    def counted(f):
        seen.append(f)
        return stock(f)

    monkeypatch.setattr(beam_costs, "STOCK_ARGS_DEFAULTS", counted)
    monkeypatch.setattr(beam_costs, "_PLAIN", beam_costs.weakref.WeakKeyDictionary())
    monkeypatch.setattr(beam_costs, "_BOUND", beam_costs.weakref.WeakKeyDictionary())
    monkeypatch.setattr(core, "get_function_args_defaults", core.get_function_args_defaults)
    beam_costs.memoized_signatures()
    return seen


class _AddOffset(beam.DoFn):
    def process(self, element, offset=10, *unused, side=beam.DoFn.SideInputParam):
        yield element + offset


def test_a_dofn_method_is_inspected_once_across_instances_and_bundles(inspections):
    for _ in range(3):
        assert core.get_function_arguments(_AddOffset(), "process") == (
            ["element", "offset"],
            [10],
        )
    assert [f.__func__ for f in inspections] == [_AddOffset.process]


def test_a_function_and_its_bound_method_keep_their_own_arguments(inspections):
    plain = core.get_function_args_defaults(_AddOffset.process)
    bound = core.get_function_args_defaults(_AddOffset().process)
    assert plain[0] == ["self", "element", "offset"]
    assert bound[0] == ["element", "offset"]
    assert len(inspections) == 2


def test_changed_defaults_are_inspected_again(inspections):
    def scale(x, factor=2):
        return x * factor

    assert core.get_function_args_defaults(scale) == (["x", "factor"], [2])
    scale.__defaults__ = (3,)
    assert core.get_function_args_defaults(scale) == (["x", "factor"], [3])
    assert len(inspections) == 2


def test_callers_cannot_change_the_remembered_arguments(inspections):
    args, defaults = core.get_function_args_defaults(_AddOffset().process)
    args.append("mutated")
    defaults.clear()
    assert core.get_function_args_defaults(_AddOffset().process) == (["element", "offset"], [10])


def test_other_callables_are_inspected_each_time(inspections):
    for _ in range(2):
        assert core.get_function_args_defaults(max) == (["_"], [])  # Beam's catch-all
    assert inspections == [max, max]


def test_a_pipeline_of_dofns_and_lambdas_gives_the_same_results(inspections):
    with beam.Pipeline(argv=["--direct_running_mode=in_memory"]) as pipeline:
        numbers = pipeline | beam.Create(list(range(40)), reshuffle=False)
        shifted = numbers | beam.ParDo(_AddOffset(), 5)
        doubled = numbers | beam.Map(lambda x, k=2: x * k)
        assert_that(shifted, equal_to([n + 5 for n in range(40)]), label="Shifted")
        assert_that(doubled, equal_to([n * 2 for n in range(40)]), label="Doubled")
    functions = [
        (isinstance(f, types.MethodType), getattr(f, "__func__", f))
        for f in inspections
        if isinstance(getattr(f, "__func__", f), types.FunctionType)
    ]
    assert functions, "the pipeline inspected no function"
    assert len(functions) == len(set(functions)), "a function was inspected twice"
