"""Names of the exported SavedModel's signatures and input (a client contract).

Every signature but COLUMNS_SIGNATURE takes `examples`, a [batch] string
tensor of serialized tf.Example; COLUMNS_SIGNATURE takes each raw column as
a named [batch] tensor (trainer_module/columns.py). Per-head output names
are the tasks' (trainer_module.tasks).
"""

SERVING_SIGNATURE = "serving_default"  # every head's outputs
# Every head's outputs, from raw columns as named tensors (REST JSON rows).
COLUMNS_SIGNATURE = "serving_columns"
TRANSFORM_SIGNATURE = "transform_features"  # transformed features, labels, weights
INPUT_NAME = "examples"
# Internal to every SavedModel; not a signature a client calls.
INTERNAL_SIGNATURE = "__saved_model_init_op"
# A head is a signature of its own, so its name may not be one of these.
RESERVED_SIGNATURES = frozenset({SERVING_SIGNATURE, COLUMNS_SIGNATURE, TRANSFORM_SIGNATURE})
# Beside the SavedModel (TF Serving's `assets.extra` convention): which raw
# columns a serving example must carry and which it may leave out.
INPUTS_FILE = "assets.extra/inputs.json"
