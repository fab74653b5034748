"""who is paying a request now (step, who, since, until) and who is in a call now (one row per patient socket)

Revision ID: 0014_paying
Revises: 0013_pay_all
Create Date: 2026-12-02 10:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_paying"
down_revision: str | None = "0013_pay_all"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payment_requests") as batch:
        batch.add_column(sa.Column("paying_step", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("paying_sub", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("paying_name", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("paying_since", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("paying_until", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "socket_presence",
        sa.Column("worker", sa.String(length=40), nullable=False),
        sa.Column("sid", sa.String(length=100), nullable=False),
        sa.Column("call_id", sa.Integer(), sa.ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("worker", "sid"),
    )
    op.create_index("ix_socket_presence_call_id", "socket_presence", ["call_id"])


def downgrade() -> None:
    op.drop_index("ix_socket_presence_call_id", table_name="socket_presence")
    op.drop_table("socket_presence")
    with op.batch_alter_table("payment_requests") as batch:
        batch.drop_column("paying_until")
        batch.drop_column("paying_since")
        batch.drop_column("paying_name")
        batch.drop_column("paying_sub")
        batch.drop_column("paying_step")
