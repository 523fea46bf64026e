"""Each run records the station (probe station, from the bench file) it was measured on.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("station", sa.String(64), nullable=False, server_default=""))
        batch.create_index("ix_runs_station", ["station"])


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("ix_runs_station")
        batch.drop_column("station")
