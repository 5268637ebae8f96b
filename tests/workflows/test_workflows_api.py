"""Workflows through the HTTP API (SPEC §4, §11): CRUD and roles, optimistic versions, validation that
names node and field, "no hardcoded tokens", change history, the secrets' "used by" index, export."""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.conftest import Actor, join
from tests.workflows.conftest import (
    chain,
    changes,
    create,
    edge,
    formatter,
    http,
    problem,
    run_and_wait,
    secret,
    secret_detail,
    slack,
    trigger,
    update,
    used_by,
    workflows_url,
)

BEARER = "bearer-canary-7f3a9c1e5d"
SLACK_TOKEN = "xoxb-canary-2b8e4d6f0a"
PASSWORD = "basic-pw-canary-91c0"


def _ws(actor: Actor, rest: str) -> str:
    return f"/api/v1/workspaces/{actor.workspace_id}{rest}"


# --- create / read / list / update / delete, roles, versions -------------------------------------------------------


def test_create_get_list_update_delete(signup: Any) -> None:
    owner: Actor = signup("owner@example.com")
    graph = chain(trigger(), formatter("f", "Shout", "{{trigger.text}}"))
    graph["nodes"][1]["position"] = {"x": 240, "y": 80}
    created = create(owner, graph, name="  Shouter  ")
    assert created["name"] == "Shouter" and created["enabled"] is True and created["version"] == 1
    assert [n["id"] for n in created["graph"]["nodes"]] == ["t", "f"]
    assert created["graph"]["nodes"][1]["position"] == {"x": 240, "y": 80}
    assert created["graph"]["nodes"][0]["position"] == {"x": 0, "y": 0}
    assert created["graph"]["edges"] == [{"source": "t", "target": "f", "source_handle": None}]

    fetched = owner.get(workflows_url(owner, f"/{created['id']}"))
    assert fetched.status_code == 200 and fetched.json() == created

    other = create(owner, chain(trigger()), name="Second")
    listed = {w["id"]: w for w in owner.get(workflows_url(owner)).json()["items"]}
    assert set(listed) == {created["id"], other["id"]}
    assert listed[created["id"]]["node_count"] == 2 and listed[created["id"]]["name"] == "Shouter"

    renamed = update(owner, created["id"], name="Loud", version=1)
    assert renamed["name"] == "Loud" and renamed["version"] == 2 and renamed["graph"] == created["graph"]
    regraphed = update(owner, created["id"], graph=chain(trigger()), version=2)
    assert regraphed["version"] == 3 and len(regraphed["graph"]["nodes"]) == 1
    disabled = update(owner, created["id"], enabled=False)
    assert disabled["enabled"] is False and disabled["version"] == 4
    assert owner.get(workflows_url(owner, f"/{created['id']}")).json()["version"] == 4

    assert owner.delete(workflows_url(owner, f"/{created['id']}")).status_code == 204
    gone = owner.get(workflows_url(owner, f"/{created['id']}"))
    assert problem(gone, 404)["detail"].startswith("Workflow not found")
    assert [w["id"] for w in owner.get(workflows_url(owner)).json()["items"]] == [other["id"]]
    problem(owner.put(workflows_url(owner, f"/{created['id']}"), json={"name": "x"}), 404)
    problem(owner.delete(workflows_url(owner, f"/{created['id']}")), 404)


def test_stale_version_is_refused_with_409_saying_reload(signup: Any) -> None:
    owner: Actor = signup("owner@example.com")
    workflow = create(owner, chain(trigger(), formatter("f", "Shout")))
    update(owner, workflow["id"], name="Someone else's edit", version=1)
    stale = owner.put(workflows_url(owner, f"/{workflow['id']}"),
                      json={"name": "My edit", "graph": chain(trigger()), "version": 1})
    body = problem(stale, 409)
    assert "reload" in body["detail"].lower() and "version 2" in body["detail"]
    current = owner.get(workflows_url(owner, f"/{workflow['id']}")).json()
    assert current["name"] == "Someone else's edit" and current["version"] == 2 and len(current["graph"]["nodes"]) == 2
    assert len(changes(owner, workflow["id"])) == 2, "a refused save records no change"
    assert update(owner, workflow["id"], name="My edit", version=2)["version"] == 3
    problem(owner.put(workflows_url(owner, f"/{workflow['id']}"), json={"name": "ahead", "version": 7}), 409)


