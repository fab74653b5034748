"""card holds: how a request is charged, what its hold authorised and until when, and the clinic's expiry rule

Revision ID: 0008_holds
Revises: 0007_stripe_onboarding
Create Date: 2026-12-02 05:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_holds"
down_revision: str | None = "0007_stripe_onboarding"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payment_requests") as batch:
        batch.add_column(sa.Column("capture", sa.String(length=10), nullable=False, server_default="now"))
        batch.add_column(sa.Column("amount_authorized", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("capture_before", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("final_amount", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("hold_claimed_until", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("clinics") as batch:
        batch.add_column(
            sa.Column("hold_expiry_action", sa.String(length=10), nullable=False, server_default="capture")
        )


def downgrade() -> None:
    with op.batch_alter_table("clinics") as batch:
        batch.drop_column("hold_expiry_action")
    with op.batch_alter_table("payment_requests") as batch:
        batch.drop_column("hold_claimed_until")
        batch.drop_column("final_amount")
        batch.drop_column("capture_before")
        batch.drop_column("amount_authorized")
        batch.drop_column("capture")
