"""The Schedule trigger end to end: ``serve`` (embedded default) runs the scheduler itself, so a saved,
enabled workflow with a Schedule trigger starts on time and its trigger's output is when it was due and
when it fired. Also the test workflow of the ``schedule_trigger`` node type."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import Actor
from tests.triggers.conftest import wait_for_run
from tests.triggers.schedule_helpers import save_workflow, schedule_graph

DEADLINE_SECONDS = 20.0


def scheduled_runs(actor: Actor, workflow_id: str) -> list[dict[str, Any]]:
    response = actor.get(f"/api/v1/workspaces/{actor.workspace_id}/runs", params={"workflow_id": workflow_id})
    assert response.status_code == 200, response.text
    return [r for r in response.json()["items"] if r["trigger"] == "schedule"]


def test_serve_fires_a_due_schedule_and_the_trigger_outputs_its_times(signup: Any) -> None:
    actor: Actor = signup("cron@example.com")
    start = (datetime.now(UTC) + timedelta(seconds=4)).replace(microsecond=0)  # still ahead when saved
    workflow_id = save_workflow(actor, schedule_graph(start=start.isoformat(), timezone="Europe/Berlin",
                                                      every=1, unit="days"))
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not (runs := scheduled_runs(actor, workflow_id)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(runs) == 1, "the scheduler in serve did not fire the due tick"
    run = wait_for_run(actor, runs[0]["id"])
    assert run["status"] == "succeeded", run
    trigger, shout = run["steps"]
    assert trigger["node_type"] == "schedule_trigger"
    assert datetime.fromisoformat(trigger["output"]["scheduled_for"]) == start
    assert datetime.fromisoformat(trigger["output"]["fired_at"]) >= start
    assert shout["output"]["value"] == f"DUE {start.isoformat()}".upper()
    time.sleep(1.5)  # the next tick is tomorrow: nothing more fires
    assert len(scheduled_runs(actor, workflow_id)) == 1


def test_a_schedule_trigger_with_templates_is_refused(signup: Any) -> None:
    actor: Actor = signup("cron-templates@example.com")
    graph = schedule_graph(start="{{trigger.when}}", timezone="UTC")
    response = actor.post(f"/api/v1/workspaces/{actor.workspace_id}/workflows",
                          json={"name": "Templated", "enabled": True, "graph": graph})
    assert response.status_code == 422, response.text
    assert "cannot use templates" in response.json()["detail"]
