"""Setting up a benchmark workspace through flowvault's public API (SPEC §11)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

PASSWORD = "bench-password-1234"  # noqa: S105 - a throwaway account in a temporary data directory


@dataclass
class Workspace:
    client: httpx.Client  # authenticated with an API token
    workspace_id: str

    def path(self, rest: str) -> str:
        return f"/api/v1/workspaces/{self.workspace_id}{rest}"

    def call(self, method: str, rest: str, expect: int, **kwargs: Any) -> Any:
        response = self.client.request(method, self.path(rest), **kwargs)
        if response.status_code != expect:
            raise RuntimeError(f"{method} {rest}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None


def sign_up(base_url: str, email: str) -> Workspace:
    with httpx.Client(base_url=base_url, timeout=30) as browser:
        signed = browser.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})
        signed.raise_for_status()
        csrf = browser.cookies.get("flowvault_csrf") or ""
        token = browser.post("/api/v1/tokens", json={"name": "bench"}, headers={"X-CSRF-Token": csrf})
        token.raise_for_status()
    client = httpx.Client(
        base_url=base_url, timeout=60, headers={"Authorization": f"Bearer {token.json()['token']}"}
    )
    return Workspace(client, signed.json()["workspace"]["id"])


def webhook_graph(upstream_url: str, credential_id: str | None) -> dict[str, Any]:
    """Webhook → HTTP Request POSTing ``{"order": <the body's order>}`` to the fake upstream."""
    http: dict[str, Any] = {"method": "POST", "url": upstream_url, "body": {"order": "{{trigger.order}}"}}
    if credential_id is not None:
        http |= {"auth": "bearer", "credential_id": credential_id}
    return {
        "nodes": [
            {"id": "t", "type": "webhook_trigger", "name": "Hook", "config": {}},
            {"id": "h", "type": "http_request", "name": "Call", "config": http},
        ],
        "edges": [{"source": "t", "target": "h"}],
    }


@dataclass
class HookSetup:
    workspace: Workspace
    workflow_id: str
    secret_id: str
    hook_url: str


def set_up_webhook_flow(
    base_url: str, *, upstream_host: str, upstream_url: str, token: str, concurrency: int
) -> HookSetup:
    ws = sign_up(base_url, "bench@example.com")
    ws.call("PUT", "/settings/engine", 200, json={"concurrency": concurrency, "egress_allowlist": [upstream_host]})
    # The default limit (5/s, burst 20) is a safety net for real senders; a benchmark must not hit it.
    ws.call("PUT", "/settings/webhooks", 200, json={"rate_per_s": 1000, "burst": 10_000})
    secret = ws.call(
        "POST", "/secrets", 201, json={"type": "http_bearer", "name": "Upstream API", "fields": {"token": token}}
    )
    workflow = ws.call(
        "POST", "/workflows", 201,
        json={"name": "Bench hook", "enabled": True, "graph": webhook_graph(upstream_url, secret["id"])},
    )
    hook = ws.call("GET", f"/workflows/{workflow['id']}/webhook", 200)
    return HookSetup(ws, workflow["id"], secret["id"], hook["url"])
