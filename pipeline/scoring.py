"""`multihead predict`: batch scoring of a CSV (or JSON Lines) with a pushed model.

The model is `--model` (a SavedModel, or a serving folder: its newest version
that loads) or the newest served version under `--home`. Scoring itself is
components/scoring/batch.py, on Beam: `--beam-arg` options (or the config's
`beam` section with `--config`) take it to another runner.
"""

from __future__ import annotations

import argparse
import os

from pipeline.config_file import load_config
from pipeline.errors import DataError, UsageError


def _newest(folder: str) -> str:
    from components import serving

    version, skipped = serving.newest_loadable(folder)
    if version is None:
        why = "; ".join(f"version {v}: {p}" for v, p in skipped.items()) or "no version in it"
        raise UsageError(f"no model that loads in the serving folder {folder} ({why})")
    return serving.version_dir(folder, version)


def model_dir(model: str | None, home: str, pipeline_name: str | None) -> str:
    """The SavedModel to score with (see the module docstring).

    Raises:
      UsageError: nothing to score with, naming where it looked.
    """
    from components import serving

    if model:
        if not os.path.exists(model):
            raise UsageError(f"--model {model} does not exist")
        if os.path.exists(os.path.join(model, serving.SAVED_MODEL_FILE)):
            return model
        return _newest(model)
    root = os.path.join(home, "serving")
    names = sorted(os.listdir(root)) if os.path.isdir(root) else []
    if pipeline_name:
        names = [n for n in names if n == pipeline_name]
    if not names:
        raise UsageError(
            f"no served model under {root}"
            + (f" for pipeline {pipeline_name!r}" if pipeline_name else "")
            + ": run the pipeline first, or pass --model DIR"
        )
    if len(names) > 1:
        raise UsageError(f"{root} serves {names}: pass --config (its name) or --model DIR")
    return _newest(os.path.join(root, names[0]))


def _names(text: str | None) -> list[str]:
    return [n.strip() for n in (text or "").split(",") if n.strip()]


def cmd_predict(args: argparse.Namespace) -> int:
    # TensorFlow and Beam are imported here, not when the parser is built.
    from components.scoring.batch import score
    from components.scoring.contract import ScoringError, input_files, read_contract

    config = load_config(args.config) if args.config else None
    beam_args = list(args.beam_arg or []) or (config.beam_args() if config else [])
    path = model_dir(args.model, args.home, config.name if config else None)
    try:
        contract = read_contract(path, _names(args.heads) or None)
        files = input_files(args.data)
        print(
            f"scoring {len(files)} file(s) of {args.data} with {path} "
            f"(heads: {', '.join(h.name for h in contract.heads)})",
            flush=True,
        )
        done = score(files, contract, args.output, _names(args.keep), beam_args)
    except ScoringError as error:
        raise DataError(str(error)) from None
    rate = done.rows / max(done.seconds, 1e-9)
    print(f"wrote {done.rows:,} rows to {done.output} in {done.seconds:.1f}s ({rate:,.0f} rows/s)")
    if done.rejects:
        print(f"{done.rejects:,} row(s) could not be read: see {done.rejects_file}")
    return 0


def add_command(sub: argparse._SubParsersAction, default_home: str) -> None:
    predict = sub.add_parser(
        "predict", help="score a CSV or JSON Lines file or folder with a pushed model, every head"
    )
    predict.add_argument("--data", required=True, help="a .csv or .jsonl file, or a folder of them")
    predict.add_argument("--output", required=True, help="the .csv or .jsonl file to write")
    predict.add_argument("--model", help="a SavedModel, or a serving folder (its newest version)")
    predict.add_argument(
        "--home", default=default_home, help=f"score with its newest served model ({default_home})"
    )
    predict.add_argument("--config", help="the pipeline's config: its name and its beam section")
    predict.add_argument("--keep", help="input columns to copy into the output, e.g. trip_id")
    predict.add_argument("--heads", help="heads to score (default: every head), e.g. fare,tips")
    predict.add_argument(
        "--beam-arg", action="append", metavar="ARG", help="a Beam option (repeatable)"
    )
    predict.set_defaults(func=cmd_predict)