def test_roles_viewer_reads_only_user_edits_only_managers_delete(signup: Any) -> None:
    owner: Actor = signup("owner@example.com")
    admin: Actor = signup("admin@example.com")
    user: Actor = signup("user@example.com")
    viewer: Actor = signup("viewer@example.com")
    outsider: Actor = signup("outsider@example.com")
    ws = owner.workspace_id
    for member, role in ((admin, "admin"), (user, "user"), (viewer, "viewer")):
        join(owner, ws, member, role)
    body = {"name": "Team flow", "graph": chain(trigger(), formatter("f", "Shout"))}

    refused = problem(viewer.post(workflows_url(viewer, ws=ws), json=body), 403)
    assert "viewer" in refused["detail"].lower()
    made = user.post(workflows_url(user, ws=ws), json=body)
    assert made.status_code == 201, made.text
    workflow_id = made.json()["id"]

    assert viewer.get(workflows_url(viewer, f"/{workflow_id}", ws=ws)).status_code == 200
    assert [w["id"] for w in viewer.get(workflows_url(viewer, ws=ws)).json()["items"]] == [workflow_id]
    problem(viewer.put(workflows_url(viewer, f"/{workflow_id}", ws=ws), json={"name": "Viewer's"}), 403)
    assert user.put(workflows_url(user, f"/{workflow_id}", ws=ws), json={"name": "User's"}).status_code == 200
    problem(viewer.delete(workflows_url(viewer, f"/{workflow_id}", ws=ws)), 403)
    problem(user.delete(workflows_url(user, f"/{workflow_id}", ws=ws)), 403)
    problem(outsider.get(workflows_url(outsider, f"/{workflow_id}", ws=ws)), 404)
    problem(outsider.get(workflows_url(outsider, ws=ws)), 404)
    problem(outsider.delete(workflows_url(outsider, f"/{workflow_id}", ws=ws)), 404)
    # The workflow id is no key to another workspace: through the outsider's own workspace it is not found.
    problem(outsider.get(workflows_url(outsider, f"/{workflow_id}")), 404)
    still = owner.get(workflows_url(owner, f"/{workflow_id}", ws=ws)).json()
    assert still["name"] == "User's" and still["version"] == 2

    assert admin.delete(workflows_url(admin, f"/{workflow_id}", ws=ws)).status_code == 204
    assert owner.get(workflows_url(owner, ws=ws)).json()["items"] == []
    second = create(owner, chain(trigger()), name="Owner's")
    assert owner.delete(workflows_url(owner, f"/{second['id']}")).status_code == 204


# --- validation: 422 problem+json naming node and field; a refused save writes nothing ------------------------------


