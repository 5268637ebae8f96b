"""Every current secret of every workspace, decrypted with the configured master keys through the
secrets service. A secret that does not decrypt is reported by id (the one opaque error says no
more) and the scan goes on without it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from flowvault.errors import DecryptionError
from flowvault.leakscan.forms import SecretValues
from flowvault.secrets import service as secrets_service
from flowvault.secrets.models import SealedField, Secret
from flowvault.secrets.vault import Vault


def _values(secret: Secret, sealed: dict[str, str]) -> SecretValues:
    username = secret.public_fields.get("username")
    return SecretValues(
        id=secret.id,
        name=secret.name,
        workspace_id=secret.workspace_id,
        type=secret.type,
        fields=sealed,
        username=str(username) if username is not None else None,
    )


async def _one_by_one(
    session: AsyncSession, vault: Vault, workspace_id: str, found: list[SecretValues], errors: list[str]
) -> None:
    secrets = (await session.scalars(select(Secret).where(Secret.workspace_id == workspace_id))).all()
    for secret in secrets:
        sealed_names = set(
            (await session.scalars(select(SealedField.field).where(SealedField.secret_id == secret.id))).all()
        )
        try:
            fields = await secrets_service.resolve(session, vault=vault, workspace_id=workspace_id, secret_id=secret.id)
        except DecryptionError:
            errors.append(
                f"secret {secret.id} of workspace {workspace_id} could not be decrypted (its stored value was "
                "altered, or its workspace key does not unwrap): it was not looked for"
            )
            continue
        found.append(_values(secret, {k: v for k, v in fields.items() if k in sealed_names}))


async def load_secrets(session: AsyncSession, vault: Vault) -> tuple[list[SecretValues], list[str]]:
    """(every decryptable secret, one error per secret that is not)."""
    workspace_ids = (await session.scalars(select(Secret.workspace_id).distinct())).all()
    found: list[SecretValues] = []
    errors: list[str] = []
    for workspace_id in sorted(workspace_ids):
        try:
            values = await secrets_service.workspace_secret_values(session, vault=vault, workspace_id=workspace_id)
        except DecryptionError:
            await _one_by_one(session, vault, workspace_id, found, errors)
            continue
        by_secret: dict[str, tuple[Secret, dict[str, str]]] = {}
        for secret, field_name, value in values:
            by_secret.setdefault(secret.id, (secret, {}))[1][field_name] = value
        found.extend(_values(secret, fields) for secret, fields in by_secret.values())
    return found, errors
