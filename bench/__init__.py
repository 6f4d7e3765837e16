"""Benchmarks (docs/benchmarks.md): ratios measured side by side in one run."""

import trainer_module  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
