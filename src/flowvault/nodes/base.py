"""Declarations shared by integrations: credential types (and, later, node types).

A credential type is declared once, next to the node types that use it: a stable key, a display
name, a Pydantic model of its fields (``SecretStr`` marks a secret field), the node types that may
use it, and the hosts it may be sent to (SPEC §6 host binding).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr

MIN_SECRET_LENGTH = 8


class CredentialFields(BaseModel):
    """Base for a credential type's field model. Unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


@dataclass(frozen=True)
class HostBinding:
    """Where a credential may be sent.

    ``service`` names a configurable service base URL (``slack`` → ``FLOWVAULT_SLACK_API_URL``) whose
    host is allowed; ``patterns`` are fixed hosts or ``*.domain`` patterns; ``workspace_allowlist``
    allows the hosts on the workspace's egress allowlist (HTTP credentials).
    """

    service: str | None = None
    patterns: tuple[str, ...] = ()
    workspace_allowlist: bool = False

    def describe(self) -> list[str]:
        hosts = list(self.patterns)
        if self.service:
            hosts.append(f"the configured {self.service} API host")
        if self.workspace_allowlist:
            hosts.append("hosts on the workspace egress allowlist")
        return hosts


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    secret: bool
    required: bool
    description: str
    default: Any = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class CredentialType:
    key: str
    name: str
    fields: type[CredentialFields]
    node_types: tuple[str, ...]
    hosts: HostBinding
    description: str = ""
    field_specs: tuple[FieldSpec, ...] = field(init=False)
    secret_field_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "field_specs", tuple(_field_specs(self.fields)))
        object.__setattr__(self, "secret_field_names", tuple(s.name for s in self.field_specs if s.secret))


def _field_specs(model: type[CredentialFields]) -> list[FieldSpec]:
    schema = model.model_json_schema()
    specs = []
    for name, info in model.model_fields.items():
        prop = schema.get("properties", {}).get(name, {})
        choices = tuple(prop.get("enum", ()))
        specs.append(
            FieldSpec(
                name=name,
                label=info.title or name.replace("_", " ").capitalize(),
                secret=info.annotation is SecretStr or info.annotation == (SecretStr | None),
                required=info.is_required(),
                description=info.description or "",
                default=None if info.is_required() else info.default,
                choices=choices,
            )
        )
    return specs
