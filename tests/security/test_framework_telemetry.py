"""FastAPI's own OpenTelemetry (``FastAPI(telemetry=...)``) records request bodies, validation errors with
their input values and exception messages once a global provider is configured, which an environment
variable or an instrumentation package can do. Here those carry secret values: it stays off (``app.py``)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry import _logs, metrics, trace

from flowvault.app import create_app
from flowvault.config import Settings
from tests.conftest import sign_up

CANARY = "canary-otel-Zq7Rk2Wm9Tx4Bv8N"  # a value that must reach no telemetry provider


class Recorder:
    """A configured provider as far as FastAPI can tell: every call on it, and on what it returns, is
    recorded with its arguments."""

    def __init__(self, calls: list[str], name: str) -> None:
        self._calls = calls
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return Recorder(self._calls, f"{self._name}.{attribute}")

    def __call__(self, *args: Any, **kwargs: Any) -> Recorder:
        self._calls.append(f"{self._name}{args!r}{kwargs!r}")
        return self

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None


@pytest.mark.parametrize("backend", ["sqlite"])  # the framework's layer, the same on both databases
def test_fastapis_own_telemetry_records_nothing_even_with_providers_configured(
    backend: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    for module, getter in ((trace, "get_tracer_provider"), (metrics, "get_meter_provider"),
                           (_logs, "get_logger_provider")):
        provider = Recorder(calls, getter)
        monkeypatch.setattr(module, getter, lambda *_args, provider=provider: provider)
    monkeypatch.setenv("FASTAPI_OTEL_AUTO_CONFIGURE", "true")
    with TestClient(create_app(settings)) as client:
        owner = sign_up(client, "owner@example.com")
        refused = owner.post(
            f"/api/v1/workspaces/{owner.workspace_id}/secrets",
            json={"name": "Mail", "type": "http_bearer", "fields": CANARY},  # the error's input is the value
        )
        created = owner.post(
            f"/api/v1/workspaces/{owner.workspace_id}/secrets",
            json={"name": "Mail", "type": "http_bearer", "fields": {"token": CANARY}},
        )
    assert refused.status_code == 422 and created.status_code == 201, (refused.text, created.text)
    assert calls == [], calls[:5]
