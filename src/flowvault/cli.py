"""The ``flowvault`` command line: serve, db, user, keys, secrets and leak-scan."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import typer
from email_validator import EmailNotValidError, validate_email
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import select

from flowvault.auth import service as auth_service
from flowvault.auth.models import User
from flowvault.bootstrap import open_state
from flowvault.config import Settings
from flowvault.db import migrate
from flowvault.deps import AppState
from flowvault.errors import FlowvaultError
from flowvault.nodes.registry import credential_type
from flowvault.secrets import service as secrets_service
from flowvault.secrets.keyring import append_key, load_keyring
from flowvault.secrets.models import WorkspaceKey
from flowvault.workspaces.service import Member, member_of

app = typer.Typer(help="flowvault: workflow automation with an encrypted credential store.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
user_app = typer.Typer(help="User accounts.", no_args_is_help=True)
keys_app = typer.Typer(help="Master keys.", no_args_is_help=True)
secrets_app = typer.Typer(
    help="Secrets & API Keys (values are read from a hidden prompt or stdin).", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(keys_app, name="keys")
app.add_typer(secrets_app, name="secrets")

out = Console()
err = Console(stderr=True)
T = TypeVar("T")


def _run(work: Callable[[], Awaitable[T]]) -> T:
    try:
        return asyncio.run(work())  # type: ignore[arg-type]
    except FlowvaultError as exc:
        err.print(f"[red]error:[/red] {exc.detail}")
        raise typer.Exit(2) from None


@asynccontextmanager
async def _state(settings: Settings | None = None) -> Any:
    state = await open_state(settings or Settings())
    try:
        yield state
    finally:
        await state.engine.dispose()


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on"),
    port: int = typer.Option(8000, help="Port to listen on"),
) -> None:
    """Start the server (web app, API and, on the embedded default, the workers)."""
    settings = Settings()
    if settings.executor == "celery" and not settings.redis_url:
        err.print("[red]error:[/red] FLOWVAULT_EXECUTOR=celery needs FLOWVAULT_REDIS_URL (the workers' broker).")
        raise typer.Exit(2)

    async def check() -> AppState:
        # Master keys, schema and key check, once: a wrong master key refuses here, before the port opens,
        # and the app is handed this state instead of opening its own.
        state = await open_state(settings, create_key_file=True)
        # Its connections belong to this event loop; the server's loop opens its own.
        await state.engine.dispose()
        return state

    state = _run(check)
    import uvicorn

    from flowvault.app import create_app

    out.print(f"flowvault is starting on http://{host}:{port} (database: {_describe_db(settings)})")
    # ws="none": the app has no WebSocket route, and uvicorn would otherwise load a WebSocket implementation.
    uvicorn.run(create_app(settings, state=state), host=host, port=port, log_level="info", ws="none")


@app.command()
def worker(
    concurrency: int = typer.Option(
        2, "--concurrency", "-c", min=1,
        help="Pool processes; each executes up to FLOWVAULT_WORKER_RUNS_PER_PROCESS runs at once",
    ),
    loglevel: str = typer.Option("INFO", "--loglevel", help="Celery log level"),
) -> None:
    """Start Celery workers that execute queued runs (FLOWVAULT_EXECUTOR=celery; needs FLOWVAULT_REDIS_URL)."""
    from flowvault.dispatch.celery_app import run_worker

    settings = Settings()
    if not settings.redis_url:
        err.print("[red]error:[/red] `flowvault worker` needs FLOWVAULT_REDIS_URL (for example redis://host:6379/0).")
        raise typer.Exit(2)

    async def check() -> None:
        state = await open_state(settings)
        await state.engine.dispose()

    _run(check)
    out.print(
        f"flowvault worker: {concurrency} process(es) x {settings.worker_runs_per_process} runs at once, "
        f"database: {_describe_db(settings)}"
    )
    run_worker(settings, concurrency=concurrency, loglevel=loglevel)


@app.command()
def scheduler(
    poll: float = typer.Option(1.0, "--poll", min=0.05, help="Seconds between looks for due ticks"),
) -> None:
    """Fire schedule ticks (runs queued with trigger "schedule"). `serve` does this itself on the embedded
    default; run this for scale-out. Several may run at once: each tick is fired once."""
    from flowvault.triggers.scheduler import Scheduler

    settings = Settings()

    async def work() -> None:
        async with _state(settings) as state:
            on_queued = state.run_queued
            wakeup = None
            if settings.executor == "celery" and settings.redis_url:
                from flowvault.dispatch.celery_app import Wakeup

                wakeup = Wakeup(settings)
                on_queued = wakeup.notify
            try:
                await Scheduler(state.sessions, on_queued=on_queued, poll_seconds=poll).run()
            finally:
                if wakeup is not None:
                    wakeup.close()

    out.print(f"flowvault scheduler: database: {_describe_db(settings)}")
    with contextlib.suppress(KeyboardInterrupt):
        _run(work)


def _describe_db(settings: Settings) -> str:
    if settings.is_sqlite:
        return f"SQLite in {settings.data_dir.resolve()}"
    return "PostgreSQL" if "postgresql" in settings.resolved_database_url else "external"


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the database schema to the current revision."""
    settings = Settings()
    if settings.is_sqlite:
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    migrate.upgrade(settings.resolved_database_url)
    out.print("database is at the current schema revision")


