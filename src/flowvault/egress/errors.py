"""The one error the guard raises when it refuses a request.

``EgressBlocked`` is not an HTTP error: it fails the node that made the request, and the engine
records it in the blocked-egress log. ``reason`` is written for the workflow's author and says what
to change; ``url`` never carries URL userinfo (a credential), but may carry a query string, so pass
it through the redactor before logging it.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Literal, cast

BlockKind = Literal[
    "allowlist",  # host not on the workspace egress allowlist
    "private_address",  # the address (literal or resolved) is loopback, private, metadata, ...
    "credential_host",  # the attached credential may not be sent to this host
    "scheme",  # not http:// or https://
    "userinfo",  # user:password@ in the URL
    "redirect_limit",  # more redirects than the policy allows
    "dns",  # the resolver answered something that is not an IP address
    "invalid_url",  # the URL or its host cannot be parsed safely
]


class EgressBlocked(Exception):
    """An outbound request refused by the egress guard, before anything was sent to ``host``."""

    def __init__(self, reason: str, *, kind: BlockKind, host: str, url: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind: str = kind  # one of BlockKind; typed str so it satisfies plain ``kind: str`` protocols
        self.host = host
        self.url = url

    def with_note(self, note: str) -> EgressBlocked:
        """The same block with ``note`` appended to the reason (e.g. which hop redirected here)."""
        return EgressBlocked(f"{self.reason} ({note})", kind=cast(BlockKind, self.kind), host=self.host, url=self.url)

    def __reduce__(self) -> tuple[Any, ...]:  # picklable (Celery) despite keyword-only arguments
        kind = cast(BlockKind, self.kind)
        return (partial(EgressBlocked, self.reason, kind=kind, host=self.host, url=self.url), ())

    def __repr__(self) -> str:
        return f"EgressBlocked(kind={self.kind!r}, host={self.host!r}, reason={self.reason!r})"
