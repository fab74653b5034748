"""who may pay: the first patient to start paying a request keeps it; the clinic's choice to tell Stripe the
clinician's description

Revision ID: 0011_checkout_claim
Revises: 0010_input_widths
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_checkout_claim"
down_revision: str | None = "0010_input_widths"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payment_requests") as batch:
        batch.add_column(sa.Column("checkout_user_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_payment_requests_checkout_user_id_users", "users", ["checkout_user_id"], ["id"]
        )
    with op.batch_alter_table("clinics") as batch:
        batch.add_column(
            sa.Column("share_description_with_stripe", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("clinics") as batch:
        batch.drop_column("share_description_with_stripe")
    with op.batch_alter_table("payment_requests") as batch:
        batch.drop_constraint("fk_payment_requests_checkout_user_id_users", type_="foreignkey")
        batch.drop_column("checkout_user_id")
