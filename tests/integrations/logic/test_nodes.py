"""Logic nodes: Condition (compare + branches), Delay and Formatter, run directly (no network)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import ValidationError

from flowvault.integrations.logic.node import MAX_DELAY_SECONDS, compare
from flowvault.nodes.sdk import NodeFailed, NodeResult
from tests.integrations.harness import Harness, get_node


class NoNetwork:
    async def request(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("logic nodes must not use the network")


@pytest.fixture
def harness() -> Harness:
    return Harness(http=NoNetwork())  # type: ignore[arg-type]


async def run(harness: Harness, key: str, config: dict[str, Any]) -> NodeResult:
    return await harness.run(key, config)


# -- Condition ---------------------------------------------------------------------------------------------

CASES: list[tuple[Any, str, Any, bool]] = [
    # numbers and numeric strings compare as numbers
    (3, "equal", 3, True),
    (3, "equal", 3.0, True),
    (3, "equal", "3", True),
    ("3.0", "equal", " 3 ", True),
    ("1e3", "equal", 1000, True),
    (3, "equal", 4, False),
    (3, "not_equal", 4, True),
    ("3", "not_equal", 3, False),
    (10, "greater", 9.5, True),
    ("10", "greater", "9", True),  # numerically, not as text ("10" < "9")
    (9, "greater", 9, False),
    (-1, "less", 0, True),
    ("2.5", "less", 2.5, False),
    (0, "less", "-0.5", False),
    # strings
    ("abc", "equal", "abc", True),
    ("abc", "equal", "ABC", False),
    ("abc", "not_equal", "abd", True),
    ("", "equal", "", True),
    ("hello world", "contains", "o w", True),
    ("hello world", "contains", "xyz", False),
    ("hello", "contains", "", True),
    ("order 1234", "contains", 23, True),
    # lists and objects
    ([1, 2, 3], "equal", [1, 2, 3], True),
    ([1, 2, 3], "equal", [3, 2, 1], False),
    ({"a": 1, "b": 2}, "equal", {"b": 2, "a": 1}, True),
    (["a", "b"], "contains", "a", True),
    (["a", "b"], "contains", "c", False),
    ([1, 2, 3], "contains", 2, True),
    ([1, 2, 3], "contains", "2", True),  # the same rule as equal: "2" equals 2
    ([1, 2, 3], "contains", 4, False),
    ([{"id": 1}], "contains", {"id": 1}, True),
    ([[1, 2]], "contains", [1, 2], True),
    ({"key": "value"}, "contains", "key", True),
    ({"key": "value"}, "contains", "value", False),
    ({"key": "value"}, "contains", ["key"], False),
    ([], "contains", None, False),
    # booleans and null compare as their JSON text (what a template renders them to)
    (True, "equal", True, True),
    (True, "equal", "true", True),
    (False, "equal", "false", True),
    (True, "equal", "True", False),
    (None, "equal", None, True),
    (None, "equal", "", True),
    (None, "equal", "None", False),
    (None, "not_equal", "x", True),
    ({"a": 1}, "equal", '{"a":1}', True),
    # not-a-number strings are text, never numbers
    ("nan", "equal", "nan", True),
    ("NaN", "not_equal", "NaN", False),
    ("inf", "equal", "Infinity", False),
]


@pytest.mark.parametrize(("left", "operator", "right", "expected"), CASES)
def test_compare(left: Any, operator: str, right: Any, expected: bool) -> None:
    assert compare(left, operator, right) is expected


@pytest.mark.asyncio
@pytest.mark.parametrize(("left", "operator", "right", "expected"), CASES)
async def test_condition_takes_the_matching_branch(
    harness: Harness, left: Any, operator: str, right: Any, expected: bool
) -> None:
    result = await run(harness, "condition", {"left": left, "operator": operator, "right": right})
    assert result.output == {"result": expected}
    assert result.branch == ("true" if expected else "false")


@pytest.mark.asyncio
@pytest.mark.parametrize("operator", ["greater", "less"])
@pytest.mark.parametrize(
    ("left", "right"),
    [("abc", 1), (1, "abc"), (True, 1), (1, None), ([1], 1), ({"n": 1}, 2), ("nan", 1), ("inf", 1), ("", 0)],
)
async def test_greater_and_less_need_numbers(harness: Harness, operator: str, left: Any, right: Any) -> None:
    with pytest.raises(NodeFailed) as failed:
        await run(harness, "condition", {"left": left, "operator": operator, "right": right})
    assert str(failed.value) == f"'{operator}' compares numbers, but got {left!r} and {right!r}."


def test_condition_config() -> None:
    config = get_node("condition").Config
    assert config.model_validate({"left": 1}).model_dump() == {"left": 1, "operator": "equal", "right": None}
    with pytest.raises(ValidationError):
        config.model_validate({"left": 1, "operator": "matches"})
    with pytest.raises(ValidationError):
        config.model_validate({"operator": "equal"})
    assert get_node("condition").branches == ("true", "false")


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
numbers = st.integers(min_value=-(2**63), max_value=2**63) | st.floats(allow_nan=False, allow_infinity=False)


@given(json_scalars)
@example("nan")
@example(" NaN ")
@example("inf")
@example("-Infinity")
@example("1e999")
@example(10**400)
@example(-0.0)
def test_equal_is_reflexive_for_json_scalars(value: Any) -> None:
    assert compare(value, "equal", value) is True
    assert compare(value, "not_equal", value) is False


@given(numbers, numbers, st.booleans(), st.booleans())
def test_greater_and_less_are_antisymmetric(a: float, b: float, a_as_text: bool, b_as_text: bool) -> None:
    left: Any = str(a) if a_as_text else a
    right: Any = str(b) if b_as_text else b
    greater, less = compare(left, "greater", right), compare(left, "less", right)
    assert not (compare(left, "greater", right) and compare(right, "greater", left))
    assert greater == compare(right, "less", left)
    assert less == compare(right, "greater", left)
    assert [greater, less, compare(left, "equal", right)].count(True) == 1


# -- Delay ---------------------------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(("seconds", "expected"), [(0, 0.0), (2.5, 2.5), ("10", 10.0), (MAX_DELAY_SECONDS, 3600.0)])
async def test_delay_sleeps_through_the_context(harness: Harness, seconds: Any, expected: float) -> None:
    result = await run(harness, "delay", {"seconds": seconds})
    assert harness.slept == [expected]
    assert result.output == {"waited_seconds": expected}
    assert result.branch is None


@pytest.mark.parametrize("seconds", [3600.001, 3601, 86_400, -0.1, "soon", None])
def test_delay_is_capped_at_an_hour_by_validation(seconds: Any) -> None:
    with pytest.raises(ValidationError):
        get_node("delay").Config.model_validate({"seconds": seconds})


def test_delay_cap_is_an_hour() -> None:
    assert MAX_DELAY_SECONDS == 3600
    with pytest.raises(ValidationError, match="less than or equal to 3600"):
        get_node("delay").Config.model_validate({"seconds": 3600.5})


# -- Formatter -----------------------------------------------------------------------------------------------


async def fmt(harness: Harness, operation: str, value: Any, **options: Any) -> Any:
    result = await run(harness, "formatter", {"operation": operation, "value": value, **options})
    assert set(result.output) == {"value"}
    return result.output["value"]


FORMATS: list[tuple[str, Any, dict[str, Any], Any]] = [
    ("upper", "  Hello Wörld  ", {}, "  HELLO WÖRLD  "),
    ("upper", 12, {}, "12"),
    ("upper", None, {}, ""),
    ("upper", {"k": "v"}, {}, '{"K": "V"}'),
    ("lower", "MiXeD ÇASE", {}, "mixed çase"),
    ("lower", True, {}, "true"),
    ("trim", "\t padded \n", {}, "padded"),
    ("trim", "", {}, ""),
    ("replace", "a-b-c", {"find": "-", "replace_with": "+"}, "a+b+c"),
    ("replace", "a-b-c", {"find": "-"}, "abc"),
    ("replace", "no match", {"find": "zzz", "replace_with": "y"}, "no match"),
    ("replace", 1000, {"find": "0", "replace_with": "9"}, "1999"),
    ("split", "a,b,,c", {}, ["a", "b", "", "c"]),
    ("split", "x | y | z", {"separator": " | "}, ["x", "y", "z"]),
    ("split", "", {}, [""]),
    ("split", "one", {"separator": ";"}, ["one"]),
    ("length", "héllo", {}, 5),
    ("length", "", {}, 0),
    ("length", [1, 2, 3], {}, 3),
    ("length", {"a": 1, "b": 2}, {}, 2),
    ("length", 12345, {}, 5),
    ("length", None, {}, 0),
    ("to_number", "42", {}, 42.0),
    ("to_number", " -3.5 ", {}, -3.5),
    ("to_number", "1e3", {}, 1000.0),
    ("to_number", 7, {}, 7.0),
    ("round", 3.14159, {"decimals": 2}, 3.14),
    ("round", "7.6", {}, 8.0),
    ("round", 2, {"decimals": 3}, 2.0),
    ("round", -1.23456, {"decimals": 4}, -1.2346),
    ("round", 2.5, {}, 3.0),
    ("round", -2.5, {}, -3.0),
    ("round", 1.005, {"decimals": 2}, 1.01),
    ("format_date", "2026-11-27T10:00:00Z", {}, "2026-11-27"),
    ("format_date", "2026-11-27T10:05:09+02:00", {"date_format": "%d/%m/%Y %H:%M:%S %z"}, "27/11/2026 10:05:09 +0200"),
    ("format_date", "2026-11-27T10:00:00Z", {"date_format": "%A %H:%M %Z"}, "Friday 10:00 UTC"),
    ("format_date", "2026-02-03", {"date_format": "%b %d"}, "Feb 03"),
    ("parse_json", '{"a": [1, 2, {"b": null}]}', {}, {"a": [1, 2, {"b": None}]}),
    ("parse_json", " 42 ", {}, 42),
    ("parse_json", '"text"', {}, "text"),
    ("parse_json", {"already": "parsed"}, {}, {"already": "parsed"}),
    ("to_json", {"b": 1, "a": "é"}, {}, '{"b": 1, "a": "é"}'),
    ("to_json", "text", {}, '"text"'),
    ("to_json", None, {}, "null"),
    ("to_json", [1, True, None], {}, "[1, true, null]"),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("operation", "value", "options", "expected"), FORMATS)
async def test_formatter(harness: Harness, operation: str, value: Any, options: dict[str, Any], expected: Any) -> None:
    assert await fmt(harness, operation, value, **options) == expected


def test_every_formatter_operation_is_covered() -> None:
    schema = get_node("formatter").Config.model_json_schema()
    operations = set(schema["properties"]["operation"]["enum"])
    assert operations == {case[0] for case in FORMATS}


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("operation", "value", "options", "message"),
    [
        ("replace", "abc", {}, "replace needs the text to find ('find')."),
        ("replace", "abc", {"find": ""}, "replace needs the text to find ('find')."),
        ("to_number", "abc", {}, "'abc' is not a number."),
        ("to_number", "", {}, "'' is not a number."),
        ("to_number", True, {}, "True is not a number."),
        ("to_number", None, {}, "None is not a number."),
        ("to_number", [1], {}, "[1] is not a number."),
        ("to_number", "nan", {}, "'nan' is not a number."),
        ("to_number", "inf", {}, "'inf' is not a number."),
        ("round", "1,5", {}, "'1,5' is not a number."),
        ("format_date", "next tuesday", {}, "'next tuesday' is not an ISO 8601 date-time (e.g. 2026-11-27T10:00:00Z)."),
        ("format_date", None, {}, "None is not an ISO 8601 date-time (e.g. 2026-11-27T10:00:00Z)."),
        ("format_date", "2026-13-01", {}, "'2026-13-01' is not an ISO 8601 date-time (e.g. 2026-11-27T10:00:00Z)."),
        ("parse_json", "{broken", {}, "The input is not valid JSON: Expecting property name enclosed in double quotes "
                                      "at position 1."),
        ("parse_json", "[1, 2", {}, "The input is not valid JSON: Expecting ',' delimiter at position 5."),
        ("parse_json", "", {}, "The input is not valid JSON: Expecting value at position 0."),
        ("parse_json", None, {}, "The input is not valid JSON: Expecting value at position 0."),
    ],
)
async def test_formatter_bad_input(
    harness: Harness, operation: str, value: Any, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(NodeFailed) as failed:
        await fmt(harness, operation, value, **options)
    assert str(failed.value) == message


@pytest.mark.parametrize(
    "config",
    [
        {"operation": "upper"},
        {"operation": "shout", "value": "x"},
        {"operation": "round", "value": 1, "decimals": 13},
        {"operation": "round", "value": 1, "decimals": -1},
        {"operation": "split", "value": "abc", "separator": ""},
        {"operation": "upper", "value": "x", "extra": 1},
    ],
)
def test_formatter_config_validation(config: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        get_node("formatter").Config.model_validate(config)


@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=12,
))
def test_to_json_then_parse_json_round_trips(value: Any) -> None:
    from flowvault.integrations.logic.node import FormatterConfig, _format

    text = _format(FormatterConfig(operation="to_json", value=value))
    assert json.loads(text) == value
    assert _format(FormatterConfig(operation="parse_json", value=text)) == value

