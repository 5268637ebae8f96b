from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class CredentialFieldRead(BaseModel):
    name: str
    label: str
    secret: bool
    required: bool
    description: str
    choices: list[str]


class CredentialTypeRead(BaseModel):
    key: str
    name: str
    description: str
    fields: list[CredentialFieldRead]
    node_types: list[str]
    hosts: list[str]
    json_schema: dict[str, Any]


class NodeTypeRead(BaseModel):
    key: str
    version: int
    name: str
    category: str
    description: str
    credential_types: list[str]
    branches: list[str]
    secret_template_fields: list[str]
    config_schema: dict[str, Any]
    output_schema: dict[str, Any]
