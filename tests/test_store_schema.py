"""The migrations build exactly the tables and indexes the models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from duban.store.db import Store
from duban.store.models import Base


def test_migrated_schema_matches_the_models(store: Store) -> None:
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        indexes = {ix["name"]: ix["column_names"] for ix in inspect(conn).get_indexes("finding")}
    # the notices' per-unit re-check of invalid values reads through this one (migration 0002)
    assert indexes["ix_finding_period_unit_kind"] == ["period", "unit", "kind"]
