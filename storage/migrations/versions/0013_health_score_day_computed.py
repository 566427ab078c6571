"""health_score (day, computed_at) index: when a day's scores were last written, read from the index alone (the chance
reads' cache key, `scores.day_marker`)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 14:40:00.000000
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_health_score_day_computed", "health_score", ["day", "computed_at"])


def downgrade() -> None:
    op.drop_index("ix_health_score_day_computed", table_name="health_score")
