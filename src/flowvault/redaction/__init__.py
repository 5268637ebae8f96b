"""Redaction (SPEC §7): nothing a run resolved leaks into what is stored or shown.

    forms.py      derived_forms / basic_auth_forms: the encodings of a value to mask
    matcher.py    one Aho-Corasick pass, overlapping occurrences merged into spans
    markers.py    [REDACTED:<name>], [REDACTION FAILED]
    redactor.py   Redactor: text, bytes, JSON-like values; fails closed
    cache.py      BuildCache: a run's redactor built once, reused for a bounded time
    stream.py     StreamRedactor: chunked text, secrets split across chunks
    registry.py   ActiveSecrets: the redactors of the runs in progress
    logfilter.py  RedactingFilter / install_log_redaction for server logs

Pure: no web framework or database imports.
"""

from flowvault.redaction.forms import MIN_FORM_LENGTH, basic_auth_forms, derived_forms
from flowvault.redaction.logfilter import UVICORN_LOGGERS, RedactingFilter, install_log_redaction
from flowvault.redaction.markers import ANONYMOUS_MARKER, REDACTION_FAILED, marker
from flowvault.redaction.redactor import Redactor, ShortSecretError
from flowvault.redaction.registry import ActiveSecrets, Registration, SecretRegistry
from flowvault.redaction.stream import StreamRedactor

__all__ = [
    "ANONYMOUS_MARKER",
    "MIN_FORM_LENGTH",
    "REDACTION_FAILED",
    "UVICORN_LOGGERS",
    "ActiveSecrets",
    "RedactingFilter",
    "Redactor",
    "Registration",
    "SecretRegistry",
    "ShortSecretError",
    "StreamRedactor",
    "basic_auth_forms",
    "derived_forms",
    "install_log_redaction",
    "marker",
]
