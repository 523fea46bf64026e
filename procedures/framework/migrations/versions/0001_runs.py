"""The runs table, as MemProbe 0.1 created it (the baseline: older catalogs are stamped 0001).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("procedure", sa.String(64), nullable=False),
        sa.Column("parameters", sa.JSON, nullable=False),
        sa.Column("lot", sa.String(64), nullable=False),
        sa.Column("wafer", sa.String(64), nullable=False),
        sa.Column("die_col", sa.Integer, nullable=True),
        sa.Column("die_row", sa.Integer, nullable=True),
        sa.Column("subsite", sa.Integer, nullable=True),
        sa.Column("array", sa.String(16), nullable=False),
        sa.Column("cells", sa.JSON, nullable=False),
        sa.Column("temperature_c", sa.Float, nullable=True),
        sa.Column("operator", sa.String(64), nullable=False),
        sa.Column("bench", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message", sa.String(1024), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("summary", sa.JSON, nullable=False),
        sa.Column("file", sa.String(1024), nullable=False),
        sa.Column("host", sa.String(128), nullable=False),
        sa.Column("pid", sa.Integer, nullable=True),
    )
    for column in ("procedure", "die_col", "die_row", "status"):
        op.create_index(f"ix_runs_{column}", "runs", [column])


def downgrade() -> None:
    op.drop_table("runs")