def _invalid_graphs(own: dict[str, str], foreign_slack: str) -> list[tuple[str, dict[str, Any], str, str | None, str]]:
    """(case, graph, field, node_id, words in detail); the node's name is checked separately."""
    cond = {"id": "c", "type": "condition", "name": "Is big",
            "config": {"left": "{{trigger.n}}", "operator": "greater", "right": 3}}
    return [
        ("unknown node type",
         chain(trigger(), {"id": "x", "type": "no_such_node", "name": "Mystery", "config": {}}),
         "graph.nodes.type", "x", "unknown node type 'no_such_node'"),
        ("dangling edge",
         {"nodes": [trigger(), formatter("f", "Shout")], "edges": [edge("t", "f"), edge("f", "ghost")]},
         "graph.edges", "ghost", "'ghost'"),
        ("cycle",
         {"nodes": [trigger(), formatter("a", "First"), formatter("b", "Second")],
          "edges": [edge("t", "a"), edge("a", "b"), edge("b", "a")]},
         "graph.edges", None, "cycle"),
        ("missing required field",
         chain(trigger(), {"id": "s", "type": "slack", "name": "Notify", "config": {"text": "hi"}}),
         "config.channel", "s", "'channel' is required"),
        ("field that is not a setting",
         chain(trigger(), slack(colour="red", credential_id=own["slack"])),
         "config.colour", "s", "not a setting of a Slack node"),
        ("slack token on a bearer HTTP node",
         chain(trigger(), http(auth="bearer", credential_id=own["slack"])),
         "config.credential_id", "h", "Team Slack"),
        ("bearer token on a basic-auth HTTP node",
         chain(trigger(), http(auth="basic", credential_id=own["bearer"])),
         "config.credential_id", "h", "Echo API"),
        ("credential of another workspace",
         chain(trigger(), slack(credential_id=foreign_slack)),
         "config.credential_id", "s", "does not exist in this workspace"),
        ("credential id that does not exist",
         chain(trigger(), slack(credential_id="00000000-0000-0000-0000-000000000000")),
         "config.credential_id", "s", "does not exist in this workspace"),
        ("two triggers",
         {"nodes": [trigger(), trigger("t2", "Again"), formatter("f", "Shout")], "edges": [edge("t", "f")]},
         "graph.nodes.type", "t2", "one trigger"),
        ("duplicate node names",
         chain(trigger(), formatter("a", "Shout"), formatter("b", "shout ")),
         "graph.nodes.name", "b", "names must differ"),
        ("names equal once spaces become underscores",
         chain(trigger(), formatter("a", "Load data"), formatter("b", "load_data")),
         "graph.nodes.name", "b", "names must differ"),
        ("node named like a template root",
         chain(trigger(), formatter("a", "Secrets")),
         "graph.nodes.name", "a", "reserved"),
        ("condition edge without a branch",
         {"nodes": [trigger(), cond, formatter("f", "Shout")], "edges": [edge("t", "c"), edge("c", "f")]},
         "graph.edges.source_handle", "c", "true, false"),
        ("condition edge from a branch that does not exist",
         {"nodes": [trigger(), cond, formatter("f", "Shout")], "edges": [edge("t", "c"), edge("c", "f", "maybe")]},
         "graph.edges.source_handle", "c", "true, false"),
        ("branch on a node without branches",
         {"nodes": [trigger(), formatter("f", "Shout")], "edges": [edge("t", "f", "true")]},
         "graph.edges.source_handle", "t", "no output named 'true'"),
        ("edge into the trigger",
         {"nodes": [trigger(), formatter("f", "Shout")], "edges": [edge("t", "f"), edge("f", "t")]},
         "graph.edges.target", "t", "incoming"),
        ("secret template in a Slack message",
         chain(trigger(), slack(text="token is {{secrets.Echo API}}", credential_id=own["slack"])),
         "config.text", "s", "{{secrets.Echo API}}"),
        ("secret template outside the HTTP fields that allow it",
         chain(trigger(), http(username="{{secrets.Echo API}}")),
         "config.username", "h", "{{secrets.Echo API}}"),
        ("secret template naming no secret",
         chain(trigger(), http(headers={"X-Key": "{{secrets.Missing}}"})),
         "config", "h", "'Missing'"),
        ("secret template naming a non-HTTP secret",
         chain(trigger(), http(headers={"X-Key": "{{secrets.Team Slack}}"})),
         "config", "h", "'Team Slack'"),
        ("malformed reference",
         chain(trigger(), formatter("f", "Shout", "{{ [0] }}")),
         "config.value", "f", "not a reference"),
        ("auth mode without a credential",
         chain(trigger(), http(auth="bearer")),
         "config", "h", "needs a credential"),
    ]


def test_invalid_graphs_are_refused_naming_node_and_field_and_nothing_is_written(signup: Any) -> None:
    owner: Actor = signup("owner@example.com")
    stranger: Actor = signup("stranger@example.com")
    own = {"bearer": secret(owner, "http_bearer", "Echo API", token=BEARER),
           "slack": secret(owner, "slack_token", "Team Slack", token=SLACK_TOKEN)}
    foreign_slack = secret(stranger, "slack_token", "Their Slack", token="xoxb-their-token-000")
    good = create(owner, chain(trigger(), slack(credential_id=own["slack"])), name="Good")

    for case, graph, field, node_id, words in _invalid_graphs(own, foreign_slack):
        names = {n["id"]: n["name"] for n in graph["nodes"]}
        for response in (
            owner.post(workflows_url(owner), json={"name": f"Bad: {case}", "graph": graph}),
            owner.put(workflows_url(owner, f"/{good['id']}"), json={"name": "Renamed", "graph": graph, "version": 1}),
        ):
            body = problem(response)
            assert body["field"] == field, (case, body)
            assert words.lower() in body["detail"].lower(), (case, body)
            if node_id is not None:
                assert body["node_id"] == node_id, (case, body)
            named = names.get(body["node_id"], body["node_id"])
            assert f"'{named}'" in body["detail"], (case, body)
            assert BEARER not in response.text and SLACK_TOKEN not in response.text

    assert [w["name"] for w in owner.get(workflows_url(owner)).json()["items"]] == ["Good"]
    current = owner.get(workflows_url(owner, f"/{good['id']}")).json()
    assert current["version"] == 1 and current["name"] == "Good"
    assert [c["version"] for c in changes(owner)] == [1]
    assert used_by(owner, own["slack"]) == [("Good", "Notify")]
    assert used_by(owner, own["bearer"]) == []
    assert stranger.get(_ws(stranger, f"/secrets/{foreign_slack}")).json()["used_by"] == []


