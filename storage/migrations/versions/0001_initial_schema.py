"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 18:20:53.567338
"""

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account",
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("domain", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("owner_slack_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("segment", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("industry", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("employees", sa.Integer(), nullable=True),
        sa.Column("region", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("lifecycle_stage", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("acquisition_channel", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("mrr", sa.Float(), nullable=True),
        sa.Column("contract_start", sa.Date(), nullable=True),
        sa.Column("renewal_date", sa.Date(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("churned_on", sa.Date(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name_lower", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("external_id", name="uq_account_external_id"),
    )
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.create_index("ix_account_domain", ["domain"], unique=False)
        batch_op.create_index("ix_account_name_lower", ["name_lower"], unique=False)
        batch_op.create_index("ix_account_owner", ["owner_slack_id"], unique=False)

    op.create_table(
        "health_score",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("tier", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("scorecard", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("partial", sa.Boolean(), nullable=False),
        sa.Column("delta_7", sa.Float(), nullable=True),
        sa.Column("delta_30", sa.Float(), nullable=True),
        sa.Column("parts", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", "day"),
    )
    with op.batch_alter_table("health_score", schema=None) as batch_op:
        batch_op.create_index("ix_health_score_day_tier", ["day", "tier"], unique=False)

    op.create_table(
        "metric_observation",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("metric", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", "day", "metric"),
    )
    with op.batch_alter_table("metric_observation", schema=None) as batch_op:
        batch_op.create_index("ix_metric_observation_day", ["day"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("metric_observation", schema=None) as batch_op:
        batch_op.drop_index("ix_metric_observation_day")

    op.drop_table("metric_observation")
    with op.batch_alter_table("health_score", schema=None) as batch_op:
        batch_op.drop_index("ix_health_score_day_tier")

    op.drop_table("health_score")
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.drop_index("ix_account_owner")
        batch_op.drop_index("ix_account_name_lower")
        batch_op.drop_index("ix_account_domain")

    op.drop_table("account")
