"""account plan and the history of tracked account fields

Backfills one change per account and non-empty tracked field, seen on the day the account was
created: what was known before the upgrade stays known.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 10:00:00.000000
"""

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# storage.models.ACCOUNT_TRACKED_FIELDS as of this revision (a migration must not follow later edits)
TRACKED = (
    "segment",
    "lifecycle_stage",
    "plan",
    "region",
    "industry",
    "employees",
    "mrr",
    "renewal_date",
    "owner_slack_id",
)
DATES = ("renewal_date",)


def upgrade() -> None:
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("plan", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    op.create_table(
        "account_field_change",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("field", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("seen_on", sa.Date(), nullable=False),
        sa.Column("value", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", "field", "seen_on"),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    # created_at is stored in UTC; an account without one counts as seen today
    seen_on = (
        "COALESCE(CAST(created_at AT TIME ZONE 'UTC' AS DATE), CURRENT_DATE)"
        if postgres
        else ("COALESCE(substr(created_at, 1, 10), date('now'))")
    )
    for field in TRACKED:
        if field in DATES and postgres:
            value = f"to_char({field}, 'YYYY-MM-DD')"  # whatever the server's DateStyle
        elif field in DATES:
            value = f"substr({field}, 1, 10)"
        else:
            value = f"CAST({field} AS TEXT)"
        op.execute(
            f"INSERT INTO account_field_change (account_id, field, seen_on, value) "
            f"SELECT id, '{field}', {seen_on}, {value} FROM account WHERE {field} IS NOT NULL"
        )


def downgrade() -> None:
    op.drop_table("account_field_change")
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.drop_column("plan")
