"""The run-leak exercise of tests/runs/test_run_leaks.py — canary credentials through every node the
echo and Slack fakes can drive, and the failure paths (HTTP errors, bad credentials, a node that raises,
blocked egress with the secret in the host name) — then `flowvault leak-scan` over the database, the
server log and every HTTP answer the API gave: nothing found. A planted canary in the same files is."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.fakes import FakeEcho, FakeSlack
from tests.runs.test_run_leaks import check_records, exercise, transcript

from .conftest import Cli, text


def test_leak_scan_finds_nothing_after_every_failure_path_and_finds_a_planted_canary(
    cli: Cli, client: TestClient, fake_echo: FakeEcho, fake_slack: FakeSlack, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name in ("flowvault", "httpx", "uvicorn"):
        caplog.set_level(logging.DEBUG, logger=name)
    session = exercise(client, fake_echo, fake_slack)
    check_records(session)  # the run-leak suite's own controls: the canaries went out and came back masked
    log = tmp_path / "server.log"
    log.write_text(caplog.text)
    answers = tmp_path / "answers"
    answers.mkdir()
    for number, response in enumerate(session.responses):
        (answers / f"{number:03}.http").write_bytes(transcript(response))
    assert "[REDACTED:" in log.read_text() + "".join(p.read_text() for p in answers.iterdir())

    clean = cli("leak-scan", "--log-file", str(log), "--path", str(answers))
    output = text(clean)
    assert clean.exit_code == 0, output
    assert "no secret found (5 secret(s)" in output and f"{len(session.responses) + 1} file(s)" in output

    # Control: the same scan bites on the slack token, planted in one answer.
    planted = answers / "planted.http"
    planted.write_text(f"HTTP 200\n\n{{\"echo\": \"{session.canaries.values['slack token']}\"}}\n")
    found = cli("leak-scan", "--log-file", str(log), "--path", str(answers))
    assert found.exit_code == 1, text(found)
    assert f"leak: {planted}:3: secret 'Team Slack'" in text(found)
    assert session.canaries.values["slack token"] not in found.output
