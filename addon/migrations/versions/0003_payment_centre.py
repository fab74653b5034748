"""payment centre: refunds, claimable receipts, clinic time zone

Revision ID: 0003_payment_centre
Revises: 0002_stripe_event_inbox
Create Date: 2026-12-02 03:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_payment_centre"
down_revision: str | None = "0002_stripe_event_inbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clinics") as batch:
        batch.add_column(
            sa.Column("timezone", sa.String(length=64), nullable=False, server_default="Australia/Sydney")
        )
        batch.add_column(sa.Column("receipt_gst_line", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("clinician_refunds", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(
            sa.Column("clinician_refund_window_hours", sa.Integer(), nullable=False, server_default="24")
        )
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("provider_number", sa.String(length=50), nullable=True))
    with op.batch_alter_table("payment_requests") as batch:
        batch.add_column(sa.Column("patient_name", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("item_code", sa.String(length=50), nullable=True))
        batch.add_column(sa.Column("refund_reserved", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("stripe_fee", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("stripe_net", sa.BigInteger(), nullable=True))
    # Server defaults only fill the rows that exist now; the models set these values on every new row.
    with op.batch_alter_table("clinics") as batch:
        batch.alter_column("timezone", server_default=None)
        batch.alter_column("clinician_refunds", server_default=None)
        batch.alter_column("clinician_refund_window_hours", server_default=None)
    with op.batch_alter_table("payment_requests") as batch:
        batch.alter_column("refund_reserved", server_default=None)
    # Refunds Stripe reported before this existed are already in amount_refunded: reserve them too.
    op.execute("UPDATE payment_requests SET refund_reserved = amount_refunded")

    op.create_table(
        "refunds",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("payment_request_id", sa.String(length=40), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("client_ref", sa.String(length=100), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("failure_reason", sa.String(length=100), nullable=True),
        sa.Column("failure_message", sa.String(length=300), nullable=True),
        sa.Column("stripe_refund_id", sa.String(length=100), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("requested_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed', 'canceled')", name=op.f("ck_refunds_status")
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_refunds_clinic_id_clinics"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["payment_request_id"],
            ["payment_requests.id"],
            name=op.f("fk_refunds_payment_request_id_payment_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_user_id"], ["users.id"], name=op.f("fk_refunds_requested_by_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint(
            "payment_request_id", "client_ref", name=op.f("uq_refunds_payment_request_id_client_ref")
        ),
        sa.UniqueConstraint("stripe_refund_id", name=op.f("uq_refunds_stripe_refund_id")),
    )
    op.create_index(op.f("ix_refunds_payment_request_id"), "refunds", ["payment_request_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_refunds_payment_request_id"), table_name="refunds")
    op.drop_table("refunds")
    with op.batch_alter_table("payment_requests") as batch:
        for column in ("stripe_net", "stripe_fee", "refund_reserved", "item_code", "patient_name"):
            batch.drop_column(column)
    with op.batch_alter_table("users") as batch:
        batch.drop_column("provider_number")
    with op.batch_alter_table("clinics") as batch:
        for column in ("clinician_refund_window_hours", "clinician_refunds", "receipt_gst_line", "timezone"):
            batch.drop_column(column)
