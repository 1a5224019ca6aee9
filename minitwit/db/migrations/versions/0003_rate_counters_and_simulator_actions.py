"""Rate counters for sign-in and sign-up, and the simulator's committed actions (idempotency).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_counters",
        sa.Column("scope", sa.String(32), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_rate_counters_expires_at", "rate_counters", ["expires_at"])
    op.create_table(
        "simulator_actions",
        sa.Column("latest", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("digest", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_simulator_actions_received_at", "simulator_actions", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_simulator_actions_received_at", table_name="simulator_actions")
    op.drop_table("simulator_actions")
    op.drop_index("ix_rate_counters_expires_at", table_name="rate_counters")
    op.drop_table("rate_counters")
