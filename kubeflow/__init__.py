"""Kubeflow Pipelines: compile to KFP v2 IR, submit, schedule, follow, replay."""

import trainer_module  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
