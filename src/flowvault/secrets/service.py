"""Secrets & API Keys: create, list, rotate in place, delete with impact, resolve for runs.

Values are write-only: nothing here returns a secret field's value except :func:`resolve`, which
the engine calls at the moment a node needs it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from flowvault.audit import service as audit
from flowvault.auth.models import User
from flowvault.db.base import new_id, utcnow
from flowvault.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from flowvault.nodes.base import MIN_SECRET_LENGTH, CredentialType
from flowvault.nodes.registry import credential_type, credential_types, credential_types_for_node
from flowvault.secrets import crypto
from flowvault.secrets.models import SealedField, Secret, SecretUsage
from flowvault.secrets.vault import Vault

if TYPE_CHECKING:
    from flowvault.workspaces.service import Member

SECRET_NOT_FOUND = "Secret not found in this workspace. It may have been deleted."  # noqa: S105


@dataclass(frozen=True)
class Usage:
    workflow_id: str
    workflow_name: str
    node_id: str
    node_name: str


def _type_or_422(key: str) -> CredentialType:
    found = credential_type(key)
    if found is None:
        known = ", ".join(sorted(credential_types()))
        raise ValidationFailed(f"Unknown credential type '{key}'. Use one of: {known}.", field="type")
    return found


def _validate_fields(ctype: CredentialType, fields: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Validates against the type's field model; returns (public fields, secret fields)."""
    try:
        model = ctype.fields.model_validate(dict(fields))
    except PydanticValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        name = ".".join(str(part) for part in first["loc"]) or "fields"
        message = {
            "missing": f"'{name}' is required for a {ctype.name} credential.",
            "extra_forbidden": f"'{name}' is not a field of a {ctype.name} credential.",
        }.get(first["type"], f"'{name}': {first['msg']}.")
        raise ValidationFailed(message, field=f"fields.{name}") from None
    public: dict[str, Any] = {}
    sealed: dict[str, str] = {}
    for spec in ctype.field_specs:
        value = getattr(model, spec.name)
        if isinstance(value, SecretStr):
            plain = value.get_secret_value()
            if len(plain) < MIN_SECRET_LENGTH:
                raise ValidationFailed(
                    f"'{spec.name}' is too short: secret values need at least {MIN_SECRET_LENGTH} characters, "
                    "because a shorter value could not be masked safely in run outputs.",
                    field=f"fields.{spec.name}",
                )
            sealed[spec.name] = plain
        elif value is not None:
            public[spec.name] = value
    return public, sealed


def _require_may_change(member: Member, secret: Secret, action: str) -> None:
    member.require_editor(f"{action} secrets")
    if not member.role.manages_workspace and secret.created_by_id != member.user.id:
        raise PermissionDenied(
            f"Users can {action} only the secrets they created. Ask the creator, the owner or an admin."
        )


async def _seal_all(session: AsyncSession, vault: Vault, secret: Secret, sealed: Mapping[str, str]) -> None:
    data_key = await vault.data_key(session, secret.workspace_id)
    for field_name, value in sealed.items():
        session.add(
            SealedField(
                secret_id=secret.id,
                field=field_name,
                ciphertext=crypto.seal_field(
                    data_key,
                    workspace_id=secret.workspace_id,
                    secret_id=secret.id,
                    version=secret.version,
                    field=field_name,
                    value=value,
                ),
            )
        )


async def _name_taken(session: AsyncSession, workspace_id: str, type_key: str, name: str) -> bool:
    found = await session.scalar(
        select(Secret.id).where(Secret.workspace_id == workspace_id, Secret.type == type_key, Secret.name == name)
    )
    return found is not None


async def create_secret(
    session: AsyncSession,
    *,
    vault: Vault,
    member: Member,
    type_key: str,
    name: str,
    description: str,
    fields: Mapping[str, Any],
) -> Secret:
    member.require_editor("create secrets")
    ctype = _type_or_422(type_key)
    name = name.strip()
    if not name:
        raise ValidationFailed("Give the secret a name.", field="name")
    public, sealed = _validate_fields(ctype, fields)
    if await _name_taken(session, member.workspace.id, ctype.key, name):
        raise Conflict(
            f"A {ctype.name} secret named '{name}' already exists in this workspace. "
            "Pick another name, or rotate the existing secret's value."
        )
    now = utcnow()
    secret = Secret(
        id=new_id(),
        workspace_id=member.workspace.id,
        type=ctype.key,
        name=name,
        description=description.strip(),
        version=1,
        public_fields=public,
        created_by_id=member.user.id,
        created_at=now,
        updated_at=now,
    )
    session.add(secret)
    await session.flush()
    await _seal_all(session, vault, secret, sealed)
    audit.record(
        session,
        workspace_id=member.workspace.id,
        actor=member.user,
        action="secret.created",
        target_type="secret",
        target_id=secret.id,
        details={"name": name, "type": ctype.key},
    )
    await session.commit()
    return secret


async def list_secrets(
    session: AsyncSession, *, workspace_id: str, type_key: str | None = None, node_type: str | None = None
) -> list[tuple[Secret, User | None, int, int]]:
    """Secrets with their creator, the number of nodes and of workflows using each."""
    nodes = (
        select(
            SecretUsage.secret_id,
            func.count().label("nodes"),
            func.count(func.distinct(SecretUsage.workflow_id)).label("workflows"),
        )
        .where(SecretUsage.workspace_id == workspace_id)
        .group_by(SecretUsage.secret_id)
        .subquery()
    )
    query = (
        select(Secret, User, func.coalesce(nodes.c.nodes, 0), func.coalesce(nodes.c.workflows, 0))
        .outerjoin(User, User.id == Secret.created_by_id)
        .outerjoin(nodes, nodes.c.secret_id == Secret.id)
        .where(Secret.workspace_id == workspace_id)
    )
    if type_key:
        query = query.where(Secret.type == type_key)
    if node_type:
        query = query.where(Secret.type.in_([ct.key for ct in credential_types_for_node(node_type)]))
    rows = await session.execute(query.order_by(Secret.type, Secret.name))
    return [(s, u, int(n), int(w)) for s, u, n, w in rows.all()]


