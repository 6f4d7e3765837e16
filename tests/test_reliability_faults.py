"""Reliability, part 2: the fault table (docs/reliability.md).

One home, in order: a first run on data with extreme values (one 1e308 and
one 1e30 trip_miles) that must still learn and push version 1; then a run
killed (SIGKILL) as each component starts, every kill followed by a run
that gets past it; a second run on the same home; a served version that is
corrupt, and one that is missing its files; a read-only home; a full disk
under the serving folder. After each fault: the exit code, a message naming
the cause, the served versions as they were, no temporary folder, and a
rerun that completes.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import COMPONENTS, kill_when, taxi_sample, write_config

pytestmark = [pytest.mark.e2e, pytest.mark.reliability]
HEADS = ["big_tipper", "fare", "trip_seconds"]


def command(config: str, home: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "pipeline.cli", "run", "--config", config, "--home", home, *extra]


def run(config: str, home: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        command(config, home, *extra), capture_output=True, text=True, timeout=900
    )


class Home:
    def __init__(self, root):
        self.root = root
        self.path = str(root / "home")
        self.serving = os.path.join(self.path, "serving", "taxi-multihead")
        data = self.data = root / "data"
        data.mkdir()
        sample = taxi_sample(str(root / "sample.csv"), rows=3000, seed_every=5)
        extremes = {10: "1e308", 20: "1e30"}
        with open(sample) as src, open(data / "sample.csv", "w", newline="") as dst:
            reader = csv.DictReader(src)
            writer = csv.DictWriter(dst, reader.fieldnames)
            writer.writeheader()
            for index, row in enumerate(reader):
                row["trip_miles"] = extremes.get(index, row["trip_miles"])
                writer.writerow(row)
        # The probe's config: only trip_seconds required.
        self.config = write_config(root / "c.yaml", data, 0.6, require=["trip_seconds"])
        other = root / "other"
        other.mkdir()
        taxi_sample(str(other / "sample.csv"), rows=3000, seed_every=4)
        self.other = write_config(root / "other.yaml", other, 0.6)

    def variant(self, name: str, auc_lower: float) -> str:
        """The first config with another AUC bound (evaluation and push rerun)."""
        return write_config(
            self.root / f"{name}.yaml", self.data, auc_lower, require=["trip_seconds"]
        )

    def served(self) -> list[str]:
        return sorted(os.listdir(self.serving)) if os.path.isdir(self.serving) else []

    def summary(self) -> dict:
        with open(os.path.join(self.path, "runs", "latest.json")) as f:
            return json.load(f)


def verify_no_temporary(home: Home) -> None:
    assert [n for n in home.served() if not n.isdigit()] == []


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Home:
    home = Home(tmp_path_factory.mktemp("faults"))
    first = run(home.config, home.path)
    assert first.returncode == 0, first.stderr[-3000:]
    return home


def test_extreme_values_still_give_a_model_that_learned(home):
    summary = home.summary()
    assert summary["pushed_model"] == os.path.join(home.serving, "1")
    for head in HEADS:
        assert summary["heads"][head]["degenerate"] is None
        assert all(np.isfinite(v) for v in summary["heads"][head]["metrics"].values())
    assert summary["heads"]["big_tipper"]["metrics"]["auc"] > 0.85  # 0.5 when it was constant


@pytest.fixture(scope="module")
def kills(home) -> dict[str, tuple[str, list[str]]]:
    """A run on other data killed as each component starts, in pipeline order:
    each run gets past the component the previous one was killed in."""
    seen = {}
    for component in COMPONENTS:
        output = kill_when(command(home.other, home.path), f"[{component}] started")
        seen[component] = (output, home.served())
    rerun = run(home.other, home.path)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    seen["rerun"] = (rerun.stdout, home.served())
    return seen


@pytest.mark.parametrize("component", COMPONENTS)
def test_a_kill_in_a_component_leaves_the_served_version_and_no_temporary(home, kills, component):
    output, served = kills[component]
    assert f"[{component}] started" in output
    assert served == ["1"]


def test_after_every_kill_the_rerun_completes_and_pushes(home, kills):
    output, served = kills["rerun"]
    assert "[MultiHeadPusher] done" in output
    assert served == ["1", "2"]
    verify_no_temporary(home)


def test_a_second_run_on_the_same_home_is_refused_by_the_lock(home, kills):
    process = subprocess.Popen(
        command(home.other, home.path, "--no-cache"), stdout=subprocess.PIPE, text=True
    )
    try:
        for line in process.stdout:  # the first holds the lock once it prints a component
            if "started" in line:
                break
        second = run(home.other, home.path)
        assert second.returncode == 3
        assert "another run holds" in second.stderr and "run.lock" in second.stderr
    finally:
        process.kill()
        process.wait()
    assert home.served() == ["1", "2"]


def test_a_corrupt_served_version_is_skipped_and_the_next_push_goes_on(home, kills):
    newest = os.path.join(home.serving, "2", "saved_model.pb")
    with open(newest, "rb") as f:
        intact = f.read()
    with open(newest, "wb") as f:
        f.write(intact[:100])
    shutil.rmtree(os.path.join(home.serving, "1", "variables"))  # version 1: files missing
    # A new threshold: evaluation and push run again, training is cached.
    result = run(home.variant("corrupt", 0.61), home.path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert home.summary()["pushed_model"] == os.path.join(home.serving, "3")
    assert home.served() == ["1", "2", "3"]  # broken versions are left for a person
    verify_no_temporary(home)


@contextlib.contextmanager
def mounted(path: str, *options: str):
    """A small tmpfs at `path` (the tests run as root, as CI does)."""
    os.makedirs(path, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", path], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", path], check=False)


def test_a_read_only_home_exits_2_naming_it(home, tmp_path):
    readonly = str(tmp_path / "ro-home")
    with mounted(readonly, "size=1m", "ro"):
        result = run(home.config, readonly)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]  # after TensorFlow's own start-up lines
    assert last.startswith(f"error: cannot write to the home folder {readonly}: ")
    assert "Read-only file system" in last


def test_a_full_disk_under_the_serving_folder_fails_the_push_and_leaves_no_trace(home):
    size = sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(os.path.join(home.serving, "3"))
        for name in names
    )
    saved = str(home.root / "serving-saved")
    shutil.copytree(home.serving, saved, symlinks=True)
    shutil.rmtree(home.serving)
    with mounted(home.serving, f"size={int(size * 1.5) // 1024 + 64}k"):
        shutil.copytree(os.path.join(saved, "3"), os.path.join(home.serving, "3"))
        result = run(home.variant("full", 0.62), home.path)
        served_then = home.served()
    shutil.rmtree(home.serving, ignore_errors=True)
    shutil.copytree(saved, home.serving, symlinks=True)
    assert result.returncode == 1
    assert "MultiHeadPusher failed" in result.stderr and "No space left on device" in result.stderr
    assert served_then == ["3"]  # no half-written version 4, no temporary folder
    rerun = run(home.variant("full", 0.62), home.path)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert home.served() == ["1", "2", "3", "4"]
