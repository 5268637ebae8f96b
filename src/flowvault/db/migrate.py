"""Alembic, driven from code: ``flowvault db upgrade`` and the embedded server's start-up.

Alembic itself (with Mako and its dialect modules) is imported only when a migration runs or the
cheap check below cannot decide: a server whose database is already at the head revision never
loads it, which keeps it off the start-up path."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from flowvault.db.engine import sync_url

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
VERSIONS = MIGRATIONS / "versions"


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


_ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.MULTILINE)


def _revision_and_parent(path: Path) -> tuple[object, object]:
    """A migration file's module-level ``revision`` and ``down_revision`` literals (a regular expression and
    ``ast.literal_eval``, not an import: no migration module, hence no Alembic, is loaded)."""
    found: dict[str, object] = {}
    for name, value in _ASSIGNMENT.findall(path.read_text()):
        if name in found:
            raise ValueError(f"{path.name}: {name} assigned twice")
        found[name] = ast.literal_eval(value)
    if "revision" not in found or "down_revision" not in found:
        raise ValueError(f"{path.name}: no literal revision and down_revision")
    return found["revision"], found["down_revision"]


@functools.cache
def head_revisions() -> frozenset[str]:
    """The head revision(s) of the migration scripts, read from the files without loading Alembic: every
    revision no other one names as its ``down_revision``. Falls back to Alembic's own answer when a file
    is not in the plain form (a revision or down_revision that is not a literal)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    try:
        for path in sorted(VERSIONS.glob("*.py")):
            revision, down = _revision_and_parent(path)
            if not isinstance(revision, str):
                raise ValueError(f"{path.name}: no literal revision")
            revisions.add(revision)
            if isinstance(down, str):
                parents.add(down)
            elif isinstance(down, tuple | list):
                parents.update(str(d) for d in down)
            elif down is not None:
                raise ValueError(f"{path.name}: down_revision is not a literal")
    except (ValueError, SyntaxError):
        return _alembic_heads()
    return frozenset(revisions - parents)


def _alembic_heads() -> frozenset[str]:
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


async def current_revisions(connection: AsyncConnection) -> frozenset[str]:
    """The revision(s) the database is at; empty when it has no ``alembic_version`` table (a new one)."""
    try:
        rows = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
    except DBAPIError:
        await connection.rollback()
        return frozenset()
    return frozenset(rows)


async def is_current(connection: AsyncConnection) -> bool:
    """Whether the database is at the head revision: one query, Alembic not loaded."""
    return await current_revisions(connection) == head_revisions()
