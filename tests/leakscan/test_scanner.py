"""The leak scanner's parts, without a database: form labels, one pass over many cells, files read in
chunks (an occurrence across a chunk boundary is found once, on the right line), the progress bar."""

from __future__ import annotations

import base64
import gzip
import io
import json
from pathlib import Path
from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from flowvault.leakscan.files import scan_files, scan_stream
from flowvault.leakscan.forms import Origin, SecretValues, labelled_forms, patterns_of
from flowvault.leakscan.progress import RowProgress
from flowvault.leakscan.report import Report
from flowvault.leakscan.scanner import Scanner
from flowvault.redaction import basic_auth_forms, derived_forms

VALUE = 'cnry-"tok"/+=?&~x-0123456789abcdef???'  # its base64 holds a '/', so the URL-safe form differs


def scanner_for(value: str = VALUE) -> Scanner:
    secret = SecretValues("s1", "Token", "w1", "http_bearer", {"token": value})
    return Scanner(patterns_of(secret))


def test_every_form_the_redactor_masks_is_looked_for_and_labelled() -> None:
    labels = labelled_forms(VALUE)
    assert set(labels) == derived_forms(VALUE)
    raw = VALUE.encode()
    assert labels[VALUE] == "plain"
    assert labels[raw.hex()] == labels[raw.hex().upper()] == "hex"
    assert labels[base64.b64encode(raw).decode()] == "base64"
    assert labels[base64.urlsafe_b64encode(raw).decode()] == "base64url"
    assert labels[quote(VALUE, safe="")] == "url-encoded"
    assert labels[json.dumps(VALUE)[1:-1]] == "escaped"


def test_http_basic_adds_the_pair_and_its_wire_token() -> None:
    secret = SecretValues("s1", "Basic", "w1", "http_basic", {"password": "pa55word-xyz/+"}, username="alice")
    found = {(o.field, o.form) for _p, o in patterns_of(secret)}
    assert ("username:password", "plain") in found and ("basic-auth token", "plain") in found
    patterns = {p for p, _o in patterns_of(secret)}
    assert basic_auth_forms("alice", "pa55word-xyz/+") <= patterns


def test_one_pass_over_many_cells_finds_each_in_its_cell_and_none_across_two() -> None:
    scanner = scanner_for()
    half = len(VALUE) // 2
    hexed = VALUE.encode().hex().encode()
    cells = [b"nothing", f"a {VALUE} b".encode(), VALUE[:half].encode(), VALUE[half:].encode(), hexed]
    found = sorted((cell, origin.form) for cell, origin in scanner.find_in_cells(cells))
    assert found == [(1, "plain"), (4, "hex")]


@settings(max_examples=60, deadline=None)
@given(
    before=st.text(alphabet="ab\n\u00e9", max_size=60),
    after=st.text(alphabet="ab\n", max_size=20),
    chunk=st.integers(min_value=1, max_value=40),
)
def test_an_occurrence_is_found_once_on_its_line_whatever_the_chunk_boundaries(
    before: str, after: str, chunk: int
) -> None:
    scanner = scanner_for()
    data = f"{before}{VALUE}{after}".encode()
    found = [(o.form, line) for o, line in scan_stream(io.BytesIO(data), scanner, chunk_bytes=chunk)]
    assert [f for f in found if f[0] == "plain"] == [("plain", before.count("\n") + 1)]


def test_files_directories_and_gzip_logs_are_read(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "a.log").write_text("x\n" * 3 + f"token={quote(VALUE, safe='')}\n")
    with gzip.open(tmp_path / "logs" / "b.log.1.gz", "wt") as handle:
        handle.write(f"first {VALUE.encode().hex()}\n")
    report = Report()
    scan_files([tmp_path / "logs", tmp_path / "missing.log"], scanner_for(), report, names_shown={"s1": "Token"})
    assert sorted((Path(h.file or "").name, h.line, h.origin.form) for h in report.hits) == [
        ("a.log", 4, "url-encoded"), ("b.log.1.gz", 1, "hex")]
    assert report.files == 2 and len(report.errors) == 1 and "missing.log: could not be read" in report.errors[0]
    assert VALUE not in " ".join(h.describe() for h in report.hits)


def test_the_progress_bar_shows_only_for_large_databases() -> None:
    shown = io.StringIO()
    with RowProgress(Console(file=shown, force_terminal=True, width=80), show_from_rows=100) as progress:
        progress.start(1000)
        progress.advance(500)
    assert "scanning the database" in shown.getvalue()
    quiet = io.StringIO()
    with RowProgress(Console(file=quiet, force_terminal=True, width=80), show_from_rows=100) as progress:
        progress.start(99)
        progress.advance(99)
    assert quiet.getvalue() == ""


def test_origins_are_values_free() -> None:
    origin = Origin("s1", "Token", "w1", "token", "plain")
    secret = SecretValues("s1", "Token", "w1", "http_bearer", {"token": VALUE})
    assert VALUE not in repr(origin) and VALUE not in repr(secret)
