from __future__ import annotations

import math
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.routing import Route

from flowvault.deps import DB, AppState, StateDep, VaultDep, WorkspaceMember, app_state
from flowvault.errors import RateLimited
from flowvault.triggers import payload, receive, service, signing
from flowvault.triggers.models import WebhookSettings
from flowvault.triggers.schemas import (
    HookAccepted,
    SigningKey,
    WebhookRead,
    WebhookSettingsRead,
    WebhookSettingsUpdate,
)
from flowvault.workflows.models import Workflow

hooks_router = APIRouter(tags=["webhooks"])
router = APIRouter(prefix="/api/v1/workspaces/{ws}", tags=["webhooks"])

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
HOOK_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "The body is not valid JSON", **_PROBLEM},
    401: {"description": "Signature missing, malformed, not matching, or timestamp outside the window", **_PROBLEM},
    404: {"description": "Unknown workflow or wrong token", **_PROBLEM},
    409: {"description": "Workflow disabled, no Webhook trigger, or a replayed signature", **_PROBLEM},
    413: {"description": "Body larger than 1 MB", **_PROBLEM},
    415: {"description": "Content-Type is not application/json", **_PROBLEM},
    422: {"description": "The body is JSON but not an object", **_PROBLEM},
    429: {"description": "Rate limit of the workflow reached; see Retry-After", **_PROBLEM},
}


HOOK_PATH = "/hooks/{workflow_id}/{token}"


@hooks_router.post(HOOK_PATH, status_code=202, response_model=HookAccepted, responses=HOOK_RESPONSES)
async def receive_hook(workflow_id: str, token: str, request: Request, state: StateDep) -> Response:
    """Starts a run of the workflow with the JSON body as the trigger's variables. The run is queued:
    the answer (202) comes before it runs. Signed requests: see the README section "Webhooks"."""
    state.hooks_in_flight += 1
    try:
        accepted = await _receive(workflow_id, token, request, state)
    finally:
        state.hooks_in_flight -= 1
    # The body as HookAccepted (the documented response_model) serialises it, without FastAPI validating
    # and re-encoding the returned model on every request of the busiest route.
    return Response(accepted.model_dump_json(), status_code=202, media_type="application/json")


async def _sender_endpoint(request: Request) -> Response:
    """``receive_hook`` for senders' requests, as a plain Starlette route placed ahead of FastAPI's (see
    ``hook_route``): the busiest route skips the dependency solving and the parameter checks FastAPI runs
    per request, for two path strings and the app state."""
    params = request.path_params
    return await receive_hook(params["workflow_id"], params["token"], request, await app_state(request))


def hook_route() -> Route:
    """The route that answers ``POST /hooks/...``; the app puts it before every other. FastAPI's route for
    the same path documents it (OpenAPI) and is matched only if this one is not installed."""
    return Route(HOOK_PATH, _sender_endpoint, methods=["POST"])


async def _receive(workflow_id: str, token: str, request: Request, state: AppState) -> HookAccepted:
    async with state.rows() as rows:
        target = await receive.hook_target(rows, state.reads, vault=state.vault, workflow_id=workflow_id, token=token)
    # The body is read with no database connection held: a slow sender ties up nothing shared.
    wait = await state.hook_limiter.take(target.workflow_id, rate=target.rate_per_s, burst=target.burst)
    if wait > 0:
        retry_after = max(1, math.ceil(wait))
        raise RateLimited(
            f"This workflow's webhook accepts {target.rate_per_s:g} request(s) per second (bursts of "
            f"{target.burst}). Retry after {retry_after} s.",
            retry_after=retry_after,
            extra={"code": "rate_limited"},
        )
    payload.check_content_type(request.headers.get("content-type"))
    raw = await payload.read_body(request)
    body = payload.parse_object(raw)
    verified = None
    if target.hmac_required:
        assert target.signing_key is not None
        verified = signing.verify(
            key=target.signing_key,
            timestamp=request.headers.get(signing.TIMESTAMP_HEADER),
            signature=request.headers.get(signing.SIGNATURE_HEADER),
            raw=raw,
            parsed=body,
            window_s=target.replay_window_s,
            now=time.time(),
        )
    run = await receive.accept_hook(state.sessions, state.writes, target=target, run_input=body, verified=verified)
    state.run_queued()
    return HookAccepted(run_id=run.id)


def _webhook_read(
    request: Request, state: StateDep, workflow: Workflow, token: str, hmac_required: bool
) -> WebhookRead:
    base = (state.settings.public_url or str(request.base_url)).rstrip("/")
    refused = service.refusal(workflow)
    return WebhookRead(
        url=f"{base}/hooks/{workflow.id}/{token}",
        token=token,
        accepting=refused is None,
        reason=refused.detail if refused is not None else None,
        hmac_required=hmac_required,
    )


@router.get("/workflows/{workflow_id}/webhook", response_model=WebhookRead)
async def get_webhook(
    workflow_id: str, request: Request, member: WorkspaceMember, session: DB, vault: VaultDep, state: StateDep
) -> WebhookRead:
    workflow, token = await service.webhook_of(session, vault=vault, member=member, workflow_id=workflow_id)
    settings = await service.settings_of(session, member.workspace.id)
    return _webhook_read(request, state, workflow, token, settings.hmac_required)


@router.post("/workflows/{workflow_id}/webhook/regenerate", response_model=WebhookRead)
async def regenerate_webhook(
    workflow_id: str, request: Request, member: WorkspaceMember, session: DB, vault: VaultDep, state: StateDep
) -> WebhookRead:
    workflow, token = await service.regenerate_token(session, vault=vault, member=member, workflow_id=workflow_id)
    settings = await service.settings_of(session, member.workspace.id)
    return _webhook_read(request, state, workflow, token, settings.hmac_required)


def _settings_read(row: WebhookSettings) -> WebhookSettingsRead:
    return WebhookSettingsRead(
        hmac_required=row.hmac_required,
        replay_window_s=row.replay_window_s,
        rate_per_s=row.rate_per_s,
        burst=row.burst,
        signing_key_set=row.signing_key_sealed is not None,
        signing_key_created_at=row.signing_key_created_at,
    )


@router.get("/settings/webhooks", response_model=WebhookSettingsRead)
async def get_webhook_settings(member: WorkspaceMember, session: DB) -> WebhookSettingsRead:
    return _settings_read(await service.settings_of(session, member.workspace.id))


@router.put("/settings/webhooks", response_model=WebhookSettingsRead)
async def put_webhook_settings(
    body: WebhookSettingsUpdate, member: WorkspaceMember, session: DB
) -> WebhookSettingsRead:
    row = await service.update_settings(session, member=member, changes=body.model_dump(exclude_none=True))
    return _settings_read(row)


@router.post("/settings/webhooks/signing-key", status_code=201, response_model=SigningKey)
async def create_signing_key(member: WorkspaceMember, session: DB, vault: VaultDep) -> SigningKey:
    """A new signing key, shown only in this response; the previous key stops verifying at once."""
    return SigningKey(signing_key=await service.new_signing_key(session, vault=vault, member=member))
