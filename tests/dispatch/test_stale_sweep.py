"""A worker process looks for expired leases a few times per lease period, however many wake-ups come."""

from __future__ import annotations

from flowvault.dispatch.celery_app import StaleSweep


def test_the_sweep_is_due_once_per_third_of_a_lease() -> None:
    sweep = StaleSweep(lease_seconds=30)
    assert sweep.due(100.0)  # the first look of the process
    assert not any(sweep.due(100.0 + offset) for offset in (0.0, 1.0, 9.9))
    assert sweep.due(110.0)
    assert not sweep.due(115.0)
    assert sweep.due(120.5)
