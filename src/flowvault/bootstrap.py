"""Everything a process needs before it serves: master keys, database schema, a vault whose keys
unwrap the stored workspace keys. Refuses, with a message saying what is wrong, otherwise.

Kept cheap, since it is on the path of every start (``flowvault serve`` runs it once and hands the
state to the app): the schema check is one query against the head revision read from the migration
files (Alembic is loaded only to migrate), and the key check unwraps one workspace key per master
key id, not every workspace's."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from flowvault.config import Settings
from flowvault.db import migrate
from flowvault.db.engine import make_engine, make_read_sessionmaker, make_sessionmaker
from flowvault.db.writes import direct_access
from flowvault.deps import AppState
from flowvault.errors import ConfigurationError, KeyringError
from flowvault.secrets.keyring import load_keyring
from flowvault.secrets.vault import Vault

log = logging.getLogger("flowvault")


async def prepare_database(settings: Settings, engine: AsyncEngine) -> None:
    """The embedded SQLite database is created and upgraded on start; any other database must
    already be at the current schema (``flowvault db upgrade``)."""
    async with engine.connect() as connection:
        if await migrate.is_current(connection):
            return
    if settings.is_sqlite:
        await engine.dispose()  # no pooled connection of this engine stays open while Alembic migrates
        await asyncio.to_thread(migrate.upgrade, settings.resolved_database_url)
        return
    head = ", ".join(sorted(migrate.head_revisions()))
    raise ConfigurationError(
        f"The database schema is not at the current revision ({head}). Run `flowvault db upgrade` first."
    )


def check_settings(settings: Settings) -> None:
    try:
        settings.private_host_exemptions  # noqa: B018 - parsing is the check
    except ValueError as exc:
        raise ConfigurationError(
            f"FLOWVAULT_ALLOW_PRIVATE_HOSTS: {exc}. Give host names or IP addresses, separated by commas."
        ) from None


async def open_state(settings: Settings, *, create_key_file: bool = False) -> AppState:
    check_settings(settings)
    keyring = load_keyring(settings, create=create_key_file)
    if settings.is_sqlite:
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url, pool_size=settings.database_pool_size)
    try:
        await prepare_database(settings, engine)
        sessions = make_sessionmaker(engine)
        vault = Vault(keyring=keyring, cache_seconds=settings.workspace_key_cache_seconds)
        async with sessions() as session:
            await vault.verify_master_keys(session)
    except BaseException:
        await engine.dispose()
        raise
    reads = make_read_sessionmaker(engine)
    writes, rows = direct_access(engine, sessions, reads, pool_size=settings.database_pool_size)
    return AppState(
        settings=settings, engine=engine, sessions=sessions, reads=reads, vault=vault, writes=writes, rows=rows
    )


async def verify_all_keys_later(state: AppState) -> None:
    """After the start: unwraps every stored workspace key (the start checked one per master key id)
    and logs an error naming the problem, e.g. a wrapped key altered in the database."""
    try:
        async with state.sessions() as session:
            await state.vault.verify_all(session, at_start=False)
    except KeyringError as exc:
        log.error("workspace keys check: %s", exc)
    except Exception as exc:  # a database hiccup: the check is advisory
        log.warning("workspace keys check could not run: %s", type(exc).__name__)
