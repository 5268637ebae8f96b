"""Random tokens for sessions, CSRF and API access; only their SHA-256 digests are stored."""

from __future__ import annotations

import hashlib
import secrets

API_TOKEN_PREFIX = "fvt_"  # noqa: S105 (a public prefix, not a secret)


def new_token(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