def test_request_shape_errors_are_problems_too(signup: Any) -> None:
    owner: Actor = signup("owner@example.com")
    cases = [
        ({"name": "x", "graph": {"nodes": [{"id": "t", "type": "manual_trigger", "name": "Start", "extra": 1}]}},
         "graph.nodes.0.extra"),
        ({"name": "", "graph": {"nodes": []}}, "name"),
        ({"name": "x", "graph": {"nodes": [{"id": "t", "type": "manual_trigger"}]}}, "graph.nodes.0.name"),
    ]
    for body, field in cases:
        assert problem(owner.post(workflows_url(owner), json=body))["field"] == field, body


def test_templates_in_typed_fields_are_accepted_at_save_and_checked_at_run_time(signup: Any) -> None:
    owner: Actor = signup("owner@example.com")
    sendgrid_key = secret(owner, "sendgrid_api_key", "Mail", api_key="SG.canary-sendgrid-key")
    graph = {
        "nodes": [
            trigger(),
            {"id": "c", "type": "condition", "name": "Is big",
             "config": {"left": "{{trigger.n}}", "operator": "greater", "right": "{{trigger.limit}}"}},
            http(timeout_ms="{{trigger.t}}", follow_redirects="{{trigger.follow}}", method="{{trigger.method}}"),
            {"id": "m", "type": "sendgrid", "name": "Mail",
             "config": {"from_email": "{{trigger.sender}}", "to": ["{{trigger.email}}"], "subject": "Hi",
                        "text": "Hello {{trigger.name}}", "credential_id": sendgrid_key}},
            {"id": "d", "type": "delay", "name": "Wait", "config": {"seconds": "{{trigger.wait}}"}},
        ],
        "edges": [edge("t", "c"), edge("c", "h", "true"), edge("c", "m", "false"), edge("t", "d")],
    }
    saved = create(owner, graph)
    assert saved["graph"]["nodes"][2]["config"]["timeout_ms"] == "{{trigger.t}}"

    waits = create(owner, chain(trigger(), {"id": "d", "type": "delay", "name": "Wait",
                                            "config": {"seconds": "{{trigger.wait}}"}}), name="Waits")
    assert run_and_wait(owner, waits["id"], {"wait": 0})["status"] == "succeeded"
    failed = run_and_wait(owner, waits["id"], {"wait": "soon"})
    assert failed["status"] == "failed" and "Node 'Wait' failed" in failed["error"], failed


# --- "no hardcoded tokens" ------------------------------------------------------------------------------------------


def _hardcoded_cases(bearer_id: str) -> list[tuple[str, str | None, dict[str, Any], str]]:
    """(case, workflow name or None, graph, field)."""
    b64 = base64.b64encode(BEARER.encode()).decode()
    basic = base64.b64encode(f"deploy:{PASSWORD}".encode()).decode()
    return [
        ("bearer header", None, chain(trigger(), http(headers={"Authorization": f"Bearer {BEARER}"})),
         "config.headers"),
        ("base64 of the value", None, chain(trigger(), http(query={"k": b64})), "config.query"),
        ("URL-safe base64 without padding", None,
         chain(trigger(), http(query={"k": base64.urlsafe_b64encode(BEARER.encode()).decode().rstrip("=")})),
         "config.query"),
        ("basic auth header with the password", None,
         chain(trigger(), http(headers={"Authorization": f"Basic {basic}"})), "config.headers"),
        ("nested in a body", None,
         chain(trigger(), http(method="POST", body={"outer": {"list": ["ok", {"deep": f"x{BEARER}y"}]}})),
         "config.body"),
        ("as a header name", None, chain(trigger(), http(headers={BEARER: "value"})), "config.headers"),
        ("in the URL", None, chain(trigger(), http(url=f"https://api.example.com/?key={BEARER}")), "config.url"),
        ("in a slack message", None, chain(trigger(), slack(text=f"token {SLACK_TOKEN}")), "config.text"),
        ("slack token in the channel of an otherwise valid node", None,
         chain(trigger(), slack(channel=SLACK_TOKEN)), "config.channel"),
        ("in a formatter input", None, chain(trigger(), formatter("f", "Shout", [1, {"k": BEARER}])),
         "config.value"),
        ("next to a proper credential", None,
         chain(trigger(), http(auth="bearer", credential_id=bearer_id, headers={"X-Copy": BEARER})),
         "config.headers"),
        ("in a node name", None, chain(trigger(), formatter("f", f"Shout {BEARER}")), "name"),
        ("in the workflow name", f"Flow {BEARER}", chain(trigger()), "name"),
    ]


