from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Position(BaseModel):
    x: float = 0
    y: float = 0


class NodeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=100)
    type: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    config: dict[str, Any] = Field(default_factory=dict)
    position: Position = Field(default_factory=Position)


class EdgeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str
    target: str
    source_handle: str | None = None


class Graph(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nodes: list[NodeSpec] = Field(default_factory=list, max_length=500)
    edges: list[EdgeSpec] = Field(default_factory=list, max_length=2000)


class WorkflowCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    enabled: bool = True
    graph: Graph = Field(default_factory=Graph)


class WorkflowUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    enabled: bool | None = None
    graph: Graph | None = None
    version: int | None = Field(default=None, description="The version you edited; a newer saved version → 409")


class WorkflowRead(BaseModel):
    id: str
    name: str
    enabled: bool
    version: int
    graph: Graph
    created_at: datetime
    updated_at: datetime


class WorkflowSummary(BaseModel):
    id: str
    name: str
    enabled: bool
    version: int
    node_count: int
    updated_at: datetime


class WorkflowList(BaseModel):
    items: list[WorkflowSummary]


class ChangeRead(BaseModel):
    id: str
    workflow_id: str
    workflow_name: str
    version: int
    at: datetime
    actor_email: str | None
    changes: list[dict[str, Any]]


class ChangeList(BaseModel):
    items: list[ChangeRead]
