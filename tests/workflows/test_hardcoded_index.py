"""The "no hardcoded tokens" check without decrypting every secret on each save: a per-process index of the
workspace's secrets, refreshed by the secrets version and change log. Correctness first: a save right after a
secret is created, rotated or deleted — through this process or another one — sees the change (the rotated
value is refused, the old one no longer counts). And a save rewrites only its own workflow's "used by" rows,
through an index."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, delete, text
from sqlalchemy.ext.asyncio import AsyncSession

from flowvault.app import create_app
from flowvault.config import Settings
from flowvault.db.engine import make_engine, make_sessionmaker, sync_url
from flowvault.errors import DecryptionError, ValidationFailed
from flowvault.secrets import service as secrets_service
from flowvault.secrets.keyring import load_keyring
from flowvault.secrets.models import SecretChange
from flowvault.secrets.vault import Vault
from flowvault.workflows import hardcoded
from flowvault.workflows.hardcoded import IndexCache, SecretIndex, check_workflow
from flowvault.workflows.schemas import Graph
from flowvault.workspaces.models import Workspace
from tests.conftest import Actor, join, sign_up
from tests.workflows.conftest import chain, create, formatter, problem, secret, trigger, update, workflows_url

T = TypeVar("T")


# --- the index itself -----------------------------------------------------------------------------------------------


def test_index_finds_every_derived_form_and_forgets_a_removed_or_replaced_value() -> None:
    index = SecretIndex()
    index.add("a", "Alpha", ["alpha-value-0001"])
    index.add("b", "Beta", ["beta-value-00002", "beta-second-field"])
    assert index.find("nothing here at all") is None
    assert index.find("x alpha-value-0001 y") == "a"
    assert index.find(base64.b64encode(b"..beta-second-field..").decode()) == "b"
    assert index.find(b"alpha-value-0001".hex()) == "a"
    assert index.find("first beta-value-00002 then alpha-value-0001") == "b", "the leftmost occurrence names it"
    index.add("a", "Alpha", ["alpha-rotated-0002"])  # rotation: same id, new value
    assert index.find("alpha-value-0001") is None
    assert index.find("alpha-rotated-0002") == "a"
    index.remove("b")
    assert index.find("beta-value-00002 beta-second-field") is None
    assert len(index) == 1 and "b" not in index


def test_two_secrets_with_the_same_value_each_keep_it() -> None:
    index = SecretIndex()
    index.add("a", "Alpha", ["shared-value-0001"])
    index.add("b", "Beta", ["shared-value-0001", "beta-only-value1"])
    assert index.find("shared-value-0001") == "a"
    index.remove("a")
    assert index.find("shared-value-0001") == "b"
    index.remove("b")
    assert index.find("shared-value-0001 beta-only-value1") is None


def test_a_form_overlapping_another_is_found_and_short_texts_are_fine() -> None:
    index = SecretIndex()
    index.add("long", "Long", ["0123456789abcdefXYZ"])
    index.add("short", "Short", ["89abcdef"])
    assert index.find("__0123456789abcdefXYZ__") == "long"
    assert index.find("__89abcdefXYZ") == "short"
    assert index.find("") is None and index.find("89abcde") is None


def test_a_secret_named_after_a_value_is_not_named_in_the_message() -> None:
    index = SecretIndex()
    index.add("a", "Alpha", ["alpha-value-0001"])
    index.add("b", "copy of alpha-value-0001", ["beta-value-00002"])
    graph = Graph.model_validate(chain(trigger(), formatter("f", "Shout", "beta-value-00002")))
    found = hardcoded.check_graph(index, "Flow", graph)
    assert found is not None and "one of your secrets" in found.detail and "alpha-value" not in found.detail


# --- through the API: the process's own cache ------------------------------------------------------------------------


def _holding(value: str) -> dict[str, Any]:
    return chain(trigger(), formatter("f", "Shout", f"prefix {value} suffix"))


def test_a_save_right_after_create_rotate_delete_sees_the_change(signup: Any) -> None:
    owner: Actor = signup("owner@example.com")
    existing = create(owner, chain(trigger()), name="Existing")  # the index of this workspace is built here
    builds = hardcoded.INDEXES.builds

    new_value, rotated_value = "fresh-token-value-0001", "rotated-token-value-0002"
    secret_id = secret(owner, "http_bearer", "Fresh", token=new_value)
    for response in (owner.post(workflows_url(owner), json={"name": "W", "graph": _holding(new_value)}),
                     owner.put(workflows_url(owner, f"/{existing['id']}"), json={"graph": _holding(new_value)})):
        assert "'Fresh'" in problem(response)["detail"] and new_value not in response.text

    rotated = owner.put(f"/api/v1/workspaces/{owner.workspace_id}/secrets/{secret_id}/value",
                        json={"fields": {"token": rotated_value}})
    assert rotated.status_code == 200, rotated.text
    refused = owner.post(workflows_url(owner), json={"name": "W", "graph": _holding(rotated_value)})
    assert "'Fresh'" in problem(refused)["detail"] and rotated_value not in refused.text
    saved = update(owner, existing["id"], graph=_holding(new_value))  # the old value is just text now
    assert saved["version"] == 2

    deleted = owner.delete(f"/api/v1/workspaces/{owner.workspace_id}/secrets/{secret_id}")
    assert deleted.status_code == 204, deleted.text
    assert update(owner, existing["id"], graph=_holding(rotated_value))["version"] == 3
    assert hardcoded.INDEXES.builds == builds, "refreshed for the changed secret, never rebuilt from all"


def test_opening_a_workflow_builds_the_index_in_the_background_and_the_save_waits_for_that_build(
    signup: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a restart the process has no index: opening a workflow (as the editor does) starts its
    build, and a save that comes before the build ends waits for it instead of building its own."""
    owner: Actor = signup("owner@example.com")
    value = "warm-token-value-0003"
    secret(owner, "http_bearer", "Warm", token=value)
    existing = create(owner, chain(trigger()), name="Existing")
    hardcoded.INDEXES.clear()  # as after a restart
    built: list[str] = []
    build = hardcoded._build

    def slow_build(*args: Any) -> Any:
        time.sleep(0.5)  # a large workspace's build: the save below arrives while it runs
        built.append(args[2])
        return build(*args)

    monkeypatch.setattr(hardcoded, "_build", slow_build)
    assert owner.get(workflows_url(owner, f"/{existing['id']}")).status_code == 200
    assert owner.workspace_id in hardcoded.INDEXES.warming, "the opening started the build"
    refused = owner.put(workflows_url(owner, f"/{existing['id']}"), json={"graph": _holding(value)})
    assert "'Warm'" in problem(refused)["detail"] and value not in refused.text
    assert built == [owner.workspace_id], "one build, started by the opening"
    assert owner.get(workflows_url(owner, f"/{existing['id']}")).status_code == 200
    assert update(owner, existing["id"], graph=chain(trigger()))["version"] == 2
    assert built == [owner.workspace_id], "an index already held is not built again"


