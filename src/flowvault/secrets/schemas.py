from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class SecretCreate(BaseModel):
    type: str = Field(description="Credential type key, e.g. http_bearer")
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    fields: dict[str, Any] = Field(description="Field values; secret fields are write-only")


class SecretRotate(BaseModel):
    fields: dict[str, Any] = Field(description="New values: every secret field, and any public field to change")


class Creator(BaseModel):
    id: str | None
    email: str | None


class UsageRead(BaseModel):
    workflow_id: str
    workflow_name: str
    node_id: str
    node_name: str


class SecretRead(BaseModel):
    """Metadata only: a secret field's value is never returned."""

    id: str
    type: str
    name: str
    description: str
    version: int
    public_fields: dict[str, Any] = Field(description="Values of the type's non-secret fields (e.g. username)")
    created_by: Creator
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None
    used_by_count: int = 0
    used_by_workflow_count: int = 0


class SecretDetail(SecretRead):
    used_by: list[UsageRead]


class SecretList(BaseModel):
    items: list[SecretRead]
    next_cursor: str | None = Field(
        default=None, description="Pass as ?cursor= for the next page (same filters); null on the last page"
    )
