"""Trigger nodes: where a run starts. Their output is the run's input (``{{trigger.…}}``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from flowvault.nodes.registry import register_node_type
from flowvault.nodes.sdk import NodeConfig, NodeContext, NodeFailed, NodeOutput, NodeResult, NodeType


class InputVariable(NodeConfig):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    type: Literal["string", "number", "boolean", "json"] = "string"
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
        return NodeResult(output=values)
