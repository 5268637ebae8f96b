"""The Alembic migrations build exactly the schema the models declare, on SQLite and PostgreSQL: a model
change without its migration fails here."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from flowvault.config import Settings
from flowvault.db.engine import sync_url
from flowvault.db.migrate import alembic_config
from flowvault.db.models import Base


def test_the_migrated_schema_matches_the_models(settings: Settings) -> None:
    url = settings.resolved_database_url
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert context.get_current_revision() == head
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()
