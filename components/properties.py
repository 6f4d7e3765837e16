"""Custom properties our components write on their output artifacts.

Written once here and read by the components downstream, the run summary
and the tests (ML Metadata keeps them with every artifact).
"""

from __future__ import annotations

from tfx import types

# ModelBlessing, by MultiHeadEvaluator.
BLESSED = "blessed"  # 1 or 0, what the stock Pusher reads too
VERDICTS = "verdicts"  # JSON: head -> metrics, thresholds, verdict, reasons
CURRENT_MODEL = "current_model"  # URI of the evaluated model
EVALUATED_ON = "evaluated_on"  # URI of the examples whose eval split judged it
BASELINE_MODEL = "baseline_model"  # URI of the served model compared with
RELEASE = "release"  # JSON: per head, from the candidate or the served model, and why
FROM_CANDIDATE, FROM_SERVED = "candidate", "served"  # a head's "from" in RELEASE

# Model, by ServedModelLookup.
FOUND = "found"  # 1 when a served model was found
SERVED_VERSION = "served_version"
SERVED_PATH = "served_path"
SKIPPED_VERSIONS = "skipped_versions"  # JSON: newer versions that do not load, and why

# Model, by MultiHeadTrainer.
WARM_START = "warm_start"  # JSON: groups warm-started, started fresh and why
# JSON: per head early stopping (best step, stopped at, best validation
# loss), the frozen heads, the validation slice, the steps run.
TRAINING = "training"

# PushedModel, by MultiHeadPusher.
PUSHED = "pushed"  # 1 or 0
PUSHED_DESTINATION = "pushed_destination"
PUSHED_VERSION = "pushed_version"
PUSH_REFUSED = "refused"  # why a blessed model was not pushed
HEAD_SOURCES = "head_sources"  # JSON: head -> served_from (version), reason


def is_found(model: types.Artifact) -> bool:
    """Whether a ServedModelLookup output holds a model."""
    return bool(model.get_int_custom_property(FOUND))


def is_blessed(blessing: types.Artifact) -> bool:
    return bool(blessing.get_int_custom_property(BLESSED))
