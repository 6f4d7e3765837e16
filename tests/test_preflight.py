"""Data checks before the pipeline runs: clear errors on bad CSV folders."""

from __future__ import annotations

import pytest

from pipeline import preflight
from pipeline.config_file import load_config
from pipeline.errors import DataError
from pipeline.preflight import check_data
from tests.conftest import rewrite_rows, taxi_sample

BUNDLED = load_config()
# The CSV checks on small files: the bundled config without early stopping,
# whose own check (enough rows for a validation slice) is tested below.
CONFIG = BUNDLED.model_copy(
    update={"training": BUNDLED.training.model_copy(update={"early_stopping": None})}
)


def test_early_stopping_on_too_few_rows_says_how_many_it_needs(tmp_path):
    taxi_sample(str(tmp_path / "a.csv"), rows=600)
    with pytest.raises(DataError) as refused:
        check_data(BUNDLED, str(tmp_path))
    assert str(refused.value) == (
        "training.early_stopping: 600 rows in 1 file(s) give about 400 training rows; its "
        "validation slice (validation_fraction 0.1 of them) needs at least 100 rows, so 1,000 "
        "training rows (about 1,500 rows of data): add data, raise validation_fraction, or "
        "remove training.early_stopping"
    )
    taxi_sample(str(tmp_path / "a.csv"), rows=1500)
    assert check_data(BUNDLED, str(tmp_path)) == [str(tmp_path / "a.csv")]


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
    path = taxi_sample(str(tmp_path / "a.csv"), rows=20)
    lines = open(path).read().splitlines()
    header = lines[0].split(",")
    drop = header.index("fare")
    rows = [",".join(v for i, v in enumerate(line.split(",")) if i != drop) for line in lines]
    (tmp_path / "a.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"column\(s\) \['fare'\] needed by the config"):
        check_data(CONFIG, str(tmp_path))


def test_ragged_row_names_file_and_line(tmp_path):
    path = taxi_sample(str(tmp_path / "a.csv"), rows=20)
    with open(path, "a") as f:
        f.write("1,2,3\n")
    with pytest.raises(DataError, match=r"a.csv, line 22: 3 fields, expected 18"):
        check_data(CONFIG, str(tmp_path))


def test_header_only_file(tmp_path):
    path = taxi_sample(str(tmp_path / "a.csv"), rows=1)
    header = open(path).readline()
    (tmp_path / "a.csv").write_text(header)
    with pytest.raises(DataError, match="has a header but no rows"):
        check_data(CONFIG, str(tmp_path))


def test_a_byte_order_mark_is_read_not_kept_in_the_header(tmp_path):
    path = taxi_sample(str(tmp_path / "a.csv"), rows=20)
    data = open(path, "rb").read()
    open(path, "wb").write(b"\xef\xbb\xbf" + data)
    assert check_data(CONFIG, str(tmp_path)) == [path]


def test_a_byte_that_is_not_utf8_is_named_by_line_and_column(tmp_path):
    path = taxi_sample(str(tmp_path / "a.csv"), rows=20)
    lines = open(path, "rb").read().split(b"\n")
    lines[3] = b"Caf\xe9" + lines[3]
    open(path, "wb").write(b"\n".join(lines))
    with pytest.raises(DataError) as caught:
        check_data(CONFIG, str(tmp_path))
    assert str(caught.value) == (
        f"{path}, line 4: byte 0xe9 at column 4 is not UTF-8; "
        "save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
    )


@pytest.mark.parametrize("cell", ["inf", "-inf", "nan", "1e308"])
def test_a_label_that_is_not_a_finite_number_is_named(tmp_path, cell):
    path = taxi_sample(str(tmp_path / "a.csv"), rows=20)
    rewrite_rows(path, lambda i, row: row.update(trip_seconds=cell) if i == 2 else None)
    with pytest.raises(DataError) as caught:
        check_data(CONFIG, str(tmp_path))
    message = str(caught.value)
    assert message.startswith(f"{path}, line 4, column 'trip_seconds': label '{cell}' of head")
    assert "is not a finite number" in message


def test_a_column_the_config_reads_with_no_value_at_all_is_named(tmp_path):
    path = taxi_sample(str(tmp_path / "a.csv"), rows=20)
    rewrite_rows(path, lambda i, row: row.update(trip_seconds=""))
    with pytest.raises(DataError) as caught:
        check_data(CONFIG, str(tmp_path))
    assert str(caught.value).startswith(
        "column 'trip_seconds' (label of head 'trip_seconds') has no value in any row of 1 file(s)"
    )


def test_an_extreme_feature_value_is_left_to_the_transform(tmp_path):
    path = taxi_sample(str(tmp_path / "a.csv"), rows=20)
    rewrite_rows(path, lambda i, row: row.update(trip_miles="1e308") if i == 1 else None)
    assert check_data(CONFIG, str(tmp_path)) == [path]


def test_a_slicing_column_missing_from_the_data_is_named(tmp_path):
    taxi_sample(str(tmp_path / "a.csv"), rows=20)
    evaluation = CONFIG.evaluation.model_copy(update={"slices": [["payment_type"], ["region"]]})
    sliced = CONFIG.model_copy(update={"evaluation": evaluation})
    with pytest.raises(DataError) as caught:
        check_data(sliced, str(tmp_path))
    assert "a.csv: evaluation.slices ['region'] names column(s) ['region'] that are not in the" in (
        str(caught.value)
    )
    company = evaluation.model_copy(update={"slices": [["company", "payment_type"]]})
    check_data(CONFIG.model_copy(update={"evaluation": company}), str(tmp_path))  # any CSV column


def test_a_missing_value_token_in_a_numeric_column_is_named_with_the_config_line(tmp_path):
    path = taxi_sample(str(tmp_path / "a.csv"), rows=20)
    rewrite_rows(path, lambda i, row: row.update(trip_miles="NA") if i == 4 else None)
    with pytest.raises(DataError) as caught:
        check_data(CONFIG, str(tmp_path))
    assert str(caught.value) == (
        f"{path}, line 6, column 'trip_miles': 'NA' is not a number, but the config reads "
        "the column as feature 'trip_miles' (numeric); if it means a missing value, add to "
        "the config: missing_values: ['NA']"
    )
    with_tokens = CONFIG.model_copy(update={"missing_values": ["NA"]})
    assert check_data(with_tokens, str(tmp_path)) == [path]


def test_a_word_in_a_regression_label_is_named_without_a_token_hint(tmp_path):
    path = taxi_sample(str(tmp_path / "a.csv"), rows=20)
    rewrite_rows(path, lambda i, row: row.update(fare="twelve") if i == 0 else None)
    with pytest.raises(DataError) as caught:
        check_data(CONFIG, str(tmp_path))
    assert str(caught.value) == (
        f"{path}, line 2, column 'fare': 'twelve' is not a number, but the config reads the "
        "column as the label of head 'fare' (regression); fix the cell or leave it empty"
    )


def test_a_token_counts_as_empty_when_a_column_has_no_value_at_all(tmp_path):
    path = taxi_sample(str(tmp_path / "a.csv"), rows=20)
    rewrite_rows(path, lambda i, row: row.update(trip_seconds="null"))
    with_tokens = CONFIG.model_copy(update={"missing_values": ["null"]})
    with pytest.raises(DataError, match="column 'trip_seconds' .* has no value in any row"):
        check_data(with_tokens, str(tmp_path))


def _labelled(tmp_path, head: dict, cells: dict[int, str]) -> tuple[str, object]:
    """A taxi CSV whose `tips` column is `head`'s label, set at the given rows."""
    path = taxi_sample(str(tmp_path / "a.csv"), rows=20)
    rewrite_rows(path, lambda i, row: row.update(tips=cells.get(i, row["tips"])))
    config = CONFIG.model_validate(
        {**CONFIG.model_dump(by_alias=True), "heads": [{"name": "tipped", "label": "tips", **head}]}
    )
    return path, config


def test_a_binary_label_must_be_0_or_1(tmp_path):
    path, config = _labelled(tmp_path, {"task": "binary"}, {i: "0" for i in range(20)} | {7: "2"})
    with pytest.raises(DataError) as caught:
        check_data(config, str(tmp_path))
    assert str(caught.value).startswith(
        f"{path}, line 9, column 'tips': '2' is neither 0 nor 1, the values of the label of "
        "head 'tipped' (binary)"
    )


def test_a_binary_label_with_a_third_value_names_the_other_two(tmp_path):
    cells = {i: ("yes" if i % 2 else "no") for i in range(20)} | {11: "maybe"}
    path, config = _labelled(tmp_path, {"task": "binary", "positive_class": "yes"}, cells)
    with pytest.raises(DataError) as caught:
        check_data(config, str(tmp_path))
    assert str(caught.value).startswith(
        f"{path}, line 13, column 'tips': 'maybe' is a third value of the label of head "
        "'tipped' (binary), beside 'no' (line 2) and 'yes' (line 3)"
    )


def test_a_multiclass_label_outside_its_classes_is_named(tmp_path):
    classes = {"task": "multiclass", "classes": ["low", "high"]}
    cells = {i: "low" for i in range(20)} | {3: "N/A"}
    path, config = _labelled(tmp_path, classes, cells)
    with pytest.raises(DataError) as caught:
        check_data(config, str(tmp_path))
    assert str(caught.value) == (
        f"{path}, line 5, column 'tips': 'N/A' is not one of the classes ['low', 'high'] of "
        "the label of head 'tipped' (multiclass); add it to classes, fix the cell, or leave "
        "it empty; if it means a missing value, add to the config: missing_values: ['N/A']"
    )
    numbered = {"task": "multiclass", "num_classes": 3}
    path, config = _labelled(tmp_path, numbered, {i: "1" for i in range(20)} | {5: "3"})
    with pytest.raises(DataError, match=r"line 7, column 'tips': '3' is not a class .* 0..2"):
        check_data(config, str(tmp_path))


# The fast check (Arrow blocks, distinct cells) vouches for good files only;
# on anything else the exact scan runs and names the line.
def _fast_vouches(path: str, config=CONFIG) -> bool:
    header = preflight._header(config, path)
    try:
        preflight._fast_rows(path, header, preflight._Columns(config, header))
    except preflight._Defer:
        return False
    return True


def test_the_fast_check_vouches_for_a_good_file_and_counts_as_the_scan_does(tmp_path):
    path = taxi_sample(str(tmp_path / "a.csv"), rows=300)
    header = preflight._header(CONFIG, path)
    fast, exact = preflight._Columns(CONFIG, header), preflight._Columns(CONFIG, header)
    assert preflight._fast_rows(path, header, fast) == 300
    assert preflight._check_file(path, header, path, exact) == 300
    assert fast.seen == exact.seen


def test_a_number_only_python_reads_is_left_to_the_exact_scan_which_accepts_it(tmp_path):
    path = taxi_sample(str(tmp_path / "a.csv"), rows=50)
    rewrite_rows(path, lambda i, row: row.update(fare=" 12.5") if i == 4 else None)
    assert not _fast_vouches(path)
    assert check_data(CONFIG, str(tmp_path)) == [path]


BAD_FILES = {
    "a ragged row": lambda path: open(path, "a").write("1,2\n"),
    "an empty line": lambda path: open(path, "a").write("\n"),
    "a word in a number": lambda path: rewrite_rows(
        path, lambda i, row: row.update(fare="twelve") if i == 7 else None
    ),
    "a label that is not finite": lambda path: rewrite_rows(
        path, lambda i, row: row.update(trip_seconds="inf") if i == 9 else None
    ),
    "a byte not UTF-8": lambda path: open(path, "ab").write(b"\xe9" + b",1" * 5 + b"\n"),
    "no rows": lambda path: open(path, "w").write(open(path + ".header").read()),
}


@pytest.mark.parametrize("damage", sorted(BAD_FILES))
def test_the_fast_check_leaves_a_bad_file_to_the_exact_scan(tmp_path, damage):
    path = taxi_sample(str(tmp_path / "a.csv"), rows=50)
    (tmp_path / "a.csv.header").write_text(open(path).readline())
    BAD_FILES[damage](path)
    assert not _fast_vouches(path)
    with pytest.raises(DataError):
        check_data(CONFIG, str(tmp_path))


def test_the_fast_check_leaves_a_third_binary_value_to_the_exact_scan(tmp_path):
    cells = {i: ("yes" if i % 2 else "no") for i in range(20)}
    path, config = _labelled(tmp_path, {"task": "binary", "positive_class": "yes"}, cells)
    assert _fast_vouches(path, config)
    _labelled(tmp_path, {"task": "binary", "positive_class": "yes"}, cells | {11: "maybe"})
    assert not _fast_vouches(path, config)


@pytest.mark.parametrize(
    "head, good, bad",
    [
        ({"task": "binary"}, "1", "2"),
        ({"task": "multiclass", "num_classes": 3}, "2", "3"),
        ({"task": "multiclass", "num_classes": 3}, "2", "1.5"),
        ({"task": "multiclass", "classes": ["low", "high"]}, "high", "N/A"),
    ],
)
def test_the_fast_check_vouches_for_good_labels_of_each_kind_only(tmp_path, head, good, bad):
    cells = {i: good for i in range(20)}
    path, config = _labelled(tmp_path, head, cells)
    assert _fast_vouches(path, config)
    _labelled(tmp_path, head, cells | {6: bad})
    assert not _fast_vouches(path, config)