def test_hardcoded_secret_values_are_refused_without_echoing_them(signup: Any) -> None:
    owner: Actor = signup("owner@example.com")
    bearer_id = secret(owner, "http_bearer", "Echo API", token=BEARER)
    secret(owner, "slack_token", "Team Slack", token=SLACK_TOKEN)
    secret(owner, "http_basic", "Staging", username="deploy", password=PASSWORD)
    existing = create(owner, chain(trigger(), formatter("f", "Shout")), name="Existing")
    b64 = base64.b64encode(BEARER.encode()).decode()
    expected_secret = {"in a slack message": "Team Slack", "slack token in the channel of an otherwise valid node":
                       "Team Slack", "basic auth header with the password": "Staging"}

    for case, name, graph, field in _hardcoded_cases(bearer_id):
        for response in (
            owner.post(workflows_url(owner), json={"name": name or "Hardcoded", "graph": graph}),
            owner.put(workflows_url(owner, f"/{existing['id']}"), json={"name": name or "Existing", "graph": graph}),
        ):
            body = problem(response)
            assert body["field"] == field, (case, body)
            detail = body["detail"]
            assert ("Rename it" if name else "select the credential") in detail, (case, body)
            assert f"'{expected_secret.get(case, 'Echo API')}'" in detail, (case, body)
            if name is None:
                assert body["node_id"] in {n["id"] for n in graph["nodes"]}, (case, body)
            for value in (BEARER, SLACK_TOKEN, PASSWORD, b64):
                assert value not in response.text, (case, response.text)

    assert [w["name"] for w in owner.get(workflows_url(owner)).json()["items"]] == ["Existing"]
    assert owner.get(workflows_url(owner, f"/{existing['id']}")).json()["version"] == 1
    assert len(changes(owner)) == 1


def test_a_refused_save_never_echoes_a_secret_even_when_another_problem_is_found_first(signup: Any) -> None:
    owner: Actor = signup("owner@example.com")
    secret(owner, "http_bearer", "Echo API", token=BEARER)
    graphs = [
        chain(trigger(), {"id": "s", "type": "slack", "name": f"Post {BEARER}", "config": {"text": "no channel"}}),
        chain(trigger(), formatter("a", f"Shout {BEARER}"), formatter("b", f"shout {BEARER}")),
        chain(trigger(), {"id": "x", "type": "no_such_node", "name": f"Mystery {BEARER}", "config": {}}),
        chain(trigger(), {"id": "f", "type": "formatter", "name": "Shout",
                          "config": {"operation": "upper", "value": "x", BEARER: "as a setting's name"}}),
    ]
    for graph in graphs:
        response = owner.post(workflows_url(owner), json={"name": "Leaky", "graph": graph})
        body = problem(response)
        assert BEARER not in response.text, response.text
        assert "'Echo API'" in body["detail"] and body["field"] in ("name", "config"), body


def test_another_workspaces_secret_value_is_not_refused(signup: Any) -> None:
    owner: Actor = signup("owner@example.com")
    stranger: Actor = signup("stranger@example.com")
    secret(stranger, "http_bearer", "Their API", token=BEARER)
    saved = create(owner, chain(trigger(), http(headers={"Authorization": f"Bearer {BEARER}"})))
    assert saved["graph"]["nodes"][1]["config"]["headers"]["Authorization"] == f"Bearer {BEARER}"
    # Once the same value becomes a secret of this workspace, the next save of that workflow is refused.
    secret(owner, "http_bearer", "Now ours", token=BEARER)
    refused = problem(owner.put(workflows_url(owner, f"/{saved['id']}"), json={"name": "Renamed"}))
    assert "'Now ours'" in refused["detail"] and BEARER not in refused["detail"]


def test_a_rotated_away_value_is_no_longer_refused_but_the_new_one_is(signup: Any) -> None:
    owner: Actor = signup("owner@example.com")
    bearer_id = secret(owner, "http_bearer", "Echo API", token=BEARER)
    new_value = "rotated-bearer-5e1d7c"
    rotated = owner.put(_ws(owner, f"/secrets/{bearer_id}/value"), json={"fields": {"token": new_value}})
    assert rotated.status_code == 200
    create(owner, chain(trigger(), http(headers={"X-Old": BEARER})))
    graph = chain(trigger(), http(headers={"X-New": new_value}))
    refused = problem(owner.post(workflows_url(owner), json={"name": "x", "graph": graph}))
    assert refused["field"] == "config.headers" and new_value not in refused["detail"]


