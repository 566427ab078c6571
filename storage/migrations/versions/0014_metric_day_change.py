"""metric_day_change: random tokens per day of metric_observation, renewed by triggers on every write

Any write to a day of metrics (import, sync, ingest push, demo, direct SQL, an account's delete cascading) adds a
row (day, new random token, dirty) in the writer's own transaction. The daily run folds each written day's rows
into one clean row with a fresh token (`metric_days.compact_day_changes`) before it reads, and trusts its derived
copy of a day (`storage.metric_cache`) only while the day still has exactly the clean token it saw. Random, not a
counter: a database recreated at the same path or URL must not repeat yesterday's values.

PostgreSQL: statement-level triggers with transition tables, one row per day a statement touched (one insert per
COPY, not per row), insert-only: writers never wait on each other for it. TRUNCATE empties the table.
SQLite: row-level triggers that write only when the day has no dirty row yet (writers take turns there, so the
check and the write cannot interleave with the daily run's fold); an update that changes nothing writes nothing.

A later migration that rebuilds metric_observation on SQLite (batch mode) drops its triggers: create them again.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 18:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# a random 63-bit token (PostgreSQL's random() is a double: two of them fill the bits)
PG_TOKEN = "(floor(random() * 2147483648)::int8 * 4294967296 + floor(random() * 4294967296)::int8)"

PG_FUNCTIONS = {
    "metric_day_change_new": "new_rows",
    "metric_day_change_old": "old_rows",
}


def upgrade() -> None:
    op.create_table(
        "metric_day_change",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("dirty", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("day", "token"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"INSERT INTO metric_day_change (day, token, dirty) SELECT day, {PG_TOKEN}, false FROM"
            " (SELECT DISTINCT day FROM metric_observation) d"
        )
        for name, rows in PG_FUNCTIONS.items():
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                f" INSERT INTO metric_day_change (day, token, dirty) SELECT day, {PG_TOKEN}, true"
                f" FROM (SELECT DISTINCT day FROM {rows}) d ON CONFLICT DO NOTHING; RETURN NULL; END $$"
            )
        op.execute(
            "CREATE FUNCTION metric_day_change_truncate() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " DELETE FROM metric_day_change; RETURN NULL; END $$"
        )
        for trigger, event, ref, function in (
            ("metric_day_change_insert", "INSERT", "NEW TABLE AS new_rows", "metric_day_change_new"),
            ("metric_day_change_update_new", "UPDATE", "NEW TABLE AS new_rows", "metric_day_change_new"),
            ("metric_day_change_update_old", "UPDATE", "OLD TABLE AS old_rows", "metric_day_change_old"),
            ("metric_day_change_delete", "DELETE", "OLD TABLE AS old_rows", "metric_day_change_old"),
        ):
            op.execute(
                f"CREATE TRIGGER {trigger} AFTER {event} ON metric_observation REFERENCING {ref}"
                f" FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
            )
        op.execute(
            "CREATE TRIGGER metric_day_change_truncate AFTER TRUNCATE ON metric_observation"
            " FOR EACH STATEMENT EXECUTE FUNCTION metric_day_change_truncate()"
        )
        for trigger in PG_TRIGGERS:  # also for a session in replica mode (a bulk load skipping FK checks, replication)
            op.execute(f"ALTER TABLE metric_observation ENABLE ALWAYS TRIGGER {trigger}")
        return
    op.execute(
        "INSERT INTO metric_day_change (day, token, dirty) SELECT day, random(), 0 FROM"
        " (SELECT DISTINCT day FROM metric_observation)"
    )
    changed = (
        "(OLD.account_id IS NOT NEW.account_id OR OLD.day IS NOT NEW.day OR OLD.metric IS NOT NEW.metric"
        " OR OLD.value IS NOT NEW.value)"
    )
    for trigger, event, row, when in SQLITE_TRIGGERS:
        condition = (f"{changed} AND " if when else "") + (
            f"NOT EXISTS (SELECT 1 FROM metric_day_change WHERE day = {row}.day AND dirty)"
        )
        op.execute(
            f"CREATE TRIGGER {trigger} AFTER {event} ON metric_observation FOR EACH ROW WHEN {condition}"
            f" BEGIN INSERT INTO metric_day_change (day, token, dirty) VALUES ({row}.day, random(), 1); END"
        )


PG_TRIGGERS = (
    "metric_day_change_insert",
    "metric_day_change_update_new",
    "metric_day_change_update_old",
    "metric_day_change_delete",
    "metric_day_change_truncate",
)
SQLITE_TRIGGERS = (  # name, event, the row whose day is written, only when the row changed
    ("metric_day_change_insert", "INSERT", "NEW", False),
    ("metric_day_change_update_old", "UPDATE", "OLD", True),
    ("metric_day_change_update_new", "UPDATE", "NEW", True),
    ("metric_day_change_delete", "DELETE", "OLD", False),
)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for trigger in PG_TRIGGERS:
            op.execute(f"DROP TRIGGER {trigger} ON metric_observation")
        for function in (*PG_FUNCTIONS, "metric_day_change_truncate"):
            op.execute(f"DROP FUNCTION {function}()")
    else:
        for trigger, *_ in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {trigger}")
    op.drop_table("metric_day_change")
