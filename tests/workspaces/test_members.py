from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text, update

from flowvault.config import Settings
from flowvault.db.base import utcnow
from flowvault.db.engine import sync_url
from flowvault.workspaces.models import Invitation
from tests.conftest import Actor, join

BEARER = {"type": "http_bearer", "name": "deploy token", "fields": {"token": "member-secret-value-1"}}


def _team(signup: Any) -> tuple[Actor, str, Actor]:
    owner: Actor = signup("owner@example.com")
    ws = owner.post("/api/v1/workspaces", json={"name": "Acme"}).json()["id"]
    member: Actor = signup("member@example.com")
    return owner, ws, member


def test_create_workspace_and_switch(signup: Any) -> None:
    owner, ws, _ = _team(signup)
    me = owner.get("/api/v1/me").json()
    assert [(w["name"], w["role"]) for w in me["workspaces"]] == [("Personal", "owner"), ("Acme", "owner")]
    assert owner.get(f"/api/v1/workspaces/{ws}").json()["role"] == "owner"


def test_invitation_accept_and_decline(signup: Any) -> None:
    owner, ws, member = _team(signup)
    invitation = owner.post(f"/api/v1/workspaces/{ws}/invitations",
                            json={"email": "member@example.com", "role": "viewer", "expires_in_days": 3}).json()
    assert invitation["status"] == "pending"
    mine = member.get("/api/v1/invitations").json()
    assert [(i["workspace_name"], i["role"]) for i in mine] == [("Acme", "viewer")]
    assert member.get(f"/api/v1/workspaces/{ws}").status_code == 404
    accepted = member.post(f"/api/v1/invitations/{invitation['id']}/accept")
    assert accepted.status_code == 200 and accepted.json()["role"] == "viewer"
    assert member.post(f"/api/v1/invitations/{invitation['id']}/accept").status_code == 409
    assert member.get("/api/v1/invitations").json() == []

    other = signup("other@example.com")
    second = owner.post(f"/api/v1/workspaces/{ws}/invitations", json={"email": other.email, "role": "user"}).json()
    assert member.post(f"/api/v1/invitations/{second['id']}/accept").status_code == 404, "not addressed to them"
    assert other.post(f"/api/v1/invitations/{second['id']}/decline").status_code == 204
    assert other.get(f"/api/v1/workspaces/{ws}").status_code == 404
    actions = [e["action"] for e in owner.get(f"/api/v1/workspaces/{ws}/audit").json()["items"]]
    assert "member.joined" in actions and "member.declined" in actions


def test_expired_invitation_cannot_be_accepted(signup: Any, settings: Settings) -> None:
    owner, ws, member = _team(signup)
    invitation = owner.post(f"/api/v1/workspaces/{ws}/invitations", json={"email": member.email}).json()
    engine = create_engine(sync_url(settings.resolved_database_url))
    with engine.begin() as connection:
        connection.execute(
            update(Invitation).where(Invitation.id == invitation["id"]).values(expires_at=utcnow() - timedelta(1))
        )
    engine.dispose()
    assert member.get("/api/v1/invitations").json() == []
    response = member.post(f"/api/v1/invitations/{invitation['id']}/accept")
    assert response.status_code == 409 and "expired" in response.json()["detail"]


def test_invite_validation(signup: Any) -> None:
    owner, ws, member = _team(signup)
    as_owner = owner.post(f"/api/v1/workspaces/{ws}/invitations", json={"email": member.email, "role": "owner"})
    assert as_owner.status_code == 422 and as_owner.json()["field"] == "role"
    too_long = owner.post(f"/api/v1/workspaces/{ws}/invitations",
                          json={"email": member.email, "expires_in_days": 365})
    assert too_long.status_code == 422 and too_long.json()["field"] == "expires_in_days"
    join(owner, ws, member, "user")
    again = owner.post(f"/api/v1/workspaces/{ws}/invitations", json={"email": member.email})
    assert again.status_code == 409