# --- change history -------------------------------------------------------------------------------------------------


def test_change_history_by_node_and_field_with_credentials_by_name(signup: Any) -> None:
    owner: Actor = signup("owner@example.com")
    slack_a = secret(owner, "slack_token", "Slack A", token=SLACK_TOKEN)
    slack_b = secret(owner, "slack_token", "Slack B", token="xoxb-second-token-11")
    bearer_id = secret(owner, "http_bearer", "Echo API", token=BEARER)
    graph = chain(trigger(), slack(credential_id=slack_a))
    workflow = create(owner, graph, name="Alerts")
    other = create(owner, chain(trigger()), name="Other")

    created = changes(owner, workflow["id"])
    assert len(created) == 1
    first = created[0]
    assert first["version"] == 1 and first["workflow_name"] == "Alerts" and first["actor_email"] == "owner@example.com"
    entries = first["changes"]
    assert {"change": "created", "name": "Alerts"} in entries
    assert {"node_id": "s", "node_name": "Notify", "change": "added", "type": "slack"} in entries
    assert {"change": "connected", "source": "t", "target": "s", "source_handle": None} in entries

    # v2: credential swapped, channel edited, node renamed.
    graph["nodes"][1] = slack(name="Alert team", credential_id=slack_b, channel="C999")
    update(owner, workflow["id"], graph=graph, version=1)
    # v3: an HTTP node inserted between trigger and Slack, the workflow renamed.
    graph["nodes"].insert(1, http(auth="bearer", credential_id=bearer_id))
    graph["edges"] = [edge("t", "h"), edge("h", "s")]
    update(owner, workflow["id"], graph=graph, name="Alerts v2", version=2)
    # v4: the Slack node removed, credential cleared from HTTP.
    graph = chain(trigger(), http())
    update(owner, workflow["id"], graph=graph, version=3)

    history = changes(owner, workflow["id"])
    assert [h["version"] for h in history] == [1, 2, 3, 4]
    v2, v3, v4 = (h["changes"] for h in history[1:])
    assert {"node_id": "s", "node_name": "Alert team", "change": "config", "field": "credential_id",
            "before": "Slack A", "after": "Slack B"} in v2
    assert {"node_id": "s", "node_name": "Alert team", "change": "config", "field": "channel",
            "before": "C123", "after": "C999"} in v2
    assert {"node_id": "s", "node_name": "Alert team", "change": "renamed", "field": "name",
            "before": "Notify", "after": "Alert team"} in v2
    assert len(v2) == 3, v2
    assert {"change": "workflow_renamed", "before": "Alerts", "after": "Alerts v2"} in v3
    assert {"node_id": "h", "node_name": "Fetch", "change": "added", "type": "http_request"} in v3
    assert {"change": "disconnected", "source": "t", "target": "s", "source_handle": None} in v3
    assert {"change": "connected", "source": "t", "target": "h", "source_handle": None} in v3
    assert {"change": "connected", "source": "h", "target": "s", "source_handle": None} in v3
    assert history[2]["workflow_name"] == "Alerts v2"
    assert {"node_id": "s", "node_name": "Alert team", "change": "removed"} in v4
    assert {"node_id": "h", "node_name": "Fetch", "change": "config", "field": "credential_id",
            "before": "Echo API", "after": None} in v4
    assert {"node_id": "h", "node_name": "Fetch", "change": "config", "field": "auth",
            "before": "bearer", "after": None} in v4
    assert {"change": "disconnected", "source": "h", "target": "s", "source_handle": None} in v4

    text = json.dumps(history)
    for leaked in (slack_a, slack_b, bearer_id, SLACK_TOKEN, BEARER, "xoxb-second-token-11"):
        assert leaked not in text, leaked

    assert [h["workflow_id"] for h in changes(owner, other["id"])] == [other["id"]]
    assert {h["workflow_id"] for h in changes(owner)} == {workflow["id"], other["id"]}

    # A credential deleted since is shown as deleted, never by its id.
    update(owner, workflow["id"], graph=chain(trigger(), http(auth="bearer", credential_id=bearer_id)))
    assert owner.delete(_ws(owner, f"/secrets/{bearer_id}"), params={"force": "true"}).status_code == 204
    update(owner, workflow["id"], graph=chain(trigger(), http()))
    last = changes(owner, workflow["id"])[-1]["changes"]
    assert bearer_id not in json.dumps(last)
    credential_change = next(c for c in last if c.get("field") == "credential_id")
    assert credential_change["after"] is None and "deleted" in credential_change["before"]

    assert owner.delete(workflows_url(owner, f"/{workflow['id']}")).status_code == 204
    assert changes(owner, workflow["id"])[-1]["changes"] == [{"change": "deleted"}]


