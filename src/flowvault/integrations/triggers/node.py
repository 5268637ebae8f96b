"""Trigger nodes: where a run starts. Their output is the run's input (``{{trigger.…}}``)."""

from __future__ import annotations

import json
import math
from typing import Any, Literal

from pydantic import Field

from flowvault.integrations.triggers import schedule as _schedule  # noqa: F401 - registers the Schedule trigger
from flowvault.integrations.triggers import webhook as _webhook  # noqa: F401 - registers the Webhook trigger
from flowvault.nodes.registry import register_node_type
from flowvault.nodes.sdk import NodeConfig, NodeContext, NodeFailed, NodeOutput, NodeResult, NodeType


class InputVariable(NodeConfig):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    type: Literal["any", "string", "number", "boolean", "json"] = Field(
        default="any", description="Values given as text are converted to this type; 'any' keeps them as given"
    )
    required: bool = False
    default: Any = None


class ManualConfig(NodeConfig):
    variables: list[InputVariable] = Field(default_factory=list, title="Input variables")


@register_node_type
class ManualTrigger(NodeType):
    key = "manual_trigger"
    name = "Manual"
    category = "trigger"
    description = "Start the workflow by hand, with optional input variables"
    Config = ManualConfig
    Output = NodeOutput

    async def run(self, ctx: NodeContext, config: ManualConfig) -> NodeResult:
        values = dict(ctx.run_input)
        for variable in config.variables:
            if variable.name not in values or values[variable.name] in (None, ""):
                if variable.required and variable.default is None:
                    raise NodeFailed(f"Input variable '{variable.name}' is required: give it a value when you run.")
                values[variable.name] = variable.default
            if values[variable.name] is not None:
                values[variable.name] = _typed(variable, values[variable.name])
        return NodeResult(output=values)


def _typed(variable: InputVariable, value: Any) -> Any:
    """The value as the variable's declared type; text from a form is converted."""
    if variable.type == "any":
        return value
    wrong = NodeFailed(f"Input variable '{variable.name}' must be a {variable.type}; got {value!r}.")
    if variable.type == "string":
        return value if isinstance(value, str) else json.dumps(value)
    if variable.type == "number":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        try:
            number = float(str(value).strip())
        except ValueError:
            raise wrong from None
        if not math.isfinite(number):
            raise wrong
        return int(number) if number.is_integer() and "." not in str(value) else number
    if variable.type == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "yes", "1", "on"):
            return True
        if text in ("false", "no", "0", "off"):
            return False
        raise wrong
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise wrong from None
    return value
