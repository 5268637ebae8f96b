from __future__ import annotations

from fastapi import APIRouter, Query

from flowvault.auth.models import User
from flowvault.deps import DB, VaultDep, WorkspaceMember
from flowvault.secrets import service
from flowvault.secrets.models import Secret
from flowvault.secrets.schemas import (
    Creator,
    SecretCreate,
    SecretDetail,
    SecretList,
    SecretRead,
    SecretRotate,
    UsageRead,
)

router = APIRouter(prefix="/api/v1/workspaces/{ws}/secrets", tags=["secrets"])


def _read(secret: Secret, creator: User | None, nodes: int = 0, workflows: int = 0) -> SecretRead:
    return SecretRead(
        id=secret.id,
        type=secret.type,
        name=secret.name,
        description=secret.description,
        version=secret.version,
        public_fields=secret.public_fields,
        created_by=Creator(id=creator.id if creator else None, email=creator.email if creator else None),
        created_at=secret.created_at,
        updated_at=secret.updated_at,
        last_used_at=secret.last_used_at,
        used_by_count=nodes,
        used_by_workflow_count=workflows,
    )


async def _detail(session: DB, secret: Secret) -> SecretDetail:
    creator = await session.get(User, secret.created_by_id) if secret.created_by_id else None
    used_by = await service.usages(session, secret_id=secret.id)
    base = _read(secret, creator, len(used_by), len({u.workflow_id for u in used_by}))
    return SecretDetail(**base.model_dump(), used_by=[UsageRead(**u.__dict__) for u in used_by])


@router.post("", status_code=201, response_model=SecretDetail)
async def create_secret(body: SecretCreate, member: WorkspaceMember, session: DB, vault: VaultDep) -> SecretDetail:
    secret = await service.create_secret(
        session,
        vault=vault,
        member=member,
        type_key=body.type,
        name=body.name,
        description=body.description,
        fields=body.fields,
    )
    return await _detail(session, secret)


@router.get("", response_model=SecretList)
async def list_secrets(
    member: WorkspaceMember,
    session: DB,
    type: str | None = Query(default=None, description="Only secrets of this credential type"),
    node_type: str | None = Query(default=None, description="Only secrets a node of this type may use"),
    limit: int = Query(
        default=service.DEFAULT_PAGE_SIZE, ge=1, le=service.MAX_PAGE_SIZE, description="Secrets per page"
    ),
    cursor: str | None = Query(
        default=None, description="The previous page's next_cursor; omit for the first page", max_length=2000
    ),
) -> SecretList:
    """One page of the workspace's secrets, ordered by type then name. While next_cursor is not null,
    more follow: ask again with cursor=<next_cursor> and the same filters."""
    page = await service.list_secrets_page(
        session, workspace_id=member.workspace.id, type_key=type, node_type=node_type, limit=limit, cursor=cursor
    )
    return SecretList(items=[_read(s, u, n, w) for s, u, n, w in page.rows], next_cursor=page.next_cursor)


@router.get("/{secret_id}", response_model=SecretDetail)
async def get_secret(secret_id: str, member: WorkspaceMember, session: DB) -> SecretDetail:
    secret = await service.get_secret(session, workspace_id=member.workspace.id, secret_id=secret_id)
    return await _detail(session, secret)


@router.put("/{secret_id}/value", response_model=SecretDetail)
async def rotate_secret(
    secret_id: str, body: SecretRotate, member: WorkspaceMember, session: DB, vault: VaultDep
) -> SecretDetail:
    secret = await service.rotate_secret(session, vault=vault, member=member, secret_id=secret_id, fields=body.fields)
    return await _detail(session, secret)


@router.delete("/{secret_id}", status_code=204)
async def delete_secret(
    secret_id: str,
    member: WorkspaceMember,
    session: DB,
    force: bool = Query(default=False, description="Delete even while workflow nodes use it"),
) -> None:
    await service.delete_secret(session, member=member, secret_id=secret_id, force=force)
