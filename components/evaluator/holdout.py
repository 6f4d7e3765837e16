"""The candidate judged on the served version's holdout as well.

The change bounds compare the candidate with the served model on the new
span's eval split. A corruption that both models suffer alike there (a
feature made constant, a category renamed throughout) moves both metrics,
and the bounds see no change; on the examples that judged the served
version (its holdout, recorded by the pusher), only the candidate suffers.
So each head's change bounds are applied on both: a head passes when it is
not worse than allowed on either.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from absl import logging
from tfx.dsl.io import fileio
from tfx.utils import io_utils

from components import serving
from components.evaluator.eval_config import BASELINE, CANDIDATE, build_eval_config
from components.evaluator.gates import EvaluationSpec
from components.evaluator.models import shared_model
from components.evaluator.results import (
    OVERALL,
    SliceResults,
    by_output,
    model_outputs,
    read_results,
    run_tfma,
)
from components.evaluator.verdicts import FAIL, add_holdout_checks

EVAL_SPLIT_DIR = "Split-eval"


def _groups(served_path: str, spec: EvaluationSpec) -> tuple[dict[str, list[str]], list[str]]:
    """Examples URI -> heads judged on it, and the heads whose holdout is gone."""
    changing = {h.name for h in spec.heads if any(b.has_change for b in h.thresholds.values())}
    groups: dict[str, list[str]] = {}
    gone = []
    for head, uri in sorted(serving.read_holdout(served_path).items()):
        if head not in changing:
            continue
        if fileio.exists(os.path.join(uri, EVAL_SPLIT_DIR)):
            groups.setdefault(uri, []).append(head)
        else:
            gone.append(head)
    return groups, gone


def judge(
    make_pipeline: Callable[[], Any],
    spec: EvaluationSpec,
    candidate_path: str,
    served_path: str,
    served_version: Any,
    current_examples: str,
    out_dir: str,
    head_verdicts: dict[str, dict[str, Any]],
) -> None:
    """Adds each head's holdout checks to its verdict (in place)."""
    groups, gone = _groups(served_path, spec)
    for head in gone:
        head_verdicts[head]["reasons"].append(
            f"{head}: the holdout of served version {served_version} is gone; judged on "
            "this span only"
        )
    for index, (uri, heads) in enumerate(sorted(groups.items())):
        if uri.rstrip("/") == current_examples.rstrip("/"):
            continue  # the same examples as the main evaluation
        # The holdout judges the change bounds on the whole split, not per slice.
        part = spec.model_copy(update={"heads": [spec.head(h) for h in heads], "slices": []})
        eval_config = build_eval_config(part, with_baseline=True)
        models = [
            shared_model(path, name, eval_config)
            for name, path in ((CANDIDATE, candidate_path), (BASELINE, served_path))
        ]
        output = os.path.join(out_dir, "holdout", str(index))
        pattern = io_utils.all_files_pattern(os.path.join(uri, EVAL_SPLIT_DIR))
        logging.info("judging %s on served version %s's holdout %s", heads, served_version, uri)
        try:
            with make_pipeline() as pipeline:
                run_tfma(pipeline, pattern, models, eval_config, output)
        except Exception as error:  # the candidate cannot read the served version's examples
            first = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
            for head in heads:
                verdict = head_verdicts[head]
                verdict["verdict"] = FAIL
                verdict["reasons"].insert(
                    0,
                    f"{head}: cannot be judged on served version {served_version}'s holdout "
                    f"{uri}: {first}",
                )
            continue
        overall = read_results(output).get(OVERALL, SliceResults())
        candidate = model_outputs(overall, CANDIDATE, part)
        baseline = model_outputs(overall, BASELINE, part)
        changes = by_output(overall.changes, part)
        for head in part.heads:
            add_holdout_checks(
                head_verdicts[head.name],
                head,
                candidate.get(head.output, {}),
                baseline.get(head.output, {}),
                changes.get(head.output, {}),
                served_version,
                spec.confidence,
            )
