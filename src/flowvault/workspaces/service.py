"""Workspaces, members, roles and invitations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from flowvault.audit import service as audit
from flowvault.auth.models import User
from flowvault.db.base import utcnow
from flowvault.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from flowvault.secrets import service as secrets_service
from flowvault.secrets.vault import Vault
from flowvault.workspaces.models import Invitation, Membership, Workspace
from flowvault.workspaces.roles import INVITABLE_ROLES, Role

WORKSPACE_NOT_FOUND = "Workspace not found, or you are not a member of it."


@dataclass(frozen=True)
class Member:
    """The acting user inside one workspace."""

    user: User
    workspace: Workspace
    role: Role

    def require_manager(self, action: str) -> None:
        if not self.role.manages_workspace:
            raise PermissionDenied(f"Only the workspace owner or an admin can {action}. Ask one of them.")

    def require_editor(self, action: str) -> None:
        if not self.role.can_edit:
            raise PermissionDenied(f"Viewers cannot {action}. Ask an admin for the 'user' role.")


async def create_workspace(
    session: AsyncSession, *, vault: Vault, name: str, owner: User, personal: bool = False
) -> Workspace:
    workspace = Workspace(name=name.strip(), personal=personal)
    session.add(workspace)
    await session.flush()
    session.add(Membership(workspace_id=workspace.id, user_id=owner.id, role=Role.owner.value))
    await vault.create_workspace_key(session, workspace.id)
    audit.record(
        session,
        workspace_id=workspace.id,
        actor=owner,
        action="member.joined",
        target_type="member",
        target_id=owner.id,
        details={"email": owner.email, "role": Role.owner.value},
    )
    return workspace


async def member_of(session: AsyncSession, *, user: User, workspace_id: str) -> Member:
    """The user's membership of the workspace; NotFound for non-members (never revealing existence)."""
    row = await session.execute(
        select(Workspace, Membership.role)
        .join(Membership, Membership.workspace_id == Workspace.id)
        .where(Workspace.id == workspace_id, Membership.user_id == user.id)
    )
    found = row.first()
    if found is None:
        raise NotFound(WORKSPACE_NOT_FOUND)
    return Member(user=user, workspace=found[0], role=Role(found[1]))


async def workspaces_of(session: AsyncSession, *, user: User) -> list[tuple[Workspace, Role]]:
    rows = await session.execute(
        select(Workspace, Membership.role)
        .join(Membership, Membership.workspace_id == Workspace.id)
        .where(Membership.user_id == user.id)
        .order_by(Workspace.personal.desc(), Workspace.created_at)
    )
    return [(workspace, Role(role)) for workspace, role in rows.all()]


async def list_members(session: AsyncSession, *, member: Member) -> list[tuple[Membership, User]]:
    rows = await session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.workspace_id == member.workspace.id)
        .order_by(Membership.joined_at)
    )
    return [(m, u) for m, u in rows.all()]


async def _membership(session: AsyncSession, workspace_id: str, user_id: str) -> tuple[Membership, User]:
    row = await session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.workspace_id == workspace_id, Membership.user_id == user_id)
    )
    found = row.first()
    if found is None:
        raise NotFound("That user is not a member of this workspace.")
    return found[0], found[1]


async def change_role(session: AsyncSession, *, member: Member, user_id: str, role: Role) -> Membership:
    member.require_manager("change roles")
    target, target_user = await _membership(session, member.workspace.id, user_id)
    if role is Role.owner or target.role == Role.owner.value:
        raise PermissionDenied("The owner's role cannot be changed, and there is only one owner per workspace.")
    if target.role != role.value:
        before = target.role
        target.role = role.value
        audit.record(
            session,
            workspace_id=member.workspace.id,
            actor=member.user,
            action="member.role_changed",
            target_type="member",
            target_id=user_id,
            details={"email": target_user.email, "from": before, "to": role.value},
        )
        await session.commit()
    return target


async def _drop_member(
    session: AsyncSession, *, member: Member, target: Membership, target_user: User, action: str
) -> int:
    deleted = await secrets_service.delete_secrets_created_by(
        session,
        workspace_id=member.workspace.id,
        user=target_user,
        actor=member.user,
        reason=f"creator {target_user.email} {'left' if action == 'member.left' else 'was removed'}",
    )
    await session.delete(target)
    audit.record(
        session,
        workspace_id=member.workspace.id,
        actor=member.user,
        action=action,
        target_type="member",
        target_id=target_user.id,
        details={"email": target_user.email, "role": target.role, "secrets_deleted": deleted},
    )
    await session.commit()
    return deleted


async def remove_member(session: AsyncSession, *, member: Member, user_id: str) -> int:
    member.require_manager("remove members")
    target, target_user = await _membership(session, member.workspace.id, user_id)
    if target.role == Role.owner.value:
        raise PermissionDenied("The workspace owner cannot be removed.")
    if target_user.id == member.user.id:
        raise ValidationFailed("To remove yourself, leave the workspace instead.", field="user_id")
    return await _drop_member(session, member=member, target=target, target_user=target_user, action="member.removed")