def test_change_role(signup: Any) -> None:
    owner, ws, member = _team(signup)
    join(owner, ws, member, "viewer")
    assert member.post(f"/api/v1/workspaces/{ws}/secrets", json=BEARER).status_code == 403
    changed = owner.patch(f"/api/v1/workspaces/{ws}/members/{member.id}", json={"role": "user"})
    assert changed.status_code == 200 and changed.json()["role"] == "user"
    assert member.post(f"/api/v1/workspaces/{ws}/secrets", json=BEARER).status_code == 201
    to_owner = owner.patch(f"/api/v1/workspaces/{ws}/members/{member.id}", json={"role": "owner"})
    assert to_owner.status_code == 403
    bad = owner.patch(f"/api/v1/workspaces/{ws}/members/{member.id}", json={"role": "superuser"})
    assert bad.status_code == 422
    audit = owner.get(f"/api/v1/workspaces/{ws}/audit", params={"action": "member.role_changed"}).json()["items"]
    assert audit[0]["details"] == {"email": member.email, "from": "viewer", "to": "user"}


def test_member_removal_deletes_their_secrets_and_audits(signup: Any) -> None:
    owner, ws, member = _team(signup)
    join(owner, ws, member, "user")
    theirs = member.post(f"/api/v1/workspaces/{ws}/secrets", json=BEARER).json()
    mine = owner.post(f"/api/v1/workspaces/{ws}/secrets", json={**BEARER, "name": "owner token"}).json()
    removed = owner.delete(f"/api/v1/workspaces/{ws}/members/{member.id}")
    assert removed.status_code == 200 and removed.json() == {"secrets_deleted": 1}
    assert owner.get(f"/api/v1/workspaces/{ws}/secrets/{theirs['id']}").status_code == 404
    assert owner.get(f"/api/v1/workspaces/{ws}/secrets/{mine['id']}").status_code == 200
    assert member.get(f"/api/v1/workspaces/{ws}/secrets").status_code == 404
    events = owner.get(f"/api/v1/workspaces/{ws}/audit").json()["items"]
    deleted = next(e for e in events if e["action"] == "secret.deleted")
    assert deleted["target_id"] == theirs["id"] and deleted["actor_email"] == owner.email
    assert "removed" in deleted["details"]["reason"]
    removal = next(e for e in events if e["action"] == "member.removed")
    assert removal["details"]["secrets_deleted"] == 1 and removal["target_id"] == member.id


def test_leaving_deletes_own_secrets_owner_cannot_leave(signup: Any) -> None:
    owner, ws, member = _team(signup)
    join(owner, ws, member, "admin")
    member.post(f"/api/v1/workspaces/{ws}/secrets", json=BEARER)
    left = member.post(f"/api/v1/workspaces/{ws}/leave")
    assert left.status_code == 200 and left.json() == {"secrets_deleted": 1}
    assert owner.get(f"/api/v1/workspaces/{ws}/secrets").json()["items"] == []
    assert owner.post(f"/api/v1/workspaces/{ws}/leave").status_code == 403
    assert [e["action"] for e in owner.get(f"/api/v1/workspaces/{ws}/audit").json()["items"][:2]] == [
        "member.left", "secret.deleted"]


def test_owner_cannot_be_removed(signup: Any) -> None:
    owner, ws, member = _team(signup)
    join(owner, ws, member, "admin")
    response = member.delete(f"/api/v1/workspaces/{ws}/members/{owner.id}")
    assert response.status_code == 403 and "owner" in response.json()["detail"]


def test_deleting_a_workspace_destroys_its_key(signup: Any, client: TestClient, settings: Settings) -> None:
    owner, ws, _ = _team(signup)
    owner.post(f"/api/v1/workspaces/{ws}/secrets", json=BEARER)
    personal = owner.delete(f"/api/v1/workspaces/{owner.workspace_id}")
    assert personal.status_code == 403
    assert owner.delete(f"/api/v1/workspaces/{ws}").status_code == 204
    assert owner.get(f"/api/v1/workspaces/{ws}").status_code == 404
    engine = create_engine(sync_url(settings.resolved_database_url))
    with engine.connect() as connection:
        keys = connection.execute(text("SELECT count(*) FROM workspace_keys WHERE workspace_id = :ws"), {"ws": ws})
        secrets = connection.execute(text("SELECT count(*) FROM secrets WHERE workspace_id = :ws"), {"ws": ws})
        assert keys.scalar() == 0 and secrets.scalar() == 0
        remaining = connection.execute(text("SELECT count(*) FROM workspace_keys")).scalar()
    engine.dispose()
    assert remaining == 2, "the personal workspaces keep their keys"
