"""The serving folder, TensorFlow Serving's layout: `<root>/serving/<name>/<version>/`.

Versions are positive integers, the largest is the one served; a version
appears atomically: it is written under a hidden temporary name in the same
folder and renamed into place, so a reader never sees it half-written. All
I/O goes through tfx.dsl.io.fileio, so gs:// and s3:// folders work too.
"""

from __future__ import annotations

import os
import uuid

from tfx.dsl.io import fileio
from tfx.utils import io_utils

TEMP_PREFIX = ".tmp-"
SAVED_MODEL_FILE = "saved_model.pb"


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


def write_version(model_dir: str, folder: str) -> tuple[int, str]:
    """Copies the SavedModel at `model_dir` to the next version under `folder`.

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
        fileio.rename(temporary, destination, overwrite=False)
    except BaseException:
        if fileio.exists(temporary):
            fileio.rmtree(temporary)
        raise
    return version, destination
