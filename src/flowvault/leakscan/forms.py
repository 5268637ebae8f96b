"""The patterns to look for, one secret at a time, each labelled with where it comes from.

The set of strings is exactly the redactor's (``flowvault.redaction.derived_forms`` /
``basic_auth_forms``, and for HTTP Basic the ``user:password`` pair and its base64 wire token, as the
executor's ``RunSecrets`` masks them): what the scan finds is what redaction should have masked. The
labels (plain, base64, base64url, url-encoded, hex, escaped) are worked out here, so a hit can say
which form it found without ever showing it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, unquote_plus

from flowvault.redaction import basic_auth_forms, derived_forms

_URLSAFE = str.maketrans("+/", "-_")
PAIR_FIELD = "username:password"
TOKEN_FIELD = "basic-auth token"  # noqa: S105 - a field label, not a value


@dataclass(frozen=True)
class Origin:
    """What a pattern is: a form of one field of one secret."""

    secret_id: str
    secret_name: str
    workspace_id: str
    field: str
    form: str


@dataclass(frozen=True)
class SecretValues:
    """One decrypted secret: its secret fields and (for HTTP Basic) its username. Never printed."""

    id: str
    name: str
    workspace_id: str
    type: str
    fields: Mapping[str, str] = field(repr=False)
    username: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"<SecretValues {self.type} {self.id}>"


def _label(form: str, value: str, raw: bytes) -> str:
    if form == value:
        return "plain"
    if form.lower() == raw.hex():
        return "hex"
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + raw).decode("ascii")
        if form in encoded:
            return "base64"
        if form in encoded.translate(_URLSAFE):
            return "base64url"
    if value in (unquote(form), unquote_plus(form)):
        return "url-encoded"
    return "escaped"


def labelled_forms(value: str) -> dict[str, str]:
    """Every derived form of ``value`` (as the redactor masks it) -> its label."""
    raw = value.encode("utf-8", "surrogatepass")
    return {form: _label(form, value, raw) for form in sorted(derived_forms(value))}


def patterns_of(secret: SecretValues) -> Iterator[tuple[str, Origin]]:
    """(pattern, origin) for every form of every secret field of ``secret``."""

    def origin(field_name: str, form: str) -> Origin:
        return Origin(secret.id, secret.name, secret.workspace_id, field_name, form)

    for field_name, value in sorted(secret.fields.items()):
        for form, label in labelled_forms(value).items():
            yield form, origin(field_name, label)
    password = secret.fields.get("password")
    if secret.type == "http_basic" and secret.username and password:
        pair = f"{secret.username}:{password}"
        for form, label in labelled_forms(pair).items():
            yield form, origin(PAIR_FIELD, label)
        token = base64.b64encode(pair.encode()).decode("ascii")
        for form, label in labelled_forms(token).items():
            yield form, origin(TOKEN_FIELD, label)
        for form in sorted(basic_auth_forms(secret.username, password)):
            yield form, origin(TOKEN_FIELD, "plain" if form in token else "base64url")
