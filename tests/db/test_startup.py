"""What every start does before it serves (``open_state``), kept cheap: the schema check without Alembic,
the key check with one unwrap per master key id, the argon2 dummy hash not computed at import. And what
it still refuses."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import argon2
import pytest
from alembic.script import ScriptDirectory
from pydantic import SecretStr
from sqlalchemy import create_engine, text

from flowvault.auth import passwords
from flowvault.bootstrap import open_state
from flowvault.config import Settings
from flowvault.db import migrate
from flowvault.db.engine import make_engine, sync_url
from flowvault.errors import ConfigurationError, KeyringError
from flowvault.secrets.keyring import append_key, create_key_file, parse_entries
from flowvault.secrets.vault import Vault
from tests.secrets.test_vault import make_workspaces, run

SUBPROCESS_TIMEOUT = 120.0


def revisions_of(url: str) -> set[str]:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            return set(connection.scalars(text("SELECT version_num FROM alembic_version")).all())
    finally:
        engine.dispose()


def is_current(url: str) -> bool:
    async def check() -> bool:
        engine = make_engine(url)
        try:
            async with engine.connect() as connection:
                return await migrate.is_current(connection)
        finally:
            await engine.dispose()

    return asyncio.run(check())


# --- the schema check ---------------------------------------------------------------------------------


def test_head_revisions_read_from_the_files_are_alembics() -> None:
    alembic_heads = ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_heads()
    assert migrate.head_revisions() == frozenset(alembic_heads)
    assert len(alembic_heads) == 1


def test_is_current_on_a_migrated_an_empty_and_an_older_database(settings: Settings, tmp_path: Path) -> None:
    assert is_current(settings.resolved_database_url)
    empty = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    assert not is_current(empty)
    older = f"sqlite+aiosqlite:///{tmp_path / 'older.db'}"
    migrate.upgrade(older, "0001")
    assert not is_current(older)


def test_a_fresh_embedded_start_creates_the_key_file_and_the_schema(tmp_path: Path) -> None:
    data_dir = tmp_path / "new" / "data"
    settings = Settings(data_dir=data_dir, database_url=None, master_keys=None, master_key_file=None)

    async def main() -> None:
        state = await open_state(settings, create_key_file=True)
        await state.engine.dispose()

    asyncio.run(main())
    assert (data_dir / "master.key").stat().st_mode & 0o777 == 0o600
    assert data_dir.stat().st_mode & 0o777 == 0o700
    assert revisions_of(settings.resolved_database_url) == migrate.head_revisions()


def test_an_embedded_database_behind_the_head_is_upgraded_on_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    create_key_file(data_dir / "master.key")
    settings = Settings(data_dir=data_dir, database_url=None, master_keys=None, master_key_file=None)
    migrate.upgrade(settings.resolved_database_url, "0001")
    assert revisions_of(settings.resolved_database_url) == {"0001"}
    run(lambda state: asyncio.sleep(0), settings)
    assert revisions_of(settings.resolved_database_url) == migrate.head_revisions()


def test_another_database_behind_the_head_is_refused(settings: Settings) -> None:
    if settings.is_sqlite:
        pytest.skip("the embedded SQLite database is upgraded on start instead (test above)")
    url = settings.resolved_database_url
    before = revisions_of(url)
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        with pytest.raises(ConfigurationError) as refused:
            run(lambda state: asyncio.sleep(0), settings)
        head = ", ".join(sorted(migrate.head_revisions()))
        assert f"not at the current revision ({head})" in refused.value.detail
        assert "flowvault db upgrade" in refused.value.detail
        assert revisions_of(url) == {"0001"}, "another database is never migrated by a start"
    finally:
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM alembic_version"))
            for revision in before:
                connection.execute(text("INSERT INTO alembic_version (version_num) VALUES (:r)"), {"r": revision})
        engine.dispose()


START_PATH = """
import asyncio, json, sys
import flowvault.cli, flowvault.app
from flowvault.auth import passwords
from flowvault.bootstrap import open_state
from flowvault.config import Settings

async def main():
    state = await open_state(Settings())
    await state.engine.dispose()

asyncio.run(main())
print(json.dumps({"alembic": sorted(m for m in sys.modules if m.split(".")[0] in ("alembic", "mako")),
                  "dummy_hashes_made": passwords.dummy_hash.cache_info().currsize}))
