"""Envelope encryption: round trips, binding to context, tamper detection, opaque errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from flowvault.errors import DecryptionError
from flowvault.secrets import crypto
from flowvault.secrets.crypto import (
    KEY_BYTES,
    NONCE_BYTES,
    new_data_key,
    open_field,
    seal_field,
    unwrap_data_key,
    wrap_data_key,
)

TAG_BYTES = 16
HEADER_BYTES = 1 + NONCE_BYTES

keys = st.binary(min_size=KEY_BYTES, max_size=KEY_BYTES)
ids = st.text(max_size=40)
versions = st.integers(min_value=0, max_value=2**63)
contexts = st.fixed_dictionaries({"workspace_id": ids, "secret_id": ids, "version": versions, "field": ids})
CONTEXT_PARTS: dict[str, st.SearchStrategy[Any]] = {
    "workspace_id": ids,
    "secret_id": ids,
    "version": versions,
    "field": ids,
}


def _ctx(**overrides: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = {"workspace_id": "ws-1", "secret_id": "sec-1", "version": 1, "field": "password"}
    ctx.update(overrides)
    return ctx


def _flip_bit(blob: bytes, bit: int) -> bytes:
    data = bytearray(blob)
    data[bit // 8] ^= 1 << (bit % 8)
    return bytes(data)


# --- data keys ---------------------------------------------------------------------------------


def test_new_data_key_is_256_bits_and_random() -> None:
    generated = {new_data_key() for _ in range(20)}
    assert len(generated) == 20
    assert all(isinstance(key, bytes) and len(key) == KEY_BYTES for key in generated)


# --- seal / open -------------------------------------------------------------------------------


@given(key=keys, ctx=contexts, value=st.text())
@example(key=b"\x00" * KEY_BYTES, ctx=_ctx(), value="")
@example(key=b"\x00" * KEY_BYTES, ctx=_ctx(), value="pässwörd ✓ 🔑 密码 \x00")
def test_seal_then_open_round_trips(key: bytes, ctx: dict[str, Any], value: str) -> None:
    blob = seal_field(key, **ctx, value=value)
    assert isinstance(blob, bytes)
    assert len(blob) == HEADER_BYTES + len(value.encode()) + TAG_BYTES
    assert open_field(key, **ctx, blob=blob) == value


def test_round_trip_with_generated_data_key() -> None:
    key = new_data_key()
    blob = seal_field(key, **_ctx(), value="hunter2")
    assert open_field(key, **_ctx(), blob=blob) == "hunter2"


@given(key=keys, ctx=contexts, value=st.text(), data=st.data())
def test_open_with_any_other_context_fails(key: bytes, ctx: dict[str, Any], value: str, data: st.DataObject) -> None:
    blob = seal_field(key, **ctx, value=value)
    part = data.draw(st.sampled_from(sorted(CONTEXT_PARTS)), label="changed part")
    other = data.draw(CONTEXT_PARTS[part].filter(lambda v: v != ctx[part]), label="new value")
    with pytest.raises(DecryptionError):
        open_field(key, **{**ctx, part: other}, blob=blob)


@pytest.mark.parametrize(
    "changes",
    [
        {"workspace_id": "ws-2"},
        {"secret_id": "sec-2"},
        {"version": 2},
        {"field": "username"},
        # Values that would collide under naive string concatenation of the context.
        {"workspace_id": "ws-1sec-1", "secret_id": ""},
        {"secret_id": "sec-", "version": 11},
    ],
)
def test_ciphertext_copied_to_another_row_version_field_or_workspace_fails(changes: dict[str, Any]) -> None:
    key = new_data_key()
    blob = seal_field(key, **_ctx(), value="s3cret")
    with pytest.raises(DecryptionError):
        open_field(key, **_ctx(**changes), blob=blob)


@given(key=keys, ctx=contexts, value=st.text(max_size=64), data=st.data())
def test_flipping_any_single_bit_fails(key: bytes, ctx: dict[str, Any], value: str, data: st.DataObject) -> None:
    blob = seal_field(key, **ctx, value=value)
    bit = data.draw(st.integers(min_value=0, max_value=len(blob) * 8 - 1), label="bit")
    with pytest.raises(DecryptionError):
        open_field(key, **ctx, blob=_flip_bit(blob, bit))


@given(key=keys, ctx=contexts, value=st.text(max_size=64), data=st.data())
def test_truncated_blob_fails(key: bytes, ctx: dict[str, Any], value: str, data: st.DataObject) -> None:
    blob = seal_field(key, **ctx, value=value)
    cut = data.draw(st.integers(min_value=0, max_value=len(blob) - 1), label="kept bytes")
    with pytest.raises(DecryptionError):
        open_field(key, **ctx, blob=blob[:cut])


@given(key=keys, ctx=contexts, value=st.text(max_size=64), extra=st.binary(min_size=1, max_size=32))
def test_extended_blob_fails(key: bytes, ctx: dict[str, Any], value: str, extra: bytes) -> None:
    blob = seal_field(key, **ctx, value=value)
    with pytest.raises(DecryptionError):
        open_field(key, **ctx, blob=blob + extra)


@given(key=keys, other=keys, ctx=contexts, value=st.text())
def test_wrong_data_key_fails(key: bytes, other: bytes, ctx: dict[str, Any], value: str) -> None:
    blob = seal_field(key, **ctx, value=value)
    if other == key:
        other = bytes(b ^ 0xFF for b in key)
    with pytest.raises(DecryptionError):
        open_field(other, **ctx, blob=blob)


@pytest.mark.parametrize("bad_key", [b"", b"\x00" * 16, b"\x00" * 24, b"\x00" * 31, b"\x00" * 33])
def test_data_key_of_wrong_length_fails_with_decryption_error(bad_key: bytes) -> None:
    blob = seal_field(new_data_key(), **_ctx(), value="v")
    with pytest.raises(DecryptionError):
        open_field(bad_key, **_ctx(), blob=blob)


def test_plaintext_that_is_not_utf8_fails_with_decryption_error() -> None:
    key = new_data_key()
    ctx = _ctx()
    aad = crypto._field_aad(ctx["workspace_id"], ctx["secret_id"], ctx["version"], ctx["field"])
    blob = crypto._seal(key, b"\xff\xfe not utf-8", aad)
    with pytest.raises(DecryptionError):
        open_field(key, **ctx, blob=blob)


@given(key=keys, ctx=contexts, value=st.text())
def test_two_seals_of_the_same_value_differ(key: bytes, ctx: dict[str, Any], value: str) -> None:
    first = seal_field(key, **ctx, value=value)
    second = seal_field(key, **ctx, value=value)
    assert first != second
    assert first[1:HEADER_BYTES] != second[1:HEADER_BYTES], "nonce must be fresh"
    assert open_field(key, **ctx, blob=first) == open_field(key, **ctx, blob=second) == value


@given(key=keys, ctx=contexts, value=st.text(min_size=8))
@example(key=b"\x00" * KEY_BYTES, ctx=_ctx(), value="correct horse battery staple")
def test_plaintext_does_not_appear_in_blob(key: bytes, ctx: dict[str, Any], value: str) -> None:
    blob = seal_field(key, **ctx, value=value)
    assert value.encode() not in blob


# --- wrap / unwrap -----------------------------------------------------------------------------


@given(master=keys, master_id=ids, workspace_id=ids, data_key=keys)
def test_wrap_then_unwrap_round_trips(master: bytes, master_id: str, workspace_id: str, data_key: bytes) -> None:
    wrapped = wrap_data_key(master, master_id, workspace_id, data_key)
    assert data_key not in wrapped
    assert unwrap_data_key(master, master_id, workspace_id, wrapped) == data_key


def test_wrap_is_randomised() -> None:
    master, data_key = new_data_key(), new_data_key()
    first = wrap_data_key(master, "mk-1", "ws-1", data_key)
    second = wrap_data_key(master, "mk-1", "ws-1", data_key)
    assert first != second
    assert unwrap_data_key(master, "mk-1", "ws-1", first) == unwrap_data_key(master, "mk-1", "ws-1", second)


@given(master=keys, master_id=ids, workspace_id=ids, data_key=keys, data=st.data())
def test_unwrap_with_other_master_key_workspace_or_key_id_fails(
    master: bytes, master_id: str, workspace_id: str, data_key: bytes, data: st.DataObject
) -> None:
    wrapped = wrap_data_key(master, master_id, workspace_id, data_key)
    args: dict[str, Any] = {"master_key": master, "master_key_id": master_id, "workspace_id": workspace_id}
    strategies: dict[str, st.SearchStrategy[Any]] = {
        "master_key": keys,
        "master_key_id": ids,
        "workspace_id": ids,
    }
    part = data.draw(st.sampled_from(sorted(strategies)), label="changed part")
    other = data.draw(strategies[part].filter(lambda v: v != args[part]), label="new value")
    args[part] = other
    with pytest.raises(DecryptionError):
        unwrap_data_key(args["master_key"], args["master_key_id"], args["workspace_id"], wrapped)


@given(master=keys, data_key=keys, data=st.data())
def test_tampered_wrapped_key_fails(master: bytes, data_key: bytes, data: st.DataObject) -> None:
    wrapped = wrap_data_key(master, "mk-1", "ws-1", data_key)
    bit = data.draw(st.integers(min_value=0, max_value=len(wrapped) * 8 - 1), label="bit")
    with pytest.raises(DecryptionError):
        unwrap_data_key(master, "mk-1", "ws-1", _flip_bit(wrapped, bit))
    with pytest.raises(DecryptionError):
        unwrap_data_key(master, "mk-1", "ws-1", wrapped[: bit // 8])


def test_field_ciphertext_is_not_accepted_as_wrapped_key() -> None:
    # Same key, but the associated data differs between the two uses, so blobs are not interchangeable.
    key = new_data_key()
    blob = seal_field(key, workspace_id="ws-1", secret_id="mk-1", version=1, field="f", value="x" * KEY_BYTES)
    with pytest.raises(DecryptionError):
        unwrap_data_key(key, "mk-1", "ws-1", blob)


@pytest.mark.parametrize("size", [0, 16, 31, 33])
def test_unwrap_rejects_a_wrapped_value_that_is_not_a_data_key(size: int) -> None:
    master = new_data_key()
    wrapped = wrap_data_key(master, "mk-1", "ws-1", b"k" * size)
    with pytest.raises(DecryptionError):
        unwrap_data_key(master, "mk-1", "ws-1", wrapped)


# --- the error says nothing ----------------------------------------------------------------------


def _failures() -> dict[str, Callable[[], object]]:
    key, master = new_data_key(), new_data_key()
    blob = seal_field(key, **_ctx(), value="top secret value")
    wrapped = wrap_data_key(master, "mk-1", "ws-1", key)
    non_utf8 = crypto._seal(key, b"\xff", crypto._field_aad("ws-1", "sec-1", 1, "password"))
    return {
        "wrong key": lambda: open_field(new_data_key(), **_ctx(), blob=blob),
        "short key": lambda: open_field(key[:16], **_ctx(), blob=blob),
        "wrong workspace": lambda: open_field(key, **_ctx(workspace_id="ws-2"), blob=blob),
        "wrong secret": lambda: open_field(key, **_ctx(secret_id="sec-2"), blob=blob),
        "wrong version": lambda: open_field(key, **_ctx(version=2), blob=blob),
        "wrong field": lambda: open_field(key, **_ctx(field="user"), blob=blob),
        "bit flip": lambda: open_field(key, **_ctx(), blob=_flip_bit(blob, 200)),
        "bad format byte": lambda: open_field(key, **_ctx(), blob=b"\x02" + blob[1:]),
        "truncated": lambda: open_field(key, **_ctx(), blob=blob[:5]),
        "empty": lambda: open_field(key, **_ctx(), blob=b""),
        "not utf-8": lambda: open_field(key, **_ctx(), blob=non_utf8),
        "unwrap wrong master": lambda: unwrap_data_key(new_data_key(), "mk-1", "ws-1", wrapped),
        "unwrap wrong key id": lambda: unwrap_data_key(master, "mk-2", "ws-1", wrapped),
        "unwrap wrong workspace": lambda: unwrap_data_key(master, "mk-1", "ws-2", wrapped),
        "unwrap truncated": lambda: unwrap_data_key(master, "mk-1", "ws-1", wrapped[:-1]),
    }


def test_decryption_error_is_identical_for_every_cause() -> None:
    errors: dict[str, DecryptionError] = {}
    for cause, attempt in _failures().items():
        with pytest.raises(DecryptionError) as excinfo:
            attempt()
        errors[cause] = excinfo.value

    assert len({str(err) for err in errors.values()}) == 1
    assert len({repr(err) for err in errors.values()}) == 1
    assert len({err.args for err in errors.values()}) == 1
    for cause, err in errors.items():
        assert type(err) is DecryptionError, cause
        # No chained exception (e.g. InvalidTag, UnicodeDecodeError) shows up in a traceback.
        assert err.__cause__ is None, cause
        assert err.__context__ is None or err.__suppress_context__, cause
        for leaked in ("top secret", "ws-", "sec-", "mk-", "password", "tag", "utf"):
            assert leaked not in str(err).lower(), (cause, leaked)
