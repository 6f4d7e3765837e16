"""Names of the exported SavedModel's signatures and input (a client contract).

Every signature takes `examples`, a [batch] string tensor of serialized
tf.Example. Per-head output names are the tasks' (trainer_module.tasks).
"""

SERVING_SIGNATURE = "serving_default"  # every head's outputs
TRANSFORM_SIGNATURE = "transform_features"  # transformed features, labels, weights
INPUT_NAME = "examples"
# Internal to every SavedModel; not a signature a client calls.
INTERNAL_SIGNATURE = "__saved_model_init_op"
# A head is a signature of its own, so its name may not be one of these.
RESERVED_SIGNATURES = frozenset({SERVING_SIGNATURE, TRANSFORM_SIGNATURE})
# Beside the SavedModel (TF Serving's `assets.extra` convention): which raw
# columns a serving example must carry and which it may leave out.
INPUTS_FILE = "assets.extra/inputs.json"
