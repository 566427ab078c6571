"""alert listings: accounts at risk listed (first run, or past the thread budget) instead of opened

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 04:30:00.000000
"""

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_listing",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("severity", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("listed_on", sa.Date(), nullable=False),
        sa.Column("last_fired_on", sa.Date(), nullable=False),
        sa.Column("listed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("firings", sa.JSON(), nullable=False),
        sa.Column("message_key", sqlmodel.sql.sqltypes.AutoString(length=191), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("opened_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["alert_id"], ["alert.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alert_listing_message", "alert_listing", ["message_key"], unique=False)
    op.create_index(
        "uq_alert_listing_listed_account",
        "alert_listing",
        ["account_id"],
        unique=True,
        sqlite_where=sa.text("status = 'listed'"),
        postgresql_where=sa.text("status = 'listed'"),
    )


def downgrade() -> None:
    op.drop_index("uq_alert_listing_listed_account", table_name="alert_listing")
    op.drop_index("ix_alert_listing_message", table_name="alert_listing")
    op.drop_table("alert_listing")
