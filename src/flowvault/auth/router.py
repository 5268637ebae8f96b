from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response

from flowvault.auth import service
from flowvault.auth.models import User
from flowvault.auth.schemas import (
    Credentials,
    MembershipRef,
    MeResponse,
    SignupRequest,
    SignupResponse,
    TokenCreate,
    TokenCreated,
    TokenRead,
    UserRead,
    WorkspaceRef,
)
from flowvault.deps import CSRF_COOKIE, DB, SESSION_COOKIE, CurrentUser, StateDep, VaultDep
from flowvault.workspaces.service import workspaces_of

router = APIRouter(prefix="/api/v1", tags=["accounts"])


async def _log_in(response: Response, state: StateDep, session: DB, user: User) -> None:
    ttl = timedelta(hours=state.settings.session_ttl_hours)
    new = await service.start_session(session, user=user, ttl=ttl)
    secure = state.settings.secure_cookies
    max_age = int(ttl.total_seconds())
    response.set_cookie(
        SESSION_COOKIE, new.token, max_age=max_age, httponly=True, samesite="lax", secure=secure, path="/"
    )
    response.set_cookie(
        CSRF_COOKIE, new.csrf_token, max_age=max_age, httponly=False, samesite="lax", secure=secure, path="/"
    )


@router.post("/auth/signup", status_code=201, response_model=SignupResponse)
async def sign_up(
    body: SignupRequest, response: Response, state: StateDep, session: DB, vault: VaultDep
) -> SignupResponse:
    user, workspace = await service.sign_up(session, vault=vault, email=body.email, password=body.password)
    await _log_in(response, state, session, user)
    return SignupResponse(
        user=UserRead(id=user.id, email=user.email), workspace=WorkspaceRef(id=workspace.id, name=workspace.name)
    )


@router.post("/auth/login", response_model=UserRead)
async def log_in(body: Credentials, response: Response, state: StateDep, session: DB) -> UserRead:
    user = await service.authenticate_password(session, email=body.email, password=body.password)
    await _log_in(response, state, session, user)
    return UserRead(id=user.id, email=user.email)


@router.post("/auth/logout", status_code=204)
async def log_out(request: Request, response: Response, session: DB) -> None:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await service.end_session(session, token=token)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


@router.get("/me", response_model=MeResponse)
async def me(user: CurrentUser, session: DB) -> MeResponse:
    memberships = await workspaces_of(session, user=user)
    return MeResponse(
        id=user.id,
        email=user.email,
        workspaces=[MembershipRef(id=w.id, name=w.name, role=r.value, personal=w.personal) for w, r in memberships],
    )


@router.post("/tokens", status_code=201, response_model=TokenCreated)
async def create_token(body: TokenCreate, user: CurrentUser, session: DB) -> TokenCreated:
    row, token = await service.create_api_token(session, user=user, name=body.name)
    return TokenCreated(id=row.id, name=row.name, token=token)


@router.get("/tokens", response_model=list[TokenRead])
async def list_tokens(user: CurrentUser, session: DB) -> list[TokenRead]:
    return [
        TokenRead.model_validate(t, from_attributes=True) for t in await service.list_api_tokens(session, user=user)
    ]


@router.delete("/tokens/{token_id}", status_code=204)
async def revoke_token(token_id: str, user: CurrentUser, session: DB) -> None:
    await service.revoke_api_token(session, user=user, token_id=token_id)
