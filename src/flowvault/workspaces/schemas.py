from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, EmailStr, Field

from flowvault.workspaces.roles import Role


class WorkspaceCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class WorkspaceRead(BaseModel):
    id: str
    name: str
    personal: bool
    role: Role
    created_at: datetime


class MemberRead(BaseModel):
    user_id: str
    email: str
    role: Role
    joined_at: datetime


class RoleChange(BaseModel):
    role: Role


class InvitationCreate(BaseModel):
    email: EmailStr
    role: Role = Role.user
    expires_in_days: int = Field(default=7, ge=1, le=90)


class InvitationRead(BaseModel):
    id: str
    workspace_id: str
    workspace_name: str
    email: str
    role: Role
    status: str
    created_at: datetime
    expires_at: datetime


class MemberRemoved(BaseModel):
    secrets_deleted: int
