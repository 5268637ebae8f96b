from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from flowvault.redaction import Redactor, derived_forms
from tests.redaction.strategies import redaction_settings, secret_values, surrounding


def _feed_all(redactor: Redactor, text: str, cuts: list[int]) -> str:
    stream = redactor.stream()
    bounds = [0, *sorted(cuts), len(text)]
    return "".join(stream.feed(text[a:b]) for a, b in itertools.pairwise(bounds)) + stream.finish()


@redaction_settings
@given(
    values=st.lists(secret_values, min_size=1, max_size=3),
    pieces=st.lists(surrounding, min_size=1, max_size=5),
    data=st.data(),
)
def test_streaming_equals_redacting_the_whole_text(values: list[str], pieces: list[str], data: st.DataObject) -> None:
    forms = sorted(set().union(*(derived_forms(value) for value in values)))
    planted = data.draw(st.lists(st.sampled_from(forms), max_size=4))
    text = "".join(piece + form for piece, form in zip(pieces, planted, strict=False)) + pieces[-1]
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=12))
    redactor = Redactor((f"secret{i}", value) for i, value in enumerate(values))
    assert _feed_all(redactor, text, cuts) == redactor.redact(text)


def test_a_secret_split_character_by_character_is_redacted() -> None:
    redactor = Redactor([("api", "sk_live_4eC39HqLyjWD")])
    text = "key=sk_live_4eC39HqLyjWD; again sk_live_4eC39HqLyjWD."
    assert _feed_all(redactor, text, list(range(len(text)))) == "key=[REDACTED:api]; again [REDACTED:api]."


def test_a_span_that_keeps_growing_is_held_back_until_it_ends() -> None:
    redactor = Redactor([("run", "aaaaaaaa")])
    stream = redactor.stream()
    assert stream.feed("x" + "a" * 20) == "x"
    assert stream.feed("a" * 20) == ""
    assert stream.feed("b" * 20) + stream.finish() == "[REDACTED:run]" + "b" * 20


def test_output_is_released_as_soon_as_it_is_safe() -> None:
    value = "0123456789"
    stream = Redactor([("api", value)]).stream()
    longest = max(map(len, derived_forms(value)))
    assert stream.feed("x" * 100) == "x" * (100 - longest + 1)
    assert stream.feed(value[:4]) == "x" * 4
    assert stream.feed(value[4:] + "!") + stream.finish() == "x" * (longest - 5) + "[REDACTED:api]!"


def test_an_empty_redactor_streams_through() -> None:
    stream = Redactor.empty().stream()
    assert stream.feed("abc") == "abc" and stream.finish() == ""
