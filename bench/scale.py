"""Benchmark 4: scale. One workspace with 10,000 workflows and first 100, then 100,000 secrets.

Setup goes through the API for what must be real (user, workspace, its wrapped data key, one secret,
the workflow that is saved), then inserts the rest in bulk straight into the SQLite file with
SQLAlchemy Core and the real crypto (each field sealed with the workspace key and its row-binding
associated data), so the server reads them like any other.

The bulk insert bumps the workspace's ``secrets_version`` without change-log rows, as any bulk change
must: a server that cached the "no hardcoded tokens" index of the workspace rebuilds it on its next save.

Measured, at each size, on a restarted ``flowvault serve``, once it is idle (``start_settled_s``: at
start it builds the "no hardcoded tokens" index of the workspaces saved last, in the background):
- one page of the secret list (``GET .../secrets``, the default page of 100), the first page and a
  page near the end (through the cursor of the page before it);
- the first workflow save after the start (``save_cold_s``: the index built at start serves it; without
  that build it would build the index itself, as ``hardcoded_cold_check_s`` below), then saves with the
  index current (``save_s``, the fastest of 9), then a save right
  after a secret was rotated through the API (``save_after_rotate_s``: the index refreshes that one
  secret): each one validation, the "no hardcoded tokens" check, the usage index rewrite and the
  change history;
and in this process, with the server's own code on the same database:
- the run-time resolve of one secret (``DbRunHost.resolve_credential``, as a run does it);
- the cold build of the hardcoded-token index, in two halves: reading + decrypting every secret of
  the workspace (``hardcoded_decrypt_all_s``) and building the index + one check
  (``hardcoded_redactor_check_s``, the keys' names kept for the report); and one check with the
  index current (``hardcoded_warm_check_s``), which is what a save pays.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import create_engine, insert, select, update

from bench import servers
from bench.api import Workspace, sign_up, webhook_graph
from bench.webhook import UPSTREAM_HOST, flowvault_env, start_flowvault
from flowvault.config import Settings
from flowvault.secrets import crypto
from flowvault.secrets.keyring import KeyRing
from flowvault.secrets.models import SealedField, Secret, SecretUsage, WorkspaceKey
from flowvault.secrets.service import encode_cursor
from flowvault.workflows.models import Workflow
from flowvault.workspaces.models import Workspace as WorkspaceRow

UPSTREAM_URL = f"http://{UPSTREAM_HOST}:9/hook"  # never called: only saved in workflow graphs
BATCH = 5_000
RESOLVE_BLOCK = 100
RESOLVE_PAUSE_S = 0.05


@dataclass
class Scene:
    data_dir: Path
    workspace: Workspace
    user_id: str
    workflow_id: str
    secret_id: str
    secrets: int = 1


def _batches(total: int) -> Iterator[range]:
    for start in range(0, total, BATCH):
        yield range(start, min(total, start + BATCH))


def _data_key(db_url: str, data_dir: Path, workspace_id: str) -> bytes:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        row = conn.execute(select(WorkspaceKey).where(WorkspaceKey.workspace_id == workspace_id)).one()
    engine.dispose()
    ring = KeyRing.from_file(data_dir / "master.key")
    master = ring.get(row.master_key_id)
    assert master is not None
    return crypto.unwrap_data_key(master, row.master_key_id, workspace_id, row.wrapped_key)


def insert_secrets(scene: Scene, count: int) -> float:
    """Adds ``count`` bearer secrets (sealed with the real crypto); returns the seconds it took."""
    started = time.perf_counter()
    db_url = f"sqlite:///{scene.data_dir / 'flowvault.db'}"
    key = _data_key(db_url, scene.data_dir, scene.workspace.workspace_id)
    engine = create_engine(db_url)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for batch in _batches(count):
            secrets, sealed = [], []
            for number in batch:
                secret_id = str(uuid.uuid4())
                value = f"bulk-{scene.secrets + number:06d}-{uuid.uuid4().hex}"
                secrets.append({
                    "id": secret_id, "workspace_id": scene.workspace.workspace_id, "type": "http_bearer",
                    "name": f"Bulk secret {scene.secrets + number:06d}", "description": "", "version": 1,
                    "public_fields": {}, "created_by_id": scene.user_id, "created_at": now, "updated_at": now,
                    "last_used_at": None,
                })
                sealed.append({"secret_id": secret_id, "field": "token", "ciphertext": crypto.seal_field(
                    key, workspace_id=scene.workspace.workspace_id, secret_id=secret_id, version=1, field="token",
                    value=value)})
            conn.execute(insert(Secret), secrets)
            conn.execute(insert(SealedField), sealed)
        conn.execute(update(WorkspaceRow).where(WorkspaceRow.id == scene.workspace.workspace_id)
                     .values(secrets_version=WorkspaceRow.secrets_version + 1))
    engine.dispose()
    scene.secrets += count
    return time.perf_counter() - started


def insert_workflows(scene: Scene, count: int) -> float:
    """Adds ``count`` Webhook → HTTP Request workflows using the scene's secret, with their usage rows."""
    started = time.perf_counter()
    engine = create_engine(f"sqlite:///{scene.data_dir / 'flowvault.db'}")
    graph = webhook_graph(UPSTREAM_URL, scene.secret_id)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for batch in _batches(count):
            workflows, usages = [], []
            for number in batch:
                workflow_id = str(uuid.uuid4())
                name = f"Bulk workflow {number:05d}"
                workflows.append({
                    "id": workflow_id, "workspace_id": scene.workspace.workspace_id, "name": name, "enabled": True,
                    "version": 1, "graph": graph, "created_by_id": scene.user_id, "created_at": now, "updated_at": now,
                })
                usages.append({
                    "secret_id": scene.secret_id, "workflow_id": workflow_id, "node_id": "h",
                    "workspace_id": scene.workspace.workspace_id, "workflow_name": name, "node_name": "Call",
                })
            conn.execute(insert(Workflow), workflows)
            conn.execute(insert(SecretUsage), usages)
    engine.dispose()
    return time.perf_counter() - started


