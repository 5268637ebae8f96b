"""SendGrid: send an email (plain or dynamic template) with the v3 Mail Send API."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import EmailStr, Field, model_validator

from flowvault.nodes.registry import register_node_type
from flowvault.nodes.sdk import NodeConfig, NodeContext, NodeFailed, NodeOutput, NodeResult, NodeType


class SendGridConfig(NodeConfig):
    from_email: EmailStr = Field(title="From (verified sender)")
    from_name: str | None = None
    to: list[EmailStr] = Field(min_length=1, max_length=1000, title="To")
    subject: str | None = Field(default=None, max_length=998)
    text: str | None = Field(default=None, title="Text body")
    html: str | None = Field(default=None, title="HTML body")
    template_id: str | None = Field(default=None, pattern=r"^d-[A-Za-z0-9]+$", description="Dynamic template (d-…)")
    dynamic_template_data: dict[str, Any] = Field(default_factory=dict, title="Template data")
    credential_id: str | None = Field(default=None, title="Credentials")

    @model_validator(mode="after")
    def _has_content(self) -> SendGridConfig:
        if not self.template_id and not (self.subject and (self.text or self.html)):
            raise ValueError("give a subject and a text or HTML body, or a dynamic template id (d-…)")
        return self


def _payload(config: SendGridConfig) -> dict[str, Any]:
    personalization: dict[str, Any] = {"to": [{"email": address} for address in config.to]}
    sender: dict[str, Any] = {"email": config.from_email}
    if config.from_name:
        sender["name"] = config.from_name
    payload: dict[str, Any] = {"personalizations": [personalization], "from": sender}
    if config.template_id:
        payload["template_id"] = config.template_id
        personalization["dynamic_template_data"] = config.dynamic_template_data
    if config.subject:
        payload["subject"] = config.subject
    content = [{"type": t, "value": v} for t, v in (("text/plain", config.text), ("text/html", config.html)) if v]
    if content:
        payload["content"] = content
    return payload


@register_node_type
class SendGrid(NodeType):
    key = "sendgrid"
    name = "SendGrid"
    category = "action"
    description = "Send an email through SendGrid"
    credential_types = ("sendgrid_api_key",)
    services = ("sendgrid",)
    Config = SendGridConfig
    Output = NodeOutput

    async def run(self, ctx: NodeContext, config: SendGridConfig) -> NodeResult:
        credential = ctx.require_credential("sendgrid_api_key")
        try:
            response = await ctx.http.request(
                "POST",
                f"{ctx.service_url('sendgrid')}/v3/mail/send",
                json=_payload(config),
                headers={"Authorization": f"Bearer {credential.fields['api_key']}"},
                credential_hosts=credential.hosts,
            )
        except httpx.HTTPError as exc:
            raise NodeFailed(f"SendGrid could not be reached: {type(exc).__name__}") from None
        if response.status_code == 202:
            return NodeResult(output={"message_id": response.headers.get("x-message-id"), "accepted": len(config.to)})
        try:
            errors = response.json().get("errors", [])
            message = "; ".join(str(e.get("message")) + (f" ({e['field']})" if e.get("field") else "") for e in errors)
        except (ValueError, AttributeError, TypeError):  # not JSON, or not SendGrid's {"errors": [{...}]} shape
            message = response.text[:300]
        hint = {
            401: " Rotate the credential with a valid API key.",
            403: " The key needs the mail.send scope and a verified sender.",
        }.get(response.status_code, "")
        raise NodeFailed(f"SendGrid answered HTTP {response.status_code}: {message}.{hint}")
