"""The home lock: one run per home; a dead holder blocks nobody."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from pipeline.cli import main
from pipeline.errors import LockBusy
from pipeline.lock import home_lock


def test_second_holder_is_refused_with_the_holder_named(tmp_path):
    with home_lock(str(tmp_path)):
        with pytest.raises(LockBusy, match=r"another run holds .*run.lock .*pid"):
            with home_lock(str(tmp_path)):
                pass
    with home_lock(str(tmp_path)):  # released on exit
        pass


def test_waiting_gives_up_after_the_deadline(tmp_path):
    with home_lock(str(tmp_path)):
        started = time.monotonic()
        with pytest.raises(LockBusy, match="gave up waiting"):
            with home_lock(str(tmp_path), wait_seconds=0.3, poll=0.1):
                pass
        assert time.monotonic() - started >= 0.3


def test_killed_holder_releases_the_lock(tmp_path):
    code = (
        "import sys, time; sys.path.insert(0, '.');"
        "from pipeline.lock import home_lock;"
        f"ctx = home_lock({str(tmp_path)!r}); ctx.__enter__(); print('held', flush=True);"
        "time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(LockBusy):
        with home_lock(str(tmp_path)):
            pass
    holder.kill()
    holder.wait()
    with home_lock(str(tmp_path)):
        pass


def test_retrain_command_exits_3_while_another_runs(tmp_path, capsys):
    data = tmp_path / "spans" / "span-1"
    data.mkdir(parents=True)
    (data / "a.csv").write_text("x\n1\n")
    home = str(tmp_path / "home")
    with home_lock(home):
        code = main(["retrain", "--data", str(tmp_path / "spans"), "--home", home])
    assert code == 3
    assert "another run holds" in capsys.readouterr().err


def test_retrain_without_span_folders_explains_the_layout(tmp_path, capsys):
    (tmp_path / "flat.csv").write_text("x\n1\n")
    assert main(["retrain", "--data", str(tmp_path), "--home", str(tmp_path / "h")]) == 2
    assert "expected span-<N>/ folders of CSV files" in capsys.readouterr().err


def test_run_command_exits_3_while_another_run_holds_the_home(tmp_path, capsys):
    from tests.conftest import taxi_sample

    data = tmp_path / "data"
    data.mkdir()
    taxi_sample(str(data / "a.csv"), rows=1600)  # enough for the validation slice
    home = str(tmp_path / "home")
    with home_lock(home):
        assert main(["run", "--data", str(data), "--home", home]) == 3
    assert "another run holds" in capsys.readouterr().err
