from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class RunCreate(BaseModel):
    input: dict[str, Any] = Field(default_factory=dict)


class RunQueued(BaseModel):
    id: str
    status: str


class CredentialRef(BaseModel):
    id: str
    name: str


class StepRead(BaseModel):
    seq: int
    node_id: str
    node_name: str
    node_type: str
    status: str
    input: Any
    output: Any
    error: str | None
    credentials: list[CredentialRef]
    logs: list[str]
    started_at: datetime
    finished_at: datetime
    duration_ms: int


class RunSummary(BaseModel):
    id: str
    workflow_id: str
    workflow_version: int
    status: str
    trigger: str
    error: str | None
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    requeued_from_id: str | None = Field(default=None, description="The failed run this one requeued")
    requeued_as_id: str | None = Field(default=None, description="The run that requeued this failed one")


class RunRead(RunSummary):
    input: dict[str, Any]
    path: list[str]
    attempts: int
    steps: list[StepRead]


class RunList(BaseModel):
    items: list[RunSummary]


class BlockedRead(BaseModel):
    id: int
    at: datetime
    workflow_id: str | None
    run_id: str | None
    node_id: str | None
    node_name: str | None
    kind: str
    reason: str
    host: str
    url: str


class BlockedList(BaseModel):
    items: list[BlockedRead]


class EngineSettings(BaseModel):
    concurrency: int = Field(ge=1, le=100, description="Runs of this workspace executed at once")
    egress_allowlist: list[str] = Field(
        default_factory=list, max_length=500, description="Hosts HTTP Request nodes may call: exact host or *.domain"
    )


class CancelAllResult(BaseModel):
    canceled_queued: int
    canceled_running: int


class DeadLetterRead(BaseModel):
    run_id: str
    workflow_id: str
    workflow_name: str
    trigger: str
    reason: str | None
    attempts: int
    queued_at: datetime
    failed_at: datetime | None


class DeadLetterList(BaseModel):
    items: list[DeadLetterRead]


class DeadLetterCleared(BaseModel):
    cleared: int
