"""Two ``flowvault scheduler`` processes against one database (scale-out, real clock): every due tick
is fired by exactly one of them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flowvault.config import Settings
from tests.triggers.schedule_helpers import runs_of, save_workflow, schedule_graph, schedule_row, server

FLOWS = 6
DEADLINE_SECONDS = 30.0


def test_two_scheduler_processes_fire_each_tick_once(settings: Settings) -> None:
    with server(settings) as actor:
        # Far enough ahead that the tick is still to come when saved (a schedule saved late starts at the next one).
        start = (datetime.now(UTC) + timedelta(seconds=8)).replace(microsecond=0)
        ids = [save_workflow(actor, schedule_graph(start=start.isoformat(), every=1, unit="hours"), name=f"Flow {n}")
               for n in range(FLOWS)]
    rows = [schedule_row(settings, i) for i in ids]
    assert all(row is not None and row.next_fire_at == start for row in rows), "saving took longer than 8 s"
    env = {**os.environ, "FLOWVAULT_DATA_DIR": str(settings.data_dir)}
    if settings.database_url:
        env["FLOWVAULT_DATABASE_URL"] = settings.database_url
    command = [str(Path(sys.executable).parent / "flowvault"), "scheduler", "--poll", "0.05"]
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                 for _ in range(2)]
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while sum(len(runs_of(settings, i)) for i in ids) < FLOWS and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # both keep looking for a while: nothing more may fire
        assert all(p.poll() is None for p in processes), "a scheduler process stopped"
    finally:
        for process in processes:
            process.terminate()
        errors = [process.communicate(timeout=10)[1].decode() for process in processes]
    for workflow_id in ids:
        runs = runs_of(settings, workflow_id)
        assert [r.input["scheduled_for"] for r in runs] == [start.isoformat()], errors
        assert runs[0].trigger == "schedule"
