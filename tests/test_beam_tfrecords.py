"""Beam's TFRecord files read a chunk at a time: the same records, the same
claims and the same errors as Beam's own reader, compressed or not; and
written a block at a time: the same files as Beam's own writer."""

from __future__ import annotations

import glob
import gzip
import os

import apache_beam as beam
import pytest
from apache_beam.io import tfrecordio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.range_trackers import OffsetRangeTracker
from apache_beam.testing.util import assert_that, equal_to

from components import beam_tfrecords

# Records of every size around the chunk (set to 64 bytes below), empty too.
RECORDS = [b"", b"x", b"a" * 63, b"b" * 64, b"c" * 65, os.urandom(300), b"tail"]


def _write(path: str, records: list[bytes], compression: str) -> str:
    opener = open if compression == "none" else __import__(compression).open
    with opener(path, "wb") as f:
        for record in records:
            tfrecordio._TFRecordUtil.write_record(f, record)
    return path


def _read(path: str, reader, compression: str = CompressionTypes.AUTO) -> tuple[list, list]:
    source = tfrecordio._TFRecordSource(path, beam.coders.BytesCoder(), compression, validate=True)
    tracker = OffsetRangeTracker(0, OffsetRangeTracker.OFFSET_INFINITY)
    claimed: list[int] = []
    original = tracker.try_claim

    def claim(position: int) -> bool:
        claimed.append(position)
        return original(position)

    tracker.try_claim = claim
    return list(reader(source, path, tracker)), claimed


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(beam_tfrecords, "CHUNK_BYTES", 64)


@pytest.mark.parametrize("compression, name", [("gzip", "data.gz"), ("none", "data")])
def test_the_same_records_and_claims_as_beams_reader(tmp_path, compression, name):
    path = _write(str(tmp_path / name), RECORDS, compression)
    ours = _read(path, beam_tfrecords.read_records)
    stock = _read(path, beam_tfrecords.STOCK_READ_RECORDS)
    assert ours == stock
    assert ours[0] == RECORDS


def test_an_empty_file_has_no_records(tmp_path):
    path = _write(str(tmp_path / "empty.gz"), [], "gzip")
    assert _read(path, beam_tfrecords.read_records)[0] == []


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda data: data[:-2], "Fewer than"),  # cut in a record's checksum
        (lambda data: data + b"\x01\x02", "Fewer than 12 bytes"),  # a partial header
        (lambda data: data[:8] + b"\x00" + data[9:], "Mismatch of length mask"),
        (lambda data: data[:-5] + bytes([data[-5] ^ 1]) + data[-4:], "Mismatch of data mask"),
    ],
)
def test_a_damaged_file_fails_as_beams_reader_does(tmp_path, damage, message):
    clean = tmp_path / "clean"
    _write(str(clean), RECORDS, "none")
    damaged = tmp_path / "damaged"
    damaged.write_bytes(damage(clean.read_bytes()))
    errors = []
    for reader in (beam_tfrecords.read_records, beam_tfrecords.STOCK_READ_RECORDS):
        with pytest.raises(ValueError, match=message) as raised:
            _read(str(damaged), reader, CompressionTypes.UNCOMPRESSED)
        errors.append(str(raised.value))
    assert errors[0] == errors[1]


def test_a_pipeline_reads_through_it_once_installed(tmp_path, monkeypatch):
    # restored to what it was after the test
    monkeypatch.setattr(
        tfrecordio._TFRecordSource, "read_records", tfrecordio._TFRecordSource.read_records
    )
    beam_tfrecords.chunked_tfrecord_reads()
    assert tfrecordio._TFRecordSource.read_records is beam_tfrecords.read_records
    path = _write(str(tmp_path / "data.gz"), RECORDS, "gzip")
    with beam.Pipeline() as pipeline:
        read = pipeline | beam.io.ReadFromTFRecord(path, coder=beam.coders.BytesCoder())
        assert_that(read, equal_to(RECORDS))


def _written(folder: str, write: beam.PTransform, elements: list) -> list[str]:
    with beam.Pipeline() as pipeline:
        _ = pipeline | beam.Create(elements, reshuffle=False) | write
    return sorted(glob.glob(os.path.join(folder, "*")))


BLOCKS = [RECORDS[:3], RECORDS[3:], [os.urandom(5000) for _ in range(40)]]


def test_blocks_written_uncompressed_are_the_bytes_beams_writer_writes(tmp_path):
    records = [r for block in BLOCKS for r in block]
    (stock,) = _written(
        str(tmp_path / "stock"), beam.io.WriteToTFRecord(str(tmp_path / "stock" / "data")), records
    )
    (ours,) = _written(
        str(tmp_path / "ours"),
        beam_tfrecords.WriteBlocksToTFRecord(str(tmp_path / "ours" / "data")),
        BLOCKS,
    )
    with open(stock, "rb") as a, open(ours, "rb") as b:
        assert a.read() == b.read()
    assert os.path.basename(stock) == os.path.basename(ours)


def test_blocks_written_gzipped_read_back_with_beams_and_tensorflows_readers(tmp_path):
    (path,) = _written(
        str(tmp_path),
        beam_tfrecords.WriteBlocksToTFRecord(str(tmp_path / "data"), file_name_suffix=".gz"),
        BLOCKS,
    )
    assert path.endswith(".gz")
    records = [r for block in BLOCKS for r in block]
    assert _read(path, beam_tfrecords.STOCK_READ_RECORDS)[0] == records
    import tensorflow as tf

    dataset = tf.data.TFRecordDataset(path, compression_type="GZIP")
    assert [r.numpy() for r in dataset] == records
    # gzip's own reader: the stream is one whole gzip member, level 1 (the
    # deflate header's "fastest" flag).
    with open(path, "rb") as f:
        compressed = f.read()
    assert compressed[:2] == b"\x1f\x8b" and compressed[8] == 4
    assert len(gzip.decompress(compressed)) == sum(len(r) + 16 for r in records)
