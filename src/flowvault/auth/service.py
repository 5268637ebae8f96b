"""Accounts, browser sessions and personal API tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flowvault.auth.models import ApiToken, BrowserSession, User
from flowvault.auth.passwords import hash_password, verify_password
from flowvault.auth.tokens import API_TOKEN_PREFIX, digest, new_token
from flowvault.db.base import utcnow
from flowvault.errors import AuthenticationRequired, Conflict, NotFound
from flowvault.secrets.vault import Vault
from flowvault.workspaces.models import Workspace
from flowvault.workspaces.service import create_workspace


@dataclass(frozen=True)
class NewSession:
    token: str
    csrf_token: str


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def sign_up(session: AsyncSession, *, vault: Vault, email: str, password: str) -> tuple[User, Workspace]:
    email = normalize_email(email)
    if await session.scalar(select(User.id).where(User.email == email)):
        raise Conflict(f"An account for {email} already exists. Log in instead, or use another email address.")
    user = User(email=email, password_hash=hash_password(password))
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise Conflict(f"An account for {email} already exists. Log in instead.") from None
    workspace = await create_workspace(session, vault=vault, name="Personal", owner=user, personal=True)
    await session.commit()
    return user, workspace


async def authenticate_password(session: AsyncSession, *, email: str, password: str) -> User:
    user = await session.scalar(select(User).where(User.email == normalize_email(email)))
    if not verify_password(user.password_hash if user else None, password) or user is None:
        raise AuthenticationRequired("Email or password is wrong. Check both and try again.")
    return user


async def start_session(session: AsyncSession, *, user: User, ttl: timedelta) -> NewSession:
    token, csrf = new_token(), new_token()
    session.add(BrowserSession(token_hash=digest(token), user_id=user.id, csrf_token=csrf, expires_at=utcnow() + ttl))
    await session.commit()
    return NewSession(token=token, csrf_token=csrf)


async def end_session(session: AsyncSession, *, token: str) -> None:
    await session.execute(delete(BrowserSession).where(BrowserSession.token_hash == digest(token)))
    await session.commit()


async def user_for_session(session: AsyncSession, *, token: str) -> tuple[User, BrowserSession] | None:
    row = await session.get(BrowserSession, digest(token))
    if row is None or row.expires_at <= utcnow():
        return None
    user = await session.get(User, row.user_id)
    return (user, row) if user else None


async def user_for_api_token(session: AsyncSession, *, token: str) -> User | None:
    row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(token)))
    if row is None or row.revoked_at is not None:
        return None
    row.last_used_at = utcnow()
    await session.commit()
    return await session.get(User, row.user_id)


async def create_api_token(session: AsyncSession, *, user: User, name: str) -> tuple[ApiToken, str]:
    token = new_token(API_TOKEN_PREFIX)
    row = ApiToken(user_id=user.id, name=name.strip(), token_hash=digest(token), prefix=token[:8])
    session.add(row)
    await session.commit()
    return row, token


async def list_api_tokens(session: AsyncSession, *, user: User) -> list[ApiToken]:
    query = select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at)
    return list((await session.scalars(query)).all())


async def revoke_api_token(session: AsyncSession, *, user: User, token_id: str) -> None:
    row = await session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise NotFound("No such API token. List your tokens with GET /api/v1/tokens.")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        await session.commit()
