"""Beam's TFRecord reading, a chunk at a time instead of a record at a time.

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
"""

from __future__ import annotations

import codecs
import struct
from collections.abc import Iterator
from typing import Any

from apache_beam.io import tfrecordio

STOCK_READ_RECORDS = tfrecordio._TFRecordSource.read_records
CHUNK_BYTES = 1 << 20
_HEADER = struct.Struct("<QI")  # the length, then its masked crc32c
_FOOTER = struct.Struct("<I")  # the data's masked crc32c


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
