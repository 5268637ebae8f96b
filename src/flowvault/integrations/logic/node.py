"""Logic nodes: Condition (true/false branches), Delay and Formatter."""

from __future__ import annotations

import json
import math
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from pydantic import Field

from flowvault.nodes.registry import register_node_type
from flowvault.nodes.sdk import NodeConfig, NodeContext, NodeFailed, NodeOutput, NodeResult, NodeType

MAX_DELAY_SECONDS = 3600


class ConditionConfig(NodeConfig):
    left: Any = Field(title="Value")
    operator: Literal["equal", "not_equal", "greater", "less", "contains"] = "equal"
    right: Any = Field(default=None, title="Compare with")


def _number(value: Any) -> float | None:
    """A finite number from a number or numeric string; None for anything else (booleans, "nan", "inf")."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _text(value: Any) -> str:
    """A value as a template renders it into text: JSON for non-strings, "" for null."""
    if isinstance(value, str):
        return value
    return "" if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def compare(left: Any, operator: str, right: Any) -> bool:
    if operator in ("equal", "not_equal"):
        a, b = _number(left), _number(right)
        same = a == b if a is not None and b is not None else left == right or _text(left) == _text(right)
        return same if operator == "equal" else not same
    if operator in ("greater", "less"):
        a, b = _number(left), _number(right)
        if a is None or b is None:
            raise NodeFailed(f"'{operator}' compares numbers, but got {left!r} and {right!r}.")
        return a > b if operator == "greater" else a < b
    if isinstance(left, list):
        return any(compare(item, "equal", right) for item in left)
    if isinstance(left, dict):
        return isinstance(right, str) and right in left
    return _text(right) in _text(left)


@register_node_type
class Condition(NodeType):
    key = "condition"
    name = "Condition"
    category = "logic"
    description = "Continue on the true or the false branch"
    branches = ("true", "false")
    Config = ConditionConfig
    Output = NodeOutput

    async def run(self, ctx: NodeContext, config: ConditionConfig) -> NodeResult:
        result = compare(config.left, config.operator, config.right)
        return NodeResult(output={"result": result}, branch="true" if result else "false")


class DelayConfig(NodeConfig):
    seconds: float = Field(ge=0, le=MAX_DELAY_SECONDS, title="Wait (seconds)")


@register_node_type
class Delay(NodeType):
    key = "delay"
    name = "Delay"
    category = "logic"
    description = f"Wait up to {MAX_DELAY_SECONDS} seconds before continuing"
    Config = DelayConfig
    Output = NodeOutput

    async def run(self, ctx: NodeContext, config: DelayConfig) -> NodeResult:
        await ctx.sleep(config.seconds)
        return NodeResult(output={"waited_seconds": config.seconds})


Operation = Literal[
    "upper",
    "lower",
    "trim",
    "replace",
    "split",
    "length",
    "to_number",
    "round",
    "format_date",
    "parse_json",
    "to_json",
]


class FormatterConfig(NodeConfig):
    operation: Operation
    value: Any = Field(title="Input")
    find: str | None = Field(default=None, description="replace: text to find")
    replace_with: str = Field(default="", description="replace: replacement")
    separator: str = Field(default=",", min_length=1, description="split: separator")
    decimals: int = Field(default=0, ge=0, le=12, description="round: decimal places")
    date_format: str = Field(default="%Y-%m-%d", description="format_date: strftime pattern")


def _format(config: FormatterConfig) -> Any:
    value, op = config.value, config.operation
    text = value if isinstance(value, str) else json.dumps(value) if value is not None else ""
    if op in ("upper", "lower", "trim"):
        return {"upper": text.upper(), "lower": text.lower(), "trim": text.strip()}[op]
    if op == "replace":
        if not config.find:
            raise NodeFailed("replace needs the text to find ('find').")
        return text.replace(config.find, config.replace_with)
    if op == "split":
        return text.split(config.separator)
    if op == "length":
        return len(value) if isinstance(value, list | dict | str) else len(text)
    if op in ("to_number", "round"):
        number = _number(value)
        if number is None:
            raise NodeFailed(f"{value!r} is not a number.")
        if op == "to_number":
            return number
        # Half away from zero, as people round (Python's round() rounds halves to even).
        rounded = Decimal(repr(number)).quantize(Decimal(1).scaleb(-config.decimals), rounding=ROUND_HALF_UP)
        return float(rounded)
    if op == "format_date":
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise NodeFailed(f"{value!r} is not an ISO 8601 date-time (e.g. 2026-11-27T10:00:00Z).") from None
        return moment.strftime(config.date_format)
    if op == "parse_json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise NodeFailed(f"The input is not valid JSON: {exc.msg} at position {exc.pos}.") from None
    return json.dumps(value, ensure_ascii=False)


@register_node_type
class Formatter(NodeType):
    key = "formatter"
    name = "Formatter"
    category = "logic"
    description = "Transform text, numbers, dates and JSON"
    Config = FormatterConfig
    Output = NodeOutput

    async def run(self, ctx: NodeContext, config: FormatterConfig) -> NodeResult:
        return NodeResult(output={"value": _format(config)})
