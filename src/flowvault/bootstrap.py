"""Everything a process needs before it serves: master keys, database schema, a vault whose keys
unwrap every stored workspace key. Refuses, with a message saying what is wrong, otherwise."""

from __future__ import annotations

import asyncio

from flowvault.config import Settings
from flowvault.db import migrate
from flowvault.db.engine import make_engine, make_sessionmaker
from flowvault.deps import AppState
from flowvault.errors import ConfigurationError
from flowvault.secrets.keyring import load_keyring
from flowvault.secrets.vault import Vault


async def prepare_database(settings: Settings) -> None:
    """The embedded SQLite database is created and upgraded on start; any other database must
    already be at the current schema (``flowvault db upgrade``)."""
    url = settings.resolved_database_url
    if settings.is_sqlite:
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        await asyncio.to_thread(migrate.upgrade, url)
        return
    head = await asyncio.to_thread(migrate.pending_revision, url)
    if head is not None:
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
    await prepare_database(settings)
    engine = make_engine(settings.resolved_database_url)
    sessions = make_sessionmaker(engine)
    vault = Vault(keyring=keyring, cache_seconds=settings.workspace_key_cache_seconds)
    try:
        async with sessions() as session:
            await vault.verify_all(session)
    except BaseException:
        await engine.dispose()
        raise
    return AppState(settings=settings, engine=engine, sessions=sessions, vault=vault)