def test_change_history_with_edges_on_branches_and_enable_toggle(signup: Any) -> None:
    owner: Actor = signup("owner@example.com")
    cond = {"id": "c", "type": "condition", "name": "Is big", "config": {"left": "{{trigger.n}}", "right": 3}}
    graph = {"nodes": [trigger(), cond, formatter("y", "Yes"), formatter("n", "No")],
             "edges": [edge("t", "c"), edge("c", "y", "true"), edge("c", "n", "false")]}
    workflow = create(owner, graph)
    graph["edges"] = [edge("t", "c"), edge("c", "y", "false"), edge("c", "n", "true")]
    update(owner, workflow["id"], graph=graph, enabled=False)
    entries = changes(owner, workflow["id"])[-1]["changes"]
    assert {"change": "disabled"} in entries
    for handle, target, kind in (("true", "y", "disconnected"), ("false", "y", "connected"),
                                 ("false", "n", "disconnected"), ("true", "n", "connected")):
        assert {"change": kind, "source": "c", "target": target, "source_handle": handle} in entries, entries
    # Saving an unchanged workflow bumps the version and records an (empty) change.
    update(owner, workflow["id"])
    last = changes(owner, workflow["id"])[-1]
    assert last["version"] == 3 and last["changes"] == []


def test_viewers_read_the_change_history_outsiders_do_not(signup: Any) -> None:
    owner: Actor = signup("owner@example.com")
    viewer: Actor = signup("viewer@example.com")
    outsider: Actor = signup("outsider@example.com")
    join(owner, owner.workspace_id, viewer, "viewer")
    workflow = create(owner, chain(trigger()))
    seen = viewer.get(_ws(owner, "/logs/changes"), params={"workflow_id": workflow["id"]})
    assert seen.status_code == 200 and len(seen.json()["items"]) == 1
    problem(outsider.get(_ws(owner, "/logs/changes")), 404)


# --- the "used by" index of secrets ---------------------------------------------------------------------------------


def test_used_by_follows_every_save_and_delete(signup: Any) -> None:
    owner: Actor = signup("owner@example.com")
    bearer_id = secret(owner, "http_bearer", "Echo API", token=BEARER)
    other_bearer = secret(owner, "http_bearer", "Other API", token="other-bearer-value-1")
    slack_id = secret(owner, "slack_token", "Team Slack", token=SLACK_TOKEN)

    first = create(owner, chain(trigger(), http(auth="bearer", credential_id=bearer_id),
                                slack(credential_id=slack_id)), name="Alpha")
    second = create(owner, chain(trigger(), http(name="Templated", headers={"X-Key": "{{secrets.Echo API}}"})),
                    name="Beta")
    detail = secret_detail(owner, bearer_id)
    assert sorted(detail["used_by"], key=lambda u: u["workflow_name"]) == [
        {"workflow_id": first["id"], "workflow_name": "Alpha", "node_id": "h", "node_name": "Fetch"},
        {"workflow_id": second["id"], "workflow_name": "Beta", "node_id": "h", "node_name": "Templated"},
    ]
    assert detail["used_by_count"] == 2 and detail["used_by_workflow_count"] == 2
    listed = {s["id"]: s for s in owner.get(_ws(owner, "/secrets")).json()["items"]}
    assert listed[bearer_id]["used_by_count"] == 2 and listed[other_bearer]["used_by_count"] == 0
    assert used_by(owner, slack_id) == [("Alpha", "Notify")]

    # Renaming the workflow and the node shows in the index.
    graph = chain(trigger(), http(name="Fetch items", auth="bearer", credential_id=bearer_id),
                  slack(credential_id=slack_id))
    update(owner, first["id"], name="Alpha 2", graph=graph)
    assert used_by(owner, bearer_id) == [("Alpha 2", "Fetch items"), ("Beta", "Templated")]
    # Switching the node's credential moves the entry.
    graph["nodes"][1]["config"]["credential_id"] = other_bearer
    update(owner, first["id"], graph=graph)
    assert used_by(owner, bearer_id) == [("Beta", "Templated")]
    assert used_by(owner, other_bearer) == [("Alpha 2", "Fetch items")]
    # Using the same secret by id and by template in one node counts the node once.
    graph["nodes"][1]["config"]["headers"] = {"X-Copy": "{{secrets.Other API}}"}
    update(owner, first["id"], graph=graph)
    assert used_by(owner, other_bearer) == [("Alpha 2", "Fetch items")]
    # Removing the node removes it from the index.
    update(owner, first["id"], graph=chain(trigger(), slack(credential_id=slack_id)))
    assert used_by(owner, other_bearer) == []
    assert used_by(owner, slack_id) == [("Alpha 2", "Notify")]
    # Dropping the template removes the template's usage.
    update(owner, second["id"], graph=chain(trigger(), http(name="Templated")))
    assert used_by(owner, bearer_id) == []
    # Deleting the workflow removes its usages; the secret can then be deleted without force.
    assert owner.delete(workflows_url(owner, f"/{first['id']}")).status_code == 204
    assert used_by(owner, slack_id) == []
    assert owner.delete(_ws(owner, f"/secrets/{slack_id}")).status_code == 204


