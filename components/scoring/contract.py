"""What batch scoring needs to know of a pushed model and of its input files."""

from __future__ import annotations

import csv
import dataclasses
import os

from tfx.dsl.io import fileio

from trainer_module.export import serving_inputs, signature_inputs, signature_outputs
from trainer_module.part_info import read_parts
from trainer_module.signatures import COLUMNS_SIGNATURE

# How each named input of serving_columns reads a cell: its dtype.
FLOAT, WHOLE, TEXT = "DT_FLOAT", "DT_DOUBLE", "DT_STRING"


class ScoringError(ValueError):
    """Input that cannot be scored, named (file, column, head, model)."""


@dataclasses.dataclass(frozen=True)
class HeadOutputs:
    """How one head's outputs become output columns."""

    name: str
    probabilities: bool  # a multiclass head: <head>_probabilities
    classes: tuple[str, ...] = ()  # its class names (empty: class indexes)

    def columns(self, size: int) -> list[str]:
        if not self.probabilities:
            return [self.name]
        labels = self.classes or tuple(str(i) for i in range(size))
        return [self.name, *(f"{self.name}_probability_{label}" for label in labels)]


@dataclasses.dataclass(frozen=True)
class ModelContract:
    """What scoring needs to know of a pushed model, read from its folder."""

    path: str
    inputs: dict[str, str]  # column -> DT_FLOAT | DT_DOUBLE (a whole number) | DT_STRING
    heads: tuple[HeadOutputs, ...]
    sizes: dict[str, int]  # multiclass head -> number of classes
    missing_values: tuple[str, ...]
    required: frozenset[str] = frozenset()  # inputs the model cannot do without

    def output_columns(self, keep: list[str]) -> list[str]:
        names = list(keep)
        for head in self.heads:
            names += head.columns(self.sizes.get(head.name, 1))
        return names


def read_contract(model_dir: str, heads: list[str] | None = None) -> ModelContract:
    """The model's inputs and heads, checked.

    Raises:
      ScoringError: not a multi-head SavedModel of this project (no parts
        file or no serving_columns signature), or a head in `heads` it lacks.
    """
    if not fileio.exists(os.path.join(model_dir, "saved_model.pb")):
        raise ScoringError(f"{model_dir} is not a SavedModel (no saved_model.pb)")
    parts = read_parts(model_dir)
    outputs = signature_outputs(model_dir)
    if parts is None or COLUMNS_SIGNATURE not in outputs:
        raise ScoringError(
            f"{model_dir} is not a multi-head model that can be batch scored (it lacks "
            f"assets.extra/parts.json or the {COLUMNS_SIGNATURE} signature): push a model "
            "trained by this version of the pipeline"
        )
    served = [h for part in parts for h in part.heads]
    chosen = heads or served
    unknown = [h for h in chosen if h not in served]
    if unknown:
        raise ScoringError(f"--heads {unknown}: the model at {model_dir} has heads {served}")
    classes = {h: c for part in parts for h, c in part.classes.items()}
    all_outputs = outputs[COLUMNS_SIGNATURE]
    sizes = {}
    head_outputs = []
    for name in chosen:
        probabilities = f"{name}_probabilities" in all_outputs
        if probabilities:
            sizes[name] = int(all_outputs[f"{name}_probabilities"][1][-1])
        head_outputs.append(HeadOutputs(name, probabilities, tuple(classes.get(name, ()))))
    inputs = {k: dtype for k, (dtype, _) in signature_inputs(model_dir)[COLUMNS_SIGNATURE].items()}
    declared = serving_inputs(model_dir) or {}
    return ModelContract(
        path=model_dir,
        inputs=inputs,
        heads=tuple(head_outputs),
        sizes=sizes,
        missing_values=tuple(declared.get("missing_values", [])),
        required=frozenset(declared.get("required", [])),
    )


def input_files(data: str) -> list[str]:
    """The CSV or JSON Lines files at `data` (a file or a folder of them)."""
    if not fileio.exists(data):
        raise ScoringError(f"--data {data} does not exist")
    if not fileio.isdir(data):
        return [data]
    names = sorted(n.rstrip("/") for n in fileio.listdir(data))
    files = [os.path.join(data, n) for n in names if n.endswith((".csv", ".jsonl", ".json"))]
    if not files:
        raise ScoringError(f"--data {data} holds no .csv or .jsonl files")
    return files


def is_json_lines(path: str) -> bool:
    return path.endswith((".jsonl", ".json"))


def check_headers(files: list[str], contract: ModelContract, keep: list[str]) -> None:
    """Every CSV file names every column the model reads and every kept one.

    Raises:
      ScoringError: naming the file and the missing columns.
    """
    for path in files:
        if is_json_lines(path):
            continue
        with fileio.open(path, "r") as f:
            header = next(csv.reader(f), None)
        if not header:
            raise ScoringError(f"{path} is empty (no header line)")
        header[0] = header[0].removeprefix("\ufeff")
        lacking = sorted(set(contract.inputs) - set(header))
        if lacking:
            raise ScoringError(
                f"{path}: column(s) {lacking} that the model reads are not in the header "
                f"(it has {header}); add them (empty cells are missing values)"
            )
        absent = [c for c in keep if c not in header]
        if absent:
            raise ScoringError(f"{path}: --keep column(s) {absent} are not in the header")
