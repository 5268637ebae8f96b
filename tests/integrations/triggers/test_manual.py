"""Manual trigger: its output is the run input, with variable defaults applied."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from flowvault.nodes.sdk import NodeFailed, NodeResult
from tests.integrations.harness import Harness, get_node


class NoNetwork:
    async def request(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the manual trigger must not use the network")


@pytest.fixture
def harness() -> Harness:
    return Harness(http=NoNetwork())  # type: ignore[arg-type]


async def trigger(harness: Harness, run_input: dict[str, Any], *variables: dict[str, Any]) -> NodeResult:
    return await harness.run("manual_trigger", {"variables": list(variables)}, run_input=run_input)


@pytest.mark.asyncio
@pytest.mark.parametrize("run_input", [{}, {"name": "Ada"}, {"n": 3, "nested": {"list": [1, 2]}, "flag": False}])
async def test_outputs_the_run_input(harness: Harness, run_input: dict[str, Any]) -> None:
    result = await trigger(harness, run_input)
    assert result.output == run_input
    assert result.branch is None


@pytest.mark.asyncio
async def test_output_is_a_copy_of_the_input(harness: Harness) -> None:
    run_input = {"name": "Ada"}
    result = await harness.run(
        "manual_trigger", {"variables": [{"name": "extra", "default": "x"}]}, run_input=run_input
    )
    assert result.output == {"name": "Ada", "extra": "x"}
    assert run_input == {"name": "Ada"}


@pytest.mark.asyncio
async def test_applies_defaults_for_missing_or_empty_values(harness: Harness) -> None:
    result = await trigger(
        harness,
        {"given": "kept", "empty": "", "null": None, "zero": 0, "no": False},
        {"name": "given", "default": "unused"},
        {"name": "empty", "default": "filled"},
        {"name": "null", "type": "number", "default": 5},
        {"name": "zero", "type": "number", "default": 9},
        {"name": "no", "type": "boolean", "default": True},
        {"name": "absent", "type": "json", "default": {"a": [1]}},
        {"name": "absent_without_default"},
    )
    assert result.output == {
        "given": "kept",
        "empty": "filled",
        "null": 5,
        "zero": 0,
        "no": False,
        "absent": {"a": [1]},
        "absent_without_default": None,
    }


@pytest.mark.asyncio
async def test_undeclared_input_passes_through(harness: Harness) -> None:
    result = await trigger(harness, {"other": 1}, {"name": "declared", "default": "d"})
    assert result.output == {"other": 1, "declared": "d"}


@pytest.mark.asyncio
@pytest.mark.parametrize("run_input", [{}, {"email": ""}, {"email": None}])
async def test_a_required_variable_missing_fails_the_node(harness: Harness, run_input: dict[str, Any]) -> None:
    with pytest.raises(NodeFailed) as failed:
        await trigger(harness, run_input, {"name": "email", "required": True})
    assert str(failed.value) == "Input variable 'email' is required: give it a value when you run."


@pytest.mark.asyncio
async def test_a_required_variable_with_a_default_uses_it(harness: Harness) -> None:
    result = await trigger(harness, {}, {"name": "region", "required": True, "default": "eu"})
    assert result.output == {"region": "eu"}


@pytest.mark.asyncio
@pytest.mark.parametrize("value", ["x", 0, False, [], {}])
async def test_a_required_variable_given_any_non_empty_value_passes(harness: Harness, value: Any) -> None:
    result = await trigger(harness, {"v": value}, {"name": "v", "required": True})
    assert result.output == {"v": value}


@pytest.mark.parametrize(
    "variable",
    [
        {"name": ""},
        {"name": "1starts_with_digit"},
        {"name": "has-dash"},
        {"name": "has space"},
        {"name": "x" * 101},
        {"name": "ok", "type": "date"},
        {"name": "ok", "secret": True},
    ],
)
def test_invalid_variables_are_refused(variable: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        get_node("manual_trigger").Config.model_validate({"variables": [variable]})


def test_config_defaults() -> None:
    kind = get_node("manual_trigger")
    assert kind.category == "trigger"
    assert kind.Config.model_validate({}).model_dump() == {"variables": []}
    variable = kind.Config.model_validate({"variables": [{"name": "_x1"}]}).model_dump()["variables"][0]
    assert variable == {"name": "_x1", "type": "any", "required": False, "default": None}


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("declared", "given", "expected"),
    [
        ("number", "42", 42),
        ("number", "2.5", 2.5),
        ("number", 7, 7),
        ("boolean", "yes", True),
        ("boolean", "false", False),
        ("json", '{"a": [1]}', {"a": [1]}),
        ("string", 12, "12"),
        ("any", 12, 12),
    ],
)
async def test_declared_types_convert_given_text(harness: Harness, declared: str, given: Any, expected: Any) -> None:
    result = await trigger(harness, {"v": given}, {"name": "v", "type": declared})
    assert result.output == {"v": expected}


@pytest.mark.asyncio
@pytest.mark.parametrize(("declared", "given"), [("number", "abc"), ("number", "nan"), ("boolean", "maybe"),
                                                 ("json", "{not json")])
async def test_a_value_of_the_wrong_type_fails_naming_the_variable(harness: Harness, declared: str, given: Any) -> None:
    with pytest.raises(NodeFailed, match="'v' must be a"):
        await trigger(harness, {"v": given}, {"name": "v", "type": declared})
