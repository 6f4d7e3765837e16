"""The serving folder, TensorFlow Serving's layout: `<root>/serving/<name>/<version>/`.

Versions are positive integers, the largest is the one served; a version
appears atomically: it is written under a hidden temporary name in the same
folder and renamed into place, so a reader never sees it half-written. All
I/O goes through tfx.dsl.io.fileio, so gs:// and s3:// folders work too.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid

from tfx.dsl.io import fileio
from tfx.utils import io_utils

TEMP_PREFIX = ".tmp-"
SAVED_MODEL_FILE = "saved_model.pb"
# Beside the SavedModel in a pushed version: head -> URI of the examples
# artifact whose eval split judged that head (the served version's holdout,
# on which the next candidate is judged too).
HOLDOUT_FILE = "assets.extra/holdout.json"


def serving_dir(root: str, pipeline_name: str) -> str:
    """The serving folder of a pipeline under a home or a pipeline root."""
    return f"{root.rstrip('/')}/serving/{pipeline_name}"


def served_versions(folder: str) -> list[int]:
    """Numbered version folders under `folder`, ascending."""
    if not fileio.exists(folder):
        return []
    names = [name.rstrip("/") for name in fileio.listdir(folder)]
    return sorted(int(name) for name in names if name.isdigit())


def version_dir(folder: str, version: int) -> str:
    return os.path.join(folder, str(version))


def content_fingerprint(folder: str) -> str:
    """A hash of every file's path and bytes under `folder` (a version's content)."""
    digest = hashlib.sha256()
    for root, _, files in sorted(fileio.walk(folder)):
        for name in sorted(files):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, folder).encode())
            with fileio.open(path, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()[:16]


def load_problem(folder: str) -> str | None:
    """Why the SavedModel in `folder` does not load (one line), or None when it does.

    A real load, as TensorFlow Serving would do it: a truncated saved_model.pb,
    missing variables or a folder without a model all fail here.
    """
    import tensorflow as tf

    if not fileio.exists(os.path.join(folder, SAVED_MODEL_FILE)):
        return f"no {SAVED_MODEL_FILE} in {folder}"
    try:
        tf.saved_model.load(folder)
    except Exception as error:  # any failure to load means: not servable
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        return f"{type(error).__name__}: {first[:300]}"
    return None


def newest_loadable(folder: str) -> tuple[int | None, dict[int, str]]:
    """The newest version that loads, and each newer one that does not (with why).

    TensorFlow Serving keeps serving the last version it loaded when a newer
    one fails to load, so the newest loadable version is what clients get.
    """
    skipped: dict[int, str] = {}
    for version in reversed(served_versions(folder)):
        problem = load_problem(version_dir(folder, version))
        if problem is None:
            return version, skipped
        skipped[version] = problem
    return None, skipped


def remove_leftovers(folder: str) -> list[str]:
    """Deletes temporary folders that a killed push left behind; returns them.

    Pushes to one serving folder do not overlap (the local runs hold the
    home's lock; schedule Kubeflow runs with max concurrency 1), so a
    temporary folder present before a push is an interrupted one.
    """
    if not fileio.exists(folder):
        return []
    names = [name.rstrip("/") for name in fileio.listdir(folder)]
    removed = [os.path.join(folder, n) for n in sorted(names) if n.startswith(TEMP_PREFIX)]
    for path in removed:
        fileio.rmtree(path)
    return removed


def read_holdout(model_dir: str) -> dict[str, str]:
    """head -> examples URI of a pushed version ({} for versions without it)."""
    path = os.path.join(model_dir, HOLDOUT_FILE)
    if not fileio.exists(path):
        return {}
    with fileio.open(path) as f:
        return json.load(f)


def write_version(
    model_dir: str, folder: str, holdout: dict[str, str] | None = None
) -> tuple[int, str]:
    """Copies the SavedModel at `model_dir` to the next version under `folder`,
    with `holdout` (HOLDOUT_FILE) beside it.

    Returns:
      (version, destination path).
    Raises:
      FileNotFoundError: `model_dir` holds no SavedModel.
    """
    if not fileio.exists(os.path.join(model_dir, SAVED_MODEL_FILE)):
        raise FileNotFoundError(f"no SavedModel to push at {model_dir}")
    fileio.makedirs(folder)
    version = (served_versions(folder) or [0])[-1] + 1
    destination = version_dir(folder, version)
    temporary = os.path.join(folder, f"{TEMP_PREFIX}{version}-{uuid.uuid4().hex[:8]}")
    try:
        io_utils.copy_dir(model_dir, temporary)
        if holdout:
            fileio.makedirs(os.path.dirname(os.path.join(temporary, HOLDOUT_FILE)))
            with fileio.open(os.path.join(temporary, HOLDOUT_FILE), "w") as f:
                f.write(json.dumps(holdout, indent=2, sort_keys=True))
        fileio.rename(temporary, destination, overwrite=False)
    except BaseException:
        if fileio.exists(temporary):
            fileio.rmtree(temporary)
        raise
    return version, destination