def test_a_refused_save_leaves_the_usage_index_alone(signup: Any) -> None:
    owner: Actor = signup("owner@example.com")
    bearer_id = secret(owner, "http_bearer", "Echo API", token=BEARER)
    workflow = create(owner, chain(trigger(), http(auth="bearer", credential_id=bearer_id)))
    problem(owner.put(workflows_url(owner, f"/{workflow['id']}"),
                      json={"graph": chain(trigger(), http(auth="bearer", credential_id=bearer_id), trigger("t2"))}))
    assert used_by(owner, bearer_id) == [("Workflow", "Fetch")]


# --- export ---------------------------------------------------------------------------------------------------------


def test_export_refers_to_credentials_by_name_and_type_only(signup: Any) -> None:
    owner: Actor = signup("owner@example.com")
    bearer_id = secret(owner, "http_bearer", "Echo API", token=BEARER)
    slack_id = secret(owner, "slack_token", "Team Slack", token=SLACK_TOKEN)
    basic_id = secret(owner, "http_basic", "Staging", username="deploy", password=PASSWORD)
    graph = {
        "nodes": [
            trigger(),
            http(auth="bearer", credential_id=bearer_id, headers={"X-Basic": "{{secrets.Staging}}"}),
            slack(credential_id=slack_id, text="Got {{fetch.status}}"),
            formatter("f", "Shout"),
        ],
        "edges": [edge("t", "h"), edge("h", "s"), edge("s", "f")],
    }
    workflow = create(owner, graph, name="Exported")
    update(owner, workflow["id"], name="Exported")

    response = owner.get(workflows_url(owner, f"/{workflow['id']}/export"))
    assert response.status_code == 200, response.text
    exported = response.json()
    assert exported["name"] == "Exported" and exported["version"] == 2
    nodes = {n["id"]: n for n in exported["graph"]["nodes"]}
    assert nodes["h"]["credential"] == {"name": "Echo API", "type": "http_bearer"}
    assert nodes["s"]["credential"] == {"name": "Team Slack", "type": "slack_token"}
    assert "credential" not in nodes["t"] and "credential" not in nodes["f"]
    for node in nodes.values():
        assert "credential_id" not in node["config"]
    assert nodes["h"]["config"]["headers"] == {"X-Basic": "{{secrets.Staging}}"}
    assert nodes["s"]["config"]["text"] == "Got {{fetch.status}}"
    assert exported["graph"]["edges"] == [{**e, "source_handle": None} for e in graph["edges"]]
    text = response.text
    for leaked in (BEARER, SLACK_TOKEN, PASSWORD, bearer_id, slack_id, basic_id):
        assert leaked not in text, leaked
    # The workflow itself still holds the ids, and a viewer may export too.
    viewer: Actor = signup("viewer@example.com")
    join(owner, owner.workspace_id, viewer, "viewer")
    assert viewer.get(workflows_url(owner, f"/{workflow['id']}/export")).json() == exported
    assert owner.get(workflows_url(owner, f"/{workflow['id']}")).json()["graph"]["nodes"][1]["config"][
        "credential_id"] == bearer_id
    problem(owner.get(workflows_url(owner, "/no-such-workflow/export")), 404)
