"""exit interviews and their earlier versions

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 07:55:00.000000
"""

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exit_interview",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("churned", sa.Boolean(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("avoidable", sa.Boolean(), nullable=False),
        sa.Column("competitor", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("churn_date", sa.Date(), nullable=True),
        sa.Column("mrr_lost", sa.Float(), nullable=True),
        sa.Column("interviewer", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("recorded_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=3000), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", name="uq_exit_interview_account"),
    )
    op.create_table(
        "exit_interview_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("interview_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("edited_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["interview_id"], ["exit_interview.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_exit_interview_revision_interview", "exit_interview_revision", ["interview_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_exit_interview_revision_interview", table_name="exit_interview_revision")
    op.drop_table("exit_interview_revision")
    op.drop_table("exit_interview")
