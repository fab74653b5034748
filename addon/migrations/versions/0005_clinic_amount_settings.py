"""clinic locale and the amount above which a clinician confirms a request

Revision ID: 0005_amount_settings
Revises: 0004_payment_status_check
Create Date: 2026-12-02 03:55:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_amount_settings"
down_revision: str | None = "0004_payment_status_check"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clinics") as batch:
        batch.add_column(sa.Column("locale", sa.String(length=35), nullable=False, server_default="en-AU"))
        batch.add_column(sa.Column("confirm_above", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clinics") as batch:
        batch.drop_column("confirm_above")
        batch.drop_column("locale")
