"""payment_requests.status: only the lifecycle's statuses

Revision ID: 0004_payment_status_check
Revises: 0003_payment_centre
Create Date: 2026-12-02 03:50:00

The list is written out here, not imported: a migration must keep meaning what it meant when it was written, after
the lifecycle grows. A later migration that adds a status rewrites the constraint with the longer list.

SQLite can't add a CHECK to a table; Alembic's batch mode copies the table into a new one (env.py runs SQLite
migrations with foreign keys off, so dropping the old copy doesn't cascade to the queued emails that reference it).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004_payment_status_check"
down_revision: str | None = "0003_payment_centre"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ck_payment_requests_status"
STATUSES = (
    "requested",
    "processing",
    "authorized",
    "paid",
    "failed",
    "canceled",
    "refunded",
    "partially_refunded",
)
CHECK = f"status IN ({', '.join(repr(s) for s in STATUSES)})"


def upgrade() -> None:
    with op.batch_alter_table("payment_requests", schema=None) as batch_op:
        batch_op.create_check_constraint(NAME, CHECK)


def downgrade() -> None:
    with op.batch_alter_table("payment_requests", schema=None) as batch_op:
        batch_op.drop_constraint(NAME, type_="check")
