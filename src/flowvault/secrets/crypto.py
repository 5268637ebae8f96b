"""Envelope encryption with AESGCM (``cryptography``).

- A random 256-bit data key per workspace, wrapped by a master key; the wrap's associated data
  binds it to the workspace and the master key id.
- Every secret field is sealed with the workspace key under a fresh 96-bit nonce; the associated
  data binds the ciphertext to (workspace id, secret id, version, field), so a ciphertext copied to
  another row, version, field or workspace fails to open.
- Every failure to open or unwrap raises :class:`DecryptionError`, which says nothing of the cause.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from flowvault.errors import DecryptionError

KEY_BYTES = 32
NONCE_BYTES = 12
_FORMAT = b"\x01"


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return _FORMAT + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


FieldKey = bytes | AESGCM
"""A data key, or its AESGCM object (``cipher``): making the object costs about as much as opening a field."""


def cipher(key: bytes) -> AESGCM:
    """The AESGCM object of ``key``, for a caller that opens many fields with one key."""
    if len(key) != KEY_BYTES:
        raise DecryptionError()
    return AESGCM(key)


def _open(key: FieldKey, blob: bytes, aad: bytes) -> bytes:
    if len(blob) < 1 + NONCE_BYTES + 16 or blob[:1] != _FORMAT:
        raise DecryptionError()
    aead = key if isinstance(key, AESGCM) else cipher(key)
    nonce, ciphertext = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
    try:
        return aead.decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise DecryptionError() from None


def _wrap_aad(workspace_id: str, master_key_id: str) -> bytes:
    return json.dumps(["flowvault/workspace-key/v1", workspace_id, master_key_id]).encode()


@lru_cache(maxsize=4096)  # ids, not secrets; json.dumps is most of what opening a field costs in Python
def _field_aad(workspace_id: str, secret_id: str, version: int, field: str) -> bytes:
    return json.dumps(["flowvault/secret-field/v1", workspace_id, secret_id, version, field]).encode()


def wrap_data_key(master_key: bytes, master_key_id: str, workspace_id: str, data_key: bytes) -> bytes:
    return _seal(master_key, data_key, _wrap_aad(workspace_id, master_key_id))


def unwrap_data_key(master_key: bytes, master_key_id: str, workspace_id: str, wrapped: bytes) -> bytes:
    data_key = _open(master_key, wrapped, _wrap_aad(workspace_id, master_key_id))
    if len(data_key) != KEY_BYTES:
        raise DecryptionError()
    return data_key


def seal_field(data_key: bytes, *, workspace_id: str, secret_id: str, version: int, field: str, value: str) -> bytes:
    return _seal(data_key, value.encode(), _field_aad(workspace_id, secret_id, version, field))


def open_field(
    data_key: FieldKey, *, workspace_id: str, secret_id: str, version: int, field: str, blob: bytes
) -> str:
    plaintext = _open(data_key, blob, _field_aad(workspace_id, secret_id, version, field))
    try:
        return plaintext.decode()
    except UnicodeDecodeError:
        raise DecryptionError() from None
