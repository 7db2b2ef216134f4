"""The migrations and the models describe the same schema: nothing changes it but a migration."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.models import metadata


def schema_differences(connection) -> list:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, metadata)


async def test_the_migrated_schema_matches_the_models(db):
    async with db.engine.connect() as connection:
        differences = await connection.run_sync(schema_differences)
    assert differences == []
