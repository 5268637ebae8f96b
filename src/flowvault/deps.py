"""FastAPI dependencies: the application state, a database session, the authenticated user and
their membership of the workspace named in the path."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from flowvault.auth import service as auth_service
from flowvault.auth.models import User
from flowvault.auth.tokens import API_TOKEN_PREFIX
from flowvault.config import Settings
from flowvault.db.writes import ReadRows, WriteTransactions
from flowvault.egress import EgressClients
from flowvault.errors import AuthenticationRequired, PermissionDenied
from flowvault.runs.cancel import CancelWatch
from flowvault.secrets.vault import Vault
from flowvault.triggers.ratelimit import HookLimiter, hook_limiter_for
from flowvault.workspaces.service import Member, member_of

SESSION_COOKIE = "flowvault_session"
CSRF_COOKIE = "flowvault_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _nothing() -> None:
    return None


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    reads: async_sessionmaker[AsyncSession]
    """Sessions that only read, without a transaction around them (``db.engine.make_read_sessionmaker``)."""
    vault: Vault
    writes: WriteTransactions
    """The run path's write transactions (``db.writes``): straight on SQLite for a SQLite file."""
    rows: ReadRows
    """The run path's lookups (``db.writes``): straight on SQLite for a SQLite file."""
    run_queued: Callable[[], None] = field(default=_nothing)
    """Called after a run is queued, to wake the dispatcher."""
    cancels: CancelWatch = field(default_factory=CancelWatch)
    """Cancel signals of the runs this process executes."""
    egress: EgressClients = field(default_factory=EgressClients)
    """The guarded HTTP clients the runs of this process share (closed when the process stops)."""
    hooks_in_flight: int = 0
    """Webhook requests being answered now: while any is, the embedded dispatcher starts runs only in its
    reserved slots, so accepting comes first under load (``dispatch/embedded.py``)."""
    hook_limiter: HookLimiter = field(init=False)
    """Webhook rate limits, one bucket per workflow: in Redis when ``settings.redis_url`` is set (shared by
    every process; its client is closed by ``hook_limiter.aclose()`` when the process stops), else in
    this process."""

    def __post_init__(self) -> None:
        self.hook_limiter = hook_limiter_for(self.settings.redis_url)


async def app_state(request: Request) -> AppState:
    # async: FastAPI runs a plain ``def`` dependency in a worker thread, a thread hop on every request.
    state: AppState = request.app.state.flowvault
    return state


async def db_session(state: Annotated[AppState, Depends(app_state)]) -> AsyncIterator[AsyncSession]:
    async with state.sessions() as session:
        yield session


async def vault(state: Annotated[AppState, Depends(app_state)]) -> Vault:
    return state.vault


DB = Annotated[AsyncSession, Depends(db_session)]
VaultDep = Annotated[Vault, Depends(vault)]
StateDep = Annotated[AppState, Depends(app_state)]


async def current_user(request: Request, session: DB) -> User:
    authorization = request.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        token = credentials.strip()
        user = (
            await auth_service.user_for_api_token(session, token=token) if token.startswith(API_TOKEN_PREFIX) else None
        )
        if user is None:
            raise AuthenticationRequired("The API token is invalid or revoked. Create a new one in your profile.")
        return user
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise AuthenticationRequired("Log in first, or send an API token as 'Authorization: Bearer <token>'.")
    found = await auth_service.user_for_session(session, token=cookie)
    if found is None:
        raise AuthenticationRequired("Your session has expired. Log in again.")
    user, browser_session = found
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or not hmac.compare_digest(sent, browser_session.csrf_token):
            raise PermissionDenied(
                f"Missing or wrong {CSRF_HEADER} header: send the value of the {CSRF_COOKIE} cookie with every "
                "change made from a browser session."
            )
    return user


CurrentUser = Annotated[User, Depends(current_user)]


async def workspace_member(ws: str, user: CurrentUser, session: DB) -> Member:
    return await member_of(session, user=user, workspace_id=ws)


WorkspaceMember = Annotated[Member, Depends(workspace_member)]
