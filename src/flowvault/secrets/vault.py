"""Workspace data keys: created with the workspace, unwrapped on demand and kept in memory for a
bounded time (never written anywhere unwrapped), re-wrapped by master-key rotation.

While a key is held, the fields it opened are held with it (``UnwrappedKey.open_field``): a run
resolves the same credential as the run before it, and opening a field again costs more than the
rest of resolving it. What a key opened is dropped with the key (on expiry or ``forget``), so no
plaintext outlives the key that can produce it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from flowvault.db.base import utcnow
from flowvault.errors import DecryptionError, KeyringError
from flowvault.secrets import crypto
from flowvault.secrets.keyring import KeyRing
from flowvault.secrets.models import WorkspaceKey

OPENED_PER_KEY = 1024
"""Opened fields held per workspace key; beyond it, the longest held goes first."""


class UnwrappedKey:
    """A workspace's data key while it is held in memory, and the fields it opened meanwhile.

    An opened field is held under everything that went into opening it (secret id, version, field
    and the sealed bytes themselves), so a hit is exactly what decrypting again would return: a
    changed or swapped ciphertext is a different entry, and fails to open like it always did."""

    __slots__ = ("_cipher", "_opened", "expires", "key", "workspace_id")

    def __init__(self, workspace_id: str, key: bytes, expires: float) -> None:
        self.workspace_id = workspace_id
        self.key = key
        self.expires = expires
        self._cipher = crypto.cipher(key)
        self._opened: dict[tuple[str, int, str, bytes], str] = {}

    def __repr__(self) -> str:
        return f"UnwrappedKey(workspace_id={self.workspace_id!r})"

    def open_field(self, *, secret_id: str, version: int, field: str, blob: bytes) -> str:
        held = (secret_id, version, field, blob)
        value = self._opened.get(held)
        if value is None:
            value = crypto.open_field(
                self._cipher,
                workspace_id=self.workspace_id,
                secret_id=secret_id,
                version=version,
                field=field,
                blob=blob,
            )
            if len(self._opened) >= OPENED_PER_KEY:
                del self._opened[next(iter(self._opened))]
            self._opened[held] = value
        return value


@dataclass
class Vault:
    keyring: KeyRing
    cache_seconds: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _cache: dict[str, UnwrappedKey] = field(default_factory=dict, repr=False)

    def _hold(self, workspace_id: str, data_key: bytes) -> UnwrappedKey:
        """Holds the key until ``cache_seconds`` from now; keys already past their time are dropped."""
        now = self.clock()
        for expired in [ws for ws, held in self._cache.items() if held.expires <= now]:
            del self._cache[expired]
        held = self._cache[workspace_id] = UnwrappedKey(workspace_id, data_key, now + self.cache_seconds)
        return held

    async def create_workspace_key(self, session: AsyncSession, workspace_id: str) -> None:
        data_key = crypto.new_data_key()
        # A key appended to the key file (`flowvault keys rotate --new-key`) while this process runs is
        # the primary from then on: without this re-read, a workspace created after the rotation would
        # be wrapped with the retired key until some request happened to need the new one.
        self.keyring.reload()
        key_id = self.keyring.primary_id
        wrapped = crypto.wrap_data_key(self.keyring.primary, key_id, workspace_id, data_key)
        session.add(WorkspaceKey(workspace_id=workspace_id, master_key_id=key_id, wrapped_key=wrapped))
        self._hold(workspace_id, data_key)

    def held(self, workspace_id: str) -> UnwrappedKey | None:
        """The workspace's key if it is held now (no database needed), else None."""
        held = self._cache.get(workspace_id)
        return held if held is not None and held.expires > self.clock() else None

    async def unwrapped(self, session: AsyncSession, workspace_id: str) -> UnwrappedKey:
        held = self.held(workspace_id)
        if held is not None:
            return held
        row = await session.get(WorkspaceKey, workspace_id)
        if row is None:
            raise DecryptionError()
        return self._hold(workspace_id, self.unwrap(row))

    async def data_key(self, session: AsyncSession, workspace_id: str) -> bytes:
        return (await self.unwrapped(session, workspace_id)).key

    def unwrap(self, row: WorkspaceKey) -> bytes:
        master = self.keyring.get(row.master_key_id)
        if master is None:
            raise DecryptionError()
        return crypto.unwrap_data_key(master, row.master_key_id, row.workspace_id, row.wrapped_key)

    def forget(self, workspace_id: str) -> None:
        self._cache.pop(workspace_id, None)

    async def verify_master_keys(self, session: AsyncSession) -> None:
        """Unwraps one stored workspace key per master key id (the start-up check: one query and one
        unwrap per master key, not per workspace). A master key that is missing, or a different key
        under the same id, raises the KeyringError of ``verify_all``, which then checks every key to
        name what is wrong."""
        one_per_master_key = select(func.min(WorkspaceKey.workspace_id)).group_by(WorkspaceKey.master_key_id)
        first = (await session.scalars(one_per_master_key)).all()
        if not first:
            return
        rows = (await session.scalars(select(WorkspaceKey).where(WorkspaceKey.workspace_id.in_(first)))).all()
        try:
            for row in rows:
                self.unwrap(row)
        except DecryptionError:
            await self.verify_all(session)
            raise KeyringError(
                f"A stored workspace key cannot be unwrapped with the configured master keys ({self.keyring.source}); "
                "refusing to start."
            ) from None

    async def verify_all(self, session: AsyncSession, *, at_start: bool = True) -> int:
        """Unwraps every stored workspace key; raises KeyringError naming what is wrong (saying that the
        start is refused when ``at_start``; the check after a start only reports)."""
        ending = "; refusing to start." if at_start else "."
        rows = (await session.scalars(select(WorkspaceKey))).all()
        missing: set[str] = set()
        failed = 0
        for row in rows:
            if self.keyring.get(row.master_key_id) is None:
                missing.add(row.master_key_id)
                continue
            try:
                self.unwrap(row)
            except DecryptionError:
                failed += 1
        if missing:
            raise KeyringError(
                f"The configured master keys ({self.keyring.source}) do not include key id(s) "
                f"{', '.join(sorted(missing))}, which wrap stored workspace keys. Configure the key file or "
                f"FLOWVAULT_MASTER_KEYS that holds them{ending}"
            )
        if failed:
            raise KeyringError(
                f"{failed} stored workspace key(s) cannot be unwrapped with the configured master keys "
                f"({self.keyring.source}): the key with the same id is a different key. Restore the right "
                f"key file or FLOWVAULT_MASTER_KEYS{ending}"
            )
        return len(rows)

    async def rewrap_all(self, session: AsyncSession, *, on_progress: Callable[[], None] | None = None) -> int:
        """Re-wraps every workspace key with the primary master key, one short transaction per key,
        so a running server keeps serving (the data keys themselves do not change)."""
        primary_id = self.keyring.primary_id
        ids = (
            await session.scalars(select(WorkspaceKey.workspace_id).where(WorkspaceKey.master_key_id != primary_id))
        ).all()
        for workspace_id in ids:
            row = await session.get(WorkspaceKey, workspace_id, with_for_update=True)
            if row is not None and row.master_key_id != primary_id:
                data_key = self.unwrap(row)
                row.wrapped_key = crypto.wrap_data_key(self.keyring.primary, primary_id, workspace_id, data_key)
                row.master_key_id = primary_id
                row.rewrapped_at = utcnow()
            await session.commit()
            if on_progress is not None:
                on_progress()
        return len(ids)
