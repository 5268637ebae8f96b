from __future__ import annotations

from fastapi import APIRouter

from flowvault.deps import DB, CurrentUser, VaultDep, WorkspaceMember
from flowvault.workspaces import service
from flowvault.workspaces.models import Invitation, Workspace
from flowvault.workspaces.roles import Role
from flowvault.workspaces.schemas import (
    InvitationCreate,
    InvitationRead,
    MemberRead,
    MemberRemoved,
    RoleChange,
    WorkspaceCreate,
    WorkspaceRead,
)

router = APIRouter(prefix="/api/v1", tags=["workspaces"])


def _workspace(workspace: Workspace, role: Role) -> WorkspaceRead:
    return WorkspaceRead(
        id=workspace.id, name=workspace.name, personal=workspace.personal, role=role, created_at=workspace.created_at
    )


def _invitation(invitation: Invitation, workspace: Workspace) -> InvitationRead:
    return InvitationRead(
        id=invitation.id,
        workspace_id=workspace.id,
        workspace_name=workspace.name,
        email=invitation.email,
        role=Role(invitation.role),
        status=invitation.status,
        created_at=invitation.created_at,
        expires_at=invitation.expires_at,
    )


@router.post("/workspaces", status_code=201, response_model=WorkspaceRead)
async def create_workspace(body: WorkspaceCreate, user: CurrentUser, session: DB, vault: VaultDep) -> WorkspaceRead:
    workspace = await service.create_workspace(session, vault=vault, name=body.name, owner=user)
    await session.commit()
    return _workspace(workspace, Role.owner)


@router.get("/workspaces", response_model=list[WorkspaceRead])
async def list_workspaces(user: CurrentUser, session: DB) -> list[WorkspaceRead]:
    return [_workspace(w, r) for w, r in await service.workspaces_of(session, user=user)]


@router.get("/workspaces/{ws}", response_model=WorkspaceRead)
async def get_workspace(member: WorkspaceMember) -> WorkspaceRead:
    return _workspace(member.workspace, member.role)


@router.patch("/workspaces/{ws}", response_model=WorkspaceRead)
async def rename_workspace(body: WorkspaceCreate, member: WorkspaceMember, session: DB) -> WorkspaceRead:
    workspace = await service.rename_workspace(session, member=member, name=body.name)
    return _workspace(workspace, member.role)


@router.delete("/workspaces/{ws}", status_code=204)
async def delete_workspace(member: WorkspaceMember, session: DB, vault: VaultDep) -> None:
    await service.delete_workspace(session, vault=vault, member=member)


@router.get("/workspaces/{ws}/members", response_model=list[MemberRead])
async def list_members(member: WorkspaceMember, session: DB) -> list[MemberRead]:
    return [
        MemberRead(user_id=u.id, email=u.email, role=Role(m.role), joined_at=m.joined_at)
        for m, u in await service.list_members(session, member=member)
    ]


@router.patch("/workspaces/{ws}/members/{user_id}", response_model=MemberRead)
async def change_role(user_id: str, body: RoleChange, member: WorkspaceMember, session: DB) -> MemberRead:
    membership = await service.change_role(session, member=member, user_id=user_id, role=body.role)
    members = {u.id: u for _, u in await service.list_members(session, member=member)}
    return MemberRead(
        user_id=user_id, email=members[user_id].email, role=Role(membership.role), joined_at=membership.joined_at
    )


@router.delete("/workspaces/{ws}/members/{user_id}", response_model=MemberRemoved)
async def remove_member(user_id: str, member: WorkspaceMember, session: DB) -> MemberRemoved:
    return MemberRemoved(secrets_deleted=await service.remove_member(session, member=member, user_id=user_id))


@router.post("/workspaces/{ws}/leave", response_model=MemberRemoved)
async def leave(member: WorkspaceMember, session: DB) -> MemberRemoved:
    return MemberRemoved(secrets_deleted=await service.leave(session, member=member))


@router.post("/workspaces/{ws}/invitations", status_code=201, response_model=InvitationRead)
async def invite(body: InvitationCreate, member: WorkspaceMember, session: DB) -> InvitationRead:
    invitation = await service.invite(
        session, member=member, email=body.email, role=body.role, expires_in_days=body.expires_in_days
    )
    return _invitation(invitation, member.workspace)


@router.get("/workspaces/{ws}/invitations", response_model=list[InvitationRead])
async def workspace_invitations(member: WorkspaceMember, session: DB) -> list[InvitationRead]:
    return [_invitation(i, member.workspace) for i in await service.workspace_invitations(session, member=member)]


@router.delete("/workspaces/{ws}/invitations/{invitation_id}", status_code=204)
async def revoke_invitation(invitation_id: str, member: WorkspaceMember, session: DB) -> None:
    await service.revoke_invitation(session, member=member, invitation_id=invitation_id)


@router.get("/invitations", response_model=list[InvitationRead])
async def my_invitations(user: CurrentUser, session: DB) -> list[InvitationRead]:
    return [_invitation(i, w) for i, w in await service.my_invitations(session, user=user)]


@router.post("/invitations/{invitation_id}/accept", response_model=WorkspaceRead)
async def accept_invitation(invitation_id: str, user: CurrentUser, session: DB) -> WorkspaceRead:
    membership = await service.accept_invitation(session, user=user, invitation_id=invitation_id)
    member = await service.member_of(session, user=user, workspace_id=membership.workspace_id)
    return _workspace(member.workspace, member.role)


@router.post("/invitations/{invitation_id}/decline", status_code=204)
async def decline_invitation(invitation_id: str, user: CurrentUser, session: DB) -> None:
    await service.decline_invitation(session, user=user, invitation_id=invitation_id)
