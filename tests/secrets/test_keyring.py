"""Master key ring: parsing, loading from env or file, file creation and permissions, rotation."""

from __future__ import annotations

import base64
import os
import re
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowvault.config import Settings
from flowvault.errors import KeyringError
from flowvault.secrets.crypto import KEY_BYTES
from flowvault.secrets.keyring import (
    KeyRing,
    append_key,
    create_key_file,
    load_keyring,
    new_master_key_entry,
    parse_entries,
)

key_ids = st.from_regex(r"[A-Za-z0-9_.-]{1,64}", fullmatch=True)
raw_keys = st.binary(min_size=KEY_BYTES, max_size=KEY_BYTES)


@pytest.fixture(autouse=True)
def _no_flowvault_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("FLOWVAULT_"):
            monkeypatch.delenv(name)


def _b64(key: bytes, *, padded: bool = True) -> str:
    encoded = base64.urlsafe_b64encode(key).decode()
    return encoded if padded else encoded.rstrip("=")


def _entry(key_id: str, key: bytes | None = None) -> tuple[str, bytes]:
    key = os.urandom(KEY_BYTES) if key is None else key
    return f"{key_id}:{_b64(key)}", key


def _write_key_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def _bump_mtime(path: Path, seconds: float = 10.0) -> None:
    """Moves the file's mtime clearly forward so a change is seen regardless of timestamp granularity."""
    st_ = path.stat()
    os.utime(path, (st_.st_atime, st_.st_mtime + seconds))


# --- parse_entries ------------------------------------------------------------------------------


def test_parse_entries_skips_comments_and_blank_lines_and_keeps_order() -> None:
    line_a, key_a = _entry("alpha")
    line_b, key_b = _entry("beta.2024_01-x")
    key_c = os.urandom(KEY_BYTES)
    lines = [
        "# flowvault master keys",
        "",
        f"  {line_a}  ",
        "   ",
        "   # indented comment",
        line_b,
        f"gamma:{_b64(key_c, padded=False)}",  # padding is optional
        "",
    ]
    keys = parse_entries(lines, "test-source")
    assert keys == {"alpha": key_a, "beta.2024_01-x": key_b, "gamma": key_c}
    assert list(keys) == ["alpha", "beta.2024_01-x", "gamma"]
    ring = KeyRing(keys=keys, source="test-source")
    assert ring.primary_id == "gamma"
    assert ring.primary == key_c


@given(ids=st.lists(key_ids, min_size=1, max_size=6, unique=True), data=st.data())
def test_parse_entries_round_trips_any_valid_entries(ids: list[str], data: st.DataObject) -> None:
    expected = {key_id: data.draw(raw_keys, label=key_id) for key_id in ids}
    padded = data.draw(st.booleans(), label="padded")
    lines = [f"{key_id}:{_b64(key, padded=padded)}" for key_id, key in expected.items()]
    keys = parse_entries(lines, "src")
    assert keys == expected
    assert list(keys) == ids
    assert KeyRing(keys=keys, source="src").primary_id == ids[-1]


def test_parse_entries_accepts_crlf_lines() -> None:
    line_a, key_a = _entry("a")
    line_b, key_b = _entry("b")
    keys = parse_entries(f"{line_a}\r\n{line_b}\r\n".splitlines(), "src")
    assert keys == {"a": key_a, "b": key_b}


@pytest.mark.parametrize(
    "bad_line",
    [
        "no separator here",
        ":" + _b64(b"k" * KEY_BYTES),
        "bad id:" + _b64(b"k" * KEY_BYTES),
        "slash/id:" + _b64(b"k" * KEY_BYTES),
        "ünïcode:" + _b64(b"k" * KEY_BYTES),
        "x" * 65 + ":" + _b64(b"k" * KEY_BYTES),
    ],
)
def test_parse_entries_rejects_bad_key_id(bad_line: str) -> None:
    good, _ = _entry("good")
    with pytest.raises(KeyringError) as excinfo:
        parse_entries(["# comment", good, bad_line], "the-source")
    message = str(excinfo.value)
    assert "the-source" in message
    assert "entry 3" in message
    assert "key_id:base64key" in message
    assert "key id" in message


def test_parse_entries_accepts_key_id_of_64_characters() -> None:
    key_id = "x" * 64
    line, key = _entry(key_id)
    assert parse_entries([line], "src") == {key_id: key}


@pytest.mark.parametrize("size", [0, 1, 16, 24, 31, 33, 64])
def test_parse_entries_rejects_wrong_key_length(size: int) -> None:
    with pytest.raises(KeyringError) as excinfo:
        parse_entries([f"short-key:{_b64(b'k' * size)}"], "the-source")
    message = str(excinfo.value)
    assert "the-source" in message
    assert "'short-key'" in message
    assert "32 bytes" in message