async def leave(session: AsyncSession, *, member: Member) -> int:
    if member.role is Role.owner:
        raise PermissionDenied("The owner cannot leave the workspace. Delete the workspace instead.")
    target, target_user = await _membership(session, member.workspace.id, member.user.id)
    return await _drop_member(session, member=member, target=target, target_user=target_user, action="member.left")


async def delete_workspace(session: AsyncSession, *, vault: Vault, member: Member) -> None:
    """Deletes the workspace and everything it owns; its data key goes with it (crypto-shredding)."""
    if member.role is not Role.owner:
        raise PermissionDenied("Only the workspace owner can delete the workspace.")
    if member.workspace.personal:
        raise PermissionDenied("Your personal workspace cannot be deleted.")
    await session.delete(member.workspace)
    await session.commit()
    vault.forget(member.workspace.id)


async def invite(session: AsyncSession, *, member: Member, email: str, role: Role, expires_in_days: int) -> Invitation:
    member.require_manager("invite members")
    if role not in INVITABLE_ROLES:
        raise ValidationFailed("Invite with the role admin, user or viewer; a workspace has one owner.", field="role")
    email = email.strip().lower()
    existing = await session.scalar(
        select(func.count())
        .select_from(Membership)
        .join(User, User.id == Membership.user_id)
        .where(Membership.workspace_id == member.workspace.id, User.email == email)
    )
    if existing:
        raise Conflict(f"{email} is already a member of this workspace.")
    invitation = Invitation(
        workspace_id=member.workspace.id,
        email=email,
        role=role.value,
        invited_by_id=member.user.id,
        expires_at=utcnow() + timedelta(days=expires_in_days),
    )
    session.add(invitation)
    await session.flush()
    audit.record(
        session,
        workspace_id=member.workspace.id,
        actor=member.user,
        action="member.invited",
        target_type="invitation",
        target_id=invitation.id,
        details={"email": email, "role": role.value},
    )
    await session.commit()
    return invitation


async def workspace_invitations(session: AsyncSession, *, member: Member) -> list[Invitation]:
    member.require_manager("see invitations")
    query = (
        select(Invitation)
        .where(Invitation.workspace_id == member.workspace.id, Invitation.status == "pending")
        .order_by(Invitation.created_at)
    )
    return list((await session.scalars(query)).all())


async def revoke_invitation(session: AsyncSession, *, member: Member, invitation_id: str) -> None:
    member.require_manager("revoke invitations")
    invitation = await session.get(Invitation, invitation_id)
    if invitation is None or invitation.workspace_id != member.workspace.id or invitation.status != "pending":
        raise NotFound("No pending invitation with that id in this workspace.")
    invitation.status = "revoked"
    invitation.responded_at = utcnow()
    await session.commit()


async def my_invitations(session: AsyncSession, *, user: User) -> list[tuple[Invitation, Workspace]]:
    rows = await session.execute(
        select(Invitation, Workspace)
        .join(Workspace, Workspace.id == Invitation.workspace_id)
        .where(Invitation.email == user.email, Invitation.status == "pending", Invitation.expires_at > utcnow())
        .order_by(Invitation.created_at)
    )
    return [(i, w) for i, w in rows.all()]


async def _my_pending_invitation(session: AsyncSession, *, user: User, invitation_id: str) -> Invitation:
    invitation = await session.get(Invitation, invitation_id)
    if invitation is None or invitation.email != user.email:
        raise NotFound("No invitation with that id for your email address.")
    if invitation.status != "pending":
        raise Conflict(f"This invitation was already {invitation.status}.")
    if invitation.expires_at <= utcnow():
        raise Conflict("This invitation has expired. Ask an admin of the workspace to invite you again.")
    return invitation


async def accept_invitation(session: AsyncSession, *, user: User, invitation_id: str) -> Membership:
    invitation = await _my_pending_invitation(session, user=user, invitation_id=invitation_id)
    invitation.status = "accepted"
    invitation.responded_at = utcnow()
    already = await session.scalar(
        select(Membership).where(Membership.workspace_id == invitation.workspace_id, Membership.user_id == user.id)
    )
    if already is not None:
        await session.commit()
        return already
    membership = Membership(workspace_id=invitation.workspace_id, user_id=user.id, role=invitation.role)
    session.add(membership)
    audit.record(
        session,
        workspace_id=invitation.workspace_id,
        actor=user,
        action="member.joined",
        target_type="member",
        target_id=user.id,
        details={"email": user.email, "role": invitation.role, "invitation_id": invitation.id},
    )
    await session.commit()
    return membership


async def decline_invitation(session: AsyncSession, *, user: User, invitation_id: str) -> None:
    invitation = await _my_pending_invitation(session, user=user, invitation_id=invitation_id)
    invitation.status = "declined"
    invitation.responded_at = utcnow()
    audit.record(
        session,
        workspace_id=invitation.workspace_id,
        actor=user,
        action="member.declined",
        target_type="invitation",
        target_id=invitation.id,
        details={"email": user.email},
    )
    await session.commit()


async def rename_workspace(session: AsyncSession, *, member: Member, name: str) -> Workspace:
    member.require_manager("rename the workspace")
    member.workspace.name = name.strip()
    await session.commit()
    return member.workspace
