"""Beam's TFRecord reading a chunk at a time, and writing a block at a time.

Every Beam step that reads examples (StatisticsGen, Transform twice, the
evaluator, batch scoring) reads them through Beam 2.60's `_TFRecordSource`,
which makes two small reads of the file, three checksum calls through
class methods and a struct format built per record: about 16 us a record
on these machines, 5.3M records and over a minute of a 1.5M-row run
(docs/benchmarks.md, benchmark 5). `read_records` here reads the file
1 MiB at a time and cuts the records out of that buffer, with the same
checks in the same order (the length's checksum, the data's checksum), the
same errors, the same claims on the range tracker, and the same records
yielded. `chunked_tfrecord_reads()` installs it in this process, as
`components/beam_costs.py` does its fixes.

`WriteBlocksToTFRecord` is Beam's `WriteToTFRecord` for a PCollection of
lists of records (ExampleGen's blocks): each list is framed in one call and
compressed in one, instead of one Beam element, one framing and one gzip
call per record. Same files, same framing; gzip at level GZIP_LEVEL.
"""

from __future__ import annotations

import codecs
import struct
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

import apache_beam as beam
from apache_beam import coders
from apache_beam.io import tfrecordio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

STOCK_READ_RECORDS = tfrecordio._TFRecordSource.read_records
CHUNK_BYTES = 1 << 20
_HEADER = struct.Struct("<QI")  # the length, then its masked crc32c
_FOOTER = struct.Struct("<I")  # the data's masked crc32c
_LENGTH = struct.Struct("<Q")
# The gzip level of the blocks written. Level 1 deflates a taxi tf.Example
# about 3.4x faster than Beam's default (6), into files about 1.3x as large
# (docs/benchmarks.md, benchmark 5); any gzip reader reads either.
GZIP_LEVEL = 1


def _crc_function():
    """The crc32c function Beam uses (python-snappy's when installed)."""
    tfrecordio._default_crc32c_fn(b"")  # picks and remembers it
    return tfrecordio._default_crc32c_fn.fn


def _masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


class _Buffer:
    """The unread bytes of a file, refilled a chunk at a time."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self.data = b""
        self.at = 0

    def holds(self, size: int) -> bool:
        """Whether `size` bytes from `at` are in the buffer, after reading on."""
        while len(self.data) - self.at < size:
            chunk = self._handle.read(max(CHUNK_BYTES, size))
            if not chunk:
                return False
            self.data = self.data[self.at :] + chunk
            self.at = 0
        return True

    def rest(self) -> bytes:
        return self.data[self.at :]


def read_records(self: Any, file_name: str, offset_range_tracker: Any) -> Iterator[Any]:
    """`_TFRecordSource.read_records`, the file read in chunks."""
    if offset_range_tracker.start_position():
        raise ValueError(f"Start position not 0:{offset_range_tracker.start_position()}")
    crc = _crc_function()
    current_offset = offset_range_tracker.start_position()
    with self.open_file(file_name) as handle:
        buffer = _Buffer(handle)
        while True:
            if not offset_range_tracker.try_claim(current_offset):
                raise RuntimeError(f"Unable to claim position: {current_offset}")
            if len(buffer.data) - buffer.at < _HEADER.size and not buffer.holds(_HEADER.size):
                rest = buffer.rest()
                if not rest:
                    return  # the end of the file
                raise ValueError(
                    f"Not a valid TFRecord. Fewer than {_HEADER.size} bytes: "
                    f"{codecs.encode(rest, 'hex')}"
                )
            at = buffer.at
            length, length_mask = _HEADER.unpack_from(buffer.data, at)
            if _masked(crc(buffer.data[at : at + 8])) != length_mask:
                raise ValueError(
                    "Not a valid TFRecord. Mismatch of length mask: "
                    f"{codecs.encode(buffer.data[at : at + _HEADER.size], 'hex')}"
                )
            buffer.at += _HEADER.size
            if len(buffer.data) - buffer.at < length + _FOOTER.size and not buffer.holds(
                length + _FOOTER.size
            ):
                raise ValueError(
                    f"Not a valid TFRecord. Fewer than {length + _FOOTER.size} bytes: "
                    f"{codecs.encode(buffer.rest(), 'hex')}"
                )
            at = buffer.at
            data = buffer.data[at : at + length]
            (data_mask,) = _FOOTER.unpack_from(buffer.data, at + length)
            if _masked(crc(data)) != data_mask:
                raise ValueError(
                    "Not a valid TFRecord. Mismatch of data mask: "
                    f"{codecs.encode(buffer.data[at : at + length + _FOOTER.size], 'hex')}"
                )
            buffer.at = at + length + _FOOTER.size
            current_offset += length + 16
            yield self._coder.decode(data)


def chunked_tfrecord_reads() -> None:
    """Installs `read_records` in Beam's TFRecord source (this process only)."""
    tfrecordio._TFRecordSource.read_records = read_records


def framed(records: Sequence[bytes]) -> bytes:
    """The records in TFRecord framing, one after the other: what Beam's
    writer writes for them one at a time."""
    crc = _crc_function()
    parts = []
    for record in records:
        length = _LENGTH.pack(len(record))
        parts += (length, _FOOTER.pack(_masked(crc(length))), record)
        parts.append(_FOOTER.pack(_masked(crc(record))))
    return b"".join(parts)


class _GzipFile:
    """A gzip stream to `raw` at `level` (Beam's CompressedFile writes the
    same format at its default level)."""

    def __init__(self, raw: Any, level: int) -> None:
        self._raw = raw
        self._compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)

    def write(self, data: bytes) -> None:
        self._raw.write(self._compressor.compress(data))

    def close(self) -> None:
        self._raw.write(self._compressor.flush())
        self._raw.close()


class _BlockSink(tfrecordio._TFRecordSink):
    """Beam's TFRecord sink, written a list of records per element."""

    def open(self, temp_path: str) -> Any:
        compression = self.compression_type
        if compression == CompressionTypes.AUTO:
            compression = CompressionTypes.detect_compression_type(temp_path)
        if compression != CompressionTypes.GZIP:
            return super().open(temp_path)
        raw = FileSystems.create(temp_path, self.mime_type, CompressionTypes.UNCOMPRESSED)
        return _GzipFile(raw, GZIP_LEVEL)

    def write_record(self, file_handle: Any, value: Sequence[bytes]) -> None:
        file_handle.write(framed(value))


class WriteBlocksToTFRecord(beam.PTransform):
    """`beam.io.WriteToTFRecord(prefix, file_name_suffix=suffix)` for
    elements that are lists of serialized records (".gz": gzipped)."""

    def __init__(self, file_path_prefix: str, file_name_suffix: str = "") -> None:
        super().__init__()
        self._sink = _BlockSink(
            file_path_prefix,
            coders.BytesCoder(),
            file_name_suffix,
            0,  # shards: the runner's choice, as WriteToTFRecord's default
            None,
            CompressionTypes.AUTO,
        )

    def expand(self, blocks: beam.PCollection) -> beam.pvalue.PDone:
        return blocks | beam.io.Write(self._sink)
