"""The image recipe installs exactly the lock's pinned set plus this project."""

from __future__ import annotations

import pathlib
import re

import tomli

ROOT = pathlib.Path(__file__).resolve().parent.parent


def lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def normalize(requirement: str) -> tuple[str, str]:
    name, version = requirement.split("==")
    return re.sub(r"[-_.]+", "-", name.split("[")[0]).lower(), version


def test_every_lock_line_is_an_exact_pin():
    lines = [
        line
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines and all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[^\s=]+", line) for line in lines)


def test_pyproject_pins_agree_with_the_lock():
    project = tomli.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = lock()
    requirements = project["dependencies"] + project["optional-dependencies"]["dev"]
    for requirement in requirements:
        name, version = normalize(requirement)
        assert pins.get(name) == version, f"{requirement} vs lock {pins.get(name)}"


def test_dockerfile_installs_the_lock_and_nothing_else():
    text = (ROOT / "kubeflow" / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.10[-.\w]* AS base$", text, re.M)
    assert "COPY requirements.lock" in text
    assert "pip install -r requirements.lock" in text
    assert "pip install --no-deps ." in text
    # Any other pin in the recipe (pip itself aside) must be the lock's.
    pins = lock()
    for requirement in re.findall(r'"?([A-Za-z0-9_.\-\[\]]+==[\w.]+)"?', text):
        name, version = normalize(requirement)
        if name != "pip":
            assert pins.get(name) == version, requirement
    for package in ("pipeline", "components", "trainer_module", "kubeflow"):
        assert f"COPY {package} ./{package}" in text
    # The default target is the pipeline's image; Dataflow's worker image
    # takes Beam's entry point from the SDK image of the locked Beam.
    assert text.rstrip().splitlines()[-1] == "FROM base AS pipeline"
    beam = re.search(r"apache/beam_python3\.10_sdk:([\w.]+) ", text)
    assert beam and beam.group(1) == pins["apache-beam"]
