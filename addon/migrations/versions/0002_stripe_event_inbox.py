"""stripe event inbox: keep each verified event so its work runs after the 2xx, and can be replayed

Revision ID: 0002_stripe_event_inbox
Revises: 0001_initial
Create Date: 2026-12-02 03:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_stripe_event_inbox"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stripe_event_inbox",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("account", sa.String(length=100), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_event_inbox")),
    )
    op.create_index(
        "ix_stripe_event_inbox_due", "stripe_event_inbox", ["processed_at", "next_attempt_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_stripe_event_inbox_due", table_name="stripe_event_inbox")
    op.drop_table("stripe_event_inbox")
