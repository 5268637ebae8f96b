"""argon2id password hashing (argon2-cffi's defaults are argon2id)."""

from __future__ import annotations

import functools
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

# Verified in place of a stored hash when the email is unknown, so that the answer takes as long as for a
# known account and its timing does not reveal which emails have one. It is a hash of a random password
# nobody knows (it was thrown away), made with argon2-cffi's default parameters: precomputed, because
# computing it at import cost every process start an argon2 hash (~0.2-0.5 s).
_PRECOMPUTED_DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$cp9tzZWyKxgqCk2BZIVhZw$qTeQCJtRTKJYlNhu65ogczkJs8d/XiSKRWMOVJbAbTs"
)


@functools.cache
def dummy_hash() -> str:
    """The precomputed hash while its parameters are the hasher's (so verifying it costs what verifying a
    real hash costs); else, should argon2-cffi's defaults change, a new one made once, on first use."""
    if _hasher.check_needs_rehash(_PRECOMPUTED_DUMMY_HASH):
        return _hasher.hash(secrets.token_urlsafe(32))
    return _PRECOMPUTED_DUMMY_HASH


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
