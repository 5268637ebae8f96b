"""Registers the fakes' fixtures for their own tests (harmless once tests/conftest.py imports them too)."""

from tests.fakes.fixtures import fake_echo, fake_sendgrid, fake_slack  # noqa: F401
