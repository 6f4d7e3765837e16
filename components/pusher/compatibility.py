"""Signature compatibility of a candidate with the served model.

Clients depend on signature and output names, dtypes and shapes: a candidate
that drops or renames a head's signature, or changes an output, would break
them; so would one that requires an input column the served model accepts
missing (or does not read at all). New signatures and outputs are fine.
A signature of named inputs (`serving_columns`) must keep them as they are:
TensorFlow Serving refuses a request that lacks one of the signature's
inputs, or names one it does not have.
"""

from __future__ import annotations

from trainer_module.export import Output, serving_inputs, signature_inputs, signature_outputs


def _show(output: Output) -> str:
    dtype, shape = output
    dims = "unknown rank" if shape is None else "[" + ", ".join(str(d) for d in shape) + "]"
    return f"{dtype.removeprefix('DT_').lower()} {dims}"


def incompatibilities(served_dir: str, candidate_dir: str, served_label: str) -> list[str]:
    """What the candidate breaks for clients of the served model, in words."""
    served = signature_outputs(served_dir)
    candidate = signature_outputs(candidate_dir)
    problems = []
    for name, outputs in sorted(served.items()):
        if name not in candidate:
            problems.append(f"signature {name!r} is missing ({served_label} has it)")
            continue
        for key, output in sorted(outputs.items()):
            new = candidate[name].get(key)
            if new is None:
                problems.append(f"output {key!r} of signature {name!r} is missing")
            elif new != output:
                problems.append(
                    f"output {key!r} of signature {name!r} changes from "
                    f"{_show(output)} to {_show(new)}"
                )
    problems += _changed_inputs(served_dir, candidate_dir, served_label, set(candidate))
    problems += _newly_required(served_dir, candidate_dir, served_label)
    return problems


def _changed_inputs(
    served_dir: str, candidate_dir: str, served_label: str, kept: set[str]
) -> list[str]:
    """Named inputs (not the `examples` tensor) added, dropped or retyped."""
    served, candidate = signature_inputs(served_dir), signature_inputs(candidate_dir)
    problems = []
    for name in sorted(set(served) & kept):
        before, after = served[name], candidate[name]
        for key in sorted(set(before) - set(after)):
            problems.append(
                f"input {key!r} of signature {name!r} is gone (clients of {served_label} "
                "send it, and TensorFlow Serving refuses an input the signature lacks)"
            )
        for key in sorted(set(after) - set(before)):
            problems.append(
                f"input {key!r} of signature {name!r} is new (clients of {served_label} "
                "do not send it)"
            )
        for key in sorted(set(before) & set(after)):
            if before[key] != after[key]:
                problems.append(
                    f"input {key!r} of signature {name!r} changes from "
                    f"{_show(before[key])} to {_show(after[key])}"
                )
    return problems


def _newly_required(served_dir: str, candidate_dir: str, served_label: str) -> list[str]:
    served, candidate = serving_inputs(served_dir), serving_inputs(candidate_dir)
    if served is None or candidate is None:
        return []
    return [
        f"input {name!r} becomes required ({served_label} accepts examples without it)"
        for name in sorted(set(candidate["required"]) - set(served["required"]))
    ]
