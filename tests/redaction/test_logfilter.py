from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from uvicorn.logging import AccessFormatter

from flowvault.redaction import (
    REDACTION_FAILED,
    UVICORN_LOGGERS,
    ActiveSecrets,
    RedactingFilter,
    Redactor,
    SecretRegistry,
    install_log_redaction,
)
from flowvault.redaction.matcher import Matcher

CANARY = "canary-7f3a9c1e2b"
FORMAT = "%(levelname)s %(message)s"


@pytest.fixture
def registry() -> SecretRegistry:
    registry = SecretRegistry()
    registry.register(Redactor([("api", CANARY)]))
    return registry


def _logger(name: str, formatter: logging.Formatter | None = None) -> tuple[logging.Logger, io.StringIO]:
    logger = logging.getLogger(name)
    logger.handlers.clear()
    logger.setLevel(logging.INFO)
    logger.propagate = False
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.setFormatter(formatter or logging.Formatter(FORMAT))
    logger.addHandler(handler)
    return logger, output


@pytest.fixture
def logged(registry: SecretRegistry) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    logger, output = _logger("fvtest.redaction")
    logger.handlers[0].addFilter(RedactingFilter(registry))
    yield logger, output
    logger.handlers.clear()


def test_a_canary_in_the_arguments_is_masked(logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, output = logged
    logger.info("token=%s user=%s tries=%d", CANARY, "bob", 3)
    logger.info("dict %(token)s", {"token": CANARY})
    logger.info(f"formatted in the template {CANARY} %s", "and an arg")
    assert output.getvalue().splitlines() == [
        "INFO token=[REDACTED:api] user=bob tries=3",
        "INFO dict [REDACTED:api]",
        "INFO formatted in the template [REDACTED:api] and an arg",
    ]


def test_a_canary_in_an_exception_chain_is_masked(logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, output = logged
    try:
        try:
            raise KeyError(CANARY)
        except KeyError as exc:
            raise ValueError(f"bad credential {CANARY}") from exc
    except ValueError:
        logger.exception("request failed for %s", CANARY)
    text = output.getvalue()
    assert CANARY not in text
    assert "INFO" not in text and "ERROR request failed for [REDACTED:api]" in text
    assert "Traceback" in text and "KeyError: '[REDACTED:api]'" in text
    assert "ValueError: bad credential [REDACTED:api]" in text


def test_a_canary_in_the_stack_is_masked(logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, output = logged
    logger.info("where am I", stack_info=True)  # canary-7f3a9c1e2b: the stack shows this source line
    assert "Stack (most recent call last)" in output.getvalue()
    assert CANARY not in output.getvalue() and "[REDACTED:api]" in output.getvalue()


def test_uvicorn_access_records_keep_their_arguments(registry: SecretRegistry) -> None:
    logger, output = _logger("fvtest.access", AccessFormatter('%(client_addr)s "%(request_line)s" %(status_code)s'))
    logger.addFilter(RedactingFilter(registry))
    logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", f"/hooks/x?key={CANARY}", "1.1", 200)
    assert output.getvalue() == '127.0.0.1:5000 "GET /hooks/x?key=[REDACTED:api] HTTP/1.1" 200 OK\n'


def test_a_record_that_cannot_be_rendered_becomes_the_marker(logged: tuple[logging.Logger, io.StringIO]) -> None:
    logger, output = logged
    logger.info("%d %s", "not a number")
    assert output.getvalue() == f"INFO {REDACTION_FAILED}\n"


@pytest.mark.parametrize("built_before", [True, False])
def test_a_failing_redactor_yields_the_marker(
    logged: tuple[logging.Logger, io.StringIO],
    registry: SecretRegistry,
    monkeypatch: pytest.MonkeyPatch,
    built_before: bool,
) -> None:
    logger, output = logged
    if built_before:
        registry.combined()

    def broken(self: Matcher, text: str) -> list[tuple[int, int, int]]:
        raise RuntimeError("automaton exploded")

    monkeypatch.setattr(Matcher, "spans", broken)
    try:
        raise RuntimeError(CANARY)
    except RuntimeError:
        logger.exception("token=%s", CANARY)
    assert CANARY not in output.getvalue()
    assert output.getvalue().startswith(f"ERROR {REDACTION_FAILED}\n")


def test_without_active_secrets_records_are_left_alone() -> None:
    logger, output = _logger("fvtest.idle")
    records: list[logging.LogRecord] = []
    logger.handlers[0].addFilter(RedactingFilter(SecretRegistry()))

    def keep(record: logging.LogRecord) -> bool:
        records.append(record)
        return True

    logger.handlers[0].addFilter(keep)
    logger.info("token=%s", CANARY)
    assert records[0].args == (CANARY,) and output.getvalue() == f"INFO token={CANARY}\n"


def test_install_covers_records_propagated_from_child_loggers(registry: SecretRegistry) -> None:
    parent, output = _logger("fvtest.parent")
    child = logging.getLogger("fvtest.parent.engine.run")
    installed = install_log_redaction(parent, registry=registry)
    try:
        assert all(installed in logging.getLogger(name).filters for name in UVICORN_LOGGERS)
        install_log_redaction(parent, registry=registry)  # installing again adds nothing
        assert parent.handlers[0].filters == [installed] and parent.filters == [installed]
        child.info("resolved %s", CANARY)
    finally:
        installed.detach()
    assert output.getvalue() == "INFO resolved [REDACTED:api]\n"
    assert not any(installed in logging.getLogger(name).filters for name in UVICORN_LOGGERS)


def test_a_filter_on_a_logger_alone_misses_its_children(registry: SecretRegistry) -> None:
    """Why install_log_redaction attaches to handlers: logger filters skip propagated records."""
    parent, output = _logger("fvtest.loggeronly")
    parent.addFilter(RedactingFilter(registry))
    logging.getLogger("fvtest.loggeronly.child").info("resolved %s", CANARY)
    assert CANARY in output.getvalue()


def test_the_default_install_uses_the_process_wide_registry() -> None:
    root = logging.getLogger()
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    installed = install_log_redaction()
    try:
        with ActiveSecrets.activate(Redactor([("api", CANARY)])):
            logging.getLogger("fvtest.default.child").warning("resolved %s", CANARY)
        logging.getLogger("fvtest.default.child").warning("after the run %s", CANARY)
    finally:
        installed.detach()
        root.removeHandler(handler)
    assert output.getvalue() == f"WARNING resolved [REDACTED:api]\nWARNING after the run {CANARY}\n"
