from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, EmailStr, Field


class Credentials(BaseModel):
    email: EmailStr
    password: str = Field(min_length=1, max_length=1024)


class SignupRequest(BaseModel):
    email: EmailStr
    password: str = Field(min_length=10, max_length=1024, description="At least 10 characters")


class UserRead(BaseModel):
    id: str
    email: str


class WorkspaceRef(BaseModel):
    id: str
    name: str


class SignupResponse(BaseModel):
    user: UserRead
    workspace: WorkspaceRef


class MembershipRef(BaseModel):
    id: str
    name: str
    role: str
    personal: bool


class MeResponse(BaseModel):
    id: str
    email: str
    workspaces: list[MembershipRef]


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)


class TokenRead(BaseModel):
    id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(BaseModel):
    id: str
    name: str
    token: str = Field(description="Shown once. Store it now: it cannot be retrieved again.")
