"""Rate limit per workflow (SPEC §6): a token bucket, by default 5 requests/s sustained with bursts of
20; past it, 429 with Retry-After and no run. The clock is injected, so the test is exact."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from flowvault.triggers.ratelimit import InProcessLimiter, TokenBuckets
from tests.conftest import Actor
from tests.triggers.conftest import assert_problem, create_hook


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(client: TestClient) -> FakeClock:
    fake = FakeClock()
    client.app.state.flowvault.hook_limiter = InProcessLimiter(TokenBuckets(clock=fake))  # type: ignore[attr-defined]
    return fake


def test_429_after_the_burst_with_retry_after_and_no_run(signup: Any, clock: FakeClock) -> None:
    owner: Actor = signup("owner@example.com")
    hook = create_hook(owner)
    other = create_hook(owner, name="Another workflow")

    accepted = [hook.post({"customer": f"c{n}"}).status_code for n in range(20)]
    assert accepted == [202] * 20
    refused = hook.post({"customer": "one too many"})
    problem = assert_problem(refused, 429, "rate_limited")
    assert refused.headers["Retry-After"] == "1" and problem["retry_after"] == 1
    assert "5 request(s) per second" in problem["detail"] and "bursts of 20" in problem["detail"]
    assert len(hook.runs()) == 20
    assert other.post({"customer": "x"}).status_code == 202, "each workflow has its own bucket"

    clock.now += 0.2  # one token (5/s)
    assert hook.post({"customer": "refilled"}).status_code == 202
    assert hook.post({"customer": "again too soon"}).status_code == 429
    clock.now += 60  # full again, but never more than the burst
    assert [hook.post({"customer": "x"}).status_code for _ in range(21)] == [202] * 20 + [429]
    assert len(hook.runs()) == 41


def test_the_workspace_settings_set_rate_and_burst(signup: Any, clock: FakeClock) -> None:
    owner: Actor = signup("owner@example.com")
    hook = create_hook(owner)
    changed = owner.put(f"/api/v1/workspaces/{owner.workspace_id}/settings/webhooks",
                        json={"rate_per_s": 0.1, "burst": 2})
    assert changed.status_code == 200, changed.text
    assert [hook.post({"customer": "x"}).status_code for _ in range(3)] == [202, 202, 429]
    refused = hook.post({"customer": "x"})
    assert refused.headers["Retry-After"] == "10"
    clock.now += 10
    assert hook.post({"customer": "x"}).status_code == 202


def test_a_refused_hook_does_not_take_a_token(signup: Any, clock: FakeClock) -> None:
    """Unknown URLs are refused before the bucket: guessing URLs cannot exhaust a workflow's limit."""
    owner: Actor = signup("owner@example.com")
    hook = create_hook(owner)
    for _ in range(30):
        assert_problem(hook.post({"customer": "x"}, path=f"/hooks/{hook.workflow_id}/wrong"), 404)
    assert hook.post({"customer": "x"}).status_code == 202


def test_token_buckets() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(clock=clock, max_keys=2)
    assert [buckets.take("a", rate=2, burst=3) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a", rate=2, burst=3) == pytest.approx(0.5)
    clock.now += 0.25
    assert buckets.take("a", rate=2, burst=3) == pytest.approx(0.25), "half a token refilled, half to go"
    clock.now += 0.25
    assert buckets.take("a", rate=2, burst=3) == 0.0
    assert buckets.take("b", rate=2, burst=1) == 0.0
    assert buckets.take("b", rate=2, burst=1) > 0
    buckets.take("c", rate=2, burst=1)  # a third key drops the least recently used ("a")
    assert buckets.take("a", rate=2, burst=3) == 0.0, "a dropped bucket starts full"
    clock.now -= 100  # a clock going backwards refills nothing and breaks nothing
    assert buckets.take("c", rate=2, burst=1) > 0
