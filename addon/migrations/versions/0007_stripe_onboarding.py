"""stripe-hosted onboarding: the account's kind and health, onboarding states, the accounts a clinic has had

Revision ID: 0007_stripe_onboarding
Revises: 0006_payment_links
Create Date: 2026-12-02 04:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_stripe_onboarding"
down_revision: str | None = "0006_payment_links"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clinics") as batch:
        batch.add_column(sa.Column("stripe_account_kind", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("stripe_payouts_enabled", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("stripe_details_submitted", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("stripe_requirements", sa.JSON(), nullable=False, server_default="{}"))
    # Accounts linked before this revision came through Connect OAuth, and were set up when linked.
    op.execute(
        "UPDATE clinics SET stripe_account_kind = 'oauth', stripe_details_submitted = stripe_charges_enabled, "
        "stripe_payouts_enabled = stripe_charges_enabled WHERE stripe_account_id IS NOT NULL"
    )
    with op.batch_alter_table("oauth_states") as batch:
        batch.add_column(sa.Column("purpose", sa.String(length=20), nullable=False, server_default="oauth"))
    op.create_table(
        "clinic_stripe_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("first_linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("unlinked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_clinic_stripe_accounts_clinic_id_clinics"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clinic_stripe_accounts")),
        sa.UniqueConstraint("clinic_id", "account_id", name=op.f("uq_clinic_stripe_accounts_clinic_id_account_id")),
    )
    op.create_index(op.f("ix_clinic_stripe_accounts_clinic_id"), "clinic_stripe_accounts", ["clinic_id"], unique=False)
    op.execute(
        "INSERT INTO clinic_stripe_accounts (clinic_id, account_id, name, kind, first_linked_at, last_linked_at) "
        "SELECT id, stripe_account_id, stripe_account_name, 'oauth', stripe_connected_at, stripe_connected_at "
        "FROM clinics WHERE stripe_account_id IS NOT NULL AND stripe_connected_at IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_clinic_stripe_accounts_clinic_id"), table_name="clinic_stripe_accounts")
    op.drop_table("clinic_stripe_accounts")
    with op.batch_alter_table("oauth_states") as batch:
        batch.drop_column("purpose")
    with op.batch_alter_table("clinics") as batch:
        batch.drop_column("stripe_requirements")
        batch.drop_column("stripe_details_submitted")
        batch.drop_column("stripe_payouts_enabled")
        batch.drop_column("stripe_account_kind")
