"""a request split into an instalment plan says which plan replaced it

Revision ID: 0016_replaced_by_plan
Revises: 0015_instalment_plans
Create Date: 2026-12-02 16:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_replaced_by_plan"
down_revision: str | None = "0015_instalment_plans"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payment_requests") as batch:
        batch.add_column(sa.Column("replaced_by_plan_id", sa.String(length=40), nullable=True))
    # Requests split before this revision: their plan already names them.
    op.execute(
        "UPDATE payment_requests SET replaced_by_plan_id = "
        "(SELECT id FROM instalment_plans WHERE instalment_plans.payment_request_id = payment_requests.id)"
        " WHERE id IN (SELECT payment_request_id FROM instalment_plans)"
    )


def downgrade() -> None:
    with op.batch_alter_table("payment_requests") as batch:
        batch.drop_column("replaced_by_plan_id")
