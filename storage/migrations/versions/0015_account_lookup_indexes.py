"""account indexes for the lookup (issue 24): names starting with a query read from an index on PostgreSQL too
(`text_pattern_ops`: LIKE 'acme%' uses a plain index only under the C collation), and the last write to the accounts
read from an index (`accounts.names_marker`, the key of the lookup's names kept per process)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 18:20:00.000000
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":  # SQLite's index stays: the lookup reads it as a range
        op.drop_index("ix_account_name_lower", table_name="account")
        op.create_index(
            "ix_account_name_lower", "account", ["name_lower"], postgresql_ops={"name_lower": "text_pattern_ops"}
        )
    op.create_index("ix_account_updated_at", "account", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_account_updated_at", table_name="account")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_account_name_lower", table_name="account")
        op.create_index("ix_account_name_lower", "account", ["name_lower"])