async def get_secret(session: AsyncSession, *, workspace_id: str, secret_id: str) -> Secret:
    secret = await session.get(Secret, secret_id)
    if secret is None or secret.workspace_id != workspace_id:
        raise NotFound(SECRET_NOT_FOUND)
    return secret


async def usages(session: AsyncSession, *, secret_id: str) -> list[Usage]:
    rows = await session.scalars(
        select(SecretUsage)
        .where(SecretUsage.secret_id == secret_id)
        .order_by(SecretUsage.workflow_name, SecretUsage.node_name)
    )
    return [Usage(u.workflow_id, u.workflow_name, u.node_id, u.node_name) for u in rows.all()]


async def rotate_secret(
    session: AsyncSession, *, vault: Vault, member: Member, secret_id: str, fields: Mapping[str, Any]
) -> Secret:
    """Replaces the value in place: same id, version + 1, every field sealed again."""
    secret = await get_secret(session, workspace_id=member.workspace.id, secret_id=secret_id)
    _require_may_change(member, secret, "rotate")
    ctype = _type_or_422(secret.type)
    merged = {**secret.public_fields, **dict(fields)}
    public, sealed = _validate_fields(ctype, merged)
    await session.execute(delete(SealedField).where(SealedField.secret_id == secret.id))
    secret.version += 1
    secret.public_fields = public
    secret.updated_at = utcnow()
    await _seal_all(session, vault, secret, sealed)
    audit.record(
        session,
        workspace_id=member.workspace.id,
        actor=member.user,
        action="secret.rotated",
        target_type="secret",
        target_id=secret.id,
        details={"name": secret.name, "type": secret.type, "version": secret.version},
    )
    await session.commit()
    return secret


async def _delete(session: AsyncSession, secret: Secret, *, actor: User | None, reason: str | None) -> None:
    details: dict[str, Any] = {"name": secret.name, "type": secret.type}
    if reason:
        details["reason"] = reason
    audit.record(
        session,
        workspace_id=secret.workspace_id,
        actor=actor,
        action="secret.deleted",
        target_type="secret",
        target_id=secret.id,
        details=details,
    )
    await session.delete(secret)


async def delete_secret(session: AsyncSession, *, member: Member, secret_id: str, force: bool = False) -> None:
    secret = await get_secret(session, workspace_id=member.workspace.id, secret_id=secret_id)
    _require_may_change(member, secret, "delete")
    used_by = await usages(session, secret_id=secret.id)
    if used_by and not force:
        workflows = len({u.workflow_id for u in used_by})
        raise Conflict(
            f"'{secret.name}' is used by {len(used_by)} node(s) in {workflows} workflow(s). Those nodes will "
            "need a new credential; delete with ?force=true to go ahead.",
            extra={"used_by": [u.__dict__ for u in used_by]},
        )
    await _delete(session, secret, actor=member.user, reason=None)
    await session.commit()


async def delete_secrets_created_by(
    session: AsyncSession, *, workspace_id: str, user: User, actor: User, reason: str
) -> int:
    """Deletes (without committing) every secret ``user`` created in the workspace."""
    owned = (
        await session.scalars(
            select(Secret).where(Secret.workspace_id == workspace_id, Secret.created_by_id == user.id)
        )
    ).all()
    for secret in owned:
        await _delete(session, secret, actor=actor, reason=reason)
    return len(owned)


async def resolve(session: AsyncSession, *, vault: Vault, workspace_id: str, secret_id: str) -> dict[str, str]:
    """Every field of the secret, decrypted: for the engine at the moment of a call, never stored."""
    secret = await get_secret(session, workspace_id=workspace_id, secret_id=secret_id)
    data_key = await vault.data_key(session, workspace_id)
    values: dict[str, str] = {k: str(v) for k, v in secret.public_fields.items()}
    rows = await session.scalars(select(SealedField).where(SealedField.secret_id == secret.id))
    for row in rows.all():
        values[row.field] = crypto.open_field(
            data_key,
            workspace_id=workspace_id,
            secret_id=secret.id,
            version=secret.version,
            field=row.field,
            blob=row.ciphertext,
        )
    return values


async def workspace_secret_values(
    session: AsyncSession, *, vault: Vault, workspace_id: str
) -> list[tuple[Secret, str, str]]:
    """(secret, field, plaintext) for every secret field of the workspace: for the "no hardcoded
    tokens" check on workflow save. Never stored, never returned by the API."""
    data_key = await vault.data_key(session, workspace_id)
    rows = await session.execute(
        select(Secret, SealedField)
        .join(SealedField, SealedField.secret_id == Secret.id)
        .where(Secret.workspace_id == workspace_id)
    )
    return [
        (
            secret,
            row.field,
            crypto.open_field(
                data_key,
                workspace_id=workspace_id,
                secret_id=secret.id,
                version=secret.version,
                field=row.field,
                blob=row.ciphertext,
            ),
        )
        for secret, row in rows.all()
    ]


async def secret_by_name(
    session: AsyncSession, *, workspace_id: str, name: str, types: tuple[str, ...]
) -> Secret | None:
    found = await session.scalars(
        select(Secret)
        .where(Secret.workspace_id == workspace_id, Secret.name == name, Secret.type.in_(types))
        .order_by(Secret.type)
    )
    return found.first()
