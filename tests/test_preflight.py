"""Data checks before the pipeline runs: clear errors on bad CSV folders."""

from __future__ import annotations

import pytest

from pipeline.config_file import load_config
from pipeline.errors import DataError
from pipeline.preflight import check_data
from tests.conftest import taxi_sample

CONFIG = load_config()


def test_taxi_sample_passes(tmp_path):
    taxi_sample(str(tmp_path / "a.csv"), rows=50)
    assert check_data(CONFIG, str(tmp_path)) == [str(tmp_path / "a.csv")]


def test_missing_folder_and_no_csv(tmp_path):
    with pytest.raises(DataError, match="data folder not found"):
        check_data(CONFIG, str(tmp_path / "nope"))
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match=r"no \*.csv files"):
        check_data(CONFIG, str(tmp_path))


def test_missing_column_is_named(tmp_path):
    path = taxi_sample(str(tmp_path / "a.csv"), rows=5)
    lines = open(path).read().splitlines()
    header = lines[0].split(",")
    drop = header.index("fare")
    rows = [",".join(v for i, v in enumerate(line.split(",")) if i != drop) for line in lines]
    (tmp_path / "a.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"column\(s\) \['fare'\] needed by the config"):
        check_data(CONFIG, str(tmp_path))


def test_ragged_row_names_file_and_line(tmp_path):
    path = taxi_sample(str(tmp_path / "a.csv"), rows=5)
    with open(path, "a") as f:
        f.write("1,2,3\n")
    with pytest.raises(DataError, match=r"a.csv, line 7: 3 fields, expected 18"):
        check_data(CONFIG, str(tmp_path))


def test_header_only_file(tmp_path):
    path = taxi_sample(str(tmp_path / "a.csv"), rows=1)
    header = open(path).readline()
    (tmp_path / "a.csv").write_text(header)
    with pytest.raises(DataError, match="has a header but no rows"):
        check_data(CONFIG, str(tmp_path))
