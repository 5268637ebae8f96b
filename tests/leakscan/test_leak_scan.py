"""``flowvault leak-scan`` end to end, once per backend: a real installation is clean; a value planted in
a workflow's JSON config, a run step's output or a log file — verbatim, base64, URL-encoded or hex —
is found and named by table/column/row or file/line, secret name and form, and the report never holds
the value; a scan that cannot be done says why and exits 2."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, insert, select, update
from sqlalchemy import text as text_sql

from flowvault.db.base import utcnow
from flowvault.db.models import RunStep, SealedField, SecretUsage
from flowvault.redaction import derived_forms
from flowvault.secrets.keyring import new_master_key_entry

from .conftest import (
    BASIC,
    BEARER,
    Cli,
    Installation,
    plant_in_step_copy,
    plant_in_step_output,
    plant_in_workflow_copy,
    text,
)

FORMS: dict[str, Callable[[str], str]] = {
    "plain": lambda v: v,
    "base64": lambda v: base64.b64encode(v.encode()).decode(),
    "url-encoded": lambda v: quote(v, safe=""),
    "hex": lambda v: v.encode().hex(),
}


def assert_no_value(output: str, *values: str) -> None:
    """Neither the values nor any form of them is in what the command printed."""
    for value in values:
        leaked = sorted(form for form in derived_forms(value) | {value} if form in output)
        assert not leaked, f"the report holds a secret in {len(leaked)} form(s)"


def test_a_clean_installation_exits_0_and_says_no_secret_found(cli: Cli, installation: Installation) -> None:
    result = cli("leak-scan")
    output = text(result)
    assert result.exit_code == 0, output
    assert re.fullmatch(r"no secret found \(2 secret\(s\) in \d+ form\(s\); \d+ table\(s\), \d+ row\(s\)\)", output)
    assert_no_value(result.output, installation.token, installation.password)

    as_json = cli("leak-scan", "--json")
    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.stdout)
    assert report["clean"] is True and report["hits"] == [] and report["errors"] == []
    assert report["secrets"] == 2 and report["patterns"] > 50
    assert report["tables"] >= 15 and report["rows"] >= 20  # the populated tables were read
    assert report["skipped_columns"] == ["sealed_fields.ciphertext", "workspace_keys.wrapped_key"]


def test_each_planted_form_is_found_in_a_workflow_a_step_output_and_a_log_file(
    cli: Cli, installation: Installation, database: Engine, tmp_path: Path
) -> None:
    """Each form planted on its own — its own workflow row, step row and log line — is found there."""
    log = tmp_path / "server.log"
    lines = ["INFO started"]
    expected = []
    described = f"secret '{BEARER}' (id {installation.token_id}, workspace {installation.workspace_id}), field 'token'"
    for number, (form, encode) in enumerate(FORMS.items()):
        planted = encode(installation.token)
        assert planted in derived_forms(installation.token)  # the scanner looks for what the redactor masks
        workflow_id, seq = f"planted-{form}", 100 + number
        plant_in_workflow_copy(database, installation.workflow_id, workflow_id, planted)
        plant_in_step_copy(database, installation.run_id, installation.step_seq, seq, planted)
        lines += [f"DEBUG token={planted} sent", "INFO request ok"]
        expected += [
            f"leak: workflows.graph [id={workflow_id}]: {described}, {form} form",
            f"leak: run_steps.output [run_id={installation.run_id}, seq={seq}]: {described}, {form} form",
            f"leak: {log}:{len(lines) - 1}: {described}, {form} form",
        ]
    log.write_text("\n".join(lines) + "\n")

    result = cli("leak-scan", "--log-file", str(log))
    output = text(result)

    assert result.exit_code == 1, output
    for line in expected:
        assert line in output, (line, output)
    assert len(result.output.strip().splitlines()) == len(expected) + 1  # nothing else; then the summary
    assert re.search(r"12 leak\(s\) found \(2 secret\(s\) in \d+ form\(s\); \d+ table\(s\), \d+ row\(s\), "
                     r"1 file\(s\)\)$", output), output
    assert_no_value(result.output, installation.token, installation.password)


def test_json_report_names_every_hit_without_the_value(
    cli: Cli, installation: Installation, database: Engine
) -> None:
    plant_in_step_output(database, installation.run_id, installation.step_seq, installation.password)
    result = cli("leak-scan", "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["clean"] is False
    assert report["hits"] == [{
        "source": "database", "table": "run_steps", "column": "output",
        "row": {"run_id": installation.run_id, "seq": str(installation.step_seq)},
        "secret_id": installation.basic_id, "secret_name": BASIC, "workspace_id": installation.workspace_id,
        "field": "password", "form": "plain",
    }]
    assert_no_value(result.output, installation.token, installation.password)


def test_the_basic_auth_wire_token_and_escaped_json_are_found(
    cli: Cli, installation: Installation, database: Engine
) -> None:
    wire = base64.b64encode(f"{installation.username}:{installation.password}".encode()).decode()
    # Every character \u-escaped: the stored JSON text holds no form of the token, its decoded string does.
    escaped = "".join(f"\\u{ord(c):04x}" for c in installation.token)
    details = f'{{"copy": "{escaped}", "authorization": "Basic {wire}"}}'
    # Inserted as text, so the JSON column keeps the escapes exactly as written (both backends do).
    details_sql = ":details" if database.dialect.name == "sqlite" else "CAST(:details AS JSON)"
    statement = (
        "INSERT INTO audit_events (workspace_id, at, action, target_type, details) "  # noqa: S608 - constants only
        f"VALUES (:ws, :at, 'debug', 'run', {details_sql})"
    )
    with database.begin() as connection:
        connection.execute(text_sql(statement), {"ws": installation.workspace_id, "at": utcnow(), "details": details})
        stored = connection.scalar(text_sql("SELECT CAST(details AS TEXT) FROM audit_events WHERE action = 'debug'"))
    assert installation.token not in stored and escaped in stored  # control: only the escapes are stored

    result = cli("leak-scan")
    output = text(result)
    assert result.exit_code == 1, output
    where = "leak: audit_events.details [id="
    assert f"secret '{BASIC}' (id {installation.basic_id}, workspace {installation.workspace_id}), " \
           "field 'basic-auth token', plain form" in output
    assert f"secret '{BEARER}' (id {installation.token_id}, workspace {installation.workspace_id}), " \
           "field 'token', plain form" in output
    assert output.count(where) >= 2
    assert_no_value(result.output, installation.token, installation.password, wire)


def test_a_value_in_a_primary_key_or_a_secret_name_is_withheld_from_the_report(
    cli: Cli, installation: Installation, database: Engine
) -> None:
    usage = SecretUsage.__table__
    with database.begin() as connection:
        node_id = connection.scalar(select(usage.c.node_id).where(usage.c.secret_id == installation.token_id))
        assert node_id == "h"
        connection.execute(update(usage).where(usage.c.secret_id == installation.token_id)
                           .values(node_id=installation.token))
    result = cli("leak-scan")
    output = text(result)
    assert result.exit_code == 1, output
    assert "leak: secret_usages.node_id [secret_id=" in output
    assert "node_id=[withheld: holds a secret value]" in output
    assert_no_value(result.output, installation.token, installation.password)


def test_a_secret_that_does_not_decrypt_is_named_and_the_scan_exits_2(
    cli: Cli, installation: Installation, database: Engine
) -> None:
    sealed = SealedField.__table__
    with database.begin() as connection:
        blob = connection.scalar(select(sealed.c.ciphertext).where(sealed.c.secret_id == installation.token_id))
        tampered = blob[:-1] + bytes([blob[-1] ^ 1])
        connection.execute(update(sealed).where(sealed.c.secret_id == installation.token_id)
                           .values(ciphertext=tampered))
    result = cli("leak-scan")
    output = text(result)
    assert result.exit_code == 2, output
    assert f"error: secret {installation.token_id} of workspace {installation.workspace_id} could not be " \
           "decrypted" in output
    assert "scan incomplete: 1 error(s) (1 secret(s)" in output  # the other secret was still looked for
    assert "Traceback" not in output

    # A hit still wins: a leak of the secrets that did decrypt is the news.
    plant_in_step_output(database, installation.run_id, installation.step_seq, installation.password)
    assert cli("leak-scan").exit_code == 1


def test_a_wrong_master_key_exits_2_without_scanning(cli: Cli, installation: Installation) -> None:
    key_file = installation.settings.resolved_master_key_file
    key_file.write_text(new_master_key_entry() + "\n")
    result = cli("leak-scan")
    output = text(result)
    assert result.exit_code == 2, output
    assert "error:" in output and "do not include key id" in output
    assert "leak:" not in output and "Traceback" not in output


def test_an_unreadable_path_is_an_error_and_a_directory_is_walked(
    cli: Cli, installation: Installation, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    (logs / "old").mkdir(parents=True)
    (logs / "app.log").write_text("nothing here\n")
    (logs / "old" / "app.log.1").write_text(f"one\ntwo {quote(installation.password)}\n")
    missing = tmp_path / "missing.log"

    result = cli("leak-scan", "--path", str(logs), "--log-file", str(missing))
    output = text(result)
    assert result.exit_code == 1, output  # the hit wins over the error
    assert f"leak: {logs / 'old' / 'app.log.1'}:2: secret '{BASIC}'" in output
    assert f"error: {missing}: could not be read" in output
    assert "2 file(s)" in output

    clean = cli("leak-scan", "--path", str(logs / "app.log"), "--log-file", str(missing))
    assert clean.exit_code == 2, clean.output
    assert "scan incomplete: 1 error(s)" in text(clean)


@pytest.mark.sqlite_only
@pytest.mark.parametrize("backend", ["sqlite"])  # one large table shows the streaming; SQLite builds it fastest
def test_a_large_database_is_streamed_and_the_hit_found(
    cli: Cli, installation: Installation, database: Engine, backend: str
) -> None:
    now = utcnow()
    steps = [
        {"run_id": installation.run_id, "seq": 100 + n, "node_id": f"n{n}", "node_name": "Bulk",
         "node_type": "formatter", "status": "succeeded", "input": {"value": "x" * 40},
         "output": {"value": f"row {n} " + "y" * 200}, "error": None, "credentials": [], "logs": [],
         "started_at": now, "finished_at": now, "duration_ms": 1}
        for n in range(12_000)
    ]
    steps[10_000]["output"] = {"value": installation.token.encode().hex()}
    with database.begin() as connection:
        connection.execute(insert(RunStep.__table__), steps)
    result = cli("leak-scan")
    output = text(result)
    assert result.exit_code == 1, output
    assert f"leak: run_steps.output [run_id={installation.run_id}, seq=10100]" in output
    assert "field 'token', hex form" in output
    rows = re.search(r"(\d+) row\(s\)", output)
    assert rows and int(rows.group(1)) > 12_000
