"""The Webhook trigger: a run starts when JSON is POSTed to the workflow's webhook URL
(``/hooks/{workflow_id}/{token}``, see ``flowvault.triggers``). The body's fields are the run's
variables: ``{{trigger.customer}}`` is the body's ``customer``."""

from __future__ import annotations

from flowvault.nodes.registry import register_node_type
from flowvault.nodes.sdk import NodeConfig, NodeContext, NodeOutput, NodeResult, NodeType


class WebhookConfig(NodeConfig):
    """Nothing to set here: the URL, its token and signing are in the workflow's Webhook panel."""


@register_node_type
class WebhookTrigger(NodeType):
    key = "webhook_trigger"
    name = "Webhook"
    category = "trigger"
    description = "Start the workflow when JSON is POSTed to its webhook URL; the body's fields become variables"
    Config = WebhookConfig
    Output = NodeOutput

    async def run(self, ctx: NodeContext, config: WebhookConfig) -> NodeResult:
        return NodeResult(output=dict(ctx.run_input))
