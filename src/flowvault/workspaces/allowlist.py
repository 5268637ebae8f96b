"""The workspace egress allowlist: exact hosts or ``*.domain`` patterns, normalised the way the
egress guard compares them."""

from __future__ import annotations

from flowvault.egress import normalize_pattern
from flowvault.errors import ValidationFailed


def normalize_allowlist(entries: list[str]) -> list[str]:
    result: list[str] = []
    for index, raw in enumerate(entries):
        entry = raw.strip()
        if "://" in entry or "/" in entry:
            raise ValidationFailed(
                f"'{raw}' is not a host: give just the host name, like api.example.com (no scheme or path).",
                field=f"egress_allowlist.{index}",
            )
        try:
            normalized = normalize_pattern(entry)
        except ValueError as exc:
            raise ValidationFailed(
                f"'{raw}' is not a host or *.domain pattern: {exc}", field=f"egress_allowlist.{index}"
            ) from None
        if normalized not in result:
            result.append(normalized)
    return result
