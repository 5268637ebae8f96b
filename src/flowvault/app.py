"""The application factory: routers, one error → problem+json mapping, the web app at ``/``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.telemetry import TelemetryConfig
from starlette.exceptions import HTTPException as StarletteHTTPException

from flowvault import __version__
from flowvault.audit.router import router as audit_router
from flowvault.auth.router import router as auth_router
from flowvault.bootstrap import open_state, verify_all_keys_later
from flowvault.config import Settings
from flowvault.deps import AppState
from flowvault.dispatch.embedded import EmbeddedDispatcher
from flowvault.errors import DecryptionError, FlowvaultError
from flowvault.nodes.router import router as catalogue_router
from flowvault.redaction import install_log_redaction
from flowvault.runs.router import router as runs_router
from flowvault.secrets.router import router as secrets_router
from flowvault.triggers.access_log import install_hook_token_masking, uninstall_hook_token_masking
from flowvault.triggers.router import hook_route, hooks_router
from flowvault.triggers.router import router as webhooks_router
from flowvault.triggers.scheduler import Scheduler
from flowvault.workflows import hardcoded
from flowvault.workflows import service as workflows_service
from flowvault.workflows.router import router as workflows_router
from flowvault.workspaces.router import router as workspaces_router

log = logging.getLogger("flowvault")
PROBLEM = "application/problem+json"
FRONTEND_DIST = Path(__file__).resolve().parents[2] / "frontend" / "dist"


NO_FRAMEWORK_TELEMETRY: TelemetryConfig = {
    "tracing": False, "metrics": False, "logs": False, "operation_spans": False, "auto_configure": False,
}
"""FastAPI's own OpenTelemetry stays off whatever providers or ``OTEL_*`` variables the process has: it
records request bodies, validation errors with their input values and exception messages, and here
those carry secret values. (It also looked the global providers up on every request.)"""


def problem(
    status: int, title: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse(
        {"type": "about:blank", "status": status, "title": title, "detail": detail, **extra},
        status_code=status,
        media_type=PROBLEM,
        headers=headers,
    )


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or str(loc[0] if loc else "request")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(FlowvaultError)
    async def _flowvault_error(_request: Request, exc: FlowvaultError) -> JSONResponse:
        return problem(exc.status, exc.title, exc.detail, headers=exc.headers or None, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # Input values are never echoed: a rejected request may carry a secret.
        errors = [
            {"field": _field_name(tuple(e.get("loc", ()))), "message": e.get("msg", "invalid")} for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "request", "message": "invalid"}
        detail = f"'{first['field']}': {first['message']}"
        if len(errors) > 1:
            detail += f" (and {len(errors) - 1} more problem(s))"
        return problem(422, "Validation failed", detail, field=first["field"], errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed"}
        detail = exc.detail if isinstance(exc.detail, str) else "Request failed"
        return problem(exc.status_code, titles.get(exc.status_code, "Error"), detail)

    @app.exception_handler(DecryptionError)
    async def _undecryptable(_request: Request, _exc: DecryptionError) -> JSONResponse:
        # The one answer for every decrypt failure (altered ciphertext, nonce or wrapped key, a row moved
        # elsewhere, a master key that does not match): it says nothing of the cause.
        log.error("a stored secret or workspace key could not be decrypted")
        return problem(
            500,
            "Secret could not be decrypted",
            "A stored secret of this workspace could not be decrypted: it was altered, or the master key does not "
            "match. `flowvault leak-scan` lists the secrets that do not decrypt; enter their values again (rotate "
            "them) or restore the database from a backup.",
        )

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error: %s", type(exc).__name__)
        return problem(
            500,
            "Internal error",
            "Something went wrong on the server. Try again; if it persists, check the server log for the error type.",
        )


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem: every error answer of the API (members beyond these vary by error).",
    "type": "object",
    "required": ["type", "status", "title", "detail"],
    "properties": {
        "type": {"type": "string"},
        "status": {"type": "integer"},
        "title": {"type": "string"},
        "detail": {"type": "string", "description": "What happened and what to do; shown to the user"},
        "field": {"type": "string", "description": "The request field that is wrong (422)"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI schema as the API really answers errors: problem+json (``install_error_handlers``),
    not FastAPI's default ``HTTPValidationError`` JSON, for 422 and (``default``) every other error."""
    if "Problem" in schema.get("components", {}).get("schemas", {}):
        return schema

    def problem_content() -> dict[str, Any]:
        return {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}

    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = {"description": "Validation failed", "content": problem_content()}
            for code, response in responses.items():
                if code[:1] in "45" and response.get("content", {}).get(PROBLEM) == {}:
                    response["content"] = problem_content()
            responses.setdefault("default", {"description": "An RFC 9457 problem", "content": problem_content()})
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    for unused in ("HTTPValidationError", "ValidationError"):
        if f'"#/components/schemas/{unused}"' not in json.dumps(schema):
            components.pop(unused, None)
    return schema


