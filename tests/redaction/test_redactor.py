from __future__ import annotations

import base64
import json
import secrets
import time
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from flowvault.redaction import (
    ANONYMOUS_MARKER,
    REDACTION_FAILED,
    Redactor,
    ShortSecretError,
    basic_auth_forms,
    derived_forms,
)
from flowvault.redaction.matcher import Matcher
from tests.redaction.strategies import PRINTABLE, redaction_settings, secret_values, surrounding

CANARY = "canary-7f3a9c1e2b"


@redaction_settings
@given(value=secret_values, before=surrounding, after=surrounding, data=st.data())
def test_no_derived_form_survives(value: str, before: str, after: str, data: st.DataObject) -> None:
    forms = sorted(derived_forms(value))
    planted = data.draw(st.sampled_from(forms))
    redacted = Redactor([("api", value)]).redact(before + planted + after)
    assert "[REDACTED:api]" in redacted
    assert not [form for form in forms if form in redacted]


@redaction_settings
@given(
    value=secret_values,
    prefix=st.binary(max_size=8),
    suffix=st.binary(max_size=8),
    urlsafe=st.booleans(),
    padded=st.booleans(),
    before=surrounding,
    after=surrounding,
)
def test_base64_of_the_value_inside_other_bytes_is_redacted(
    value: str, prefix: bytes, suffix: bytes, urlsafe: bool, padded: bool, before: str, after: str
) -> None:
    raw = value.encode()
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    encoded = encode(prefix + raw + suffix).decode()
    if not padded:
        encoded = encoded.rstrip("=")
    # The characters that carry only the value's bits: computed from the blob, not from the forms.
    core = encoded[-(-8 * len(prefix) // 6) : 8 * (len(prefix) + len(raw)) // 6]
    assert len(core) >= 8
    redacted = Redactor([("api", value)]).redact(before + encoded + after)
    assert core not in redacted


@redaction_settings
@given(value=secret_values, ensure_ascii=st.booleans())
def test_url_encoded_and_json_escaped_values_in_json_bodies_are_redacted(value: str, ensure_ascii: bool) -> None:
    body = json.dumps(
        {
            "token": value,
            "url": f"https://api.example.com/v1?key={quote(value, safe='')}&x=1",
            "form": f"grant_type=client_credentials&client_secret={quote_plus(value)}",
            "nested": [{"header": f"Bearer {value}"}],
        },
        ensure_ascii=ensure_ascii,
    )
    redacted = Redactor([("api", value)]).redact(body)
    for leaked in (
        value,
        quote(value, safe=""),
        quote_plus(value),
        json.dumps(value, ensure_ascii=ensure_ascii)[1:-1],
        json.dumps(quote_plus(value))[1:-1],
    ):
        assert leaked not in redacted


@redaction_settings
@given(username=st.text(alphabet=PRINTABLE.replace(":", ""), max_size=20), password=secret_values)
def test_basic_auth_header_is_redacted(username: str, password: str) -> None:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    redactor = Redactor([("smtp", password)], extra=[("smtp", form) for form in basic_auth_forms(username, password)])
    redacted = redactor.redact(f"Authorization: Basic {token}\r\n")
    assert token not in redacted and token.rstrip("=") not in redacted
    assert "[REDACTED:smtp]" in redacted


def test_basic_auth_header_example() -> None:
    token = base64.b64encode(b"mailer:hunter2hunter2").decode()
    redactor = Redactor(
        [("smtp", "hunter2hunter2")], extra=[("smtp", f) for f in basic_auth_forms("mailer", "hunter2hunter2")]
    )
    assert redactor.redact(f"Authorization: Basic {token}") == "Authorization: Basic [REDACTED:smtp]"


def _plant(values: list[str], pieces: list[str], data: st.DataObject) -> str:
    forms = sorted(set().union(*(derived_forms(value) for value in values)))
    planted = data.draw(st.lists(st.sampled_from(forms), min_size=1, max_size=4))
    return "".join(piece + form for piece, form in zip(pieces, planted, strict=False)) + pieces[-1]


@redaction_settings
@given(
    values=st.lists(secret_values, min_size=1, max_size=3),
    pieces=st.lists(surrounding, min_size=1, max_size=5),
    data=st.data(),
)
def test_redacting_twice_changes_nothing_more(values: list[str], pieces: list[str], data: st.DataObject) -> None:
    redactor = Redactor((f"secret{i}", value) for i, value in enumerate(values))
    once = redactor.redact(_plant(values, pieces, data))
    assert redactor.redact(once) == once


@redaction_settings
@given(value=secret_values, text=st.text(max_size=200))
def test_text_without_secrets_is_unchanged(value: str, text: str) -> None:
    assume(not any(form in text for form in derived_forms(value)))
    assert Redactor([("api", value)]).redact(text) == text
    assert Redactor.empty().redact(text) == text


def test_overlapping_values_of_two_secrets_leave_nothing_of_either() -> None:
    redactor = Redactor([("first", "abcdefgh12"), ("second", "12345678xy")])
    assert redactor.redact("<abcdefgh12345678xy>") == "<[REDACTED:first]>"
    assert redactor.redact("<12345678xyabcdefgh12>") == "<[REDACTED:second][REDACTED:first]>"


def test_leftmost_longest_names_the_span() -> None:
    redactor = Redactor([("short", "password"), ("long", "password-for-prod")])
    assert redactor.redact("x password-for-prod y password z") == "x [REDACTED:long] y [REDACTED:short] z"


def test_a_secret_named_after_a_value_does_not_leak_through_its_marker() -> None:
    redactor = Redactor([(f"token {CANARY}", CANARY)])
    assert redactor.redact(f"got {CANARY}") == f"got {ANONYMOUS_MARKER}"


def test_values_shorter_than_eight_characters_are_refused() -> None:
    with pytest.raises(ShortSecretError, match="shorter than 8"):
        Redactor([("pin", "1234567")])
    with pytest.raises(ShortSecretError):
        Redactor(extra=[("pin", "1234")])


def test_redact_bytes_removes_a_canary_among_invalid_utf8() -> None:
    redactor = Redactor([("api", CANARY)])
    data = b"\xff\xfe head " + CANARY.encode() + b"\xe2 tail \x80"
    assert redactor.redact_bytes(data) == b"\xff\xfe head [REDACTED:api]\xe2 tail \x80"
    assert redactor.redact_bytes(base64.b64encode(b"x" + CANARY.encode())).find(b"REDACTED") >= 0


def test_redact_value_walks_json_like_values() -> None:
    redactor = Redactor([("api", CANARY)])
    value = {CANARY: [CANARY, (f"a{CANARY}", 3)], "n": 1.5, "flag": True, "none": None, "raw": CANARY.encode()}
    assert redactor.redact_value(value) == {
        "[REDACTED:api]": ["[REDACTED:api]", ("a[REDACTED:api]", 3)],
        "n": 1.5,
        "flag": True,
        "none": None,
        "raw": b"[REDACTED:api]",
    }


def test_combining_redactors_masks_both() -> None:
    first, second = Redactor([("a", "first-secret")]), Redactor([("b", "second-secret")])
    combined = first.merge(second)
    assert combined.redact("first-secret second-secret") == "[REDACTED:a] [REDACTED:b]"
    assert Redactor.combine([]).redact("first-secret") == "first-secret"
    assert not Redactor.empty() and combined and "first-secret" not in repr(combined)


def test_a_failing_redaction_yields_the_marker_never_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    redactor = Redactor([("api", CANARY)])

    def broken(self: Matcher, text: str) -> list[tuple[int, int, int]]:
        raise RuntimeError("automaton exploded")

    monkeypatch.setattr(Matcher, "spans", broken)
    assert redactor.redact(f"x {CANARY}") == REDACTION_FAILED
    assert redactor.redact_bytes(CANARY.encode()) == REDACTION_FAILED.encode()
    assert redactor.redact_value({"k": [CANARY, 1]}) == {REDACTION_FAILED: [REDACTION_FAILED, 1]}
    stream = redactor.stream()
    assert stream.feed(CANARY * 3) == REDACTION_FAILED
    assert stream.feed(CANARY) == "" and stream.finish() == ""


def test_a_failing_walk_yields_the_marker() -> None:
    cyclic: list[object] = []
    cyclic.append(cyclic)
    assert Redactor([("api", CANARY)]).redact_value(cyclic) == REDACTION_FAILED


def test_building_for_two_hundred_secrets_is_fast() -> None:
    pairs = [(f"secret-{i}", secrets.token_urlsafe(32)) for i in range(200)]
    started = time.perf_counter()
    redactor = Redactor(pairs)
    assert time.perf_counter() - started < 1.0
    assert redactor.redact(pairs[123][1]) == "[REDACTED:secret-123]"


@redaction_settings
@given(value=st.text(alphabet="ab\udc80\ud83dé€", min_size=8, max_size=20), around=st.text("ab\udcff ", max_size=10))
def test_lone_surrogates_in_values_and_text_are_handled(value: str, around: str) -> None:
    redactor = Redactor([("api", value)])
    redacted = redactor.redact(around + value + around)
    assert value not in redacted and "[REDACTED:api]" in redacted
    escaped = json.dumps(value)[1:-1]
    assert escaped not in redactor.redact(f'{{"v": "{escaped}"}}')
