"""The migrations build exactly the schema the models declare: a table or column added to a model
without its migration fails here, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlmodel import SQLModel

from storage import models  # noqa: F401  (registers every table)
from storage.db import alembic_config


def _meaningful(diff: list) -> list:
    """Differences that matter: index/constraint naming quirks of one dialect aside, none are expected."""
    return [
        d for d in diff if not (isinstance(d, tuple) and d[0] in ("remove_index",) and "sqlite_autoindex" in str(d))
    ]


def test_the_migrated_schema_is_the_models_schema(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert _meaningful(diff) == []


def test_migrations_form_one_line_of_revisions(engine: Engine) -> None:
    script = ScriptDirectory.from_config(alembic_config(engine))
    assert len(script.get_heads()) == 1
    revisions = [r.revision for r in script.walk_revisions()]
    assert revisions == sorted(revisions, reverse=True)  # 0005, 0004, ...: numbered in order
