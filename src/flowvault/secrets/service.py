"""Secrets & API Keys: create, list, rotate in place, delete with impact, resolve for runs.

Values are write-only: nothing here returns a secret field's value except :func:`resolve`, which
the engine calls at the moment a node needs it."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import bindparam, delete, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from flowvault.audit import service as audit
from flowvault.auth.models import User
from flowvault.db.base import new_id, table_of, utcnow
from flowvault.db.compiled import Bound
from flowvault.db.writes import Rows, SessionWrites
from flowvault.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from flowvault.nodes.base import MIN_SECRET_LENGTH, CredentialType
from flowvault.nodes.registry import credential_type, credential_types, credential_types_for_node
from flowvault.secrets import crypto
from flowvault.secrets.models import SealedField, Secret, SecretChange, SecretUsage
from flowvault.secrets.vault import UnwrappedKey, Vault
from flowvault.workspaces.models import Workspace

if TYPE_CHECKING:
    from flowvault.workspaces.service import Member

SECRET_NOT_FOUND = "Secret not found in this workspace. It may have been deleted."  # noqa: S105
BAD_CURSOR = "This page cursor is not valid: start again from the first page (without 'cursor')."
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
CHANGES_KEPT = 1_000
"""Rows of ``secret_changes`` kept per workspace: a process whose cache is older rebuilds it whole."""


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


async def record_secret_changes(session: AsyncSession, *, workspace_id: str, secret_ids: Iterable[str]) -> int:
    """Bumps the workspace's secrets version and logs which secrets changed, in the caller's
    transaction. On PostgreSQL the UPDATE locks the workspace row until commit, so versions commit in
    order and a version that is visible has all its changes (and every earlier one's) visible."""
    ids = sorted(set(secret_ids))
    await session.execute(
        update(Workspace)
        .where(Workspace.id == workspace_id)
        .values(secrets_version=Workspace.secrets_version + 1)
        .execution_options(synchronize_session=False)
    )
    version = int(await session.scalar(select(Workspace.secrets_version).where(Workspace.id == workspace_id)) or 0)
    session.add_all(SecretChange(workspace_id=workspace_id, version=version, secret_id=sid) for sid in ids)
    if version > CHANGES_KEPT:
        await session.execute(
            delete(SecretChange).where(
                SecretChange.workspace_id == workspace_id, SecretChange.version <= version - CHANGES_KEPT
            )
        )
    return version


async def secrets_version(session: AsyncSession, *, workspace_id: str) -> int:
    return int(await session.scalar(select(Workspace.secrets_version).where(Workspace.id == workspace_id)) or 0)


async def secrets_changed_since(session: AsyncSession, *, workspace_id: str, after: int, upto: int) -> set[str] | None:
    """The ids of the secrets changed by versions ``after + 1 .. upto``, or None when the log does
    not cover them all (pruned, or changed in bulk): then every secret must be read again."""
    rows = (
        await session.execute(
            select(SecretChange.version, SecretChange.secret_id).where(
                SecretChange.workspace_id == workspace_id, SecretChange.version > after, SecretChange.version <= upto
            )
        )
    ).all()
    if {version for version, _ in rows} != set(range(after + 1, upto + 1)):
        return None
    return {secret_id for _, secret_id in rows}


@dataclass(frozen=True)
class SealedValue:
    """One sealed secret field as stored, with what is needed to open it (nothing decrypted)."""

    secret_id: str
    name: str
    version: int
    field: str
    ciphertext: bytes


async def sealed_values(
    session: AsyncSession, *, workspace_id: str, secret_ids: Sequence[str] | None = None
) -> list[SealedValue]:
    """The sealed fields of the workspace's secrets (all, or those of ``secret_ids``), read as plain
    rows: cheap to fetch, opened later by :func:`open_sealed` (in a worker thread)."""
    query = (
        select(Secret.id, Secret.name, Secret.version, SealedField.field, SealedField.ciphertext)
        .join(SealedField, SealedField.secret_id == Secret.id)
        .where(Secret.workspace_id == workspace_id)
    )
    if secret_ids is None:
        rows = (await session.execute(query)).all()
    else:
        rows = []
        ids = list(secret_ids)
        for start in range(0, len(ids), MAX_PAGE_SIZE):
            rows += (await session.execute(query.where(Secret.id.in_(ids[start : start + MAX_PAGE_SIZE])))).all()
    return [SealedValue(*row) for row in rows]


def open_sealed(data_key: crypto.FieldKey, workspace_id: str, value: SealedValue) -> str:
    return crypto.open_field(
        data_key,
        workspace_id=workspace_id,
        secret_id=value.secret_id,
        version=value.version,
        field=value.field,
        blob=value.ciphertext,
    )


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
    await record_secret_changes(session, workspace_id=secret.workspace_id, secret_ids=[secret.id])
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


SecretRow = tuple[Secret, User | None, int, int]


@dataclass(frozen=True)
class SecretPage:
    rows: list[SecretRow]
    next_cursor: str | None
    """Opaque; None on the last page."""


def encode_cursor(type_key: str, name: str) -> str:
    """The cursor of the page after the secret (type_key, name)."""
    raw = json.dumps([type_key, name], ensure_ascii=False, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        type_key, name = json.loads(raw)
    except (binascii.Error, ValueError, TypeError):
        raise ValidationFailed(BAD_CURSOR, field="cursor") from None
    if not isinstance(type_key, str) or not isinstance(name, str):
        raise ValidationFailed(BAD_CURSOR, field="cursor")
    return type_key, name


async def list_secrets_page(
    session: AsyncSession,
    *,
    workspace_id: str,
    type_key: str | None = None,
    node_type: str | None = None,
    limit: int | None = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> SecretPage:
    """Secrets with their creator and the number of nodes and of workflows using each, ordered by
    (type, name) — unique in a workspace, so the cursor (the last row's type and name) is a stable
    keyset: every page is a range of the index ``(workspace_id, type, name)``, however deep. With a
    type filter, one range per accepted type (a handful), so that no plan reads the rows of the
    cursor's type before the cursor. The "used by" counts are one grouped query over the page's
    secrets only. ``limit=None``: every secret."""
    after = decode_cursor(cursor) if cursor else None
    types: list[str] | None = None
    if type_key:
        types = [type_key]
    if node_type:
        accepted = {ct.key for ct in credential_types_for_node(node_type)}
        types = sorted(accepted if types is None else accepted.intersection(types))
    base = (
        select(Secret, User).outerjoin(User, User.id == Secret.created_by_id).where(Secret.workspace_id == workspace_id)
    )
    wanted = None if limit is None else limit + 1
    found: list[tuple[Secret, User | None]] = []
    if types is None:
        query = base.order_by(Secret.type, Secret.name)
        if after is not None:
            query = query.where(tuple_(Secret.type, Secret.name) > tuple_(*after))
        if wanted is not None:
            query = query.limit(wanted)
        found = [(s, u) for s, u in (await session.execute(query)).all()]
    else:
        for type_name in types:
            if wanted is not None and len(found) >= wanted:
                break
            if after is not None and type_name < after[0]:
                continue
            query = base.where(Secret.type == type_name).order_by(Secret.name)
            if after is not None and type_name == after[0]:
                query = query.where(Secret.name > after[1])
            if wanted is not None:
                query = query.limit(wanted - len(found))
            found += [(s, u) for s, u in (await session.execute(query)).all()]
    more = limit is not None and len(found) > limit
    if limit is not None and more:
        found = found[:limit]
    counts: dict[str, tuple[int, int]] = {}
    usage = select(SecretUsage.secret_id, func.count(), func.count(func.distinct(SecretUsage.workflow_id))).group_by(
        SecretUsage.secret_id
    )
    if limit is None:  # every secret: one pass over the workspace's usage rows
        usage = usage.where(SecretUsage.workspace_id == workspace_id)
        counts = {sid: (int(n), int(w)) for sid, n, w in (await session.execute(usage)).all()}
    elif found:  # a page: the primary key (secret_id, ...) finds each one's rows
        page_ids = [s.id for s, _ in found]
        counts = {
            sid: (int(n), int(w))
            for sid, n, w in (await session.execute(usage.where(SecretUsage.secret_id.in_(page_ids)))).all()
        }
    rows: list[SecretRow] = [(s, u, *counts.get(s.id, (0, 0))) for s, u in found]
    return SecretPage(rows=rows, next_cursor=encode_cursor(found[-1][0].type, found[-1][0].name) if more else None)


async def list_secrets(
    session: AsyncSession, *, workspace_id: str, type_key: str | None = None, node_type: str | None = None
) -> list[SecretRow]:
    """Every secret (no paging: the CLI's list), with its creator and its "used by" counts."""
    page = await list_secrets_page(
        session, workspace_id=workspace_id, type_key=type_key, node_type=node_type, limit=None
    )
    return page.rows


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
    await record_secret_changes(session, workspace_id=secret.workspace_id, secret_ids=[secret.id])
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
    await record_secret_changes(session, workspace_id=secret.workspace_id, secret_ids=[secret.id])
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
    if owned:
        await record_secret_changes(session, workspace_id=workspace_id, secret_ids=[s.id for s in owned])
    return len(owned)


@dataclass(frozen=True)
class SealedSecret:
    """A secret as stored, its secret fields still sealed: what a run reads before it opens them."""

    id: str
    workspace_id: str
    name: str
    type: str
    version: int
    public_fields: dict[str, Any]
    sealed: dict[str, bytes]

    def __repr__(self) -> str:
        return f"SealedSecret(id={self.id!r}, type={self.type!r}, fields={sorted(self.sealed)!r})"


_secrets = table_of(Secret)
_sealed = table_of(SealedField)
# The run path's read, built once (compiled once): the secret with its sealed fields, in one query.
_SEALED_SECRET = (
    select(
        _secrets.c.name,
        _secrets.c.type,
        _secrets.c.version,
        _secrets.c.public_fields,
        _sealed.c.field,
        _sealed.c.ciphertext,
    )
    .select_from(_secrets.outerjoin(_sealed, _sealed.c.secret_id == _secrets.c.id))
    .where(_secrets.c.id == bindparam("secret_id"), _secrets.c.workspace_id == bindparam("workspace_id"))
)


async def sealed_secret(reads: Rows, *, workspace_id: str, secret_id: str) -> SealedSecret | None:
    """The workspace's secret with its sealed fields (one query), or None when it has no such secret."""
    statement, params = sealed_secret_read(workspace_id=workspace_id, secret_id=secret_id)
    return sealed_secret_of(await reads.rows(statement, params), workspace_id=workspace_id, secret_id=secret_id)


def sealed_secret_read(*, workspace_id: str, secret_id: str) -> Bound:
    """``sealed_secret``'s query, to send with other statements (a run's claim reads its credentials)."""
    return _SEALED_SECRET, {"secret_id": secret_id, "workspace_id": workspace_id}


def sealed_secret_of(rows: Sequence[Mapping[str, Any]], *, workspace_id: str, secret_id: str) -> SealedSecret | None:
    """The secret in the rows of ``sealed_secret_read``; None when they are none."""
    if not rows:
        return None
    first = rows[0]
    return SealedSecret(
        id=secret_id,
        workspace_id=workspace_id,
        name=first["name"],
        type=first["type"],
        version=first["version"],
        public_fields=first["public_fields"],
        sealed={row["field"]: row["ciphertext"] for row in rows if row["field"] is not None},
    )


def open_fields(key: UnwrappedKey, secret: SealedSecret) -> dict[str, str]:
    """Every field of the secret, its sealed ones opened with its workspace's key: for the moment of a
    call, never stored. Raises DecryptionError when a field does not open (altered, or not this key's)."""
    values: dict[str, str] = {k: str(v) for k, v in secret.public_fields.items()}
    for field, blob in secret.sealed.items():
        values[field] = key.open_field(secret_id=secret.id, version=secret.version, field=field, blob=blob)
    return values


async def resolve(session: AsyncSession, *, vault: Vault, workspace_id: str, secret_id: str) -> dict[str, str]:
    """Every field of the workspace's secret, decrypted (NotFound when it has no such secret)."""
    secret = await sealed_secret(SessionWrites(session), workspace_id=workspace_id, secret_id=secret_id)
    if secret is None:
        raise NotFound(SECRET_NOT_FOUND)
    return open_fields(await vault.unwrapped(session, workspace_id), secret)


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
