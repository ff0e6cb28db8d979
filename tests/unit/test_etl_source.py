"""A corrupt or truncated compressed input is an InputError naming the file (`_source`)."""

from __future__ import annotations

import gzip
import io
import re
import threading
import zlib

import pytest
from backports import zstd

from perflab.errors import InputError
from perflab.etl._source import Source

HANG_S = 60

RAW = b"".join(b"%d,name %d,n%d@x.org,2021-01-01,1.50,US,\n" % (i, i, i) for i in range(100_000))


def _write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return Source(str(path))


def _decompressible(kind: str, data: bytes) -> int:
    """Bytes a decompressor gives from `data` before it fails, in its own pieces."""
    f = (gzip.GzipFile(fileobj=io.BytesIO(data)) if kind == "gzip"
         else zstd.ZstdFile(io.BytesIO(data)))
    got = 0
    with pytest.raises((EOFError, gzip.BadGzipFile, zstd.ZstdError, zlib.error)):
        while piece := f.read1(1 << 16):
            got += len(piece)
    return got


def _read_to_failure(source: Source, offset: int = 0) -> tuple[int, InputError]:
    got = 0
    with source.open(offset) as f, pytest.raises(InputError) as caught:
        while block := f.read(300_000):  # not a multiple of any block size inside
            got += len(block)
    return offset + got, caught.value


@pytest.mark.parametrize("name", ["cut.csv.gz", "cut.csv.zst", "flipped.csv.gz"])
def test_a_broken_stream_fails_at_the_same_offset_whatever_the_reads(tmp_path, name):
    data = bytearray(gzip.compress(RAW) if name.endswith(".gz") else zstd.compress(RAW))
    if name.startswith("cut"):
        del data[len(data) // 2:]
    else:  # inflates to wrong bytes: the CRC at the end says so
        data[len(data) // 2:len(data) // 2 + 8] = bytes(8)
    source = _write(tmp_path, name, bytes(data))
    kind = "gzip" if name.endswith(".gz") else "zstd"

    reached, error = _read_to_failure(source)
    found = re.fullmatch(rf"{re.escape(source.name)}: corrupt or truncated {kind} stream, "
                         r"after ([\d,]+) decompressed bytes: .+", str(error))
    assert found, str(error)
    # The offset is every byte the decompressor could give, as the file says, not as
    # far as one reader got (a buffered reader drops its partial block when it fails).
    broken_at = int(found[1].replace(",", ""))
    assert broken_at == _decompressible(kind, bytes(data)) >= reached
    assert error.path == source.name and error.hint
    # A resume skips to its offset with reads of another size, and fails at the same byte.
    assert str(_read_to_failure(source, reached // 3)[1]) == str(error)
    with pytest.raises(InputError) as skipped:  # broken inside the skip itself
        source.open(broken_at + 1)
    assert str(skipped.value) == str(error)


def test_a_read_after_the_failure_fails_again_instead_of_waiting(tmp_path):
    source = _write(tmp_path, "cut.csv.gz", gzip.compress(RAW)[:1000])
    errors: list[BaseException] = []

    def read_twice() -> None:
        with source.open(0) as f:
            for _ in range(2):  # the prefetch thread is gone after the first
                try:
                    f.read()
                except InputError as exc:
                    errors.append(exc)

    reader = threading.Thread(target=read_twice, daemon=True)
    reader.start()
    reader.join(HANG_S)  # a guard against waiting forever for the thread, not a timing
    assert not reader.is_alive(), "the second read waits for a thread that has ended"
    assert len(errors) == 2 and "corrupt or truncated gzip stream" in str(errors[1])


def test_a_file_that_is_not_compressed_at_all(tmp_path):
    source = _write(tmp_path, "plain.csv.gz", RAW[:5000])
    message = str(_read_to_failure(source)[1])
    assert message.startswith(f"{source.name}: corrupt or truncated gzip stream, after 0 "
                              "decompressed bytes: Not a gzipped file"), message