@pytest.mark.parametrize("encoded", ["***not base64***", "abcde", "=====", "ключ", "a"])
def test_parse_entries_rejects_bad_base64(encoded: str) -> None:
    with pytest.raises(KeyringError) as excinfo:
        parse_entries([f"mk-1:{encoded}"], "the-source")
    message = str(excinfo.value)
    assert "the-source" in message
    assert "'mk-1'" in message
    assert "base64url" in message


def test_parse_entries_rejects_duplicate_key_id() -> None:
    first, _ = _entry("dup")
    second, _ = _entry("dup")
    other, _ = _entry("other")
    with pytest.raises(KeyringError) as excinfo:
        parse_entries([first, other, second], "the-source")
    message = str(excinfo.value)
    assert "the-source" in message
    assert "'dup'" in message
    assert "twice" in message


@pytest.mark.parametrize("lines", [[], [""], ["   ", "# only a comment", ""]])
def test_parse_entries_rejects_no_entries(lines: list[str]) -> None:
    with pytest.raises(KeyringError) as excinfo:
        parse_entries(lines, "the-source")
    message = str(excinfo.value)
    assert "the-source" in message
    assert "no master key" in message


# --- new_master_key_entry -----------------------------------------------------------------------


def test_new_master_key_entry_is_a_valid_dated_entry() -> None:
    now = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    entry = new_master_key_entry(now)
    key_id, _, _ = entry.partition(":")
    assert re.fullmatch(r"mk-20240102030405-[0-9a-f]{6}", key_id)
    keys = parse_entries([entry], "src")
    assert list(keys) == [key_id]
    assert len(keys[key_id]) == KEY_BYTES


def test_new_master_key_entries_are_unique() -> None:
    now = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    entries = [new_master_key_entry(now) for _ in range(20)]
    parsed = parse_entries(entries, "src")  # would raise on a duplicate id
    assert len(parsed) == 20
    assert len(set(parsed.values())) == 20


# --- load_keyring: key file ----------------------------------------------------------------------


def test_load_keyring_create_makes_private_key_file_and_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "nested" / "data"
    ring = load_keyring(Settings(data_dir=data_dir), create=True)

    path = data_dir / "master.key"
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    on_disk = parse_entries(path.read_text().splitlines(), str(path))
    assert len(on_disk) == 1
    assert ring.keys == on_disk
    assert len(ring.primary) == KEY_BYTES
    assert ring.path == path
    assert ring.source == str(path)

    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Back it up" in captured.err
    assert str(path) in captured.err


def test_load_keyring_create_reuses_an_existing_file_silently(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = load_keyring(Settings(data_dir=tmp_path), create=True)
    capsys.readouterr()
    second = load_keyring(Settings(data_dir=tmp_path), create=True)
    assert second.keys == first.keys
    assert capsys.readouterr().err == ""


def test_load_keyring_without_create_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(KeyringError) as excinfo:
        load_keyring(Settings(data_dir=tmp_path))
    message = str(excinfo.value)
    path = tmp_path / "master.key"
    assert str(path) in message
    assert "does not exist" in message
    assert "FLOWVAULT_MASTER_KEYS" in message
    assert "Restore" in message
    assert not path.exists()


def test_load_keyring_uses_configured_key_file(tmp_path: Path) -> None:
    line_a, key_a = _entry("a")
    line_b, key_b = _entry("b")
    path = _write_key_file(tmp_path / "elsewhere.key", f"{line_a}\n{line_b}\n")
    ring = load_keyring(Settings(data_dir=tmp_path / "data", master_key_file=path))
    assert ring.keys == {"a": key_a, "b": key_b}
    assert ring.primary_id == "b"
    assert ring.path == path
    assert not (tmp_path / "data" / "master.key").exists()


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o666, 0o601])
def test_load_keyring_refuses_key_file_readable_by_others(tmp_path: Path, mode: int) -> None:
    line, _ = _entry("a")
    path = _write_key_file(tmp_path / "master.key", line + "\n", mode=mode)
    with pytest.raises(KeyringError) as excinfo:
        load_keyring(Settings(data_dir=tmp_path))
    message = str(excinfo.value)
    assert "chmod 600" in message
    assert str(path) in message
    assert f"{mode:o}" in message


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_load_keyring_accepts_owner_only_key_file(tmp_path: Path, mode: int) -> None:
    line, key = _entry("a")
    _write_key_file(tmp_path / "master.key", line + "\n", mode=mode)
    assert load_keyring(Settings(data_dir=tmp_path)).keys == {"a": key}


