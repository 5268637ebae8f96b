"""The vault against a real database: verify_all, rewrap_all, the bounded key cache."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from flowvault.bootstrap import open_state
from flowvault.config import Settings
from flowvault.db.models import WorkspaceKey
from flowvault.deps import AppState
from flowvault.errors import DecryptionError, KeyringError
from flowvault.secrets import crypto
from flowvault.secrets.keyring import KeyRing, append_key
from flowvault.secrets.vault import Vault
from flowvault.workspaces.models import Workspace

T = TypeVar("T")


def run(work: Callable[[AppState], Awaitable[T]], settings: Settings) -> T:
    async def main() -> T:
        state = await open_state(settings)
        try:
            return await work(state)
        finally:
            await state.engine.dispose()

    return asyncio.run(main())


async def make_workspaces(state: AppState, count: int) -> list[str]:
    ids = []
    async with state.sessions() as session:
        for number in range(count):
            workspace = Workspace(name=f"w{number}")
            session.add(workspace)
            await session.flush()
            await state.vault.create_workspace_key(session, workspace.id)
            ids.append(workspace.id)
        await session.commit()
    return ids


def test_rewrap_all_moves_every_key_to_the_primary(settings: Settings) -> None:
    ids = run(lambda s: make_workspaces(s, 3), settings)
    old_id = KeyRing.from_file(settings.resolved_master_key_file).primary_id
    new_id = append_key(settings.resolved_master_key_file)

    async def rotate(state: AppState) -> tuple[int, list[str], list[bytes]]:
        async with state.sessions() as session:
            before = [await state.vault.data_key(session, ws) for ws in ids]
            count = await state.vault.rewrap_all(session)
            fresh = Vault(keyring=state.vault.keyring)
            after = [await fresh.data_key(session, ws) for ws in ids]
            key_ids = list((await session.scalars(select(WorkspaceKey.master_key_id))).all())
            assert before == after, "rotation re-wraps; the data keys themselves do not change"
            return count, key_ids, after

    count, key_ids, _ = run(rotate, settings)
    assert count == 3 and set(key_ids) == {new_id} and new_id != old_id
    assert run(rotate, settings)[0] == 0, "a second rotation has nothing to do"


def test_verify_all_refuses_unknown_key_id_and_wrong_key(settings: Settings) -> None:
    run(lambda s: make_workspaces(s, 2), settings)
    stored_id = KeyRing.from_file(settings.resolved_master_key_file).primary_id
    other = base64.urlsafe_b64encode(os.urandom(32)).decode()
    with pytest.raises(KeyringError, match="do not include key id"):
        run(lambda s: asyncio.sleep(0), settings.model_copy(update={"master_keys": SecretStr(f"other-id:{other}")}))
    with pytest.raises(KeyringError, match="2 stored workspace key\\(s\\) cannot be unwrapped"):
        run(lambda s: asyncio.sleep(0), settings.model_copy(update={"master_keys": SecretStr(f"{stored_id}:{other}")}))


def test_cached_data_key_expires(settings: Settings) -> None:
    ids = run(lambda s: make_workspaces(s, 1), settings)
    now = [0.0]

    async def scenario(state: AppState) -> None:
        vault = Vault(keyring=state.vault.keyring, cache_seconds=10, clock=lambda: now[0])
        async with state.sessions() as session:
            key = await vault.data_key(session, ids[0])
            row = await session.get(WorkspaceKey, ids[0])
            assert row is not None
            await session.delete(row)
            await session.commit()
            assert await vault.data_key(session, ids[0]) == key, "served from the cache"
            now[0] = 11.0
            with pytest.raises(DecryptionError):
                await vault.data_key(session, ids[0])

    run(scenario, settings)


def test_what_a_key_opened_goes_with_the_key(settings: Settings) -> None:
    ids = run(lambda s: make_workspaces(s, 2), settings)
    now = [0.0]

    async def scenario(state: AppState) -> None:
        vault = Vault(keyring=state.vault.keyring, cache_seconds=10, clock=lambda: now[0])
        async with state.sessions() as session:
            first = await vault.unwrapped(session, ids[0])
            other = await vault.unwrapped(session, ids[1])
            blob = crypto.seal_field(
                first.key, workspace_id=ids[0], secret_id="s1", version=1, field="token", value="canary-held-value"
            )
            assert first.open_field(secret_id="s1", version=1, field="token", blob=blob) == "canary-held-value"
            assert await vault.unwrapped(session, ids[0]) is first, "held, with what it opened"

            now[0] = 11.0
            again = await vault.unwrapped(session, ids[0])
            assert again is not first and again.key == first.key, "unwrapped anew: nothing opened is carried over"
            assert other.workspace_id not in vault._cache, "an expired key is dropped when another is held"

            vault.forget(ids[0])
            assert await vault.unwrapped(session, ids[0]) is not again

    run(scenario, settings)
