"""Server logs (SPEC §7): a logging filter that masks the secrets of every active run.

``RedactingFilter`` rewrites a record in place before any handler formats it: the message, the
exception text (the traceback is formatted, masked and kept in ``exc_text``; ``exc_info`` is
cleared, so no later formatter can render the raw exception) and ``stack_info``.

Where it is attached matters. A filter on a *logger* sees only records logged on that very logger,
not those propagated from its children; a filter on a *handler* sees every record the handler
emits. ``install_log_redaction`` therefore attaches the filter to the handlers of the root logger
(or of the given logger), and to the loggers ``uvicorn``, ``uvicorn.error`` and ``uvicorn.access``
and their handlers: uvicorn logs on those loggers directly and replaces their handlers when it
configures logging, while a logger's filters survive that. Handlers added after installation are
not covered: install after logging is configured (installing again is harmless).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flowvault.redaction.markers import REDACTION_FAILED
from flowvault.redaction.redactor import Redactor
from flowvault.redaction.registry import ActiveSecrets, SecretRegistry

UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")

_FORMATTER = logging.Formatter()


class RedactingFilter(logging.Filter):
    """Masks the values registered in ``registry`` (the process-wide ``ActiveSecrets`` by default)."""

    def __init__(self, registry: SecretRegistry | None = None) -> None:
        super().__init__()
        self.registry = ActiveSecrets if registry is None else registry
        self._attached: list[logging.Filterer] = []

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            redactor = self.registry.combined()
            if redactor:
                _redact_record(record, redactor)
        except Exception:  # fail closed: the record keeps nothing that was not redacted
            record.msg, record.args = REDACTION_FAILED, ()
            record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True

    def attach(self, filterer: logging.Filterer) -> None:
        """Add this filter to a logger or handler unless it already has a redacting filter."""
        if not any(isinstance(existing, RedactingFilter) for existing in filterer.filters):
            filterer.addFilter(self)
            self._attached.append(filterer)

    def detach(self) -> None:
        """Remove this filter from everything ``attach`` added it to."""
        while self._attached:
            self._attached.pop().removeFilter(self)


def install_log_redaction(
    logger: logging.Logger | None = None, *, registry: SecretRegistry | None = None
) -> RedactingFilter:
    """Attach one ``RedactingFilter`` to the handlers of ``logger`` (the root logger by default)
    and to the uvicorn loggers and their handlers; returns it (``detach()`` undoes this)."""
    redacting = RedactingFilter(registry)
    target = logger if logger is not None else logging.getLogger()
    for each in (target, *(logging.getLogger(name) for name in UVICORN_LOGGERS)):
        redacting.attach(each)
        for handler in each.handlers:
            redacting.attach(handler)
    return redacting


def _redact_record(record: logging.LogRecord, redactor: Redactor) -> None:
    message = record.getMessage()
    clean = redactor.redact(message)
    if clean != message:
        _replace_message(record, redactor, clean)
    if record.exc_info and not record.exc_text:
        record.exc_text = _FORMATTER.formatException(record.exc_info)
    record.exc_info = None
    if record.exc_text:
        record.exc_text = redactor.redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redactor.redact(record.stack_info)


def _replace_message(record: logging.LogRecord, redactor: Redactor, clean: str) -> None:
    """Keep the format string with masked arguments when that is enough (formatters such as
    uvicorn's access log read ``record.args``); otherwise the masked message with no arguments."""
    if isinstance(record.msg, str) and record.args:
        args = _redact_args(record.args, redactor)
        try:
            rendered = record.msg % args
        except (TypeError, ValueError, KeyError):
            rendered = None
        if rendered is not None and redactor.redact(rendered) == rendered:
            record.args = args
            return
    record.msg, record.args = clean, ()


def _redact_args(args: tuple[object, ...] | Mapping[str, object], redactor: Redactor) -> Any:
    if isinstance(args, Mapping):
        return {key: redactor.redact_value(value) for key, value in args.items()}
    return tuple(redactor.redact_value(arg) for arg in args)
