"""The custom TFX components: one package each (spec, component, executor)."""

import trainer_module  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
