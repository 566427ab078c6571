"""metric_day_change: a random token per day of metric_observation, renewed by triggers on every write

Any write to a day of metrics (import, sync, ingest push, demo, direct SQL, an account's delete cascading)
gives that day a new random token, in the writer's own transaction: a derived copy of the metrics (the daily
run's cache, `storage.metric_cache`) is only used for days whose token it saw. Random, not a counter: a database
recreated at the same path or URL must not repeat yesterday's values.

PostgreSQL: statement-level triggers with transition tables add one row per day a statement touched (one insert
per COPY, not per row); a day's token is all of its rows, so writers never wait on each other for a lock on it
(the daily run folds a day's rows back into one, `scores.compact_day_changes`). TRUNCATE empties the table.
SQLite: row-level triggers replace the day's row (writers take turns there anyway).

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
        sa.PrimaryKeyConstraint("day", "token"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"INSERT INTO metric_day_change (day, token) SELECT day, {PG_TOKEN} FROM"
            " (SELECT DISTINCT day FROM metric_observation) d"
        )
        for name, rows in PG_FUNCTIONS.items():
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                f" INSERT INTO metric_day_change (day, token) SELECT day, {PG_TOKEN}"
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
        return
    op.execute(
        "INSERT INTO metric_day_change (day, token) SELECT day, random() FROM"
        " (SELECT DISTINCT day FROM metric_observation)"
    )
    for trigger, event, days in (
        ("metric_day_change_insert", "INSERT", ("NEW",)),
        ("metric_day_change_update", "UPDATE", ("OLD", "NEW")),
        ("metric_day_change_delete", "DELETE", ("OLD",)),
    ):
        body = " ".join(
            f"DELETE FROM metric_day_change WHERE day = {row}.day;"
            f" INSERT INTO metric_day_change (day, token) VALUES ({row}.day, random());"
            for row in days
        )
        op.execute(f"CREATE TRIGGER {trigger} AFTER {event} ON metric_observation FOR EACH ROW BEGIN {body} END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for trigger in (
            "metric_day_change_insert",
            "metric_day_change_update_new",
            "metric_day_change_update_old",
            "metric_day_change_delete",
            "metric_day_change_truncate",
        ):
            op.execute(f"DROP TRIGGER {trigger} ON metric_observation")
        for function in (*PG_FUNCTIONS, "metric_day_change_truncate"):
            op.execute(f"DROP FUNCTION {function}()")
    else:
        for trigger in ("metric_day_change_insert", "metric_day_change_update", "metric_day_change_delete"):
            op.execute(f"DROP TRIGGER {trigger}")
    op.drop_table("metric_day_change")
