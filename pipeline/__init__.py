"""The pipeline: config, preflight checks, create_pipeline, local runner, CLI, summary."""

import trainer_module  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
