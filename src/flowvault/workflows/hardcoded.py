""" "No hardcoded tokens": a workflow whose configuration contains, anywhere, the plaintext of one of
the workspace's secrets (or an encoded form of it: ``redaction.derived_forms``) is refused. The
message names the node and field and the secret, never the value.

Scale: a save must not cost O(secrets). Each process keeps, per workspace, a :class:`SecretIndex` of
its secrets' derived forms, tagged with the workspace's ``secrets_version`` (bumped in the same
transaction as every secret created, rotated or deleted, with a ``secret_changes`` row per secret).
A save reads the version (one row); when it moved, the secrets the change log names are decrypted
and swapped in the index (a rotated secret's old forms go out), and when the log does not cover the
gap (pruned, bulk changes, first use in this process) the index is built again from every secret.
Decrypting and building run in a worker thread, never on the event loop. At most
``MAX_WORKSPACES`` indexes and ``MAX_SECRETS`` secrets are kept (least recently used go first), each
index for ``IDLE_SECONDS`` unused.

The index keeps no value and no form: only the built-in (per-process keyed SipHash) hash of each
form and of its first ``MIN_FORM_LENGTH`` characters, and the forms' lengths. Finding a form in a
text hashes the 8 characters at each position and, where they are some form's first 8, the slices
of each known length there: O(text), whatever the number of secrets. A 64-bit hash collision could
at worst refuse a save that holds no secret (never let one through).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from flowvault.errors import ValidationFailed
from flowvault.redaction import MIN_FORM_LENGTH, derived_forms
from flowvault.secrets import crypto
from flowvault.secrets import service as secrets_service
from flowvault.secrets.models import Secret
from flowvault.secrets.vault import Vault
from flowvault.workflows.schemas import Graph

log = logging.getLogger("flowvault.workflows")
ANONYMOUS = "one of your secrets"
MAX_WORKSPACES = 4
MAX_SECRETS = 200_000
"""Secrets indexed in all, at most (the most recently used workspace's are kept whatever their number):
~1.1 KB of memory a secret (measured with 100,000 bearer tokens)."""
IDLE_SECONDS = 3600.0
_PACK = struct.Struct("<qqI")  # (hash of the form, hash of its prefix, its length)


@functools.lru_cache(maxsize=256)
def _pack_many(count: int) -> struct.Struct:
    return struct.Struct("<" + "qqI" * count)


class SecretIndex:
    """Which secret a text holds a derived form of. Not thread-safe: callers serialise (``_Entry.lock``)."""

    def __init__(self) -> None:
        self._prefixes: dict[int, int] = {}  # hash(form[:8]) -> forms starting so
        self._forms: dict[int, str | tuple[str, ...]] = {}  # hash(form) -> secret id(s)
        self._lengths: dict[int, int] = {}  # form length -> forms that long
        self._secrets: dict[str, tuple[str, bytes]] = {}  # secret id -> (name, packed form entries)
        self._by_length: list[int] = []  # the lengths, longest first (rebuilt when the set changes)

    def __len__(self) -> int:
        return len(self._secrets)

    def __contains__(self, secret_id: object) -> bool:
        return secret_id in self._secrets

    def name_of(self, secret_id: str) -> str:
        return self._secrets[secret_id][0]

    def add(self, secret_id: str, name: str, values: Iterable[str]) -> None:
        """Indexes every derived form of ``values`` (a secret's sealed fields) as ``secret_id``'s,
        replacing what the index held for it."""
        self.remove(secret_id)
        forms: set[str] = set()
        for value in values:
            forms |= derived_forms(value)
        prefixes, owners, lengths, key = self._prefixes, self._forms, self._lengths, MIN_FORM_LENGTH
        entries: list[int] = []
        new_length = False
        for form in forms:
            form_hash, prefix_hash, length = hash(form), hash(form[:key]), len(form)
            prefixes[prefix_hash] = prefixes.get(prefix_hash, 0) + 1
            owner = owners.setdefault(form_hash, secret_id)
            if owner != secret_id:  # another secret has this form too (the same value)
                owners[form_hash] = (*_owners(owner), secret_id)
            count = lengths.get(length, 0)
            new_length |= count == 0
            lengths[length] = count + 1
            entries += (form_hash, prefix_hash, length)
        self._secrets[secret_id] = (name, _pack_many(len(forms)).pack(*entries))
        if new_length:
            self._by_length = sorted(lengths, reverse=True)

    def remove(self, secret_id: str) -> None:
        found = self._secrets.pop(secret_id, None)
        if found is None:
            return
        gone_length = False
        for form_hash, prefix_hash, length in _PACK.iter_unpack(found[1]):
            _decrement(self._prefixes, prefix_hash)
            gone_length |= _decrement(self._lengths, length)
            rest = tuple(owner for owner in _owners(self._forms.get(form_hash, ())) if owner != secret_id)
            if not rest:
                self._forms.pop(form_hash, None)
            else:
                self._forms[form_hash] = rest[0] if len(rest) == 1 else rest
        if gone_length:
            self._by_length = sorted(self._lengths, reverse=True)

    def find(self, text: str) -> str | None:
        """The id of the secret with a form occurring leftmost in ``text`` (the longest form there)."""
        if not self._forms:
            return None
        prefixes, forms, lengths, key = self._prefixes, self._forms, self._by_length, MIN_FORM_LENGTH
        end = len(text)
        for start in range(end - key + 1):
            if hash(text[start : start + key]) not in prefixes:
                continue
            for length in lengths:
                if start + length <= end:
                    owner = forms.get(hash(text[start : start + length]))
                    if owner is not None:
                        return _owners(owner)[0]
        return None


def _owners(owner: str | tuple[str, ...]) -> tuple[str, ...]:
    return (owner,) if isinstance(owner, str) else owner


def _decrement(counts: dict[int, int], key: int) -> bool:
    """True when ``key`` is gone."""
    left = counts.get(key, 0) - 1
    if left > 0:
        counts[key] = left
        return False
    counts.pop(key, None)
    return True


# --- the check ------------------------------------------------------------------------------------------------------


def _first_secret_name(index: SecretIndex, value: Any) -> str | None:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    secret_id = index.find(text)
    if secret_id is None:
        return None
    name = index.name_of(secret_id)
    # A secret named after (part of) a value would show that value in the message.
    return ANONYMOUS if index.find(name) is not None else name


def check_graph(index: SecretIndex, workflow_name: str, graph: Graph) -> ValidationFailed | None:
    if not len(index):
        return None
    if (name := _first_secret_name(index, workflow_name)) is not None:
        return ValidationFailed(
            f"The workflow name contains the value of the secret '{name}'. Rename it.", field="name"
        )
    for node in graph.nodes:
        for field_name, value in [("name", node.name), *node.config.items()]:
            name = _first_secret_name(index, value if field_name == "name" else {field_name: value})
            if name is not None:
                if field_name != "name" and _first_secret_name(index, field_name) is not None:
                    field_name = "config"  # the setting's own name holds the value: don't repeat it
                where = f"config.{field_name}" if field_name not in ("name", "config") else field_name
                return ValidationFailed(
                    f"Node '{node.name if field_name != 'name' else node.id}' field '{field_name}' contains the "
                    f"value of the secret '{name}'. Don't paste secrets into a workflow: select the credential in "
                    "the node's Credentials dropdown (or use {{secrets." + name + "}} in an HTTP Request).",
                    field=where,
                    extra={"node_id": node.id},
                )
    return None


def find_hardcoded_secret(
    values: Iterable[tuple[Secret, str, str]], workflow_name: str, graph: Graph
) -> ValidationFailed | None:
    """The check against ``(secret, field, plaintext)`` triples, with an index built for this call."""
    grouped: dict[str, tuple[str, list[str]]] = {}
    for secret, _field, value in values:
        grouped.setdefault(secret.id, (secret.name, []))[1].append(value)
    index = SecretIndex()
    for secret_id, (name, plain) in grouped.items():
        index.add(secret_id, name, plain)
    return check_graph(index, workflow_name, graph)


# --- the per-process cache ------------------------------------------------------------------------------------------


@dataclass
class _Entry:
    version: int
    index: SecretIndex
    used_at: float
    lock: threading.Lock = field(default_factory=threading.Lock)


class IndexCache:
    """The indexes of the ``max_workspaces`` workspaces saved most recently (and of no more than
    ``max_secrets`` secrets in all, except the latest's alone), each dropped once unused for ``idle_seconds``."""

    def __init__(
        self,
        *,
        max_workspaces: int = MAX_WORKSPACES,
        max_secrets: int = MAX_SECRETS,
        idle_seconds: float = IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_workspaces = max_workspaces
        self.max_secrets = max_secrets
        self.idle_seconds = idle_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self.builds = 0  # full builds so far (for tests and benchmarks)
        self.refreshes = 0  # incremental refreshes so far
        self.warming: dict[str, asyncio.Task[None]] = {}
        """Builds started by ``warm``, by workspace, until they end."""

    def get(self, workspace_id: str) -> _Entry | None:
        now = self.clock()
        with self._lock:
            entry = self._entries.get(workspace_id)
            if entry is None:
                return None
            if entry.used_at + self.idle_seconds <= now:
                del self._entries[workspace_id]
                return None
            entry.used_at = now
            self._entries.move_to_end(workspace_id)
            return entry

    def put(self, workspace_id: str, entry: _Entry) -> None:
        with self._lock:
            current = self._entries.get(workspace_id)
            if current is None or current.version < entry.version:
                self._entries[workspace_id] = entry
            self._entries.move_to_end(workspace_id)
            while len(self._entries) > 1 and (
                len(self._entries) > self.max_workspaces
                or sum(len(e.index) for e in self._entries.values()) > self.max_secrets
            ):
                self._entries.popitem(last=False)

    def forget(self, workspace_id: str) -> None:
        with self._lock:
            self._entries.pop(workspace_id, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


INDEXES = IndexCache()


def _open_grouped(
    data_key: bytes, workspace_id: str, sealed: Sequence[secrets_service.SealedValue]
) -> dict[str, tuple[str, list[str]]]:
    """secret id -> (name, plaintexts). Raises DecryptionError for a field that does not open."""
    grouped: dict[str, tuple[str, list[str]]] = {}
    key = crypto.cipher(data_key) if sealed else data_key  # one AESGCM object for them all
    for item in sealed:
        plain = secrets_service.open_sealed(key, workspace_id, item)
        grouped.setdefault(item.secret_id, (item.name, []))[1].append(plain)
    return grouped


def _build(
    version: int, data_key: bytes, workspace_id: str, sealed: Sequence[secrets_service.SealedValue], now: float
) -> _Entry:
    index = SecretIndex()
    for secret_id, (name, values) in _open_grouped(data_key, workspace_id, sealed).items():
        index.add(secret_id, name, values)
    return _Entry(version=version, index=index, used_at=now)


def _refresh(
    entry: _Entry,
    version: int,
    changed: set[str],
    data_key: bytes,
    workspace_id: str,
    sealed: Sequence[secrets_service.SealedValue],
) -> None:
    current = _open_grouped(data_key, workspace_id, sealed)  # all opened before anything changes
    with entry.lock:
        if entry.version >= version:
            return  # another save brought it this far (or further) meanwhile
        for secret_id in changed:
            found = current.get(secret_id)
            if found is None:
                entry.index.remove(secret_id)  # deleted
            else:
                entry.index.add(secret_id, *found)  # created or rotated: the old forms go
        entry.version = version


def _check(entry: _Entry, workflow_name: str, graph: Graph) -> ValidationFailed | None:
    with entry.lock:
        return check_graph(entry.index, workflow_name, graph)


def warm(sessions: Callable[[], AsyncSession], vault: Vault, workspace_id: str, cache: IndexCache = INDEXES) -> None:
    """Builds the workspace's index in the background when this process has none, as a workflow is
    opened: its save comes soon, and at 100,000 secrets the build takes seconds (measured in
    docs/PERFORMANCE.md). A save meanwhile waits for this build instead of making its own."""
    if cache.get(workspace_id) is not None or workspace_id in cache.warming:
        return
    task = asyncio.create_task(_warm(sessions, vault, workspace_id, cache), name=f"flowvault-index-{workspace_id}")
    cache.warming[workspace_id] = task
    task.add_done_callback(functools.partial(_warmed, cache, workspace_id))


async def warm_now(
    sessions: Callable[[], AsyncSession], vault: Vault, workspace_id: str, cache: IndexCache = INDEXES
) -> None:
    """``warm``, and returns once the build (this one, or one already started) has ended; a failure is
    logged by ``warm``'s task, not raised. Cancelling this cancels the build's task."""
    warm(sessions, vault, workspace_id, cache)
    task = cache.warming.get(workspace_id)
    if task is not None:
        with contextlib.suppress(Exception):
            await task


async def _warm(sessions: Callable[[], AsyncSession], vault: Vault, workspace_id: str, cache: IndexCache) -> None:
    async with sessions() as session:
        version = await secrets_service.secrets_version(session, workspace_id=workspace_id)
        await _build_from_all(session, vault, workspace_id, version, cache)


async def _build_from_all(
    session: AsyncSession, vault: Vault, workspace_id: str, version: int, cache: IndexCache
) -> _Entry:
    """The workspace's index built from every secret (in a worker thread), kept in ``cache``."""
    sealed = await secrets_service.sealed_values(session, workspace_id=workspace_id)
    data_key = await vault.data_key(session, workspace_id)
    entry = await asyncio.to_thread(_build, version, data_key, workspace_id, sealed, cache.clock())
    cache.put(workspace_id, entry)
    cache.builds += 1
    return entry


def _warmed(cache: IndexCache, workspace_id: str, task: asyncio.Task[None]) -> None:
    if cache.warming.get(workspace_id) is task:
        del cache.warming[workspace_id]
    if not task.cancelled() and (failure := task.exception()) is not None:
        # Not the value of anything: a save builds the index itself and reports what fails then.
        log.warning("building the secrets index of workspace %s failed: %s", workspace_id, type(failure).__name__)


async def _warmed_entry(workspace_id: str, cache: IndexCache) -> _Entry | None:
    """The entry a background build (``warm``) of this event loop is making, once it is made."""
    task = cache.warming.get(workspace_id)
    if task is None or task.get_loop() is not asyncio.get_running_loop():
        return None
    with contextlib.suppress(Exception):
        await asyncio.shield(task)
    return cache.get(workspace_id)


async def check_workflow(
    session: AsyncSession,
    *,
    vault: Vault,
    workspace_id: str,
    workflow_name: str,
    graph: Graph,
    cache: IndexCache = INDEXES,
) -> ValidationFailed | None:
    """The problem to raise if the workflow holds a secret of the workspace, else None."""
    version = await secrets_service.secrets_version(session, workspace_id=workspace_id)
    entry = cache.get(workspace_id) or await _warmed_entry(workspace_id, cache)
    if entry is not None and entry.version < version:
        changed = await secrets_service.secrets_changed_since(
            session, workspace_id=workspace_id, after=entry.version, upto=version
        )
        if changed is None:
            entry = None
        else:
            sealed = await secrets_service.sealed_values(session, workspace_id=workspace_id, secret_ids=sorted(changed))
            data_key = await vault.data_key(session, workspace_id) if sealed else b""
            await asyncio.to_thread(_refresh, entry, version, changed, data_key, workspace_id, sealed)
            cache.refreshes += 1
    if entry is None:
        entry = await _build_from_all(session, vault, workspace_id, version, cache)
    return await asyncio.to_thread(_check, entry, workflow_name, graph)
