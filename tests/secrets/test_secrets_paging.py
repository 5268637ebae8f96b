"""The secret list is paged by an opaque keyset cursor: ``limit`` secrets per page ordered by (type, name),
``next_cursor`` until the last page; filters keep working across pages; the "used by" counts are the
page's secrets' own."""

from __future__ import annotations

from typing import Any

from tests.conftest import Actor


def _url(actor: Actor, rest: str = "") -> str:
    return f"/api/v1/workspaces/{actor.workspace_id}/secrets{rest}"


def _create(actor: Actor, type_key: str, name: str, **fields: str) -> str:
    response = actor.post(_url(actor), json={"type": type_key, "name": name, "fields": fields})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _pages(actor: Actor, **params: Any) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    for _ in range(50):  # bounded: a cursor that never ends fails the test instead of hanging it
        response = actor.get(_url(actor), params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("the cursor never reached the last page")


def _seed(owner: Actor) -> dict[str, str]:
    ids = {}
    for number in range(5):
        ids[f"bearer {number}"] = _create(owner, "http_bearer", f"Bearer {number}", token=f"bearer-token-{number:04d}")
    for number in range(3):
        ids[f"slack {number}"] = _create(owner, "slack_token", f"Slack {number}", token=f"xoxb-slack-{number:06d}")
    ids["basic"] = _create(owner, "http_basic", "Staging", username="deploy", password="basic-password-1")
    return ids


def test_pages_cover_every_secret_once_in_type_then_name_order(signup: Any) -> None:
    owner: Actor = signup("o@example.com")
    ids = _seed(owner)
    pages = _pages(owner, limit=2)
    assert [len(page) for page in pages] == [2, 2, 2, 2, 1]
    listed = [item for page in pages for item in page]
    assert sorted(item["id"] for item in listed) == sorted(ids.values())
    assert [(i["type"], i["name"]) for i in listed] == sorted((i["type"], i["name"]) for i in listed)
    # The default page holds them all here; one exactly full page still says it is the last.
    everything = owner.get(_url(owner)).json()
    assert [i["id"] for i in everything["items"]] == [i["id"] for i in listed]
    assert everything["next_cursor"] is None
    assert [len(page) for page in _pages(owner, limit=9)] == [9]


def test_filters_apply_on_every_page(signup: Any) -> None:
    owner: Actor = signup("o@example.com")
    ids = _seed(owner)
    bearer_pages = _pages(owner, type="http_bearer", limit=2)
    assert [len(page) for page in bearer_pages] == [2, 2, 1]
    assert [i["name"] for page in bearer_pages for i in page] == [f"Bearer {n}" for n in range(5)]
    http_pages = _pages(owner, node_type="http_request", limit=4)
    http_ids = {i["id"] for page in http_pages for i in page}
    assert http_ids == {ids[f"bearer {n}"] for n in range(5)} | {ids["basic"]}
    assert [i["name"] for page in _pages(owner, node_type="slack", limit=1) for i in page] == [
        "Slack 0", "Slack 1", "Slack 2"]


def test_a_secret_created_between_pages_neither_repeats_nor_shifts_the_rest(signup: Any) -> None:
    owner: Actor = signup("o@example.com")
    ids = _seed(owner)
    first = owner.get(_url(owner), params={"type": "http_bearer", "limit": 2}).json()
    assert [i["name"] for i in first["items"]] == ["Bearer 0", "Bearer 1"]
    _create(owner, "http_bearer", "Bearer 00", token="bearer-token-extra")  # sorts before the cursor
    late = _create(owner, "http_bearer", "Bearer 9", token="bearer-token-late")  # after it
    rest = owner.get(_url(owner), params={"type": "http_bearer", "limit": 10, "cursor": first["next_cursor"]})
    assert [i["id"] for i in rest.json()["items"]] == [ids["bearer 2"], ids["bearer 3"], ids["bearer 4"], late]


def test_used_by_counts_are_per_secret_on_each_page(signup: Any) -> None:
    owner: Actor = signup("o@example.com")
    ids = _seed(owner)
    ws = f"/api/v1/workspaces/{owner.workspace_id}/workflows"
    for name in ("One", "Two"):
        graph = {"nodes": [{"id": "t", "type": "manual_trigger", "name": "Start", "config": {}},
                           {"id": "a", "type": "http_request", "name": "A", "config": {
                               "method": "GET", "url": "https://api.example.com", "auth": "bearer",
                               "credential_id": ids["bearer 3"]}},
                           {"id": "b", "type": "http_request", "name": "B", "config": {
                               "method": "GET", "url": "https://api.example.com", "auth": "bearer",
                               "credential_id": ids["bearer 3"]}}],
                 "edges": [{"source": "t", "target": "a"}, {"source": "a", "target": "b"}]}
        response = owner.post(ws, json={"name": name, "graph": graph})
        assert response.status_code == 201, response.text
    counts = {i["id"]: (i["used_by_count"], i["used_by_workflow_count"])
              for page in _pages(owner, limit=3) for i in page}
    assert counts.pop(ids["bearer 3"]) == (4, 2)
    assert set(counts.values()) == {(0, 0)}


def test_a_bad_cursor_or_limit_is_a_422(signup: Any) -> None:
    owner: Actor = signup("o@example.com")
    _seed(owner)
    for cursor in ("not-a-cursor", "e30", "WyJhIl0", "WzEsMl0"):  # garbage, {}, ["a"], [1,2]
        response = owner.get(_url(owner), params={"cursor": cursor})
        assert response.status_code == 422, (cursor, response.text)
        assert response.json()["field"] == "cursor", response.text
    for limit in (0, 501):
        assert owner.get(_url(owner), params={"limit": limit}).status_code == 422
    assert len(owner.get(_url(owner), params={"limit": 500}).json()["items"]) == 9


def test_another_workspace_cursor_lists_only_this_workspace(signup: Any) -> None:
    owner: Actor = signup("o@example.com")
    other: Actor = signup("p@example.com")
    _seed(owner)
    mine = _create(other, "http_bearer", "Zed", token="bearer-token-zed1")
    cursor = owner.get(_url(owner), params={"limit": 1}).json()["next_cursor"]
    listed = other.get(_url(other), params={"cursor": cursor}).json()["items"]
    assert [i["id"] for i in listed] == [mine]
