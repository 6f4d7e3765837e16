"""The degenerate-output check on a few values worked out by hand."""

from __future__ import annotations

import numpy as np

from components.evaluator.degenerate import problem


def test_outputs_that_vary_are_fine():
    assert problem(np.array([0.2, 0.4, 0.9]), 3) is None
    assert problem(np.array([[0.1, 0.9], [0.6, 0.4]]), 2) is None  # class probabilities


def test_the_same_output_for_every_example_is_named_with_its_value():
    reason = problem(np.array([0.4312, 0.4312, 0.4312], np.float32), 3)
    assert reason.startswith("outputs are the same for all 3 eval examples ([0.4312])")
    # a spread of float rounding on a large value is still constant
    assert problem(np.array([1e6, 1e6 + 0.5]), 2) is not None


def test_outputs_that_are_not_numbers_are_named_with_how_many():
    reason = problem(np.array([0.5, np.nan, np.inf, 0.1]), 4)
    assert reason == "outputs are not finite numbers for 2 of 4 eval examples"
