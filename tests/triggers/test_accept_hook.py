"""Queueing a hook's run (``receive.accept_hook``): unsigned requests in one INSERT of their own,
signed ones with the replay guard; a workflow deleted while the body was read is a 404 either way,
and a signature seen before is refused."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from flowvault.bootstrap import open_state
from flowvault.config import Settings
from flowvault.deps import AppState
from flowvault.runs.models import Run
from flowvault.triggers import receive
from flowvault.triggers.errors import ReplayedRequest, WebhookNotFound
from flowvault.triggers.signing import Verified
from flowvault.workflows.models import Workflow
from tests.conftest import new_workflow

SIGNATURE = "ab" * 32


async def target_of_a_new_workflow(state: AppState) -> receive.HookTarget:
    workflow = await new_workflow(state)
    return receive.HookTarget(
        workflow_id=workflow.id,
        workspace_id=workflow.workspace_id,
        workflow_version=workflow.version,
        hmac_required=False,
        replay_window_s=300,
        rate_per_s=5,
        burst=20,
        signing_key=None,
    )


def scenario(settings: Settings, verified: Verified | None, *, delete_first: bool, twice: bool = False) -> Any:
    async def main() -> Any:
        state = await open_state(settings, create_key_file=True)
        try:
            target = await target_of_a_new_workflow(state)
            if delete_first:
                async with state.sessions() as session:
                    await session.execute(delete(Workflow).where(Workflow.id == target.workflow_id))
                    await session.commit()
            outcomes: list[Any] = []
            for _ in range(2 if twice else 1):
                try:
                    run = await receive.accept_hook(
                        state.sessions, state.writes, target=target, run_input={"n": 1}, verified=verified
                    )
                    outcomes.append(run.status)
                except (WebhookNotFound, ReplayedRequest) as exc:
                    outcomes.append(type(exc).__name__)
            async with state.sessions() as session:
                stored = await session.scalar(select(func.count()).select_from(Run))
            return outcomes, stored
        finally:
            await state.engine.dispose()

    return asyncio.run(main())


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_a_workflow_deleted_while_the_body_was_read_is_not_found(settings: Settings, signed: bool) -> None:
    verified = Verified(signature=SIGNATURE, timestamp=int(time.time())) if signed else None
    assert scenario(settings, verified, delete_first=True) == (["WebhookNotFound"], 0)


def test_an_unsigned_hook_queues_a_run(settings: Settings) -> None:
    assert scenario(settings, None, delete_first=False, twice=True) == (["queued", "queued"], 2)


def test_a_signature_seen_before_is_refused(settings: Settings) -> None:
    verified = Verified(signature=SIGNATURE, timestamp=int(time.time()))
    assert scenario(settings, verified, delete_first=False, twice=True) == (["queued", "ReplayedRequest"], 1)
