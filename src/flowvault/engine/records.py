"""What the engine reports about a run: plain data, already redacted when it leaves the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

RunStatus = Literal["queued", "running", "succeeded", "failed", "canceled"]
StepStatus = Literal["succeeded", "failed", "canceled"]


@dataclass
class StepRecord:
    seq: int
    node_id: str
    node_name: str
    node_type: str
    status: StepStatus
    input: Any
    output: Any
    error: str | None
    credentials: list[dict[str, str]]
    logs: list[str]
    started_at: datetime
    finished_at: datetime

    @property
    def duration_ms(self) -> int:
        return int((self.finished_at - self.started_at).total_seconds() * 1000)


@dataclass
class RunOutcome:
    status: RunStatus
    error: str | None
    path: list[str] = field(default_factory=list)