def test_load_keyring_reports_bad_file_contents_with_its_path(tmp_path: Path) -> None:
    path = _write_key_file(tmp_path / "master.key", "# nothing but a comment\n")
    with pytest.raises(KeyringError) as excinfo:
        load_keyring(Settings(data_dir=tmp_path))
    assert str(path) in str(excinfo.value)


# --- load_keyring: FLOWVAULT_MASTER_KEYS ----------------------------------------------------------


def test_master_keys_setting_wins_over_key_file(tmp_path: Path) -> None:
    file_line, _ = _entry("from-file")
    _write_key_file(tmp_path / "master.key", file_line + "\n")
    line_1, key_1 = _entry("id1")
    line_2, key_2 = _entry("id2")

    ring = load_keyring(Settings(data_dir=tmp_path, master_keys=f"{line_1}, {line_2}"))

    assert ring.keys == {"id1": key_1, "id2": key_2}
    assert ring.primary_id == "id2"
    assert ring.primary == key_2
    assert ring.source == "FLOWVAULT_MASTER_KEYS"
    assert ring.path is None
    assert ring.get("from-file") is None


def test_master_keys_env_var_is_read_and_no_file_is_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    line_1, key_1 = _entry("id1")
    line_2, key_2 = _entry("id2")
    monkeypatch.setenv("FLOWVAULT_MASTER_KEYS", f"{line_1},{line_2}")

    ring = load_keyring(Settings(data_dir=tmp_path), create=True)

    assert ring.keys == {"id1": key_1, "id2": key_2}
    assert ring.primary_id == "id2"
    assert not (tmp_path / "master.key").exists()
    assert capsys.readouterr().err == ""


def test_master_keys_setting_errors_name_the_variable(tmp_path: Path) -> None:
    line, _ = _entry("id1")
    with pytest.raises(KeyringError) as excinfo:
        load_keyring(Settings(data_dir=tmp_path, master_keys=f"{line},id2:tooshort"))
    message = str(excinfo.value)
    assert "FLOWVAULT_MASTER_KEYS" in message
    assert "'id2'" in message


# --- KeyRing.get / reload, append_key --------------------------------------------------------------


def test_append_key_adds_new_primary_found_by_existing_ring(tmp_path: Path) -> None:
    ring = load_keyring(Settings(data_dir=tmp_path), create=True)
    path = tmp_path / "master.key"
    old_id, old_key = ring.primary_id, ring.primary

    new_id = append_key(path)
    _bump_mtime(path)

    assert new_id != old_id
    on_disk = parse_entries(path.read_text().splitlines(), str(path))
    assert list(on_disk) == [old_id, new_id]
    assert on_disk[old_id] == old_key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    found = ring.get(new_id)
    assert found is not None
    assert found == on_disk[new_id]
    assert len(found) == KEY_BYTES
    assert ring.primary_id == new_id
    assert ring.get(old_id) == old_key
    # A freshly loaded ring agrees.
    assert load_keyring(Settings(data_dir=tmp_path)).keys == ring.keys


def test_repeated_rotations_keep_every_key(tmp_path: Path) -> None:
    ring = load_keyring(Settings(data_dir=tmp_path), create=True)
    path = tmp_path / "master.key"
    ids = [ring.primary_id]
    for _ in range(3):
        ids.append(append_key(path))
        _bump_mtime(path)
        assert ring.get(ids[-1]) is not None
    assert list(ring.keys) == ids
    assert ring.primary_id == ids[-1]


def test_append_key_to_file_without_trailing_newline(tmp_path: Path) -> None:
    # Hand-written key files often lack a final newline; the new entry must still be a line of its own.
    line, key = _entry("handmade")
    path = _write_key_file(tmp_path / "master.key", line)

    new_id = append_key(path)

    keys = parse_entries(path.read_text().splitlines(), str(path))
    assert list(keys) == ["handmade", new_id]
    assert keys["handmade"] == key


def test_get_unknown_id_returns_none(tmp_path: Path) -> None:
    ring = load_keyring(Settings(data_dir=tmp_path), create=True)
    before = dict(ring.keys)
    assert ring.get("no-such-key") is None
    assert ring.keys == before


def test_get_does_not_reload_ring_from_env(tmp_path: Path) -> None:
    line, key = _entry("id1")
    ring = load_keyring(Settings(data_dir=tmp_path, master_keys=line))
    assert ring.get("id1") == key
    assert ring.get("id2") is None


def test_create_key_file_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    create_key_file(path)
    before = path.read_text()
    with pytest.raises(FileExistsError):
        create_key_file(path)
    assert path.read_text() == before


def test_keyring_from_file_with_only_comments_fails(tmp_path: Path) -> None:
    path = _write_key_file(tmp_path / "master.key", "# empty\n\n")
    with pytest.raises(KeyringError, match="no master key"):
        KeyRing.from_file(path)
