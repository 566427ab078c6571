"""sync state (watermarks of `healthbot sync`) and per-record parts of aggregated metrics

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 07:40:00.000000
"""

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_state",
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("position", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=True),
        sa.Column("running", sa.Boolean(), nullable=False),
        sa.Column("run_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("run_max", sa.DateTime(timezone=True), nullable=True),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source"),
    )
    op.create_table(
        "sync_item",
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("record_key", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("metric", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("source", "record_key", "metric"),
    )
    op.create_index("ix_sync_item_bucket", "sync_item", ["source", "metric", "account_id", "day"])


def downgrade() -> None:
    op.drop_index("ix_sync_item_bucket", table_name="sync_item")
    op.drop_table("sync_item")
    op.drop_table("sync_state")
