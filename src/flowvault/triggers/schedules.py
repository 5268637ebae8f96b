"""Keeping a workflow's schedule in step with the workflow on every save: scheduled while it is
enabled and starts with a Schedule trigger; otherwise not. Firing the ticks: ``scheduler``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from flowvault.errors import ValidationFailed
from flowvault.integrations.triggers.schedule import ScheduleConfig, ScheduleTrigger
from flowvault.triggers.models import Schedule
from flowvault.triggers.schedule import ScheduleSpec, next_fire_after
from flowvault.workflows.models import Workflow


def spec_of(workflow: Workflow) -> ScheduleSpec | None:
    """The workflow's schedule, when it starts with a Schedule trigger."""
    node = next((n for n in workflow.graph.get("nodes", []) if n.get("type") == ScheduleTrigger.key), None)
    if node is None:
        return None
    try:
        return ScheduleConfig.model_validate(node.get("config") or {}).spec()
    except PydanticValidationError:
        raise ValidationFailed(
            f"Node '{node.get('name')}': a Schedule trigger's settings cannot use templates; give fixed values.",
            field="config",
            extra={"node_id": node.get("id")},
        ) from None


def spec_to_json(spec: ScheduleSpec) -> dict[str, Any]:
    return {
        "start": spec.start.isoformat(),
        "timezone": spec.timezone,
        "every": spec.every,
        "unit": spec.unit,
        "cron": spec.cron,
    }


def spec_from_json(stored: dict[str, Any]) -> ScheduleSpec:
    return ScheduleSpec(
        start=datetime.fromisoformat(stored["start"]),
        timezone=stored["timezone"],
        every=stored["every"],
        unit=stored["unit"],
        cron=stored["cron"],
    )


async def sync_schedule(session: AsyncSession, workflow: Workflow, *, now: datetime) -> None:
    """Adds, changes or removes the workflow's schedule row (not committed). An unchanged schedule keeps
    its next tick; a new or changed one (or one enabled again) starts from the first tick after ``now``:
    ticks missed while disabled are not caught up."""
    spec = spec_of(workflow) if workflow.enabled else None
    row = await session.get(Schedule, workflow.id)
    if spec is None:
        if row is not None:
            await session.delete(row)
        return
    stored = spec_to_json(spec)
    if row is not None and row.spec == stored:
        return
    next_fire_at = next_fire_after(spec, now)
    if row is None:
        session.add(
            Schedule(
                workflow_id=workflow.id,
                workspace_id=workflow.workspace_id,
                spec=stored,
                next_fire_at=next_fire_at,
                skipped_ticks=0,
            )
        )
        return
    row.spec = stored
    row.next_fire_at = next_fire_at
    row.lease_owner = row.lease_expires_at = None