"""


def test_a_start_on_a_current_database_loads_no_alembic(settings: Settings) -> None:
    """What ``flowvault serve`` imports and checks, in a fresh interpreter: no Alembic (nor Mako)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWVAULT_")}
    env["FLOWVAULT_DATA_DIR"] = str(settings.data_dir)
    if settings.database_url is not None:
        env["FLOWVAULT_DATABASE_URL"] = settings.database_url
    done = subprocess.run(
        [sys.executable, "-c", START_PATH],
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {"alembic": [], "dummy_hashes_made": 0}


# --- the key check -----------------------------------------------------------------------------------


def _entry(key_id: str, key: bytes) -> str:
    return f"{key_id}:{base64.urlsafe_b64encode(key).decode()}"


def test_the_key_check_unwraps_one_workspace_key_per_master_key(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = settings.resolved_master_key_file
    run(lambda state: make_workspaces(state, 3), settings)
    append_key(key_file)  # the new primary wraps the next workspaces' keys
    run(lambda state: make_workspaces(state, 2), settings)

    unwrapped: list[str] = []
    unwrap = Vault.unwrap

    def counting(self: Vault, row: Any) -> bytes:
        unwrapped.append(row.master_key_id)
        return unwrap(self, row)

    monkeypatch.setattr(Vault, "unwrap", counting)
    run(lambda state: asyncio.sleep(0), settings)
    master_key_ids = list(parse_entries(key_file.read_text().splitlines(), str(key_file)))
    assert len(master_key_ids) == 2
    assert sorted(unwrapped) == sorted(master_key_ids), "one unwrap per master key id, not one per workspace (5)"


def test_the_key_check_still_names_every_problem(settings: Settings) -> None:
    key_file = settings.resolved_master_key_file
    run(lambda state: make_workspaces(state, 3), settings)
    new_id = append_key(key_file)
    run(lambda state: make_workspaces(state, 2), settings)
    (old_line, new_line) = [line for line in key_file.read_text().splitlines() if not line.startswith("#")]
    old_id = old_line.partition(":")[0]

    def configured(*entries: str) -> Settings:
        return settings.model_copy(update={"master_keys": SecretStr(",".join(entries))})

    with pytest.raises(KeyringError, match=f"do not include key id\\(s\\) {old_id}, which wrap"):
        run(lambda state: asyncio.sleep(0), configured(new_line))
    wrong_new = _entry(new_id, os.urandom(32))
    with pytest.raises(KeyringError, match="2 stored workspace key\\(s\\) cannot be unwrapped") as refused:
        run(lambda state: asyncio.sleep(0), configured(old_line, wrong_new))
    assert "refusing to start" in str(refused.value)
    wrong_old = _entry(old_id, os.urandom(32))
    with pytest.raises(KeyringError, match="3 stored workspace key\\(s\\) cannot be unwrapped"):
        run(lambda state: asyncio.sleep(0), configured(wrong_old, new_line))
    run(lambda state: asyncio.sleep(0), configured(old_line, new_line))


def test_an_altered_wrapped_key_that_the_start_did_not_check_is_reported_after_the_start(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """The start unwraps one workspace key per master key; the app checks every other one right after it
    starts and logs what it found (the start itself is not held up)."""
    ids = run(lambda state: make_workspaces(state, 3), settings)
    engine = create_engine(sync_url(settings.resolved_database_url))
    with engine.begin() as connection:
        first = connection.execute(text("SELECT min(workspace_id) FROM workspace_keys")).scalar_one()
        victim = next(i for i in ids if i != first)
        wrapped = connection.execute(
            text("SELECT wrapped_key FROM workspace_keys WHERE workspace_id = :w"), {"w": victim}
        ).scalar_one()
        altered = bytes([wrapped[0], wrapped[1] ^ 1]) + bytes(wrapped[2:])
        connection.execute(
            text("UPDATE workspace_keys SET wrapped_key = :k WHERE workspace_id = :w"), {"k": altered, "w": victim}
        )
    engine.dispose()

    from fastapi.testclient import TestClient

    from flowvault.app import create_app

    with caplog.at_level("ERROR", logger="flowvault"), TestClient(create_app(settings)) as client:
        assert client.get("/api/v1/health").status_code == 200
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "workspace keys check" not in caplog.text:
            time.sleep(0.05)
    assert "workspace keys check: 1 stored workspace key(s) cannot be unwrapped" in caplog.text, caplog.text
    assert "refusing to start" not in caplog.text


# --- the argon2 dummy hash -----------------------------------------------------------------------------


def test_the_dummy_hash_costs_what_a_real_hash_costs() -> None:
    """Verified for unknown emails: precomputed (no hashing at import), with the hasher's own parameters,
    so an unknown email takes as long as a known one."""
    dummy = passwords.dummy_hash()
    assert argon2.extract_parameters(dummy) == argon2.extract_parameters(passwords.hash_password("any password"))
    assert dummy == passwords._PRECOMPUTED_DUMMY_HASH
    assert not passwords.verify_password(None, "flowvault-dummy-password-for-timing")
    assert not passwords.verify_password(None, "")


def test_the_dummy_hash_is_made_anew_when_the_defaults_change(monkeypatch: pytest.MonkeyPatch) -> None:
    stronger = argon2.PasswordHasher(time_cost=4, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", stronger)
    passwords.dummy_hash.cache_clear()
    try:
        dummy = passwords.dummy_hash()
        assert dummy != passwords._PRECOMPUTED_DUMMY_HASH
        assert argon2.extract_parameters(dummy) == argon2.extract_parameters(stronger.hash("x"))
        assert not passwords.verify_password(None, "x")
    finally:
        passwords.dummy_hash.cache_clear()
