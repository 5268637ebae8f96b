"""A held workspace key keeps what it opened, and only as long as it is held itself."""

from __future__ import annotations

import pytest

from flowvault.errors import DecryptionError
from flowvault.secrets import crypto, vault
from flowvault.secrets.vault import UnwrappedKey

WORKSPACE = "ws-unwrapped"
CANARY = "canary-opened-value-7f3a9c"


def sealed(key: bytes, value: str = CANARY, *, secret_id: str = "s1") -> bytes:  # noqa: S107 (an id)
    return crypto.seal_field(key, workspace_id=WORKSPACE, secret_id=secret_id, version=1, field="token", value=value)


class CountingOpen:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = crypto.open_field

        def counted(*args: object, **kwargs: object) -> str:
            self.calls += 1
            return real(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(crypto, "open_field", counted)


def test_a_field_opened_once_is_not_decrypted_again(monkeypatch: pytest.MonkeyPatch) -> None:
    key = crypto.new_data_key()
    held = UnwrappedKey(WORKSPACE, key, expires=10.0)
    blob = sealed(key)
    opens = CountingOpen(monkeypatch)
    assert held.open_field(secret_id="s1", version=1, field="token", blob=blob) == CANARY
    assert held.open_field(secret_id="s1", version=1, field="token", blob=blob) == CANARY
    assert opens.calls == 1


@pytest.mark.parametrize(
    "change",
    [
        {"blob": "flipped"},
        {"version": 2},
        {"secret_id": "s2"},
        {"field": "password"},
    ],
)
def test_anything_else_than_what_was_opened_is_decrypted_and_fails_like_before(change: dict[str, object]) -> None:
    key = crypto.new_data_key()
    held = UnwrappedKey(WORKSPACE, key, expires=10.0)
    blob = sealed(key)
    assert held.open_field(secret_id="s1", version=1, field="token", blob=blob) == CANARY
    asked: dict[str, object] = {"secret_id": "s1", "version": 1, "field": "token", "blob": blob}
    if change.get("blob") == "flipped":
        asked["blob"] = blob[:-1] + bytes([blob[-1] ^ 1])
    else:
        asked.update(change)
    with pytest.raises(DecryptionError):
        held.open_field(**asked)  # type: ignore[arg-type]


def test_another_workspaces_key_opens_nothing_of_this_one() -> None:
    key = crypto.new_data_key()
    blob = sealed(key)
    UnwrappedKey(WORKSPACE, key, expires=10.0).open_field(secret_id="s1", version=1, field="token", blob=blob)
    with pytest.raises(DecryptionError):
        UnwrappedKey("ws-other", key, expires=10.0).open_field(secret_id="s1", version=1, field="token", blob=blob)


def test_at_most_opened_per_key_values_are_held_oldest_first_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vault, "OPENED_PER_KEY", 3)
    key = crypto.new_data_key()
    held = UnwrappedKey(WORKSPACE, key, expires=10.0)
    blobs = [sealed(key, f"value-number-{n}", secret_id=f"s{n}") for n in range(4)]
    for n, blob in enumerate(blobs):
        held.open_field(secret_id=f"s{n}", version=1, field="token", blob=blob)
    opens = CountingOpen(monkeypatch)
    held.open_field(secret_id="s3", version=1, field="token", blob=blobs[3])
    assert opens.calls == 0, "the newest is held"
    held.open_field(secret_id="s0", version=1, field="token", blob=blobs[0])
    assert opens.calls == 1, "the oldest was dropped when the fourth came"


def test_repr_names_the_workspace_only() -> None:
    key = crypto.new_data_key()
    held = UnwrappedKey(WORKSPACE, key, expires=10.0)
    held.open_field(secret_id="s1", version=1, field="token", blob=sealed(key))
    assert repr(held) == f"UnwrappedKey(workspace_id='{WORKSPACE}')"
    assert CANARY not in repr(held) and key.hex() not in repr(held)
