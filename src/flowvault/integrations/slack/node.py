"""Slack: post a message with chat.postMessage, using a bot token credential."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import Field, model_validator

from flowvault.nodes.registry import register_node_type
from flowvault.nodes.sdk import NodeConfig, NodeContext, NodeFailed, NodeOutput, NodeResult, NodeType

HINTS = {
    "invalid_auth": "the token is not valid: rotate the credential with a current bot token",
    "not_authed": "no token reached Slack: select a credential",
    "token_revoked": "the token was revoked: rotate the credential",
    "account_inactive": "the token belongs to a deactivated account: rotate the credential",
    "missing_scope": "the token lacks the chat:write scope: add it to the Slack app and reinstall",
    "channel_not_found": "no such channel: use a channel ID (C…) or a name the bot can see",
    "not_in_channel": "the bot is not in that channel: invite it, or add the chat:write.public scope",
}


class SlackConfig(NodeConfig):
    channel: str = Field(min_length=1, max_length=200, description="Channel ID (C…) or name")
    text: str | None = Field(default=None, max_length=40_000, title="Message")
    blocks: list[dict[str, Any]] | None = Field(default=None, description="Block Kit blocks (JSON)")
    credential_id: str | None = Field(default=None, title="Credentials")

    @model_validator(mode="after")
    def _has_content(self) -> SlackConfig:
        if not self.text and not self.blocks:
            raise ValueError("give the message text (or blocks)")
        return self


@register_node_type
class Slack(NodeType):
    key = "slack"
    name = "Slack"
    category = "action"
    description = "Post a message to a Slack channel"
    credential_types = ("slack_token",)
    services = ("slack",)
    Config = SlackConfig
    Output = NodeOutput

    async def run(self, ctx: NodeContext, config: SlackConfig) -> NodeResult:
        credential = ctx.require_credential("slack_token")
        body: dict[str, Any] = {"channel": config.channel}
        if config.text:
            body["text"] = config.text
        if config.blocks:
            body["blocks"] = config.blocks
        try:
            response = await ctx.http.request(
                "POST",
                f"{ctx.service_url('slack')}/chat.postMessage",
                json=body,
                headers={
                    "Authorization": f"Bearer {credential.fields['token']}",
                    "Content-Type": "application/json; charset=utf-8",
                },
                credential_hosts=credential.hosts,
            )
        except httpx.HTTPError as exc:
            raise NodeFailed(f"Slack could not be reached: {type(exc).__name__}") from None
        if response.status_code == 429:
            raise NodeFailed(
                f"Slack rate-limited the request; retry after {response.headers.get('retry-after', '?')} s."
            )
        if response.status_code >= 500:
            raise NodeFailed(f"Slack answered HTTP {response.status_code}; try again later.")
        try:
            data: Any = response.json() if "json" in response.headers.get("content-type", "") else {}
        except ValueError:  # malformed JSON: reported by its HTTP status below, not a crash
            data = {}
        if not isinstance(data, dict):
            data = {}
        if not data.get("ok"):
            error = str(data.get("error", f"HTTP {response.status_code}"))
            raise NodeFailed(f"Slack refused the message ({error}): {HINTS.get(error, 'see the Slack API docs')}.")
        return NodeResult(output={"channel": data.get("channel"), "ts": data.get("ts")})