def _median_time(work: Callable[[], Any], repeat: int) -> tuple[float, list[float]]:
    times = _times(work, repeat)
    return statistics.median(times), times


def _lowest_time(work: Callable[[], Any], repeat: int) -> tuple[float, list[float]]:
    """The fastest of ``repeat`` calls: for the ~10-20 ms figures in the table, which a burst of another
    tenant's load moves by 2 x (a median of 3 read 2.08 once, 0.6-1.3 in the runs around it); other load
    only ever adds time."""
    times = _times(work, repeat)
    return min(times), times


def _times(work: Callable[[], Any], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return times


async def _in_process(scene: Scene, resolve_repeat: int) -> dict[str, float]:
    """Resolve, and the hardcoded-token index built cold and checked warm, with the server's code on
    the same database."""
    from flowvault.bootstrap import open_state
    from flowvault.runs.host import DbRunHost
    from flowvault.secrets.service import sealed_values
    from flowvault.workflows import hardcoded
    from flowvault.workflows.schemas import Graph

    state = await open_state(Settings(data_dir=scene.data_dir))
    try:
        run = SimpleNamespace(id="bench-run", workspace_id=scene.workspace.workspace_id, workflow_id=scene.workflow_id)
        host = DbRunHost(state, run, (UPSTREAM_HOST,))  # type: ignore[arg-type]
        await host.resolve_credential(scene.secret_id)  # the workspace key is unwrapped once, then cached
        times = []
        for number in range(resolve_repeat):
            if number % RESOLVE_BLOCK == 0:
                await asyncio.sleep(RESOLVE_PAUSE_S)  # blocks spread over ~1 s: one burst cannot cover them all
            started = time.perf_counter()
            await host.resolve_credential(scene.secret_id)
            times.append(time.perf_counter() - started)
        await host.settle()
        workspace_id = scene.workspace.workspace_id
        graph = Graph.model_validate(webhook_graph(UPSTREAM_URL, scene.secret_id))
        async with state.sessions() as session:
            started = time.perf_counter()
            sealed = await sealed_values(session, workspace_id=workspace_id)
            data_key = await state.vault.data_key(session, workspace_id)
            grouped = hardcoded._open_grouped(data_key, workspace_id, sealed)
            decrypt_s = time.perf_counter() - started
            del grouped
            cache = hardcoded.IndexCache()
            started = time.perf_counter()
            assert await hardcoded.check_workflow(session, vault=state.vault, workspace_id=workspace_id,
                                                  workflow_name="Saved workflow", graph=graph, cache=cache) is None
            cold_s = time.perf_counter() - started
            warm = []
            for _ in range(20):
                started = time.perf_counter()
                assert await hardcoded.check_workflow(session, vault=state.vault, workspace_id=workspace_id,
                                                      workflow_name="Saved workflow", graph=graph, cache=cache) is None
                warm.append(time.perf_counter() - started)
            assert cache.builds == 1
        return {
            # ~40 µs each, so another tenant's burst moves a median: the lowest median of 20 blocks of 100
            # (other load only ever adds time), for the 100- and the 100,000-secret database alike.
            "resolve_s": min(
                statistics.median(times[start : start + RESOLVE_BLOCK])
                for start in range(0, len(times), RESOLVE_BLOCK)
            ),
            "hardcoded_decrypt_all_s": decrypt_s,
            "hardcoded_redactor_check_s": max(0.0, cold_s - decrypt_s),
            "hardcoded_cold_check_s": cold_s,
            "hardcoded_warm_check_s": statistics.median(warm),
            "secrets_decrypted": len(sealed),
        }
    finally:
        await state.engine.dispose()


def measure(scene: Scene, log_dir: Path, *, list_repeat: int, save_repeat: int) -> dict[str, Any]:
    port = servers.free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_flowvault("flowvault-scale", port, flowvault_env(scene.data_dir), log_dir)
    try:
        servers.wait_until(server, servers.http_ok(f"{base}/api/v1/health"), timeout=120)
        # The server builds the workspace's secrets index in the background at start: time the requests
        # once it is done (a request meanwhile shares the CPU with it), and say how long it took.
        settled_s = servers.wait_settled(server, timeout=120)
        scene.workspace.client.base_url = base
        # Warm up the routes (first-request imports and caches) on cheap calls before timing.
        scene.workspace.call("GET", "/secrets", 200, params={"type": "slack_token"})
        scene.workspace.call("GET", f"/workflows/{scene.workflow_id}", 200)
        listed: dict[str, int] = {}

        def list_first_page() -> None:
            body = scene.workspace.call("GET", "/secrets", 200, timeout=600)
            listed["items"] = len(body["items"])
            assert body["next_cursor"] is not None or scene.secrets <= len(body["items"])

        list_s, list_all = _lowest_time(list_first_page, list_repeat)
        # A page near the end: the cursor of the page before the last bulk secrets (keyset, no offset).
        before_end = f"Bulk secret {max(1, scene.secrets - 150):06d}"
        far_cursor = encode_cursor("http_bearer", before_end)

        def list_far_page() -> None:
            body = scene.workspace.call("GET", "/secrets", 200, params={"cursor": far_cursor}, timeout=600)
            listed["far_items"] = len(body["items"])

        far_s, _ = _median_time(list_far_page, list_repeat)
        graph = webhook_graph(UPSTREAM_URL, scene.secret_id)
        saves = iter(range(1_000_000))

        def save() -> None:
            body = {"name": f"Saved workflow {next(saves)}", "graph": graph}
            scene.workspace.call("PUT", f"/workflows/{scene.workflow_id}", 200, json=body, timeout=600)

        save_cold_s, _ = _median_time(save, 1)  # the process's first save: its index was built at start
        save_s, save_all = _lowest_time(save, save_repeat)
        rotations = iter(range(1_000_000))

        def rotate_then_save() -> float:
            token = f"scale-bench-rotated-{next(rotations)}-{uuid.uuid4().hex}"
            scene.workspace.call("PUT", f"/secrets/{scene.secret_id}/value", 200, json={"fields": {"token": token}})
            started = time.perf_counter()
            save()
            return time.perf_counter() - started

        after_rotate = [rotate_then_save() for _ in range(save_repeat)]
        rss = server.peak_rss()
    finally:
        server.stop()
    figures = asyncio.run(_in_process(scene, resolve_repeat=20 * RESOLVE_BLOCK))
    return {
        "secrets": scene.secrets, "listed_items": listed["items"], "list_s": list_s, "list_all_s": list_all,
        "list_far_page_s": far_s, "listed_far_items": listed["far_items"],
        "save_s": save_s, "save_all_s": save_all, "save_cold_s": save_cold_s,
        "save_after_rotate_s": statistics.median(after_rotate), "save_after_rotate_all_s": after_rotate,
        "start_settled_s": settled_s,
        "server_peak_rss_bytes": rss, **figures,
    }


def bench_scale(*, log_dir: Path, sizes: tuple[int, ...] = (100, 100_000), workflows: int = 10_000,
                list_repeat: int = 7, save_repeat: int = 9) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="flowvault-scale-"))
    port = servers.free_port()
    base = f"http://127.0.0.1:{port}"
    setup = start_flowvault("flowvault-scale-setup", port, flowvault_env(data_dir), log_dir)
    try:
        servers.wait_until(setup, servers.http_ok(f"{base}/api/v1/health"), timeout=120)
        ws = sign_up(base, "scale@example.com")
        me = ws.client.get("/api/v1/me").json()
        secret = ws.call("POST", "/secrets", 201, json={
            "type": "http_bearer", "name": "Upstream API", "fields": {"token": "scale-bench-" + uuid.uuid4().hex}})
        ws.call("PUT", "/settings/engine", 200, json={"concurrency": 5, "egress_allowlist": [UPSTREAM_HOST]})
        workflow = ws.call("POST", "/workflows", 201, json={
            "name": "Saved workflow", "graph": webhook_graph(UPSTREAM_URL, secret["id"])})
    finally:
        setup.stop()
    scene = Scene(data_dir, ws, me["id"], workflow["id"], secret["id"])
    results: dict[str, Any] = {"workflows": workflows + 1, "insert_s": {}}
    results["insert_s"]["workflows"] = insert_workflows(scene, workflows)
    for size in sizes:
        results["insert_s"][f"secrets_to_{size}"] = insert_secrets(scene, size - scene.secrets)
        results[str(size)] = measure(scene, log_dir, list_repeat=list_repeat, save_repeat=save_repeat)
    small, large = results[str(sizes[0])], results[str(sizes[-1])]
    results["ratios"] = {key: large[key] / small[key] for key in (
        "list_s", "list_far_page_s", "resolve_s", "save_s", "save_cold_s", "save_after_rotate_s")}
    scene.workspace.client.close()
    servers.discard(data_dir)
    return results
