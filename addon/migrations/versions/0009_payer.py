"""who pays: a request addressed to one participant of the call (their launch sub and name)

Revision ID: 0009_payer
Revises: 0008_holds
Create Date: 2026-12-02 05:35:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_payer"
down_revision: str | None = "0008_holds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payment_requests") as batch:
        batch.add_column(sa.Column("payer_sub", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("payer_name", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payment_requests") as batch:
        batch.drop_column("payer_name")
        batch.drop_column("payer_sub")
