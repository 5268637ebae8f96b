from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowvault.redaction import MIN_FORM_LENGTH, basic_auth_forms, derived_forms
from flowvault.redaction import forms as forms_module

VALUE = "sk_live/é+4eC39HqLyjWDarjtT1zdp7dc"


def test_the_value_itself_and_its_encodings_are_forms() -> None:
    raw = VALUE.encode()
    forms = derived_forms(VALUE)
    assert VALUE in forms
    assert raw.hex() in forms and raw.hex().upper() in forms
    assert quote(VALUE, safe="") in forms and quote_plus(VALUE) in forms
    assert json.dumps(VALUE)[1:-1] in forms and json.dumps(VALUE, ensure_ascii=False)[1:-1] in forms
    assert base64.b64encode(raw).decode() in forms
    assert base64.urlsafe_b64encode(raw).decode().rstrip("=") in forms


@pytest.mark.parametrize("offset", [0, 1, 2, 3, 4, 5])
@pytest.mark.parametrize("urlsafe", [False, True])
def test_base64_at_every_alignment_has_a_form_independent_of_its_neighbours(offset: int, urlsafe: bool) -> None:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    raw = VALUE.encode()
    forms = derived_forms(VALUE)
    for before, after in [(b"\xff" * offset, b"\xfe\xfd"), (b"\x01" * offset, b""), (b"x" * offset, b"y")]:
        encoded = encode(before + raw + after).decode()
        assert any(form in encoded for form in forms), (offset, before, after)


@pytest.mark.parametrize("value", ['it\'s "quoted" \\ and\ttabbed', "it's only single", 'only "double" here'])
@pytest.mark.parametrize("neighbour", ["", "'", '"', "'\""])
def test_repr_of_any_string_holding_the_value_contains_a_form(value: str, neighbour: str) -> None:
    shown = repr([neighbour + value + neighbour])
    assert any(form in shown for form in derived_forms(value))


def test_forms_shorter_than_the_minimum_are_dropped() -> None:
    short = derived_forms("short")
    assert "short" not in short and all(len(form) >= MIN_FORM_LENGTH for form in short)
    assert all(len(form) >= MIN_FORM_LENGTH for form in derived_forms("exactly8"))
    assert "exactly8" in derived_forms("exactly8")


def test_basic_auth_forms_are_the_whole_token() -> None:
    token = base64.b64encode(b"aladdin:open sesame").decode()
    assert basic_auth_forms("aladdin", "open sesame") == {token, token.rstrip("=")}
    token = base64.b64encode("usér:p?>?>?>ss".encode()).decode()
    forms = basic_auth_forms("usér", "p?>?>?>ss")
    assert token in forms and token.replace("/", "_").replace("+", "-") in forms


ENCODINGS = {
    "quote": lambda value: quote(value, safe="", errors="surrogatepass"),
    "quote /": lambda value: quote(value, errors="surrogatepass"),
    "quote_plus": lambda value: quote_plus(value, safe="", errors="surrogatepass"),
    "json": lambda value: json.dumps(value)[1:-1],
    "json unicode": lambda value: json.dumps(value, ensure_ascii=False)[1:-1],
    "repr": lambda value: repr(value)[1:-1],
    "repr, single-quoted": lambda value: repr(value + '"')[1:-2],
}


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=MIN_FORM_LENGTH, max_size=40))
def test_every_escaping_encoding_of_any_value_is_a_form(value: str) -> None:
    forms = derived_forms(value)
    for name, encode in ENCODINGS.items():
        encoded = encode(value)
        assert len(encoded) < MIN_FORM_LENGTH or encoded in forms, name


@given(st.from_regex(forms_module._UNRESERVED, fullmatch=True))
def test_a_value_derived_forms_does_not_escape_is_its_own_escaped_form(value: str) -> None:
    # derived_forms skips the escaping encodings for such values: each of them must give the value back.
    assert {encode(value) for encode in ENCODINGS.values()} <= {value}