@user_app.command("create")
def user_create(
    email: str = typer.Argument(..., help="Email address of the new user"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin"),
) -> None:
    """Create a user (with a personal workspace). The password is prompted for, never an argument."""
    password = (
        sys.stdin.readline().rstrip("\n")
        if password_stdin
        else typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    )
    try:
        email = validate_email(email, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if len(password) < 10:
        err.print("[red]error:[/red] the password needs at least 10 characters")
        raise typer.Exit(2)

    async def work() -> tuple[str, str]:
        async with _state() as state, state.sessions() as session:
            user, workspace = await auth_service.sign_up(session, vault=state.vault, email=email, password=password)
            return user.id, workspace.id

    user_id, workspace_id = _run(work)
    out.print(f"created user {email} ({user_id}) with personal workspace {workspace_id}")


@keys_app.command("add")
def keys_add() -> None:
    """Append a new master key to the key file; it becomes the key that wraps. Run `keys rotate` next."""
    settings = Settings()
    if settings.master_keys is not None:
        err.print(
            "[red]error:[/red] FLOWVAULT_MASTER_KEYS is set: add the new key to that variable (last entry "
            "encrypts), restart, then run `flowvault keys rotate`."
        )
        raise typer.Exit(2)
    load_keyring(settings)
    key_id = append_key(settings.resolved_master_key_file)
    out.print(f"added master key {key_id} to {settings.resolved_master_key_file}; back the file up again")


@keys_app.command("rotate")
def keys_rotate(
    new_key: bool = typer.Option(False, "--new-key", help="First add a new master key to the key file"),
) -> None:
    """Re-wrap every workspace key with the newest master key, while the server keeps serving."""
    if new_key:
        keys_add()

    async def work() -> tuple[int, str]:
        async with _state() as state, state.sessions() as session:
            total = len((await session.scalars(select(WorkspaceKey.workspace_id))).all())
            with Progress(console=err, transient=True) as progress:
                task = progress.add_task("re-wrapping workspace keys", total=total)
                count = await state.vault.rewrap_all(session, on_progress=lambda: progress.advance(task))
            return count, state.vault.keyring.primary_id

    count, key_id = _run(work)
    out.print(f"re-wrapped {count} workspace key(s) with master key {key_id}")


@keys_app.command("status")
def keys_status() -> None:
    """Show the configured master keys (ids only) and how many workspace keys each wraps."""

    async def work() -> tuple[list[str], str, dict[str, int]]:
        async with _state() as state, state.sessions() as session:
            counts: dict[str, int] = {}
            for key_id in (await session.scalars(select(WorkspaceKey.master_key_id))).all():
                counts[key_id] = counts.get(key_id, 0) + 1
            return list(state.vault.keyring.keys), state.vault.keyring.primary_id, counts

    ids, primary, counts = _run(work)
    table = Table("master key id", "primary", "workspace keys wrapped")
    for key_id in ids:
        table.add_row(key_id, "yes" if key_id == primary else "", str(counts.get(key_id, 0)))
    out.print(table)


async def _acting_member(state: AppState, session: Any, email: str, workspace_id: str) -> Member:
    user = await session.scalar(select(User).where(User.email == auth_service.normalize_email(email)))
    if user is None:
        raise FlowvaultError(f"No user with email {email}. Create one with `flowvault user create`.")
    return await member_of(session, user=user, workspace_id=workspace_id)


WorkspaceOpt = typer.Option(..., "--workspace", "-w", help="Workspace id")
ActorOpt = typer.Option(..., "--as", help="Email of the member acting (recorded in the audit log)")


@secrets_app.command("list")
def secrets_list(
    workspace: str = WorkspaceOpt,
    actor: str = ActorOpt,
    type_key: str | None = typer.Option(None, "--type", help="Only this credential type"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """List secrets (metadata only)."""

    async def work() -> list[dict[str, Any]]:
        async with _state() as state, state.sessions() as session:
            member = await _acting_member(state, session, actor, workspace)
            rows = await secrets_service.list_secrets(session, workspace_id=member.workspace.id, type_key=type_key)
            return [
                {
                    "id": s.id,
                    "type": s.type,
                    "name": s.name,
                    "version": s.version,
                    "created_by": u.email if u else None,
                    "used_by_nodes": n,
                    "last_used_at": s.last_used_at.isoformat() if s.last_used_at else None,
                }
                for s, u, n, _w in rows
            ]

    items = _run(work)
    if as_json:
        out.print_json(json.dumps(items))
        return
    table = Table("id", "type", "name", "version", "created by", "used by nodes", "last used")
    for item in items:
        table.add_row(
            item["id"],
            item["type"],
            item["name"],
            str(item["version"]),
            item["created_by"] or "",
            str(item["used_by_nodes"]),
            item["last_used_at"] or "never",
        )
    out.print(table)


def _read_fields(type_key: str, plain: list[str], from_stdin: bool) -> dict[str, Any]:
    ctype = credential_type(type_key)
    if ctype is None:
        raise FlowvaultError(f"Unknown credential type '{type_key}'. See GET /api/v1/credential-types.")
    fields: dict[str, Any] = {}
    for item in plain:
        name, sep, value = item.partition("=")
        if not sep:
            # The argument is not echoed: a value given without its NAME= may well be a secret.
            raise FlowvaultError("--field takes NAME=VALUE; one --field argument has no '='")
        if name in ctype.secret_field_names:
            raise FlowvaultError(
                f"'{name}' is a secret field: never pass it on the command line (it would show in the process "
                "list and shell history). Leave it out to be prompted, or use --stdin."
            )
        fields[name] = value
    if from_stdin:
        try:
            given = json.loads(sys.stdin.read() or "{}")
        except json.JSONDecodeError as exc:
            # Only the position: the input is secret and must not be echoed.
            raise FlowvaultError(
                f"--stdin expects a JSON object of field values; the input is not valid JSON "
                f"(line {exc.lineno}, column {exc.colno})"
            ) from None
        if not isinstance(given, dict):
            raise FlowvaultError("--stdin expects a JSON object of field values")
        fields.update(given)
    else:
        for name in ctype.secret_field_names:
            if name not in fields:
                fields[name] = typer.prompt(name, hide_input=True)
    return fields


@secrets_app.command("add")
def secrets_add(
    workspace: str = WorkspaceOpt,
    actor: str = ActorOpt,
    type_key: str = typer.Option(..., "--type", help="Credential type key, e.g. http_bearer"),
    name: str = typer.Option(..., "--name"),
    description: str = typer.Option("", "--description"),
    field: list[str] = typer.Option([], "--field", help="A non-secret field as NAME=VALUE (repeatable)"),
    from_stdin: bool = typer.Option(False, "--stdin", help="Read field values as a JSON object from stdin"),
) -> None:
    """Create a secret. Secret fields are prompted for (hidden) or read from stdin."""

    async def work() -> str:
        fields = _read_fields(type_key, field, from_stdin)
        async with _state() as state, state.sessions() as session:
            member = await _acting_member(state, session, actor, workspace)
            secret = await secrets_service.create_secret(
                session,
                vault=state.vault,
                member=member,
                type_key=type_key,
                name=name,
                description=description,
                fields=fields,
            )
            return secret.id

    out.print(f"created secret {_run(work)}")


@secrets_app.command("rotate")
def secrets_rotate(
    secret_id: str = typer.Argument(...),
    workspace: str = WorkspaceOpt,
    actor: str = ActorOpt,
    field: list[str] = typer.Option([], "--field", help="A non-secret field to change, NAME=VALUE"),
    from_stdin: bool = typer.Option(False, "--stdin", help="Read field values as a JSON object from stdin"),
) -> None:
    """Replace a secret's value in place (same id, version + 1)."""

    async def work() -> int:
        async with _state() as state, state.sessions() as session:
            member = await _acting_member(state, session, actor, workspace)
            current = await secrets_service.get_secret(session, workspace_id=member.workspace.id, secret_id=secret_id)
            fields = _read_fields(current.type, field, from_stdin)
            secret = await secrets_service.rotate_secret(
                session, vault=state.vault, member=member, secret_id=secret_id, fields=fields
            )
            return secret.version

    out.print(f"rotated secret {secret_id}: now version {_run(work)}")


@secrets_app.command("delete")
def secrets_delete(
    secret_id: str = typer.Argument(...),
    workspace: str = WorkspaceOpt,
    actor: str = ActorOpt,
    force: bool = typer.Option(False, "--force", help="Delete even while workflow nodes use it"),
) -> None:
    """Delete a secret; refused while workflow nodes use it unless --force."""

    async def work() -> None:
        async with _state() as state, state.sessions() as session:
            member = await _acting_member(state, session, actor, workspace)
            await secrets_service.delete_secret(session, member=member, secret_id=secret_id, force=force)

    _run(work)
    out.print(f"deleted secret {secret_id}")


@app.command("leak-scan")
def leak_scan(
    log_file: list[Path] = typer.Option([], "--log-file", help="A log file to scan (repeatable; .gz is read too)"),
    path: list[Path] = typer.Option([], "--path", help="Another file or directory to scan (repeatable)"),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON"),
) -> None:
    """Scan the database and files for any current secret value or derived form (values never shown).
    Exit code: 0 clean, 1 on any hit, 2 when the scan could not be done (wrong key, unreadable file)."""
    from sqlalchemy.exc import SQLAlchemyError

    from flowvault.leakscan import Report, scan
    from flowvault.leakscan.progress import RowProgress

    async def work() -> Report:
        async with _state() as state:
            with RowProgress(err) as progress:
                return await scan(state, paths=[*log_file, *path], progress=progress)

    try:
        report = _run(work)
    except (SQLAlchemyError, OSError) as exc:
        # The type only: a database error's message can quote the values of the statement.
        err.print(f"[red]error:[/red] the database could not be read ({type(exc).__name__})")
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2))
    else:
        for hit in report.hits:
            typer.echo(f"leak: {hit.describe()}")
        for problem in report.errors:
            typer.echo(f"error: {problem}", err=True)
        typer.echo(report.summary())
    raise typer.Exit(report.exit_code)


def main() -> None:
    app()
