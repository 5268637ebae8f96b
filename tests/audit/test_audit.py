from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from flowvault.audit.models import AuditEvent
from flowvault.bootstrap import open_state
from flowvault.config import Settings
from tests.conftest import Actor


def test_audit_log_pages_backwards(signup: Any) -> None:
    owner: Actor = signup("o@example.com")
    for number in range(5):
        owner.post(f"/api/v1/workspaces/{owner.workspace_id}/secrets",
                   json={"type": "http_bearer", "name": f"s{number}", "fields": {"token": f"token-value-{number}"}})
    first = owner.get(f"/api/v1/workspaces/{owner.workspace_id}/audit", params={"limit": 4}).json()
    assert [e["details"].get("name") for e in first["items"]] == ["s4", "s3", "s2", "s1"]
    rest = owner.get(f"/api/v1/workspaces/{owner.workspace_id}/audit",
                     params={"limit": 4, "before_id": first["next_before_id"]}).json()
    assert [e["action"] for e in rest["items"]] == ["secret.created", "member.joined"]
    assert rest["next_before_id"] is None


def test_audit_events_cannot_be_updated_or_deleted(signup: Any, settings: Settings) -> None:
    signup("o@example.com")

    async def tamper(change: str) -> None:
        state = await open_state(settings)
        try:
            async with state.sessions() as session:
                event = (await session.scalars(select(AuditEvent))).first()
                assert event is not None
                if change == "update":
                    event.action = "nothing.happened"
                else:
                    await session.delete(event)
                with pytest.raises(RuntimeError, match="append-only"):
                    await session.flush()
        finally:
            await state.engine.dispose()

    asyncio.run(tamper("update"))
    asyncio.run(tamper("delete"))
