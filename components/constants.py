"""Execution-property keys that more than one of our components takes."""

# The component's own piece of the config as JSON (TransformSpec, ModelSpec,
# EvaluationSpec: see trainer_module/spec.py and components/evaluator/gates.py).
CONFIG_KEY = "config"
# Hash of the project's code (pipeline/pipeline.py): components are given as
# dotted paths, so without it a code change would not invalidate the cache.
CODE_FINGERPRINT_KEY = "code_fingerprint"
FLOAT_COLUMNS_KEY = "float_columns"  # in CsvExampleGen's custom_config: columns written as floats
# In CsvExampleGen's custom_config: cell values read as missing (besides the empty cell).
MISSING_VALUES_KEY = "missing_values"
# In CsvExampleGen's custom_config: a split carved out of another by a second
# hash of each row ({"split": name, "from": source split, "fraction": f}),
# for early stopping's validation slice; the other splits stay as they are.
CARVE_KEY = "carve"
