"""`multihead run` refuses a bad config or data folder before any component."""

from __future__ import annotations

import os

from pipeline.cli import main
from tests.conftest import taxi_sample


def test_bad_config_exits_2_naming_the_field(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("name: demo\nfeatures: []\nheads: []\n")
    assert main(["run", "--config", str(config), "--home", str(tmp_path / "home")]) == 2
    err = capsys.readouterr().err
    assert "features: List should have at least 1 item" in err
    assert not os.path.exists(tmp_path / "home")


def test_ragged_csv_exits_2_naming_file_and_line(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    path = taxi_sample(str(data / "part.csv"), rows=20)
    with open(path, "a") as f:
        f.write("only,three,fields\n")
    assert main(["run", "--data", str(data), "--home", str(tmp_path / "home")]) == 2
    err = capsys.readouterr().err
    assert "part.csv, line 22: 3 fields, expected 18" in err


def test_a_bad_option_exits_2_and_says_what_to_write(capsys):
    assert main(["schedule", "--host", "http://127.0.0.1:9", "--cron", "0 3 * * *"]) == 2
    assert "did you mean '0 0 3 * * *'?" in capsys.readouterr().err


def test_a_home_that_cannot_be_written_exits_2_naming_it(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    taxi_sample(str(data / "part.csv"), rows=1600)  # enough for the validation slice
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o500)
    try:
        if os.access(home, os.W_OK):  # root ignores the mode: take a file instead
            home.chmod(0o700)
            home.rmdir()
            home.write_text("not a folder")
        assert main(["run", "--data", str(data), "--home", str(home)]) == 2
    finally:
        if home.is_dir():
            home.chmod(0o700)
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write to the home folder {home}: ")
    assert "pass --home with a folder you can write to" in err
