"""Names shared by compile, submit and schedule (no heavy imports here)."""

DEFAULT_IMAGE = "ghcr.io/tfx-multihead/tfx-multihead:0.1.0"
DEFAULT_PIPELINE_ROOT = "gs://YOUR-BUCKET/tfx-multihead"
DATA_ROOT_PARAMETER = "data-root"
SERVING_ROOT_PARAMETER = "serving-root"
