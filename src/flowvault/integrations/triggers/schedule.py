"""The Schedule trigger: a run starts at set times (``flowvault.triggers.scheduler`` fires it). The
times are computed in the workflow's time zone; see ``flowvault.triggers.schedule`` for what happens
across DST changes. Its output is when the run was due and when it was queued (ISO 8601, UTC)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from flowvault.nodes.registry import register_node_type
from flowvault.nodes.sdk import NodeConfig, NodeContext, NodeOutput, NodeResult, NodeType
from flowvault.triggers.schedule import ScheduleSpec, Unit, valid_cron


class ScheduleConfig(NodeConfig):
    start: datetime = Field(
        title="Start", description="First run (ISO 8601); without an offset it is a time in the time zone below"
    )
    timezone: str = Field(default="UTC", title="Time zone", description="An IANA name, e.g. Europe/Berlin")
    repeat: Literal["interval", "cron"] = Field(default="interval", title="Repeat")
    every: int = Field(default=1, ge=1, le=100_000, title="Every")
    unit: Unit = Field(
        default="days",
        title="Unit",
        description="Minutes and hours are elapsed time; days and weeks keep the wall-clock time across DST changes",
    )
    cron: str = Field(
        default="",
        max_length=200,
        title="Cron expression",
        description="Five fields (minute hour day month weekday), in the time zone above",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{value}' is not a known time zone; use an IANA name such as Europe/Berlin") from None
        return value

    @model_validator(mode="after")
    def _cron_when_cron(self) -> ScheduleConfig:
        if self.repeat == "cron" and not valid_cron(self.cron):
            raise ValueError(
                f"'{self.cron}' is not a cron expression; give five fields, e.g. '30 9 * * 1-5' (09:30 on weekdays)"
            )
        return self

    def spec(self) -> ScheduleSpec:
        start = self.start
        if start.tzinfo is not None:  # keep the instant, drop the offset: the spec is wall-clock in its zone
            start = start.astimezone(ZoneInfo(self.timezone)).replace(tzinfo=None)
        return ScheduleSpec(
            start=start,
            timezone=self.timezone,
            every=self.every,
            unit=self.unit,
            cron=self.cron if self.repeat == "cron" else None,
        )


class ScheduleOutput(NodeOutput):
    scheduled_for: str | None = None
    fired_at: str | None = None


@register_node_type
class ScheduleTrigger(NodeType):
    key = "schedule_trigger"
    name = "Schedule"
    category = "trigger"
    description = "Start the workflow at set times: every N minutes, hours, days or weeks, or on a cron expression"
    Config = ScheduleConfig
    Output = ScheduleOutput

    async def run(self, ctx: NodeContext, config: ScheduleConfig) -> NodeResult:
        # A run started by hand has no schedule times; the scheduler's runs carry both.
        return NodeResult(
            output={"scheduled_for": ctx.run_input.get("scheduled_for"), "fired_at": ctx.run_input.get("fired_at")}
        )
