"""redact_value searches a value's strings joined, once, and walks string by string only when that
finds something: the result must be exactly what the walk string by string gives."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from flowvault.redaction import REDACTION_FAILED, Redactor
from tests.redaction.strategies import redaction_settings, secret_values, surrounding

CANARY = "canary-5d1e8a4f70"


def _strings_with(secret: str) -> st.SearchStrategy[str]:
    planted = st.tuples(surrounding, surrounding).map(lambda around: around[0] + secret + around[1])
    return st.one_of(surrounding, planted)


def _values(text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(), text, text.map(lambda s: s.encode("utf-8", "surrogatepass"))
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(text, inner, max_size=4),
            st.tuples(inner, inner),
        ),
        max_leaves=12,
    )


@redaction_settings
@given(data=st.data(), secret=secret_values)
def test_one_search_gives_what_the_walk_string_by_string_gives(data: st.DataObject, secret: str) -> None:
    redactor = Redactor([("api", secret)])
    value = data.draw(_values(_strings_with(secret)))
    assert redactor.redact_value(value) == redactor._walk(value)


def test_a_value_without_secrets_comes_back_as_an_equal_copy() -> None:
    redactor = Redactor([("api", CANARY)])
    value = {"headers": {"x": ["a", "b"]}, "body": (b"raw", 1, None, True), "tags": {"t"}}
    copy = redactor.redact_value(value)
    assert copy == {"headers": {"x": ["a", "b"]}, "body": (b"raw", 1, None, True), "tags": {"t"}}
    assert copy is not value and copy["headers"] is not value["headers"]


def test_a_secret_in_one_string_is_masked_and_the_others_are_kept() -> None:
    redactor = Redactor([("api", CANARY)])
    shown = redactor.redact_value({"a": ["plain", f"Bearer {CANARY}"], CANARY: bytearray(CANARY.encode())})
    assert CANARY not in repr(shown)
    assert shown["a"][0] == "plain"
    assert shown["a"][1].startswith("Bearer ") and shown["a"][1] != f"Bearer {CANARY}"


def test_a_pattern_across_two_joined_strings_masks_neither() -> None:
    # Only a secret holding the separator can match across two strings; the walk then decides.
    secret = "left-part\x00right-part"
    redactor = Redactor([("api", secret)])
    assert redactor.redact_value(["left-part", "right-part"]) == ["left-part", "right-part"]


def test_an_empty_redactor_copies_without_searching() -> None:
    assert Redactor.empty().redact_value({"k": [CANARY, b"x"]}) == {"k": [CANARY, b"x"]}
    assert REDACTION_FAILED not in repr(Redactor.empty().redact_value([CANARY]))


@redaction_settings
@given(data=st.data(), secret=secret_values)
def test_values_searched_together_give_what_each_gives_alone(data: st.DataObject, secret: str) -> None:
    redactor = Redactor([("api", secret)])
    values = data.draw(st.lists(_values(_strings_with(secret)), max_size=4))
    assert redactor.redact_values(*values) == tuple(redactor._walk(value) for value in values)


def test_a_secret_in_one_of_the_values_masks_it_there_and_keeps_the_others() -> None:
    redactor = Redactor([("api", CANARY)])
    step_input, output, error, logs = redactor.redact_values(
        {"url": "https://api.example.com"}, {"echo": f"token={CANARY}"}, None, ["sent"]
    )
    assert step_input == {"url": "https://api.example.com"} and error is None and logs == ["sent"]
    assert CANARY not in repr(output) and output["echo"].startswith("token=")


def test_a_value_that_cannot_be_copied_fails_alone() -> None:
    class Unreadable(dict[str, str]):
        def items(self) -> Any:
            raise RuntimeError("no")

    redactor = Redactor([("api", CANARY)])
    assert redactor.redact_values(Unreadable(), [CANARY]) == (REDACTION_FAILED, [redactor.redact(CANARY)])


def test_the_empty_redactor_is_shared_and_masks_nothing() -> None:
    assert Redactor.empty() is Redactor.empty()
    assert not Redactor.empty()
    assert Redactor.empty().redact_values(CANARY, [CANARY]) == (CANARY, [CANARY])
