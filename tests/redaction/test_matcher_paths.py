"""The matcher's two search paths (the Aho-Corasick automaton, and the prefix index used for large
pattern sets until a long text needs the automaton) find exactly the same spans."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowvault.redaction import Redactor, derived_forms
from flowvault.redaction import matcher as matcher_module
from flowvault.redaction.matcher import Matcher, Span
from tests.redaction.strategies import redaction_settings, secret_values, surrounding


def _both(patterns: list[str], text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Span], list[Span]]:
    eager = Matcher(patterns).spans(text)
    with monkeypatch.context() as patched:
        patched.setattr(matcher_module, "EAGER_PATTERNS", 0)
        patched.setattr(matcher_module, "INDEX_SCAN_BUDGET", 10**9)
        indexed = Matcher(patterns)
        assert indexed._automaton is None
        return eager, indexed.spans(text)


@redaction_settings
@given(values=st.lists(secret_values, min_size=1, max_size=4), before=surrounding, after=surrounding, data=st.data())
def test_index_and_automaton_find_the_same_spans(
    values: list[str], before: str, after: str, data: st.DataObject
) -> None:
    patterns = sorted({form for value in values for form in derived_forms(value)})
    planted = [data.draw(st.sampled_from(patterns)) for _ in range(3)]
    text = before + planted[0] + planted[1][: len(planted[1]) // 2] + planted[2] + after + planted[1]
    with pytest.MonkeyPatch.context() as monkeypatch:
        eager, indexed = _both(patterns, text, monkeypatch)
    assert eager == indexed


@redaction_settings
@given(patterns=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=6, unique=True), text=st.text())
def test_short_and_overlapping_patterns_agree_too(patterns: list[str], text: str) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        eager, indexed = _both(patterns, text + "".join(patterns) + text, monkeypatch)
    assert eager == indexed


def test_lone_surrogates_are_searched_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    patterns = ["abc\ud800defgh", "zzzzzzzz"]
    eager, indexed = _both(patterns, "x abc\udc80defgh zzzzzzzzz", monkeypatch)
    assert eager == indexed and len(eager) == 2


def test_past_the_scan_budget_the_automaton_is_built_and_redacting_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(matcher_module, "EAGER_PATTERNS", 10)
    monkeypatch.setattr(matcher_module, "INDEX_SCAN_BUDGET", 1000)
    secrets = [(f"s{i}", f"value-{i:04d}-secret") for i in range(20)]
    redactor = Redactor(secrets)
    assert redactor._matcher._automaton is None
    assert redactor.redact("a value-0003-secret b") == "a [REDACTED:s3] b"
    assert redactor._matcher._automaton is None
    long = "x" * 1000 + "value-0007-secret"
    assert redactor.redact(long) == "x" * 1000 + "[REDACTED:s7]"
    assert redactor._matcher._automaton is not None and redactor._matcher._index is None
    assert redactor.redact("value-0019-secret") == "[REDACTED:s19]"
