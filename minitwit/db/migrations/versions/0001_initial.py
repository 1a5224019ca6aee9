"""Initial schema: users, followers, messages and the simulator's latest.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("pw_hash", sa.String(255), nullable=False),
        sa.Column("is_moderator", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("username", name="uq_users_username"),
    )
    op.create_table(
        "followers",
        sa.Column(
            "who_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column(
            "whom_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("followed_at", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("who_id <> whom_id", name="ck_followers_not_self"),
    )
    op.create_index("ix_followers_whom_id", "followers", ["whom_id"])
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "author_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("pub_date", sa.BigInteger(), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column(
            "flagged_by",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("flagged_at", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_messages_pub_date_id", "messages", ["pub_date", "id"])
    op.create_index("ix_messages_author_pub_date_id", "messages", ["author_id", "pub_date", "id"])
    op.create_index(
        "ix_messages_flagged",
        "messages",
        ["flagged_at"],
        postgresql_where=sa.text("flagged"),
        sqlite_where=sa.text("flagged"),
    )
    latest = op.create_table(
        "latest",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_latest_single_row"),
    )
    op.bulk_insert(latest, [{"id": 1, "value": -1}])


def downgrade() -> None:
    op.drop_table("latest")
    op.drop_index("ix_messages_flagged", table_name="messages")
    op.drop_index("ix_messages_author_pub_date_id", table_name="messages")
    op.drop_index("ix_messages_pub_date_id", table_name="messages")
    op.drop_table("messages")
    op.drop_index("ix_followers_whom_id", table_name="followers")
    op.drop_table("followers")
    op.drop_table("users")
