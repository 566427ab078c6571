"""chance to churn: fitted score bands, and stored churn forecasts

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 11:00:00.000000
"""

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "churn_chance_fit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("horizon_days", sa.Integer(), nullable=False),
        sa.Column("scorecard_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("fitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_churn_chance_fit_horizon", "churn_chance_fit", ["horizon_days", "id"], unique=False)
    op.create_table(
        "churn_forecast",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("horizon_days", sa.Integer(), nullable=False),
        sa.Column("level", sa.Float(), nullable=False),
        sa.Column("fit_id", sa.Integer(), nullable=True),
        sa.Column("expected_accounts", sa.Float(), nullable=False),
        sa.Column("accounts_low", sa.Integer(), nullable=False),
        sa.Column("accounts_high", sa.Integer(), nullable=False),
        sa.Column("expected_mrr", sa.Float(), nullable=False),
        sa.Column("mrr_low", sa.Float(), nullable=False),
        sa.Column("mrr_high", sa.Float(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("made_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["fit_id"], ["churn_chance_fit.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_churn_forecast_period_end", "churn_forecast", ["period_end"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_churn_forecast_period_end", table_name="churn_forecast")
    op.drop_table("churn_forecast")
    op.drop_index("ix_churn_chance_fit_horizon", table_name="churn_chance_fit")
    op.drop_table("churn_chance_fit")
