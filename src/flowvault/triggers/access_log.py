"""The token in a webhook URL is a credential: the server's access log shows the path with the
token masked (``/hooks/<workflow id>/[REDACTED:webhook token]``)."""

from __future__ import annotations

import logging
import re

from flowvault.redaction import marker

ACCESS_LOGGER = "uvicorn.access"
_HOOK_PATH = re.compile(r"(/hooks/[^/\s?#\"']+/)[^/\s?#\"']+")
_MASK = marker("webhook token")


def mask_hook_tokens(text: str) -> str:
    return _HOOK_PATH.sub(lambda m: m.group(1) + _MASK, text)


class HookTokenFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_hook_tokens(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(mask_hook_tokens(a) if isinstance(a, str) else a for a in record.args)
        return True


def install_hook_token_masking() -> HookTokenFilter:
    """Attach to the access logger (a logger's filters survive uvicorn replacing its handlers).
    Masking twice is harmless, so every app attaches its own and removes it when it stops."""
    log_filter = HookTokenFilter()
    logging.getLogger(ACCESS_LOGGER).addFilter(log_filter)
    return log_filter


def uninstall_hook_token_masking(log_filter: HookTokenFilter) -> None:
    logging.getLogger(ACCESS_LOGGER).removeFilter(log_filter)
