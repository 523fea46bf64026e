"""Operator's notes and tags on runs (issue #15): a free text and a list of short words.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a catalog stamped 0001 may already have them (made from the mapped table, not 0001)
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("runs")}
    with op.batch_alter_table("runs") as batch:
        if "notes" not in have:
            batch.add_column(sa.Column("notes", sa.Text, nullable=False, server_default=""))
        if "tags" not in have:
            batch.add_column(sa.Column("tags", sa.JSON, nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("tags")
        batch.drop_column("notes")