async def warm_indexes_later(state: AppState, cache: hardcoded.IndexCache = hardcoded.INDEXES) -> None:
    """After the start: builds the "no hardcoded tokens" index of the workspaces saved most recently
    (``FLOWVAULT_INDEX_WARM_WORKSPACES``), one after another, so that their first save after a restart
    does not build it (seconds at 100,000 secrets: docs/PERFORMANCE.md). Serve's alone: other processes
    (workers, the CLI) save no workflow."""
    count = min(state.settings.index_warm_workspaces, cache.max_workspaces)
    if count == 0:
        return
    try:
        async with state.sessions() as session:
            workspace_ids = await workflows_service.recently_saved_workspaces(session, limit=count)
    except Exception as exc:  # a database hiccup: a save builds its index itself
        log.warning("building the secrets indexes at start could not begin: %s", type(exc).__name__)
        return
    for workspace_id in reversed(workspace_ids):  # the latest last: the cache drops the least recently used first
        await hardcoded.warm_now(state.sessions, state.vault, workspace_id, cache)


def create_app(
    settings: Settings | None = None, *, create_key_file: bool = False, state: AppState | None = None
) -> FastAPI:
    """``state``: one ``open_state`` already made (``flowvault serve`` checks the keys and the schema before
    it starts the server, and hands the result over rather than checking twice). It is used by the first
    start-up of the app; without it, or for a later one, the lifespan opens the state itself. Its engine
    must hold no connection made in another event loop (dispose it first)."""
    settings = settings or Settings()
    handed_over = [state] if state is not None else []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log_filter = install_log_redaction()
        token_filter = install_hook_token_masking()
        state = handed_over.pop() if handed_over else await open_state(settings, create_key_file=create_key_file)
        app.state.flowvault = state
        dispatcher = None
        scheduler = None
        wakeup = None
        if settings.executor == "embedded":
            dispatcher = EmbeddedDispatcher(state, settings.embedded_workers)
            state.run_queued = dispatcher.notify
            await dispatcher.start()
            scheduler = Scheduler(state.sessions, on_queued=dispatcher.notify)
            scheduler.start()
        elif settings.redis_url:  # celery: queue only, and wake the workers (`flowvault worker`)
            from flowvault.dispatch.celery_app import Wakeup

            wakeup = Wakeup(settings)
            state.run_queued = wakeup.notify
        # The start checked one workspace key per master key; every other one is checked now, off the start path.
        keys_check = asyncio.create_task(verify_all_keys_later(state), name="flowvault-keys-check")
        indexes_warm = asyncio.create_task(warm_indexes_later(state), name="flowvault-indexes-warm")
        try:
            yield
        finally:
            for task in (keys_check, indexes_warm):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if scheduler is not None:
                await scheduler.stop()
            if dispatcher is not None:
                await dispatcher.stop()
            if wakeup is not None:
                wakeup.close()
            await state.egress.aclose()
            await state.hook_limiter.aclose()
            await state.engine.dispose()
            log_filter.detach()
            uninstall_hook_token_masking(token_filter)

    app = FastAPI(
        title="flowvault",
        version=__version__,
        lifespan=lifespan,
        description="Workflow automation with an encrypted, workspace-scoped credential store.",
        telemetry=NO_FRAMEWORK_TELEMETRY,
    )
    install_error_handlers(app)
    generate_openapi = app.openapi
    app.openapi = lambda: document_problems(generate_openapi())  # type: ignore[method-assign]
    # The webhook receiver first: its path (/hooks/...) overlaps no other, and a request is matched against
    # the routes in order (FastAPI also prepares each router's routes on the first request that passes
    # through it), so senders' requests, the hot path, skip every API route.
    routers = (
        hooks_router,
        auth_router,
        workspaces_router,
        secrets_router,
        workflows_router,
        runs_router,
        webhooks_router,
        audit_router,
        catalogue_router,
    )
    for router in routers:
        app.include_router(router)
    app.router.routes.insert(0, hook_route())  # senders' requests: a plain route, matched before any other

    @app.get("/api/v1/health", tags=["meta"])
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    if (FRONTEND_DIST / "index.html").exists():
        app.mount("/", StaticFiles(directory=FRONTEND_DIST, html=True), name="web")
    else:

        @app.get("/", include_in_schema=False)
        async def index() -> HTMLResponse:
            return HTMLResponse(
                "<!doctype html><title>flowvault</title><h1>flowvault</h1>"
                "<p>The API is running. Its documentation is at <a href='/docs'>/docs</a>.</p>"
            )

    return app
