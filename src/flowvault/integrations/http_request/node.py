"""HTTP Request: any method to any host on the workspace's egress allowlist, with auth from a credential."""

from __future__ import annotations

import base64
import json
from typing import Any, Literal

import httpx
from pydantic import Field, model_validator

from flowvault.nodes.registry import register_node_type
from flowvault.nodes.sdk import NodeConfig, NodeContext, NodeFailed, NodeOutput, NodeResult, NodeType

AUTH_TYPES = {"basic": "http_basic", "bearer": "http_bearer", "header": "http_header"}
ERROR_BODY_CHARS = 500


class HttpRequestConfig(NodeConfig):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = "GET"
    url: str = Field(min_length=1, max_length=8000, title="URL")
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, str] = Field(default_factory=dict)
    body: Any = Field(default=None, description="JSON value, or text")
    timeout_ms: int = Field(default=30_000, ge=100, le=300_000, title="Timeout (ms)")
    follow_redirects: bool = True
    auth: Literal["none", "basic", "bearer", "header"] = "none"
    username: str | None = Field(default=None, description="basic: overrides the credential's username")
    header_name: str | None = Field(default=None, description="header: overrides the credential's header name")
    credential_id: str | None = Field(default=None, title="Credentials")

    @model_validator(mode="after")
    def _credential_matches_auth(self) -> HttpRequestConfig:
        if self.auth != "none" and not self.credential_id:
            raise ValueError(f"auth '{self.auth}' needs a credential: select one or create a new one")
        return self


def _authorization(config: HttpRequestConfig, ctx: NodeContext) -> dict[str, str]:
    if config.auth == "none":
        return {}
    credential = ctx.require_credential(AUTH_TYPES[config.auth])
    fields = credential.fields
    if config.auth == "bearer":
        return {"Authorization": f"Bearer {fields['token']}"}
    if config.auth == "basic":
        username = config.username or fields["username"]
        pair = base64.b64encode(f"{username}:{fields['password']}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}
    return {config.header_name or fields["header_name"]: fields["value"]}


def _parse(response: httpx.Response) -> Any:
    if "json" in response.headers.get("content-type", ""):
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return response.text
    return response.text


@register_node_type
class HttpRequest(NodeType):
    key = "http_request"
    name = "HTTP Request"
    category = "action"
    description = "Call any API on your egress allowlist"
    credential_types = tuple(AUTH_TYPES.values())
    secret_template_fields = ("url", "headers", "query", "body")
    Config = HttpRequestConfig
    Output = NodeOutput

    def credential_types_for(self, config: NodeConfig) -> tuple[str, ...]:
        assert isinstance(config, HttpRequestConfig)
        return (AUTH_TYPES[config.auth],) if config.auth in AUTH_TYPES else ()

    async def run(self, ctx: NodeContext, config: HttpRequestConfig) -> NodeResult:
        auth = _authorization(config, ctx)
        replaced = {name.lower() for name in auth}  # case-insensitive: auth replaces, never duplicates
        headers = httpx.Headers(
            [*((k, v) for k, v in config.headers.items() if k.lower() not in replaced), *auth.items()]
        )
        body = config.body
        content: str | None = None
        payload: Any = None
        if isinstance(body, str):
            content = body
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        elif body is not None:
            payload = body  # any other JSON value (object, array, number, boolean) is sent as JSON
        try:
            response = await ctx.http.request(
                config.method,
                config.url,
                headers=headers,
                params=config.query or None,
                content=content,
                json=payload,
                timeout=config.timeout_ms / 1000,
                follow_redirects=config.follow_redirects,
                credential_hosts=ctx.credential.hosts if ctx.credential and config.auth != "none" else None,
            )
        except httpx.TimeoutException:
            raise NodeFailed(
                f"The request timed out after {config.timeout_ms} ms. Raise the timeout or try later."
            ) from None
        except httpx.HTTPError as exc:
            raise NodeFailed(f"The request failed: {type(exc).__name__}: {exc}") from None
        parsed = _parse(response)
        if not response.is_success:
            snippet = parsed if isinstance(parsed, str) else json.dumps(parsed)
            raise NodeFailed(f"HTTP {response.status_code} from {response.url.host}: {snippet[:ERROR_BODY_CHARS]}")
        return NodeResult(output={"status": response.status_code, "headers": dict(response.headers), "body": parsed})
