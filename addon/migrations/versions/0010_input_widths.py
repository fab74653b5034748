"""widths the launch contract allows: a used launch's platform + jti, an audit subject's platform id

Revision ID: 0010_input_widths
Revises: 0009_payer
Create Date: 2026-12-02 05:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_input_widths"
down_revision: str | None = "0009_payer"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A launch's iss and jti may each be 200 characters; the used-launch key is "iss:jti".
    with op.batch_alter_table("used_launches") as batch:
        batch.alter_column("jti", type_=sa.String(length=401), existing_type=sa.String(length=200))
    # Audit entries name a clinic by its platform id, which may be 200 characters.
    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("subject_id", type_=sa.String(length=200), existing_type=sa.String(length=100))


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("subject_id", type_=sa.String(length=100), existing_type=sa.String(length=200))
    with op.batch_alter_table("used_launches") as batch:
        batch.alter_column("jti", type_=sa.String(length=200), existing_type=sa.String(length=401))