def test_a_background_build_that_fails_leaves_the_check_to_the_save(
    signup: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    owner: Actor = signup("owner@example.com")
    value = "warm-token-value-0004"
    secret(owner, "http_bearer", "Warm", token=value)
    existing = create(owner, chain(trigger()), name="Existing")
    hardcoded.INDEXES.clear()
    build, calls = hardcoded._build, []

    def failing_once(*args: Any) -> Any:
        calls.append(args[2])
        if len(calls) == 1:
            time.sleep(0.2)
            raise RuntimeError("the database went away")
        return build(*args)

    monkeypatch.setattr(hardcoded, "_build", failing_once)
    with caplog.at_level("WARNING", logger="flowvault.workflows"):
        assert owner.get(workflows_url(owner, f"/{existing['id']}")).status_code == 200
        refused = owner.put(workflows_url(owner, f"/{existing['id']}"), json={"graph": _holding(value)})
    assert "'Warm'" in problem(refused)["detail"], "the save built the index itself and found the value"
    assert calls == [owner.workspace_id] * 2
    assert "building the secrets index" in caplog.text and "RuntimeError" in caplog.text and value not in caplog.text


def test_a_viewer_opening_a_workflow_builds_nothing(signup: Any) -> None:
    owner: Actor = signup("owner@example.com")
    existing = create(owner, chain(trigger()), name="Existing")
    viewer: Actor = signup("viewer@example.com")
    join(owner, owner.workspace_id, viewer, "viewer")
    hardcoded.INDEXES.clear()
    assert viewer.get(workflows_url(owner, f"/{existing['id']}")).status_code == 200
    assert hardcoded.INDEXES.get(owner.workspace_id) is None and not hardcoded.INDEXES.warming


def _wait_for_index(workspace_id: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while hardcoded.INDEXES.get(workspace_id) is None:
        assert time.monotonic() < deadline, "the index was not built in the background"
        time.sleep(0.02)


def test_a_restart_builds_the_indexes_of_the_workspaces_saved_last_in_the_background(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with TestClient(create_app(settings)) as first:
        older, latest, oldest = (sign_up(first, f"{who}@example.com") for who in ("older", "latest", "oldest"))
        for actor, value in ((oldest, "oldest-token-value-01"), (older, "older-token-value-002"),
                             (latest, "latest-token-value-03")):
            secret(actor, "http_bearer", "Start", token=value)
            create(actor, chain(trigger()), name="Existing")
    hardcoded.INDEXES.clear()  # a restart: this process holds no index
    built: list[str] = []
    build = hardcoded._build

    def recorded(*args: Any) -> Any:
        built.append(args[2])
        return build(*args)

    monkeypatch.setattr(hardcoded, "_build", recorded)
    with TestClient(create_app(settings.model_copy(update={"index_warm_workspaces": 2}))) as second:
        _wait_for_index(latest.workspace_id)
        assert built == [older.workspace_id, latest.workspace_id], "the two saved last, the latest last"
        latest.client = second
        refused = latest.post(workflows_url(latest), json={"name": "W", "graph": _holding("latest-token-value-03")})
        assert "'Start'" in problem(refused)["detail"]
        assert built == [older.workspace_id, latest.workspace_id], "the save used the index built at the start"
    hardcoded.INDEXES.clear()
    with TestClient(create_app(settings.model_copy(update={"index_warm_workspaces": 0}))) as third:
        assert third.get("/api/v1/health").status_code == 200
        time.sleep(0.3)  # what a start with warming on needs to begin a build of these small workspaces
    assert built == [older.workspace_id, latest.workspace_id] and len(hardcoded.INDEXES) == 0, "0 turns it off"


# --- another process: its own cache, its own engine and vault --------------------------------------------------------


class OtherProcess:
    """What a second server process does on save, with its own index cache, engine and vault."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cache = IndexCache()

    def run(self, work: Callable[[AsyncSession, Vault], Awaitable[T]]) -> T:
        async def main() -> T:
            engine = make_engine(self.settings.resolved_database_url)
            try:
                vault = Vault(keyring=load_keyring(self.settings))
                async with make_sessionmaker(engine)() as session:
                    return await work(session, vault)
            finally:
                await engine.dispose()

        # On a thread of its own: this thread may already run an event loop (the web tests' Playwright).
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, main()).result()

    def check(self, workspace_id: str, value: str) -> ValidationFailed | None:
        graph = Graph.model_validate(_holding(value))
        return self.run(lambda session, vault: check_workflow(
            session, vault=vault, workspace_id=workspace_id, workflow_name="W", graph=graph, cache=self.cache))


def test_another_process_sees_changes_made_here_and_refreshes_only_them(
    client: TestClient, signup: Any, settings: Settings
) -> None:
    owner: Actor = signup("owner@example.com")
    ws = owner.workspace_id
    first = "first-token-value-0001"
    first_id = secret(owner, "http_bearer", "First", token=first)
    other = OtherProcess(settings)
    found = other.check(ws, first)
    assert found is not None and "'First'" in found.detail
    assert (other.cache.builds, other.cache.refreshes) == (1, 0)

    second = "second-token-value-0002"
    secret(owner, "slack_token", "Second", token=second)
    found = other.check(ws, second)
    assert found is not None and "'Second'" in found.detail
    assert (other.cache.builds, other.cache.refreshes) == (1, 1)

    rotated = "first-rotated-value-0003"
    response = owner.put(f"/api/v1/workspaces/{ws}/secrets/{first_id}/value", json={"fields": {"token": rotated}})
    assert response.status_code == 200, response.text
    assert other.check(ws, first) is None
    found = other.check(ws, rotated)
    assert found is not None and "'First'" in found.detail
    assert (other.cache.builds, other.cache.refreshes) == (1, 2)

    assert owner.delete(f"/api/v1/workspaces/{ws}/secrets/{first_id}").status_code == 204
    assert other.check(ws, rotated) is None
    assert other.check(ws, "nothing-secret-here") is None
    assert (other.cache.builds, other.cache.refreshes) == (1, 3), "an unchanged version reads nothing"


def test_a_gap_in_the_change_log_rebuilds_from_every_secret(
    client: TestClient, signup: Any, settings: Settings
) -> None:
    owner: Actor = signup("owner@example.com")
    ws = owner.workspace_id
    other = OtherProcess(settings)
    assert other.check(ws, "no-secret-yet-0000") is None
    value = "after-the-gap-0001"
    secret(owner, "http_bearer", "Gap", token=value)
    engine = create_engine(sync_url(settings.resolved_database_url))
    try:
        with engine.begin() as connection:  # pruned log, or a bulk change that bumped the version only
            connection.execute(delete(SecretChange).where(SecretChange.workspace_id == ws))
            connection.execute(sa.update(Workspace).where(Workspace.id == ws).values(
                secrets_version=Workspace.secrets_version + 1))
    finally:
        engine.dispose()
    found = other.check(ws, value)
    assert found is not None and "'Gap'" in found.detail
    assert (other.cache.builds, other.cache.refreshes) == (2, 0)


def test_every_change_bumps_the_version_and_logs_the_secret(
    client: TestClient, signup: Any, settings: Settings
) -> None:
    owner: Actor = signup("owner@example.com")
    ws = owner.workspace_id
    other = OtherProcess(settings)

    def state() -> tuple[int, set[str] | None]:
        async def read(session: AsyncSession, _vault: Vault) -> tuple[int, set[str] | None]:
            version = await secrets_service.secrets_version(session, workspace_id=ws)
            return version, await secrets_service.secrets_changed_since(
                session, workspace_id=ws, after=0, upto=version)
        return other.run(read)

    assert state() == (0, set())
    secret_id = secret(owner, "http_bearer", "One", token="one-token-value-1")
    assert state() == (1, {secret_id})
    assert owner.put(f"/api/v1/workspaces/{ws}/secrets/{secret_id}/value",
                     json={"fields": {"token": "one-token-value-2"}}).status_code == 200
    assert owner.delete(f"/api/v1/workspaces/{ws}/secrets/{secret_id}").status_code == 204
    assert state() == (3, {secret_id})
    refused = owner.post(f"/api/v1/workspaces/{ws}/secrets", json={"type": "http_bearer", "name": "x",
                                                                   "fields": {"token": "short"}})
    assert refused.status_code == 422
    assert state()[0] == 3, "a refused change bumps nothing"


def test_a_sealed_field_that_does_not_open_fails_the_build_and_caches_nothing(
    client: TestClient, signup: Any, settings: Settings
) -> None:
    owner: Actor = signup("owner@example.com")
    secret_id = secret(owner, "http_bearer", "Broken", token="broken-token-value-1")
    engine = create_engine(sync_url(settings.resolved_database_url))
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE sealed_fields SET ciphertext = :blob WHERE secret_id = :sid"),
                               {"blob": b"\x01" + bytes(40), "sid": secret_id})
    finally:
        engine.dispose()
    other = OtherProcess(settings)
    with pytest.raises(DecryptionError):
        other.check(owner.workspace_id, "anything-at-all-1")
    assert len(other.cache) == 0


def test_the_cache_keeps_a_bounded_number_of_workspaces_for_a_bounded_time() -> None:
    now = [0.0]
    cache = IndexCache(max_workspaces=2, idle_seconds=10, clock=lambda: now[0])
    for ws in ("a", "b", "c"):
        cache.put(ws, hardcoded._Entry(version=1, index=SecretIndex(), used_at=now[0]))
    assert cache.get("a") is None and cache.get("b") is not None and cache.get("c") is not None
    now[0] = 10.0
    assert cache.get("b") is None and len(cache) == 1

    sized = IndexCache(max_workspaces=4, max_secrets=3, clock=lambda: 0.0)
    for ws, count in (("a", 1), ("b", 2), ("c", 1), ("d", 5)):
        index = SecretIndex()
        for number in range(count):
            index.add(f"{ws}{number}", "name", [f"value-{ws}-{number:08d}"])
        sized.put(ws, hardcoded._Entry(version=1, index=index, used_at=0.0))
        if ws == "c":
            assert sized.get("a") is None and sized.get("b") is not None, "a went first: 4 secrets > 3"
    assert [ws for ws in "abcd" if sized.get(ws) is not None] == ["d"], "the latest is kept, whatever its size"


# --- the "used by" index: O(the workflow's nodes) --------------------------------------------------------------------


def test_a_save_rewrites_its_usage_rows_through_an_index(settings: Settings) -> None:
    if not settings.is_sqlite:
        pytest.skip("the query plan is read from SQLite")
    engine = create_engine(sync_url(settings.resolved_database_url))
    try:
        with engine.connect() as connection:
            plan = " ".join(str(row[-1]) for row in connection.execute(
                text("EXPLAIN QUERY PLAN DELETE FROM secret_usages WHERE workflow_id = 'x'")))
            page = " ".join(str(row[-1]) for row in connection.execute(text(
                "EXPLAIN QUERY PLAN SELECT id FROM secrets WHERE workspace_id = 'w' AND (type, name) > ('a', 'b') "
                "ORDER BY type, name LIMIT 101")))
            counts = " ".join(str(row[-1]) for row in connection.execute(text(
                "EXPLAIN QUERY PLAN SELECT secret_id, count(*) FROM secret_usages WHERE secret_id IN ('a', 'b') "
                "GROUP BY secret_id")))
    finally:
        engine.dispose()
    assert "ix_secret_usages_workflow_id" in plan, plan
    assert "USING INDEX" in page and "TEMP B-TREE" not in page, page
    assert "SEARCH secret_usages" in counts, counts


def test_saving_one_workflow_leaves_the_others_usage_rows_alone(signup: Any) -> None:
    owner: Actor = signup("owner@example.com")
    bearer = secret(owner, "http_bearer", "Api", token="api-token-value-01")
    graph = chain(trigger(), {"id": "h", "type": "http_request", "name": "Call", "config": {
        "method": "GET", "url": "https://api.example.com", "auth": "bearer", "credential_id": bearer}})
    ids = [create(owner, graph, name=f"W{n}")["id"] for n in range(3)]
    update(owner, ids[0], graph=chain(trigger()))
    detail = owner.get(f"/api/v1/workspaces/{owner.workspace_id}/secrets/{bearer}").json()
    assert sorted(u["workflow_name"] for u in detail["used_by"]) == ["W1", "W2"]


def test_a_save_and_a_list_page_scan_no_table_whole(client: TestClient, signup: Any, settings: Settings) -> None:
    """Every statement of a workflow save (with the index current) and of a secret list page, as SQLite plans
    it: none reads a whole table of secrets, sealed fields, usage rows or workflows (O(secrets) or
    O(workflows) per request); each finds its rows through a key."""
    if not settings.is_sqlite:
        pytest.skip("the query plans are read from SQLite")
    owner: Actor = signup("owner@example.com")
    bearer = secret(owner, "http_bearer", "Api", token="api-token-value-01")
    secret(owner, "http_bearer", "Api 2", token="api-token-value-02")
    secret(owner, "http_basic", "Basic", username="u", password="api-basic-value-03")
    graph = chain(trigger(), {"id": "h", "type": "http_request", "name": "Call", "config": {
        "method": "GET", "url": "https://api.example.com", "auth": "bearer", "credential_id": bearer,
        "headers": {"X-Other": "{{secrets.Api}}"}}})
    workflow = create(owner, graph, name="Saved")
    create(owner, graph, name="Other")
    update(owner, workflow["id"], name="Warm")  # the index of the workspace is current from here

    engine = client.app.state.flowvault.engine.sync_engine  # type: ignore[attr-defined]
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        statements.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        update(owner, workflow["id"], name="Measured", graph=graph)
        page = owner.get(f"/api/v1/workspaces/{owner.workspace_id}/secrets", params={"limit": 1}).json()
        for params in ({"node_type": "http_request"}, {"type": "http_bearer"}, {}):
            owner.get(f"/api/v1/workspaces/{owner.workspace_id}/secrets",
                      params={"limit": 1, "cursor": page["next_cursor"], **params})
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    big = ("secrets", "sealed_fields", "secret_usages", "workflows", "secret_changes", "workflow_changes")
    sync = create_engine(sync_url(settings.resolved_database_url))
    checked = 0
    try:
        with sync.connect() as connection:
            for statement, parameters in statements:
                if not statement.lstrip().upper().startswith(("SELECT", "DELETE", "UPDATE")):
                    continue
                plan = [str(row[-1]) for row in connection.exec_driver_sql(
                    f"EXPLAIN QUERY PLAN {statement}", tuple(parameters) if parameters else ())]
                checked += 1
                for step in plan:
                    words = step.split()
                    if words[:1] == ["SCAN"] and len(words) > 1:
                        assert words[1] not in big, (statement, plan)
                    assert not ("TEMP B-TREE" in step and "ORDER BY" in step), (statement, plan)  # a sort of all
    finally:
        sync.dispose()
    assert checked >= 8, statements
