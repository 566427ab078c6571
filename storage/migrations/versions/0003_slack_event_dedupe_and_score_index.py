"""slack event dedupe and score index

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 19:35:05.504069
"""

import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slack_event",
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("event_id"),
    )
    with op.batch_alter_table("slack_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_slack_event_received_at"), ["received_at"], unique=False)

    with op.batch_alter_table("health_score", schema=None) as batch_op:
        batch_op.create_index("ix_health_score_day_score", ["day", "score"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("health_score", schema=None) as batch_op:
        batch_op.drop_index("ix_health_score_day_score")

    with op.batch_alter_table("slack_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_slack_event_received_at"))

    op.drop_table("slack_event")
