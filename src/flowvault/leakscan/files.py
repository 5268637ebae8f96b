"""Log files and other paths, read in chunks (a file with no line breaks is fine too), each hit placed
by line. ``.gz`` files (rotated logs) are read decompressed; a directory is walked."""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from flowvault.leakscan.forms import Origin
from flowvault.leakscan.report import Hit, Report
from flowvault.leakscan.scanner import Scanner

CHUNK_BYTES = 1 << 20


def _open(path: Path) -> BinaryIO:
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def scan_stream(stream: BinaryIO, scanner: Scanner, chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[Origin, int]]:
    """(origin, line number) of every occurrence, once each. Consecutive chunks overlap by the longest
    pattern less one byte, so an occurrence across a chunk boundary is found; one inside the overlap
    was found with the previous chunk and is not reported twice."""
    keep = max(scanner.longest - 1, 0)
    carry = b""
    line = 1  # the line number at the start of ``carry``
    while True:
        chunk = stream.read(chunk_bytes)
        if not chunk:
            return
        data = carry + chunk
        for origin, start, end in sorted(scanner.matches(data), key=lambda m: m[1]):
            if end > len(carry):
                yield origin, line + data.count(b"\n", 0, start)
        cut = max(len(data) - keep, 0)
        line += data.count(b"\n", 0, cut)
        carry = data[cut:]


def _files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        else:
            yield path


def scan_files(paths: Iterable[Path], scanner: Scanner, report: Report, *, names_shown: dict[str, str]) -> None:
    for path in _files(paths):
        try:
            with _open(path) as stream:
                seen: set[tuple[Origin, int]] = set()
                for origin, line in scan_stream(stream, scanner):
                    if (origin, line) not in seen:
                        seen.add((origin, line))
                        report.hits.append(Hit(origin, names_shown[origin.secret_id], file=str(path), line=line))
        except (OSError, EOFError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            report.errors.append(f"{path}: could not be read ({reason})")
            continue
        report.files += 1
