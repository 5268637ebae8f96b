"""Leak scan (SPEC §10): is any current secret value, in any form the redactor masks, stored where it
should not be — in the database or in log files?

    forms.py     the patterns of one secret: ``redaction.derived_forms`` of every secret field (and, for
                 HTTP Basic, of ``user:password`` and its base64 token), each labelled with its form
    scanner.py   one Aho-Corasick automaton (bytes) over every pattern of every secret
    decrypt.py   every current secret of every workspace, decrypted with the configured master keys
    database.py  every column of every table (reflected, so new tables are covered), rows streamed
    files.py     log files and other paths, in chunks, hits by line
    report.py    hits and errors: where, which secret (by name and id), which form — never the value

``scan`` (in ``service.py``) ties them together for the ``flowvault leak-scan`` command.
"""

from flowvault.leakscan.forms import Origin, labelled_forms
from flowvault.leakscan.report import Hit, Report
from flowvault.leakscan.scanner import Scanner
from flowvault.leakscan.service import scan

__all__ = ["Hit", "Origin", "Report", "Scanner", "labelled_forms", "scan"]
